//! The v2 claim-tree game on chain (`spec/game-v2.md`): a [`Mirror`] of the Court's and the
//! ClaimTree's state rebuilt from their events, and a [`Player`] that plays the honest strategy
//! (H1-H4, [`gavel_bisection::tree::Honest`]) on it with a party's own trace.
//!
//! The mirror replays every event through gavel's rule-for-rule model of the contracts
//! ([`gavel_bisection::tree::ClaimTree`]) at the event's block time and checks that the model
//! reaches the same node ids, deadlines and resolutions as the chain: each node a node sees is a
//! live Rust-versus-Solidity check, and a disagreement stops the mirror with an error naming the
//! node instead of playing on a wrong picture.
//!
//! Servers and watchtowers run the same player: it counters every false node of every claim it
//! has a trace for (whoever posted it), steps one-instruction parts, challenges false outputs,
//! proves true ones, and resolves what it has a stake in. A faulty party plays the same code with
//! its corrupted trace and loses.

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log, TransactionReceipt};
use alloy::sol_types::SolEvent;
use anyhow::{bail, Context, Result};
use gavel_bisection::game::{Dissection, TraceProvider};
use gavel_bisection::merkle::Hash32;
use gavel_bisection::tree::{self, Account, Action, ClaimTruth, Honest, HonestMove, NodeKind, Status, Verifier};
use serde::Serialize;

use crate::chain::{b256, Chain, Deployment, ESCROW};
use crate::contracts::{IClaimTree, ICourt};
use crate::fast_trace::FastTrace;
use crate::trace::RunTrace;

/// Counters a `resolveNode` call examines at most (a node with more is resolved over several
/// calls; each call stays far below a block).
pub const RESOLVE_BATCH: u64 = 128;

/// How many blocks one `eth_getLogs` call spans at most (public RPCs cap the range).
const LOG_RANGE: u64 = 5_000;

impl ClaimTruth for FastTrace {
    fn output(&mut self, n: u64) -> Result<Option<(Hash32, Vec<u8>)>> {
        self.output_with_proof(n)
    }
}

impl ClaimTruth for RunTrace {
    fn output(&mut self, n: u64) -> Result<Option<(Hash32, Vec<u8>)>> {
        self.output_with_proof(n)
    }
}

/// An on-chain request (`Court.ComputeRequested`).
#[derive(Clone, Debug, Serialize)]
pub struct Request {
    /// Request id.
    pub id: u64,
    /// Who asked (and is called back).
    pub consumer: Address,
    /// Model id.
    pub model_id: u64,
    /// The input's blob id.
    pub input_root: Hash32,
    /// Wei paid to the first final claim.
    pub payment: u128,
    /// Gas of the consumer's callback.
    pub callback_gas: u32,
    /// Last second at which it takes claims.
    pub expiry: u64,
    /// Inline input bytes (may be empty).
    #[serde(skip)]
    pub input: Vec<u8>,
    /// The claim that was paid, once fulfilled.
    pub fulfilled_by: Option<u64>,
    /// Whether the consumer took its payment back.
    pub cancelled: bool,
}

/// A claim as the Court took it.
#[derive(Clone, Debug)]
pub struct PostedClaim {
    /// Who posted it (its bond comes back to it if the claim stands).
    pub claimant: Address,
    /// Its fields.
    pub data: ICourt::ClaimData,
    /// Block time of its posting.
    pub posted_at: u64,
}

/// Replays step and output-proof events: the chain has already checked the proofs, so the
/// mirror takes the results from the events.
struct Replayed {
    after: Hash32,
}

impl Verifier for Replayed {
    fn execute_step(&self, _: u64, _: Hash32, _: &[u8]) -> Option<Hash32> {
        Some(self.after)
    }
    fn verify_output(&self, _: Hash32, _: Hash32, _: &[u8]) -> bool {
        true
    }
}

/// The Court's and the ClaimTree's state, rebuilt from their events (see the module docs).
pub struct Mirror {
    /// The tree, as gavel's model of the contract replays it.
    pub model: tree::ClaimTree,
    court: Address,
    tree: Address,
    accounts: HashMap<Address, Account>,
    /// `accounts` the other way round.
    addresses: HashMap<Account, Address>,
    claim_bonds: HashMap<u64, u128>,
    claims: BTreeMap<u64, PostedClaim>,
    opened: Option<(IClaimTree::ClaimOpened, u64)>,
    requests: BTreeMap<u64, Request>,
    next_block: u64,
    broken: Option<String>,
    /// Where each node, step and resolution came from (the dispute explorer's picture).
    pub trail: Trail,
}

/// The transaction and block of an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// Transaction hash (zero if the node left it out).
    pub tx: B256,
    /// Block number.
    pub block: u64,
}

/// The one instruction the chain executed in a tree (`ClaimTree.Stepped`).
#[derive(Clone, Debug)]
pub struct StepRecord {
    /// The part of the node that was stepped.
    pub part: u8,
    /// Who sent the proof.
    pub stepper: Address,
    /// Macro-step and instruction index of the step.
    pub macro_step: u64,
    /// Instruction index within the macro-step.
    pub instruction: u64,
    /// The agreed root before the step.
    pub root_before: Hash32,
    /// The root the countered node claimed after it.
    pub claimed_after: Hash32,
    /// The root the chain computed.
    pub root_after: Hash32,
    /// Its transaction.
    pub origin: Origin,
}

/// What the events said beyond the tree's state: origins of nodes, steps, who got each reward.
#[derive(Clone, Debug, Default)]
pub struct Trail {
    /// Node id (claims included) → the transaction that posted it.
    pub posted: HashMap<u64, Origin>,
    /// Stepped node → its step.
    pub steps: BTreeMap<u64, StepRecord>,
    /// Resolved node → who received the reward of its bond (its `counterer`).
    pub resolved: HashMap<u64, Address>,
}

impl Mirror {
    /// An empty mirror of deployment `d` (it reads events from `d.from_block` on).
    pub fn new(d: &Deployment) -> Result<Mirror> {
        anyhow::ensure!(d.court != Address::ZERO && d.tree != Address::ZERO, "the deployment has no v2 Court; redeploy it with this gavel");
        let mut accounts = HashMap::new();
        accounts.insert(ESCROW, 1);
        let params = tree::Params {
            k: d.params.k,
            max_level2_depth: d.params.max_level2_depth,
            clock_time: d.params.clock_time,
            clock_extension: d.params.clock_extension,
            counter_bond: d.params.counter_bond,
            escrow: 1,
            resolver_fee: d.params.resolver_fee,
        };
        let model = tree::ClaimTree::new(params).map_err(|e| anyhow::anyhow!("the deployment's game parameters: {e}"))?;
        Ok(Mirror {
            model,
            court: d.court,
            tree: d.tree,
            addresses: accounts.iter().map(|(a, n)| (*n, *a)).collect(),
            accounts,
            claim_bonds: HashMap::new(),
            claims: BTreeMap::new(),
            opened: None,
            requests: BTreeMap::new(),
            next_block: d.from_block,
            broken: None,
            trail: Trail::default(),
        })
    }

    /// The model's account number of `a` (assigned on first sight).
    pub fn account(&mut self, a: Address) -> Account {
        let next = self.accounts.len() as Account + 1;
        let n = *self.accounts.entry(a).or_insert(next);
        self.addresses.entry(n).or_insert(a);
        n
    }

    /// The model's account number of `a`, if it has acted.
    pub fn account_of(&self, a: Address) -> Option<Account> {
        self.accounts.get(&a).copied()
    }

    /// The address behind the model's account number `a`.
    pub fn address_of(&self, a: Account) -> Option<Address> {
        self.addresses.get(&a).copied()
    }

    /// Whether account `me` posted a counter or a step in `claim`'s tree (then it has made its
    /// first move there, and has a stake to resolve).
    pub fn has_moved(&self, claim: u64, me: Account) -> bool {
        self.model.nodes_of(claim).iter().any(|&n| self.model.node(n).is_some_and(|x| x.poster == me && x.depth > 0) || self.model.stepper_of(n) == Some(me))
    }

    /// The bond a claim on model `model_id` posts (its registration's), wei.
    pub fn claim_bond(&self, model_id: u64) -> u128 {
        self.claim_bonds.get(&model_id).copied().unwrap_or(self.model.params.counter_bond)
    }

    /// The first block whose events are not replayed yet.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// Every claim posted so far, by id.
    pub fn claims(&self) -> &BTreeMap<u64, PostedClaim> {
        &self.claims
    }

    /// A claim.
    pub fn claim(&self, id: u64) -> Option<&PostedClaim> {
        self.claims.get(&id)
    }

    /// Every request made so far, by id.
    pub fn requests(&self) -> &BTreeMap<u64, Request> {
        &self.requests
    }

    /// The latest deadline of any node in the trees of `claims`: one second later every node of
    /// them can be resolved.
    pub fn last_deadline(&self, claims: &[u64]) -> u64 {
        claims.iter().flat_map(|&c| self.model.nodes_of(c)).filter_map(|&id| self.model.node(id).map(|x| x.deadline)).max().unwrap_or(0)
    }

    /// A claim's status: its root node's (`Stood` = final, `Countered` = refuted).
    pub fn status(&self, claim: u64) -> Status {
        self.model.status_of(claim)
    }

    /// Reads the events since the last call and replays them. Returns how many were new.
    pub async fn sync(&mut self, chain: &Chain) -> Result<usize> {
        if let Some(why) = &self.broken {
            bail!("the claim-tree mirror stopped: {why}");
        }
        let head = chain.provider.get_block_number().await.context("eth_blockNumber")?;
        crate::metrics::set("gavel_mirror_lag_blocks", &[], head.saturating_sub(self.next_block.saturating_sub(1)) as f64);
        let mut seen = 0;
        while self.next_block <= head {
            let to = (self.next_block + LOG_RANGE - 1).min(head);
            let filter = Filter::new().address(vec![self.court, self.tree]).from_block(self.next_block).to_block(to);
            let logs = chain.provider.get_logs(&filter).await.context("reading the Court's and the tree's events")?;
            // Block times first (the only network reads), so a failure leaves nothing half-applied.
            let mut times = HashMap::new();
            for log in &logs {
                let n = log.block_number.context("a log without a block number")?;
                if let std::collections::hash_map::Entry::Vacant(e) = times.entry(n) {
                    let t = match log.block_timestamp {
                        Some(t) => t,
                        None => chain.provider.get_block_by_number(n.into()).await?.with_context(|| format!("block {n} is missing"))?.header.timestamp,
                    };
                    e.insert(t);
                }
            }
            for log in &logs {
                let t = times[&log.block_number.unwrap_or_default()];
                if let Err(e) = self.apply(log, t) {
                    let why = format!("{e:#}");
                    self.broken = Some(why.clone());
                    bail!("the claim-tree mirror stopped: {why}");
                }
                seen += 1;
            }
            self.next_block = to + 1;
        }
        Ok(seen)
    }

    /// Replays one event at block time `t`.
    fn apply(&mut self, log: &Log, t: u64) -> Result<()> {
        let Some(topic) = log.topic0().copied() else { return Ok(()) };
        let origin = Origin { tx: log.transaction_hash.unwrap_or_default(), block: log.block_number.unwrap_or_default() };
        let from_court = log.address() == self.court;
        let bond = self.model.params.counter_bond;
        let fail = |what: &str, e: tree::TreeError| anyhow::anyhow!("{what}: the chain accepted it, gavel's model of the tree says {e}");
        if from_court {
            if topic == ICourt::ModelRegistered::SIGNATURE_HASH {
                let e = log.log_decode::<ICourt::ModelRegistered>()?.inner.data;
                self.claim_bonds.insert(e.modelId, e.claimBond.to::<u128>());
            } else if topic == ICourt::ComputeRequested::SIGNATURE_HASH {
                let e = log.log_decode::<ICourt::ComputeRequested>()?.inner.data;
                self.requests.insert(
                    e.requestId,
                    Request {
                        id: e.requestId,
                        consumer: e.consumer,
                        model_id: e.modelId,
                        input_root: e.inputRoot.0,
                        payment: e.payment.to::<u128>(),
                        callback_gas: e.callbackGasLimit,
                        expiry: e.expiry.to::<u64>(),
                        input: e.input.to_vec(),
                        fulfilled_by: None,
                        cancelled: false,
                    },
                );
            } else if topic == ICourt::ClaimPosted::SIGNATURE_HASH {
                let e = log.log_decode::<ICourt::ClaimPosted>()?.inner.data;
                let (o, opened_at) = self.opened.take().context("ClaimPosted without the tree's ClaimOpened before it")?;
                anyhow::ensure!(o.rootId == e.claimId && opened_at == t, "claim {}: ClaimOpened and ClaimPosted do not match", e.claimId);
                let claimant = self.account(e.claimant);
                let claim_bond = self.claim_bonds.get(&e.data.modelId).copied().unwrap_or(bond);
                let window = o.deadline.to::<u64>() - t;
                let id = self
                    .model
                    .open_claim(
                        claimant,
                        window,
                        e.data.macroStepCount,
                        e.data.level2Depth,
                        o.initialRoot.0,
                        e.data.finalStateRoot.0,
                        e.data.outputRoot.0,
                        claim_bond,
                        t,
                    )
                    .map_err(|err| fail(&format!("claim {}", e.claimId), err))?;
                anyhow::ensure!(id == e.claimId, "claim {}: gavel's model numbers it {id}", e.claimId);
                self.trail.posted.insert(id, origin);
                self.claims.insert(id, PostedClaim { claimant: e.claimant, data: e.data, posted_at: t });
            } else if topic == ICourt::RequestFulfilled::SIGNATURE_HASH {
                let e = log.log_decode::<ICourt::RequestFulfilled>()?.inner.data;
                if let Some(r) = self.requests.get_mut(&e.requestId) {
                    r.fulfilled_by = Some(e.claimId);
                }
            } else if topic == ICourt::RequestCancelled::SIGNATURE_HASH {
                let e = log.log_decode::<ICourt::RequestCancelled>()?.inner.data;
                if let Some(r) = self.requests.get_mut(&e.requestId) {
                    r.cancelled = true;
                }
            }
            return Ok(());
        }
        if topic == IClaimTree::ClaimOpened::SIGNATURE_HASH {
            let e = log.log_decode::<IClaimTree::ClaimOpened>()?.inner.data;
            self.opened = Some((e, t));
        } else if topic == IClaimTree::Countered::SIGNATURE_HASH {
            let e = log.log_decode::<IClaimTree::Countered>()?.inner.data;
            let poster = self.account(e.poster);
            let at = self.model.dissection_of(e.parentId).map_err(|err| fail(&format!("node {}", e.id), err))?.clone();
            let roots: Vec<Hash32> = e.roots.iter().map(|r| r.0).collect();
            let id = self.model.counter(poster, e.parentId, &at, e.part, &roots, bond, t).map_err(|err| fail(&format!("node {}", e.id), err))?;
            self.check_node(e.id, id, e.deadline.to::<u64>())?;
            self.trail.posted.insert(id, origin);
        } else if topic == IClaimTree::OutputChallenged::SIGNATURE_HASH {
            let e = log.log_decode::<IClaimTree::OutputChallenged>()?.inner.data;
            let poster = self.account(e.poster);
            let id = self
                .model
                .open_output_challenge(e.rootId, poster, e.finalRoot.0, e.outputRoot.0, bond, t)
                .map_err(|err| fail(&format!("output challenge {}", e.id), err))?;
            self.check_node(e.id, id, e.deadline.to::<u64>())?;
            self.trail.posted.insert(id, origin);
        } else if topic == IClaimTree::Stepped::SIGNATURE_HASH {
            let e = log.log_decode::<IClaimTree::Stepped>()?.inner.data;
            let stepper = self.account(e.stepper);
            let at = self.model.dissection_of(e.nodeId).map_err(|err| fail(&format!("step on {}", e.nodeId), err))?.clone();
            self.model
                .step(stepper, e.nodeId, &at, e.part, &[], &Replayed { after: e.rootAfter.0 }, t)
                .map_err(|err| fail(&format!("step on node {}", e.nodeId), err))?;
            self.trail.steps.insert(
                e.nodeId,
                StepRecord {
                    part: e.part,
                    stepper: e.stepper,
                    macro_step: e.macroStep,
                    instruction: e.instruction,
                    root_before: e.rootBefore.0,
                    claimed_after: e.claimedAfter.0,
                    root_after: e.rootAfter.0,
                    origin,
                },
            );
        } else if topic == IClaimTree::OutputProven::SIGNATURE_HASH {
            let e = log.log_decode::<IClaimTree::OutputProven>()?.inner.data;
            let prover = self.account(e.prover);
            let Some(NodeKind::Output { final_root, output_root }) = self.model.node(e.id).map(|x| x.kind.clone()) else {
                bail!("OutputProven on node {}, which is no output challenge", e.id);
            };
            self.model
                .prove_output(prover, e.id, final_root, output_root, &[], &Replayed { after: [0; 32] }, t)
                .map_err(|err| fail(&format!("output proof of {}", e.id), err))?;
        } else if topic == IClaimTree::NodeResolved::SIGNATURE_HASH {
            let e = log.log_decode::<IClaimTree::NodeResolved>()?.inner.data;
            anyhow::ensure!(
                e.fee == U256::from(self.model.params.resolver_fee),
                "node {}: resolver fee {} on chain, {} in the deployment",
                e.id,
                e.fee,
                self.model.params.resolver_fee
            );
            let resolver = self.account(e.resolver);
            // The chain may have walked the counters over several calls; the model walks them in
            // one and must reach the same outcome.
            let done = self.model.resolve_node(resolver, e.id, usize::MAX, t).map_err(|err| fail(&format!("resolution of node {}", e.id), err))?;
            let status = self.model.status_of(e.id);
            let want = match e.status {
                1 => Status::Countered,
                2 => Status::Stood,
                s => bail!("node {}: unknown status {s}", e.id),
            };
            anyhow::ensure!(done && status == want, "node {}: resolved {want:?} on chain, {status:?} in gavel's model", e.id);
            self.trail.resolved.insert(e.id, e.counterer);
        }
        Ok(())
    }

    fn check_node(&self, chain_id: u64, model_id: u64, chain_deadline: u64) -> Result<()> {
        anyhow::ensure!(model_id == chain_id, "node {chain_id}: gavel's model numbers it {model_id}");
        let model_deadline = self.model.node(model_id).map_or(0, |x| x.deadline);
        anyhow::ensure!(
            model_deadline == chain_deadline,
            "node {chain_id}: deadline {chain_deadline} on chain, {model_deadline} in gavel's model (spec/game-v2.md, \"Clocks\")"
        );
        Ok(())
    }

    /// Whether the tree of `claim` is fully decided as far as account `me` is concerned: its
    /// root, every node `me` posted or stepped, and every node `me` countered (its reward) are
    /// resolved.
    pub fn settled_for(&self, claim: u64, me: Account) -> bool {
        if self.model.status_of(claim) == Status::Unresolved {
            return false;
        }
        let nodes = self.model.nodes_of(claim);
        let countered: std::collections::HashSet<u64> =
            nodes.iter().filter_map(|&id| self.model.node(id).filter(|x| x.poster == me && x.depth > 0).map(|x| x.parent)).collect();
        nodes.iter().all(|&id| {
            let Some(x) = self.model.node(id) else { return true };
            let mine = x.poster == me || self.model.stepper_of(id) == Some(me) || countered.contains(&id);
            !mine || self.model.status_of(id) != Status::Unresolved
        })
    }
}

/// One transaction a player sent.
#[derive(Clone, Debug, Serialize)]
pub struct TreeMove {
    /// `counter`, `step`, `output_challenge`, `prove_output` or `resolve`.
    pub kind: &'static str,
    /// The node it acts on (the parent for a counter, the claim for an output challenge).
    pub node: u64,
    /// The new node, for a counter or an output challenge.
    pub created: Option<u64>,
    /// The part countered or stepped.
    pub part: Option<u8>,
    /// The segment of that part: level, macro-step, start, end.
    pub segment: Option<(u8, u64, u64, u64)>,
    /// Gas used.
    pub gas: u64,
    /// Transaction hash.
    pub tx: String,
    /// Block.
    pub block: u64,
}

/// A party playing the honest strategy with its own trace (see the module docs).
pub struct Player {
    /// The strategy (its verdicts are cached per node: a node's roots never change).
    pub honest: Honest,
    /// The signer's address.
    pub address: Address,
}

impl Player {
    /// The player for `chain`'s signer. `stake_only`: resolve only what pays it back (a
    /// watchtower); otherwise also the claims it has no stake in.
    pub fn new(mirror: &mut Mirror, address: Address, stake_only: bool) -> Player {
        let me = mirror.account(address);
        let honest = if stake_only { Honest::stake_only(me) } else { Honest::new(me) };
        Player { honest, address }
    }

    /// The moves the honest strategy requires on `claim` now, by due time.
    pub fn moves<P>(&mut self, mirror: &Mirror, claim: u64, truth: &mut P, now: u64) -> Result<Vec<HonestMove>>
    where
        P: ClaimTruth + TraceProvider<Error = anyhow::Error>,
    {
        let mut moves = tokio::task::block_in_place(|| self.honest.moves(&mirror.model, claim, truth, now))?;
        moves.sort_by_key(|m| m.due);
        Ok(moves)
    }

    /// Sends one move. Someone else may have made the same move first (the node exists, the
    /// part is stepped, the node resolved): the revert is returned as an error and the next
    /// sync shows the tree as it is.
    pub async fn send(&self, chain: &Chain, d: &Deployment, mirror: &Mirror, mv: &Action) -> Result<TreeMove> {
        let t = IClaimTree::new(d.tree, &chain.provider);
        let bond = U256::from(d.params.counter_bond);
        let k = u64::from(d.params.k);
        let record = |node, created, part: Option<u8>, r: &TransactionReceipt| -> Result<TreeMove> {
            // The segment of the part countered or stepped, descended to level 2 if needed.
            let segment = match part {
                Some(p) => {
                    let depth = mirror.model.node(node).map_or(0, |x| x.level2_depth);
                    mirror.model.dissection_of(node).ok().and_then(|at| at.part(u64::from(p), k, depth)).map(|s| (s.level, s.macro_step, s.start, s.end))
                }
                None => None,
            };
            Ok(TreeMove {
                kind: action_name(mv),
                node,
                created,
                part,
                segment,
                gas: r.gas_used,
                tx: r.transaction_hash.to_string(),
                block: r.block_number.unwrap_or(0),
            })
        };
        let dissection = |node: u64| mirror.model.dissection_of(node).map_err(|e| anyhow::anyhow!("{e}"));
        match mv {
            Action::Counter { parent, part, roots } => {
                let at = dissection(*parent)?;
                let call = t.counter(*parent, position(at), roots_arg(&at.roots), *part, roots_arg(roots)).value(bond);
                let r = chain.send(call.into_transaction_request(), &format!("countering node {parent} at part {part}")).await?;
                let created = crate::chain::event_in::<IClaimTree::Countered>(&r).map(|e| e.id);
                record(*parent, created, Some(*part), &r)
            }
            Action::Step { node, part, proof } => {
                let at = dissection(*node)?;
                let call = t.step(*node, position(at), roots_arg(&at.roots), *part, Bytes::from(proof.clone()));
                let r = chain.send(call.into_transaction_request(), &format!("stepping node {node} at part {part}")).await?;
                record(*node, None, Some(*part), &r)
            }
            Action::OutputChallenge { claim } => {
                let c = mirror.claim(*claim).with_context(|| format!("claim {claim} is not in the mirror"))?;
                let court = ICourt::new(d.court, &chain.provider);
                let call = court.challengeOutput(*claim, c.data.clone()).value(bond);
                let r = chain.send(call.into_transaction_request(), &format!("challenging the output of claim {claim}")).await?;
                let created = crate::chain::event_in::<IClaimTree::OutputChallenged>(&r).map(|e| e.id);
                record(*claim, created, None, &r)
            }
            Action::ProveOutput { node, proof } => {
                let Some(NodeKind::Output { final_root, output_root }) = mirror.model.node(*node).map(|x| &x.kind) else {
                    bail!("node {node} is no output challenge");
                };
                let call = t.proveOutput(*node, b256(final_root), b256(output_root), Bytes::from(proof.clone()));
                let r = chain.send(call.into_transaction_request(), &format!("proving the output against node {node}")).await?;
                record(*node, None, None, &r)
            }
            Action::Resolve { node } => {
                let call = t.resolveNode(*node, U256::from(RESOLVE_BATCH));
                let r = chain.send(call.into_transaction_request(), &format!("resolving node {node}")).await?;
                record(*node, None, None, &r)
            }
        }
    }

    /// Plays every move the strategy requires on `claim` now; returns the moves that landed.
    /// A move that fails (a race lost to an identical move, a deadline passed in between) is
    /// logged and skipped: the strategy asks again on the next call if it is still needed.
    pub async fn play<P>(&mut self, chain: &Chain, d: &Deployment, mirror: &Mirror, claim: u64, truth: &mut P, now: u64) -> Result<Vec<TreeMove>>
    where
        P: ClaimTruth + TraceProvider<Error = anyhow::Error>,
    {
        let mut done = Vec::new();
        for mv in self.moves(mirror, claim, truth, now)? {
            match self.send(chain, d, mirror, &mv.action).await {
                Ok(m) => done.push(m),
                Err(e) => tracing::info!(claim, action = ?action_name(&mv.action), error = %format!("{e:#}"), "move not made"),
            }
        }
        Ok(done)
    }
}

/// One turn of a node (`gavel watch`, `gavel serve`) on `claim`'s tree: plays every move the
/// strategy requires, says each as a `move` event, and brings the mirror up to date with them, so
/// the next claim is looked at with our own moves in the tree. Returns how many landed.
#[allow(clippy::too_many_arguments)]
pub async fn play_turn<P>(player: &mut Player, chain: &Chain, d: &Deployment, mirror: &mut Mirror, claim: u64, truth: &mut P, now: u64) -> Result<usize>
where
    P: ClaimTruth + TraceProvider<Error = anyhow::Error>,
{
    let moved_before = mirror.has_moved(claim, player.honest.me);
    let moves = player.play(chain, d, mirror, claim, truth, now).await?;
    if !moved_before && moves.iter().any(|m| m.kind != "resolve") {
        if let Some(c) = mirror.claim(claim) {
            crate::metrics::observe("gavel_first_move_seconds", now.saturating_sub(c.posted_at) as f64);
        }
    }
    for m in &moves {
        crate::emit(
            serde_json::json!({ "event": "move", "claim": claim, "kind": m.kind, "node": m.node, "created": m.created, "part": m.part, "segment": m.segment, "gas": m.gas }),
        );
    }
    if !moves.is_empty() {
        mirror.sync(chain).await?;
    }
    Ok(moves.len())
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Counter { .. } => "counter",
        Action::Step { .. } => "step",
        Action::OutputChallenge { .. } => "output_challenge",
        Action::ProveOutput { .. } => "prove_output",
        Action::Resolve { .. } => "resolve",
    }
}

/// A dissection's position as the tree restates it.
pub fn position(d: &Dissection) -> IClaimTree::Position {
    IClaimTree::Position { level: d.level, macroStep: d.macro_step, start: d.start, end: d.end }
}

fn roots_arg(roots: &[Hash32]) -> Vec<B256> {
    roots.iter().map(b256).collect()
}

/// What the tree and the Court owe `chain`'s account now (credited, not yet withdrawn).
pub async fn credit(chain: &Chain, d: &Deployment) -> Result<U256> {
    let t = IClaimTree::new(d.tree, &chain.provider).credit(chain.address).call().await?;
    let c = ICourt::new(d.court, &chain.provider).credit(chain.address).call().await?;
    Ok(t + c)
}

/// Withdraws everything the tree and the Court owe `chain`'s account; returns the wei.
pub async fn withdraw(chain: &Chain, d: &Deployment) -> Result<U256> {
    let mut total = U256::ZERO;
    let t = IClaimTree::new(d.tree, &chain.provider);
    let owed = t.credit(chain.address).call().await?;
    if owed > U256::ZERO {
        chain.send(t.withdraw().into_transaction_request(), "withdrawing from the claim tree").await?;
        total += owed;
    }
    let court = ICourt::new(d.court, &chain.provider);
    let owed = court.credit(chain.address).call().await?;
    if owed > U256::ZERO {
        chain.send(court.withdraw().into_transaction_request(), "withdrawing from the court").await?;
        total += owed;
    }
    crate::metrics::add("gavel_withdrawn_wei_total", &[], f64::from(total));
    Ok(total)
}

/// Posts a claim on the Court with its bond; a claim answering a request is committed first
/// (`commitClaim` in one block, `postClaim` in a later one), so a copy of it from the mempool is
/// always behind it. Returns the claim id and the posting receipt.
pub async fn post_claim(chain: &Chain, d: &Deployment, data: &ICourt::ClaimData) -> Result<(u64, TransactionReceipt)> {
    let model = d.model(data.modelId).with_context(|| format!("model {} is not in the deployment", data.modelId))?;
    let court = ICourt::new(d.court, &chain.provider);
    let salt = B256::from(salt(chain.address));
    if data.requestId != 0 {
        use alloy::sol_types::SolValue;
        let commitment = alloy::primitives::keccak256((chain.address, data.clone(), salt).abi_encode());
        // Once its receipt is in, the commitment is mined: the reveal lands in a later block.
        chain.send(court.commitClaim(commitment).into_transaction_request(), "committing the claim").await?;
    }
    let call = court.postClaim(data.clone(), salt).value(U256::from(model.claim_bond));
    let receipt = chain.send(call.into_transaction_request(), "posting the claim").await?;
    let id = crate::chain::event_in::<ICourt::ClaimPosted>(&receipt).map(|e| e.claimId).context("no ClaimPosted event")?;
    Ok((id, receipt))
}

/// Whether claim `claim` on a request can be paid as far as the reveal window goes: no claim
/// committed earlier can still be revealed ahead of it (`block > commitBlock + revealBlocks`,
/// `Court.fulfill`'s `RevealWindowOpen`). Claims without a request are always past it.
pub async fn reveal_window_closed(chain: &Chain, d: &Deployment, claim: u64) -> Result<bool> {
    let q = ICourt::new(d.court, &chain.provider).queue(claim).call().await.context("reading the claim's queue entry")?;
    let block = chain.provider.get_block_number().await?;
    Ok(q.commitBlock == 0 || block > q.commitBlock + d.params.reveal_blocks)
}

/// Waits (at most `limit`) until [`reveal_window_closed`] for `claim`; blocks keep coming on a
/// live chain and on the devnet (one a second when idle).
pub async fn wait_reveal_window(chain: &Chain, d: &Deployment, claim: u64, limit: std::time::Duration) -> Result<()> {
    let started = std::time::Instant::now();
    while !reveal_window_closed(chain, d, claim).await? {
        anyhow::ensure!(started.elapsed() < limit, "claim {claim}: the reveal window is still open after {limit:?} (are blocks being mined?)");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Ok(())
}

/// A fresh salt for a claim commitment (it only has to differ between a signer's claims).
fn salt(signer: Address) -> [u8; 32] {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut seed = signer.to_vec();
    seed.extend_from_slice(&now.as_nanos().to_be_bytes());
    alloy::primitives::keccak256(&seed).0
}
