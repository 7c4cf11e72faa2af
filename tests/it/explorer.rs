//! The operator's view of the demo's story: a consumer asks on chain, a faulty `gavel serve`
//! and an honest one answer, a `gavel watch --http` disputes the faulty claim down to one
//! instruction. While it is played, `/metrics` is scraped and the dispute explorer is open in a
//! real headless Chromium (Debian's, driven over the DevTools protocol): the same page, never
//! reloaded, shows the bisection as it narrows, then the executed instruction, its ONNX node and
//! the bonds. `gavel devnet`'s explorer, which only reads the chain, draws the same step. The
//! screenshot goes to `docs/explorer.png`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use futures_util::{SinkExt, StreamExt};
use gavel_bisection::state::BlobCommitment;
use gavel_challenger::chain::{event_in, Chain, DEV_KEYS};
use gavel_challenger::contracts::{ICourt, IExampleConsumer};
use gavel_challenger::trace::RunTrace;
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::procs::{self, free_addr, get, metric, scrape, strings, EventLog, Proc};

/// Headless Chromium with a fresh profile, showing `url`, with its DevTools endpoint.
struct Browser {
    /// Stopped on drop (its profile lives in the test's work directory).
    _proc: Proc,
    port: u16,
}

fn chromium_bin() -> PathBuf {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists());
    found.unwrap_or_else(|| panic!("Debian's chromium is not installed: scripts/setup-browser.sh installs it"))
}

impl Browser {
    fn open(url: &str, work: &Path) -> Browser {
        let profile = work.join("chromium-profile");
        std::fs::create_dir_all(&profile).unwrap();
        // The flags that keep Chromium off the network (it only ever talks to 127.0.0.1 here).
        let child = Command::new(chromium_bin())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1280,2000",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.display()),
                url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(work.join("chromium.log")).unwrap()))
            .spawn()
            .expect("spawn chromium");
        let proc = Proc(child);
        let active = profile.join("DevToolsActivePort");
        procs::wait_for_file(&active, Duration::from_secs(60));
        let t = Instant::now();
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&active).ok().and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok())) {
                break p;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "DevToolsActivePort stays empty");
            std::thread::sleep(Duration::from_millis(100));
        };
        Browser { _proc: proc, port }
    }

    /// A DevTools session on the page.
    async fn page(&self) -> Page {
        let list: Value = serde_json::from_str(&get(&format!("127.0.0.1:{}", self.port), "/json/list")).unwrap();
        let ws = list.as_array().unwrap().iter().find(|t| t["type"] == "page").and_then(|t| t["webSocketDebuggerUrl"].as_str()).unwrap().to_string();
        let (socket, _) = tokio_tungstenite::connect_async(ws).await.expect("DevTools websocket");
        Page { socket, next: 0 }
    }
}

/// One DevTools protocol session.
struct Page {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next: u64,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.socket.send(Message::Text(json!({ "id": id, "method": method, "params": params }).to_string().into())).await.unwrap();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), self.socket.next()).await.expect("DevTools answer").unwrap().unwrap();
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// What the page shows, read from its DOM.
    async fn view(&mut self, claim: u64) -> Value {
        let js = format!(
            r#"JSON.stringify((() => {{
                const q = s => document.querySelector(s);
                const d = q('section.dispute[data-claim="{claim}"]');
                const step = d && d.querySelector('div.step');
                return {{
                    updates: Number((q('#status') || {{dataset: {{}}}}).dataset.updates || 0),
                    role: (q('#source') || {{dataset: {{}}}}).dataset.role || null,
                    claims: [...document.querySelectorAll('#claims tbody tr')].map(r => ({{ id: Number(r.dataset.claim), status: r.dataset.status, verdict: r.dataset.verdict }})),
                    dispute: d && {{
                        status: d.dataset.status,
                        rounds: [...d.querySelectorAll('tr.round')].map(r => ({{ side: r.dataset.side, level: Number(r.dataset.level) }})),
                        points: d.querySelectorAll('svg.bisection .round-pt').length,
                        step: step && {{ opcode: step.dataset.opcode, onnx: step.dataset.onnxNode, pc: step.dataset.pc, text: step.textContent }},
                        bonds: [...d.querySelectorAll('tr.bond')].map(b => b.dataset.outcome),
                    }},
                }};
            }})())"#
        );
        let r = self.call("Runtime.evaluate", json!({ "expression": js, "returnByValue": true })).await;
        serde_json::from_str(r["result"]["value"].as_str().expect("a JSON string")).unwrap()
    }

    /// Polls the page until `ok` holds for its view (the page is never reloaded).
    async fn until(&mut self, claim: u64, what: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            let v = self.view(claim).await;
            if ok(&v) {
                return v;
            }
            assert!(t.elapsed() < limit, "the explorer never showed {what}: {v}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn spawn(args: &[String], key: &str, log: &Path) -> (Proc, EventLog) {
    let (p, rx) = procs::node(args, key, log);
    (p, EventLog::new(rx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_and_metrics_follow_a_dispute_in_chromium() {
    let devnet_http = free_addr();
    // Claims at level-2 depth 7 (the servers' --fast-claims claim at the deployment's largest):
    // 7 level-2 rounds after the watchtower's level-1 counter put the last one-instruction
    // dissection on the liar's side, so the watchtower's step is executed on chain. (At an even
    // depth the watchtower makes that dissection, and the liar, unable to step any of it, loses
    // by its clock: the explorer then shows the last segment.)
    let procs::Testnet { work, dep, d, devnet: _devnet } = procs::testnet("explorer", &["--http", &devnet_http, "--max-level2-depth", "7"]);
    let dep_s = dep.to_str().unwrap().to_string();

    // The watchtower, with its HTTP address, and the page open on it before anything happens.
    let watch_http = free_addr();
    let args =
        strings(&["watch", "--deployment", &dep_s, "--state", work.join("watch").to_str().unwrap(), "--poll-ms", "100", "--no-p2p", "--http", &watch_http]);
    let (_watch, mut wlog) = spawn(&args, DEV_KEYS[4], &work.join("watch.log"));
    wlog.next("http_listening", Duration::from_secs(60));
    let before = scrape(&watch_http);
    assert_eq!(metric(&before, "gavel_build_info{version=\"0.1.0\",role=\"watchtower\"}"), 1.0, "{before:?}");
    let browser = Browser::open(&format!("http://{watch_http}/"), &work);
    let mut page = browser.page().await;
    let empty = page.until(0, "its first refresh", Duration::from_secs(30), |v| v["updates"].as_u64() >= Some(1)).await;
    assert_eq!(empty["claims"].as_array().map(Vec::len), Some(0), "{empty}");

    // The demo's story: a consumer asks on chain; a faulty server (one corrupted operator result)
    // and an honest one answer.
    let consumer = Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap();
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let input = gavel_codec::encode(&case.inputs);
    let example = IExampleConsumer::new(d.consumer, &consumer.provider);
    let ask = example.ask(1, BlobCommitment::of(&input).id().into(), input.clone().into()).value(U256::from(10u64.pow(16)));
    let receipt = consumer.send(ask.into_transaction_request(), "ask").await.unwrap();
    event_in::<ICourt::ComputeRequested>(&receipt).unwrap();
    // The fault goes where `gavel demo` puts it, into the plan node with the most instructions.
    let cache = work.join("index");
    std::fs::create_dir_all(&cache).unwrap();
    let input_arc = std::sync::Arc::new(input.clone());
    let heaviest = tokio::task::block_in_place(|| {
        let t = RunTrace::honest(crate::runtime(), crate::model_bytes(&case), input_arc, &MachineOptions::default(), Some(&cache), &mut |_, _| {}).unwrap();
        let nodes = t.labels().iter().zip(t.counts()).enumerate().filter(|(_, (l, _))| l.kind == "node");
        nodes.max_by_key(|(_, (_, c))| **c).map(|(i, _)| i).unwrap()
    });
    let faulty_http = free_addr();
    let args = strings(&["serve", "--deployment", &dep_s, "--state", work.join("faulty").to_str().unwrap(), "--listen", &faulty_http]);
    let args = [args, strings(&["--poll-ms", "100", "--no-p2p", "--fast-claims", "--fault-macro-step", &heaviest.to_string()])].concat();
    let (_faulty, mut flog) = spawn(&args, DEV_KEYS[2], &work.join("faulty.log"));
    let faulty_claim = flog.next("request_answered", Duration::from_secs(180))["claim"].as_u64().unwrap();
    let args = strings(&["serve", "--deployment", &dep_s, "--state", work.join("honest").to_str().unwrap(), "--listen", &free_addr()]);
    let args = [args, strings(&["--poll-ms", "100", "--no-p2p", "--fast-claims"])].concat();
    let (_honest, mut hlog) = spawn(&args, DEV_KEYS[1], &work.join("honest.log"));
    let honest_claim = hlog.next("request_answered", Duration::from_secs(180))["claim"].as_u64().unwrap();

    // During the dispute: the page (not reloaded) shows the claims and the bisection narrowing,
    // and the counters move.
    assert_eq!(wlog.next("disputed", Duration::from_secs(180))["claim"].as_u64(), Some(faulty_claim));
    let during = page
        .until(faulty_claim, "the bisection under way", Duration::from_secs(120), |v| {
            v["dispute"]["status"] == "open"
                && v["dispute"]["rounds"].as_array().is_some_and(|r| r.len() >= 2)
                && v["claims"].as_array().is_some_and(|c| c.len() == 2)
        })
        .await;
    let rows = during["claims"].as_array().unwrap();
    assert!(rows.iter().any(|c| c["id"] == faulty_claim && c["verdict"] == "disputed"), "{during}");
    assert!(rows.iter().any(|c| c["id"] == honest_claim && c["verdict"] == "agrees"), "{during}");
    let rounds = during["dispute"]["rounds"].as_array().unwrap();
    assert_eq!(rounds[0]["side"], "challenger", "the watchtower moves first: {during}");
    assert!(during["dispute"]["points"].as_u64() >= Some(2), "the plot draws the rounds: {during}");
    let t = Instant::now();
    let mid = loop {
        let m = scrape(&watch_http);
        if metric(&m, "gavel_moves_total{kind=\"counter\"}") >= 1.0 && metric(&m, "gavel_disputes{state=\"open\"}") == 1.0 {
            break m;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "the counters did not move: {m:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(metric(&mid, "gavel_claims{verdict=\"disputed\"}"), 1.0, "{mid:?}");
    assert_eq!(metric(&mid, "gavel_claims{verdict=\"agrees\"}"), 1.0, "{mid:?}");
    assert!(metric(&mid, "gavel_first_move_seconds_count") >= 1.0, "{mid:?}");
    assert!(metric(&mid, "gavel_bonds_at_stake_wei") > 0.0, "{mid:?}");
    assert!(mid.contains_key("gavel_tightest_deadline_seconds"), "a deadline is ahead: {mid:?}");
    assert!(metric(&mid, "gavel_rpc_requests_total") > metric(&before, "gavel_rpc_requests_total"));
    assert!(metric(&mid, "gavel_move_gas_total") > 0.0);

    // The tree comes to rest; the clock passes its deadlines; everyone resolves.
    procs::settle_when_quiet(&d, faulty_claim, Duration::from_secs(4), Duration::from_secs(300)).await;
    assert_eq!(wlog.next("resolved", Duration::from_secs(180))["verdict"], "won");
    let after = page
        .until(faulty_claim, "the executed step and the bonds", Duration::from_secs(60), |v| {
            v["dispute"]["status"] == "refuted"
                && !v["dispute"]["step"].is_null()
                && v["claims"].as_array().is_some_and(|c| c.iter().any(|c| c["status"] == "final"))
        })
        .await;
    let step = &after["dispute"]["step"];
    let opcode = step["opcode"].as_str().unwrap_or("");
    assert!(!opcode.is_empty() && opcode != "unknown", "the opcode read from the step's proof: {after}");
    assert!(step["onnx"].as_str().is_some_and(|n| !n.is_empty()), "the ONNX node of the step: {after}");
    assert!(step["text"].as_str().unwrap().contains(opcode), "{after}");
    let bonds: Vec<&str> = after["dispute"]["bonds"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(bonds.contains(&"forfeited") && bonds.contains(&"returned"), "{bonds:?}");
    assert!(after["updates"].as_u64() > during["updates"].as_u64(), "the same page kept refreshing: {after}");
    let last = scrape(&watch_http);
    assert_eq!(metric(&last, "gavel_disputes{state=\"won\"}"), 1.0, "{last:?}");
    assert_eq!(metric(&last, "gavel_disputes{state=\"open\"}"), 0.0, "{last:?}");
    assert!(metric(&last, "gavel_moves_total{kind=\"resolve\"}") >= 1.0, "{last:?}");
    assert!(metric(&last, "gavel_withdrawn_wei_total") > 0.0, "{last:?}");
    assert!(metric(&last, "gavel_moves_total{kind=\"counter\"}") >= metric(&mid, "gavel_moves_total{kind=\"counter\"}"));

    // The picture for the README.
    let shot = page.call("Page.captureScreenshot", json!({ "format": "png" })).await;
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(repo_root().join("docs/explorer.png"), &png).unwrap();

    // The faulty server's own metrics: its claim refuted. gavel devnet's explorer (the chain
    // alone, the ONNX node from its own run of the request's input) draws the same step.
    let t = Instant::now();
    while metric(&scrape(&faulty_http), "gavel_claims{verdict=\"refuted\"}") != 1.0 {
        assert!(t.elapsed() < Duration::from_secs(60), "{:?}", scrape(&faulty_http));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let t = Instant::now();
    let chain_view = loop {
        let v: Value = serde_json::from_str(&get(&devnet_http, "/api/explorer")).unwrap();
        let step = v["disputes"].as_array().and_then(|d| d.iter().find(|x| x["claim"] == faulty_claim)).map(|x| x["step"].clone()).unwrap_or(Value::Null);
        if step["onnx_node"].is_string() {
            break step;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "devnet's explorer: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(chain_view["opcode"].as_str(), Some(opcode), "{chain_view}");
    assert_eq!(chain_view["onnx_node"].as_str(), step["onnx"].as_str(), "{chain_view}");

    // The same lists from the command line: the chain's, and the watchtower's with its verdicts.
    let out = gavel_tests::gavel(&["disputes", "--deployment", &dep_s, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let disputes: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(disputes.as_array().unwrap()[0]["step"]["opcode"].as_str(), Some(opcode), "{disputes}");
    let out = gavel_tests::gavel(&["claims", "--node", &format!("http://{watch_http}"), "--json"]);
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<&str> = claims.as_array().unwrap().iter().filter_map(|c| c["verdict"].as_str()).collect();
    assert!(verdicts.contains(&"won") && verdicts.contains(&"agrees"), "{claims}");
    let text = gavel_tests::gavel(&["disputes", "--node", &format!("http://{watch_http}")]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(opcode));
    drop(browser);
    std::fs::remove_dir_all(&work).ok();
}

/// The page draws what the chain and a model say, and both are anyone's to choose (a model's
/// node names, a claimant's address field as the node reports it): a picture full of markup and
/// script is shown as text and runs nothing. Served here by a bare HTTP server with the page
/// and a hostile `/api/explorer`, opened in the same headless Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_hostile_names_as_text() {
    let work = std::env::temp_dir().join(format!("gavel-explorer-xss-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let evil = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>";
    let picture = json!({
        "source": { "role": "devnet", "chain_id": 1, "court": evil, "tree": evil, "head_block": 1, "chain_time": 100, "updated_ms": 0 },
        "claims": [{ "id": 1, "model_id": 1, "model": evil, "claimant": evil, "request": evil, "posted_at": 1, "deadline": 2,
            "status": evil, "verdict": evil, "macro_steps": 3, "level2_depth": 1, "final_root": evil, "output_root": evil, "counters": 1, "tx": evil }],
        "disputes": [{ "claim": 1, "status": evil, "gas_total": 5,
            "rounds": [{ "node": 2, "parent": 1, "depth": 1, "kind": evil, "part": 0, "level": 1, "macro_step": 0, "start": 0, "end": 3, "length": 3,
                "poster": evil, "side": evil, "status": evil, "bond_wei": evil, "posted_at": 1, "deadline": 2, "gas": 1, "tx": evil, "block": 1 }],
            "step": { "node": 2, "part": 0, "stepper": evil, "macro_step": 0, "instruction": 0, "opcode": evil, "pc": evil,
                "onnx_node": evil, "onnx_op": evil, "tract_op": evil, "root_before": evil, "root_after": evil, "gas": 1, "tx": evil },
            "bonds": [{ "node": 1, "poster": evil, "wei": evil, "outcome": evil, "to": evil }] }],
    })
    .to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut req = [0u8; 4096];
            let n = s.read(&mut req).unwrap_or(0);
            let path = String::from_utf8_lossy(&req[..n]).split_whitespace().nth(1).unwrap_or("/").to_string();
            let (kind, body) = if path.starts_with("/api/explorer") {
                ("application/json", picture.clone())
            } else {
                ("text/html; charset=utf-8", gavel_challenger::http::EXPLORER_HTML.to_string())
            };
            let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    let browser = Browser::open(&format!("http://{addr}/"), &work);
    let mut page = browser.page().await;
    let v = page.until(1, "the hostile picture", Duration::from_secs(30), |v| v["updates"].as_u64() >= Some(2) && !v["dispute"].is_null()).await;
    let r = page.call("Runtime.evaluate", json!({ "expression": "String(window.__pwned) + '|' + document.body.innerText.includes('<script>window.__pwned=2</script>') + '|' + document.querySelectorAll('img').length", "returnByValue": true })).await;
    let out = r["result"]["value"].as_str().unwrap().to_string();
    let parts: Vec<&str> = out.split('|').collect();
    assert_eq!(parts[0], "undefined", "markup from the picture ran: {out}");
    assert_eq!(parts[1], "true", "the hostile name is shown as text: {out}");
    assert_eq!(parts[2], "0", "no element was made from the picture's markup: {out}");
    assert_eq!(v["dispute"]["step"]["onnx"].as_str(), Some(evil), "{v}");
    drop(browser);
    std::fs::remove_dir_all(&work).ok();
}

/// Standard base64 (the screenshot DevTools sends).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
