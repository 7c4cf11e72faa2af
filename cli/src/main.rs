//! `gavel`: a thin command line over the gavel libraries. Every subcommand is argument parsing,
//! one library call and printing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use gavel_runner::machine::{MachineOptions, Runtime};
use gavel_runner::module::GuestModule;
use gavel_runner::run::{InputArg, TraceMode};

mod bench;
mod config;
mod demo;
mod node;
mod ops;
mod output;
mod sybils;

/// Optimistic fraud proofs for ML inference.
#[derive(Parser)]
#[command(name = "gavel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter (also `RUST_LOG`), e.g. `debug`.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run a model deterministically in the wasm guest and print its outputs and state root.
    Run(RunArgs),
    /// Run a model and write its level-1 trace (the state root after every macro-step).
    Trace {
        #[command(flatten)]
        run: RunArgs,
        /// Where to write the trace (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Prove one instruction of a run: a one-step proof any verifier can check from the state
    /// root before it.
    ProveStep {
        #[command(flatten)]
        run: RunArgs,
        /// Global instruction index (0-based, counted over the whole run as `run --exact-steps`
        /// counts).
        #[arg(long)]
        step: u64,
        /// Where to write the proof file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Instruction-level trace of one macro-step: the state root every `--stride` steps and its
    /// commitment (the level-2 trace of a dispute).
    TraceSteps {
        #[command(flatten)]
        run: RunArgs,
        /// Macro-step index.
        #[arg(long)]
        macro_step: u64,
        /// Steps between two roots.
        #[arg(long, default_value_t = 1_000_000)]
        stride: u64,
        /// Where to write the trace (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a one-step proof file and print the state root after the step.
    VerifyStep {
        /// Proof file written by `prove-step`.
        proof: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Compare native tract, the wasm guest and the traced wasm guest on real models.
    Bench(bench::BenchArgs),
    /// The whole system on a local chain: a consumer request, an honest and a faulty server, a
    /// watchtower that disputes the faulty claim down to one instruction; a readable report.
    Demo(demo::DemoArgs),
    /// Start anvil on 127.0.0.1, deploy the contracts, register the real models and write the
    /// deployment JSON (or deploy through `--rpc-url`).
    Devnet(node::DevnetArgs),
    /// The model server: HTTP and on-chain inference requests, bonded claims, dispute defense.
    Serve(node::ServeArgs),
    /// The watchtower: follow claims, re-run them, dispute wrong ones to the end, collect bonds;
    /// resumes its disputes after a crash.
    Watch(node::WatchArgs),
    /// Encrypted keystores for the signing commands: make one, read its address.
    #[command(subcommand)]
    Key(ops::KeyCommand),
    /// List the claims the chain (or a running node, `--node`) knows.
    Claims(ops::ListArgs),
    /// List the disputes the chain (or a running node, `--node`) knows: each bisection round,
    /// the executed instruction and the bonds.
    Disputes(ops::ListArgs),
    /// Build-time operations on the guest module.
    #[command(subcommand)]
    Guest(GuestCommand),
}

#[derive(Args, Clone)]
struct RunArgs {
    /// ONNX model file.
    #[arg(long)]
    model: PathBuf,
    /// Input tensor: `NAME=FILE` or, for a single-input model, `FILE` (.npy or ONNX .pb).
    #[arg(long = "input", required = true)]
    inputs: Vec<InputArg>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Bound on guest linear memory in MiB (at most 4096).
    #[arg(long, default_value_t = gavel_runner::config::DEFAULT_MEMORY_LIMIT_MIB)]
    memory_limit_mib: u64,
    /// Count instructions exactly with the step machine (an interpreter pass, cached) instead
    /// of reporting wasmtime fuel; also checks that both engines reach the same final root.
    #[arg(long)]
    exact_steps: bool,
    #[command(flatten)]
    guest: GuestArgs,
}

#[derive(Args, Clone)]
pub(crate) struct GuestArgs {
    /// Guest module to use instead of the pinned one (`GAVEL_GUEST`); its hash is not checked
    /// against spec/guest.toml, so its results are not valid claims.
    #[arg(long)]
    guest: Option<PathBuf>,
}

impl GuestArgs {
    pub(crate) fn runtime(&self) -> Result<Runtime> {
        let module = match &self.guest {
            Some(p) => GuestModule::load(p, true)?,
            None => GuestModule::load(&gavel_runner::module::default_guest_path(), false)?,
        };
        Ok(Runtime::new(module)?)
    }
}

#[derive(Subcommand)]
enum GuestCommand {
    /// Turn the raw cargo output into the pinned module (refuse opcodes the step machine does not
    /// prove, export globals) and check it against spec/guest.toml and spec/opcodes.txt.
    Finalize {
        /// The module cargo built.
        #[arg(long)]
        raw: PathBuf,
        /// Where to write the finalized module.
        #[arg(long)]
        out: PathBuf,
        /// Rewrite spec/guest.toml with the new hashes instead of checking them.
        #[arg(long)]
        write_pin: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Write the cross-language test vectors (`spec/vectors/`): numeric results and one-step
    /// proofs covering every opcode the pinned guest contains.
    Vectors {
        /// Output directory.
        #[arg(long, default_value = "spec/vectors")]
        out: PathBuf,
    },
    /// List the opcodes the module contains and fail on any the step machine does not support.
    Opcodes {
        /// Module (default: the pinned guest).
        #[arg(long)]
        module: Option<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // Before any thread or large allocation: freed heap memory stays in the process
    // (`gavel_runner::heap`).
    gavel_runner::heap::keep_freed_memory();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn read_model(path: &PathBuf) -> Result<Arc<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    if bytes.is_empty() {
        bail!("model {} is empty", path.display());
    }
    Ok(Arc::new(bytes))
}

fn run_command(args: &RunArgs, mode: TraceMode) -> Result<gavel_runner::run::RunOutcome> {
    let model = read_model(&args.model)?;
    let inputs = gavel_runner::run::load_inputs_for(&model, &args.inputs)?;
    let runtime = args.guest.runtime()?;
    let options = MachineOptions { memory_limit_mib: args.memory_limit_mib };
    let bar = output::step_bar(args.json);
    let outcome = gavel_runner::run::run(&runtime, model, &inputs, &options, mode, &mut |s| {
        bar.set_message(format!("{} {} {}", s.kind, s.op, s.name));
        bar.inc(1);
    });
    bar.finish_and_clear();
    Ok(outcome?)
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Run(args) => {
            let mut outcome = run_command(&args, TraceMode::FinalRoot)?;
            if args.exact_steps {
                let steps = open_steps(&args)?;
                if let Some(d) = &steps.index.divergence {
                    bail!("the engines disagree at macro-step {}: {}", d.macro_step, d.reason);
                }
                let fast = gavel_runner::state::hex32(&outcome.state_root);
                if steps.index.final_root != fast {
                    bail!("the step machine ends at {} but wasmtime at {fast}: the engines disagree", steps.index.final_root);
                }
                outcome.instructions = steps.index.total();
            }
            output::print_run(&outcome, args.json)
        }
        Command::ProveStep { run, step, out } => prove_step(&run, step, &out),
        Command::VerifyStep { proof, json } => verify_step(&proof, json),
        Command::TraceSteps { run, macro_step, stride, out } => trace_steps(&run, macro_step, stride, &out),
        Command::Trace { run, out } => {
            let outcome = run_command(&run, TraceMode::Level1)?;
            let trace = outcome.trace.as_ref().context("trace missing")?;
            let text = serde_json::to_string_pretty(trace)?;
            std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
            output::print_trace(&outcome, &out, run.json)
        }
        Command::Bench(args) => bench::bench(args),
        Command::Demo(args) => demo::demo(args),
        Command::Devnet(args) => node::devnet(args),
        Command::Watch(args) => node::watch(args),
        Command::Key(cmd) => ops::key(cmd),
        Command::Claims(args) => ops::claims(args),
        Command::Disputes(args) => ops::disputes(args),
        Command::Serve(args) => node::serve(args),
        Command::Guest(GuestCommand::Finalize { raw, out, write_pin, json }) => guest_finalize(&raw, &out, write_pin, json),
        Command::Guest(GuestCommand::Opcodes { module, json }) => guest_opcodes(module, json),
        Command::Guest(GuestCommand::Vectors { out }) => write_vectors(&out),
    }
}

/// The runtime, blobs (model, encoded inputs) and options of a run.
type RunSetup = (Runtime, Vec<Arc<Vec<u8>>>, MachineOptions);

/// The runtime, blobs (model, encoded inputs) and options of a run.
fn run_setup(args: &RunArgs) -> Result<RunSetup> {
    let model = read_model(&args.model)?;
    let inputs = gavel_runner::run::load_inputs_for(&model, &args.inputs)?;
    let runtime = args.guest.runtime()?;
    let options = MachineOptions { memory_limit_mib: args.memory_limit_mib };
    Ok((runtime, vec![model, Arc::new(gavel_codec::encode(&inputs))], options))
}

/// The run's step index and snapshots (one pass of both engines the first time, cached after).
fn open_steps(args: &RunArgs) -> Result<gavel_runner::prove::RunSteps> {
    let (runtime, blobs, options) = run_setup(args)?;
    let bar = output::step_bar(args.json);
    let steps = gavel_runner::prove::RunSteps::open(&runtime, &blobs, &options, &mut |m, k| {
        bar.set_message(format!("both engines, roots compared: {k} instructions"));
        bar.set_position(m);
    })?;
    bar.finish_and_clear();
    Ok(steps)
}

fn trace_steps(args: &RunArgs, macro_step: u64, stride: u64, out: &Path) -> Result<()> {
    let steps = open_steps(args)?;
    let t = std::time::Instant::now();
    let trace = steps.level2(macro_step, stride)?;
    let hex = gavel_runner::state::hex32;
    let roots: Vec<String> = trace.roots.iter().map(hex).collect();
    let doc = serde_json::json!({
        "format": "gavel.trace.level2.v1", "macro_step": trace.macro_step, "stride": trace.stride,
        "steps": trace.steps, "label": trace.label, "commitment": hex(&trace.commitment), "roots": roots,
    });
    std::fs::write(out, serde_json::to_string_pretty(&doc)?).with_context(|| format!("cannot write {}", out.display()))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "macro_step": trace.macro_step, "stride": stride, "steps": trace.steps, "roots": trace.roots.len(),
                "commitment": hex(&trace.commitment), "first_root": roots.first(), "last_root": roots.last(), "out": out, "ms": ms })
        );
    } else {
        println!(
            "macro-step {} ({} {}): {} steps, {} roots at stride {stride}",
            trace.macro_step,
            trace.label.kind,
            trace.label.name,
            trace.steps,
            trace.roots.len()
        );
        println!("  commitment {}", hex(&trace.commitment));
        println!("  written to {}", out.display());
    }
    Ok(())
}

fn prove_step(args: &RunArgs, n: u64, out: &Path) -> Result<()> {
    let t = std::time::Instant::now();
    let steps = open_steps(args)?;
    let index = &steps.index;
    let index_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let proven = steps.prove(n)?;
    let prove_ms = t.elapsed().as_secs_f64() * 1e3;
    std::fs::write(out, gavel_runner::prove::proof_file(&proven.step)).with_context(|| format!("cannot write {}", out.display()))?;
    let s = &proven.step;
    let hex = gavel_runner::state::hex32;
    let opcode = gavel_bisection::code::op_name(s.instr.op);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "step": n, "total_steps": index.total(), "macro_step": proven.macro_step, "offset": proven.offset,
                "root_before": hex(&s.root_before), "root_after": hex(&s.root_after),
                "opcode": opcode, "opcode_number": s.instr.op, "pc": s.pc,
                "onnx_node": proven.label.name, "onnx_op": proven.label.onnx_op, "tract_op": proven.label.op, "kind": proven.label.kind,
                "proof_bytes": s.proof.len(), "verifier_hashes": s.verifier_hashes, "out": out,
                "index_ms": index_ms, "prove_ms": prove_ms,
            })
        );
    } else {
        println!(
            "step {n} of {} = instruction {} of macro-step {} ({} {} {})",
            index.total(),
            proven.offset,
            proven.macro_step,
            proven.label.kind,
            proven.label.onnx_op,
            proven.label.name
        );
        println!("  opcode      {opcode} at pc {}", s.pc);
        println!("  root_before {}", hex(&s.root_before));
        println!("  root_after  {}", hex(&s.root_after));
        println!("  proof       {} bytes, {} keccak calls to verify -> {}", s.proof.len(), s.verifier_hashes, out.display());
    }
    Ok(())
}

fn verify_step(path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read proof {}", path.display()))?;
    let (root_before, proof) = gavel_runner::prove::parse_proof_file(&bytes)?;
    let (root_after, hashes) = gavel_bisection::verify::verify_step_counted(&root_before, proof)?;
    let hex = gavel_runner::state::hex32;
    if json {
        println!("{}", serde_json::json!({ "valid": true, "root_before": hex(&root_before), "root_after": hex(&root_after), "verifier_hashes": hashes }));
    } else {
        println!("{}", hex(&root_after));
    }
    Ok(())
}

fn guest_finalize(raw: &Path, out: &Path, write_pin: bool, json: bool) -> Result<()> {
    let raw_bytes = gavel_runner::module::read_module(raw)?;
    let (finalized, report) = gavel_runner::module::finalize(&raw_bytes)?;
    let census = gavel_runner::module::census(&finalized)?;
    let unsupported = census.unsupported();
    let module = GuestModule::from_bytes(finalized.clone(), out.to_path_buf());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &finalized).with_context(|| format!("cannot write {}", out.display()))?;
    let keccak = gavel_runner::state::hex32(&module.keccak256);
    let pin = gavel_runner::module::pinned();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "blake3": module.blake3, "keccak256": keccak, "size": finalized.len(),
                "custom_sections_dropped": report.custom_sections_dropped, "globals_exported": report.globals_exported,
                "functions": census.functions, "simd_functions": census.simd_functions, "distinct_opcodes": census.opcodes.len(), "unsupported": unsupported,
                "pinned": pin.blake3 == module.blake3,
            })
        );
    } else {
        println!("finalized guest: {} ({} bytes)", out.display(), finalized.len());
        println!("  blake3    {}", module.blake3);
        println!("  keccak256 {keccak}");
        println!(
            "  every opcode proven by the step machine; {} functions with v128 code; {} custom sections dropped",
            census.simd_functions, report.custom_sections_dropped
        );
        println!("  {} globals exported, {} functions, {} distinct opcodes", report.globals_exported, census.functions, census.opcodes.len());
    }
    if !unsupported.is_empty() {
        bail!("the module contains opcodes the step machine does not support (spec/opcodes.txt): {}", unsupported.join(", "));
    }
    if write_pin {
        let path = gavel_runner::cases::repo_root().join("spec/guest.toml");
        let text = std::fs::read_to_string(&path)?;
        let mut lines: Vec<String> = text.lines().filter(|l| l.starts_with('#')).map(str::to_string).collect();
        lines.push(format!("blake3 = \"{}\"", module.blake3));
        lines.push(format!("keccak256 = \"{keccak}\""));
        lines.push(format!("size = {}", finalized.len()));
        std::fs::write(&path, lines.join("\n") + "\n")?;
        eprintln!("wrote the new pin to {}; rebuild gavel so it compiles the pin in", path.display());
    } else if pin.blake3 != module.blake3 {
        bail!(
            "the rebuilt guest is not the pinned one: blake3 {} but spec/guest.toml pins {} (not reproducible, or the guest changed: run scripts/build-guest.sh --write-pin)",
            module.blake3,
            pin.blake3
        );
    }
    Ok(())
}

fn write_vectors(out: &Path) -> Result<()> {
    use gavel_bisection::vectors;
    std::fs::create_dir_all(out)?;
    let write = |name: &str, v: &serde_json::Value| -> Result<()> {
        let p = out.join(name);
        std::fs::write(&p, serde_json::to_string(v)? + "\n").with_context(|| format!("cannot write {}", p.display()))
    };
    let numeric = vectors::numeric();
    write("numeric-integer.json", &numeric["integer"])?;
    write("numeric-float.json", &numeric["float"])?;
    write("game.json", &vectors::game())?;
    write("tree.json", &gavel_challenger::tree_vectors::games())?;
    let synthetic = vectors::synthetic_steps();
    write("steps-synthetic.json", &vectors::steps_json(&synthetic))?;
    let simd = vectors::simd_steps();
    write("steps-simd.json", &vectors::steps_json(&simd))?;
    // The first steps of a real run and the first execution of each of its opcodes.
    let rt = GuestArgs { guest: None }.runtime()?;
    let case = gavel_runner::cases::Case::load(&gavel_runner::cases::repo_root(), "silero_vad")?;
    let model = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {}", case.model.display()))?);
    let blobs = vec![model, Arc::new(gavel_codec::encode(&case.inputs))];
    let program = rt.guest.program()?;
    let real = vectors::real_steps(Arc::clone(&program), blobs, MachineOptions::default().memory_limit_pages(), 200)?;
    write("steps-silero.json", &vectors::steps_json(&real))?;
    write("binding.json", &binding_vectors(&rt, &case)?)?;
    let covered: std::collections::BTreeSet<u16> = synthetic.iter().chain(simd.iter()).chain(real.iter()).map(|p| p.instr.op).collect();
    let missing: Vec<&str> = vectors::opcodes_in(&program).into_iter().filter(|o| !covered.contains(o)).map(gavel_bisection::code::op_name).collect();
    println!(
        "wrote {}: {} integer and {} float numeric cases, {} synthetic, {} simd and {} silero step proofs; {} distinct opcodes proven",
        out.display(),
        numeric["integer"]["count"],
        numeric["float"]["count"],
        synthetic.len(),
        simd.len(),
        real.len(),
        covered.len()
    );
    if !missing.is_empty() {
        bail!("opcodes of the pinned guest without a step vector: {}", missing.join(", "));
    }
    Ok(())
}

/// `spec/vectors/binding.json`: the pinned guest's genesis parameters, genesis roots from blob
/// ids, and output proofs (a real silero run's, and tampered ones) with their verdicts.
fn binding_vectors(rt: &Runtime, case: &gavel_runner::cases::Case) -> Result<serde_json::Value> {
    use gavel_bisection::binding::{verify_output, Genesis};
    use gavel_bisection::merkle::keccak256;
    use gavel_bisection::state::hex32;
    let options = MachineOptions::default();
    let genesis: Genesis = rt.genesis(&options)?;
    let model = Arc::new(std::fs::read(&case.model).with_context(|| format!("model {}", case.model.display()))?);
    let outcome = gavel_runner::run::run(rt, model, &case.inputs, &options, TraceMode::Level1, &mut |_| {})?;
    let trace = outcome.trace.as_ref().context("no trace")?;
    let real_initial = genesis.root(&outcome.model_root, &outcome.input_root);
    if hex32(&real_initial) != trace.initial_root {
        bail!("the genesis root from blob ids differs from the machine's own genesis root");
    }
    let mut initial = vec![serde_json::json!({
        "model_root": hex32(&outcome.model_root), "input_root": hex32(&outcome.input_root), "root": hex32(&real_initial),
    })];
    for i in 0u8..3 {
        let (m, x) = (keccak256(&[b'm', i]), keccak256(&[b'x', i]));
        initial.push(serde_json::json!({ "model_root": hex32(&m), "input_root": hex32(&x), "root": hex32(&genesis.root(&m, &x)) }));
    }
    let address = genesis.output_id_address;
    let mut outputs = Vec::new();
    let mut case_of = |final_root: [u8; 32], output_root: [u8; 32], proof: Vec<u8>| -> Result<()> {
        let valid = verify_output(&final_root, &output_root, address, &proof)?;
        outputs.push(serde_json::json!({
            "final_root": hex32(&final_root), "output_root": hex32(&output_root), "proof": format!("0x{}", hex::encode(&proof)), "valid": valid,
        }));
        Ok(())
    };
    let (root, out, proof) = (outcome.state_root, outcome.output_root, outcome.output_proof.clone());
    case_of(root, out, proof.clone())?;
    let mut other = out;
    other[31] ^= 1;
    case_of(root, other, proof.clone())?;
    let mut wrong_root = root;
    wrong_root[0] ^= 0x80;
    case_of(wrong_root, out, proof.clone())?;
    for at in [0usize, 9, 60, 200, proof.len() - 1] {
        let mut p = proof.clone();
        p[at] ^= 0x01;
        case_of(root, out, p)?;
    }
    // A running state (status byte 0) whose root the proof does open: not finished, so false.
    let mut running = proof.clone();
    running[0] = 0;
    let header_root = {
        let mut tampered = running.clone();
        tampered[0] = 0;
        let path: Vec<[u8; 32]> = tampered[113..].chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect();
        let memory = gavel_bisection::merkle::root_from_proof(&out, address as usize / 32, &path);
        let mut pre = b"gavel.machine.v1".to_vec();
        pre.extend_from_slice(&tampered[..113]);
        pre.extend_from_slice(&memory);
        pre.extend_from_slice(&[0u8; 32]);
        keccak256(&pre)
    };
    case_of(header_root, out, running)?;
    Ok(serde_json::json!({ "genesis": genesis, "initial": initial, "outputs": outputs }))
}

fn guest_opcodes(module: Option<PathBuf>, json: bool) -> Result<()> {
    let path = module.unwrap_or_else(gavel_runner::module::default_guest_path);
    let bytes = gavel_runner::module::read_module(&path)?;
    let census = gavel_runner::module::census(&bytes)?;
    let unsupported = census.unsupported();
    if json {
        println!("{}", serde_json::json!({ "census": census, "unsupported": unsupported }));
    } else {
        for (op, n) in &census.opcodes {
            println!("{n:>9}  {op}");
        }
        println!("{} distinct opcodes in {} functions; {} with v128 code", census.opcodes.len(), census.functions, census.simd_functions);
    }
    if !unsupported.is_empty() {
        bail!("unsupported opcodes: {}", unsupported.join(", "));
    }
    Ok(())
}
