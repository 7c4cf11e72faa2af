//! `gavel demo`: the whole system on a local chain, zero configuration. A consumer contract asks
//! for an inference; an honest server answers it; a faulty server posts a claim with one
//! corrupted operator result; a watchtower re-runs every claim, disputes the wrong one down to
//! one WebAssembly instruction, which the chain executes; the liar is slashed and the honest
//! claim finalizes into the consumer's callback. Exit 0 only if all of that happened on chain.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use anyhow::{ensure, Context, Result};
use clap::Args;
use gavel_bisection::game::Side;
use gavel_bisection::state::{hex32, BlobCommitment};
use gavel_challenger::agent::{self, DisputeOutcome, MoveRecord};
use gavel_challenger::chain::{self, event_in, Anvil, Chain, GameParams, DEV_KEYS};
use gavel_challenger::contracts::{claim_status, dispute_status, Artifacts, IClaimRegistry, IExampleConsumer};
use gavel_challenger::agent::ClaimFields;
use gavel_challenger::fast_trace::{build_full_in_background, FastTrace, FullSlot};
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
            ProgressStyle::with_template("  {prefix:<22} {bar:30} {pos}/{len} {wide_msg} {elapsed:>4}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
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

fn trace_for(
    runtime: &gavel_runner::machine::Runtime,
    model: &Arc<Vec<u8>>,
    input: &Arc<Vec<u8>>,
    cache: PathBuf,
    pb: &ProgressBar,
) -> Result<RunTrace> {
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
    pb.set_message("deploying the verifier, registry, game and consumer");
    let artifacts = Artifacts::locate()?;
    let genesis = runtime.genesis(&options)?;
    let params = GameParams::default();
    let mut deployment = chain::deploy_all(&deployer, &artifacts, genesis, &runtime.guest.blake3, params).await?;
    let case = Case::load(&repo_root(), &args.case)?;
    let model_bytes = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
    let (claim_bond, challenge_bond, window) = (ETH, ETH / 2, 3600u32);
    let model_id =
        chain::register_model(&deployer, &mut deployment, &args.case, &case.model, &model_bytes, chain::ModelPolicy { claim_bond, challenge_bond, challenge_window: window }).await?;
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
    let request_id = event_in::<IClaimRegistry::ComputeRequested>(&receipt)
        .map(|e| e.requestId)
        .context("no ComputeRequested event")?;
    let ask_gas = receipt.gas_used;
    done(&pb, format!("ExampleConsumer asked for {} on {} input bytes (request {request_id})", args.case, input_bytes.len()));

    // ---- the honest server
    let pb = phases.bar("honest server", 0);
    pb.set_message("running the model (wasmtime and the step machine side by side)");
    let mut honest_trace = trace_for(&runtime, &model_bytes, &input_bytes, work.join("honest"), &pb)?;
    let k = u64::from(params.k);
    let fast_depth = |mut s: gavel_challenger::trace::ClaimShape| {
        if args.fast_claims {
            s.level2_depth = params.max_level2_depth;
        }
        s
    };
    let honest_shape = fast_depth(honest_trace.claim_shape(k));
    let honest_data = agent::claim_data(model_id, request_id, &input_root, &honest_shape);
    let (honest_claim, receipt) = agent::post_claim(&honest, &deployment, &honest_data).await?;
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

    // ---- the faulty server
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
    ensure!(faulty_shape.final_root != honest_shape.final_root, "the corruption did not change the final state; pick another --fault-macro-step");
    let faulty_data = agent::claim_data(model_id, 0, &input_root, &faulty_shape);
    let t_bad_claim = Instant::now();
    let (faulty_claim, _) = agent::post_claim(&faulty, &deployment, &faulty_data).await?;
    let label = faulty_trace.labels()[fault_step as usize].clone();
    done(
        &pb,
        format!("claim {faulty_claim}: wrong output {} (corrupted a value in node {} before its {})", &hex32(&faulty_shape.output_root)[..18], label.name, fault.next_op),
    );

    // ---- the watchtower
    let pb = phases.bar("watchtower", 0);
    // As `gavel watch` does: wasmtime's level-1 roots judge the claims and play the first
    // moves; the step machine runs only inside the disputed macro-step, and the full index is
    // built in the background to confirm every root played.
    pb.set_message("re-running the claimed model on the claimed input (wasmtime: the root after every macro-step)");
    let runtime_arc = Arc::new(runtime.clone());
    let mut watch_trace =
        tokio::task::block_in_place(|| FastTrace::open(runtime_arc.clone(), model_bytes.clone(), input_bytes.clone(), &MachineOptions::default()))?;
    let mut verdicts = Vec::new();
    let mut to_dispute = Vec::new();
    for (id, data) in [(honest_claim, &honest_data), (faulty_claim, &faulty_data)] {
        let verdict = judge(&watch_trace, &ClaimFields::of(data))?;
        verdicts.push(json!({ "claim": id, "verdict": format!("{verdict:?}") }));
        if verdict != Judgement::Agrees {
            to_dispute.push((id, data.clone()));
        }
    }
    ensure!(to_dispute.len() == 1 && to_dispute[0].0 == faulty_claim, "the watchtower should dispute exactly the faulty claim: {verdicts:?}");
    let (open_id, open_data) = to_dispute.remove(0);
    let slot: FullSlot = Arc::new(std::sync::Mutex::new(None));
    let slot_check = slot.clone();
    watch_trace.confirm_with(slot.clone());
    let (confirm_tx, confirm_rx) = std::sync::mpsc::channel();
    let confirm = build_full_in_background(slot, runtime_arc.clone(), model_bytes.clone(), input_bytes.clone(), MachineOptions::default(), work.join("watchtower"), move |ok, took| {
        let _ = confirm_tx.send((ok, took.as_secs_f64()));
    });
    let initial = watch_trace.level1_root(0);
    let (dispute_id, open_move) = agent::open_dispute(&watcher, &deployment, open_id, &open_data, initial, &mut watch_trace).await?;
    let bad_claim_to_first_move_secs = t_bad_claim.elapsed().as_secs_f64();
    done(&pb, format!("claim {honest_claim} agrees; claim {faulty_claim} does not: dispute {dispute_id} opened {bad_claim_to_first_move_secs:.1} s after it was posted"));

    // ---- the dispute: both sides play to the end, concurrently
    let rounds = gavel_bisection::game::rounds(faulty_shape.macro_steps, faulty_shape.level2_depth, k);
    let pb = phases.bar("dispute", rounds + 1);
    pb.set_message("bisecting");
    pb.set_position(1);
    let t_dispute = Instant::now();
    let poll = Duration::from_millis(100);
    let (d1, c1, pb1) = (deployment.clone(), faulty.clone(), pb.clone());
    let liar = tokio::spawn(async move {
        let mut on_move = |m: &MoveRecord| {
            pb1.inc(1);
            pb1.set_message(format!("faulty server: {} at level {} [{}, {}]", m.kind, m.level, m.start, m.end));
        };
        agent::play(&c1, &d1, dispute_id, Side::Claimant, &mut faulty_trace, poll, &mut on_move).await
    });
    let (d2, c2, pb2) = (deployment.clone(), watcher.clone(), pb.clone());
    let fast_roots: Vec<[u8; 32]> = (0..=watch_trace.macro_steps()).map(|i| watch_trace.level1_root(i)).collect();
    let tower = tokio::spawn(async move {
        let mut on_move = |m: &MoveRecord| {
            pb2.inc(1);
            pb2.set_message(format!("watchtower: {} at level {} [{}, {}]", m.kind, m.level, m.start, m.end));
        };
        let out = agent::play(&c2, &d2, dispute_id, Side::Challenger, &mut watch_trace, poll, &mut on_move).await;
        out.map(|o| (o, watch_trace.divergence().map(str::to_owned)))
    });
    let liar_out: DisputeOutcome = liar.await.context("faulty server task")??;
    let (tower_out, tower_divergence): (DisputeOutcome, Option<String>) = tower.await.context("watchtower task")??;
    let dispute_secs = t_dispute.elapsed().as_secs_f64();
    ensure!(tower_out.status == dispute_status::CHALLENGER_WON, "the dispute ended with status {}", tower_out.status);
    let step = agent::executed_step(&watcher, &deployment, dispute_id).await?.context("no step was executed on chain")?;
    done(&pb, format!("instruction {} of macro-step {} executed on chain: the faulty server lost", step.1, step.0));

    // ---- settlement
    let pb = phases.spinner("settlement");
    let registry_w = IClaimRegistry::new(deployment.registry, &watcher.provider);
    let settle = watcher.send(registry_w.settleRefutation(faulty_claim, faulty_data.clone()).into_transaction_request(), "settling the refutation").await?;
    let bad_claim_to_slash_secs = t_bad_claim.elapsed().as_secs_f64();
    confirm.join().map_err(|_| anyhow::anyhow!("the background index thread panicked"))?;
    let (built, confirm_secs) = confirm_rx.recv().context("the background index thread ended without a word")?;
    // If the dispute ended before the index landed, compare it with the roots played here.
    let late = slot_check.lock().ok().and_then(|mut s| s.take());
    let confirmed = built
        && tower_divergence.is_none()
        && match late {
            Some(Ok(full)) => full.level1() == fast_roots.as_slice(),
            Some(Err(_)) => false,
            None => true,
        };
    pb.set_message("moving the chain clock past the challenge window");
    deployer.warp(u64::from(window) + 1).await?;
    let registry_h = IClaimRegistry::new(deployment.registry, &honest.provider);
    let fin = honest.send(registry_h.finalize(honest_claim, honest_data.clone()).into_transaction_request(), "finalizing the honest claim").await?;
    let callback_fired = fin.inner.logs().iter().any(|l| l.log_decode::<IExampleConsumer::ResultReceived>().is_ok());
    let result = IExampleConsumer::new(deployment.consumer, &consumer.provider).results(request_id).call().await?;
    let withdrawn = [
        agent::withdraw_all(&honest, &deployment).await?,
        agent::withdraw_all(&faulty, &deployment).await?,
        agent::withdraw_all(&watcher, &deployment).await?,
    ];
    let balance1 = [honest.balance().await?, faulty.balance().await?, watcher.balance().await?];
    let reg = IClaimRegistry::new(deployment.registry, &deployer.provider);
    let honest_status = reg.claims(honest_claim).call().await?.status;
    let faulty_status = reg.claims(faulty_claim).call().await?.status;
    done(&pb, "refutation settled, honest claim finalized, everyone withdrew".to_string());
    drop(phases);

    // ---- what the chain says
    let checks = [
        ("honest claim final", honest_status == claim_status::FINAL),
        ("consumer callback fired with the honest output", callback_fired && result.0 == honest_shape.output_root),
        ("faulty claim refuted and its bond paid out", faulty_status == claim_status::SETTLED),
        ("watchtower won the dispute", tower_out.won && !liar_out.won),
        ("the executed instruction lies in the corrupted node", step.0 == fault.macro_step),
        ("the step machine's full index confirmed every level-1 root the watchtower played", confirmed),
    ];
    let step_info = tokio::task::block_in_place(|| instruction_at(&mut honest_trace, step.0, step.1))?;
    let mut moves: Vec<MoveRecord> = std::iter::once(open_move).chain(tower_out.moves.iter().cloned()).chain(liar_out.moves.iter().cloned()).collect();
    moves.sort_by_key(|m| m.block);
    let dispute_gas: u64 = moves.iter().map(|m| m.gas).sum::<u64>() + settle.gas_used;
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
    let report = json!({
        "case": args.case,
        "rpc_url": anvil.rpc_url,
        "registry": deployment.registry.to_string(),
        "honest_claim": { "id": honest_claim, "status": honest_status, "output_root": hex32(&honest_shape.output_root),
            "macro_steps": honest_shape.macro_steps, "level2_depth": honest_shape.level2_depth,
            "gas": { "request": ask_gas, "post_claim": honest_post_gas, "finalize_with_callback": fin.gas_used, "total": honest_gas },
            "callback_fired": callback_fired, "consumer_result": result.to_string() },
        "faulty_claim": { "id": faulty_claim, "status": faulty_status, "output_root": hex32(&faulty_shape.output_root) },
        "fault": { "macro_step": fault.macro_step, "position": fault.position, "xor": fault.xor, "next_op": fault.next_op,
            "node": label.name, "tract_op": label.op, "onnx_op": label.onnx_op },
        "dispute": { "id": dispute_id, "status": tower_out.status, "rounds": rounds, "moves": moves,
            "executed_step": { "macro_step": step.0, "instruction": step.1, "opcode": step_info.0, "pc": step_info.1 },
            "gas_total": dispute_gas, "settle_gas": settle.gas_used, "seconds": dispute_secs,
            "bad_claim_to_first_move_seconds": bad_claim_to_first_move_secs,
            "bad_claim_to_slashing_seconds": bad_claim_to_slash_secs, "full_index_seconds": confirm_secs },
        "bonds": { "claim_bond_wei": claim_bond.to_string(), "challenge_bond_wei": challenge_bond.to_string(), "move_bond_wei": params.move_bond.to_string(),
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

fn print_report(r: &serde_json::Value, checks: &[(&str, bool)]) {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    println!("\ngavel demo — {} on a local chain ({})\n", s(&r["case"]), s(&r["rpc_url"]));
    let h = &r["honest_claim"];
    println!("Honest claim {}: final; ExampleConsumer.onComputeResult received output {}", h["id"], &s(&h["output_root"]));
    println!(
        "  gas: request {}, postClaim {}, finalize + callback {}: {} end to end",
        h["gas"]["request"], h["gas"]["post_claim"], h["gas"]["finalize_with_callback"], h["gas"]["total"]
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
        "  then to one WebAssembly instruction: #{} of that node, {} at pc {}, which the chain re-executed.",
        d["executed_step"]["instruction"],
        s(&d["executed_step"]["opcode"]),
        d["executed_step"]["pc"]
    );
    println!("  (The faulty server had flipped bit {} of the value its {} was about to store.)", f["xor"].as_u64().unwrap_or(0).trailing_zeros(), s(&f["next_op"]));
    println!("\nDispute {}: {} rounds of dissection, then one step.", d["id"], d["rounds"]);
    for m in d["moves"].as_array().into_iter().flatten() {
        println!("  {:<10} {:<8} level {} [{}, {}]  {:>8} gas", s(&m["mover"]), s(&m["kind"]), m["level"], m["start"], m["end"], m["gas"]);
    }
    println!(
        "  total dispute gas {} (incl. settlement {}); dispute {:.1} s; bad claim to first move {:.1} s, to slashing {:.1} s",
        d["gas_total"],
        d["settle_gas"],
        d["seconds"].as_f64().unwrap_or(0.0),
        d["bad_claim_to_first_move_seconds"].as_f64().unwrap_or(0.0),
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
