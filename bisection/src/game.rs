//! Dissection logic shared by every claim-tree node (`spec/game.md`), reproduced bit for bit
//! from the contracts: positions, dissection commitments, the level-1 → level-2 descent, round
//! counts; the honest answer to one dissection (the tree's H1, `tree.rs`, calls it with the
//! party's trace); and the toy machine of `contracts/src/toy/ToyStepVerifier.sol`. The tree's
//! rules are in `tree.rs`.

use crate::merkle::{keccak256, Hash32};

/// Level 1: positions are macro-step boundaries `0..=N`.
pub const LEVEL_MACRO: u8 = 1;
/// Level 2: positions are instructions `0..=k^depth` inside one macro-step.
pub const LEVEL_INSTRUCTION: u8 = 2;
/// Domain prefix of a dissection commitment.
pub const DISSECTION_PREFIX: &[u8] = b"gavel.dissection.v1";

/// Parts a segment of `len` positions is split into: `min(k, len)`.
pub fn part_count(len: u64, k: u64) -> u64 {
    len.min(k)
}

/// Split point `i` of `[start, end]` cut into `parts` parts: `start + floor(i·(end−start)/parts)`.
pub fn point(start: u64, end: u64, parts: u64, i: u64) -> u64 {
    start + ((end - start) as u128 * i as u128 / parts as u128) as u64
}

/// `keccak256("gavel.dissection.v1" ‖ level u8 ‖ macroStep u64 ‖ start u64 ‖ end u64 ‖ roots…)`,
/// `roots[0]` being the start root the dissection builds on.
pub fn commitment(level: u8, macro_step: u64, start: u64, end: u64, roots: &[Hash32]) -> Hash32 {
    let mut pre = Vec::with_capacity(DISSECTION_PREFIX.len() + 25 + 32 * roots.len());
    pre.extend_from_slice(DISSECTION_PREFIX);
    pre.push(level);
    pre.extend_from_slice(&macro_step.to_be_bytes());
    pre.extend_from_slice(&start.to_be_bytes());
    pre.extend_from_slice(&end.to_be_bytes());
    for r in roots {
        pre.extend_from_slice(r);
    }
    keccak256(&pre)
}

/// Dissection moves from a claim of `n` macro-steps at level-2 depth `depth` to one step:
/// `ceil(log_k n) + depth`.
pub fn rounds(n: u64, depth: u8, k: u64) -> u64 {
    let (mut span, mut r) = (1u128, 0u64);
    while span < n as u128 {
        span *= k as u128;
        r += 1;
    }
    r + depth as u64
}

/// A part of a dissection: level, macro-step (level 2), `[start, end]`, roots at both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// [`LEVEL_MACRO`] or [`LEVEL_INSTRUCTION`].
    pub level: u8,
    /// The macro-step a level-2 segment lies in (0 at level 1).
    pub macro_step: u64,
    /// First position.
    pub start: u64,
    /// Last position.
    pub end: u64,
    /// Root at `start` (agreed by the picker).
    pub start_root: Hash32,
    /// Root at `end` (disputed by the picker).
    pub end_root: Hash32,
}

impl Segment {
    /// A single macro-step at level 1 becomes the level-2 trace `[0, k^depth]` of that
    /// macro-step, with the same end roots.
    pub fn descend(mut self, k: u64, depth: u8) -> Segment {
        if self.level == LEVEL_MACRO && self.end - self.start == 1 {
            self.level = LEVEL_INSTRUCTION;
            self.macro_step = self.start;
            self.start = 0;
            self.end = k.pow(depth as u32);
        }
        self
    }

    /// Whether the segment is one instruction: settled by a step, not dissected.
    pub fn is_step(&self) -> bool {
        self.level == LEVEL_INSTRUCTION && self.end - self.start == 1
    }
}

/// A posted dissection: its segment coordinates and all its roots, `roots[0]` being the start
/// root it builds on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dissection {
    /// Level.
    pub level: u8,
    /// Macro-step (level 2).
    pub macro_step: u64,
    /// First position.
    pub start: u64,
    /// Last position.
    pub end: u64,
    /// Roots at `p_0..p_n`.
    pub roots: Vec<Hash32>,
}

impl Dissection {
    /// The claim as the one-part dissection `[0, N]`.
    pub fn claim(n: u64, initial: Hash32, final_root: Hash32) -> Dissection {
        Dissection { level: LEVEL_MACRO, macro_step: 0, start: 0, end: n, roots: vec![initial, final_root] }
    }

    /// Its part count.
    pub fn parts(&self) -> u64 {
        self.roots.len() as u64 - 1
    }

    /// The commitment the contract stores.
    pub fn commitment(&self) -> Hash32 {
        commitment(self.level, self.macro_step, self.start, self.end, &self.roots)
    }

    /// Part `choice`, descended to level 2 if it is one macro-step.
    pub fn part(&self, choice: u64, k: u64, depth: u8) -> Option<Segment> {
        let parts = self.parts();
        if choice >= parts {
            return None;
        }
        Some(
            Segment {
                level: self.level,
                macro_step: self.macro_step,
                start: point(self.start, self.end, parts, choice),
                end: point(self.start, self.end, parts, choice + 1),
                start_root: self.roots[choice as usize],
                end_root: self.roots[choice as usize + 1],
            }
            .descend(k, depth),
        )
    }
}

/// Where a party's roots and step proofs come from.
pub trait TraceProvider {
    /// Errors of the provider (a real run's I/O, a missing snapshot).
    type Error: std::fmt::Debug;
    /// The root at `position` of `level` (level 2: inside `macro_step`, padded past its end).
    fn root(&mut self, level: u8, macro_step: u64, position: u64) -> Result<Hash32, Self::Error>;
    /// A one-step proof of instruction `position` of `macro_step` (from the root at `position`).
    fn step_proof(&mut self, macro_step: u64, position: u64) -> Result<Vec<u8>, Self::Error>;
}

/// A move in reply to the opponent's latest dissection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// Pick part `choice` and post these roots at `p_1..p_n` of it.
    Dissect {
        /// The part.
        choice: u64,
        /// The mover's roots at the part's split points after the first.
        roots: Vec<Hash32>,
    },
    /// Pick the one-instruction part `choice` and execute it on chain with this proof.
    Step {
        /// The part.
        choice: u64,
        /// Proof of the part's start root.
        proof: Vec<u8>,
    },
}

/// The honest reply to `d` (the opponent's dissection): pick the first part whose end root is
/// not ours (its start root is ours: every earlier part ended at one of our roots), then
/// execute it if it is one instruction, else dissect it with our roots. `None` if we agree with
/// every root (the opponent's dissection is true: nothing to dispute).
pub fn honest_move<P: TraceProvider>(p: &mut P, d: &Dissection, k: u64, depth: u8) -> Result<Option<Move>, P::Error> {
    for choice in 0..d.parts() {
        let Some(seg) = d.part(choice, k, depth) else { break };
        let ours_end = root_at(p, &seg, seg.end, d.level)?;
        if ours_end == seg.end_root {
            continue;
        }
        if seg.is_step() {
            return Ok(Some(Move::Step { choice, proof: p.step_proof(seg.macro_step, seg.start)? }));
        }
        let n = part_count(seg.end - seg.start, k);
        let mut roots = Vec::with_capacity(n as usize);
        for i in 1..=n {
            roots.push(p.root(seg.level, seg.macro_step, point(seg.start, seg.end, n, i))?);
        }
        return Ok(Some(Move::Dissect { choice, roots }));
    }
    Ok(None)
}

/// Our root at `position` of the segment. A part that descended from level 1 ends at the next
/// boundary, which the padded level-2 trace reaches at `k^depth`: compare the level-1 root.
fn root_at<P: TraceProvider>(p: &mut P, seg: &Segment, position: u64, from_level: u8) -> Result<Hash32, P::Error> {
    if from_level == LEVEL_MACRO && seg.level == LEVEL_INSTRUCTION && position == seg.end {
        return p.root(LEVEL_MACRO, 0, seg.macro_step + 1);
    }
    p.root(seg.level, seg.macro_step, position)
}

/// The toy machine of `ToyStepVerifier.sol` (`spec/game.md`, "Toy machine").
pub mod toy {
    use super::*;

    /// A toy state.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ToyState {
        /// Program seed.
        pub seed: Hash32,
        /// Macro-step.
        pub macro_step: u64,
        /// Instruction inside the macro-step.
        pub pc: u64,
        /// The macro-step at which the machine halts.
        pub halt_at: u64,
        /// Accumulator (the output once halted).
        pub acc: Hash32,
    }

    fn word(v: u64) -> [u8; 32] {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&v.to_be_bytes());
        w
    }

    impl ToyState {
        /// `keccak256("gavel.toy.v1" ‖ seed ‖ macroStep u64 ‖ pc u64 ‖ haltAt u64 ‖ acc)`.
        pub fn root(&self) -> Hash32 {
            let mut pre = Vec::with_capacity(12 + 32 + 24 + 32);
            pre.extend_from_slice(b"gavel.toy.v1");
            pre.extend_from_slice(&self.seed);
            pre.extend_from_slice(&self.macro_step.to_be_bytes());
            pre.extend_from_slice(&self.pc.to_be_bytes());
            pre.extend_from_slice(&self.halt_at.to_be_bytes());
            pre.extend_from_slice(&self.acc);
            keccak256(&pre)
        }

        /// The step proof: `abi.encode(seed, macroStep, pc, haltAt, acc)`.
        pub fn proof(&self) -> Vec<u8> {
            let mut out = Vec::with_capacity(160);
            out.extend_from_slice(&self.seed);
            out.extend_from_slice(&word(self.macro_step));
            out.extend_from_slice(&word(self.pc));
            out.extend_from_slice(&word(self.halt_at));
            out.extend_from_slice(&self.acc);
            out
        }

        /// Decodes a proof (the inverse of [`ToyState::proof`]).
        pub fn from_proof(p: &[u8]) -> Option<ToyState> {
            if p.len() != 160 {
                return None;
            }
            let h = |i: usize| -> Hash32 {
                let mut a = [0u8; 32];
                a.copy_from_slice(&p[32 * i..32 * i + 32]);
                a
            };
            let int = |i: usize| -> Option<u64> {
                let w = h(i);
                w[..24].iter().all(|b| *b == 0).then(|| u64::from_be_bytes(w[24..].try_into().unwrap_or([0; 8])))
            };
            Some(ToyState { seed: h(0), macro_step: int(1)?, pc: int(2)?, halt_at: int(3)?, acc: h(4) })
        }
    }

    /// The toy machine's parameters.
    #[derive(Clone, Copy, Debug)]
    pub struct Toy {
        /// Largest instruction count of a macro-step.
        pub max_instructions: u64,
    }

    impl Toy {
        /// Instructions of macro-step `m`: `1 + uint256(keccak256(seed ‖ m u64)) mod max`.
        pub fn count(&self, seed: &Hash32, m: u64) -> u64 {
            let mut pre = [0u8; 40];
            pre[..32].copy_from_slice(seed);
            pre[32..].copy_from_slice(&m.to_be_bytes());
            let h = keccak256(&pre);
            // uint256 mod max: fold the big-endian bytes.
            let mut r: u128 = 0;
            for b in h {
                r = (r * 256 + b as u128) % self.max_instructions as u128;
            }
            1 + r as u64
        }

        /// The initial state of `(code, model, input)`.
        pub fn initial(&self, code: &Hash32, model: &Hash32, input: &Hash32) -> ToyState {
            let mut pre = [0u8; 64];
            pre[..32].copy_from_slice(code);
            pre[32..].copy_from_slice(model);
            let halt_at = u64::from_be_bytes(input[..8].try_into().unwrap_or([0; 8]));
            ToyState { seed: keccak256(&pre), macro_step: 0, pc: 0, halt_at, acc: *input }
        }

        /// One instruction of macro-step `m` (a fixed point outside it or once halted).
        pub fn step(&self, m: u64, mut s: ToyState) -> ToyState {
            if s.macro_step != m || s.macro_step >= s.halt_at {
                return s;
            }
            let mut pre = [0u8; 48];
            pre[..32].copy_from_slice(&s.acc);
            pre[32..40].copy_from_slice(&s.macro_step.to_be_bytes());
            pre[40..].copy_from_slice(&s.pc.to_be_bytes());
            s.acc = keccak256(&pre);
            s.pc += 1;
            if s.pc == self.count(&s.seed, s.macro_step) {
                s.macro_step += 1;
                s.pc = 0;
            }
            s
        }

        /// `executeStep(m, root, proof)`: `None` if the proof does not open `root`.
        pub fn execute_step(&self, m: u64, root: Hash32, proof: &[u8]) -> Option<Hash32> {
            let s = ToyState::from_proof(proof)?;
            (s.root() == root).then(|| self.step(m, s).root())
        }
    }
}
