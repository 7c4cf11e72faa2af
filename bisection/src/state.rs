//! The machine state root at a macro-step boundary (`spec/machine.md`, "State root").

use crate::merkle::{depth_for, depth_for_leaves, keccak256, root_of, root_of_leaves, Hash32};

/// Domain prefix of the state root preimage.
pub const STATE_PREFIX: &[u8] = b"gavel.machine.v1";
/// Domain prefix of the globals hash.
pub const GLOBALS_PREFIX: &[u8] = b"gavel.globals.v1";
/// Domain prefix of the blob table hash.
pub const BLOBS_PREFIX: &[u8] = b"gavel.blobs.v1";
/// Domain prefix of a blob id.
pub const BLOB_PREFIX: &[u8] = b"gavel.blob.v1";
/// Domain prefix of a trace commitment.
pub const TRACE_PREFIX: &[u8] = b"gavel.trace.v1";

/// Machine status (wire values in `spec/machine.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// More macro-steps follow.
    Running = 0,
    /// Outputs are ready.
    Done = 1,
    /// The guest reported an error (bad model or input).
    Failed = 2,
    /// The guest trapped.
    Trapped = 3,
}

impl Status {
    /// From the wire value.
    pub fn from_u8(v: u8) -> Option<Status> {
        Some(match v {
            0 => Status::Running,
            1 => Status::Done,
            2 => Status::Failed,
            3 => Status::Trapped,
            _ => return None,
        })
    }
}

/// Length and Merkle root of one blob the guest reads through the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobCommitment {
    /// Byte length.
    pub len: u64,
    /// Root of the depth-`depth_for(len)` tree over the zero-padded bytes.
    pub root: Hash32,
}

impl BlobCommitment {
    /// Commits to `bytes`.
    pub fn of(bytes: &[u8]) -> BlobCommitment {
        BlobCommitment { len: bytes.len() as u64, root: root_of(bytes, depth_for(bytes.len())) }
    }

    /// The blob id: `keccak256(BLOB_PREFIX ‖ u64 len ‖ root)`. One word naming the content and
    /// its length; claims carry ids (`inputRoot`, `outputRoot`, `modelRoot`).
    pub fn id(&self) -> Hash32 {
        blob_id(self.len, &self.root)
    }
}

/// `keccak256(BLOB_PREFIX ‖ u64 len ‖ root)`.
pub fn blob_id(len: u64, root: &Hash32) -> Hash32 {
    let mut pre = [0u8; 13 + 8 + 32];
    pre[..13].copy_from_slice(BLOB_PREFIX);
    pre[13..21].copy_from_slice(&len.to_be_bytes());
    pre[21..].copy_from_slice(root);
    keccak256(&pre)
}

/// `keccak256(BLOBS_PREFIX ‖ u32 count ‖ id*)` over the blob ids, big-endian integers.
pub fn blobs_root(blobs: &[BlobCommitment]) -> Hash32 {
    blobs_root_of_ids(&blobs.iter().map(BlobCommitment::id).collect::<Vec<_>>())
}

/// [`blobs_root`] from the ids alone (what the chain knows of a claim's model and input).
pub fn blobs_root_of_ids(ids: &[Hash32]) -> Hash32 {
    let mut pre = Vec::with_capacity(BLOBS_PREFIX.len() + 4 + ids.len() * 32);
    pre.extend_from_slice(BLOBS_PREFIX);
    pre.extend_from_slice(&(ids.len() as u32).to_be_bytes());
    for id in ids {
        pre.extend_from_slice(id);
    }
    keccak256(&pre)
}

/// `keccak256(GLOBALS_PREFIX ‖ u32 count ‖ (u8 type ‖ u64 bits)*)`, big-endian integers.
pub fn globals_root(globals: &[(u8, u64)]) -> Hash32 {
    let mut pre = Vec::with_capacity(GLOBALS_PREFIX.len() + 4 + globals.len() * 9);
    pre.extend_from_slice(GLOBALS_PREFIX);
    pre.extend_from_slice(&(globals.len() as u32).to_be_bytes());
    for (ty, bits) in globals {
        pre.push(*ty);
        pre.extend_from_slice(&bits.to_be_bytes());
    }
    keccak256(&pre)
}

/// Everything the state root commits to at a macro-step boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineHeader {
    /// Status.
    pub status: Status,
    /// Macro-steps executed so far.
    pub macro_step: u64,
    /// Linear memory size in 64 KiB pages.
    pub memory_pages: u32,
    /// The most pages `memory.grow` may reach (the memory limit is part of the semantics: a
    /// grow past it returns -1).
    pub memory_limit_pages: u32,
    /// Root of the code tree of the lowered module (`spec/proofs.md`, "Code").
    pub code: Hash32,
    /// [`blobs_root`] of the oracle blobs.
    pub blobs: Hash32,
    /// [`globals_root`].
    pub globals: Hash32,
    /// Root of the depth-14 memory tree.
    pub memory: Hash32,
    /// The execution context: [`IDLE_CONTEXT`] at a macro-step boundary, else the hash of the
    /// program counter, stacks and frames (`spec/proofs.md`).
    pub context: Hash32,
}

/// The execution context at a macro-step boundary: no value stack, no frames. The step machine
/// (`bisection/`) hashes a non-empty context in its place inside a macro-step.
pub const IDLE_CONTEXT: Hash32 = [0u8; 32];

impl MachineHeader {
    /// `keccak256(STATE_PREFIX ‖ u8 status ‖ u64 macro_step ‖ u32 memory_pages ‖
    /// u32 memory_limit_pages ‖ code ‖ blobs ‖ globals ‖ memory ‖ context)`.
    pub fn root(&self) -> Hash32 {
        let mut pre = Vec::with_capacity(STATE_PREFIX.len() + 17 + 5 * 32);
        pre.extend_from_slice(STATE_PREFIX);
        pre.push(self.status as u8);
        pre.extend_from_slice(&self.macro_step.to_be_bytes());
        pre.extend_from_slice(&self.memory_pages.to_be_bytes());
        pre.extend_from_slice(&self.memory_limit_pages.to_be_bytes());
        pre.extend_from_slice(&self.code);
        pre.extend_from_slice(&self.blobs);
        pre.extend_from_slice(&self.globals);
        pre.extend_from_slice(&self.memory);
        pre.extend_from_slice(&self.context);
        keccak256(&pre)
    }
}

/// Commitment to a level-1 trace: the root of the 4-ary tree (zero-padded) over the state roots
/// `[root_0 .. root_n]`, bound to its length:
/// `keccak256(TRACE_PREFIX ‖ u64 count ‖ tree_root)`.
pub fn trace_commitment(roots: &[Hash32]) -> Hash32 {
    let tree = root_of_leaves(roots.to_vec(), depth_for_leaves(roots.len()));
    let mut pre = Vec::with_capacity(TRACE_PREFIX.len() + 40);
    pre.extend_from_slice(TRACE_PREFIX);
    pre.extend_from_slice(&(roots.len() as u64).to_be_bytes());
    pre.extend_from_slice(&tree);
    keccak256(&pre)
}

/// `0x`-prefixed lower-case hex.
pub fn hex32(h: &Hash32) -> String {
    format!("0x{}", hex::encode(h))
}

/// The hash of an empty value stack and of an empty frame chain.
pub const EMPTY: Hash32 = [0u8; 32];

/// A value as a 32-byte leaf (locals tree): the bits as a big-endian 256-bit integer.
#[inline]
pub fn value_leaf(v: u64) -> Hash32 {
    let mut l = [0u8; 32];
    l[24..].copy_from_slice(&v.to_be_bytes());
    l
}

/// The value of a locals leaf (the low 64 bits; [`value_leaf`] writes nothing else).
pub fn leaf_value(l: &Hash32) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&l[24..]);
    u64::from_be_bytes(b)
}

/// Pushes `v` onto the value stack hash `below`: `keccak256(below ‖ v u64)` (40 bytes).
#[inline]
pub fn stack_push(below: &Hash32, v: u64) -> Hash32 {
    let mut pre = [0u8; 40];
    pre[..32].copy_from_slice(below);
    pre[32..].copy_from_slice(&v.to_be_bytes());
    keccak256(&pre)
}

/// The hash of a whole value stack, bottom first.
pub fn stack_hash(values: &[u64]) -> Hash32 {
    values.iter().fold(EMPTY, |h, v| stack_push(&h, *v))
}

/// Root of a frame's locals tree of depth `depth`.
pub fn locals_root(values: &[u64], depth: u8) -> Hash32 {
    root_of_leaves(values.iter().map(|v| value_leaf(*v)).collect(), depth as usize)
}

/// Links a suspended frame onto the chain `parent`:
/// `keccak256(parent ‖ return_pc u32 ‖ stack ‖ locals)` (100 bytes).
pub fn frame_link(parent: &Hash32, return_pc: u32, stack: &Hash32, locals: &Hash32) -> Hash32 {
    let mut pre = [0u8; 100];
    pre[..32].copy_from_slice(parent);
    pre[32..36].copy_from_slice(&return_pc.to_be_bytes());
    pre[36..68].copy_from_slice(stack);
    pre[68..].copy_from_slice(locals);
    keccak256(&pre)
}

/// The execution context inside a macro-step:
/// `keccak256(pc u32 ‖ call_depth u32 ‖ stack ‖ locals ‖ frames)` (104 bytes).
pub fn context_hash(pc: u32, call_depth: u32, stack: &Hash32, locals: &Hash32, frames: &Hash32) -> Hash32 {
    let mut pre = [0u8; 104];
    pre[..4].copy_from_slice(&pc.to_be_bytes());
    pre[4..8].copy_from_slice(&call_depth.to_be_bytes());
    pre[8..40].copy_from_slice(stack);
    pre[40..72].copy_from_slice(locals);
    pre[72..].copy_from_slice(frames);
    keccak256(&pre)
}
