#!/usr/bin/env bash
# The whole test suite, from a fresh clone: setup, then every test of the workspace.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/setup.sh
# The pinned guest's opcodes are all supported by the step machine (spec/opcodes.txt).
target/release/gavel guest opcodes | tail -n 1
cargo test --release --locked --workspace
scripts/test-contracts.sh
