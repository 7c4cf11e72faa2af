//! One-step proofs: the prover side.
//!
//! A proof is a flat byte string read front to back (`spec/proofs.md`): the preimage of the state
//! root (header fields and execution context), the instruction with its code-tree path, then one
//! witness for every state access the step makes, in the order [`crate::semantics::execute`]
//! makes them. [`prove_step`] runs that function over the concrete machine through a recorder
//! that writes each witness as the access happens.

use std::collections::HashMap;

use crate::code::Instr;
use crate::error::{MachineError, Result};
use crate::machine::{Machine, StepEvent};
use crate::merkle::{depth_for, leaves, Hash32, LevelTree};
use crate::semantics::{execute, StepContext, LEAF};
use crate::state::{self, Status};

/// A one-step proof and what it proves.
#[derive(Clone, Debug)]
pub struct StepProof {
    /// State root before the step.
    pub root_before: Hash32,
    /// State root after the step.
    pub root_after: Hash32,
    /// The proof bytes.
    pub proof: Vec<u8>,
    /// Program counter of the instruction.
    pub pc: u32,
    /// The instruction.
    pub instr: Instr,
    /// What the step did.
    pub event: StepEvent,
    /// keccak256 calls a verifier makes to check it (measured by running [`crate::verify`]).
    pub verifier_hashes: u64,
}

/// Blob trees kept between proofs of one run (a blob tree is built once).
#[derive(Default)]
pub struct BlobTrees {
    trees: HashMap<usize, LevelTree>,
}

impl BlobTrees {
    fn get(&mut self, blob: usize, bytes: &[u8]) -> &LevelTree {
        self.trees.entry(blob).or_insert_with(|| LevelTree::build(leaves(bytes), depth_for(bytes.len())))
    }
}

/// Writes the state-root preimage of `m` (header fields and context) into `out` and returns the
/// root.
fn write_preimage(m: &mut Machine, out: &mut Vec<u8>) -> Hash32 {
    let header = m.header();
    out.push(header.status as u8);
    out.extend_from_slice(&header.macro_step.to_be_bytes());
    out.extend_from_slice(&header.memory_pages.to_be_bytes());
    out.extend_from_slice(&header.memory_limit_pages.to_be_bytes());
    out.extend_from_slice(&header.code);
    out.extend_from_slice(&header.blobs);
    out.extend_from_slice(&header.globals);
    out.extend_from_slice(&header.memory);
    if m.active {
        let cur = m.frames.len() - 1;
        out.push(1);
        out.extend_from_slice(&m.pc.to_be_bytes());
        out.extend_from_slice(&(cur as u32).to_be_bytes());
        out.extend_from_slice(&state::stack_hash(m.frame_values(cur)));
        out.extend_from_slice(&state::locals_root(m.frame_locals(cur), m.frames[cur].locals_depth));
        out.extend_from_slice(&m.frame_chain(cur));
    } else {
        out.push(0);
    }
    header.root()
}

/// Proves the next step of `m` and executes it.
pub fn prove_step(m: &mut Machine, blob_trees: &mut BlobTrees) -> Result<StepProof> {
    prove_step_bounded(m, blob_trees, None)
}

/// [`prove_step`] inside the level-2 game of macro-step `bound`: a state outside that macro-step
/// is a fixed point, proven by its preimage alone (`verify::verify_step_bounded`).
pub fn prove_step_bounded(m: &mut Machine, blob_trees: &mut BlobTrees, bound: Option<u64>) -> Result<StepProof> {
    let mut out = Vec::with_capacity(4096);
    let root_before = write_preimage(m, &mut out);
    let (pc, instr) = m.next_instruction();
    if m.status != Status::Running || bound.is_some_and(|b| m.macro_step != b) {
        let proof = out;
        let verifier_hashes = crate::verify::verify_step_bounded(&root_before, &proof, bound).map(|(_, h)| h).unwrap_or(0);
        return Ok(StepProof { root_before, root_after: root_before, proof, pc, instr, event: StepEvent::Halted, verifier_hashes });
    }
    // A pc past the code tree holds no leaf: it executes as `unreachable` with no witness.
    if (pc as u64) < 1u64 << (2 * crate::code::CODE_DEPTH) {
        out.extend_from_slice(&instr.leaf());
        for h in m.program.proof(pc) {
            out.extend_from_slice(&h);
        }
    }
    let outcome = {
        let mut rec = Recorder { m: &mut *m, out: &mut out, prefix: None, locals: None, blobs: blob_trees, tables: Tables::default() };
        execute(&mut rec, pc, instr)?
    };
    let event = m.finish_step(outcome);
    let root_after = m.state_root();
    let (checked, verifier_hashes) = crate::verify::verify_step_bounded(&root_before, &out, bound)?;
    if checked != root_after {
        return Err(MachineError::Internal("the verifier disagrees with the prover"));
    }
    Ok(StepProof { root_before, root_after, proof: out, pc, instr, event, verifier_hashes })
}

#[derive(Default)]
struct Tables {
    globals: bool,
    blobs: bool,
}

struct Recorder<'a> {
    m: &'a mut Machine,
    out: &'a mut Vec<u8>,
    /// Hashes of the current frame's stack prefixes (`prefix[i]` covers its first `i` values).
    prefix: Option<Vec<Hash32>>,
    /// The current frame's locals tree.
    locals: Option<LevelTree>,
    blobs: &'a mut BlobTrees,
    tables: Tables,
}

impl Recorder<'_> {
    fn prefix(&mut self) -> &mut Vec<Hash32> {
        if self.prefix.is_none() {
            let cur = self.m.frames.len().saturating_sub(1);
            if self.m.frames.is_empty() {
                self.prefix = Some(vec![state::EMPTY]);
                return self.prefix.get_or_insert_with(Vec::new);
            }
            let mut p = vec![state::EMPTY];
            for v in self.m.frame_values(cur) {
                let next = state::stack_push(p.last().unwrap_or(&state::EMPTY), *v);
                p.push(next);
            }
            self.prefix = Some(p);
        }
        self.prefix.get_or_insert_with(Vec::new)
    }

    fn locals_tree(&mut self, depth: u8) -> &mut LevelTree {
        if self.locals.is_none() {
            let leaves = match self.m.frames.len().checked_sub(1) {
                Some(cur) => self.m.frame_locals(cur).iter().map(|v| state::value_leaf(*v)).collect(),
                None => Vec::new(),
            };
            let depth = depth.min(crate::code::MAX_LOCALS_DEPTH as u8);
            self.locals = Some(LevelTree::build(leaves, depth as usize));
        }
        self.locals.get_or_insert_with(LevelTree::default)
    }

    fn hashes(&mut self, path: &[Hash32]) {
        for h in path {
            self.out.extend_from_slice(h);
        }
    }

    fn globals_table(&mut self) {
        if !self.tables.globals {
            self.tables.globals = true;
            self.out.extend_from_slice(&(self.m.globals.len() as u32).to_be_bytes());
            for (t, v) in &self.m.globals {
                self.out.push(*t);
                self.out.extend_from_slice(&v.to_be_bytes());
            }
        }
    }

    fn blob_table(&mut self) {
        if !self.tables.blobs {
            self.tables.blobs = true;
            let commitments = self.m.blob_commitments();
            self.out.extend_from_slice(&(commitments.len() as u32).to_be_bytes());
            for c in commitments {
                self.out.extend_from_slice(&c.len.to_be_bytes());
                self.out.extend_from_slice(&c.root);
            }
        }
    }

    /// Memory leaves `first..=last` with their paths, current as of now. An access that
    /// reaches outside memory is an error here, before any leaf is indexed: the instruction
    /// semantics normally trap first, but a malformed program can reach this with any address.
    fn memory_leaves(&mut self, addr: u64, n: usize) -> Result<()> {
        let end = self.access_end(addr, n)?;
        let first = addr / LEAF;
        let last = (end - 1) / LEAF;
        for leaf in first..=last {
            let mut l = [0u8; 32];
            let start = (leaf * LEAF) as usize;
            l.copy_from_slice(&self.m.memory[start..start + 32]);
            self.out.extend_from_slice(&l);
            let path = self.m.memory_tree().proof(leaf as usize);
            self.hashes(&path);
        }
        Ok(())
    }

    /// The end of the `n`-byte access at `addr`, or an error unless it is non-empty and inside
    /// memory.
    fn access_end(&self, addr: u64, n: usize) -> Result<u64> {
        addr.checked_add(n as u64).filter(|&e| n > 0 && e <= self.m.memory.len() as u64).ok_or(MachineError::Internal("proof of an access outside memory"))
    }
}

impl StepContext for Recorder<'_> {
    type Error = MachineError;

    fn pop(&mut self) -> Result<u64> {
        let p = self.prefix();
        if p.len() < 2 {
            return Err(MachineError::Internal("pop from an empty stack"));
        }
        p.pop();
        let below = *p.last().unwrap_or(&state::EMPTY);
        let v = self.m.pop()?;
        self.out.extend_from_slice(&v.to_be_bytes());
        self.out.extend_from_slice(&below);
        Ok(v)
    }

    fn push(&mut self, v: u64) -> Result<()> {
        let p = self.prefix();
        let next = state::stack_push(p.last().unwrap_or(&state::EMPTY), v);
        p.push(next);
        self.m.push(v)
    }

    fn local(&mut self, index: u32, depth: u8) -> Result<u64> {
        let v = self.m.local(index, depth)?;
        let path = self.locals_tree(depth).proof(index as usize);
        self.out.extend_from_slice(&v.to_be_bytes());
        self.hashes(&path);
        Ok(v)
    }

    fn set_local(&mut self, index: u32, depth: u8, v: u64) -> Result<()> {
        let old = self.m.local(index, depth)?;
        let tree = self.locals_tree(depth);
        let path = tree.proof(index as usize);
        tree.set(index as usize, state::value_leaf(v));
        self.out.extend_from_slice(&old.to_be_bytes());
        self.hashes(&path);
        self.m.set_local(index, depth, v)
    }

    fn global(&mut self, index: u32) -> Result<u64> {
        self.globals_table();
        self.m.global(index)
    }

    fn set_global(&mut self, index: u32, v: u64) -> Result<()> {
        self.globals_table();
        self.m.set_global(index, v)
    }

    fn memory_pages(&self) -> u32 {
        self.m.pages()
    }

    fn memory_limit_pages(&self) -> u32 {
        self.m.memory_limit_pages
    }

    fn set_memory_pages(&mut self, pages: u32) -> Result<()> {
        self.m.set_memory_pages(pages)?;
        // Keep the tree's shape in step with memory for later proofs in this step.
        self.m.memory_root();
        Ok(())
    }

    fn read(&mut self, addr: u64, n: usize, out: &mut [u8; 32]) -> Result<()> {
        self.memory_leaves(addr, n)?;
        self.m.read(addr, n, out)
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<()> {
        // Leaves are written one at a time: the second leaf's path is taken after the first
        // leaf changed, which is what the verifier sees as it updates the root leaf by leaf.
        let end = self.access_end(addr, bytes.len())?;
        let first = addr / LEAF;
        let last = (end - 1) / LEAF;
        let mut done = 0usize;
        for leaf in first..=last {
            let leaf_end = (leaf + 1) * LEAF;
            let here = ((leaf_end - (addr + done as u64)) as usize).min(bytes.len() - done);
            let at = addr + done as u64;
            self.memory_leaves(at, here)?;
            self.m.write(at, &bytes[done..done + here])?;
            self.m.refresh_page(at);
            done += here;
        }
        Ok(())
    }

    fn code(&mut self, pc: u32) -> Result<Instr> {
        let ins = self.m.code(pc)?;
        self.out.extend_from_slice(&ins.leaf());
        let path = self.m.program.proof(pc);
        self.hashes(&path);
        Ok(ins)
    }

    fn call_depth(&self) -> u32 {
        self.m.call_depth()
    }

    fn call(&mut self, return_pc: u32, depth: u8, args: &[u64]) -> Result<()> {
        self.prefix = None;
        self.locals = None;
        self.m.call(return_pc, depth, args)
    }

    fn enter(&mut self, depth: u8) -> Result<()> {
        self.prefix = None;
        self.locals = None;
        self.m.enter(depth)
    }

    fn ret(&mut self, results: &[u64]) -> Result<u32> {
        let cur = self.m.frames.len().saturating_sub(1);
        if cur == 0 {
            return Err(MachineError::Internal("return from the outermost frame"));
        }
        let caller = cur - 1;
        let parent = self.m.frame_chain(caller);
        let stack = state::stack_hash(self.m.frame_values(caller));
        let locals = state::locals_root(self.m.frame_locals(caller), self.m.frames[caller].locals_depth);
        self.out.extend_from_slice(&parent);
        self.out.extend_from_slice(&self.m.frames[cur].return_pc.to_be_bytes());
        self.out.extend_from_slice(&stack);
        self.out.extend_from_slice(&locals);
        self.prefix = None;
        self.locals = None;
        self.m.ret(results)
    }

    fn blob_len(&mut self, blob: u64) -> Result<Option<u64>> {
        self.blob_table();
        self.m.blob_len(blob)
    }

    fn blob_read(&mut self, blob: u64, offset: u64, n: usize, out: &mut [u8; 32]) -> Result<()> {
        self.blob_table();
        let bytes = std::sync::Arc::clone(self.m.blobs.get(blob as usize).ok_or(MachineError::Internal("blob index"))?);
        let tree = self.blobs.get(blob as usize, &bytes);
        let first = offset / LEAF;
        let last = (offset + n as u64 - 1) / LEAF;
        let mut w = Vec::new();
        for leaf in first..=last {
            w.extend_from_slice(&tree.leaf(leaf as usize));
            for h in tree.proof(leaf as usize) {
                w.extend_from_slice(&h);
            }
        }
        self.out.extend_from_slice(&w);
        self.m.blob_read(blob, offset, n, out)
    }

    fn malformed(&mut self, what: &'static str) -> MachineError {
        MachineError::Internal(what)
    }
}
