//! The incremental state root equals a from-scratch computation at every macro-step.

use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use gavel_runner::merkle::{root_of, MEMORY_DEPTH};
use gavel_runner::state::Status;

use crate::{model_bytes, runtime};

fn machine(name: &str) -> gavel_runner::machine::Machine {
    let case = Case::load(&repo_root(), name).unwrap();
    let inputs = std::sync::Arc::new(gavel_codec::encode(&case.inputs));
    runtime().machine(vec![model_bytes(&case), inputs], &MachineOptions::default()).unwrap()
}

/// Write tracking (the dirty-page map the compiled guest marks, `runner/src/dirty.rs`) is active
/// on every unix host; elsewhere the shadow comparison is the fallback and is what gets tested.
fn check_tracking(active: bool) {
    if cfg!(unix) {
        assert!(active, "write tracking is not active on a unix host");
    }
}

/// With dirty tracking on, the incremental memory root equals a from-scratch root after every
/// macro-step of a real model.
#[test]
fn incremental_root_matches_full_recompute_every_step() {
    let mut m = machine("silero_vad");
    let mut roots = vec![m.state_root().unwrap()];
    check_tracking(m.track_writes());
    let mut steps = 0;
    while m.status() == Status::Running {
        m.step().unwrap();
        let header = m.header().unwrap();
        let full = root_of(&m.memory_snapshot(), MEMORY_DEPTH);
        assert_eq!(header.memory, full, "memory root diverged after macro-step {steps}");
        roots.push(header.root());
        steps += 1;
    }
    assert_eq!(m.status(), Status::Done);
    // Every step changes the state (the step counter alone guarantees it).
    let unique: std::collections::HashSet<_> = roots.iter().collect();
    assert_eq!(unique.len(), roots.len());
}

/// Roots with write tracking equal roots with full shadow comparison at every macro-step
/// of the detector (300+ steps, memory growing and buffers reused).
#[test]
fn dirty_tracking_agrees_with_shadow_comparison_every_step() {
    let mut tracked = machine("ppocr_det");
    let mut shadow = machine("ppocr_det");
    assert_eq!(tracked.state_root().unwrap(), shadow.state_root().unwrap());
    check_tracking(tracked.track_writes());
    let mut step = 0;
    while tracked.status() == Status::Running {
        tracked.step().unwrap();
        shadow.step().unwrap();
        assert_eq!(tracked.state_root().unwrap(), shadow.state_root().unwrap(), "roots diverged after macro-step {step}");
        step += 1;
    }
    assert!(step > 300);
}

#[test]
fn memory_limit_is_enforced_with_a_clear_error() {
    let case = Case::load(&repo_root(), "ppocr_det").unwrap();
    let options = MachineOptions { memory_limit_mib: 10 };
    let err = gavel_runner::run::run(runtime(), model_bytes(&case), &case.inputs, &options, gavel_runner::run::TraceMode::FinalRoot, &mut |_| {})
        .expect_err("a 10 MiB guest cannot run the detector");
    let msg = err.to_string();
    assert!(msg.contains("memory limit of 10 MiB"), "{msg}");
}

/// The level-1 trace of `run` (write tracking, page copies hashed on a second thread)
/// equals the roots of a machine that compares all of memory after every macro-step.
#[test]
fn pipelined_trace_equals_shadow_roots() {
    for name in ["ppocr_det", "minilm_int8"] {
        let case = Case::load(&repo_root(), name).unwrap();
        let out =
            gavel_runner::run::run(runtime(), model_bytes(&case), &case.inputs, &MachineOptions::default(), gavel_runner::run::TraceMode::Level1, &mut |_| {})
                .unwrap();
        let trace = out.trace.unwrap();
        let mut shadow = machine(name);
        assert_eq!(gavel_runner::state::hex32(&shadow.state_root().unwrap()), trace.initial_root);
        for step in &trace.steps {
            shadow.step().unwrap();
            let root = gavel_runner::state::hex32(&shadow.state_root().unwrap());
            assert_eq!(root, step.root, "{name}: trace root of macro-step {} differs", step.index);
        }
        assert_eq!(shadow.status(), Status::Done);
    }
}

#[test]
fn portable_blob_id_matches_the_host() {
    // The guest names its output with the codec's portable keccak; the chain and the host use
    // the SIMD one. They must agree at every tree shape (depth changes at 32, 128, 512... bytes).
    for len in [0usize, 1, 31, 32, 33, 127, 128, 129, 512, 513, 2048, 5000, 70_000] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 131 % 251) as u8).collect();
        let host = gavel_bisection::state::BlobCommitment::of(&bytes).id();
        assert_eq!(gavel_codec::blob::blob_id(&bytes), host, "length {len}");
    }
}
