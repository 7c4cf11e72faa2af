// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, MachineState} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";
import {MerkleProof} from "./MerkleProof.sol";
import {OperandStack} from "./OperandStack.sol";
import {MemoryAccess} from "./MemoryAccess.sol";
import {BlobsMismatch, TooManyBlobs, BlobRangeInvalid, BlobMismatch, MalformedInstruction} from "./StepErrors.sol";
import {Opcodes} from "./Opcodes.sol";

/// @title OracleProver
/// @notice The blob oracle (`Family::Oracle`): `gavel.blob_len`, `gavel.blob_read` (checks its
///         arguments in one step) and `gavel.blob_read.chunk` (copies one destination leaf per
///         step from a blob leaf proven against the blob's root). The blob table
///         `count u32 ‖ (len u64 ‖ root)*` is proven against the state's blobs root, which
///         hashes the blobs' ids (`readTable`).
contract OracleProver is IFamilyProver {
    /// @notice The most blobs a proof may list (`MAX_BLOBS`).
    uint256 internal constant MAX_BLOBS = 1 << 10;
    /// @notice Bytes per listed blob: `len u64 ‖ root`.
    uint256 internal constant BLOB_BYTES = 40;
    uint256 internal constant LEAF = 32;
    uint256 internal constant PAGE = 65536;

    /// @notice A proven blob table: where its entries start in the proof and how many.
    struct BlobTable {
        uint256 at;
        uint256 count;
    }

    /// @inheritdoc IFamilyProver
    function execute(Machine calldata mIn, Instr calldata ins, bytes calldata proof)
        external
        pure
        returns (Machine memory m)
    {
        m = mIn;
        uint16 op = ins.op;
        if (op == Opcodes.BLOB_LEN) {
            uint256 blob = uint32(OperandStack.pop(m, proof));
            BlobTable memory t = readTable(m, proof);
            (bool found, uint64 len) = blobLen(proof, t, blob);
            OperandStack.push(m, found ? len : type(uint64).max);
        } else if (op == Opcodes.BLOB_READ) {
            blobRead(m, proof);
        } else if (op == Opcodes.BLOB_READ_CHUNK) {
            chunk(m, proof);
        } else {
            revert MalformedInstruction(op);
        }
    }

    function blobRead(Machine memory m, bytes calldata proof) internal pure {
        uint32 len = uint32(OperandStack.pop(m, proof));
        uint256 dst = uint32(OperandStack.pop(m, proof));
        uint64 offset = OperandStack.pop(m, proof);
        uint256 blob = uint32(OperandStack.pop(m, proof));
        BlobTable memory t = readTable(m, proof);
        (bool found, uint64 blobLength) = blobLen(proof, t, blob);
        // As wasmtime's host function: a negative length or offset, a range past the blob or
        // past memory returns -1 and skips the chunk instruction.
        bool ok = found && len < 0x80000000 && offset < 0x8000000000000000 && uint256(offset) + len <= blobLength
            && dst + len <= uint256(m.memoryPages) * PAGE;
        if (!ok) {
            OperandStack.push(m, 0xffffffff);
            unchecked {
                m.nextPc = m.pc + 2;
            }
            return;
        }
        OperandStack.push(m, len);
        OperandStack.push(m, uint64(blob));
        OperandStack.push(m, offset);
        OperandStack.push(m, uint64(dst));
        OperandStack.push(m, len);
    }

    function chunk(Machine memory m, bytes calldata proof) internal pure {
        uint64 rem = OperandStack.pop(m, proof);
        uint64 dst = OperandStack.pop(m, proof);
        uint64 offset = OperandStack.pop(m, proof);
        uint64 blob = OperandStack.pop(m, proof);
        if (rem == 0) return;
        uint256 k = LEAF - dst % LEAF;
        if (rem < k) k = rem;
        uint256 data = readBlob(m, proof, blob, offset, k);
        MemoryAccess.write(m, proof, dst, data, k);
        if (rem > k) {
            OperandStack.push(m, blob);
            OperandStack.push(m, uint64(offset + k));
            unchecked {
                // Wraps like the reference (`dst` is whatever the stack held).
                OperandStack.push(m, uint64(uint256(dst) + k));
            }
            OperandStack.push(m, uint64(rem - k));
            m.nextPc = m.pc;
        }
    }

    /// @notice Reads the blob table and checks it against the blobs root: each listed
    ///         `(len, root)` is hashed to its id `keccak256(BLOB_PREFIX ‖ len u64 ‖ root)`, then
    ///         `keccak256(BLOBS_PREFIX ‖ count u32 ‖ id*)` must be the state's `blobs`
    ///         (`spec/machine.md`, "State root at a macro-step boundary").
    function readTable(Machine memory m, bytes calldata proof) internal pure returns (BlobTable memory t) {
        uint256 count = ProofReader.u32(m, proof);
        if (count > MAX_BLOBS) revert TooManyBlobs(uint32(count));
        uint256 at = ProofReader.take(m, proof, BLOB_BYTES * count);
        t.at = at;
        t.count = count;
        bytes14 tablePrefix = MachineState.BLOBS_PREFIX;
        bytes13 idPrefix = MachineState.BLOB_PREFIX;
        bytes32 h;
        assembly ("memory-safe") {
            // Scratch past the free memory pointer: the table preimage `prefix ‖ count ‖ id*`
            // (18 + 32·count bytes) at `buf`, one id preimage (53 bytes) at `tmp` after it.
            let buf := mload(0x40)
            mstore(buf, tablePrefix)
            mstore(add(buf, 14), shl(224, count))
            let ids := add(buf, 18)
            let tmp := add(ids, mul(32, count))
            let src := add(proof.offset, at)
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                mstore(tmp, idPrefix)
                calldatacopy(add(tmp, 13), add(src, mul(BLOB_BYTES, i)), BLOB_BYTES)
                mstore(add(ids, mul(32, i)), keccak256(tmp, 53))
            }
            h := keccak256(buf, add(18, mul(32, count)))
        }
        if (h != m.blobs) revert BlobsMismatch();
    }

    function blobLen(bytes calldata proof, BlobTable memory t, uint256 blob)
        internal
        pure
        returns (bool found, uint64 len)
    {
        if (blob >= t.count) return (false, 0);
        return (true, uint64(ProofReader.wordAt(proof, t.at + BLOB_BYTES * blob) >> 192));
    }

    /// @notice `n` (1..32) bytes of blob `blob` at `offset`, left-aligned; each touched blob leaf
    ///         comes as `leaf ‖ 3·depth_for(len) siblings`.
    function readBlob(Machine memory m, bytes calldata proof, uint64 blob, uint64 offset, uint256 n)
        internal
        pure
        returns (uint256 out)
    {
        BlobTable memory t = readTable(m, proof);
        (bool found, uint64 len) = blobLen(proof, t, blob);
        if (!found || n == 0 || n > 32 || uint256(offset) + n > len) revert BlobRangeInvalid(blob, offset, n);
        bytes32 root = bytes32(ProofReader.wordAt(proof, t.at + BLOB_BYTES * blob + 8));
        uint256 depth = MerkleProof.depthFor(len);
        uint256 first = offset / LEAF;
        uint256 off = offset % LEAF;
        out = blobLeaf(m, proof, blob, root, first, depth) << (8 * off);
        if ((uint256(offset) + n - 1) / LEAF != first) {
            out |= blobLeaf(m, proof, blob, root, first + 1, depth) >> (8 * (LEAF - off));
        }
        if (n < 32) out &= ~(type(uint256).max >> (8 * n));
    }

    function blobLeaf(Machine memory m, bytes calldata proof, uint64 blob, bytes32 root, uint256 leaf, uint256 depth)
        internal
        pure
        returns (uint256 l)
    {
        l = uint256(ProofReader.b32(m, proof));
        (bytes32 r,) = MerkleProof.readPath(m, proof, bytes32(l), leaf, depth);
        if (r != root) revert BlobMismatch(blob, uint64(leaf));
    }
}
