//! The nodes on the p2p network, as processes on a real anvil: a faulty `gavel serve` answers an
//! HTTP request, so the claim's input exists only off chain; two `gavel watch` processes that
//! have neither the model file nor the input fetch both over libp2p (checked against the claim's
//! blob ids), dispute the claim and refute it. Garbage on the wire and bogus claim gossip are
//! rejected while the nodes keep serving. A second test: the server goes silent mid-dispute and
//! loses by timeout.

use std::path::Path;
use std::time::Duration;

use gavel_challenger::agent::ClaimFields;
use gavel_challenger::chain::{Chain, Deployment, DEV_KEYS};
use gavel_challenger::contracts::ICourt;
use gavel_challenger::net::{topic, ClaimAnnouncement};
use gavel_p2p::rogue::Rogue;
use gavel_p2p::{BlobRequest, Multiaddr};
use gavel_runner::cases::{repo_root, Case};

use crate::procs::{self, strings, EventLog, Proc};

/// A faulty server (one corrupted operator result per run) with p2p on; its events and p2p address.
fn faulty_server(dep: &Path, work: &Path) -> (Proc, EventLog, String, Multiaddr) {
    faulty_server_with(dep, work, &[])
}

/// [`faulty_server`] with `extra` arguments.
pub(crate) fn faulty_server_with(dep: &Path, work: &Path, extra: &[&str]) -> (Proc, EventLog, String, Multiaddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let http = format!("127.0.0.1:{port}");
    let state = work.join("serve");
    let mut args = strings(&[
        "serve",
        "--deployment",
        dep.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--listen",
        &http,
        "--poll-ms",
        "100",
        "--fault-macro-step",
        "16",
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let (p, rx) = procs::node(&args, DEV_KEYS[1], &work.join("serve.log"));
    let mut log = EventLog::new(rx);
    let listening = log.next("p2p_listening", Duration::from_secs(60));
    let addr: Multiaddr = listening["addrs"][0].as_str().unwrap().parse().unwrap();
    log.next("listening", Duration::from_secs(30));
    (p, log, http, addr)
}

/// A watchtower dialling `peer`, with its own key and state.
fn watcher(dep: &Path, work: &Path, name: &str, key: &str, peer: &Multiaddr) -> (Proc, EventLog, Multiaddr) {
    watcher_with(dep, work, name, key, peer, &[])
}

/// [`watcher`] with `extra` arguments.
pub(crate) fn watcher_with(dep: &Path, work: &Path, name: &str, key: &str, peer: &Multiaddr, extra: &[&str]) -> (Proc, EventLog, Multiaddr) {
    let state = work.join(name);
    let mut args =
        strings(&["watch", "--deployment", dep.to_str().unwrap(), "--state", state.to_str().unwrap(), "--poll-ms", "100", "--peer", &peer.to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let (p, rx) = procs::node(&args, key, &work.join(format!("{name}.log")));
    let mut log = EventLog::new(rx);
    let listening = log.next("p2p_listening", Duration::from_secs(60));
    let addr = listening["addrs"][0].as_str().unwrap().parse().unwrap();
    log.next("peer_connected", Duration::from_secs(30));
    (p, log, addr)
}

/// The deployment as a watchtower without the model files sees it: every model path is wrong,
/// so the model must come over the network.
pub(crate) fn without_models(dep: &Path, out: &Path) {
    let mut d = Deployment::load(dep).unwrap();
    for m in &mut d.models {
        m.path = "/nonexistent/model.onnx".into();
    }
    d.save(out).unwrap();
}

/// POST /v1/inference of silero's reference input; the claim id.
pub(crate) fn infer(http: &str) -> u64 {
    let (status, v) = infer_request(http);
    assert_eq!(status, 200, "{v}");
    v["claim_id"].as_u64().unwrap()
}

/// POST /v1/inference of silero's reference input; the status and body.
pub(crate) fn infer_request(http: &str) -> (u16, serde_json::Value) {
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    procs::http(http, "POST", "/v1/inference", procs::inference_body(1, &gavel_codec::encode(&case.inputs)).as_bytes())
}

/// Sends garbage at a node's p2p port: raw TCP bytes, then malformed blob requests and bogus
/// claim gossip from a real libp2p peer: not JSON, a claim that does not exist, and claim
/// `forged` with fields that do not match the Court's hash.
async fn attack(addr: &Multiaddr, d: &Deployment, forged: u64) {
    let port = gavel_p2p::tcp_port(addr).unwrap();
    for junk in [vec![0x13u8; 2048], b"/multistream/1.0.0\nGET / HTTP/1.1\r\n\r\n".to_vec()] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(&junk).await.ok();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
    }
    let mut rogue = Rogue::new(&topic(d)).unwrap();
    let peer = rogue.connect(addr.clone()).await.unwrap();
    for bad in [vec![7u8; 3], vec![0u8; 200]] {
        let r = rogue.raw_request(peer, bad).await.unwrap();
        assert!(r.as_ref().map(|v| v.is_empty()).unwrap_or(true), "a malformed request got an answer: {r:?}");
    }
    // A well-formed request for a blob nobody has: "not found".
    let missing = BlobRequest { id: [0xab; 32], offset: 0, len: 1024 }.encode().to_vec();
    assert_eq!(rogue.raw_request(peer, missing).await.unwrap().unwrap(), vec![1]);
    // Gossip: not JSON; a claim that does not exist; the right claim id with a forged field.
    let fake = ClaimFields {
        model_id: 1,
        request_id: 0,
        macro_steps: 18,
        level2_depth: 12,
        input_root: format!("0x{}", "11".repeat(32)),
        output_root: format!("0x{}", "22".repeat(32)),
        final_root: format!("0x{}", "33".repeat(32)),
    };
    rogue.publish(peer, b"{\"format\": 7".to_vec()).await.unwrap();
    rogue.publish(peer, serde_json::to_vec(&ClaimAnnouncement::new(d, 999, fake.clone())).unwrap()).await.unwrap();
    rogue.publish(peer, serde_json::to_vec(&ClaimAnnouncement::new(d, forged, fake)).unwrap()).await.unwrap();
    rogue.run_for(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchtowers_fetch_blobs_over_libp2p_and_refute_an_off_chain_claim() {
    let procs::Testnet { work, dep, d, devnet: _devnet } = procs::testnet("p2p", &[]);
    let (_server, mut srx, http, server_addr) = faulty_server(&dep, &work);

    // Garbage at the server's p2p port: it is rejected, and the server keeps serving.
    attack(&server_addr, &d, 998).await;
    let rejected = srx.next_n("gossip_rejected", 3, Duration::from_secs(30));
    assert!(rejected[0]["error"].as_str().unwrap().contains("not a claim announcement"), "{}", rejected[0]);
    assert!(rejected[1]["error"].as_str().unwrap().contains("does not exist"), "{}", rejected[1]);
    srx.next("p2p_bad_request", Duration::from_secs(10));

    // Two watchtowers without the model file, connected to the server.
    let wdep = work.join("deployment-no-models.json");
    without_models(&dep, &wdep);
    let (_w1, mut rx1, w1_addr) = watcher(&wdep, &work, "watch1", DEV_KEYS[4], &server_addr);
    let (_w2, mut rx2, _) = watcher(&wdep, &work, "watch2", DEV_KEYS[5], &server_addr);

    // An HTTP request: the claim's input is known only to the server.
    let claim = infer(&http);
    let announced = srx.next("announced", Duration::from_secs(30));
    assert_eq!((announced["claim"].as_u64(), announced["ok"].as_bool()), (Some(claim), Some(true)), "{announced}");
    // A forged announcement of that very claim reaches watchtower 1 mid-dispute.
    attack(&w1_addr, &d, claim).await;
    let rejected = rx1.next_n("gossip_rejected", 3, Duration::from_secs(30));
    assert!(rejected[2]["error"].as_str().unwrap().contains("do not match"), "{}", rejected[2]);
    let model_root = d.models[0].model_root.to_lowercase();
    let mut verdicts = Vec::new();
    for rx in [&mut rx1, &mut rx2] {
        let a = rx.next("announcement", Duration::from_secs(60));
        assert_eq!(a["claim"], claim);
        let fetched = rx.next_n("fetched", 2, Duration::from_secs(120));
        let blobs: Vec<&str> = fetched.iter().map(|f| f["blob"].as_str().unwrap()).collect();
        assert!(blobs.contains(&model_root.as_str()), "the model came over the network: {blobs:?}");
        // Each challenges the claim, unless the other already refuted it (then it was "missed").
        let opened = rx.next_any(&["disputed", "missed"], Duration::from_secs(120));
        assert_eq!(opened["claim"], claim);
        verdicts.push(if opened["event"] == "missed" { "missed".to_string() } else { String::new() });
    }
    // The faulty server defends its claim node by node; once the tree is quiet, the chain's
    // clock moves past its deadlines and the watchtowers resolve it.
    crate::procs::settle_when_quiet(&d, claim, Duration::from_secs(4), Duration::from_secs(240)).await;
    // Both played the honest strategy (the second found most moves made), or one came too late.
    for (rx, v) in [&mut rx1, &mut rx2].into_iter().zip(verdicts.iter_mut()) {
        if v.is_empty() {
            *v = rx.next("resolved", Duration::from_secs(240))["verdict"].as_str().unwrap().to_string();
        }
    }
    assert!(verdicts.iter().any(|v| v == "won"), "{verdicts:?}");
    assert!(verdicts.iter().all(|v| v == "won" || v == "missed"), "{verdicts:?}");
    let chain = Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap();
    let status = ICourt::new(d.court, &chain.provider).claimStatus(claim).call().await.unwrap();
    assert_eq!(status, 3, "the claim is refuted");
    // At this claim's level-2 depth the watchtowers made the last, one-instruction dissection:
    // the liar could step none of it, so no instruction ran on chain. `gavel disputes` shows
    // where the bisection ended: inside the corrupted macro-step.
    let out = gavel_tests::gavel(&["disputes", "--deployment", dep.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let disputes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dispute = disputes.as_array().unwrap().iter().find(|x| x["claim"] == claim).unwrap();
    let n = &dispute["narrowed"];
    assert!(dispute["step"].is_null() && n["macro_step"].as_u64() == Some(16), "{dispute}");
    assert_eq!(n["end"].as_u64().unwrap() - n["start"].as_u64().unwrap(), u64::from(d.params.k), "{n}");

    // The server survived all of it.
    let (s, v) = procs::http(&http, "GET", "/health", b"");
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    std::fs::remove_dir_all(&work).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_silent_loses_when_its_clock_runs_out() {
    let procs::Testnet { work, dep, d, devnet: _devnet } = procs::testnet("p2p-silent", &["--clock-time", "30"]);
    let (server, _srx, http, server_addr) = faulty_server(&dep, &work);
    let wdep = work.join("deployment-no-models.json");
    without_models(&dep, &wdep);
    let (_w, mut rx, _) = watcher(&wdep, &work, "watch", DEV_KEYS[4], &server_addr);
    let claim = infer(&http);
    // Once the watchtower has the blobs, the server dies and never moves again.
    rx.next_n("fetched", 2, Duration::from_secs(120));
    server.kill9();
    let opened = rx.next("disputed", Duration::from_secs(120));
    assert_eq!(opened["claim"], claim);
    let resolved = rx.next("resolved", Duration::from_secs(180));
    assert_eq!(resolved["verdict"], "won", "{resolved}");
    // One counter of the claim, unanswered; then its resolution and the claim's.
    let kinds: Vec<String> = rx.all("move").iter().map(|m| m["kind"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(kinds, ["counter", "resolve", "resolve"], "the watchtower won when the server's clock ran out: {kinds:?}");
    let chain = Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap();
    let status = ICourt::new(d.court, &chain.provider).claimStatus(claim).call().await.unwrap();
    assert_eq!(status, 3, "the claim is refuted");
    std::fs::remove_dir_all(&work).ok();
}
