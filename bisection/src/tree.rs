//! The v2 dispute game (`spec/game-v2.md`) off chain: a rule-for-rule model of
//! `contracts/src/v2/ClaimTree.sol` (plus the two checks of `Court.sol` that open claims and
//! output challenges), and the honest strategy (H1-H4) as a solver over that model.
//!
//! Positions, parts, the level-1 → level-2 descent and dissection commitments are v1's and come
//! from [`crate::game`]; this module only adds the tree: node keys, counters, steps, output
//! challenges, per-path clocks, bottom-up resolution and bonds. Names follow the Solidity
//! (`counter`, `step`, `prove_output`, `resolve_node`, `max_resolution_time`, …) and every
//! revert is a [`TreeError`] variant named after the custom error.
//!
//! Time is explicit: every call takes `now` (the block timestamp). Values are in wei ([`Wei`]);
//! accounts are opaque numbers ([`Account`]).

use std::collections::{HashMap, HashSet};

use crate::game::toy::{Toy, ToyState};
use crate::game::{commitment, honest_move, rounds, Dissection, Move, TraceProvider, LEVEL_MACRO};
use crate::merkle::{keccak256, Hash32};

/// Share of a countered node's bond that goes to its counter, in basis points (`REWARD_BPS`).
pub const REWARD_BPS: u128 = 5_000;
/// The `part` of an output challenge: it ranks after the claim's only part, 0 (`OUTPUT_PART`).
pub const OUTPUT_PART: u8 = 254;
/// Domain prefix of an output challenge's commitment.
pub const OUTPUT_PREFIX: &[u8] = b"gavel.output.v1";

/// A player (an address on chain).
pub type Account = u64;
/// An amount of the native token.
pub type Wei = u128;

/// Game-wide parameters, fixed at deployment (`ClaimTree.Params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Dissection arity (2..=64).
    pub k: u8,
    /// Largest level-2 depth a claim may use (`k^depth <= 2^62`).
    pub max_level2_depth: u8,
    /// MAX: time budget of each team on each path, seconds.
    pub clock_time: u64,
    /// EXT: time a team always keeps to answer a counter (`0 < EXT <= MAX`), seconds.
    pub clock_extension: u64,
    /// Bond of every counter and output challenge (depth >= 1).
    pub counter_bond: Wei,
    /// Receives the non-reward share of every countered node's bond.
    pub escrow: Account,
    /// Paid to whoever decides a node (`resolveNode`), from its bond: below the escrow's share
    /// of a counter bond (`spec/game-v2.md`, "Resolution and bonds"; finding M1).
    pub resolver_fee: Wei,
}

/// The machine as the tree calls it (`IStepVerifier.executeStep`, `IStateBinding.verifyOutput`).
pub trait Verifier {
    /// The root after one instruction of `macro_step` from `root`; `None` when the proof does
    /// not open `root` (the call reverts).
    fn execute_step(&self, macro_step: u64, root: Hash32, proof: &[u8]) -> Option<Hash32>;
    /// Whether `proof` shows that the state `final_root` has halted with output `output_root`.
    fn verify_output(&self, final_root: Hash32, output_root: Hash32, proof: &[u8]) -> bool;
}

impl Verifier for Toy {
    fn execute_step(&self, macro_step: u64, root: Hash32, proof: &[u8]) -> Option<Hash32> {
        Toy::execute_step(self, macro_step, root, proof)
    }

    /// `ToyStepVerifier.verifyOutput`: the proof opens the final root, the machine has halted
    /// and its accumulator is the output (a proof that does not open the root reverts on chain;
    /// here it is simply not a proof).
    fn verify_output(&self, final_root: Hash32, output_root: Hash32, proof: &[u8]) -> bool {
        ToyState::from_proof(proof).is_some_and(|s| s.root() == final_root && s.macro_step >= s.halt_at && s.acc == output_root)
    }
}

/// Why a call reverted: `ClaimTree`'s custom errors (and the Court's, marked).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// `BadParams`: constructor parameters out of range.
    #[error("parameters out of range")]
    BadParams,
    /// Court `BadModel` / `BadClaimShape`: a claim's window or shape is out of range.
    #[error("bad claim: {0}")]
    BadClaim(&'static str),
    /// Court `ClaimDataMismatch`: the restated claim data is not the claim's.
    #[error("claim {0}: data mismatch")]
    ClaimDataMismatch(u64),
    /// `UnknownNode`.
    #[error("unknown node {0}")]
    UnknownNode(u64),
    /// `RootsMismatch`: the restated position and roots do not match the node's key.
    #[error("node {0}: restated roots do not match")]
    RootsMismatch(u64),
    /// `ClockExpired`: the node's deadline has passed.
    #[error("node {node}: deadline {deadline} passed")]
    ClockExpired {
        /// The node.
        node: u64,
        /// Its deadline.
        deadline: u64,
    },
    /// `WrongBond`.
    #[error("bond: expected {expected}, sent {sent}")]
    WrongBond {
        /// Required.
        expected: Wei,
        /// Sent.
        sent: Wei,
    },
    /// `InvalidPart`.
    #[error("part {part} of {parts}")]
    InvalidPart {
        /// The part chosen.
        part: u64,
        /// The node's part count.
        parts: u64,
    },
    /// `WrongRootCount`.
    #[error("expected {expected} roots, found {found}")]
    WrongRootCount {
        /// Expected.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// `NotDisagreeing`: the counter's last root equals the parent's root at the part's end.
    #[error("the last root agrees with the parent's")]
    NotDisagreeing(Hash32),
    /// `AlreadyPosted`: an identical node (same parent, part and commitment) exists.
    #[error("identical node {0} exists")]
    AlreadyPosted(u64),
    /// `StepRequired`: the part is one instruction.
    #[error("the part is one instruction: step it")]
    StepRequired,
    /// `NotAtStep`: the part is longer than one instruction.
    #[error("the part is not one instruction")]
    NotAtStep,
    /// `TransitionHolds`: the step reproduces the node's transition.
    #[error("the transition holds")]
    TransitionHolds(Hash32),
    /// `AlreadyStepped`: the node is countered by a step or proof at this part or a lower one.
    #[error("already stepped at or below part {0}")]
    AlreadyStepped(u8),
    /// The verifier reverted (the step proof does not open the part's start root).
    #[error("the verifier rejected the step proof")]
    StepProofRejected,
    /// `WrongNodeKind`: an output challenge where a dissection is needed, or the reverse.
    #[error("node {0} is of the wrong kind")]
    WrongNodeKind(u64),
    /// `OutputNotProven`.
    #[error("the output is not proven")]
    OutputNotProven,
    /// `AlreadyResolved`.
    #[error("node {0} is already resolved")]
    AlreadyResolved(u64),
    /// `NotYetResolvable`: the node's deadline has not passed.
    #[error("node {node}: resolvable after {deadline}")]
    NotYetResolvable {
        /// The node.
        node: u64,
        /// Its deadline.
        deadline: u64,
    },
    /// `ChildUnresolved`: a counter that could decide the node is unresolved.
    #[error("counter {0} is unresolved")]
    ChildUnresolved(u64),
}

/// A node's resolution outcome (`ClaimTree.Status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// Not resolved yet.
    #[default]
    Unresolved,
    /// Countered: its bond went to the counter at its lowest part and to the escrow.
    Countered,
    /// Stood: its bond went back to its poster.
    Stood,
}

/// What a node says (its event data: the contract keeps only its key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A claim or a counter: a dissection whose `roots[0]` is the start root.
    Dissection(Dissection),
    /// An output challenge: "the final state `final_root` does not carry `output_root`".
    Output {
        /// The claim's final root.
        final_root: Hash32,
        /// The claim's output root.
        output_root: Hash32,
    },
}

/// A node: `ClaimTree.Node` and `Stake`, its key, and what its event carried.
#[derive(Clone, Debug)]
pub struct Node {
    /// The node it counters (0 for a claim).
    pub parent: u64,
    /// Its claim's root node.
    pub root: u64,
    /// The previous counter of the same parent (0 for the first).
    pub prev_sibling: u64,
    /// Last second at which it can be countered, stepped or proven.
    pub deadline: u64,
    /// Time its team has used on its path, after the extension rule.
    pub duration: u64,
    /// 0 for a claim, parent's depth + 1 otherwise.
    pub depth: u8,
    /// The parent's part it counters ([`OUTPUT_PART`] for an output challenge).
    pub part: u8,
    /// The claim's level-2 depth.
    pub level2_depth: u8,
    /// Who posted it.
    pub poster: Account,
    /// Its live bond (0 once resolved).
    pub bond: Wei,
    /// `keccak256(abi.encode(parent, part, commitment))` (claims: `(0, id, commitment)`).
    pub key: Hash32,
    /// Block time of its posting (its event's; not stored on chain).
    pub posted_at: u64,
    /// Its dissection or output statement (its event's data).
    pub kind: NodeKind,
}

/// A node's resolution state (`ClaimTree.Resolution`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The newest counter of the node.
    pub last_child: u64,
    /// The next counter to examine while resolving (0 = all examined).
    pub cursor: u64,
    /// The standing counter at the lowest part so far (0: none, or a step/proof if `best != 0`).
    pub best_child: u64,
    /// 1 + the lowest part at which the node is countered so far (0: not countered).
    pub best: u8,
    /// Its outcome.
    pub status: Status,
    /// 1 + the lowest part of an unresolved counter passed over in the current walk (0: none).
    pub pending_part: u8,
    /// That counter.
    pub pending_child: u64,
}

/// The per-claim record (`ClaimTree.Claim` plus the Court's claim data the tree needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Block time of the claim.
    pub posted_at: u64,
    /// Seconds during which the claim itself can be countered (W).
    pub challenge_window: u64,
    /// N.
    pub macro_step_count: u64,
    /// The claimed final root.
    pub final_root: Hash32,
    /// The claimed output root.
    pub output_root: Hash32,
}

/// `keccak256(abi.encode(uint256 parent, uint256 partOrId, bytes32 c))`: a node's identity.
pub fn node_key(parent: u64, part_or_id: u64, c: Hash32) -> Hash32 {
    let mut pre = [0u8; 96];
    pre[24..32].copy_from_slice(&parent.to_be_bytes());
    pre[56..64].copy_from_slice(&part_or_id.to_be_bytes());
    pre[64..].copy_from_slice(&c);
    keccak256(&pre)
}

/// `keccak256("gavel.output.v1" ‖ finalRoot ‖ outputRoot)`: an output challenge's commitment.
pub fn output_commitment(final_root: Hash32, output_root: Hash32) -> Hash32 {
    let mut pre = Vec::with_capacity(OUTPUT_PREFIX.len() + 64);
    pre.extend_from_slice(OUTPUT_PREFIX);
    pre.extend_from_slice(&final_root);
    pre.extend_from_slice(&output_root);
    keccak256(&pre)
}

/// The dissection a counter of part `part` of `parent` posts: the part's segment (descended)
/// with `[start root] ++ roots`. `None` if the part does not exist.
pub fn counter_dissection(parent: &Dissection, part: u8, k: u64, level2_depth: u8, roots: &[Hash32]) -> Option<Dissection> {
    let seg = parent.part(part as u64, k, level2_depth)?;
    let mut all = Vec::with_capacity(roots.len() + 1);
    all.push(seg.start_root);
    all.extend_from_slice(roots);
    Some(Dissection { level: seg.level, macro_step: seg.macro_step, start: seg.start, end: seg.end, roots: all })
}

/// All claims' trees of one `ClaimTree` deployment, with the ledger of credits.
#[derive(Clone, Debug)]
pub struct ClaimTree {
    /// The parameters.
    pub params: Params,
    nodes: Vec<Node>,
    resolutions: Vec<Resolution>,
    node_id_of: HashMap<Hash32, u64>,
    stepper_of: HashMap<u64, Account>,
    claims: HashMap<u64, Claim>,
    nodes_of: HashMap<u64, Vec<u64>>,
    credit: HashMap<Account, Wei>,
    deposited: Wei,
}

impl ClaimTree {
    /// A deployment (`constructor`): `2 <= k <= 64`, `0 < EXT <= MAX <= 2^32 − 1`, a bond,
    /// `k^maxLevel2Depth <= 2^62`.
    pub fn new(params: Params) -> Result<ClaimTree, TreeError> {
        let p = &params;
        let span = (p.k as u128).checked_pow(p.max_level2_depth as u32);
        if p.k < 2 || p.k > 64 || p.clock_extension == 0 || p.clock_extension > p.clock_time {
            return Err(TreeError::BadParams);
        }
        if p.clock_time > u32::MAX as u64 || p.counter_bond == 0 || span.is_none_or(|s| s > 1 << 62) {
            return Err(TreeError::BadParams);
        }
        // Reward + fee stay below the whole bond, so a liar resolving its own countered node
        // through a puppet never recovers all of it.
        if p.resolver_fee >= p.counter_bond - p.counter_bond * REWARD_BPS / 10_000 {
            return Err(TreeError::BadParams);
        }
        Ok(ClaimTree {
            params,
            nodes: Vec::new(),
            resolutions: Vec::new(),
            node_id_of: HashMap::new(),
            stepper_of: HashMap::new(),
            claims: HashMap::new(),
            nodes_of: HashMap::new(),
            credit: HashMap::new(),
            deposited: 0,
        })
    }

    fn k(&self) -> u64 {
        self.params.k as u64
    }

    // ------------------------------------------------------------------ claims

    /// `Court.postClaim` → `openClaim`: opens a claim as a root node, the one-part level-1
    /// dissection `[0, N]` with roots `(initial, final)`; its deadline is `now + W`
    /// ("The tree"; "Clocks": `deadline(root) = posted + W`). The Court's checks are kept:
    /// `EXT <= W <= MAX` (review R2), `N >= 1`, `level2Depth <= maxLevel2Depth`, and a claim
    /// bond of at least `counterBond`.
    #[allow(clippy::too_many_arguments)]
    pub fn open_claim(
        &mut self,
        claimant: Account,
        challenge_window: u64,
        macro_step_count: u64,
        level2_depth: u8,
        initial_root: Hash32,
        final_root: Hash32,
        output_root: Hash32,
        value: Wei,
        now: u64,
    ) -> Result<u64, TreeError> {
        if challenge_window < self.params.clock_extension || challenge_window > self.params.clock_time {
            return Err(TreeError::BadClaim("challengeWindow outside [clockExtension, clockTime]"));
        }
        if macro_step_count == 0 || level2_depth > self.params.max_level2_depth {
            return Err(TreeError::BadClaim("shape"));
        }
        if value < self.params.counter_bond {
            return Err(TreeError::WrongBond { expected: self.params.counter_bond, sent: value });
        }
        let id = self.nodes.len() as u64 + 1;
        let d = Dissection::claim(macro_step_count, initial_root, final_root);
        let key = node_key(0, id, d.commitment());
        self.nodes.push(Node {
            parent: 0,
            root: id,
            prev_sibling: 0,
            deadline: now + challenge_window,
            duration: 0,
            depth: 0,
            part: 0,
            level2_depth,
            poster: claimant,
            bond: value,
            key,
            posted_at: now,
            kind: NodeKind::Dissection(d),
        });
        self.resolutions.push(Resolution::default());
        self.node_id_of.insert(key, id);
        self.claims.insert(id, Claim { posted_at: now, challenge_window, macro_step_count, final_root, output_root });
        self.nodes_of.insert(id, vec![id]);
        self.deposited += value;
        Ok(id)
    }

    /// `Court.challengeOutput` → `openOutputChallenge`: a counter of the claim at
    /// [`OUTPUT_PART`] saying its final state does not carry its output ("Output challenge").
    /// At most one per claim: a second one is an identical node (`AlreadyPosted`).
    pub fn open_output_challenge(
        &mut self,
        claim: u64,
        challenger: Account,
        final_root: Hash32,
        output_root: Hash32,
        value: Wei,
        now: u64,
    ) -> Result<u64, TreeError> {
        let c = self.claims.get(&claim).ok_or(TreeError::ClaimDataMismatch(claim))?;
        if c.final_root != final_root || c.output_root != output_root {
            return Err(TreeError::ClaimDataMismatch(claim));
        }
        if value != self.params.counter_bond {
            return Err(TreeError::WrongBond { expected: self.params.counter_bond, sent: value });
        }
        let key = node_key(claim, OUTPUT_PART as u64, output_commitment(final_root, output_root));
        self.create(claim, OUTPUT_PART, key, challenger, value, now, NodeKind::Output { final_root, output_root })
    }

    // ------------------------------------------------------------------ playing

    /// `counter`: anyone counters part `part` of `parent_id` (restated as `at`) with its own
    /// dissection of it, posting `roots` at `p_1..p_n` ("The tree", rules 1-4): the restated
    /// roots must match the parent's key; the part must exist; a level-1 part of one macro-step
    /// becomes the level-2 segment `[0, k^level2Depth]`; a one-instruction part must be stepped
    /// (`StepRequired`); `n = min(k, e − s)` roots; the last must differ from the parent's root
    /// at the part's end (`NotDisagreeing`); the bond is `counterBond`; an identical node
    /// reverts (`AlreadyPosted`); the parent's deadline must not have passed ("Clocks").
    #[allow(clippy::too_many_arguments)]
    pub fn counter(&mut self, poster: Account, parent_id: u64, at: &Dissection, part: u8, roots: &[Hash32], value: Wei, now: u64) -> Result<u64, TreeError> {
        let parent = self.check_roots(parent_id, at)?;
        let seg = self.part_of(at, part, parent.level2_depth)?;
        if seg.is_step() {
            return Err(TreeError::StepRequired);
        }
        let n = crate::game::part_count(seg.end - seg.start, self.k());
        if roots.len() as u64 != n {
            return Err(TreeError::WrongRootCount { expected: n, found: roots.len() as u64 });
        }
        // INVARIANT: a counter always disputes the end of the part it counters.
        if roots[n as usize - 1] == seg.end_root {
            return Err(TreeError::NotDisagreeing(seg.end_root));
        }
        let mut all = Vec::with_capacity(roots.len() + 1);
        all.push(seg.start_root);
        all.extend_from_slice(roots);
        let d = Dissection { level: seg.level, macro_step: seg.macro_step, start: seg.start, end: seg.end, roots: all };
        let key = node_key(parent_id, part as u64, d.commitment());
        if value != self.params.counter_bond {
            return Err(TreeError::WrongBond { expected: self.params.counter_bond, sent: value });
        }
        self.create(parent_id, part, key, poster, value, now, NodeKind::Dissection(d))
    }

    /// `step`: part `part` of node `node_id` is one level-2 instruction; run it from the part's
    /// start root ("Step"). Reverts if the result is the part's end root (`TransitionHolds`),
    /// after the deadline, or if a step already counters the node at this part or a lower one
    /// (`AlreadyStepped`); a step at a lower part replaces a higher one.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        stepper: Account,
        node_id: u64,
        at: &Dissection,
        part: u8,
        proof: &[u8],
        verifier: &dyn Verifier,
        now: u64,
    ) -> Result<(), TreeError> {
        let x = self.check_roots(node_id, at)?;
        let seg = self.part_of(at, part, x.level2_depth)?;
        if !seg.is_step() {
            return Err(TreeError::NotAtStep);
        }
        if now > x.deadline {
            return Err(TreeError::ClockExpired { node: node_id, deadline: x.deadline });
        }
        let r = &self.resolutions[node_id as usize - 1];
        if r.best != 0 && r.best <= part + 1 {
            return Err(TreeError::AlreadyStepped(part));
        }
        let after = verifier.execute_step(seg.macro_step, seg.start_root, proof).ok_or(TreeError::StepProofRejected)?;
        // INVARIANT: a step counters a node only where the machine disagrees with its transition.
        if after == seg.end_root {
            return Err(TreeError::TransitionHolds(after));
        }
        let r = &mut self.resolutions[node_id as usize - 1];
        r.best = part + 1;
        r.best_child = 0;
        self.stepper_of.insert(node_id, stepper);
        Ok(())
    }

    /// `proveOutput`: anyone answers output challenge `id` with a proof that the claim's final
    /// state carries its output, before the deadline ("Output challenge"); the challenge is
    /// then countered.
    #[allow(clippy::too_many_arguments)]
    pub fn prove_output(
        &mut self,
        prover: Account,
        id: u64,
        final_root: Hash32,
        output_root: Hash32,
        proof: &[u8],
        verifier: &dyn Verifier,
        now: u64,
    ) -> Result<(), TreeError> {
        let x = self.node(id).filter(|x| x.depth == 1 && x.part == OUTPUT_PART).ok_or(TreeError::WrongNodeKind(id))?;
        let key = node_key(x.parent, OUTPUT_PART as u64, output_commitment(final_root, output_root));
        if self.node_id_of.get(&key) != Some(&id) {
            return Err(TreeError::RootsMismatch(id));
        }
        if now > x.deadline {
            return Err(TreeError::ClockExpired { node: id, deadline: x.deadline });
        }
        if self.resolutions[id as usize - 1].best != 0 {
            return Err(TreeError::AlreadyStepped(0));
        }
        if !verifier.verify_output(final_root, output_root, proof) {
            return Err(TreeError::OutputNotProven);
        }
        self.resolutions[id as usize - 1].best = 1;
        self.stepper_of.insert(id, prover);
        Ok(())
    }

    // ------------------------------------------------------------------ resolution

    /// `resolveNode` ("Resolution and bonds"): after the deadline, walks the node's counters
    /// newest to oldest, at most `max_children` per call. Unresolved counters are passed over
    /// (the lowest one remembered); the node is decided when the walk ends unless an unresolved
    /// counter sits at or below the lowest part of a standing counter or step, or there is no
    /// such counter or step (review R1: unresolved counters above it never block). A blocked
    /// walk begun in this call reverts (`ChildUnresolved`); one begun earlier starts over and
    /// returns `false`. The call that decides the node pays `resolver` the resolver fee from
    /// the bond. Countered: `REWARD_BPS` of the bond to the counter at the lowest part (the
    /// oldest there; the stepper or prover if it is a step or proof), the rest less the fee to
    /// the escrow. Stood: the bond less the fee back to its poster. Returns `true` once resolved.
    pub fn resolve_node(&mut self, resolver: Account, id: u64, max_children: usize, now: u64) -> Result<bool, TreeError> {
        let x = self.node(id).ok_or(TreeError::UnknownNode(id))?;
        let deadline = x.deadline;
        let r = self.resolutions[id as usize - 1];
        if r.status != Status::Unresolved {
            return Err(TreeError::AlreadyResolved(id));
        }
        if now <= deadline {
            return Err(TreeError::NotYetResolvable { node: id, deadline });
        }
        let mut cursor = r.cursor;
        let fresh = cursor == r.last_child;
        let (mut best, mut best_child) = (r.best, r.best_child);
        let (mut pending_part, mut pending_child) = (r.pending_part, r.pending_child);
        let mut examined = 0;
        while examined < max_children && cursor != 0 {
            let c = &self.nodes[cursor as usize - 1];
            let s = self.resolutions[cursor as usize - 1].status;
            let p = c.part + 1;
            if s == Status::Unresolved {
                if pending_part == 0 || p < pending_part {
                    (pending_part, pending_child) = (p, cursor);
                }
            } else if s == Status::Stood && (best == 0 || p <= best) {
                // Newest to oldest: `<=` leaves the oldest standing counter at the lowest part.
                (best, best_child) = (p, cursor);
            }
            cursor = c.prev_sibling;
            examined += 1;
        }
        // A counter that could stand at or below the lowest part is unresolved.
        let blocked = cursor == 0 && pending_part != 0 && (best == 0 || pending_part <= best);
        if blocked && fresh {
            // The revert undoes every write of this call, as on chain.
            return Err(TreeError::ChildUnresolved(pending_child));
        }
        let last_child = r.last_child;
        let r = &mut self.resolutions[id as usize - 1];
        (r.best, r.best_child) = (best, best_child);
        if blocked {
            // A walk begun in an earlier call starts over from the newest counter.
            (cursor, pending_part, pending_child) = (last_child, 0, 0);
        }
        (r.cursor, r.pending_part, r.pending_child) = (cursor, pending_part, pending_child);
        if cursor != 0 {
            return Ok(false);
        }
        let bond = self.nodes[id as usize - 1].bond;
        let fee = self.params.resolver_fee;
        if best != 0 {
            // INVARIANT: a node is countered iff it has an uncountered counter, a successful
            // step, or (output challenge) a proof; its poster then gets nothing back.
            r.status = Status::Countered;
            let counterer = if best_child != 0 { self.nodes[best_child as usize - 1].poster } else { self.stepper_of[&id] };
            let reward = bond * REWARD_BPS / 10_000;
            self.add_credit(counterer, reward);
            self.add_credit(self.params.escrow, bond - reward - fee);
        } else {
            r.status = Status::Stood;
            let poster = self.nodes[id as usize - 1].poster;
            self.add_credit(poster, bond - fee);
        }
        // INVARIANT: every wei of the bond is credited once (fee < the escrow's share: `new`).
        self.add_credit(resolver, fee);
        self.nodes[id as usize - 1].bond = 0;
        Ok(true)
    }

    // ------------------------------------------------------------------ views

    /// A node (`None` for 0 or an id never created).
    pub fn node(&self, id: u64) -> Option<&Node> {
        if id == 0 {
            return None;
        }
        self.nodes.get(id as usize - 1)
    }

    /// A node's resolution state (default for unknown ids).
    pub fn resolution(&self, id: u64) -> Resolution {
        if id == 0 {
            return Resolution::default();
        }
        self.resolutions.get(id as usize - 1).copied().unwrap_or_default()
    }

    /// A node's status (a claim: `Countered` = refuted, `Stood` = final).
    pub fn status_of(&self, id: u64) -> Status {
        self.resolution(id).status
    }

    /// The node with this key (`nodeIdOf`), 0 if none.
    pub fn node_id_of(&self, key: &Hash32) -> u64 {
        self.node_id_of.get(key).copied().unwrap_or(0)
    }

    /// Who stepped (or proved) a node at its lowest stepped part (`stepperOf`).
    pub fn stepper_of(&self, id: u64) -> Option<Account> {
        self.stepper_of.get(&id).copied()
    }

    /// A claim's record.
    pub fn claim(&self, id: u64) -> Option<&Claim> {
        self.claims.get(&id)
    }

    /// Every node of a claim, in creation order (the claim first).
    pub fn nodes_of(&self, claim: u64) -> &[u64] {
        self.nodes_of.get(&claim).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The counters of a node, newest first (the `prevSibling` chain).
    pub fn children(&self, id: u64) -> impl Iterator<Item = u64> + '_ {
        let mut next = self.resolution(id).last_child;
        std::iter::from_fn(move || {
            let c = next;
            if c == 0 {
                return None;
            }
            next = self.nodes[c as usize - 1].prev_sibling;
            Some(c)
        })
    }

    /// Number of nodes created (`nodeCount`).
    pub fn node_count(&self) -> u64 {
        self.nodes.len() as u64
    }

    /// An account's withdrawable credit.
    pub fn credit(&self, account: Account) -> Wei {
        self.credit.get(&account).copied().unwrap_or(0)
    }

    /// Sum of every credit.
    pub fn total_credits(&self) -> Wei {
        self.credit.values().sum()
    }

    /// Sum of every live (unresolved) bond.
    pub fn live_bonds(&self) -> Wei {
        self.nodes.iter().map(|n| n.bond).sum()
    }

    /// Everything ever sent to the tree (claim bonds and counter bonds).
    pub fn deposited(&self) -> Wei {
        self.deposited
    }

    /// `bondAt`: `counterBond` for depth >= 1 (the schedule is flat, "Bond sizes"); 0 for a
    /// claim (its bond is the model's claim bond).
    pub fn bond_at(&self, depth: u8) -> Wei {
        if depth == 0 {
            0
        } else {
            self.params.counter_bond
        }
    }

    /// `rounds`: dissection nodes on the longest path from a claim to one step.
    pub fn rounds(&self, macro_step_count: u64, level2_depth: u8) -> u64 {
        rounds(macro_step_count, level2_depth, self.k())
    }

    /// `maxResolutionTime = 2·clockTime + rounds·clockExtension` ("Time bound"): every deadline
    /// of a claim's tree is at most `posted + maxResolutionTime`, whatever the number of parties.
    pub fn max_resolution_time(&self, macro_step_count: u64, level2_depth: u8) -> u64 {
        2 * self.params.clock_time + self.rounds(macro_step_count, level2_depth) * self.params.clock_extension
    }

    // ------------------------------------------------------------------ internals

    /// `_checkRoots`: the node exists, is not an output challenge, and `at` (position and
    /// roots) is what its key commits to.
    fn check_roots(&self, id: u64, at: &Dissection) -> Result<Node, TreeError> {
        let x = self.node(id).ok_or(TreeError::UnknownNode(id))?;
        if x.part == OUTPUT_PART && x.depth == 1 {
            return Err(TreeError::WrongNodeKind(id));
        }
        let c = commitment(at.level, at.macro_step, at.start, at.end, &at.roots);
        let key = if x.depth == 0 { node_key(0, id, c) } else { node_key(x.parent, x.part as u64, c) };
        if at.roots.len() < 2 || self.node_id_of.get(&key) != Some(&id) {
            return Err(TreeError::RootsMismatch(id));
        }
        Ok(x.clone())
    }

    /// `_part`: the part's segment, descended to level 2 if it is one macro-step.
    fn part_of(&self, at: &Dissection, part: u8, level2_depth: u8) -> Result<crate::game::Segment, TreeError> {
        at.part(part as u64, self.k(), level2_depth).ok_or(TreeError::InvalidPart { part: part as u64, parts: at.parts() })
    }

    /// `_create`: a counter of `parent_id` with the per-path clocks ("Clocks"):
    /// `duration(c) = duration(grandparent) + (now − posted(parent))` (for a counter of a claim
    /// `now − posted(claim)`), computed as `MAX − (deadline(parent) − now)`, clamped to
    /// `MAX − EXT` (the extension rule); `deadline(c) = now + MAX − duration(parent)`.
    #[allow(clippy::too_many_arguments)]
    fn create(&mut self, parent_id: u64, part: u8, key: Hash32, poster: Account, value: Wei, now: u64, kind: NodeKind) -> Result<u64, TreeError> {
        if let Some(existing) = self.node_id_of.get(&key) {
            return Err(TreeError::AlreadyPosted(*existing));
        }
        let parent = self.node(parent_id).ok_or(TreeError::UnknownNode(parent_id))?.clone();
        if now > parent.deadline {
            return Err(TreeError::ClockExpired { node: parent_id, deadline: parent.deadline });
        }
        let (max, ext) = (self.params.clock_time, self.params.clock_extension);
        let mut duration = if parent.depth == 0 { now - self.claims[&parent_id].posted_at } else { max - (parent.deadline - now) };
        // INVARIANT: every node leaves its own team at least clockExtension to answer a counter.
        if duration > max - ext {
            duration = max - ext;
        }
        let deadline = now + (max - parent.duration);
        let id = self.nodes.len() as u64 + 1;
        let pr = &mut self.resolutions[parent_id as usize - 1];
        let prev_sibling = pr.last_child;
        pr.last_child = id;
        pr.cursor = id;
        self.nodes.push(Node {
            parent: parent_id,
            root: parent.root,
            prev_sibling,
            deadline,
            duration,
            depth: parent.depth + 1,
            part,
            level2_depth: parent.level2_depth,
            poster,
            bond: value,
            key,
            posted_at: now,
            kind,
        });
        self.resolutions.push(Resolution::default());
        self.node_id_of.insert(key, id);
        self.nodes_of.entry(parent.root).or_default().push(id);
        self.deposited += value;
        Ok(id)
    }

    fn add_credit(&mut self, account: Account, amount: Wei) {
        if amount != 0 {
            *self.credit.entry(account).or_default() += amount;
        }
    }
}

// ---------------------------------------------------------------------- moves

/// A transaction to the tree, as a player decides it (the roots it restates come from the
/// nodes' events: [`ClaimTree::play`] fills them in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `counter(parent, …, part, roots)` with `counterBond`.
    Counter {
        /// The node countered.
        parent: u64,
        /// Its part.
        part: u8,
        /// The roots at `p_1..p_n` of the part.
        roots: Vec<Hash32>,
    },
    /// `step(node, …, part, proof)`.
    Step {
        /// The node stepped.
        node: u64,
        /// Its one-instruction part.
        part: u8,
        /// Proof of the part's start state.
        proof: Vec<u8>,
    },
    /// `Court.challengeOutput(claim, data)` with `counterBond`.
    OutputChallenge {
        /// The claim.
        claim: u64,
    },
    /// `proveOutput(node, finalRoot, outputRoot, proof)`.
    ProveOutput {
        /// The output challenge.
        node: u64,
        /// Proof of the claim's final state.
        proof: Vec<u8>,
    },
    /// `resolveNode(node, type(uint256).max)`.
    Resolve {
        /// The node.
        node: u64,
    },
}

impl ClaimTree {
    /// Sends `action` as `who` at `now`, restating the node's position and roots from its
    /// event as a client does. Returns the new node's id for a counter or output challenge.
    pub fn play(&mut self, who: Account, action: &Action, verifier: &dyn Verifier, now: u64) -> Result<Option<u64>, TreeError> {
        let bond = self.params.counter_bond;
        match action {
            Action::Counter { parent, part, roots } => {
                let at = self.dissection_of(*parent)?.clone();
                self.counter(who, *parent, &at, *part, roots, bond, now).map(Some)
            }
            Action::Step { node, part, proof } => {
                let at = self.dissection_of(*node)?.clone();
                self.step(who, *node, &at, *part, proof, verifier, now).map(|()| None)
            }
            Action::OutputChallenge { claim } => {
                let c = *self.claim(*claim).ok_or(TreeError::ClaimDataMismatch(*claim))?;
                self.open_output_challenge(*claim, who, c.final_root, c.output_root, bond, now).map(Some)
            }
            Action::ProveOutput { node, proof } => match self.node(*node).map(|x| &x.kind) {
                Some(NodeKind::Output { final_root, output_root }) => {
                    let (f, o) = (*final_root, *output_root);
                    self.prove_output(who, *node, f, o, proof, verifier, now).map(|()| None)
                }
                _ => Err(TreeError::WrongNodeKind(*node)),
            },
            Action::Resolve { node } => self.resolve_node(who, *node, usize::MAX, now).map(|_| None),
        }
    }

    /// A dissection node's position and roots (from its event).
    pub fn dissection_of(&self, id: u64) -> Result<&Dissection, TreeError> {
        match self.node(id).map(|x| &x.kind) {
            Some(NodeKind::Dissection(d)) => Ok(d),
            Some(NodeKind::Output { .. }) => Err(TreeError::WrongNodeKind(id)),
            None => Err(TreeError::UnknownNode(id)),
        }
    }
}

// ---------------------------------------------------------------------- the honest strategy

/// The truth about one claim's input: the canonical padded trace ([`TraceProvider`], "Truth")
/// and the true output.
pub trait ClaimTruth: TraceProvider {
    /// The output root of the true state at level-1 position `n` and its `verifyOutput` proof;
    /// `None` if the true run has not halted there (then no output of that state is true).
    fn output(&mut self, n: u64) -> Result<Option<(Hash32, Vec<u8>)>, Self::Error>;
}

/// The honest answer to a false node at its first false part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The true dissection of the part, and the key it would have.
    Counter {
        /// The true roots at `p_1..p_n` of the part.
        roots: Vec<Hash32>,
        /// Its node key (to see whether anyone posted it already).
        key: Hash32,
    },
    /// The part is one instruction: step it with the true start state's proof.
    Step {
        /// The proof.
        proof: Vec<u8>,
    },
}

/// What the true trace says about a node ("Truth, and why the honest party always wins").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// All its roots are true (it stands; a claim may still carry a false output).
    True,
    /// Its start root is true and some root false: answered at its first false part (H1).
    False {
        /// The first part with a true start root and a false end root.
        part: u8,
        /// The honest answer there.
        answer: Answer,
    },
    /// Its start root is false: left alone (H3).
    Dangling,
    /// An output challenge; the proof if the claim's final root and output are both true (H2).
    Output {
        /// `verifyOutput` proof of the true final state, if the challenged output is true.
        provable: Option<Vec<u8>>,
    },
}

/// A move the honest strategy requires, and the last second it may be made (H4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HonestMove {
    /// The transaction.
    pub action: Action,
    /// Latest time for it: `min(deadline, posted + EXT)` for an answer (the claim's whole
    /// window for the claim itself); now for a resolution.
    pub due: u64,
}

/// The honest strategy (`spec/game-v2.md`, H1-H4) for one party `me`, with a cache of
/// verdicts (a node's roots never change, so neither does its verdict).
#[derive(Clone, Debug, Default)]
pub struct Honest {
    /// The honest party's account (its nodes and rewards decide what it resolves).
    pub me: Account,
    /// Whether it also resolves claims it has no stake in (the simulations' referee does; a
    /// watchtower resolves only what pays it back: its own nodes and the nodes it countered).
    pub resolve_every_claim: bool,
    verdicts: HashMap<u64, Verdict>,
}

/// The moves the honest party `me` must make on `claim` at `now` (see [`Honest::moves`]).
pub fn honest_moves<P: ClaimTruth>(tree: &ClaimTree, claim: u64, truth: &mut P, me: Account, now: u64) -> Result<Vec<HonestMove>, P::Error> {
    Honest::new(me).moves(tree, claim, truth, now)
}

impl Honest {
    /// The strategy for `me`.
    pub fn new(me: Account) -> Honest {
        Honest { me, resolve_every_claim: true, verdicts: HashMap::new() }
    }

    /// The strategy for `me`, resolving only nodes `me` has a stake in (its own nodes, claims
    /// included, and the nodes it countered, stepped or proved) and what blocks them.
    pub fn stake_only(me: Account) -> Honest {
        Honest { me, resolve_every_claim: false, verdicts: HashMap::new() }
    }

    /// The verdict on node `id` (cached).
    pub fn verdict<P: ClaimTruth>(&mut self, tree: &ClaimTree, id: u64, truth: &mut P) -> Result<Verdict, P::Error> {
        if let Some(v) = self.verdicts.get(&id) {
            return Ok(v.clone());
        }
        let v = judge(tree, id, truth)?;
        self.verdicts.insert(id, v.clone());
        Ok(v)
    }

    /// Every move the honest strategy requires on `claim` at `now`, each with its due time:
    ///
    /// - **H1**: for every open false node, at its first false part, the true counter, or the
    ///   step if the part is one instruction — unless that node or a step at that part or a
    ///   lower one is already there (posted by anyone);
    /// - **H2**: a claim whose roots are true but whose output is false (or not provable) gets
    ///   the output challenge; an output challenge of a true final root and output is proven;
    /// - **H3**: true and dangling nodes are left alone;
    /// - **H4**: each answer is due by `min(deadline, posted + EXT)` (the claim: its window);
    /// - **resolution** ("Resolution and bonds", review R1): the nodes the honest party needs
    ///   decided — the claim, its own nodes, the nodes it countered or stepped — and, below
    ///   them, the counters that can block them: every counter of a true node, and the counters
    ///   of a false node at or below its first false part (where the honest answer stands).
    ///   Dangling nodes are never among them. A node is resolved once its deadline has passed
    ///   and those counters are resolved; call again after playing the moves to climb.
    pub fn moves<P: ClaimTruth>(&mut self, tree: &ClaimTree, claim: u64, truth: &mut P, now: u64) -> Result<Vec<HonestMove>, P::Error> {
        let mut out = Vec::new();
        let ext = tree.params.clock_extension;
        for &id in tree.nodes_of(claim) {
            let (Some(x), r) = (tree.node(id), tree.resolution(id)) else { continue };
            if r.status != Status::Unresolved || now > x.deadline {
                continue;
            }
            let due = if x.depth == 0 { x.deadline } else { x.deadline.min(x.posted_at + ext) };
            let action = match self.verdict(tree, id, truth)? {
                Verdict::Output { provable: Some(proof) } if r.best == 0 => Some(Action::ProveOutput { node: id, proof }),
                Verdict::False { part, answer: Answer::Counter { roots, key } } if tree.node_id_of(&key) == 0 => {
                    Some(Action::Counter { parent: id, part, roots })
                }
                Verdict::False { part, answer: Answer::Step { proof } } if r.best == 0 || r.best > part + 1 => Some(Action::Step { node: id, part, proof }),
                Verdict::True if x.depth == 0 => {
                    let c = tree.claim(id).copied();
                    match c {
                        Some(c) if !output_holds(&c, truth)? => {
                            let key = node_key(id, OUTPUT_PART as u64, output_commitment(c.final_root, c.output_root));
                            (tree.node_id_of(&key) == 0).then_some(Action::OutputChallenge { claim: id })
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            out.extend(action.map(|action| HonestMove { action, due }));
        }
        for id in self.needing_resolution(tree, claim, truth)? {
            if tree.node(id).is_some_and(|x| now > x.deadline) {
                out.push(HonestMove { action: Action::Resolve { node: id }, due: now });
            }
        }
        Ok(out)
    }

    /// Unresolved nodes the honest party needs decided whose blocking counters are resolved.
    fn needing_resolution<P: ClaimTruth>(&mut self, tree: &ClaimTree, claim: u64, truth: &mut P) -> Result<Vec<u64>, P::Error> {
        let mut stack = if self.resolve_every_claim { vec![claim] } else { Vec::new() };
        for &id in tree.nodes_of(claim) {
            let x = tree.node(id).expect("listed nodes exist");
            if x.poster == self.me && x.depth == 0 {
                stack.push(id);
            }
            if x.poster == self.me && x.depth > 0 {
                stack.extend([id, x.parent]);
            }
            if tree.stepper_of(id) == Some(self.me) {
                stack.push(id);
            }
        }
        let mut seen = HashSet::new();
        let mut ready = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || tree.status_of(id) != Status::Unresolved {
                continue;
            }
            let bound = match self.verdict(tree, id, truth)? {
                Verdict::True => u8::MAX,
                Verdict::False { part, .. } => part,
                // Output challenges have no counters.
                Verdict::Output { .. } => {
                    ready.push(id);
                    continue;
                }
                Verdict::Dangling => continue,
            };
            let mut blocked = false;
            for c in tree.children(id) {
                let part = tree.node(c).map_or(0, |n| n.part);
                if part <= bound && tree.status_of(c) == Status::Unresolved {
                    blocked = true;
                    stack.push(c);
                }
            }
            if !blocked {
                ready.push(id);
            }
        }
        ready.sort_unstable();
        ready.dedup();
        Ok(ready)
    }
}

/// Whether a claim's output is the true output of its (true) final state.
fn output_holds<P: ClaimTruth>(c: &Claim, truth: &mut P) -> Result<bool, P::Error> {
    Ok(truth.output(c.macro_step_count)?.is_some_and(|(o, _)| o == c.output_root))
}

/// The verdict on node `id` from the true trace.
fn judge<P: ClaimTruth>(tree: &ClaimTree, id: u64, truth: &mut P) -> Result<Verdict, P::Error> {
    let x = tree.node(id).expect("judged nodes exist");
    let k = tree.params.k as u64;
    let d = match &x.kind {
        NodeKind::Output { final_root, output_root } => {
            let c = tree.claim(x.root).copied().expect("a node's claim exists");
            let final_true = truth.root(LEVEL_MACRO, 0, c.macro_step_count)? == *final_root;
            let proof = match truth.output(c.macro_step_count)? {
                Some((o, proof)) if final_true && o == *output_root => Some(proof),
                _ => None,
            };
            return Ok(Verdict::Output { provable: proof });
        }
        NodeKind::Dissection(d) => d,
    };
    if truth.root(d.level, d.macro_step, d.start)? != d.roots[0] {
        return Ok(Verdict::Dangling);
    }
    Ok(match honest_move(truth, d, k, x.level2_depth)? {
        None => Verdict::True,
        Some(Move::Step { choice, proof }) => Verdict::False { part: choice as u8, answer: Answer::Step { proof } },
        Some(Move::Dissect { choice, roots }) => {
            let c = counter_dissection(d, choice as u8, k, x.level2_depth, &roots).expect("honest_move picks an existing part").commitment();
            Verdict::False { part: choice as u8, answer: Answer::Counter { roots, key: node_key(id, choice, c) } }
        }
    })
}
