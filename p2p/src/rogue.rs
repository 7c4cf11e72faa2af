//! A misbehaving peer, for tests of the nodes' bad-input paths: it speaks the blob protocol with
//! raw bytes of its choosing and publishes arbitrary (properly signed) gossip payloads.

use std::io;
use std::time::Duration;

use anyhow::{bail, Result};
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};

use crate::wire::PROTOCOL;

/// Raw bytes both ways, read up to 2 MiB.
#[derive(Clone, Copy, Default)]
struct RawCodec;

async fn read_all<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    io.take(2 << 20).read_to_end(&mut out).await?;
    Ok(out)
}

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>> {
        read_all(io).await
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>> {
        read_all(io).await
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T, r: Vec<u8>) -> io::Result<()> {
        io.write_all(&r).await?;
        io.flush().await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T, r: Vec<u8>) -> io::Result<()> {
        io.write_all(&r).await?;
        io.flush().await
    }
}

#[derive(NetworkBehaviour)]
struct RogueBehaviour {
    raw: request_response::Behaviour<RawCodec>,
    gossip: gossipsub::Behaviour,
}

/// A peer that sends what it is told to.
pub struct Rogue {
    swarm: Swarm<RogueBehaviour>,
    topic: IdentTopic,
}

impl Rogue {
    /// A rogue subscribed to `topic`.
    pub fn new(topic: &str) -> Result<Rogue> {
        let mut swarm = crate::node::swarm(Keypair::generate_ed25519(), |k| {
            Ok::<_, anyhow::Error>(RogueBehaviour {
                raw: request_response::Behaviour::with_codec(
                    RawCodec,
                    [(PROTOCOL, ProtocolSupport::Outbound)],
                    request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
                ),
                gossip: crate::node::gossip(k, 1 << 20, false)?,
            })
        })?;
        let topic = IdentTopic::new(topic);
        swarm.behaviour_mut().gossip.subscribe(&topic).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Rogue { swarm, topic })
    }

    /// Dials `addr` and waits for the connection.
    pub async fn connect(&mut self, addr: Multiaddr) -> Result<PeerId> {
        self.swarm.dial(addr.clone())?;
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(until, self.swarm.select_next_some()).await {
                Ok(SwarmEvent::ConnectionEstablished { peer_id, .. }) => return Ok(peer_id),
                Ok(SwarmEvent::OutgoingConnectionError { error, .. }) => bail!("dialing {addr}: {error}"),
                Ok(_) => {}
                Err(_) => bail!("no connection to {addr} within 10 s"),
            }
        }
    }

    /// Sends `bytes` as a blob request; the raw response, or the failure (e.g. the peer reset
    /// the stream).
    pub async fn raw_request(&mut self, peer: PeerId, bytes: Vec<u8>) -> Result<std::result::Result<Vec<u8>, String>> {
        let id = self.swarm.behaviour_mut().raw.send_request(&peer, bytes);
        let until = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ev = tokio::time::timeout_at(until, self.swarm.select_next_some()).await.map_err(|_| anyhow::anyhow!("no answer within 15 s"))?;
            match ev {
                SwarmEvent::Behaviour(RogueBehaviourEvent::Raw(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response },
                    ..
                })) if request_id == id => return Ok(Ok(response)),
                SwarmEvent::Behaviour(RogueBehaviourEvent::Raw(request_response::Event::OutboundFailure { request_id, error, .. })) if request_id == id => {
                    return Ok(Err(error.to_string()))
                }
                _ => {}
            }
        }
    }

    /// Publishes `data` on the topic once `peer` has subscribed to it (within 10 s).
    pub async fn publish(&mut self, peer: PeerId, data: Vec<u8>) -> Result<()> {
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.swarm.behaviour().gossip.all_peers().any(|(p, topics)| *p == peer && topics.contains(&&self.topic.hash())) {
            if tokio::time::timeout_at(until, self.swarm.select_next_some()).await.is_err() {
                bail!("{peer} did not subscribe to {} within 10 s", self.topic);
            }
        }
        self.swarm.behaviour_mut().gossip.publish(self.topic.clone(), data).map_err(|e| anyhow::anyhow!("publish: {e}"))?;
        self.run_for(Duration::from_millis(300)).await;
        Ok(())
    }

    /// Drives the swarm for a while (so queued messages go out).
    pub async fn run_for(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while tokio::time::timeout_at(until, self.swarm.select_next_some()).await.is_ok() {}
    }
}
