//! gavel's on-chain parties: the contracts' ABI and deployment (`contracts`, `chain`), a party's
//! view of a run for the dispute game (`trace`), and the agent that plays disputes (`agent`).
//! Model servers and watchtowers share all of it, and their side of the p2p layer (`net`); they
//! differ only in whose claims they defend.

pub mod agent;
pub mod chain;
pub mod contracts;
pub mod explorer;
pub mod fast_trace;
pub mod http;
pub mod metrics;
pub mod net;
pub mod player;
pub mod rpc;
pub mod store;
pub mod trace;
pub mod tree_vectors;
pub mod watch;

/// One line of a node's event log: a JSON object on stdout (what scripts and tests read).
pub fn emit(event: serde_json::Value) {
    metrics::on_event(&event);
    println!("{event}");
}

/// The most useful line of an RPC error: a decoded revert (custom error selector and data) or
/// the node's message.
pub fn revert_reason(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").chars().take(400).collect()
}
