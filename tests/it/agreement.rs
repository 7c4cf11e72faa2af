//! The step machine agrees with wasmtime at every macro-step boundary of real models.

use std::sync::Arc;
use std::time::Instant;

use gavel_bisection::machine::{Machine, StepEvent};
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use gavel_runner::state::Status;

use crate::{model_bytes, runtime};

fn blobs(name: &str) -> Vec<Arc<Vec<u8>>> {
    let case = Case::load(&repo_root(), name).unwrap();
    let inputs = Arc::new(gavel_codec::encode(&case.inputs));
    vec![model_bytes(&case), inputs]
}

fn limit_pages() -> u32 {
    (MachineOptions::default().memory_limit_mib * 16) as u32
}

/// From genesis, the interpreter alone reaches wasmtime's state root after every macro-step.
fn whole_run_agrees(name: &str) -> (u64, u64) {
    let blobs = blobs(name);
    let program = runtime().guest.program().unwrap();
    let mut fast = runtime().machine(blobs.clone(), &MachineOptions::default()).unwrap();
    let mut slow = Machine::new(program, blobs, limit_pages());
    assert_eq!(slow.state_root(), fast.state_root().unwrap(), "{name}: roots differ before the first macro-step");
    let (mut macro_steps, mut instructions) = (0u64, 0u64);
    let t = Instant::now();
    while fast.status() == Status::Running {
        let info = fast.step();
        let (n, ev) = slow.run_macro_step().unwrap();
        instructions += n;
        assert!(matches!(ev, StepEvent::MacroStepEnded(_) | StepEvent::Trapped(_)), "{ev:?}");
        assert_eq!(
            slow.state_root(),
            fast.state_root().unwrap(),
            "{name}: roots differ after macro-step {macro_steps} ({info:?}, {n} instructions)"
        );
        macro_steps += 1;
    }
    eprintln!("{name}: {macro_steps} macro-steps, {instructions} instructions, {:.1} s", t.elapsed().as_secs_f64());
    (macro_steps, instructions)
}

#[test]
fn interpreter_agrees_with_wasmtime_at_every_macro_step_silero() {
    let (steps, instructions) = whole_run_agrees("silero_vad");
    assert!(steps > 10 && instructions > 1_000_000);
}
