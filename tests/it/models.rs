//! Real models: agreement with onnxruntime within each case's tolerance, and determinism across
//! runs and processes.

use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;
use gavel_runner::run::{run, RunOutcome, TraceMode};
use gavel_runner::state::hex32;

use crate::{model_bytes, runtime};

fn run_case(name: &str, mode: TraceMode) -> (Case, RunOutcome) {
    let case = Case::load(&repo_root(), name).expect("case");
    let out = run(runtime(), model_bytes(&case), &case.inputs, &MachineOptions::default(), mode, &mut |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    (case, out)
}

/// Runs a case twice in this process, checks the outputs against onnxruntime and that both runs
/// give the same output id and state root.
fn agree_and_repeat(name: &str) -> RunOutcome {
    let (case, first) = run_case(name, TraceMode::FinalRoot);
    let worst = case.check(&first.outputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(worst.is_finite());
    let (_, second) = run_case(name, TraceMode::FinalRoot);
    assert_eq!(first.output_id, second.output_id, "{name}: output ids differ between runs");
    assert_eq!(first.state_root, second.state_root, "{name}: state roots differ between runs");
    assert_eq!(first.instructions, second.instructions, "{name}: fuel differs between runs");
    first
}

macro_rules! model_tests {
    ($($test:ident => $case:literal,)*) => {$(
        #[test]
        fn $test() {
            agree_and_repeat($case);
        }
    )*};
}

model_tests! {
    silero_vad_matches_onnxruntime_and_repeats => "silero_vad",
    ppocr_det_matches_onnxruntime_and_repeats => "ppocr_det",
    minilm_int8_matches_onnxruntime_and_repeats => "minilm_int8",
    qlinearmatmul_2d_matches => "onnx_qlinearmatmul_2D_uint8_float32",
    qlinearmatmul_3d_matches => "onnx_qlinearmatmul_3D_uint8_float32",
    qlinearconv_matches => "onnx_qlinearconv",
    matmulinteger_matches => "onnx_matmulinteger",
    dynamicquantizelinear_matches => "onnx_dynamicquantizelinear",
    conv_matches => "onnx_conv_with_strides_padding",
    gemm_matches => "onnx_gemm_all_attributes",
    light_shufflenet_matches => "onnx_light_shufflenet",
    light_squeezenet_matches => "onnx_light_squeezenet",
}

/// A second process (the `gavel` binary) reaches the same output id and state root as this one.
#[test]
fn second_process_gives_identical_ids() {
    let (case, here) = run_case("silero_vad", TraceMode::FinalRoot);
    let dir = repo_root().join("tests/data/silero_vad/inputs");
    let args: Vec<String> = case.inputs.iter().map(|t| format!("{}={}", t.name, dir.join(format!("{}.npy", t.name)).display())).collect();
    let mut argv = vec!["run", "--json", "--model", case.model.to_str().unwrap()];
    for a in &args {
        argv.extend(["--input", a.as_str()]);
    }
    let out = gavel_tests::gavel(&argv);
    assert!(out.status.success(), "gavel run failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["output_id"], here.output_id);
    assert_eq!(v["state_root"], hex32(&here.state_root));
    assert_eq!(v["steps"], here.steps);
    assert_eq!(v["instructions"], here.instructions);
    let outputs = v["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), case.expected.len());
    for o in outputs {
        assert!(o["name"].is_string() && o["shape"].is_array() && o["dtype"].is_string() && o["data"].is_array());
    }
}

/// `gavel trace` writes a level-1 trace whose last root is the run's state root, with an ONNX
/// node name and op type on every node step, and whose commitment checks out.
#[test]
fn trace_command_writes_a_consistent_trace() {
    let dir = std::env::temp_dir().join(format!("gavel-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("trace.json");
    let case = Case::load(&repo_root(), "ppocr_det").unwrap();
    let input = repo_root().join("tests/data/ppocr_det/inputs/x.npy");
    let out = gavel_tests::gavel(&[
        "trace",
        "--json",
        "--model",
        case.model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "gavel trace failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trace: gavel_runner::run::Trace = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    gavel_runner::run::verify_trace(&trace).expect("commitment");
    assert_eq!(trace.steps.last().unwrap().root, v["state_root"].as_str().unwrap());
    assert_eq!(trace.commitment, v["commitment"].as_str().unwrap());
    assert_eq!(trace.steps.len() as u64, v["steps"].as_u64().unwrap());
    let nodes: Vec<_> = trace.steps.iter().filter(|s| s.kind == "node").collect();
    assert!(nodes.len() > 20, "detector plan has {} node steps", nodes.len());
    assert!(nodes.iter().all(|s| !s.name.is_empty() && !s.op.is_empty()));
    assert!(nodes.iter().any(|s| s.op.contains("Conv") || s.op.contains("Mat")), "no conv/matmul node in the plan");
    // Plan nodes are traced back to the ONNX operators of the detector.
    let onnx_ops: std::collections::BTreeSet<&str> = nodes.iter().map(|s| s.onnx_op.as_str()).collect();
    for op in ["Conv", "ConvTranspose", "Sigmoid"] {
        assert!(onnx_ops.contains(op), "no plan node traced to ONNX {op}: {onnx_ops:?}");
    }
    let traced = nodes.iter().filter(|s| !s.onnx_op.is_empty()).count();
    assert!(traced * 10 >= nodes.len() * 9, "only {traced} of {} node steps traced to an ONNX op", nodes.len());
    // A tampered root breaks the commitment.
    let mut bad = trace.clone();
    bad.steps[3].root = bad.steps[4].root.clone();
    assert!(gavel_runner::run::verify_trace(&bad).is_err());
    // The in-process traced run agrees with the CLI's.
    let (_, here) = run_case("ppocr_det", TraceMode::Level1);
    assert_eq!(here.trace.unwrap().commitment, trace.commitment);
    std::fs::remove_dir_all(&dir).ok();
}

/// ONNX TensorProto (`.pb`) inputs on the command line carry their own names.
#[test]
fn pb_inputs_bind_by_their_own_names() {
    let case = Case::load(&repo_root(), "onnx_conv_with_strides_padding").unwrap();
    let dir = repo_root().join("models/onnx/conv_with_strides_padding/test_data_set_0");
    let (x, w) = (dir.join("input_0.pb"), dir.join("input_1.pb"));
    let out = gavel_tests::gavel(&["run", "--json", "--model", case.model.to_str().unwrap(), "--input", x.to_str().unwrap(), "--input", w.to_str().unwrap()]);
    assert!(out.status.success(), "gavel run failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, here) = run_case("onnx_conv_with_strides_padding", TraceMode::FinalRoot);
    assert_eq!(v["output_id"], here.output_id);
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([1, 1, 4, 3]));
}
