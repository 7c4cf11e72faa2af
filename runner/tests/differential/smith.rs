//! Generated modules for the differential (`pair.rs`): wasm-smith configurations covering what
//! the step machine implements, and the inputs that make NaNs and payloads meet every operator:
//! arguments drawn from special values, NaN patterns written into memory before the first call,
//! and the blob oracle as the modules' imports.
//!
//! Shared by `generated.rs`, the fuzz target (`bisection/fuzz`) and the live differential
//! against the deployed verifier (`tests/it/verifier_live.rs`, proofs of these modules' steps).

use std::sync::Arc;

use arbitrary::Unstructured;
use gavel_bisection::fuzz::CallResult;
use gavel_bisection::vectors::Rng;
use gavel_runner::host::Host;
use wasmtime::{Engine, Linker, ValType};

use crate::pair::{expose, Pair, Skip};

/// What a generated module concentrates on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Every instruction kind the step machine implements.
    General,
    /// Numeric code, half of it float arithmetic, comparisons and conversions, with control
    /// flow that carries floats through blocks, if/else, loops with parameters and `br_table`.
    Floats,
    /// Vector, numeric and memory code with control flow: v128 values through branches, loop
    /// parameters and locals read under other lane types.
    Simd,
    /// Modules that import the blob oracle (`gavel.blob_len`, `gavel.blob_read`).
    Blobs,
}

impl Kind {
    /// The kind for case number `i`: an even mix.
    pub(crate) fn of(i: u64) -> Kind {
        [Kind::General, Kind::Floats, Kind::Simd, Kind::Blobs][(i % 4) as usize]
    }
}

/// The oracle imports, as wasm-smith's `available_imports`.
fn oracle() -> Vec<u8> {
    let text =
        r#"(module (import "gavel" "blob_len" (func (param i32) (result i64))) (import "gavel" "blob_read" (func (param i32 i64 i32 i32) (result i32))))"#;
    let buf = wast::parser::ParseBuffer::new(text).expect("lex");
    wast::parser::parse::<wast::Wat>(&buf).expect("parse").encode().expect("encode")
}

/// The wasm-smith configuration: exactly the features the step machine implements. Passive
/// segments (and so `memory.init`, `data.drop`, `elem.drop`) are outside the step machine;
/// `segments` = false generates modules without any segment.
fn config(kind: Kind, segments: bool, no_traps: bool) -> wasm_smith::Config {
    let max_segments = if segments { 4 } else { 0 };
    let simd = kind == Kind::Simd;
    wasm_smith::Config {
        min_funcs: 1,
        max_imports: if kind == Kind::Blobs { 2 } else { 0 },
        available_imports: (kind == Kind::Blobs).then(oracle),
        min_memories: u32::from(kind == Kind::Blobs),
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
        // SIMD modules that use a v128 instruction outside the supported set are skipped.
        allowed_instructions: match kind {
            Kind::Simd => "numeric,vector,variable,parametric,memory,control".parse().unwrap_or_else(|_| wasm_smith::InstructionKinds::all()),
            Kind::Floats => "numeric,variable,parametric,control".parse().unwrap_or_else(|_| wasm_smith::InstructionKinds::all()),
            Kind::General | Kind::Blobs => wasm_smith::InstructionKinds::all(),
        },
        allow_start_export: true,
        ..wasm_smith::Config::default()
    }
}

/// f32 bit patterns where float semantics have corners: zeros, infinities, the canonical NaN,
/// NaNs with payloads (quiet and signalling, both signs), subnormals, the extremes, one.
const F32_SPECIAL: [u32; 14] = [
    0,
    0x8000_0000,
    0x7f80_0000,
    0xff80_0000,
    0x7fc0_0000,
    0xffc0_0000,
    0x7fa0_0001,
    0xffc0_1234,
    0x7f80_0001,
    0xff80_7fff,
    0x0000_0001,
    0x807f_ffff,
    0x7f7f_ffff,
    0x3f80_0000,
];
/// The same for f64.
const F64_SPECIAL: [u64; 14] = [
    0,
    0x8000_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0000_0000,
    0x7ff4_0000_0000_0001,
    0xfff8_0000_dead_beef,
    0x7ff0_0000_0000_0001,
    0xfff0_7fff_ffff_ffff,
    0x0000_0000_0000_0001,
    0x800f_ffff_ffff_ffff,
    0x7fef_ffff_ffff_ffff,
    0x3ff0_0000_0000_0000,
];

fn f32_bits(rng: &mut Rng) -> u32 {
    if rng.chance(70) {
        F32_SPECIAL[rng.below(F32_SPECIAL.len() as u64) as usize]
    } else {
        rng.next() as u32
    }
}

fn f64_bits(rng: &mut Rng) -> u64 {
    if rng.chance(70) {
        F64_SPECIAL[rng.below(F64_SPECIAL.len() as u64) as usize]
    } else {
        rng.next()
    }
}

/// Argument slots for `params`: small and extreme integers, float specials (often reinterpreted
/// as integers, since generated code reinterprets), lanes of either width.
pub(crate) fn args(rng: &mut Rng, params: impl Iterator<Item = ValType>) -> Vec<u64> {
    let mut out = Vec::new();
    for t in params {
        match t {
            ValType::I32 => out.push(match rng.below(4) {
                0 => [0u32, 1, u32::MAX, 0x8000_0000, 0x7fff_ffff, 16, 65535][rng.below(7) as usize] as u64,
                1 => f32_bits(rng) as u64,
                2 => rng.below(1 << 17),
                _ => rng.next() as u32 as u64,
            }),
            ValType::I64 => out.push(match rng.below(3) {
                0 => [0u64, 1, u64::MAX, 1 << 63, (1 << 63) - 1][rng.below(5) as usize],
                1 => f64_bits(rng),
                _ => rng.next(),
            }),
            ValType::F32 => out.push(f32_bits(rng) as u64),
            ValType::F64 => out.push(f64_bits(rng)),
            ValType::V128 => {
                let (lo, hi) = if rng.chance(50) {
                    let l: [u64; 4] = std::array::from_fn(|_| f32_bits(rng) as u64);
                    (l[0] | l[1] << 32, l[2] | l[3] << 32)
                } else if rng.chance(50) {
                    (f64_bits(rng), f64_bits(rng))
                } else {
                    (rng.next(), rng.next())
                };
                out.push(lo);
                out.push(hi);
            }
            _ => out.push(0),
        }
    }
    out
}

/// NaN patterns (and other specials) written at aligned addresses of the first 64 KiB, the
/// same in both engines before the first call.
fn seed(rng: &mut Rng) -> Vec<(usize, Vec<u8>)> {
    (0..rng.below(48))
        .map(|_| {
            let at = (rng.below(65536 / 8) * 8) as usize;
            let bytes = if rng.chance(50) { f32_bits(rng).to_le_bytes().to_vec() } else { f64_bits(rng).to_le_bytes().to_vec() };
            (at, bytes)
        })
        .collect()
}

/// Blob contents for the oracle: a few short blobs of mixed bytes, one sometimes empty.
fn blobs(rng: &mut Rng) -> Vec<Arc<Vec<u8>>> {
    (0..1 + rng.below(3))
        .map(|_| {
            let n = [0u64, 1, 7, 33, 300, 5000][rng.below(6) as usize];
            Arc::new((0..n).map(|_| rng.next() as u8).collect())
        })
        .collect()
}

/// What a run compared.
#[derive(Default, Debug)]
pub(crate) struct Tally {
    /// Modules generated.
    pub(crate) modules: u64,
    /// Modules outside the step machine's features.
    pub(crate) unsupported: u64,
    /// Modules compared.
    pub(crate) compared: u64,
    /// Modules that import the blob oracle, compared.
    pub(crate) with_oracle: u64,
    /// Calls compared (results, memory, globals and state root after each).
    pub(crate) calls: u64,
    /// Calls that returned a NaN bit pattern somewhere in their results.
    pub(crate) nan_results: u64,
    /// Calls that trapped in both engines.
    pub(crate) traps: u64,
    /// Runs that exhausted a call stack (not comparable).
    pub(crate) exhausted: u64,
}

/// A generated module: its bytes (with memory and globals exported, [`expose`]), the blobs it
/// may read through the oracle, and the bytes written into its memory before the first call.
pub(crate) struct Generated {
    pub(crate) bytes: Vec<u8>,
    pub(crate) blobs: Vec<Arc<Vec<u8>>>,
    pub(crate) seed: Vec<(usize, Vec<u8>)>,
}

/// Generates one module of `kind` from `data` (`None` if wasm-smith makes none of it).
pub(crate) fn generate(data: &[u8], kind: Kind, rng: &mut Rng) -> Result<Option<Generated>, String> {
    let mut u = Unstructured::new(data);
    let segments = rng.chance(25);
    let no_traps = rng.chance(50);
    let Ok(mut module) = wasm_smith::Module::new(config(kind, segments, no_traps), &mut u) else { return Ok(None) };
    // Bounds every loop and call chain, so both engines terminate.
    let Ok(_) = module.ensure_termination(2_000) else { return Ok(None) };
    // A module whose own exports take a name the comparison needs is left out.
    let Ok(bytes) = expose(&module.to_bytes()) else { return Ok(None) };
    let blobs = if kind == Kind::Blobs { blobs(rng) } else { Vec::new() };
    let seed = seed(rng);
    Ok(Some(Generated { bytes, blobs, seed }))
}

/// Generates one module from `data` and compares it in both engines, every export called
/// three times with arguments from `rng`; an error describes a divergence.
pub(crate) fn one(engine: &Engine, linker: &Linker<Host>, data: &[u8], kind: Kind, rng: &mut Rng, tally: &mut Tally) -> Result<(), String> {
    let Some(Generated { bytes, blobs, seed }) = generate(data, kind, rng)? else { return Ok(()) };
    tally.modules += 1;
    let mut pair = match Pair::new(engine, linker, &bytes, blobs, 64, &seed, true)? {
        Ok(p) => p,
        Err(Skip::Unsupported(e)) => {
            tally.unsupported += 1;
            if std::env::var_os("GAVEL_DIFF_VERBOSE").is_some() {
                eprintln!("unsupported: {e}");
            }
            return Ok(());
        }
        Err(Skip::Invalid) => return Ok(()),
    };
    tally.compared += 1;
    let imports = wasmparser::Parser::new(0).parse_all(&bytes).any(|p| matches!(p, Ok(wasmparser::Payload::ImportSection(r)) if r.count() > 0));
    if imports {
        tally.with_oracle += 1;
    }
    let exports = pair.exports();
    for _ in 0..3 {
        for (name, ty) in &exports {
            let args = args(rng, ty.params());
            let outcome = pair.call(name, &args).map_err(|e| format!("{kind:?}: {e}"))?;
            tally.calls += 1;
            match outcome {
                CallResult::Exhausted => {
                    tally.exhausted += 1;
                    return Ok(());
                }
                CallResult::Trapped => tally.traps += 1,
                CallResult::Returned(vals) => {
                    let mut at = 0;
                    let nan = ty.results().any(|t| {
                        let v = crate::pair::val(&t, &vals, &mut at);
                        match v {
                            wasmtime::Val::F32(b) => f32::from_bits(b).is_nan(),
                            wasmtime::Val::F64(b) => f64::from_bits(b).is_nan(),
                            _ => false,
                        }
                    });
                    tally.nan_results += u64::from(nan);
                }
            }
        }
    }
    Ok(())
}
