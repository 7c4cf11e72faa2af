//! The deterministic wasmtime configuration on small hand-written modules: fuel metering, the
//! pooled guest memories and the dirty-page marks of the compiled code.

mod cache_key;
mod fuel;
#[cfg(unix)]
mod marks;
mod memory;

pub(crate) fn compile(wat: &str) -> (wasmtime::Engine, wasmtime::Module) {
    let bytes = wast::parser::parse::<wast::Wat>(&wast::parser::ParseBuffer::new(wat).expect("lex")).expect("parse").encode().expect("encode");
    let engine = gavel_runner::config::deterministic_engine().expect("engine");
    let module = wasmtime::Module::new(&engine, &bytes).expect("compile");
    (engine, module)
}
