#!/usr/bin/env bash
# The whole test suite, from a fresh clone: setup, then every test of the workspace.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/setup.sh
# Formatting (rustfmt.toml); the component ships with the toolchain, the add is a no-op then.
rustup component add rustfmt >/dev/null 2>&1 || true
cargo fmt --all --check
# The pinned guest's opcodes are all supported by the step machine (spec/opcodes.txt).
target/release/gavel guest opcodes | tail -n 1
cargo test --release --locked --workspace
scripts/test-contracts.sh
