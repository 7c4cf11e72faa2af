//! The process's Prometheus metrics: one registry per process (a node is one process), rendered
//! in the text exposition format (version 0.0.4) at a node's `/metrics`.
//!
//! Every series is declared in [`FAMILIES`] with its type and help, so a scrape lists all of
//! them from the start (counters at 0) and a dashboard never meets a missing series it expects.
//! Counters move where things happen (an RPC reply, a move sent, a fetch failed; most through
//! [`on_event`], which sees every event line a node prints); gauges are set by the node's loop
//! from its database and its mirror of the chain (`docs/ops/` has a dashboard and alert rules).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};

/// The kind of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (until the process restarts).
    Counter,
    /// Any value, set from the node's state.
    Gauge,
    /// Observations counted into [`BUCKETS`].
    Histogram,
}

/// Every series a node exports: name, kind, help.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    ("gavel_build_info", Kind::Gauge, "The gavel build and the node's role (always 1)."),
    ("gavel_claims", Kind::Gauge, "Claims this node knows, by its verdict."),
    ("gavel_disputes", Kind::Gauge, "Disputes this node takes part in, by state (open, won, lost)."),
    ("gavel_first_move_seconds", Kind::Histogram, "Chain seconds from a claim's posting to this node's first move in its tree."),
    ("gavel_tightest_deadline_seconds", Kind::Gauge, "Seconds left until the nearest deadline of an unresolved node in a tree this node plays."),
    ("gavel_bonds_at_stake_wei", Kind::Gauge, "Live bonds of tree nodes this node posted, wei."),
    ("gavel_bonds_credited_wei", Kind::Gauge, "Bonds and rewards credited to this node in the claim tree and not withdrawn yet, wei."),
    ("gavel_withdrawn_wei_total", Kind::Counter, "Wei withdrawn from the claim tree and the Court."),
    ("gavel_traces", Kind::Gauge, "Runs waiting to be judged (queued) and step-machine indexes building (running)."),
    ("gavel_rpc_requests_total", Kind::Counter, "JSON-RPC requests sent."),
    ("gavel_rpc_errors_total", Kind::Counter, "JSON-RPC requests that failed: a transport error or an error reply."),
    ("gavel_chain_head_block", Kind::Gauge, "The latest block number the node saw."),
    ("gavel_chain_head_age_seconds", Kind::Gauge, "Wall-clock seconds since the head block's timestamp."),
    ("gavel_mirror_lag_blocks", Kind::Gauge, "Blocks between the chain head and the last block whose events the node replayed."),
    ("gavel_p2p_peers", Kind::Gauge, "Connected libp2p peers."),
    ("gavel_blob_fetch_failures_total", Kind::Counter, "Blob fetches from peers that failed."),
    ("gavel_moves_total", Kind::Counter, "Transactions this node sent in claim trees, by kind."),
    ("gavel_move_gas_total", Kind::Counter, "Gas of the transactions this node sent in claim trees."),
    ("gavel_divergences_total", Kind::Counter, "Runs on which wasmtime and the step machine disagreed."),
    ("gavel_alerts_total", Kind::Counter, "Events that should page someone, by event."),
    ("gavel_errors_total", Kind::Counter, "Failed iterations of a node's loops (each is retried)."),
];

/// The buckets of every histogram, seconds.
pub const BUCKETS: [f64; 11] = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    /// Family → rendered label set (`{a="b"}` or empty) → value.
    values: BTreeMap<&'static str, BTreeMap<String, f64>>,
    histograms: BTreeMap<&'static str, Histogram>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    // A panic while holding the lock cannot leave a half-written value: keep serving.
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut r)
}

fn family(name: &str) -> &'static str {
    FAMILIES.iter().find(|(n, _, _)| *n == name).map(|(n, _, _)| *n).unwrap_or_else(|| {
        // Only gavel's own code names families; an unknown one is a bug, reported without panicking.
        tracing::error!(metric = name, "unknown metric family");
        "gavel_errors_total"
    })
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn label_set(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

/// Adds `v` to counter `name` with `labels`.
pub fn add(name: &str, labels: &[(&str, &str)], v: f64) {
    let f = family(name);
    with(|r| *r.values.entry(f).or_default().entry(label_set(labels)).or_insert(0.0) += v);
}

/// Adds 1 to counter `name`.
pub fn inc(name: &str, labels: &[(&str, &str)]) {
    add(name, labels, 1.0);
}

/// Sets gauge `name` with `labels` to `v`.
pub fn set(name: &str, labels: &[(&str, &str)], v: f64) {
    let f = family(name);
    with(|r| {
        r.values.entry(f).or_default().insert(label_set(labels), v);
    });
}

/// Replaces every series of gauge `name` by `series` (label value of `label` → value): for
/// gauges recomputed whole from the node's state, so a verdict nobody has any more drops out.
pub fn set_all(name: &str, label: &str, series: &BTreeMap<String, f64>) {
    let f = family(name);
    with(|r| {
        let m = r.values.entry(f).or_default();
        m.clear();
        for (k, v) in series {
            m.insert(label_set(&[(label, k)]), *v);
        }
    });
}

/// Removes every series of gauge `name` (nothing to report, e.g. no deadline ahead).
pub fn clear(name: &str) {
    let f = family(name);
    with(|r| {
        r.values.remove(f);
    });
}

/// Counts `v` into histogram `name`.
pub fn observe(name: &str, v: f64) {
    let f = family(name);
    with(|r| {
        let h = r.histograms.entry(f).or_default();
        for (c, b) in h.counts.iter_mut().zip(BUCKETS) {
            if v <= b {
                *c += 1;
            }
        }
        h.sum += v;
        h.count += 1;
    });
}

/// The current value of a series (tests, `gavel` commands).
pub fn value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    with(|r| r.values.get(name).and_then(|m| m.get(&label_set(labels)).copied()))
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Marks this process as a gavel node of `role` (`watchtower`, `server`, `devnet`).
pub fn start(role: &str) {
    set("gavel_build_info", &[("version", env!("CARGO_PKG_VERSION")), ("role", role)], 1.0);
}

/// The registry in the Prometheus text format.
pub fn render() -> String {
    with(|r| {
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let t = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {t}");
            match kind {
                Kind::Histogram => {
                    let empty = Histogram::default();
                    let h = r.histograms.get(name).unwrap_or(&empty);
                    for (c, b) in h.counts.iter().zip(BUCKETS) {
                        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {c}", number(b));
                    }
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}", h.count, number(h.sum), h.count);
                }
                _ => match r.values.get(name) {
                    Some(m) if !m.is_empty() => {
                        for (labels, v) in m {
                            let _ = writeln!(out, "{name}{labels} {}", number(*v));
                        }
                    }
                    // An unlabelled counter starts at 0; labelled and state gauges appear when set.
                    _ if *kind == Kind::Counter && !matches!(*name, "gavel_moves_total" | "gavel_alerts_total") => {
                        let _ = writeln!(out, "{name} 0");
                    }
                    _ => {}
                },
            }
        }
        out
    })
}

/// Counts what an event line says happened (every node prints its events through
/// [`crate::emit`], which calls this).
pub fn on_event(event: &serde_json::Value) {
    let name = event["event"].as_str().unwrap_or("");
    match name {
        "fetch_failed" => inc("gavel_blob_fetch_failures_total", &[]),
        "divergence" => inc("gavel_divergences_total", &[]),
        "error" | "claim_error" => inc("gavel_errors_total", &[]),
        "move" => {
            inc("gavel_moves_total", &[("kind", event["kind"].as_str().unwrap_or("unknown"))]);
            add("gavel_move_gas_total", &[], event["gas"].as_f64().unwrap_or(0.0));
        }
        _ => {}
    }
    if event["alert"].as_bool() == Some(true) {
        let what = if name == "resolved" { event["verdict"].as_str().unwrap_or(name) } else { name };
        inc("gavel_alerts_total", &[("event", what)]);
    }
}

/// Sets the gauges a node's claim trees decide: its live bonds, what the tree credits it, and
/// the nearest deadline in the trees of `playing` (the claims it is disputing or defending).
pub fn tree_gauges(mirror: &crate::player::Mirror, me: gavel_bisection::tree::Account, playing: &[u64], now: u64) {
    use gavel_bisection::tree::Status;
    let model = &mirror.model;
    let mut at_stake = 0u128;
    for id in 1..=model.node_count() {
        if let Some(x) = model.node(id).filter(|x| x.poster == me && model.status_of(id) == Status::Unresolved) {
            at_stake += if x.depth == 0 { mirror.claim_bond(mirror.claim(id).map_or(0, |c| c.data.modelId)) } else { model.bond_at(x.depth) };
        }
    }
    set("gavel_bonds_at_stake_wei", &[], at_stake as f64);
    set("gavel_bonds_credited_wei", &[], model.credit(me) as f64);
    let tightest = playing
        .iter()
        .flat_map(|&c| model.nodes_of(c))
        .filter(|&&n| model.status_of(n) == Status::Unresolved)
        .filter_map(|&n| model.node(n).map(|x| x.deadline))
        .filter(|&d| d >= now)
        .min();
    match tightest {
        Some(d) => set("gavel_tightest_deadline_seconds", &[], (d - now) as f64),
        None => clear("gavel_tightest_deadline_seconds"),
    }
}

/// Sets `gavel_claims` and `gavel_disputes` from the verdicts of every claim a node keeps.
pub fn verdict_gauges<'a>(verdicts: impl Iterator<Item = &'a str>) {
    let mut by_verdict = BTreeMap::new();
    let mut disputes: BTreeMap<String, f64> = ["open", "won", "lost"].iter().map(|s| (s.to_string(), 0.0)).collect();
    for v in verdicts {
        *by_verdict.entry(v.to_string()).or_insert(0.0) += 1.0;
        let state = match v {
            "disputed" | "defending" => "open",
            "won" | "defended" => "won",
            "lost" | "missed" | "refuted" => "lost",
            _ => continue,
        };
        *disputes.entry(state.to_string()).or_insert(0.0) += 1.0;
    }
    set_all("gavel_claims", "verdict", &by_verdict);
    set_all("gavel_disputes", "state", &disputes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses the text format back: every sample line is `name{labels} value` with a declared
    /// family, and every family has HELP and TYPE.
    fn samples(text: &str) -> Vec<(String, f64)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("a sample line has a value");
                let v = if v == "+Inf" { f64::INFINITY } else { v.parse().expect("a number") };
                (k.to_string(), v)
            })
            .collect()
    }

    /// Every series the sample dashboard and alert rules use is one a node exports.
    #[test]
    fn dashboard_and_alerts_use_exported_series() {
        let ops = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ops");
        for file in ["grafana-dashboard.json", "alerts.yml"] {
            let text = std::fs::read_to_string(ops.join(file)).unwrap();
            let mut used = 0;
            for (i, _) in text.match_indices("gavel_") {
                let name: String = text[i..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
                let family = ["_bucket", "_sum", "_count"].iter().fold(name.as_str(), |n, suffix| n.strip_suffix(suffix).unwrap_or(n));
                let known = FAMILIES.iter().any(|(f, kind, _)| *f == name || (*f == family && *kind == Kind::Histogram));
                assert!(known, "{file} uses {name}, which no node exports");
                used += 1;
            }
            assert!(used > 10, "{file} names {used} series");
        }
    }

    #[test]
    fn text_format_round_trips() {
        start("watchtower");
        inc("gavel_rpc_requests_total", &[]);
        on_event(&serde_json::json!({ "event": "move", "kind": "counter", "gas": 120000 }));
        on_event(&serde_json::json!({ "event": "resolved", "verdict": "lost", "alert": true }));
        on_event(&serde_json::json!({ "event": "unverifiable", "alert": true, "claim": 3 }));
        set_all("gavel_claims", "verdict", &BTreeMap::from([("agrees".to_string(), 2.0), ("we\"ird".to_string(), 1.0)]));
        observe("gavel_first_move_seconds", 3.0);
        let text = render();
        for (name, _, _) in FAMILIES {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE line");
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP line");
        }
        let s = samples(&text);
        let get = |k: &str| s.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert!(get("gavel_rpc_requests_total").is_some_and(|v| v >= 1.0));
        assert!(get("gavel_moves_total{kind=\"counter\"}").is_some_and(|v| v >= 1.0));
        assert!(get("gavel_move_gas_total").is_some_and(|v| v >= 120000.0));
        assert!(get("gavel_alerts_total{event=\"lost\"}").is_some_and(|v| v >= 1.0));
        assert!(get("gavel_alerts_total{event=\"unverifiable\"}").is_some_and(|v| v >= 1.0));
        assert_eq!(get("gavel_claims{verdict=\"agrees\"}"), Some(2.0));
        assert_eq!(get("gavel_claims{verdict=\"we\\\"ird\"}"), Some(1.0), "label values are escaped");
        // Cumulative buckets: 3 s is above the 1 s and 2 s buckets, in the 5 s one and all later.
        assert!(get("gavel_first_move_seconds_bucket{le=\"5\"}").is_some_and(|v| v >= 1.0));
        assert_eq!(get("gavel_first_move_seconds_bucket{le=\"+Inf\"}"), get("gavel_first_move_seconds_count"));
        assert!(s.iter().all(|(n, _)| FAMILIES.iter().any(|(f, _, _)| n.starts_with(f))), "only declared families");
        set_all("gavel_claims", "verdict", &BTreeMap::from([("won".to_string(), 1.0)]));
        assert_eq!(value("gavel_claims", &[("verdict", "agrees")]), None, "a recomputed gauge drops verdicts nobody has");
    }
}
