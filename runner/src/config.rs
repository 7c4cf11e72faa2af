//! The one deterministic wasmtime configuration (`spec/machine.md`, "Fast path").
//!
//! Everything that runs the guest goes through [`deterministic_engine`]; nothing else builds a
//! `wasmtime::Config`. Each setting removes a source of non-determinism or bounds a resource the
//! step machine must also bound.

use crate::error::{Result, RunnerError};

/// Default bound on guest linear memory.
pub const DEFAULT_MEMORY_LIMIT_MIB: u64 = 2048;
/// Largest memory limit accepted: the wasm32 address space.
pub const MAX_MEMORY_LIMIT_MIB: u64 = 4096;
/// Native stack the guest may use. Stack exhaustion is the one trap whose point depends on the
/// compiled code; the guest is kept far from it (no deep recursion in a macro-step), and the step
/// machine bounds call depth explicitly.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// Address space reserved for one guest memory: all of wasm32.
pub const MEMORY_RESERVATION: usize = 1 << 32;

/// Builds the deterministic engine.
///
/// - NaN canonicalization on: every float arithmetic result that is a NaN becomes the canonical
///   quiet NaN, so hardware NaN payloads cannot leak into memory.
/// - Fixed-width SIMD on (the step machine proves it, `spec/simd.md`; NaN canonicalization covers
///   f32x4/f64x2 lanes); relaxed SIMD and threads off: relaxed SIMD is implementation-defined,
///   threads race. [`crate::module::census`] checks the guest against `spec/opcodes.txt`.
/// - Fuel metering on: an instruction count for every run.
/// - Memory is bounded per store by [`crate::machine::MachineOptions::memory_limit_mib`].
pub fn deterministic_engine() -> Result<wasmtime::Engine> {
    check_host()?;
    let mut c = wasmtime::Config::new();
    c.cranelift_nan_canonicalization(true)
        .wasm_simd(true)
        .wasm_relaxed_simd(false)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_bulk_memory(true)
        .wasm_multi_value(true)
        .consume_fuel(true)
        .max_wasm_stack(MAX_WASM_STACK)
        // One fixed 4 GiB anonymous reservation per memory: the base never moves and the memory
        // has the dirty-page map right below its base (`pool.rs`, `dirty.rs`).
        .memory_reservation(MEMORY_RESERVATION as u64)
        .memory_guard_size(32 << 20)
        .memory_may_move(false)
        .memory_init_cow(false)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    // Memories keep their pages from one machine to the next (`pool.rs`): same layout, zeroed
    // on reuse, without the kernel faulting and zeroing every page again. Each has the
    // dirty-page map in front of it, which the compiled code marks after every write
    // (`dirty.rs`): the two go together, since marks land just below the memory's base.
    #[cfg(unix)]
    {
        c.with_host_memory(std::sync::Arc::new(crate::pool::MemoryPool::default()));
        // SAFETY: a setting of the vendored wasmtime-internal-cranelift (`runner/vendor`), which
        // makes stores also write the dirty-page map the pool maps below every memory.
        #[allow(unsafe_code)]
        unsafe {
            c.cranelift_flag_set("gavel_dirty_map", "true");
        }
    }
    wasmtime::Engine::new(&c).map_err(|e| RunnerError::Engine(format!("{e:#}")))
}

/// Refuses hosts the determinism contract does not cover (`spec/machine.md`, "Hosts"): the
/// configuration above was checked bit for bit against the step machine on x86-64 with SSE4.1
/// (what Cranelift's SIMD lowering needs) and on 64-bit ARM; elsewhere the node must not
/// pretend its runs are the chain's.
pub fn check_host() -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("sse4.1") {
            return Ok(());
        }
        Err(RunnerError::Engine("this x86-64 CPU lacks SSE4.1, which the deterministic configuration needs (spec/machine.md, \"Hosts\")".into()))
    }
    #[cfg(target_arch = "aarch64")]
    {
        Ok(())
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Err(RunnerError::Engine(format!("{} hosts are outside the determinism contract (spec/machine.md, \"Hosts\")", std::env::consts::ARCH)))
    }
}
