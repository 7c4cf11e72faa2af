//! Kernel dirty-page tracking for guest memory (Linux userfaultfd write-protect, async mode, read
//! with `PAGEMAP_SCAN`), so the memory tree rehashes only pages written since the last root
//! instead of comparing all of memory with a shadow copy after every macro-step.
//!
//! The guest's memory is one fixed reservation (`config.rs`: 4 GiB, never moves). It is
//! registered with a userfaultfd in write-protect mode with `UFFD_FEATURE_WP_ASYNC`: the kernel
//! resolves write faults itself and clears the page's write-protect bit, with no signal and no
//! handler thread. `PAGEMAP_SCAN` with `PM_SCAN_WP_MATCHING` then returns the written pages and
//! write-protects them again in one atomic call. Needs Linux 6.7+; [`DirtyTracker::new`] fails
//! cleanly elsewhere and the caller falls back to shadow comparison. Tests check the tracker
//! against the shadow comparison at every macro-step of real models.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const PAGE: usize = 4096;

// <linux/userfaultfd.h>
const UFFD_API: u64 = 0xAA;
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
const UFFDIO_API: libc::c_ulong = 0xC018_AA3F;
const UFFDIO_REGISTER: libc::c_ulong = 0xC020_AA00;
const UFFDIO_WRITEPROTECT: libc::c_ulong = 0xC018_AA06;
// <linux/fs.h>
const PAGEMAP_SCAN: libc::c_ulong = 0xC060_6610;
const PM_SCAN_WP_MATCHING: u64 = 1 << 0;
const PM_SCAN_CHECK_WPASYNC: u64 = 1 << 1;
const PAGE_IS_WRITTEN: u64 = 1 << 1;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioWriteprotect {
    range: UffdioRange,
    mode: u64,
}

#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Tracks writes to `[start, start + len)` of this process's address space.
pub struct DirtyTracker {
    uffd: OwnedFd,
    pagemap: File,
    start: usize,
    len: usize,
    regions: Vec<PageRegion>,
}

// Only the accessible prefix of the reservation is write-protected and scanned: write-protecting
// all 4 GiB would populate page tables for a million pages and make every scan walk them. Pages
// that growth makes accessible are not protected; when first written they appear as present and
// writable, which PAGEMAP_SCAN reports as written, and the scan then protects them.

impl DirtyTracker {
    /// Registers the range (page aligned, inside one anonymous private mapping that stays mapped
    /// as long as the tracker lives) and write-protects its first `accessible` bytes: the first
    /// scan reports pages written after this call.
    pub fn new(start: usize, len: usize, accessible: usize) -> Result<DirtyTracker, String> {
        if !start.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) || len == 0 {
            return Err("dirty tracking needs a page-aligned range".into());
        }
        // SAFETY: plain syscall with integer flags; a negative result is an error.
        let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK | UFFD_USER_MODE_ONLY) };
        if fd < 0 {
            return Err(os_err("userfaultfd"));
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let uffd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut api = UffdioApi { api: UFFD_API, features: UFFD_FEATURE_WP_ASYNC, ioctls: 0 };
        // SAFETY: UFFDIO_API reads and writes exactly one `UffdioApi`.
        if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_API, &mut api) } != 0 {
            return Err(os_err("UFFDIO_API (async write-protect)"));
        }
        let mut reg = UffdioRegister { range: UffdioRange { start: start as u64, len: len as u64 }, mode: UFFDIO_REGISTER_MODE_WP, ioctls: 0 };
        // SAFETY: UFFDIO_REGISTER reads and writes one `UffdioRegister`; registering only changes
        // how the kernel handles write faults in the range (resolved by the kernel: WP_ASYNC).
        if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_REGISTER, &mut reg) } != 0 {
            return Err(os_err("UFFDIO_REGISTER"));
        }
        let pagemap = File::open("/proc/self/pagemap").map_err(|e| format!("/proc/self/pagemap: {e}"))?;
        let mut t = DirtyTracker { uffd, pagemap, start, len, regions: vec![PageRegion::default(); 1024] };
        t.protect(accessible)?;
        // Probe PAGEMAP_SCAN once so an old kernel is detected here, not mid-run.
        t.take(accessible, &mut Vec::new())?;
        Ok(t)
    }

    fn protect(&mut self, accessible: usize) -> Result<(), String> {
        if accessible == 0 || accessible > self.len || !accessible.is_multiple_of(PAGE) {
            return Err(format!("cannot protect {accessible} bytes of a {} byte range", self.len));
        }
        let mut wp = UffdioWriteprotect {
            range: UffdioRange { start: self.start as u64, len: accessible as u64 },
            mode: UFFDIO_WRITEPROTECT_MODE_WP,
        };
        // SAFETY: UFFDIO_WRITEPROTECT reads one `UffdioWriteprotect` for a registered range.
        if unsafe { libc::ioctl(self.uffd.as_raw_fd(), UFFDIO_WRITEPROTECT, &mut wp) } != 0 {
            return Err(os_err("UFFDIO_WRITEPROTECT"));
        }
        Ok(())
    }

    /// Appends to `pages` the indices (offset / 4096 from the range start) of the pages among the
    /// first `accessible` bytes written since the last call, and write-protects them again.
    pub fn take(&mut self, accessible: usize, pages: &mut Vec<usize>) -> Result<(), String> {
        let end = (self.start + accessible.min(self.len)) as u64;
        let mut cursor = self.start as u64;
        while cursor < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                flags: PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                start: cursor,
                end,
                walk_end: 0,
                vec: self.regions.as_mut_ptr() as u64,
                vec_len: self.regions.len() as u64,
                max_pages: 0,
                category_inverted: 0,
                category_mask: PAGE_IS_WRITTEN,
                category_anyof_mask: 0,
                return_mask: PAGE_IS_WRITTEN,
            };
            // SAFETY: PAGEMAP_SCAN reads `arg` and writes at most `vec_len` `PageRegion`s into
            // `self.regions`, which outlives the call.
            let n = unsafe { libc::ioctl(self.pagemap.as_raw_fd(), PAGEMAP_SCAN, &mut arg) };
            if n < 0 {
                return Err(os_err("PAGEMAP_SCAN"));
            }
            for r in &self.regions[..n as usize] {
                let first = (r.start as usize - self.start) / PAGE;
                let last = (r.end as usize - self.start).div_ceil(PAGE);
                pages.extend(first..last);
            }
            if arg.walk_end <= cursor {
                return Err("PAGEMAP_SCAN made no progress".into());
            }
            cursor = arg.walk_end;
        }
        Ok(())
    }
}
