//! The node commands as separate processes on a real anvil: `gavel devnet` deploys and serves
//! the chain; `gavel watch` counters a faulty claim in its tree, is killed with SIGKILL mid-game,
//! restarts from its database and still wins.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::procs::{self, wait_event, Proc};

use alloy::primitives::U256;
use gavel_bisection::state::BlobCommitment;
use gavel_challenger::agent;
use gavel_challenger::chain::{event_in, Chain, DEV_KEYS};
use gavel_challenger::contracts::{ICourt, IExampleConsumer};
use gavel_challenger::player;
use gavel_challenger::trace::RunTrace;
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;

/// Spawns `gavel watch` and forwards its JSON event lines.
fn watch(deployment: &Path, state: &Path, once: bool) -> (Proc, mpsc::Receiver<serde_json::Value>) {
    let mut args: Vec<String> = ["watch", "--deployment", &deployment.display().to_string(), "--state", &state.display().to_string(), "--poll-ms", "100"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if once {
        args.push("--once".into());
    }
    procs::node(&args, DEV_KEYS[4], &state.with_extension(if once { "second.log" } else { "first.log" }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchtower_killed_mid_dispute_resumes_and_wins() {
    let procs::Testnet { work, dep: deployment_file, d, devnet } = procs::testnet("nodes", &[]);
    let (liar, consumer) = (Chain::connect(&d.rpc_url, DEV_KEYS[2]).await.unwrap(), Chain::connect(&d.rpc_url, DEV_KEYS[3]).await.unwrap());

    // A consumer asks on chain with the input inline: that is how the watchtower learns it.
    let case = Case::load(&repo_root(), "silero_vad").unwrap();
    let input = std::sync::Arc::new(gavel_codec::encode(&case.inputs));
    let input_root = BlobCommitment::of(&input).id();
    let model = crate::model_bytes(&case);
    let example = IExampleConsumer::new(d.consumer, &consumer.provider);
    let ask = example.ask(1, input_root.into(), input.to_vec().into()).value(U256::from(10u64.pow(16)));
    let receipt = consumer.send(ask.into_transaction_request(), "ask").await.unwrap();
    let request = event_in::<ICourt::ComputeRequested>(&receipt).unwrap().requestId;

    // The faulty server answers it with a corrupted run (commit, then reveal) and defends its
    // claim in the tree with the same player as everyone, until it has had nothing to do for 5 s.
    let cache = work.join("liar");
    std::fs::create_dir_all(&cache).unwrap();
    let mut lying = tokio::task::block_in_place(|| {
        let t = RunTrace::honest(crate::runtime(), model, input.clone(), &MachineOptions::default(), Some(&cache), &mut |_, _| {}).unwrap();
        RunTrace::faulty(t, 16, 1 << 22).unwrap()
    });
    let data = agent::claim_data(1, request, &input_root, &lying.claim_shape(u64::from(d.params.k)));
    let (claim, _) = player::post_claim(&liar, &d, &data).await.unwrap();

    // The watchtower disputes it; we kill it right after its first move.
    let state = work.join("watch");
    let (first, rx) = watch(&deployment_file, &state, false);
    let opened = wait_event(&rx, "disputed", Duration::from_secs(120));
    assert_eq!(opened["claim"], claim);
    assert!(opened["moves"].as_u64().unwrap() >= 1, "{opened}");
    let (l, dd) = (liar.clone(), d.clone());
    let defend = tokio::spawn(async move { crate::tree_game::play_until_idle(&l, &dd, claim, &mut lying, Duration::from_secs(5)).await });
    first.kill9();
    drop(rx);

    // Restarted on the same state directory, it resumes the game and wins.
    let (second, rx) = watch(&deployment_file, &state, true);
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait_event(&rx, "resumed", Duration::from_secs(120)))).unwrap_or_else(|_| {
        let log = |n: &str| std::fs::read_to_string(state.with_extension(n)).unwrap_or_default();
        panic!("no resume; first watchtower:\n{}\nsecond:\n{}", log("first.log"), log("second.log"))
    });
    assert_eq!(resumed["claim"], claim);
    let liar_moves = defend.await.unwrap();
    assert!(liar_moves >= 1, "the liar defended its claim");
    crate::procs::settle_when_quiet(&d, claim, Duration::from_secs(3), Duration::from_secs(180)).await;
    let resolved = wait_event(&rx, "resolved", Duration::from_secs(180));
    assert_eq!(resolved["verdict"], "won", "{resolved}");
    let court = ICourt::new(d.court, &liar.provider);
    assert_eq!(court.claimStatus(claim).call().await.unwrap(), 3, "refuted");
    drop(second);

    // `gavel devnet` stops its anvil on SIGTERM.
    let port: u16 = d.rpc_url.rsplit(':').next().unwrap().parse().unwrap();
    drop(devnet); // SIGTERM
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(t.elapsed() < Duration::from_secs(20), "anvil still listening after SIGTERM to gavel devnet");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_dir_all(&work).ok();
}
