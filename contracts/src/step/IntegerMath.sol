// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Opcodes} from "./Opcodes.sol";

/// @title IntegerMath
/// @notice The integer instructions of `bisection/src/numeric.rs` as pure functions of operand
///         bits: values are uint64 bit patterns (i32 zero-extended), results likewise. Returns a
///         trap code as `trap_code` in `bisection/src/vectors.rs` (0 = none).
library IntegerMath {
    uint8 internal constant TRAP_NONE = 0;
    uint8 internal constant TRAP_INTEGER_DIVIDE_BY_ZERO = 3;
    uint8 internal constant TRAP_INTEGER_OVERFLOW = 4;
    uint8 internal constant TRAP_BAD_INSTRUCTION = 10;

    uint256 private constant M32 = 0xffffffff;
    uint256 private constant M64 = 0xffffffffffffffff;

    /// @notice A unary integer opcode (`numeric::unary` restricted to the integer family).
    function unary(uint16 op, uint64 x) internal pure returns (uint64 r, uint8 trap) {
        uint256 v = x;
        uint256 v32 = v & M32;
        if (op == Opcodes.I32_EQZ) return (v32 == 0 ? 1 : 0, 0);
        if (op == Opcodes.I64_EQZ) return (v == 0 ? 1 : 0, 0);
        if (op == Opcodes.I32_CLZ) return (uint64(clz(v32, 32)), 0);
        if (op == Opcodes.I32_CTZ) return (uint64(ctz(v32, 32)), 0);
        if (op == Opcodes.I32_POPCNT) return (uint64(popcount(v32)), 0);
        if (op == Opcodes.I64_CLZ) return (uint64(clz(v, 64)), 0);
        if (op == Opcodes.I64_CTZ) return (uint64(ctz(v, 64)), 0);
        if (op == Opcodes.I64_POPCNT) return (uint64(popcount(v)), 0);
        // i32.wrap_i64, i64.extend_i32_u, and the reinterpretations (bit moves).
        if (
            op == Opcodes.I32_WRAP_I64 || op == Opcodes.I64_EXTEND_I32_U || op == Opcodes.I32_REINTERPRET_F32
                || op == Opcodes.F32_REINTERPRET_I32
        ) return (uint64(v32), 0);
        if (op == Opcodes.I64_REINTERPRET_F64 || op == Opcodes.F64_REINTERPRET_I64) return (x, 0);
        if (op == Opcodes.I64_EXTEND_I32_S || op == Opcodes.I64_EXTEND32_S) {
            return (uint64(uint256(signExtend(v, 32)) & M64), 0);
        }
        if (op == Opcodes.I32_EXTEND8_S) return (uint64(uint256(signExtend(v, 8)) & M32), 0);
        if (op == Opcodes.I32_EXTEND16_S) return (uint64(uint256(signExtend(v, 16)) & M32), 0);
        if (op == Opcodes.I64_EXTEND8_S) return (uint64(uint256(signExtend(v, 8)) & M64), 0);
        if (op == Opcodes.I64_EXTEND16_S) return (uint64(uint256(signExtend(v, 16)) & M64), 0);
        return (0, TRAP_BAD_INSTRUCTION);
    }

    /// @notice A binary integer opcode on `x` (deeper operand) and `y` (`numeric::binary`).
    function binary(uint16 op, uint64 x, uint64 y) internal pure returns (uint64 r, uint8 trap) {
        if (op >= Opcodes.I32_EQ && op <= Opcodes.I32_GE_U) return (cmp32(op, x, y), 0);
        if (op >= Opcodes.I64_EQ && op <= Opcodes.I64_GE_U) return (cmp64(op, x, y), 0);
        if (op >= Opcodes.I32_ADD && op <= Opcodes.I32_ROTR) return arith32(op, uint256(x) & M32, uint256(y) & M32);
        if (op >= Opcodes.I64_ADD && op <= Opcodes.I64_ROTR) return arith64(op, x, y);
        return (0, TRAP_BAD_INSTRUCTION);
    }

    function cmp32(uint16 op, uint64 x, uint64 y) private pure returns (uint64) {
        uint256 a = uint256(x) & M32;
        uint256 c = uint256(y) & M32;
        int256 sa = signExtend(a, 32);
        int256 sc = signExtend(c, 32);
        bool t;
        if (op == Opcodes.I32_EQ) t = a == c;
        else if (op == Opcodes.I32_NE) t = a != c;
        else if (op == Opcodes.I32_LT_S) t = sa < sc;
        else if (op == Opcodes.I32_LT_U) t = a < c;
        else if (op == Opcodes.I32_GT_S) t = sa > sc;
        else if (op == Opcodes.I32_GT_U) t = a > c;
        else if (op == Opcodes.I32_LE_S) t = sa <= sc;
        else if (op == Opcodes.I32_LE_U) t = a <= c;
        else if (op == Opcodes.I32_GE_S) t = sa >= sc;
        else t = a >= c; // i32.ge_u
        return t ? 1 : 0;
    }

    function cmp64(uint16 op, uint64 x, uint64 y) private pure returns (uint64) {
        int256 sx = signExtend(x, 64);
        int256 sy = signExtend(y, 64);
        bool t;
        if (op == Opcodes.I64_EQ) t = x == y;
        else if (op == Opcodes.I64_NE) t = x != y;
        else if (op == Opcodes.I64_LT_S) t = sx < sy;
        else if (op == Opcodes.I64_LT_U) t = x < y;
        else if (op == Opcodes.I64_GT_S) t = sx > sy;
        else if (op == Opcodes.I64_GT_U) t = x > y;
        else if (op == Opcodes.I64_LE_S) t = sx <= sy;
        else if (op == Opcodes.I64_LE_U) t = x <= y;
        else if (op == Opcodes.I64_GE_S) t = sx >= sy;
        else t = x >= y; // i64.ge_u
        return t ? 1 : 0;
    }

    function arith32(uint16 op, uint256 a, uint256 c) private pure returns (uint64, uint8) {
        uint256 r;
        if (op == Opcodes.I32_ADD) r = a + c;
        else if (op == Opcodes.I32_SUB) r = a + (1 << 32) - c;
        else if (op == Opcodes.I32_MUL) r = a * c;
        else if (op >= Opcodes.I32_DIV_S && op <= Opcodes.I32_REM_U) return div(op - Opcodes.I32_DIV_S, a, c, 32);
        else if (op == Opcodes.I32_AND) r = a & c;
        else if (op == Opcodes.I32_OR) r = a | c;
        else if (op == Opcodes.I32_XOR) r = a ^ c;
        else if (op == Opcodes.I32_SHL) r = a << (c & 31);
        else if (op == Opcodes.I32_SHR_S) r = uint256(signExtend(a, 32) >> (c & 31));
        else if (op == Opcodes.I32_SHR_U) r = a >> (c & 31);
        else if (op == Opcodes.I32_ROTL) r = rotl(a, c & 31, 32);
        else r = rotl(a, (32 - (c & 31)) & 31, 32); // i32.rotr
        return (uint64(r & M32), 0);
    }

    function arith64(uint16 op, uint256 x, uint256 y) private pure returns (uint64, uint8) {
        uint256 r;
        if (op == Opcodes.I64_ADD) r = x + y;
        else if (op == Opcodes.I64_SUB) r = x + (1 << 64) - y;
        else if (op == Opcodes.I64_MUL) r = x * y;
        else if (op >= Opcodes.I64_DIV_S && op <= Opcodes.I64_REM_U) return div(op - Opcodes.I64_DIV_S, x, y, 64);
        else if (op == Opcodes.I64_AND) r = x & y;
        else if (op == Opcodes.I64_OR) r = x | y;
        else if (op == Opcodes.I64_XOR) r = x ^ y;
        else if (op == Opcodes.I64_SHL) r = x << (y & 63);
        else if (op == Opcodes.I64_SHR_S) r = uint256(signExtend(x, 64) >> (y & 63));
        else if (op == Opcodes.I64_SHR_U) r = x >> (y & 63);
        else if (op == Opcodes.I64_ROTL) r = rotl(x, y & 63, 64);
        else r = rotl(x, (64 - (y & 63)) & 63, 64); // i64.rotr
        return (uint64(r & M64), 0);
    }

    /// @notice div_s, div_u, rem_s, rem_u (`kind` 0..3) at `bits` 32 or 64.
    function div(uint256 kind, uint256 a, uint256 c, uint256 bits) private pure returns (uint64, uint8) {
        if (c == 0) return (0, TRAP_INTEGER_DIVIDE_BY_ZERO);
        uint256 mask = (uint256(1) << bits) - 1;
        if (kind == 1) return (uint64(a / c), 0);
        if (kind == 3) return (uint64(a % c), 0);
        int256 sa = signExtend(a, bits);
        int256 sc = signExtend(c, bits);
        if (kind == 0) {
            if (sa == -int256(uint256(1) << (bits - 1)) && sc == -1) return (0, TRAP_INTEGER_OVERFLOW);
            return (uint64(uint256(sa / sc) & mask), 0);
        }
        // rem_s wraps: MIN rem -1 is 0 (no overflow in 256 bits).
        return (uint64(uint256(sa % sc) & mask), 0);
    }

    /// @notice The low `bits` bits of `v` as a signed integer.
    function signExtend(uint256 v, uint256 bits) internal pure returns (int256 s) {
        uint256 b = bits / 8 - 1;
        assembly ("memory-safe") {
            s := signextend(b, v)
        }
    }

    function rotl(uint256 v, uint256 k, uint256 bits) private pure returns (uint256) {
        uint256 mask = (uint256(1) << bits) - 1;
        return ((v << k) | (v >> (bits - k))) & mask;
    }

    function clz(uint256 v, uint256 bits) private pure returns (uint256 n) {
        if (v == 0) return bits;
        n = bits;
        while (v != 0) {
            v >>= 1;
            n--;
        }
    }

    function ctz(uint256 v, uint256 bits) private pure returns (uint256 n) {
        if (v == 0) return bits;
        while (v & 1 == 0) {
            v >>= 1;
            n++;
        }
    }

    function popcount(uint256 v) private pure returns (uint256 n) {
        while (v != 0) {
            v &= v - 1;
            n++;
        }
    }
}
