//! Differential execution: wasm-smith modules (float-heavy, SIMD, bulk memory, multi-value) run on the
//! step machine and on wasmtime with the runner's deterministic configuration must return the
//! same bits, trap at the same calls and leave the same memory and globals. A bounded smoke run
//! of the fuzz target (`bisection/fuzz/`): `GAVEL_DIFF_CASES` modules (default 400).

#[path = "support/differential.rs"]
mod differential;

use differential::{engine, one, Tally};

/// Deterministic pseudo-random bytes (splitmix64).
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

#[test]
fn step_machine_matches_wasmtime_on_generated_modules() {
    let cases: u64 = std::env::var("GAVEL_DIFF_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let engine = engine();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for seed in 0..cases {
        if let Err(e) = one(&engine, &bytes(seed, 4096), seed % 4 == 0, seed % 2 == 1, seed % 3 == 2, seed % 5 == 4, &mut tally) {
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    eprintln!("differential: {tally:?}");
    assert!(failures.is_empty(), "{} divergences:\n{}", failures.len(), failures.join("\n"));
    assert!(tally.calls > cases / 2 && tally.unsupported < cases / 2, "too little compared: {tally:?}");
}
