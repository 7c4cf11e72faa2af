// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, MachineState, Outcome, Status} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";
import {MerkleProof} from "./MerkleProof.sol";
import {OperandStack} from "./OperandStack.sol";
import {CodeProof} from "./CodeProof.sol";
import {
    FrameMismatch,
    CallLayoutOutOfRange,
    InvalidEnter,
    MalformedInstruction,
    ProofTruncated
} from "./StepErrors.sol";
import {Opcodes} from "./Opcodes.sol";

/// @title ControlProver
/// @notice The control family (`Family::Control`): `unreachable`, `br`, `br_if`, `br_unless`,
///         `br_table` (with its proven entry), `return` (caller frame witness), `call`,
///         `call_indirect` (with its proven table slot) and `invoke`. Mirrors the arms of
///         `semantics::execute` and `call`/`enter`/`ret` of `bisection/src/verify.rs`.
contract ControlProver is IFamilyProver {
    /// @notice Calls trap at this depth (`MAX_CALL_DEPTH`).
    uint256 internal constant MAX_CALL_DEPTH = 16384;
    /// @notice The deepest locals tree (`MAX_LOCALS_DEPTH`).
    uint256 internal constant MAX_LOCALS_DEPTH = 8;

    /// @inheritdoc IFamilyProver
    function execute(Machine calldata mIn, Instr calldata insIn, bytes calldata proof)
        external
        pure
        returns (Machine memory m)
    {
        m = mIn;
        Instr memory ins = insIn;
        uint16 op = ins.op;
        if (op == Opcodes.BR) {
            branch(m, proof, ins.a, ins.b, ins.c);
        } else if (op == Opcodes.BR_IF) {
            if (uint32(OperandStack.pop(m, proof)) != 0) branch(m, proof, ins.a, ins.b, ins.c);
        } else if (op == Opcodes.BR_UNLESS) {
            if (uint32(OperandStack.pop(m, proof)) == 0) m.nextPc = ins.a;
        } else if (op == Opcodes.BR_TABLE) {
            uint32 index = uint32(OperandStack.pop(m, proof));
            if (ins.a == 0) revert MalformedInstruction(op);
            uint32 slot = index < ins.a - 1 ? index : ins.a - 1;
            Instr memory entry;
            unchecked {
                entry = CodeProof.instructionAt(m, proof, uint32(m.pc + 1 + slot));
            }
            if (entry.op != Opcodes.BR_TABLE_ENTRY) revert MalformedInstruction(entry.op);
            branch(m, proof, entry.a, entry.b, entry.c);
        } else if (op == Opcodes.RETURN) {
            doReturn(m, proof, ins.b);
        } else if (op == Opcodes.CALL) {
            call(m, proof, ins.a, ins.b, uint8(ins.c));
        } else if (op == Opcodes.CALL_INDIRECT) {
            uint32 index = uint32(OperandStack.pop(m, proof));
            if (index >= ins.c) return trap(m);
            Instr memory slot;
            unchecked {
                slot = CodeProof.instructionAt(m, proof, uint32(ins.b + index));
            }
            if (slot.op != Opcodes.TABLE_ENTRY) return trap(m);
            if (uint32(slot.c >> 8) != ins.a) return trap(m);
            call(m, proof, slot.a, slot.b, uint8(slot.c));
        } else if (op == Opcodes.INVOKE) {
            enter(m, uint8(ins.c));
            m.nextPc = ins.a;
        } else if (op == Opcodes.UNREACHABLE) {
            trap(m);
        } else {
            // `br_table.entry` and `table.entry` are data, never executed.
            revert MalformedInstruction(op);
        }
    }

    function trap(Machine memory m) internal pure returns (Machine memory) {
        m.outcome = Outcome.TRAP;
        return m;
    }

    /// @notice Jumps to `target` keeping the top `keep` values and dropping `drop` below them.
    function branch(Machine memory m, bytes calldata proof, uint32 target, uint32 keep, uint64 drop) internal pure {
        if (drop > 0) {
            uint64[] memory kept = OperandStack.popN(m, proof, keep);
            uint256 need = uint256(drop) * OperandStack.POP_WITNESS;
            if (need > proof.length - m.pos) revert ProofTruncated(m.pos, need, proof.length);
            for (uint256 i = 0; i < drop; i++) {
                OperandStack.pop(m, proof);
            }
            for (uint256 i = 0; i < kept.length; i++) {
                OperandStack.push(m, kept[i]);
            }
        }
        m.nextPc = target;
    }

    /// @notice `return`: at depth 0 the macro-step ends (`gavel_step` returned 1: running, 0:
    ///         done, anything else: failed); deeper, the caller's frame is restored from its
    ///         witness `parent ‖ return_pc u32 ‖ stack ‖ locals`.
    function doReturn(Machine memory m, bytes calldata proof, uint32 count) internal pure {
        uint64[] memory results = OperandStack.popN(m, proof, count);
        if (m.callDepth == 0) {
            m.outcome = Outcome.EXIT;
            if (results.length == 1 && results[0] == 1) m.exitStatus = Status.RUNNING;
            else if (results.length == 1 && results[0] == 0) m.exitStatus = Status.DONE;
            else m.exitStatus = Status.FAILED;
            return;
        }
        bytes32 parent = ProofReader.b32(m, proof);
        uint32 returnPc = ProofReader.u32(m, proof);
        bytes32 stack = ProofReader.b32(m, proof);
        bytes32 locals = ProofReader.b32(m, proof);
        if (MachineState.frameLink(parent, returnPc, stack, locals) != m.frames) revert FrameMismatch();
        m.frames = parent;
        m.stack = stack;
        m.locals = locals;
        m.callDepth -= 1;
        for (uint256 i = 0; i < results.length; i++) {
            OperandStack.push(m, results[i]);
        }
        m.nextPc = returnPc;
    }

    /// @notice Calls the function at `entry` with `params` arguments and a locals tree of depth
    ///         `depth`: links the caller's frame, starts an empty stack and locals = args ‖ zeros.
    function call(Machine memory m, bytes calldata proof, uint32 entry, uint32 params, uint8 depth) internal pure {
        if (uint256(m.callDepth) + 1 >= MAX_CALL_DEPTH) {
            trap(m);
            return;
        }
        uint64[] memory args = OperandStack.popN(m, proof, params);
        if (depth > MAX_LOCALS_DEPTH || args.length > (uint256(1) << (2 * uint256(depth)))) {
            revert CallLayoutOutOfRange(depth, args.length);
        }
        uint32 returnPc;
        unchecked {
            returnPc = m.pc + 1;
        }
        m.frames = MachineState.frameLink(m.frames, returnPc, m.stack, m.locals);
        m.stack = bytes32(0);
        bytes32[] memory leaves = new bytes32[](args.length);
        for (uint256 i = 0; i < args.length; i++) {
            leaves[i] = MachineState.valueLeaf(args[i]);
        }
        m.locals = MerkleProof.rootOfLeaves(leaves, depth);
        m.callDepth += 1;
        m.nextPc = entry;
    }

    /// @notice Instruction 0 from the idle state: the outermost frame, empty stack, zero locals.
    function enter(Machine memory m, uint8 depth) internal pure {
        if (m.active || depth > MAX_LOCALS_DEPTH) revert InvalidEnter();
        m.active = true;
        m.callDepth = 0;
        m.stack = bytes32(0);
        m.locals = MerkleProof.zero(depth);
        m.frames = bytes32(0);
    }
}
