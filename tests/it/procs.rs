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
