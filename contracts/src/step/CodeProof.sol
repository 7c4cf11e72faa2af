// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Machine, Instr, MachineState} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";
import {MerkleProof} from "./MerkleProof.sol";
import {CodeOutsideTree, CodeMismatch} from "./StepErrors.sol";

/// @title CodeProof
/// @notice Instructions proven against the code root (`spec/proofs.md`, "Code"): a witness
///         `leaf ‖ 36 siblings` for the instruction at `pc` of the depth-12 code tree.
library CodeProof {
    /// @notice Depth of the code tree (`CODE_DEPTH`).
    uint256 internal constant CODE_DEPTH = 12;
    /// @notice Slots of the code tree: `4^CODE_DEPTH`.
    uint256 internal constant CODE_SLOTS = 1 << 24;

    /// @notice Reads and proves the instruction at `pc` (`code` in `verify.rs`).
    function instructionAt(Machine memory m, bytes calldata proof, uint256 pc) internal pure returns (Instr memory) {
        if (pc >= CODE_SLOTS) revert CodeOutsideTree(pc);
        bytes32 leaf = ProofReader.b32(m, proof);
        (bytes32 root,) = MerkleProof.readPath(m, proof, leaf, pc, CODE_DEPTH);
        if (root != m.code) revert CodeMismatch(pc);
        return MachineState.decodeInstr(leaf);
    }
}
