//! The slow path next to the fast one: exact step counts, snapshots, instruction-level traces and
//! one-step proofs of a run.
//!
//! One pass runs wasmtime and the step machine side by side, checks that their state roots agree
//! after every macro-step, counts every step exactly (the step machine's count is the
//! definition; wasmtime fuel only approximates it) and snapshots the interpreter every
//! [`SNAPSHOT_STRIDE`] steps. Index and snapshots are cached on disk, keyed by the run's genesis
//! root; any step is then reached from the nearest snapshot.

use std::path::PathBuf;
use std::sync::Arc;

use gavel_bisection::machine::{Machine as StepMachine, StepEvent};
use gavel_bisection::proof::{prove_step, BlobTrees, StepProof};
use gavel_bisection::snapshot::{restore, RecordInfo, SnapshotWriter};

use crate::error::{Result, RunnerError};
use crate::machine::{MachineOptions, Runtime};
use crate::merkle::Hash32;
use crate::state::{hex32, Status};

/// Steps between two snapshots of the interpreter pass: at about 70 M steps/s, reaching any
/// step from its snapshot takes at most about a quarter of a second.
pub const SNAPSHOT_STRIDE: u64 = 1 << 24;

/// What a macro-step was (from the fast path's labels).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Label {
    /// `load`, `bind`, `node`, `finish` (or `failed`; `unlabelled` after a divergence, when
    /// only the step machine ran).
    pub kind: String,
    /// ONNX node name or phase.
    pub name: String,
    /// tract operator.
    pub op: String,
    /// ONNX op type.
    pub onnx_op: String,
}

/// Exact instruction counts of a run, its macro-step labels and its snapshot store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepIndex {
    /// The genesis state root the counts belong to.
    pub genesis: String,
    /// Instructions (step-machine steps) of each macro-step, in order.
    pub per_macro_step: Vec<u64>,
    /// The label of each macro-step.
    pub labels: Vec<Label>,
    /// The state root after each macro-step (both engines agreed on every one).
    pub roots: Vec<String>,
    /// The state root after the last macro-step.
    pub final_root: String,
    /// Snapshot records: (global step, byte offset) in the store next to the index.
    pub snapshots: Vec<(u64, u64)>,
    /// Where wasmtime stopped agreeing with the step machine, if it did: from there on the
    /// index is the step machine's alone (the chain enforces its semantics).
    #[serde(default)]
    pub divergence: Option<Divergence>,
}

/// wasmtime disagreed with the step machine, or failed where the step machine did not.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Divergence {
    /// The macro-step after which (or in which) it happened.
    pub macro_step: u64,
    /// What happened.
    pub reason: String,
}

impl StepIndex {
    /// Total instructions.
    pub fn total(&self) -> u64 {
        self.per_macro_step.iter().sum()
    }

    /// The global step at which macro-step `i` starts.
    pub fn start_of(&self, i: u64) -> u64 {
        self.per_macro_step.iter().take(i as usize).sum()
    }

    /// The macro-step holding global step `n` and `n`'s offset inside it.
    pub fn locate(&self, n: u64) -> Option<(u64, u64)> {
        let mut start = 0u64;
        for (i, &count) in self.per_macro_step.iter().enumerate() {
            if n < start + count {
                return Some((i as u64, n - start));
            }
            start += count;
        }
        None
    }

    fn records(&self) -> Vec<RecordInfo> {
        self.snapshots.iter().map(|&(step, offset)| RecordInfo { step, offset }).collect()
    }
}

fn engine(e: impl std::fmt::Display) -> RunnerError {
    RunnerError::Engine(e.to_string())
}

/// Runs `m` for exactly `k` steps (across macro-step boundaries), or until it halts.
fn advance(m: &mut StepMachine, mut k: u64) -> Result<u64> {
    let mut done = 0;
    while k > 0 && m.status == Status::Running {
        let (n, _) = m.run(k).map_err(engine)?;
        done += n;
        k -= n;
    }
    Ok(done)
}

/// A run's blobs and how to reach any of its states: the index (exact counts, labels, agreed
/// roots) and the snapshot store, built by one pass of both engines and cached on disk.
pub struct RunSteps {
    /// The index.
    pub index: StepIndex,
    program: Arc<gavel_bisection::code::Program>,
    blobs: Vec<Arc<Vec<u8>>>,
    limit_pages: u32,
    store: PathBuf,
}

impl RunSteps {
    /// Loads the cached index and snapshot store of this run, or builds them: wasmtime and the
    /// interpreter run side by side, their roots are compared after every macro-step (where
    /// they first differ, or wasmtime fails, the interpreter goes on alone and
    /// [`StepIndex::divergence`] says where and why), the interpreter is snapshotted every
    /// [`SNAPSHOT_STRIDE`] steps.
    /// `progress` sees (macro-steps, instructions) after each macro-step.
    pub fn open(runtime: &Runtime, blobs: &[Arc<Vec<u8>>], options: &MachineOptions, progress: &mut dyn FnMut(u64, u64)) -> Result<RunSteps> {
        let dir = crate::module::cache_base().join("steps");
        RunSteps::open_in(&dir, runtime, blobs, options, progress)
    }

    /// [`RunSteps::open`] with the index and snapshots kept in `dir`.
    pub fn open_in(
        dir: &std::path::Path,
        runtime: &Runtime,
        blobs: &[Arc<Vec<u8>>],
        options: &MachineOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<RunSteps> {
        let program = runtime.guest.program()?;
        let mut m = StepMachine::new(Arc::clone(&program), blobs.to_vec(), options.memory_limit_pages());
        let genesis = m.state_root();
        let name = hex::encode(genesis);
        let (index_path, store) = (dir.join(format!("{name}.json")), dir.join(format!("{name}.snap")));
        let open = |index: StepIndex| RunSteps {
            index,
            program: Arc::clone(&program),
            blobs: blobs.to_vec(),
            limit_pages: options.memory_limit_pages(),
            store: store.clone(),
        };
        if let Some(idx) = std::fs::read(&index_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<StepIndex>(&b).ok())
            .filter(|i| i.genesis == hex32(&genesis) && store.exists())
        {
            return Ok(open(idx));
        }
        // wasmtime runs alongside for the labels and as a cross-check. If it ever disagrees
        // with the step machine or fails where the step machine does not (a host error, a
        // native stack limit the interpreter does not have), the step machine goes on alone:
        // its semantics are what the chain enforces, so the index stays true, only slower to
        // build. The divergence is recorded in the index and logged loudly.
        let mut divergence = None;
        let mut fast = match runtime.machine(blobs.to_vec(), options).and_then(|mut f| {
            f.track_writes();
            f.state_root().map(|r| (f, r))
        }) {
            Ok((f, r)) if r == genesis => Some(f),
            Ok((_, r)) => {
                divergence = Some(Divergence { macro_step: 0, reason: format!("genesis root {} vs the step machine's {}", hex32(&r), hex32(&genesis)) });
                None
            }
            Err(e) => {
                divergence = Some(Divergence { macro_step: 0, reason: format!("wasmtime failed: {e}") });
                None
            }
        };
        let tmp_store = store.with_extension(format!("snap.tmp{}", std::process::id()));
        let mut writer = SnapshotWriter::create(&tmp_store).map_err(engine)?;
        writer.record(&mut m, 0).map_err(engine)?;
        let (mut per, mut labels, mut roots) = (Vec::new(), Vec::new(), Vec::new());
        let (mut global, mut next_snapshot) = (0u64, SNAPSHOT_STRIDE);
        let unlabelled = || Label { kind: "unlabelled".into(), name: String::new(), op: String::new(), onnx_op: String::new() };
        while m.status == Status::Running {
            let i = per.len() as u64;
            let failed = |name: String| Label { kind: "failed".into(), name, op: String::new(), onnx_op: String::new() };
            let label = match fast.as_mut().map(|f| f.step()) {
                None => unlabelled(),
                Some(Ok(s)) => Label { kind: s.kind, name: s.name, op: s.op, onnx_op: s.onnx_op },
                // A failed or trapped guest (including one denied memory past the limit, where
                // `memory.grow` returned -1 to both engines) is an ordinary end of the run: the
                // step machine agrees on it, and a claim about it can be checked and disputed.
                Some(Err(RunnerError::Guest { message, .. })) | Some(Err(RunnerError::Trap { reason: message, .. })) => failed(message),
                Some(Err(e @ RunnerError::MemoryLimit { .. })) => failed(e.to_string()),
                Some(Err(e)) => {
                    divergence = Some(Divergence { macro_step: i, reason: format!("wasmtime failed: {e}") });
                    fast = None;
                    unlabelled()
                }
            };
            let start = global;
            loop {
                let (n, ev) = m.run(next_snapshot - global).map_err(engine)?;
                global += n;
                if global == next_snapshot {
                    writer.record(&mut m, global).map_err(engine)?;
                    next_snapshot += SNAPSHOT_STRIDE;
                }
                if ev != StepEvent::Executed {
                    break;
                }
            }
            let slow_root = m.state_root();
            if let Some(f) = fast.as_mut() {
                let reason = match f.state_root() {
                    Ok(r) if r == slow_root => None,
                    Ok(r) => Some(format!(
                        "after macro-step {i} ({} {}) wasmtime's root is {}, the step machine's {}",
                        label.kind,
                        label.name,
                        hex32(&r),
                        hex32(&slow_root)
                    )),
                    Err(e) => Some(format!("wasmtime's root after macro-step {i}: {e}")),
                };
                if reason.is_some() {
                    divergence = reason.map(|reason| Divergence { macro_step: i, reason });
                    fast = None;
                }
            }
            if let Some(d) = divergence.as_ref().filter(|d| d.macro_step == i) {
                tracing::error!(macro_step = i, reason = %d.reason, "wasmtime and the step machine diverge; the step machine goes on alone");
            }
            per.push(global - start);
            labels.push(label);
            roots.push(hex32(&slow_root));
            progress(per.len() as u64, global);
        }
        let records = writer.finish().map_err(engine)?;
        let index = StepIndex {
            genesis: hex32(&genesis),
            per_macro_step: per,
            labels,
            final_root: hex32(&m.state_root()),
            roots,
            snapshots: records.iter().map(|r| (r.step, r.offset)).collect(),
            divergence,
        };
        std::fs::rename(&tmp_store, &store).map_err(|e| engine(format!("{}: {e}", store.display())))?;
        let tmp = index_path.with_extension(format!("json.tmp{}", std::process::id()));
        if std::fs::write(&tmp, serde_json::to_vec(&index).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&tmp, &index_path);
        }
        Ok(open(index))
    }

    /// The interpreter at global step `n` (restored from the nearest snapshot, then run).
    pub fn machine_at(&self, n: u64) -> Result<StepMachine> {
        if n > self.index.total() {
            return Err(RunnerError::Engine(format!("step {n} is past the end of the run ({} steps)", self.index.total())));
        }
        let (mut m, at) = restore(&self.store, &self.index.records(), Arc::clone(&self.program), self.blobs.clone(), self.limit_pages, n).map_err(engine)?;
        let done = advance(&mut m, n - at)?;
        if done != n - at {
            return Err(engine(format!("the run halted {} steps before step {n}", n - at - done)));
        }
        Ok(m)
    }

    /// Proves global step `n`.
    pub fn prove(&self, n: u64) -> Result<ProvenStep> {
        let (macro_step, offset) =
            self.index.locate(n).ok_or_else(|| RunnerError::Engine(format!("step {n} is past the end of the run ({} steps)", self.index.total())))?;
        let mut m = self.machine_at(n)?;
        let step = prove_step(&mut m, &mut BlobTrees::default()).map_err(engine)?;
        let label = self.index.labels[macro_step as usize].clone();
        Ok(ProvenStep { step, index: n, macro_step, offset, label })
    }

    /// The instruction-level trace of macro-step `i` at `stride`: the state root at its start,
    /// every `stride` steps, and at its end, with their commitment (`spec/proofs.md`).
    pub fn level2(&self, i: u64, stride: u64) -> Result<Level2Trace> {
        if i >= self.index.per_macro_step.len() as u64 {
            return Err(RunnerError::Engine(format!("macro-step {i} does not exist ({} in the run)", self.index.per_macro_step.len())));
        }
        if stride == 0 {
            return Err(RunnerError::Engine("stride must be at least 1".into()));
        }
        let len = self.index.per_macro_step[i as usize];
        let mut m = self.machine_at(self.index.start_of(i))?;
        let mut roots = vec![m.state_root()];
        let mut done = 0u64;
        while done < len {
            let (n, _) = m.run(stride.min(len - done)).map_err(engine)?;
            if n == 0 {
                return Err(engine("the macro-step ended early"));
            }
            done += n;
            roots.push(m.state_root());
        }
        if hex32(roots.last().unwrap_or(&[0; 32])) != self.index.roots[i as usize] {
            return Err(engine(format!("macro-step {i} does not end at the agreed root")));
        }
        let commitment = crate::state::trace_commitment(&roots);
        Ok(Level2Trace { macro_step: i, stride, steps: len, roots, commitment, label: self.index.labels[i as usize].clone() })
    }
}

/// The state roots inside one macro-step at a stride.
#[derive(Clone, Debug)]
pub struct Level2Trace {
    /// The macro-step.
    pub macro_step: u64,
    /// Steps between roots (the last interval may be shorter).
    pub stride: u64,
    /// Steps of the macro-step.
    pub steps: u64,
    /// Roots: before the first step, after every `stride` steps, after the last step.
    pub roots: Vec<Hash32>,
    /// `trace_commitment(roots)` (`spec/machine.md`).
    pub commitment: Hash32,
    /// The macro-step's label.
    pub label: Label,
}

/// A proven step of a run.
pub struct ProvenStep {
    /// The proof.
    pub step: StepProof,
    /// Global step index.
    pub index: u64,
    /// Macro-step holding it.
    pub macro_step: u64,
    /// Offset inside the macro-step.
    pub offset: u64,
    /// The macro-step's label (ONNX node, tract op, ONNX op).
    pub label: Label,
}

/// Magic of a proof file: `GVSP`, version 1.
pub const PROOF_FILE_MAGIC: &[u8; 8] = b"GVSP\x00\x00\x00\x01";

/// A proof file: magic ‖ root_before ‖ proof bytes.
pub fn proof_file(step: &StepProof) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + step.proof.len());
    out.extend_from_slice(PROOF_FILE_MAGIC);
    out.extend_from_slice(&step.root_before);
    out.extend_from_slice(&step.proof);
    out
}

/// Splits a proof file into root_before and proof bytes.
pub fn parse_proof_file(bytes: &[u8]) -> Result<(Hash32, &[u8])> {
    if bytes.len() < 40 || &bytes[..8] != PROOF_FILE_MAGIC {
        return Err(RunnerError::Engine(format!("not a gavel proof file (expected the GVSP v1 magic and a 32-byte root; got {} bytes)", bytes.len())));
    }
    let mut root = [0u8; 32];
    root.copy_from_slice(&bytes[8..40]);
    Ok((root, &bytes[40..]))
}
