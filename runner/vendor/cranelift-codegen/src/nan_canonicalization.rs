//! A NaN-canonicalizing rewriting pass. Patch floating point arithmetic
//! instructions that may return a NaN result with a sequence of operations
//! that will replace nondeterministic NaN's with a single canonical NaN value.
//!
//! gavel: a result is canonicalized where its bits can be observed, not
//! where it is made. Operands of arithmetic instructions and of `fcmp` are
//! "blind" uses: any NaN operand gives a NaN result (whose own observed uses
//! are canonicalized) or the same comparison, whatever its payload. Every
//! other use (a store, a bitcast, a lane extract, `fneg`/`fabs`/`fcopysign`,
//! a select, a call, a return) gets the canonical value, computed right
//! before it. A block parameter all of whose uses are blind (or flow only
//! into such parameters) needs no canonical input either, so the multiply-add
//! of a loop-carried accumulator is not canonicalized in the loop, only where
//! the accumulator leaves it. Every observed value has exactly the bits full
//! canonicalization gives it. See `runner/vendor/README.md`.

use crate::cursor::{Cursor, FuncCursor};
use crate::ir::condcodes::FloatCC;
use crate::ir::immediates::{Ieee16, Ieee32, Ieee64, Ieee128};
use crate::ir::types::{self};
use crate::ir::{Block, BlockArg, Function, Inst, InstBuilder, InstructionData, Opcode, Value, ValueDef};
use alloc::vec::Vec;
use cranelift_entity::EntitySet;
use crate::opts::MemFlagsData;
use crate::timing;

/// Perform the NaN canonicalization pass.
pub fn do_nan_canonicalization(func: &mut Function, has_vector_support: bool) {
    let _tt = timing::canonicalize_nans();
    let plan = Plan::of(func);
    let mut pos = FuncCursor::new(func);
    while let Some(_block) = pos.next_block() {
        while let Some(inst) = pos.next_inst() {
            if is_blind(&pos.func, inst) {
                if is_fp_arith(&mut pos, inst) {
                    let result = pos.func.dfg.first_result(inst);
                    if plan.at_def.contains(result) {
                        add_nan_canon_seq(&mut pos, inst, has_vector_support);
                    }
                }
                continue;
            }
            canonicalize_uses(&mut pos, inst, &plan, has_vector_support);
        }
    }
}

/// gavel: where each arithmetic result gets canonicalized.
struct Plan {
    /// Arithmetic results (the values stock Cranelift canonicalizes).
    made: EntitySet<Value>,
    /// Results canonicalized where they are made, as stock Cranelift does: those passed through
    /// a `br_table` or an exception table, whose block calls may be shared.
    at_def: EntitySet<Value>,
    /// Block parameters with a use that is not blind, directly or through other parameters.
    observed_params: EntitySet<Value>,
}

impl Plan {
    fn of(func: &mut Function) -> Plan {
        let values = func.dfg.values().len();
        let mut made = EntitySet::with_capacity(values);
        let mut at_def = EntitySet::with_capacity(values);
        let mut observed_params = EntitySet::with_capacity(values);
        // (argument, parameter it is passed to) for every jump and brif.
        let mut edges: Vec<(Value, Value)> = Vec::new();
        let mut pos = FuncCursor::new(func);
        while let Some(_block) = pos.next_block() {
            while let Some(inst) = pos.next_inst() {
                if is_fp_arith(&mut pos, inst) {
                    made.insert(pos.func.dfg.first_result(inst));
                }
            }
        }
        let func = pos.func;
        for block in func.layout.blocks() {
            for inst in func.layout.block_insts(block) {
                if is_blind(func, inst) {
                    continue;
                }
                let dfg = &func.dfg;
                for &v in dfg.inst_args(inst) {
                    let v = dfg.resolve_aliases(v);
                    if matches!(dfg.value_def(v), ValueDef::Param(..)) {
                        observed_params.insert(v);
                    }
                }
                let data = &dfg.insts[inst];
                let shared = matches!(
                    data,
                    InstructionData::BranchTable { .. }
                        | InstructionData::TryCall { .. }
                        | InstructionData::TryCallIndirect { .. }
                );
                for call in data.branch_destination(&dfg.jump_tables, &dfg.exception_tables) {
                    let target = call.block(&dfg.value_lists);
                    let params = dfg.block_params(target);
                    for (i, arg) in call.args(&dfg.value_lists).enumerate() {
                        let BlockArg::Value(v) = arg else { continue };
                        let v = dfg.resolve_aliases(v);
                        if shared {
                            at_def.insert(v);
                            if matches!(dfg.value_def(v), ValueDef::Param(..)) {
                                observed_params.insert(v);
                            }
                        } else if let Some(&p) = params.get(i) {
                            edges.push((v, p));
                        }
                    }
                }
            }
        }
        // A parameter is observed if any parameter it is passed to is.
        let mut changed = true;
        while changed {
            changed = false;
            for &(v, p) in &edges {
                if observed_params.contains(p)
                    && matches!(func.dfg.value_def(v), ValueDef::Param(..))
                    && !observed_params.contains(v)
                {
                    observed_params.insert(v);
                    changed = true;
                }
            }
        }
        Plan {
            made,
            at_def,
            observed_params,
        }
    }

    /// Whether `v` is an arithmetic result to be canonicalized at its observed uses.
    fn at_use(&self, v: Value) -> bool {
        self.made.contains(v) && !self.at_def.contains(v)
    }
}

/// Arithmetic instructions and `fcmp`: their results do not depend on a NaN
/// operand's payload beyond its being a NaN.
fn is_blind(func: &Function, inst: Inst) -> bool {
    match func.dfg.insts[inst] {
        InstructionData::FloatCompare { .. } => true,
        ref data => is_fp_arith_data(data),
    }
}

/// Gives `inst` (not blind) canonical copies of the arithmetic results it
/// observes: its own operands, and arguments it passes to observed block
/// parameters. A `jump` gets them just before it; each edge of a `brif` that
/// needs them goes through a new block that makes them, so the other edge (a
/// loop's back edge, typically) does not pay for the exit's copies.
fn canonicalize_uses(pos: &mut FuncCursor, inst: Inst, plan: &Plan, has_vector_support: bool) {
    // Operands.
    let mut wanted: Vec<Value> = Vec::new();
    for &v in pos.func.dfg.inst_args(inst) {
        let v = pos.func.dfg.resolve_aliases(v);
        if plan.at_use(v) && !wanted.contains(&v) {
            wanted.push(v);
        }
    }
    // Block arguments that feed observed parameters: per edge, the arguments and which of them
    // need a canonical copy.
    let mut edges: Vec<(Block, Vec<BlockArg>, Vec<bool>)> = Vec::new();
    {
        let dfg = &pos.func.dfg;
        let data = &dfg.insts[inst];
        if let InstructionData::Jump { .. } | InstructionData::Brif { .. } = data {
            for call in data.branch_destination(&dfg.jump_tables, &dfg.exception_tables) {
                let target = call.block(&dfg.value_lists);
                let params = dfg.block_params(target);
                let args: Vec<BlockArg> = call.args(&dfg.value_lists).collect();
                let need = args
                    .iter()
                    .enumerate()
                    .map(|(i, arg)| match *arg {
                        BlockArg::Value(v) => {
                            plan.at_use(dfg.resolve_aliases(v))
                                && params
                                    .get(i)
                                    .map_or(true, |&p| plan.observed_params.contains(p))
                        }
                        _ => false,
                    })
                    .collect();
                edges.push((target, args, need));
            }
        }
    }
    let is_jump = matches!(pos.func.dfg.insts[inst], InstructionData::Jump { .. });
    if is_jump {
        for (_, args, need) in &edges {
            for (arg, &n) in args.iter().zip(need) {
                if let (BlockArg::Value(v), true) = (*arg, n) {
                    let v = pos.func.dfg.resolve_aliases(v);
                    if !wanted.contains(&v) {
                        wanted.push(v);
                    }
                }
            }
        }
    }
    let canon: Vec<(Value, Value)> = wanted
        .iter()
        .map(|&v| (v, canonical_copy(pos, v, has_vector_support)))
        .collect();
    let lookup = |v: Value| canon.iter().find(|(from, _)| *from == v).map(|(_, to)| *to);
    if !canon.is_empty() {
        let dfg = &mut pos.func.dfg;
        let resolved: Vec<Value> = dfg
            .inst_args(inst)
            .iter()
            .map(|&v| dfg.resolve_aliases(v))
            .collect();
        for (slot, v) in dfg.inst_args_mut(inst).iter_mut().zip(resolved) {
            if let Some(c) = lookup(v) {
                *slot = c;
            }
        }
    }
    if edges.iter().all(|(_, _, need)| !need.contains(&true)) {
        return;
    }
    if is_jump {
        let replace: Vec<Option<Value>> = {
            let (_, args, need) = &edges[0];
            args.iter()
                .zip(need)
                .map(|(arg, &n)| match (*arg, n) {
                    (BlockArg::Value(v), true) => lookup(pos.func.dfg.resolve_aliases(v)),
                    _ => None,
                })
                .collect()
        };
        let dfg = &mut pos.func.dfg;
        let calls = dfg.insts[inst]
            .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables);
        let mut i = 0;
        calls[0].update_args(&mut dfg.value_lists, |arg| {
            let out = replace[i].map_or(arg, BlockArg::Value);
            i += 1;
            out
        });
        return;
    }
    // brif: split the edges that need copies.
    let block = pos.current_block().expect("instruction in a block");
    let saved = pos.position();
    for (j, (target, args, need)) in edges.iter().enumerate() {
        if !need.contains(&true) {
            continue;
        }
        let split = pos.func.dfg.make_block();
        pos.func.layout.insert_block_after(split, block);
        pos.goto_bottom(split);
        let mut new_args: Vec<BlockArg> = Vec::with_capacity(args.len());
        for (arg, &n) in args.iter().zip(need) {
            match (*arg, n) {
                (BlockArg::Value(v), true) => {
                    let v = pos.func.dfg.resolve_aliases(v);
                    new_args.push(BlockArg::Value(canonical_copy(pos, v, has_vector_support)));
                }
                (other, _) => new_args.push(other),
            }
        }
        pos.ins().jump(*target, new_args.iter());
        let dfg = &mut pos.func.dfg;
        let calls = dfg.insts[inst]
            .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables);
        calls[j].set_block(split, &mut dfg.value_lists);
        calls[j].clear(&mut dfg.value_lists);
    }
    pos.set_position(saved);
}

/// Inserts, before the cursor's instruction, the canonical copy of `val`.
fn canonical_copy(pos: &mut FuncCursor, val: Value, has_vector_support: bool) -> Value {
    let comparison = FloatCC::Unordered;
    let ty = pos.func.dfg.value_type(val);
    let vectorized_scalar = |pos: &mut FuncCursor, canon_nan: Value, vty: types::Type| {
        let canon_nan = pos.ins().scalar_to_vector(vty, canon_nan);
        let v = pos.ins().scalar_to_vector(vty, val);
        let is_nan = pos.ins().fcmp(comparison, v, v);
        let is_nan = pos.ins().bitcast(vty, MemFlagsData::new(), is_nan);
        let simd = pos.ins().bitselect(is_nan, canon_nan, v);
        pos.ins().extractlane(simd, 0)
    };
    let scalar = |pos: &mut FuncCursor, canon_nan: Value| {
        let is_nan = pos.ins().fcmp(comparison, val, val);
        pos.ins().select(is_nan, canon_nan, val)
    };
    let vector = |pos: &mut FuncCursor, canon_nan: Value| {
        let is_nan = pos.ins().fcmp(comparison, val, val);
        let is_nan = pos.ins().bitcast(ty, MemFlagsData::new(), is_nan);
        pos.ins().bitselect(is_nan, canon_nan, val)
    };
    match ty {
        types::F16 => {
            let canon_nan = pos.ins().f16const(Ieee16::NAN);
            scalar(pos, canon_nan)
        }
        types::F32 => {
            let canon_nan = pos.ins().f32const(Ieee32::NAN);
            if has_vector_support {
                vectorized_scalar(pos, canon_nan, types::F32X4)
            } else {
                scalar(pos, canon_nan)
            }
        }
        types::F64 => {
            let canon_nan = pos.ins().f64const(Ieee64::NAN);
            if has_vector_support {
                vectorized_scalar(pos, canon_nan, types::F64X2)
            } else {
                scalar(pos, canon_nan)
            }
        }
        types::F32X4 => {
            let canon_nan = pos.ins().f32const(Ieee32::NAN);
            let canon_nan = pos.ins().splat(types::F32X4, canon_nan);
            vector(pos, canon_nan)
        }
        types::F64X2 => {
            let canon_nan = pos.ins().f64const(Ieee64::NAN);
            let canon_nan = pos.ins().splat(types::F64X2, canon_nan);
            vector(pos, canon_nan)
        }
        types::F128 => {
            let nan_const = pos.func.dfg.constants.insert(Ieee128::NAN.into());
            let canon_nan = pos.ins().f128const(nan_const);
            scalar(pos, canon_nan)
        }
        _ => panic!("Could not canonicalize NaN: Unexpected result type found."),
    }
}

/// Returns true/false based on whether the instruction is a floating-point
/// arithmetic operation. This ignores operations like `fneg`, `fabs`, or
/// `fcopysign` that only operate on the sign bit of a floating point value.
fn is_fp_arith(pos: &mut FuncCursor, inst: Inst) -> bool {
    is_fp_arith_data(&pos.func.dfg.insts[inst])
}

fn is_fp_arith_data(data: &InstructionData) -> bool {
    match *data {
        InstructionData::Unary { opcode, .. } => {
            opcode == Opcode::Ceil
                || opcode == Opcode::Floor
                || opcode == Opcode::Nearest
                || opcode == Opcode::Sqrt
                || opcode == Opcode::Trunc
                || opcode == Opcode::Fdemote
                || opcode == Opcode::Fpromote
                || opcode == Opcode::FvpromoteLow
                || opcode == Opcode::Fvdemote
        }
        InstructionData::Binary { opcode, .. } => {
            opcode == Opcode::Fadd
                || opcode == Opcode::Fdiv
                || opcode == Opcode::Fmax
                || opcode == Opcode::Fmin
                || opcode == Opcode::Fmul
                || opcode == Opcode::Fsub
        }
        InstructionData::Ternary { opcode, .. } => opcode == Opcode::Fma,
        _ => false,
    }
}

/// Append a sequence of canonicalizing instructions after the given instruction.
fn add_nan_canon_seq(pos: &mut FuncCursor, inst: Inst, has_vector_support: bool) {
    // Select the instruction result, result type. Replace the instruction
    // result and step forward before inserting the canonicalization sequence.
    let val = pos.func.dfg.first_result(inst);
    let val_type = pos.func.dfg.value_type(val);
    let new_res = pos.func.dfg.replace_result(val, val_type);
    let _next_inst = pos.next_inst().expect("block missing terminator!");

    // Insert a comparison instruction, to check if `inst_res` is NaN (comparing
    // against NaN is always unordered). Select the canonical NaN value if `val`
    // is NaN, assign the result to `inst`.
    let comparison = FloatCC::Unordered;

    let vectorized_scalar_select = |pos: &mut FuncCursor, canon_nan: Value, ty: types::Type| {
        let canon_nan = pos.ins().scalar_to_vector(ty, canon_nan);
        let new_res = pos.ins().scalar_to_vector(ty, new_res);
        let is_nan = pos.ins().fcmp(comparison, new_res, new_res);
        let is_nan = pos.ins().bitcast(ty, MemFlagsData::new(), is_nan);
        let simd_result = pos.ins().bitselect(is_nan, canon_nan, new_res);
        pos.ins().with_result(val).extractlane(simd_result, 0);
    };
    let scalar_select = |pos: &mut FuncCursor, canon_nan: Value| {
        let is_nan = pos.ins().fcmp(comparison, new_res, new_res);
        pos.ins()
            .with_result(val)
            .select(is_nan, canon_nan, new_res);
    };

    let vector_select = |pos: &mut FuncCursor, canon_nan: Value| {
        let is_nan = pos.ins().fcmp(comparison, new_res, new_res);
        let is_nan = pos.ins().bitcast(val_type, MemFlagsData::new(), is_nan);
        pos.ins()
            .with_result(val)
            .bitselect(is_nan, canon_nan, new_res);
    };

    match val_type {
        types::F16 => {
            let canon_nan = pos.ins().f16const(Ieee16::NAN);
            scalar_select(pos, canon_nan);
        }
        types::F32 => {
            let canon_nan = pos.ins().f32const(Ieee32::NAN);
            if has_vector_support {
                vectorized_scalar_select(pos, canon_nan, types::F32X4);
            } else {
                scalar_select(pos, canon_nan);
            }
        }
        types::F64 => {
            let canon_nan = pos.ins().f64const(Ieee64::NAN);
            if has_vector_support {
                vectorized_scalar_select(pos, canon_nan, types::F64X2);
            } else {
                scalar_select(pos, canon_nan);
            }
        }
        types::F32X4 => {
            let canon_nan = pos.ins().f32const(Ieee32::NAN);
            let canon_nan = pos.ins().splat(types::F32X4, canon_nan);
            vector_select(pos, canon_nan);
        }
        types::F64X2 => {
            let canon_nan = pos.ins().f64const(Ieee64::NAN);
            let canon_nan = pos.ins().splat(types::F64X2, canon_nan);
            vector_select(pos, canon_nan);
        }
        types::F128 => {
            let nan_const = pos.func.dfg.constants.insert(Ieee128::NAN.into());
            let canon_nan = pos.ins().f128const(nan_const);
            scalar_select(pos, canon_nan);
        }
        _ => {
            // Panic if the type given was not an IEEE floating point type.
            panic!("Could not canonicalize NaN: Unexpected result type found.");
        }
    }

    pos.prev_inst(); // Step backwards so the pass does not skip instructions.
}
