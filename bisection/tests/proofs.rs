//! One-step proofs: valid proofs verify, and any tampering is rejected without a panic.

use std::sync::Arc;

use gavel_bisection::code::Program;
use gavel_bisection::machine::Machine;
use gavel_bisection::proof::{prove_step, BlobTrees, StepProof};
use gavel_bisection::verify::verify_step;
use proptest::prelude::*;

/// A module exercising every proof family: calls (direct, indirect), locals, globals, loads and
/// stores across leaf boundaries, bulk memory, floats, branches and a br_table.
const WAT: &str = r#"
(module
  (type $t (func (param i32) (result i32)))
  (memory 1)
  (global $g (mut i32) (i32.const 7))
  (table 2 funcref)
  (elem (i32.const 0) $sq $inc)
  (func $sq (type $t) (i32.mul (local.get 0) (local.get 0)))
  (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
  (func (export "main") (result i32) (local $i i32) (local $f f64)
    (memory.fill (i32.const 30) (i32.const 171) (i32.const 70))
    (memory.copy (i32.const 100) (i32.const 20) (i32.const 90))
    (i64.store offset=29 (i32.const 0) (i64.const 0x0102030405060708))
    (local.set $f (f64.sqrt (f64.convert_i32_s (i32.load offset=31 (i32.const 0)))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.const 3)))
        (global.set $g (call_indirect (type $t) (global.get $g) (i32.and (local.get $i) (i32.const 1))))
        (br_table $l $l $done (local.tee $i (i32.add (local.get $i) (i32.const 1))))))
    (i32.add (global.get $g) (i32.trunc_sat_f64_s (local.get $f))))
)
"#;

fn proofs() -> &'static Vec<StepProof> {
    static P: std::sync::OnceLock<Vec<StepProof>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let bytes = wast::parser::parse::<wast::Wat>(&wast::parser::ParseBuffer::new(WAT).unwrap()).unwrap().encode().unwrap();
        let program = Arc::new(Program::lower(&bytes).unwrap());
        let main = program.exports["main"];
        let mut m = Machine::new(program, vec![], 16);
        m.invoke(main, &[]).unwrap();
        let mut trees = BlobTrees::default();
        let mut out = Vec::new();
        while m.active {
            out.push(prove_step(&mut m, &mut trees).unwrap());
        }
        out
    })
}

#[test]
fn every_step_of_the_program_verifies() {
    let p = proofs();
    assert!(p.len() > 50, "{} steps", p.len());
    for (i, s) in p.iter().enumerate() {
        assert_eq!(verify_step(&s.root_before, &s.proof).unwrap(), s.root_after, "step {i}");
        if i + 1 < p.len() {
            assert_eq!(s.root_after, p[i + 1].root_before);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Flipping any bit of a valid proof is rejected (never a different root, never a panic).
    #[test]
    fn flipped_bit_is_rejected(step in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
        let s = step.get(proofs());
        let mut proof = s.proof.clone();
        let b = bit.index(proof.len() * 8);
        proof[b / 8] ^= 1 << (b % 8);
        prop_assert!(verify_step(&s.root_before, &proof).is_err());
    }

    /// A wrong root before is rejected.
    #[test]
    fn wrong_root_before_is_rejected(step in any::<prop::sample::Index>(), bit in 0usize..256) {
        let s = step.get(proofs());
        let mut root = s.root_before;
        root[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_step(&root, &s.proof).is_err());
    }

    /// Truncated or extended proofs are rejected.
    #[test]
    fn wrong_length_is_rejected(step in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>(), extra in prop::collection::vec(any::<u8>(), 1..64)) {
        let s = step.get(proofs());
        let n = cut.index(s.proof.len());
        prop_assert!(verify_step(&s.root_before, &s.proof[..n]).is_err());
        let mut longer = s.proof.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(verify_step(&s.root_before, &longer).is_err());
    }

    /// Arbitrary bytes are an error, not a panic.
    #[test]
    fn garbage_is_an_error(bytes in prop::collection::vec(any::<u8>(), 0..2048), root in any::<[u8; 32]>()) {
        prop_assert!(verify_step(&root, &bytes).is_err());
    }
}

static PROVEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An arbitrary instruction: mostly real opcodes with small immediates (so programs do things),
/// sometimes unknown opcodes and extreme immediates.
fn instr() -> impl Strategy<Value = gavel_bisection::code::Instr> {
    let ops: Vec<u16> = gavel_bisection::code::OPCODES.iter().map(|o| o.0).collect();
    let op = prop_oneof![8 => prop::sample::select(ops), 1 => any::<u16>()];
    let small = prop_oneof![4 => 0u32..8, 1 => any::<u32>()];
    let c = prop_oneof![4 => 0u64..4, 1 => any::<u64>()];
    (op, small.clone(), small, c).prop_map(|(op, a, b, c)| gavel_bisection::code::Instr { op, a, b, c })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Arbitrary code (unknown opcodes, out-of-range locals, globals, branch targets, table
    /// slots, depths): the interpreter, the prover and the verifier never panic; every proof the
    /// prover produces verifies to the interpreter's root; the plain interpreter agrees.
    #[test]
    fn arbitrary_code_never_panics(code in prop::collection::vec(instr(), 1..16), entry_depth in 0u64..3) {
        if std::env::var_os("GAVEL_SHOW_PROVEN").is_some() {
            eprintln!("proven so far: {}", PROVEN.load(std::sync::atomic::Ordering::Relaxed));
        }
        use gavel_bisection::code::{op, Instr};
        // Instruction 0 enters at 1; a prelude pushes operands so most instructions have some;
        // local accesses mostly use the frame's real depth.
        let mut program_code = vec![Instr { op: op::INVOKE, a: 1, b: 0, c: entry_depth }];
        for k in 0..6u64 {
            program_code.push(Instr { op: if k % 2 == 0 { op::I32_CONST } else { op::I64_CONST }, a: 0, b: 0, c: k * 37 % 11 });
        }
        for mut ins in code {
            if (op::LOCAL_GET..=op::LOCAL_TEE).contains(&ins.op) && ins.a % 4 != 3 {
                ins.b = entry_depth as u32;
                ins.a %= 4;
            }
            program_code.push(ins);
        }
        let code = program_code;
        let program = Arc::new(Program::from_instructions(code, vec![(0x7f, 5), (0x7e, 9)], 1).unwrap());
        let mut proving = Machine::new(program.clone(), vec![Arc::new(vec![7u8; 100])], 4);
        let mut plain = proving.clone();
        let mut trees = BlobTrees::default();
        for _ in 0..40 {
            let proven = prove_step(&mut proving, &mut trees);
            let stepped = plain.step();
            match (proven, stepped) {
                (Ok(p), Ok(_)) => {
                    PROVEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    prop_assert_eq!(verify_step(&p.root_before, &p.proof).unwrap(), p.root_after);
                    prop_assert_eq!(p.root_after, plain.state_root());
                    if proving.status != gavel_bisection::state::Status::Running {
                        break;
                    }
                }
                (Err(_), Err(_)) => break,
                (a, b) => prop_assert!(false, "prover {:?} vs interpreter {:?}", a.map(|p| p.root_after), b),
            }
        }
    }
}

/// `run(k)` takes exactly `k` steps unless the macro-step ends, including through bulk
/// instructions (a regression: bulk chunks once returned early from the interpreter loop) and
/// agrees with single steps.
#[test]
fn run_takes_exactly_its_budget() {
    let bytes = wast::parser::parse::<wast::Wat>(&wast::parser::ParseBuffer::new(WAT).unwrap()).unwrap().encode().unwrap();
    let program = Arc::new(Program::lower(&bytes).unwrap());
    let main = program.exports["main"];
    let total = proofs().len() as u64;
    for budget in [1u64, 2, 3, 5, 7] {
        let mut m = Machine::new(program.clone(), vec![], 16);
        m.invoke(main, &[]).unwrap();
        let mut done = 0;
        let mut roots = Vec::new();
        while m.active {
            let (n, _) = m.run(budget).unwrap();
            done += n;
            if m.active {
                assert_eq!(n, budget);
                roots.push((done, m.state_root()));
            }
        }
        assert_eq!(done, total);
        for (at, root) in roots {
            assert_eq!(proofs()[at as usize].root_before, root, "budget {budget}, step {at}");
        }
    }
}

/// Level-2 padding: inside the game of macro-step `b`, the boundary after it is a fixed point
/// proven by its preimage alone; the same state is not a fixed point without the bound.
#[test]
fn states_outside_the_bounded_macro_step_are_fixed_points() {
    use gavel_bisection::code::{op, Instr};
    use gavel_bisection::proof::prove_step_bounded;
    use gavel_bisection::verify::verify_step_bounded;
    let code = vec![Instr { op: op::INVOKE, a: 1, b: 0, c: 0 }, Instr { op: op::I32_CONST, a: 0, b: 0, c: 1 }, Instr { op: op::RETURN, a: 0, b: 1, c: 0 }];
    let program = Arc::new(Program::from_instructions(code, vec![], 1).unwrap());
    let mut m = Machine::new(program, vec![], 4);
    let mut trees = BlobTrees::default();
    for _ in 0..3 {
        let p = prove_step_bounded(&mut m, &mut trees, Some(0)).unwrap();
        assert_eq!(verify_step_bounded(&p.root_before, &p.proof, Some(0)).unwrap().0, p.root_after);
    }
    // Macro-step 0 ended with "more to come": running, idle, macro_step 1.
    assert_eq!((m.status, m.active, m.macro_step), (gavel_bisection::state::Status::Running, false, 1));
    let root = m.state_root();
    let fixed = prove_step_bounded(&mut m, &mut trees, Some(0)).unwrap();
    assert_eq!((fixed.root_before, fixed.root_after), (root, root));
    assert_eq!(verify_step_bounded(&root, &fixed.proof, Some(0)).unwrap().0, root);
    // Unbounded, the same preimage is not a whole proof: the next step enters macro-step 1.
    assert!(verify_step(&root, &fixed.proof).is_err());
    let next = prove_step_bounded(&mut m, &mut trees, Some(1)).unwrap();
    assert_ne!(next.root_after, root);
}

/// Regression (found by `arbitrary_code_never_panics`): a `BLOB_READ_CHUNK` reached without its
/// `BLOB_READ` entry writes to whatever the stack says, here far outside memory. The interpreter
/// and the prover must both refuse the step; the prover used to index memory before checking.
#[test]
fn chunk_write_outside_memory_is_an_error_for_prover_and_interpreter() {
    use gavel_bisection::code::{op, Instr};
    let mut code = vec![Instr { op: op::INVOKE, a: 1, b: 0, c: 0 }];
    for k in 0..6u64 {
        code.push(Instr { op: if k % 2 == 0 { op::I32_CONST } else { op::I64_CONST }, a: 0, b: 0, c: k * 37 % 11 });
    }
    code.push(Instr { op: 0xFD29, a: 0, b: 0, c: 0 }); // i8x16.le_s
    code.push(Instr { op: op::BLOB_READ_CHUNK, a: 0, b: 0, c: 0 });
    let program = Arc::new(Program::from_instructions(code, vec![(0x7f, 5), (0x7e, 9)], 1).unwrap());
    let mut proving = Machine::new(program.clone(), vec![Arc::new(vec![7u8; 100])], 4);
    let mut plain = proving.clone();
    let mut trees = BlobTrees::default();
    let mut refused = false;
    for _ in 0..40 {
        match (prove_step(&mut proving, &mut trees), plain.step()) {
            (Ok(p), Ok(_)) => {
                assert_eq!(verify_step(&p.root_before, &p.proof).unwrap(), p.root_after)
            }
            (Err(_), Err(_)) => {
                refused = true;
                break;
            }
            (a, b) => panic!("prover {:?} vs interpreter {:?}", a.map(|p| p.root_after), b),
        }
    }
    assert!(refused, "the out-of-memory chunk write must be refused");
}

/// An explorer reads the executed instruction back from a proof's layout: the same pc and
/// opcode the prover stepped, for every opcode family; nothing for a proof too short to hold one.
#[test]
fn instruction_of_reads_the_layout() {
    let proofs = gavel_bisection::vectors::synthetic_steps_seeded(7);
    let active: Vec<_> = proofs.iter().filter(|p| p.proof.get(145) == Some(&1)).collect();
    assert!(active.len() > 1000, "{} active proofs", active.len());
    for p in active {
        assert_eq!(gavel_bisection::verify::instruction_of(&p.proof), Some((p.pc, p.instr.op)), "the proof at pc {}", p.pc);
        assert_eq!(gavel_bisection::verify::instruction_of(&p.proof[..200]), None, "a truncated proof");
    }
    assert_eq!(gavel_bisection::verify::instruction_of(&[]), None);
}
