//! Native tract (the same tract-onnx version as the guest), for benchmarks only: its results
//! are never part of a claim (native kernels use FMA/AVX and differ from the guest by a few ulp).

use gavel_codec::Tensor as WireTensor;
use tract_onnx::prelude::*;

use crate::error::{Result, RunnerError};

fn err(e: impl std::fmt::Display) -> RunnerError {
    RunnerError::Native(format!("{e:#}"))
}

/// A model loaded and optimized natively, with inputs bound to concrete shapes.
pub struct NativeModel {
    plan: Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
}

impl NativeModel {
    /// Loads, types and optimizes `model` for `inputs` (matched by name, or the only input).
    pub fn load(model: &[u8], inputs: &[WireTensor]) -> Result<NativeModel> {
        let declared = tract_onnx::onnx().model_for_read(&mut &model[..]).map_err(err)?;
        let mut m = declared.clone();
        let names: Vec<String> = m.input_outlets().map_err(err)?.iter().map(|o| m.node(o.node).name.clone()).collect();
        let mut bound = TVec::new();
        for (ix, name) in names.iter().enumerate() {
            let t = inputs
                .iter()
                .find(|t| &t.name == name || (t.name.is_empty() && names.len() == 1))
                .ok_or_else(|| RunnerError::Native(format!("missing input {name}")))?;
            let t = gavel_codec::tract::to_tract(t).map_err(RunnerError::Native)?;
            m = m.with_input_fact(ix, InferenceFact::dt_shape(t.datum_type(), t.shape())).map_err(err)?;
            bound.push(t.into_tvalue());
        }
        // Same strategy as the guest: concrete input shapes, or the declared facts if that fails.
        let typed = match m.into_typed() {
            Ok(t) => t,
            Err(_) => declared.into_typed().map_err(err)?,
        };
        let plan = typed.into_optimized().map_err(err)?.into_runnable().map_err(err)?;
        Ok(NativeModel { plan, inputs: bound })
    }

    /// Runs one inference.
    pub fn run(&self) -> Result<usize> {
        let out = self.plan.run(self.inputs.clone()).map_err(err)?;
        Ok(out.len())
    }

    /// Runs one inference one plan node at a time, in the guest's order (`runner/guest`), and
    /// returns each node's tract op name and wall time, for `gavel bench --profile`.
    pub fn profile(&self) -> Result<Vec<(String, std::time::Duration)>> {
        let mut state = TypedSimpleState::new(&self.plan).map_err(err)?;
        for (ix, t) in self.inputs.iter().enumerate() {
            state.set_input(ix, t.clone()).map_err(err)?;
        }
        let sources: Vec<usize> = self.plan.model().input_outlets().map_err(err)?.iter().map(|o| o.node).collect();
        let mut out = Vec::new();
        for &node in self.plan.order_without_consts() {
            let t = std::time::Instant::now();
            // Source nodes already hold their bound value (a guest macro-step that does nothing).
            if !sources.contains(&node) {
                state.compute_one(node).map_err(err)?;
            }
            out.push((self.plan.model().node(node).op().name().to_string(), t.elapsed()));
        }
        Ok(out)
    }
}
