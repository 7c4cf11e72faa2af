//! wasm-smith modules in both engines (`smith.rs`, `pair.rs`): `GAVEL_DIFF_CASES` modules
//! (default 600; the nightly-sized run in `docs/benchmarks.md` sets 100,000), a quarter of each
//! kind, every export called three times with fresh arguments.

use gavel_bisection::vectors::Rng;

use crate::smith::{one, Kind, Tally};

#[test]
fn step_machine_matches_the_production_engine_on_generated_modules() {
    let cases: u64 = std::env::var("GAVEL_DIFF_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
    let first: u64 = std::env::var("GAVEL_DIFF_FIRST").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let (engine, linker) = crate::engine();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for seed in first..first + cases {
        let mut rng = Rng(seed);
        let data: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
        if let Err(e) = one(engine, linker, &data, Kind::of(seed), &mut rng, &mut tally) {
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    eprintln!("differential: {tally:?}");
    assert!(failures.is_empty(), "{} divergences:\n{}", failures.len(), failures.join("\n"));
    assert!(tally.compared > cases / 2 && tally.calls > cases, "too little compared: {tally:?}");
    assert!(tally.with_oracle > cases / 16, "too few modules with the oracle: {tally:?}");
    assert!(tally.nan_results > 0, "no call returned a NaN: {tally:?}");
}

/// Divergences the nightly-sized run found, kept as cases: an empty active element segment at
/// an offset past the table, which wasmtime traps on at instantiation and the step machine
/// accepted (seeds 16474 and 96989 of 100,000).
#[test]
fn found_divergences_stay_fixed() {
    let (engine, linker) = crate::engine();
    for seed in [16474u64, 96989] {
        let mut rng = Rng(seed);
        let data: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
        let mut tally = Tally::default();
        one(engine, linker, &data, Kind::of(seed), &mut rng, &mut tally).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    for text in ["(module (table 1 funcref) (elem (i32.const 2)))", "(module (table 0 funcref) (func $f) (elem (i32.const 0) $f))"] {
        let bytes = crate::wat(text);
        assert!(gavel_bisection::code::Program::lower(&bytes).is_err(), "{text} must not lower: wasmtime refuses to instantiate it");
    }
}
