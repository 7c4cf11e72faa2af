// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, MachineState} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";
import {MerkleProof} from "./MerkleProof.sol";
import {OperandStack} from "./OperandStack.sol";
import {
    LocalOutsideTree,
    LocalsMismatch,
    GlobalsMismatch,
    TooManyGlobals,
    GlobalOutOfRange,
    MalformedInstruction
} from "./StepErrors.sol";
import {Opcodes} from "./Opcodes.sol";

/// @title VariableProver
/// @notice The variable family (`Family::Variable`): `drop`, `select`, `select.v128`,
///         `local.get/set/tee` (value ‖ 3·d siblings against the locals root) and
///         `global.get/set` (the whole globals list against the globals root, rehashed after a
///         write).
contract VariableProver is IFamilyProver {
    /// @notice The deepest locals tree (`MAX_LOCALS_DEPTH`).
    uint256 internal constant MAX_LOCALS_DEPTH = 8;
    /// @notice The most globals a proof may list (`MAX_GLOBALS`).
    uint256 internal constant MAX_GLOBALS = 1 << 16;
    /// @notice Bytes per listed global: `type u8 ‖ bits u64`.
    uint256 internal constant GLOBAL_BYTES = 9;

    /// @inheritdoc IFamilyProver
    function execute(Machine calldata mIn, Instr calldata ins, bytes calldata proof)
        external
        pure
        returns (Machine memory m)
    {
        m = mIn;
        uint16 op = ins.op;
        if (op == Opcodes.LOCAL_GET) {
            OperandStack.push(m, local(m, proof, ins.a, uint8(ins.b)));
        } else if (op == Opcodes.LOCAL_SET) {
            uint64 v = OperandStack.pop(m, proof);
            setLocal(m, proof, ins.a, uint8(ins.b), v);
        } else if (op == Opcodes.LOCAL_TEE) {
            uint64 v = OperandStack.pop(m, proof);
            OperandStack.push(m, v);
            setLocal(m, proof, ins.a, uint8(ins.b), v);
        } else if (op == Opcodes.GLOBAL_GET) {
            (bytes memory pre, uint256 count) = readGlobals(m, proof);
            if (ins.a >= count) revert GlobalOutOfRange(ins.a);
            uint256 w;
            uint256 at = globalOffset(ins.a);
            assembly ("memory-safe") {
                w := mload(add(add(pre, 32), at))
            }
            OperandStack.push(m, uint64(w >> 192));
        } else if (op == Opcodes.GLOBAL_SET) {
            uint64 v = OperandStack.pop(m, proof);
            (bytes memory pre, uint256 count) = readGlobals(m, proof);
            if (ins.a >= count) revert GlobalOutOfRange(ins.a);
            uint256 at = globalOffset(ins.a);
            assembly ("memory-safe") {
                let p := add(add(pre, 32), at)
                mstore(p, or(and(mload(p), shr(64, not(0))), shl(192, v)))
            }
            m.globals = keccak256(pre);
        } else if (op == Opcodes.DROP) {
            OperandStack.pop(m, proof);
        } else if (op == Opcodes.SELECT) {
            uint32 cond = uint32(OperandStack.pop(m, proof));
            uint64 v2 = OperandStack.pop(m, proof);
            uint64 v1 = OperandStack.pop(m, proof);
            OperandStack.push(m, cond != 0 ? v1 : v2);
        } else if (op == Opcodes.SELECT_V128) {
            // Pops c, then v2 (hi, lo), then v1 (hi, lo); pushes the chosen (lo, hi).
            uint32 cond = uint32(OperandStack.pop(m, proof));
            uint64 h2 = OperandStack.pop(m, proof);
            uint64 l2 = OperandStack.pop(m, proof);
            uint64 h1 = OperandStack.pop(m, proof);
            uint64 l1 = OperandStack.pop(m, proof);
            OperandStack.push(m, cond != 0 ? l1 : l2);
            OperandStack.push(m, cond != 0 ? h1 : h2);
        } else {
            revert MalformedInstruction(op);
        }
    }

    function checkLocal(uint32 index, uint8 depth) internal pure {
        if (depth > MAX_LOCALS_DEPTH || uint256(index) >= uint256(1) << (2 * uint256(depth))) {
            revert LocalOutsideTree(index, depth);
        }
    }

    /// @notice Local `index`: witness `v u64 ‖ 3·depth siblings`.
    function local(Machine memory m, bytes calldata proof, uint32 index, uint8 depth) internal pure returns (uint64 v) {
        checkLocal(index, depth);
        v = ProofReader.u64(m, proof);
        (bytes32 root,) = MerkleProof.readPath(m, proof, MachineState.valueLeaf(v), index, depth);
        if (root != m.locals) revert LocalsMismatch(index);
    }

    /// @notice Sets local `index`: witness `old u64 ‖ 3·depth siblings`; the new root is folded
    ///         along the same path.
    function setLocal(Machine memory m, bytes calldata proof, uint32 index, uint8 depth, uint64 v) internal pure {
        checkLocal(index, depth);
        uint64 old = ProofReader.u64(m, proof);
        (bytes32 root, uint256 path) = MerkleProof.readPath(m, proof, MachineState.valueLeaf(old), index, depth);
        if (root != m.locals) revert LocalsMismatch(index);
        m.locals = MerkleProof.foldAt(proof, path, MachineState.valueLeaf(v), index, depth);
    }

    /// @notice Reads `count u32 ‖ (type u8 ‖ bits u64)*` and checks it against the globals root;
    ///         returns the hash preimage `GLOBALS_PREFIX ‖ count ‖ entries` and the count.
    function readGlobals(Machine memory m, bytes calldata proof)
        internal
        pure
        returns (bytes memory pre, uint256 count)
    {
        uint256 countAt = m.pos;
        count = ProofReader.u32(m, proof);
        if (count > MAX_GLOBALS) revert TooManyGlobals(uint32(count));
        ProofReader.take(m, proof, GLOBAL_BYTES * count);
        uint256 len = 4 + GLOBAL_BYTES * count;
        pre = new bytes(16 + len);
        bytes16 prefix = MachineState.GLOBALS_PREFIX;
        assembly ("memory-safe") {
            mstore(add(pre, 32), prefix)
            calldatacopy(add(pre, 48), add(proof.offset, countAt), len)
        }
        if (keccak256(pre) != m.globals) revert GlobalsMismatch();
    }

    /// @notice Offset in the preimage of global `index`'s bits.
    function globalOffset(uint32 index) internal pure returns (uint256) {
        return 16 + 4 + GLOBAL_BYTES * uint256(index) + 1;
    }
}
