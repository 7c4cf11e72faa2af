// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {NumericProver} from "./NumericProver.sol";
import {FloatMath} from "./FloatMath.sol";

/// @title FloatProver
/// @notice The float family (`Family::Float`): float constants, arithmetic, comparisons and
///         conversions, computed exactly (IEEE-754 with wasmtime's canonical NaN rule) by
///         `FloatMath`.
contract FloatProver is NumericProver {
    function unary(uint16 op, uint64 x) internal pure override returns (uint64, uint8) {
        return FloatMath.unary(op, x);
    }

    function binary(uint16 op, uint64 x, uint64 y) internal pure override returns (uint64, uint8) {
        return FloatMath.binary(op, x, y);
    }
}
