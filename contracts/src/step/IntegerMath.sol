// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

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
        if (op == 0x45) return (v32 == 0 ? 1 : 0, 0);
        if (op == 0x50) return (v == 0 ? 1 : 0, 0);
        if (op == 0x67) return (uint64(clz(v32, 32)), 0);
        if (op == 0x68) return (uint64(ctz(v32, 32)), 0);
        if (op == 0x69) return (uint64(popcount(v32)), 0);
        if (op == 0x79) return (uint64(clz(v, 64)), 0);
        if (op == 0x7a) return (uint64(ctz(v, 64)), 0);
        if (op == 0x7b) return (uint64(popcount(v)), 0);
        // i32.wrap_i64, i64.extend_i32_u, and the reinterpretations (bit moves).
        if (op == 0xa7 || op == 0xad || op == 0xbc || op == 0xbe) return (uint64(v32), 0);
        if (op == 0xbd || op == 0xbf) return (x, 0);
        if (op == 0xac || op == 0xc4) return (uint64(uint256(signExtend(v, 32)) & M64), 0);
        if (op == 0xc0) return (uint64(uint256(signExtend(v, 8)) & M32), 0);
        if (op == 0xc1) return (uint64(uint256(signExtend(v, 16)) & M32), 0);
        if (op == 0xc2) return (uint64(uint256(signExtend(v, 8)) & M64), 0);
        if (op == 0xc3) return (uint64(uint256(signExtend(v, 16)) & M64), 0);
        return (0, TRAP_BAD_INSTRUCTION);
    }

    /// @notice A binary integer opcode on `x` (deeper operand) and `y` (`numeric::binary`).
    function binary(uint16 op, uint64 x, uint64 y) internal pure returns (uint64 r, uint8 trap) {
        if (op >= 0x46 && op <= 0x4f) return (cmp32(op, x, y), 0);
        if (op >= 0x51 && op <= 0x5a) return (cmp64(op, x, y), 0);
        if (op >= 0x6a && op <= 0x78) return arith32(op, uint256(x) & M32, uint256(y) & M32);
        if (op >= 0x7c && op <= 0x8a) return arith64(op, x, y);
        return (0, TRAP_BAD_INSTRUCTION);
    }

    function cmp32(uint16 op, uint64 x, uint64 y) private pure returns (uint64) {
        uint256 a = uint256(x) & M32;
        uint256 c = uint256(y) & M32;
        int256 sa = signExtend(a, 32);
        int256 sc = signExtend(c, 32);
        bool t;
        if (op == 0x46) t = a == c;
        else if (op == 0x47) t = a != c;
        else if (op == 0x48) t = sa < sc;
        else if (op == 0x49) t = a < c;
        else if (op == 0x4a) t = sa > sc;
        else if (op == 0x4b) t = a > c;
        else if (op == 0x4c) t = sa <= sc;
        else if (op == 0x4d) t = a <= c;
        else if (op == 0x4e) t = sa >= sc;
        else t = a >= c; // 0x4f
        return t ? 1 : 0;
    }

    function cmp64(uint16 op, uint64 x, uint64 y) private pure returns (uint64) {
        int256 sx = signExtend(x, 64);
        int256 sy = signExtend(y, 64);
        bool t;
        if (op == 0x51) t = x == y;
        else if (op == 0x52) t = x != y;
        else if (op == 0x53) t = sx < sy;
        else if (op == 0x54) t = x < y;
        else if (op == 0x55) t = sx > sy;
        else if (op == 0x56) t = x > y;
        else if (op == 0x57) t = sx <= sy;
        else if (op == 0x58) t = x <= y;
        else if (op == 0x59) t = sx >= sy;
        else t = x >= y; // 0x5a
        return t ? 1 : 0;
    }

    function arith32(uint16 op, uint256 a, uint256 c) private pure returns (uint64, uint8) {
        uint256 r;
        if (op == 0x6a) r = a + c;
        else if (op == 0x6b) r = a + (1 << 32) - c;
        else if (op == 0x6c) r = a * c;
        else if (op >= 0x6d && op <= 0x70) return div(op - 0x6d, a, c, 32);
        else if (op == 0x71) r = a & c;
        else if (op == 0x72) r = a | c;
        else if (op == 0x73) r = a ^ c;
        else if (op == 0x74) r = a << (c & 31);
        else if (op == 0x75) r = uint256(signExtend(a, 32) >> (c & 31));
        else if (op == 0x76) r = a >> (c & 31);
        else if (op == 0x77) r = rotl(a, c & 31, 32);
        else r = rotl(a, (32 - (c & 31)) & 31, 32); // 0x78
        return (uint64(r & M32), 0);
    }

    function arith64(uint16 op, uint256 x, uint256 y) private pure returns (uint64, uint8) {
        uint256 r;
        if (op == 0x7c) r = x + y;
        else if (op == 0x7d) r = x + (1 << 64) - y;
        else if (op == 0x7e) r = x * y;
        else if (op >= 0x7f && op <= 0x82) return div(op - 0x7f, x, y, 64);
        else if (op == 0x83) r = x & y;
        else if (op == 0x84) r = x | y;
        else if (op == 0x85) r = x ^ y;
        else if (op == 0x86) r = x << (y & 63);
        else if (op == 0x87) r = uint256(signExtend(x, 64) >> (y & 63));
        else if (op == 0x88) r = x >> (y & 63);
        else if (op == 0x89) r = rotl(x, y & 63, 64);
        else r = rotl(x, (64 - (y & 63)) & 63, 64); // 0x8a
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
