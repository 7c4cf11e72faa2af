//! A NaN-canonicalizing rewriting pass. Patch floating point arithmetic
//! instructions that may return a NaN result with a sequence of operations
//! that will replace nondeterministic NaN's with a single canonical NaN value.
//!
//! gavel: a result is canonicalized where its bits can be observed, not
//! where it is made. Operands of arithmetic instructions and of `fcmp` are
//! "blind" uses when read with the lanes the result was made with: any NaN
//! operand gives a NaN result (whose own observed uses are canonicalized) or
//! the same comparison, whatever its payload. A `bitcast` that keeps every
//! byte in place (same lane count, or little-endian) is transparent: its
//! result carries the same lanes and is followed to its own uses, so the
//! `i8x16` round trip wasmtime makes of every `v128` value held in a local
//! costs nothing. Every other use (a store, a reinterpretation with other
//! lanes, a lane extract, `fneg`/`fabs`/`fcopysign`, a select, a call, a
//! return) gets the canonical value, computed right before it. A block
//! parameter all of whose uses are blind for a result's lanes (or flow only
//! into such parameters) needs no canonical input either, so the
//! multiply-add of a loop-carried accumulator is not canonicalized in the
//! loop, only where the accumulator leaves it. Every observed value has
//! exactly the bits full canonicalization gives it. See
//! `runner/vendor/README.md`.

use crate::cursor::{Cursor, FuncCursor};
use crate::ir::condcodes::FloatCC;
use crate::ir::immediates::{Ieee16, Ieee32, Ieee64, Ieee128};
use crate::ir::types::{self, Type};
use crate::ir::{Block, BlockArg, Endianness, Function, Inst, InstBuilder, InstructionData, Opcode, Value, ValueDef};
use alloc::vec::Vec;
use cranelift_entity::{EntitySet, SecondaryMap};
use crate::opts::MemFlagsData;
use crate::timing;

/// Perform the NaN canonicalization pass.
pub fn do_nan_canonicalization(func: &mut Function, has_vector_support: bool) {
    let _tt = timing::canonicalize_nans();
    let plan = Plan::of(func);
    // Blocks this pass adds to split a `brif` edge: they hold only canonical copies.
    let mut added: EntitySet<Block> = EntitySet::new();
    let mut pos = FuncCursor::new(func);
    while let Some(block) = pos.next_block() {
        if added.contains(block) {
            continue;
        }
        while let Some(inst) = pos.next_inst() {
            canonicalize_uses(&mut pos, inst, &plan, &mut added, has_vector_support);
            if is_fp_arith(&mut pos, inst) {
                let result = pos.func.dfg.first_result(inst);
                if plan.at_def.contains(result) {
                    add_nan_canon_seq(&mut pos, inst, has_vector_support);
                }
            }
        }
    }
}

/// gavel: the lane type a value's NaNs are read with, one bit each, for
/// `Plan::observed`.
fn lanes_bit(ty: Type) -> u8 {
    match ty {
        types::F16 => 1,
        types::F32 => 2,
        types::F64 => 4,
        types::F128 => 8,
        types::F32X4 => 16,
        types::F64X2 => 32,
        _ => 64,
    }
}

const ALL_LANES: u8 = 127;

/// gavel: where each arithmetic result gets canonicalized.
struct Plan {
    /// Candidates for a canonical copy at an observing use: arithmetic results (the values stock
    /// Cranelift canonicalizes), and transparent `bitcast`s of candidates. Each with the type of
    /// the arithmetic result whose lanes it carries, and that result.
    made: SecondaryMap<Value, Option<(Type, Value)>>,
    /// Arithmetic results canonicalized where they are made, as stock Cranelift does: those
    /// passed (themselves or through bitcasts) through a `br_table` or an exception table, whose
    /// block calls may be shared.
    at_def: EntitySet<Value>,
    /// Per value, the lane types (`lanes_bit`) under which some use, directly or through
    /// transparent bitcasts and block parameters, can tell one NaN from another.
    observed: SecondaryMap<Value, u8>,
}

impl Plan {
    fn of(func: &Function) -> Plan {
        let dfg = &func.dfg;
        let values = dfg.values().len();
        let mut made = SecondaryMap::with_capacity(values);
        let mut at_def = EntitySet::with_capacity(values);
        let mut observed: SecondaryMap<Value, u8> = SecondaryMap::with_capacity(values);
        // (value, the value it flows into unchanged): transparent bitcasts, and the arguments of
        // every jump and brif with the parameters they are passed to.
        let mut flows: Vec<(Value, Value)> = Vec::new();
        let mut casts: Vec<Value> = Vec::new();
        let mut shared_args: Vec<Value> = Vec::new();
        for block in func.layout.blocks() {
            for inst in func.layout.block_insts(block) {
                let data = &dfg.insts[inst];
                if is_fp_arith_data(data) {
                    let r = dfg.first_result(inst);
                    made[r] = Some((dfg.value_type(r), r));
                }
                let cast = transparent_bitcast(func, inst);
                let blind = is_blind(func, inst);
                for &v in dfg.inst_args(inst) {
                    let v = dfg.resolve_aliases(v);
                    if let Some(result) = cast {
                        flows.push((v, result));
                        casts.push(result);
                    } else if blind {
                        observed[v] |= ALL_LANES & !lanes_bit(dfg.value_type(v));
                    } else {
                        observed[v] = ALL_LANES;
                    }
                }
                let shared = matches!(
                    data,
                    InstructionData::BranchTable { .. }
                        | InstructionData::TryCall { .. }
                        | InstructionData::TryCallIndirect { .. }
                );
                for call in data.branch_destination(&dfg.jump_tables, &dfg.exception_tables) {
                    let params = dfg.block_params(call.block(&dfg.value_lists));
                    for (i, arg) in call.args(&dfg.value_lists).enumerate() {
                        let BlockArg::Value(v) = arg else { continue };
                        let v = dfg.resolve_aliases(v);
                        match params.get(i) {
                            Some(&p) if !shared => flows.push((v, p)),
                            _ => {
                                observed[v] = ALL_LANES;
                                shared_args.push(v);
                            }
                        }
                    }
                }
            }
        }
        // Bitcasts of candidates are candidates (through the definitions: the layout need not
        // put a definition before its uses).
        for &v in &casts {
            made[v] = origin(func, v);
        }
        for v in shared_args {
            if let Some((_, root)) = made[v] {
                at_def.insert(root);
            }
        }
        // A value is observed under the lanes anything it flows into is observed under.
        let mut changed = true;
        while changed {
            changed = false;
            for &(from, to) in flows.iter().rev() {
                let m = observed[from] | observed[to];
                if m != observed[from] {
                    observed[from] = m;
                    changed = true;
                }
            }
        }
        Plan {
            made,
            at_def,
            observed,
        }
    }

    /// The lanes `v` carries if it is to be canonicalized at its observing uses.
    fn at_use(&self, v: Value) -> Option<Type> {
        match self.made[v] {
            Some((lanes, root)) if !self.at_def.contains(root) => Some(lanes),
            _ => None,
        }
    }
}

/// The arithmetic result `v` is, or is a chain of transparent bitcasts of, with its type.
fn origin(func: &Function, mut v: Value) -> Option<(Type, Value)> {
    loop {
        v = func.dfg.resolve_aliases(v);
        let ValueDef::Result(inst, 0) = func.dfg.value_def(v) else { return None };
        if is_fp_arith_data(&func.dfg.insts[inst]) {
            return Some((func.dfg.value_type(v), v));
        }
        transparent_bitcast(func, inst)?;
        v = func.dfg.inst_args(inst)[0];
    }
}

/// The result of `inst` if it is a `bitcast` that keeps every byte in place: between types of
/// the same lane count (each lane keeps its bits), or little-endian (the bytes are read as they
/// are laid out in a little-endian register, which is what the canonical copy reads them back
/// with).
fn transparent_bitcast(func: &Function, inst: Inst) -> Option<Value> {
    let InstructionData::LoadNoOffset { opcode: Opcode::Bitcast, flags, arg } = func.dfg.insts[inst] else {
        return None;
    };
    let result = func.dfg.first_result(inst);
    let same_lanes = func.dfg.value_type(arg).lane_count() == func.dfg.value_type(result).lane_count();
    let little = func.dfg.mem_flags[flags].explicit_endianness() == Some(Endianness::Little);
    (same_lanes || little).then_some(result)
}

/// Arithmetic instructions and `fcmp`: their results do not depend on a NaN
/// operand's payload beyond its being a NaN.
fn is_blind(func: &Function, inst: Inst) -> bool {
    match func.dfg.insts[inst] {
        InstructionData::FloatCompare { .. } => true,
        ref data => is_fp_arith_data(data),
    }
}

/// Whether `inst` uses its operand `v`, which carries the lanes of an arithmetic result of type
/// `lanes`, without looking at a NaN's payload.
fn blind_use(func: &Function, inst: Inst, v: Value, lanes: Type) -> bool {
    transparent_bitcast(func, inst).is_some()
        || (is_blind(func, inst) && func.dfg.value_type(v) == lanes)
}

/// Gives `inst` canonical copies of the arithmetic results it
/// observes: its own operands, and arguments it passes to observed block
/// parameters. A `jump` gets them just before it; each edge of a `brif` that
/// needs them goes through a new block that makes them, so the other edge (a
/// loop's back edge, typically) does not pay for the exit's copies.
fn canonicalize_uses(
    pos: &mut FuncCursor,
    inst: Inst,
    plan: &Plan,
    added: &mut EntitySet<Block>,
    has_vector_support: bool,
) {
    // Operands, with the lanes each carries.
    let mut wanted: Vec<(Value, Type)> = Vec::new();
    for &v in pos.func.dfg.inst_args(inst) {
        let v = pos.func.dfg.resolve_aliases(v);
        if let Some(lanes) = plan.at_use(v) {
            if !blind_use(pos.func, inst, v, lanes) && !wanted.iter().any(|&(w, _)| w == v) {
                wanted.push((v, lanes));
            }
        }
    }
    // Block arguments that feed parameters observed under their lanes: per edge, the arguments
    // and the lanes of those that need a canonical copy.
    let mut edges: Vec<(Block, Vec<BlockArg>, Vec<Option<Type>>)> = Vec::new();
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
                        BlockArg::Value(v) => plan.at_use(dfg.resolve_aliases(v)).filter(|&lanes| {
                            params
                                .get(i)
                                .map_or(true, |&p| plan.observed[p] & lanes_bit(lanes) != 0)
                        }),
                        _ => None,
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
                if let (BlockArg::Value(v), Some(lanes)) = (*arg, n) {
                    let v = pos.func.dfg.resolve_aliases(v);
                    if !wanted.iter().any(|&(w, _)| w == v) {
                        wanted.push((v, lanes));
                    }
                }
            }
        }
    }
    let canon: Vec<(Value, Value)> = wanted
        .iter()
        .map(|&(v, lanes)| (v, canonical_copy(pos, v, lanes, has_vector_support)))
        .collect();
    let lookup = |v: Value| canon.iter().find(|(from, _)| *from == v).map(|(_, to)| *to);
    if !canon.is_empty() {
        // `wanted` holds only this instruction's observing operands (a jump, whose block
        // arguments it may also hold, has no operands), so a lookup is the whole decision.
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
    if edges.iter().all(|(_, _, need)| need.iter().all(Option::is_none)) {
        return;
    }
    if is_jump {
        let replace: Vec<Option<Value>> = {
            let (_, args, need) = &edges[0];
            args.iter()
                .zip(need)
                .map(|(arg, n)| match (*arg, n) {
                    (BlockArg::Value(v), Some(_)) => lookup(pos.func.dfg.resolve_aliases(v)),
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
        if need.iter().all(Option::is_none) {
            continue;
        }
        let split = pos.func.dfg.make_block();
        added.insert(split);
        pos.func.layout.insert_block_after(split, block);
        pos.goto_bottom(split);
        let mut new_args: Vec<BlockArg> = Vec::with_capacity(args.len());
        for (arg, &n) in args.iter().zip(need) {
            match (*arg, n) {
                (BlockArg::Value(v), Some(lanes)) => {
                    let v = pos.func.dfg.resolve_aliases(v);
                    new_args.push(BlockArg::Value(canonical_copy(pos, v, lanes, has_vector_support)));
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

/// Inserts, before the cursor's instruction, the canonical copy of `val`, which carries the
/// lanes of an arithmetic result of type `lanes` (through transparent bitcasts when its own type
/// differs: the copy reads the lanes back through a little-endian bitcast and returns them the
/// same way).
fn canonical_copy(pos: &mut FuncCursor, val: Value, lanes: Type, has_vector_support: bool) -> Value {
    let ty = pos.func.dfg.value_type(val);
    if ty == lanes {
        return canonical(pos, val, has_vector_support);
    }
    let flags = if ty.lane_count() == lanes.lane_count() {
        MemFlagsData::new()
    } else {
        MemFlagsData::new().with_endianness(Endianness::Little)
    };
    let as_lanes = pos.ins().bitcast(lanes, flags, val);
    let canon = canonical(pos, as_lanes, has_vector_support);
    pos.ins().bitcast(ty, flags, canon)
}

/// Inserts, before the cursor's instruction, the canonical copy of the float value `val`.
fn canonical(pos: &mut FuncCursor, val: Value, has_vector_support: bool) -> Value {
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
