// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {NumericProver} from "./NumericProver.sol";
import {IntegerMath} from "./IntegerMath.sol";

/// @title IntegerProver
/// @notice The integer family (`Family::Integer`): integer constants, arithmetic, comparisons,
///         conversions between integers and the reinterpretations, computed by `IntegerMath`.
contract IntegerProver is NumericProver {
    function unary(uint16 op, uint64 x) internal pure override returns (uint64, uint8) {
        return IntegerMath.unary(op, x);
    }

    function binary(uint16 op, uint64 x, uint64 y) internal pure override returns (uint64, uint8) {
        return IntegerMath.binary(op, x, y);
    }
}
