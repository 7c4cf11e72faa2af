//! Running one export on the step machine with every step proven, for the tests that compare it
//! with the production engine (`simd.rs`, `nan.rs`).

use std::sync::Arc;

use gavel_bisection::code::Program;
use gavel_bisection::machine::Machine;
use gavel_bisection::proof::{prove_step, BlobTrees};
use gavel_bisection::state::Status;
use gavel_bisection::verify::verify_step;
use wasmtime::Val;

/// A v128 as the step machine's two slots, low half first.
pub(crate) fn v(x: u128) -> Vec<u64> {
    vec![x as u64, (x >> 64) as u64]
}

/// Runs export `name` on the step machine, proving and verifying every step.
pub(crate) fn run_machine(program: &Arc<Program>, name: &str, args: &[u64]) -> Vec<u64> {
    let mut m = Machine::new(Arc::clone(program), vec![], 16);
    let func = program.exports[name];
    let results = program.function(func).expect("defined").results as usize;
    m.invoke(func, args).expect("invoke");
    let mut trees = BlobTrees::default();
    loop {
        let (_, ins) = m.next_instruction();
        if ins.op == gavel_bisection::code::op::RETURN && m.frames.len() == 1 {
            return m.values[m.values.len() - results..].to_vec();
        }
        let p = prove_step(&mut m, &mut trees).expect("prove");
        assert_eq!(verify_step(&p.root_before, &p.proof).expect("verify"), p.root_after, "{name}: verifier root");
        assert_eq!(m.status, Status::Running, "{name}: machine stopped");
    }
}

/// wasmtime values as step-machine slots.
pub(crate) fn slots(vals: &[Val]) -> Vec<u64> {
    vals.iter()
        .flat_map(|x| match x {
            Val::I32(x) => vec![*x as u32 as u64],
            Val::I64(x) => vec![*x as u64],
            Val::V128(x) => v(x.as_u128()),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}
