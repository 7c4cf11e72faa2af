// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, Outcome} from "./MachineState.sol";
import {OperandStack} from "./OperandStack.sol";
import {MalformedInstruction} from "./StepErrors.sol";
import {Opcodes} from "./Opcodes.sol";

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
        if (op >= Opcodes.I32_CONST && op <= Opcodes.F64_CONST) {
            r = ins.c;
        } else if (Opcodes.isNumericBinary(op)) {
            uint64 y = OperandStack.pop(m, proof);
            uint64 x = OperandStack.pop(m, proof);
            (r, trap) = binary(op, x, y);
        } else if (Opcodes.isNumericUnary(op)) {
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

    function unary(uint16 op, uint64 x) internal pure virtual returns (uint64 r, uint8 trap);

    function binary(uint16 op, uint64 x, uint64 y) internal pure virtual returns (uint64 r, uint8 trap);
}
