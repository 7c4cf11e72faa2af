//! How a claim's public words bind to machine states (`spec/proofs.md`, "Binding"): the genesis
//! root computed from the model and input blob ids, and the output proof that ties a final state
//! root to an output blob id. The on-chain twin is `contracts/src/WasmMachine.sol`.

use crate::error::{MachineError, Result};
use crate::merkle::{root_from_proof, Hash32, ARITY, MEMORY_DEPTH};
use crate::state::{blobs_root_of_ids, MachineHeader, Status, IDLE_CONTEXT};

/// What a guest's genesis state root depends on besides the claim's blobs: fixed for a pinned
/// module and a memory limit, so the chain stores it once per deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Genesis {
    /// Code root of the lowered module.
    #[serde(with = "hex_word")]
    pub code: Hash32,
    /// Memory size after instantiation, in 64 KiB pages.
    pub memory_pages: u32,
    /// The memory limit, in pages.
    pub memory_limit_pages: u32,
    /// Globals hash after instantiation.
    #[serde(with = "hex_word")]
    pub globals: Hash32,
    /// Memory root after instantiation (data segments).
    #[serde(with = "hex_word")]
    pub memory: Hash32,
    /// Address of the 32-byte output id leaf the guest writes in its `finish` step.
    pub output_id_address: u32,
}

impl Genesis {
    /// From the header of a freshly instantiated machine.
    pub fn of(header: &MachineHeader, output_id_address: u32) -> Genesis {
        Genesis {
            code: header.code,
            memory_pages: header.memory_pages,
            memory_limit_pages: header.memory_limit_pages,
            globals: header.globals,
            memory: header.memory,
            output_id_address,
        }
    }

    /// The state root before the first macro-step of a run on these blobs (`model_id`,
    /// `input_id`: blob ids, `state::blob_id`).
    pub fn root(&self, model_id: &Hash32, input_id: &Hash32) -> Hash32 {
        MachineHeader {
            status: Status::Running,
            macro_step: 0,
            memory_pages: self.memory_pages,
            memory_limit_pages: self.memory_limit_pages,
            code: self.code,
            blobs: blobs_root_of_ids(&[*model_id, *input_id]),
            globals: self.globals,
            memory: self.memory,
            context: IDLE_CONTEXT,
        }
        .root()
    }
}

/// Bytes of an output proof: `status u8 ‖ macro_step u64 ‖ memory_pages u32 ‖
/// memory_limit_pages u32 ‖ code ‖ blobs ‖ globals ‖ 42 memory siblings`.
pub const OUTPUT_PROOF_LEN: usize = 1 + 8 + 4 + 4 + 3 * 32 + (ARITY - 1) * MEMORY_DEPTH * 32;

/// The output proof of a boundary state: its header fields and the memory path of the output id
/// leaf (`path` from `MemoryTree::proof(output_id_address / 32)`).
pub fn output_proof(header: &MachineHeader, path: &[Hash32]) -> Vec<u8> {
    let mut p = Vec::with_capacity(OUTPUT_PROOF_LEN);
    p.push(header.status as u8);
    p.extend_from_slice(&header.macro_step.to_be_bytes());
    p.extend_from_slice(&header.memory_pages.to_be_bytes());
    p.extend_from_slice(&header.memory_limit_pages.to_be_bytes());
    p.extend_from_slice(&header.code);
    p.extend_from_slice(&header.blobs);
    p.extend_from_slice(&header.globals);
    for h in path {
        p.extend_from_slice(h);
    }
    p
}

fn word(b: &[u8]) -> Hash32 {
    let mut w = [0u8; 32];
    w.copy_from_slice(b);
    w
}

/// The output root of a claim that the run ended failed or trapped: the output id leaf of such a
/// state still holds zero, because the guest writes it only in its `finish` step.
pub const FAILED_OUTPUT: Hash32 = [0; 32];

/// Whether `proof` shows that `final_root` is a boundary state whose output id leaf holds
/// `output_root` and whose outcome the root states: a finished run (status done) with an output
/// root other than [`FAILED_OUTPUT`], or a failed or trapped run with [`FAILED_OUTPUT`]. A
/// malformed proof is an error; a well-formed proof of a different state or output is `Ok(false)`.
pub fn verify_output(final_root: &Hash32, output_root: &Hash32, output_id_address: u32, proof: &[u8]) -> Result<bool> {
    if proof.len() != OUTPUT_PROOF_LEN {
        return Err(MachineError::Proof(format!("output proof of {} bytes; want {OUTPUT_PROOF_LEN}", proof.len())));
    }
    if !output_id_address.is_multiple_of(32) {
        return Err(MachineError::Proof(format!("output id address {output_id_address:#x} is not 32-byte aligned")));
    }
    let status = Status::from_u8(proof[0]).ok_or_else(|| MachineError::Proof(format!("status byte {}", proof[0])))?;
    let u32_at = |at: usize| u32::from_be_bytes([proof[at], proof[at + 1], proof[at + 2], proof[at + 3]]);
    let mut macro_step = [0u8; 8];
    macro_step.copy_from_slice(&proof[1..9]);
    let path: Vec<Hash32> = proof[113..].chunks_exact(32).map(word).collect();
    let memory = root_from_proof(output_root, (output_id_address / 32) as usize, &path);
    let header = MachineHeader {
        status,
        macro_step: u64::from_be_bytes(macro_step),
        memory_pages: u32_at(9),
        memory_limit_pages: u32_at(13),
        code: word(&proof[17..49]),
        blobs: word(&proof[49..81]),
        globals: word(&proof[81..113]),
        memory,
        context: IDLE_CONTEXT,
    };
    let outcome = if *output_root == FAILED_OUTPUT { matches!(status, Status::Failed | Status::Trapped) } else { status == Status::Done };
    Ok(outcome && u64::from(output_id_address) + 32 <= u64::from(header.memory_pages) * 65536 && header.root() == *final_root)
}

mod hex_word {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(w: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(w)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let b = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        b.try_into().map_err(|_| serde::de::Error::custom("want 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A boundary state with `leaf` at the output id and status `status`, and its output proof.
    fn state(status: Status, leaf: Hash32, address: u32) -> (Hash32, Vec<u8>) {
        let path: Vec<Hash32> = (0..(ARITY - 1) * MEMORY_DEPTH).map(|i| [i as u8 + 1; 32]).collect();
        let header = MachineHeader {
            status,
            macro_step: 305,
            memory_pages: 17,
            memory_limit_pages: 32768,
            code: [7; 32],
            blobs: [8; 32],
            globals: [9; 32],
            memory: root_from_proof(&leaf, (address / 32) as usize, &path),
            context: IDLE_CONTEXT,
        };
        (header.root(), output_proof(&header, &path))
    }

    #[test]
    fn failed_and_trapped_runs_prove_the_failed_outcome_only() {
        let (address, output) = (0x1000, [0x5a; 32]);
        for status in [Status::Failed, Status::Trapped] {
            let (root, proof) = state(status, FAILED_OUTPUT, address);
            assert!(verify_output(&root, &FAILED_OUTPUT, address, &proof).unwrap());
            assert!(!verify_output(&root, &output, address, &proof).unwrap());
            // A leaf that is not zero cannot stand for "no output".
            let (root, proof) = state(status, output, address);
            assert!(!verify_output(&root, &FAILED_OUTPUT, address, &proof).unwrap());
            assert!(!verify_output(&root, &output, address, &proof).unwrap());
        }
        for status in [Status::Running, Status::Done] {
            let (root, proof) = state(status, FAILED_OUTPUT, address);
            assert!(!verify_output(&root, &FAILED_OUTPUT, address, &proof).unwrap());
        }
        let (root, proof) = state(Status::Done, output, address);
        assert!(verify_output(&root, &output, address, &proof).unwrap());
    }
}
