//! End to end on a real local chain: anvil (from npm, on 127.0.0.1), the real contracts from
//! the Foundry build, the pinned guest on silero-vad, and gavel's dispute agent playing both
//! sides. Each test starts its own anvil; every party keeps its own step cache, so each re-runs
//! the model itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use anyhow::Result;
use gavel_bisection::game::Side;
use gavel_bisection::state::BlobCommitment;
use gavel_challenger::agent::{self, MoveRecord};
use gavel_challenger::chain::{self, event_in, Anvil, Chain, Deployment, GameParams, DEV_KEYS};
use gavel_challenger::contracts::{claim_status, dispute_status, Artifacts, IClaimRegistry, IDisputeGame};
use gavel_challenger::trace::RunTrace;
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use gavel_tests::gavel;

const ETH: u128 = 1_000_000_000_000_000_000;
const WINDOW: u32 = 3600;

struct Net {
    _anvil: Anvil,
    d: Deployment,
    deployer: Chain,
    model: Arc<Vec<u8>>,
    input: Arc<Vec<u8>>,
    input_root: [u8; 32],
    model_id: u64,
    work: PathBuf,
}

impl Drop for Net {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.work).ok();
    }
}

async fn net(name: &str) -> Net {
    let anvil = Anvil::start(None, None).expect("anvil (scripts/setup-foundry.sh installs it)");
    let deployer = Chain::connect(&anvil.rpc_url, DEV_KEYS[0]).await.unwrap();
    let rt = crate::runtime();
    let genesis = rt.genesis(&MachineOptions::default()).unwrap();
    let artifacts = Artifacts::locate().expect("contracts/out (scripts/setup-foundry.sh builds it)");
    let mut d = chain::deploy_all(&deployer, &artifacts, genesis, &rt.guest.blake3, GameParams::default()).await.unwrap();
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let model_id = chain::register_model(&deployer, &mut d, "silero_vad", &case.model, &model, chain::ModelPolicy { claim_bond: ETH, challenge_bond: ETH / 2, challenge_window: WINDOW })
        .await
        .unwrap();
    let input = Arc::new(gavel_codec::encode(&case.inputs));
    let input_root = BlobCommitment::of(&input).id();
    let work = std::env::temp_dir().join(format!("gavel-chain-{name}-{}", std::process::id()));
    Net { _anvil: anvil, d, deployer, model, input, input_root, model_id, work }
}

impl Net {
    async fn party(&self, key: usize) -> Chain {
        Chain::connect(&self.d.rpc_url, DEV_KEYS[key]).await.unwrap()
    }

    /// An honest trace with its own cache directory.
    fn trace(&self, who: &str) -> RunTrace {
        let dir = self.work.join(who);
        std::fs::create_dir_all(&dir).unwrap();
        tokio::task::block_in_place(|| {
            RunTrace::honest(crate::runtime(), self.model.clone(), self.input.clone(), &MachineOptions::default(), Some(&dir), &mut |_, _| {})
        })
        .unwrap()
    }

    fn faulty(&self, who: &str) -> RunTrace {
        let t = self.trace(who);
        tokio::task::block_in_place(|| RunTrace::faulty(t, 16, 1 << 22)).unwrap()
    }

    fn data(&self, t: &RunTrace, request: u64) -> IClaimRegistry::ClaimData {
        agent::claim_data(self.model_id, request, &self.input_root, &t.claim_shape(u64::from(self.d.params.k)))
    }

    async fn claim_status(&self, id: u64) -> u8 {
        IClaimRegistry::new(self.d.registry, &self.deployer.provider).claims(id).call().await.unwrap().status
    }
}

const POLL: Duration = Duration::from_millis(50);

fn quiet() -> impl FnMut(&MoveRecord) + Send {
    |_| {}
}

#[test]
fn demo_runs_end_to_end_on_chain() {
    let out = gavel(&["demo", "--json"]);
    assert!(out.status.success(), "gavel demo failed: {}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for c in r["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
    }
    assert_eq!(r["dispute"]["executed_step"]["macro_step"], r["fault"]["macro_step"]);
    // The executed instruction is the one that produced the corrupted value.
    assert_eq!(r["dispute"]["executed_step"]["instruction"].as_u64().unwrap() + 1, r["fault"]["position"].as_u64().unwrap());
    assert!(r["dispute"]["moves"].as_array().unwrap().len() as u64 > r["dispute"]["rounds"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_challenger_loses_to_honest_server() -> Result<()> {
    let n = net("liar-challenger").await;
    let (server, liar) = (n.party(1).await, n.party(2).await);
    let mut honest = n.trace("server");
    let data = n.data(&honest, 0);
    let (claim, _) = agent::post_claim(&server, &n.d, &data).await?;
    let mut lying = n.faulty("liar");
    let initial = lying.claim_shape(32).initial_root;
    let (dispute, _) = agent::open_dispute(&liar, &n.d, claim, &data, initial, &mut lying).await?;
    let (d1, s1) = (n.d.clone(), server.clone());
    let defend = tokio::spawn(async move { agent::play(&s1, &d1, dispute, Side::Claimant, &mut honest, POLL, &mut quiet()).await });
    let (d2, l2) = (n.d.clone(), liar.clone());
    let attack = tokio::spawn(async move { agent::play(&l2, &d2, dispute, Side::Challenger, &mut lying, POLL, &mut quiet()).await });
    let (won, lost) = (defend.await??, attack.await??);
    assert!(won.won && !lost.won);
    assert_eq!(won.status, dispute_status::CLAIMANT_WON);
    // The honest claim still finalizes after its window, and the server collects the liar's stake.
    n.deployer.warp(u64::from(WINDOW) + 1).await?;
    let reg = IClaimRegistry::new(n.d.registry, &server.provider);
    server.send(reg.finalize(claim, data).into_transaction_request(), "finalize").await?;
    assert_eq!(n.claim_status(claim).await, claim_status::FINAL);
    let game_credit = IDisputeGame::new(n.d.game, &server.provider).credit(server.address).call().await?;
    assert!(game_credit >= U256::from(ETH / 2), "the server should win the challenger's bond, got {game_credit}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_challengers_on_one_bad_claim() -> Result<()> {
    let n = net("two-challengers").await;
    let (server, w1, w2) = (n.party(2).await, n.party(4).await, n.party(5).await);
    let faulty_a = n.faulty("liar-a");
    let data = n.data(&faulty_a, 0);
    let (claim, _) = agent::post_claim(&server, &n.d, &data).await?;
    let mut tasks = Vec::new();
    let mut liar_traces = vec![faulty_a, n.faulty("liar-b")];
    for (i, w) in [w1, w2].into_iter().enumerate() {
        let mut t = n.trace(&format!("watch-{i}"));
        let initial = t.claim_shape(32).initial_root;
        let (dispute, _) = agent::open_dispute(&w, &n.d, claim, &data, initial, &mut t).await?;
        let (d, c) = (n.d.clone(), w.clone());
        tasks.push(tokio::spawn(async move { agent::play(&c, &d, dispute, Side::Challenger, &mut t, POLL, &mut quiet()).await }));
        let mut lt = liar_traces.remove(0);
        let (d, c) = (n.d.clone(), server.clone());
        tasks.push(tokio::spawn(async move { agent::play(&c, &d, dispute, Side::Claimant, &mut lt, POLL, &mut quiet()).await }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await??);
    }
    // Challenger outcomes are at 0 and 2; one refuted the claim, the other won too or was
    // cancelled with its stake back. The liar won nothing.
    let statuses: Vec<u8> = [0, 2].iter().map(|&i| outcomes[i].status).collect();
    assert!(statuses.contains(&dispute_status::CHALLENGER_WON), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == dispute_status::CHALLENGER_WON || *s == dispute_status::CANCELLED), "{statuses:?}");
    assert!(!outcomes[1].won && !outcomes[3].won);
    assert_eq!(n.claim_status(claim).await, claim_status::REFUTED);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_loses_by_timeout() -> Result<()> {
    let n = net("silent").await;
    let (server, watcher) = (n.party(2).await, n.party(4).await);
    let faulty = n.faulty("liar");
    let data = n.data(&faulty, 0);
    let (claim, _) = agent::post_claim(&server, &n.d, &data).await?;
    let mut t = n.trace("watch");
    let initial = t.claim_shape(32).initial_root;
    let (dispute, _) = agent::open_dispute(&watcher, &n.d, claim, &data, initial, &mut t).await?;
    // The server never answers; the chain's clock moves past its budget.
    n.deployer.warp(n.d.params.clock_time + 1).await?;
    let out = agent::play(&watcher, &n.d, dispute, Side::Challenger, &mut t, POLL, &mut quiet()).await?;
    assert!(out.won);
    assert_eq!(out.moves.last().map(|m| m.kind.as_str()), Some("timeout"));
    assert_eq!(n.claim_status(claim).await, claim_status::REFUTED);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_disputes_honest_proves_and_wrong_output_loses() -> Result<()> {
    let n = net("output").await;
    let (server, liar, watcher) = (n.party(1).await, n.party(2).await, n.party(4).await);
    let reg_w = IClaimRegistry::new(n.d.registry, &watcher.provider);
    let bond = U256::from(ETH / 2);
    // An honest claim challenged on its output: the server proves it with the final state's
    // output proof.
    let honest = n.trace("server");
    let data = n.data(&honest, 0);
    let (claim, _) = agent::post_claim(&server, &n.d, &data).await?;
    let r = watcher.send(reg_w.challengeOutput(claim, data.clone()).value(bond).into_transaction_request(), "challengeOutput").await?;
    let dispute = event_in::<IClaimRegistry::ClaimChallenged>(&r).unwrap().disputeId;
    let run = gavel_runner::run::run(
        crate::runtime(),
        n.model.clone(),
        &gavel_codec::decode(&n.input).unwrap(),
        &MachineOptions::default(),
        gavel_runner::run::TraceMode::FinalRoot,
        &mut |_| {},
    )?;
    assert_eq!(run.state_root, data.finalStateRoot.0);
    agent::defend_output(&server, &n.d, dispute, &data, run.output_proof.clone()).await?;
    let game = IDisputeGame::new(n.d.game, &watcher.provider);
    assert_eq!(game.getDispute(dispute).call().await?.status, dispute_status::CLAIMANT_WON);
    // A claim with the true final state but another output cannot prove it and times out.
    let mut wrong = data.clone();
    wrong.outputRoot.0[0] ^= 1;
    let (bad, _) = agent::post_claim(&liar, &n.d, &wrong).await?;
    let r = watcher.send(reg_w.challengeOutput(bad, wrong.clone()).value(bond).into_transaction_request(), "challengeOutput").await?;
    let dispute = event_in::<IClaimRegistry::ClaimChallenged>(&r).unwrap().disputeId;
    assert!(agent::defend_output(&liar, &n.d, dispute, &wrong, run.output_proof).await.is_err(), "a wrong output must not prove");
    n.deployer.warp(n.d.params.clock_time + 1).await?;
    watcher.send(game.timeout(dispute).into_transaction_request(), "timeout").await?;
    assert_eq!(game.getDispute(dispute).call().await?.status, dispute_status::CHALLENGER_WON);
    assert_eq!(n.claim_status(bad).await, claim_status::REFUTED);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rpc_endpoints_are_clear_errors() {
    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Chain::connect(&format!("http://127.0.0.1:{port}"), DEV_KEYS[0]).await.err().expect("no node");
    assert!(format!("{err:#}").contains(&format!("127.0.0.1:{port}")), "{err:#}");
    // A server that answers garbage.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for _ in 0..8 {
            let Ok((mut s, _)) = listener.accept().await else { break };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":[\"not\",\"a\",\"chain id\"]}";
            let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes()).await;
        }
    });
    let err = Chain::connect(&format!("http://{addr}"), DEV_KEYS[0]).await.err().expect("garbage reply");
    assert!(format!("{err:#}").contains("eth_chainId"), "{err:#}");
    // Not a URL, not a key.
    assert!(Chain::connect("not a url", DEV_KEYS[0]).await.is_err());
    assert!(Chain::connect(&format!("http://{addr}"), "0x1234").await.is_err());
}

#[test]
fn declared_abi_matches_the_foundry_build() {
    // Every selector the nodes use must exist in the compiled contracts.
    use alloy::sol_types::{SolCall, SolEvent};
    use gavel_challenger::contracts::{IExampleConsumer, IWasmMachine};
    let a = Artifacts::locate().unwrap();
    let has = |source: &str, name: &str, selector: &[u8]| {
        let all = a.selectors(source, name).unwrap();
        let want = alloy::hex::encode(selector);
        assert!(all.iter().any(|(_, s)| *s == want), "{name} has no selector {want}");
    };
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::postClaimCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::challengeCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::challengeOutputCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::finalizeCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::settleRefutationCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::registerModelCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::claimsCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", &IClaimRegistry::modelsCall::SELECTOR);
    has("ClaimRegistry.sol", "ClaimRegistry", IClaimRegistry::ClaimPosted::SIGNATURE_HASH.as_slice());
    has("ClaimRegistry.sol", "ClaimRegistry", IClaimRegistry::ComputeRequested::SIGNATURE_HASH.as_slice());
    has("ClaimRegistry.sol", "ClaimRegistry", IClaimRegistry::ClaimChallenged::SIGNATURE_HASH.as_slice());
    has("DisputeGame.sol", "DisputeGame", &IDisputeGame::getDisputeCall::SELECTOR);
    has("DisputeGame.sol", "DisputeGame", &IDisputeGame::moveCall::SELECTOR);
    has("DisputeGame.sol", "DisputeGame", &IDisputeGame::stepCall::SELECTOR);
    has("DisputeGame.sol", "DisputeGame", &IDisputeGame::proveOutputCall::SELECTOR);
    has("DisputeGame.sol", "DisputeGame", &IDisputeGame::timeoutCall::SELECTOR);
    has("DisputeGame.sol", "DisputeGame", &IDisputeGame::cancelCall::SELECTOR);
    has("DisputeGame.sol", "DisputeGame", IDisputeGame::Dissected::SIGNATURE_HASH.as_slice());
    has("DisputeGame.sol", "DisputeGame", IDisputeGame::StepExecuted::SIGNATURE_HASH.as_slice());
    has("WasmMachine.sol", "WasmMachine", &IWasmMachine::initialStateRootCall::SELECTOR);
    has("WasmMachine.sol", "WasmMachine", &IWasmMachine::verifyOutputCall::SELECTOR);
    has("ExampleConsumer.sol", "ExampleConsumer", &IExampleConsumer::askCall::SELECTOR);
    // getDispute's struct layout: decode a real zero dispute would not catch field order, so
    // compare the ABI's output component names with the declaration order.
    let abi: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.dir().join("DisputeGame.sol/DisputeGame.json")).unwrap()).unwrap();
    let f = abi["abi"].as_array().unwrap().iter().find(|f| f["name"] == "getDispute").unwrap();
    let names: Vec<&str> = f["outputs"][0]["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "claimant", "start", "level", "parts", "status", "kind", "challenger", "end", "turn", "level2Depth", "moves", "macroStep",
            "lastMoveAt", "claimantClock", "challengerClock", "rootsHash", "verifier", "claimId", "claimantStake", "challengerStake"
        ]
    );
}
