//! The differential run shared by `tests/differential.rs` and the fuzz target `fuzz/`.

use arbitrary::Unstructured;
use gavel_bisection::fuzz::{call, instantiate, CallResult};
use wasmtime::{Config, Engine, Instance, Module, Store, Val, ValType};

/// The wasm-smith configuration: exactly the features the step machine implements.
/// Passive segments (and so `memory.init`, `data.drop`, `elem.drop`) are outside the step
/// machine; `segments` = false generates modules without any segment, so every module runs.
fn smith_config(segments: bool, no_traps: bool, float_heavy: bool, simd: bool) -> wasm_smith::Config {
    let max_segments = if segments { 4 } else { 0 };
    wasm_smith::Config {
        min_funcs: 1,
        max_imports: 0,
        max_memories: 1,
        max_tables: 1,
        max_funcs: 8,
        max_instructions: 120,
        // v128 globals are outside the step machine (spec/simd.md): SIMD modules get none.
        max_globals: if simd { 0 } else { 6 },
        max_memory32_bytes: 4 << 16,
        max_data_segments: max_segments,
        max_element_segments: max_segments,
        max_table_elements: 16,
        allow_floats: true,
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        reference_types_enabled: false,
        simd_enabled: simd,
        relaxed_simd_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        tail_call_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        custom_descriptors_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        export_everything: true,
        disallow_traps: no_traps,
        // Float-heavy: straight-line numeric code (half of it float arithmetic, comparisons and
        // conversions) over locals and globals, where NaNs and rounding meet every operator.
        // SIMD: straight-line vector and numeric code with memory accesses (the shape of tract's
        // kernels); modules that use a v128 instruction outside the supported set are skipped.
        allowed_instructions: if simd {
            "numeric,vector,variable,parametric,memory".parse().unwrap_or_else(|_| wasm_smith::InstructionKinds::all())
        } else if float_heavy {
            "numeric,variable,parametric".parse().unwrap_or_else(|_| wasm_smith::InstructionKinds::all())
        } else {
            wasm_smith::InstructionKinds::all()
        },
        allow_start_export: true,
        ..wasm_smith::Config::default()
    }
}

/// wasmtime as the runner configures it (`runner/src/config.rs`): NaN canonicalization on,
/// SIMD on, relaxed SIMD off. (The runner's function is not reachable from here without a
/// dependency cycle.)
pub(crate) fn engine() -> Engine {
    let mut c = Config::new();
    c.cranelift_nan_canonicalization(true);
    c.wasm_simd(true);
    c.wasm_relaxed_simd(false);
    c.max_wasm_stack(1 << 20);
    Engine::new(&c).expect("engine")
}

/// The step machine's slots of a value (a v128 is two: low half, then high half).
fn bits(v: &Val) -> Vec<u64> {
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

fn slots(vals: &[Val]) -> Vec<u64> {
    vals.iter().flat_map(bits).collect()
}

fn zero(t: &ValType) -> Val {
    match t {
        ValType::I64 => Val::I64(0),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        ValType::V128 => Val::V128(0u128.into()),
        _ => Val::I32(0),
    }
}

/// What a run compared.
#[derive(Default, Debug)]
pub(crate) struct Tally {
    /// Modules generated.
    pub(crate) modules: u64,
    /// Modules outside the step machine's features.
    pub(crate) unsupported: u64,
    /// Calls compared.
    pub(crate) calls: u64,
    /// Calls that trapped in both engines.
    pub(crate) traps: u64,
    /// Runs that exhausted a call stack (not comparable).
    pub(crate) exhausted: u64,
}

/// Runs one generated module; returns an error describing a divergence.
pub(crate) fn one(engine: &Engine, data: &[u8], segments: bool, no_traps: bool, float_heavy: bool, simd: bool, tally: &mut Tally) -> Result<(), String> {
    let mut u = Unstructured::new(data);
    let Ok(mut module) = wasm_smith::Module::new(smith_config(segments, no_traps, float_heavy, simd), &mut u) else { return Ok(()) };
    // Bounds every loop and call chain, so both engines terminate.
    let Ok(_) = module.ensure_termination(2_000) else { return Ok(()) };
    let bytes = module.to_bytes();
    tally.modules += 1;
    let mut store = Store::new(engine, ());
    let Ok(compiled) = Module::new(engine, &bytes) else { return Ok(()) };
    let reference = Instance::new(&mut store, &compiled, &[]);
    let mut ours = match instantiate(&bytes) {
        Ok(m) => m,
        Err(e) => {
            if reference.is_ok() && !e.contains("not supported") && !e.contains("passive") && !e.contains("start function trapped") {
                return Err(format!("the step machine rejects a module wasmtime runs: {e}"));
            }
            tally.unsupported += 1;
            if std::env::var_os("GAVEL_DIFF_VERBOSE").is_some() {
                eprintln!("unsupported: {e}");
            }
            return Ok(());
        }
    };
    let Ok(instance) = reference else { return Err("wasmtime fails to instantiate a module the step machine runs".into()) };
    let mut names: Vec<String> = compiled.exports().filter(|e| e.ty().func().is_some()).map(|e| e.name().to_string()).collect();
    names.sort();
    for name in names {
        let f = instance.get_func(&mut store, &name).ok_or("export")?;
        let ty = f.ty(&store);
        let args: Vec<Val> = ty.params().map(|t| zero(&t)).collect();
        let mut results: Vec<Val> = ty.results().map(|t| zero(&t)).collect();
        let theirs = match f.call(&mut store, &args, &mut results) {
            Ok(()) => CallResult::Returned(slots(&results)),
            Err(e) => match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::StackOverflow) => CallResult::Exhausted,
                _ => CallResult::Trapped,
            },
        };
        let mine = call(&mut ours, &name, &slots(&args), 50_000_000)?;
        tally.calls += 1;
        if matches!(mine, CallResult::Exhausted) || matches!(theirs, CallResult::Exhausted) {
            // Where the stack runs out differs by design (spec/proofs.md); the state after is
            // not comparable.
            tally.exhausted += 1;
            return Ok(());
        }
        if mine != theirs {
            return Err(format!("{name}: step machine {mine:x?}, wasmtime {theirs:x?}"));
        }
        if mine == CallResult::Trapped {
            tally.traps += 1;
        }
        // Same memory and globals after every call.
        if let Some(mem) = instance
            .get_export(&mut store, "")
            .and(None::<wasmtime::Memory>)
            .or_else(|| compiled.exports().find_map(|e| e.ty().memory().map(|_| e.name().to_string())).and_then(|n| instance.get_memory(&mut store, &n)))
        {
            if mem.data(&store) != ours.memory.as_slice() {
                return Err(format!("{name}: memory differs"));
            }
        }
        for e in compiled.exports() {
            if e.ty().global().is_some() {
                let g = instance.get_global(&mut store, e.name()).ok_or("global")?;
                let theirs = bits(&g.get(&mut store))[0];
                let index = global_index(&bytes, e.name()).ok_or("global index")?;
                if ours.globals[index as usize].1 != theirs {
                    return Err(format!("{name}: global {} differs", e.name()));
                }
            }
        }
    }
    Ok(())
}

/// The index of exported global `name`.
fn global_index(bytes: &[u8], name: &str) -> Option<u32> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::ExportSection(r)) = payload {
            for e in r.into_iter().flatten() {
                if e.name == name && e.kind == wasmparser::ExternalKind::Global {
                    return Some(e.index);
                }
            }
        }
    }
    None
}
