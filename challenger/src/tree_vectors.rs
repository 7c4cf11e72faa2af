//! Claim-tree vectors (`spec/vectors/tree.json`): a seeded game on the toy machine, played by
//! the honest strategy and four adversary accounts making random moves — valid and invalid
//! counters, steps, output challenges and proofs, resolutions at random times and batch sizes —
//! with every call's calldata and the outcome the Rust model (`gavel_bisection::tree`) gives it:
//! the return value, or the exact revert data of the contract's custom error. Then everything
//! is resolved and the final status of every node and the credit of every account are listed.
//! `contracts/test/v2/TreeVectors.t.sol` replays the calls against the deployed Court and
//! ClaimTree and requires the same outcome for each, the same deadline for each new node, and
//! the same statuses and credits at the end (Rust vs Solidity, on the rules of
//! `spec/game-v2.md`).

use alloy::primitives::{keccak256, Bytes, FixedBytes, U256};
use alloy::sol_types::{SolCall, SolValue};
use gavel_bisection::game::toy::{Toy, ToyState};
use gavel_bisection::game::{part_count, Dissection, TraceProvider, LEVEL_MACRO};
use gavel_bisection::merkle::Hash32;
use gavel_bisection::tree::{Account, ClaimTree, ClaimTruth, Honest, Params, Status, TreeError, Wei};
use gavel_bisection::vectors::Rng;
use serde_json::{json, Value};
use std::convert::Infallible;

use crate::contracts::{IClaimTree, ICourt};

const K: u8 = 4;
const MAX_DEPTH: u8 = 3;
const DEPTH: u8 = 2;
const CLOCK: u64 = 2 * 86_400;
const EXT: u64 = 3_600;
const WINDOW: u64 = 7_200;
const COUNTER_BOND: Wei = 100_000_000_000_000_000;
const CLAIM_BOND: Wei = 1_000_000_000_000_000_000;
const RESOLVER_FEE: Wei = 1_500_000_000_000_000;
const MAX_INSTRUCTIONS: u64 = 9;
const HONEST: Account = 1;
const ADVERSARIES: [Account; 4] = [2, 3, 4, 5];
const ESCROW: Account = 9;
const T0: u64 = 1_000_000;
const CODE_ROOT: Hash32 = [1; 32];
const MODEL_ROOT: Hash32 = [2; 32];

/// A random 32-byte word.
fn word(rng: &mut Rng) -> Hash32 {
    keccak256(rng.next().to_be_bytes()).0
}

/// How a trace departs from the truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    Truth,
    /// The state at level-1 boundary `b` is corrupted, and the run goes on from it.
    CorruptFrom(u64),
    /// The true run, with a made-up output.
    WrongOutput,
}

/// A toy run as one party believes it: every level-2 state of every macro-step.
struct ToyTrace {
    n: u64,
    rows: Vec<Vec<ToyState>>,
    last: ToyState,
    wrong_output: bool,
}

impl ToyTrace {
    fn new(toy: &Toy, initial: ToyState, n: u64, lie: Lie) -> ToyTrace {
        let span = (K as u64).pow(DEPTH as u32);
        let (mut s, mut rows) = (initial, Vec::new());
        for m in 0..n {
            let mut row = vec![s];
            for _ in 0..span {
                let before = s;
                s = toy.step(m, s);
                if lie == Lie::CorruptFrom(m + 1) && before.macro_step == m && s.macro_step == m + 1 {
                    s.acc[0] ^= 0x5a;
                }
                row.push(s);
            }
            rows.push(row);
        }
        ToyTrace { n, rows, last: s, wrong_output: lie == Lie::WrongOutput }
    }
}

impl TraceProvider for ToyTrace {
    type Error = Infallible;
    fn root(&mut self, level: u8, m: u64, pos: u64) -> Result<Hash32, Infallible> {
        Ok(if level == LEVEL_MACRO {
            match pos.min(self.n) {
                b if b == self.n => self.last.root(),
                b => self.rows[b as usize][0].root(),
            }
        } else {
            let row = &self.rows[m as usize];
            row[(pos as usize).min(row.len() - 1)].root()
        })
    }
    fn step_proof(&mut self, m: u64, pos: u64) -> Result<Vec<u8>, Infallible> {
        Ok(self.rows[m as usize][pos as usize].proof())
    }
}

impl ClaimTruth for ToyTrace {
    fn output(&mut self, n: u64) -> Result<Option<(Hash32, Vec<u8>)>, Infallible> {
        if n != self.n || self.last.macro_step < self.last.halt_at {
            return Ok(None);
        }
        let out = if self.wrong_output { keccak256(b"made-up output").0 } else { self.last.acc };
        Ok(Some((out, self.last.proof())))
    }
}

/// One claim of the game: its data and the true and claimed traces.
struct GameClaim {
    id: u64,
    data: ICourt::ClaimData,
    truth: ToyTrace,
    honest: Honest,
}

fn b(h: &Hash32) -> FixedBytes<32> {
    FixedBytes(*h)
}

fn position(d: &Dissection) -> IClaimTree::Position {
    IClaimTree::Position { level: d.level, macroStep: d.macro_step, start: d.start, end: d.end }
}

/// The contract's revert data for `e`, or `None` where the revert comes from elsewhere (the
/// Court's own checks, the verifier rejecting a proof): then any revert is expected.
fn revert_data(e: &TreeError) -> Option<Vec<u8>> {
    let word = |v: u128| U256::from(v).to_be_bytes::<32>().to_vec();
    let (sig, args): (&str, Vec<Vec<u8>>) = match e {
        TreeError::UnknownNode(id) => ("UnknownNode(uint64)", vec![word(*id as u128)]),
        TreeError::RootsMismatch(id) => ("RootsMismatch(uint64)", vec![word(*id as u128)]),
        TreeError::ClockExpired { node, deadline } => ("ClockExpired(uint64,uint40)", vec![word(*node as u128), word(*deadline as u128)]),
        TreeError::WrongBond { expected, sent } => ("WrongBond(uint256,uint256)", vec![word(*expected), word(*sent)]),
        TreeError::InvalidPart { part, parts } => ("InvalidPart(uint256,uint256)", vec![word(*part as u128), word(*parts as u128)]),
        TreeError::WrongRootCount { expected, found } => ("WrongRootCount(uint256,uint256)", vec![word(*expected as u128), word(*found as u128)]),
        TreeError::NotDisagreeing(r) => ("NotDisagreeing(bytes32)", vec![r.to_vec()]),
        TreeError::AlreadyPosted(id) => ("AlreadyPosted(uint64)", vec![word(*id as u128)]),
        TreeError::StepRequired => ("StepRequired()", vec![]),
        TreeError::NotAtStep => ("NotAtStep()", vec![]),
        TreeError::TransitionHolds(r) => ("TransitionHolds(bytes32)", vec![r.to_vec()]),
        TreeError::AlreadyStepped(p) => ("AlreadyStepped(uint8)", vec![word(*p as u128)]),
        TreeError::WrongNodeKind(id) => ("WrongNodeKind(uint64)", vec![word(*id as u128)]),
        TreeError::OutputNotProven => ("OutputNotProven()", vec![]),
        TreeError::AlreadyResolved(id) => ("AlreadyResolved(uint64)", vec![word(*id as u128)]),
        TreeError::NotYetResolvable { node, deadline } => ("NotYetResolvable(uint64,uint40)", vec![word(*node as u128), word(*deadline as u128)]),
        TreeError::ChildUnresolved(id) => ("ChildUnresolved(uint64)", vec![word(*id as u128)]),
        TreeError::BadParams | TreeError::BadClaim(_) | TreeError::ClaimDataMismatch(_) | TreeError::StepProofRejected => return None,
    };
    let mut out = keccak256(sig.as_bytes())[..4].to_vec();
    for a in args {
        out.extend_from_slice(&a);
    }
    Some(out)
}

/// The calls of the game and their outcomes, as parallel arrays (forge reads arrays of one type).
#[derive(Default)]
struct Calls {
    t: Vec<u64>,
    from: Vec<u64>,
    to_court: Vec<bool>,
    value: Vec<String>,
    data: Vec<String>,
    ok: Vec<bool>,
    ret: Vec<String>,
    any_revert: Vec<bool>,
    node: Vec<u64>,
    deadline: Vec<u64>,
    reverts: usize,
}

impl Calls {
    /// Records a call and its outcome. `created` is the node a successful call created.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        tree: &ClaimTree,
        t: u64,
        from: Account,
        to_court: bool,
        value: Wei,
        data: Vec<u8>,
        outcome: Result<Vec<u8>, TreeError>,
        created: Option<u64>,
    ) {
        self.t.push(t);
        self.from.push(from);
        self.to_court.push(to_court);
        self.value.push(value.to_string());
        self.data.push(format!("0x{}", hex::encode(data)));
        let node = created.filter(|_| outcome.is_ok()).unwrap_or(0);
        self.node.push(node);
        self.deadline.push(tree.node(node).map_or(0, |x| x.deadline));
        match outcome {
            Ok(ret) => {
                self.ok.push(true);
                self.ret.push(format!("0x{}", hex::encode(ret)));
                self.any_revert.push(false);
            }
            Err(e) => {
                self.reverts += 1;
                self.ok.push(false);
                // The Court reverts with its own errors before forwarding to the tree.
                let data = if to_court { None } else { revert_data(&e) };
                self.any_revert.push(data.is_none());
                self.ret.push(format!("0x{}", hex::encode(data.unwrap_or_default())));
            }
        }
    }
}

struct Game {
    tree: ClaimTree,
    toy: Toy,
    calls: Calls,
    claims: Vec<GameClaim>,
    rng: Rng,
}

impl Game {
    fn post_claim(&mut self, now: u64, claimant: Account, n: u64, lie: Lie, value: Wei) {
        let mut input = word(&mut self.rng);
        input[..8].copy_from_slice(&n.to_be_bytes());
        let initial = self.toy.initial(&CODE_ROOT, &MODEL_ROOT, &input);
        let mut truth = ToyTrace::new(&self.toy, initial, n, Lie::Truth);
        let mut claimed = ToyTrace::new(&self.toy, initial, n, lie);
        let final_root = claimed.root(LEVEL_MACRO, 0, n).unwrap_or_default();
        let output = claimed.output(n).ok().flatten().map_or([0; 32], |(o, _)| o);
        debug_assert!(truth.output(n).ok().flatten().is_some());
        let data = ICourt::ClaimData {
            modelId: 1,
            requestId: 0,
            macroStepCount: n,
            level2Depth: DEPTH,
            inputRoot: b(&input),
            outputRoot: b(&output),
            finalStateRoot: b(&final_root),
        };
        let call = ICourt::postClaimCall { data: data.clone(), salt: FixedBytes::ZERO }.abi_encode();
        // The Court checks the model's claim bond before the tree sees the claim.
        let r = if value == CLAIM_BOND {
            self.tree.open_claim(claimant, WINDOW, n, DEPTH, initial.root(), final_root, output, value, now)
        } else {
            Err(TreeError::BadClaim("not the model's claim bond"))
        };
        let id = r.as_ref().ok().copied();
        self.calls.push(&self.tree, now, claimant, true, value, call, r.map(|id| id.abi_encode()), id);
        if let Some(id) = id {
            self.claims.push(GameClaim { id, data, truth, honest: Honest::new(HONEST) });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn counter(&mut self, now: u64, who: Account, parent: u64, at: &Dissection, part: u8, roots: Vec<Hash32>, value: Wei) {
        let call = IClaimTree::counterCall {
            parentId: parent,
            at: position(at),
            parentRoots: at.roots.iter().map(b).collect(),
            part,
            roots: roots.iter().map(b).collect(),
        }
        .abi_encode();
        let r = self.tree.counter(who, parent, at, part, &roots, value, now);
        let id = r.as_ref().ok().copied();
        self.calls.push(&self.tree, now, who, false, value, call, r.map(|id| id.abi_encode()), id);
    }

    fn step(&mut self, now: u64, who: Account, node: u64, at: &Dissection, part: u8, proof: Vec<u8>) {
        let call =
            IClaimTree::stepCall { nodeId: node, at: position(at), nodeRoots: at.roots.iter().map(b).collect(), part, proof: Bytes::from(proof.clone()) }
                .abi_encode();
        let r = self.tree.step(who, node, at, part, &proof, &self.toy, now);
        self.calls.push(&self.tree, now, who, false, 0, call, r.map(|()| Vec::new()), None);
    }

    fn output_challenge(&mut self, now: u64, who: Account, claim: usize, value: Wei) {
        let (id, data) = (self.claims[claim].id, self.claims[claim].data.clone());
        let call = ICourt::challengeOutputCall { claimId: id, data: data.clone() }.abi_encode();
        let r = self.tree.open_output_challenge(id, who, data.finalStateRoot.0, data.outputRoot.0, value, now);
        let created = r.as_ref().ok().copied();
        self.calls.push(&self.tree, now, who, true, value, call, r.map(|id| id.abi_encode()), created);
    }

    fn prove_output(&mut self, now: u64, who: Account, node: u64, final_root: Hash32, output_root: Hash32, proof: Vec<u8>) {
        let call =
            IClaimTree::proveOutputCall { id: node, finalRoot: b(&final_root), outputRoot: b(&output_root), proof: Bytes::from(proof.clone()) }.abi_encode();
        let r = self.tree.prove_output(who, node, final_root, output_root, &proof, &self.toy, now);
        self.calls.push(&self.tree, now, who, false, 0, call, r.map(|()| Vec::new()), None);
    }

    fn resolve(&mut self, now: u64, who: Account, node: u64, max_children: u64) -> bool {
        let call = IClaimTree::resolveNodeCall { id: node, maxChildren: U256::from(max_children) }.abi_encode();
        let r = self.tree.resolve_node(who, node, max_children as usize, now);
        let done = matches!(r, Ok(true));
        self.calls.push(&self.tree, now, who, false, 0, call, r.map(|d| d.abi_encode()), None);
        done
    }

    /// Every move the honest strategy requires now, on every claim.
    fn honest_turn(&mut self, now: u64) -> usize {
        let mut played = 0;
        for c in 0..self.claims.len() {
            let claim = self.claims[c].id;
            let moves = {
                let gc = &mut self.claims[c];
                gc.honest.moves(&self.tree, claim, &mut gc.truth, now).unwrap_or_default()
            };
            for m in moves {
                use gavel_bisection::tree::Action;
                match m.action {
                    Action::Counter { parent, part, roots } => {
                        let Ok(at) = self.tree.dissection_of(parent).cloned() else { continue };
                        self.counter(now, HONEST, parent, &at, part, roots, COUNTER_BOND);
                    }
                    Action::Step { node, part, proof } => {
                        let Ok(at) = self.tree.dissection_of(node).cloned() else { continue };
                        self.step(now, HONEST, node, &at, part, proof);
                    }
                    Action::OutputChallenge { .. } => self.output_challenge(now, HONEST, c, COUNTER_BOND),
                    Action::ProveOutput { node, proof } => {
                        let d = &self.claims[c].data;
                        let (f, o) = (d.finalStateRoot.0, d.outputRoot.0);
                        self.prove_output(now, HONEST, node, f, o, proof);
                    }
                    Action::Resolve { node } => {
                        self.resolve(now, HONEST, node, u64::MAX);
                    }
                }
                played += 1;
            }
        }
        played
    }

    /// One random adversary move: mostly plausible, sometimes malformed.
    fn adversary_move(&mut self, now: u64) {
        let who = ADVERSARIES[self.rng.below(ADVERSARIES.len() as u64) as usize];
        let c = self.rng.below(self.claims.len() as u64) as usize;
        let nodes = self.tree.nodes_of(self.claims[c].id).to_vec();
        let node = nodes[self.rng.below(nodes.len() as u64) as usize];
        let value = if self.rng.chance(4) { COUNTER_BOND - 1 } else { COUNTER_BOND };
        match self.rng.below(10) {
            0..=4 => {
                let Ok(mut at) = self.tree.dissection_of(node).cloned() else { return };
                let parts = at.parts();
                let part = if self.rng.chance(5) { parts as u8 } else { self.rng.below(parts) as u8 };
                let Some(seg) = at.part(part as u64, K as u64, DEPTH) else {
                    // An invalid part: any roots.
                    let roots = vec![word(&mut self.rng); K as usize];
                    return self.counter(now, who, node, &at, part, roots, value);
                };
                let n = part_count(seg.end - seg.start, K as u64).max(1);
                // Roots: the truth up to a random point and made up after it, or the truth
                // with its last root kept (NotDisagreeing), or a copy of the truth.
                let truth = &mut self.claims[c].truth;
                let mut roots: Vec<Hash32> = (1..=n)
                    .map(|i| truth.root(seg.level, seg.macro_step, gavel_bisection::game::point(seg.start, seg.end, n, i)).unwrap_or_default())
                    .collect();
                let from = self.rng.below(n + 1) as usize;
                for r in roots.iter_mut().skip(from) {
                    *r = word(&mut self.rng);
                }
                if self.rng.chance(8) {
                    *roots.last_mut().unwrap_or(&mut [0; 32]) = seg.end_root;
                }
                if self.rng.chance(6) {
                    roots.pop();
                }
                if self.rng.chance(5) {
                    let i = self.rng.below(at.roots.len() as u64) as usize;
                    at.roots[i][31] ^= 1;
                }
                self.counter(now, who, node, &at, part, roots, value);
            }
            5..=6 => {
                let Ok(at) = self.tree.dissection_of(node).cloned() else { return };
                let part = self.rng.below(at.parts() + 1) as u8;
                let proof = match (at.part(part as u64, K as u64, DEPTH), self.rng.below(3)) {
                    (Some(seg), 0 | 1) if seg.level != LEVEL_MACRO => {
                        // The true state at the part's start (refutes a false transition, else
                        // TransitionHolds or a proof that does not open the start root).
                        let row = &self.claims[c].truth.rows[seg.macro_step as usize];
                        row[(seg.start as usize).min(row.len() - 1)].proof()
                    }
                    _ => {
                        let mut p = vec![0u8; 160];
                        p[..32].copy_from_slice(&word(&mut self.rng));
                        p
                    }
                };
                self.step(now, who, node, &at, part, proof);
            }
            7 => self.output_challenge(now, who, c, value),
            8 => {
                let d = self.claims[c].data.clone();
                let (f, o) = (d.finalStateRoot.0, d.outputRoot.0);
                let proof = if self.rng.chance(50) { self.claims[c].truth.last.proof() } else { vec![0xee; 160] };
                self.prove_output(now, who, node, f, o, proof);
            }
            _ => {
                let max = [0, 1, 2, 3, u64::MAX][self.rng.below(5) as usize];
                self.resolve(now, who, node, max);
            }
        }
    }
}

/// Seeds of the games in `spec/vectors/tree.json`.
pub const SEEDS: [u64; 4] = [0x7472_6565_0001, 0x7472_6565_0002, 0x7472_6565_0003, 0x7472_6565_0004];

/// `spec/vectors/tree.json`: one game per seed of [`SEEDS`].
pub fn games() -> Value {
    json!({ "count": SEEDS.len(), "games": SEEDS.iter().map(|&s| tree(s)).collect::<Vec<_>>() })
}

/// The tree vectors of one game (see the module documentation). `seed` picks the game.
pub fn tree(seed: u64) -> Value {
    let params = Params {
        k: K,
        max_level2_depth: MAX_DEPTH,
        clock_time: CLOCK,
        clock_extension: EXT,
        counter_bond: COUNTER_BOND,
        escrow: ESCROW,
        resolver_fee: RESOLVER_FEE,
    };
    let tree = ClaimTree::new(params).expect("valid parameters");
    let mut g = Game { tree, toy: Toy { max_instructions: MAX_INSTRUCTIONS }, calls: Calls::default(), claims: Vec::new(), rng: Rng(seed) };
    let mut now = T0;
    // Four claims: a true one by the honest party, a true one by an adversary, a false execution
    // and a false output; plus one with the wrong bond.
    let n = |g: &mut Game| 3 + g.rng.below(5);
    let len = n(&mut g);
    g.post_claim(now, HONEST, len, Lie::Truth, CLAIM_BOND);
    let len = n(&mut g);
    g.post_claim(now, 2, len, Lie::Truth, CLAIM_BOND);
    let len = n(&mut g);
    let from = 1 + g.rng.below(len);
    g.post_claim(now + 1, 3, len, Lie::CorruptFrom(from), CLAIM_BOND);
    let len = n(&mut g);
    g.post_claim(now + 1, 4, len, Lie::WrongOutput, CLAIM_BOND);
    g.post_claim(now + 2, 5, 4, Lie::Truth, CLAIM_BOND - 1);
    now += 2;
    // Play: the adversaries make random moves, the honest party answers within its time.
    let end = T0 + 4 * CLOCK;
    while now < end && g.claims.iter().any(|c| g.tree.status_of(c.id) == Status::Unresolved) {
        for _ in 0..1 + g.rng.below(4) {
            g.adversary_move(now);
        }
        g.honest_turn(now);
        now += match g.rng.below(10) {
            0..=5 => 1 + g.rng.below(EXT / 4),
            6..=8 => 1 + g.rng.below(EXT * 3),
            _ => 1 + g.rng.below(CLOCK),
        };
    }
    // Then everything is resolved, newest first, in batches of two counters.
    let sweep = g.claims.iter().map(|c| g.tree.max_resolution_time(c.data.macroStepCount, DEPTH) + T0 + 2).max().unwrap_or(now).max(now);
    for id in (1..=g.tree.node_count()).rev() {
        while g.tree.status_of(id) == Status::Unresolved {
            let done = g.resolve(sweep, 6, id, 2);
            if done || g.calls.ok.last() == Some(&false) {
                break;
            }
        }
    }
    let statuses: Vec<u8> = (1..=g.tree.node_count())
        .map(|id| match g.tree.status_of(id) {
            Status::Unresolved => 0,
            Status::Countered => 1,
            Status::Stood => 2,
        })
        .collect();
    let accounts: Vec<u64> = [HONEST].into_iter().chain(ADVERSARIES).chain([6, ESCROW]).collect();
    let credits: Vec<String> = accounts.iter().map(|&a| g.tree.credit(a).to_string()).collect();
    let c = &g.calls;
    json!({
        "format": "gavel.tree-vectors.v1",
        "seed": seed,
        "params": {
            "k": K, "maxLevel2Depth": MAX_DEPTH, "clockTime": CLOCK, "clockExtension": EXT,
            "counterBond": COUNTER_BOND.to_string(), "escrow": ESCROW, "resolverFee": RESOLVER_FEE.to_string(), "claimBond": CLAIM_BOND.to_string(),
            "challengeWindow": WINDOW, "maxInstructions": MAX_INSTRUCTIONS,
            "codeRoot": format!("0x{}", hex::encode(CODE_ROOT)), "modelRoot": format!("0x{}", hex::encode(MODEL_ROOT)),
        },
        "summary": { "calls": c.t.len(), "reverts": c.reverts, "nodes": g.tree.node_count() },
        "calls": {
            "t": c.t, "from": c.from, "toCourt": c.to_court, "value": c.value, "data": c.data, "ok": c.ok,
            "ret": c.ret, "anyRevert": c.any_revert, "node": c.node, "deadline": c.deadline,
        },
        "final": { "status": statuses, "accounts": accounts, "credit": credits },
    })
}
