// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

/// @title IComputeConsumer
/// @notice Implemented by contracts that request inferences from the Court (`v2/Court.sol`).
interface IComputeConsumer {
    /// @notice Called by the court once the claim answering `requestId` is final. Never called
    ///         for a refuted claim. Runs with the gas limit the request asked for; if it reverts,
    ///         the claim is final anyway (the failure is logged).
    /// @param requestId The request being answered.
    /// @param claimId The final claim.
    /// @param outputRoot The output's blob id, `keccak256("gavel.blob.v1" ‖ len u64 ‖ blob tree
    ///        root)` (spec/machine.md): the consumer checks output bytes it is handed against it.
    function onComputeResult(uint64 requestId, uint64 claimId, bytes32 outputRoot) external;
}
