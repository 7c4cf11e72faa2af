// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Machine, MachineState} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";
import {PopFromEmptyStack, StackMismatch, ProofTruncated} from "./StepErrors.sol";

/// @title OperandStack
/// @notice The current frame's value stack, a hash chain `H(below ‖ v u64)` (`spec/proofs.md`):
///         a pop reads the witness `v u64 ‖ below`, a push needs none.
library OperandStack {
    /// @notice Bytes of one pop witness.
    uint256 internal constant POP_WITNESS = 40;

    function pop(Machine memory m, bytes calldata proof) internal pure returns (uint64 v) {
        if (m.stack == bytes32(0)) revert PopFromEmptyStack();
        uint256 at = ProofReader.take(m, proof, POP_WITNESS);
        bytes32 below = bytes32(ProofReader.wordAt(proof, at + 8));
        v = uint64(ProofReader.wordAt(proof, at) >> 192);
        if (MachineState.stackPush(below, v) != m.stack) revert StackMismatch();
        m.stack = below;
    }

    function push(Machine memory m, uint64 v) internal pure {
        m.stack = MachineState.stackPush(m.stack, v);
    }

    /// @notice Pops `n` values; returns them bottom first (`pop_n`).
    function popN(Machine memory m, bytes calldata proof, uint256 n) internal pure returns (uint64[] memory vals) {
        // Every pop needs a 40-byte witness: refuse a count the proof cannot hold before
        // allocating for it.
        if (n * POP_WITNESS > proof.length - m.pos) revert ProofTruncated(m.pos, n * POP_WITNESS, proof.length);
        vals = new uint64[](n);
        for (uint256 i = n; i > 0; i--) {
            vals[i - 1] = pop(m, proof);
        }
    }
}
