// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, Outcome} from "./MachineState.sol";
import {OperandStack} from "./OperandStack.sol";
import {MalformedInstruction} from "./StepErrors.sol";

/// @title NumericProver
/// @notice The shape every numeric instruction shares (`semantics::execute`): a binary one pops
///         y then x and pushes `binary(op, x, y)`, a unary one pops x and pushes `unary(op, x)`,
///         a constant pushes its `c`; a non-zero trap code ends the macro-step trapped. The
///         integer and float families differ only in the math they plug in.
abstract contract NumericProver is IFamilyProver {
    /// @inheritdoc IFamilyProver
    function execute(Machine calldata mIn, Instr calldata ins, bytes calldata proof)
        external
        pure
        returns (Machine memory m)
    {
        m = mIn;
        uint16 op = ins.op;
        uint64 r;
        uint8 trap;
        if (op >= 0x41 && op <= 0x44) {
            r = ins.c;
        } else if (isBinary(op)) {
            uint64 y = OperandStack.pop(m, proof);
            uint64 x = OperandStack.pop(m, proof);
            (r, trap) = binary(op, x, y);
        } else if (isUnary(op)) {
            uint64 x = OperandStack.pop(m, proof);
            (r, trap) = unary(op, x);
        } else {
            revert MalformedInstruction(op);
        }
        if (trap != 0) {
            m.outcome = Outcome.TRAP;
            return m;
        }
        OperandStack.push(m, r);
    }

    /// @notice Binary numeric opcodes (`numeric::is_binary`).
    function isBinary(uint16 op) internal pure returns (bool) {
        return (op >= 0x46 && op <= 0x4f) || (op >= 0x51 && op <= 0x66) || (op >= 0x6a && op <= 0x78)
            || (op >= 0x7c && op <= 0x8a) || (op >= 0x92 && op <= 0x98) || (op >= 0xa0 && op <= 0xa6);
    }

    /// @notice Unary numeric opcodes (`numeric::is_unary`).
    function isUnary(uint16 op) internal pure returns (bool) {
        return op == 0x45 || op == 0x50 || (op >= 0x67 && op <= 0x69) || (op >= 0x79 && op <= 0x7b)
            || (op >= 0x8b && op <= 0x91) || (op >= 0x99 && op <= 0x9f) || (op >= 0xa7 && op <= 0xc4)
            || (op >= 0xfc00 && op <= 0xfc07);
    }

    function unary(uint16 op, uint64 x) internal pure virtual returns (uint64 r, uint8 trap);

    function binary(uint16 op, uint64 x, uint64 y) internal pure virtual returns (uint64 r, uint8 trap);
}
