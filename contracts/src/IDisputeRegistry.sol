// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

/// @title IDisputeRegistry
/// @notice What the dispute game asks of the claim registry that created it.
interface IDisputeRegistry {
    /// @notice Whether the claim has been refuted (by any of its disputes).
    /// @param claimId The claim.
    /// @return True once a challenger has won a dispute against the claim.
    function isRefuted(uint64 claimId) external view returns (bool);

    /// @notice Called by the game exactly once per dispute when it ends.
    /// @param claimId The disputed claim.
    /// @param challenger The dispute's challenger.
    /// @param challengerWon True if the claimant lost (the claim is refuted).
    function disputeClosed(uint64 claimId, address challenger, bool challengerWon) external;
}
