// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Machine} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";

/// @title MerkleProof
/// @notice 4-ary keccak256 trees (`bisection/src/merkle.rs`, `spec/machine.md`, "Merkle trees"):
///         a node is `keccak256(c0 ‖ c1 ‖ c2 ‖ c3)`, `Z[h]` is the root of an all-zero subtree of
///         height h, and a path lists, per level bottom-up, the three siblings in child order.
library MerkleProof {
    /// @notice Reads a depth-`depth` path at the reader's position and folds `leaf` at `index`
    ///         up it. Returns the root and the path's calldata offset (to fold a new leaf along
    ///         the same path with `foldAt`).
    function readPath(Machine memory m, bytes calldata proof, bytes32 leaf, uint256 index, uint256 depth)
        internal
        pure
        returns (bytes32 root, uint256 at)
    {
        at = ProofReader.take(m, proof, 96 * depth);
        root = foldAt(proof, at, leaf, index, depth);
    }

    /// @notice Folds `leaf` at `index` up the `depth` levels of siblings at proof offset `at`.
    ///         Only the low `2 * depth` bits of `index` choose slots, as in `fold_path`.
    function foldAt(bytes calldata proof, uint256 at, bytes32 leaf, uint256 index, uint256 depth)
        internal
        pure
        returns (bytes32 node)
    {
        assembly ("memory-safe") {
            node := leaf
            let buf := mload(0x40)
            let p := add(proof.offset, at)
            for { let end := add(p, mul(96, depth)) } lt(p, end) { p := add(p, 96) } {
                switch and(index, 3)
                case 0 {
                    mstore(buf, node)
                    calldatacopy(add(buf, 32), p, 96)
                }
                case 1 {
                    calldatacopy(buf, p, 32)
                    mstore(add(buf, 32), node)
                    calldatacopy(add(buf, 64), add(p, 32), 64)
                }
                case 2 {
                    calldatacopy(buf, p, 64)
                    mstore(add(buf, 64), node)
                    calldatacopy(add(buf, 96), add(p, 64), 32)
                }
                default {
                    calldatacopy(buf, p, 96)
                    mstore(add(buf, 96), node)
                }
                node := keccak256(buf, 128)
                index := shr(2, index)
            }
        }
    }

    /// @notice `Z[h]` for h ≤ 8 (the deepest locals tree; `MAX_LOCALS_DEPTH`).
    function zero(uint256 h) internal pure returns (bytes32) {
        if (h == 0) return bytes32(0);
        if (h == 1) return 0x012893657d8eb2efad4de0a91bcd0e39ad9837745dec3ea923737ea803fc8e3d;
        if (h == 2) return 0x6bf8f5aaf730b8154299a437989510cbc3cbc7b9f22cf1f131ba964fe8e3b1b3;
        if (h == 3) return 0xa3e6dd91ba17622b36a56f037b348237418309fcb66bc2f50405e5a1df5fffc4;
        if (h == 4) return 0xa84090a0a0508a4cf1118482d81d4d8483cdec1a96bb70d8f987c4c31d7f812c;
        if (h == 5) return 0x134bf2e5ed73f056f0ce0ab282062feb70e10daacac5635e450ba8facb3514cf;
        if (h == 6) return 0x647332d2816fecf77ddb72bbe5b6bef202de2dff6e8d24d74ba928905872fba3;
        if (h == 7) return 0xc03949ebfba6b0c70ba08c119e1dd383ddec7fe17f459c7c9b87309992c0f5d2;
        return 0xc4903947b33fa763cd37242a4b5a6ad871401b0adcab11420dd1eac47321d89f;
    }

    /// @notice Root of the depth-`depth` tree (≤ 8) over `leaves` zero-padded to `4^depth`
    ///         (`root_of_leaves`). The caller guarantees `leaves.length ≤ 4^depth`.
    function rootOfLeaves(bytes32[] memory leaves, uint256 depth) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        if (n == 0) return zero(depth);
        for (uint256 h = 0; h < depth; h++) {
            bytes32 z = zero(h);
            uint256 parents = (n + 3) / 4;
            for (uint256 i = 0; i < parents; i++) {
                bytes32[4] memory c;
                for (uint256 k = 0; k < 4; k++) {
                    uint256 j = 4 * i + k;
                    c[k] = j < n ? leaves[j] : z;
                }
                leaves[i] = keccak256(abi.encodePacked(c));
            }
            n = parents;
        }
        return leaves[0];
    }

    /// @notice Smallest depth whose tree holds `len` bytes in 32-byte leaves (`depth_for`).
    function depthFor(uint256 len) internal pure returns (uint256 depth) {
        uint256 count = (len + 31) / 32;
        while ((uint256(1) << (2 * depth)) < count) depth++;
    }
}
