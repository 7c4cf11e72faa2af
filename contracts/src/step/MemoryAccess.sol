// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Machine} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";
import {MerkleProof} from "./MerkleProof.sol";
import {MemoryMismatch} from "./StepErrors.sol";

/// @title MemoryAccess
/// @notice Reads and writes of at most 32 bytes of linear memory against the depth-14 memory
///         tree (`read`/`write` in `bisection/src/verify.rs`). Each touched leaf, in address
///         order, comes as `leaf ‖ 42 siblings`; a write's second leaf is proven against the root
///         after the first leaf was written. Byte strings are left-aligned in a `uint256`.
library MemoryAccess {
    /// @notice Depth of the memory tree (`MEMORY_DEPTH`).
    uint256 internal constant MEMORY_DEPTH = 14;
    /// @notice Bytes per leaf.
    uint256 internal constant LEAF = 32;
    /// @notice WebAssembly page size.
    uint256 internal constant PAGE = 65536;

    /// @notice Reads one memory leaf and its path, checked against the memory root; returns the
    ///         leaf and the path's calldata offset.
    function leafAt(Machine memory m, bytes calldata proof, uint256 leaf)
        internal
        pure
        returns (uint256 l, uint256 at)
    {
        l = uint256(ProofReader.b32(m, proof));
        bytes32 root;
        (root, at) = MerkleProof.readPath(m, proof, bytes32(l), leaf, MEMORY_DEPTH);
        if (root != m.memoryRoot) revert MemoryMismatch(uint64(leaf));
    }

    /// @notice The `n` (1..32) bytes at `addr`, left-aligned; may span two leaves.
    function read(Machine memory m, bytes calldata proof, uint256 addr, uint256 n) internal pure returns (uint256 out) {
        uint256 first = addr / LEAF;
        uint256 off = addr % LEAF;
        (uint256 l0,) = leafAt(m, proof, first);
        out = l0 << (8 * off);
        if ((addr + n - 1) / LEAF != first) {
            (uint256 l1,) = leafAt(m, proof, first + 1);
            out |= l1 >> (8 * (LEAF - off));
        }
        if (n < 32) out &= ~(type(uint256).max >> (8 * n));
    }

    /// @notice Writes the first `n` (1..32) bytes of the left-aligned `data` at `addr`.
    function write(Machine memory m, bytes calldata proof, uint256 addr, uint256 data, uint256 n) internal pure {
        uint256 done = 0;
        while (done < n) {
            uint256 at = addr + done;
            uint256 leaf = at / LEAF;
            uint256 off = at % LEAF;
            uint256 here = LEAF - off;
            if (n - done < here) here = n - done;
            (uint256 l, uint256 path) = leafAt(m, proof, leaf);
            uint256 mask = (type(uint256).max >> (8 * (LEAF - here))) << (8 * (LEAF - off - here));
            uint256 chunk = ((data << (8 * done)) >> (8 * off)) & mask;
            l = (l & ~mask) | chunk;
            m.memoryRoot = MerkleProof.foldAt(proof, path, bytes32(l), leaf, MEMORY_DEPTH);
            done += here;
        }
    }
}
