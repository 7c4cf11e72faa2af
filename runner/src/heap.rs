//! Process-wide heap policy: keep freed memory instead of handing it back to the kernel.
//!
//! glibc's malloc serves every large block (128 KiB and up, adaptively up to 32 MiB, and always
//! above that) with a mapping of its own and unmaps it on `free`. The next large block is a new
//! mapping, and the kernel zeroes each of its 4 KiB pages again on first touch. gavel allocates
//! and frees blocks of that size all the time: the memory tree of each machine (hashes and the
//! shadow copy, about 1.3x the guest's memory), the page copies the level-1 trace hands to its
//! hashing thread, and native tract's intermediate tensors in `gavel bench`. On the project's VM a
//! first touch costs 3.4-3.7 us a page (a page-touch loop over a fresh 200 MiB mapping: 172-191
//! ms; the same loop again: 3-5 ms), so a level-1 trace of all-MiniLM-L6-v2 spent more time in the
//! kernel's `clear_page` than in hashing (`perf record`), and native tract's MiniLM inference took
//! 33-46 ms instead of 13-16 ms.
//!
//! [`keep_freed_memory`] makes malloc take every block from its heap and never trim it, so freed
//! memory is reused without faulting. The cost is that the process keeps its peak heap.
#![allow(unsafe_code)]

/// Sets the malloc policy above (glibc on Linux; elsewhere it does nothing). Call it first thing
/// in `main`, before other threads start. Returns whether the policy is in force.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets malloc tunables; the values are in range for each parameter.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
                && libc::mallopt(libc::M_TOP_PAD, 64 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Lowers the calling thread's scheduling priority (nice 10 on Linux, where `setpriority` with
/// `PRIO_PROCESS` and id 0 applies to the calling thread only; elsewhere it does nothing), for
/// background work that must not slow the work on a deadline: the watchtower's confirmation of
/// a disputed run's whole trace while it plays the dispute. Returns whether it took effect.
pub fn lower_thread_priority() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `setpriority` reads its three integer arguments and sets a scheduling value;
        // raising one's own nice value needs no privilege.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}
