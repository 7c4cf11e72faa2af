//! `gavel serve`: the model server. It answers inference requests over HTTP and on chain
//! (`ComputeRequested` events of consumer contracts), runs the model in the deterministic guest,
//! posts a bonded claim for every answer, keeps what it needs to defend it (input and output
//! blobs, the output proof, the step cache) in its database, plays the honest strategy of the
//! claim-tree game on its claims' trees (`spec/game-v2.md`: every false counter of its claim is
//! countered, an output challenge is proven), resolves its claims when their deadlines pass,
//! and collects the payment of every request its claim answered first. Over libp2p it serves the
//! model, input and output blobs of its claims by blob id and announces each new claim on the
//! deployment's gossip topic, so watchtowers can check claims whose input never went on chain.
//!
//! HTTP API (JSON):
//! - `POST /v1/inference` `{"model_id": 1, "input": "0x<GVTS bytes>"}` → the outputs and the claim;
//! - `GET /v1/claims/{id}` → a claim this server posted, with its on-chain status;
//! - `GET /health`.
//!
//! Bad requests get a 4xx status and `{"error": "..."}`; the server keeps serving.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gavel_bisection::binding::FAILED_OUTPUT;
use gavel_bisection::state::{hex32, BlobCommitment};
use gavel_bisection::tree::{Action, Status};
use gavel_challenger::agent::{self, ClaimFields};
use gavel_challenger::chain::{parse_word, Chain, Deployment};
use gavel_challenger::contracts::ICourt;
use gavel_challenger::emit;
use gavel_challenger::explorer::Explorer;
use gavel_challenger::net::{self, ClaimAnnouncement, P2pOptions};
use gavel_challenger::player::{self, Mirror, Player};
use gavel_challenger::store::Store;
use gavel_challenger::trace::{ClaimShape, RunTrace};
use gavel_runner::machine::Runtime;
use gavel_runner::run::TraceMode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

/// How a server runs.
pub struct ServeConfig {
    /// The deployment.
    pub deployment: Deployment,
    /// The signer.
    pub signer: alloy::signers::local::PrivateKeySigner,
    /// Database and step caches.
    pub state_dir: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Chain polling interval.
    pub poll: Duration,
    /// Test and demo only: corrupt one operator result in this macro-step of every run (a
    /// faulty server, which loses every dispute).
    pub fault_macro_step: Option<u64>,
    /// Join the p2p network (serve blobs, announce claims); `None`: HTTP and chain only.
    pub p2p: Option<P2pOptions>,
    /// Post claims from the wasmtime run alone, at the deployment's largest level-2 depth,
    /// instead of first counting every macro-step's instructions with the step machine. Many
    /// times the throughput; a dispute then plays the extra level-2 rounds (the step machine
    /// runs only when a claim is disputed).
    pub fast_claims: bool,
    /// Which on-chain requests the server answers.
    pub policy: RequestPolicy,
}

/// Which on-chain requests a server answers: answering one costs a bonded claim's gas, so a
/// request that pays too little, or whose callback could cost the server more gas than it is
/// willing to spend on `fulfill`, is skipped (and said so in a `request_skipped` event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestPolicy {
    /// Smallest payment, wei.
    pub min_payment: u128,
    /// Largest callback gas limit.
    pub max_callback_gas: u32,
}

impl Default for RequestPolicy {
    fn default() -> RequestPolicy {
        // 0.001 ETH covers posting (~100k gas) and finalizing (~60k plus the callback) at
        // ~5 gwei; 500k gas is a generous consumer callback.
        RequestPolicy { min_payment: 1_000_000_000_000_000, max_callback_gas: 500_000 }
    }
}

impl RequestPolicy {
    /// Why a request with this payment and callback gas limit is not answered, if it is not.
    pub fn refuses(&self, payment: u128, callback_gas: u32) -> Option<String> {
        if payment < self.min_payment {
            return Some(format!("payment {payment} wei is below the server's minimum of {} wei", self.min_payment));
        }
        if callback_gas > self.max_callback_gas {
            return Some(format!("callback gas limit {callback_gas} is above the server's maximum of {}", self.max_callback_gas));
        }
        None
    }
}

/// What the server keeps about each of its claims (persisted as JSON by claim id).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServedClaim {
    /// Claim id.
    pub claim_id: u64,
    /// The claim's fields.
    #[serde(flatten)]
    pub claim: ClaimFields,
    /// The final state's output proof (hex), for output challenges.
    pub output_proof: String,
    /// Transactions sent in its tree (answers to counters, resolutions).
    #[serde(default)]
    pub moves: u64,
    /// `pending`, `final` (its tree resolved in its favour; paid if it answered a request
    /// first), `refuted`.
    pub status: String,
    /// Whether its request paid it.
    #[serde(default)]
    pub paid: bool,
}

impl ServedClaim {
    fn data(&self) -> Result<ICourt::ClaimData> {
        self.claim.data()
    }
}

/// The server's view of the claim-tree game: the chain's trees, the strategy, and its traces
/// of the claims whose trees are contested.
struct Game {
    mirror: Mirror,
    player: Player,
    traces: HashMap<u64, RunTrace>,
    /// The dispute explorer's picture (served at `/` and `/api/explorer`).
    explorer: Explorer,
    /// When the gauges and the picture were last refreshed.
    observed: Option<std::time::Instant>,
}

struct Server {
    cfg: ServeConfig,
    chain: Chain,
    store: Arc<Store>,
    runtime: Arc<Runtime>,
    p2p: Option<gavel_p2p::Node>,
    /// One inference at a time (each uses the whole machine).
    infer_lock: Mutex<()>,
    game: Mutex<Game>,
}

/// A request error: HTTP status and message.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InferRequest {
    model_id: u64,
    /// 0x-hex of a GVTS tensor set (`spec/tensors.md`).
    input: String,
}

impl Server {
    fn model_bytes(&self, model_id: u64) -> Result<Option<Arc<Vec<u8>>>> {
        let Some(m) = self.cfg.deployment.model(model_id) else { return Ok(None) };
        let bytes = self.store.model(m)?;
        bytes.map(Some).with_context(|| format!("model {}: {} is unreadable or does not hash to the registered model root", m.name, m.path.display()))
    }

    fn trace(&self, model: Arc<Vec<u8>>, input: Arc<Vec<u8>>) -> Result<RunTrace> {
        let t = RunTrace::in_state_dir(&self.runtime, &self.cfg.state_dir, model, input, &self.cfg.deployment.machine_options())?;
        match self.cfg.fault_macro_step {
            Some(m) => RunTrace::faulty(t, m, 1 << 22),
            None => Ok(t),
        }
    }

    /// Answers on-chain request `request_id` whose input the model rejects (bytes that are no
    /// tensor set, a wrong dtype or shape, a guest trap, the memory limit) with the true claim
    /// that the run fails: its failed final state and `FAILED_OUTPUT` (`spec/proofs.md`), so the
    /// consumer gets an answer and no false "done" claim can stand.
    async fn claim_failure(&self, model_id: u64, model: Arc<Vec<u8>>, input: Vec<u8>, request_id: u64) -> Result<(ServedClaim, serde_json::Value), ApiError> {
        let internal = |e: anyhow::Error| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));
        let input = Arc::new(input);
        let _guard = self.infer_lock.lock().await;
        let (end, shape) = tokio::task::block_in_place(|| -> Result<_> {
            let end = gavel_runner::run::run_to_end(&self.runtime, model.clone(), input.clone(), &self.cfg.deployment.machine_options())?;
            let trace = self.trace(model.clone(), input.clone())?;
            Ok((end, trace.claim_shape(u64::from(self.cfg.deployment.params.k))))
        })
        .map_err(internal)?;
        if end.failure.is_none() || shape.output_root != FAILED_OUTPUT {
            return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the run did not fail on a second look".into()));
        }
        if self.cfg.fault_macro_step.is_none() && shape.final_root != end.state_root {
            return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, "wasmtime and the step machine disagree on the failed final root".into()));
        }
        let failure = end.failure.unwrap_or_default();
        let (record, receipt) = self.post_and_keep(model_id, request_id, &input, &shape, &end.output_proof, None, Some(&failure)).await?;
        let body = json!({ "claim_id": record.claim_id, "tx": receipt.transaction_hash.to_string(), "output_root": record.claim.output_root, "state_root": record.claim.final_root, "failed": failure });
        Ok((record, body))
    }

    /// Posts the claim of `shape` on `input`, keeps what defends it (the input blob, the output
    /// blob if the run has one, the output proof), says so and announces it.
    #[allow(clippy::too_many_arguments)]
    async fn post_and_keep(
        &self,
        model_id: u64,
        request_id: u64,
        input: &[u8],
        shape: &ClaimShape,
        output_proof: &[u8],
        output: Option<(&[u8; 32], &[u8])>,
        failed: Option<&str>,
    ) -> Result<(ServedClaim, alloy::rpc::types::TransactionReceipt), ApiError> {
        let input_root = BlobCommitment::of(input).id();
        let data = agent::claim_data(model_id, request_id, &input_root, shape);
        let (claim_id, receipt) = player::post_claim(&self.chain, &self.cfg.deployment, &data)
            .await
            .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("posting the claim: {e:#}")))?;
        let record =
            ServedClaim { claim_id, claim: ClaimFields::of(&data), output_proof: hex::encode(output_proof), moves: 0, status: "pending".into(), paid: false };
        let keep = || -> Result<()> {
            self.store.put_blob(&input_root, input)?;
            if let Some((id, bytes)) = output {
                self.store.put_blob(id, bytes)?;
            }
            self.store.put(claim_id, &record)
        };
        keep().map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        let mut event = json!({ "event": "claim", "claim": claim_id, "request": request_id, "model": model_id, "gas": receipt.gas_used });
        if let Some(f) = failed {
            event["failed"] = json!(f);
        }
        emit(event);
        self.announce(claim_id, &record.claim).await;
        Ok((record, receipt))
    }

    /// Runs `model_id` on the GVTS `input`, posts the claim, stores it. An on-chain request
    /// (`request_id` ≠ 0) whose run fails gets the claim that it fails; an HTTP request gets the
    /// error.
    async fn infer(&self, model_id: u64, input: Vec<u8>, request_id: u64) -> Result<(ServedClaim, serde_json::Value), ApiError> {
        let model = self.model_bytes(model_id).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        let model = model.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("model {model_id} is not registered in this deployment")))?;
        match self.answer(model_id, model.clone(), input.clone(), request_id).await {
            Err(ApiError(status, _)) if request_id != 0 && (status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY) => {
                self.claim_failure(model_id, model, input, request_id).await
            }
            answered => answered,
        }
    }

    async fn answer(&self, model_id: u64, model: Arc<Vec<u8>>, input: Vec<u8>, request_id: u64) -> Result<(ServedClaim, serde_json::Value), ApiError> {
        let tensors = gavel_codec::decode(&input).map_err(|e| bad(format!("input is not a valid GVTS tensor set: {e}")))?;
        let input = Arc::new(input);
        let _guard = self.infer_lock.lock().await;
        let fast = self.cfg.fast_claims && self.cfg.fault_macro_step.is_none();
        let (outcome, shape) = tokio::task::block_in_place(|| -> Result<_, ApiError> {
            let outcome =
                gavel_runner::run::run(&self.runtime, model.clone(), &tensors, &self.cfg.deployment.machine_options(), TraceMode::FinalRoot, &mut |_| {})
                    .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}")))?;
            if fast {
                // k^max_depth instructions per macro-step is the most any claim may take, so the
                // claim holds whatever the exact counts are; positions past a macro-step's end
                // are fixed points of the machine.
                let shape = ClaimShape {
                    macro_steps: outcome.steps,
                    level2_depth: self.cfg.deployment.params.max_level2_depth,
                    // Only a challenger needs the genesis root (it opens the dispute with it).
                    initial_root: [0; 32],
                    final_root: outcome.state_root,
                    output_root: outcome.output_root,
                };
                return Ok((outcome, shape));
            }
            let trace = self.trace(model.clone(), input.clone()).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
            let mut shape = trace.claim_shape(u64::from(self.cfg.deployment.params.k));
            if self.cfg.fast_claims {
                // A faulty server (tests, demos) needs its trace, but claims at the depth a fast
                // claim takes.
                shape.level2_depth = self.cfg.deployment.params.max_level2_depth;
            }
            Ok((outcome, shape))
        })?;
        if self.cfg.fault_macro_step.is_none() && shape.final_root != outcome.state_root {
            return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, "wasmtime and the step machine disagree on the final root".into()));
        }
        let (record, receipt) =
            self.post_and_keep(model_id, request_id, &input, &shape, &outcome.output_proof, Some((&outcome.output_root, &outcome.output_bytes)), None).await?;
        let claim_id = record.claim_id;
        let outputs: Vec<serde_json::Value> = outcome
            .outputs
            .iter()
            .map(|t| json!({ "name": t.name, "shape": t.shape, "dtype": t.dtype.name(), "data": gavel_runner::tensor_io::as_f64(t) }))
            .collect();
        let body = json!({
            "claim_id": claim_id, "tx": receipt.transaction_hash.to_string(), "output_root": record.claim.output_root,
            "output_id": outcome.output_id, "state_root": record.claim.final_root, "macro_steps": record.claim.macro_steps, "outputs": outputs,
        });
        Ok((record, body))
    }

    /// Tells the network about a new claim. Gossip is a hint (watchtowers also read the chain),
    /// so having no subscribed peer yet is not an error.
    async fn announce(&self, claim_id: u64, claim: &ClaimFields) {
        let Some(node) = &self.p2p else { return };
        let a = ClaimAnnouncement::new(&self.cfg.deployment, claim_id, claim.clone());
        let sent = match serde_json::to_vec(&a) {
            Ok(bytes) => node.publish(bytes).await.map_err(|e| format!("{e:#}")),
            Err(e) => Err(e.to_string()),
        };
        emit(json!({ "event": "announced", "claim": claim_id, "ok": sent.is_ok(), "error": sent.err() }));
    }

    /// Validates gossip from peers (so the mesh forwards only real claims) and logs the rest.
    async fn p2p_loop(self: Arc<Self>, mut events: tokio::sync::mpsc::Receiver<gavel_p2p::Event>) {
        let Some(node) = self.p2p.clone() else { return };
        while let Some(e) = events.recv().await {
            net::on_event(&node, &self.chain, &self.cfg.deployment, e).await;
        }
    }

    /// Defends disputes, answers on-chain requests, finalizes claims.
    async fn chain_loop(self: Arc<Self>) -> Result<()> {
        loop {
            if let Err(e) = self.chain_tick().await {
                tracing::warn!(error = %format!("{e:#}"), "chain loop");
                emit(json!({ "event": "error", "error": format!("{e:#}") }));
            }
            tokio::time::sleep(self.cfg.poll).await;
        }
    }

    async fn chain_tick(self: &Arc<Self>) -> Result<()> {
        let d = &self.cfg.deployment;
        let mut game = self.game.lock().await;
        game.mirror.sync(&self.chain).await?;
        // New on-chain requests, in order; each is looked at once.
        let next = self.store.meta("next_request")?.max(1);
        let requests: Vec<player::Request> = game.mirror.requests().range(next..).map(|(_, r)| r.clone()).collect();
        for e in requests {
            self.store.set_meta("next_request", e.id + 1)?;
            if d.model(e.model_id).is_none() || e.input.is_empty() || BlobCommitment::of(&e.input).id() != e.input_root {
                emit(json!({ "event": "request_skipped", "request": e.id, "reason": "unknown model, or no inline input matching its root" }));
                continue;
            }
            if let Some(reason) = self.cfg.policy.refuses(e.payment, e.callback_gas) {
                emit(json!({ "event": "request_skipped", "request": e.id, "reason": reason }));
                continue;
            }
            match self.infer(e.model_id, e.input.clone(), e.id).await {
                Ok((r, _)) => emit(json!({ "event": "request_answered", "request": e.id, "claim": r.claim_id })),
                Err(ApiError(_, m)) => emit(json!({ "event": "request_failed", "request": e.id, "error": m })),
            }
        }
        game.mirror.sync(&self.chain).await?;
        let now = self.chain.now().await?;
        let me = game.player.honest.me;
        let result = self.tend_all(&mut game, me, now).await;
        // Gauges and the explorer's picture, at most once per OBSERVE_EVERY: a failure there is
        // counted, never holds the work up.
        if game.observed.is_none_or(|t| t.elapsed() >= gavel_challenger::watch::OBSERVE_EVERY) {
            game.observed = Some(std::time::Instant::now());
            if let Err(e) = self.observe(&mut game, now).await {
                tracing::warn!(error = %format!("{e:#}"), "metrics and explorer");
                gavel_challenger::metrics::inc("gavel_errors_total", &[]);
            }
        }
        result
    }

    /// Sets the gauges and redraws the explorer's picture.
    async fn observe(&self, game: &mut Game, now: u64) -> Result<()> {
        let claims = self.store.all::<ServedClaim>()?;
        let contested = |id: u64| game.mirror.model.nodes_of(id).len() > 1;
        let verdicts: Vec<(u64, &'static str)> = claims
            .iter()
            .map(|(id, r)| {
                let v = match (r.status.as_str(), contested(*id)) {
                    ("pending", true) => "defending",
                    ("pending", false) => "pending",
                    ("final", true) => "defended",
                    ("final", false) => "final",
                    _ => "refuted",
                };
                (*id, v)
            })
            .collect();
        gavel_challenger::metrics::verdict_gauges(verdicts.iter().map(|(_, v)| *v));
        let running = game.traces.len();
        gavel_challenger::metrics::set("gavel_traces", &[("state", "queued")], 0.0);
        gavel_challenger::metrics::set("gavel_traces", &[("state", "running")], running as f64);
        if let Some(node) = &self.p2p {
            gavel_challenger::metrics::set("gavel_p2p_peers", &[], node.peers().await.map_or(0, |p| p.len()) as f64);
        }
        let playing: Vec<u64> = verdicts.iter().filter(|(_, v)| *v == "defending").map(|(id, _)| *id).collect();
        gavel_challenger::metrics::tree_gauges(&game.mirror, game.player.honest.me, &playing, now);
        let credit = player::credit(&self.chain, &self.cfg.deployment).await?;
        gavel_challenger::metrics::set("gavel_bonds_credited_wei", &[], f64::from(credit));
        let Game { mirror, traces, explorer, .. } = game;
        for (id, v) in &verdicts {
            explorer.set_verdict(*id, v);
            if let Some(t) = traces.get(id) {
                explorer.set_labels(*id, t.labels());
            }
        }
        explorer.refresh(mirror, &self.chain, mirror.next_block().saturating_sub(1), now).await
    }

    /// Every pending claim of ours: answers, resolutions, payment.
    async fn tend_all(&self, game: &mut Game, me: u64, now: u64) -> Result<()> {
        for (id, mut r) in self.store.all::<ServedClaim>()? {
            if r.status != "pending" {
                continue;
            }
            let before = (r.moves, r.status.clone(), r.paid);
            if let Err(e) = self.tend(game, id, &mut r, me, now).await {
                tracing::warn!(claim = id, error = %format!("{e:#}"), "claim");
                emit(json!({ "event": "claim_error", "claim": id, "error": format!("{e:#}") }));
            }
            if (r.moves, r.status.clone(), r.paid) != before {
                self.store.put(id, &r)?;
            }
        }
        Ok(())
    }

    /// One of our claims: answers its tree, resolves it, collects the payment.
    async fn tend(&self, game: &mut Game, id: u64, r: &mut ServedClaim, me: u64, now: u64) -> Result<()> {
        let d = &self.cfg.deployment;
        let contested = game.mirror.model.nodes_of(id).len() > 1;
        let Some(root) = game.mirror.model.node(id).cloned() else { return Ok(()) };
        if contested && game.mirror.status(id) == Status::Unresolved {
            if let std::collections::hash_map::Entry::Vacant(slot) = game.traces.entry(id) {
                let model = self.model_bytes(r.claim.model_id)?.context("model")?;
                let input_root = parse_word(&r.claim.input_root)?;
                let input = Arc::new(self.store.blob(&input_root)?.context("the claim's input blob is missing")?);
                let trace = tokio::task::block_in_place(|| self.trace(model, input))?;
                if self.cfg.fault_macro_step.is_none() && hex32(&trace.level1_root(r.claim.macro_steps)) != r.claim.final_root {
                    tracing::error!(claim = id, "the step machine does not reproduce this server's own claim");
                    emit(json!({ "event": "error", "claim": id, "error": "the step machine does not reproduce this claim's final root" }));
                }
                emit(json!({ "event": "defending", "claim": id }));
                slot.insert(trace);
            }
            let Game { mirror, player, traces, .. } = game;
            let trace = traces.get_mut(&id).context("trace")?;
            r.moves += player::play_turn(player, &self.chain, d, mirror, id, trace, now).await? as u64;
        } else if !contested && game.mirror.status(id) == Status::Unresolved && now > root.deadline {
            // Nobody countered it: resolving it returns the bond and makes it final. The chain
            // checks the deadline again (`now` may run ahead of its clock by a block).
            match game.player.send(&self.chain, d, &game.mirror, &Action::Resolve { node: id }).await {
                Ok(m) => {
                    r.moves += 1;
                    emit(json!({ "event": "move", "claim": id, "kind": m.kind, "node": id, "gas": m.gas }));
                    game.mirror.sync(&self.chain).await?;
                }
                Err(e) => tracing::debug!(claim = id, error = %format!("{e:#}"), "not resolvable yet"),
            }
        }
        if !game.mirror.settled_for(id, me) {
            return Ok(());
        }
        match game.mirror.status(id) {
            Status::Stood => {
                let request = r.claim.request_id;
                let open = game.mirror.requests().get(&request).is_some_and(|q| q.fulfilled_by.is_none() && !q.cancelled);
                if request != 0 && open {
                    if !player::reveal_window_closed(&self.chain, d, id).await? {
                        // A claim committed before ours may still be revealed ahead of it.
                        return Ok(());
                    }
                    let court = ICourt::new(d.court, &self.chain.provider);
                    let call = court.fulfill(id, r.data()?, alloy::primitives::U256::from(64));
                    match self.chain.send(call.into_transaction_request(), &format!("fulfilling request {request}")).await {
                        Ok(_) => {
                            r.paid = true;
                            emit(json!({ "event": "fulfilled", "claim": id, "request": request }));
                        }
                        // An earlier claim on the request is still undecided: try again later.
                        Err(e) => {
                            tracing::info!(claim = id, request, error = %format!("{e:#}"), "not paid yet");
                            return Ok(());
                        }
                    }
                }
                r.status = "final".into();
                emit(json!({ "event": "finalized", "claim": id, "paid": r.paid }));
            }
            _ => {
                r.status = "refuted".into();
                emit(json!({ "event": "refuted", "claim": id }));
            }
        }
        game.traces.remove(&id);
        let got = player::withdraw(&self.chain, d).await?;
        emit(json!({ "event": "withdrawn", "claim": id, "wei": got.to_string() }));
        Ok(())
    }
}

async fn health(State(s): State<Arc<Server>>) -> Json<serde_json::Value> {
    let p2p = s.p2p.as_ref().map(net::describe);
    Json(json!({ "status": "ok", "address": s.chain.address.to_string(), "chain_id": s.cfg.deployment.chain_id,
        "claims": s.store.all::<ServedClaim>().map(|v| v.len()).unwrap_or(0), "p2p": p2p }))
}

async fn inference(State(s): State<Arc<Server>>, body: axum::body::Bytes) -> Result<Json<serde_json::Value>, ApiError> {
    let req: InferRequest = serde_json::from_slice(&body).map_err(|e| bad(format!("bad request body: {e}")))?;
    let input = hex::decode(req.input.trim_start_matches("0x")).map_err(|e| bad(format!("input is not hex: {e}")))?;
    let (_, body) = s.infer(req.model_id, input, 0).await?;
    Ok(Json(body))
}

async fn claim(State(s): State<Arc<Server>>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let id: u64 = id.parse().map_err(|_| bad(format!("claim id {id:?} is not a number")))?;
    let r = s
        .store
        .get::<ServedClaim>(id)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("claim {id} was not posted by this server")))?;
    let status = ICourt::new(s.cfg.deployment.court, &s.chain.provider)
        .claimStatus(id)
        .call()
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("reading the claim: {e}")))?;
    let game = s.game.lock().await;
    let deadline = game.mirror.model.node(id).map(|x| x.deadline);
    let counters = game.mirror.model.nodes_of(id).len().saturating_sub(1);
    Ok(Json(json!({ "claim": r, "chain_status": status, "deadline": deadline, "tree_nodes": counters })))
}

/// Runs the server until `stop` resolves.
pub async fn serve(cfg: ServeConfig, runtime: Arc<Runtime>, stop: impl std::future::Future<Output = ()>) -> Result<()> {
    let chain = Chain::connect_signer(&cfg.deployment.rpc_url, cfg.signer.clone()).await?;
    gavel_challenger::metrics::start("server");
    let id = chain.chain_id().await?;
    anyhow::ensure!(id == cfg.deployment.chain_id, "the RPC serves chain {id}, the deployment is on chain {}", cfg.deployment.chain_id);
    let store = Arc::new(Store::open(&cfg.state_dir.join("serve.redb"))?);
    // Every registered model the server can read goes into its store, so peers can fetch it.
    for m in &cfg.deployment.models {
        if store.model(m)?.is_none() {
            tracing::warn!(model = %m.name, path = %m.path.display(), "model not readable here; this server cannot answer for it");
        }
    }
    let (p2p, p2p_events) = match &cfg.p2p {
        Some(opts) => {
            let (node, events) = net::start(opts, &cfg.deployment, &cfg.state_dir, store.clone()).await?;
            (Some(node), Some(events))
        }
        None => (None, None),
    };
    let listen = cfg.listen;
    let mut mirror = Mirror::new(&cfg.deployment)?;
    let player = Player::new(&mut mirror, chain.address, true);
    let explorer = Explorer::new("server", &cfg.deployment, Some(chain.address));
    let shared = explorer.shared();
    let game = Mutex::new(Game { mirror, player, traces: HashMap::new(), explorer, observed: None });
    let server = Arc::new(Server { cfg, chain, store, runtime, p2p, infer_lock: Mutex::new(()), game });
    let app =
        Router::new().route("/health", get(health)).route("/v1/inference", post(inference)).route("/v1/claims/{id}", get(claim)).with_state(server.clone());
    // The operator's routes on the same address: `/metrics` and the dispute explorer.
    let app = app.merge(gavel_challenger::http::router(shared));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    if let Some(node) = &server.p2p {
        net::emit_listening(node);
    }
    emit(json!({ "event": "listening", "addr": local.to_string(), "address": server.chain.address.to_string() }));
    let chain_task = tokio::spawn(server.clone().chain_loop());
    let p2p_task = p2p_events.map(|ev| tokio::spawn(server.clone().p2p_loop(ev)));
    tokio::select! {
        r = axum::serve(listener, app) => r.context("HTTP server")?,
        _ = stop => {}
    }
    chain_task.abort();
    if let Some(t) = p2p_task {
        t.abort();
    }
    Ok(())
}
