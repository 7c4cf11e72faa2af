// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Machine} from "./MachineState.sol";
import {ProofTruncated} from "./StepErrors.sol";

/// @title ProofReader
/// @notice The front-to-back deserializer of a one-step proof (`Reader` in
///         `bisection/src/verify.rs`): big-endian integers and 32-byte hashes, every read bounds
///         checked against the proof's length. The position lives in `Machine.pos`.
library ProofReader {
    /// @notice Reserves `n` bytes at the current position and returns their calldata offset.
    function take(Machine memory m, bytes calldata proof, uint256 n) internal pure returns (uint256 at) {
        at = m.pos;
        uint256 end = at + n;
        if (end > proof.length) revert ProofTruncated(at, n, proof.length);
        m.pos = end;
    }

    /// @notice The 32 bytes at proof offset `at` (no bounds check: `at` came from `take`).
    function wordAt(bytes calldata proof, uint256 at) internal pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(add(proof.offset, at))
        }
    }

    function u8(Machine memory m, bytes calldata proof) internal pure returns (uint8) {
        return uint8(wordAt(proof, take(m, proof, 1)) >> 248);
    }

    function u32(Machine memory m, bytes calldata proof) internal pure returns (uint32) {
        return uint32(wordAt(proof, take(m, proof, 4)) >> 224);
    }

    function u64(Machine memory m, bytes calldata proof) internal pure returns (uint64) {
        return uint64(wordAt(proof, take(m, proof, 8)) >> 192);
    }

    function b32(Machine memory m, bytes calldata proof) internal pure returns (bytes32) {
        return bytes32(wordAt(proof, take(m, proof, 32)));
    }
}
