//! gavel's peer-to-peer layer (`spec/p2p.md`): model servers serve the model and input blobs of
//! their claims by content id, watchtowers fetch them and use a blob only once it hashes to the
//! id the claim commits to; claims are announced on one gossipsub topic per deployment, and the
//! application checks each announcement against the chain before it is forwarded.

pub mod node;
pub mod rogue;
pub mod wire;

pub use libp2p::gossipsub::MessageId;
pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use node::{load_or_create_keypair, BlobSource, Config, Event, Fetched, Node, Verifier};
pub use wire::{BlobId, BlobRequest, BlobResponse, CHUNK, PROTOCOL};

/// The TCP port of a multiaddr (`/ip4/…/tcp/PORT/…`).
pub fn tcp_port(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
        _ => None,
    })
}
