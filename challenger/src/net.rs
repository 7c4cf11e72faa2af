//! The nodes' side of the p2p layer (`spec/p2p.md`): the node's database as a blob source,
//! gavel blob ids as the check on every received blob, one gossip topic per deployment, and
//! claim announcements checked against the Court's stored claim hash before anyone acts on
//! them or forwards them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::{keccak256, Address};
use alloy::sol_types::SolValue;
use anyhow::{Context, Result};
use gavel_bisection::state::BlobCommitment;
use gavel_p2p::{BlobId, BlobSource, Config, Event, Multiaddr, Node, PeerId, Verifier};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::agent::ClaimFields;
use crate::chain::{Chain, Deployment};
use crate::contracts::ICourt;
use crate::emit;
use crate::store::Store;

/// How a node joins the network.
#[derive(Clone, Debug)]
pub struct P2pOptions {
    /// Listen addresses (default: a free port on 127.0.0.1).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial (`/ip4/…/tcp/…/p2p/<peer id>`).
    pub peers: Vec<Multiaddr>,
}

/// The gossip topic of a deployment's claims.
pub fn topic(d: &Deployment) -> String {
    format!("gavel/claims/2/{}/{}", d.chain_id, d.court.to_string().to_lowercase())
}

/// A model server's note "I posted claim N; ask me for its blobs".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimAnnouncement {
    /// `gavel.claim.v2`.
    pub format: String,
    /// Chain of the Court.
    pub chain_id: u64,
    /// The Court.
    pub court: Address,
    /// Claim id.
    pub claim_id: u64,
    /// The claim's fields (their keccak must equal the Court's `claimHash`).
    pub claim: ClaimFields,
}

impl ClaimAnnouncement {
    /// An announcement of claim `claim_id` in deployment `d`.
    pub fn new(d: &Deployment, claim_id: u64, claim: ClaimFields) -> ClaimAnnouncement {
        ClaimAnnouncement { format: "gavel.claim.v2".into(), chain_id: d.chain_id, court: d.court, claim_id, claim }
    }

    /// Parses and checks an announcement against the chain: right format, deployment, and the
    /// claim's data hash as the Court stores it. The error says what was wrong.
    pub async fn verify(bytes: &[u8], chain: &Chain, d: &Deployment) -> Result<ClaimAnnouncement> {
        let a: ClaimAnnouncement = serde_json::from_slice(bytes).context("not a claim announcement")?;
        anyhow::ensure!(a.format == "gavel.claim.v2", "format {:?}, want gavel.claim.v2", a.format);
        anyhow::ensure!(a.chain_id == d.chain_id && a.court == d.court, "for another deployment ({} on chain {})", a.court, a.chain_id);
        let data = a.claim.data()?;
        let hash = ICourt::new(d.court, &chain.provider).claimHash(a.claim_id).call().await.context("reading the claim")?;
        anyhow::ensure!(hash != alloy::primitives::B256::ZERO, "claim {} does not exist", a.claim_id);
        anyhow::ensure!(hash == keccak256(data.abi_encode()), "claim {}: the fields do not match the Court's hash", a.claim_id);
        Ok(a)
    }
}

/// A node's database as the source of the blobs it serves.
pub struct StoreBlobs(pub Arc<Store>);

impl BlobSource for StoreBlobs {
    fn blob(&self, id: &BlobId) -> Result<Option<Arc<Vec<u8>>>> {
        Ok(self.0.blob(id)?.map(Arc::new))
    }
}

/// Received blobs must have the gavel blob id they were asked for.
pub fn verifier() -> Verifier {
    Arc::new(|id: &BlobId, bytes: &[u8]| BlobCommitment::of(bytes).id() == *id)
}

/// The node key file in a state directory.
pub fn key_path(state_dir: &Path) -> PathBuf {
    state_dir.join("p2p.key")
}

/// A node's peer id and addresses, as the nodes report them (`p2p_listening`, `/health`).
pub fn describe(node: &Node) -> serde_json::Value {
    serde_json::json!({ "peer_id": node.peer_id().to_string(), "addrs": node.addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>() })
}

/// Logs the `p2p_listening` event: where peers can reach this node.
pub fn emit_listening(node: &Node) {
    let mut e = describe(node);
    e["event"] = "p2p_listening".into();
    emit(e);
}

/// Handles one network event the way both nodes do: a gossip message is checked against the
/// chain ([`ClaimAnnouncement::verify`]) and gossipsub told the verdict, so only real claims are
/// forwarded; a rejected one is logged as `gossip_rejected`. Every other event is logged.
/// Returns an accepted announcement and the peer it came from.
pub async fn on_event(node: &Node, chain: &Chain, d: &Deployment, event: Event) -> Option<(ClaimAnnouncement, PeerId)> {
    match event {
        Event::Gossip { message_id, source, data } => {
            let verdict = ClaimAnnouncement::verify(&data, chain, d).await;
            node.validate(message_id, source, verdict.is_ok()).await;
            match verdict {
                Ok(a) => return Some((a, source)),
                Err(e) => emit(serde_json::json!({ "event": "gossip_rejected", "peer": source.to_string(), "error": format!("{e:#}") })),
            }
        }
        Event::BadRequest { peer, error } => emit(serde_json::json!({ "event": "p2p_bad_request", "peer": peer.map(|p| p.to_string()), "error": error })),
        Event::Connected(p) => emit(serde_json::json!({ "event": "peer_connected", "peer": p.to_string() })),
        Event::Disconnected(p) => emit(serde_json::json!({ "event": "peer_disconnected", "peer": p.to_string() })),
    }
    None
}

/// Starts the p2p node of a server or watchtower: its key in `state_dir`, its blobs from
/// `store`, the deployment's claim topic.
pub async fn start(opts: &P2pOptions, d: &Deployment, state_dir: &Path, store: Arc<Store>) -> Result<(Node, mpsc::Receiver<Event>)> {
    let key = gavel_p2p::load_or_create_keypair(&key_path(state_dir))?;
    let mut cfg = Config::new(key, topic(d));
    cfg.listen = opts.listen.clone();
    cfg.peers = opts.peers.clone();
    Node::start(cfg, Arc::new(StoreBlobs(store)), verifier()).await
}
