// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

/// @title Dissection
/// @notice Positions and commitments of the k-ary dissection, shared by every level. This is a
///         wire format: spec/game.md ("Positions" and "Commitments") defines it byte for byte and
///         the Rust game logic must reproduce it.
/// @dev A segment [start, end] of a level's trace (end - start >= 2 to be dissected) is split into
///      n = min(k, end - start) parts at points p_i = start + floor(i * (end - start) / n),
///      i = 0..n. A dissection posts the roots at p_1..p_n; its commitment also binds the root at
///      p_0 (the start root it builds on) and the segment's coordinates.
library Dissection {
    /// @notice Level 1: positions are macro-step boundaries 0..macroStepCount.
    uint8 internal constant LEVEL_MACRO = 1;
    /// @notice Level 2: positions are instructions 0..k^level2Depth inside one macro-step.
    uint8 internal constant LEVEL_INSTRUCTION = 2;

    /// @notice Number of parts a segment of `len` positions is split into.
    function partCount(uint256 len, uint256 k) internal pure returns (uint256) {
        return len < k ? len : k;
    }

    /// @notice Split point i (0..parts) of the segment [start, end] cut into `parts` parts.
    function point(uint64 start, uint64 end, uint256 parts, uint256 i) internal pure returns (uint64) {
        // INVARIANT: p_0 = start, p_parts = end, strictly increasing when parts <= end - start.
        // forge-lint: disable-next-line(unsafe-typecast)
        return start + uint64((uint256(end - start) * i) / parts); // i <= parts: at most end - start
    }

    /// @notice keccak256("gavel.dissection.v1" ‖ level u8 ‖ macroStep u64 ‖ start u64 ‖ end u64
    ///         ‖ roots[0] ‖ … ‖ roots[n]) where roots[0] is the start root and roots[1..n] the
    ///         posted roots at p_1..p_n.
    function commitment(uint8 level, uint64 macroStep, uint64 start, uint64 end, bytes32[] calldata roots)
        internal
        pure
        returns (bytes32 c)
    {
        bytes memory head = abi.encodePacked("gavel.dissection.v1", level, macroStep, start, end);
        return keccak256(bytes.concat(head, abi.encodePacked(roots)));
    }

    /// @notice The same commitment for a start root and posted roots given separately.
    function commitmentOf(
        uint8 level,
        uint64 macroStep,
        uint64 start,
        uint64 end,
        bytes32 startRoot,
        bytes32[] calldata posted
    ) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.dissection.v1", level, macroStep, start, end, startRoot, posted));
    }

    /// @notice The commitment of a one-part dissection (the claim itself: initial and final root).
    function commitmentOfPair(uint8 level, uint64 macroStep, uint64 start, uint64 end, bytes32 a, bytes32 b)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked("gavel.dissection.v1", level, macroStep, start, end, a, b));
    }

    /// @notice Dissection moves from a claim to one step: ceil(log_k(macroStepCount)) at level 1
    ///         plus level2Depth at level 2 (the final step move is not counted).
    function rounds(uint256 macroStepCount, uint256 level2Depth, uint256 k) internal pure returns (uint256 r) {
        uint256 span = 1;
        while (span < macroStepCount) {
            span *= k;
            r++;
        }
        return r + level2Depth;
    }
}
