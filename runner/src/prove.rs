//! The slow path driven from the fast one: exact step counts and one-step proofs of a run.
//!
//! Exact per-macro-step instruction counts come from one interpreter pass (the step machine's
//! count is the definition; wasmtime fuel only approximates it) and are cached on disk, keyed by
//! the run's genesis state root. To prove step `N`, wasmtime runs at JIT speed to the boundary
//! of the macro-step holding `N` (a snapshot the fast path re-creates on demand), the boundary's
//! memory and globals seed the interpreter, and only the instructions of that one macro-step
//! before `N` are interpreted.

use std::path::PathBuf;
use std::sync::Arc;

use gavel_bisection::machine::{Machine as StepMachine, StepEvent};
use gavel_bisection::proof::{prove_step, BlobTrees, StepProof};

use crate::error::{Result, RunnerError};
use crate::machine::{MachineOptions, Runtime, StepInfo};
use crate::merkle::Hash32;
use crate::state::{hex32, Status};

/// Exact instruction counts of a run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepIndex {
    /// The genesis state root the counts belong to.
    pub genesis: String,
    /// Instructions (step-machine steps) of each macro-step, in order.
    pub per_macro_step: Vec<u64>,
    /// The state root after the last macro-step, as the interpreter computed it.
    pub final_root: String,
}

impl StepIndex {
    /// Total instructions.
    pub fn total(&self) -> u64 {
        self.per_macro_step.iter().sum()
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
}

fn engine(e: impl std::fmt::Display) -> RunnerError {
    RunnerError::Engine(e.to_string())
}

fn cache_path(genesis: &Hash32) -> Option<PathBuf> {
    let base = std::env::var_os("GAVEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gavel")))?;
    Some(base.join("steps").join(format!("{}.json", hex::encode(genesis))))
}

fn limit_pages(options: &MachineOptions) -> u32 {
    (options.memory_limit_mib * 16) as u32
}

/// The genesis root of a run (before the first macro-step).
pub fn genesis_root(runtime: &Runtime, blobs: &[Arc<Vec<u8>>], options: &MachineOptions) -> Result<Hash32> {
    runtime.machine(blobs.to_vec(), options)?.state_root()
}

/// Counts every instruction of the run with the interpreter (cached). `progress` sees the
/// instructions counted so far after each macro-step.
pub fn step_index(
    runtime: &Runtime,
    blobs: &[Arc<Vec<u8>>],
    options: &MachineOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<StepIndex> {
    let program = runtime.guest.program()?;
    let mut m = StepMachine::new(program, blobs.to_vec(), limit_pages(options));
    let genesis = m.state_root();
    let cached = cache_path(&genesis);
    if let Some(idx) = cached
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<StepIndex>(&b).ok())
        .filter(|i| i.genesis == hex32(&genesis))
    {
        return Ok(idx);
    }
    let mut per = Vec::new();
    let mut total = 0u64;
    while m.status == Status::Running {
        let (n, ev) = m.run_macro_step().map_err(engine)?;
        per.push(n);
        total += n;
        progress(per.len() as u64, total);
        if matches!(ev, StepEvent::Halted) {
            break;
        }
    }
    let idx = StepIndex { genesis: hex32(&genesis), per_macro_step: per, final_root: hex32(&m.state_root()) };
    if let Some(p) = cached {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, serde_json::to_vec(&idx).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&tmp, &p);
        }
    }
    Ok(idx)
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
    pub label: StepInfo,
}

/// Proves global step `n` of the run (see the module docs for how).
pub fn prove(runtime: &Runtime, blobs: &[Arc<Vec<u8>>], options: &MachineOptions, index: &StepIndex, n: u64) -> Result<ProvenStep> {
    let (macro_step, offset) = index.locate(n).ok_or_else(|| {
        RunnerError::Engine(format!("step {n} is past the end of the run ({} steps)", index.total()))
    })?;
    let mut fast = runtime.machine(blobs.to_vec(), options)?;
    for _ in 0..macro_step {
        fast.step()?;
    }
    let globals = fast.global_values()?;
    let memory = fast.memory_snapshot();
    let status = fast.status();
    let boundary_root = fast.state_root()?;
    let label = fast.step().or_else(|e| match e {
        RunnerError::Guest { message, step } | RunnerError::Trap { reason: message, step } => {
            Ok(StepInfo { index: step, kind: "failed".into(), name: message, op: String::new(), onnx_op: String::new(), fuel: 0 })
        }
        other => Err(other),
    })?;
    let program = runtime.guest.program()?;
    let mut slow = StepMachine::at_boundary(program, blobs.to_vec(), limit_pages(options), status, macro_step, memory, globals);
    if slow.state_root() != boundary_root {
        return Err(RunnerError::Engine(format!("the step machine disagrees with wasmtime at macro-step {macro_step}")));
    }
    let (done, _) = slow.run(offset).map_err(engine)?;
    if done != offset {
        return Err(RunnerError::Engine(format!("macro-step {macro_step} ended after {done} steps, before offset {offset}")));
    }
    let step = prove_step(&mut slow, &mut BlobTrees::default()).map_err(engine)?;
    Ok(ProvenStep { step, index: n, macro_step, offset, label })
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
        return Err(RunnerError::Engine(format!(
            "not a gavel proof file (expected the GVSP v1 magic and a 32-byte root; got {} bytes)",
            bytes.len()
        )));
    }
    let mut root = [0u8; 32];
    root.copy_from_slice(&bytes[8..40]);
    Ok((root, &bytes[40..]))
}
