//! Every way a claim can be false, posted by raw transactions (hand-built `ClaimData`, not gavel's
//! server code), against `gavel watch` as a process on a real anvil: each false claim is disputed
//! with the right kind of dispute and refuted, true claims are agreed with (a true "failed" claim
//! included), claims on inputs the guest rejects (poison claims, posted first) stop nothing, and
//! a `kill -9` in the middle of the disputes changes nothing.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{B256, U256};
use gavel_bisection::binding::FAILED_OUTPUT;
use gavel_bisection::state::BlobCommitment;
use gavel_challenger::chain::{event_in, Chain, DEV_KEYS};
use gavel_challenger::contracts::{IClaimTree, ICourt};
use gavel_challenger::trace::RunTrace;
use gavel_codec::{DType, Tensor};
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;

use crate::procs::{self, EventLog};

const ETH: u128 = 1_000_000_000_000_000_000;

/// `gavel watch` on `deployment`, its events in a log.
fn watch(t: &procs::Testnet, log: &str) -> (procs::Proc, EventLog) {
    watch_with_env(t, log, &[])
}

fn watch_with_env(t: &procs::Testnet, log: &str, env: &[(&str, &str)]) -> (procs::Proc, EventLog) {
    watch_with_args(t, log, env, &[])
}

fn watch_with_args(t: &procs::Testnet, log: &str, env: &[(&str, &str)], extra: &[&str]) -> (procs::Proc, EventLog) {
    let mut args: Vec<String> =
        ["watch", "--deployment", &t.dep.display().to_string(), "--state", &t.work.join("watch").display().to_string(), "--poll-ms", "100", "--no-p2p"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let (p, rx) = procs::node_with_env(&args, DEV_KEYS[4], &t.work.join(log), env);
    (p, EventLog::new(rx))
}

/// The true run of `input`, computed here only to build the false claims.
fn truth(t: &procs::Testnet, model: &Arc<Vec<u8>>, input: &[u8]) -> RunTrace {
    let dir = t.work.join("truth");
    std::fs::create_dir_all(&dir).unwrap();
    tokio::task::block_in_place(|| {
        RunTrace::honest(crate::runtime(), model.clone(), Arc::new(input.to_vec()), &MachineOptions::default(), Some(&dir), &mut |_, _| {})
    })
    .unwrap()
}

fn data(model_id: u64, input: &[u8], n: u64, depth: u8, output: [u8; 32], final_root: [u8; 32]) -> ICourt::ClaimData {
    ICourt::ClaimData {
        modelId: model_id,
        requestId: 0,
        macroStepCount: n,
        level2Depth: depth,
        inputRoot: B256::from(BlobCommitment::of(input).id()),
        outputRoot: B256::from(output),
        finalStateRoot: B256::from(final_root),
    }
}

fn made_up(tag: &str) -> [u8; 32] {
    alloy::primitives::keccak256(tag.as_bytes()).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_false_claim_is_refuted_and_poison_claims_stop_nothing() {
    let t = procs::testnet("false-claims", &[]);
    let d = t.d.clone();
    let (liar, consumer) = (Chain::connect(&d.rpc_url, DEV_KEYS[2]).await.unwrap(), Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap());
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let k = u64::from(d.params.k);

    // Three inputs go on chain inline with a request each (that is how the watchtower gets
    // them): silero-vad's real input, bytes that are no tensor set, and the real input with its
    // audio retyped as int32 (a dtype the model rejects).
    let good = gavel_codec::encode(&case.inputs);
    let garbage = b"these bytes are not a GVTS tensor set".to_vec();
    let retyped: Vec<Tensor> = case
        .inputs
        .iter()
        .map(|x| if x.name == "input" { Tensor::new(x.name.clone(), DType::I32, x.shape.clone(), x.data.clone()).unwrap() } else { x.clone() })
        .collect();
    let wrong_dtype = gavel_codec::encode(&retyped);
    let reg_c = ICourt::new(d.court, &consumer.provider);
    for input in [&good, &garbage, &wrong_dtype] {
        let root = B256::from(BlobCommitment::of(input).id());
        let ask = reg_c.requestCompute(1, root, input.clone().into(), 100_000).value(U256::from(ETH / 100));
        let r = consumer.send(ask.into_transaction_request(), "requestCompute").await.unwrap();
        assert!(event_in::<ICourt::ComputeRequested>(&r).is_some());
    }

    let real = truth(&t, &model, &good);
    let shape = real.claim_shape(k);
    let (n, depth) = (shape.macro_steps, shape.level2_depth);
    let bad_bytes = truth(&t, &model, &garbage);
    let bad_dtype = truth(&t, &model, &wrong_dtype);
    assert_eq!(bad_bytes.output_root(), FAILED_OUTPUT, "bytes that are no tensor set must fail the run");
    assert_eq!(bad_dtype.output_root(), FAILED_OUTPUT, "a rejected dtype must fail the run");
    let (bb, bd) = (bad_bytes.claim_shape(k), bad_dtype.claim_shape(k));

    // (name, claim, expected: "execution" | "output" | "agrees"), posted in this order: the
    // poison claims first.
    let cases: Vec<(&str, ICourt::ClaimData, &str)> = vec![
        ("poison: a failed run claimed done", data(1, &garbage, bb.macro_steps, bb.level2_depth, made_up("out"), made_up("final")), "execution"),
        ("poison: true failed state, made-up output", data(1, &wrong_dtype, bd.macro_steps, bd.level2_depth, made_up("out"), bd.final_root), "output"),
        ("true failed claim", data(1, &garbage, bb.macro_steps, bb.level2_depth, FAILED_OUTPUT, bb.final_root), "agrees"),
        ("wrong final state", data(1, &good, n, depth, shape.output_root, made_up("final")), "execution"),
        ("true final state, wrong output", data(1, &good, n, depth, made_up("out"), shape.final_root), "output"),
        ("a running state claimed final", data(1, &good, n - 1, depth, shape.output_root, real.level1_root(n - 1)), "output"),
        ("wrong macro-step count", data(1, &good, n + 3, depth, shape.output_root, made_up("final")), "execution"),
        ("level-2 depth too small", data(1, &good, n, depth - 1, shape.output_root, made_up("final")), "execution"),
        ("a succeeding run claimed failed", data(1, &good, n, depth, FAILED_OUTPUT, shape.final_root), "output"),
        ("true claim", data(1, &good, n, depth, shape.output_root, shape.final_root), "agrees"),
    ];
    let reg = ICourt::new(d.court, &liar.provider);
    let mut ids = Vec::new();
    for (name, c, _) in &cases {
        let r = liar.send(reg.postClaim(c.clone(), B256::ZERO).value(U256::from(ETH)).into_transaction_request(), name).await.unwrap();
        ids.push(event_in::<ICourt::ClaimPosted>(&r).unwrap().claimId);
    }

    // The watchtower judges all of them; the liar never answers.
    let (first, mut ev) = watch(&t, "watch-first.log");
    let (mut disputed, mut agreed) = (std::collections::HashMap::new(), Vec::new());
    while disputed.len() + agreed.len() < cases.len() {
        let e = ev.next_any(&["disputed", "agrees"], Duration::from_secs(240));
        let claim = e["claim"].as_u64().unwrap();
        if e["event"] == "agrees" {
            agreed.push(claim);
        } else {
            disputed.insert(claim, e["fault"].as_str().unwrap().to_string());
        }
    }
    for ((name, _, expected), id) in cases.iter().zip(&ids) {
        match *expected {
            "agrees" => assert!(agreed.contains(id), "{name}: claim {id} should be agreed with"),
            kind => assert_eq!(disputed.get(id).map(String::as_str), Some(kind), "{name}: claim {id}"),
        }
    }
    assert!(ev.all("claim_error").is_empty(), "{:?}", ev.all("claim_error"));

    // kill -9 in the middle of the disputes; the restarted watchtower resumes every one.
    first.kill9();
    let (_second, mut ev) = watch(&t, "watch-second.log");
    let resumed = ev.next_n("resumed", disputed.len(), Duration::from_secs(240));
    let mut resumed: Vec<u64> = resumed.iter().map(|e| e["claim"].as_u64().unwrap()).collect();
    resumed.sort_unstable();
    let mut expect: Vec<u64> = disputed.keys().copied().collect();
    expect.sort_unstable();
    assert_eq!(resumed, expect);

    // The liar's clocks run out; the watchtower wins every dispute.
    let deployer = Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap();
    deployer.warp(d.params.clock_time + 1).await.unwrap();
    let resolved = ev.next_n("resolved", disputed.len(), Duration::from_secs(240));
    for e in &resolved {
        assert_eq!(e["verdict"], "won", "{e}");
    }
    let court = ICourt::new(d.court, &deployer.provider);
    let tree = IClaimTree::new(d.tree, &deployer.provider);
    for ((name, _, expected), id) in cases.iter().zip(&ids) {
        if *expected == "agrees" {
            // Nobody countered it; its window has passed: resolving it makes it final.
            deployer.send(tree.resolveNode(*id, U256::from(16)).into_transaction_request(), "resolveNode").await.unwrap();
            assert_eq!(court.claimStatus(*id).call().await.unwrap(), 2, "{name}");
        } else {
            assert_eq!(court.claimStatus(*id).call().await.unwrap(), 3, "{name}: claim {id} is refuted");
        }
    }
    std::fs::remove_dir_all(&t.work).ok();
}

/// wasmtime and the step machine part ways (forced: the host fails a `memory.grow` the limit
/// allows, which WebAssembly would let return -1 while the step machine grows). The watchtower
/// says so loudly and judges with the step machine's trace, which is what the chain enforces,
/// and still refutes a false claim down to the step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_grow_failure_falls_back_to_the_step_machine_and_still_wins() {
    let t = procs::testnet("divergence", &[]);
    let d = t.d.clone();
    let (liar, consumer) = (Chain::connect(&d.rpc_url, DEV_KEYS[2]).await.unwrap(), Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap());
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let good = gavel_codec::encode(&case.inputs);
    let root = B256::from(BlobCommitment::of(&good).id());
    let reg_c = ICourt::new(d.court, &consumer.provider);
    consumer.send(reg_c.requestCompute(1, root, good.clone().into(), 100_000).value(U256::from(ETH / 100)).into_transaction_request(), "ask").await.unwrap();
    let real = truth(&t, &model, &good);
    let shape = real.claim_shape(u64::from(d.params.k));
    let lie = data(1, &good, shape.macro_steps, shape.level2_depth, shape.output_root, made_up("final"));
    let reg = ICourt::new(d.court, &liar.provider);
    let r = liar.send(reg.postClaim(lie, B256::ZERO).value(U256::from(ETH)).into_transaction_request(), "postClaim").await.unwrap();
    let claim = event_in::<ICourt::ClaimPosted>(&r).unwrap().claimId;

    let fault = [(gavel_runner::machine::FAULT_HOST_GROW_ENV, "1")];
    let (first, mut ev) = watch_with_env(&t, "watch.log", &fault);
    let div = ev.next("divergence", Duration::from_secs(240));
    assert_eq!(div["claim"], claim, "{div}");
    assert!(div["reason"].as_str().unwrap().contains("failed to grow"), "{div}");
    let disputed = ev.next("disputed", Duration::from_secs(120));
    assert_eq!(disputed["claim"], claim);
    assert_eq!(disputed["fault"], "execution");
    // kill -9 mid-dispute: the restarted watchtower (same faulty host) resumes and still wins.
    first.kill9();
    let (_watch, mut ev) = watch_with_env(&t, "watch-second.log", &fault);
    let resumed = ev.next("resumed", Duration::from_secs(240));
    assert_eq!(resumed["claim"], claim);
    let deployer = Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap();
    deployer.warp(d.params.clock_time + 1).await.unwrap();
    let resolved = ev.next("resolved", Duration::from_secs(120));
    assert_eq!(resolved["verdict"], "won", "{resolved}");
    let s = ICourt::new(d.court, &deployer.provider).claimStatus(claim).call().await.unwrap();
    assert_eq!(s, 3, "the claim is refuted");
    std::fs::remove_dir_all(&t.work).ok();
}

/// A run that needs more memory than the limit is an outcome, not an error: both engines see
/// `memory.grow` return -1, the guest gives up, and the trace ends in a failed or trapped state
/// whose claim is `FAILED_OUTPUT` (before, building the trace failed, which stopped the
/// watchtower's whole tick on such a claim).
#[test]
fn a_run_past_the_memory_limit_is_an_outcome() {
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let input = Arc::new(gavel_codec::encode(&case.inputs));
    let dir = std::env::temp_dir().join(format!("gavel-memlimit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // silero-vad's model alone is larger than 2 MiB.
    let options = MachineOptions { memory_limit_mib: 2 };
    let t = RunTrace::honest(crate::runtime(), model, input, &options, Some(&dir), &mut |_, _| {}).unwrap();
    assert_eq!(t.divergence(), None, "both engines must agree on a run denied memory");
    assert_eq!(t.output_root(), FAILED_OUTPUT);
    let last = t.labels().last().unwrap();
    assert_eq!(last.kind, "failed", "{last:?}");
    assert!(last.name.contains("memory limit"), "{last:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A claim with more macro-steps than the run and a made-up final root is dissected past the
/// run's end; there the honest trace is the halted final state at every position, and its step
/// proofs show the fixed point the chain's verifier computes (`spec/game.md`, "Positions").
#[test]
fn the_honest_trace_past_the_end_of_the_run_is_the_halted_final_state() {
    use gavel_bisection::game::{TraceProvider, LEVEL_INSTRUCTION, LEVEL_MACRO};
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let input = Arc::new(gavel_codec::encode(&case.inputs));
    let dir = std::env::temp_dir().join(format!("gavel-past-end-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut t = RunTrace::honest(crate::runtime(), model, input, &MachineOptions::default(), Some(&dir), &mut |_, _| {}).unwrap();
    let n = t.counts().len() as u64;
    let last = *t.level1().last().unwrap();
    assert_eq!(t.root(LEVEL_MACRO, 0, n + 7).unwrap(), last);
    for (m, position) in [(n, 0), (n, 9), (n + 5, 1 << 20)] {
        assert_eq!(t.root(LEVEL_INSTRUCTION, m, position).unwrap(), last);
        let proof = t.step_proof(m, position).unwrap();
        let (after, _) = gavel_bisection::verify::verify_step_bounded(&last, &proof, Some(m)).unwrap();
        assert_eq!(after, last, "a halted state is a fixed point of macro-step {m}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A flood: 20 valid claims on the detector, each on a different input the watchtower must run,
/// then one false claim on a copy of the model registered with a 20-second window. The
/// watchtower judges claims earliest-deadline-first with a bounded judging time per tick, so
/// the false claim is disputed within its window (and refuted) however many claims came first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_valid_claims_does_not_push_a_false_claim_past_its_window() {
    use gavel_challenger::chain::{register_model, ModelPolicy};
    use gavel_challenger::fast_trace::FastTrace;
    const FLOOD: usize = 20;
    const WINDOW: u32 = 20;
    let mut t = procs::testnet("flood", &["--models", "ppocr_det", "--clock-extension", "10"]);
    let deployer = Chain::connect(&t.d.rpc_url, DEV_KEYS[0]).await.unwrap();
    let case = Case::load(&repo_root(), "ppocr_det").unwrap();
    let model = crate::model_bytes(&case);
    let det = t.d.models.iter().find(|m| m.name == "ppocr_det").expect("the detector is registered").id;
    let fast =
        register_model(&deployer, &mut t.d, "ppocr_det_fast", &case.model, &model, ModelPolicy { claim_bond: ETH, challenge_window: WINDOW }).await.unwrap();
    t.d.save(&t.dep).unwrap();
    let d = t.d.clone();
    let (server, liar, consumer) = (
        Chain::connect(&d.rpc_url, DEV_KEYS[1]).await.unwrap(),
        Chain::connect(&d.rpc_url, DEV_KEYS[2]).await.unwrap(),
        Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap(),
    );

    // Inputs: the real test image (1×3×128×320, 480 KiB: small enough to go on chain inline),
    // one value different for each claim, so the watchtower must run every one.
    let x = &case.inputs[0];
    let crop = |variant: usize| -> Vec<u8> {
        let mut data = x.data.clone();
        data[0..4].copy_from_slice(&(variant as f32 / 1000.0).to_le_bytes());
        gavel_codec::encode(&[Tensor::new(x.name.clone(), x.dtype, x.shape.clone(), data).unwrap()])
    };
    let inputs: Vec<Vec<u8>> = (0..FLOOD).map(crop).collect();
    let reg_c = ICourt::new(d.court, &consumer.provider);
    let runtime = Arc::new(crate::runtime().clone());
    let mut claims = Vec::new();
    for input in &inputs {
        let root = B256::from(BlobCommitment::of(input).id());
        consumer
            .send(reg_c.requestCompute(det, root, input.clone().into(), 100_000).value(U256::from(ETH / 100)).into_transaction_request(), "ask")
            .await
            .unwrap();
        // A valid claim at the largest depth, as `gavel serve --fast-claims` posts it.
        let run = tokio::task::block_in_place(|| FastTrace::open(runtime.clone(), model.clone(), Arc::new(input.clone()), &MachineOptions::default())).unwrap();
        let n = run.macro_steps();
        claims.push(data(det, input, n, d.params.max_level2_depth, run.output_at(n).unwrap(), run.level1_root(n)));
    }
    let first = &claims[0];

    let (_watch, mut ev) = watch(&t, "watch.log");
    ev.next("started", Duration::from_secs(60));
    let reg_s = ICourt::new(d.court, &server.provider);
    for c in &claims {
        server.send(reg_s.postClaim(c.clone(), B256::ZERO).value(U256::from(ETH)).into_transaction_request(), "postClaim").await.unwrap();
    }
    // The watchtower is busy with the flood (running one input after another) when a false
    // claim on the same model (the short-window copy) arrives.
    ev.next_n("agrees", 2, Duration::from_secs(120));
    let flood_started = std::time::Instant::now();
    let mut lie = first.clone();
    lie.modelId = fast;
    lie.finalStateRoot = B256::from(made_up("final"));
    let reg_l = ICourt::new(d.court, &liar.provider);
    let posted = std::time::Instant::now();
    let r = liar.send(reg_l.postClaim(lie, B256::ZERO).value(U256::from(ETH)).into_transaction_request(), "postClaim").await.unwrap();
    let opened = event_in::<IClaimTree::ClaimOpened>(&r).unwrap();
    let (claim, deadline) = (opened.rootId, opened.deadline.to::<u64>());
    let disputed = loop {
        let e = ev.next("disputed", Duration::from_secs(120));
        if e["claim"] == claim {
            break e;
        }
    };
    let to_first_move = posted.elapsed();
    let agreed = ev.all("agrees").len();
    eprintln!("flood: false claim disputed {:.2} s after posting, with {agreed} of {FLOOD} flood claims judged before it", to_first_move.as_secs_f64());
    assert!(agreed < FLOOD / 2, "the false claim should jump the queue of the flood ({agreed} judged first)");
    assert_eq!(disputed["fault"], "execution");
    assert!(to_first_move < Duration::from_secs(u64::from(WINDOW) / 2), "disputed {to_first_move:?} after posting; the window is {WINDOW} s");
    // Its counter landed inside its window, on chain.
    let mut mirror = gavel_challenger::player::Mirror::new(&d).unwrap();
    mirror.sync(&deployer).await.unwrap();
    let counter = mirror.model.nodes_of(claim).get(1).copied().expect("the claim was countered");
    assert!(mirror.model.node(counter).unwrap().posted_at <= deadline);

    // kill -9 with the dispute open and most of the flood unjudged: the restarted watchtower
    // resumes the dispute, judges the rest of the flood, and the liar, silent, loses.
    let judged_before = ev.all("agrees").len();
    drop(ev);
    _watch.kill9();
    let http = procs::free_addr();
    let (_watch, mut ev) = watch_with_args(&t, "watch-second.log", &[], &["--http", &http]);
    let resumed = ev.next("resumed", Duration::from_secs(120));
    assert_eq!(resumed["claim"], claim);
    let left = FLOOD - judged_before;
    // Some of those may have been judged just before the kill (their events were not read).
    ev.next_n("agrees", left.saturating_sub(3), Duration::from_secs(300));
    let took = flood_started.elapsed().as_secs_f64();
    eprintln!("flood: {} more valid detector claims judged in {took:.1} s across a kill -9 and a restart", FLOOD - 2);
    deployer.warp(d.params.clock_time + 1).await.unwrap();
    let resolved = ev.next("resolved", Duration::from_secs(120));
    assert_eq!(resolved["claim"], claim);
    assert_eq!(resolved["verdict"], "won", "{resolved}");
    // Every flood claim is agreed with, by one watchtower process or the other: the second one's
    // gauge counts its database, including claims the first judged just before the kill (whose
    // events were never read).
    let t0 = std::time::Instant::now();
    while procs::metric(&procs::scrape(&http), "gavel_claims{verdict=\"agrees\"}") < FLOOD as f64 {
        assert!(t0.elapsed() < Duration::from_secs(300), "{:?}", procs::scrape(&http));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(_watch);
    let store = gavel_challenger::store::Store::open(&t.work.join("watch").join("watch.redb")).unwrap();
    let records = store.all::<gavel_challenger::watch::ClaimRecord>().unwrap();
    let agreed = records.iter().filter(|(_, r)| r.verdict == "agrees").count();
    assert_eq!(agreed, FLOOD, "{:?}", records.iter().map(|(id, r)| (id, &r.verdict)).collect::<Vec<_>>());
    std::fs::remove_dir_all(&t.work).ok();
}

/// The memory-limit poison claim end to end: a deployment whose machine has a 2 MiB memory limit
/// (silero-vad's model alone does not fit, so every run of it ends when `memory.grow` is
/// denied). A claim that such a run finished is refuted, the true "failed" claim is agreed with,
/// and a false claim posted after them is refuted too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_on_runs_past_the_memory_limit_are_judged_like_any_other() {
    let t = procs::testnet("memlimit-chain", &["--memory-limit-mib", "2"]);
    let d = t.d.clone();
    assert_eq!(d.machine_options().memory_limit_mib, 2);
    let (liar, consumer) = (Chain::connect(&d.rpc_url, DEV_KEYS[2]).await.unwrap(), Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap());
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let good = gavel_codec::encode(&case.inputs);
    let reg_c = ICourt::new(d.court, &consumer.provider);
    let root = B256::from(BlobCommitment::of(&good).id());
    consumer.send(reg_c.requestCompute(1, root, good.clone().into(), 100_000).value(U256::from(ETH / 100)).into_transaction_request(), "ask").await.unwrap();
    let dir = t.work.join("truth");
    std::fs::create_dir_all(&dir).unwrap();
    let options = d.machine_options();
    let real = tokio::task::block_in_place(|| RunTrace::honest(crate::runtime(), model.clone(), Arc::new(good.clone()), &options, Some(&dir), &mut |_, _| {}))
        .unwrap();
    assert_eq!(real.output_root(), FAILED_OUTPUT, "silero-vad cannot run in 2 MiB");
    assert!(real.labels().last().unwrap().name.contains("memory limit"), "{:?}", real.labels().last());
    let s = real.claim_shape(u64::from(d.params.k));
    let cases = [
        ("poison: a run denied memory claimed done", data(1, &good, s.macro_steps, s.level2_depth, made_up("out"), made_up("final")), "execution"),
        ("true failed claim", data(1, &good, s.macro_steps, s.level2_depth, FAILED_OUTPUT, s.final_root), "agrees"),
        ("after the poison: the failed state with a made-up output", data(1, &good, s.macro_steps, s.level2_depth, made_up("out"), s.final_root), "output"),
    ];
    let reg = ICourt::new(d.court, &liar.provider);
    let mut ids = Vec::new();
    for (name, c, _) in &cases {
        let r = liar.send(reg.postClaim(c.clone(), B256::ZERO).value(U256::from(ETH)).into_transaction_request(), name).await.unwrap();
        ids.push(event_in::<ICourt::ClaimPosted>(&r).unwrap().claimId);
    }
    let (_watch, mut ev) = watch(&t, "watch.log");
    for ((name, _, expected), id) in cases.iter().zip(&ids) {
        let e = loop {
            let e = ev.next_any(&["disputed", "agrees"], Duration::from_secs(120));
            if e["claim"] == *id {
                break e;
            }
        };
        match *expected {
            "agrees" => assert_eq!(e["event"], "agrees", "{name}: {e}"),
            kind => assert_eq!(e["fault"], kind, "{name}: {e}"),
        }
    }
    // kill -9 with both disputes open; the restarted watchtower resumes them.
    drop(ev);
    _watch.kill9();
    let (_watch, mut ev) = watch(&t, "watch-second.log");
    ev.next_n("resumed", 2, Duration::from_secs(120));
    let deployer = Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap();
    deployer.warp(d.params.clock_time + 1).await.unwrap();
    for e in ev.next_n("resolved", 2, Duration::from_secs(120)) {
        assert_eq!(e["verdict"], "won", "{e}");
    }
    let tree = IClaimTree::new(d.tree, &deployer.provider);
    deployer.send(tree.resolveNode(ids[1], U256::from(16)).into_transaction_request(), "resolveNode").await.unwrap();
    assert_eq!(ICourt::new(d.court, &deployer.provider).claimStatus(ids[1]).call().await.unwrap(), 2);
    std::fs::remove_dir_all(&t.work).ok();
}

/// Alerts, never silence: a claim whose input nobody serves is `unverifiable` with an alert and
/// makes `gavel watch --once` exit non-zero; a claim whose window closes before the watchtower
/// can be sure to judge it raises `deadline_at_risk` while there is still time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverifiable_claims_and_deadlines_at_risk_are_alerts() {
    use gavel_challenger::chain::{register_model, ModelPolicy};
    let mut t = procs::testnet("alerts", &["--clock-time", "3"]);
    let deployer = Chain::connect(&t.d.rpc_url, DEV_KEYS[0]).await.unwrap();
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let short =
        register_model(&deployer, &mut t.d, "silero_vad_short", &case.model, &model, ModelPolicy { claim_bond: ETH, challenge_window: 3 }).await.unwrap();
    t.d.save(&t.dep).unwrap();
    let d = t.d.clone();
    let (server, consumer) = (Chain::connect(&d.rpc_url, DEV_KEYS[1]).await.unwrap(), Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap());
    let good = gavel_codec::encode(&case.inputs);
    let reg_c = ICourt::new(d.court, &consumer.provider);
    consumer
        .send(
            reg_c
                .requestCompute(1, B256::from(BlobCommitment::of(&good).id()), good.clone().into(), 100_000)
                .value(U256::from(ETH / 100))
                .into_transaction_request(),
            "ask",
        )
        .await
        .unwrap();
    let real = truth(&t, &model, &good);
    let s = real.claim_shape(u64::from(d.params.k));
    // A true claim on the 3-second model, and a claim on an input that never went anywhere.
    let on_time = data(short, &good, s.macro_steps, s.level2_depth, s.output_root, s.final_root);
    let nowhere = b"an input nobody serves".to_vec();
    let hidden = data(1, &nowhere, s.macro_steps, s.level2_depth, s.output_root, s.final_root);
    let reg = ICourt::new(d.court, &server.provider);
    let mut ids = Vec::new();
    for c in [&on_time, &hidden] {
        let r = server.send(reg.postClaim(c.clone(), B256::ZERO).value(U256::from(ETH)).into_transaction_request(), "postClaim").await.unwrap();
        ids.push(event_in::<ICourt::ClaimPosted>(&r).unwrap().claimId);
    }
    let args: Vec<String> = [
        "watch",
        "--deployment",
        &t.dep.display().to_string(),
        "--state",
        &t.work.join("watch").display().to_string(),
        "--poll-ms",
        "100",
        "--no-p2p",
        "--once",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (mut p, rx) = procs::node(&args, DEV_KEYS[4], &t.work.join("watch.log"));
    let mut ev = EventLog::new(rx);
    let risk = ev.next("deadline_at_risk", Duration::from_secs(60));
    assert_eq!(risk["claim"], ids[0]);
    assert_eq!(risk["alert"], true);
    let unverifiable = ev.next("unverifiable", Duration::from_secs(60));
    assert_eq!(unverifiable["claim"], ids[1]);
    assert_eq!(unverifiable["alert"], true);
    let status = p.0.wait().unwrap();
    assert!(!status.success(), "--once must fail while a claim cannot be checked");
    let log = std::fs::read_to_string(t.work.join("watch.log")).unwrap();
    assert!(log.contains("could not be checked"), "{log}");
    std::fs::remove_dir_all(&t.work).ok();
}
