#!/usr/bin/env bash
# Builds and tests the Solidity contracts offline, then checks gas against the committed
# contracts/.gas-snapshot (regenerate with: cd contracts && $forge snapshot).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$("$repo/scripts/setup-foundry.sh")"
forge="$(sed -n 's/^forge=//p' <<<"$tools")"
cd "$repo/contracts"
# The Solidity opcode constants and table are generated from spec/opcodes.toml.
python3 "$repo/scripts/gen-opcodes.py" --check
# Formatting (foundry.toml's [fmt], forge's defaults).
"$forge" fmt --check
"$forge" build
"$forge" test
"$forge" snapshot --check
