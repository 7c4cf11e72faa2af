//! One inference, start to finish: what `gavel run` and `gavel trace` do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gavel_codec::Tensor;

use crate::error::{Result, RunnerError};
use crate::machine::{MachineOptions, PageDelta, Runtime, StepInfo};
use crate::merkle::{Hash32, MemoryTree, UpdateStats};
use crate::state::{hex32, trace_commitment, BlobCommitment, MachineHeader, Status};

/// A `--input [NAME=]FILE` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputArg {
    /// Input name, if given.
    pub name: Option<String>,
    /// Tensor file.
    pub path: PathBuf,
}

impl std::str::FromStr for InputArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((name, path)) if !name.is_empty() && !name.contains('/') => Ok(InputArg { name: Some(name.to_string()), path: PathBuf::from(path) }),
            _ if s.is_empty() => Err("empty input".into()),
            _ => Ok(InputArg { name: None, path: PathBuf::from(s) }),
        }
    }
}

/// Names of the graph inputs of an ONNX model (inputs that are not initializers), in order.
pub fn onnx_input_names(model: &[u8]) -> Result<Vec<String>> {
    use tract_onnx::prelude::Framework as _;
    let proto = tract_onnx::onnx().proto_model_for_read(&mut &model[..]).map_err(|e| RunnerError::Inputs(format!("not a valid ONNX model: {e:#}")))?;
    let graph = proto.graph.as_ref().ok_or_else(|| RunnerError::Inputs("the ONNX model has no graph".into()))?;
    let initializers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    Ok(graph.input.iter().map(|i| i.name.clone()).filter(|n| !initializers.contains(n.as_str())).collect())
}

/// Reads the input files into a canonical tensor set for `model`.
///
/// A single unnamed input binds the model's only input and is given its name, so the input set
/// (and so the claim) does not depend on how the input was spelled on the command line. Several
/// inputs must be named, except `.pb` files, which carry their own name.
pub fn load_inputs_for(model: &[u8], args: &[InputArg]) -> Result<Vec<Tensor>> {
    let mut tensors = load_inputs(args)?;
    if tensors.len() == 1 && tensors[0].name.is_empty() {
        let names = onnx_input_names(model)?;
        match names.as_slice() {
            [only] => tensors[0].name = only.clone(),
            _ => {
                return Err(RunnerError::Inputs(format!(
                    "an unnamed input was given but the model has {} inputs ({}); write --input NAME=FILE",
                    names.len(),
                    names.join(", ")
                )))
            }
        }
    }
    Ok(tensors)
}

/// Reads the input files into a tensor set (names as given; see [`load_inputs_for`]).
pub fn load_inputs(args: &[InputArg]) -> Result<Vec<Tensor>> {
    if args.is_empty() {
        return Err(RunnerError::Inputs("no --input given".into()));
    }
    let mut tensors: Vec<Tensor> = Vec::with_capacity(args.len());
    for arg in args {
        let name = arg.name.clone().unwrap_or_default();
        let t = crate::tensor_io::read_tensor_file(&arg.path, &name)?;
        if t.name.is_empty() && args.len() > 1 {
            return Err(RunnerError::Inputs(format!("{} has no name; with several inputs write --input NAME=FILE", arg.path.display())));
        }
        if tensors.iter().any(|o| o.name == t.name) {
            return Err(RunnerError::Inputs(format!("input '{}' given twice", t.name)));
        }
        tensors.push(t);
    }
    Ok(tensors)
}

/// How much of the trace to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceMode {
    /// Only the final state root.
    FinalRoot,
    /// The state root after every macro-step (the level-1 trace).
    Level1,
}

/// One entry of the level-1 trace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraceStep {
    /// Macro-step index.
    pub index: u64,
    /// `load`, `bind`, `node`, `finish`.
    pub kind: String,
    /// ONNX node name or phase description.
    pub name: String,
    /// tract operator or phase.
    pub op: String,
    /// ONNX operator type the node came from (node steps; empty if unknown).
    #[serde(default)]
    pub onnx_op: String,
    /// wasmtime fuel spent in the step.
    pub fuel: u64,
    /// State root after the step (0x-hex).
    pub root: String,
    /// 4 KiB pages of memory the step changed.
    #[serde(default)]
    pub dirty_pages: u64,
    /// keccak256 calls spent updating the memory tree.
    #[serde(default)]
    pub hashes: u64,
}

/// The level-1 trace of a run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trace {
    /// Format tag.
    pub format: String,
    /// blake3 of the guest module.
    pub guest_blake3: String,
    /// blake3 of the model blob.
    pub model_id: String,
    /// blake3 of the input tensor set.
    pub input_id: String,
    /// blake3 of the output tensor set.
    pub output_id: String,
    /// State root before the first step.
    pub initial_root: String,
    /// Steps in order.
    pub steps: Vec<TraceStep>,
    /// [`trace_commitment`] over `[initial_root, steps[0].root, ...]`.
    pub commitment: String,
}

/// Wall-clock split of a run.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Timings {
    /// Instantiating the guest.
    pub instantiate_ms: f64,
    /// Load phase (read, parse, type, optimize, plan).
    pub load_ms: f64,
    /// Inference (bind, node and finish steps).
    pub infer_ms: f64,
    /// Computing state roots.
    pub hash_ms: f64,
    /// Everything.
    pub total_ms: f64,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Output tensors.
    pub outputs: Vec<Tensor>,
    /// The canonical output encoding.
    pub output_bytes: Vec<u8>,
    /// blake3 of `output_bytes`.
    pub output_id: String,
    /// blake3 of the input tensor set.
    pub input_id: String,
    /// blake3 of the model.
    pub model_id: String,
    /// Blob ids (`spec/machine.md`) of the model, the input set and the output set: what claims
    /// carry on chain.
    pub model_root: Hash32,
    /// See `model_root`.
    pub input_root: Hash32,
    /// See `model_root`; written by the guest, checked by the host.
    pub output_root: Hash32,
    /// Final state root.
    pub state_root: Hash32,
    /// The output proof of the final state (`gavel_bisection::binding`).
    pub output_proof: Vec<u8>,
    /// Macro-steps.
    pub steps: u64,
    /// wasmtime fuel consumed (approximate instruction count).
    pub instructions: u64,
    /// Linear memory at the end, bytes.
    pub memory_bytes: usize,
    /// Level-1 trace, when asked for.
    pub trace: Option<Trace>,
    /// Timings.
    pub timings: Timings,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `model` on `inputs` in a fresh machine. `on_step` sees every finished macro-step.
pub fn run(
    runtime: &Runtime,
    model: Arc<Vec<u8>>,
    inputs: &[Tensor],
    options: &MachineOptions,
    mode: TraceMode,
    on_step: &mut dyn FnMut(&StepInfo),
) -> Result<RunOutcome> {
    let start = Instant::now();
    let input_bytes = Arc::new(gavel_codec::encode(inputs));
    let model_id = blake3::hash(&model).to_hex().to_string();
    let input_id = blake3::hash(&input_bytes).to_hex().to_string();
    let model_root = BlobCommitment::of(&model).id();
    let input_root = BlobCommitment::of(&input_bytes).id();
    let mut machine = runtime.machine(vec![model, input_bytes], options)?;
    let mut timings = Timings { instantiate_ms: ms(start.elapsed()), ..Timings::default() };
    let mut hash_time = Duration::ZERO;
    let mut roots: Vec<Hash32> = Vec::new();
    let mut infos: Vec<(StepInfo, u64, u64)> = Vec::new();
    let mut pipeline = None;
    if mode == TraceMode::Level1 {
        let t = Instant::now();
        roots.push(machine.state_root()?);
        if machine.track_writes() {
            pipeline = Some(RootPipeline::start(machine.take_tree()));
        }
        hash_time += t.elapsed();
    }
    let (mut load, mut infer) = (Duration::ZERO, Duration::ZERO);
    while machine.status() == Status::Running {
        let t = Instant::now();
        let info = machine.step()?;
        let spent = t.elapsed();
        if info.kind == "load" {
            load += spent;
        } else {
            infer += spent;
        }
        if mode == TraceMode::Level1 {
            let t = Instant::now();
            match pipeline.as_mut() {
                Some(p) => {
                    let delta = machine.take_page_delta(p.spare_buffer())?.ok_or_else(|| RunnerError::Engine("write tracking stopped".into()))?;
                    let header = machine.header_with_memory([0u8; 32])?;
                    p.send(header, delta)?;
                    infos.push((info.clone(), 0, 0));
                }
                None => {
                    roots.push(machine.state_root()?);
                    let stats = machine.last_tree_update();
                    infos.push((info.clone(), stats.dirty_pages, stats.hashes));
                }
            }
            hash_time += t.elapsed();
        }
        on_step(&info);
    }
    let t = Instant::now();
    if let Some(p) = pipeline.take() {
        let (tree, piped) = p.finish()?;
        machine.restore_tree(tree);
        for ((root, stats), info) in piped.into_iter().zip(infos.iter_mut()) {
            roots.push(root);
            (info.1, info.2) = (stats.dirty_pages, stats.hashes);
        }
    }
    let state_root = match roots.last() {
        Some(r) => *r,
        None => machine.state_root()?,
    };
    hash_time += t.elapsed();
    let steps: Vec<TraceStep> = infos
        .into_iter()
        .zip(roots.iter().skip(1))
        .map(|((info, dirty_pages, hashes), root)| TraceStep {
            index: info.index,
            kind: info.kind,
            name: info.name,
            op: info.op,
            onnx_op: info.onnx_op,
            fuel: info.fuel,
            root: hex32(root),
            dirty_pages,
            hashes,
        })
        .collect();
    let output_bytes = machine.output_bytes()?;
    let outputs = gavel_codec::decode(&output_bytes).map_err(|e| RunnerError::Output(e.to_string()))?;
    let output_id = blake3::hash(&output_bytes).to_hex().to_string();
    let output_root = machine.output_root()?;
    let output_proof = machine.output_proof()?;
    let address = machine.output_id_address()?;
    if !gavel_bisection::binding::verify_output(&state_root, &output_root, address, &output_proof).unwrap_or(false) {
        return Err(RunnerError::Engine("the output proof does not open the final state root".into()));
    }
    let trace = (mode == TraceMode::Level1).then(|| Trace {
        format: "gavel.trace.level1.v1".into(),
        guest_blake3: runtime.guest.blake3.clone(),
        model_id: model_id.clone(),
        input_id: input_id.clone(),
        output_id: output_id.clone(),
        initial_root: hex32(&roots[0]),
        steps,
        commitment: hex32(&trace_commitment(&roots)),
    });
    timings.load_ms = ms(load);
    timings.infer_ms = ms(infer);
    timings.hash_ms = ms(hash_time);
    timings.total_ms = ms(start.elapsed());
    Ok(RunOutcome {
        outputs,
        output_bytes,
        output_id,
        input_id,
        model_id,
        model_root,
        input_root,
        output_root,
        state_root,
        output_proof,
        steps: machine.steps(),
        instructions: machine.fuel_used(),
        memory_bytes: machine.memory_bytes(),
        trace,
        timings,
    })
}

/// Computes memory roots on a second thread while the guest runs the next macro-step: the
/// machine hands over copies of the pages each step wrote, in order.
/// What the hashing thread hands back: the tree, and each step's root with its statistics.
type PipelineResult = (MemoryTree, Vec<(Hash32, UpdateStats)>);

struct RootPipeline {
    tx: Option<std::sync::mpsc::Sender<(MachineHeader, PageDelta)>>,
    worker: Option<std::thread::JoinHandle<PipelineResult>>,
    /// Page-copy buffers the worker is done with, for reuse.
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl RootPipeline {
    fn start(mut tree: MemoryTree) -> RootPipeline {
        let (tx, rx) = std::sync::mpsc::channel::<(MachineHeader, PageDelta)>();
        let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let worker = std::thread::spawn(move || {
            let mut out = Vec::new();
            for (mut header, delta) in rx {
                header.memory = tree.apply_pages(delta.memory_len, &delta.indices, &delta.data);
                out.push((header.root(), tree.last_update()));
                let _ = spare_tx.send(delta.data);
            }
            (tree, out)
        });
        RootPipeline { tx: Some(tx), worker: Some(worker), spare }
    }

    /// A buffer to copy pages into: one the worker has finished with, or a new one.
    fn spare_buffer(&self) -> Vec<u8> {
        self.spare.try_recv().unwrap_or_default()
    }

    fn send(&mut self, header: MachineHeader, delta: PageDelta) -> Result<()> {
        let tx = self.tx.as_ref().ok_or_else(|| RunnerError::Engine("root pipeline closed".into()))?;
        tx.send((header, delta)).map_err(|_| RunnerError::Engine("the root hashing thread stopped".into()))
    }

    fn finish(mut self) -> Result<PipelineResult> {
        self.tx.take();
        let worker = self.worker.take().ok_or_else(|| RunnerError::Engine("root pipeline already finished".into()))?;
        worker.join().map_err(|_| RunnerError::Engine("the root hashing thread panicked".into()))
    }
}

impl Drop for RootPipeline {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Recomputes a trace's commitment from its roots and checks it.
pub fn verify_trace(trace: &Trace) -> Result<()> {
    let parse = |s: &str| -> Result<Hash32> {
        let h = hex::decode(s.trim_start_matches("0x")).map_err(|e| RunnerError::Trace(format!("bad root {s}: {e}")))?;
        h.try_into().map_err(|_| RunnerError::Trace(format!("root {s} is not 32 bytes")))
    };
    let mut roots = vec![parse(&trace.initial_root)?];
    for s in &trace.steps {
        roots.push(parse(&s.root)?);
    }
    let c = hex32(&trace_commitment(&roots));
    if c != trace.commitment {
        return Err(RunnerError::Trace(format!("commitment {} does not match the roots ({c})", trace.commitment)));
    }
    Ok(())
}

/// Where a run of the raw blobs ends: a failed or trapped run included, since that end is a
/// machine state a claim can state (`FAILED_OUTPUT`, `spec/proofs.md`).
#[derive(Clone, Debug)]
pub struct RunEnd {
    /// Status of the final state.
    pub status: Status,
    /// Its state root.
    pub state_root: Hash32,
    /// Macro-steps run.
    pub steps: u64,
    /// Its output proof (`gavel_bisection::binding::verify_output`).
    pub output_proof: Vec<u8>,
    /// Why the run failed, if it did (the guest's message or the trap).
    pub failure: Option<String>,
}

/// Runs `model` on raw `input` bytes (not necessarily a valid tensor set) to its end, whatever it
/// is. Errors only for a broken host (engine, module, or an input the host cannot instantiate).
pub fn run_to_end(runtime: &Runtime, model: Arc<Vec<u8>>, input: Arc<Vec<u8>>, options: &MachineOptions) -> Result<RunEnd> {
    let mut machine = runtime.machine(vec![model, input], options)?;
    let mut failure = None;
    while machine.status() == Status::Running {
        match machine.step() {
            Ok(_) => {}
            Err(e) if e.is_guest_outcome() => failure = Some(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    Ok(RunEnd { status: machine.status(), state_root: machine.state_root()?, steps: machine.steps(), output_proof: machine.output_proof()?, failure })
}
