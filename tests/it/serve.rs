//! `gavel serve --fast-claims` as a process on a real anvil (`gavel devnet`): its HTTP API with
//! good and bad requests, an on-chain request from a consumer contract, a lying challenger it
//! defeats on a claim posted at the deployment's largest level-2 depth, and finalization into
//! the consumer's callback.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::{self, events, wait_event, Proc};

use alloy::primitives::U256;
use gavel_bisection::state::BlobCommitment;
use gavel_bisection::tree::Status;
use gavel_challenger::chain::{event_in, Chain, DEV_KEYS};
use gavel_challenger::contracts::{ICourt, IExampleConsumer};
use gavel_challenger::player::Mirror;
use gavel_challenger::trace::RunTrace;
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use gavel_tests::gavel_bin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_answers_http_and_chain_requests_and_defends_its_claims() {
    let procs::Testnet { work, dep, d, devnet: _devnet } = procs::testnet("serve", &[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(gavel_bin())
        .args([
            "serve",
            "--deployment",
            dep.to_str().unwrap(),
            "--state",
            work.join("serve").to_str().unwrap(),
            "--listen",
            &addr,
            "--poll-ms",
            "100",
            "--fast-claims",
        ])
        .env("GAVEL_PRIVATE_KEY", DEV_KEYS[1])
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = events(&mut child);
    let _server = Proc(child);
    wait_event(&rx, "listening", Duration::from_secs(60));

    // Bad requests: clear 4xx errors, and the server keeps serving.
    let (s, v) = procs::http(&addr, "GET", "/health", b"");
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    for (body, want) in [
        (&b"{not json"[..], 400),
        (br#"{"model_id": 1}"#, 400),
        (br#"{"model_id": 1, "input": "zz"}"#, 400),
        (br#"{"model_id": 1, "input": "0x00112233"}"#, 400),
        (br#"{"model_id": 99, "input": "0x"}"#, 404),
        (br#"{"model_id": 1, "input": "0x", "extra": true}"#, 400),
    ] {
        let (s, v) = procs::http(&addr, "POST", "/v1/inference", body);
        assert_eq!(s, want, "{} -> {v}", String::from_utf8_lossy(body));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let input = gavel_codec::encode(&case.inputs);
    // A tensor set that does not fit the model: the guest rejects it, no claim is posted.
    let wrong = gavel_codec::encode(&[gavel_codec::Tensor::new("nope", gavel_codec::DType::F32, vec![1], vec![0; 4]).unwrap()]);
    let (s, v) = procs::http(&addr, "POST", "/v1/inference", procs::inference_body(1, &wrong).as_bytes());
    assert_eq!(s, 422, "{v}");
    let (s, v) = procs::http(&addr, "GET", "/v1/claims/abc", b"");
    assert_eq!(s, 400, "{v}");
    let (s, _) = procs::http(&addr, "GET", "/v1/claims/999", b"");
    assert_eq!(s, 404);

    // A good HTTP request: outputs and a claim.
    let (s, v) = procs::http(&addr, "POST", "/v1/inference", procs::inference_body(1, &input).as_bytes());
    assert_eq!(s, 200, "{v}");
    let http_claim = v["claim_id"].as_u64().unwrap();
    // A fast claim: posted from the wasmtime run alone, at the deployment's largest depth.
    assert_eq!(v["macro_steps"].as_u64(), Some(18), "{v}");
    assert!(!v["outputs"].as_array().unwrap().is_empty());
    let (s, c) = procs::http(&addr, "GET", &format!("/v1/claims/{http_claim}"), b"");
    assert_eq!(s, 200);
    assert_eq!(c["chain_status"], 1, "pending: {c}");

    // Requests outside the server's policy are skipped with a reason: one that pays nothing, and
    // one whose callback may burn more gas than the server accepts to spend finalizing it.
    let consumer = Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap();
    let input_root = BlobCommitment::of(&input).id();
    let reg_c = ICourt::new(d.court, &consumer.provider);
    for (payment, gas, why) in [(0u64, 100_000u32, "below the server's minimum"), (10u64.pow(16), 1_500_000, "above the server's maximum")] {
        let ask = reg_c.requestCompute(1, input_root.into(), input.clone().into(), gas).value(U256::from(payment));
        let r = consumer.send(ask.into_transaction_request(), "requestCompute").await.unwrap();
        let request = event_in::<ICourt::ComputeRequested>(&r).unwrap().requestId;
        let skipped = wait_event(&rx, "request_skipped", Duration::from_secs(60));
        assert_eq!(skipped["request"], request, "{skipped}");
        assert!(skipped["reason"].as_str().unwrap().contains(why), "{skipped}");
    }

    // An on-chain request from the consumer contract is answered.
    let example = IExampleConsumer::new(d.consumer, &consumer.provider);
    let ask = example.ask(1, input_root.into(), input.clone().into()).value(U256::from(10u64.pow(16)));
    let r = consumer.send(ask.into_transaction_request(), "ask").await.unwrap();
    let request = event_in::<ICourt::ComputeRequested>(&r).unwrap().requestId;
    let answered = wait_event(&rx, "request_answered", Duration::from_secs(120));
    assert_eq!(answered["request"], request);
    let chain_claim = answered["claim"].as_u64().unwrap();

    // A request on an input the model rejects (no tensor set at all) gets the true claim that
    // the run fails: its failed final state and the FAILED_OUTPUT word.
    let garbage = b"not a tensor set".to_vec();
    let ask = reg_c.requestCompute(1, BlobCommitment::of(&garbage).id().into(), garbage.clone().into(), 100_000).value(U256::from(10u64.pow(16)));
    let r = consumer.send(ask.into_transaction_request(), "requestCompute").await.unwrap();
    let failed_request = event_in::<ICourt::ComputeRequested>(&r).unwrap().requestId;
    let answered = wait_event(&rx, "request_answered", Duration::from_secs(120));
    assert_eq!(answered["request"], failed_request, "{answered}");
    let failed_claim = answered["claim"].as_u64().unwrap();
    let (_, rec) = procs::http(&addr, "GET", &format!("/v1/claims/{failed_claim}"), b"");
    assert_eq!(rec["claim"]["output_root"], format!("0x{}", "0".repeat(64)), "{rec}");

    // A lying challenger disputes the HTTP claim and loses to the server.
    let liar = Chain::connect(&d.rpc_url, DEV_KEYS[4]).await.unwrap();
    let cache = work.join("liar");
    std::fs::create_dir_all(&cache).unwrap();
    let model = crate::model_bytes(&case);
    let mut lying = tokio::task::block_in_place(|| {
        let t =
            RunTrace::honest(crate::runtime(), model, std::sync::Arc::new(input.clone()), &MachineOptions::default(), Some(&cache), &mut |_, _| {}).unwrap();
        RunTrace::faulty(t, 16, 1 << 22).unwrap()
    });
    let (_, rec) = procs::http(&addr, "GET", &format!("/v1/claims/{http_claim}"), b"");
    assert_eq!(rec["claim"]["level2_depth"].as_u64(), Some(u64::from(d.params.max_level2_depth)), "a fast claim takes the largest depth");
    // The liar counters the HTTP claim with its corrupted trace and defends its nodes; the
    // server answers each (it builds its step index only now). The liar stops when it has had
    // nothing to do for 5 s.
    let liar_moves = crate::tree_game::play_until_idle(&liar, &d, http_claim, &mut lying, Duration::from_secs(5)).await;
    assert!(liar_moves >= 1, "the liar countered");
    wait_event(&rx, "defending", Duration::from_secs(60));

    // Past every deadline the server resolves its claims, the request pays the on-chain claim
    // and the consumer's callback fires.
    for claim in [chain_claim, failed_claim, http_claim] {
        procs::settle_when_quiet(&d, claim, Duration::from_secs(1), Duration::from_secs(60)).await;
    }
    let deployer = Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap();
    let court = ICourt::new(d.court, &deployer.provider);
    let t = Instant::now();
    loop {
        let a = court.claimStatus(http_claim).call().await.unwrap();
        let b = court.claimStatus(chain_claim).call().await.unwrap();
        let c = court.claimStatus(failed_claim).call().await.unwrap();
        if a == 2 && b == 2 && c == 2 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "claims not final: {a} {b} {c}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut mirror = Mirror::new(&d).unwrap();
    mirror.sync(&liar).await.unwrap();
    let liar_account = mirror.account_of(liar.address).expect("the liar acted");
    for &id in mirror.model.nodes_of(http_claim) {
        if mirror.model.node(id).unwrap().poster == liar_account {
            assert_eq!(mirror.model.status_of(id), Status::Countered, "liar node {id}");
        }
    }
    wait_event(&rx, "fulfilled", Duration::from_secs(60));
    let (_, rec) = procs::http(&addr, "GET", &format!("/v1/claims/{chain_claim}"), b"");
    let got = example.results(request).call().await.unwrap();
    assert_eq!(got.to_string(), rec["claim"]["output_root"].as_str().unwrap());
    let (s, _) = procs::http(&addr, "GET", "/health", b"");
    assert_eq!(s, 200);
    std::fs::remove_dir_all(&work).ok();
}
