//! The gavel guest: tract-onnx driven one macro-step at a time.
//!
//! The host calls `gavel_step` until it returns 0 (done) or -1 (error). Each call does one
//! bounded piece of work (read one chunk of the model, parse, type, optimize, plan, bind the
//! inputs, run ONE plan node, encode the outputs), so between calls the wasm value stack is empty
//! and the machine state is memory + globals. Model and input bytes come only from the blob oracle
//! imports (`gavel.blob_len`, `gavel.blob_read`), never from memory the host writes.
//! `spec/guest-abi.md` is the contract.

use std::cell::{Cell, RefCell};

use gavel_codec::tract::{dtype_from_tract, from_tract, to_tract};
use gavel_codec::Tensor as WireTensor;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// Blob 0 is the ONNX model, blob 1 the input tensor set.
const MODEL_BLOB: i32 = 0;
const INPUT_BLOB: i32 = 1;
/// Bytes the guest reads from the model blob per macro-step.
const READ_CHUNK: usize = 1 << 20;

#[link(wasm_import_module = "gavel")]
extern "C" {
    fn blob_len(blob: i32) -> i64;
    fn blob_read(blob: i32, offset: i64, dst: *mut u8, len: i32) -> i32;
}

fn oracle_len(blob: i32) -> Result<usize, String> {
    // SAFETY: a host import with plain integer arguments.
    let len = unsafe { blob_len(blob) };
    if len < 0 {
        return Err(format!("blob {blob} is not provided"));
    }
    usize::try_from(len).map_err(|_| format!("blob {blob} of {len} bytes exceeds the guest address space"))
}

fn oracle_read(blob: i32, offset: usize, dst: &mut [u8]) -> Result<(), String> {
    // SAFETY: the host writes at most `dst.len()` bytes into `dst`, which we own exclusively.
    let n = unsafe { blob_read(blob, offset as i64, dst.as_mut_ptr(), dst.len() as i32) };
    if n as usize != dst.len() {
        return Err(format!("blob {blob}: short read at offset {offset} ({n} of {} bytes)", dst.len()));
    }
    Ok(())
}

fn read_whole_blob(blob: i32) -> Result<Vec<u8>, String> {
    let len = oracle_len(blob)?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| format!("blob {blob} of {len} bytes does not fit in guest memory"))?;
    buf.resize(len, 0);
    oracle_read(blob, 0, &mut buf)?;
    Ok(buf)
}

type GuestPlan = TypedSimplePlan;
type GuestState = TypedSimpleState;

enum Phase {
    ReadModel { bytes: Vec<u8> },
    Parse { bytes: Vec<u8> },
    ReadInputs { model: InferenceModel },
    /// `model` has its input facts fixed to the given shapes; `declared` keeps the model's own
    /// facts, used if typing with concrete shapes fails (e.g. an `If` subgraph that refers to a
    /// symbolic batch dimension by name).
    Type { model: InferenceModel, declared: InferenceModel, inputs: Vec<Tensor> },
    Declutter { model: TypedModel, inputs: Vec<Tensor> },
    Optimize { model: TypedModel, inputs: Vec<Tensor> },
    MakePlan { model: TypedModel, inputs: Vec<Tensor> },
    Bind { plan: Arc<GuestPlan>, inputs: Vec<Tensor> },
    Run { run: Box<Running> },
    Finish { run: Box<Running> },
    Done,
    Failed,
}

struct Running {
    state: GuestState,
    /// Node ids in execution order (constants excluded).
    order: Vec<usize>,
    /// For each position in `order`, the nodes whose values can be dropped after it ran.
    flush: Vec<Vec<usize>>,
    next: usize,
}

struct Guest {
    phase: Phase,
    message: String,
    output: Vec<u8>,
    /// (name, op_type) of every ONNX graph node, longest name first, to label plan nodes with
    /// the ONNX operator they came from (tract names derived nodes `<onnx name>.<suffix>`).
    onnx_nodes: Vec<(String, String)>,
}

impl Guest {
    fn onnx_op_of(&self, tract_name: &str) -> &str {
        self.onnx_nodes
            .iter()
            .find(|(name, _)| {
                !name.is_empty()
                    && tract_name.starts_with(name.as_str())
                    && matches!(tract_name.as_bytes().get(name.len()), None | Some(b'.'))
            })
            .map_or("", |(_, op)| op.as_str())
    }
}

/// One 32-byte memory leaf (`spec/machine.md`): the output id is a single leaf of the memory
/// tree, so the chain checks it against a final state root with one memory proof.
#[repr(align(32))]
struct Leaf(Cell<[u8; 32]>);

thread_local! {
    /// The blob id of the encoded outputs (`spec/machine.md`), written by the `finish` step.
    static OUTPUT_ID: Leaf = const { Leaf(Cell::new([0u8; 32])) };
    /// The last panic message: with `panic = "abort"` the guest traps right after the hook runs,
    /// and the host reads this to say why.
    static PANIC: RefCell<String> = const { RefCell::new(String::new()) };
    static GUEST: RefCell<Guest> = RefCell::new(Guest {
        phase: Phase::ReadModel { bytes: Vec::new() },
        message: String::new(),
        output: Vec::new(),
        onnx_nodes: Vec::new(),
    });
}

fn err(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
}

fn input_names(model: &InferenceModel) -> Result<Vec<String>, String> {
    let outlets = model.input_outlets().map_err(err)?;
    Ok(outlets.iter().map(|o| model.node(o.node).name.clone()).collect())
}

/// Matches the given tensors to the model's inputs by name and checks dtype and shape against
/// what the model declares. Returns the tensors in model input order.
fn bind_inputs(model: &InferenceModel, given: Vec<WireTensor>) -> Result<Vec<Tensor>, String> {
    let names = input_names(model)?;
    let list = names.join(", ");
    let mut given = given;
    if given.len() == 1 && given[0].name.is_empty() {
        if names.len() != 1 {
            return Err(format!("an unnamed input was given but the model has {} inputs ({list}); name them", names.len()));
        }
        given[0].name = names[0].clone();
    }
    for t in &given {
        if !names.contains(&t.name) {
            return Err(format!("input '{}' is not an input of the model (inputs: {list})", t.name));
        }
    }
    let mut ordered = Vec::with_capacity(names.len());
    for (ix, name) in names.iter().enumerate() {
        let t = given
            .iter()
            .find(|t| &t.name == name)
            .ok_or_else(|| format!("missing input '{name}' (model inputs: {list})"))?;
        let tensor = to_tract(t)?;
        let fact = model.input_fact(ix).map_err(err)?;
        if let Some(dt) = fact.datum_type.concretize() {
            if dt.unquantized() != tensor.datum_type() {
                return Err(format!(
                    "input '{name}' has dtype {}, the model expects {}",
                    t.dtype,
                    dtype_from_tract(dt).map(|d| d.name().to_string()).unwrap_or_else(|| format!("{dt:?}"))
                ));
            }
        }
        if !fact.shape.matches(&tensor, None).map_err(err)? {
            return Err(format!("input '{name}' has shape {}, the model expects {:?}", t.shape_string(), fact.shape));
        }
        ordered.push(tensor);
    }
    Ok(ordered)
}

/// For each position of `order`, the nodes whose last consumer runs there and that are not
/// model outputs: dropping them keeps peak memory at what tract's own `run` uses.
fn flush_lists(model: &TypedModel, order: &[usize]) -> Result<Vec<Vec<usize>>, String> {
    let outputs: Vec<usize> = model.output_outlets().map_err(err)?.iter().map(|o| o.node).collect();
    let mut last_use = vec![None; model.nodes().len()];
    for (pos, &n) in order.iter().enumerate() {
        for input in &model.node(n).inputs {
            last_use[input.node] = Some(pos);
        }
    }
    let mut flush = vec![Vec::new(); order.len()];
    for (node, pos) in last_use.iter().enumerate() {
        if let Some(pos) = pos {
            if !outputs.contains(&node) && order.contains(&node) {
                flush[*pos].push(node);
            }
        }
    }
    Ok(flush)
}

impl Guest {
    /// Runs one macro-step. On success returns whether more steps follow and sets `message` to
    /// the step's label (`kind\tname\top`).
    fn step(&mut self) -> Result<bool, String> {
        let phase = std::mem::replace(&mut self.phase, Phase::Failed);
        let (next, label) = match phase {
            Phase::ReadModel { mut bytes } => {
                let len = oracle_len(MODEL_BLOB)?;
                if bytes.capacity() < len {
                    bytes.try_reserve_exact(len).map_err(|_| format!("model of {len} bytes does not fit in guest memory"))?;
                }
                let start = bytes.len();
                let n = READ_CHUNK.min(len - start);
                bytes.resize(start + n, 0);
                oracle_read(MODEL_BLOB, start, &mut bytes[start..])?;
                let label = format!("load\tread model bytes {start}..{}\toracle", start + n);
                if bytes.len() == len {
                    (Phase::Parse { bytes }, label)
                } else {
                    (Phase::ReadModel { bytes }, label)
                }
            }
            Phase::Parse { bytes } => {
                let onnx = tract_onnx::onnx();
                let proto = onnx.proto_model_for_read(&mut &bytes[..]).map_err(|e| format!("not a valid ONNX model: {e:#}"))?;
                drop(bytes);
                if let Some(graph) = proto.graph.as_ref() {
                    self.onnx_nodes = graph.node.iter().map(|n| (n.name.clone(), n.op_type.clone())).collect();
                    self.onnx_nodes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
                }
                let model = onnx.model_for_proto_model(&proto).map_err(|e| format!("cannot load ONNX model: {e:#}"))?;
                (Phase::ReadInputs { model }, "load\tparse ONNX\tparse".to_string())
            }
            Phase::ReadInputs { model: declared } => {
                let bytes = read_whole_blob(INPUT_BLOB)?;
                let given = gavel_codec::decode(&bytes).map_err(|e| format!("input tensor set: {e}"))?;
                drop(bytes);
                let inputs = bind_inputs(&declared, given)?;
                let mut model = declared.clone();
                for (ix, t) in inputs.iter().enumerate() {
                    model = model
                        .with_input_fact(ix, InferenceFact::dt_shape(t.datum_type(), t.shape()))
                        .map_err(err)?;
                }
                (Phase::Type { model, declared, inputs }, "load\tread and check inputs\toracle".to_string())
            }
            Phase::Type { model, declared, inputs } => {
                let (model, label) = match model.into_typed() {
                    Ok(m) => (m, "load\ttype analysis (concrete input shapes)\tanalyse"),
                    Err(_) => (
                        declared.into_typed().map_err(|e| format!("cannot type the model: {e:#}"))?,
                        "load\ttype analysis (declared input facts)\tanalyse",
                    ),
                };
                (Phase::Declutter { model, inputs }, label.to_string())
            }
            Phase::Declutter { model, inputs } => {
                let model = model.into_decluttered().map_err(|e| format!("cannot declutter the model: {e:#}"))?;
                (Phase::Optimize { model, inputs }, "load\tdeclutter\tdeclutter".to_string())
            }
            Phase::Optimize { model, inputs } => {
                let model = model.into_optimized().map_err(|e| format!("cannot optimize the model: {e:#}"))?;
                (Phase::MakePlan { model, inputs }, "load\toptimize\toptimize".to_string())
            }
            Phase::MakePlan { model, inputs } => {
                let plan = model.into_runnable().map_err(|e| format!("cannot plan the model: {e:#}"))?;
                (Phase::Bind { plan, inputs }, "load\tplan\tplan".to_string())
            }
            Phase::Bind { plan, inputs } => {
                let mut state = GuestState::new(&plan).map_err(err)?;
                for (ix, t) in inputs.into_iter().enumerate() {
                    state.set_input(ix, t.into_tvalue()).map_err(|e| format!("binding input {ix}: {e:#}"))?;
                }
                let order = plan.order_without_consts().to_vec();
                let flush = flush_lists(plan.model(), &order)?;
                let run = Box::new(Running { state, order, flush, next: 0 });
                (Phase::Run { run }, "bind\tinputs\tbind".to_string())
            }
            Phase::Run { mut run } => {
                let pos = run.next;
                let node_id = run.order[pos];
                let (name, op) = {
                    let node = run.state.model().node(node_id);
                    (node.name.clone(), node.op().name().to_string())
                };
                // Source nodes already hold their bound value.
                let is_source = run.state.model().input_outlets().map_err(err)?.iter().any(|o| o.node == node_id);
                if !is_source {
                    run.state.compute_one(node_id).map_err(|e| format!("node '{name}' ({op}): {e:#}"))?;
                }
                for n in run.flush[pos].clone() {
                    let _ = run.state.take(n);
                }
                run.next += 1;
                let label = format!("node\t{name}\t{op}\t{}", self.onnx_op_of(&name));
                if run.next == run.order.len() {
                    (Phase::Finish { run }, label)
                } else {
                    (Phase::Run { run }, label)
                }
            }
            Phase::Finish { mut run } => {
                let outputs = run.state.outputs().map_err(err)?;
                let model = run.state.model();
                let outlets = model.output_outlets().map_err(err)?;
                let mut wire = Vec::with_capacity(outputs.len());
                for (ix, (outlet, value)) in outlets.iter().zip(outputs.iter()).enumerate() {
                    let node = model.node(outlet.node);
                    let name = model
                        .outlet_label(*outlet)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| if node.outputs.len() == 1 { node.name.clone() } else { format!("{}:{ix}", node.name) });
                    wire.push(from_tract(&name, value)?);
                }
                drop(outputs);
                drop(run);
                self.output = gavel_codec::encode(&wire);
                OUTPUT_ID.with(|id| id.0.set(gavel_codec::blob::blob_id(&self.output)));
                (Phase::Done, "finish\tencode outputs\tencode".to_string())
            }
            Phase::Done => return Err("the run is already complete".to_string()),
            Phase::Failed => return Err("the run already failed".to_string()),
        };
        let more = !matches!(next, Phase::Done);
        self.phase = next;
        self.message = label;
        Ok(more)
    }
}

/// Runs one macro-step: 1 = more steps follow, 0 = done (outputs ready), -1 = error (message).
#[no_mangle]
pub extern "C" fn gavel_step() -> i32 {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let _ = PANIC.try_with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    *p = info.to_string();
                }
            });
        }))
    });
    GUEST.with(|g| {
        let mut g = g.borrow_mut();
        match g.step() {
            Ok(true) => 1,
            Ok(false) => 0,
            Err(e) => {
                g.message = e;
                -1
            }
        }
    })
}

/// Address of the last step's label, or of the error message after -1.
#[no_mangle]
pub extern "C" fn gavel_message_ptr() -> i32 {
    GUEST.with(|g| g.borrow().message.as_ptr() as i32)
}

/// Length in bytes of the message at `gavel_message_ptr`.
#[no_mangle]
pub extern "C" fn gavel_message_len() -> i32 {
    GUEST.with(|g| g.borrow().message.len() as i32)
}

/// Address of the encoded output tensor set (valid after `gavel_step` returned 0).
#[no_mangle]
pub extern "C" fn gavel_output_ptr() -> i32 {
    GUEST.with(|g| g.borrow().output.as_ptr() as i32)
}

/// Length in bytes of the encoded output tensor set.
#[no_mangle]
pub extern "C" fn gavel_output_len() -> i32 {
    GUEST.with(|g| g.borrow().output.len() as i32)
}

/// Address of the output id: 32 bytes, 32-byte aligned, fixed for the module (valid after
/// `gavel_step` returned 0; zero before).
#[no_mangle]
pub extern "C" fn gavel_output_id_ptr() -> i32 {
    OUTPUT_ID.with(|id| id.0.as_ptr() as i32)
}

/// Address of the last panic message (read by the host after a trap).
#[no_mangle]
pub extern "C" fn gavel_panic_ptr() -> i32 {
    PANIC.with(|p| p.borrow().as_ptr() as i32)
}

/// Length of the last panic message.
#[no_mangle]
pub extern "C" fn gavel_panic_len() -> i32 {
    PANIC.with(|p| p.borrow().len() as i32)
}
