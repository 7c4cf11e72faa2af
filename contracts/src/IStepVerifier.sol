// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

/// @title IStepVerifier
/// @notice The one thing the dispute game asks of a machine: execute ONE step on chain.
/// @dev The game knows nothing about WebAssembly; the toy VM (`toy/ToyStepVerifier.sol`) and the
///      WebAssembly one-step prover implement this same interface. Rules (spec/game.md, "Machine"):
///      - `executeStep(m, s, proof)` executes one instruction of macro-step `m` on the state `s`;
///      - a state that is not inside macro-step `m` (already past it, halted, or any other) is a
///        fixed point: the result is `s` itself. This pads every level-2 trace to a fixed length;
///      - a proof that does not open `rootBefore` reverts; it never yields a wrong root.
interface IStepVerifier {
    /// @notice Executes one step of macro-step `macroStep` from the state committed by `rootBefore`.
    /// @param macroStep The macro-step the step is restricted to (0-based).
    /// @param rootBefore The state root before the step.
    /// @param proof The witness that opens `rootBefore` as far as the step needs (machine-specific).
    /// @return rootAfter The state root after the step (`rootBefore` if the state is a fixed point).
    function executeStep(uint64 macroStep, bytes32 rootBefore, bytes calldata proof)
        external
        view
        returns (bytes32 rootAfter);
}
