// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Machine, Instr} from "./MachineState.sol";

/// @title IFamilyProver
/// @notice One instruction family of the step (`Family` in `bisection/src/code.rs`): executes an
///         already proven instruction on the machine, reading the witnesses it needs from `proof`
///         at `m.pos`, and returns the machine with its outcome and new reader position.
interface IFamilyProver {
    /// @notice Executes `ins` (at `m.pc`, outcome preset to `NEXT` at `m.pc + 1`).
    /// @param m The machine before the instruction.
    /// @param ins The instruction, proven against `m.code` by the dispatcher.
    /// @param proof The whole proof; this family's witnesses start at `m.pos`.
    /// @return The machine after the instruction.
    function execute(Machine calldata m, Instr calldata ins, bytes calldata proof)
        external
        pure
        returns (Machine memory);
}
