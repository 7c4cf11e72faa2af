//! A connection to an Ethereum node, the local devnet (anvil), and deployment of gavel's
//! contracts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, FixedBytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use anyhow::{bail, Context, Result};
use gavel_bisection::binding::Genesis;
use serde::{Deserialize, Serialize};

use crate::contracts::{Artifacts, IClaimTree, ICourt, TreeParams, WasmGenesis};

/// The well-known private keys of anvil's default accounts (public test keys: never use them on
/// a real chain). Index 0 deploys; the demo gives the others to its parties.
pub const DEV_KEYS: [&str; 6] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/// Game and bond parameters of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameParams {
    /// Dissection arity.
    pub k: u8,
    /// Largest level-2 depth.
    pub max_level2_depth: u8,
    /// Chess clock per team and path, seconds (spec/game-v2.md, "Clocks").
    pub clock_time: u64,
    /// Time every node leaves to answer it, seconds.
    pub clock_extension: u64,
    /// Wei per counter or output challenge (a claim bonds at least this).
    pub counter_bond: u128,
    /// Seconds a request takes claims before its consumer may cancel it.
    pub request_timeout: u64,
    /// Wei paid from a node's bond to whoever resolves it (below half the counter bond).
    pub resolver_fee: u128,
    /// Blocks after its commitment within which a claim on a request must be revealed; a
    /// request's claims rank by commitment block (`spec/game-v2.md`, D1).
    pub reveal_blocks: u64,
}

fn default_counter_bond() -> u128 {
    // spec/game-v2.md "Bond sizes": half of it pays an honest step (~400k gas) and two
    // resolutions (~75k each) at ~20 gwei.
    25_000_000_000_000_000
}

fn default_resolver_fee() -> u128 {
    // A third party's cold `resolveNode` (≈ 105k gas) at 20 gwei, the price the counter bond
    // assumes.
    2_100_000_000_000_000
}

/// The devnet's reveal window: blocks come every second there (and with every transaction), so
/// a few blocks are seconds. A mainnet deployment should use about 256 (≈ 51 min).
const DEVNET_REVEAL_BLOCKS: u64 = 8;

fn default_request_timeout() -> u64 {
    // Above maxResolutionTime of the largest claim shape with the default clocks
    // (2 × 12 h + 20 × 1 h), so an honest server that answers at once is always paid.
    3 * 24 * 3600
}

/// The `format` of deployment files this build reads and writes.
pub const DEPLOYMENT_FORMAT: &str = "gavel.deployment.v2";

/// Receives the non-reward half of every countered v2 bond: a burn address, so that nobody who
/// plays can also collect it (spec/game-v2.md, D3).
pub const ESCROW: Address = alloy::primitives::address!("0x000000000000000000000000000000000000dEaD");

impl Default for GameParams {
    fn default() -> GameParams {
        // spec/game-v2.md "fast L2" set.
        GameParams {
            k: 32,
            max_level2_depth: 12,
            clock_time: 12 * 3600,
            clock_extension: 3600,
            counter_bond: default_counter_bond(),
            request_timeout: default_request_timeout(),
            resolver_fee: default_resolver_fee(),
            reveal_blocks: DEVNET_REVEAL_BLOCKS,
        }
    }
}

/// A model registered with the Court.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Court model id.
    pub id: u64,
    /// Human name (the file stem).
    pub name: String,
    /// Blob id of the ONNX bytes (`spec/machine.md`).
    pub model_root: String,
    /// blake3 of the ONNX bytes (the off-chain content id).
    pub blake3: String,
    /// Where the deployer read it (a hint for local tools; nodes fetch by content id).
    pub path: PathBuf,
    /// Wei per claim.
    pub claim_bond: u128,
    /// Seconds a claim can be countered.
    pub challenge_window: u32,
}

/// What `gavel devnet` writes: every address and parameter a node needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// `gavel.deployment.v2` (v1 files named the retired ClaimRegistry and DisputeGame).
    pub format: String,
    /// Chain id.
    pub chain_id: u64,
    /// The RPC the deployment was made through.
    pub rpc_url: String,
    /// Block of the first deployment transaction (nodes scan events from here).
    pub from_block: u64,
    /// StepVerifier (the one-step prover dispatcher).
    pub step_verifier: Address,
    /// WasmMachine (IStepVerifier + IStateBinding of the pinned guest).
    pub wasm_machine: Address,
    /// ExampleConsumer.
    pub consumer: Address,
    /// Court (models, requests, commit-reveal claims).
    pub court: Address,
    /// ClaimTree (created by the Court): one open tree of counters per claim.
    pub tree: Address,
    /// blake3 of the pinned guest module.
    pub guest_blake3: String,
    /// The guest's genesis parameters.
    pub genesis: Genesis,
    /// Game parameters.
    pub params: GameParams,
    /// Registered models.
    pub models: Vec<ModelEntry>,
}

impl Deployment {
    /// Reads a deployment JSON file.
    pub fn load(path: &Path) -> Result<Deployment> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read deployment {}", path.display()))?;
        let d: Deployment = serde_json::from_str(&text).with_context(|| format!("{} is not a gavel deployment", path.display()))?;
        if d.format != DEPLOYMENT_FORMAT {
            bail!("{}: format {:?}, want {DEPLOYMENT_FORMAT} (redeploy with gavel devnet)", path.display(), d.format);
        }
        Ok(d)
    }

    /// Writes it as pretty JSON, atomically (a temporary file renamed over `path`): a node or a
    /// script that waits for the file never reads half of it.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).ok();
        }
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n").with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The machine options the deployment's verifier was built for (its genesis memory limit):
    /// every run a node judges or claims on this deployment must use them, or its genesis root
    /// is not the chain's.
    pub fn machine_options(&self) -> gavel_runner::machine::MachineOptions {
        gavel_runner::machine::MachineOptions { memory_limit_mib: u64::from(self.genesis.memory_limit_pages / 16) }
    }

    /// The model registered as `id`.
    pub fn model(&self, id: u64) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }
}

/// A signer connected to a node.
#[derive(Clone)]
pub struct Chain {
    /// The provider (with the signer's wallet).
    pub provider: DynProvider,
    /// The signer's address.
    pub address: Address,
    /// The RPC URL.
    pub rpc_url: String,
    /// The nonce of this signer's next transaction, shared by clones; `None` until read from the
    /// node, and again after a submission whose fate is unknown.
    nonce: Arc<tokio::sync::Mutex<Option<u64>>>,
}

/// How long [`Chain::send`] waits for a receipt before it gives up with an error (and reads the
/// nonce from the node again), so a transaction the node dropped cannot stall a party forever.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(180);

impl Chain {
    /// Connects to `rpc_url` signing with `private_key` (0x-hex) and checks the node answers.
    pub async fn connect(rpc_url: &str, private_key: &str) -> Result<Chain> {
        Chain::connect_signer(rpc_url, crate::rpc::signer(&crate::rpc::KeySource::Hex(private_key.to_string()))?).await
    }

    /// Connects to `rpc_url` (`http`, `https`, `ws` or `wss`: [`crate::rpc`]) signing with
    /// `signer`, and checks the node answers.
    pub async fn connect_signer(rpc_url: &str, signer: PrivateKeySigner) -> Result<Chain> {
        let address = signer.address();
        let client = crate::rpc::client(rpc_url).await?;
        let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_client(client).erased();
        let chain = Chain { provider, address, rpc_url: rpc_url.to_string(), nonce: Arc::default() };
        chain.chain_id().await?;
        Ok(chain)
    }

    /// The node's chain id (an error naming the RPC if it does not answer sensibly).
    pub async fn chain_id(&self) -> Result<u64> {
        self.provider
            .get_chain_id()
            .await
            .map_err(|e| crate::rpc::explain(anyhow::Error::new(e)))
            .with_context(|| format!("the RPC at {} did not answer eth_chainId", self.rpc_url))
    }

    /// Sends `tx` and waits for its receipt; a reverted transaction is an error.
    ///
    /// Nonces are assigned here, one submission at a time per signer: a nonce is taken as used
    /// only once the node accepted the transaction. After a failed submission (a garbled RPC
    /// reply, a revert in gas estimation) or a missing receipt the next send reads the nonce from
    /// the node again. A locally cached nonce that advanced on a failed submission would leave a
    /// gap, and every later transaction would wait in the node's queue forever.
    pub async fn send(&self, tx: TransactionRequest, what: &str) -> Result<TransactionReceipt> {
        let pending = {
            let mut next = self.nonce.lock().await;
            let nonce = match *next {
                Some(n) => n,
                None => self.provider.get_transaction_count(self.address).pending().await.with_context(|| format!("{what}: reading the nonce"))?,
            };
            match self.provider.send_transaction(tx.with_nonce(nonce)).await {
                Ok(p) => {
                    *next = Some(nonce + 1);
                    p
                }
                Err(e) => {
                    *next = None;
                    bail!("{what}: {}", crate::revert_reason(&e));
                }
            }
        };
        let receipt = match self.receipt(*pending.tx_hash()).await {
            Ok(r) => r,
            Err(e) => {
                *self.nonce.lock().await = None;
                return Err(e).with_context(|| format!("{what}: no receipt"));
            }
        };
        if !receipt.status() {
            bail!("{what}: transaction {} reverted", receipt.transaction_hash);
        }
        Ok(receipt)
    }

    /// Waits for the receipt of `hash` by asking for it directly, at once (a devnet mines on
    /// every transaction) and then at growing intervals up to 2 s, for at most
    /// [`RECEIPT_TIMEOUT`]. (alloy's block-watching `get_receipt` took up to 230 ms a
    /// transaction on a devnet with a thousand tree nodes: `gavel bench --sybils`.)
    async fn receipt(&self, hash: B256) -> Result<TransactionReceipt> {
        let started = Instant::now();
        let mut wait = Duration::from_millis(20);
        loop {
            if let Some(r) = self.provider.get_transaction_receipt(hash).await.context("eth_getTransactionReceipt")? {
                return Ok(r);
            }
            anyhow::ensure!(started.elapsed() < RECEIPT_TIMEOUT, "transaction {hash} not mined within {RECEIPT_TIMEOUT:?}");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    /// Deploys `code ‖ args` and returns the new contract's address and the receipt.
    pub async fn deploy(&self, code: Bytes, args: Vec<u8>, what: &str) -> Result<(Address, TransactionReceipt)> {
        let mut init = code.to_vec();
        init.extend_from_slice(&args);
        let tx = TransactionRequest::default().with_deploy_code(init);
        let receipt = self.send(tx, &format!("deploying {what}")).await?;
        let addr = receipt.contract_address.with_context(|| format!("deploying {what}: no contract address"))?;
        Ok((addr, receipt))
    }

    /// The time deadlines are judged by: the latest block's timestamp, or the wall clock if that
    /// is later. A chain that mines only on demand (anvil's automine) keeps the timestamp of its
    /// last transaction, so a watchtower facing a silent opponent would otherwise wait forever
    /// for a block nobody sends. Acting early is harmless: the chain checks the deadline again
    /// when the transaction runs (a premature `timeout` or `finalize` reverts in gas estimation).
    pub async fn now(&self) -> Result<u64> {
        let block = self.provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await?.context("no latest block")?;
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        crate::metrics::set("gavel_chain_head_block", &[], block.header.number as f64);
        crate::metrics::set("gavel_chain_head_age_seconds", &[], wall.saturating_sub(block.header.timestamp) as f64);
        Ok(block.header.timestamp.max(wall))
    }

    /// Dev chains only (anvil): moves the chain's clock forward and mines a block.
    pub async fn warp(&self, seconds: u64) -> Result<()> {
        let _: serde_json::Value = self.provider.raw_request("evm_increaseTime".into(), (seconds,)).await.context("evm_increaseTime")?;
        let _: serde_json::Value = self.provider.raw_request("evm_mine".into(), ()).await.context("evm_mine")?;
        Ok(())
    }

    /// Balance in wei.
    pub async fn balance(&self) -> Result<U256> {
        Ok(self.provider.get_balance(self.address).await?)
    }
}

/// The first event of type `E` in a receipt's logs.
pub fn event_in<E: alloy::sol_types::SolEvent>(receipt: &TransactionReceipt) -> Option<E> {
    receipt.inner.logs().iter().find_map(|l| l.log_decode::<E>().ok()).map(|l| l.inner.data)
}

/// A 32-byte word as the ABI type.
pub fn b256(h: &[u8; 32]) -> B256 {
    FixedBytes(*h)
}

/// A `0x`-hex 32-byte word (roots and blob ids in JSON records and deployments).
pub fn parse_word(s: &str) -> Result<[u8; 32]> {
    let b = hex::decode(s.trim_start_matches("0x")).with_context(|| format!("bad 32-byte word {s}"))?;
    b.try_into().map_err(|_| anyhow::anyhow!("bad 32-byte word {s}"))
}

/// Deploys the WebAssembly one-step verifier: its seven family provers and the dispatcher.
pub async fn deploy_step_verifier(chain: &Chain, artifacts: &Artifacts) -> Result<Address> {
    let mut provers = Vec::new();
    for name in ["ControlProver", "VariableProver", "MemoryProver", "IntegerProver", "FloatProver", "OracleProver", "SimdProver"] {
        let (a, _) = chain.deploy(artifacts.bytecode(&format!("{name}.sol"), name)?, Vec::new(), name).await?;
        provers.push(a);
    }
    let provers: [Address; 7] = provers.try_into().map_err(|_| anyhow::anyhow!("seven provers"))?;
    let (step_verifier, _) = chain.deploy(artifacts.bytecode("StepVerifier.sol", "StepVerifier")?, provers.abi_encode(), "StepVerifier").await?;
    Ok(step_verifier)
}

/// Deploys every contract with `params`, registers nothing; returns the deployment (models empty).
pub async fn deploy_all(chain: &Chain, artifacts: &Artifacts, genesis: Genesis, guest_blake3: &str, params: GameParams) -> Result<Deployment> {
    let from_block = chain.provider.get_block_number().await?;
    let step_verifier = deploy_step_verifier(chain, artifacts).await?;
    let g = WasmGenesis {
        code: b256(&genesis.code),
        memoryPages: genesis.memory_pages,
        memoryLimitPages: genesis.memory_limit_pages,
        globals: b256(&genesis.globals),
        memoryRoot: b256(&genesis.memory),
        outputIdAddress: genesis.output_id_address,
    };
    let (wasm_machine, _) = chain.deploy(artifacts.bytecode("WasmMachine.sol", "WasmMachine")?, (step_verifier, g).abi_encode_params(), "WasmMachine").await?;
    let tp = TreeParams {
        k: params.k,
        maxLevel2Depth: params.max_level2_depth,
        clockTime: params.clock_time,
        clockExtension: params.clock_extension,
        counterBond: alloy::primitives::Uint::<96, 2>::from(params.counter_bond),
        escrow: ESCROW,
        resolverFee: alloy::primitives::Uint::<96, 2>::from(params.resolver_fee),
    };
    let (court, _) =
        chain.deploy(artifacts.bytecode("Court.sol", "Court")?, (tp, params.request_timeout, params.reveal_blocks).abi_encode_params(), "Court").await?;
    let tree = ICourt::new(court, &chain.provider).tree().call().await.context("court.tree()")?;
    let (consumer, _) = chain.deploy(artifacts.bytecode("ExampleConsumer.sol", "ExampleConsumer")?, court.abi_encode(), "ExampleConsumer").await?;
    // The tree must be the one the Court created, with the parameters asked for.
    let k = IClaimTree::new(tree, &chain.provider).k().call().await?;
    if k != U256::from(params.k) {
        bail!("the deployed claim tree has k = {k}, asked for {}", params.k);
    }
    Ok(Deployment {
        format: DEPLOYMENT_FORMAT.into(),
        chain_id: chain.chain_id().await?,
        rpc_url: chain.rpc_url.clone(),
        from_block,
        step_verifier,
        wasm_machine,
        consumer,
        court,
        tree,
        guest_blake3: guest_blake3.to_string(),
        genesis,
        params,
        models: Vec::new(),
    })
}

/// A model's bond policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelPolicy {
    /// Wei per claim (at least the deployment's counter bond).
    pub claim_bond: u128,
    /// Seconds a claim can be countered (between the clock extension and the clock).
    pub challenge_window: u32,
}

/// Registers a model (its ONNX bytes) with the deployment's Court and records it.
pub async fn register_model(chain: &Chain, d: &mut Deployment, name: &str, path: &Path, bytes: &[u8], policy: ModelPolicy) -> Result<u64> {
    let ModelPolicy { claim_bond, challenge_window } = policy;
    let model_root = gavel_bisection::state::BlobCommitment::of(bytes).id();
    let court = ICourt::new(d.court, &chain.provider);
    let call =
        court.registerModel(b256(&d.genesis.code), b256(&model_root), d.wasm_machine, alloy::primitives::Uint::<96, 2>::from(claim_bond), challenge_window);
    let receipt = chain.send(call.into_transaction_request(), &format!("registering model {name}")).await?;
    let id = event_in::<ICourt::ModelRegistered>(&receipt).map(|e| e.modelId).context("no ModelRegistered event from the court")?;
    d.models.push(ModelEntry {
        id,
        name: name.to_string(),
        model_root: gavel_bisection::state::hex32(&model_root),
        blake3: blake3_hex(bytes),
        path: path.to_path_buf(),
        claim_bond,
        challenge_window,
    });
    Ok(id)
}

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// A local anvil node on 127.0.0.1, stopped when dropped.
pub struct Anvil {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub rpc_url: String,
    /// The port.
    pub port: u16,
}

impl Anvil {
    /// The anvil binary: `$GAVEL_ANVIL`, else the one `scripts/setup-foundry.sh` installs under
    /// `contracts/node_modules`, else `anvil` on PATH.
    pub fn binary() -> PathBuf {
        if let Ok(p) = std::env::var("GAVEL_ANVIL") {
            return PathBuf::from(p);
        }
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let local = gavel_runner::cases::repo_root().join(format!("contracts/node_modules/@foundry-rs/anvil-{}-{arch}/bin/anvil", std::env::consts::OS));
        if local.is_file() {
            return local;
        }
        PathBuf::from("anvil")
    }

    /// Starts anvil on a free port (or `port`) and waits until it answers. It mines a block on
    /// every transaction and, like a live chain, one every `block_time` seconds (default 1) when
    /// idle: a claim's reveal window is counted in blocks.
    pub fn start(port: Option<u16>, block_time: Option<u64>) -> Result<Anvil> {
        Anvil::start_with(port, block_time, &[])
    }

    /// [`Anvil::start`] with more command-line arguments for anvil.
    pub fn start_with(port: Option<u16>, block_time: Option<u64>, extra: &[&str]) -> Result<Anvil> {
        let port = match port {
            Some(p) => p,
            None => std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(),
        };
        let bin = Anvil::binary();
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent", "--accounts", "10"]);
        cmd.args(["--block-time", &block_time.unwrap_or(1).to_string(), "--mixed-mining"]);
        cmd.args(extra);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("cannot start anvil ({}); run scripts/setup-foundry.sh or set GAVEL_ANVIL", bin.display()))?;
        let rpc_url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    e.read_to_string(&mut err).ok();
                }
                bail!("anvil exited at start ({status}): {}", err.trim());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Anvil { child, rpc_url, port });
            }
            if started.elapsed() > Duration::from_secs(30) {
                child.kill().ok();
                bail!("anvil did not listen on 127.0.0.1:{port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether anvil has exited (and how).
    pub fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
