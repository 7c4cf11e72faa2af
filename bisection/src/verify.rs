//! The reference one-step verifier: `verify_step(root_before, proof) -> root_after` from the
//! proof bytes alone. It is the model the Solidity verifier mirrors: it reads the proof front
//! to back, checks every witness against the root it claims to extend, and runs the same
//! [`crate::semantics::execute`] as the interpreter.

use crate::code::{Instr, CODE_DEPTH, MAX_CALL_DEPTH, MAX_LOCALS_DEPTH};
use crate::error::{MachineError, Result};
use crate::merkle::{depth_for, root_from_proof, zero_hashes, Hash32, ARITY, MEMORY_DEPTH};
use crate::semantics::{execute, Outcome, StepContext, LEAF};
use crate::state::{self, BlobCommitment, MachineHeader, Status, EMPTY, IDLE_CONTEXT};

/// The most globals a proof may list.
pub const MAX_GLOBALS: u32 = 1 << 16;
/// The most blobs a proof may list.
pub const MAX_BLOBS: u32 = 1 << 10;

fn invalid(msg: impl Into<String>) -> MachineError {
    MachineError::Proof(msg.into())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| invalid(format!("truncated: {what} needs {n} bytes at offset {}, {} left", self.pos, self.data.len() - self.pos)))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(a))
    }
    fn h(&mut self, what: &str) -> Result<Hash32> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32, what)?);
        Ok(a)
    }
}

/// Recomputes a root from a leaf and its path, counting hashes.
fn root_from_path(leaf: &Hash32, index: u64, r: &mut Reader<'_>, depth: usize, hashes: &mut u64, what: &str) -> Result<(Hash32, Vec<Hash32>)> {
    let mut path = Vec::with_capacity(3 * depth);
    for _ in 0..3 * depth {
        path.push(r.h(what)?);
    }
    Ok((fold_path(leaf, index, &path, hashes), path))
}

/// [`root_from_proof`], counting one keccak call per level.
fn fold_path(leaf: &Hash32, index: u64, path: &[Hash32], hashes: &mut u64) -> Hash32 {
    *hashes += path.chunks(ARITY - 1).len() as u64;
    root_from_proof(leaf, index as usize, path)
}

struct Verifier<'a> {
    r: Reader<'a>,
    header: MachineHeader,
    depth: u32,
    stack: Hash32,
    locals: Hash32,
    frames: Hash32,
    active: bool,
    globals: Option<Vec<(u8, u64)>>,
    globals_dirty: bool,
    blobs: Option<Vec<BlobCommitment>>,
    hashes: u64,
}

impl Verifier<'_> {
    fn globals(&mut self) -> Result<&mut Vec<(u8, u64)>> {
        if self.globals.is_none() {
            let count = self.r.u32("globals count")?;
            if count > MAX_GLOBALS {
                return Err(invalid(format!("{count} globals; at most {MAX_GLOBALS}")));
            }
            let mut g = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let t = self.r.u8("global type")?;
                let v = self.r.u64("global value")?;
                g.push((t, v));
            }
            self.hashes += 1;
            if state::globals_root(&g) != self.header.globals {
                return Err(invalid("the globals do not match the state's globals root"));
            }
            self.globals = Some(g);
        }
        Ok(self.globals.get_or_insert_with(Vec::new))
    }

    fn blob_table(&mut self) -> Result<&Vec<BlobCommitment>> {
        if self.blobs.is_none() {
            let count = self.r.u32("blob count")?;
            if count > MAX_BLOBS {
                return Err(invalid(format!("{count} blobs; at most {MAX_BLOBS}")));
            }
            let mut b = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let len = self.r.u64("blob length")?;
                let root = self.r.h("blob root")?;
                b.push(BlobCommitment { len, root });
            }
            // One id per blob, then the table.
            self.hashes += 1 + u64::from(count);
            if state::blobs_root(&b) != self.header.blobs {
                return Err(invalid("the blob table does not match the state's blobs root"));
            }
            self.blobs = Some(b);
        }
        Ok(self.blobs.get_or_insert_with(Vec::new))
    }

    fn memory_leaf(&mut self, leaf: u64) -> Result<(Hash32, Vec<Hash32>)> {
        let l = self.r.h("memory leaf")?;
        let (root, path) = root_from_path(&l, leaf, &mut self.r, MEMORY_DEPTH, &mut self.hashes, "memory path")?;
        if root != self.header.memory {
            return Err(invalid(format!("memory leaf {leaf} does not match the memory root")));
        }
        Ok((l, path))
    }

    fn check_locals_index(index: u32, depth: u8) -> Result<()> {
        if depth as usize > MAX_LOCALS_DEPTH || (index as u64) >= 1u64 << (2 * depth as u64) {
            return Err(invalid(format!("local {index} outside a depth-{depth} locals tree")));
        }
        Ok(())
    }
}

impl StepContext for Verifier<'_> {
    type Error = MachineError;

    fn pop(&mut self) -> Result<u64> {
        if self.stack == EMPTY {
            return Err(invalid("pop from an empty stack"));
        }
        let v = self.r.u64("popped value")?;
        let below = self.r.h("stack below")?;
        self.hashes += 1;
        if state::stack_push(&below, v) != self.stack {
            return Err(invalid("popped value does not match the stack hash"));
        }
        self.stack = below;
        Ok(v)
    }

    fn push(&mut self, v: u64) -> Result<()> {
        self.hashes += 1;
        self.stack = state::stack_push(&self.stack, v);
        Ok(())
    }

    fn local(&mut self, index: u32, depth: u8) -> Result<u64> {
        Self::check_locals_index(index, depth)?;
        let v = self.r.u64("local value")?;
        let (root, _) = root_from_path(&state::value_leaf(v), index as u64, &mut self.r, depth as usize, &mut self.hashes, "locals path")?;
        if root != self.locals {
            return Err(invalid(format!("local {index} does not match the locals root")));
        }
        Ok(v)
    }

    fn set_local(&mut self, index: u32, depth: u8, v: u64) -> Result<()> {
        Self::check_locals_index(index, depth)?;
        let old = self.r.u64("local value")?;
        let (root, path) = root_from_path(&state::value_leaf(old), index as u64, &mut self.r, depth as usize, &mut self.hashes, "locals path")?;
        if root != self.locals {
            return Err(invalid(format!("local {index} does not match the locals root")));
        }
        self.locals = fold_path(&state::value_leaf(v), index as u64, &path, &mut self.hashes);
        Ok(())
    }

    fn global(&mut self, index: u32) -> Result<u64> {
        let g = self.globals()?;
        g.get(index as usize).map(|x| x.1).ok_or_else(|| invalid(format!("global {index} out of range")))
    }

    fn set_global(&mut self, index: u32, v: u64) -> Result<()> {
        let g = self.globals()?;
        let slot = g.get_mut(index as usize).ok_or_else(|| invalid(format!("global {index} out of range")))?;
        slot.1 = v;
        self.globals_dirty = true;
        Ok(())
    }

    fn memory_pages(&self) -> u32 {
        self.header.memory_pages
    }

    fn memory_limit_pages(&self) -> u32 {
        self.header.memory_limit_pages
    }

    fn set_memory_pages(&mut self, pages: u32) -> Result<()> {
        self.header.memory_pages = pages;
        Ok(())
    }

    fn read(&mut self, addr: u64, n: usize, out: &mut [u8; 32]) -> Result<()> {
        if n == 0 || n > 32 {
            return Err(MachineError::Internal("read size"));
        }
        let first = addr / LEAF;
        let last = (addr + n as u64 - 1) / LEAF;
        let mut bytes = [0u8; 64];
        for (k, leaf) in (first..=last).enumerate() {
            let (l, _) = self.memory_leaf(leaf)?;
            bytes[32 * k..32 * k + 32].copy_from_slice(&l);
        }
        let off = (addr % LEAF) as usize;
        out[..n].copy_from_slice(&bytes[off..off + n]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let mut done = 0usize;
        while done < data.len() {
            let at = addr + done as u64;
            let leaf = at / LEAF;
            let off = (at % LEAF) as usize;
            let here = (32 - off).min(data.len() - done);
            let (mut l, path) = self.memory_leaf(leaf)?;
            l[off..off + here].copy_from_slice(&data[done..done + here]);
            self.header.memory = fold_path(&l, leaf, &path, &mut self.hashes);
            done += here;
        }
        Ok(())
    }

    fn code(&mut self, pc: u32) -> Result<Instr> {
        if pc as u64 >= 1u64 << (2 * CODE_DEPTH) {
            return Err(invalid(format!("instruction {pc} is outside the code tree")));
        }
        let l = self.r.h("code leaf")?;
        let (root, _) = root_from_path(&l, pc as u64, &mut self.r, CODE_DEPTH, &mut self.hashes, "code path")?;
        if root != self.header.code {
            return Err(invalid(format!("instruction {pc} does not match the code root")));
        }
        Ok(Instr::from_leaf(&l))
    }

    fn call_depth(&self) -> u32 {
        self.depth
    }

    fn call(&mut self, return_pc: u32, depth: u8, args: &[u64]) -> Result<()> {
        if depth as usize > MAX_LOCALS_DEPTH || args.len() as u64 > 1u64 << (2 * depth as u64) {
            return Err(invalid("call with a locals layout outside the limits"));
        }
        if self.depth + 1 >= MAX_CALL_DEPTH {
            return Err(invalid("call depth"));
        }
        self.hashes += 1;
        self.frames = state::frame_link(&self.frames, return_pc, &self.stack, &self.locals);
        self.stack = EMPTY;
        let mut level = args.len() as u64;
        for _ in 0..depth {
            if level == 0 {
                break;
            }
            level = level.div_ceil(ARITY as u64);
            self.hashes += level;
        }
        self.locals = state::locals_root(args, depth);
        self.depth += 1;
        Ok(())
    }

    fn enter(&mut self, depth: u8) -> Result<()> {
        if self.active {
            return Err(invalid("instruction 0 executed inside a macro-step"));
        }
        if depth as usize > MAX_LOCALS_DEPTH {
            return Err(invalid("entry locals depth"));
        }
        self.active = true;
        self.depth = 0;
        self.stack = EMPTY;
        self.locals = zero_hashes()[depth as usize];
        self.frames = EMPTY;
        Ok(())
    }

    fn ret(&mut self, results: &[u64]) -> Result<u32> {
        let parent = self.r.h("caller frame chain")?;
        let return_pc = self.r.u32("return pc")?;
        let stack = self.r.h("caller stack")?;
        let locals = self.r.h("caller locals")?;
        self.hashes += 1;
        if state::frame_link(&parent, return_pc, &stack, &locals) != self.frames {
            return Err(invalid("the caller frame does not match the frame chain"));
        }
        self.frames = parent;
        self.stack = stack;
        self.locals = locals;
        self.depth -= 1;
        for v in results {
            self.push(*v)?;
        }
        Ok(return_pc)
    }

    fn blob_len(&mut self, blob: u64) -> Result<Option<u64>> {
        let t = self.blob_table()?;
        Ok(usize::try_from(blob).ok().and_then(|b| t.get(b)).map(|c| c.len))
    }

    fn blob_read(&mut self, blob: u64, offset: u64, n: usize, out: &mut [u8; 32]) -> Result<()> {
        let table = self.blob_table()?;
        let c = *usize::try_from(blob).ok().and_then(|b| table.get(b)).ok_or_else(|| invalid("blob index"))?;
        if n == 0 || n > 32 || offset.checked_add(n as u64).is_none_or(|e| e > c.len) {
            return Err(invalid("blob range"));
        }
        let depth = depth_for(c.len as usize);
        let first = offset / LEAF;
        let last = (offset + n as u64 - 1) / LEAF;
        let mut bytes = [0u8; 64];
        for (k, leaf) in (first..=last).enumerate() {
            let l = self.r.h("blob leaf")?;
            let (root, _) = root_from_path(&l, leaf, &mut self.r, depth, &mut self.hashes, "blob path")?;
            if root != c.root {
                return Err(invalid(format!("blob {blob} leaf {leaf} does not match the blob root")));
            }
            bytes[32 * k..32 * k + 32].copy_from_slice(&l);
        }
        let off = (offset % LEAF) as usize;
        out[..n].copy_from_slice(&bytes[off..off + n]);
        Ok(())
    }

    fn malformed(&mut self, what: &'static str) -> MachineError {
        invalid(format!("malformed instruction: {what}"))
    }
}

/// The instruction a one-step proof executes, read from its layout without checking it: `pc`
/// and the lowered opcode (`spec/proofs.md`, "Proof layout"). `None` for a proof of an idle or
/// halted state, or one too short to hold an instruction. Explorers use it on proofs the chain
/// has already accepted.
pub fn instruction_of(proof: &[u8]) -> Option<(u32, u16)> {
    const HEADER: usize = 145;
    let mut r = Reader { data: proof, pos: HEADER };
    if r.u8("context flag").ok()? != 1 {
        return None;
    }
    let pc = r.u32("pc").ok()?;
    r.take(4 + 3 * 32, "context").ok()?;
    let leaf = r.h("code leaf").ok()?;
    Some((pc, Instr::from_leaf(&leaf).op))
}

/// Verifies a one-step proof against `root_before` and returns the state root after the step.
pub fn verify_step(root_before: &Hash32, proof: &[u8]) -> Result<Hash32> {
    verify_step_counted(root_before, proof).map(|(r, _)| r)
}

/// [`verify_step`], also returning the number of keccak256 calls it made.
pub fn verify_step_counted(root_before: &Hash32, proof: &[u8]) -> Result<(Hash32, u64)> {
    verify_step_bounded(root_before, proof, None)
}

/// [`verify_step_counted`] inside the level-2 game of macro-step `bound` (`spec/proofs.md`,
/// "Padding"): a state whose `macro_step` is not `bound` (or that is halted) is a fixed point.
pub fn verify_step_bounded(root_before: &Hash32, proof: &[u8], bound: Option<u64>) -> Result<(Hash32, u64)> {
    let mut r = Reader { data: proof, pos: 0 };
    let status_byte = r.u8("status")?;
    let status = Status::from_u8(status_byte).ok_or_else(|| invalid(format!("status {status_byte} is not a status")))?;
    let mut header = MachineHeader {
        status,
        macro_step: r.u64("macro_step")?,
        memory_pages: r.u32("memory_pages")?,
        memory_limit_pages: r.u32("memory_limit_pages")?,
        code: r.h("code")?,
        blobs: r.h("blobs")?,
        globals: r.h("globals")?,
        memory: r.h("memory")?,
        context: IDLE_CONTEXT,
    };
    let active = match r.u8("context flag")? {
        0 => false,
        1 => true,
        other => return Err(invalid(format!("context flag {other}"))),
    };
    let (mut pc, mut depth, mut stack, mut locals, mut frames) = (0, 0, EMPTY, EMPTY, EMPTY);
    let mut hashes = 1u64;
    if active {
        pc = r.u32("pc")?;
        depth = r.u32("call depth")?;
        stack = r.h("stack")?;
        locals = r.h("locals")?;
        frames = r.h("frames")?;
        header.context = state::context_hash(pc, depth, &stack, &locals, &frames);
        hashes += 1;
    }
    if header.root() != *root_before {
        return Err(invalid("the state preimage does not hash to root_before"));
    }
    // Inside the level-2 game of macro-step `b`, a state not in that macro-step is a fixed point
    // (spec/game.md): this pads every level-2 trace with its final root.
    let halted = status != Status::Running || bound.is_some_and(|b| header.macro_step != b);
    if halted {
        if r.pos != proof.len() {
            return Err(invalid(format!("{} trailing bytes", proof.len() - r.pos)));
        }
        return Ok((*root_before, hashes));
    }
    let mut v = Verifier { r, header, depth, stack, locals, frames, active, globals: None, globals_dirty: false, blobs: None, hashes };
    // A pc past the code tree holds no leaf: it executes as `unreachable` (spec/proofs.md).
    let ins = if (pc as u64) < 1u64 << (2 * CODE_DEPTH) { v.code(pc)? } else { Instr::default() };
    let outcome = execute(&mut v, pc, ins)?;
    if v.r.pos != proof.len() {
        return Err(invalid(format!("{} trailing bytes", proof.len() - v.r.pos)));
    }
    if v.globals_dirty {
        if let Some(g) = &v.globals {
            v.header.globals = state::globals_root(g);
            v.hashes += 1;
        }
    }
    match outcome {
        Outcome::Next(next) => {
            v.header.context = state::context_hash(next, v.depth, &v.stack, &v.locals, &v.frames);
            v.hashes += 1;
        }
        Outcome::Exit(status) => {
            v.header.status = status;
            v.header.macro_step += 1;
            v.header.context = IDLE_CONTEXT;
        }
        Outcome::Trap(_) => {
            v.header.status = Status::Trapped;
            v.header.macro_step += 1;
            v.header.context = IDLE_CONTEXT;
        }
    }
    v.hashes += 1;
    Ok((v.header.root(), v.hashes))
}
