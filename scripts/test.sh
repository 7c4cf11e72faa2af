#!/usr/bin/env bash
# The whole test suite, from a fresh clone: setup, then every test of the workspace.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
GAVEL_SETUP_ALL_TARGETS=1 scripts/setup.sh
# Headless Chromium for the dispute explorer's test.
scripts/setup-browser.sh
# Formatting (rustfmt.toml); the component ships with the toolchain, the add is a no-op then.
rustup component add rustfmt >/dev/null 2>&1 || true
# Every package but gavel-codec, which is compiled into the pinned guest: reformatting it moves
# panic locations and so changes the guest's hash (spec/guest.toml); it stays as pinned.
fmt_packages=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"] if p["name"] != "gavel-codec"))')
# shellcheck disable=SC2086
cargo fmt --check $fmt_packages
# Every copy of the opcode numbers (Rust, Solidity, spec/opcodes.txt) is generated from spec/opcodes.toml.
python3 scripts/gen-opcodes.py --check
# The vendored crates differ from their crates.io releases only as runner/vendor/README.md lists,
# and build-guest.sh's rustfft sed still takes out every wasm_simd cfg (fetches from crates.io).
scripts/check-vendor.sh
# The pinned guest's opcodes are all supported by the step machine (spec/opcodes.txt).
target/release/gavel guest opcodes | tail -n 1
cargo test --release --locked --workspace
# Lints as errors (the workspace's [lints] and clippy's defaults), every target.
rustup component add clippy >/dev/null 2>&1 || true
cargo clippy --locked --workspace --all-targets -- -D warnings
scripts/test-contracts.sh
