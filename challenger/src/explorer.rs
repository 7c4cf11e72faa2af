//! The dispute explorer's picture of a deployment: every claim, and for each contested claim its
//! bisection round by round (segment, side, poster, gas), the one instruction the chain executed
//! (opcode and pc read from the step's proof; the ONNX node from a party's run when it has one)
//! and where every bond went. Built from a [`Mirror`] of the chain's events, so a watchtower, a
//! model server and `gavel devnet` draw the same picture; served as JSON at `/api/explorer` and
//! drawn by the page at `/` (`explorer.html`, no build step). The schema is in
//! `docs/ops/README.md`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use anyhow::Result;
use gavel_bisection::state::hex32;
use gavel_bisection::tree::{NodeKind, Status};
use gavel_runner::prove::Label;
use serde_json::{json, Value};

use crate::chain::{Chain, Deployment};
use crate::contracts::IClaimTree;
use crate::player::Mirror;

/// The latest picture, shared with the HTTP server.
pub type Shared = Arc<RwLock<Value>>;

/// How long one refresh may spend fetching receipts and transactions (the rest come next time):
/// a node refreshes between its moves, and a flood of counters must not slow those down.
const FETCH_BUDGET: std::time::Duration = std::time::Duration::from_millis(250);

/// Builds the picture (see the module docs).
pub struct Explorer {
    role: &'static str,
    address: Option<Address>,
    chain_id: u64,
    court: Address,
    tree: Address,
    models: HashMap<u64, String>,
    gas: HashMap<B256, u64>,
    instructions: HashMap<B256, Option<(u32, u16)>>,
    labels: HashMap<u64, Vec<Label>>,
    verdicts: HashMap<u64, String>,
    shared: Shared,
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Unresolved => "open",
        Status::Stood => "final",
        Status::Countered => "refuted",
    }
}

fn node_status(s: Status) -> &'static str {
    match s {
        Status::Unresolved => "open",
        Status::Stood => "stood",
        Status::Countered => "countered",
    }
}

fn tx_hex(tx: B256) -> Value {
    if tx == B256::ZERO {
        Value::Null
    } else {
        json!(tx.to_string())
    }
}

impl Explorer {
    /// An explorer of deployment `d` for a node of `role` signing as `address` (none for
    /// `gavel devnet` and the read-only commands).
    pub fn new(role: &'static str, d: &Deployment, address: Option<Address>) -> Explorer {
        let empty = json!({ "source": { "role": role, "chain_id": d.chain_id }, "claims": [], "disputes": [] });
        Explorer {
            role,
            address,
            chain_id: d.chain_id,
            court: d.court,
            tree: d.tree,
            models: d.models.iter().map(|m| (m.id, m.name.clone())).collect(),
            gas: HashMap::new(),
            instructions: HashMap::new(),
            labels: HashMap::new(),
            verdicts: HashMap::new(),
            shared: Arc::new(RwLock::new(empty)),
        }
    }

    /// The picture the HTTP server reads.
    pub fn shared(&self) -> Shared {
        self.shared.clone()
    }

    /// What each macro-step of `claim`'s run was (from this party's run of it).
    pub fn set_labels(&mut self, claim: u64, labels: &[Label]) {
        if !labels.is_empty() {
            self.labels.entry(claim).or_insert_with(|| labels.to_vec());
        }
    }

    /// Whether the ONNX nodes of `claim`'s run are known.
    pub fn has_labels(&self, claim: u64) -> bool {
        self.labels.contains_key(&claim)
    }

    /// This node's verdict on `claim`.
    pub fn set_verdict(&mut self, claim: u64, verdict: &str) {
        self.verdicts.insert(claim, verdict.to_string());
    }

    /// Claims whose tree reached a step: the ones whose ONNX node a picture wants.
    pub fn stepped_claims(mirror: &Mirror) -> Vec<u64> {
        let mut v: Vec<u64> = mirror.trail.steps.keys().filter_map(|n| mirror.model.node(*n).map(|x| x.root)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Fetches what the events do not carry (gas, the executed instruction) for new moves, then
    /// rebuilds the picture and publishes it.
    pub async fn refresh(&mut self, mirror: &Mirror, chain: &Chain, head: u64, now: u64) -> Result<()> {
        let mut wanted: Vec<B256> = Vec::new();
        for (id, o) in &mirror.trail.posted {
            if mirror.model.node(*id).is_some_and(|x| x.depth > 0) && !self.gas.contains_key(&o.tx) {
                wanted.push(o.tx);
            }
        }
        for s in mirror.trail.steps.values() {
            if !self.gas.contains_key(&s.origin.tx) {
                wanted.push(s.origin.tx);
            }
        }
        wanted.retain(|t| *t != B256::ZERO);
        wanted.sort();
        wanted.dedup();
        let started = std::time::Instant::now();
        for tx in wanted {
            if started.elapsed() > FETCH_BUDGET {
                break;
            }
            if let Some(r) = chain.provider.get_transaction_receipt(tx).await? {
                self.gas.insert(tx, r.gas_used);
            }
        }
        for s in mirror.trail.steps.values() {
            let tx = s.origin.tx;
            if tx == B256::ZERO || self.instructions.contains_key(&tx) || started.elapsed() > FETCH_BUDGET {
                continue;
            }
            let Some(t) = chain.provider.get_transaction_by_hash(tx).await? else { continue };
            use alloy::consensus::Transaction as _;
            // A step sent through another contract is not a direct call: the opcode stays unknown.
            let ins = IClaimTree::stepCall::abi_decode(t.input()).ok().and_then(|c| gavel_bisection::verify::instruction_of(&c.proof));
            self.instructions.insert(tx, ins);
        }
        let picture = self.picture(mirror, head, now);
        *self.shared.write().unwrap_or_else(|e| e.into_inner()) = picture;
        Ok(())
    }

    fn addr(mirror: &Mirror, account: u64) -> Value {
        mirror.address_of(account).map_or(Value::Null, |a| json!(a.to_string()))
    }

    /// The picture (see the module docs).
    pub fn picture(&self, mirror: &Mirror, head: u64, now: u64) -> Value {
        let model = &mirror.model;
        let mut claims = Vec::new();
        let mut disputes = Vec::new();
        for (&id, c) in mirror.claims() {
            let nodes = model.nodes_of(id);
            let status = status_name(model.status_of(id));
            claims.push(json!({
                "id": id, "model_id": c.data.modelId, "model": self.models.get(&c.data.modelId),
                "claimant": c.claimant.to_string(), "request": c.data.requestId,
                "posted_at": c.posted_at, "deadline": model.node(id).map(|x| x.deadline),
                "status": status, "verdict": self.verdicts.get(&id),
                "macro_steps": c.data.macroStepCount, "level2_depth": c.data.level2Depth,
                "final_root": c.data.finalStateRoot.to_string(), "output_root": c.data.outputRoot.to_string(),
                "counters": nodes.len().saturating_sub(1),
                "tx": mirror.trail.posted.get(&id).map_or(Value::Null, |o| tx_hex(o.tx)),
            }));
            if nodes.len() <= 1 {
                continue;
            }
            let mut rounds = Vec::new();
            let mut bonds = Vec::new();
            let mut gas_total = 0u64;
            let mut step = Value::Null;
            // The deepest dissection whose parts are single instructions: where the bisection
            // ended when nobody had to step (the side that could not answer lost by its clock).
            let mut narrowed: Option<(u8, u64, &gavel_bisection::game::Dissection)> = None;
            for &n in nodes {
                let Some(x) = model.node(n) else { continue };
                let s = model.status_of(n);
                let wei = if x.depth == 0 { mirror.claim_bond(c.data.modelId) } else { model.bond_at(x.depth) };
                let to = match s {
                    Status::Countered => mirror.trail.resolved.get(&n).map_or(Value::Null, |who| json!(who.to_string())),
                    Status::Stood => Self::addr(mirror, x.poster),
                    Status::Unresolved => Value::Null,
                };
                let outcome = match s {
                    Status::Unresolved => "at stake",
                    Status::Stood => "returned",
                    Status::Countered => "forfeited",
                };
                bonds.push(json!({ "node": n, "poster": Self::addr(mirror, x.poster), "wei": wei.to_string(), "outcome": outcome, "to": to }));
                if x.depth == 0 {
                    continue;
                }
                let origin = mirror.trail.posted.get(&n).copied().unwrap_or_default();
                let gas = self.gas.get(&origin.tx).copied();
                gas_total += gas.unwrap_or(0);
                let (kind, level, macro_step, start, end) = match &x.kind {
                    NodeKind::Dissection(d) => {
                        if d.level == 2 && d.end - d.start == d.parts() && narrowed.is_none_or(|(depth, _, _)| x.depth > depth) {
                            narrowed = Some((x.depth, n, d));
                        }
                        ("counter", d.level, d.macro_step, d.start, d.end)
                    }
                    NodeKind::Output { .. } => ("output", 0, 0, 0, 0),
                };
                rounds.push(json!({
                    "node": n, "parent": x.parent, "depth": x.depth, "kind": kind, "part": x.part,
                    "level": level, "macro_step": macro_step, "start": start, "end": end, "length": end - start,
                    "poster": Self::addr(mirror, x.poster), "side": if x.depth % 2 == 1 { "challenger" } else { "claimant" },
                    "status": node_status(s), "bond_wei": wei.to_string(), "posted_at": x.posted_at, "deadline": x.deadline,
                    "gas": gas, "tx": tx_hex(origin.tx), "block": (origin.block != 0).then_some(origin.block),
                }));
                if let Some(st) = mirror.trail.steps.get(&n) {
                    let g = self.gas.get(&st.origin.tx).copied();
                    gas_total += g.unwrap_or(0);
                    let ins = self.instructions.get(&st.origin.tx).copied().flatten();
                    let label = self.labels.get(&id).and_then(|l| l.get(st.macro_step as usize));
                    step = json!({
                        "node": n, "part": st.part, "stepper": st.stepper.to_string(), "macro_step": st.macro_step,
                        "instruction": st.instruction,
                        "opcode": ins.map(|(_, op)| gavel_bisection::code::op_name(op)), "pc": ins.map(|(pc, _)| pc),
                        "onnx_node": label.map(|l| l.name.clone()), "onnx_op": label.map(|l| l.onnx_op.clone()),
                        "tract_op": label.map(|l| l.op.clone()),
                        "root_before": hex32(&st.root_before), "root_after": hex32(&st.root_after),
                        "claimed_after": hex32(&st.claimed_after),
                        "gas": g, "tx": tx_hex(st.origin.tx),
                    });
                }
            }
            let narrowed = match narrowed {
                Some((_, node, d)) if step.is_null() => {
                    let label = self.labels.get(&id).and_then(|l| l.get(d.macro_step as usize));
                    json!({ "node": node, "macro_step": d.macro_step, "start": d.start, "end": d.end,
                        "onnx_node": label.map(|l| l.name.clone()), "onnx_op": label.map(|l| l.onnx_op.clone()), "tract_op": label.map(|l| l.op.clone()) })
                }
                _ => Value::Null,
            };
            disputes
                .push(json!({ "claim": id, "status": status, "rounds": rounds, "step": step, "narrowed": narrowed, "bonds": bonds, "gas_total": gas_total }));
        }
        let updated_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        json!({
            "source": { "role": self.role, "address": self.address.map(|a| a.to_string()), "chain_id": self.chain_id,
                "court": self.court.to_string(), "tree": self.tree.to_string(), "head_block": head, "chain_time": now, "updated_ms": updated_ms },
            "claims": claims,
            "disputes": disputes,
        })
    }
}
