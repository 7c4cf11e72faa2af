//! The step machine's code: a WebAssembly module lowered to one flat table of fixed-size
//! instructions, committed to by a Merkle tree (`spec/proofs.md`, "Code").
//!
//! Lowering resolves everything a one-step verifier should not have to search for: block
//! structure becomes absolute jump targets with the exact number of values each branch keeps and
//! drops, `if` becomes a conditional jump, direct calls carry the callee's entry point and locals
//! layout, `br_table` targets and the function table become instruction-table entries proven like
//! any instruction, and the two host imports become oracle instructions. `block`, `loop`, `nop`
//! and a block's `end` disappear (they do nothing at run time), so a step is always one lowered
//! instruction (or one bounded chunk of a bulk one).

use std::collections::HashMap;

use wasmparser::{
    BlockType, CompositeInnerType, ElementItems, ElementKind, ExternalKind, FrameKind, FuncValidatorAllocations, Operator, Parser, Payload, TypeRef, ValType,
    Validator, WasmFeatures,
};

use crate::error::{MachineError, Result};
use crate::merkle::{depth_for_leaves, Hash32};

/// Depth of the code tree: 4^12 = 16.7 M instruction slots.
pub const CODE_DEPTH: usize = 12;
/// The most instructions a module may lower to.
pub const MAX_CODE: usize = 1 << (2 * CODE_DEPTH);
/// Call depth at which a call traps (stack exhaustion, `spec/proofs.md`).
pub const MAX_CALL_DEPTH: u32 = 16_384;
/// The most locals a function may have (params included).
pub const MAX_LOCALS: u32 = 1 << 16;
/// Depth of the locals tree of a function with the most locals.
pub const MAX_LOCALS_DEPTH: usize = 8;

// `op` (every opcode number), `OPCODES` and the numeric-family predicates, generated from the
// one opcode table `spec/opcodes.toml` by `scripts/gen-opcodes.py`.
include!("opcodes.rs");

/// Instruction families: how the verifier is split (`spec/proofs.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Branches, calls, returns, table entries, `invoke`.
    Control,
    /// Stack and variable access: drop, select, locals, globals.
    Variable,
    /// Loads, stores, memory size and grow, bulk memory.
    Memory,
    /// Integer arithmetic, comparisons, conversions between integers, integer constants.
    Integer,
    /// Float arithmetic, comparisons and conversions, float constants.
    Float,
    /// The blob oracle.
    Oracle,
    /// v128 instructions (`spec/simd.md`).
    Simd,
}

/// The name of a lowered opcode (`"unknown"` for a number no instruction has).
pub fn op_name(op: u16) -> &'static str {
    OPCODES.iter().find(|o| o.0 == op).map_or("unknown", |o| o.1)
}

/// The family of a lowered opcode.
pub fn op_family(op: u16) -> Option<Family> {
    OPCODES.iter().find(|o| o.0 == op).map(|o| o.2)
}

/// One lowered instruction: an opcode and up to three immediates (meaning per opcode in
/// [`op`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Instr {
    /// Opcode ([`op`]).
    pub op: u16,
    /// First immediate.
    pub a: u32,
    /// Second immediate.
    pub b: u32,
    /// Third immediate.
    pub c: u64,
}

impl Instr {
    /// The code-tree leaf: `op u16 ‖ a u32 ‖ b u32 ‖ c u64 ‖ 14 zero bytes`, big-endian.
    pub fn leaf(&self) -> Hash32 {
        let mut l = [0u8; 32];
        l[0..2].copy_from_slice(&self.op.to_be_bytes());
        l[2..6].copy_from_slice(&self.a.to_be_bytes());
        l[6..10].copy_from_slice(&self.b.to_be_bytes());
        l[10..18].copy_from_slice(&self.c.to_be_bytes());
        l
    }

    /// Decodes a code-tree leaf (the inverse of [`Instr::leaf`]; trailing bytes are ignored, as
    /// a leaf is only ever read after it was proven against the code root).
    pub fn from_leaf(l: &Hash32) -> Instr {
        let be4 = |i: usize| u32::from_be_bytes([l[i], l[i + 1], l[i + 2], l[i + 3]]);
        let mut c = [0u8; 8];
        c.copy_from_slice(&l[10..18]);
        Instr { op: u16::from_be_bytes([l[0], l[1]]), a: be4(2), b: be4(6), c: u64::from_be_bytes(c) }
    }
}

/// A defined function's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// First instruction.
    pub entry: u32,
    /// Parameter slots (a v128 is two).
    pub params: u32,
    /// Result slots.
    pub results: u32,
    /// Param plus declared local slots.
    pub locals: u32,
    /// Depth of its locals tree.
    pub locals_depth: u8,
    /// Canonical type id (index of the first structurally equal type).
    pub type_id: u32,
    /// Parameter and result types (value type bytes).
    pub param_types: Vec<u8>,
    /// Result types.
    pub result_types: Vec<u8>,
}

/// A module lowered for the step machine.
#[derive(Clone, Debug)]
pub struct Program {
    /// The instruction table; index = program counter.
    pub code: Vec<Instr>,
    /// Defined functions, by index minus the number of imported functions.
    pub functions: Vec<Function>,
    /// Imported functions.
    pub imported_functions: u32,
    /// Exported functions by name: function index.
    pub exports: HashMap<String, u32>,
    /// Initial globals: value type byte and bits.
    pub globals: Vec<(u8, u64)>,
    /// Initial memory size in pages.
    pub memory_pages: u32,
    /// The module's maximum memory size in pages (65536 if it declares none).
    pub memory_max_pages: u32,
    /// Active data segments: offset and bytes.
    pub data: Vec<(u32, Vec<u8>)>,
    /// First instruction slot of the function table.
    pub table_base: u32,
    /// Function table length.
    pub table_len: u32,
    /// The start function, if any.
    pub start: Option<u32>,
    tree: crate::merkle::LevelTree,
}

fn bad(msg: impl Into<String>) -> MachineError {
    MachineError::Module(msg.into())
}

fn val_byte(t: ValType) -> Result<u8> {
    Ok(match t {
        ValType::I32 => 0x7f,
        ValType::I64 => 0x7e,
        ValType::F32 => 0x7d,
        ValType::F64 => 0x7c,
        ValType::V128 => V128,
        other => return Err(bad(format!("value type {other:?} is not supported by the step machine"))),
    })
}

/// The value type byte of `v128`.
pub const V128: u8 = 0x7b;

/// Stack and locals slots a value of type byte `t` takes: a `v128` is two u64 slots (low half
/// first), everything else one (`spec/simd.md`).
pub fn slots_of(t: u8) -> u32 {
    if t == V128 {
        2
    } else {
        1
    }
}

/// Slots taken by a list of value types.
pub fn slot_count(types: &[u8]) -> u32 {
    types.iter().map(|t| slots_of(*t)).sum()
}

/// Evaluates a constant expression of one `*.const` (what the step machine supports).
fn const_value(expr: &wasmparser::ConstExpr<'_>) -> Result<u64> {
    let mut reader = expr.get_operators_reader();
    let value = match reader.read().map_err(|e| bad(e.to_string()))? {
        Operator::I32Const { value } => value as u32 as u64,
        Operator::I64Const { value } => value as u64,
        Operator::F32Const { value } => value.bits() as u64,
        Operator::F64Const { value } => value.bits(),
        other => return Err(bad(format!("constant expression {other:?} is not supported"))),
    };
    Ok(value)
}

/// The WebAssembly features the step machine implements.
pub fn features() -> WasmFeatures {
    WasmFeatures::MVP
        | WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::SIMD
}

struct Ctrl {
    /// No code of this block is emitted (it starts in unreachable code).
    dead: bool,
    /// Loop: the label's target.
    loop_start: Option<u32>,
    /// Instructions whose target is this block's end.
    patches: Vec<usize>,
    /// The lowered `if`'s conditional jump, until `else` or `end` fixes its target.
    if_jump: Option<usize>,
}

/// Immediates known only once the whole module is read.
enum Patch {
    /// A direct call: `a`, `b`, `c` from function `func`'s layout.
    Call { at: usize, func: u32 },
    /// `call_indirect`: `b` = table base, `c` = table length.
    Table { at: usize },
    /// `memory.grow`: `a` = the module's maximum pages.
    Grow { at: usize },
}

impl Program {
    /// Validates and lowers a module.
    pub fn lower(bytes: &[u8]) -> Result<Program> {
        let mut validator = Validator::new_with_features(features());
        let mut types: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut type_id: Vec<u32> = Vec::new();
        let mut imports: Vec<(String, String, u32)> = Vec::new();
        let mut func_types: Vec<u32> = Vec::new();
        let mut exports = HashMap::new();
        let mut globals = Vec::new();
        let mut memory: Option<(u32, u32)> = None;
        let mut table_len: Option<u32> = None;
        let mut elements: Vec<(u32, Vec<u32>)> = Vec::new();
        let mut data = Vec::new();
        let mut start = None;
        let mut code = vec![Instr::default()];
        let mut functions: Vec<Function> = Vec::new();
        let mut patches = Vec::new();
        let mut body_index = 0usize;
        let mut allocs = FuncValidatorAllocations::default();

        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| bad(e.to_string()))?;
            let valid = validator.payload(&payload).map_err(|e| bad(e.to_string()))?;
            match payload {
                Payload::TypeSection(reader) => {
                    for rec in reader {
                        let rec = rec.map_err(|e| bad(e.to_string()))?;
                        for sub in rec.into_types() {
                            let CompositeInnerType::Func(f) = &sub.composite_type.inner else {
                                return Err(bad("non-function types are not supported"));
                            };
                            let params = f.params().iter().map(|t| val_byte(*t)).collect::<Result<Vec<_>>>()?;
                            let results = f.results().iter().map(|t| val_byte(*t)).collect::<Result<Vec<_>>>()?;
                            let id = types.iter().position(|t| *t == (params.clone(), results.clone())).unwrap_or(types.len());
                            type_id.push(id as u32);
                            types.push((params, results));
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for group in reader {
                        let group = group.map_err(|e| bad(e.to_string()))?;
                        for item in group {
                            let (_, import) = item.map_err(|e| bad(e.to_string()))?;
                            let TypeRef::Func(t) = import.ty else {
                                return Err(bad(format!("import {}.{}: only function imports are supported", import.module, import.name)));
                            };
                            if !matches!((import.module, import.name), ("gavel", "blob_len" | "blob_read")) {
                                return Err(bad(format!(
                                    "import {}.{} is not a step-machine oracle (only gavel.blob_len and gavel.blob_read)",
                                    import.module, import.name
                                )));
                            }
                            imports.push((import.module.to_string(), import.name.to_string(), t));
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for t in reader {
                        func_types.push(t.map_err(|e| bad(e.to_string()))?);
                    }
                }
                Payload::TableSection(reader) => {
                    for t in reader {
                        let t = t.map_err(|e| bad(e.to_string()))?;
                        if table_len.is_some() {
                            return Err(bad("more than one table"));
                        }
                        let len = u32::try_from(t.ty.initial).map_err(|_| bad("table too large"))?;
                        if len as usize > MAX_CODE / 2 {
                            return Err(bad("table too large"));
                        }
                        table_len = Some(len);
                    }
                }
                Payload::MemorySection(reader) => {
                    for m in reader {
                        let m = m.map_err(|e| bad(e.to_string()))?;
                        if memory.is_some() || m.memory64 || m.shared {
                            return Err(bad("only one unshared 32-bit memory is supported"));
                        }
                        let max = m.maximum.unwrap_or(65536).min(65536) as u32;
                        memory = Some((m.initial as u32, max));
                    }
                }
                Payload::GlobalSection(reader) => {
                    for g in reader {
                        let g = g.map_err(|e| bad(e.to_string()))?;
                        let t = val_byte(g.ty.content_type)?;
                        if t == V128 {
                            return Err(bad("v128 globals are not supported by the step machine"));
                        }
                        globals.push((t, const_value(&g.init_expr)?));
                    }
                }
                Payload::ExportSection(reader) => {
                    for e in reader {
                        let e = e.map_err(|e| bad(e.to_string()))?;
                        if e.kind == ExternalKind::Func {
                            exports.insert(e.name.to_string(), e.index);
                        }
                    }
                }
                Payload::StartSection { func, .. } => start = Some(func),
                Payload::ElementSection(reader) => {
                    for el in reader {
                        let el = el.map_err(|e| bad(e.to_string()))?;
                        match el.kind {
                            ElementKind::Active { table_index, offset_expr } => {
                                if table_index.unwrap_or(0) != 0 {
                                    return Err(bad("element segment for a second table"));
                                }
                                let offset = const_value(&offset_expr)? as u32;
                                let ElementItems::Functions(items) = el.items else {
                                    return Err(bad("element expressions are not supported"));
                                };
                                let funcs = items.into_iter().collect::<std::result::Result<Vec<u32>, _>>().map_err(|e| bad(e.to_string()))?;
                                elements.push((offset, funcs));
                            }
                            ElementKind::Declared => {}
                            ElementKind::Passive => return Err(bad("passive element segments are not supported")),
                        }
                    }
                }
                Payload::DataSection(reader) => {
                    for d in reader {
                        let d = d.map_err(|e| bad(e.to_string()))?;
                        match d.kind {
                            wasmparser::DataKind::Active { memory_index: 0, offset_expr } => {
                                data.push((const_value(&offset_expr)? as u32, d.data.to_vec()));
                            }
                            _ => return Err(bad("passive data segments are not supported")),
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let wasmparser::ValidPayload::Func(to_validate, _) = valid else {
                        return Err(bad("code entry without validator"));
                    };
                    let mut fv = to_validate.into_validator(std::mem::take(&mut allocs));
                    let t = *func_types.get(body_index).ok_or_else(|| bad("more bodies than functions"))?;
                    let (params, results) = types.get(t as usize).cloned().ok_or_else(|| bad("function type index"))?;
                    let entry = code.len() as u32;
                    // Slot index of every WebAssembly local (a v128 takes two slots).
                    let mut local_slots: Vec<(u32, bool)> = Vec::new();
                    let mut nlocals = 0u64;
                    for t in &params {
                        local_slots.push((nlocals as u32, *t == V128));
                        nlocals += slots_of(*t) as u64;
                    }
                    let mut locals_reader = body.get_locals_reader().map_err(|e| bad(e.to_string()))?;
                    for _ in 0..locals_reader.get_count() {
                        let offset = locals_reader.original_position();
                        let (count, ty) = locals_reader.read().map_err(|e| bad(e.to_string()))?;
                        fv.define_locals(offset, count, ty).map_err(|e| bad(e.to_string()))?;
                        let t = val_byte(ty)?;
                        let width = slots_of(t) as u64;
                        if nlocals + count as u64 * width > MAX_LOCALS as u64 {
                            return Err(bad(format!("a function has more than {MAX_LOCALS} local slots; at most {MAX_LOCALS} are supported")));
                        }
                        for _ in 0..count {
                            local_slots.push((nlocals as u32, t == V128));
                            nlocals += width;
                        }
                    }
                    if nlocals > MAX_LOCALS as u64 {
                        return Err(bad(format!("a function has {nlocals} local slots; at most {MAX_LOCALS} are supported")));
                    }
                    let depth = depth_for_leaves(nlocals as usize) as u8;
                    let layout = Function {
                        entry,
                        params: slot_count(&params),
                        results: slot_count(&results),
                        locals: nlocals as u32,
                        locals_depth: depth,
                        type_id: type_id.get(t as usize).copied().unwrap_or(u32::MAX),
                        param_types: params,
                        result_types: results,
                    };
                    let mut lowering = Lowering {
                        code: &mut code,
                        ctrl: Vec::new(),
                        depth,
                        types: &types,
                        type_id: &type_id,
                        imports: &imports,
                        results: layout.results,
                        patches: &mut patches,
                        local_slots,
                    };
                    lowering.ctrl.push(Ctrl { dead: false, loop_start: None, patches: Vec::new(), if_jump: None });
                    let mut ops = body.get_operators_reader().map_err(|e| bad(e.to_string()))?;
                    while !ops.eof() {
                        let offset = ops.original_position();
                        let operator = ops.read().map_err(|e| bad(e.to_string()))?;
                        lowering.lower(&fv, &operator)?;
                        fv.op(offset, &operator).map_err(|e| bad(e.to_string()))?;
                        if lowering.code.len() > MAX_CODE {
                            return Err(bad("the module lowers to more instructions than the code tree holds"));
                        }
                    }
                    ops.finish().map_err(|e| bad(e.to_string()))?;
                    allocs = fv.into_allocations();
                    functions.push(layout);
                    body_index += 1;
                }
                _ => {}
            }
        }

        let imported = imports.len() as u32;
        let table_base = code.len() as u32;
        let table_len = table_len.unwrap_or(0);
        let (memory_pages, memory_max_pages) = memory.unwrap_or((0, 0));
        for patch in patches {
            match patch {
                Patch::Call { at, func } => {
                    let f = func.checked_sub(imported).and_then(|i| functions.get(i as usize)).ok_or_else(|| bad("call target"))?;
                    code[at].a = f.entry;
                    code[at].b = f.params;
                    code[at].c = f.locals_depth as u64;
                }
                Patch::Table { at } => {
                    code[at].b = table_base;
                    code[at].c = table_len as u64;
                }
                Patch::Grow { at } => code[at].a = memory_max_pages,
            }
        }
        if let Some(&f) = exports.get("gavel_step") {
            let func = f.checked_sub(imported).and_then(|i| functions.get(i as usize));
            if let Some(func) = func.filter(|f| f.params == 0 && f.result_types == [0x7f]) {
                code[0] = Instr { op: op::INVOKE, a: func.entry, b: 0, c: func.locals_depth as u64 };
            }
        }
        code.resize(code.len() + table_len as usize, Instr::default());
        for (offset, funcs) in elements {
            // The whole segment is bounds-checked, even an empty one: an active segment that
            // ends past the table traps at instantiation (found by the production-engine
            // differential, `runner/tests/differential`: an empty segment at an offset past the
            // table was accepted here and trapped in wasmtime).
            if offset as u64 + funcs.len() as u64 > table_len as u64 {
                return Err(bad("element segment outside the table"));
            }
            for (k, f) in funcs.into_iter().enumerate() {
                let slot = (offset as u64) + k as u64;
                if slot >= table_len as u64 {
                    return Err(bad("element segment outside the table"));
                }
                let Some(func) = f.checked_sub(imported).and_then(|i| functions.get(i as usize)) else {
                    return Err(bad("imported functions in the table are not supported"));
                };
                code[table_base as usize + slot as usize] =
                    Instr { op: op::TABLE_ENTRY, a: func.entry, b: func.params, c: func.locals_depth as u64 | (func.type_id as u64) << 8 };
            }
        }
        if code.len() > MAX_CODE {
            return Err(bad("the module lowers to more instructions than the code tree holds"));
        }
        for (offset, bytes) in &data {
            if *offset as u64 + bytes.len() as u64 > memory_pages as u64 * 65536 {
                return Err(bad("data segment outside the initial memory"));
            }
        }
        let leaves: Vec<Hash32> = code.iter().map(Instr::leaf).collect();
        let tree = crate::merkle::LevelTree::build(leaves, CODE_DEPTH);
        Ok(Program {
            code,
            functions,
            imported_functions: imported,
            exports,
            globals,
            memory_pages,
            memory_max_pages,
            data,
            table_base,
            table_len,
            start,
            tree,
        })
    }

    /// A program from an instruction table as is, without a module: for property tests of the
    /// machine and verifier on arbitrary (even meaningless) code. Slot 0 is whatever `code[0]`
    /// is; no functions, no table.
    pub fn from_instructions(code: Vec<Instr>, globals: Vec<(u8, u64)>, memory_pages: u32) -> Result<Program> {
        if code.len() > MAX_CODE {
            return Err(bad("more instructions than the code tree holds"));
        }
        let tree = crate::merkle::LevelTree::build(code.iter().map(Instr::leaf).collect(), CODE_DEPTH);
        Ok(Program {
            code,
            functions: Vec::new(),
            imported_functions: 0,
            exports: HashMap::new(),
            globals,
            memory_pages,
            memory_max_pages: 65536,
            data: Vec::new(),
            table_base: 0,
            table_len: 0,
            start: None,
            tree,
        })
    }

    /// The code commitment: root of the depth-[`CODE_DEPTH`] tree over the instruction leaves.
    pub fn root(&self) -> Hash32 {
        self.tree.root()
    }

    /// The function with module index `index`, if it is defined (not imported).
    pub fn function(&self, index: u32) -> Option<&Function> {
        index.checked_sub(self.imported_functions).and_then(|i| self.functions.get(i as usize))
    }

    /// Initial linear memory: zeros with the data segments applied.
    pub fn initial_memory(&self) -> Vec<u8> {
        let mut mem = vec![0u8; self.memory_pages as usize * 65536];
        for (offset, bytes) in &self.data {
            mem[*offset as usize..*offset as usize + bytes.len()].copy_from_slice(bytes);
        }
        mem
    }

    /// A Merkle proof for instruction `pc` (3 × [`CODE_DEPTH`] hashes).
    pub fn proof(&self, pc: u32) -> Vec<Hash32> {
        self.tree.proof(pc as usize)
    }
}

struct Lowering<'a> {
    code: &'a mut Vec<Instr>,
    ctrl: Vec<Ctrl>,
    depth: u8,
    types: &'a [(Vec<u8>, Vec<u8>)],
    type_id: &'a [u32],
    imports: &'a [(String, String, u32)],
    results: u32,
    patches: &'a mut Vec<Patch>,
    /// Slot index and "is v128" of every local of the function being lowered.
    local_slots: Vec<(u32, bool)>,
}

impl Lowering<'_> {
    fn emit(&mut self, op: u16, a: u32, b: u32, c: u64) -> usize {
        self.code.push(Instr { op, a, b, c });
        self.code.len() - 1
    }

    /// Params and results of a block type, as (values, slots) each.
    fn block_arity(&self, bt: BlockType) -> Result<((u32, u32), (u32, u32))> {
        Ok(match bt {
            BlockType::Empty => ((0, 0), (0, 0)),
            BlockType::Type(t) => ((0, 0), (1, slots_of(val_byte(t)?))),
            BlockType::FuncType(t) => {
                let (p, r) = self.types.get(t as usize).ok_or_else(|| bad("block type index"))?;
                ((p.len() as u32, slot_count(p)), (r.len() as u32, slot_count(r)))
            }
        })
    }

    /// The type byte of the operand `depth` values below the top of the validator's stack.
    fn operand(&self, fv: &wasmparser::FuncValidator<wasmparser::ValidatorResources>, depth: usize) -> Result<u8> {
        match fv.get_operand_type(depth) {
            Some(Some(t)) => val_byte(t),
            _ => Err(bad("operand type unknown in reachable code")),
        }
    }

    /// Slots of the `n` operands starting `skip` values below the top.
    fn operand_slots(&self, fv: &wasmparser::FuncValidator<wasmparser::ValidatorResources>, skip: u32, n: u32) -> Result<u64> {
        let mut total = 0u64;
        for i in 0..n {
            total += slots_of(self.operand(fv, (skip + i) as usize)?) as u64;
        }
        Ok(total)
    }

    /// The local's slot and whether it is a v128.
    fn local(&self, index: u32) -> Result<(u32, bool)> {
        self.local_slots.get(index as usize).copied().ok_or_else(|| bad("local index"))
    }

    /// Index into `ctrl` of the block `depth` labels out.
    fn label(&self, depth: u32) -> Result<usize> {
        self.ctrl.len().checked_sub(1 + depth as usize).ok_or_else(|| bad("branch depth"))
    }

    /// Target, keep and drop (in slots) of a branch to label `depth`, taken with `skip` values
    /// (the branch's own operands) above the values it carries. Returns the target pc (0 with
    /// the patch registered on the label's block when it is not known yet).
    fn branch(&mut self, fv: &wasmparser::FuncValidator<wasmparser::ValidatorResources>, depth: u32, skip: u32, at: usize) -> Result<(u32, u32, u64)> {
        let frame = fv.get_control_frame(depth as usize).ok_or_else(|| bad("branch depth"))?;
        let (params, results) = self.block_arity(frame.block_type)?;
        let n = self.label(depth)?;
        let ((keep_values, keep), target) = if frame.kind == FrameKind::Loop {
            (params, self.ctrl[n].loop_start.unwrap_or(0))
        } else {
            self.ctrl[n].patches.push(at);
            (results, 0)
        };
        let height = (fv.operand_stack_height() as u64).checked_sub(skip as u64).ok_or_else(|| bad("stack height"))?;
        let drop_values = height.checked_sub(frame.height as u64 + keep_values as u64).ok_or_else(|| bad("stack height"))?;
        let drop = self.operand_slots(fv, skip + keep_values, drop_values as u32)?;
        Ok((target, keep, drop))
    }

    fn lower(&mut self, fv: &wasmparser::FuncValidator<wasmparser::ValidatorResources>, o: &Operator<'_>) -> Result<()> {
        use Operator as O;
        let reachable = !fv.get_control_frame(0).map(|f| f.unreachable).unwrap_or(true);
        let dead = self.ctrl.last().map(|c| c.dead).unwrap_or(true);
        match o {
            O::Block { .. } | O::Loop { .. } | O::If { .. } => {
                let is_dead = dead || !reachable;
                let pc = self.code.len() as u32;
                let mut ctrl = Ctrl { dead: is_dead, loop_start: matches!(o, O::Loop { .. }).then_some(pc), patches: Vec::new(), if_jump: None };
                if matches!(o, O::If { .. }) && !is_dead {
                    ctrl.if_jump = Some(self.emit(op::BR_UNLESS, 0, 0, 0));
                }
                self.ctrl.push(ctrl);
                return Ok(());
            }
            O::Else => {
                let top = self.ctrl.len() - 1;
                if self.ctrl[top].dead {
                    return Ok(());
                }
                if reachable {
                    let at = self.emit(op::BR, 0, 0, 0);
                    self.ctrl[top].patches.push(at);
                }
                let here = self.code.len() as u32;
                if let Some(j) = self.ctrl[top].if_jump.take() {
                    self.code[j].a = here;
                }
                return Ok(());
            }
            O::End => {
                let ctrl = self.ctrl.pop().ok_or_else(|| bad("unbalanced end"))?;
                if self.ctrl.is_empty() {
                    // The function's end: every branch to the function label lands on a return.
                    let here = self.emit(op::RETURN, 0, self.results, 0) as u32;
                    for p in ctrl.patches {
                        self.code[p].a = here;
                    }
                    return Ok(());
                }
                if ctrl.dead {
                    return Ok(());
                }
                let here = self.code.len() as u32;
                for p in ctrl.patches {
                    self.code[p].a = here;
                }
                if let Some(j) = ctrl.if_jump {
                    self.code[j].a = here;
                }
                return Ok(());
            }
            _ => {}
        }
        if dead || !reachable {
            return Ok(());
        }
        let d = self.depth as u32;
        match o {
            O::Nop => {}
            O::Unreachable => {
                self.emit(op::UNREACHABLE, 0, 0, 0);
            }
            O::Br { relative_depth } => {
                let at = self.emit(op::BR, 0, 0, 0);
                let (t, k, dr) = self.branch(fv, *relative_depth, 0, at)?;
                self.code[at] = Instr { op: op::BR, a: t, b: k, c: dr };
            }
            O::BrIf { relative_depth } => {
                let at = self.emit(op::BR_IF, 0, 0, 0);
                let (t, k, dr) = self.branch(fv, *relative_depth, 1, at)?;
                self.code[at] = Instr { op: op::BR_IF, a: t, b: k, c: dr };
            }
            O::BrTable { targets } => {
                let list: Vec<u32> = targets.targets().collect::<std::result::Result<_, _>>().map_err(|e| bad(e.to_string()))?;
                let n = list.len() as u32 + 1;
                self.emit(op::BR_TABLE, n, 0, 0);
                for depth in list.into_iter().chain(std::iter::once(targets.default())) {
                    let at = self.emit(op::BR_TABLE_ENTRY, 0, 0, 0);
                    let (t, k, dr) = self.branch(fv, depth, 1, at)?;
                    self.code[at] = Instr { op: op::BR_TABLE_ENTRY, a: t, b: k, c: dr };
                }
            }
            O::Return => {
                self.emit(op::RETURN, 0, self.results, 0);
            }
            O::Call { function_index } => {
                let f = *function_index;
                if let Some((module, name, _)) = self.imports.get(f as usize) {
                    match (module.as_str(), name.as_str()) {
                        ("gavel", "blob_len") => {
                            self.emit(op::BLOB_LEN, 0, 0, 0);
                        }
                        ("gavel", "blob_read") => {
                            self.emit(op::BLOB_READ, 0, 0, 0);
                            self.emit(op::BLOB_READ_CHUNK, 0, 0, 0);
                        }
                        _ => return Err(bad(format!("import {module}.{name} is not a step-machine oracle"))),
                    }
                    let t = self.imports[f as usize].2;
                    let expect: (&[u8], &[u8]) = match name.as_str() {
                        "blob_len" => (&[0x7f], &[0x7e]),
                        _ => (&[0x7f, 0x7e, 0x7f, 0x7f], &[0x7f]),
                    };
                    let (p, r) = self.types.get(t as usize).ok_or_else(|| bad("import type"))?;
                    if (p.as_slice(), r.as_slice()) != expect {
                        return Err(bad(format!("import gavel.{name} has the wrong signature")));
                    }
                } else {
                    let at = self.emit(op::CALL, 0, 0, 0);
                    self.patches.push(Patch::Call { at, func: f });
                }
            }
            O::CallIndirect { type_index, table_index } => {
                if *table_index != 0 {
                    return Err(bad("call_indirect through a second table"));
                }
                let id = *self.type_id.get(*type_index as usize).ok_or_else(|| bad("type index"))?;
                self.emit(op::CALL_INDIRECT, id, 0, 0);
                // `b` (table base) and `c` (table length) are set once the table is laid out.
                let at = self.code.len() - 1;
                self.patches.push(Patch::Table { at });
            }
            O::Drop => {
                for _ in 0..slots_of(self.operand(fv, 0)?) {
                    self.emit(op::DROP, 0, 0, 0);
                }
            }
            O::Select | O::TypedSelect { .. } => {
                if self.operand(fv, 1)? == V128 {
                    self.emit(op::SELECT_V128, 0, 0, 0);
                } else {
                    self.emit(op::SELECT, 0, 0, 0);
                }
            }
            // A v128 local is two slots: get pushes low then high, set pops high then low.
            O::LocalGet { local_index } => {
                let (slot, wide) = self.local(*local_index)?;
                self.emit(op::LOCAL_GET, slot, d, 0);
                if wide {
                    self.emit(op::LOCAL_GET, slot + 1, d, 0);
                }
            }
            O::LocalSet { local_index } => {
                let (slot, wide) = self.local(*local_index)?;
                if wide {
                    self.emit(op::LOCAL_SET, slot + 1, d, 0);
                }
                self.emit(op::LOCAL_SET, slot, d, 0);
            }
            O::LocalTee { local_index } => {
                let (slot, wide) = self.local(*local_index)?;
                if wide {
                    self.emit(op::LOCAL_SET, slot + 1, d, 0);
                    self.emit(op::LOCAL_TEE, slot, d, 0);
                    self.emit(op::LOCAL_GET, slot + 1, d, 0);
                } else {
                    self.emit(op::LOCAL_TEE, slot, d, 0);
                }
            }
            O::V128Const { value } => {
                let v = value.i128() as u128;
                self.emit(op::I64_CONST, 0, 0, v as u64);
                self.emit(op::I64_CONST, 0, 0, (v >> 64) as u64);
            }
            O::I8x16Shuffle { lanes } => {
                let w = |i: usize| u32::from_le_bytes([lanes[i], lanes[i + 1], lanes[i + 2], lanes[i + 3]]);
                let mut c = [0u8; 8];
                c.copy_from_slice(&lanes[8..16]);
                self.emit(crate::simd::I8X16_SHUFFLE, w(0), w(4), u64::from_le_bytes(c));
            }
            O::GlobalGet { global_index } => {
                self.emit(op::GLOBAL_GET, *global_index, 0, 0);
            }
            O::GlobalSet { global_index } => {
                self.emit(op::GLOBAL_SET, *global_index, 0, 0);
            }
            O::MemorySize { mem: 0 } => {
                self.emit(op::MEMORY_SIZE, 0, 0, 0);
            }
            O::MemoryGrow { mem: 0 } => {
                self.emit(op::MEMORY_GROW, 0, 0, 0);
                let at = self.code.len() - 1;
                self.patches.push(Patch::Grow { at });
            }
            O::I32Const { value } => {
                self.emit(op::I32_CONST, 0, 0, *value as u32 as u64);
            }
            O::I64Const { value } => {
                self.emit(op::I64_CONST, 0, 0, *value as u64);
            }
            O::F32Const { value } => {
                self.emit(op::F32_CONST, 0, 0, value.bits() as u64);
            }
            O::F64Const { value } => {
                self.emit(op::F64_CONST, 0, 0, value.bits());
            }
            O::MemoryCopy { dst_mem: 0, src_mem: 0 } => {
                self.emit(op::MEMORY_COPY, 0, 0, 0);
            }
            O::MemoryFill { mem: 0 } => {
                self.emit(op::MEMORY_FILL, 0, 0, 0);
            }
            other => {
                if let Some((opcode, a, b)) = crate::simd::lower(other) {
                    self.emit(opcode, a, b, 0);
                    return Ok(());
                }
                let (opcode, offset) = simple_opcode(other).ok_or_else(|| bad(format!("operator {other:?} is not supported by the step machine")))?;
                self.emit(opcode, offset, 0, 0);
            }
        }
        Ok(())
    }
}

/// Opcode (and memory offset) of a load, store or numeric operator.
fn simple_opcode(o: &Operator<'_>) -> Option<(u16, u32)> {
    use Operator as O;
    let mem = |m: &wasmparser::MemArg| -> Option<u32> { (m.memory == 0).then(|| u32::try_from(m.offset).ok()).flatten() };
    Some(match o {
        O::I32Load { memarg } => (0x28, mem(memarg)?),
        O::I64Load { memarg } => (0x29, mem(memarg)?),
        O::F32Load { memarg } => (0x2a, mem(memarg)?),
        O::F64Load { memarg } => (0x2b, mem(memarg)?),
        O::I32Load8S { memarg } => (0x2c, mem(memarg)?),
        O::I32Load8U { memarg } => (0x2d, mem(memarg)?),
        O::I32Load16S { memarg } => (0x2e, mem(memarg)?),
        O::I32Load16U { memarg } => (0x2f, mem(memarg)?),
        O::I64Load8S { memarg } => (0x30, mem(memarg)?),
        O::I64Load8U { memarg } => (0x31, mem(memarg)?),
        O::I64Load16S { memarg } => (0x32, mem(memarg)?),
        O::I64Load16U { memarg } => (0x33, mem(memarg)?),
        O::I64Load32S { memarg } => (0x34, mem(memarg)?),
        O::I64Load32U { memarg } => (0x35, mem(memarg)?),
        O::I32Store { memarg } => (0x36, mem(memarg)?),
        O::I64Store { memarg } => (0x37, mem(memarg)?),
        O::F32Store { memarg } => (0x38, mem(memarg)?),
        O::F64Store { memarg } => (0x39, mem(memarg)?),
        O::I32Store8 { memarg } => (0x3a, mem(memarg)?),
        O::I32Store16 { memarg } => (0x3b, mem(memarg)?),
        O::I64Store8 { memarg } => (0x3c, mem(memarg)?),
        O::I64Store16 { memarg } => (0x3d, mem(memarg)?),
        O::I64Store32 { memarg } => (0x3e, mem(memarg)?),
        O::I32Eqz => (0x45, 0),
        O::I32Eq => (0x46, 0),
        O::I32Ne => (0x47, 0),
        O::I32LtS => (0x48, 0),
        O::I32LtU => (0x49, 0),
        O::I32GtS => (0x4a, 0),
        O::I32GtU => (0x4b, 0),
        O::I32LeS => (0x4c, 0),
        O::I32LeU => (0x4d, 0),
        O::I32GeS => (0x4e, 0),
        O::I32GeU => (0x4f, 0),
        O::I64Eqz => (0x50, 0),
        O::I64Eq => (0x51, 0),
        O::I64Ne => (0x52, 0),
        O::I64LtS => (0x53, 0),
        O::I64LtU => (0x54, 0),
        O::I64GtS => (0x55, 0),
        O::I64GtU => (0x56, 0),
        O::I64LeS => (0x57, 0),
        O::I64LeU => (0x58, 0),
        O::I64GeS => (0x59, 0),
        O::I64GeU => (0x5a, 0),
        O::F32Eq => (0x5b, 0),
        O::F32Ne => (0x5c, 0),
        O::F32Lt => (0x5d, 0),
        O::F32Gt => (0x5e, 0),
        O::F32Le => (0x5f, 0),
        O::F32Ge => (0x60, 0),
        O::F64Eq => (0x61, 0),
        O::F64Ne => (0x62, 0),
        O::F64Lt => (0x63, 0),
        O::F64Gt => (0x64, 0),
        O::F64Le => (0x65, 0),
        O::F64Ge => (0x66, 0),
        O::I32Clz => (0x67, 0),
        O::I32Ctz => (0x68, 0),
        O::I32Popcnt => (0x69, 0),
        O::I32Add => (0x6a, 0),
        O::I32Sub => (0x6b, 0),
        O::I32Mul => (0x6c, 0),
        O::I32DivS => (0x6d, 0),
        O::I32DivU => (0x6e, 0),
        O::I32RemS => (0x6f, 0),
        O::I32RemU => (0x70, 0),
        O::I32And => (0x71, 0),
        O::I32Or => (0x72, 0),
        O::I32Xor => (0x73, 0),
        O::I32Shl => (0x74, 0),
        O::I32ShrS => (0x75, 0),
        O::I32ShrU => (0x76, 0),
        O::I32Rotl => (0x77, 0),
        O::I32Rotr => (0x78, 0),
        O::I64Clz => (0x79, 0),
        O::I64Ctz => (0x7a, 0),
        O::I64Popcnt => (0x7b, 0),
        O::I64Add => (0x7c, 0),
        O::I64Sub => (0x7d, 0),
        O::I64Mul => (0x7e, 0),
        O::I64DivS => (0x7f, 0),
        O::I64DivU => (0x80, 0),
        O::I64RemS => (0x81, 0),
        O::I64RemU => (0x82, 0),
        O::I64And => (0x83, 0),
        O::I64Or => (0x84, 0),
        O::I64Xor => (0x85, 0),
        O::I64Shl => (0x86, 0),
        O::I64ShrS => (0x87, 0),
        O::I64ShrU => (0x88, 0),
        O::I64Rotl => (0x89, 0),
        O::I64Rotr => (0x8a, 0),
        O::F32Abs => (0x8b, 0),
        O::F32Neg => (0x8c, 0),
        O::F32Ceil => (0x8d, 0),
        O::F32Floor => (0x8e, 0),
        O::F32Trunc => (0x8f, 0),
        O::F32Nearest => (0x90, 0),
        O::F32Sqrt => (0x91, 0),
        O::F32Add => (0x92, 0),
        O::F32Sub => (0x93, 0),
        O::F32Mul => (0x94, 0),
        O::F32Div => (0x95, 0),
        O::F32Min => (0x96, 0),
        O::F32Max => (0x97, 0),
        O::F32Copysign => (0x98, 0),
        O::F64Abs => (0x99, 0),
        O::F64Neg => (0x9a, 0),
        O::F64Ceil => (0x9b, 0),
        O::F64Floor => (0x9c, 0),
        O::F64Trunc => (0x9d, 0),
        O::F64Nearest => (0x9e, 0),
        O::F64Sqrt => (0x9f, 0),
        O::F64Add => (0xa0, 0),
        O::F64Sub => (0xa1, 0),
        O::F64Mul => (0xa2, 0),
        O::F64Div => (0xa3, 0),
        O::F64Min => (0xa4, 0),
        O::F64Max => (0xa5, 0),
        O::F64Copysign => (0xa6, 0),
        O::I32WrapI64 => (0xa7, 0),
        O::I32TruncF32S => (0xa8, 0),
        O::I32TruncF32U => (0xa9, 0),
        O::I32TruncF64S => (0xaa, 0),
        O::I32TruncF64U => (0xab, 0),
        O::I64ExtendI32S => (0xac, 0),
        O::I64ExtendI32U => (0xad, 0),
        O::I64TruncF32S => (0xae, 0),
        O::I64TruncF32U => (0xaf, 0),
        O::I64TruncF64S => (0xb0, 0),
        O::I64TruncF64U => (0xb1, 0),
        O::F32ConvertI32S => (0xb2, 0),
        O::F32ConvertI32U => (0xb3, 0),
        O::F32ConvertI64S => (0xb4, 0),
        O::F32ConvertI64U => (0xb5, 0),
        O::F32DemoteF64 => (0xb6, 0),
        O::F64ConvertI32S => (0xb7, 0),
        O::F64ConvertI32U => (0xb8, 0),
        O::F64ConvertI64S => (0xb9, 0),
        O::F64ConvertI64U => (0xba, 0),
        O::F64PromoteF32 => (0xbb, 0),
        O::I32ReinterpretF32 => (0xbc, 0),
        O::I64ReinterpretF64 => (0xbd, 0),
        O::F32ReinterpretI32 => (0xbe, 0),
        O::F64ReinterpretI64 => (0xbf, 0),
        O::I32Extend8S => (0xc0, 0),
        O::I32Extend16S => (0xc1, 0),
        O::I64Extend8S => (0xc2, 0),
        O::I64Extend16S => (0xc3, 0),
        O::I64Extend32S => (0xc4, 0),
        O::I32TruncSatF32S => (0xfc00, 0),
        O::I32TruncSatF32U => (0xfc01, 0),
        O::I32TruncSatF64S => (0xfc02, 0),
        O::I32TruncSatF64U => (0xfc03, 0),
        O::I64TruncSatF32S => (0xfc04, 0),
        O::I64TruncSatF32U => (0xfc05, 0),
        O::I64TruncSatF64S => (0xfc06, 0),
        O::I64TruncSatF64U => (0xfc07, 0),
        _ => return None,
    })
}
