//! Positions and round counts, and the claim tree (`bisection/src/tree.rs`) played on the real
//! step machine: a lying claimant and a lying challenger each lose against the honest strategy
//! with real one-step proofs. (The toy-machine sweeps against many adversaries are in
//! `tests/tree.rs`.)

use std::sync::Arc;

use gavel_bisection::code::Program;
use gavel_bisection::game::{rounds, TraceProvider, LEVEL_MACRO};
use gavel_bisection::machine::Machine;
use gavel_bisection::merkle::{keccak256, Hash32};
use gavel_bisection::proof::{prove_step_bounded, BlobTrees};
use gavel_bisection::tree::{Account, ClaimTree, ClaimTruth, Honest, Params, Status, Verifier};
use gavel_bisection::verify::verify_step_bounded;

#[test]
fn rounds_for_2_pow_40_instructions_at_k_32() {
    // 1024 macro-steps of at most 2^30 instructions: 2 + 6 dissection rounds.
    assert_eq!(rounds(1024, 6, 32), 8);
    assert_eq!(rounds(32, 7, 32), 8);
    assert_eq!(rounds(2000, 6, 32), 9);
}

/// A module whose `gavel_step` runs a few macro-steps of memory and arithmetic work.
const GUEST_WAT: &str = r#"
(module
  (memory 1)
  (global $n (mut i32) (i32.const 0))
  (func (export "gavel_step") (result i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.add (i32.const 3) (global.get $n))))
        (i32.store (i32.mul (local.get $i) (i32.const 4))
          (i32.add (i32.load (i32.mul (local.get $i) (i32.const 4))) (global.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.lt_u (global.get $n) (i32.const 6)))
)
"#;

/// The real step machine as a trace provider, honest or lying from a macro-step on.
struct MachineTrace {
    genesis: Machine,
    lie_from: Option<u64>,
}

impl MachineTrace {
    fn at_boundary(&self, b: u64) -> Machine {
        let mut m = self.genesis.clone();
        for _ in 0..b {
            if m.status == gavel_bisection::state::Status::Running {
                m.run_macro_step().unwrap();
            }
        }
        m
    }
}

impl TraceProvider for MachineTrace {
    type Error = gavel_bisection::MachineError;
    fn root(&mut self, level: u8, m: u64, pos: u64) -> Result<Hash32, Self::Error> {
        let boundary = if level == LEVEL_MACRO { pos } else { m };
        if self.lie_from.is_some_and(|l| boundary >= l || (level != LEVEL_MACRO && m + 1 >= l && pos > 0)) {
            return Ok(keccak256(format!("lie {level} {m} {pos}").as_bytes()));
        }
        let mut s = self.at_boundary(boundary);
        if level != LEVEL_MACRO {
            let mut trees = BlobTrees::default();
            for _ in 0..pos {
                if s.macro_step != m || s.status != gavel_bisection::state::Status::Running {
                    break;
                }
                prove_step_bounded(&mut s, &mut trees, Some(m))?;
            }
        }
        Ok(s.state_root())
    }
    fn step_proof(&mut self, m: u64, pos: u64) -> Result<Vec<u8>, Self::Error> {
        let mut s = self.at_boundary(m);
        let mut trees = BlobTrees::default();
        for _ in 0..pos {
            prove_step_bounded(&mut s, &mut trees, Some(m))?;
        }
        Ok(prove_step_bounded(&mut s, &mut trees, Some(m))?.proof)
    }
}

impl ClaimTruth for MachineTrace {
    /// This module writes no output blob; the test's stand-in binding (see [`RealMachine`])
    /// makes a state's output `keccak256("out" ‖ root)`.
    fn output(&mut self, n: u64) -> Result<Option<(Hash32, Vec<u8>)>, Self::Error> {
        let root = self.root(LEVEL_MACRO, 0, n)?;
        Ok(Some((stand_in_output(&root), Vec::new())))
    }
}

fn stand_in_output(final_root: &Hash32) -> Hash32 {
    keccak256(&[b"out".as_slice(), final_root.as_slice()].concat())
}

/// The real one-step verifier (`verify_step_bounded`, what the Solidity verifier replays) with
/// a stand-in output binding: the game's execution path is what this test is about.
struct RealMachine;

impl Verifier for RealMachine {
    fn execute_step(&self, macro_step: u64, root: Hash32, proof: &[u8]) -> Option<Hash32> {
        verify_step_bounded(&root, proof, Some(macro_step)).ok().map(|r| r.0)
    }
    fn verify_output(&self, final_root: Hash32, output_root: Hash32, _proof: &[u8]) -> bool {
        output_root == stand_in_output(&final_root)
    }
}

const HONEST: Account = 1;
const LIAR: Account = 2;
const T0: u64 = 1_000;

/// Plays one claim to its resolution: both parties follow the honest strategy with their own
/// trace (the liar's is false from some boundary on), each as soon as it can, and time jumps to
/// the next deadline when nobody moves. Every honest move must succeed; the liar's may revert.
/// Returns the claim's status and the number of nodes.
fn play_claim(claimant: Account, genesis: &Machine, lie_from: u64, n: u64, depth: u8) -> (Status, usize) {
    let params = Params { k: 4, max_level2_depth: 8, clock_time: 2 * 86_400, clock_extension: 3_600, counter_bond: 10, escrow: 99, resolver_fee: 1 };
    let mut tree = ClaimTree::new(params).unwrap();
    let mut good = MachineTrace { genesis: genesis.clone(), lie_from: None };
    let mut bad = MachineTrace { genesis: genesis.clone(), lie_from: Some(lie_from) };
    let initial = good.root(LEVEL_MACRO, 0, 0).unwrap();
    let claimed = if claimant == HONEST { &mut good } else { &mut bad };
    let final_root = claimed.root(LEVEL_MACRO, 0, n).unwrap();
    let output = claimed.output(n).unwrap().unwrap().0;
    let claim = tree.open_claim(claimant, 3_600, n, depth, initial, final_root, output, 100, T0).unwrap();
    let (mut honest, mut liar) = (Honest::new(HONEST), Honest::new(LIAR));
    let mut now = T0;
    while tree.status_of(claim) == Status::Unresolved {
        let mut moved = false;
        for m in honest.moves(&tree, claim, &mut good, now).unwrap() {
            let r = tree.play(HONEST, &m.action, &RealMachine, now);
            assert!(r.is_ok(), "honest move {:?} reverted: {r:?}", m.action);
            moved = true;
        }
        for m in liar.moves(&tree, claim, &mut bad, now).unwrap() {
            moved |= tree.play(LIAR, &m.action, &RealMachine, now).is_ok();
        }
        if !moved {
            let next = tree.nodes_of(claim).iter().filter_map(|&id| tree.node(id)).map(|x| x.deadline + 1).filter(|&t| t > now).min();
            now = next.expect("an unresolved claim has a deadline ahead");
        }
    }
    (tree.status_of(claim), tree.nodes_of(claim).len())
}

#[test]
fn honest_side_wins_on_the_real_step_machine() {
    let bytes = wast::parser::parse::<wast::Wat>(&wast::parser::ParseBuffer::new(GUEST_WAT).unwrap()).unwrap().encode().unwrap();
    let program = Arc::new(Program::lower(&bytes).unwrap());
    let genesis = Machine::new(program, vec![], 16);
    let honest = MachineTrace { genesis: genesis.clone(), lie_from: None };
    let n = {
        let mut m = genesis.clone();
        let mut n = 0;
        while m.status == gavel_bisection::state::Status::Running {
            m.run_macro_step().unwrap();
            n += 1;
        }
        n
    };
    assert_eq!(n, 6);
    let longest = (0..n)
        .map(|b| {
            let mut m = honest.at_boundary(b);
            m.run_macro_step().unwrap().0
        })
        .max()
        .unwrap();
    let depth = (0..=20u8).find(|d| 4u64.pow(*d as u32) >= longest).unwrap();
    for lie_from in 1..=n {
        // A lying claimant (false from boundary `lie_from`) against an honest challenger.
        let (status, nodes) = play_claim(LIAR, &genesis, lie_from, n, depth);
        assert_eq!(status, Status::Countered, "lying claim from boundary {lie_from} stood ({nodes} nodes)");
        assert!(nodes > 2, "the lie was refuted without a dissection");
        // An honest claimant against a challenger lying from the same boundary.
        let (status, nodes) = play_claim(HONEST, &genesis, lie_from, n, depth);
        assert_eq!(status, Status::Stood, "true claim countered by a liar from boundary {lie_from} ({nodes} nodes)");
    }
}
