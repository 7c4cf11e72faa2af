#!/usr/bin/env bash
# Builds the pinned guest reproducibly and finalizes it into target/guest/gavel_guest.wasm.
#   scripts/build-guest.sh               build, finalize, fail unless it matches spec/guest.toml
#   scripts/build-guest.sh --write-pin   build, finalize, record the new hashes in spec/guest.toml
# Needs target/release/gavel (cargo build --release) for the finalize step.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
# Paths must not leak into the module (panic locations), or its hash would depend on where the
# repository and the cargo registry live.
export RUSTFLAGS="--cfg getrandom_backend=\"unsupported\" -C target-feature=-simd128 --remap-path-prefix=$repo=/gavel --remap-path-prefix=$cargo_home=/cargo"
export CARGO_TARGET_DIR="${GAVEL_GUEST_TARGET:-$repo/target/guest-build}"
echo "building the guest (tract-onnx -> wasm32-unknown-unknown, release, lto)..." >&2
(cd "$repo/runner/guest" && cargo build --release --locked --target wasm32-unknown-unknown)
raw="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/gavel_guest.wasm"
gavel="${GAVEL_BIN:-$repo/target/release/gavel}"
"$gavel" guest finalize --raw "$raw" --out "$repo/target/guest/gavel_guest.wasm" "$@"
