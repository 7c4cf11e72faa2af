//! `gavel watch`: the watchtower. It follows the Court's claims and claim gossip, fetches the
//! model and input blobs it lacks from its peers over libp2p (each checked against the claim's
//! blob id), re-runs every claim, and plays the honest strategy of the v2 claim-tree game
//! (`spec/game-v2.md`) on every claim it has judged: it counters every false node of a false
//! claim's tree and of a true claim's tree (whoever posted them), steps, challenges false
//! outputs and proves true ones, resolves what it has a stake in and collects its bonds and
//! rewards. Its verdicts live in its database and the tree is rebuilt from the chain's events, so
//! after a crash (even `kill -9`) it resumes every game where the chain left it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gavel_bisection::state::{hex32, BlobCommitment};
use gavel_bisection::tree::Status;
use gavel_p2p::{BlobId, Fetched, Node, PeerId};
use gavel_runner::machine::Runtime;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::agent::ClaimFields;
use crate::chain::{parse_word, Chain, Deployment};
use crate::contracts::ICourt;
use crate::emit;
use crate::explorer::Explorer;
use crate::fast_trace::{build_full_in_background, FastTrace, FullSlot};
use crate::net::{self, P2pOptions};
use crate::player::{self, Mirror, Player};
use crate::store::Store;
use crate::trace::{RunTrace, RunView};

/// A claim's model and input bytes.
type ModelAndInput = (Arc<Vec<u8>>, Arc<Vec<u8>>);

/// How a watchtower runs.
pub struct WatchConfig {
    /// The deployment to watch.
    pub deployment: Deployment,
    /// The signer.
    pub signer: alloy::signers::local::PrivateKeySigner,
    /// Where to serve `/metrics` and the dispute explorer (`None`: nowhere).
    pub http: Option<std::net::SocketAddr>,
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
    /// `new`, `unverifiable` (model or input unknown; retried), `agrees` (true, nobody
    /// countered it), `defending` (true, countered by someone: we answer the false counters),
    /// `disputed` (false: we play its tree), then `won` (a false claim refuted), `lost` (a
    /// false claim stood: an alert), `defended` (a true claim's counters answered and
    /// resolved), `missed` (found false after its window closed).
    pub verdict: String,
    /// Transactions we sent in its tree.
    #[serde(default)]
    pub moves: u64,
    /// What our run says is wrong with it (`execution` or `output`), once disputed.
    #[serde(default)]
    pub fault: Option<String>,
    /// The last error while working on this claim (the claim is retried; other claims go on).
    #[serde(default)]
    pub last_error: Option<String>,
    /// The end of its challenge window (chain time), when known: claims are worked
    /// earliest-deadline-first.
    #[serde(default)]
    pub deadline: Option<u64>,
}

impl ClaimRecord {
    fn of(id: u64, d: &ICourt::ClaimData) -> ClaimRecord {
        ClaimRecord::new(id, ClaimFields::of(d))
    }

    fn new(id: u64, claim: ClaimFields) -> ClaimRecord {
        ClaimRecord { claim_id: id, claim, verdict: "new".into(), moves: 0, fault: None, last_error: None, deadline: None }
    }

    /// The claim as the contracts take it.
    pub fn data(&self) -> Result<ICourt::ClaimData> {
        self.claim.data()
    }
}

/// How a claim compares with our own run of its model on its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// The claim is true: its final root is our root at its macro-step count, and that state
    /// proves its output (or its `FAILED_OUTPUT`).
    Agrees,
    /// The claimed final root is not our root at the claimed macro-step count: the bisection
    /// game refutes it.
    Execution,
    /// The claimed final root is ours, but that state does not prove the claimed output (another
    /// output, a failed run claimed as done or the reverse, or a state that is still running):
    /// the claimant cannot answer an output dispute.
    Output,
}

impl Judgement {
    fn name(self) -> &'static str {
        match self {
            Judgement::Agrees => "agrees",
            Judgement::Execution => "execution",
            Judgement::Output => "output",
        }
    }
}

/// Judges `claim` against our trace of its run. A level-2 depth smaller than a macro-step
/// needs is not judged on its own: if the claim's roots and output are all true the claim is
/// harmless, and if any is false the game descends into it (`spec/game.md`).
pub fn judge(trace: &impl RunView, claim: &ClaimFields) -> Result<Judgement> {
    let final_root = parse_word(&claim.final_root)?;
    if trace.level1_root(claim.macro_steps) != final_root {
        return Ok(Judgement::Execution);
    }
    let output = parse_word(&claim.output_root)?;
    Ok(if trace.output_at(claim.macro_steps) == Some(output) { Judgement::Agrees } else { Judgement::Output })
}

/// Blob fetches in flight, and when a failed one may be retried.
#[derive(Default)]
struct Fetches {
    running: HashMap<BlobId, (Instant, JoinHandle<Result<Fetched>>)>,
    retry_at: HashMap<BlobId, Instant>,
}

/// How long a failed fetch waits before it is tried again.
const FETCH_RETRY: Duration = Duration::from_secs(2);

/// wasmtime and the step machine parted on `claim`'s run: counted in the database (`divergences`)
/// and said loudly; the step machine's trace is what the watchtower plays with from then on.
fn record_divergence(store: &Store, claim: u64, why: &str) {
    let count = store.meta("divergences").unwrap_or(0) + 1;
    if let Err(e) = store.set_meta("divergences", count) {
        tracing::warn!(error = %format!("{e:#}"), "counting a divergence");
    }
    tracing::error!(claim, reason = %why, "wasmtime diverged from the step machine; the step machine's trace is used");
    emit(serde_json::json!({ "event": "divergence", "claim": claim, "reason": why, "count": count }));
}

/// How long one tick may spend judging new claims before it looks at the chain again.
const JUDGE_BUDGET: Duration = Duration::from_secs(2);

/// How long a claim whose work failed waits before it is tried again (doubled per consecutive
/// failure, up to 64 times).
const CLAIM_RETRY: Duration = Duration::from_millis(500);

/// The watchtower.
pub struct Watchtower {
    cfg: WatchConfig,
    chain: Chain,
    store: Arc<Store>,
    runtime: Arc<Runtime>,
    /// The Court's and the tree's state, from their events.
    mirror: Mirror,
    /// The honest strategy, as this watchtower's signer.
    player: Player,
    /// Our trace of each claim whose tree we play (rebuilt after a restart).
    traces: HashMap<u64, FastTrace>,
    /// The first request and the first claim of the mirror `scan` has not looked at yet.
    scanned: (u64, u64),
    p2p: Option<(Node, tokio::sync::mpsc::Receiver<gavel_p2p::Event>)>,
    /// Peers that announced a claim: asked first for its blobs.
    hints: HashMap<u64, PeerId>,
    fetches: Fetches,
    /// Claims whose last attempt failed: consecutive failures and when to try again.
    backoff: HashMap<u64, (u32, Instant)>,
    /// Full step-machine indexes built at once in the background (each takes a core).
    confirmations: Arc<tokio::sync::Semaphore>,
    /// How long judging a claim took lately (a moving average): what a deadline must leave.
    judge_time: Duration,
    /// Claims already reported as at risk of missing their window.
    at_risk: std::collections::HashSet<u64>,
    /// Step-machine indexes building in the background.
    building: Arc<std::sync::atomic::AtomicUsize>,
    /// The dispute explorer's picture (served with `/metrics` at `cfg.http`).
    explorer: Explorer,
    /// When the gauges and the picture were last refreshed.
    observed: Option<Instant>,
}

/// How often the gauges and the explorer's picture are refreshed (a few RPC reads each time).
pub const OBSERVE_EVERY: Duration = Duration::from_secs(1);

impl Watchtower {
    /// Opens the database and connects.
    pub async fn new(cfg: WatchConfig, runtime: Arc<Runtime>) -> Result<Watchtower> {
        let chain = Chain::connect_signer(&cfg.deployment.rpc_url, cfg.signer.clone()).await?;
        let id = chain.chain_id().await?;
        anyhow::ensure!(id == cfg.deployment.chain_id, "the RPC serves chain {id}, the deployment is on chain {}", cfg.deployment.chain_id);
        let store = Arc::new(Store::open(&cfg.state_dir.join("watch.redb"))?);
        let p2p = match &cfg.p2p {
            Some(opts) => Some(net::start(opts, &cfg.deployment, &cfg.state_dir, store.clone()).await?),
            None => None,
        };
        let mut mirror = Mirror::new(&cfg.deployment)?;
        let player = Player::new(&mut mirror, chain.address, true);
        let explorer = Explorer::new("watchtower", &cfg.deployment, Some(chain.address));
        Ok(Watchtower {
            cfg,
            chain,
            store,
            runtime,
            mirror,
            player,
            traces: HashMap::new(),
            scanned: (1, 1),
            p2p,
            hints: HashMap::new(),
            fetches: Fetches::default(),
            backoff: HashMap::new(),
            confirmations: Arc::new(tokio::sync::Semaphore::new(1)),
            judge_time: Duration::from_secs(1),
            at_risk: Default::default(),
            building: Arc::default(),
            explorer,
            observed: None,
        })
    }

    /// The p2p node, if the watchtower joined the network.
    pub fn p2p(&self) -> Option<&Node> {
        self.p2p.as_ref().map(|(n, _)| n)
    }

    /// Runs until stopped (or, with `once`, until nothing is left to do).
    pub async fn run(mut self) -> Result<()> {
        crate::metrics::start("watchtower");
        emit(serde_json::json!({ "event": "started", "address": self.chain.address.to_string(), "resumed_claims": self.store.all::<ClaimRecord>()?.len() }));
        if let Some(node) = self.p2p() {
            net::emit_listening(node);
        }
        let _http = match self.cfg.http {
            Some(addr) => {
                let (local, task) = crate::http::spawn(addr, crate::http::router(self.explorer.shared())).await?;
                emit(serde_json::json!({ "event": "http_listening", "addr": local.to_string() }));
                Some(AbortOnDrop(task))
            }
            None => None,
        };
        loop {
            match self.tick().await {
                Ok(pending) if self.cfg.once && pending == 0 && self.fetches.running.is_empty() => {
                    // A claim nobody could check is an alert, never a silent success.
                    let unchecked: Vec<u64> =
                        self.store.all::<ClaimRecord>()?.into_iter().filter(|(_, r)| r.verdict == "unverifiable").map(|(id, _)| id).collect();
                    anyhow::ensure!(
                        unchecked.is_empty(),
                        "claims {unchecked:?} could not be checked: their model or input is not available to this watchtower"
                    );
                    return Ok(());
                }
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
        let pending = self.work().await?;
        // Gauges and the explorer's picture, at most once per OBSERVE_EVERY: a failure there is
        // counted, never holds the work up.
        if self.observed.is_none_or(|t| t.elapsed() >= OBSERVE_EVERY) {
            self.observed = Some(Instant::now());
            if let Err(e) = self.observe().await {
                tracing::warn!(error = %format!("{e:#}"), "metrics and explorer");
                crate::metrics::inc("gavel_errors_total", &[]);
            }
        }
        Ok(pending)
    }

    /// Sets the gauges and redraws the explorer's picture from the database and the mirror.
    async fn observe(&mut self) -> Result<()> {
        let records = self.store.all::<ClaimRecord>()?;
        crate::metrics::verdict_gauges(records.iter().map(|(_, r)| r.verdict.as_str()));
        let queued = records.iter().filter(|(_, r)| matches!(r.verdict.as_str(), "new" | "unverifiable")).count();
        crate::metrics::set("gavel_traces", &[("state", "queued")], queued as f64);
        crate::metrics::set("gavel_traces", &[("state", "running")], self.building.load(std::sync::atomic::Ordering::Relaxed) as f64);
        if let Some(node) = self.p2p() {
            crate::metrics::set("gavel_p2p_peers", &[], node.peers().await.map_or(0, |p| p.len()) as f64);
        }
        let now = self.chain.now().await?;
        let playing: Vec<u64> = records.iter().filter(|(_, r)| matches!(r.verdict.as_str(), "disputed" | "defending")).map(|(id, _)| *id).collect();
        crate::metrics::tree_gauges(&self.mirror, self.player.honest.me, &playing, now);
        crate::metrics::set("gavel_bonds_credited_wei", &[], f64::from(player::credit(&self.chain, &self.cfg.deployment).await?));
        if self.cfg.http.is_none() {
            // Nobody can look at the explorer's picture: skip its RPC reads.
            return Ok(());
        }
        for (id, r) in &records {
            self.explorer.set_verdict(*id, &r.verdict);
            if let Some(t) = self.traces.get(id) {
                self.explorer.set_labels(*id, t.labels());
            }
        }
        self.explorer.refresh(&self.mirror, &self.chain, self.mirror.next_block().saturating_sub(1), now).await
    }

    /// Replays the Court's and the tree's new events; records new claims and keeps the inline
    /// inputs of requests.
    async fn scan(&mut self) -> Result<()> {
        if self.mirror.sync(&self.chain).await? == 0 {
            return Ok(());
        }
        let (next_request, next_claim) = self.scanned;
        for r in self.mirror.requests().range(next_request..).map(|(_, r)| r) {
            if !r.input.is_empty() && BlobCommitment::of(&r.input).id() == r.input_root && self.store.blob(&r.input_root)?.is_none() {
                self.store.put_blob(&r.input_root, &r.input)?;
            }
        }
        let claims: Vec<(u64, player::PostedClaim)> = self.mirror.claims().range(next_claim..).map(|(id, c)| (*id, c.clone())).collect();
        let scanned = (self.mirror.requests().keys().next_back().map_or(next_request, |id| id + 1), claims.last().map_or(next_claim, |(id, _)| id + 1));
        for (id, c) in claims {
            let deadline = self.mirror.model.node(id).map(|x| x.deadline);
            match self.store.get::<ClaimRecord>(id)? {
                Some(r) if r.deadline.is_some() => {}
                Some(mut r) => {
                    // Heard of by gossip first.
                    r.deadline = deadline;
                    self.store.put(id, &r)?;
                }
                None => {
                    let mut r = ClaimRecord::of(id, &c.data);
                    r.deadline = deadline;
                    self.store.put(id, &r)?;
                    emit(serde_json::json!({ "event": "claim", "claim": id, "claimant": c.claimant.to_string() }));
                }
            }
        }
        // Only once everything is stored: a failure above looks at the same events again.
        self.scanned = scanned;
        Ok(())
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
                let r = ClaimRecord::new(a.claim_id, a.claim);
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
                    emit(
                        serde_json::json!({ "event": "fetched", "blob": hex32(&id), "bytes": f.bytes.len(), "peer": f.peer.to_string(), "ms": started.elapsed().as_millis() as u64 }),
                    );
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

    /// Our view of the claim's run: wasmtime's level-1 roots at once; if wasmtime cannot run it
    /// for a reason of the host's, the step machine's full index (slower, never wrong).
    fn trace(&self, model: Arc<Vec<u8>>, input: Arc<Vec<u8>>) -> Result<FastTrace> {
        let options = self.cfg.deployment.machine_options();
        tokio::task::block_in_place(|| match FastTrace::open(self.runtime.clone(), model.clone(), input.clone(), &options) {
            Ok(t) => Ok(t),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "wasmtime cannot run this claim; judging it with the step machine alone");
                let full = RunTrace::in_state_dir(&self.runtime, &self.cfg.state_dir, model.clone(), input.clone(), &options)?;
                FastTrace::from_full(self.runtime.clone(), model, input, &options, full)
            }
        })
    }

    /// Starts building the full step-machine index of a disputed claim's run in the background
    /// (one at a time); the trace checks its level-1 roots against it when it lands and plays
    /// on with it. A disagreement is an event and a counter.
    fn confirm_in_background(&self, claim: u64, trace: &mut FastTrace, model: Arc<Vec<u8>>, input: Arc<Vec<u8>>) {
        if trace.confirmed() {
            return;
        }
        let store = self.store.clone();
        trace.on_divergence(Box::new(move |why| record_divergence(&store, claim, why)));
        let slot: FullSlot = Arc::new(std::sync::Mutex::new(None));
        trace.confirm_with(slot.clone());
        let (runtime, dir, permits, options) =
            (self.runtime.clone(), self.cfg.state_dir.join("steps"), self.confirmations.clone(), self.cfg.deployment.machine_options());
        let building = self.building.clone();
        tokio::spawn(async move {
            // One at a time: each takes a core for as long as the run takes the interpreter.
            let Ok(permit) = permits.acquire_owned().await else { return };
            building.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            build_full_in_background(slot, runtime, model, input, options, dir, move |ok, took| {
                building.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                drop(permit);
                emit(serde_json::json!({ "event": "confirmed", "claim": claim, "ok": ok, "ms": took.as_millis() as u64 }));
            });
        });
    }

    /// Advances every claim; returns how many still need attention. Each claim is worked on its
    /// own: an error on one (a run the engines disagree on, a failed transaction, a bad RPC
    /// reply about it) is recorded on that claim, which is retried later with a growing delay,
    /// and never stops the work on the others.
    async fn work(&mut self) -> Result<usize> {
        let mut pending = 0;
        let now = self.chain.now().await?;
        // Earliest deadline first: a flood of claims with long windows cannot hold back one
        // whose window closes sooner.
        let mut claims: Vec<(u64, ClaimRecord)> = self
            .store
            .all::<ClaimRecord>()?
            .into_iter()
            .filter(|(_, r)| matches!(r.verdict.as_str(), "new" | "unverifiable" | "disputed" | "defending" | "agrees"))
            .collect();
        claims.sort_by_key(|(id, r)| (r.deadline.unwrap_or(u64::MAX), *id));
        let mut queued = 0u32;
        let judging_ends = Instant::now() + JUDGE_BUDGET;
        for (id, mut r) in claims {
            // A tick judges new claims for a bounded time, then reads the chain again, so a claim
            // posted behind a flood is sorted in by its deadline within one budget.
            if matches!(r.verdict.as_str(), "new" | "unverifiable") && Instant::now() > judging_ends {
                pending += 1;
                continue;
            }
            if r.verdict == "new" {
                queued += 1;
                // Judging the claims before it and this one must fit in its window.
                let needed = self.judge_time.saturating_mul(queued) + Duration::from_secs(5);
                if r.deadline.is_some_and(|d| d.saturating_sub(now) < needed.as_secs()) && self.at_risk.insert(id) {
                    tracing::error!(claim = id, "the claim's window may close before it is judged");
                    emit(
                        serde_json::json!({ "event": "deadline_at_risk", "claim": id, "alert": true, "deadline": r.deadline, "now": now, "needed_s": needed.as_secs() }),
                    );
                }
            }
            if self.backoff.get(&id).is_some_and(|(_, at)| Instant::now() < *at) {
                pending += 1;
                continue;
            }
            match self.advance(id, &mut r, now).await {
                Ok(needs_attention) => {
                    self.backoff.remove(&id);
                    pending += usize::from(needs_attention);
                }
                Err(e) => {
                    pending += 1;
                    let error = format!("{e:#}");
                    let failures = self.backoff.get(&id).map_or(0, |(n, _)| *n) + 1;
                    let delay = CLAIM_RETRY.saturating_mul(1 << failures.min(6));
                    self.backoff.insert(id, (failures, Instant::now() + delay));
                    tracing::warn!(claim = id, failures, error = %error, "claim");
                    emit(
                        serde_json::json!({ "event": "claim_error", "claim": id, "failures": failures, "retry_ms": delay.as_millis() as u64, "error": error }),
                    );
                    // `advance` may have stored progress before failing: keep it, add the error.
                    let mut latest = self.store.get::<ClaimRecord>(id)?.unwrap_or(r);
                    latest.last_error = Some(error);
                    self.store.put(id, &latest)?;
                }
            }
        }
        Ok(pending)
    }

    /// One claim's next step; returns whether it still needs attention.
    async fn advance(&mut self, id: u64, r: &mut ClaimRecord, now: u64) -> Result<bool> {
        match r.verdict.as_str() {
            "new" | "unverifiable" => {
                let Some((model, input)) = self.blobs_for(r)? else {
                    if r.verdict != "unverifiable" {
                        r.verdict = "unverifiable".into();
                        self.store.put(id, r)?;
                        // An alert: a claim this watchtower cannot check may finalize unchecked
                        // (`spec/p2p.md`, "Data availability").
                        tracing::warn!(claim = id, "the claim's model or input is not available; it cannot be checked");
                        emit(serde_json::json!({ "event": "unverifiable", "claim": id, "alert": true, "input_root": r.claim.input_root }));
                    }
                    return Ok(false);
                };
                let started = Instant::now();
                let mut trace = self.trace(model.clone(), input.clone())?;
                self.judge_time = (self.judge_time * 3 + started.elapsed()) / 4;
                if let Some(why) = trace.divergence() {
                    record_divergence(&self.store, id, why);
                }
                let judgement = judge(&trace, &r.claim)?;
                if judgement == Judgement::Agrees {
                    r.verdict = "agrees".into();
                    r.last_error = None;
                    self.store.put(id, r)?;
                    emit(serde_json::json!({ "event": "agrees", "claim": id }));
                    return Ok(false);
                }
                // A false claim whose window closed unanswered is beyond reach.
                let open = self.mirror.model.node(id).is_some_and(|x| now <= x.deadline) || self.has_moves(id);
                if !open {
                    r.verdict = "missed".into();
                    self.store.put(id, r)?;
                    tracing::error!(claim = id, fault = judgement.name(), "a false claim's window closed before it was judged");
                    emit(serde_json::json!({ "event": "missed", "claim": id, "fault": judgement.name(), "alert": true }));
                    return Ok(false);
                }
                r.verdict = "disputed".into();
                r.fault = Some(judgement.name().into());
                r.last_error = None;
                if judgement == Judgement::Execution {
                    self.confirm_in_background(id, &mut trace, model, input);
                }
                self.traces.insert(id, trace);
                let moves = self.play(id, r, now).await?;
                self.store.put(id, r)?;
                emit(
                    serde_json::json!({ "event": "disputed", "claim": id, "fault": judgement.name(), "moves": moves, "ms": started.elapsed().as_millis() as u64 }),
                );
                Ok(true)
            }
            "agrees" => {
                // A true claim someone countered: answer the false counters (H1), prove its
                // output if challenged (H2).
                let countered = self.mirror.model.nodes_of(id).len() > 1 && self.mirror.status(id) == Status::Unresolved;
                if !countered {
                    return Ok(false);
                }
                r.verdict = "defending".into();
                self.store.put(id, r)?;
                emit(serde_json::json!({ "event": "defending", "claim": id }));
                Ok(true)
            }
            "disputed" | "defending" => {
                if !self.traces.contains_key(&id) {
                    // After a restart: our trace again; the tree comes from the chain.
                    let Some((model, input)) = self.blobs_for(r)? else { return Ok(true) };
                    let mut trace = self.trace(model.clone(), input.clone())?;
                    if r.verdict == "disputed" {
                        emit(serde_json::json!({ "event": "resumed", "claim": id }));
                    }
                    if r.fault.as_deref() == Some("execution") {
                        self.confirm_in_background(id, &mut trace, model, input);
                    }
                    self.traces.insert(id, trace);
                }
                self.play(id, r, now).await?;
                let me = self.player.honest.me;
                if !self.mirror.settled_for(id, me) {
                    self.store.put(id, r)?;
                    return Ok(true);
                }
                let status = self.mirror.status(id);
                r.verdict = match (r.verdict.as_str(), status) {
                    ("disputed", Status::Countered) => "won",
                    ("disputed", _) => "lost",
                    (_, Status::Stood) => "defended",
                    _ => "lost",
                }
                .into();
                if r.verdict == "lost" {
                    tracing::error!(claim = id, "the tree resolved against our trace");
                }
                let got = player::withdraw(&self.chain, &self.cfg.deployment).await?;
                self.traces.remove(&id);
                r.last_error = None;
                self.store.put(id, r)?;
                emit(
                    serde_json::json!({ "event": "resolved", "claim": id, "verdict": r.verdict, "moves": r.moves, "withdrawn": got.to_string(), "alert": r.verdict == "lost" }),
                );
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Whether we sent anything in `claim`'s tree (then we have a stake to resolve).
    fn has_moves(&self, claim: u64) -> bool {
        self.mirror.has_moved(claim, self.player.honest.me)
    }

    /// Plays every move the honest strategy requires on `claim` now; returns how many landed.
    async fn play(&mut self, claim: u64, r: &mut ClaimRecord, now: u64) -> Result<usize> {
        let trace = self.traces.get_mut(&claim).context("no trace of the claim")?;
        let moves = player::play_turn(&mut self.player, &self.chain, &self.cfg.deployment, &mut self.mirror, claim, trace, now).await?;
        r.moves += moves as u64;
        Ok(moves)
    }
}

/// Aborts a task when dropped (the HTTP server stops with the watchtower).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
