//! `gavel bench --sybils 1,8,64,512`: the honest watchtower's wall time and gas against `S`
//! sybil counters of a false claim, on a fresh local anvil per `S`.
//!
//! A liar posts a false silero-vad claim; `S` sybil counters of it follow, each a dissection of
//! the claim's part with made-up roots, sent round-robin from eight funded puppet accounts by raw
//! transactions. Then gavel's player (the watchtower's, with wasmtime's level-1 roots) answers
//! everything the honest strategy asks for; the clock is moved past the tree's last deadline and
//! the player resolves what it has a stake in and withdraws. Reported per `S`: the time to answer
//! every sybil, the time to resolve, the honest transactions and gas, and the honest profit.

use std::sync::Arc;
use std::time::Instant;

use alloy::network::TransactionBuilder;
use alloy::primitives::{keccak256, B256, U256};
use alloy::rpc::types::TransactionRequest;
use anyhow::{Context, Result};
use gavel_bisection::state::BlobCommitment;
use gavel_challenger::chain::{self, Anvil, Chain, GameParams, DEV_KEYS};
use gavel_challenger::contracts::{Artifacts, IClaimTree, ICourt};
use gavel_challenger::fast_trace::FastTrace;
use gavel_challenger::player::{self, Mirror, Player};
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use serde_json::json;

use crate::GuestArgs;

const ETH: u128 = 1_000_000_000_000_000_000;
const PUPPETS: usize = 8;

/// A made-up root.
fn junk(tag: &str) -> B256 {
    keccak256(tag.as_bytes())
}

/// One run against `sybils` counters; returns its report.
async fn run(runtime: Arc<gavel_runner::machine::Runtime>, case: &Case, model: &Arc<Vec<u8>>, sybils: usize) -> Result<serde_json::Value> {
    let anvil = Anvil::start(None, None)?;
    let deployer = Chain::connect(&anvil.rpc_url, DEV_KEYS[0]).await?;
    let genesis = runtime.genesis(&MachineOptions::default())?;
    let mut d = chain::deploy_all(&deployer, &Artifacts::locate()?, genesis, &runtime.guest.blake3, GameParams::default()).await?;
    let window = d.params.clock_extension as u32;
    let model_id =
        chain::register_model(&deployer, &mut d, &case.name, &case.model, model, chain::ModelPolicy { claim_bond: ETH, challenge_window: window }).await?;
    let (liar, honest, bank) = (
        Chain::connect(&anvil.rpc_url, DEV_KEYS[2]).await?,
        Chain::connect(&anvil.rpc_url, DEV_KEYS[4]).await?,
        Chain::connect(&anvil.rpc_url, DEV_KEYS[5]).await?,
    );
    let mut puppets = Vec::new();
    for i in 0..PUPPETS.min(sybils) {
        let key = format!("0x{}", alloy::hex::encode(keccak256(format!("gavel bench puppet {i}").as_bytes())));
        let p = Chain::connect(&anvil.rpc_url, &key).await?;
        let need = d.params.counter_bond * (sybils / PUPPETS + 2) as u128 + ETH;
        bank.send(TransactionRequest::default().with_to(p.address).with_value(U256::from(need)), "funding a puppet").await?;
        puppets.push(p);
    }

    // The false claim: the true shape, a made-up final root and output.
    let input = Arc::new(gavel_codec::encode(&case.inputs));
    let mut truth = tokio::task::block_in_place(|| FastTrace::open(runtime.clone(), model.clone(), input.clone(), &d.machine_options()))?;
    let n = truth.macro_steps();
    let k = u64::from(d.params.k);
    let mut depth = 0u8;
    while k.pow(u32::from(depth)) < 1 << 22 {
        depth += 1;
    }
    let data = ICourt::ClaimData {
        modelId: model_id,
        requestId: 0,
        macroStepCount: n,
        level2Depth: depth,
        inputRoot: B256::from(BlobCommitment::of(&input).id()),
        outputRoot: junk("bench output"),
        finalStateRoot: junk("bench final"),
    };
    let (claim, _) = player::post_claim(&liar, &d, &data).await?;

    // The sybils: counters of the claim's one part, each with its own made-up roots.
    let mut mirror = Mirror::new(&d)?;
    mirror.sync(&honest).await?;
    let at = mirror.model.dissection_of(claim).map_err(|e| anyhow::anyhow!("the claim's node: {e}"))?.clone();
    let parts = n.min(k);
    let posting = Instant::now();
    for s in 0..sybils {
        let p = &puppets[s % puppets.len()];
        let roots: Vec<B256> = (0..parts).map(|j| junk(&format!("sybil {s} {j}"))).collect();
        let tree = IClaimTree::new(d.tree, &p.provider);
        let call =
            tree.counter(claim, player::position(&at), at.roots.iter().map(|r| B256::from(*r)).collect(), 0, roots).value(U256::from(d.params.counter_bond));
        p.send(call.into_transaction_request(), "sybil counter").await?;
    }

    let posted = posting.elapsed().as_secs_f64();

    // The honest watchtower answers everything, then resolves after the last deadline.
    let started = Instant::now();
    let mut me = Player::new(&mut mirror, honest.address, true);
    let (mut counters, mut resolves, mut gas) = (0usize, 0usize, 0u64);
    let mut play = |moves: Vec<player::TreeMove>| {
        for m in moves {
            gas += m.gas;
            if m.kind == "resolve" {
                resolves += 1;
            } else {
                counters += 1;
            }
        }
    };
    loop {
        mirror.sync(&honest).await?;
        let now = honest.now().await?;
        let moves = me.play(&honest, &d, &mirror, claim, &mut truth, now).await?;
        if moves.is_empty() {
            break;
        }
        play(moves);
    }
    let answered = started.elapsed().as_secs_f64();
    let now = honest.now().await?;
    deployer.warp(mirror.last_deadline(&[claim]).saturating_sub(now) + 2).await?;
    let started = Instant::now();
    let me_account = mirror.account(honest.address);
    for _ in 0..10_000 {
        mirror.sync(&honest).await?;
        if mirror.settled_for(claim, me_account) {
            break;
        }
        let now = honest.now().await?;
        play(me.play(&honest, &d, &mirror, claim, &mut truth, now).await?);
    }
    anyhow::ensure!(mirror.settled_for(claim, me_account), "the honest side did not settle the claim");
    anyhow::ensure!(mirror.status(claim) == gavel_bisection::tree::Status::Countered, "the false claim was not refuted");
    let resolved = started.elapsed().as_secs_f64();
    let withdrawn = player::withdraw(&honest, &d).await?;
    let deposits = U256::from(d.params.counter_bond) * U256::from(counters);
    let profit = withdrawn.saturating_sub(deposits);
    drop(anvil);
    Ok(json!({
        "sybils": sybils,
        "nodes": mirror.model.node_count(),
        "honest_counters": counters,
        "honest_resolves": resolves,
        "sybils_posted_secs": posted,
        "answer_secs": answered,
        "resolve_secs": resolved,
        "honest_gas": gas,
        "honest_profit_eth": f64::from(profit) / ETH as f64,
    }))
}

/// `gavel bench --sybils`.
pub(crate) fn bench_sybils(counts: &[usize], as_json: bool, guest: &GuestArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let runtime = Arc::new(guest.runtime()?);
        let case = Case::load(&repo_root(), "silero_vad")?;
        let model = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
        let mut rows = Vec::new();
        for &s in counts {
            let row = run(runtime.clone(), &case, &model, s).await.with_context(|| format!("{s} sybils"))?;
            if !as_json {
                println!(
                    "{:>5} sybils (posted in {:.2} s): {:>5} nodes; honest answered in {:>7.2} s, resolved in {:>7.2} s; {} counters + {} resolutions, {} gas; profit {:.4} ETH",
                    s, row["sybils_posted_secs"].as_f64().unwrap_or(0.0), row["nodes"], row["answer_secs"].as_f64().unwrap_or(0.0), row["resolve_secs"].as_f64().unwrap_or(0.0),
                    row["honest_counters"], row["honest_resolves"], row["honest_gas"], row["honest_profit_eth"].as_f64().unwrap_or(0.0)
                );
            }
            rows.push(row);
        }
        if as_json {
            println!("{}", json!({ "bench": "sybils", "model": "silero_vad", "rows": rows }));
        }
        Ok(())
    })
}
