//! End to end on a real local chain: anvil (from npm, on 127.0.0.1), the real contracts from
//! the Foundry build, the pinned guest on silero-vad, and gavel's player of the claim-tree game
//! on every side (a faulty party plays the same code with its corrupted trace). Each test starts
//! its own anvil; every party keeps its own step cache, so each re-runs the model itself.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::primitives::U256;
use anyhow::Result;
use gavel_bisection::state::BlobCommitment;
use gavel_bisection::tree::Status;
use gavel_challenger::agent;
use gavel_challenger::chain::{self, Anvil, Chain, Deployment, GameParams, DEV_KEYS};
use gavel_challenger::contracts::{Artifacts, IClaimTree, ICourt};
use gavel_challenger::player::{self, Mirror, Player};
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
    let policy = chain::ModelPolicy { claim_bond: ETH, challenge_window: WINDOW };
    let model_id = chain::register_model(&deployer, &mut d, "silero_vad", &case.model, &model, policy).await.unwrap();
    let input = Arc::new(gavel_codec::encode(&case.inputs));
    let input_root = BlobCommitment::of(&input).id();
    let work = std::env::temp_dir().join(format!("gavel-chain-{name}-{}", std::process::id()));
    Net { _anvil: anvil, d, deployer, model, input, input_root, model_id, work }
}

/// One side of a tree: its signer, its strategy and its own trace.
struct Party {
    chain: Chain,
    player: Player,
    trace: RunTrace,
}

impl Net {
    async fn party(&self, key: usize, mirror: &mut Mirror, trace: RunTrace) -> Party {
        let chain = Chain::connect(&self.d.rpc_url, DEV_KEYS[key]).await.unwrap();
        let player = Player::new(mirror, chain.address, true);
        Party { chain, player, trace }
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

    fn data(&self, t: &RunTrace, request: u64) -> ICourt::ClaimData {
        agent::claim_data(self.model_id, request, &self.input_root, &t.claim_shape(u64::from(self.d.params.k)))
    }

    async fn claim_status(&self, id: u64) -> u8 {
        ICourt::new(self.d.court, &self.deployer.provider).claimStatus(id).call().await.unwrap()
    }

    /// Every party plays `claim`'s tree in turn until none has a move left; returns the moves.
    async fn play(&self, mirror: &mut Mirror, parties: &mut [&mut Party], claim: u64) -> usize {
        let mut total = 0;
        for _ in 0..64 {
            let mut made = 0;
            for p in parties.iter_mut() {
                mirror.sync(&p.chain).await.unwrap();
                let now = p.chain.now().await.unwrap();
                made += p.player.play(&p.chain, &self.d, mirror, claim, &mut p.trace, now).await.unwrap().len();
            }
            if made == 0 {
                return total;
            }
            total += made;
        }
        panic!("the tree of claim {claim} never came to rest");
    }

    /// Moves the chain past every deadline of `claim`'s tree and lets every party resolve its
    /// stake.
    async fn settle(&self, mirror: &mut Mirror, parties: &mut [&mut Party], claim: u64) {
        mirror.sync(&self.deployer).await.unwrap();
        let last = mirror.last_deadline(&[claim]);
        let now = self.deployer.now().await.unwrap();
        self.deployer.warp(last.saturating_sub(now) + 2).await.unwrap();
        self.play(mirror, parties, claim).await;
        for p in parties.iter() {
            assert!(mirror.settled_for(claim, p.player.honest.me), "{} could not resolve its stake in claim {claim}", p.chain.address);
        }
    }
}

/// `Court.ClaimStatus`.
const FINAL: u8 = 2;
const REFUTED: u8 = 3;

#[test]
fn demo_runs_end_to_end_on_chain() {
    let out = gavel(&["demo", "--json"]);
    assert!(out.status.success(), "gavel demo failed: {}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for c in r["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
    }
    assert_eq!(r["dispute"]["executed_step"]["macro_step"], r["fault"]["macro_step"]);
    // The instruction the tree narrowed to is the one that produced the corrupted value.
    assert_eq!(r["dispute"]["executed_step"]["instruction"].as_u64().unwrap() + 1, r["fault"]["position"].as_u64().unwrap());
    // Both sides played, level by level, down to one-instruction parts.
    let moves = r["dispute"]["moves"].as_array().unwrap();
    assert!(moves.iter().any(|m| m["mover"] == "faulty server") && moves.iter().any(|m| m["mover"] == "watchtower"));
    let last = moves.iter().rfind(|m| m["kind"] == "counter" || m["kind"] == "step").unwrap();
    assert!(last["end"].as_u64().unwrap() - last["start"].as_u64().unwrap() <= 32, "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_challenger_loses_to_honest_server() -> Result<()> {
    let n = net("liar-challenger").await;
    let mut mirror = Mirror::new(&n.d)?;
    let mut server = n.party(1, &mut mirror, n.trace("server")).await;
    let mut liar = n.party(2, &mut mirror, n.faulty("liar")).await;
    let data = n.data(&server.trace, 0);
    let (claim, _) = player::post_claim(&server.chain, &n.d, &data).await?;
    // The liar counters the true claim with its corrupted trace; the server answers every node.
    let moves = n.play(&mut mirror, &mut [&mut liar, &mut server], claim).await;
    assert!(moves >= 2, "{moves} moves");
    let liar_me = liar.player.honest.me;
    assert!(mirror.model.nodes_of(claim).iter().any(|&id| mirror.model.node(id).unwrap().poster == liar_me), "the liar never countered");
    n.settle(&mut mirror, &mut [&mut liar, &mut server], claim).await;
    assert_eq!(n.claim_status(claim).await, FINAL);
    // Every node of the liar was countered; the server collected rewards on top of its bond.
    for &id in mirror.model.nodes_of(claim) {
        if mirror.model.node(id).unwrap().poster == liar_me {
            assert_eq!(mirror.model.status_of(id), Status::Countered, "liar node {id}");
        }
    }
    let credit = IClaimTree::new(n.d.tree, &server.chain.provider).credit(server.chain.address).call().await?;
    assert!(credit >= U256::from(ETH + n.d.params.counter_bond / 2), "the server should get its bond back and a reward, got {credit}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_watchtowers_on_one_bad_claim() -> Result<()> {
    let n = net("two-watchtowers").await;
    let mut mirror = Mirror::new(&n.d)?;
    let mut server = n.party(2, &mut mirror, n.faulty("liar")).await;
    let mut w1 = n.party(4, &mut mirror, n.trace("watch-1")).await;
    let mut w2 = n.party(5, &mut mirror, n.trace("watch-2")).await;
    let data = n.data(&server.trace, 0);
    let (claim, _) = player::post_claim(&server.chain, &n.d, &data).await?;
    // Both watchtowers play the same honest strategy: the second finds most of its moves made
    // (identical nodes are one node) and answers only what is left.
    n.play(&mut mirror, &mut [&mut w1, &mut w2, &mut server], claim).await;
    n.settle(&mut mirror, &mut [&mut w1, &mut w2, &mut server], claim).await;
    assert_eq!(n.claim_status(claim).await, REFUTED);
    for w in [&w1, &w2] {
        for &id in mirror.model.nodes_of(claim) {
            if mirror.model.node(id).unwrap().poster == w.player.honest.me {
                assert_eq!(mirror.model.status_of(id), Status::Stood, "watchtower node {id}");
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_loses_when_its_clock_runs_out() -> Result<()> {
    let n = net("silent").await;
    let mut mirror = Mirror::new(&n.d)?;
    let server = n.party(2, &mut mirror, n.faulty("liar")).await;
    let mut watcher = n.party(4, &mut mirror, n.trace("watch")).await;
    let data = n.data(&server.trace, 0);
    let (claim, _) = player::post_claim(&server.chain, &n.d, &data).await?;
    // The server never answers the watchtower's counter.
    assert_eq!(n.play(&mut mirror, &mut [&mut watcher], claim).await, 1);
    n.settle(&mut mirror, &mut [&mut watcher], claim).await;
    assert_eq!(n.claim_status(claim).await, REFUTED);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_challenges_honest_proves_and_wrong_output_loses() -> Result<()> {
    let n = net("output").await;
    let mut mirror = Mirror::new(&n.d)?;
    let mut server = n.party(1, &mut mirror, n.trace("server")).await;
    let mut watcher = n.party(4, &mut mirror, n.trace("watch")).await;
    let liar = Chain::connect(&n.d.rpc_url, DEV_KEYS[2]).await?;
    let bond = U256::from(n.d.params.counter_bond);
    // An honest claim challenged on its output by raw transaction: the server proves it.
    let data = n.data(&server.trace, 0);
    let (claim, _) = player::post_claim(&server.chain, &n.d, &data).await?;
    let court_l = ICourt::new(n.d.court, &liar.provider);
    liar.send(court_l.challengeOutput(claim, data.clone()).value(bond).into_transaction_request(), "challengeOutput").await?;
    assert_eq!(n.play(&mut mirror, &mut [&mut server], claim).await, 1, "the server proves the output");
    assert_eq!(n.play(&mut mirror, &mut [&mut watcher], claim).await, 0, "a proven output leaves the watchtower nothing to do");
    n.settle(&mut mirror, &mut [&mut server], claim).await;
    assert_eq!(n.claim_status(claim).await, FINAL);
    // A claim with the true final state but another output: the watchtower challenges it, the
    // true final state's proof does not prove it, and the claim is refuted.
    let mut wrong = data.clone();
    wrong.outputRoot.0[0] ^= 1;
    let (bad, _) = player::post_claim(&liar, &n.d, &wrong).await?;
    assert_eq!(n.play(&mut mirror, &mut [&mut watcher], bad).await, 1, "one output challenge");
    mirror.sync(&liar).await?;
    let challenge = *mirror.model.nodes_of(bad).last().unwrap();
    let (_, proof) = server.trace.output_with_proof(data.macroStepCount)?.unwrap();
    let tree_l = IClaimTree::new(n.d.tree, &liar.provider);
    let prove = tree_l.proveOutput(challenge, wrong.finalStateRoot, wrong.outputRoot, proof.into());
    assert!(liar.send(prove.into_transaction_request(), "proveOutput").await.is_err(), "a wrong output must not prove");
    n.settle(&mut mirror, &mut [&mut watcher], bad).await;
    assert_eq!(n.claim_status(bad).await, REFUTED);
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
    has("Court.sol", "Court", &ICourt::postClaimCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::commitClaimCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::challengeOutputCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::fulfillCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::registerModelCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::requestComputeCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::claimHashCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::claimStatusCall::SELECTOR);
    has("Court.sol", "Court", &ICourt::withdrawCall::SELECTOR);
    has("Court.sol", "Court", ICourt::ClaimPosted::SIGNATURE_HASH.as_slice());
    has("Court.sol", "Court", ICourt::ComputeRequested::SIGNATURE_HASH.as_slice());
    has("Court.sol", "Court", ICourt::ModelRegistered::SIGNATURE_HASH.as_slice());
    has("Court.sol", "Court", ICourt::RequestFulfilled::SIGNATURE_HASH.as_slice());
    has("Court.sol", "Court", ICourt::RequestCancelled::SIGNATURE_HASH.as_slice());
    has("ClaimTree.sol", "ClaimTree", &IClaimTree::counterCall::SELECTOR);
    has("ClaimTree.sol", "ClaimTree", &IClaimTree::stepCall::SELECTOR);
    has("ClaimTree.sol", "ClaimTree", &IClaimTree::proveOutputCall::SELECTOR);
    has("ClaimTree.sol", "ClaimTree", &IClaimTree::resolveNodeCall::SELECTOR);
    has("ClaimTree.sol", "ClaimTree", &IClaimTree::withdrawCall::SELECTOR);
    has("ClaimTree.sol", "ClaimTree", &IClaimTree::creditCall::SELECTOR);
    has("ClaimTree.sol", "ClaimTree", IClaimTree::ClaimOpened::SIGNATURE_HASH.as_slice());
    has("ClaimTree.sol", "ClaimTree", IClaimTree::Countered::SIGNATURE_HASH.as_slice());
    has("ClaimTree.sol", "ClaimTree", IClaimTree::OutputChallenged::SIGNATURE_HASH.as_slice());
    has("ClaimTree.sol", "ClaimTree", IClaimTree::OutputProven::SIGNATURE_HASH.as_slice());
    has("ClaimTree.sol", "ClaimTree", IClaimTree::Stepped::SIGNATURE_HASH.as_slice());
    has("ClaimTree.sol", "ClaimTree", IClaimTree::NodeResolved::SIGNATURE_HASH.as_slice());
    has("WasmMachine.sol", "WasmMachine", &IWasmMachine::initialStateRootCall::SELECTOR);
    has("WasmMachine.sol", "WasmMachine", &IWasmMachine::verifyOutputCall::SELECTOR);
    has("ExampleConsumer.sol", "ExampleConsumer", &IExampleConsumer::askCall::SELECTOR);
    // ClaimData's field order: the Court hashes abi.encode(data), so a reordering would make
    // every restated claim mismatch.
    let abi: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.dir().join("Court.sol/Court.json")).unwrap()).unwrap();
    let f = abi["abi"].as_array().unwrap().iter().find(|f| f["name"] == "postClaim").unwrap();
    let names: Vec<&str> = f["inputs"][0]["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["modelId", "requestId", "macroStepCount", "level2Depth", "inputRoot", "outputRoot", "finalStateRoot"]);
}
