//! Real libp2p nodes on 127.0.0.1 sockets: blob transfer over many chunks, verification on
//! receipt (a lying peer is skipped and disconnected), garbage from raw TCP clients and from a
//! rogue libp2p peer, and gossip.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use gavel_p2p::rogue::Rogue;
use gavel_p2p::{BlobId, BlobRequest, BlobSource, Config, Event, Keypair, Node, Verifier, CHUNK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const TOPIC: &str = "gavel/test/claims";

/// Blobs by blake3 id (the verifier is pluggable; the nodes use gavel's blob ids).
type Blobs = HashMap<BlobId, Arc<Vec<u8>>>;

/// Serves `wrong` under the id of `right`.
struct Liar {
    id: BlobId,
    wrong: Arc<Vec<u8>>,
}

impl BlobSource for Liar {
    fn blob(&self, id: &BlobId) -> Result<Option<Arc<Vec<u8>>>> {
        Ok((id == &self.id).then(|| self.wrong.clone()))
    }
}

fn verifier() -> Verifier {
    Arc::new(|id: &BlobId, b: &[u8]| blake3::hash(b).as_bytes() == id)
}

fn id_of(b: &[u8]) -> BlobId {
    *blake3::hash(b).as_bytes()
}

async fn node(source: Arc<dyn BlobSource>, peers: Vec<gavel_p2p::Multiaddr>) -> (Node, mpsc::Receiver<Event>) {
    let mut cfg = Config::new(Keypair::generate_ed25519(), TOPIC);
    cfg.peers = peers;
    Node::start(cfg, source, verifier()).await.unwrap()
}

/// Waits until `n` sees `count` connected peers.
async fn connected(n: &Node, count: usize) {
    for _ in 0..400 {
        if n.peers().await.unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} did not reach {count} peers", n.peer_id());
}

/// The next gossip message within `limit` (other events are skipped).
async fn next_gossip(ev: &mut mpsc::Receiver<Event>, limit: Duration) -> Option<(gavel_p2p::MessageId, gavel_p2p::PeerId, Vec<u8>)> {
    tokio::time::timeout(limit, async {
        loop {
            match ev.recv().await {
                Some(Event::Gossip { message_id, source, data }) => return Some((message_id, source, data)),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_cross_in_chunks_and_are_verified() {
    // 3.5 chunks, one exact chunk, and the empty blob.
    let blobs = [blob(3 * CHUNK as usize + CHUNK as usize / 2, 1), blob(CHUNK as usize, 2), Vec::new()];
    let map: Blobs = blobs.iter().map(|b| (id_of(b), Arc::new(b.clone()))).collect();
    let (server, _ev) = node(Arc::new(map), vec![]).await;
    let (client, _ev2) = node(Arc::new(Blobs::new()), server.addrs().to_vec()).await;
    connected(&client, 1).await;
    for b in &blobs {
        let got = client.fetch(&id_of(b), &[]).await.unwrap();
        assert_eq!(got.bytes, *b);
        assert_eq!(got.peer, server.peer_id());
    }
    // A blob nobody has: a clear error naming the peer.
    let err = client.fetch(&[9; 32], &[]).await.unwrap_err().to_string();
    assert!(err.contains("does not have it") && err.contains(&server.peer_id().to_string()), "{err}");
    // A node with no peers says so.
    let (alone, _ev3) = node(Arc::new(Blobs::new()), vec![]).await;
    let err = alone.fetch(&[9; 32], &[]).await.unwrap_err().to_string();
    assert!(err.contains("no connected peers"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_peer_is_skipped_and_disconnected() {
    let right = blob(2 * CHUNK as usize + 17, 3);
    let id = id_of(&right);
    let mut wrong = right.clone();
    wrong[CHUNK as usize + 5] ^= 1;
    let (liar, _e1) = node(Arc::new(Liar { id, wrong: Arc::new(wrong) }), vec![]).await;
    let (honest, _e2) = node(Arc::new(Blobs::from([(id, Arc::new(right.clone()))])), vec![]).await;
    let (client, _e3) = node(Arc::new(Blobs::new()), vec![liar.addrs()[0].clone(), honest.addrs()[0].clone()]).await;
    connected(&client, 2).await;
    // The liar is asked first; its bytes fail the check, the honest peer's pass.
    let got = client.fetch(&id, &[liar.peer_id()]).await.unwrap();
    assert_eq!(got.bytes, right);
    assert_eq!(got.peer, honest.peer_id());
    for _ in 0..100 {
        if !client.peers().await.unwrap().contains(&liar.peer_id()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!client.peers().await.unwrap().contains(&liar.peer_id()), "the liar is disconnected");
    // With only the liar to ask, the fetch fails and says why.
    let (lonely, _e4) = node(Arc::new(Blobs::new()), vec![liar.addrs()[0].clone()]).await;
    connected(&lonely, 1).await;
    let err = lonely.fetch(&id, &[]).await.unwrap_err().to_string();
    assert!(err.contains("do not hash to the id"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_rejected_and_the_node_keeps_serving() {
    let b = blob(CHUNK as usize + 3, 4);
    let id = id_of(&b);
    let (server, mut events) = node(Arc::new(Blobs::from([(id, Arc::new(b.clone()))])), vec![]).await;
    let addr = server.addrs()[0].clone();
    let port = gavel_p2p::tcp_port(&addr).unwrap();

    // Raw TCP clients: random bytes, a fake multistream header, a connection closed at once.
    for junk in [vec![0xffu8; 4096], b"/multistream/1.0.0\n/gavel/blob/1\n\x00\x00".to_vec(), Vec::new()] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(&junk).await.ok();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
    }

    // A rogue libp2p peer: requests of the wrong length, with trailing bytes, and a bad range.
    let mut rogue = Rogue::new(TOPIC).unwrap();
    let peer = rogue.connect(addr.clone()).await.unwrap();
    for bad in [vec![], vec![1, 2, 3], vec![0u8; 45], vec![0xaa; 100_000]] {
        let r = rogue.raw_request(peer, bad.clone()).await.unwrap();
        assert!(r.as_ref().map(|v| v.is_empty()).unwrap_or(true), "{} garbage bytes got an answer: {r:?}", bad.len());
    }
    let past_end = BlobRequest { id, offset: 1 << 40, len: 10 }.encode().to_vec();
    assert_eq!(rogue.raw_request(peer, past_end).await.unwrap().unwrap(), vec![2], "bad range status");
    let mut bad_requests = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, Event::BadRequest { .. }) {
            bad_requests += 1;
        }
    }
    assert!(bad_requests >= 3, "the node reports the garbage requests ({bad_requests})");

    // The node still serves an honest client.
    let (client, _e) = node(Arc::new(Blobs::new()), vec![addr]).await;
    connected(&client, 1).await;
    assert_eq!(client.fetch(&id, &[]).await.unwrap().bytes, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_peers_and_validation_gates_forwarding() {
    let empty = || Arc::new(Blobs::new()) as Arc<dyn BlobSource>;
    let (a, _ea) = node(empty(), vec![]).await;
    let (b, mut eb) = node(empty(), vec![a.addrs()[0].clone()]).await;
    connected(&a, 1).await;
    // Publishing needs a subscribed peer; retry while subscriptions propagate.
    let mut sent = false;
    for _ in 0..100 {
        if a.publish(b"claim 7".to_vec()).await.is_ok() {
            sent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sent, "publish never found a subscribed peer");
    let got = next_gossip(&mut eb, Duration::from_secs(10)).await.expect("gossip within 10 s");
    assert_eq!(got.2, b"claim 7");
    assert_eq!(got.1, a.peer_id());
    b.validate(got.0, got.1, true).await;

    // A rogue's messages arrive for validation too (the application rejects them).
    let mut rogue = Rogue::new(TOPIC).unwrap();
    let bp = rogue.connect(b.addrs()[0].clone()).await.unwrap();
    rogue.publish(bp, b"\x00garbage\xff".to_vec()).await.unwrap();
    let got = next_gossip(&mut eb, Duration::from_secs(10)).await.expect("rogue gossip within 10 s");
    assert_eq!(got.2, b"\x00garbage\xff");
    b.validate(got.0, got.1, false).await;
    // Oversize messages never reach the application.
    rogue.publish(bp, vec![0u8; 64 << 10]).await.unwrap();
    let more = next_gossip(&mut eb, Duration::from_secs(2)).await;
    assert!(more.is_none(), "an oversize message was delivered: {} bytes", more.map(|m| m.2.len()).unwrap_or(0));
}

#[test]
fn node_keys_persist_and_corrupt_keys_are_errors() {
    let dir = std::env::temp_dir().join(format!("gavel-p2p-key-{}", std::process::id()));
    let path = dir.join("node.key");
    let a = gavel_p2p::load_or_create_keypair(&path).unwrap();
    let b = gavel_p2p::load_or_create_keypair(&path).unwrap();
    assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
    std::fs::write(&path, b"not a key").unwrap();
    let err = gavel_p2p::load_or_create_keypair(&path).unwrap_err().to_string();
    assert!(err.contains("not a libp2p node key"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
