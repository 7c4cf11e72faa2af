//! Printing run results as text or JSON.

use std::path::Path;

use anyhow::Result;
use gavel_codec::{DType, Tensor};
use gavel_runner::run::RunOutcome;
use gavel_runner::state::hex32;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

/// A spinner counting macro-steps (hidden for `--json` and when stderr is not a terminal).
pub(crate) fn step_bar(quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(ProgressStyle::with_template("{spinner} macro-step {pos} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar
}

fn data_json(t: &Tensor) -> Value {
    let s = t.dtype.size();
    let vals: Vec<Value> = t
        .data
        .chunks_exact(s)
        .map(|c| match t.dtype {
            DType::I64 => json!(i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            DType::U64 => json!(u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            DType::Bool => json!(c[0] != 0),
            DType::F32 => json!(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))),
            _ => {
                let single = Tensor { name: String::new(), dtype: t.dtype, shape: vec![], data: c.to_vec() };
                json!(gavel_runner::tensor_io::as_f64(&single)[0])
            }
        })
        .collect();
    Value::Array(vals)
}

/// The JSON object of `gavel run --json`.
pub(crate) fn run_json(o: &RunOutcome) -> Value {
    json!({
        "outputs": o.outputs.iter().map(|t| json!({
            "name": t.name, "shape": t.shape, "dtype": t.dtype.name(), "data": data_json(t),
        })).collect::<Vec<_>>(),
        "output_id": o.output_id,
        "input_id": o.input_id,
        "model_id": o.model_id,
        "model_root": hex32(&o.model_root),
        "input_root": hex32(&o.input_root),
        "output_root": hex32(&o.output_root),
        "state_root": hex32(&o.state_root),
        "steps": o.steps,
        "instructions": o.instructions,
        "instructions_metering": "wasmtime fuel",
        "memory_bytes": o.memory_bytes,
        "timings": o.timings,
    })
}

pub(crate) fn print_run(o: &RunOutcome, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(&run_json(o))?);
        return Ok(());
    }
    for t in &o.outputs {
        let vals = gavel_runner::tensor_io::as_f64(t);
        let head: Vec<String> = vals.iter().take(8).map(|v| format!("{v:.6}")).collect();
        let more = if vals.len() > 8 { format!(", … ({} values)", vals.len()) } else { String::new() };
        println!("{} {} {}: [{}{}]", t.name, t.dtype, t.shape_string(), head.join(", "), more);
    }
    println!("output_id   {}", o.output_id);
    println!("state_root  {}", hex32(&o.state_root));
    println!(
        "{} macro-steps, {} instructions (fuel), {:.1} MiB memory, {:.0} ms (load {:.0}, infer {:.0}, hash {:.0})",
        o.steps,
        o.instructions,
        o.memory_bytes as f64 / (1 << 20) as f64,
        o.timings.total_ms,
        o.timings.load_ms,
        o.timings.infer_ms,
        o.timings.hash_ms
    );
    Ok(())
}

pub(crate) fn print_trace(o: &RunOutcome, out: &Path, as_json: bool) -> Result<()> {
    let Some(trace) = &o.trace else { anyhow::bail!("no trace recorded") };
    if as_json {
        let mut v = run_json(o);
        v["trace_file"] = json!(out.display().to_string());
        v["commitment"] = json!(trace.commitment);
        v["initial_root"] = json!(trace.initial_root);
        v["trace"] = serde_json::to_value(&trace.steps)?;
        println!("{}", serde_json::to_string(&v)?);
        return Ok(());
    }
    for s in &trace.steps {
        println!("{:>5} {:<6} {:<18} {:<24} {:<40} {}", s.index, s.kind, s.onnx_op, truncate(&s.op, 24), truncate(&s.name, 40), s.root);
    }
    println!("commitment  {}", trace.commitment);
    println!("output_id   {}", o.output_id);
    println!("wrote {} ({} steps)", out.display(), trace.steps.len());
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}
