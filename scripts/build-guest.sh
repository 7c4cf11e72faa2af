#!/usr/bin/env bash
# Builds the pinned guest reproducibly and finalizes it into target/guest/gavel_guest.wasm.
#   scripts/build-guest.sh               build, finalize, fail unless it matches spec/guest.toml
#   scripts/build-guest.sh --write-pin   build, finalize, record the new hashes in spec/guest.toml
# Needs target/release/gavel (cargo build --release) for the finalize step.
#
# Reproducibility: the module must not depend on where the repository is checked out. Source
# paths end up in panic messages, and cargo folds RUSTFLAGS (which name those paths) into every
# crate's metadata hash, which changes symbol names and so code layout. So the guest sources are
# staged at one fixed path and built there with fixed flags; the only remaining input besides the
# sources and Cargo.lock is the toolchain (rustc 1.95.0) and the cargo home path.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
stage=/tmp/gavel-guest-build
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
mkdir -p "$stage"
exec 9>"$stage.lock"
flock 9

# The guest is built with simd128, so tract-linalg's wasm kernels are compiled in and LLVM's loop
# and SLP vectorizers vectorize the rest (element-wise ops, casts, packing); the step machine proves
# every fixed-width SIMD instruction (spec/simd.md; every opcode is checked against
# spec/opcodes.txt by `gavel guest finalize`). rustfft's `wasm_simd`
# feature (forced on by tract-core) would add its own SIMD FFT kernels, with shuffles and lane ops
# the step machine does not prove and the models do not need at speed; so the guest builds against
# a copy of the pinned rustfft 6.4.1 source whose wasm_simd cfg can never be true (rustfft then
# uses its scalar planner). The copy is made here from the cargo registry, never committed.
vendor="$stage/target/guest-vendor/rustfft-6.4.1"
if [ ! -f "$vendor/.gavel-patched" ]; then
  (cd "$repo" && cargo fetch --locked >/dev/null)
  src=$(ls -d "$cargo_home"/registry/src/*/rustfft-6.4.1 2>/dev/null | head -n1)
  [ -n "$src" ] || { echo "error: rustfft-6.4.1 source not found in $cargo_home/registry" >&2; exit 1; }
  rm -rf "$vendor" && mkdir -p "$(dirname "$vendor")" && cp -a "$src" "$vendor"
  grep -rl 'feature = "wasm_simd"' "$vendor/src" | xargs sed -i 's/feature = "wasm_simd"/feature = "gavel_wasm_simd_removed"/g'
  if grep -rq 'feature = "wasm_simd"' "$vendor/src"; then echo "error: rustfft patch incomplete" >&2; exit 1; fi
  touch "$vendor/.gavel-patched"
fi

# Stage the guest and codec sources. A file is copied only if its content differs from the staged
# copy, so cargo sees a new mtime exactly for the files that changed (preserving the source mtimes
# instead would let an older checkout look up to date against artifacts of newer sources).
stage_tree() {
  local from="$1" to="$2"
  mkdir -p "$to"
  (cd "$to" && find . -type f ! -path './target/*' -print0) | while IFS= read -r -d '' f; do
    [ -f "$from/$f" ] || rm -f "$to/$f"
  done
  (cd "$from" && find . -type f ! -path './target/*' -print0) | while IFS= read -r -d '' f; do
    if ! cmp -s "$from/$f" "$to/$f"; then
      mkdir -p "$(dirname "$to/$f")"
      cp "$from/$f" "$to/$f"
    fi
  done
}
for d in guest codec; do
  stage_tree "$repo/runner/$d" "$stage/runner/$d"
done

export RUSTFLAGS="--cfg getrandom_backend=\"unsupported\" -C target-feature=+simd128 --remap-path-prefix=$stage=/gavel --remap-path-prefix=$cargo_home=/cargo"
export CARGO_TARGET_DIR="$stage/target/wasm"
echo "building the guest (tract-onnx -> wasm32-unknown-unknown, release, lto)..." >&2
(cd "$stage/runner/guest" && cargo build --release ${GAVEL_GUEST_LOCKED---locked} --target wasm32-unknown-unknown)
if [ -z "${GAVEL_GUEST_LOCKED-x}" ]; then cp "$stage/runner/guest/Cargo.lock" "$repo/runner/guest/Cargo.lock"; fi
raw="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/gavel_guest.wasm"
gavel="${GAVEL_BIN:-$repo/target/release/gavel}"
"$gavel" guest finalize --raw "$raw" --out "$repo/target/guest/gavel_guest.wasm" "$@"
