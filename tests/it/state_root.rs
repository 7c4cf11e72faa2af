//! The incremental state root equals a from-scratch computation at every macro-step.

use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use gavel_runner::merkle::{root_of, MEMORY_DEPTH};
use gavel_runner::state::Status;

use crate::{model_bytes, runtime};

#[test]
fn incremental_root_matches_full_recompute_every_step() {
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let inputs = std::sync::Arc::new(gavel_codec::encode(&case.inputs));
    let mut m = runtime().machine(vec![model_bytes(&case), inputs], &MachineOptions::default()).unwrap();
    let mut roots = vec![m.state_root().unwrap()];
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

#[test]
fn memory_limit_is_enforced_with_a_clear_error() {
    let case = Case::load(&repo_root(), "ppocr_det").unwrap();
    let inputs = std::sync::Arc::new(gavel_codec::encode(&case.inputs));
    let options = MachineOptions { memory_limit_mib: 10 };
    let err = gavel_runner::run::run(runtime(), model_bytes(&case), &case.inputs, &options, gavel_runner::run::TraceMode::FinalRoot, &mut |_| {})
        .err()
        .expect("a 10 MiB guest cannot run the detector");
    let msg = err.to_string();
    assert!(msg.contains("memory limit of 10 MiB"), "{msg}");
    drop(inputs);
}
