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

use crate::GuestArgs;

const ETH: f64 = 1e18;

#[derive(Args)]
pub(crate) struct DevnetArgs {
    /// Where to write the deployment JSON.
    #[arg(long, default_value = ".gavel/deployment.json")]
    pub(crate) deployment: PathBuf,
    /// Port for anvil on 127.0.0.1 (default: a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Deploy through this Ethereum RPC instead of starting anvil (http only in this build).
    #[arg(long)]
    rpc_url: Option<String>,
    /// The guest memory limit the verifier is deployed for (part of the machine's semantics;
    /// every node on the deployment runs with it).
    #[arg(long, default_value_t = gavel_runner::config::DEFAULT_MEMORY_LIMIT_MIB)]
    memory_limit_mib: u64,
    /// Deployer key (0x-hex); default `GAVEL_PRIVATE_KEY`, else anvil's first dev account (only
    /// on the local devnet).
    #[arg(long)]
    private_key: Option<String>,
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
    let runtime = args.guest.runtime()?;
    let artifacts = Artifacts::locate()?;
    let (anvil, rpc_url) = match &args.rpc_url {
        Some(url) => (None, url.clone()),
        None => {
            let a = Anvil::start(args.port, None)?;
            let url = a.rpc_url.clone();
            (Some(a), url)
        }
    };
    let key = match (&args.private_key, std::env::var("GAVEL_PRIVATE_KEY").ok(), &anvil) {
        (Some(k), _, _) => k.clone(),
        (None, Some(k), _) => k,
        (None, None, Some(_)) => DEV_KEYS[0].to_string(),
        (None, None, None) => anyhow::bail!("--rpc-url needs a deployer key: --private-key or GAVEL_PRIVATE_KEY"),
    };
    let deployer = Chain::connect(&rpc_url, &key).await?;
    let genesis = runtime.genesis(&MachineOptions { memory_limit_mib: args.memory_limit_mib })?;
    let clock_extension = args.clock_extension.unwrap_or(GameParams::default().clock_extension).min(args.clock_time);
    let counter_bond = match args.counter_bond {
        Some(eth) => eth_to_wei(eth, "--counter-bond")?,
        None => GameParams::default().counter_bond,
    };
    let claim_bond = eth_to_wei(args.claim_bond, "--claim-bond")?;
    anyhow::ensure!(claim_bond >= counter_bond, "--claim-bond must be at least the counter bond ({} ETH)", counter_bond as f64 / ETH);
    anyhow::ensure!(args.reveal_blocks > 0, "--reveal-blocks must be at least 1");
    let params = GameParams { clock_time: args.clock_time, clock_extension, counter_bond, reveal_blocks: args.reveal_blocks, ..GameParams::default() };
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
    if args.json {
        println!(
            "{}",
            json!({ "deployment": args.deployment, "rpc_url": rpc_url, "court": d.court.to_string(), "tree": d.tree.to_string(), "models": d.models })
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
    }
    if let Some(mut a) = anvil {
        if args.no_wait {
            return Ok(());
        }
        if !args.json {
            println!("anvil is running; Ctrl-C stops it");
        }
        let mut stop = Stop::new()?;
        loop {
            tokio::select! {
                _ = stop.recv() => break,
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                    if let Some(status) = a.exited()? {
                        anyhow::bail!("anvil exited ({status})");
                    }
                }
            }
        }
        drop(a);
    }
    Ok(())
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
    /// The deployment JSON (`gavel devnet` writes it).
    #[arg(long, default_value = ".gavel/deployment.json")]
    deployment: PathBuf,
    /// Use this Ethereum RPC instead of the deployment's.
    #[arg(long)]
    rpc_url: Option<String>,
    /// Signer key (0x-hex); default `GAVEL_PRIVATE_KEY`.
    #[arg(long)]
    private_key: Option<String>,
    /// Database and step caches.
    #[arg(long, default_value = ".gavel/watch")]
    state: PathBuf,
    /// Chain polling interval, milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Exit once every known claim is agreed with or its dispute is over.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    p2p: P2pArgs,
    #[command(flatten)]
    guest: GuestArgs,
}

/// How a node joins the p2p network.
#[derive(Args)]
pub(crate) struct P2pArgs {
    /// libp2p listen address (repeatable).
    #[arg(long = "p2p-listen", default_value = "/ip4/127.0.0.1/tcp/0")]
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
    fn options(&self) -> Option<gavel_challenger::net::P2pOptions> {
        (!self.no_p2p).then(|| gavel_challenger::net::P2pOptions { listen: self.p2p_listen.clone(), peers: self.peers.clone() })
    }
}

/// The deployment (with `--rpc-url` applied) and the signer key of a node command.
fn node_setup(path: &std::path::Path, rpc_url: Option<&str>, key: Option<&str>) -> Result<(chain::Deployment, String)> {
    let mut deployment = chain::Deployment::load(path)?;
    if let Some(url) = rpc_url {
        deployment.rpc_url = url.to_string();
    }
    let key =
        key.map(str::to_string).or_else(|| std::env::var("GAVEL_PRIVATE_KEY").ok()).context("a signer key is needed: --private-key or GAVEL_PRIVATE_KEY")?;
    Ok((deployment, key))
}

/// `gavel watch`: the watchtower daemon (events as JSON lines on stdout).
pub(crate) fn watch(args: WatchArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let (deployment, key) = node_setup(&args.deployment, args.rpc_url.as_deref(), args.private_key.as_deref())?;
        let runtime = Arc::new(args.guest.runtime()?);
        let cfg = gavel_challenger::watch::WatchConfig {
            deployment,
            private_key: key,
            state_dir: args.state.clone(),
            poll: std::time::Duration::from_millis(args.poll_ms.max(10)),
            once: args.once,
            p2p: args.p2p.options(),
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
    /// The deployment JSON (`gavel devnet` writes it).
    #[arg(long, default_value = ".gavel/deployment.json")]
    deployment: PathBuf,
    /// Use this Ethereum RPC instead of the deployment's.
    #[arg(long)]
    rpc_url: Option<String>,
    /// Signer key (0x-hex); default `GAVEL_PRIVATE_KEY`.
    #[arg(long)]
    private_key: Option<String>,
    /// Database and step caches.
    #[arg(long, default_value = ".gavel/serve")]
    state: PathBuf,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8547")]
    listen: std::net::SocketAddr,
    /// Chain polling interval, milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Tests and demos only: corrupt one operator result in this macro-step of every run, so
    /// this server posts wrong claims (and loses every dispute).
    #[arg(long, hide = true)]
    fault_macro_step: Option<u64>,
    /// Post claims from the wasmtime run alone, at the deployment's largest level-2 depth,
    /// without the step machine's exact instruction count (much higher throughput; disputes
    /// play a few more rounds, and the step machine runs only for disputed claims).
    #[arg(long)]
    fast_claims: bool,
    /// Answer on-chain requests paying at least this many wei.
    #[arg(long, default_value_t = gavel_serve::RequestPolicy::default().min_payment)]
    min_payment: u128,
    /// Answer on-chain requests whose callback gas limit is at most this.
    #[arg(long, default_value_t = gavel_serve::RequestPolicy::default().max_callback_gas)]
    max_callback_gas: u32,
    #[command(flatten)]
    p2p: P2pArgs,
    #[command(flatten)]
    guest: GuestArgs,
}

/// `gavel serve`: the model server (events as JSON lines on stdout).
pub(crate) fn serve(args: ServeArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let (deployment, key) = node_setup(&args.deployment, args.rpc_url.as_deref(), args.private_key.as_deref())?;
        let runtime = Arc::new(args.guest.runtime()?);
        let cfg = gavel_serve::ServeConfig {
            deployment,
            private_key: key,
            state_dir: args.state.clone(),
            listen: args.listen,
            poll: std::time::Duration::from_millis(args.poll_ms.max(10)),
            fault_macro_step: args.fault_macro_step,
            p2p: args.p2p.options(),
            fast_claims: args.fast_claims,
            policy: gavel_serve::RequestPolicy { min_payment: args.min_payment, max_callback_gas: args.max_callback_gas },
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
            private_key: DEV_KEYS[1].to_string(),
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
