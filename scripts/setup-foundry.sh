#!/usr/bin/env bash
# Idempotent, offline-capable Foundry setup for contracts/: forge, anvil and cast 1.7.1 and
# solc-js 0.8.37 from npm (pinned by contracts/package-lock.json), forge-std from
# @layerzerolabs/toolbox-foundry. Reinstalls only when node_modules is missing or the lock changed.
# Prints the tool paths (`forge=...`, `anvil=...`, `cast=...`) on stdout for other scripts.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
contracts="$repo/contracts"
cd "$contracts"
command -v node >/dev/null || { echo "error: node not found; install Node.js >= 18" >&2; exit 1; }
command -v npm >/dev/null || { echo "error: npm not found" >&2; exit 1; }

stamp="node_modules/.gavel-package-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -d node_modules || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "installing the Foundry toolchain from contracts/package-lock.json..." >&2
  npm ci --ignore-scripts --no-audit --no-fund >&2
  echo "$want" > "$stamp"
fi

arch="$(uname -m)"
case "$arch" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
esac
os="$(uname -s | tr '[:upper:]' '[:lower:]')"
for tool in forge anvil cast; do
  bin="$contracts/node_modules/@foundry-rs/$tool-$os-$arch/bin/$tool"
  [[ -x "$bin" ]] || { echo "error: $tool not found at $bin (expected from @foundry-rs/$tool)" >&2; exit 1; }
  echo "$tool=$bin"
done
[[ -x solc-shim/solc ]] || { echo "error: contracts/solc-shim/solc missing or not executable" >&2; exit 1; }

# forge prints this and still exits 0 when the configured solc is unusable: catch it here.
forge="$contracts/node_modules/@foundry-rs/forge-$os-$arch/bin/forge"
if ! out="$("$forge" build 2>&1)"; then
  echo "$out" >&2
  echo "error: forge build failed" >&2
  exit 1
fi
if grep -qi "no compiler versions are available" <<<"$out"; then
  echo "$out" >&2
  echo "error: forge found no usable solc (check contracts/solc-shim/solc and contracts/foundry.toml)" >&2
  exit 1
fi
