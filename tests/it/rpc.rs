//! Bad RPC replies while the nodes run: `gavel serve` and `gavel watch` talk to anvil through a
//! proxy that, when told to, answers with truncated JSON, HTML error pages, wrongly typed
//! results, JSON-RPC errors, or hangs up. The server answers HTTP with a clear 502 while its
//! chain is garbage and serves again after; the watchtower logs each failure, keeps running, and
//! still refutes the server's faulty claim, garbage arriving mid-dispute included.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gavel_challenger::chain::{Chain, DEV_KEYS};
use gavel_challenger::contracts::ICourt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::p2p::{faulty_server_with, infer, infer_request, watcher_with, without_models};
use crate::procs;

/// A JSON-RPC proxy in front of `upstream`; while `bad` is set it answers with garbage.
struct Proxy {
    addr: SocketAddr,
    bad: Arc<AtomicBool>,
    garbage_sent: Arc<AtomicU64>,
}

/// Reads one HTTP message (head and `content-length` body) from `s`, keeping any extra bytes
/// in `buf`; `None` at a clean end of stream.
async fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse::<usize>()))
        .transpose()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Ok(Some((head, body)))
}

fn http_response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// The n-th kind of garbage for a request with JSON-RPC id `id`; `None`: hang up.
fn garbage(n: u64, id: &serde_json::Value) -> Option<Vec<u8>> {
    match n % 5 {
        0 => Some(http_response("200 OK", "application/json", r#"{"jsonrpc":"2.0","id""#)),
        1 => Some(http_response("502 Bad Gateway", "text/html", "<html><body>upstream fell over</body></html>")),
        2 => Some(http_response(
            "200 OK",
            "application/json",
            &serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": { "unexpected": [1, 2, 3] } }).to_string(),
        )),
        3 => Some(http_response(
            "200 OK",
            "application/json",
            &serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32000, "message": "the proxy says no" } }).to_string(),
        )),
        _ => None,
    }
}

async fn serve_conn(mut c: TcpStream, upstream: SocketAddr, bad: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_message(&mut c, &mut buf).await? {
        if bad.load(Ordering::SeqCst) {
            let id = serde_json::from_slice::<serde_json::Value>(&body).ok().map(|v| v["id"].clone()).unwrap_or(serde_json::Value::Null);
            match garbage(sent.fetch_add(1, Ordering::SeqCst), &id) {
                Some(r) => c.write_all(&r).await?,
                None => return Ok(()),
            }
            continue;
        }
        let mut u = TcpStream::connect(upstream).await?;
        u.write_all(head.as_bytes()).await?;
        u.write_all(&body).await?;
        let mut ubuf = Vec::new();
        let (rhead, rbody) = read_message(&mut u, &mut ubuf).await?.ok_or_else(|| std::io::Error::other("upstream closed"))?;
        c.write_all(rhead.as_bytes()).await?;
        c.write_all(&rbody).await?;
    }
    Ok(())
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (bad, garbage_sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (b, g) = (bad.clone(), garbage_sent.clone());
        tokio::spawn(async move {
            while let Ok((c, _)) = listener.accept().await {
                tokio::spawn(serve_conn(c, upstream, b.clone(), g.clone()));
            }
        });
        Proxy { addr, bad, garbage_sent }
    }

    /// Garbage for `d`, then honest replies again; returns how many garbage replies went out.
    async fn garbage_for(&self, d: Duration) -> u64 {
        let before = self.garbage_sent.load(Ordering::SeqCst);
        self.bad.store(true, Ordering::SeqCst);
        tokio::time::sleep(d).await;
        self.bad.store(false, Ordering::SeqCst);
        self.garbage_sent.load(Ordering::SeqCst) - before
    }

    fn set_bad(&self, bad: bool) {
        self.bad.store(bad, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_survive_bad_rpc_replies_and_the_watchtower_still_wins() {
    let procs::Testnet { work, dep, d, devnet: _devnet } = procs::testnet("rpc", &[]);
    let upstream: SocketAddr = d.rpc_url.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let rpc = format!("http://{}", proxy.addr);
    let (_server, mut srx, http, server_addr) = faulty_server_with(&dep, &work, &["--rpc-url", &rpc]);
    let wdep = work.join("deployment-no-models.json");
    without_models(&dep, &wdep);
    let (_w, mut rx, _) = watcher_with(&wdep, &work, "watch", DEV_KEYS[4], &server_addr, &["--rpc-url", &rpc]);

    // While the chain answers garbage, an inference cannot post its claim: a clear 502, no claim,
    // and the server's health endpoint still answers.
    proxy.set_bad(true);
    let (status, v) = infer_request(&http);
    assert_eq!(status, 502, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("posting the claim")), "{v}");
    assert_eq!(procs::http(&http, "GET", "/health", b"").0, 200);
    proxy.set_bad(false);
    srx.next("error", Duration::from_secs(30));

    // Idle: a burst of garbage; the watchtower reports it and keeps going.
    let sent = proxy.garbage_for(Duration::from_secs(3)).await;
    assert!(sent >= 5, "the watchtower kept polling through the garbage ({sent} replies)");
    let errors = rx.next_n("error", 3, Duration::from_secs(30));
    assert!(errors.iter().all(|e| e["error"].as_str().is_some_and(|m| !m.is_empty())), "{errors:?}");

    // A faulty claim; more garbage once the dispute is open.
    let claim = infer(&http);
    let opened = rx.next("disputed", Duration::from_secs(120));
    assert_eq!(opened["claim"], claim);
    let sent = proxy.garbage_for(Duration::from_secs(2)).await;
    assert!(sent > 0, "garbage reached the watchtower mid-dispute");
    crate::procs::settle_when_quiet(&d, claim, Duration::from_secs(4), Duration::from_secs(240)).await;
    let resolved = rx.next("resolved", Duration::from_secs(240));
    assert_eq!(resolved["verdict"], "won", "{resolved}");
    let chain = Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap();
    let status = ICourt::new(d.court, &chain.provider).claimStatus(claim).call().await.unwrap();
    assert_eq!(status, 3, "the claim is refuted");
    assert_eq!(claim, 1, "the request during the garbage posted no claim");
    assert_eq!(procs::http(&http, "GET", "/health", b"").0, 200);
    std::fs::remove_dir_all(&work).ok();
}

/// A submission that fails (garbled replies from the RPC, a transaction the node refuses in gas
/// estimation) must not cost a nonce: the next transaction is mined at once. A nonce reserved
/// locally on the failed attempt would leave a gap, and every later transaction of that signer
/// would wait in the node's queue forever; that stalled a party mid-dispute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_submissions_do_not_stall_later_transactions() {
    use alloy::network::TransactionBuilder;
    use alloy::primitives::{Address, U256};
    use alloy::providers::Provider;
    use alloy::rpc::types::TransactionRequest;

    let anvil = gavel_challenger::chain::Anvil::start(None, None).unwrap();
    let upstream: SocketAddr = anvil.rpc_url.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let chain = Chain::connect(&format!("http://{}", proxy.addr), DEV_KEYS[1]).await.unwrap();
    let to = Address::repeat_byte(0x42);
    let pay = |wei: U256| TransactionRequest::default().with_to(to).with_value(wei);
    let bounded = |f| tokio::time::timeout(Duration::from_secs(30), f);

    bounded(chain.send(pay(U256::from(1)), "first payment")).await.expect("the first payment is mined").unwrap();
    // Garbage from the RPC for two attempts, then a payment larger than the balance.
    proxy.set_bad(true);
    for k in 0..2 {
        let e = bounded(chain.send(pay(U256::from(1)), "payment in garbage")).await.expect("a garbled reply is an error, not a hang").unwrap_err();
        assert!(format!("{e:#}").contains("payment in garbage"), "attempt {k}: {e:#}");
    }
    proxy.set_bad(false);
    let e = bounded(chain.send(pay(U256::MAX), "overdraft")).await.expect("a refused transaction is an error, not a hang").unwrap_err();
    assert!(format!("{e:#}").contains("overdraft"), "{e:#}");

    let r = bounded(chain.send(pay(U256::from(2)), "second payment"))
        .await
        .expect("the payment after the failures is mined, not queued behind a nonce gap")
        .unwrap();
    assert!(r.status());
    let direct = Chain::connect(&anvil.rpc_url, DEV_KEYS[0]).await.unwrap();
    assert_eq!(direct.provider.get_transaction_count(chain.address).await.unwrap(), 2);
    assert_eq!(direct.provider.get_balance(to).await.unwrap(), U256::from(3));
}
