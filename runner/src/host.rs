//! The deterministic host around a guest instance: the store (fuel, the memory limit) and the
//! blob oracle the guest imports (`gavel.blob_len`, `gavel.blob_read`, `spec/guest-abi.md`).
//!
//! [`crate::machine::Runtime`] builds every guest's store and linker here, and so do the
//! differential tests (`runner/tests/differential`), which run generated modules through exactly
//! the production host: the engine of [`crate::config::deterministic_engine`], fuel metering, the
//! pooled memories with their dirty-page maps, and these two imports.

use std::sync::Arc;

use wasmtime::{Caller, Engine, Extern, Linker, Store};

use crate::error::{Result, RunnerError};

/// Environment variable that makes the host fail the N-th `memory.grow` of every run: how the
/// tests force wasmtime to diverge from the step machine (`spec/machine.md`).
pub const FAULT_HOST_GROW_ENV: &str = "GAVEL_FAULT_HOST_GROW";

/// What a guest's store holds: the blobs it may read and its memory limiter.
pub struct Host {
    blobs: Vec<Arc<Vec<u8>>>,
    limiter: Limiter,
}

impl Host {
    /// Whether a `memory.grow` was refused for exceeding the memory limit.
    pub fn memory_denied(&self) -> bool {
        self.limiter.denied
    }

    /// The host's own failure to grow memory within the limit, if one happened: never a guest
    /// outcome (see [`Limiter`]).
    pub fn host_failure(&self) -> Option<String> {
        self.limiter.host_failure.clone()
    }
}

struct Limiter {
    max_bytes: usize,
    denied: bool,
    /// The host failed a `memory.grow` the memory limit allows. WebAssembly would let it return
    /// -1, but the step machine (and the chain) grows, so the run must stop here, visibly: it is
    /// a host error, never a guest outcome.
    host_failure: Option<String>,
    /// Fault injection for tests ([`FAULT_HOST_GROW_ENV`]): the host fails the N-th
    /// `memory.grow` of the run.
    fail_grow_at: Option<u32>,
    grows: u32,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Growing past the memory's declared maximum is -1 in WebAssembly, and in the step
        // machine. Refused here, or wasmtime would report it to `memory_grow_failed` as if the
        // host had failed (found by the differential on the spec suite's `memory_grow.wast`).
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let ok = desired <= self.max_bytes;
        if !ok {
            self.denied = true;
        } else if current > 0 {
            self.grows += 1;
            if self.fail_grow_at == Some(self.grows) {
                let msg = format!("the host failed to grow guest memory from {current} to {desired} bytes (injected by {FAULT_HOST_GROW_ENV})");
                self.host_failure = Some(msg.clone());
                return Err(wasmtime::Error::msg(msg));
            }
        }
        Ok(ok)
    }
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.host_failure = Some(format!("the host failed to grow guest memory within the limit: {error:#}"));
        Err(error)
    }
    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

pub(crate) fn engine_err(e: impl std::fmt::Display) -> RunnerError {
    RunnerError::Engine(e.to_string())
}

/// A store for one guest instance over `blobs`: memory bounded by `memory_limit_mib`, all the
/// fuel there is (fuel counts instructions; it never stops a run).
pub fn store(engine: &Engine, blobs: Vec<Arc<Vec<u8>>>, memory_limit_mib: u64) -> Result<Store<Host>> {
    let fail_grow_at = std::env::var(FAULT_HOST_GROW_ENV).ok().and_then(|v| v.parse().ok());
    let limiter = Limiter { max_bytes: (memory_limit_mib as usize) << 20, denied: false, host_failure: None, fail_grow_at, grows: 0 };
    let mut store = Store::new(engine, Host { blobs, limiter });
    store.limiter(|h| &mut h.limiter);
    store.set_fuel(u64::MAX).map_err(engine_err)?;
    Ok(store)
}

/// A linker with the blob oracle, the guest's only imports.
pub fn linker(engine: &Engine) -> Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap("gavel", "blob_len", blob_len).map_err(engine_err)?;
    linker.func_wrap("gavel", "blob_read", blob_read).map_err(engine_err)?;
    Ok(linker)
}

/// `gavel.blob_len(blob) -> i64`: byte length, or -1 for an unknown blob.
fn blob_len(caller: Caller<'_, Host>, blob: i32) -> i64 {
    usize::try_from(blob).ok().and_then(|b| caller.data().blobs.get(b)).map_or(-1, |b| b.len() as i64)
}

/// `gavel.blob_read(blob, offset, dst, len) -> i32`: copies `len` bytes of `blob` from `offset`
/// to guest address `dst`; returns the count copied, or -1 if any argument is out of range (the
/// guest turns that into an error; nothing is written).
fn blob_read(mut caller: Caller<'_, Host>, blob: i32, offset: i64, dst: i32, len: i32) -> i32 {
    let Some(memory) = caller.get_export("memory").and_then(Extern::into_memory) else { return -1 };
    let Ok(b) = usize::try_from(blob) else { return -1 };
    let Some(data) = caller.data().blobs.get(b).cloned() else { return -1 };
    let (Ok(off), Ok(n), Ok(dst)) = (usize::try_from(offset), usize::try_from(len), usize::try_from(dst as u32)) else {
        return -1;
    };
    let Some(src) = off.checked_add(n).and_then(|end| data.get(off..end)) else { return -1 };
    match memory.write(&mut caller, dst, src) {
        Ok(()) => {
            // For write tracking (`Machine::track_writes`).
            #[cfg(unix)]
            crate::dirty::mark(memory.data_ptr(&caller), dst, n);
            len
        }
        Err(_) => -1,
    }
}
