//! The fast-path machine: one guest instance in the deterministic engine, driven one macro-step
//! at a time, with the state root computable between steps.

use std::sync::Arc;

use wasmtime::{Linker, Memory, Store, TypedFunc, Val};

use crate::error::{Result, RunnerError};
pub use crate::host::FAULT_HOST_GROW_ENV;
use crate::host::{engine_err, Host};
use crate::merkle::{Hash32, MemoryTree};
use crate::module::{GuestModule, GLOBAL_EXPORT_PREFIX};
use crate::state::{BlobCommitment, MachineHeader, Status};

/// Options of one machine.
#[derive(Clone, Debug)]
pub struct MachineOptions {
    /// Bound on guest linear memory, in MiB (at most 4096).
    pub memory_limit_mib: u64,
}

impl MachineOptions {
    /// The memory limit in 64 KiB pages, as the step machine and the genesis state carry it.
    pub fn memory_limit_pages(&self) -> u32 {
        (self.memory_limit_mib * 16) as u32
    }
}

impl Default for MachineOptions {
    fn default() -> Self {
        MachineOptions { memory_limit_mib: crate::config::DEFAULT_MEMORY_LIMIT_MIB }
    }
}

/// The compiled guest, shared by every machine of a process.
#[derive(Clone)]
pub struct Runtime {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
    linker: Arc<Linker<Host>>,
    /// The guest module.
    pub guest: GuestModule,
    /// Whether the compiled module came from the cache.
    pub from_cache: bool,
}

impl Runtime {
    /// Builds the deterministic engine and compiles (or loads from cache) the guest.
    pub fn new(guest: GuestModule) -> Result<Runtime> {
        let engine = crate::config::deterministic_engine()?;
        let (module, from_cache) = crate::module::compile_cached(&engine, &guest)?;
        let linker = crate::host::linker(&engine)?;
        Ok(Runtime { engine, module, linker: Arc::new(linker), guest, from_cache })
    }

    /// The genesis parameters (`gavel_bisection::binding::Genesis`) of the guest under
    /// `options`: what a deployment's `WasmMachine` contract is constructed with.
    pub fn genesis(&self, options: &MachineOptions) -> Result<gavel_bisection::binding::Genesis> {
        self.machine(vec![Arc::new(Vec::new()), Arc::new(Vec::new())], options)?.genesis()
    }

    /// A fresh machine over `blobs` (blob 0: the ONNX model; blob 1: the input tensor set).
    pub fn machine(&self, blobs: Vec<Arc<Vec<u8>>>, options: &MachineOptions) -> Result<Machine> {
        if options.memory_limit_mib == 0 || options.memory_limit_mib > crate::config::MAX_MEMORY_LIMIT_MIB {
            return Err(RunnerError::Engine(format!(
                "memory limit of {} MiB is outside 1..={}",
                options.memory_limit_mib,
                crate::config::MAX_MEMORY_LIMIT_MIB
            )));
        }
        let blob_roots: Vec<BlobCommitment> = blobs.iter().map(|b| BlobCommitment::of(b)).collect();
        let mut store = crate::host::store(&self.engine, blobs, options.memory_limit_mib)?;
        let instance = self.linker.instantiate(&mut store, &self.module).map_err(|e| {
            if store.data().memory_denied() {
                RunnerError::MemoryLimit { limit_mib: options.memory_limit_mib, step: 0 }
            } else {
                RunnerError::Engine(format!("instantiating the guest: {e:#}"))
            }
        })?;
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| RunnerError::GuestModule("the guest exports no memory".into()))?;
        let func = |store: &mut Store<Host>, name: &str| -> Result<TypedFunc<(), i32>> {
            instance.get_typed_func::<(), i32>(&mut *store, name).map_err(|e| RunnerError::GuestModule(format!("export {name}: {e}")))
        };
        let exports = GuestExports {
            step: func(&mut store, "gavel_step")?,
            message_ptr: func(&mut store, "gavel_message_ptr")?,
            message_len: func(&mut store, "gavel_message_len")?,
            output_ptr: func(&mut store, "gavel_output_ptr")?,
            output_len: func(&mut store, "gavel_output_len")?,
            output_id_ptr: func(&mut store, "gavel_output_id_ptr")?,
            panic_ptr: func(&mut store, "gavel_panic_ptr")?,
            panic_len: func(&mut store, "gavel_panic_len")?,
        };
        let mut globals = Vec::new();
        while let Some(g) = instance.get_global(&mut store, &format!("{GLOBAL_EXPORT_PREFIX}{}", globals.len())) {
            globals.push(g);
        }
        Ok(Machine {
            store,
            memory,
            exports,
            globals,
            code: self.guest.code_root()?,
            blobs_root: crate::state::blobs_root(&blob_roots),
            blob_roots,
            status: Status::Running,
            steps: 0,
            fuel_used: 0,
            tree: MemoryTree::new(),
            memory_limit_mib: options.memory_limit_mib,
            #[cfg(unix)]
            tracker: None,
            dirty_pages: Vec::new(),
        })
    }
}

struct GuestExports {
    step: TypedFunc<(), i32>,
    message_ptr: TypedFunc<(), i32>,
    message_len: TypedFunc<(), i32>,
    output_ptr: TypedFunc<(), i32>,
    output_len: TypedFunc<(), i32>,
    output_id_ptr: TypedFunc<(), i32>,
    panic_ptr: TypedFunc<(), i32>,
    panic_len: TypedFunc<(), i32>,
}

/// One running guest.
pub struct Machine {
    store: Store<Host>,
    memory: Memory,
    exports: GuestExports,
    globals: Vec<wasmtime::Global>,
    code: Hash32,
    blob_roots: Vec<BlobCommitment>,
    /// [`crate::state::blobs_root`] of `blob_roots`: fixed for the machine's life.
    blobs_root: Hash32,
    status: Status,
    steps: u64,
    fuel_used: u64,
    tree: MemoryTree,
    memory_limit_mib: u64,
    #[cfg(unix)]
    tracker: Option<crate::dirty::DirtyMap>,
    dirty_pages: Vec<usize>,
}

/// Copies of the memory pages one macro-step wrote.
pub struct PageDelta {
    /// Memory size after the step.
    pub memory_len: usize,
    /// Indices of the written 4 KiB pages.
    pub indices: Vec<usize>,
    /// Their contents, page `indices[k]` at `k * 4096`.
    pub data: Vec<u8>,
}

/// What one macro-step did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepInfo {
    /// Index of the step (0-based).
    pub index: u64,
    /// `load`, `bind`, `node` or `finish`.
    pub kind: String,
    /// ONNX node name (for `node` steps) or a description.
    pub name: String,
    /// tract operator (for `node` steps) or phase.
    pub op: String,
    /// The ONNX operator type the plan node came from (`node` steps; empty if unknown).
    pub onnx_op: String,
    /// wasmtime fuel consumed by the step.
    pub fuel: u64,
}

impl Machine {
    /// Status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Macro-steps executed.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Fuel consumed so far (wasmtime's instruction metering; an approximation of the exact
    /// step count, see `spec/machine.md`).
    pub fn fuel_used(&self) -> u64 {
        self.fuel_used
    }

    /// Current size of linear memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    fn read_guest_string(&mut self, ptr: &TypedFunc<(), i32>, len: &TypedFunc<(), i32>) -> Option<Vec<u8>> {
        let p = ptr.call(&mut self.store, ()).ok()? as u32 as usize;
        let n = len.call(&mut self.store, ()).ok()? as u32 as usize;
        self.memory.data(&self.store).get(p..p.checked_add(n)?).map(<[u8]>::to_vec)
    }

    /// Runs one macro-step.
    pub fn step(&mut self) -> Result<StepInfo> {
        if self.status != Status::Running {
            return Err(RunnerError::Guest { message: format!("the machine is {:?}", self.status), step: self.steps });
        }
        let index = self.steps;
        let before = self.store.get_fuel().map_err(engine_err)?;
        let result = self.exports.step.call(&mut self.store, ());
        let after = self.store.get_fuel().map_err(engine_err)?;
        let fuel = before - after;
        self.fuel_used += fuel;
        self.steps += 1;
        let code = match result {
            Ok(code) => code,
            Err(trap) => {
                self.status = Status::Trapped;
                if let Some(failure) = self.store.data().host_failure() {
                    return Err(RunnerError::Engine(failure));
                }
                if self.store.data().memory_denied() {
                    return Err(RunnerError::MemoryLimit { limit_mib: self.memory_limit_mib, step: index });
                }
                let (p, l) = (self.exports.panic_ptr.clone(), self.exports.panic_len.clone());
                let panic = self.read_guest_string(&p, &l).unwrap_or_default();
                let reason = if panic.is_empty() { trap.root_cause().to_string() } else { format!("guest panicked: {}", String::from_utf8_lossy(&panic)) };
                return Err(RunnerError::Trap { step: index, reason });
            }
        };
        let (msg_ptr, msg_len) = (self.exports.message_ptr.clone(), self.exports.message_len.clone());
        let message = self.read_guest_string(&msg_ptr, &msg_len).unwrap_or_default();
        let message = String::from_utf8_lossy(&message).into_owned();
        match code {
            1 | 0 => {
                if code == 0 {
                    self.status = Status::Done;
                }
                let mut parts = message.splitn(4, '\t');
                let mut field = || parts.next().unwrap_or_default().to_string();
                let (kind, name, op, onnx_op) = (field(), field(), field(), field());
                Ok(StepInfo { index, kind, name, op, onnx_op, fuel })
            }
            _ => {
                self.status = Status::Failed;
                if self.store.data().memory_denied() {
                    return Err(RunnerError::MemoryLimit { limit_mib: self.memory_limit_mib, step: index });
                }
                Err(RunnerError::Guest { message, step: index })
            }
        }
    }

    /// The encoded output tensor set (once [`Status::Done`]).
    pub fn output_bytes(&mut self) -> Result<Vec<u8>> {
        if self.status != Status::Done {
            return Err(RunnerError::Output(format!("the machine is {:?}, not done", self.status)));
        }
        let (p, l) = (self.exports.output_ptr.clone(), self.exports.output_len.clone());
        self.read_guest_string(&p, &l).ok_or_else(|| RunnerError::Output("output range outside memory".into()))
    }

    /// Address of the 32-byte output id leaf (`spec/guest-abi.md`): fixed for the module.
    pub fn output_id_address(&mut self) -> Result<u32> {
        let f = self.exports.output_id_ptr.clone();
        let p = f.call(&mut self.store, ()).map_err(|e| RunnerError::GuestModule(format!("gavel_output_id_ptr: {e:#}")))?;
        if p % 32 != 0 {
            return Err(RunnerError::GuestModule(format!("output id at {p:#x} is not 32-byte aligned")));
        }
        Ok(p as u32)
    }

    /// The output blob id the guest wrote in its `finish` step, checked against the host's own
    /// hash of the output bytes.
    pub fn output_root(&mut self) -> Result<Hash32> {
        let bytes = self.output_bytes()?;
        let at = self.output_id_address()? as usize;
        let mut id = [0u8; 32];
        let data = self.memory.data(&self.store);
        id.copy_from_slice(data.get(at..at + 32).ok_or_else(|| RunnerError::Output("output id outside memory".into()))?);
        let want = BlobCommitment::of(&bytes).id();
        if id != want {
            return Err(RunnerError::Output(format!(
                "the guest's output id {} differs from the host's {}",
                crate::state::hex32(&id),
                crate::state::hex32(&want)
            )));
        }
        Ok(id)
    }

    /// The current global values in index order, as the state root hashes them.
    pub fn global_values(&mut self) -> Result<Vec<(u8, u64)>> {
        let mut out = Vec::with_capacity(self.globals.len());
        for g in &self.globals {
            let v = g.get(&mut self.store);
            out.push(match v {
                Val::I32(x) => (0x7f, x as u32 as u64),
                Val::I64(x) => (0x7e, x as u64),
                Val::F32(x) => (0x7d, x as u64),
                Val::F64(x) => (0x7c, x),
                other => return Err(RunnerError::GuestModule(format!("unsupported global value {other:?}"))),
            });
        }
        Ok(out)
    }

    /// Switches root computation from comparing all of memory with the shadow copy to reading
    /// which pages the guest marked as written (`dirty.rs`). Returns whether write tracking is
    /// active (on every unix host, where the memory pool gives every memory its dirty-page
    /// map; elsewhere roots stay correct through the shadow comparison).
    pub fn track_writes(&mut self) -> bool {
        #[cfg(unix)]
        {
            if self.tracker.is_none() {
                let Some(mut map) = crate::dirty::DirtyMap::of(self.memory.data_ptr(&self.store)) else {
                    return false;
                };
                // Bring the shadow up to date first: the map reports writes from now on.
                self.tree.update(self.memory.data(&self.store));
                map.clear(self.memory_bytes());
                self.tracker = Some(map);
            }
            true
        }
        #[cfg(not(unix))]
        false
    }

    fn memory_root(&mut self) -> Result<Hash32> {
        #[cfg(unix)]
        if let Some(tracker) = self.tracker.as_mut() {
            self.dirty_pages.clear();
            let accessible = self.memory.data_size(&self.store);
            if tracker.take(accessible, &mut self.dirty_pages) {
                return Ok(self.tree.update_pages(self.memory.data(&self.store), &self.dirty_pages));
            }
        }
        Ok(self.tree.update(self.memory.data(&self.store)))
    }

    /// The machine header for the current state, updating the memory tree incrementally.
    pub fn header(&mut self) -> Result<MachineHeader> {
        let memory_root = self.memory_root()?;
        self.header_with_memory(memory_root)
    }

    /// The header with `memory` as its memory root (computed elsewhere, see
    /// [`Machine::take_page_delta`]).
    pub fn header_with_memory(&mut self, memory: Hash32) -> Result<MachineHeader> {
        let globals = self.global_values()?;
        Ok(MachineHeader {
            status: self.status,
            macro_step: self.steps,
            memory_pages: (self.memory_bytes() / 65536) as u32,
            memory_limit_pages: (self.memory_limit_mib * 16) as u32,
            code: self.code,
            blobs: self.blobs_root,
            globals: crate::state::globals_root(&globals),
            memory,
            context: crate::state::IDLE_CONTEXT,
        })
    }

    /// With write tracking on ([`Machine::track_writes`]), copies of the pages written
    /// since the last call, so the memory root can be computed on another thread while the guest
    /// runs on ([`MemoryTree::apply_pages`] on the tree from [`Machine::take_tree`]). `None`
    /// without tracking. The copies go into `buffer` (cleared first): reusing buffers avoids a
    /// page fault per copied page.
    pub fn take_page_delta(&mut self, buffer: Vec<u8>) -> Result<Option<PageDelta>> {
        #[cfg(unix)]
        if let Some(tracker) = self.tracker.as_mut() {
            let mut indices = Vec::new();
            let memory = self.memory.data(&self.store);
            if !tracker.take(memory.len(), &mut indices) {
                return Err(RunnerError::Engine("write tracking lost the guest memory's dirty-page map".into()));
            }
            let mut data = buffer;
            data.clear();
            data.reserve(indices.len() * 4096);
            for &p in &indices {
                data.extend_from_slice(&memory[p * 4096..(p + 1) * 4096]);
            }
            return Ok(Some(PageDelta { memory_len: memory.len(), indices, data }));
        }
        Ok(None)
    }

    /// Moves the memory tree out (for hashing on another thread); [`Machine::restore_tree`]
    /// puts it back. Roots computed on the machine in between are wrong.
    pub fn take_tree(&mut self) -> MemoryTree {
        std::mem::take(&mut self.tree)
    }

    /// Puts back a tree taken with [`Machine::take_tree`], brought up to date.
    pub fn restore_tree(&mut self, tree: MemoryTree) {
        self.tree = tree;
    }

    /// The state root now (see [`Machine::header`]).
    pub fn state_root(&mut self) -> Result<Hash32> {
        Ok(self.header()?.root())
    }

    /// The genesis parameters of this machine's module and memory limit (call before the first
    /// step: they describe the state right after instantiation).
    pub fn genesis(&mut self) -> Result<gavel_bisection::binding::Genesis> {
        if self.steps != 0 {
            return Err(RunnerError::Engine("genesis parameters are only defined before the first step".into()));
        }
        let header = self.header()?;
        let address = self.output_id_address()?;
        Ok(gavel_bisection::binding::Genesis::of(&header, address))
    }

    /// The output proof of the final state (`gavel_bisection::binding::output_proof`): binds the
    /// state root to the output id leaf ([`Machine::output_root`] checks that leaf). A failed or
    /// trapped machine has one too: it proves the outcome `FAILED_OUTPUT` (`spec/proofs.md`).
    pub fn output_proof(&mut self) -> Result<Vec<u8>> {
        if self.status == Status::Running {
            return Err(RunnerError::Output("the machine is still running".into()));
        }
        let header = self.header()?;
        let address = self.output_id_address()?;
        Ok(gavel_bisection::binding::output_proof(&header, &self.tree.proof(address as usize / 32)))
    }

    /// Hashing statistics of the last root computation.
    pub fn last_tree_update(&self) -> crate::merkle::UpdateStats {
        self.tree.last_update()
    }

    /// Commitments of the blobs the machine reads.
    pub fn blob_commitments(&self) -> &[BlobCommitment] {
        &self.blob_roots
    }

    /// A copy of linear memory (tests compare incremental and from-scratch roots with it).
    pub fn memory_snapshot(&self) -> Vec<u8> {
        self.memory.data(&self.store).to_vec()
    }
}
