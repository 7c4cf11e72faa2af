// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

/// @title IStateBinding
/// @notice Ties a claim's public fields to machine states: the start of the trace is computed
///         on chain from the model and the input, and the claimed output is proven to be the
///         output of the claimed final state. Implemented by the same contract as IStepVerifier.
interface IStateBinding {
    /// @notice The machine state root before the first macro-step of a run.
    /// @param codeRoot The pinned guest module's code root (registered with the model).
    /// @param modelRoot The model's blob id (registered with the model; spec/machine.md).
    /// @param inputRoot The input's blob id (from the claim).
    /// @return The state root at level-1 position 0; nobody claims it, everybody computes it.
    function initialStateRoot(bytes32 codeRoot, bytes32 modelRoot, bytes32 inputRoot) external view returns (bytes32);

    /// @notice Whether `finalStateRoot` is a finished run whose output blob id is `outputRoot`.
    /// @param finalStateRoot The claimed state root after the last macro-step.
    /// @param outputRoot The claimed output's blob id.
    /// @param proof The witness (machine-specific); malformed proofs revert or return false.
    /// @return True iff the proof shows the state finished with exactly that output.
    function verifyOutput(bytes32 finalStateRoot, bytes32 outputRoot, bytes calldata proof) external view returns (bool);
}
