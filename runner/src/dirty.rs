//! Which pages of guest memory a macro-step wrote, so the memory tree rehashes only those instead
//! of comparing all of memory with a shadow copy after every step.
//!
//! The compiled guest records its own writes. The deterministic engine compiles with the vendored
//! Cranelift's `gavel_dirty_map` setting (`runner/vendor/README.md`): after a store the machine
//! code sets the bytes of the 4 KiB page it wrote and of the next page (it may cross into it) in
//! a map of [`MAP_BYTES`] placed immediately below the memory's base, one 16-bit store, which
//! later stores from the same address in the same block share when it covers them; after
//! `memory.copy`, `memory.fill` and `memory.init`, the byte of every page of the destination. The memory pool (`pool.rs`) maps those bytes
//! read-write in front of every guest memory and zeroes them when a memory is reused. The host's
//! own writes into guest memory (the blob oracle) are marked with [`mark`]. Between steps
//! [`DirtyMap::take`] collects the marked pages and clears their bytes.
//!
//! This replaces kernel write tracking (userfaultfd write-protect read with `PAGEMAP_SCAN`),
//! which took a page fault on the first write to every page in every step: about 1 us each on
//! the project's VM, 130 ms of all-MiniLM-L6-v2's 124,674 (`docs/benchmarks.md`). Marking is
//! conservative: a marked page that holds the same bytes as before costs a comparison with the
//! shadow copy, never a wrong root. Tests check the tracked roots against the shadow comparison
//! at every macro-step of real models, and the marks of every kind of write
//! (`runner/tests/engine/marks.rs`).
#![allow(unsafe_code)]

/// Bytes of the map: one per 4 KiB page of the 4 GiB wasm32 address space, plus room for the
/// next-page mark of a store into the last page (64 KiB, so the memory's base after the map
/// stays aligned on hosts with larger pages). The constant the compiled code uses.
pub const MAP_BYTES: usize = wasmtime_internal_cranelift::GAVEL_DIRTY_MAP_BYTES as usize;
const PAGE: usize = 4096;
/// Pages of the largest memory.
const MAX_PAGES: usize = 1 << 20;

/// The dirty-page map of one guest memory of the deterministic engine.
pub struct DirtyMap {
    base: usize,
}

impl DirtyMap {
    /// The map of the memory whose base is `base` (`wasmtime::Memory::data_ptr`), if it is a
    /// live memory of the deterministic engine; `None` for any other memory.
    pub fn of(base: *mut u8) -> Option<DirtyMap> {
        let base = base as usize;
        crate::pool::with_live(base, |live| live.then_some(DirtyMap { base }))
    }

    /// Clears the marks of the first `accessible` bytes of memory.
    pub fn clear(&mut self, accessible: usize) {
        let n = accessible.div_ceil(PAGE).min(MAX_PAGES);
        crate::pool::with_live(self.base, |live| {
            if live {
                // SAFETY: the memory is alive (and stays so under the registry's lock), so the
                // map's `MAP_BYTES >= n` bytes below its base are mapped read-write (`pool.rs`);
                // nothing else writes them while the guest is not running.
                unsafe { std::ptr::write_bytes((self.base - MAP_BYTES) as *mut u8, 0, n) };
            }
        });
    }

    /// Appends the pages below `accessible` marked since the last call (ascending) to `pages`,
    /// and clears their marks. Returns false, with nothing appended, if the memory is not a live
    /// memory of the deterministic engine any more: then the marks say nothing, and the caller
    /// must compare all of memory.
    #[must_use]
    pub fn take(&mut self, accessible: usize, pages: &mut Vec<usize>) -> bool {
        let n = accessible.div_ceil(PAGE).min(MAX_PAGES);
        crate::pool::with_live(self.base, |live| {
            if !live {
                return false;
            }
            let map = (self.base - MAP_BYTES) as *mut u8;
            let words = n / 8;
            for w in 0..words {
                // SAFETY: as in `clear`; word `w` lies inside the map (`8 * words <= n`), and the
                // map starts page aligned.
                let v = unsafe { (map as *mut u64).add(w).read() };
                if v == 0 {
                    continue;
                }
                // SAFETY: as above.
                unsafe { (map as *mut u64).add(w).write(0) };
                pages.extend((0..8).filter(|b| (v >> (8 * b)) & 0xff != 0).map(|b| 8 * w + b));
            }
            for p in 8 * words..n {
                // SAFETY: as in `clear`; byte `p < n` lies inside the map.
                unsafe {
                    if map.add(p).read() != 0 {
                        map.add(p).write(0);
                        pages.push(p);
                    }
                }
            }
            true
        })
    }
}

/// Marks the pages of `[start, start + len)` of the memory whose base is `base`, for a write by
/// the host. Nothing if it is not a live memory of the deterministic engine.
pub fn mark(base: *mut u8, start: usize, len: usize) {
    if len == 0 {
        return;
    }
    let last = start.saturating_add(len - 1) / PAGE;
    let base = base as usize;
    crate::pool::with_live(base, |live| {
        if !live {
            return;
        }
        for p in start / PAGE..=last.min(MAX_PAGES - 1) {
            // SAFETY: as in `DirtyMap::clear`; `p < MAX_PAGES < MAP_BYTES`.
            unsafe { ((base - MAP_BYTES) as *mut u8).add(p).write(1) };
        }
    });
}
