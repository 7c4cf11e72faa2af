//! The pinned guest module: finalizing the raw cargo output, its opcode census, its pinned hash
//! and the compiled-module cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wasmparser::{Operator, Parser, Payload};

use crate::error::{read_file, Result, RunnerError};
use crate::merkle::{keccak256, Hash32};
use gavel_bisection::code::Program;

/// `spec/guest.toml`, compiled in: the pinned module hashes.
const GUEST_LOCK: &str = include_str!("../../spec/guest.toml");
/// `spec/opcodes.txt`, compiled in: the opcodes the machine supports.
const SUPPORTED_OPCODES: &str = include_str!("../../spec/opcodes.txt");
/// Export name prefix under which finalization exposes every global.
pub const GLOBAL_EXPORT_PREFIX: &str = "gavel.global.";

/// The pinned guest as recorded in `spec/guest.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedGuest {
    /// blake3 of the finalized module (hex).
    pub blake3: String,
    /// keccak256 of the finalized module (0x-hex); the `code` field of the state root.
    pub keccak256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Reads the pinned hashes compiled in from `spec/guest.toml`.
pub fn pinned() -> PinnedGuest {
    let field = |key: &str| -> String {
        GUEST_LOCK
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    PinnedGuest { blake3: field("blake3"), keccak256: field("keccak256"), size: field("size").parse().unwrap_or(0) }
}

/// The opcode names the step machine supports (`spec/opcodes.txt`).
pub fn supported_opcodes() -> Vec<&'static str> {
    SUPPORTED_OPCODES.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// A finalized guest module, verified against the pin unless explicitly unpinned.
#[derive(Clone)]
pub struct GuestModule {
    /// Module bytes.
    pub bytes: std::sync::Arc<Vec<u8>>,
    /// blake3 (hex).
    pub blake3: String,
    /// keccak256 of the module bytes.
    pub keccak256: Hash32,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The module lowered for the step machine (built on first use).
    program: std::sync::Arc<std::sync::OnceLock<std::result::Result<std::sync::Arc<Program>, String>>>,
}

/// Default location of the finalized guest: `$GAVEL_GUEST`, else `target/guest/gavel_guest.wasm`
/// in the workspace this binary was built from, else next to the executable.
pub fn default_guest_path() -> PathBuf {
    if let Some(p) = std::env::var_os("GAVEL_GUEST") {
        return PathBuf::from(p);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guest/gavel_guest.wasm");
    if built.exists() {
        return built;
    }
    if let Some(beside) = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("gavel_guest.wasm"))) {
        if beside.exists() {
            return beside;
        }
    }
    built
}

impl GuestModule {
    /// Loads the guest at `path` and checks it against the pinned hash (unless `allow_unpinned`).
    pub fn load(path: &Path, allow_unpinned: bool) -> Result<GuestModule> {
        let bytes = std::fs::read(path).map_err(|e| {
            RunnerError::GuestModule(format!("cannot read {} ({e}); build it with scripts/build-guest.sh or point GAVEL_GUEST at it", path.display()))
        })?;
        let module = GuestModule::from_bytes(bytes, path.to_path_buf());
        let pin = pinned();
        if !allow_unpinned && module.blake3 != pin.blake3 {
            return Err(RunnerError::GuestModule(format!(
                "{} has blake3 {} but spec/guest.toml pins {}; rebuild with scripts/build-guest.sh",
                path.display(),
                module.blake3,
                pin.blake3
            )));
        }
        Ok(module)
    }

    /// Wraps bytes without any pin check.
    pub fn from_bytes(bytes: Vec<u8>, path: PathBuf) -> GuestModule {
        let blake3 = blake3::hash(&bytes).to_hex().to_string();
        let keccak256 = keccak256(&bytes);
        GuestModule { bytes: std::sync::Arc::new(bytes), blake3, keccak256, path, program: Default::default() }
    }

    /// The module lowered for the step machine (`gavel_bisection::code`), computed once.
    pub fn program(&self) -> Result<std::sync::Arc<Program>> {
        self.program
            .get_or_init(|| Program::lower(&self.bytes).map(std::sync::Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| RunnerError::GuestModule(format!("lowering for the step machine: {e}")))
    }

    /// The code commitment in the state root: the root of the lowered code tree.
    pub fn code_root(&self) -> Result<Hash32> {
        Ok(self.program()?.root())
    }
}

/// Opcode census of a module: opcode name -> number of occurrences in code.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Census {
    /// Occurrences per opcode name (wasmparser's operator names).
    pub opcodes: BTreeMap<String, u64>,
    /// Defined functions.
    pub functions: u64,
    /// Functions whose bodies contain v128 operators or locals.
    pub simd_functions: u64,
    /// Globals.
    pub globals: u64,
    /// Code section size in bytes.
    pub code_bytes: u64,
}

impl Census {
    /// Opcodes present that the machine does not support.
    pub fn unsupported(&self) -> Vec<String> {
        let supported = supported_opcodes();
        self.opcodes.keys().filter(|k| !supported.contains(&k.as_str())).cloned().collect()
    }
}

fn op_name(op: &Operator<'_>) -> String {
    let dbg = format!("{op:?}");
    let end = dbg.find([' ', '{', '(']).unwrap_or(dbg.len());
    dbg[..end].to_string()
}

fn is_simd(op: &Operator<'_>) -> bool {
    let name = op_name(op);
    name.starts_with("V128")
        || name.starts_with("I8x16")
        || name.starts_with("I16x8")
        || name.starts_with("I32x4")
        || name.starts_with("I64x2")
        || name.starts_with("F32x4")
        || name.starts_with("F64x2")
}

fn wasm_err(e: impl std::fmt::Display) -> RunnerError {
    RunnerError::GuestModule(format!("invalid wasm: {e}"))
}

fn body_has_simd(body: &wasmparser::FunctionBody<'_>) -> Result<bool> {
    for local in body.get_locals_reader().map_err(wasm_err)? {
        let (_, ty) = local.map_err(wasm_err)?;
        if ty == wasmparser::ValType::V128 {
            return Ok(true);
        }
    }
    let mut ops = body.get_operators_reader().map_err(wasm_err)?;
    while !ops.eof() {
        if is_simd(&ops.read().map_err(wasm_err)?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Counts the opcodes of a module.
pub fn census(wasm: &[u8]) -> Result<Census> {
    let mut c = Census::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(wasm_err)? {
            Payload::GlobalSection(s) => c.globals += s.count() as u64,
            Payload::CodeSectionStart { size, .. } => c.code_bytes = size as u64,
            Payload::CodeSectionEntry(body) => {
                c.functions += 1;
                if body_has_simd(&body)? {
                    c.simd_functions += 1;
                }
                let mut ops = body.get_operators_reader().map_err(wasm_err)?;
                while !ops.eof() {
                    *c.opcodes.entry(op_name(&ops.read().map_err(wasm_err)?)).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    Ok(c)
}

fn leb_u32(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn push_section(out: &mut Vec<u8>, id: u8, contents: &[u8]) {
    out.push(id);
    leb_u32(contents.len() as u32, out);
    out.extend_from_slice(contents);
}

/// What [`finalize`] (and [`export_state`]) changed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FinalizeReport {
    /// Globals exported as `gavel.global.N`.
    pub globals_exported: u64,
    /// Custom sections dropped.
    pub custom_sections_dropped: u64,
}

/// Turns the raw cargo output into the pinned guest:
///
/// 1. it refuses any module with an opcode the step machine does not prove (`spec/opcodes.txt`:
///    the scalar instructions and fixed-width SIMD, never relaxed SIMD, threads or references);
/// 2. every global is exported as `gavel.global.<index>` so the host can hash internal globals
///    (`__stack_pointer`) into the state root;
/// 3. custom sections (names, producers, target features) are dropped: they carry build details
///    and do not affect execution.
pub fn finalize(raw: &[u8]) -> Result<(Vec<u8>, FinalizeReport)> {
    let raw_census = census(raw)?;
    let unsupported = raw_census.unsupported();
    if !unsupported.is_empty() {
        return Err(RunnerError::GuestModule(format!(
            "the module uses opcodes the step machine does not support: {} (spec/opcodes.txt)",
            unsupported.join(", ")
        )));
    }
    if !Parser::new(0).parse_all(raw).any(|p| matches!(p, Ok(Payload::ExportSection(_)))) {
        return Err(wasm_err("the guest has no export section"));
    }
    let (out, report) = export_state(raw, None)?;
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::default())
        .validate_all(&out)
        .map_err(|e| RunnerError::GuestModule(format!("finalized module does not validate: {e}")))?;
    Ok((out, report))
}

/// The module with every global exported as `gavel.global.<index>` (imported ones included) after
/// its own exports, memory 0 also exported as `memory` when that name is given and not already
/// taken by it, and custom sections dropped: what lets a host read all of a module's state.
/// [`finalize`] does this to the guest; the differential tests to every module they generate
/// (`runner/tests/differential`). A name that one of the added exports would reuse is an error.
pub fn export_state(raw: &[u8], memory: Option<&str>) -> Result<(Vec<u8>, FinalizeReport)> {
    let (mut globals, mut memories) = (0u32, 0u32);
    let mut exports: Vec<(String, u8, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(raw) {
        match payload.map_err(wasm_err)? {
            Payload::ImportSection(reader) => {
                for group in reader {
                    for item in group.map_err(wasm_err)? {
                        match item.map_err(wasm_err)?.1.ty {
                            wasmparser::TypeRef::Global(_) => globals += 1,
                            wasmparser::TypeRef::Memory(_) => memories += 1,
                            _ => {}
                        }
                    }
                }
            }
            Payload::GlobalSection(s) => globals += s.count(),
            Payload::MemorySection(s) => memories += s.count(),
            Payload::ExportSection(s) => {
                for export in s {
                    let export = export.map_err(wasm_err)?;
                    let kind = match export.kind {
                        wasmparser::ExternalKind::Func => 0,
                        wasmparser::ExternalKind::FuncExact => return Err(wasm_err("exact function exports are not supported")),
                        wasmparser::ExternalKind::Table => 1,
                        wasmparser::ExternalKind::Memory => 2,
                        wasmparser::ExternalKind::Global => 3,
                        wasmparser::ExternalKind::Tag => 4,
                    };
                    exports.push((export.name.to_string(), kind, export.index));
                }
            }
            _ => {}
        }
    }
    let mut added: Vec<(String, u8, u32)> = (0..globals).map(|g| (format!("{GLOBAL_EXPORT_PREFIX}{g}"), 3, g)).collect();
    if let Some(name) = memory.filter(|_| memories > 0) {
        if !exports.iter().any(|e| e.0 == name && e.1 == 2 && e.2 == 0) {
            added.push((name.to_string(), 2, 0));
        }
    }
    if let Some(taken) = added.iter().find(|a| exports.iter().any(|e| e.0 == a.0)) {
        return Err(wasm_err(format!("the module already exports the name {}", taken.0)));
    }
    let report = FinalizeReport { globals_exported: globals as u64, custom_sections_dropped: 0 };
    exports.extend(added);
    let mut section = Vec::new();
    leb_u32(exports.len() as u32, &mut section);
    for (name, kind, index) in &exports {
        leb_u32(name.len() as u32, &mut section);
        section.extend_from_slice(name.as_bytes());
        section.push(*kind);
        leb_u32(*index, &mut section);
    }
    let mut out = Vec::with_capacity(raw.len() + section.len());
    out.extend_from_slice(raw.get(..8).ok_or_else(|| wasm_err("module shorter than its header"))?);
    let mut report = report;
    let mut written = false;
    for payload in Parser::new(0).parse_all(raw) {
        let payload = payload.map_err(wasm_err)?;
        if let Payload::CustomSection(_) = payload {
            report.custom_sections_dropped += 1;
            continue;
        }
        let Some((id, range)) = payload.as_section() else { continue };
        // The export section stays where it was, or goes before the first section that follows
        // it (start, element, data count, code, data).
        if id == 7 || (!written && (8..=12).contains(&id)) {
            if !written {
                push_section(&mut out, 7, &section);
                written = true;
            }
            if id == 7 {
                continue;
            }
        }
        push_section(&mut out, id, &raw[range.start..range.end]);
    }
    if !written {
        push_section(&mut out, 7, &section);
    }
    Ok((out, report))
}

/// gavel's cache directory: `$GAVEL_CACHE`, else `~/.cache/gavel`, else a temporary directory.
pub fn cache_base() -> PathBuf {
    std::env::var_os("GAVEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gavel")))
        .unwrap_or_else(|| std::env::temp_dir().join("gavel-cache"))
}

/// Where compiled modules are cached: `modules/` under [`cache_base`].
pub fn cache_dir() -> PathBuf {
    cache_base().join("modules")
}

/// What a compiled module depends on besides the module: wasmtime's own hash of everything in
/// the engine's configuration that affects compiled code (its version, the Cranelift settings,
/// including the vendored `gavel_dirty_map` flag, and the wasm features), and the hash of the
/// vendored crates' sources (`build.rs`), which wasmtime cannot see.
pub fn engine_key(engine: &wasmtime::Engine) -> String {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: stable for a given toolchain, which is all a cache needs.
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}|vendor-{}", h.finish(), env!("GAVEL_VENDOR_HASH"))
}

/// Compiles `module` for `engine`, or loads the cached compilation.
///
/// The cache file is keyed by the module's blake3 and [`engine_key`]; a sidecar holds
/// the blake3 of the compiled bytes, checked before they are handed to wasmtime, so a truncated
/// or tampered cache entry is recompiled rather than trusted.
pub fn compile_cached(engine: &wasmtime::Engine, module: &GuestModule) -> Result<(wasmtime::Module, bool)> {
    let dir = cache_dir();
    let key = blake3::hash(format!("{}|{}", module.blake3, engine_key(engine)).as_bytes());
    let path = dir.join(format!("{}.cwasm", &key.to_hex()[..32]));
    let sum_path = path.with_extension("cwasm.b3");
    if let (Ok(compiled), Ok(sum)) = (std::fs::read(&path), std::fs::read_to_string(&sum_path)) {
        if blake3::hash(&compiled).to_hex().as_str() == sum.trim() {
            #[allow(unsafe_code)]
            // SAFETY: the bytes were written by `precompile_module` of this same engine
            // configuration (the key covers it) and their blake3 matches the sidecar written
            // after them; wasmtime additionally checks its own version and settings header.
            let loaded = unsafe { wasmtime::Module::deserialize(engine, &compiled) };
            match loaded {
                Ok(m) => return Ok((m, true)),
                Err(e) => tracing::warn!("ignoring unusable compiled-module cache {}: {e}", path.display()),
            }
        }
    }
    tracing::info!("compiling the guest module with Cranelift (cached afterwards)");
    let compiled = engine.precompile_module(&module.bytes).map_err(|e| RunnerError::Engine(format!("compiling the guest: {e:#}")))?;
    #[allow(unsafe_code)]
    // SAFETY: `compiled` was just produced by `precompile_module` on this engine.
    let m = unsafe { wasmtime::Module::deserialize(engine, &compiled) }.map_err(|e| RunnerError::Engine(format!("loading the compiled guest: {e:#}")))?;
    if std::fs::create_dir_all(&dir).is_ok() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let ok = std::fs::write(&tmp, &compiled).is_ok() && std::fs::rename(&tmp, &path).is_ok();
        let sum = blake3::hash(&compiled).to_hex().to_string();
        if !ok || std::fs::write(&sum_path, sum).is_err() {
            tracing::warn!("could not write the compiled-module cache in {}", dir.display());
        }
    }
    Ok((m, false))
}

/// Reads a module from disk (for `gavel guest` subcommands).
pub fn read_module(path: &Path) -> Result<Vec<u8>> {
    read_file(path)
}
