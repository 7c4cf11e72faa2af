#!/usr/bin/env bash
# Debian's Chromium for the dispute explorer's browser test (tests/it/explorer.rs): installed with
# apt-get when missing (as root, as CI runs). Idempotent; prints the version.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: chromium is missing; install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  echo "installing chromium (Debian)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
fi
chromium --version 2>/dev/null
