//! Fuzz target: a wasm-smith module from the fuzzer's bytes, run on the step machine and on
//! wasmtime with the deterministic configuration; any divergence is a crash.
#![no_main]

#[path = "../../tests/support/differential.rs"]
mod differential;

use std::sync::OnceLock;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static ENGINE: OnceLock<wasmtime::Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(differential::engine);
    let mut tally = differential::Tally::default();
    let flags = data.first().copied().unwrap_or(0);
    if let Err(e) = differential::one(engine, data, flags & 1 == 1, flags & 2 == 2, flags & 4 == 4, flags & 8 == 8, &mut tally) {
        panic!("divergence: {e}");
    }
});
