//! One module in both engines: the step machine, and wasmtime exactly as production runs the
//! guest (the engine of `gavel_runner::config::deterministic_engine`, the store and blob oracle
//! of `gavel_runner::host`, fuel metering, the pooled memory with its dirty-page map). After
//! every call the two must agree on the results or the trap, on memory, on every global and on
//! the state root, the production side's memory root computed incrementally from the dirty-page
//! marks of the compiled code, as the runner computes it between macro-steps.
//!
//! Shared by the tests of this target and the fuzz target (`bisection/fuzz`).

use std::sync::Arc;

use gavel_bisection::fuzz::{call, instantiate_with, CallResult};
use gavel_bisection::machine::Machine;
use gavel_bisection::merkle::MemoryTree;
use gavel_bisection::state;
use gavel_runner::dirty::DirtyMap;
use gavel_runner::host::Host;
use gavel_runner::module::GLOBAL_EXPORT_PREFIX;
use wasmtime::{Engine, Global, Instance, Linker, Memory, Module, Store, Val, ValType};

/// Steps a call may take on the step machine.
pub(crate) const STEP_LIMIT: u64 = 50_000_000;

/// The module with its memory exported as `memory` (where the blob oracle looks for it, as in
/// the guest) and every global exported as `gavel.global.<index>`, so both are comparable
/// (`gavel_runner::module::export_state`, what `gavel guest finalize` does to the guest). Both
/// engines run these bytes.
pub(crate) fn expose(bytes: &[u8]) -> Result<Vec<u8>, String> {
    gavel_runner::module::export_state(bytes, Some("memory")).map(|(out, _)| out).map_err(|e| e.to_string())
}

/// The step machine's slots of a value (a v128 is two: low half, then high half).
pub(crate) fn bits(v: &Val) -> Vec<u64> {
    match v {
        Val::I32(x) => vec![*x as u32 as u64],
        Val::I64(x) => vec![*x as u64],
        Val::F32(x) => vec![*x as u64],
        Val::F64(x) => vec![*x],
        Val::V128(x) => {
            let x = x.as_u128();
            vec![x as u64, (x >> 64) as u64]
        }
        _ => vec![u64::MAX],
    }
}

/// wasmtime values as step-machine slots.
pub(crate) fn slots(vals: &[Val]) -> Vec<u64> {
    vals.iter().flat_map(bits).collect()
}

/// The wasmtime value of type `t` whose slots start at `s[*at]`.
pub(crate) fn val(t: &ValType, s: &[u64], at: &mut usize) -> Val {
    let x = s.get(*at).copied().unwrap_or(0);
    *at += 1;
    match t {
        ValType::I64 => Val::I64(x as i64),
        ValType::F32 => Val::F32(x as u32),
        ValType::F64 => Val::F64(x),
        ValType::V128 => {
            let hi = s.get(*at).copied().unwrap_or(0);
            *at += 1;
            Val::V128(((hi as u128) << 64 | x as u128).into())
        }
        _ => Val::I32(x as u32 as i32),
    }
}

/// A module instantiated in both engines.
pub(crate) struct Pair {
    /// The step machine.
    pub(crate) ours: Machine,
    store: Store<Host>,
    instance: Instance,
    memory: Option<Memory>,
    globals: Vec<Global>,
    tracker: Option<DirtyMap>,
    tree: MemoryTree,
    /// Calls compared.
    pub(crate) calls: u64,
}

/// Why a module was not compared.
pub(crate) enum Skip {
    /// The step machine does not lower or start it (the reason).
    Unsupported(String),
    /// wasmtime rejects it too (the generator made something invalid).
    Invalid,
}

impl Pair {
    /// Instantiates `bytes` (already passed through [`expose`]) in both engines with `blobs`
    /// and a memory limit of `limit_mib`. `seed` writes the same bytes into both fresh memories
    /// (at address, bytes) before anything is compared. With `strict`, a module wasmtime runs
    /// and the step machine rejects for anything but a feature it leaves out on purpose
    /// (passive segments, imports other than the oracle) is a failure: the generators make
    /// only such modules; the spec suite also has reference types and several tables.
    pub(crate) fn new(
        engine: &Engine,
        linker: &Linker<Host>,
        bytes: &[u8],
        blobs: Vec<Arc<Vec<u8>>>,
        limit_mib: u64,
        seed: &[(usize, Vec<u8>)],
        strict: bool,
    ) -> Result<Result<Pair, Skip>, String> {
        let Ok(module) = Module::new(engine, bytes) else { return Ok(Err(Skip::Invalid)) };
        let mut store = gavel_runner::host::store(engine, blobs.clone(), limit_mib).map_err(|e| e.to_string())?;
        let reference = linker.instantiate(&mut store, &module);
        let mut ours = match instantiate_with(bytes, blobs, (limit_mib * 16) as u32) {
            Ok(m) => m,
            Err(e) => {
                if strict
                    && reference.is_ok()
                    && !e.contains("not supported")
                    && !e.contains("passive")
                    && !e.contains("start function trapped")
                    && !e.contains("not a step-machine oracle")
                {
                    return Err(format!("the step machine rejects a module wasmtime runs: {e}"));
                }
                return Ok(Err(Skip::Unsupported(e)));
            }
        };
        let instance = reference.map_err(|e| format!("wasmtime fails to instantiate a module the step machine runs: {e:#}"))?;
        let memory = instance.get_memory(&mut store, "memory");
        let mut globals = Vec::new();
        while let Some(g) = instance.get_global(&mut store, &format!("{GLOBAL_EXPORT_PREFIX}{}", globals.len())) {
            globals.push(g);
        }
        let mut tracker = None;
        if let Some(mem) = memory {
            for (at, data) in seed {
                let theirs = mem.data_mut(&mut store);
                if let Some(dst) = theirs.get_mut(*at..at + data.len()) {
                    dst.copy_from_slice(data);
                    ours.memory[*at..at + data.len()].copy_from_slice(data);
                }
            }
            let mut map = DirtyMap::of(mem.data_ptr(&store)).ok_or("the production engine's memory has no dirty-page map")?;
            map.clear(mem.data_size(&store));
            tracker = Some(map);
        }
        let mut pair = Pair { ours, store, instance, memory, globals, tracker, tree: MemoryTree::new(), calls: 0 };
        if let Some(mem) = pair.memory {
            pair.tree.update(mem.data(&pair.store));
        }
        pair.compare_state("instantiation")?;
        Ok(Ok(pair))
    }

    /// The exported functions, by name.
    pub(crate) fn exports(&mut self) -> Vec<(String, wasmtime::FuncType)> {
        let mut out: Vec<(String, wasmtime::FuncType)> = Vec::new();
        let names: Vec<String> = self.instance.exports(&mut self.store).filter(|e| e.clone().into_func().is_some()).map(|e| e.name().to_string()).collect();
        for name in names {
            // An exported import is the host's function, not the module's: nothing to compare.
            let defined = self.ours.program.exports.get(&name).is_some_and(|&f| self.ours.program.function(f).is_some());
            if !defined {
                continue;
            }
            if let Some(f) = self.instance.get_func(&mut self.store, &name) {
                out.push((name, f.ty(&self.store)));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Calls export `name` with `args` (slots) in both engines and compares everything. Returns
    /// how it ended; `Exhausted` if either engine ran out of call stack (where that happens
    /// differs by design, `spec/proofs.md`: the state after is not compared).
    pub(crate) fn call(&mut self, name: &str, args: &[u64]) -> Result<CallResult, String> {
        let f = self.instance.get_func(&mut self.store, name).ok_or_else(|| format!("no export {name}"))?;
        let ty = f.ty(&self.store);
        let mut at = 0;
        let vals: Vec<Val> = ty.params().map(|t| val(&t, args, &mut at)).collect();
        let mut results: Vec<Val> = ty.results().map(|t| val(&t, &[], &mut 0)).collect();
        let theirs = match f.call(&mut self.store, &vals, &mut results) {
            Ok(()) => CallResult::Returned(slots(&results)),
            Err(e) => match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::StackOverflow) => CallResult::Exhausted,
                Some(_) => CallResult::Trapped,
                None => return Err(format!("{name}: wasmtime failed outside the guest: {e:#}")),
            },
        };
        if let Some(failure) = self.store.data().host_failure() {
            return Err(format!("{name}: {failure}"));
        }
        let mine = call(&mut self.ours, name, &slots(&vals), STEP_LIMIT)?;
        self.calls += 1;
        if matches!(mine, CallResult::Exhausted) || matches!(theirs, CallResult::Exhausted) {
            return Ok(CallResult::Exhausted);
        }
        if mine != theirs {
            return Err(format!("{name}({args:x?}): step machine {mine:x?}, wasmtime {theirs:x?}"));
        }
        self.compare_state(name)?;
        Ok(mine)
    }

    /// Memory, globals and the state root, the production side's memory root from the dirty
    /// marks.
    fn compare_state(&mut self, after: &str) -> Result<(), String> {
        let mut header = self.ours.header();
        let theirs_globals: Vec<(u8, u64)> = self
            .globals
            .iter()
            .map(|g| {
                let v = g.get(&mut self.store);
                let code = match v {
                    Val::I64(_) => 0x7e,
                    Val::F32(_) => 0x7d,
                    Val::F64(_) => 0x7c,
                    _ => 0x7f,
                };
                (code, bits(&v)[0])
            })
            .collect();
        if theirs_globals != self.ours.globals {
            return Err(format!("after {after}: globals differ: step machine {:x?}, wasmtime {theirs_globals:x?}", self.ours.globals));
        }
        let Some(mem) = self.memory else {
            return if self.ours.memory.is_empty() { Ok(()) } else { Err(format!("after {after}: wasmtime has no memory")) };
        };
        let data = mem.data(&self.store);
        if data != self.ours.memory.as_slice() {
            let first = data.iter().zip(&self.ours.memory).position(|(a, b)| a != b);
            return Err(format!("after {after}: memory differs (sizes {} and {}, first at {first:?})", data.len(), self.ours.memory.len()));
        }
        let mut pages = Vec::new();
        let tracker = self.tracker.as_mut().ok_or("no tracker")?;
        if !tracker.take(data.len(), &mut pages) {
            return Err(format!("after {after}: the dirty-page map of the memory was lost"));
        }
        let memory_root = self.tree.update_pages(data, &pages);
        if memory_root != header.memory {
            return Err(format!("after {after}: the memory root from the dirty-page marks differs although memory is equal: a write was not marked"));
        }
        header.memory = memory_root;
        header.memory_pages = (data.len() / 65536) as u32;
        header.globals = state::globals_root(&theirs_globals);
        if header.root() != self.ours.state_root() {
            return Err(format!("after {after}: state roots differ"));
        }
        Ok(())
    }
}
