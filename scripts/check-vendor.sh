#!/usr/bin/env bash
# Vendor guard. Checks that every crate vendored under runner/vendor/ differs from its crates.io
# release in exactly the files runner/vendor/README.md lists ("Files changed from upstream"), and
# that build-guest.sh's rustfft sed still switches off every wasm_simd cfg of the rustfft the
# guest locks. One summary line per crate on success; non-zero exit naming the file otherwise.
#   scripts/check-vendor.sh
# Needs the crates.io registry (index.crates.io, static.crates.io) unless both the .crate files
# (~/.cargo/registry/cache) and their index entries (cargo's index cache) are already local.
set -euo pipefail
# Failures inside $(...) (the fetch helpers run there) must stop the script too.
shopt -s inherit_errexit
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
readme=runner/vendor/README.md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gavel-check-vendor.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

die() { echo "check-vendor: error: $*" >&2; exit 1; }

# Parsing (Cargo.toml, Cargo.lock, index entries, the README's lists) and tree comparison.
read -r -d '' HELPER <<'PY' || true
import json, os, re, sys, tomllib

def fail(msg):
    print(f"check-vendor: error: {msg}", file=sys.stderr)
    sys.exit(1)

def tree(root):
    out = set()
    for d, _, fs in os.walk(root):
        out.update(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/") for f in fs)
    return out

def read(path):
    with open(path, "rb") as f:
        return f.read()

# {relative path: how it differs} and the number compared.
def differences(up, ven):
    a, b = tree(up), tree(ven)
    diff = {}
    for p in a | b:
        if p not in b:
            diff[p] = "removed: only in the .crate"
        elif p not in a:
            diff[p] = "added: not in the .crate"
        elif read(os.path.join(up, p)) != read(os.path.join(ven, p)):
            diff[p] = "changed"
    return diff, len(a | b)

# The README's "## Files changed from upstream": "### crate" headings, each followed by a fenced
# block with one path per line ("#" starts a comment).
def readme_lists(path):
    lists, crate, in_section, in_block = {}, None, False, False
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        s = line.rstrip("\n")
        if in_block:
            if s.startswith("```"):
                in_block, crate = False, None
            else:
                p = s.split("#", 1)[0].strip()
                if p:
                    lists[crate].add(p)
            continue
        if s.startswith("## "):
            in_section = s[3:].strip() == "Files changed from upstream"
        elif in_section and s.startswith("### "):
            crate = s[4:].strip().strip("`")
            if crate in lists:
                fail(f"{path}:{n}: crate {crate} listed twice")
            lists[crate] = set()
        elif in_section and s.startswith("```") and crate is not None:
            in_block = True
    if not lists:
        fail(f'{path} has no "## Files changed from upstream" section with a list per crate')
    return lists

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "package":  # Cargo.toml -> "name version"
    pkg = tomllib.load(open(args[0], "rb"))["package"]
    print(pkg["name"], pkg["version"])
elif cmd == "cksum":  # name version index-file: sha256 from a sparse index file or cargo's cache of it
    name, version, path = args
    data = read(path)
    # cargo's index cache holds the same JSON lines, NUL-separated after a short header.
    for chunk in re.split(rb"[\n\0]", data):
        if chunk.startswith(b"{"):
            try:
                e = json.loads(chunk)
            except ValueError:
                continue
            if e.get("name") == name and e.get("vers") == version:
                print(e["cksum"])
                sys.exit(0)
    sys.exit(3)
elif cmd == "lock-version":  # Cargo.lock crate: the version locked, which must come from a [patch] path
    lock = tomllib.load(open(args[0], "rb"))
    pkgs = [p for p in lock.get("package", []) if p["name"] == args[1]]
    if len(pkgs) != 1:
        fail(f"{args[0]} locks {len(pkgs)} versions of {args[1]}, expected one")
    if "source" in pkgs[0]:
        fail(f"{args[0]} takes {args[1]} from {pkgs[0]['source']}, not from the [patch] copy build-guest.sh makes")
    print(pkgs[0]["version"])
elif cmd == "sed-expr":  # build-guest.sh: the rustfft sed script
    found = re.findall(r"xargs sed -i '([^']*)'", open(args[0], encoding="utf-8").read())
    if len(found) != 1:
        fail(f"expected one \"xargs sed -i '...'\" in {args[0]} (the rustfft patch), found {len(found)}")
    print(found[0])
elif cmd == "changed":  # up patched: the files that differ, one a line, then the number of files
    diff, total = differences(*args)
    for p in sorted(diff):
        print(p)
    print(total)
elif cmd == "compare":  # readme name version upstream-dir vendored-dir
    readme, name, version, up, ven = args
    lists = readme_lists(readme)
    if name not in lists:
        fail(f"{readme} lists no files changed for {name} (add a \"### {name}\" block)")
    listed = lists[name]
    diff, total = differences(up, ven)
    errors = [f"{name}: {p} differs from upstream ({diff[p]}) but is not listed in {readme}" for p in sorted(set(diff) - listed)]
    errors += [f"{name}: {p} is listed in {readme} but does not differ from upstream {name} {version}" for p in sorted(listed - set(diff))]
    for e in errors:
        print(f"check-vendor: error: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"{name} {version}: {total} files compared, {len(diff)} changed, as listed in {readme}")
elif cmd == "crates":  # readme: the crates listed, one a line
    print("\n".join(sorted(readme_lists(args[0]))))
PY
helper() { python3 -c "$HELPER" "$@"; }

# The crate's sha256 from the registry's sparse index, or from cargo's cache of it when the
# index is unreachable.
index_cksum() {
  local name=$1 version=$2 prefix err cache
  case ${#name} in
    1) prefix=1 ;; 2) prefix=2 ;; 3) prefix="3/${name:0:1}" ;;
    *) prefix="${name:0:2}/${name:2:2}" ;;
  esac
  if err=$(curl -sSf --max-time 60 --retry 2 -o "$tmp/index-$name" "https://index.crates.io/$prefix/$name" 2>&1); then
    helper cksum "$name" "$version" "$tmp/index-$name" ||
      die "the crates.io index has no $name $version (https://index.crates.io/$prefix/$name)"
    return
  fi
  cache=$(ls "$cargo_home"/registry/index/index.crates.io-*/.cache/"$prefix/$name" 2>/dev/null | head -n1 || true)
  if [ -n "$cache" ] && helper cksum "$name" "$version" "$cache"; then
    echo "check-vendor: note: index.crates.io unreachable ($err); $name's checksum from $cache" >&2
    return
  fi
  die "cannot reach the crates.io index for $name $version (https://index.crates.io/$prefix/$name: $err), and cargo's index cache has no entry for it"
}

# Extracts NAME-VERSION.crate, checked against the index's sha256, into $tmp/up/; prints the
# directory. The cargo registry cache's copy is used when there is one.
fetch_crate() {
  local name=$1 version=$2 want file err got
  want=$(index_cksum "$name" "$version")
  file=$(ls "$cargo_home"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1 || true)
  if [ -z "$file" ]; then
    file="$tmp/$name-$version.crate"
    err=$(curl -sSfL --max-time 300 --retry 2 -o "$file" "https://static.crates.io/crates/$name/$name-$version.crate" 2>&1) ||
      die "cannot download $name $version from crates.io (https://static.crates.io/crates/$name/$name-$version.crate): $err"
  fi
  got=$(sha256sum "$file" | cut -d' ' -f1)
  [ "$got" = "$want" ] || die "$file has sha256 $got, the crates.io index says $want"
  mkdir -p "$tmp/up"
  tar -xzf "$file" -C "$tmp/up"
  [ -d "$tmp/up/$name-$version" ] || die "$file does not unpack to $name-$version/"
  echo "$tmp/up/$name-$version"
}

# The vendored crates against their releases.
vendored=()
for toml in runner/vendor/*/Cargo.toml; do
  dir=$(dirname "$toml")
  pkg=$(helper package "$toml")
  read -r name version <<<"$pkg"
  [ "$name" = "$(basename "$dir")" ] || die "runner/vendor/$(basename "$dir") holds crate $name"
  vendored+=("$name")
  up=$(fetch_crate "$name" "$version")
  helper compare "$readme" "$name" "$version" "$up" "$dir"
done
# A list for a crate no longer vendored would check nothing.
listed_crates=$(helper crates "$readme")
for listed in $listed_crates; do
  [[ " ${vendored[*]} " == *" $listed "* ]] || die "$readme lists files for $listed, which is not vendored under runner/vendor/"
done

# rustfft: not vendored but patched by a sed in build-guest.sh (README "rustfft"). The guest must
# take it from that patched copy, and the sed, run on the release, must leave no wasm_simd cfg.
version=$(helper lock-version runner/guest/Cargo.lock rustfft)
grep -qF "rustfft-$version" scripts/build-guest.sh ||
  die "runner/guest/Cargo.lock locks rustfft $version but scripts/build-guest.sh does not patch rustfft-$version"
expr=$(helper sed-expr scripts/build-guest.sh)
up=$(fetch_crate rustfft "$version")
patched="$tmp/rustfft-patched"
cp -a "$up" "$patched"
# The same file selection and sed as build-guest.sh.
targets=$(grep -rl 'feature = "wasm_simd"' "$patched/src" || true)
[ -n "$targets" ] || die "rustfft $version has no feature = \"wasm_simd\" in src/: build-guest.sh's patch is out of date"
printf '%s\n' "$targets" | xargs -d '\n' sed -i "$expr"
# Any spelling of the feature test, not just the one the sed matches.
if left=$(grep -rnE 'feature[[:space:]]*=[[:space:]]*"wasm_simd"' "$patched/src"); then
  die "build-guest.sh's sed leaves wasm_simd cfgs in rustfft $version:
${left//$patched\//}"
fi
out=$(helper changed "$up" "$patched")
mapfile -t changed <<<"$out"
total=${changed[-1]}
unset 'changed[-1]'
[ "${#changed[@]}" -gt 0 ] || die "build-guest.sh's sed changes no file of rustfft $version"
echo "rustfft $version: build-guest.sh's sed changes ${#changed[@]} of $total files (${changed[*]}), no feature = \"wasm_simd\" left"
