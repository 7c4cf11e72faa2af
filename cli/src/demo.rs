//! `gavel demo`: the whole system on a local chain, zero configuration. A consumer contract asks
//! for an inference; a faulty server answers first with one corrupted operator result, an
//! honest server answers after it; a watchtower re-runs every claim and counters the wrong one
//! in its claim tree, node after node against the liar's defence, down to one WebAssembly
//! instruction, which the chain executes; the liar's bond is split between the watchtower and the
//! escrow, and the request pays the honest claim and calls the consumer back. Exit 0 only if all
//! of that happened on chain.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use anyhow::{ensure, Context, Result};
use clap::Args;
use gavel_bisection::state::{hex32, BlobCommitment};
use gavel_bisection::tree::{Answer, Verdict};
use gavel_challenger::agent::{self, ClaimFields};
use gavel_challenger::chain::{self, event_in, Anvil, Chain, GameParams, DEV_KEYS};
use gavel_challenger::contracts::{Artifacts, IClaimTree, ICourt, IExampleConsumer, IWasmMachine};
use gavel_challenger::fast_trace::{build_full_in_background, FastTrace, FullSlot};
use gavel_challenger::player::{self, Mirror, Player, TreeMove};
use gavel_challenger::trace::RunTrace;
use gavel_challenger::watch::{judge, Judgement};
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::GuestArgs;

const ETH: u128 = 1_000_000_000_000_000_000;

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// JSON report on stdout.
    #[arg(long)]
    json: bool,
    /// The real model to serve and dispute (a case under tests/data).
    #[arg(long, default_value = "silero_vad")]
    case: String,
    /// The macro-step the faulty server corrupts (default: the plan node with the most
    /// instructions).
    #[arg(long)]
    fault_macro_step: Option<u64>,
    /// Work directory for the parties' step caches (default: a fresh temporary directory, so
    /// every party really re-runs the model).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Only the offline part: run the real models in the guest and check determinism and
    /// reference outputs, no chain.
    #[arg(long)]
    offline: bool,
    /// Both servers post their claims at the deployment's largest level-2 depth, as
    /// `gavel serve --fast-claims` does (the dispute then plays the extra rounds).
    #[arg(long)]
    fast_claims: bool,
    #[command(flatten)]
    guest: GuestArgs,
}

struct Phases {
    multi: MultiProgress,
    quiet: bool,
}

impl Phases {
    fn spinner(&self, msg: &str) -> ProgressBar {
        let pb = if self.quiet { ProgressBar::hidden() } else { self.multi.add(ProgressBar::new_spinner()) };
        pb.set_style(ProgressStyle::with_template("{spinner} {prefix:<22} {wide_msg} {elapsed:>4}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        pb.set_prefix(msg.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }

    fn bar(&self, msg: &str, len: u64) -> ProgressBar {
        let pb = if self.quiet { ProgressBar::hidden() } else { self.multi.add(ProgressBar::new(len)) };
        pb.set_style(
            ProgressStyle::with_template("  {prefix:<22} {bar:30} {pos}/{len} {wide_msg} {elapsed:>4}").unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_prefix(msg.to_string());
        pb
    }
}

fn done(pb: &ProgressBar, msg: String) {
    pb.set_style(ProgressStyle::with_template("✔ {prefix:<22} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb.finish_with_message(msg);
}

fn eth(wei: U256) -> String {
    let w: u128 = wei.try_into().unwrap_or(u128::MAX);
    format!("{:.4} ETH", w as f64 / ETH as f64)
}

pub(crate) fn demo(args: DemoArgs) -> Result<()> {
    if args.offline {
        return crate::bench::demo_offline(args.json, &args.guest);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(demo_chain(args))
}

fn trace_for(runtime: &gavel_runner::machine::Runtime, model: &Arc<Vec<u8>>, input: &Arc<Vec<u8>>, cache: PathBuf, pb: &ProgressBar) -> Result<RunTrace> {
    std::fs::create_dir_all(&cache).ok();
    let t = tokio::task::block_in_place(|| {
        RunTrace::honest(runtime, model.clone(), input.clone(), &MachineOptions::default(), Some(&cache), &mut |steps, instructions| {
            pb.set_position(steps);
            pb.set_message(format!("{instructions:.3e} instructions"));
        })
    })?;
    Ok(t)
}

async fn demo_chain(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let phases = Phases { multi: MultiProgress::new(), quiet: args.json };
    let work = match &args.workdir {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!("gavel-demo-{}", std::process::id())),
    };
    let _cleanup = (args.workdir.is_none()).then(|| TempDir(work.clone()));

    // ---- the chain
    let pb = phases.spinner("local chain");
    pb.set_message("starting anvil on 127.0.0.1");
    let runtime = args.guest.runtime()?;
    let options = MachineOptions::default();
    let anvil = Anvil::start(None, None)?;
    let deployer = Chain::connect(&anvil.rpc_url, DEV_KEYS[0]).await?;
    pb.set_message("deploying the verifier, the Court, its claim tree and the consumer");
    let artifacts = Artifacts::locate()?;
    let genesis = runtime.genesis(&options)?;
    let params = GameParams::default();
    let mut deployment = chain::deploy_all(&deployer, &artifacts, genesis, &runtime.guest.blake3, params).await?;
    let case = Case::load(&repo_root(), &args.case)?;
    let model_bytes = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
    let (claim_bond, window) = (ETH, 3600u32);
    let model_id =
        chain::register_model(&deployer, &mut deployment, &args.case, &case.model, &model_bytes, chain::ModelPolicy { claim_bond, challenge_window: window })
            .await?;
    done(&pb, format!("anvil at {}, contracts deployed, model {} registered (id {model_id})", anvil.rpc_url, args.case));

    let honest = Chain::connect(&anvil.rpc_url, DEV_KEYS[1]).await?;
    let faulty = Chain::connect(&anvil.rpc_url, DEV_KEYS[2]).await?;
    let consumer = Chain::connect(&anvil.rpc_url, DEV_KEYS[3]).await?;
    let watcher = Chain::connect(&anvil.rpc_url, DEV_KEYS[4]).await?;
    let balance0 = [honest.balance().await?, faulty.balance().await?, watcher.balance().await?];

    // ---- the consumer's request
    let input_bytes = Arc::new(gavel_codec::encode(&case.inputs));
    let input_root = BlobCommitment::of(&input_bytes).id();
    let pb = phases.spinner("consumer request");
    let example = IExampleConsumer::new(deployment.consumer, &consumer.provider);
    let ask = example.ask(model_id, input_root.into(), input_bytes.to_vec().into()).value(U256::from(ETH / 100));
    let receipt = consumer.send(ask.into_transaction_request(), "consumer request").await?;
    let request_id = event_in::<ICourt::ComputeRequested>(&receipt).map(|e| e.requestId).context("no ComputeRequested event")?;
    let ask_gas = receipt.gas_used;
    done(&pb, format!("ExampleConsumer asked for {} on {} input bytes (request {request_id})", args.case, input_bytes.len()));

    // ---- the faulty server answers first
    let k = u64::from(params.k);
    let fast_depth = |mut s: gavel_challenger::trace::ClaimShape| {
        if args.fast_claims {
            s.level2_depth = params.max_level2_depth;
        }
        s
    };
    let pb = phases.bar("faulty server", 0);
    pb.set_message("running the model");
    let base = trace_for(&runtime, &model_bytes, &input_bytes, work.join("faulty"), &pb)?;
    let fault_step = match args.fault_macro_step {
        Some(m) => m,
        None => heaviest_node(&base)?,
    };
    pb.set_message(format!("corrupting one operator result in macro-step {fault_step}"));
    let mut faulty_trace = tokio::task::block_in_place(|| RunTrace::faulty(base, fault_step, 1 << 22))?;
    let fault = faulty_trace.fault().cloned().context("fault")?;
    let faulty_shape = fast_depth(faulty_trace.claim_shape(k));
    let faulty_data = agent::claim_data(model_id, request_id, &input_root, &faulty_shape);
    let t_bad_claim = Instant::now();
    let (faulty_claim, _) = player::post_claim(&faulty, &deployment, &faulty_data).await?;
    let label = faulty_trace.labels()[fault_step as usize].clone();
    done(
        &pb,
        format!(
            "claim {faulty_claim} on request {request_id}, first in line: wrong output {} (corrupted a value in node {} before its {})",
            &hex32(&faulty_shape.output_root)[..18],
            label.name,
            fault.next_op
        ),
    );

    // ---- the honest server
    let pb = phases.bar("honest server", 0);
    pb.set_message("running the model (wasmtime and the step machine side by side)");
    let mut honest_trace = trace_for(&runtime, &model_bytes, &input_bytes, work.join("honest"), &pb)?;
    let honest_shape = fast_depth(honest_trace.claim_shape(k));
    ensure!(faulty_shape.final_root != honest_shape.final_root, "the corruption did not change the final state; pick another --fault-macro-step");
    let honest_data = agent::claim_data(model_id, request_id, &input_root, &honest_shape);
    let (honest_claim, receipt) = player::post_claim(&honest, &deployment, &honest_data).await?;
    let honest_post_gas = receipt.gas_used;
    done(
        &pb,
        format!(
            "claim {honest_claim}: {} macro-steps, {:.3e} instructions, output {}",
            honest_shape.macro_steps,
            honest_trace.counts().iter().sum::<u64>() as f64,
            &hex32(&honest_shape.output_root)[..18]
        ),
    );

    // ---- the watchtower
    let pb = phases.bar("watchtower", 0);
    // As `gavel watch` does: wasmtime's level-1 roots judge the claims and play the first
    // moves; the step machine runs only inside the disputed macro-step, and the full index is
    // built in the background to confirm every root played.
    pb.set_message("re-running the claimed model on the claimed input (wasmtime: the root after every macro-step)");
    let t_watch = Instant::now();
    let runtime_arc = Arc::new(runtime.clone());
    let mut watch_trace =
        tokio::task::block_in_place(|| FastTrace::open(runtime_arc.clone(), model_bytes.clone(), input_bytes.clone(), &MachineOptions::default()))?;
    let mut verdicts = Vec::new();
    let mut to_dispute = Vec::new();
    for (id, data) in [(faulty_claim, &faulty_data), (honest_claim, &honest_data)] {
        let verdict = judge(&watch_trace, &ClaimFields::of(data))?;
        verdicts.push(json!({ "claim": id, "verdict": format!("{verdict:?}") }));
        if verdict != Judgement::Agrees {
            to_dispute.push(id);
        }
    }
    ensure!(to_dispute == [faulty_claim], "the watchtower should dispute exactly the faulty claim: {verdicts:?}");
    let slot: FullSlot = Arc::new(std::sync::Mutex::new(None));
    let slot_check = slot.clone();
    watch_trace.confirm_with(slot.clone());
    let (confirm_tx, confirm_rx) = std::sync::mpsc::channel();
    let confirm = build_full_in_background(
        slot,
        runtime_arc.clone(),
        model_bytes.clone(),
        input_bytes.clone(),
        MachineOptions::default(),
        work.join("watchtower"),
        move |ok, took| {
            let _ = confirm_tx.send((ok, took.as_secs_f64()));
        },
    );
    let mut mirror = Mirror::new(&deployment)?;
    let mut tower = Player::new(&mut mirror, watcher.address, true);
    let mut liar = Player::new(&mut mirror, faulty.address, true);
    let mut server = Player::new(&mut mirror, honest.address, true);
    mirror.sync(&watcher).await?;
    let opening = tower.play(&watcher, &deployment, &mirror, faulty_claim, &mut watch_trace, watcher.now().await?).await?;
    let bad_claim_to_first_move_secs = t_bad_claim.elapsed().as_secs_f64();
    // The demo runs the honest server between the two; a watchtower sees the claim at once.
    let judge_to_first_move_secs = t_watch.elapsed().as_secs_f64();
    ensure!(opening.iter().any(|m| m.kind == "counter"), "the watchtower did not counter the faulty claim");
    done(&pb, format!("claim {honest_claim} agrees; claim {faulty_claim} does not: countered {judge_to_first_move_secs:.2} s after the watchtower saw it"));

    // ---- the tree: the liar defends its claim with its own (corrupted) trace, the watchtower
    // answers every node, down to one instruction executed on chain.
    let rounds = gavel_bisection::game::rounds(faulty_shape.macro_steps, faulty_shape.level2_depth, k);
    let pb = phases.bar("claim tree", rounds + 1);
    pb.set_message("bisecting");
    pb.set_position(1);
    let t_dispute = Instant::now();
    let mut moves: Vec<(String, TreeMove)> = opening.into_iter().map(|m| ("watchtower".to_string(), m)).collect();
    let mut stepped_at = None;
    for _ in 0..4 * (rounds + 2) {
        mirror.sync(&watcher).await?;
        let now = watcher.now().await?;
        let by_liar = liar.play(&faulty, &deployment, &mirror, faulty_claim, &mut faulty_trace, now).await?;
        mirror.sync(&watcher).await?;
        let by_tower = tower.play(&watcher, &deployment, &mirror, faulty_claim, &mut watch_trace, now).await?;
        for m in &by_liar {
            pb.set_message(format!("faulty server: {} at {:?}", m.kind, m.segment));
        }
        for m in &by_tower {
            pb.inc(1);
            pb.set_message(format!("watchtower: {} at {:?}", m.kind, m.segment));
            if m.kind == "step" {
                stepped_at = Some(t_bad_claim.elapsed().as_secs_f64());
            }
        }
        let quiet = by_liar.is_empty() && by_tower.is_empty();
        moves.extend(by_liar.into_iter().map(|m| ("faulty server".to_string(), m)));
        moves.extend(by_tower.into_iter().map(|m| ("watchtower".to_string(), m)));
        if quiet {
            break;
        }
    }
    let dispute_secs = t_dispute.elapsed().as_secs_f64();
    // The tree ends at one instruction either way: the watchtower steps the liar's last
    // dissection, or the watchtower's last dissection stands because the liar's step of it
    // reproduces the watchtower's root on chain (`TransitionHolds`). Show that execution.
    let (step, how) = match executed_step(&watcher, &deployment).await? {
        Some(s) => (s, "the watchtower's step refuted the liar's transition"),
        None => {
            mirror.sync(&watcher).await?;
            let me = tower.honest.me;
            let deepest = mirror
                .model
                .nodes_of(faulty_claim)
                .iter()
                .copied()
                .filter(|&id| mirror.model.node(id).is_some_and(|x| x.poster == me))
                .max_by_key(|&id| mirror.model.node(id).map_or(0, |x| x.depth))
                .context("the watchtower posted no node")?;
            let verdict = tokio::task::block_in_place(|| liar.honest.verdict(&mirror.model, deepest, &mut faulty_trace))?;
            let Verdict::False { part, answer: Answer::Step { proof } } = verdict else {
                anyhow::bail!("the game did not narrow to one instruction: the liar's view of node {deepest} is {verdict:?}");
            };
            let at = mirror.model.dissection_of(deepest).map_err(|e| anyhow::anyhow!("{e}"))?;
            let depth = mirror.model.node(deepest).map_or(0, |x| x.level2_depth);
            let seg = at.part(u64::from(part), k, depth).context("part")?;
            let machine = IWasmMachine::new(deployment.wasm_machine, &watcher.provider);
            let after = machine.executeStep(seg.macro_step, seg.start_root.into(), proof.into()).call().await?;
            ensure!(after.0 == seg.end_root, "the chain's execution of the liar's step does not reproduce the watchtower's root");
            ((seg.macro_step, seg.start), "the liar's step of it re-executes on chain to the watchtower's root, so the watchtower's last node stands")
        }
    };
    done(&pb, format!("instruction {} of macro-step {}: {how}", step.1, step.0));

    // ---- settlement: every deadline passes, each party resolves what it has a stake in, the
    // request pays the first claim in line that was not refuted.
    let pb = phases.spinner("settlement");
    confirm.join().map_err(|_| anyhow::anyhow!("the background index thread panicked"))?;
    let (built, confirm_secs) = confirm_rx.recv().context("the background index thread ended without a word")?;
    let late = slot_check.lock().ok().and_then(|mut s| s.take());
    let fast_roots: Vec<[u8; 32]> = (0..=watch_trace.macro_steps()).map(|i| watch_trace.level1_root(i)).collect();
    let confirmed = built
        && watch_trace.divergence().is_none()
        && match late {
            Some(Ok(full)) => full.level1() == fast_roots.as_slice(),
            Some(Err(_)) => false,
            None => true,
        };
    mirror.sync(&watcher).await?;
    let last_deadline = mirror.last_deadline(&[faulty_claim, honest_claim]);
    pb.set_message("moving the chain clock past every deadline of the two trees");
    let now = deployer.now().await?;
    deployer.warp(last_deadline.saturating_sub(now) + 2).await?;
    let (me_tower, me_server) = (tower.honest.me, server.honest.me);
    let mut resolve_gas = 0;
    for _ in 0..64 {
        mirror.sync(&watcher).await?;
        let now = watcher.now().await?;
        let mut made = 0;
        for m in tower.play(&watcher, &deployment, &mirror, faulty_claim, &mut watch_trace, now).await? {
            resolve_gas += m.gas;
            made += 1;
        }
        for m in liar.play(&faulty, &deployment, &mirror, faulty_claim, &mut faulty_trace, now).await? {
            resolve_gas += m.gas;
            made += 1;
        }
        for m in server.play(&honest, &deployment, &mirror, honest_claim, &mut honest_trace, now).await? {
            resolve_gas += m.gas;
            made += 1;
        }
        if made == 0 && mirror.settled_for(faulty_claim, me_tower) && mirror.settled_for(honest_claim, me_server) {
            break;
        }
    }
    let bad_claim_to_slash_secs = t_bad_claim.elapsed().as_secs_f64();
    let court_h = ICourt::new(deployment.court, &honest.provider);
    player::wait_reveal_window(&honest, &deployment, honest_claim, Duration::from_secs(deployment.params.reveal_blocks + 30)).await?;
    let fin = honest.send(court_h.fulfill(honest_claim, honest_data.clone(), U256::from(64)).into_transaction_request(), "fulfilling the request").await?;
    let callback_fired = fin.inner.logs().iter().any(|l| l.log_decode::<IExampleConsumer::ResultReceived>().is_ok());
    let result = IExampleConsumer::new(deployment.consumer, &consumer.provider).results(request_id).call().await?;
    let withdrawn =
        [player::withdraw(&honest, &deployment).await?, player::withdraw(&faulty, &deployment).await?, player::withdraw(&watcher, &deployment).await?];
    let balance1 = [honest.balance().await?, faulty.balance().await?, watcher.balance().await?];
    let court = ICourt::new(deployment.court, &deployer.provider);
    let honest_status = court.claimStatus(honest_claim).call().await?;
    let faulty_status = court.claimStatus(faulty_claim).call().await?;
    done(&pb, "trees resolved, the request paid the honest claim, everyone withdrew".to_string());
    drop(phases);

    // ---- what the chain says
    let tower_nodes = mirror.model.nodes_of(faulty_claim).iter().filter(|&&id| mirror.model.node(id).is_some_and(|x| x.poster == me_tower)).count();
    let checks = [
        ("honest claim final", honest_status == CLAIM_FINAL),
        ("consumer callback fired with the honest output, although the faulty claim was first in line", callback_fired && result.0 == honest_shape.output_root),
        ("faulty claim refuted", faulty_status == CLAIM_REFUTED),
        ("the watchtower's nodes all stood and it ended in profit", tower_nodes > 0 && mirror.settled_for(faulty_claim, me_tower) && balance1[2] > balance0[2]),
        ("the executed instruction lies in the corrupted node", step.0 == fault.macro_step),
        ("the step machine's full index confirmed every level-1 root the watchtower played", confirmed),
    ];
    let step_info = tokio::task::block_in_place(|| instruction_at(&mut honest_trace, step.0, step.1))?;
    let dispute_gas: u64 = moves.iter().map(|(_, m)| m.gas).sum::<u64>() + resolve_gas;
    let honest_gas = ask_gas + honest_post_gas + fin.gas_used;
    let delta = |i: usize| -> (bool, U256) {
        if balance1[i] >= balance0[i] {
            (true, balance1[i] - balance0[i])
        } else {
            (false, balance0[i] - balance1[i])
        }
    };
    let balance_change: Vec<String> = (0..3)
        .map(|i| {
            let (up, v) = delta(i);
            format!("{}{}", if up { "+" } else { "-" }, eth(v))
        })
        .collect();
    let moves_json: Vec<serde_json::Value> = moves
        .iter()
        .map(|(who, m)| {
            let (level, start, end) = m.segment.map_or((0, 0, 0), |s| (s.0, s.2, s.3));
            json!({ "mover": who, "kind": m.kind, "node": m.node, "created": m.created, "level": level, "start": start, "end": end, "gas": m.gas, "tx": m.tx, "block": m.block })
        })
        .collect();
    let report = json!({
        "case": args.case,
        "rpc_url": anvil.rpc_url,
        "court": deployment.court.to_string(),
        "tree": deployment.tree.to_string(),
        "honest_claim": { "id": honest_claim, "status": honest_status, "output_root": hex32(&honest_shape.output_root),
            "macro_steps": honest_shape.macro_steps, "level2_depth": honest_shape.level2_depth,
            "gas": { "request": ask_gas, "post_claim": honest_post_gas, "fulfill_with_callback": fin.gas_used, "total": honest_gas },
            "callback_fired": callback_fired, "consumer_result": result.to_string() },
        "faulty_claim": { "id": faulty_claim, "status": faulty_status, "output_root": hex32(&faulty_shape.output_root) },
        "fault": { "macro_step": fault.macro_step, "position": fault.position, "xor": fault.xor, "next_op": fault.next_op,
            "node": label.name, "tract_op": label.op, "onnx_op": label.onnx_op },
        "dispute": { "claim": faulty_claim, "rounds": rounds, "moves": moves_json,
            "executed_step": { "macro_step": step.0, "instruction": step.1, "opcode": step_info.0, "pc": step_info.1, "how": how },
            "gas_total": dispute_gas, "resolve_gas": resolve_gas, "seconds": dispute_secs,
            "bad_claim_to_first_move_seconds": bad_claim_to_first_move_secs,
            "watchtower_first_move_seconds": judge_to_first_move_secs,
            "bad_claim_to_step_seconds": stepped_at,
            "bad_claim_to_slashing_seconds": bad_claim_to_slash_secs, "full_index_seconds": confirm_secs },
        "bonds": { "claim_bond_wei": claim_bond.to_string(), "counter_bond_wei": params.counter_bond.to_string(),
            "withdrawn_wei": withdrawn.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "balance_change": balance_change },
        "checks": checks.iter().map(|(n, ok)| json!({ "check": n, "ok": ok })).collect::<Vec<_>>(),
        "wall_seconds": started.elapsed().as_secs_f64(),
    });
    if args.json {
        println!("{report}");
    } else {
        print_report(&report, &checks);
    }
    let failed: Vec<&str> = checks.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
    ensure!(failed.is_empty(), "the demo did not complete on chain: {}", failed.join("; "));
    Ok(())
}

/// `Court.ClaimStatus.Final`.
const CLAIM_FINAL: u8 = 2;
/// `Court.ClaimStatus.Refuted`.
const CLAIM_REFUTED: u8 = 3;

/// The tree's `Stepped` event, if any: (macro-step, instruction).
async fn executed_step(chain: &Chain, d: &chain::Deployment) -> Result<Option<(u64, u64)>> {
    use alloy::providers::Provider;
    use alloy::sol_types::SolEvent;
    let filter = alloy::rpc::types::Filter::new().address(d.tree).event_signature(IClaimTree::Stepped::SIGNATURE_HASH).from_block(d.from_block);
    let logs = chain.provider.get_logs(&filter).await?;
    Ok(logs.first().and_then(|l| l.log_decode::<IClaimTree::Stepped>().ok()).map(|e| (e.inner.data.macroStep, e.inner.data.instruction)))
}

fn print_report(r: &serde_json::Value, checks: &[(&str, bool)]) {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    println!("\ngavel demo — {} on a local chain ({})\n", s(&r["case"]), s(&r["rpc_url"]));
    let h = &r["honest_claim"];
    println!("Honest claim {}: final; ExampleConsumer.onComputeResult received output {}", h["id"], &s(&h["output_root"]));
    println!(
        "  gas: request {}, commit + postClaim {}, fulfill + callback {}: {} end to end",
        h["gas"]["request"], h["gas"]["post_claim"], h["gas"]["fulfill_with_callback"], h["gas"]["total"]
    );
    let f = &r["fault"];
    let d = &r["dispute"];
    println!("\nFaulty claim {}: refuted.", r["faulty_claim"]["id"]);
    let op = match s(&f["onnx_op"]).as_str() {
        "" => format!("tract op {}", s(&f["tract_op"])),
        onnx => format!("ONNX op {onnx}, tract op {}", s(&f["tract_op"])),
    };
    println!("  The fraud was pinpointed to ONNX node {:?} ({op}), macro-step {},", s(&f["node"]), f["macro_step"]);
    println!(
        "  then to one WebAssembly instruction: #{} of that node, {} at pc {}, which the chain re-executed\n  ({}).",
        d["executed_step"]["instruction"],
        s(&d["executed_step"]["opcode"]),
        d["executed_step"]["pc"],
        s(&d["executed_step"]["how"])
    );
    println!(
        "  (The faulty server had flipped bit {} of the value its {} was about to store.)",
        f["xor"].as_u64().unwrap_or(0).trailing_zeros(),
        s(&f["next_op"])
    );
    println!("\nClaim tree of claim {}: at most {} rounds of dissection, then one instruction.", d["claim"], d["rounds"]);
    for m in d["moves"].as_array().into_iter().flatten() {
        println!("  {:<14} {:<8} level {} [{}, {}]  {:>8} gas", s(&m["mover"]), s(&m["kind"]), m["level"], m["start"], m["end"], m["gas"]);
    }
    println!(
        "  total tree gas {} (incl. resolutions {}); play {:.1} s; watchtower's first move {:.2} s after it saw the claim; bad claim to slashing {:.1} s",
        d["gas_total"],
        d["resolve_gas"],
        d["seconds"].as_f64().unwrap_or(0.0),
        d["watchtower_first_move_seconds"].as_f64().unwrap_or(0.0),
        d["bad_claim_to_slashing_seconds"].as_f64().unwrap_or(0.0)
    );
    let b = &r["bonds"];
    let ch = b["balance_change"].as_array().cloned().unwrap_or_default();
    println!(
        "\nBonds moved (balance change incl. gas): honest server {}, faulty server {}, watchtower {}",
        s(&ch.first().cloned().unwrap_or_default()),
        s(&ch.get(1).cloned().unwrap_or_default()),
        s(&ch.get(2).cloned().unwrap_or_default())
    );
    println!("\nOn chain:");
    for (name, ok) in checks {
        println!("  [{}] {name}", if *ok { "ok" } else { "FAILED" });
    }
    println!("\nwall time {:.1} s", r["wall_seconds"].as_f64().unwrap_or(0.0));
}

/// The `node` macro-step with the most instructions.
fn heaviest_node(t: &RunTrace) -> Result<u64> {
    t.labels()
        .iter()
        .zip(t.counts())
        .enumerate()
        .filter(|(_, (l, _))| l.kind == "node")
        .max_by_key(|(_, (_, c))| **c)
        .map(|(i, _)| i as u64)
        .context("the run has no plan-node macro-steps")
}

/// The opcode name and pc of instruction `i` of macro-step `m` of an honest run.
fn instruction_at(t: &mut RunTrace, m: u64, i: u64) -> Result<(String, u32)> {
    let (pc, op) = t.instruction(m, i)?;
    Ok((gavel_bisection::code::op_name(op).to_string(), pc))
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}
