//! Hashes the vendored crates (`runner/vendor`) into `GAVEL_VENDOR_HASH`, part of the
//! compiled-module cache key (`src/module.rs`): an edit to the vendored Cranelift changes the
//! machine code of the guest, so compiled guests cached before it must not be reused.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor");
    println!("cargo:rerun-if-changed={}", vendor.display());
    let mut all = Vec::new();
    files(&vendor, &mut all);
    all.sort();
    // FNV-1a over every path (relative) and its bytes: no build dependency, and any change to
    // any file changes the key.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for p in &all {
        let rel = p.strip_prefix(&vendor).unwrap_or(p);
        eat(rel.to_string_lossy().as_bytes());
        eat(&[0]);
        eat(&std::fs::read(p).unwrap_or_default());
        eat(&[0]);
    }
    println!("cargo:rustc-env=GAVEL_VENDOR_HASH={h:016x}-{}", all.len());
}
