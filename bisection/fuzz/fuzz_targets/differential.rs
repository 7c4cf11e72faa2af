//! Fuzz target: a wasm-smith module from the fuzzer's bytes, run on the step machine and on the
//! production engine and host (`gavel_runner`); any divergence of results, traps, memory,
//! globals or state root is a crash. The modules, inputs and comparison are those of
//! `runner/tests/differential` (`smith.rs`, `pair.rs`).
#![no_main]

#[path = "../../../runner/tests/differential/pair.rs"]
mod pair;
#[path = "../../../runner/tests/differential/smith.rs"]
mod smith;

use std::sync::OnceLock;

use gavel_bisection::vectors::Rng;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static ENGINE: OnceLock<(wasmtime::Engine, wasmtime::Linker<gavel_runner::host::Host>)> = OnceLock::new();
    let (engine, linker) = ENGINE.get_or_init(|| {
        let engine = gavel_runner::config::deterministic_engine().expect("engine");
        let linker = gavel_runner::host::linker(&engine).expect("linker");
        (engine, linker)
    });
    let flags = data.first().copied().unwrap_or(0);
    let mut rng = Rng(u64::from_le_bytes(std::array::from_fn(|i| data.get(1 + i).copied().unwrap_or(0))));
    let mut tally = smith::Tally::default();
    if let Err(e) = smith::one(engine, linker, data, smith::Kind::of(u64::from(flags)), &mut rng, &mut tally) {
        panic!("divergence: {e}");
    }
});
