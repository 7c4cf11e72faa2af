//! Model test cases under `tests/data/<case>/` (see `tests/data/README.md`): a model, its inputs
//! and onnxruntime's reference outputs with a tolerance. Used by the test suite and `gavel bench`.

use std::path::{Path, PathBuf};

use gavel_codec::Tensor;

use crate::error::{read_file, Result, RunnerError};
use crate::tensor_io::{as_f64, read_tensor_file};

#[derive(serde::Deserialize)]
struct CaseFile {
    model: String,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    outputs: Vec<String>,
    #[serde(default)]
    inputs_pb: Vec<String>,
    #[serde(default)]
    expected_pb: Vec<String>,
    atol: f64,
    rtol: f64,
    #[serde(default)]
    per_output: std::collections::BTreeMap<String, Tolerance>,
}

/// `|got - expected| <= atol + rtol * |expected|`.
#[derive(Clone, Copy, Debug, serde::Deserialize)]
pub struct Tolerance {
    /// Absolute part.
    pub atol: f64,
    /// Relative part.
    pub rtol: f64,
}

/// One case, resolved against the repository root.
#[derive(Clone, Debug)]
pub struct Case {
    /// Directory name.
    pub name: String,
    /// ONNX model file.
    pub model: PathBuf,
    /// Inputs, named as the model names them.
    pub inputs: Vec<Tensor>,
    /// Reference outputs, named as the model names them.
    pub expected: Vec<Tensor>,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Tolerances that replace `atol`/`rtol` for particular outputs.
    pub per_output: std::collections::BTreeMap<String, Tolerance>,
}

/// The repository root this binary was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Case {
    /// Loads `tests/data/<name>` relative to `root`.
    pub fn load(root: &Path, name: &str) -> Result<Case> {
        let dir = root.join("tests/data").join(name);
        let file = dir.join("case.json");
        let spec: CaseFile = serde_json::from_slice(&read_file(&file)?).map_err(|e| RunnerError::TensorFile { path: file.clone(), reason: e.to_string() })?;
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        if spec.inputs_pb.is_empty() {
            for n in &spec.inputs {
                inputs.push(read_tensor_file(&dir.join("inputs").join(format!("{n}.npy")), n)?);
            }
            for n in &spec.outputs {
                expected.push(read_tensor_file(&dir.join("expected").join(format!("{n}.npy")), n)?);
            }
        } else {
            for (i, p) in spec.inputs_pb.iter().enumerate() {
                inputs.push(read_tensor_file(&root.join(p), spec.inputs.get(i).map_or("", |s| s))?);
            }
            for (i, p) in spec.expected_pb.iter().enumerate() {
                expected.push(read_tensor_file(&root.join(p), spec.outputs.get(i).map_or("", |s| s))?);
            }
        }
        Ok(Case { name: name.to_string(), model: root.join(&spec.model), inputs, expected, atol: spec.atol, rtol: spec.rtol, per_output: spec.per_output })
    }

    /// Compares `outputs` to the reference: same names, dtypes and shapes, and every element
    /// within `atol + rtol * |expected|`. Returns the largest absolute error.
    pub fn check(&self, outputs: &[Tensor]) -> std::result::Result<f64, String> {
        let mut worst = 0f64;
        for exp in &self.expected {
            let got = outputs
                .iter()
                .find(|o| o.name == exp.name)
                .ok_or_else(|| format!("output '{}' missing (got {:?})", exp.name, outputs.iter().map(|o| &o.name).collect::<Vec<_>>()))?;
            if got.shape != exp.shape || got.dtype != exp.dtype {
                return Err(format!("output '{}': got {} {:?}, expected {} {:?}", exp.name, got.dtype, got.shape, exp.dtype, exp.shape));
            }
            let tol = self.per_output.get(&exp.name).copied().unwrap_or(Tolerance { atol: self.atol, rtol: self.rtol });
            for (i, (g, e)) in as_f64(got).iter().zip(as_f64(exp)).enumerate() {
                let d = (g - e).abs();
                if d.is_nan() || d > tol.atol + tol.rtol * e.abs() {
                    return Err(format!("output '{}'[{i}]: got {g}, expected {e} (|diff| {d:e})", exp.name));
                }
                worst = worst.max(d);
            }
        }
        Ok(worst)
    }
}
