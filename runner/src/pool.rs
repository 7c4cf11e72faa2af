//! Guest linear memories that keep their pages from one machine to the next.
//!
//! Wasmtime's default memory is a fresh anonymous mapping per instance, so every page a guest
//! touches is faulted in and zeroed by the kernel again for every run; on the project's VM that
//! is 3.4-3.7 us a page (`heap.rs`), about 0.2 s for all-MiniLM-L6-v2's 201 MiB. The pool hands
//! each machine a reservation a finished machine gave back, with its pages still in place: on
//! reuse, every page the last guest could have written is checked and zeroed if it is not zero
//! already, so a new memory is all zeros exactly as the wasm semantics and the genesis state root
//! need. The reset runs when the memory is taken, inside the next run's instantiation time.
//!
//! The layout is the one [`crate::config`] asks for and [`crate::dirty`] relies on: one private
//! anonymous mapping of the dirty-page map ([`crate::dirty::MAP_BYTES`], readable and writable,
//! zeroed on reuse like the memory), then the reservation plus the guard, readable and writable up
//! to the memory's size, inaccessible after it; the memory's base (just past the map) never
//! moves.
#![allow(unsafe_code)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

const PAGE: usize = 4096;
/// Reservations kept for reuse; more than this many finished at once are unmapped.
const KEEP_REGIONS: usize = 4;
/// A memory that reached more than this is unmapped when it finishes instead of kept.
const KEEP_BYTES: usize = 1 << 30;

const MAP: usize = crate::dirty::MAP_BYTES;

/// Bases of the pool's memories that are alive (handed to wasmtime and not dropped yet): what
/// lets [`crate::dirty`] check that a memory has a dirty-page map before touching it.
static LIVE: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

/// Whether `base` is the base of a live pooled memory, so [`crate::dirty::MAP_BYTES`] below it
/// are its readable and writable dirty-page map. Runs `f` under the registry's lock, so the
/// memory cannot be dropped meanwhile.
pub(crate) fn with_live<R>(base: usize, f: impl FnOnce(bool) -> R) -> R {
    // The set stays consistent whatever panicked while holding the lock (each update is one
    // insert or remove), so a poisoned lock is recovered.
    let live = LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(live.contains(&base))
}

/// One reservation: `len` bytes at `base`, accessible (and possibly non-zero) below `dirty`,
/// after the dirty-page map's `MAP` bytes.
struct Region {
    base: usize,
    len: usize,
    dirty: usize,
}

impl Region {
    fn map(len: usize) -> Result<Region, String> {
        // SAFETY: a new private anonymous mapping with no access; nothing else refers to it.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), MAP + len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0) };
        if p == libc::MAP_FAILED {
            return Err(format!("cannot reserve {len} bytes for guest memory: {}", std::io::Error::last_os_error()));
        }
        // Dropping `region` on an error below unmaps it.
        let region = Region { base: p as usize + MAP, len, dirty: 0 };
        // SAFETY: the map's bytes are the start of the mapping just made.
        if unsafe { libc::mprotect(p, MAP, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
            return Err(format!("mprotect of the dirty-page map: {}", std::io::Error::last_os_error()));
        }
        Ok(region)
    }

    /// Makes `[from, to)` readable and writable (`access`) or inaccessible.
    fn protect(&self, from: usize, to: usize, access: bool) -> Result<(), String> {
        if to <= from {
            return Ok(());
        }
        let prot = if access { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_NONE };
        // SAFETY: the range lies inside this region's mapping, which only this region owns.
        if unsafe { libc::mprotect((self.base + from) as *mut libc::c_void, to - from, prot) } != 0 {
            return Err(format!("mprotect of guest memory: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Prepares the region as a zeroed memory of `size` bytes.
    fn reset(&mut self, size: usize) -> Result<(), String> {
        let dirty = self.dirty;
        self.protect(0, dirty.max(size), true)?;
        // SAFETY: `[0, dirty)` was just made readable and writable, and no one else uses the
        // region while it is being reset.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.base as *mut u8, dirty) };
        // SAFETY: the map's bytes below the base are readable and writable (`map`).
        let map = unsafe { std::slice::from_raw_parts_mut((self.base - MAP) as *mut u8, MAP) };
        // Only pages that hold something are written: writing a page the last guest never
        // touched would fault it in, the cost the pool exists to avoid.
        for page in bytes.chunks_mut(PAGE).chain(map.chunks_mut(PAGE)) {
            if page.iter().any(|&b| b != 0) {
                page.fill(0);
            }
        }
        self.protect(size, dirty, false)?;
        self.dirty = size;
        Ok(())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly this region's mapping, which nothing uses any more.
        unsafe { libc::munmap((self.base - MAP) as *mut libc::c_void, MAP + self.len) };
    }
}

/// The memory creator the deterministic engine uses ([`crate::config::deterministic_engine`]).
#[derive(Default)]
pub(crate) struct MemoryPool {
    free: Arc<Mutex<Vec<Region>>>,
}

// SAFETY: every memory is a private mapping of its own of the reservation plus the guard Wasmtime
// asks for, zero filled, inaccessible past its size and never moved (see `PooledMemory`); the
// dirty-page map in front of it belongs to the same mapping.
unsafe impl MemoryCreator for MemoryPool {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let reserved = reserved_size_in_bytes.unwrap_or(crate::config::MEMORY_RESERVATION);
        let capacity = maximum.map_or(reserved, |m| m.min(reserved));
        if minimum > capacity {
            return Err(format!("guest memory of {minimum} bytes exceeds its reservation of {capacity}"));
        }
        let len = reserved + guard_size_in_bytes;
        let kept = {
            let mut free = self.free.lock().map_err(|_| "guest memory pool poisoned".to_string())?;
            free.iter().position(|r| r.len == len).map(|i| free.swap_remove(i))
        };
        let mut region = match kept {
            Some(r) => r,
            None => Region::map(len)?,
        };
        region.reset(minimum)?;
        LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(region.base);
        Ok(Box::new(PooledMemory { free: self.free.clone(), region: Some(region), size: minimum, capacity }))
    }
}

struct PooledMemory {
    free: Arc<Mutex<Vec<Region>>>,
    region: Option<Region>,
    size: usize,
    capacity: usize,
}

// SAFETY: `as_ptr` is the fixed base of the region; `byte_capacity` bytes of it are reserved,
// followed by the guard; bytes below `byte_size` are readable and writable.
unsafe impl LinearMemory for PooledMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity {
            wasmtime::bail!("guest memory cannot grow to {new_size} bytes (reservation {})", self.capacity);
        }
        let region = self.region.as_mut().ok_or_else(|| wasmtime::format_err!("guest memory already released"))?;
        region.protect(self.size, new_size, true).map_err(|e| wasmtime::format_err!(e))?;
        self.size = self.size.max(new_size);
        region.dirty = region.dirty.max(self.size);
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.region.as_ref().map_or(std::ptr::null_mut(), |r| r.base as *mut u8)
    }
}

impl Drop for PooledMemory {
    fn drop(&mut self) {
        let Some(region) = self.region.take() else { return };
        LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&region.base);
        if region.dirty > KEEP_BYTES {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            if free.len() < KEEP_REGIONS {
                free.push(region);
            }
        }
    }
}
