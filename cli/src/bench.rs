//! `gavel bench` and `gavel demo`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::{MachineOptions, Runtime};
use gavel_runner::native::NativeModel;
use gavel_runner::run::{run, RunOutcome, TraceMode};
use gavel_runner::state::hex32;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::GuestArgs;

/// The real-model cases benchmarked by default.
const DEFAULT_CASES: [&str; 3] = ["silero_vad", "ppocr_det", "minilm_int8"];

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Case directories under tests/data (default: the real models).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Timed repetitions per configuration (median reported).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Benchmark the step machine instead: interpreter throughput from genesis to the end of
    /// each case (no hashing), and the time to lower the guest.
    #[arg(long)]
    step_machine: bool,
    /// Benchmark `gavel serve` instead: undisputed inference requests over HTTP with claims
    /// posted, on a local anvil; each request has a different input (no cache hits).
    #[arg(long)]
    serve: bool,
    /// Requests for `--serve`.
    #[arg(long, default_value_t = 10)]
    requests: usize,
    /// With `--serve`: the server posts fast claims (`gavel serve --fast-claims`).
    #[arg(long)]
    fast_claims: bool,
    /// Benchmark blob transfer over libp2p instead: two nodes on 127.0.0.1, each case's model
    /// fetched in 1 MiB chunks and checked against its blob id.
    #[arg(long)]
    p2p: bool,
    /// Benchmark the honest watchtower against sybils instead: for each count, a fresh local
    /// anvil, a false silero-vad claim and that many sybil counters of it; reports the time and
    /// gas to answer every one and to resolve (e.g. `--sybils 1,8,64,512`).
    #[arg(long, value_delimiter = ',')]
    sybils: Vec<usize>,
    /// Profile inference instead: wall time per tract op type, native tract against the guest
    /// (one plan node per macro-step), summed over the plan and taken as the median of `--iters`
    /// runs; shows which ops make up the guest/native ratio.
    #[arg(long)]
    profile: bool,
    #[command(flatten)]
    pub(crate) guest: GuestArgs,
}

/// The cases asked for, or the real models.
fn case_names(cases: Vec<String>) -> Vec<String> {
    if cases.is_empty() {
        DEFAULT_CASES.iter().map(|s| s.to_string()).collect()
    } else {
        cases
    }
}

/// `gavel bench --step-machine`.
fn step_machine(args: BenchArgs) -> Result<()> {
    let root = repo_root();
    let names = case_names(args.cases);
    let rt = args.guest.runtime()?;
    let t = Instant::now();
    let program = rt.guest.program()?;
    let lower_ms = t.elapsed().as_secs_f64() * 1e3;
    let limit = MachineOptions::default().memory_limit_pages();
    let mut rows = Vec::new();
    for name in &names {
        let case = Case::load(&root, name)?;
        let model = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
        let blobs = vec![model, Arc::new(gavel_codec::encode(&case.inputs))];
        let mut m = gavel_bisection::machine::Machine::new(Arc::clone(&program), blobs, limit);
        let t = Instant::now();
        let mut steps = 0u64;
        while m.status == gavel_runner::state::Status::Running {
            steps += m.run_macro_step()?.0;
        }
        let secs = t.elapsed().as_secs_f64();
        let row = json!({ "case": name, "steps": steps, "macro_steps": m.macro_step, "seconds": secs, "m_steps_per_s": steps as f64 / secs / 1e6 });
        if !args.json {
            println!("{name:<12} {steps:>13} steps in {secs:>7.2} s: {:>6.1} M steps/s", steps as f64 / secs / 1e6);
        }
        rows.push(row);
    }
    if args.json {
        println!("{}", json!({ "lower_ms": lower_ms, "instructions": program.code.len(), "cases": rows }));
    } else {
        println!("guest lowered to {} instructions in {lower_ms:.0} ms", program.code.len());
    }
    Ok(())
}

/// Per-op time of one profiled run: op name → (ms, nodes).
type OpTimes = std::collections::BTreeMap<String, (f64, usize)>;

fn add_time(into: &mut OpTimes, op: &str, d: std::time::Duration) {
    let e = into.entry(op.to_string()).or_default();
    e.0 += d.as_secs_f64() * 1e3;
    e.1 += 1;
}

/// `gavel bench --profile`.
fn profile(args: BenchArgs) -> Result<()> {
    let root = repo_root();
    let names = case_names(args.cases);
    let iters = args.iters.max(1);
    let rt = args.guest.runtime()?;
    let progress = bar((names.len() * 2 * (iters + 1)) as u64, args.json);
    let mut cases = Vec::new();
    for name in &names {
        let case = Case::load(&root, name)?;
        let model = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
        progress.set_message(format!("{name}: native tract"));
        let native = NativeModel::load(&model, &case.inputs)?;
        let mut native_runs = Vec::new();
        for i in 0..=iters {
            let mut times = OpTimes::new();
            for (op, d) in native.profile()? {
                add_time(&mut times, &op, d);
            }
            if i > 0 {
                native_runs.push(times);
            }
            progress.inc(1);
        }
        progress.set_message(format!("{name}: wasm guest"));
        let blobs = vec![Arc::clone(&model), Arc::new(gavel_codec::encode(&case.inputs))];
        let mut guest_runs = Vec::new();
        for i in 0..=iters {
            let mut m = rt.machine(blobs.clone(), &MachineOptions::default())?;
            let mut times = OpTimes::new();
            while m.status() == gavel_runner::state::Status::Running {
                let t = Instant::now();
                let info = m.step()?;
                if info.kind == "node" {
                    add_time(&mut times, &info.op, t.elapsed());
                }
            }
            if i > 0 {
                guest_runs.push(times);
            }
            progress.inc(1);
        }
        // Median per op over the runs; ops are the union of both sides (the same tract optimizer
        // plans both, but kernel choices can differ: native x86 picks DirectSpatialConv for one
        // detector convolution, for instance).
        let ops: std::collections::BTreeSet<&String> = native_runs.iter().chain(&guest_runs).flat_map(|r| r.keys()).collect();
        let med = |runs: &[OpTimes], op: &str| -> (f64, usize) {
            let n = runs.iter().find_map(|r| r.get(op).map(|e| e.1)).unwrap_or(0);
            (median(runs.iter().map(|r| r.get(op).map_or(0.0, |e| e.0)).collect()), n)
        };
        let mut rows: Vec<_> = ops
            .into_iter()
            .map(|op| {
                let (native_ms, native_nodes) = med(&native_runs, op);
                let (guest_ms, guest_nodes) = med(&guest_runs, op);
                json!({ "op": op, "native_nodes": native_nodes, "guest_nodes": guest_nodes, "native_ms": native_ms, "guest_ms": guest_ms })
            })
            .collect();
        rows.sort_by(|a, b| b["guest_ms"].as_f64().unwrap_or_default().total_cmp(&a["guest_ms"].as_f64().unwrap_or_default()));
        let native_total: f64 = rows.iter().filter_map(|r| r["native_ms"].as_f64()).sum();
        let guest_total: f64 = rows.iter().filter_map(|r| r["guest_ms"].as_f64()).sum();
        cases.push(json!({ "case": name, "native_ms": native_total, "guest_ms": guest_total, "ops": rows }));
    }
    progress.finish_and_clear();
    if args.json {
        println!("{}", json!({ "iters": iters, "cases": cases }));
        return Ok(());
    }
    for c in &cases {
        let (nt, gt) = (c["native_ms"].as_f64().unwrap_or_default(), c["guest_ms"].as_f64().unwrap_or_default());
        println!("{}: native {nt:.2} ms, guest {gt:.2} ms ({:.2}x), median of {iters} runs per op\n", c["case"].as_str().unwrap_or_default(), gt / nt);
        println!("| tract op | nodes (native/guest) | native ms | guest ms | guest/native | share of guest time |");
        println!("|---|---|---|---|---|---|");
        for r in c["ops"].as_array().into_iter().flatten() {
            let (n, g) = (r["native_ms"].as_f64().unwrap_or_default(), r["guest_ms"].as_f64().unwrap_or_default());
            let nodes =
                if r["native_nodes"] == r["guest_nodes"] { r["native_nodes"].to_string() } else { format!("{}/{}", r["native_nodes"], r["guest_nodes"]) };
            println!(
                "| {} | {nodes} | {n:.2} | {g:.2} | {:.2}x | {:.1}% |",
                r["op"].as_str().unwrap_or_default(),
                if n > 0.0 { g / n } else { f64::NAN },
                100.0 * g / gt.max(f64::MIN_POSITIVE)
            );
        }
        println!();
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn guest_run(rt: &Runtime, model: &Arc<Vec<u8>>, case: &Case, mode: TraceMode) -> Result<RunOutcome> {
    Ok(run(rt, model.clone(), &case.inputs, &MachineOptions::default(), mode, &mut |_| {})?)
}

fn bar(len: u64, quiet: bool) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(len) };
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

pub(crate) fn bench(args: BenchArgs) -> Result<()> {
    if args.step_machine {
        return step_machine(args);
    }
    if args.p2p {
        let names = case_names(args.cases);
        return crate::node::bench_p2p(&names, args.iters.max(1), args.json);
    }
    if args.profile {
        return profile(args);
    }
    if !args.sybils.is_empty() {
        return crate::sybils::bench_sybils(&args.sybils, args.json, &args.guest);
    }
    if args.serve {
        let case = args.cases.first().cloned().unwrap_or_else(|| "silero_vad".into());
        return crate::node::bench_serve(&case, args.requests.max(1), args.fast_claims, args.json, &args.guest);
    }
    let root = repo_root();
    let names = case_names(args.cases);
    let iters = args.iters.max(1);
    let t = Instant::now();
    let rt = args.guest.runtime()?;
    let startup_ms = t.elapsed().as_secs_f64() * 1e3;
    let progress = bar((names.len() * (3 * iters + 2)) as u64, args.json);
    let mut rows = Vec::new();
    for name in &names {
        let case = Case::load(&root, name)?;
        let model = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
        progress.set_message(format!("{name}: native tract"));
        let t = Instant::now();
        let native = NativeModel::load(&model, &case.inputs)?;
        let native_load = t.elapsed().as_secs_f64() * 1e3;
        native.run()?;
        progress.set_message(format!("{name}: native tract, wasm guest, wasm guest + level-1 trace"));
        let warm = guest_run(&rt, &model, &case, TraceMode::FinalRoot)?;
        guest_run(&rt, &model, &case, TraceMode::Level1)?;
        progress.inc(2);
        // One native inference, one plain guest run and one traced guest run per iteration, so all
        // three see the same phases of a shared machine's load; the ratios are medians of the
        // per-iteration ratios.
        let (mut native_ms, mut infer, mut load, mut plain_total, mut final_hash) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut traced_total, mut trace_hash, mut infer_ratio, mut trace_ratio) = (vec![], vec![], vec![], vec![]);
        let mut trace_ratio_without_root = vec![];
        let mut steps = 0;
        for _ in 0..iters {
            let t = Instant::now();
            native.run()?;
            let native_i = t.elapsed().as_secs_f64() * 1e3;
            progress.inc(1);
            let o = guest_run(&rt, &model, &case, TraceMode::FinalRoot)?;
            anyhow::ensure!(o.output_id == warm.output_id && o.state_root == warm.state_root, "{name}: guest runs disagree");
            progress.inc(1);
            let traced = guest_run(&rt, &model, &case, TraceMode::Level1)?;
            anyhow::ensure!(traced.state_root == warm.state_root, "{name}: traced run disagrees with the plain run");
            progress.inc(1);
            native_ms.push(native_i);
            infer.push(o.timings.infer_ms);
            load.push(o.timings.load_ms);
            plain_total.push(o.timings.total_ms);
            final_hash.push(o.timings.hash_ms);
            traced_total.push(traced.timings.total_ms);
            trace_hash.push(traced.timings.hash_ms);
            infer_ratio.push(o.timings.infer_ms / native_i);
            trace_ratio.push(traced.timings.total_ms / o.timings.total_ms);
            trace_ratio_without_root.push(traced.timings.total_ms / (o.timings.total_ms - o.timings.hash_ms));
            steps = traced.steps;
        }
        let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let (native_min, guest_min) = (fastest(&native_ms), fastest(&infer));
        let native_infer = median(native_ms);
        let guest_infer = median(infer);
        let plain = median(plain_total);
        let traced = median(traced_total);
        let plain_no_hash = plain - median(final_hash.clone());
        rows.push(json!({
            "case": name,
            "native_load_ms": native_load,
            "native_infer_ms": native_infer,
            "guest_load_ms": median(load),
            "guest_infer_ms": guest_infer,
            "guest_over_native_infer": median(infer_ratio),
            "native_infer_min_ms": native_min,
            "guest_infer_min_ms": guest_min,
            "plain_run_ms": plain,
            "plain_run_without_root_ms": plain_no_hash,
            "final_root_ms": median(final_hash),
            "traced_run_ms": traced,
            "trace_hash_ms": median(trace_hash),
            "traced_over_plain": median(trace_ratio),
            "traced_over_plain_without_root": median(trace_ratio_without_root),
            "macro_steps": steps,
            "instructions": warm.instructions,
            "memory_mib": warm.memory_bytes as f64 / (1u64 << 20) as f64,
        }));
    }
    progress.finish_and_clear();
    if args.json {
        println!("{}", json!({ "iters": iters, "startup_ms": startup_ms, "compiled_module_cached": rt.from_cache, "cases": rows }));
        return Ok(());
    }
    println!("runtime startup (engine + compiled guest, cached: {}): {startup_ms:.0} ms; median of {iters} interleaved iterations (native, plain, traced); ratios are medians of per-iteration ratios\n", rt.from_cache);
    println!("| model | native infer ms | guest infer ms | guest/native | guest load ms | plain run ms | final root ms | traced run ms | traced/plain | steps | fuel | memory MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.2} | {:.2}x | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}x | {} | {:.2e} | {:.0} |",
            r["case"].as_str().unwrap_or_default(),
            r["native_infer_ms"].as_f64().unwrap_or_default(),
            r["guest_infer_ms"].as_f64().unwrap_or_default(),
            r["guest_over_native_infer"].as_f64().unwrap_or_default(),
            r["guest_load_ms"].as_f64().unwrap_or_default(),
            r["plain_run_ms"].as_f64().unwrap_or_default(),
            r["final_root_ms"].as_f64().unwrap_or_default(),
            r["traced_run_ms"].as_f64().unwrap_or_default(),
            r["traced_over_plain"].as_f64().unwrap_or_default(),
            r["macro_steps"],
            r["instructions"].as_f64().unwrap_or_default(),
            r["memory_mib"].as_f64().unwrap_or_default(),
        );
    }
    Ok(())
}

/// `gavel demo --offline`: the real models in the guest, checked for determinism and against
/// onnxruntime's reference outputs; no chain.
pub(crate) fn demo_offline(json: bool, guest: &GuestArgs) -> Result<()> {
    let root = repo_root();
    let started = Instant::now();
    let rt = guest.runtime()?;
    let mut report = Vec::new();
    let progress = bar(DEFAULT_CASES.len() as u64 * 2, json);
    for name in DEFAULT_CASES {
        progress.set_message(format!("{name}: run + level-1 trace"));
        let case = Case::load(&root, name)?;
        let model = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {} (run scripts/fetch-models.sh)", case.model.display()))?);
        let traced = guest_run(&rt, &model, &case, TraceMode::Level1)?;
        progress.inc(1);
        progress.set_message(format!("{name}: second run"));
        let again = guest_run(&rt, &model, &case, TraceMode::FinalRoot)?;
        progress.inc(1);
        anyhow::ensure!(traced.output_id == again.output_id && traced.state_root == again.state_root, "{name}: two runs disagree");
        let worst = case.check(&traced.outputs).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let trace = traced.trace.as_ref().context("trace")?;
        let nodes = trace.steps.iter().filter(|s| s.kind == "node").count();
        let mut heaviest: Vec<_> = trace.steps.iter().filter(|s| s.kind == "node").collect();
        heaviest.sort_by_key(|s| std::cmp::Reverse(s.fuel));
        let heaviest: Vec<_> = heaviest
            .iter()
            .take(3)
            .map(|s| json!({ "step": s.index, "node": s.name, "onnx_op": s.onnx_op, "tract_op": s.op, "instructions": s.fuel }))
            .collect();
        report.push(json!({
            "case": name, "output_id": traced.output_id, "state_root": hex32(&traced.state_root),
            "trace_commitment": trace.commitment, "macro_steps": traced.steps, "plan_node_steps": nodes,
            "heaviest_steps": heaviest,
            "instructions": traced.instructions, "max_abs_error_vs_onnxruntime": worst, "ms": traced.timings.total_ms,
        }));
    }
    progress.finish_and_clear();
    if json {
        println!("{}", json!({ "cases": report, "wall_ms": started.elapsed().as_secs_f64() * 1e3 }));
        return Ok(());
    }
    println!("gavel demo — deterministic inference in the pinned wasm guest ({})\n", &rt.guest.blake3[..16]);
    for r in &report {
        println!("{}", r["case"].as_str().unwrap_or_default());
        println!("  output_id         {}", r["output_id"].as_str().unwrap_or_default());
        println!("  state_root        {}", r["state_root"].as_str().unwrap_or_default());
        println!("  trace commitment  {}", r["trace_commitment"].as_str().unwrap_or_default());
        println!(
            "  {} macro-steps ({} plan nodes), {:.2e} instructions, {:.0} ms; matches onnxruntime within {:.1e}; a second run gave the same root",
            r["macro_steps"],
            r["plan_node_steps"],
            r["instructions"].as_f64().unwrap_or_default(),
            r["ms"].as_f64().unwrap_or_default(),
            r["max_abs_error_vs_onnxruntime"].as_f64().unwrap_or_default()
        );
    }
    println!("\nheaviest plan-node macro-steps by executed instructions:");
    for r in &report {
        for h in r["heaviest_steps"].as_array().into_iter().flatten() {
            println!(
                "  {:<12} step {:>4}  ONNX {:<14} {:<40} {:.2e} instructions",
                r["case"].as_str().unwrap_or_default(),
                h["step"],
                h["onnx_op"].as_str().unwrap_or_default(),
                h["node"].as_str().unwrap_or_default(),
                h["instructions"].as_f64().unwrap_or_default()
            );
        }
    }
    println!("\nThe chain half of the demo (claims, disputes, one-step proofs on anvil) arrives with the bisection, contracts and node issues.");
    println!("wall time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
