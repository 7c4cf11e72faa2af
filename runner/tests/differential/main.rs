//! The step machine against the production engine: wasmtime exactly as the runner runs the guest
//! (`gavel_runner::config::deterministic_engine`, the store and blob oracle of
//! `gavel_runner::host`: fuel metering, pooled memories with the dirty-page map of the vendored
//! Cranelift, NaN canonicalization where a payload can be observed). Results, traps, memory,
//! globals and the state root (the production memory root computed from the dirty-page marks)
//! must agree after every call:
//!
//! - `generated`: wasm-smith modules with NaN-heavy arguments and memory, float and v128 control
//!   flow, and the blob oracle as imports (`GAVEL_DIFF_CASES` modules, default 600);
//! - `spec`: every module and assertion of the WebAssembly spec suite the step machine lowers;
//! - `nan`, `simd`: hand-written modules where NaN payloads and v128 slot pairs could diverge,
//!   every step of the step machine also proven and verified.

mod generated;
mod nan;
mod pair;
mod proving;
mod simd;
mod smith;
mod spec;

use std::sync::OnceLock;

use gavel_runner::host::Host;
use wasmtime::{Engine, Instance, Linker, Module, Store};

/// Encodes a module from its text format.
pub(crate) fn wat(text: &str) -> Vec<u8> {
    let buf = wast::parser::ParseBuffer::new(text).expect("lex");
    let mut module = wast::parser::parse::<wast::Wat>(&buf).expect("parse");
    module.encode().expect("encode")
}

/// The production engine and linker, built once.
pub(crate) fn engine() -> &'static (Engine, Linker<Host>) {
    static E: OnceLock<(Engine, Linker<Host>)> = OnceLock::new();
    E.get_or_init(|| {
        let engine = gavel_runner::config::deterministic_engine().expect("the deterministic engine");
        let linker = gavel_runner::host::linker(&engine).expect("the oracle linker");
        (engine, linker)
    })
}

/// `bytes` instantiated as production instantiates the guest (no blobs, 64 MiB).
pub(crate) fn production(bytes: &[u8]) -> (Store<Host>, Instance) {
    let (engine, linker) = engine();
    let module = Module::new(engine, bytes).expect("compile");
    let mut store = gavel_runner::host::store(engine, Vec::new(), 64).expect("store");
    let instance = linker.instantiate(&mut store, &module).expect("instantiate");
    (store, instance)
}
