//! The deployed Solidity verifier against the Rust verifier, live: the compiled `StepVerifier`
//! (its seven provers and the dispatcher, as `gavel devnet` deploys them) runs on a real anvil
//! next to `contracts/test/live/VerifierHarness.sol`, and is fed proofs the Rust prover makes in
//! this run from fresh random states: every lowered opcode on operands drawn from this run's seed
//! (`vectors::synthetic_steps_seeded`, `simd_steps_seeded`); steps of wasm-smith modules called
//! with NaN-heavy arguments (the generators of `runner/tests/differential`); and steps of the first
//! 16 million of silero-vad's real run: the first execution of every opcode and a random sample
//! of the rest. Both verifiers must give
//! the same root after every proof; for a random sample of proofs, every single-byte mutation and
//! every truncation must be rejected by both (by Solidity with a custom error, never a panic).
//!
//! The seed is printed; `GAVEL_LIVE_SEED` replays a run, `GAVEL_LIVE_MUTATED` sets how many proofs
//! are mutated at every byte (default 48; the nightly-sized run in `docs/benchmarks.md` used more).

use std::time::Instant;

use alloy::primitives::{Bytes, B256, U256};
use alloy::sol_types::SolValue;
use gavel_bisection::machine::Machine;
use gavel_bisection::proof::{prove_step, BlobTrees, StepProof};
use gavel_bisection::state::Status;
use gavel_bisection::vectors::{simd_steps_seeded, synthetic_steps_seeded, Rng};
use gavel_bisection::verify::verify_step;
use gavel_challenger::chain::{self, Anvil, Chain, DEV_KEYS};
use gavel_challenger::contracts::Artifacts;
use gavel_runner::machine::MachineOptions;

use crate::runtime;

alloy::sol! {
    #[sol(rpc)]
    interface IStepVerifierLive {
        function verifyStep(bytes32 rootBefore, bytes calldata proof) external view returns (bytes32 rootAfter);
    }

    #[sol(rpc)]
    interface IVerifierHarness {
        function verifyAll(bytes32[] calldata rootsBefore, bytes[] calldata proofs) external view returns (bytes32[] memory rootsAfter, bytes4[] memory errors);
        function mutations(bytes32 rootBefore, bytes calldata proof, uint256 from, uint256 to) external view returns (uint256 tried, uint256 accepted, uint256 firstAccepted, uint256 uncustom);
    }
}

/// The mask mutation `i` xors into byte `i` (as `VerifierHarness.maskOf`).
fn mask(i: usize) -> u8 {
    if i % 9 == 8 {
        0xff
    } else {
        1 << (i % 9)
    }
}

/// Gas for one `eth_call` (anvil runs with no block gas limit).
const CALL_GAS: u64 = 200_000_000_000;

/// Steps of silero-vad's run, its first `steps` steps: the first execution of every opcode,
/// and about `sample` more at random points.
fn silero_steps(rng: &mut Rng, steps: u64, sample: u64) -> Vec<StepProof> {
    let program = runtime().guest.program().expect("program");
    let blobs = crate::agreement::blobs("silero_vad");
    let mut m = Machine::new(program, blobs, MachineOptions::default().memory_limit_pages());
    let mut trees = BlobTrees::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let every = (steps / sample.max(1)).max(1);
    let mut n = 0u64;
    while m.status == Status::Running && n < steps {
        let (_, next) = m.next_instruction();
        if seen.insert(next.op) || rng.below(every) == 0 {
            out.push(prove_step(&mut m, &mut trees).expect("prove"));
        } else {
            m.step().expect("step");
        }
        n += 1;
    }
    out
}

/// A fresh anvil without a block gas limit to speak of, with the verifier and the harness
/// deployed: (anvil, chain, verifier, harness).
async fn deploy() -> (Anvil, Chain, alloy::primitives::Address, alloy::primitives::Address) {
    let anvil = Anvil::start_with(None, None, &["--gas-limit", "1000000000000"]).expect("anvil");
    let chain = Chain::connect(&anvil.rpc_url, DEV_KEYS[0]).await.expect("connect");
    let artifacts = Artifacts::locate().expect("contracts/out (scripts/setup-foundry.sh builds it)");
    let verifier = chain::deploy_step_verifier(&chain, &artifacts).await.expect("deploy the verifier");
    let code = artifacts.bytecode("VerifierHarness.sol", "VerifierHarness").expect("VerifierHarness artifact");
    let (harness, _) = chain.deploy(code, verifier.abi_encode(), "VerifierHarness").await.expect("deploy the harness");
    (anvil, chain, verifier, harness)
}

/// The bound on one step's verification gas (`spec/proofs.md`, "Worst step"): a tenth of a
/// 30 M block, so a step stays provable with room for the game's own bookkeeping and a
/// congested block.
const STEP_GAS_BOUND: u64 = 3_000_000;

/// The worst steps of the pinned guest (`gavel_bisection::census`): the largest branch, call,
/// return, br_table, locals depth and globals it has, each proven and verified by the deployed
/// verifier within [`STEP_GAS_BOUND`].
#[tokio::test(flavor = "multi_thread")]
async fn worst_steps_of_the_pinned_guest_fit_well_inside_a_block() {
    let program = runtime().guest.program().expect("program");
    let extremes = gavel_bisection::census::extremes(&program);
    eprintln!("worst-step census of the pinned guest: {extremes:?}");
    let worst = gavel_bisection::census::worst_steps(&program).expect("worst steps");
    let (_anvil, chain, verifier, _) = deploy().await;
    let v = IStepVerifierLive::new(verifier, &chain.provider);
    let mut largest = 0u64;
    for w in &worst {
        let p = &w.proof;
        assert_eq!(verify_step(&p.root_before, &p.proof).expect("Rust verifies"), p.root_after, "{}", w.what);
        let root = v.verifyStep(B256::from(p.root_before), Bytes::from(p.proof.clone())).call().await.expect("the deployed verifier verifies");
        assert_eq!(root, B256::from(p.root_after), "{}", w.what);
        let gas = v.verifyStep(B256::from(p.root_before), Bytes::from(p.proof.clone())).estimate_gas().await.expect("estimate");
        eprintln!("worst step: {:<32} {:>5}: proof {:>6} bytes, {:>9} gas (transaction)", w.what, w.count, p.proof.len(), gas);
        largest = largest.max(gas);
        assert!(gas < STEP_GAS_BOUND, "{} ({}): {gas} gas is over the bound of {STEP_GAS_BOUND}", w.what, w.count);
    }
    assert!(worst.len() >= 5 && largest > 0, "the census proved too little: {}", worst.len());
}

/// Steps of wasm-smith modules (`runner/tests/differential/smith.rs`: general, float-heavy and
/// SIMD code with control flow, the blob oracle, NaN-heavy arguments and memory): every export
/// called with fresh arguments, about one step in ten proven, at most eight per call.
fn smith_steps(rng: &mut Rng, modules: u64) -> Vec<StepProof> {
    use crate::smith::{args, generate, Kind};
    let mut c = wasmtime::Config::new();
    c.wasm_simd(true);
    let engine = wasmtime::Engine::new(&c).expect("engine (for export types)");
    let mut trees = BlobTrees::default();
    let mut out = Vec::new();
    for i in 0..modules {
        let data: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
        let Ok(Some(g)) = generate(&data, Kind::of(i), rng) else { continue };
        let Ok(module) = wasmtime::Module::new(&engine, &g.bytes) else { continue };
        let Ok(mut m) = gavel_bisection::fuzz::instantiate_with(&g.bytes, g.blobs.clone(), 64 * 16) else { continue };
        for (at, bytes) in &g.seed {
            if let Some(dst) = m.memory.get_mut(*at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        let mut exports: Vec<(String, wasmtime::FuncType)> = module.exports().filter_map(|e| Some((e.name().to_string(), e.ty().func()?.clone()))).collect();
        exports.sort_by(|a, b| a.0.cmp(&b.0));
        'module: for (name, ty) in exports {
            let Some(&f) = m.program.exports.get(&name) else { continue };
            if m.program.function(f).is_none() {
                continue;
            }
            let a = args(rng, ty.params());
            if m.invoke(f, &a).is_err() {
                break;
            }
            let mut proven = 0;
            for _ in 0..200_000 {
                let (_, next) = m.next_instruction();
                if next.op == gavel_bisection::code::op::RETURN && m.frames.len() == 1 {
                    // The end of the call (a harness return, not a proven step of a run).
                    if m.step().is_err() {
                        break 'module;
                    }
                    break;
                }
                let event = if proven < 8 && rng.chance(10) {
                    match prove_step(&mut m, &mut trees) {
                        Ok(p) => {
                            proven += 1;
                            let event = p.event;
                            out.push(p);
                            event
                        }
                        Err(_) => break 'module,
                    }
                } else {
                    match m.step() {
                        Ok(e) => e,
                        Err(_) => break 'module,
                    }
                };
                if matches!(event, gavel_bisection::machine::StepEvent::Trapped(_)) || m.status != Status::Running {
                    break 'module;
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_verifier_agrees_with_the_rust_verifier_on_fresh_proofs() {
    let seed: u64 = std::env::var("GAVEL_LIVE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    let mutated: usize = std::env::var("GAVEL_LIVE_MUTATED").ok().and_then(|v| v.parse().ok()).unwrap_or(48);
    eprintln!("live differential: seed {seed} (GAVEL_LIVE_SEED={seed} replays this run)");
    let mut rng = Rng(seed);

    let (_anvil, chain, _, harness) = deploy().await;
    let h = IVerifierHarness::new(harness, &chain.provider);

    let t = Instant::now();
    let mut proofs = synthetic_steps_seeded(rng.next());
    proofs.extend(simd_steps_seeded(rng.next()));
    let synthetic = proofs.len();
    proofs.extend(smith_steps(&mut rng, 160));
    let generated = proofs.len() - synthetic;
    proofs.extend(silero_steps(&mut rng, 16_000_000, 256));
    eprintln!(
        "live differential: {} proofs ({synthetic} synthetic, {generated} of wasm-smith modules, {} of silero-vad) made in {:.1} s",
        proofs.len(),
        proofs.len() - synthetic - generated,
        t.elapsed().as_secs_f64()
    );

    // Every proof: the same root after in both languages.
    let t = Instant::now();
    let mut failures = Vec::new();
    for (b, batch) in proofs.chunks(48).enumerate() {
        let before: Vec<B256> = batch.iter().map(|p| B256::from(p.root_before)).collect();
        let bytes: Vec<Bytes> = batch.iter().map(|p| Bytes::from(p.proof.clone())).collect();
        let r = h.verifyAll(before, bytes).gas(CALL_GAS).call().await.expect("verifyAll");
        for (k, p) in batch.iter().enumerate() {
            let rust = verify_step(&p.root_before, &p.proof).map_err(|e| e.to_string());
            let sol = if r.errors[k].is_zero() { Ok(r.rootsAfter[k]) } else { Err(format!("revert {}", r.errors[k])) };
            match (rust, sol) {
                (Ok(a), Ok(b)) if B256::from(a) == b && a == p.root_after => {}
                (rust, sol) => failures.push(format!("proof {} (opcode {:#x}): Rust {rust:?}, Solidity {sol:?}", b * 48 + k, p.instr.op)),
            }
        }
    }
    eprintln!("live differential: {} proofs verified by both, same roots ({:.1} s)", proofs.len(), t.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "seed {seed}: {} disagreements:\n{}", failures.len(), failures.join("\n"));

    // A sample of proofs: every single-byte mutation and every truncation, rejected by both.
    let t = Instant::now();
    let (mut tried_rust, mut tried_sol) = (0u64, 0u64);
    for _ in 0..mutated {
        let which = rng.below(proofs.len() as u64) as usize;
        let p = &proofs[which];
        for i in 0..p.proof.len() {
            let mut m = p.proof.clone();
            m[i] ^= mask(i);
            assert!(verify_step(&p.root_before, &m).is_err(), "seed {seed}: Rust accepts proof {which} with byte {i} changed");
            assert!(verify_step(&p.root_before, &p.proof[..i]).is_err(), "seed {seed}: Rust accepts proof {which} truncated to {i} bytes");
            tried_rust += 2;
        }
        let mut from = 0usize;
        while from < p.proof.len() {
            let to = (from + 256).min(p.proof.len());
            let r = h
                .mutations(B256::from(p.root_before), Bytes::from(p.proof.clone()), U256::from(from), U256::from(to))
                .gas(CALL_GAS)
                .call()
                .await
                .expect("mutations");
            assert_eq!(r.accepted, U256::ZERO, "seed {seed}: the deployed verifier accepts a mutation of proof {which} (first at byte {})", r.firstAccepted);
            assert_eq!(r.uncustom, U256::ZERO, "seed {seed}: proof {which}: a mutation reverts with a panic or a string, not a custom error");
            tried_sol += r.tried.to::<u64>();
            from = to;
        }
    }
    assert_eq!(tried_rust, tried_sol, "both sides tried the same mutations");
    eprintln!("live differential: {mutated} proofs, {tried_sol} mutations and truncations rejected by both ({:.1} s)", t.elapsed().as_secs_f64());
}
