//! The one definition of what a step does.
//!
//! [`execute`] runs one lowered instruction against a [`StepContext`]: the concrete machine
//! implements it over plain vectors (fast interpretation), the prover over the same vectors while
//! recording every value it reads together with its Merkle witness, and the verifier over the
//! witnesses of a proof, checking each against the state root. Because all three run this same
//! function, the order in which a step reads and writes state *is* the proof layout
//! (`spec/proofs.md`).

use crate::code::{op, Instr, MAX_CALL_DEPTH};
use crate::machine::Trap;
use crate::numeric;
use crate::state::Status;

/// Bytes per memory leaf; bulk instructions move at most one destination leaf per step.
pub const LEAF: u64 = 32;
/// WebAssembly page size.
pub const PAGE: u64 = 65536;

/// Where a step leaves the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Continue at this pc.
    Next(u32),
    /// The step trapped: the macro-step ends with status `trapped` (state unchanged otherwise).
    Trap(Trap),
    /// The outermost function returned: the macro-step ends with this status.
    Exit(Status),
}

/// State access during one step. Errors (`E`) mean "this proof is invalid" for the verifier and
/// never happen for a concrete machine running validated code.
pub trait StepContext {
    /// Why a step could not be executed (bad proof, internal inconsistency).
    type Error;
    /// Pops the top value of the current frame's operand stack.
    fn pop(&mut self) -> Result<u64, Self::Error>;
    /// Pushes onto the current frame's operand stack.
    fn push(&mut self, v: u64) -> Result<(), Self::Error>;
    /// Reads local `index` of the current frame (its locals tree has depth `depth`).
    fn local(&mut self, index: u32, depth: u8) -> Result<u64, Self::Error>;
    /// Writes local `index` of the current frame.
    fn set_local(&mut self, index: u32, depth: u8, v: u64) -> Result<(), Self::Error>;
    /// Reads global `index`.
    fn global(&mut self, index: u32) -> Result<u64, Self::Error>;
    /// Writes global `index`.
    fn set_global(&mut self, index: u32, v: u64) -> Result<(), Self::Error>;
    /// Current memory size in pages.
    fn memory_pages(&self) -> u32;
    /// The memory limit in pages (header field).
    fn memory_limit_pages(&self) -> u32;
    /// Sets the memory size (grow); new bytes are zero.
    fn set_memory_pages(&mut self, pages: u32) -> Result<(), Self::Error>;
    /// Reads `n ≤ 32` bytes at `addr` (in bounds; may span two leaves) into `out[..n]`.
    fn read(&mut self, addr: u64, n: usize, out: &mut [u8; 32]) -> Result<(), Self::Error>;
    /// Writes `bytes` (at most 32, in bounds; may span two leaves) at `addr`.
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Reads another instruction of the code (a `br_table` entry or a table slot).
    fn code(&mut self, pc: u32) -> Result<Instr, Self::Error>;
    /// Current call depth (0 in the outermost frame).
    fn call_depth(&self) -> u32;
    /// Enters a function: saves the current frame (resuming at `return_pc`) and starts a frame
    /// whose locals are `args` followed by zeros in a tree of depth `depth`.
    fn call(&mut self, return_pc: u32, depth: u8, args: &[u64]) -> Result<(), Self::Error>;
    /// Starts a macro-step from the idle state: the outermost frame, no arguments, locals zero
    /// in a tree of depth `depth`.
    fn enter(&mut self, depth: u8) -> Result<(), Self::Error>;
    /// Leaves the current frame (not the outermost): restores the caller's frame, pushes
    /// `results` onto its stack and returns the pc to resume at.
    fn ret(&mut self, results: &[u64]) -> Result<u32, Self::Error>;
    /// Number of blobs and the byte length of blob `blob` (if it exists).
    fn blob_len(&mut self, blob: u64) -> Result<Option<u64>, Self::Error>;
    /// Reads `n ≤ 32` bytes of blob `blob` at `offset` (in range) into `out[..n]`.
    fn blob_read(&mut self, blob: u64, offset: u64, n: usize, out: &mut [u8; 32]) -> Result<(), Self::Error>;
    /// Reports an instruction the lowered code should never contain at this pc.
    fn malformed(&mut self, what: &'static str) -> Self::Error;
}

#[inline(always)]
fn load<C: StepContext>(c: &mut C, opcode: u16, ins: Instr) -> Result<Result<(), Trap>, C::Error> {
    let (n, signed): (usize, bool) = match opcode {
        0x28 | 0x2a => (4, false),
        0x29 | 0x2b => (8, false),
        0x2c | 0x30 => (1, true),
        0x2d | 0x31 => (1, false),
        0x2e | 0x32 => (2, true),
        0x2f | 0x33 => (2, false),
        0x34 => (4, true),
        _ => (4, false),
    };
    let base = c.pop()? as u32 as u64;
    let addr = base + ins.a as u64;
    if addr + n as u64 > c.memory_pages() as u64 * PAGE {
        return Ok(Err(Trap::MemoryOutOfBounds));
    }
    let mut buf = [0u8; 32];
    c.read(addr, n, &mut buf)?;
    let mut raw = [0u8; 8];
    raw[..n].copy_from_slice(&buf[..n]);
    let v = u64::from_le_bytes(raw);
    let is_i32 = matches!(opcode, 0x28 | 0x2a | 0x2c..=0x2f);
    let v = if signed {
        let shift = 64 - 8 * n as u32;
        let s = ((v << shift) as i64 >> shift) as u64;
        if is_i32 {
            s & 0xffff_ffff
        } else {
            s
        }
    } else {
        v
    };
    c.push(v)?;
    Ok(Ok(()))
}

#[inline(always)]
fn store<C: StepContext>(c: &mut C, opcode: u16, ins: Instr) -> Result<Result<(), Trap>, C::Error> {
    let n: usize = match opcode {
        0x36 | 0x38 | 0x3e => 4,
        0x37 | 0x39 => 8,
        0x3a | 0x3c => 1,
        _ => 2,
    };
    let v = c.pop()?;
    let base = c.pop()? as u32 as u64;
    let addr = base + ins.a as u64;
    if addr + n as u64 > c.memory_pages() as u64 * PAGE {
        return Ok(Err(Trap::MemoryOutOfBounds));
    }
    c.write(addr, &v.to_le_bytes()[..n])?;
    Ok(Ok(()))
}

/// Bytes a bulk step moves when its destination range starts at `dst`: up to the end of the
/// destination leaf.
#[inline]
fn forward_chunk(dst: u64, n: u64) -> u64 {
    n.min(LEAF - dst % LEAF)
}

/// The body of one step, shared by [`execute`] (one step) and [`run_steps`] (the interpreter
/// loop): a macro so the loop gets the same arms inlined, with `Next` outcomes jumping straight
/// back to the dispatch.
macro_rules! step_body {
    ($ctx:ident, $at:expr, $instr:expr) => {{
        let c = &mut *$ctx;
        let pc: u32 = $at;
        let ins: Instr = $instr;

        let next = Outcome::Next(pc.wrapping_add(1));
        let o = ins.op;
        macro_rules! trap_on {
            ($r:expr) => {
                match $r {
                    Ok(v) => v,
                    Err(t) => return Ok(Outcome::Trap(t)),
                }
            };
        }
        match o {
            crate::code::numeric_binary!() => {
                let y = c.pop()?;
                let x = c.pop()?;
                let r = trap_on!(numeric::binary(o, x, y));
                c.push(r)?;
                Ok(next)
            }
            crate::code::numeric_unary!() => {
                let x = c.pop()?;
                let r = trap_on!(numeric::unary(o, x));
                c.push(r)?;
                Ok(next)
            }
            op::I32_CONST | op::I64_CONST | op::F32_CONST | op::F64_CONST => {
                c.push(ins.c)?;
                Ok(next)
            }
            op::LOCAL_GET => {
                let v = c.local(ins.a, ins.b as u8)?;
                c.push(v)?;
                Ok(next)
            }
            op::LOCAL_SET => {
                let v = c.pop()?;
                c.set_local(ins.a, ins.b as u8, v)?;
                Ok(next)
            }
            op::LOCAL_TEE => {
                let v = c.pop()?;
                c.push(v)?;
                c.set_local(ins.a, ins.b as u8, v)?;
                Ok(next)
            }
            op::GLOBAL_GET => {
                let v = c.global(ins.a)?;
                c.push(v)?;
                Ok(next)
            }
            op::GLOBAL_SET => {
                let v = c.pop()?;
                c.set_global(ins.a, v)?;
                Ok(next)
            }
            op::LOAD_FIRST..=op::LOAD_LAST => {
                trap_on!(load(c, o, ins)?);
                Ok(next)
            }
            op::STORE_FIRST..=op::STORE_LAST => {
                trap_on!(store(c, o, ins)?);
                Ok(next)
            }
            op::DROP => {
                c.pop()?;
                Ok(next)
            }
            op::SELECT => {
                let cond = c.pop()? as u32;
                let v2 = c.pop()?;
                let v1 = c.pop()?;
                c.push(if cond != 0 { v1 } else { v2 })?;
                Ok(next)
            }
            op::SELECT_V128 => {
                let cond = c.pop()? as u32;
                let (h2, l2) = (c.pop()?, c.pop()?);
                let (h1, l1) = (c.pop()?, c.pop()?);
                let (lo, hi) = if cond != 0 { (l1, h1) } else { (l2, h2) };
                c.push(lo)?;
                c.push(hi)?;
                Ok(next)
            }
            crate::simd::FIRST..=crate::simd::LAST => {
                trap_on!(crate::simd::execute(c, o, ins)?);
                Ok(next)
            }
            op::BR => branch(c, ins.a, ins.b, ins.c),
            op::BR_IF => {
                if c.pop()? as u32 != 0 {
                    branch(c, ins.a, ins.b, ins.c)
                } else {
                    Ok(next)
                }
            }
            op::BR_UNLESS => {
                if c.pop()? as u32 == 0 {
                    Ok(Outcome::Next(ins.a))
                } else {
                    Ok(next)
                }
            }
            op::BR_TABLE => {
                let index = c.pop()? as u32;
                if ins.a == 0 {
                    return Err(c.malformed("empty br_table"));
                }
                let slot = index.min(ins.a - 1);
                let entry = c.code(pc.wrapping_add(1).wrapping_add(slot))?;
                if entry.op != op::BR_TABLE_ENTRY {
                    return Err(c.malformed("br_table entry"));
                }
                branch(c, entry.a, entry.b, entry.c)
            }
            op::RETURN => {
                let results = pop_n(c, ins.b)?;
                if c.call_depth() == 0 {
                    // The outermost frame returns: the macro-step ends. `gavel_step` returns 1 (more
                    // steps), 0 (done) or anything else (failed).
                    let status = match results.as_slice() {
                        [1] => Status::Running,
                        [0] => Status::Done,
                        _ => Status::Failed,
                    };
                    return Ok(Outcome::Exit(status));
                }
                let resume = c.ret(&results)?;
                Ok(Outcome::Next(resume))
            }
            op::CALL => call(c, pc, ins.a, ins.b, ins.c as u8),
            op::INVOKE => {
                // Only instruction 0 starts a macro-step; it runs from the idle state.
                c.enter(ins.c as u8)?;
                Ok(Outcome::Next(ins.a))
            }
            op::CALL_INDIRECT => {
                let index = c.pop()? as u32;
                if index as u64 >= ins.c {
                    return Ok(Outcome::Trap(Trap::TableOutOfBounds));
                }
                let slot = c.code(ins.b.wrapping_add(index))?;
                if slot.op != op::TABLE_ENTRY {
                    return Ok(Outcome::Trap(Trap::IndirectCallToNull));
                }
                if (slot.c >> 8) as u32 != ins.a {
                    return Ok(Outcome::Trap(Trap::BadSignature));
                }
                call(c, pc, slot.a, slot.b, slot.c as u8)
            }
            op::UNREACHABLE => Ok(Outcome::Trap(Trap::Unreachable)),
            op::MEMORY_SIZE => {
                let pages = c.memory_pages();
                c.push(pages as u64)?;
                Ok(next)
            }
            op::MEMORY_GROW => {
                let delta = c.pop()? as u32;
                let old = c.memory_pages();
                let new = old as u64 + delta as u64;
                if new > ins.a as u64 || new > c.memory_limit_pages() as u64 {
                    c.push(0xffff_ffff)?;
                } else {
                    c.set_memory_pages(new as u32)?;
                    c.push(old as u64)?;
                }
                Ok(next)
            }
            op::MEMORY_FILL => {
                let n = c.pop()? as u32 as u64;
                let val = c.pop()?;
                let dst = c.pop()? as u32 as u64;
                if dst + n > c.memory_pages() as u64 * PAGE {
                    return Ok(Outcome::Trap(Trap::MemoryOutOfBounds));
                }
                if n == 0 {
                    return Ok(next);
                }
                let k = forward_chunk(dst, n);
                c.write(dst, &[val as u8; 32][..k as usize])?;
                if n > k {
                    c.push(dst + k)?;
                    c.push(val)?;
                    c.push(n - k)?;
                    return Ok(Outcome::Next(pc));
                }
                Ok(next)
            }
            op::MEMORY_COPY => {
                let n = c.pop()? as u32 as u64;
                let src = c.pop()? as u32 as u64;
                let dst = c.pop()? as u32 as u64;
                let size = c.memory_pages() as u64 * PAGE;
                if dst + n > size || src + n > size {
                    return Ok(Outcome::Trap(Trap::MemoryOutOfBounds));
                }
                if n == 0 {
                    return Ok(next);
                }
                let mut buf = [0u8; 32];
                if dst <= src {
                    // Forward, from the front: never overwrites source bytes still to be read.
                    let k = forward_chunk(dst, n);
                    c.read(src, k as usize, &mut buf)?;
                    c.write(dst, &buf[..k as usize])?;
                    if n > k {
                        c.push(dst + k)?;
                        c.push(src + k)?;
                        c.push(n - k)?;
                        return Ok(Outcome::Next(pc));
                    }
                } else {
                    // Backward, from the back: the last destination leaf first.
                    let k = n.min((dst + n - 1) % LEAF + 1);
                    c.read(src + n - k, k as usize, &mut buf)?;
                    c.write(dst + n - k, &buf[..k as usize])?;
                    if n > k {
                        c.push(dst)?;
                        c.push(src)?;
                        c.push(n - k)?;
                        return Ok(Outcome::Next(pc));
                    }
                }
                Ok(next)
            }
            op::BLOB_LEN => {
                let blob = c.pop()? as u32 as u64;
                let len = c.blob_len(blob)?;
                c.push(len.unwrap_or(u64::MAX))?;
                Ok(next)
            }
            op::BLOB_READ => {
                let len = c.pop()? as u32;
                let dst = c.pop()? as u32 as u64;
                let offset = c.pop()?;
                let blob = c.pop()? as u32 as u64;
                let blob_len = c.blob_len(blob)?;
                let ok = match blob_len {
                    Some(bl) => {
                        (len as i32) >= 0
                            && (offset as i64) >= 0
                            && offset.checked_add(len as u64).is_some_and(|end| end <= bl)
                            && dst + len as u64 <= c.memory_pages() as u64 * PAGE
                    }
                    None => false,
                };
                if !ok {
                    c.push(0xffff_ffff)?;
                    return Ok(Outcome::Next(pc.wrapping_add(2)));
                }
                c.push(len as u64)?;
                c.push(blob)?;
                c.push(offset)?;
                c.push(dst)?;
                c.push(len as u64)?;
                Ok(next)
            }
            op::BLOB_READ_CHUNK => {
                let rem = c.pop()?;
                let dst = c.pop()?;
                let offset = c.pop()?;
                let blob = c.pop()?;
                if rem == 0 {
                    return Ok(next);
                }
                let k = forward_chunk(dst, rem);
                let mut buf = [0u8; 32];
                c.blob_read(blob, offset, k as usize, &mut buf)?;
                c.write(dst, &buf[..k as usize])?;
                if rem > k {
                    c.push(blob)?;
                    c.push(offset + k)?;
                    c.push(dst + k)?;
                    c.push(rem - k)?;
                    return Ok(Outcome::Next(pc));
                }
                Ok(next)
            }
            _ => Err(c.malformed("opcode")),
        }
    }};
}

/// Executes the instruction `ins` at `pc`. Traps are outcomes, not errors.
#[inline(always)]
pub fn execute<C: StepContext>(c: &mut C, pc: u32, ins: Instr) -> Result<Outcome, C::Error> {
    step_body!(c, pc, ins)
}

/// Executes instructions of `code` from `*pc` until `budget` steps were taken (counted in
/// `taken`) or a step ends the macro-step; returns that step's outcome, or `Next` when the
/// budget ran out. Exactly equivalent to calling [`execute`] in a loop.
#[inline(always)]
pub fn run_steps<C: StepContext>(c: &mut C, code: &[Instr], pc: &mut u32, budget: u64, taken: &mut u64) -> Result<Outcome, C::Error> {
    while *taken < budget {
        let at = *pc;
        // Past the table every slot is a zero leaf: `unreachable`.
        let ins = code.get(at as usize).copied().unwrap_or_default();
        *taken += 1;
        match step_body!(c, at, ins)? {
            Outcome::Next(next) => *pc = next,
            other => return Ok(other),
        }
    }
    Ok(Outcome::Next(*pc))
}

fn pop_n<C: StepContext>(c: &mut C, n: u32) -> Result<Vec<u64>, C::Error> {
    let mut vals = Vec::with_capacity((n as usize).min(16));
    for _ in 0..n {
        vals.push(c.pop()?);
    }
    vals.reverse();
    Ok(vals)
}

#[inline]
fn branch<C: StepContext>(c: &mut C, target: u32, keep: u32, drop: u64) -> Result<Outcome, C::Error> {
    if drop > 0 {
        let kept = pop_n(c, keep)?;
        for _ in 0..drop {
            c.pop()?;
        }
        for v in kept {
            c.push(v)?;
        }
    }
    Ok(Outcome::Next(target))
}

fn call<C: StepContext>(c: &mut C, pc: u32, entry: u32, params: u32, depth: u8) -> Result<Outcome, C::Error> {
    if c.call_depth() + 1 >= MAX_CALL_DEPTH {
        return Ok(Outcome::Trap(Trap::CallStackExhausted));
    }
    let args = pop_n(c, params)?;
    c.call(pc.wrapping_add(1), depth, &args)?;
    Ok(Outcome::Next(entry))
}
