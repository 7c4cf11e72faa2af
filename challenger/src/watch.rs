//! `gavel watch`: the watchtower. It follows `ClaimPosted` events and claim gossip, fetches the
//! model and input blobs it lacks from its peers over libp2p (each checked against the claim's
//! blob id), re-runs every claim, disputes every claim that disagrees with its own run, plays
//! each dispute to the end, collects the bonds, and remembers all of it in its database, so after
//! a crash (even `kill -9`) it resumes every open dispute where the chain left it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::{Context, Result};
use gavel_bisection::game::Side;
use gavel_bisection::state::{hex32, BlobCommitment};
use gavel_p2p::{BlobId, Fetched, Node, PeerId};
use gavel_runner::machine::Runtime;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::agent::{self, ClaimFields, DisputeOutcome};
use crate::chain::{parse_word, Chain, Deployment};
use crate::contracts::{claim_status, IClaimRegistry};
use crate::net::{self, P2pOptions};
use crate::store::Store;
use crate::trace::RunTrace;
use crate::emit;

/// A claim's model and input bytes.
type ModelAndInput = (Arc<Vec<u8>>, Arc<Vec<u8>>);

/// How a watchtower runs.
pub struct WatchConfig {
    /// The deployment to watch.
    pub deployment: Deployment,
    /// Signer key.
    pub private_key: String,
    /// Database and step caches live here.
    pub state_dir: PathBuf,
    /// Chain polling interval.
    pub poll: Duration,
    /// Exit once every known claim is settled or agreed with (tests, cron jobs).
    pub once: bool,
    /// Join the p2p network (blob fetching, claim gossip); `None`: chain data only.
    pub p2p: Option<P2pOptions>,
}

/// What the watchtower knows about a claim (persisted as JSON).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClaimRecord {
    /// Claim id.
    pub claim_id: u64,
    /// The claim's fields.
    #[serde(flatten)]
    pub claim: ClaimFields,
    /// `new`, `unverifiable` (model or input unknown; retried), `agrees`, `disputed`, `won`,
    /// `lost`, `cancelled`.
    pub verdict: String,
    /// Our dispute on it.
    pub dispute_id: Option<u64>,
}

impl ClaimRecord {
    fn of(id: u64, d: &IClaimRegistry::ClaimData) -> ClaimRecord {
        ClaimRecord { claim_id: id, claim: ClaimFields::of(d), verdict: "new".into(), dispute_id: None }
    }

    /// The claim as the contracts take it.
    pub fn data(&self) -> Result<IClaimRegistry::ClaimData> {
        self.claim.data()
    }
}

/// Blob fetches in flight, and when a failed one may be retried.
#[derive(Default)]
struct Fetches {
    running: HashMap<BlobId, (Instant, JoinHandle<Result<Fetched>>)>,
    retry_at: HashMap<BlobId, Instant>,
}

/// How long a failed fetch waits before it is tried again.
const FETCH_RETRY: Duration = Duration::from_secs(2);

/// The watchtower.
pub struct Watchtower {
    cfg: WatchConfig,
    chain: Chain,
    store: Arc<Store>,
    runtime: Arc<Runtime>,
    tasks: HashMap<u64, JoinHandle<Result<DisputeOutcome>>>,
    p2p: Option<(Node, tokio::sync::mpsc::Receiver<gavel_p2p::Event>)>,
    /// Peers that announced a claim: asked first for its blobs.
    hints: HashMap<u64, PeerId>,
    fetches: Fetches,
}

impl Watchtower {
    /// Opens the database and connects.
    pub async fn new(cfg: WatchConfig, runtime: Arc<Runtime>) -> Result<Watchtower> {
        let chain = Chain::connect(&cfg.deployment.rpc_url, &cfg.private_key).await?;
        let id = chain.chain_id().await?;
        anyhow::ensure!(id == cfg.deployment.chain_id, "the RPC serves chain {id}, the deployment is on chain {}", cfg.deployment.chain_id);
        let store = Arc::new(Store::open(&cfg.state_dir.join("watch.redb"))?);
        let p2p = match &cfg.p2p {
            Some(opts) => Some(net::start(opts, &cfg.deployment, &cfg.state_dir, store.clone()).await?),
            None => None,
        };
        Ok(Watchtower { cfg, chain, store, runtime, tasks: HashMap::new(), p2p, hints: HashMap::new(), fetches: Fetches::default() })
    }

    /// The p2p node, if the watchtower joined the network.
    pub fn p2p(&self) -> Option<&Node> {
        self.p2p.as_ref().map(|(n, _)| n)
    }

    /// Runs until stopped (or, with `once`, until nothing is left to do).
    pub async fn run(mut self) -> Result<()> {
        emit(serde_json::json!({ "event": "started", "address": self.chain.address.to_string(), "resumed_claims": self.store.all::<ClaimRecord>()?.len() }));
        if let Some(node) = self.p2p() {
            net::emit_listening(node);
        }
        loop {
            match self.tick().await {
                Ok(pending) if self.cfg.once && pending == 0 && self.tasks.is_empty() && self.fetches.running.is_empty() => return Ok(()),
                Ok(_) => {}
                // A bad RPC reply or a failed transaction: nothing is lost (every step is
                // re-derived from the database and the chain), so log it and try again.
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "watch tick");
                    emit(serde_json::json!({ "event": "error", "error": format!("{e:#}") }));
                }
            }
            tokio::time::sleep(self.cfg.poll).await;
        }
    }

    /// One round: chain events, the network, every claim; returns how many need attention.
    async fn tick(&mut self) -> Result<usize> {
        self.scan().await?;
        self.network().await?;
        self.work().await
    }

    /// Reads new `ComputeRequested` (inline inputs) and `ClaimPosted` events.
    async fn scan(&mut self) -> Result<()> {
        let d = &self.cfg.deployment;
        let from = self.store.meta("next_block")?.max(d.from_block);
        let head = self.chain.provider.get_block_number().await.context("eth_blockNumber")?;
        if from > head {
            return Ok(());
        }
        let filter = Filter::new().address(d.registry).from_block(from).to_block(head);
        let logs = self.chain.provider.get_logs(&filter).await.context("eth_getLogs")?;
        for log in logs {
            if let Ok(e) = log.log_decode::<IClaimRegistry::ComputeRequested>() {
                let e = e.inner.data;
                if !e.input.is_empty() && BlobCommitment::of(&e.input).id() == e.inputRoot.0 {
                    self.store.put_blob(&e.inputRoot.0, &e.input)?;
                }
            } else if let Ok(e) = log.log_decode::<IClaimRegistry::ClaimPosted>() {
                let e = e.inner.data;
                if self.store.get::<ClaimRecord>(e.claimId)?.is_none() {
                    self.store.put(e.claimId, &ClaimRecord::of(e.claimId, &e.data))?;
                    emit(serde_json::json!({ "event": "claim", "claim": e.claimId, "claimant": e.claimant.to_string() }));
                }
            }
        }
        self.store.set_meta("next_block", head + 1)
    }

    /// Handles what the network brought since the last tick: claim gossip (checked against the
    /// chain), bad requests from peers, finished blob fetches.
    async fn network(&mut self) -> Result<()> {
        let Some((node, events)) = self.p2p.as_mut() else { return Ok(()) };
        let node = node.clone();
        let mut batch = Vec::new();
        // At most 64 events a tick (a gossip message costs an RPC call); the rest wait in the queue.
        while batch.len() < 64 {
            let Ok(e) = events.try_recv() else { break };
            batch.push(e);
        }
        for e in batch {
            let Some((a, source)) = net::on_event(&node, &self.chain, &self.cfg.deployment, e).await else { continue };
            emit(serde_json::json!({ "event": "announcement", "claim": a.claim_id, "peer": source.to_string() }));
            self.hints.insert(a.claim_id, source);
            if self.store.get::<ClaimRecord>(a.claim_id)?.is_none() {
                let r = ClaimRecord { claim_id: a.claim_id, claim: a.claim, verdict: "new".into(), dispute_id: None };
                self.store.put(a.claim_id, &r)?;
                emit(serde_json::json!({ "event": "claim", "claim": a.claim_id, "via": "gossip", "peer": source.to_string() }));
            }
        }
        let done: Vec<BlobId> = self.fetches.running.iter().filter(|(_, (_, t))| t.is_finished()).map(|(id, _)| *id).collect();
        for id in done {
            let Some((started, task)) = self.fetches.running.remove(&id) else { continue };
            match task.await.context("fetch task")? {
                Ok(f) => {
                    // The node checked the bytes against the id before handing them over.
                    self.store.put_blob(&id, &f.bytes)?;
                    emit(serde_json::json!({ "event": "fetched", "blob": hex32(&id), "bytes": f.bytes.len(), "peer": f.peer.to_string(), "ms": started.elapsed().as_millis() as u64 }));
                }
                Err(e) => {
                    self.fetches.retry_at.insert(id, Instant::now() + FETCH_RETRY);
                    emit(serde_json::json!({ "event": "fetch_failed", "blob": hex32(&id), "error": format!("{e:#}") }));
                }
            }
        }
        Ok(())
    }

    /// Starts fetching blob `id` from the network, unless a fetch is running or failed lately.
    fn want(&mut self, id: BlobId, claim: u64) {
        let Some(node) = self.p2p() else { return };
        if self.fetches.running.contains_key(&id) || self.fetches.retry_at.get(&id).is_some_and(|t| Instant::now() < *t) {
            return;
        }
        let (node, prefer) = (node.clone(), self.hints.get(&claim).copied().into_iter().collect::<Vec<_>>());
        let task = tokio::spawn(async move { node.fetch(&id, &prefer).await });
        self.fetches.running.insert(id, (Instant::now(), task));
    }

    /// The claim's model and input, if the watchtower has both; asks the network for any it lacks.
    fn blobs_for(&mut self, r: &ClaimRecord) -> Result<Option<ModelAndInput>> {
        let Some(model) = self.cfg.deployment.model(r.claim.model_id) else { return Ok(None) };
        let (model_root, input_root) = (parse_word(&model.model_root)?, parse_word(&r.claim.input_root)?);
        let model = self.store.model(model)?;
        let input = self.store.blob(&input_root)?;
        if model.is_none() {
            self.want(model_root, r.claim_id);
        }
        if input.is_none() {
            self.want(input_root, r.claim_id);
        }
        Ok(model.zip(input).map(|(m, i)| (m, Arc::new(i))))
    }

    fn trace(&self, model: Arc<Vec<u8>>, input: Arc<Vec<u8>>) -> Result<RunTrace> {
        tokio::task::block_in_place(|| RunTrace::in_state_dir(&self.runtime, &self.cfg.state_dir, model, input))
    }

    /// Advances every claim; returns how many still need attention.
    async fn work(&mut self) -> Result<usize> {
        let mut pending = 0;
        let now = self.chain.now().await?;
        for (id, mut r) in self.store.all::<ClaimRecord>()? {
            match r.verdict.as_str() {
                "new" | "unverifiable" => {
                    let Some((model, input)) = self.blobs_for(&r)? else {
                        if r.verdict != "unverifiable" {
                            r.verdict = "unverifiable".into();
                            self.store.put(id, &r)?;
                            emit(serde_json::json!({ "event": "unverifiable", "claim": id }));
                        }
                        continue;
                    };
                    let mut trace = self.trace(model, input)?;
                    let shape = trace.claim_shape(u64::from(self.cfg.deployment.params.k));
                    let agrees = hex32(&shape.final_root) == r.claim.final_root && hex32(&shape.output_root) == r.claim.output_root;
                    if agrees {
                        r.verdict = "agrees".into();
                        self.store.put(id, &r)?;
                        emit(serde_json::json!({ "event": "agrees", "claim": id }));
                        continue;
                    }
                    // Did we already challenge it before a crash?
                    let (dispute, adopted) = match self.my_dispute(id).await? {
                        Some(dispute) => (dispute, true),
                        None => {
                            let status = IClaimRegistry::new(self.cfg.deployment.registry, &self.chain.provider).claims(id).call().await?;
                            if status.status != claim_status::PENDING || now >= status.deadline.to::<u64>() {
                                r.verdict = "missed".into();
                                self.store.put(id, &r)?;
                                emit(serde_json::json!({ "event": "missed", "claim": id, "status": status.status }));
                                continue;
                            }
                            let data = r.data()?;
                            let (dispute, mv) = agent::open_dispute(&self.chain, &self.cfg.deployment, id, &data, shape.initial_root, &mut trace).await?;
                            tracing::info!(claim = id, dispute, gas = mv.gas, "opened a dispute");
                            (dispute, false)
                        }
                    };
                    r.verdict = "disputed".into();
                    r.dispute_id = Some(dispute);
                    self.store.put(id, &r)?;
                    // A dispute found on chain but not in the database: opened just before a crash.
                    emit(serde_json::json!({ "event": if adopted { "resumed" } else { "disputed" }, "claim": id, "dispute": dispute }));
                    self.spawn(id, dispute, trace);
                    pending += 1;
                }
                "disputed" => {
                    pending += 1;
                    let dispute = r.dispute_id.context("disputed without a dispute id")?;
                    if let Some(task) = self.tasks.get(&id) {
                        if !task.is_finished() {
                            continue;
                        }
                        let task = self.tasks.remove(&id).context("task")?;
                        let outcome = task.await.context("dispute task")??;
                        r.verdict = if outcome.won {
                            "won"
                        } else if outcome.status == crate::contracts::dispute_status::CANCELLED {
                            "cancelled"
                        } else {
                            "lost"
                        }
                        .into();
                        if outcome.won {
                            self.collect(id, &r).await?;
                        }
                        self.store.put(id, &r)?;
                        emit(serde_json::json!({ "event": "resolved", "claim": id, "dispute": dispute, "verdict": r.verdict, "moves": outcome.moves.len() }));
                        pending -= 1;
                    } else {
                        // After a restart: rebuild the trace from the cache and play on.
                        let Some((model, input)) = self.blobs_for(&r)? else { continue };
                        let trace = self.trace(model, input)?;
                        emit(serde_json::json!({ "event": "resumed", "claim": id, "dispute": dispute }));
                        self.spawn(id, dispute, trace);
                    }
                }
                _ => {}
            }
        }
        Ok(pending)
    }

    fn spawn(&mut self, claim: u64, dispute: u64, mut trace: RunTrace) {
        let (chain, d, poll) = (self.chain.clone(), self.cfg.deployment.clone(), self.cfg.poll);
        let task = tokio::spawn(async move {
            let mut on_move = |m: &agent::MoveRecord| {
                emit(serde_json::json!({ "event": "move", "dispute": dispute, "kind": m.kind, "level": m.level, "start": m.start, "end": m.end, "gas": m.gas }));
            };
            agent::play(&chain, &d, dispute, Side::Challenger, &mut trace, poll, &mut on_move).await
        });
        self.tasks.insert(claim, task);
    }

    /// Our dispute on `claim`, from `ClaimChallenged` events.
    async fn my_dispute(&self, claim: u64) -> Result<Option<u64>> {
        let d = &self.cfg.deployment;
        let filter = Filter::new()
            .address(d.registry)
            .event_signature(IClaimRegistry::ClaimChallenged::SIGNATURE_HASH)
            .topic1(U256::from(claim))
            .topic3(self.chain.address.into_word())
            .from_block(d.from_block);
        let logs = self.chain.provider.get_logs(&filter).await?;
        Ok(logs.iter().filter_map(|l| l.log_decode::<IClaimRegistry::ClaimChallenged>().ok()).map(|e| e.inner.data.disputeId).last())
    }

    /// Settles a refutation we won and withdraws everything owed to us.
    async fn collect(&self, claim: u64, r: &ClaimRecord) -> Result<()> {
        let reg = IClaimRegistry::new(self.cfg.deployment.registry, &self.chain.provider);
        if reg.claims(claim).call().await?.status == claim_status::REFUTED {
            // Anyone may settle; if someone was faster, the claim is already Settled.
            if let Err(e) = self.chain.send(reg.settleRefutation(claim, r.data()?).into_transaction_request(), "settling").await {
                tracing::debug!(claim, error = %e, "settleRefutation");
            }
        }
        let got = agent::withdraw_all(&self.chain, &self.cfg.deployment).await?;
        emit(serde_json::json!({ "event": "withdrawn", "claim": claim, "wei": got.to_string() }));
        Ok(())
    }
}
