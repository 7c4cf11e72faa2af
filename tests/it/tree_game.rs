//! The v2 claim-tree game on a real anvil: gavel's honest [`Player`] alone against a swarm of
//! puppet accounts that act by raw transactions on the Court and the ClaimTree (hand-built
//! calls, not gavel's player): the false claim is refuted, every puppet node is countered, the
//! honest side ends in profit, and gavel's mirror of the tree replays every event with the
//! chain's node ids, deadlines and resolutions.

use std::sync::Arc;

use alloy::network::TransactionBuilder;
use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolEvent;
use gavel_bisection::state::BlobCommitment;
use gavel_bisection::tree::Status;
use gavel_challenger::chain::{event_in, Chain, DEV_KEYS};
use gavel_challenger::contracts::{IClaimTree, ICourt};
use gavel_challenger::fast_trace::FastTrace;
use gavel_challenger::player::{self, Mirror, Player};
use gavel_runner::cases::{repo_root, Case};

const ETH: u128 = 1_000_000_000_000_000_000;

/// Deterministic puppet keys (test-only secrets).
pub(crate) fn puppet_key(i: usize) -> String {
    format!("0x{}", alloy::hex::encode(keccak256(format!("gavel puppet {i}").as_bytes())))
}

/// Funds `n` puppets from anvil's sixth dev account and connects them.
pub(crate) async fn puppets(rpc: &str, n: usize) -> Vec<Chain> {
    let bank = Chain::connect(rpc, DEV_KEYS[5]).await.unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let p = Chain::connect(rpc, &puppet_key(i)).await.unwrap();
        let tx = TransactionRequest::default().with_to(p.address).with_value(U256::from(5 * ETH));
        bank.send(tx, "funding a puppet").await.unwrap();
        out.push(p);
    }
    out
}

/// A made-up root, different for every tag.
pub(crate) fn junk(tag: &str) -> B256 {
    keccak256(tag.as_bytes())
}

/// The node's position and roots, as its `Countered` (or, for a claim, `ClaimOpened`) event
/// told them.
pub(crate) async fn node_event(chain: &Chain, tree: Address, from: u64, id: u64) -> (IClaimTree::Position, Vec<B256>) {
    use alloy::providers::Provider;
    let filter = alloy::rpc::types::Filter::new().address(tree).event_signature(IClaimTree::Countered::SIGNATURE_HASH).topic1(U256::from(id)).from_block(from);
    if let Some(log) = chain.provider.get_logs(&filter).await.unwrap().pop() {
        let e = log.log_decode::<IClaimTree::Countered>().unwrap().inner.data;
        let mut roots = vec![e.startRoot];
        roots.extend(e.roots);
        return (IClaimTree::Position { level: e.level, macroStep: e.macroStep, start: e.start, end: e.end }, roots);
    }
    let filter =
        alloy::rpc::types::Filter::new().address(tree).event_signature(IClaimTree::ClaimOpened::SIGNATURE_HASH).topic1(U256::from(id)).from_block(from);
    let log = chain.provider.get_logs(&filter).await.unwrap().pop().expect("no such node");
    let e = log.log_decode::<IClaimTree::ClaimOpened>().unwrap().inner.data;
    (IClaimTree::Position { level: 1, macroStep: 0, start: 0, end: e.macroStepCount }, vec![e.initialRoot, e.finalRoot])
}

/// False counters of `node` (a claim or a dissection) by `who`, one per listed part (modulo the
/// node's part count; one-instruction parts are skipped), junk roots: raw transactions.
pub(crate) async fn sybil_counters(d: &gavel_challenger::chain::Deployment, who: &Chain, node: u64, parts: &[usize], tag: &str) -> usize {
    let (at, roots) = node_event(who, d.tree, d.from_block, node).await;
    let tree = IClaimTree::new(d.tree, &who.provider);
    let k = u64::from(d.params.k);
    let mut made = 0;
    for &part in parts {
        let n = (roots.len() - 1) as u64;
        let part = part % n as usize;
        let (s, e) = (gavel_bisection::game::point(at.start, at.end, n, part as u64), gavel_bisection::game::point(at.start, at.end, n, part as u64 + 1));
        let count = if at.level == 1 && e - s == 1 { k } else { (e - s).min(k) };
        if at.level == 2 && e - s == 1 {
            continue;
        }
        let fake: Vec<B256> = (0..count).map(|j| junk(&format!("{tag} {node} {part} {j}"))).collect();
        let call = tree.counter(node, at.clone(), roots.clone(), part as u8, fake).value(U256::from(d.params.counter_bond));
        who.send(call.into_transaction_request(), "sybil counter").await.unwrap();
        made += 1;
    }
    made
}

/// Plays `claim`'s tree as `chain`'s signer with `trace` (honest or faulty) until it has had
/// nothing to do for `idle`; returns the moves made. The other parties are processes.
pub(crate) async fn play_until_idle(
    chain: &Chain,
    d: &gavel_challenger::chain::Deployment,
    claim: u64,
    trace: &mut gavel_challenger::trace::RunTrace,
    idle: std::time::Duration,
) -> usize {
    let mut mirror = Mirror::new(d).unwrap();
    let mut me = Player::new(&mut mirror, chain.address, true);
    let (mut total, mut since) = (0, std::time::Instant::now());
    while since.elapsed() < idle {
        mirror.sync(chain).await.unwrap();
        let now = chain.now().await.unwrap();
        let n = me.play(chain, d, &mirror, claim, trace, now).await.unwrap().len();
        if n > 0 {
            (total, since) = (total + n, std::time::Instant::now());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    total
}

/// Plays until the honest strategy asks for nothing more now; returns the moves made.
async fn play_out(p: &mut Player, chain: &Chain, d: &gavel_challenger::chain::Deployment, m: &mut Mirror, claim: u64, truth: &mut FastTrace) -> usize {
    let mut total = 0;
    for _ in 0..40 {
        m.sync(chain).await.unwrap();
        let now = chain.now().await.unwrap();
        let moves = p.play(chain, d, m, claim, truth, now).await.unwrap();
        if moves.is_empty() {
            return total;
        }
        total += moves.len();
    }
    panic!("the honest player never ran out of moves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_honest_player_beats_a_puppet_swarm_on_chain() {
    let t = crate::procs::testnet("tree-swarm", &["--models", "silero_vad"]);
    let d = t.d.clone();
    let (liar, watcher, deployer) = (
        Chain::connect(&d.rpc_url, DEV_KEYS[2]).await.unwrap(),
        Chain::connect(&d.rpc_url, DEV_KEYS[4]).await.unwrap(),
        Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap(),
    );
    let swarm = puppets(&d.rpc_url, 32).await;
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let model = crate::model_bytes(&case);
    let input = Arc::new(gavel_codec::encode(&case.inputs));
    let rt = Arc::new(crate::runtime().clone());
    let mut truth = tokio::task::block_in_place(|| FastTrace::open(rt, model.clone(), input.clone(), &d.machine_options())).unwrap();
    let n = truth.macro_steps();
    let k = u64::from(d.params.k);
    let mut depth = 0u8;
    while k.pow(u32::from(depth)) < 1 << 22 {
        depth += 1;
    }

    // The liar's claim, by raw transaction: the true output with a made-up final state.
    let lie = ICourt::ClaimData {
        modelId: 1,
        requestId: 0,
        macroStepCount: n,
        level2Depth: depth,
        inputRoot: B256::from(BlobCommitment::of(&input).id()),
        outputRoot: B256::from(truth.output_at(n).unwrap()),
        finalStateRoot: junk("final"),
    };
    let court = ICourt::new(d.court, &liar.provider);
    let r = liar.send(court.postClaim(lie.clone(), B256::ZERO).value(U256::from(ETH)).into_transaction_request(), "postClaim").await.unwrap();
    let claim = event_in::<ICourt::ClaimPosted>(&r).unwrap().claimId;

    // Attack 1 (issue 19), v2 form: half the swarm "challenges" the lie first with false
    // dissections of their own (to take the reward or crowd the honest counter out).
    for (i, p) in swarm.iter().take(16).enumerate() {
        sybil_counters(&d, p, claim, &[0], &format!("sybil {i}")).await;
    }

    // The honest watchtower: one player, its own trace.
    let balance0 = watcher.balance().await.unwrap();
    let mut mirror = Mirror::new(&d).unwrap();
    let mut me = Player::new(&mut mirror, watcher.address, true);
    let first = play_out(&mut me, &watcher, &d, &mut mirror, claim, &mut truth).await;
    // Its counter of the claim plus one counter of each of the 16 false sybil nodes.
    assert!(first >= 17, "the honest player made {first} moves");
    let my_account = mirror.account(watcher.address);
    let honest_counter = mirror.model.nodes_of(claim).iter().copied().find(|&id| {
        let x = mirror.model.node(id).unwrap();
        x.parent == claim && x.poster == my_account
    });
    let honest_counter = honest_counter.expect("the honest player countered the claim");

    // The other half of the swarm defends the lie: false counters of the honest node at every
    // part it can reach, two per puppet.
    for (i, p) in swarm.iter().skip(16).enumerate() {
        // Two puppets may pick the same part with different roots: both land.
        sybil_counters(&d, p, honest_counter, &[i, i + 7], &format!("defender {i}")).await;
    }
    let second = play_out(&mut me, &watcher, &d, &mut mirror, claim, &mut truth).await;
    assert!(second >= 16, "the honest player answered {second} defender nodes");

    // Every deadline passes; the honest player resolves what it has a stake in, bottom-up.
    mirror.sync(&watcher).await.unwrap();
    let last = mirror.last_deadline(&[claim]);
    let posted = mirror.claim(claim).unwrap().posted_at;
    assert!(last <= posted + d.params.clock_time * 2 + gavel_bisection::game::rounds(n, depth, k) * d.params.clock_extension);
    let now = deployer.now().await.unwrap();
    deployer.warp(last.saturating_sub(now) + 2).await.unwrap();
    for _ in 0..60 {
        play_out(&mut me, &watcher, &d, &mut mirror, claim, &mut truth).await;
        if mirror.settled_for(claim, my_account) {
            break;
        }
    }
    assert!(mirror.settled_for(claim, my_account), "the honest player could not resolve its stake");
    assert_eq!(mirror.model.status_of(claim), Status::Countered, "the false claim must be refuted");
    let tree_w = IClaimTree::new(d.tree, &watcher.provider);
    assert_eq!(tree_w.statusOf(claim).call().await.unwrap(), 1, "refuted on chain too");
    // Every sybil node is countered; every honest node stood.
    for &id in mirror.model.nodes_of(claim) {
        let x = mirror.model.node(id).unwrap();
        if x.depth == 0 {
            continue;
        }
        if x.poster == my_account {
            assert_eq!(mirror.model.status_of(id), Status::Stood, "honest node {id}");
        } else if x.parent == claim || x.parent == honest_counter {
            assert_eq!(mirror.model.status_of(id), Status::Countered, "sybil node {id}");
        }
    }
    let got = player::withdraw(&watcher, &d).await.unwrap();
    let balance1 = watcher.balance().await.unwrap();
    assert!(balance1 > balance0, "the honest watchtower must end in profit: {balance0} -> {balance1} (withdrew {got})");
    eprintln!("swarm: honest moves {first} + {second}, profit {} wei", balance1 - balance0);
    std::fs::remove_dir_all(&t.work).ok();
}
