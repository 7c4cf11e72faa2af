//! Memory-tree hashing throughput: `cargo bench -p gavel-bisection --bench merkle`.
//!
//! Reports keccak-f permutations per second for the batched 128-byte hashes (AVX2 four-way,
//! AVX-512 eight-way, the scalar keccak-asm baseline) and MiB/s for a full memory-tree build and
//! an incremental update, the work a level-1 trace does after every macro-step. Figures go to
//! `docs/benchmarks.md`; nothing here asserts a speed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use gavel_bisection::merkle::{hash_many, keccak256, MemoryTree};

/// Runs `f` until `min` has passed (at least 3 times) and returns the fastest run.
fn best(min: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut best = Duration::MAX;
    let mut runs = 0;
    while runs < 3 || start.elapsed() < min {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    best
}

fn pseudo_random(len: usize, mut x: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs bench targets with no flag: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let min = Duration::from_millis(if quick { 1 } else { 1500 });
    let n = if quick { 64 } else { 1 << 16 };
    let msgs: Vec<[u8; 128]> = (0..n).map(|k| pseudo_random(128, k as u64 + 1).try_into().unwrap()).collect();
    let refs: Vec<&[u8; 128]> = msgs.iter().collect();

    let batched = best(min, || {
        black_box(hash_many(black_box(&refs)));
    });
    let scalar = best(min, || {
        for m in &refs {
            black_box(keccak256(black_box(&m[..])));
        }
    });
    let per_sec = |d: Duration| n as f64 / d.as_secs_f64() / 1e6;
    println!("hash_many (batched 128-byte): {:.2} M hashes/s", per_sec(batched));
    println!("keccak-asm scalar:            {:.2} M hashes/s", per_sec(scalar));

    let mib = if quick { 1 } else { 64 };
    let memory = pseudo_random(mib << 20, 7);
    let full = best(min, || {
        let mut t = MemoryTree::new();
        black_box(t.update(black_box(&memory)));
    });
    println!("memory tree, full build:      {:.0} MiB/s ({mib} MiB)", mib as f64 / full.as_secs_f64());

    // An incremental step: a quarter of the pages rewritten.
    let mut tree = MemoryTree::new();
    tree.update(&memory);
    let pages = memory.len() / 4096;
    let dirty: Vec<usize> = (0..pages).step_by(4).collect();
    let mut next = memory.clone();
    let mut flip = 0u8;
    let incremental = best(min, || {
        flip = flip.wrapping_add(1);
        for &p in &dirty {
            next[p * 4096..(p + 1) * 4096].fill(flip);
        }
        black_box(tree.update_pages(&next, &dirty));
    });
    let dirty_mib = (dirty.len() * 4096) as f64 / (1 << 20) as f64;
    println!("memory tree, update {} dirty pages: {:.0} MiB/s of dirty pages", dirty.len(), dirty_mib / incremental.as_secs_f64());
}
