//! Issue 19's end-to-end attack: `gavel watch` and `gavel serve` as processes on a real anvil
//! against a liar with 32 funded puppet accounts acting by raw transactions (hand-built calls on
//! the Court and the ClaimTree, none of gavel's player code). The liar answers the consumer's
//! request first with a false claim (attack 2: in v1 the first claim locked the request), half
//! the swarm counters that claim with false dissections of its own (attack 1: in v1 puppets
//! filled the dispute slots), the other half counters the watchtower's node and the honest
//! server's true claim. The false claim is refuted, the request is paid to `gavel serve` and the
//! consumer gets the true output, and the watchtower ends in profit.

use std::time::Duration;

use alloy::primitives::{keccak256, U256};
use alloy::sol_types::SolValue;
use gavel_bisection::state::BlobCommitment;
use gavel_challenger::chain::{event_in, Chain, DEV_KEYS};
use gavel_challenger::contracts::{ICourt, IExampleConsumer};
use gavel_challenger::fast_trace::FastTrace;
use gavel_challenger::player::Mirror;
use gavel_runner::cases::{repo_root, Case};

use crate::procs::{self, EventLog};
use crate::tree_game::{junk, puppets, sybil_counters};

const ETH: u128 = 1_000_000_000_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchtower_and_server_beat_a_32_puppet_swarm_end_to_end() {
    let t = procs::testnet("swarm", &["--models", "silero_vad"]);
    let d = t.d.clone();
    let (liar, consumer, deployer) = (
        Chain::connect(&d.rpc_url, DEV_KEYS[2]).await.unwrap(),
        Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap(),
        Chain::connect(&d.rpc_url, DEV_KEYS[0]).await.unwrap(),
    );
    let swarm = puppets(&d.rpc_url, 32).await;
    let watcher = Chain::connect(&d.rpc_url, DEV_KEYS[4]).await.unwrap();
    let tower_balance0 = watcher.balance().await.unwrap();

    // The consumer asks, input inline.
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let input = gavel_codec::encode(&case.inputs);
    let input_root = BlobCommitment::of(&input).id();
    let example = IExampleConsumer::new(d.consumer, &consumer.provider);
    let r =
        consumer.send(example.ask(1, input_root.into(), input.clone().into()).value(U256::from(ETH / 100)).into_transaction_request(), "ask").await.unwrap();
    let request = event_in::<ICourt::ComputeRequested>(&r).unwrap().requestId;

    // The liar answers first, by raw transactions: commit, then reveal a made-up final state.
    let lie = ICourt::ClaimData {
        modelId: 1,
        requestId: request,
        macroStepCount: 18,
        level2Depth: 5,
        inputRoot: input_root.into(),
        outputRoot: junk("output"),
        finalStateRoot: junk("final"),
    };
    let court = ICourt::new(d.court, &liar.provider);
    let salt = junk("salt");
    let commitment = keccak256((liar.address, lie.clone(), salt).abi_encode());
    liar.send(court.commitClaim(commitment).into_transaction_request(), "commitClaim").await.unwrap();
    let r = liar.send(court.postClaim(lie.clone(), salt).value(U256::from(ETH)).into_transaction_request(), "postClaim").await.unwrap();
    let bad = event_in::<ICourt::ClaimPosted>(&r).unwrap().claimId;
    // Attack 1: half the swarm "challenges" the lie with false dissections before anyone honest.
    for (i, p) in swarm.iter().take(16).enumerate() {
        sybil_counters(&d, p, bad, &[0], &format!("early {i}")).await;
    }

    // The honest server and the watchtower start.
    let (_serve, srx) = procs::node(
        &[
            "serve",
            "--deployment",
            &t.dep.display().to_string(),
            "--state",
            &t.work.join("serve").display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--poll-ms",
            "100",
            "--no-p2p",
        ]
        .map(String::from),
        DEV_KEYS[1],
        &t.work.join("serve.log"),
    );
    let mut sev = EventLog::new(srx);
    let (_watch, wrx) = procs::node(
        &["watch", "--deployment", &t.dep.display().to_string(), "--state", &t.work.join("watch").display().to_string(), "--poll-ms", "100", "--no-p2p"]
            .map(String::from),
        DEV_KEYS[4],
        &t.work.join("watch.log"),
    );
    let mut wev = EventLog::new(wrx);
    let answered = sev.next("request_answered", Duration::from_secs(120));
    let good = answered["claim"].as_u64().unwrap();
    let disputed = wev.next("disputed", Duration::from_secs(120));
    assert_eq!(disputed["claim"], bad);

    // The other half of the swarm: two false counters each of the watchtower's node under the
    // lie, and false counters of the honest claim (to delay its payment).
    let mut mirror = Mirror::new(&d).unwrap();
    mirror.sync(&deployer).await.unwrap();
    let me = mirror.account(watcher.address);
    let tower_node = mirror
        .model
        .nodes_of(bad)
        .iter()
        .copied()
        .find(|&id| mirror.model.node(id).is_some_and(|x| x.poster == me && x.parent == bad))
        .expect("the watchtower countered the lie");
    for (i, p) in swarm.iter().skip(16).enumerate() {
        sybil_counters(&d, p, tower_node, &[i, i + 7], &format!("defender {i}")).await;
        if i < 8 {
            sybil_counters(&d, p, good, &[0], &format!("delay {i}")).await;
        }
    }

    // Once every false node of both trees is answered (judged here with an honest trace of our
    // own: no counter, step or proof the honest strategy needs is missing), every deadline
    // passes and the parties resolve the trees.
    let rt = std::sync::Arc::new(crate::runtime().clone());
    let model = crate::model_bytes(&case);
    let mut truth = tokio::task::block_in_place(|| FastTrace::open(rt, model, std::sync::Arc::new(input.clone()), &d.machine_options())).unwrap();
    let started = std::time::Instant::now();
    let mut referee = Mirror::new(&d).unwrap();
    let judge = referee.account(alloy::primitives::Address::repeat_byte(0x42));
    let mut honest = gavel_bisection::tree::Honest::stake_only(judge);
    let mut answered_twice = 0;
    while answered_twice < 2 {
        assert!(started.elapsed() < Duration::from_secs(300), "the honest parties never answered every false node");
        tokio::time::sleep(Duration::from_secs(1)).await;
        referee.sync(&deployer).await.unwrap();
        let now = deployer.now().await.unwrap();
        let mut missing = 0;
        for claim in [bad, good] {
            let moves = tokio::task::block_in_place(|| honest.moves(&referee.model, claim, &mut truth, now)).unwrap();
            missing += moves.iter().filter(|m| !matches!(m.action, gavel_bisection::tree::Action::Resolve { .. })).count();
        }
        answered_twice = if missing == 0 { answered_twice + 1 } else { 0 };
    }
    eprintln!("swarm e2e: every false node answered {:.1} s after the defenders' last counter", started.elapsed().as_secs_f64());
    let last = referee.last_deadline(&[bad, good]);
    let now = deployer.now().await.unwrap();
    deployer.warp(last.saturating_sub(now) + 2).await.unwrap();
    let mut verdicts = std::collections::HashMap::new();
    while verdicts.len() < 2 {
        let e = wev.next("resolved", Duration::from_secs(180));
        verdicts.insert(e["claim"].as_u64().unwrap(), e["verdict"].as_str().unwrap().to_string());
    }
    assert_eq!(verdicts[&bad], "won", "{verdicts:?}");
    assert_eq!(verdicts[&good], "defended", "{verdicts:?}");
    let fulfilled = sev.next("fulfilled", Duration::from_secs(120));
    assert_eq!(fulfilled["claim"], good);

    // On chain: the lie refuted, the true claim final and paid, the consumer has the true output.
    let court = ICourt::new(d.court, &deployer.provider);
    assert_eq!(court.claimStatus(bad).call().await.unwrap(), 3);
    assert_eq!(court.claimStatus(good).call().await.unwrap(), 2);
    mirror.sync(&deployer).await.unwrap();
    let truth = mirror.claim(good).unwrap().data.outputRoot;
    assert_eq!(example.results(request).call().await.unwrap(), truth);
    // Every sybil node was countered; every node of the watchtower stood.
    for claim in [bad, good] {
        for &id in mirror.model.nodes_of(claim) {
            let x = mirror.model.node(id).unwrap();
            if x.depth == 0 {
                continue;
            }
            let sybil = swarm.iter().any(|p| mirror.model.node(id).unwrap().poster == mirror.account_of(p.address).unwrap_or(0));
            if sybil {
                assert_eq!(mirror.model.status_of(id), gavel_bisection::tree::Status::Countered, "sybil node {id}");
            }
            if x.poster == me {
                assert_eq!(mirror.model.status_of(id), gavel_bisection::tree::Status::Stood, "watchtower node {id}");
            }
        }
    }
    let tower_balance1 = watcher.balance().await.unwrap();
    assert!(tower_balance1 > tower_balance0, "the watchtower must end in profit: {tower_balance0} -> {tower_balance1}");
    eprintln!("swarm e2e: watchtower profit {} wei", tower_balance1 - tower_balance0);
    std::fs::remove_dir_all(&t.work).ok();
}
