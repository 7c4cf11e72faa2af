//! A gavel peer: one libp2p swarm (TCP, noise, yamux) driven by its own task, serving blobs from
//! a [`BlobSource`], fetching blobs from its peers and checking every one against its id before
//! handing it over, and carrying claim announcements on one gossipsub topic whose messages the
//! application validates.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{connection_limits, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};

use crate::wire::{BlobCodec, BlobId, BlobRequest, BlobResponse, CHUNK, PROTOCOL};

/// Where a node finds the blobs it serves.
pub trait BlobSource: Send + Sync + 'static {
    /// The blob with this id, if the node has it.
    fn blob(&self, id: &BlobId) -> Result<Option<Arc<Vec<u8>>>>;
}

/// Blobs held in memory.
impl BlobSource for HashMap<BlobId, Arc<Vec<u8>>> {
    fn blob(&self, id: &BlobId) -> Result<Option<Arc<Vec<u8>>>> {
        Ok(self.get(id).cloned())
    }
}

/// Checks that bytes are the blob named by an id (a received blob is used only if it passes).
pub type Verifier = Arc<dyn Fn(&BlobId, &[u8]) -> bool + Send + Sync>;

/// How a node runs.
pub struct Config {
    /// The node's identity.
    pub keypair: Keypair,
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial; those naming a peer id (`/p2p/…`) are redialled when the connection drops.
    pub peers: Vec<Multiaddr>,
    /// The gossipsub topic of claim announcements.
    pub topic: String,
    /// The largest blob the node fetches.
    pub max_blob: u64,
    /// The largest gossip message.
    pub max_gossip: usize,
}

impl Config {
    /// Defaults around an identity and a topic: listen on a free loopback port, 256 MiB blobs,
    /// 16 KiB gossip messages.
    pub fn new(keypair: Keypair, topic: impl Into<String>) -> Config {
        Config {
            keypair,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("static multiaddr")],
            peers: Vec::new(),
            topic: topic.into(),
            max_blob: 256 << 20,
            max_gossip: 16 << 10,
        }
    }
}

/// What the network tells the application.
#[derive(Debug)]
pub enum Event {
    /// A gossip message to validate with [`Node::validate`] (it is forwarded only if accepted).
    Gossip {
        /// Its id.
        message_id: MessageId,
        /// The peer that forwarded it.
        source: PeerId,
        /// Its payload.
        data: Vec<u8>,
    },
    /// A first connection to a peer.
    Connected(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
    /// A peer sent a blob request that could not be read (garbage, wrong length, trailing
    /// bytes) or did not wait for the answer. The request was dropped.
    BadRequest {
        /// Who sent it, where libp2p tells.
        peer: Option<PeerId>,
        /// What was wrong.
        error: String,
    },
}

/// Loads the node key at `path` (libp2p protobuf encoding), or creates an ed25519 key there, so
/// the peer id stays the same across restarts.
pub fn load_or_create_keypair(path: &Path) -> Result<Keypair> {
    match std::fs::read(path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).with_context(|| format!("{} is not a libp2p node key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let bytes = key.to_protobuf_encoding().context("encoding the node key")?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).ok();
            }
            std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the node key {}", path.display())),
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    blobs: request_response::Behaviour<BlobCodec>,
    gossip: gossipsub::Behaviour,
}

type Reply<T> = oneshot::Sender<std::result::Result<T, String>>;

enum Cmd {
    Request { peer: PeerId, req: BlobRequest, reply: Reply<BlobResponse> },
    Respond { channel: ResponseChannel<BlobResponse>, resp: BlobResponse },
    Publish { data: Vec<u8>, reply: Reply<()> },
    Validate { id: MessageId, source: PeerId, accept: bool },
    Disconnect(PeerId),
    Peers(Reply<Vec<PeerId>>),
}

/// A handle to a running node; cloning it is cheap. The node stops when every handle is dropped.
#[derive(Clone)]
pub struct Node {
    cmd: mpsc::Sender<Cmd>,
    peer_id: PeerId,
    addrs: Vec<Multiaddr>,
    max_blob: u64,
    verify: Verifier,
}

/// Builds the swarm every gavel node (and the test rogue) uses: TCP with noise and yamux.
pub(crate) fn swarm<B: NetworkBehaviour>(keypair: Keypair, behaviour: impl FnOnce(&Keypair) -> Result<B>) -> Result<Swarm<B>> {
    let b = behaviour(&keypair)?;
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .context("libp2p transport")?
        .with_behaviour(|_| b)
        .map_err(|e| anyhow::anyhow!("libp2p behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build())
}

/// The gossipsub behaviour: signed messages, application validation, bounded size.
pub(crate) fn gossip(key: &Keypair, max: usize, validate: bool) -> Result<gossipsub::Behaviour> {
    let mut b = gossipsub::ConfigBuilder::default();
    b.max_transmit_size(max.max(1024)).heartbeat_interval(Duration::from_millis(500)).validation_mode(gossipsub::ValidationMode::Strict);
    if validate {
        b.validate_messages();
    }
    let cfg = b.build().map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))?;
    gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), cfg).map_err(|e| anyhow::anyhow!("gossipsub: {e}"))
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

impl Node {
    /// Starts a node: listens, dials its peers, subscribes to the topic. Returns once it listens.
    pub async fn start(cfg: Config, source: Arc<dyn BlobSource>, verify: Verifier) -> Result<(Node, mpsc::Receiver<Event>)> {
        let peer_id = cfg.keypair.public().to_peer_id();
        let max_gossip = cfg.max_gossip;
        let (bad_tx, bad_rx) = mpsc::channel(64);
        let mut swarm = swarm(cfg.keypair, |k| {
            Ok::<_, anyhow::Error>(Behaviour {
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_pending_incoming(Some(32))
                        .with_max_established_incoming(Some(128))
                        .with_max_established_per_peer(Some(2)),
                ),
                blobs: request_response::Behaviour::with_codec(
                    BlobCodec { bad: Some(bad_tx) },
                    [(PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(Duration::from_secs(30)).with_max_concurrent_streams(64),
                ),
                gossip: gossip(k, max_gossip, true)?,
            })
        })?;
        let topic = IdentTopic::new(cfg.topic.clone());
        swarm.behaviour_mut().gossip.subscribe(&topic).map_err(|e| anyhow::anyhow!("subscribing to {}: {e}", cfg.topic))?;
        for a in &cfg.listen {
            swarm.listen_on(a.clone()).with_context(|| format!("cannot listen on {a}"))?;
        }
        // Wait for the listeners to come up, so callers can print real addresses.
        let mut addrs = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while addrs.len() < cfg.listen.len() {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => addrs.push(address.with(Protocol::P2p(peer_id))),
                Ok(SwarmEvent::ListenerError { error, .. }) => bail!("p2p listener: {error}"),
                Ok(SwarmEvent::ListenerClosed { reason, .. }) => bail!("p2p listener closed: {reason:?}"),
                Ok(_) => {}
                Err(_) => bail!("p2p: not listening after 10 s"),
            }
        }
        for a in &cfg.peers {
            if let Err(e) = swarm.dial(a.clone()) {
                tracing::warn!(peer = %a, error = %e, "p2p dial");
            }
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let actor = Actor {
            swarm,
            topic,
            cmd_tx: cmd_tx.downgrade(),
            events: ev_tx,
            source,
            cache: Arc::new(Mutex::new(VecDeque::new())),
            pending: HashMap::new(),
            redial: cfg.peers.iter().filter(|a| peer_of(a).is_some()).cloned().collect(),
            max_gossip,
        };
        tokio::spawn(actor.run(cmd_rx, bad_rx));
        Ok((Node { cmd: cmd_tx, peer_id, addrs, max_blob: cfg.max_blob, verify }, ev_rx))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses it listens on, each ending in `/p2p/<peer id>`.
    pub fn addrs(&self) -> &[Multiaddr] {
        &self.addrs
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).await.map_err(|_| anyhow::anyhow!("the p2p node has stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("the p2p node has stopped"))?.map_err(|e| anyhow::anyhow!(e))
    }

    /// Peers connected now.
    pub async fn peers(&self) -> Result<Vec<PeerId>> {
        self.call(Cmd::Peers).await
    }

    /// Publishes a gossip message on the topic. Fails if no peer is subscribed yet.
    pub async fn publish(&self, data: Vec<u8>) -> Result<()> {
        self.call(|reply| Cmd::Publish { data, reply }).await
    }

    /// The application's verdict on a gossip message: accepted ones are forwarded, rejected
    /// ones count against the peer that sent them.
    pub async fn validate(&self, id: MessageId, source: PeerId, accept: bool) {
        let _ = self.cmd.send(Cmd::Validate { id, source, accept }).await;
    }

    /// Fetches blob `id`, trying the `preferred` peers first, then every other connected peer.
    /// The bytes are returned only once they hash to `id`; a peer that serves anything else is
    /// disconnected. Errors name each peer tried and what it did.
    pub async fn fetch(&self, id: &BlobId, preferred: &[PeerId]) -> Result<Fetched> {
        let mut order: Vec<PeerId> = preferred.to_vec();
        for p in self.peers().await? {
            if !order.contains(&p) {
                order.push(p);
            }
        }
        if order.is_empty() {
            bail!("blob 0x{}: no connected peers", hex::encode(id));
        }
        let mut why = Vec::new();
        for peer in order {
            match self.fetch_from(peer, id).await {
                Ok(bytes) => return Ok(Fetched { bytes, peer }),
                Err(FromPeer::Missing(e)) => why.push(format!("{peer}: {e}")),
                Err(FromPeer::Lied(e)) => {
                    tracing::warn!(%peer, error = %e, "p2p peer served a bad blob; disconnecting");
                    let _ = self.cmd.send(Cmd::Disconnect(peer)).await;
                    why.push(format!("{peer}: {e}"));
                }
            }
        }
        bail!("blob 0x{} not fetched: {}", hex::encode(id), why.join("; "))
    }

    async fn request(&self, peer: PeerId, req: BlobRequest) -> std::result::Result<BlobResponse, FromPeer> {
        self.call(|reply| Cmd::Request { peer, req, reply }).await.map_err(|e| FromPeer::Missing(format!("{e:#}")))
    }

    async fn fetch_from(&self, peer: PeerId, id: &BlobId) -> std::result::Result<Vec<u8>, FromPeer> {
        let mut buf: Vec<u8> = Vec::new();
        let mut total = None;
        loop {
            let offset = buf.len() as u64;
            let resp = self.request(peer, BlobRequest { id: *id, offset, len: CHUNK }).await?;
            let (t, bytes) = match resp {
                BlobResponse::Chunk { total, bytes } => (total, bytes),
                BlobResponse::NotFound => return Err(FromPeer::Missing("does not have it".into())),
                BlobResponse::BadRange => return Err(FromPeer::Lied(format!("refused offset {offset} of a blob it announced"))),
            };
            if t > self.max_blob {
                return Err(FromPeer::Lied(format!("announced {t} bytes, over the {}-byte limit", self.max_blob)));
            }
            if *total.get_or_insert(t) != t {
                return Err(FromPeer::Lied("changed the blob's length between chunks".into()));
            }
            let want = (t - offset).min(u64::from(CHUNK));
            if bytes.len() as u64 != want {
                return Err(FromPeer::Lied(format!("sent {} bytes at offset {offset}, want {want}", bytes.len())));
            }
            if buf.is_empty() {
                buf.reserve(t.min(64 << 20) as usize);
            }
            buf.extend_from_slice(&bytes);
            if buf.len() as u64 == t {
                break;
            }
        }
        let (verify, id2) = (self.verify.clone(), *id);
        let (ok, buf) = tokio::task::spawn_blocking(move || (verify(&id2, &buf), buf)).await.map_err(|e| FromPeer::Missing(e.to_string()))?;
        if ok {
            Ok(buf)
        } else {
            Err(FromPeer::Lied(format!("served {} bytes that do not hash to the id", buf.len())))
        }
    }
}

/// A verified blob and the peer that served it.
#[derive(Debug)]
pub struct Fetched {
    /// The blob.
    pub bytes: Vec<u8>,
    /// Who served it.
    pub peer: PeerId,
}

enum FromPeer {
    /// The peer could not help (no blob, unreachable, timed out).
    Missing(String),
    /// The peer broke the protocol or served wrong bytes.
    Lied(String),
}

/// Recently served blobs, so a many-chunk transfer reads its source once.
type Cache = Arc<Mutex<VecDeque<(BlobId, Arc<Vec<u8>>)>>>;

struct Actor {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    cmd_tx: mpsc::WeakSender<Cmd>,
    events: mpsc::Sender<Event>,
    source: Arc<dyn BlobSource>,
    cache: Cache,
    pending: HashMap<OutboundRequestId, Reply<BlobResponse>>,
    redial: Vec<Multiaddr>,
    max_gossip: usize,
}

impl Actor {
    async fn run(mut self, mut cmds: mpsc::Receiver<Cmd>, mut bad: mpsc::Receiver<String>) {
        let mut redial = tokio::time::interval(Duration::from_secs(3));
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                cmd = cmds.recv() => match cmd {
                    Some(c) => self.on_cmd(c),
                    None => return,
                },
                Some(error) = bad.recv() => {
                    tracing::debug!(%error, "p2p unreadable blob request");
                    self.emit(Event::BadRequest { peer: None, error });
                }
                _ = redial.tick() => {
                    for a in &self.redial {
                        if let Some(p) = peer_of(a) {
                            if !self.swarm.is_connected(&p) {
                                let _ = self.swarm.dial(a.clone());
                            }
                        }
                    }
                }
            }
        }
    }

    fn emit(&self, e: Event) {
        if self.events.try_send(e).is_err() {
            tracing::debug!("p2p event dropped (the application is not reading)");
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        let b = self.swarm.behaviour_mut();
        match cmd {
            Cmd::Request { peer, req, reply } => {
                let id = b.blobs.send_request(&peer, req);
                self.pending.insert(id, reply);
            }
            Cmd::Respond { channel, resp } => {
                let _ = b.blobs.send_response(channel, resp);
            }
            Cmd::Publish { data, reply } => {
                let r = b.gossip.publish(self.topic.clone(), data).map(|_| ()).map_err(|e| format!("gossip publish: {e}"));
                let _ = reply.send(r);
            }
            Cmd::Validate { id, source, accept } => {
                let verdict = if accept { MessageAcceptance::Accept } else { MessageAcceptance::Reject };
                b.gossip.report_message_validation_result(&id, &source, verdict);
            }
            Cmd::Disconnect(p) => {
                let _ = self.swarm.disconnect_peer_id(p);
            }
            Cmd::Peers(reply) => {
                let _ = reply.send(Ok(self.swarm.connected_peers().copied().collect()));
            }
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } if num_established.get() == 1 => {
                tracing::debug!(peer = %peer_id, "p2p connected");
                self.emit(Event::Connected(peer_id));
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => self.emit(Event::Disconnected(peer_id)),
            SwarmEvent::IncomingConnectionError { error, send_back_addr, .. } => {
                tracing::debug!(from = %send_back_addr, error = %error, "p2p incoming connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blobs(e)) => self.on_blobs(e),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message { propagation_source, message_id, message })) => {
                if message.data.len() > self.max_gossip {
                    self.swarm.behaviour_mut().gossip.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Reject);
                } else {
                    self.emit(Event::Gossip { message_id, source: propagation_source, data: message.data });
                }
            }
            _ => {}
        }
    }

    fn on_blobs(&mut self, e: request_response::Event<BlobRequest, BlobResponse>) {
        use request_response::{Event as E, Message};
        match e {
            E::Message { message: Message::Request { request, channel, .. }, .. } => {
                // Look the blob up off the swarm task; answer through the command channel.
                let (source, cache, tx) = (self.source.clone(), self.cache.clone(), self.cmd_tx.clone());
                tokio::task::spawn_blocking(move || {
                    let resp = match lookup(&*source, &cache, &request.id) {
                        Ok(Some(blob)) => request.answer(&blob),
                        Ok(None) => BlobResponse::NotFound,
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "p2p blob source");
                            BlobResponse::NotFound
                        }
                    };
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx.blocking_send(Cmd::Respond { channel, resp });
                    }
                });
            }
            E::Message { message: Message::Response { request_id, response }, .. } => {
                if let Some(r) = self.pending.remove(&request_id) {
                    let _ = r.send(Ok(response));
                }
            }
            E::OutboundFailure { request_id, error, .. } => {
                if let Some(r) = self.pending.remove(&request_id) {
                    let _ = r.send(Err(format!("request failed: {error}")));
                }
            }
            E::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "p2p bad inbound request");
                self.emit(Event::BadRequest { peer: Some(peer), error: error.to_string() });
            }
            E::ResponseSent { .. } => {}
        }
    }
}

fn lookup(source: &dyn BlobSource, cache: &Cache, id: &BlobId) -> Result<Option<Arc<Vec<u8>>>> {
    if let Some((_, b)) = cache.lock().map_err(|_| anyhow::anyhow!("cache lock"))?.iter().find(|(k, _)| k == id) {
        return Ok(Some(b.clone()));
    }
    let Some(b) = source.blob(id)? else { return Ok(None) };
    let mut c = cache.lock().map_err(|_| anyhow::anyhow!("cache lock"))?;
    if c.len() >= 4 {
        c.pop_front();
    }
    c.push_back((*id, b.clone()));
    Ok(Some(b))
}
