//! Snapshots of a run, so that any step can be reached without replaying from the start.
//!
//! A snapshot store is one file of records taken every `stride` steps during one interpreter
//! pass. A record holds the whole execution context (stacks, locals, frames, pc), globals and
//! header fields, and only the memory pages written since the previous record. Restoring record
//! `k` replays the memory deltas of records `0..=k` over the genesis memory, so the store costs
//! about as much as the memory a run writes, not a copy of memory per record. It is a local
//! cache, not part of any wire format (bincode-free, little-endian, versioned by its magic).

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::code::Program;
use crate::error::{MachineError, Result};
use crate::machine::{Frame, Machine, TRACK_PAGE};
use crate::state::Status;

const MAGIC: &[u8; 8] = b"GVSNAP02";

fn io(path: &Path, e: std::io::Error) -> MachineError {
    MachineError::Range(format!("snapshot store {}: {e}", path.display()))
}

/// Where a record sits in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Global step index of the state the record holds (steps executed since genesis).
    pub step: u64,
    /// Byte offset of the record in the store.
    pub offset: u64,
}

/// Writes records during an interpreter pass.
pub struct SnapshotWriter {
    out: BufWriter<std::fs::File>,
    path: PathBuf,
    since: u32,
    offset: u64,
    records: Vec<RecordInfo>,
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
}

impl SnapshotWriter {
    /// Creates (truncates) the store at `path`.
    pub fn create(path: &Path) -> Result<SnapshotWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(path, e))?;
        }
        let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(|e| io(path, e))?;
        Ok(SnapshotWriter { out, path: path.to_path_buf(), since: 0, offset: MAGIC.len() as u64, records: Vec::new() })
    }

    /// Appends a record of `m` at global step `step`.
    pub fn record(&mut self, m: &mut Machine, step: u64) -> Result<()> {
        let pages = m.pages_written_since(self.since);
        self.since = m.next_epoch();
        let mut b = Vec::with_capacity(256 + pages.len() * (TRACK_PAGE + 4));
        put(&mut b, &step.to_le_bytes());
        put(&mut b, &m.macro_step.to_le_bytes());
        b.push(m.status as u8);
        b.push(m.active as u8);
        put(&mut b, &m.pc.to_le_bytes());
        put(&mut b, &(m.memory.len() as u64).to_le_bytes());
        put(&mut b, &(m.globals.len() as u32).to_le_bytes());
        for (t, v) in &m.globals {
            b.push(*t);
            put(&mut b, &v.to_le_bytes());
        }
        for list in [&m.values, &m.locals] {
            put(&mut b, &(list.len() as u64).to_le_bytes());
            for v in list.iter() {
                put(&mut b, &v.to_le_bytes());
            }
        }
        put(&mut b, &(m.frames.len() as u32).to_le_bytes());
        for f in &m.frames {
            put(&mut b, &f.return_pc.to_le_bytes());
            put(&mut b, &(f.stack_base as u64).to_le_bytes());
            put(&mut b, &(f.locals_base as u64).to_le_bytes());
            b.push(f.locals_depth);
        }
        put(&mut b, &(pages.len() as u32).to_le_bytes());
        for p in pages {
            put(&mut b, &(p as u32).to_le_bytes());
            put(&mut b, &m.memory[p * TRACK_PAGE..(p + 1) * TRACK_PAGE]);
        }
        self.out.write_all(&(b.len() as u64).to_le_bytes()).map_err(|e| io(&self.path, e))?;
        self.out.write_all(&b).map_err(|e| io(&self.path, e))?;
        self.records.push(RecordInfo { step, offset: self.offset });
        self.offset += 8 + b.len() as u64;
        Ok(())
    }

    /// Flushes the store and returns its records.
    pub fn finish(mut self) -> Result<Vec<RecordInfo>> {
        self.out.flush().map_err(|e| io(&self.path, e))?;
        Ok(self.records)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or_else(|| MachineError::Range("snapshot record truncated".into()))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

/// Restores the state of the last record at or before global step `step` (records must be the
/// ones the store at `path` was written with). Returns the machine and its global step.
pub fn restore(
    path: &Path,
    records: &[RecordInfo],
    program: Arc<Program>,
    blobs: Vec<Arc<Vec<u8>>>,
    memory_limit_pages: u32,
    step: u64,
) -> Result<(Machine, u64)> {
    let k = records.partition_point(|r| r.step <= step);
    if k == 0 {
        return Err(MachineError::Range(format!("no snapshot at or before step {step}")));
    }
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| io(path, e))?;
    if &magic != MAGIC {
        return Err(MachineError::Range(format!("{} is not a snapshot store", path.display())));
    }
    let mut m = Machine::new(program, blobs, memory_limit_pages);
    let mut buf = Vec::new();
    for (i, info) in records[..k].iter().enumerate() {
        let mut len = [0u8; 8];
        r.read_exact(&mut len).map_err(|e| io(path, e))?;
        buf.resize(u64::from_le_bytes(len) as usize, 0);
        r.read_exact(&mut buf).map_err(|e| io(path, e))?;
        let mut c = Cursor { b: &buf, pos: 0 };
        let at = c.u64()?;
        if at != info.step {
            return Err(MachineError::Range("snapshot store does not match its index".into()));
        }
        let macro_step = c.u64()?;
        let status = Status::from_u8(c.u8()?).ok_or_else(|| MachineError::Range("snapshot status".into()))?;
        let active = c.u8()? != 0;
        let pc = c.u32()?;
        let memory_len = c.u64()? as usize;
        let ng = c.u32()? as usize;
        let mut globals = Vec::with_capacity(ng);
        for _ in 0..ng {
            let t = c.u8()?;
            globals.push((t, c.u64()?));
        }
        let mut lists = [Vec::new(), Vec::new()];
        for list in lists.iter_mut() {
            let n = c.u64()? as usize;
            list.reserve(n);
            for _ in 0..n {
                list.push(c.u64()?);
            }
        }
        let nf = c.u32()? as usize;
        let mut frames = Vec::with_capacity(nf);
        for _ in 0..nf {
            frames.push(Frame { return_pc: c.u32()?, stack_base: c.u64()? as usize, locals_base: c.u64()? as usize, locals_depth: c.u8()? });
        }
        m.memory.resize(memory_len, 0);
        let np = c.u32()?;
        for _ in 0..np {
            let p = c.u32()? as usize;
            let bytes = c.take(TRACK_PAGE)?;
            let dst = m.memory.get_mut(p * TRACK_PAGE..(p + 1) * TRACK_PAGE).ok_or_else(|| MachineError::Range("snapshot page outside memory".into()))?;
            dst.copy_from_slice(bytes);
        }
        if i + 1 == k {
            let [values, locals] = lists;
            m.set_state(status, macro_step, active, pc, globals, values, locals, frames);
        }
    }
    Ok((m, records[k - 1].step))
}
