//! The worst steps of a program: a one-step proof grows with the counts its instruction carries
//! (a branch's kept and dropped slots, each popped with a 40-byte witness; a call's params; a
//! return's results; the depth of a locals tree; the globals, all opened at the first access),
//! so the largest of each in the pinned guest bounds the proof size and the verifier's gas of
//! any step the honest side may have to prove (`spec/proofs.md`, "Worst step").
//!
//! [`extremes`] reads them off the lowered code; [`worst_steps`] proves, for each, one step that
//! carries exactly that count, on a small synthetic program with the same code tree depth (every
//! proof of a code leaf has the same size, whatever the program), the same globals and the same
//! locals depths.

use std::sync::Arc;

use crate::code::{op, Instr, Program};
use crate::machine::Machine;
use crate::proof::{prove_step, BlobTrees, StepProof};
use crate::state::Status;

/// The largest counts a program's instructions carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Extremes {
    /// The branch (`br`, `br_if`, `br_unless` or a `br_table` entry) that pops the most slots:
    /// (kept, dropped).
    pub branch: (u32, u64),
    /// The most param slots of a direct or indirect call target.
    pub call_params: u32,
    /// The most result slots of a return.
    pub return_results: u32,
    /// The most entries of a `br_table`.
    pub br_table_entries: u32,
    /// The deepest locals tree of a function.
    pub locals_depth: u64,
    /// Globals (all of them are opened by the first global access of a step).
    pub globals: usize,
}

/// Reads the extremes off `program`'s code.
pub fn extremes(program: &Program) -> Extremes {
    let mut e = Extremes { globals: program.globals.len(), ..Extremes::default() };
    for i in &program.code {
        match i.op {
            op::BR | op::BR_IF | op::BR_UNLESS | op::BR_TABLE_ENTRY if u64::from(i.b) + i.c > u64::from(e.branch.0) + e.branch.1 => e.branch = (i.b, i.c),
            op::CALL | op::INVOKE => {
                e.call_params = e.call_params.max(i.b);
                e.locals_depth = e.locals_depth.max(i.c);
            }
            op::TABLE_ENTRY => {
                e.call_params = e.call_params.max(i.b);
                e.locals_depth = e.locals_depth.max(i.c & 0xff);
            }
            op::RETURN => e.return_results = e.return_results.max(i.b),
            op::BR_TABLE => e.br_table_entries = e.br_table_entries.max(i.a),
            _ => {}
        }
    }
    e
}

fn ins(op: u16, a: u32, b: u32, c: u64) -> Instr {
    Instr { op, a, b, c }
}

fn konst(v: u64) -> Instr {
    ins(op::I64_CONST, 0, 0, v)
}

/// Runs `code` from its entry until the next instruction is the `nth` (0-based) with opcode
/// `target`, and proves that step.
fn prove_at(code: Vec<Instr>, globals: Vec<(u8, u64)>, target: u16, nth: usize) -> Result<StepProof, String> {
    let program = Program::from_instructions(code, globals, 1).map_err(|e| e.to_string())?;
    let mut m = Machine::new(Arc::new(program), vec![], 8);
    let mut seen = 0;
    for _ in 0..1_000_000 {
        let (_, next) = m.next_instruction();
        if next.op == target && m.active {
            if seen == nth {
                return prove_step(&mut m, &mut BlobTrees::default()).map_err(|e| e.to_string());
            }
            seen += 1;
        }
        m.step().map_err(|e| e.to_string())?;
        if m.status != Status::Running {
            break;
        }
    }
    Err(format!("the synthetic program never reached opcode {target:#x}"))
}

/// The smallest locals depth whose tree holds `slots` slots.
fn depth_for(slots: u64) -> u64 {
    let mut d = 0;
    while 4u64.pow(d as u32) < slots.max(1) {
        d += 1;
    }
    d
}

/// One worst step: what it stands for, the count, its proof.
#[derive(Clone, Debug)]
pub struct WorstStep {
    /// What the step has the most of.
    pub what: &'static str,
    /// The count (slots, entries, depth or globals).
    pub count: u64,
    /// The proof.
    pub proof: StepProof,
}

/// One proof for each of `program`'s extremes (see the module documentation).
pub fn worst_steps(program: &Program) -> Result<Vec<WorstStep>, String> {
    let e = extremes(program);
    let globals = program.globals.clone();
    let depth = e.locals_depth.max(1);
    let enter = ins(op::INVOKE, 1, 0, depth);
    let mut out = Vec::new();

    // A branch keeping and dropping the most slots: push them all, branch to the next
    // instruction.
    let (keep, drop) = e.branch;
    let n = u64::from(keep) + drop;
    let mut code = vec![enter];
    code.extend((0..n).map(konst));
    let target = code.len() as u32 + 1;
    code.push(ins(op::BR, target, keep, drop));
    code.push(ins(op::UNREACHABLE, 0, 0, 0));
    out.push(WorstStep { what: "branch: kept + dropped slots", count: n, proof: prove_at(code, globals.clone(), op::BR, 0)? });

    // A call with the most params into the deepest locals tree.
    let params = e.call_params;
    let callee_depth = depth.max(depth_for(u64::from(params)));
    let mut code = vec![enter];
    code.extend((0..u64::from(params)).map(konst));
    let callee = code.len() as u32 + 2;
    code.push(ins(op::CALL, callee, params, callee_depth));
    code.push(ins(op::UNREACHABLE, 0, 0, 0));
    code.push(ins(op::RETURN, 0, 0, 0));
    out.push(WorstStep { what: "call: param slots", count: u64::from(params), proof: prove_at(code, globals.clone(), op::CALL, 0)? });

    // A return of the most results from a callee (depth > 0: the caller's frame is opened).
    let results = e.return_results;
    let mut code = vec![enter, ins(op::CALL, 3, 0, depth), ins(op::UNREACHABLE, 0, 0, 0)];
    code.extend((0..u64::from(results)).map(konst));
    code.push(ins(op::RETURN, 0, results, 0));
    out.push(WorstStep { what: "return: result slots", count: u64::from(results), proof: prove_at(code, globals.clone(), op::RETURN, 0)? });

    // The largest br_table, taking its default (the last entry).
    let entries = e.br_table_entries.max(1);
    let mut code = vec![enter, konst(u64::from(u32::MAX)), ins(op::BR_TABLE, entries, 0, 0)];
    let after = code.len() as u32 + entries;
    code.extend((0..entries).map(|_| ins(op::BR_TABLE_ENTRY, after, 0, 0)));
    code.push(ins(op::UNREACHABLE, 0, 0, 0));
    out.push(WorstStep { what: "br_table: entries", count: u64::from(entries), proof: prove_at(code, globals.clone(), op::BR_TABLE, 0)? });

    // A local of the deepest locals tree: the last slot, set (old value and path, new root).
    let last = (4u64.pow(depth as u32) - 1) as u32;
    let code = vec![enter, konst(7), ins(op::LOCAL_SET, last, depth as u32, 0), ins(op::UNREACHABLE, 0, 0, 0)];
    out.push(WorstStep { what: "local.set: locals tree depth", count: depth, proof: prove_at(code, globals.clone(), op::LOCAL_SET, 0)? });

    // The first global access of a step, written: every global opened and rehashed.
    if !globals.is_empty() {
        let code = vec![enter, konst(9), ins(op::GLOBAL_SET, 0, 0, 0), ins(op::UNREACHABLE, 0, 0, 0)];
        out.push(WorstStep { what: "global.set: globals", count: globals.len() as u64, proof: prove_at(code, globals.clone(), op::GLOBAL_SET, 0)? });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify_step;

    #[test]
    fn extremes_are_read_off_the_code_and_every_worst_step_verifies() {
        let code = vec![
            ins(op::INVOKE, 1, 0, 2),
            ins(op::BR, 9, 3, 5),
            ins(op::BR_TABLE_ENTRY, 9, 1, 9),
            ins(op::CALL, 1, 11, 2),
            ins(op::TABLE_ENTRY, 1, 4, 3 | 7 << 8),
            ins(op::BR_TABLE, 40, 0, 0),
            ins(op::RETURN, 0, 6, 0),
        ];
        let program = Program::from_instructions(code, vec![(0x7f, 1), (0x7e, 2)], 1).expect("program");
        let e = extremes(&program);
        assert_eq!(e, Extremes { branch: (1, 9), call_params: 11, return_results: 6, br_table_entries: 40, locals_depth: 3, globals: 2 });
        let worst = worst_steps(&program).expect("worst steps");
        assert_eq!(worst.iter().map(|w| w.count).collect::<Vec<_>>(), vec![10, 11, 6, 40, 3, 2]);
        for w in &worst {
            assert_eq!(verify_step(&w.proof.root_before, &w.proof.proof).expect(w.what), w.proof.root_after, "{}", w.what);
        }
        // The branch pops its ten slots with one 40-byte witness apiece; one that drops nothing
        // pops nothing.
        let smaller =
            worst_steps(&Program::from_instructions(vec![ins(op::INVOKE, 1, 0, 1), ins(op::BR, 3, 1, 0)], vec![], 1).expect("program")).expect("worst");
        assert_eq!(worst[0].proof.proof.len() - smaller[0].proof.proof.len(), 10 * 40);
    }
}
