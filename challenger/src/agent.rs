//! A claim's fields as the Court takes them and as nodes persist them. The game itself is
//! played by [`crate::player`].

use anyhow::Result;
use gavel_bisection::merkle::Hash32;
use gavel_bisection::state::hex32;
use serde::Serialize;

use crate::chain::{b256, parse_word};
use crate::contracts::ICourt;
use crate::trace::ClaimShape;

/// The on-chain form of a claim.
pub fn claim_data(model_id: u64, request_id: u64, input_root: &Hash32, shape: &ClaimShape) -> ICourt::ClaimData {
    ICourt::ClaimData {
        modelId: model_id,
        requestId: request_id,
        macroStepCount: shape.macro_steps,
        level2Depth: shape.level2_depth,
        inputRoot: b256(input_root),
        outputRoot: b256(&shape.output_root),
        finalStateRoot: b256(&shape.final_root),
    }
}

/// A claim's fields as nodes persist them (JSON, roots as `0x`-hex).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ClaimFields {
    /// Model id.
    pub model_id: u64,
    /// Request id (0: none).
    pub request_id: u64,
    /// Macro-steps.
    pub macro_steps: u64,
    /// Level-2 depth.
    pub level2_depth: u8,
    /// Input blob id.
    pub input_root: String,
    /// Output blob id.
    pub output_root: String,
    /// Final state root.
    pub final_root: String,
}

impl ClaimFields {
    /// From the on-chain form.
    pub fn of(d: &ICourt::ClaimData) -> ClaimFields {
        ClaimFields {
            model_id: d.modelId,
            request_id: d.requestId,
            macro_steps: d.macroStepCount,
            level2_depth: d.level2Depth,
            input_root: hex32(&d.inputRoot.0),
            output_root: hex32(&d.outputRoot.0),
            final_root: hex32(&d.finalStateRoot.0),
        }
    }

    /// The claim as the contracts take it.
    pub fn data(&self) -> Result<ICourt::ClaimData> {
        Ok(ICourt::ClaimData {
            modelId: self.model_id,
            requestId: self.request_id,
            macroStepCount: self.macro_steps,
            level2Depth: self.level2_depth,
            inputRoot: parse_word(&self.input_root)?.into(),
            outputRoot: parse_word(&self.output_root)?.into(),
            finalStateRoot: parse_word(&self.final_root)?.into(),
        })
    }
}
