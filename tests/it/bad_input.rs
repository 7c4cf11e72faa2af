//! Bad input at every boundary: a one-line error naming the problem and a non-zero exit.

use std::path::PathBuf;

use gavel_codec::{DType, Tensor};
use gavel_runner::tensor_io::to_npy;
use gavel_tests::{gavel, repo};

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("gavel-bad-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn model(name: &str) -> String {
    repo().join("models").join(name).to_str().unwrap().to_string()
}

fn data(path: &str) -> String {
    repo().join("tests/data").join(path).to_str().unwrap().to_string()
}

/// Runs gavel, expects failure, returns stderr; checks it is a single `error:` line.
fn fails(args: &[&str], expect: &str) -> String {
    let out = gavel(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "gavel {args:?} succeeded; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(1), "gavel {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "gavel panicked: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got: {stderr}");
    assert!(errors[0].to_lowercase().contains(&expect.to_lowercase()), "error {:?} does not mention {expect:?}", errors[0]);
    errors[0].to_string()
}

fn x_input() -> String {
    format!("x={}", data("ppocr_det/inputs/x.npy"))
}

#[test]
fn truncated_onnx_is_rejected() {
    let s = Scratch::new("trunc");
    let bytes = std::fs::read(model("ppocr_det.onnx")).unwrap();
    let m = s.write("trunc.onnx", &bytes[..bytes.len() / 3]);
    fails(&["run", "--model", &m, "--input", &x_input()], "onnx");
}

#[test]
fn garbage_onnx_is_rejected() {
    let s = Scratch::new("garbage");
    let m = s.write("garbage.onnx", b"this is not a protobuf at all \xff\xff\xff\xff");
    fails(&["run", "--model", &m, "--input", &x_input()], "not a valid ONNX model");
}

#[test]
fn empty_model_is_rejected() {
    let s = Scratch::new("empty");
    let m = s.write("empty.onnx", b"");
    fails(&["run", "--model", &m, "--input", &x_input()], "empty");
}

#[test]
fn unreadable_files_are_named() {
    fails(&["run", "--model", "/nonexistent/model.onnx", "--input", &x_input()], "/nonexistent/model.onnx");
    fails(&["run", "--model", &model("ppocr_det.onnx"), "--input", "x=/nonexistent/x.npy"], "/nonexistent/x.npy");
}

#[test]
fn unsupported_operator_is_named() {
    // A one-node model using an operator tract does not implement.
    let s = Scratch::new("op");
    let m = s.write("op.onnx", &onnx_single_node("NotARealOperator"));
    let t = Tensor::new("x", DType::F32, vec![2], vec![0; 8]).unwrap();
    let x = s.write("x.npy", &to_npy(&t));
    fails(&["run", "--model", &m, "--input", &format!("x={x}")], "NotARealOperator");
}

#[test]
fn missing_and_extra_inputs_are_named() {
    let silero = model("silero_vad.onnx");
    let input = format!("input={}", data("silero_vad/inputs/input.npy"));
    let state = format!("state={}", data("silero_vad/inputs/state.npy"));
    let sr = format!("sr={}", data("silero_vad/inputs/sr.npy"));
    fails(&["run", "--model", &silero, "--input", &input, "--input", &state], "missing input 'sr'");
    let extra = format!("bogus={}", data("silero_vad/inputs/sr.npy"));
    fails(&["run", "--model", &silero, "--input", &input, "--input", &state, "--input", &sr, "--input", &extra], "'bogus' is not an input");
    // One unnamed input for a three-input model.
    fails(&["run", "--model", &silero, "--input", &data("silero_vad/inputs/input.npy")], "model has 3 inputs");
}

#[test]
fn wrong_dtype_and_shape_are_named() {
    let s = Scratch::new("dtype");
    let t = Tensor::new("x", DType::I64, vec![1, 3, 128, 320], vec![0; 8 * 3 * 128 * 320]).unwrap();
    let x = s.write("x64.npy", &to_npy(&t));
    fails(&["run", "--model", &model("ppocr_det.onnx"), "--input", &format!("x={x}")], "dtype int64");
    let silero = model("silero_vad.onnx");
    let bad_state = Tensor::new("state", DType::F32, vec![2, 1, 64], vec![0; 4 * 128]).unwrap();
    let st = s.write("state.npy", &to_npy(&bad_state));
    fails(
        &[
            "run",
            "--model",
            &silero,
            "--input",
            &format!("input={}", data("silero_vad/inputs/input.npy")),
            "--input",
            &format!("state={st}"),
            "--input",
            &format!("sr={}", data("silero_vad/inputs/sr.npy")),
        ],
        "input 'state' has shape [2, 1, 64]",
    );
}

#[test]
fn malformed_tensor_files_are_rejected() {
    let s = Scratch::new("npy");
    let m = model("ppocr_det.onnx");
    let x = s.write("bad.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'");
    fails(&["run", "--model", &m, "--input", &format!("x={x}")], "bad.npy");
    let good = std::fs::read(data("ppocr_det/inputs/x.npy")).unwrap();
    let x = s.write("short.npy", &good[..good.len() - 4]);
    fails(&["run", "--model", &m, "--input", &format!("x={x}")], "data bytes");
    let x = s.write("x.txt", b"1 2 3");
    fails(&["run", "--model", &m, "--input", &format!("x={x}")], "unknown tensor file type");
    let x = s.write("bad.pb", b"\x0a\xff\xff");
    fails(&["run", "--model", &m, "--input", &format!("x={x}")], "bad.pb");
}

#[test]
fn model_too_large_for_memory_limit() {
    fails(
        &[
            "run",
            "--memory-limit-mib",
            "16",
            "--model",
            &model("minilm_int8.onnx"),
            "--input",
            &format!("input_ids={}", data("minilm_int8/inputs/input_ids.npy")),
            "--input",
            &format!("attention_mask={}", data("minilm_int8/inputs/attention_mask.npy")),
            "--input",
            &format!("token_type_ids={}", data("minilm_int8/inputs/token_type_ids.npy")),
        ],
        "memory limit of 16 MiB",
    );
    fails(&["run", "--memory-limit-mib", "5000", "--model", &model("ppocr_det.onnx"), "--input", &x_input()], "outside 1..=4096");
}

#[test]
fn unpinned_guest_is_refused_by_default() {
    let s = Scratch::new("guest");
    let g = s.write("not-the-guest.wasm", b"\0asm\x01\0\0\0");
    let out = std::process::Command::new(gavel_tests::gavel_bin())
        .args(["run", "--model", &model("ppocr_det.onnx"), "--input", &x_input()])
        .env("GAVEL_GUEST", &g)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("spec/guest.toml pins"), "{stderr}");
}

/// A minimal ONNX model: graph with one node `op_type(x) -> y`, x and y float [2], opset 17.
fn onnx_single_node(op_type: &str) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, num: u32, bytes: &[u8]) {
        out.push(((num << 3) | 2) as u8);
        let mut n = bytes.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(bytes);
    }
    fn value_info(name: &str) -> Vec<u8> {
        // TypeProto { tensor_type (1) { elem_type (1) = FLOAT, shape (2) { dim { dim_value 2 } } } }
        let mut dim = Vec::new();
        dim.extend_from_slice(&[0x08, 0x02]);
        let mut shape = Vec::new();
        field(&mut shape, 1, &dim);
        let mut tensor = vec![0x08, 0x01];
        field(&mut tensor, 2, &shape);
        let mut ty = Vec::new();
        field(&mut ty, 1, &tensor);
        let mut vi = Vec::new();
        field(&mut vi, 1, name.as_bytes());
        field(&mut vi, 2, &ty);
        vi
    }
    let mut node = Vec::new();
    field(&mut node, 1, b"x");
    field(&mut node, 2, b"y");
    field(&mut node, 3, b"the_node");
    field(&mut node, 4, op_type.as_bytes());
    let mut graph = Vec::new();
    field(&mut graph, 1, &node);
    field(&mut graph, 2, b"g");
    field(&mut graph, 11, &value_info("x"));
    field(&mut graph, 12, &value_info("y"));
    let mut opset = vec![0x10, 17];
    opset.splice(0..0, []);
    let mut model = vec![0x08, 0x08]; // ir_version 8
    field(&mut model, 7, &graph);
    field(&mut model, 8, &opset);
    model
}
