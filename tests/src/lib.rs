//! End-to-end tests live in `tests/it/`. This library holds the helpers they share.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `gavel` binary of the same build as the running test (`target/<profile>/gavel`).
pub fn gavel_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let bin = profile_dir.join("gavel");
    assert!(bin.exists(), "{} not found: build the workspace (cargo build --release) before the tests", bin.display());
    bin
}

/// Runs `gavel` with `args` from the repository root.
pub fn gavel(args: &[&str]) -> Output {
    Command::new(gavel_bin()).args(args).current_dir(repo()).output().expect("spawn gavel")
}
