//! The step machine agrees with wasmtime at every macro-step boundary of real models.

use std::sync::Arc;
use std::time::Instant;

use gavel_bisection::machine::{Machine, StepEvent};
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use gavel_runner::state::Status;

use crate::{model_bytes, runtime};

pub(crate) fn blobs(name: &str) -> Vec<Arc<Vec<u8>>> {
    let case = Case::load(&repo_root(), name).unwrap();
    let inputs = Arc::new(gavel_codec::encode(&case.inputs));
    vec![model_bytes(&case), inputs]
}

fn limit_pages() -> u32 {
    MachineOptions::default().memory_limit_pages()
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
        assert_eq!(slow.state_root(), fast.state_root().unwrap(), "{name}: roots differ after macro-step {macro_steps} ({info:?}, {n} instructions)");
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

/// Proves steps of a real run: the first steps (entering, the blob oracle, bulk copies) and the
/// first execution of every opcode the run uses. Each proof is checked by `verify_step` and its
/// `root_after` equals the interpreter's next root. Returns the opcodes proven.
fn prove_real_steps(name: &str, first: u64) -> std::collections::BTreeMap<u16, (usize, u64)> {
    use gavel_bisection::proof::{prove_step, BlobTrees};
    use gavel_bisection::verify::verify_step;
    let blobs = blobs(name);
    let program = runtime().guest.program().unwrap();
    let mut m = Machine::new(program, blobs, limit_pages());
    let mut trees = BlobTrees::default();
    let mut seen = std::collections::BTreeMap::new();
    let mut n = 0u64;
    while m.status == Status::Running {
        let (_, ins) = m.next_instruction();
        if n < first || !seen.contains_key(&ins.op) {
            let p = prove_step(&mut m, &mut trees).unwrap();
            assert_eq!(verify_step(&p.root_before, &p.proof).unwrap(), p.root_after);
            assert_eq!(p.root_after, m.state_root());
            seen.entry(ins.op).or_insert((p.proof.len(), p.verifier_hashes));
        } else {
            m.step().unwrap();
        }
        n += 1;
    }
    assert_eq!(m.status, Status::Done);
    seen
}

#[test]
fn steps_of_a_real_run_prove_and_verify() {
    let seen = prove_real_steps("silero_vad", 3000);
    // Every family: control, memory, integer and float math, the blob oracle, bulk memory.
    for op in [0x0103u16, 0x0104, 0x0105, 0x0106, 0x10, 0x11, 0x0e, 0x0f, 0x28, 0x36, 0x6a, 0x92, 0xfc0a, 0xfc0b, 0x23, 0x24] {
        assert!(seen.contains_key(&op), "opcode {op:#06x} never executed on silero");
    }
    eprintln!("silero: {} distinct opcodes proven", seen.len());
    // Proof size and verifier keccak calls per family (the first proof of each opcode).
    let mut fam: std::collections::BTreeMap<String, (usize, usize, u64, u64)> = Default::default();
    for (op, (bytes, hashes)) in &seen {
        let f = format!("{:?}", gavel_bisection::code::op_family(*op).unwrap());
        let e = fam.entry(f).or_insert((usize::MAX, 0, u64::MAX, 0));
        *e = (e.0.min(*bytes), e.1.max(*bytes), e.2.min(*hashes), e.3.max(*hashes));
    }
    for (f, (bmin, bmax, hmin, hmax)) in fam {
        eprintln!("family {f}: proof {bmin}..{bmax} bytes, {hmin}..{hmax} keccak calls");
    }
}

/// Both engines side by side over a whole run (`RunSteps`, what `run --exact-steps` does):
/// their roots must agree after every macro-step; then a sample of macro-steps is re-run by the
/// interpreter started from wasmtime's own state at the boundary, and proofs of sampled steps
/// from the snapshots verify.
fn side_by_side(name: &str, samples: u64) {
    use gavel_bisection::verify::verify_step;
    use gavel_runner::prove::RunSteps;
    let dir = std::env::temp_dir().join(format!("gavel-agree-{name}-{}", std::process::id()));
    let blobs = blobs(name);
    let t = Instant::now();
    let steps = RunSteps::open_in(&dir, runtime(), &blobs, &MachineOptions::default(), &mut |_, _| {}).unwrap();
    let index = &steps.index;
    assert_eq!(index.divergence, None, "{name}: the engines must agree at every boundary");
    eprintln!(
        "{name}: {} macro-steps, {} steps, both engines agreed at every boundary ({:.1} s)",
        index.per_macro_step.len(),
        index.total(),
        t.elapsed().as_secs_f64()
    );
    // From wasmtime's state at boundary i, the interpreter reaches wasmtime's root i+1.
    let program = runtime().guest.program().unwrap();
    let mut fast = runtime().machine(blobs.clone(), &MachineOptions::default()).unwrap();
    let every = (index.per_macro_step.len() as u64 / samples).max(1);
    for i in 0..index.per_macro_step.len() as u64 {
        if i % every == 0 || i + 1 == index.per_macro_step.len() as u64 {
            let mut slow =
                Machine::at_boundary(program.clone(), blobs.clone(), limit_pages(), fast.status(), i, fast.memory_snapshot(), fast.global_values().unwrap());
            let (n, _) = slow.run_macro_step().unwrap();
            assert_eq!(n, index.per_macro_step[i as usize], "{name}: macro-step {i} length");
            fast.step().unwrap();
            assert_eq!(slow.state_root(), fast.state_root().unwrap(), "{name}: macro-step {i} from wasmtime's state");
        } else {
            fast.step().unwrap();
        }
    }
    // A level-2 trace: roots at the stride, first and last equal to the agreed boundary roots,
    // an inner one equal to the state reached directly.
    let i = index.per_macro_step.iter().enumerate().max_by_key(|(_, n)| **n).map(|(i, _)| i as u64).unwrap();
    let len = index.per_macro_step[i as usize];
    let stride = len / 7 + 1;
    let l2 = steps.level2(i, stride).unwrap();
    assert_eq!(l2.roots.len() as u64, len.div_ceil(stride) + 1);
    let before = if i == 0 { index.genesis.clone() } else { index.roots[i as usize - 1].clone() };
    assert_eq!(gavel_runner::state::hex32(&l2.roots[0]), before);
    assert_eq!(gavel_runner::state::hex32(l2.roots.last().unwrap()), index.roots[i as usize]);
    assert_eq!(steps.machine_at(index.start_of(i) + 3 * stride).unwrap().state_root(), l2.roots[3]);
    // Steps proven from the snapshots verify and chain.
    for k in 1..=8u64 {
        let n = index.total() * k / 9;
        let p = steps.prove(n).unwrap();
        assert_eq!(verify_step(&p.step.root_before, &p.step.proof).unwrap(), p.step.root_after);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn both_engines_agree_at_every_macro_step_of_the_detector() {
    side_by_side("ppocr_det", 20);
}

#[test]
fn both_engines_agree_at_every_macro_step_of_minilm() {
    side_by_side("minilm_int8", 12);
}
