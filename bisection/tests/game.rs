//! Simulated disputes under the contract's rules (the Rust referee): the honest side wins against
//! every scripted dishonest strategy, on the toy machine and on the real step machine.

use std::sync::Arc;

use gavel_bisection::code::Program;
use gavel_bisection::game::toy::{Toy, ToyState};
use gavel_bisection::game::{honest_move, rounds, Dissection, Move, Referee, Side, TraceProvider, LEVEL_MACRO};
use gavel_bisection::machine::Machine;
use gavel_bisection::merkle::{keccak256, Hash32};
use gavel_bisection::proof::{prove_step_bounded, BlobTrees};
use gavel_bisection::verify::verify_step_bounded;

/// How a party builds its trace.
#[derive(Clone, Copy, Debug)]
enum Lie {
    /// The true trace.
    None,
    /// The state is corrupted at level-1 boundary `b` (the end of macro-step b-1) and the liar
    /// computes on from the corrupted state.
    CorruptFrom(u64),
    /// Only the final root is false (a wrong output).
    WrongFinal,
    /// Every root is false.
    Everywhere,
}

/// A toy-machine trace, honest or lying.
struct ToyTrace {
    toy: Toy,
    initial: ToyState,
    lie: Lie,
    n: u64,
}

impl ToyTrace {
    fn corrupt(s: &mut ToyState) {
        s.acc[0] ^= 0x5a;
    }

    /// The state at level-1 boundary `b` as this party believes it.
    fn boundary(&self, b: u64) -> ToyState {
        let mut s = self.initial;
        for m in 0..b.min(self.n) {
            if let Lie::CorruptFrom(c) = self.lie {
                if m + 1 == c {
                    // Run macro-step m honestly, then corrupt its result.
                    while s.macro_step == m {
                        s = self.toy.step(m, s);
                    }
                    Self::corrupt(&mut s);
                    continue;
                }
            }
            while s.macro_step == m && s.macro_step < s.halt_at {
                s = self.toy.step(m, s);
            }
        }
        s
    }

    /// The state after `pos` steps of macro-step `m` (padded), as this party believes it.
    fn inside(&self, m: u64, pos: u64) -> ToyState {
        let mut s = self.boundary(m);
        for _ in 0..pos {
            let before = s;
            s = self.toy.step(m, s);
            if s == before {
                break;
            }
            if let Lie::CorruptFrom(c) = self.lie {
                if m + 1 == c && s.macro_step == m + 1 {
                    Self::corrupt(&mut s);
                }
            }
        }
        s
    }

    fn fake(tag: &[u8], a: u64, b: u64) -> Hash32 {
        let mut pre = tag.to_vec();
        pre.extend_from_slice(&a.to_be_bytes());
        pre.extend_from_slice(&b.to_be_bytes());
        keccak256(&pre)
    }
}

impl TraceProvider for ToyTrace {
    type Error = std::convert::Infallible;
    fn root(&mut self, level: u8, m: u64, pos: u64) -> Result<Hash32, Self::Error> {
        let last = if level == LEVEL_MACRO { pos == self.n } else { m + 1 == self.n && self.inside(m, pos).macro_step == self.n };
        Ok(match (self.lie, level == LEVEL_MACRO) {
            (Lie::Everywhere, _) => Self::fake(b"everywhere", m * 1_000_003 + level as u64, pos),
            (Lie::WrongFinal, _) if last => Self::fake(b"final", 0, 0),
            (_, true) => self.boundary(pos).root(),
            (_, false) => self.inside(m, pos).root(),
        })
    }
    fn step_proof(&mut self, m: u64, pos: u64) -> Result<Vec<u8>, Self::Error> {
        Ok(match self.lie {
            Lie::Everywhere => vec![0xee; 160],
            _ => self.inside(m, pos).proof(),
        })
    }
}

/// A party: its trace, and whether it stalls after `stall_after` moves.
struct Player<P> {
    trace: P,
    stall_after: Option<u64>,
    moves: u64,
}

impl<P: TraceProvider> Player<P> {
    fn reply(&mut self, d: &Dissection, k: u64, depth: u8) -> Option<Move> {
        if self.stall_after.is_some_and(|s| self.moves >= s) {
            return None;
        }
        self.moves += 1;
        honest_move(&mut self.trace, d, k, depth).ok().flatten()
    }
}

/// Plays a dispute to the end: a party that cannot or does not move in turn loses on time, as
/// on chain (an invalid move reverts and its clock runs out).
fn play<A: TraceProvider, B: TraceProvider>(
    referee: &mut Referee,
    claimant: &mut Player<A>,
    challenger: &mut Player<B>,
    step: &mut gavel_bisection::game::StepFn<'_>,
) -> (Side, u64) {
    loop {
        let mover = referee.turn;
        let (k, depth) = (referee.k, referee.depth);
        let mv = match mover {
            Side::Claimant => claimant.reply(&referee.current, k, depth),
            Side::Challenger => challenger.reply(&referee.current, k, depth),
        };
        let Some(mv) = mv else { return (mover.other(), referee.moves) };
        match referee.apply(&mv, step) {
            Ok(Some(winner)) => return (winner, referee.moves),
            Ok(None) => {}
            Err(_) => return (mover.other(), referee.moves),
        }
        assert!(referee.moves < 200, "the game does not converge");
    }
}

fn toy_game(k: u64, n: u64, max_instructions: u64, claimant: (Lie, Option<u64>), challenger: (Lie, Option<u64>), seed: u64) -> (Side, u64, u64) {
    let toy = Toy { max_instructions };
    let mut input = keccak256(&seed.to_be_bytes());
    input[..8].copy_from_slice(&n.to_be_bytes());
    let initial = toy.initial(&[1; 32], &[2; 32], &input);
    let longest = (0..n).map(|m| toy.count(&initial.seed, m)).max().unwrap_or(1);
    let depth = (0..=40u8).find(|d| k.pow(*d as u32) >= longest).unwrap_or(40);
    let mk = |lie| ToyTrace { toy, initial, lie, n };
    let mut a = Player { trace: mk(claimant.0), stall_after: claimant.1, moves: 0 };
    let mut b = Player { trace: mk(challenger.0), stall_after: challenger.1, moves: 0 };
    let final_root = a.trace.root(LEVEL_MACRO, 0, n).unwrap();
    let mut referee = Referee::new(k, depth, n, initial.root(), final_root);
    let (winner, moves) = play(&mut referee, &mut a, &mut b, &mut |m, root, proof| toy.execute_step(m, root, proof));
    (winner, moves, rounds(n, depth, k))
}

const LIES: [Lie; 5] = [Lie::CorruptFrom(1), Lie::CorruptFrom(3), Lie::CorruptFrom(7), Lie::WrongFinal, Lie::Everywhere];

#[test]
fn honest_challenger_beats_every_lying_claimant() {
    for k in [2u64, 4, 8, 32] {
        for n in [1u64, 2, 7, 21] {
            for (i, lie) in LIES.iter().enumerate() {
                if let Lie::CorruptFrom(c) = lie {
                    if *c > n {
                        continue;
                    }
                }
                for stall in [None, Some(1), Some(3)] {
                    let (winner, moves, bound) = toy_game(k, n, 9, (*lie, stall), (Lie::None, None), 100 + i as u64);
                    assert_eq!(winner, Side::Challenger, "k {k} n {n} claimant {lie:?} stalling after {stall:?}");
                    assert!(moves <= bound + 2, "{moves} moves, bound {bound}");
                }
            }
        }
    }
}

#[test]
fn honest_claimant_beats_every_lying_challenger() {
    for k in [2u64, 4, 32] {
        for n in [1u64, 5, 21] {
            for lie in LIES {
                for stall in [None, Some(2)] {
                    let (winner, _, _) = toy_game(k, n, 9, (Lie::None, None), (lie, stall), 7);
                    assert_eq!(winner, Side::Claimant, "k {k} n {n} challenger {lie:?} stalling after {stall:?}");
                }
            }
        }
    }
}

#[test]
fn honest_side_wins_against_a_silent_opponent() {
    // The opponent never moves: it loses on time whatever the truth.
    let (w, _, _) = toy_game(4, 9, 9, (Lie::None, None), (Lie::Everywhere, Some(0)), 3);
    assert_eq!(w, Side::Claimant);
    let (w, _, _) = toy_game(4, 9, 9, (Lie::WrongFinal, Some(0)), (Lie::None, None), 3);
    assert_eq!(w, Side::Challenger);
}

#[test]
fn two_colluding_liars_each_lose_their_dispute() {
    // A lying claimant and its puppet challenger: the honest challenger's own dispute is
    // independent and refutes the claim.
    let (w, _, _) = toy_game(4, 12, 9, (Lie::CorruptFrom(5), None), (Lie::None, None), 11);
    assert_eq!(w, Side::Challenger);
    // Two lying challengers against one honest claimant: each loses its own dispute.
    for lie in [Lie::CorruptFrom(2), Lie::Everywhere] {
        let (w, _, _) = toy_game(4, 12, 9, (Lie::None, None), (lie, None), 11);
        assert_eq!(w, Side::Claimant);
    }
}

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
    let k = 4u64;
    let depth = (0..=20u8).find(|d| k.pow(*d as u32) >= longest).unwrap();
    let mut step = |m: u64, root: Hash32, proof: &[u8]| verify_step_bounded(&root, proof, Some(m)).ok().map(|r| r.0);
    for lie_from in 1..=n {
        // A lying claimant (false from boundary `lie_from`) against an honest challenger.
        let mut liar = Player { trace: MachineTrace { genesis: genesis.clone(), lie_from: Some(lie_from) }, stall_after: None, moves: 0 };
        let mut good = Player { trace: MachineTrace { genesis: genesis.clone(), lie_from: None }, stall_after: None, moves: 0 };
        let initial = good.trace.root(LEVEL_MACRO, 0, 0).unwrap();
        let claimed = liar.trace.root(LEVEL_MACRO, 0, n).unwrap();
        let mut referee = Referee::new(k, depth, n, initial, claimed);
        let (winner, moves) = play(&mut referee, &mut liar, &mut good, &mut step);
        assert_eq!(winner, Side::Challenger, "lying claimant from boundary {lie_from} won after {moves} moves");
        // An honest claimant against a challenger lying from the same boundary.
        let mut liar = Player { trace: MachineTrace { genesis: genesis.clone(), lie_from: Some(lie_from) }, stall_after: None, moves: 0 };
        let mut good = Player { trace: MachineTrace { genesis: genesis.clone(), lie_from: None }, stall_after: None, moves: 0 };
        let true_final = good.trace.root(LEVEL_MACRO, 0, n).unwrap();
        let mut referee = Referee::new(k, depth, n, initial, true_final);
        let (winner, _) = play(&mut referee, &mut good, &mut liar, &mut step);
        assert_eq!(winner, Side::Claimant, "lying challenger from boundary {lie_from} won");
    }
}
