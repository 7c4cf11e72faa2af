//! `gavel devnet`: a local chain with gavel's contracts deployed and the real models
//! registered, described by a deployment JSON that every other command reads.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use gavel_challenger::chain::{self, Anvil, Chain, GameParams, DEV_KEYS};
use gavel_challenger::contracts::Artifacts;
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use serde_json::json;

use crate::config::{self, FileKey, KeyArgs, P2pFile, ServeFile, WatchFile};
use crate::GuestArgs;
use alloy::signers::local::PrivateKeySigner;

const ETH: f64 = 1e18;

#[derive(Args)]
pub(crate) struct DevnetArgs {
    /// Where to write the deployment JSON.
    #[arg(long, default_value = ".gavel/deployment.json")]
    pub(crate) deployment: PathBuf,
    /// Port for anvil on 127.0.0.1 (default: a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Deploy through this Ethereum RPC (http, https, ws or wss) instead of starting anvil.
    #[arg(long)]
    rpc_url: Option<String>,
    /// The guest memory limit the verifier is deployed for (part of the machine's semantics;
    /// every node on the deployment runs with it).
    #[arg(long, default_value_t = gavel_runner::config::DEFAULT_MEMORY_LIMIT_MIB)]
    memory_limit_mib: u64,
    /// Deployer key; default `GAVEL_PRIVATE_KEY`, else anvil's first dev account (only on the
    /// local devnet).
    #[command(flatten)]
    key: KeyArgs,
    /// Where to serve the dispute explorer and `/metrics` (default 127.0.0.1:8550, or a free
    /// port if that one is taken). With `--rpc-url`, only if given (then it runs until stopped).
    #[arg(long)]
    http: Option<std::net::SocketAddr>,
    /// Models to register: cases under tests/data (their ONNX files come from
    /// scripts/fetch-models.sh).
    #[arg(long, value_delimiter = ',', default_value = "silero_vad,ppocr_det,minilm_int8")]
    models: Vec<String>,
    /// Claim bond per claim, ETH.
    #[arg(long, default_value_t = 1.0)]
    claim_bond: f64,
    /// Bond per counter and output challenge, ETH (default: 0.025; a claim bond must be at
    /// least this).
    #[arg(long)]
    counter_bond: Option<f64>,
    /// Challenge window, seconds.
    #[arg(long, default_value_t = 3600)]
    window: u32,
    /// Chess clock per team and path of a claim tree, seconds.
    #[arg(long, default_value_t = GameParams::default().clock_time)]
    clock_time: u64,
    /// Time a team always keeps to answer a counter, seconds (default: the smaller of the
    /// clock and 1 hour). Models' challenge windows lie between it and the clock.
    #[arg(long)]
    clock_extension: Option<u64>,
    /// Blocks after its commitment within which a claim on a request must be revealed (the
    /// devnet mines a block a second when idle; a mainnet deployment should use about 256).
    #[arg(long, default_value_t = GameParams::default().reveal_blocks)]
    reveal_blocks: u64,
    /// The largest level-2 depth a claim may take (a macro-step of up to k^depth
    /// instructions; `--fast-claims` servers claim at it).
    #[arg(long, default_value_t = GameParams::default().max_level2_depth)]
    max_level2_depth: u8,
    /// Deploy, write the file and exit (stops the local anvil again; useful with --rpc-url).
    #[arg(long)]
    no_wait: bool,
    /// JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    guest: GuestArgs,
}

/// `eth` as wei; a negative, non-finite or absurd amount is an error naming `flag`.
fn eth_to_wei(eth: f64, flag: &str) -> Result<u128> {
    anyhow::ensure!(eth.is_finite() && (0.0..=1e9).contains(&eth), "{flag} {eth}: want an amount of ETH between 0 and 1e9");
    Ok((eth * ETH) as u128)
}

pub(crate) fn devnet(args: DevnetArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(devnet_async(args))
}

async fn devnet_async(args: DevnetArgs) -> Result<()> {
    let runtime = Arc::new(args.guest.runtime()?);
    let artifacts = Artifacts::locate()?;
    let (anvil, rpc_url) = match &args.rpc_url {
        Some(url) => (None, url.clone()),
        None => {
            let a = Anvil::start(args.port, None)?;
            let url = a.rpc_url.clone();
            (Some(a), url)
        }
    };
    let key = args.key.source(&FileKey::default(), anvil.as_ref().map(|_| DEV_KEYS[0]))?;
    let deployer = Chain::connect_signer(&rpc_url, gavel_challenger::rpc::signer(&key)?).await?;
    let genesis = runtime.genesis(&MachineOptions { memory_limit_mib: args.memory_limit_mib })?;
    let clock_extension = args.clock_extension.unwrap_or(GameParams::default().clock_extension).min(args.clock_time);
    let counter_bond = match args.counter_bond {
        Some(eth) => eth_to_wei(eth, "--counter-bond")?,
        None => GameParams::default().counter_bond,
    };
    let claim_bond = eth_to_wei(args.claim_bond, "--claim-bond")?;
    anyhow::ensure!(claim_bond >= counter_bond, "--claim-bond must be at least the counter bond ({} ETH)", counter_bond as f64 / ETH);
    anyhow::ensure!(args.reveal_blocks > 0, "--reveal-blocks must be at least 1");
    anyhow::ensure!((1..=GameParams::default().max_level2_depth).contains(&args.max_level2_depth), "--max-level2-depth must be 1 to 12");
    let params = GameParams {
        clock_time: args.clock_time,
        clock_extension,
        counter_bond,
        reveal_blocks: args.reveal_blocks,
        max_level2_depth: args.max_level2_depth,
        ..GameParams::default()
    };
    let mut d = chain::deploy_all(&deployer, &artifacts, genesis, &runtime.guest.blake3, params).await?;
    for name in &args.models {
        let case = Case::load(&repo_root(), name)?;
        let bytes = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
        chain::register_model(
            &deployer,
            &mut d,
            name,
            &case.model,
            &bytes,
            chain::ModelPolicy {
                claim_bond,
                // The tree requires clockExtension <= window <= clockTime (spec/game-v2.md, R2).
                challenge_window: args.window.clamp(params.clock_extension as u32, params.clock_time.min(u64::from(u32::MAX)) as u32),
            },
        )
        .await?;
    }
    d.save(&args.deployment)?;
    // The explorer, reading the chain: on the local devnet, and after deploying elsewhere only if
    // --http asks for it (otherwise `--rpc-url` deploys and exits, as it always did).
    let serve_explorer = !args.no_wait && (anvil.is_some() || args.http.is_some());
    let explorer = if serve_explorer { Some(DevnetExplorer::start(&d, args.http, runtime.clone()).await?) } else { None };
    let url = explorer.as_ref().map(|e| format!("http://{}/", e.addr));
    if args.json {
        println!(
            "{}",
            json!({ "deployment": args.deployment, "rpc_url": rpc_url, "court": d.court.to_string(), "tree": d.tree.to_string(), "models": d.models, "explorer": url })
        );
    } else {
        println!("gavel devnet: {} (chain {})", rpc_url, d.chain_id);
        println!("  court         {}", d.court);
        println!("  claim tree    {}", d.tree);
        println!("  wasm machine  {}", d.wasm_machine);
        println!("  consumer      {}", d.consumer);
        for m in &d.models {
            println!("  model {:>2}      {} ({})", m.id, m.name, m.model_root);
        }
        println!("deployment written to {}", args.deployment.display());
        if let Some(u) = &url {
            println!("dispute explorer and /metrics at {u}");
        }
    }
    if args.no_wait || (anvil.is_none() && explorer.is_none()) {
        return Ok(());
    }
    if anvil.is_some() && !args.json {
        println!("anvil is running; Ctrl-C stops it");
    }
    // Until stopped: the local anvil (if any) stays up, the explorer (if any) follows the chain.
    let (mut anvil, mut explorer) = (anvil, explorer);
    let mut stop = Stop::new()?;
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                if let Some(status) = anvil.as_mut().map(|a| a.exited()).transpose()?.flatten() {
                    anyhow::bail!("anvil exited ({status})");
                }
                if let Some(e) = explorer.as_mut() {
                    if let Err(err) = e.tick(&deployer).await {
                        tracing::warn!(error = %format!("{err:#}"), "explorer");
                    }
                }
            }
        }
    }
    drop(anvil);
    Ok(())
}

/// `gavel devnet`'s explorer: the chain's events, the picture, and the ONNX node of each step
/// (from a run of the model on the request's inline input, when the model file is here).
struct DevnetExplorer {
    addr: std::net::SocketAddr,
    mirror: gavel_challenger::player::Mirror,
    explorer: gavel_challenger::explorer::Explorer,
    deployment: chain::Deployment,
    runtime: Arc<gavel_runner::machine::Runtime>,
    /// Claims whose labels were tried (a run each, at most once).
    labelled: std::collections::HashSet<u64>,
    _http: tokio::task::JoinHandle<()>,
}

impl DevnetExplorer {
    async fn start(d: &chain::Deployment, http: Option<std::net::SocketAddr>, runtime: Arc<gavel_runner::machine::Runtime>) -> Result<DevnetExplorer> {
        gavel_challenger::metrics::start("devnet");
        let explorer = gavel_challenger::explorer::Explorer::new("devnet", d, None);
        let app = gavel_challenger::http::router(explorer.shared());
        let default: std::net::SocketAddr = ([127, 0, 0, 1], 8550).into();
        let (addr, task) = match http {
            Some(a) => gavel_challenger::http::spawn(a, app).await?,
            None => match gavel_challenger::http::spawn(default, app.clone()).await {
                Ok(x) => x,
                Err(_) => gavel_challenger::http::spawn(([127, 0, 0, 1], 0).into(), app).await?,
            },
        };
        Ok(DevnetExplorer {
            addr,
            mirror: gavel_challenger::player::Mirror::new(d)?,
            explorer,
            deployment: d.clone(),
            runtime,
            labelled: Default::default(),
            _http: task,
        })
    }

    async fn tick(&mut self, chain: &Chain) -> Result<()> {
        self.mirror.sync(chain).await?;
        let now = chain.now().await?;
        for claim in gavel_challenger::explorer::Explorer::stepped_claims(&self.mirror) {
            if self.explorer.has_labels(claim) || !self.labelled.insert(claim) {
                continue;
            }
            if let Some(labels) = self.labels(claim).await {
                self.explorer.set_labels(claim, &labels);
            }
        }
        self.explorer.refresh(&self.mirror, chain, self.mirror.next_block().saturating_sub(1), now).await
    }

    /// The macro-step labels of `claim`'s run, if the model file and the input are at hand.
    async fn labels(&self, claim: u64) -> Option<Vec<gavel_runner::prove::Label>> {
        let c = self.mirror.claim(claim)?;
        let m = self.deployment.model(c.data.modelId)?;
        let model = Arc::new(std::fs::read(&m.path).ok()?);
        let request = self.mirror.requests().get(&c.data.requestId)?;
        if gavel_bisection::state::BlobCommitment::of(&request.input).id() != c.data.inputRoot.0 {
            return None;
        }
        let input = Arc::new(request.input.clone());
        let (runtime, options) = (self.runtime.clone(), self.deployment.machine_options());
        let run = tokio::task::spawn_blocking(move || gavel_challenger::fast_trace::FastTrace::open(runtime, model, input, &options));
        match run.await {
            Ok(Ok(t)) => Some(t.labels().to_vec()),
            Ok(Err(e)) => {
                tracing::warn!(claim, error = %format!("{e:#}"), "labelling the claim's run");
                None
            }
            Err(_) => None,
        }
    }
}

/// SIGTERM or SIGINT (Ctrl-C), registered up front.
pub(crate) struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Stop {
    pub(crate) fn new() -> Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

#[derive(Args)]
pub(crate) struct WatchArgs {
    /// TOML file with this command's settings (commented example: docs/ops/watch.example.toml);
    /// a flag overrides the file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The deployment JSON (`gavel devnet` writes it) [default: .gavel/deployment.json].
    #[arg(long)]
    deployment: Option<PathBuf>,
    /// Use this Ethereum RPC (http, https, ws or wss) instead of the deployment's.
    #[arg(long)]
    rpc_url: Option<String>,
    #[command(flatten)]
    key: KeyArgs,
    /// Database and step caches [default: .gavel/watch].
    #[arg(long)]
    state: Option<PathBuf>,
    /// Chain polling interval, milliseconds [default: 500].
    #[arg(long)]
    poll_ms: Option<u64>,
    /// Exit once every known claim is agreed with or its dispute is over.
    #[arg(long)]
    once: bool,
    /// Serve `/metrics` (Prometheus) and the dispute explorer at this address, e.g.
    /// 127.0.0.1:9100.
    #[arg(long)]
    http: Option<std::net::SocketAddr>,
    #[command(flatten)]
    p2p: P2pArgs,
    #[command(flatten)]
    guest: GuestArgs,
}

/// How a node joins the p2p network.
#[derive(Args)]
pub(crate) struct P2pArgs {
    /// libp2p listen address (repeatable) [default: /ip4/127.0.0.1/tcp/0].
    #[arg(long = "p2p-listen")]
    p2p_listen: Vec<gavel_p2p::Multiaddr>,
    /// A peer to dial, e.g. `/ip4/127.0.0.1/tcp/4001/p2p/12D3…` (repeatable; the nodes print
    /// theirs in a `p2p_listening` event).
    #[arg(long = "peer")]
    peers: Vec<gavel_p2p::Multiaddr>,
    /// Stay off the p2p network (chain data only).
    #[arg(long)]
    no_p2p: bool,
}

impl P2pArgs {
    /// The flags over the file's `[p2p]` table.
    fn options(&self, file: Option<&P2pFile>) -> Result<Option<gavel_challenger::net::P2pOptions>> {
        let empty = P2pFile::default();
        let file = file.unwrap_or(&empty);
        if self.no_p2p || file.enabled == Some(false) {
            return Ok(None);
        }
        let listen = match (&self.p2p_listen, &file.listen) {
            (l, _) if !l.is_empty() => l.clone(),
            (_, Some(l)) => config::multiaddrs(l, "listen")?,
            _ => vec!["/ip4/127.0.0.1/tcp/0".parse()?],
        };
        let peers = match (&self.peers, &file.peers) {
            (p, _) if !p.is_empty() => p.clone(),
            (_, Some(p)) => config::multiaddrs(p, "peers")?,
            _ => Vec::new(),
        };
        Ok(Some(gavel_challenger::net::P2pOptions { listen, peers }))
    }
}

/// The deployment (with the RPC URL applied) and the signer of a node command.
fn node_setup(path: Option<PathBuf>, rpc_url: Option<String>, key: &KeyArgs, file_key: &FileKey) -> Result<(chain::Deployment, PrivateKeySigner)> {
    let path = path.unwrap_or_else(|| PathBuf::from(".gavel/deployment.json"));
    let mut deployment = chain::Deployment::load(&path)?;
    if let Some(url) = rpc_url {
        deployment.rpc_url = url;
    }
    let signer = gavel_challenger::rpc::signer(&key.source(file_key, None)?)?;
    Ok((deployment, signer))
}

/// The guest flag over the file's.
fn guest_of(flag: &GuestArgs, file: Option<PathBuf>) -> GuestArgs {
    GuestArgs { guest: flag.guest.clone().or(file) }
}

/// `gavel watch`: the watchtower daemon (events as JSON lines on stdout).
pub(crate) fn watch(args: WatchArgs) -> Result<()> {
    let file: WatchFile = config::load(args.config.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let (deployment, signer) = node_setup(args.deployment.or(file.deployment), args.rpc_url.or(file.rpc_url), &args.key, &file.key)?;
        let runtime = Arc::new(guest_of(&args.guest, file.guest).runtime()?);
        let cfg = gavel_challenger::watch::WatchConfig {
            deployment,
            signer,
            http: args.http.or(file.http),
            state_dir: args.state.or(file.state).unwrap_or_else(|| PathBuf::from(".gavel/watch")),
            poll: std::time::Duration::from_millis(args.poll_ms.or(file.poll_ms).unwrap_or(500).max(10)),
            once: args.once || file.once == Some(true),
            p2p: args.p2p.options(file.p2p.as_ref())?,
        };
        let mut stop = Stop::new()?;
        let tower = gavel_challenger::watch::Watchtower::new(cfg, runtime).await?;
        tokio::select! {
            r = tower.run() => r,
            _ = stop.recv() => Ok(()),
        }
    })
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// TOML file with this command's settings (commented example: docs/ops/serve.example.toml);
    /// a flag overrides the file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The deployment JSON (`gavel devnet` writes it) [default: .gavel/deployment.json].
    #[arg(long)]
    deployment: Option<PathBuf>,
    /// Use this Ethereum RPC (http, https, ws or wss) instead of the deployment's.
    #[arg(long)]
    rpc_url: Option<String>,
    #[command(flatten)]
    key: KeyArgs,
    /// Database and step caches [default: .gavel/serve].
    #[arg(long)]
    state: Option<PathBuf>,
    /// HTTP address: the inference API, `/metrics` and the dispute explorer [default:
    /// 127.0.0.1:8547].
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Chain polling interval, milliseconds [default: 500].
    #[arg(long)]
    poll_ms: Option<u64>,
    /// Tests and demos only: corrupt one operator result in this macro-step of every run, so
    /// this server posts wrong claims (and loses every dispute).
    #[arg(long, hide = true)]
    fault_macro_step: Option<u64>,
    /// Post claims from the wasmtime run alone, at the deployment's largest level-2 depth,
    /// without the step machine's exact instruction count (much higher throughput; disputes
    /// play a few more rounds, and the step machine runs only for disputed claims).
    #[arg(long)]
    fast_claims: bool,
    /// Answer on-chain requests paying at least this many wei [default: 10^15].
    #[arg(long)]
    min_payment: Option<u128>,
    /// Answer on-chain requests whose callback gas limit is at most this [default: 500000].
    #[arg(long)]
    max_callback_gas: Option<u32>,
    #[command(flatten)]
    p2p: P2pArgs,
    #[command(flatten)]
    guest: GuestArgs,
}

/// `gavel serve`: the model server (events as JSON lines on stdout).
pub(crate) fn serve(args: ServeArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let file: ServeFile = config::load(args.config.as_deref())?;
    let defaults = gavel_serve::RequestPolicy::default();
    let min_payment = match (args.min_payment, &file.min_payment) {
        (Some(v), _) => v,
        (None, Some(w)) => w.get()?,
        (None, None) => defaults.min_payment,
    };
    rt.block_on(async move {
        let (deployment, signer) = node_setup(args.deployment.or(file.deployment), args.rpc_url.or(file.rpc_url), &args.key, &file.key)?;
        let runtime = Arc::new(guest_of(&args.guest, file.guest).runtime()?);
        let cfg = gavel_serve::ServeConfig {
            deployment,
            signer,
            state_dir: args.state.or(file.state).unwrap_or_else(|| PathBuf::from(".gavel/serve")),
            listen: args.listen.or(file.listen).unwrap_or_else(|| ([127, 0, 0, 1], 8547).into()),
            poll: std::time::Duration::from_millis(args.poll_ms.or(file.poll_ms).unwrap_or(500).max(10)),
            fault_macro_step: args.fault_macro_step,
            p2p: args.p2p.options(file.p2p.as_ref())?,
            fast_claims: args.fast_claims || file.fast_claims == Some(true),
            policy: gavel_serve::RequestPolicy {
                min_payment,
                max_callback_gas: args.max_callback_gas.or(file.max_callback_gas).unwrap_or(defaults.max_callback_gas),
            },
        };
        let mut stop = Stop::new()?;
        gavel_serve::serve(cfg, runtime, async move { stop.recv().await }).await
    })
}

/// One HTTP/1.1 POST on a fresh connection; the status and body.
async fn post_json(addr: &str, path: &str, body: &str) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).await?;
    s.write_all(body.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no HTTP status")?;
    Ok((status, text.split("\r\n\r\n").nth(1).unwrap_or("").to_string()))
}

/// `gavel bench --serve`: requests/s of undisputed inference over HTTP with claims posted.
pub(crate) fn bench_serve(case_name: &str, requests: usize, fast_claims: bool, as_json: bool, guest: &GuestArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let runtime = Arc::new(guest.runtime()?);
        let anvil = Anvil::start(None, None)?;
        let deployer = Chain::connect(&anvil.rpc_url, DEV_KEYS[0]).await?;
        let genesis = runtime.genesis(&MachineOptions::default())?;
        let mut d = chain::deploy_all(&deployer, &Artifacts::locate()?, genesis, &runtime.guest.blake3, GameParams::default()).await?;
        let case = Case::load(&repo_root(), case_name)?;
        let bytes = std::fs::read(&case.model).with_context(|| format!("model {}", case.model.display()))?;
        let model_id =
            chain::register_model(&deployer, &mut d, case_name, &case.model, &bytes, chain::ModelPolicy { claim_bond: 10u128.pow(18), challenge_window: 3600 })
                .await?;
        let state = std::env::temp_dir().join(format!("gavel-bench-serve-{}", std::process::id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let cfg = gavel_serve::ServeConfig {
            deployment: d,
            signer: DEV_KEYS[1].parse()?,
            state_dir: state.clone(),
            listen: addr.parse()?,
            poll: std::time::Duration::from_millis(200),
            fault_macro_step: None,
            p2p: None,
            fast_claims,
            policy: gavel_serve::RequestPolicy::default(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gavel_serve::serve(cfg, runtime, async move {
            let _ = rx.await;
        }));
        let t = std::time::Instant::now();
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            anyhow::ensure!(t.elapsed().as_secs() < 60, "the server did not listen");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Distinct inputs: the first tensor's last element is nudged per request.
        let bodies: Vec<String> = (0..requests)
            .map(|i| {
                let mut inputs = case.inputs.clone();
                if let Some(t) = inputs.first_mut() {
                    let n = t.data.len();
                    if n >= 4 {
                        t.data[n - 4..].copy_from_slice(&(1e-3f32 * (i as f32 + 1.0)).to_le_bytes());
                    }
                }
                format!(r#"{{"model_id": {model_id}, "input": "0x{}"}}"#, hex::encode(gavel_codec::encode(&inputs)))
            })
            .collect();
        let started = std::time::Instant::now();
        let mut latencies = Vec::new();
        for b in &bodies {
            let t = std::time::Instant::now();
            let (status, body) = post_json(&addr, "/v1/inference", b).await?;
            anyhow::ensure!(status == 200, "request failed: {status} {body}");
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let secs = started.elapsed().as_secs_f64();
        let _ = tx.send(());
        server.await??;
        std::fs::remove_dir_all(&state).ok();
        latencies.sort_by(f64::total_cmp);
        let rps = requests as f64 / secs;
        let median = latencies[latencies.len() / 2];
        if as_json {
            println!(
                "{}",
                json!({ "case": case_name, "requests": requests, "fast_claims": fast_claims, "seconds": secs, "requests_per_s": rps, "median_ms": median })
            );
        } else {
            let mode = if fast_claims { "fast claims" } else { "exact claims" };
            println!("{case_name} ({mode}): {requests} requests with claims posted in {secs:.1} s: {rps:.2} requests/s (median latency {median:.0} ms)");
        }
        drop(anvil);
        Ok(())
    })
}

/// `gavel bench --p2p`: fetch time of each case's model between two nodes on loopback, with the
/// blob-id check on receipt (timed apart as `verify_ms`).
pub(crate) fn bench_p2p(cases: &[String], iters: usize, as_json: bool) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut blobs = Vec::new();
        for name in cases {
            let case = Case::load(&repo_root(), name)?;
            let bytes = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
            blobs.push((name.clone(), gavel_bisection::state::BlobCommitment::of(&bytes).id(), bytes));
        }
        let source: std::collections::HashMap<_, _> = blobs.iter().map(|(_, id, b)| (*id, b.clone())).collect();
        let topic = "gavel/bench";
        let start = |peers: Vec<gavel_p2p::Multiaddr>, source: Arc<dyn gavel_p2p::BlobSource>| async move {
            let mut cfg = gavel_p2p::Config::new(gavel_p2p::Keypair::generate_ed25519(), topic);
            cfg.peers = peers;
            gavel_p2p::Node::start(cfg, source, gavel_challenger::net::verifier()).await
        };
        let (server, _e1) = start(Vec::new(), Arc::new(source)).await?;
        let (client, _e2) = start(server.addrs().to_vec(), Arc::new(std::collections::HashMap::new())).await?;
        let t = std::time::Instant::now();
        while client.peers().await?.is_empty() {
            anyhow::ensure!(t.elapsed().as_secs() < 10, "the benchmark nodes did not connect");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mut rows = Vec::new();
        for (name, id, bytes) in &blobs {
            let mut ms = Vec::new();
            for _ in 0..iters {
                let t = std::time::Instant::now();
                let got = client.fetch(id, &[]).await?;
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                anyhow::ensure!(got.bytes.len() == bytes.len(), "short fetch");
            }
            let t = std::time::Instant::now();
            let _ = gavel_bisection::state::BlobCommitment::of(bytes).id();
            let verify_ms = t.elapsed().as_secs_f64() * 1e3;
            ms.sort_by(f64::total_cmp);
            let median = ms[ms.len() / 2];
            let mb_s = bytes.len() as f64 / 1e6 / (median / 1e3);
            if !as_json {
                println!(
                    "{name:<12} {:>6.1} MB in {median:>7.1} ms ({mb_s:>6.1} MB/s, of which the blob-id check {verify_ms:.1} ms)",
                    bytes.len() as f64 / 1e6
                );
            }
            rows.push(json!({ "case": name, "bytes": bytes.len(), "median_ms": median, "mb_per_s": mb_s, "verify_ms": verify_ms, "iters": iters }));
        }
        if as_json {
            println!("{}", json!({ "p2p": rows }));
        }
        Ok(())
    })
}
