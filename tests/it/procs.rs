//! Helpers for tests that run gavel's node commands as processes: a child that is stopped
//! like a user would stop it, and the JSON event lines the nodes print.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process stopped on drop: SIGTERM (so `gavel devnet` stops its anvil), then SIGKILL
/// after 10 s. [`Proc::kill9`] kills it at once, like a crash.
pub(crate) struct Proc(pub(crate) Child);

impl Proc {
    /// SIGKILL, and wait for it.
    pub(crate) fn kill9(mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let _ = std::process::Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The child's stdout as a stream of parsed JSON lines (other lines are skipped).
pub(crate) fn events(child: &mut Child) -> mpsc::Receiver<serde_json::Value> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// Waits for the next event named `event`; panics with the events seen if it does not come.
pub(crate) fn wait_event(rx: &mpsc::Receiver<serde_json::Value>, event: &str, limit: Duration) -> serde_json::Value {
    let t = Instant::now();
    let mut seen = Vec::new();
    loop {
        let left = limit.checked_sub(t.elapsed()).unwrap_or_else(|| panic!("no {event:?} event within {limit:?}: {seen:?}"));
        let v = match rx.recv_timeout(left) {
            Ok(v) => v,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no {event:?} event within {limit:?}: {seen:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the process exited before a {event:?} event: {seen:?}"),
        };
        if v["event"] == event {
            return v;
        }
        seen.push(v.to_string());
    }
}

/// Waits until `p` exists.
pub(crate) fn wait_for_file(p: &std::path::Path, limit: Duration) {
    let t = Instant::now();
    while !p.exists() {
        assert!(t.elapsed() < limit, "{} did not appear within {limit:?}", p.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Spawns `gavel <args>` from the repository root with signer `key`, stderr to `log`, and
/// forwards its JSON event lines.
pub(crate) fn node(args: &[String], key: &str, log: &std::path::Path) -> (Proc, mpsc::Receiver<serde_json::Value>) {
    node_with_env(args, key, log, &[])
}

/// [`node`] with extra environment variables (fault injection).
pub(crate) fn node_with_env(args: &[String], key: &str, log: &std::path::Path, env: &[(&str, &str)]) -> (Proc, mpsc::Receiver<serde_json::Value>) {
    let mut child = std::process::Command::new(gavel_tests::gavel_bin())
        .args(args)
        .envs(env.iter().copied())
        .env("GAVEL_PRIVATE_KEY", key)
        .current_dir(gavel_runner::cases::repo_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(std::fs::File::create(log).expect("log file")))
        .spawn()
        .expect("spawn gavel");
    let rx = events(&mut child);
    (Proc(child), rx)
}

/// `gavel devnet` with `extra` arguments, writing `deployment`; returns once the file exists.
pub(crate) fn devnet(deployment: &std::path::Path, extra: &[&str]) -> Proc {
    let mut args = vec!["devnet", "--models", "silero_vad", "--deployment", deployment.to_str().expect("utf-8 path"), "--json"];
    args.extend_from_slice(extra);
    let p = Proc(
        std::process::Command::new(gavel_tests::gavel_bin())
            .args(&args)
            .current_dir(gavel_runner::cases::repo_root())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn gavel devnet"),
    );
    wait_for_file(deployment, Duration::from_secs(120));
    p
}

/// A node's events, kept: [`EventLog::next`] returns the first event of a name not yet
/// returned, whatever arrived in between, so waits on one kind never lose events of another.
pub(crate) struct EventLog {
    rx: mpsc::Receiver<serde_json::Value>,
    seen: Vec<(serde_json::Value, bool)>,
}

impl EventLog {
    pub(crate) fn new(rx: mpsc::Receiver<serde_json::Value>) -> EventLog {
        EventLog { rx, seen: Vec::new() }
    }

    /// The next unreturned event named `event`; panics with every event seen if none comes.
    pub(crate) fn next(&mut self, event: &str, limit: Duration) -> serde_json::Value {
        self.next_any(&[event], limit)
    }

    /// The next unreturned event with any of these names.
    pub(crate) fn next_any(&mut self, names: &[&str], limit: Duration) -> serde_json::Value {
        let event = names.join(" or ");
        let t = Instant::now();
        let mut i = 0;
        loop {
            while i < self.seen.len() {
                let (v, taken) = &mut self.seen[i];
                if !*taken && names.iter().any(|n| v["event"] == *n) {
                    *taken = true;
                    return v.clone();
                }
                i += 1;
            }
            let all = || self.seen.iter().map(|(v, _)| v.to_string()).collect::<Vec<_>>().join("\n");
            let left = limit.checked_sub(t.elapsed()).unwrap_or_else(|| panic!("no {event:?} event within {limit:?}; seen:\n{}", all()));
            match self.rx.recv_timeout(left) {
                Ok(v) => self.seen.push((v, false)),
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("no {event:?} event within {limit:?}; seen:\n{}", all()),
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the process exited before a {event:?} event; seen:\n{}", all()),
            }
        }
    }

    /// The next `n` events named `event`.
    pub(crate) fn next_n(&mut self, event: &str, n: usize, limit: Duration) -> Vec<serde_json::Value> {
        let t = Instant::now();
        (0..n).map(|_| self.next(event, limit.saturating_sub(t.elapsed()).max(Duration::from_millis(1)))).collect()
    }

    /// Every event seen so far named `event`.
    pub(crate) fn all(&self, event: &str) -> Vec<serde_json::Value> {
        self.seen.iter().filter(|(v, _)| v["event"] == event).map(|(v, _)| v.clone()).collect()
    }
}

/// A test's working directory and its `gavel devnet` (silero-vad registered).
pub(crate) struct Testnet {
    /// Scratch directory (`$TMPDIR/gavel-<name>-<pid>`).
    pub(crate) work: std::path::PathBuf,
    /// The deployment file devnet wrote.
    pub(crate) dep: std::path::PathBuf,
    /// The deployment.
    pub(crate) d: gavel_challenger::chain::Deployment,
    /// The devnet process (SIGTERM on drop stops its anvil).
    pub(crate) devnet: Proc,
}

/// Starts a devnet with `extra` arguments in a fresh working directory for test `name`.
pub(crate) fn testnet(name: &str, extra: &[&str]) -> Testnet {
    let work = std::env::temp_dir().join(format!("gavel-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let dep = work.join("deployment.json");
    let devnet = devnet(&dep, extra);
    let d = gavel_challenger::chain::Deployment::load(&dep).expect("deployment");
    Testnet { work, dep, d, devnet }
}

/// One HTTP/1.1 request; returns the status and the body parsed as JSON (Null if not JSON).
pub(crate) fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    use std::io::{Read, Write};
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp);
    let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// The body of `POST /v1/inference` for model `model_id` and a GVTS tensor set.
pub(crate) fn inference_body(model_id: u64, input: &[u8]) -> String {
    format!(r#"{{"model_id": {model_id}, "input": "0x{}"}}"#, input.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Waits until `claim`'s tree has been quiet (no new node) for `quiet`, then moves the chain's
/// clock past every deadline in it, so the parties can resolve it. Returns the node count.
pub(crate) async fn settle_when_quiet(d: &gavel_challenger::chain::Deployment, claim: u64, quiet: Duration, limit: Duration) -> usize {
    let chain = gavel_challenger::chain::Chain::connect(&d.rpc_url, gavel_challenger::chain::DEV_KEYS[0]).await.unwrap();
    let mut mirror = gavel_challenger::player::Mirror::new(d).unwrap();
    let started = Instant::now();
    let (mut count, mut since) = (0usize, Instant::now());
    loop {
        assert!(started.elapsed() < limit, "claim {claim}'s tree never came to rest");
        mirror.sync(&chain).await.unwrap();
        let n = mirror.model.nodes_of(claim).len();
        if n != count {
            (count, since) = (n, Instant::now());
        } else if n >= 1 && since.elapsed() >= quiet {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last = mirror.last_deadline(&[claim]);
    let now = chain.now().await.unwrap();
    chain.warp(last.saturating_sub(now) + 2).await.unwrap();
    count
}

/// A free 127.0.0.1 address (`IP:PORT`) for a node's HTTP server.
pub(crate) fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
    format!("127.0.0.1:{port}")
}

/// Owned arguments.
pub(crate) fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// GET `path` from `addr`: the body as text.
pub(crate) fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").unwrap();
    // Read to the end of the body by its length (Chromium's DevTools server keeps the
    // connection open).
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
            if n == 0 || len.is_some_and(|l| body.len() >= l) {
                assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {}", head.lines().next().unwrap_or(""));
                return body.to_string();
            }
        }
        assert!(n > 0, "GET {path}: the connection closed mid-response");
    }
}

/// The samples of a Prometheus text page: `name{labels}` → value.
pub(crate) fn scrape(addr: &str) -> std::collections::HashMap<String, f64> {
    get(addr, "/metrics")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_string(), if v == "+Inf" { f64::INFINITY } else { v.parse().unwrap_or(f64::NAN) })))
        .collect()
}

pub(crate) fn metric(m: &std::collections::HashMap<String, f64>, k: &str) -> f64 {
    m.get(k).copied().unwrap_or(0.0)
}
