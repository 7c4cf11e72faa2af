//! The concrete step machine: the whole WebAssembly state in plain vectors, one lowered
//! instruction per step, and the state root of `spec/proofs.md` on demand.

use std::sync::Arc;

use crate::code::{Instr, Program};
use crate::error::{MachineError, Result};
use crate::merkle::{Hash32, MemoryTree};
use crate::semantics::{execute, Outcome, StepContext, PAGE};
use crate::state::{self, BlobCommitment, MachineHeader, Status, EMPTY, IDLE_CONTEXT};

/// Why a step trapped (the machine's status becomes `trapped`; the kind is reported, not hashed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Trap {
    /// `unreachable` (also what a panicking guest executes).
    Unreachable,
    /// A memory access outside linear memory.
    MemoryOutOfBounds,
    /// Integer division or remainder by zero.
    IntegerDivideByZero,
    /// Signed division overflow or a float-to-int conversion out of range.
    IntegerOverflow,
    /// A float-to-int conversion of NaN.
    InvalidConversion,
    /// `call_indirect` past the table's end.
    TableOutOfBounds,
    /// `call_indirect` to an empty slot.
    IndirectCallToNull,
    /// `call_indirect` with the wrong signature.
    BadSignature,
    /// Call depth at [`crate::code::MAX_CALL_DEPTH`].
    CallStackExhausted,
    /// A numeric opcode with no meaning (never produced by lowering).
    BadInstruction,
}

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trap::Unreachable => "unreachable executed",
            Trap::MemoryOutOfBounds => "out of bounds memory access",
            Trap::IntegerDivideByZero => "integer divide by zero",
            Trap::IntegerOverflow => "integer overflow",
            Trap::InvalidConversion => "invalid conversion to integer",
            Trap::TableOutOfBounds => "undefined element",
            Trap::IndirectCallToNull => "uninitialized element",
            Trap::BadSignature => "indirect call type mismatch",
            Trap::CallStackExhausted => "call stack exhausted",
            Trap::BadInstruction => "bad instruction",
        })
    }
}

/// One function activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Where the caller resumes when this frame returns.
    pub return_pc: u32,
    /// Start of this frame's operand stack in [`Machine::values`].
    pub stack_base: usize,
    /// Start of this frame's locals in [`Machine::locals`].
    pub locals_base: usize,
    /// Depth of its locals tree (it owns `4^depth` locals slots).
    pub locals_depth: u8,
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepEvent {
    /// An instruction executed inside a macro-step.
    Executed,
    /// The macro-step ended (the state is a boundary again).
    MacroStepEnded(Status),
    /// The step trapped (the macro-step ended with status `trapped`).
    Trapped(Trap),
    /// The machine is not running: steps leave it unchanged.
    Halted,
}

/// The step machine.
#[derive(Clone)]
pub struct Machine {
    /// The lowered module.
    pub program: Arc<Program>,
    /// Status.
    pub status: Status,
    /// Macro-steps completed.
    pub macro_step: u64,
    /// Linear memory.
    pub memory: Vec<u8>,
    /// Memory limit in pages.
    pub memory_limit_pages: u32,
    /// Globals: type byte and bits.
    pub globals: Vec<(u8, u64)>,
    /// The oracle blobs.
    pub blobs: Vec<Arc<Vec<u8>>>,
    blob_commitments: Vec<BlobCommitment>,
    blobs_root: Hash32,
    /// Whether a macro-step is in progress (the context is not idle).
    pub active: bool,
    /// Program counter (meaningful while active).
    pub pc: u32,
    /// Operand stacks of all frames, bottom first.
    pub values: Vec<u64>,
    /// Locals of all frames.
    pub locals: Vec<u64>,
    /// Frames, outermost first; the last is the current one.
    pub frames: Vec<Frame>,
    /// Steps executed since this machine was created.
    pub steps: u64,
    /// The most recent trap.
    pub last_trap: Option<Trap>,
    tree: MemoryTree,
    /// The current frame's `stack_base` (cached from `frames`).
    stack_base: usize,
    /// The current frame's `locals_base` (cached from `frames`).
    locals_base: usize,
    /// The current frame's locals depth (cached from `frames`).
    locals_depth: u8,
    /// Whether `tree` has seen this memory at all (the first root hashes everything).
    tree_fresh: bool,
    /// Write epoch of every 4 KiB page: the value of `epoch` at its last write.
    page_epoch: Vec<u32>,
    /// The current write epoch.
    epoch: u32,
    /// Pages written at or after this epoch are not yet in `tree`.
    tree_since: u32,
}

/// Bytes per write-tracking page.
pub const TRACK_PAGE: usize = 4096;

fn internal(what: &'static str) -> MachineError {
    MachineError::Internal(what)
}

impl Machine {
    /// The machine before the first macro-step: memory with the data segments, initial globals.
    pub fn new(program: Arc<Program>, blobs: Vec<Arc<Vec<u8>>>, memory_limit_pages: u32) -> Machine {
        let memory = program.initial_memory();
        let globals = program.globals.clone();
        Machine::at_boundary(program, blobs, memory_limit_pages, Status::Running, 0, memory, globals)
    }

    /// The machine at a macro-step boundary with the given memory and globals (for instance taken
    /// from the fast path between two macro-steps).
    pub fn at_boundary(
        program: Arc<Program>,
        blobs: Vec<Arc<Vec<u8>>>,
        memory_limit_pages: u32,
        status: Status,
        macro_step: u64,
        memory: Vec<u8>,
        globals: Vec<(u8, u64)>,
    ) -> Machine {
        let blob_commitments: Vec<BlobCommitment> = blobs.iter().map(|b| BlobCommitment::of(b)).collect();
        let blobs_root = state::blobs_root(&blob_commitments);
        Machine {
            program,
            status,
            macro_step,
            memory,
            memory_limit_pages,
            globals,
            blobs,
            blob_commitments,
            blobs_root,
            active: false,
            pc: 0,
            values: Vec::new(),
            locals: Vec::new(),
            frames: Vec::new(),
            steps: 0,
            last_trap: None,
            tree: MemoryTree::new(),
            stack_base: 0,
            locals_base: 0,
            locals_depth: 0,
            tree_fresh: true,
            page_epoch: Vec::new(),
            epoch: 1,
            tree_since: 1,
        }
    }

    /// Starts a call of function `func` with `args` from the idle state, as a host would (for
    /// test harnesses running modules other than the guest: the guest only ever starts through
    /// instruction 0). This is not a proven step; steps from here on are.
    pub fn invoke(&mut self, func: u32, args: &[u64]) -> Result<()> {
        let f = self.program.function(func).ok_or_else(|| MachineError::Range(format!("function {func} is not defined")))?;
        if args.len() != f.params as usize {
            return Err(MachineError::Range(format!("function {func} takes {} argument slots, not {}", f.params, args.len())));
        }
        let (entry, depth) = (f.entry, f.locals_depth);
        self.status = Status::Running;
        self.active = false;
        self.enter(depth)?;
        self.locals[..args.len()].copy_from_slice(args);
        self.pc = entry;
        Ok(())
    }

    /// Replaces the whole state but memory (snapshot restore).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn set_state(
        &mut self,
        status: Status,
        macro_step: u64,
        active: bool,
        pc: u32,
        globals: Vec<(u8, u64)>,
        values: Vec<u64>,
        locals: Vec<u64>,
        frames: Vec<Frame>,
    ) {
        self.status = status;
        self.macro_step = macro_step;
        self.active = active;
        self.pc = pc;
        self.globals = globals;
        self.values = values;
        self.locals = locals;
        self.frames = frames;
        self.sync_frame();
    }

    /// Blob commitments, in blob order.
    pub fn blob_commitments(&self) -> &[BlobCommitment] {
        &self.blob_commitments
    }

    /// Root of the blob table.
    pub fn blobs_root(&self) -> Hash32 {
        self.blobs_root
    }

    /// Current memory size in pages.
    pub fn pages(&self) -> u32 {
        (self.memory.len() as u64 / PAGE) as u32
    }

    /// The instruction the next step executes.
    pub fn next_instruction(&self) -> (u32, Instr) {
        let pc = if self.active { self.pc } else { 0 };
        (pc, self.program.code.get(pc as usize).copied().unwrap_or_default())
    }

    fn end_macro_step(&mut self, status: Status) {
        self.status = status;
        self.macro_step += 1;
        self.active = false;
        self.pc = 0;
        self.values.clear();
        self.locals.clear();
        self.frames.clear();
        self.sync_frame();
    }

    /// Executes one step.
    pub fn step(&mut self) -> Result<StepEvent> {
        if self.status != Status::Running {
            return Ok(StepEvent::Halted);
        }
        let (pc, ins) = self.next_instruction();
        let outcome = execute(self, pc, ins)?;
        self.steps += 1;
        Ok(self.apply(outcome))
    }

    #[inline]
    fn apply(&mut self, outcome: Outcome) -> StepEvent {
        match outcome {
            Outcome::Next(pc) => {
                self.pc = pc;
                StepEvent::Executed
            }
            Outcome::Exit(status) => {
                self.end_macro_step(status);
                StepEvent::MacroStepEnded(status)
            }
            Outcome::Trap(t) => {
                self.last_trap = Some(t);
                self.end_macro_step(Status::Trapped);
                StepEvent::Trapped(t)
            }
        }
    }

    /// Runs `budget` steps, or fewer if the macro-step in progress ends first (or, from a
    /// boundary, when the next one ends). Returns the steps taken and the last event.
    pub fn run(&mut self, budget: u64) -> Result<(u64, StepEvent)> {
        if self.status != Status::Running {
            return Ok((0, StepEvent::Halted));
        }
        let program = Arc::clone(&self.program);
        let mut taken = 0u64;
        let mut pc = if self.active { self.pc } else { 0 };
        loop {
            // `run_steps` also returns `Next` when a step body returns early (bulk steps); go on
            // until the budget is spent.
            let outcome = crate::semantics::run_steps(self, &program.code, &mut pc, budget, &mut taken)?;
            match outcome {
                Outcome::Next(next) if taken < budget => pc = next,
                Outcome::Next(next) => {
                    self.steps += taken;
                    self.pc = next;
                    return Ok((taken, StepEvent::Executed));
                }
                other => {
                    self.steps += taken;
                    let ev = self.apply(other);
                    return Ok((taken, ev));
                }
            }
        }
    }

    /// Runs until the macro-step in progress (or the next one) ends.
    pub fn run_macro_step(&mut self) -> Result<(u64, StepEvent)> {
        let mut total = 0;
        loop {
            let (n, ev) = self.run(u64::MAX)?;
            total += n;
            if ev != StepEvent::Executed {
                return Ok((total, ev));
            }
        }
    }

    /// The operand stack of frame `i` (the current frame's runs to the top).
    pub fn frame_values(&self, i: usize) -> &[u64] {
        let start = self.frames[i].stack_base;
        let end = self.frames.get(i + 1).map_or(self.values.len(), |f| f.stack_base);
        &self.values[start..end]
    }

    /// The locals of frame `i` (all `4^depth` slots).
    pub fn frame_locals(&self, i: usize) -> &[u64] {
        let start = self.frames[i].locals_base;
        let end = self.frames.get(i + 1).map_or(self.locals.len(), |f| f.locals_base);
        &self.locals[start..end]
    }

    /// Hash of the frame chain below frame `upto` (the frames `0..upto`, each suspended at the
    /// return pc of the frame above it).
    pub fn frame_chain(&self, upto: usize) -> Hash32 {
        let mut chain = EMPTY;
        for i in 0..upto {
            let stack = state::stack_hash(self.frame_values(i));
            let locals = state::locals_root(self.frame_locals(i), self.frames[i].locals_depth);
            chain = state::frame_link(&chain, self.frames[i + 1].return_pc, &stack, &locals);
        }
        chain
    }

    /// The execution context hash ([`IDLE_CONTEXT`] at a boundary).
    pub fn context(&self) -> Hash32 {
        if !self.active {
            return IDLE_CONTEXT;
        }
        let cur = self.frames.len() - 1;
        let stack = state::stack_hash(self.frame_values(cur));
        let locals = state::locals_root(self.frame_locals(cur), self.frames[cur].locals_depth);
        state::context_hash(self.pc, cur as u32, &stack, &locals, &self.frame_chain(cur))
    }

    /// The memory root, updating the incremental tree with the pages written since the last
    /// root.
    pub fn memory_root(&mut self) -> Hash32 {
        if self.tree_fresh {
            self.tree_fresh = false;
            self.tree_since = self.next_epoch();
            return self.tree.update(&self.memory);
        }
        let since = self.tree_since;
        let dirty = self.pages_written_since(since);
        self.tree_since = self.next_epoch();
        self.tree.update_pages(&self.memory, &dirty)
    }

    /// Starts a new write epoch and returns it: pages written from now on have this epoch.
    pub fn next_epoch(&mut self) -> u32 {
        self.epoch += 1;
        self.epoch
    }

    /// The 4 KiB pages written at or after `epoch` (see [`Machine::next_epoch`]).
    pub fn pages_written_since(&self, epoch: u32) -> Vec<usize> {
        self.page_epoch.iter().enumerate().filter(|(_, e)| **e >= epoch).map(|(p, _)| p).collect()
    }

    #[inline]
    fn mark_written(&mut self, addr: usize, len: usize) {
        let (first, last) = (addr / TRACK_PAGE, (addr + len - 1) / TRACK_PAGE);
        if self.page_epoch.len() <= last {
            self.page_epoch.resize(self.memory.len() / TRACK_PAGE, 0);
        }
        self.page_epoch[first] = self.epoch;
        self.page_epoch[last] = self.epoch;
    }

    /// Rehashes the 4 KiB page holding `addr` after a write (the prover keeps the tree current
    /// within a step).
    pub(crate) fn refresh_page(&mut self, addr: u64) {
        self.tree.update_pages(&self.memory, &[(addr / 4096) as usize]);
    }

    /// Records the outcome of a step executed outside [`Machine::step`] (by the prover).
    pub(crate) fn finish_step(&mut self, outcome: Outcome) -> StepEvent {
        self.steps += 1;
        self.apply(outcome)
    }

    /// The memory tree as of the last [`Machine::memory_root`].
    pub fn memory_tree(&self) -> &MemoryTree {
        &self.tree
    }

    /// The header of the current state.
    pub fn header(&mut self) -> MachineHeader {
        let memory = self.memory_root();
        MachineHeader {
            status: self.status,
            macro_step: self.macro_step,
            memory_pages: self.pages(),
            memory_limit_pages: self.memory_limit_pages,
            code: self.program.root(),
            blobs: self.blobs_root,
            globals: state::globals_root(&self.globals),
            memory,
            context: self.context(),
        }
    }

    /// The state root now.
    pub fn state_root(&mut self) -> Hash32 {
        self.header().root()
    }

    /// Re-reads the cached bases after the frame list changed.
    fn sync_frame(&mut self) {
        let (s, l, d) = self.frames.last().map_or((0, 0, 0), |f| (f.stack_base, f.locals_base, f.locals_depth));
        self.stack_base = s;
        self.locals_base = l;
        self.locals_depth = d;
    }
}

impl StepContext for Machine {
    type Error = MachineError;

    #[inline]
    fn pop(&mut self) -> Result<u64> {
        if self.values.len() <= self.stack_base {
            return Err(internal("operand stack underflow"));
        }
        self.values.pop().ok_or_else(|| internal("operand stack underflow"))
    }

    #[inline]
    fn push(&mut self, v: u64) -> Result<()> {
        self.values.push(v);
        Ok(())
    }

    #[inline]
    fn local(&mut self, index: u32, depth: u8) -> Result<u64> {
        if depth != self.locals_depth || self.frames.is_empty() {
            return Err(internal("local access outside the frame's locals tree"));
        }
        self.locals.get(self.locals_base + index as usize).copied().ok_or_else(|| internal("local index"))
    }

    #[inline]
    fn set_local(&mut self, index: u32, depth: u8, v: u64) -> Result<()> {
        if depth != self.locals_depth || self.frames.is_empty() {
            return Err(internal("local access outside the frame's locals tree"));
        }
        let slot = self.locals.get_mut(self.locals_base + index as usize).ok_or_else(|| internal("local index"))?;
        *slot = v;
        Ok(())
    }

    #[inline]
    fn global(&mut self, index: u32) -> Result<u64> {
        self.globals.get(index as usize).map(|g| g.1).ok_or_else(|| internal("global index"))
    }

    #[inline]
    fn set_global(&mut self, index: u32, v: u64) -> Result<()> {
        let g = self.globals.get_mut(index as usize).ok_or_else(|| internal("global index"))?;
        g.1 = v;
        Ok(())
    }

    fn memory_pages(&self) -> u32 {
        self.pages()
    }

    fn memory_limit_pages(&self) -> u32 {
        self.memory_limit_pages
    }

    fn set_memory_pages(&mut self, pages: u32) -> Result<()> {
        self.memory.resize(pages as usize * PAGE as usize, 0);
        Ok(())
    }

    #[inline]
    fn read(&mut self, addr: u64, n: usize, out: &mut [u8; 32]) -> Result<()> {
        let a = addr as usize;
        let src = self.memory.get(a..a + n).ok_or_else(|| internal("read outside memory"))?;
        out[..n].copy_from_slice(src);
        Ok(())
    }

    #[inline]
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<()> {
        let a = addr as usize;
        let dst = self.memory.get_mut(a..a + bytes.len()).ok_or_else(|| internal("write outside memory"))?;
        dst.copy_from_slice(bytes);
        if !bytes.is_empty() {
            self.mark_written(a, bytes.len());
        }
        Ok(())
    }

    fn code(&mut self, pc: u32) -> Result<Instr> {
        self.program.code.get(pc as usize).copied().ok_or_else(|| internal("code index"))
    }

    #[inline]
    fn call_depth(&self) -> u32 {
        self.frames.len().saturating_sub(1) as u32
    }

    #[inline]
    fn call(&mut self, return_pc: u32, depth: u8, args: &[u64]) -> Result<()> {
        if depth as usize > crate::code::MAX_LOCALS_DEPTH || args.len() > 1usize << (2 * depth as usize) {
            return Err(internal("locals layout outside the limits"));
        }
        let locals_base = self.locals.len();
        self.locals.extend_from_slice(args);
        self.locals.resize(locals_base + (1usize << (2 * depth as usize)).max(args.len()), 0);
        self.frames.push(Frame { return_pc, stack_base: self.values.len(), locals_base, locals_depth: depth });
        self.stack_base = self.values.len();
        self.locals_base = locals_base;
        self.locals_depth = depth;
        Ok(())
    }

    fn enter(&mut self, depth: u8) -> Result<()> {
        if self.active {
            return Err(internal("enter while a macro-step is in progress"));
        }
        self.active = true;
        self.values.clear();
        self.locals.clear();
        self.frames.clear();
        self.call(0, depth, &[])
    }

    #[inline]
    fn ret(&mut self, results: &[u64]) -> Result<u32> {
        let f = self.frames.pop().ok_or_else(|| internal("return without frame"))?;
        self.values.truncate(f.stack_base);
        self.locals.truncate(f.locals_base);
        self.values.extend_from_slice(results);
        self.sync_frame();
        Ok(f.return_pc)
    }

    fn blob_len(&mut self, blob: u64) -> Result<Option<u64>> {
        Ok(usize::try_from(blob).ok().and_then(|b| self.blobs.get(b)).map(|b| b.len() as u64))
    }

    fn blob_read(&mut self, blob: u64, offset: u64, n: usize, out: &mut [u8; 32]) -> Result<()> {
        let b = self.blobs.get(blob as usize).ok_or_else(|| internal("blob index"))?;
        let o = offset as usize;
        let src = b.get(o..o + n).ok_or_else(|| internal("blob range"))?;
        out[..n].copy_from_slice(src);
        Ok(())
    }

    fn malformed(&mut self, what: &'static str) -> MachineError {
        MachineError::Internal(what)
    }
}
