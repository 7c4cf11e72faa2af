// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Test, console} from "forge-std/Test.sol";
import {FloatMath} from "../src/step/FloatMath.sol";

/// @notice External entry points so that reverts of the library can be expected.
contract FloatMathHarness {
    function unary(uint16 op, uint64 x) external pure returns (uint64 r, uint8 trap) {
        return FloatMath.unary(op, x);
    }

    function binary(uint16 op, uint64 x, uint64 y) external pure returns (uint64 r, uint8 trap) {
        return FloatMath.binary(op, x, y);
    }
}

/// @notice FloatMath against the Rust reference (`bisection/src/numeric.rs`): every vector of
///         spec/vectors/numeric-float.json, hand-computed hard cases, identities, and gas.
contract FloatMathTest is Test {
    string internal constant VECTORS = "../spec/vectors/numeric-float.json";

    // Opcodes used by the focused tests.
    uint16 internal constant F32_NEAREST = 0x90;
    uint16 internal constant F32_SQRT = 0x91;
    uint16 internal constant F32_ADD = 0x92;
    uint16 internal constant F32_SUB = 0x93;
    uint16 internal constant F32_MUL = 0x94;
    uint16 internal constant F32_DIV = 0x95;
    uint16 internal constant F32_MIN = 0x96;
    uint16 internal constant F32_MAX = 0x97;
    uint16 internal constant F64_CEIL = 0x9b;
    uint16 internal constant F64_FLOOR = 0x9c;
    uint16 internal constant F64_TRUNC = 0x9d;
    uint16 internal constant F64_NEAREST = 0x9e;
    uint16 internal constant F64_SQRT = 0x9f;
    uint16 internal constant F64_ADD = 0xa0;
    uint16 internal constant F64_SUB = 0xa1;
    uint16 internal constant F64_MUL = 0xa2;
    uint16 internal constant F64_DIV = 0xa3;
    uint16 internal constant I32_TRUNC_F32_S = 0xa8;
    uint16 internal constant I32_TRUNC_F64_S = 0xaa;
    uint16 internal constant I32_TRUNC_F64_U = 0xab;
    uint16 internal constant I64_TRUNC_F64_S = 0xb0;
    uint16 internal constant F32_CONVERT_I32_S = 0xb2;
    uint16 internal constant F32_CONVERT_I64_S = 0xb4;
    uint16 internal constant F32_CONVERT_I64_U = 0xb5;
    uint16 internal constant F32_DEMOTE = 0xb6;
    uint16 internal constant F64_CONVERT_I32_S = 0xb7;
    uint16 internal constant F64_CONVERT_I64_S = 0xb9;
    uint16 internal constant F64_CONVERT_I64_U = 0xba;
    uint16 internal constant F64_PROMOTE = 0xbb;

    uint64 internal constant F32_ONE = 0x3f800000;
    uint64 internal constant F64_ONE = 0x3ff0000000000000;
    uint64 internal constant F32_INF = 0x7f800000;
    uint64 internal constant F64_INF = 0x7ff0000000000000;
    uint64 internal constant F32_NAN = 0x7fc00000;
    uint64 internal constant F64_NAN = 0x7ff8000000000000;
    uint64 internal constant F32_NEG_ZERO = 0x80000000;
    uint64 internal constant F64_NEG_ZERO = 0x8000000000000000;

    uint256 internal constant GAS_LIMIT_PER_OP = 400_000;

    FloatMathHarness internal harness;

    function setUp() public {
        harness = new FloatMathHarness();
    }

    // ---------------------------------------------------------------------------------------------
    // Cross-language vectors
    // ---------------------------------------------------------------------------------------------

    struct Vectors {
        uint256[] op;
        uint256[] a;
        uint256[] b;
        uint256[] r;
        uint256[] trap;
    }

    function _loadVectors() internal view returns (Vectors memory v) {
        string memory json = vm.readFile(VECTORS);
        v.op = vm.parseJsonUintArray(json, ".op");
        v.a = vm.parseJsonUintArray(json, ".a");
        v.b = vm.parseJsonUintArray(json, ".b");
        v.r = vm.parseJsonUintArray(json, ".r");
        v.trap = vm.parseJsonUintArray(json, ".trap");
        assertEq(v.op.length, vm.parseJsonUint(json, ".count"), "count");
    }

    function _isUnary(uint16 op) internal pure returns (bool) {
        return (op >= 0x8b && op <= 0x91) || (op >= 0x99 && op <= 0x9f) || (op >= 0xa7 && op <= 0xc4) || op >= 0xfc00;
    }

    function _apply(uint16 op, uint64 a, uint64 b) internal pure returns (uint64 r, uint8 trap) {
        return _isUnary(op) ? FloatMath.unary(op, a) : FloatMath.binary(op, a, b);
    }

    /// Every Rust-generated float vector: same trap code, and same result bits when no trap.
    function testDiff_floatVectors() public view {
        Vectors memory v = _loadVectors();
        assertEq(v.op.length, 8376, "vector count");
        for (uint256 i = 0; i < v.op.length; i++) {
            uint16 op = uint16(v.op[i]);
            (uint64 r, uint8 trap) = _apply(op, uint64(v.a[i]), uint64(v.b[i]));
            if (trap != v.trap[i] || (trap == 0 && r != v.r[i])) {
                console.log("vector", i);
                console.log("  op", op);
                console.log("  a", vm.toString(bytes32(v.a[i])));
                console.log("  b", vm.toString(bytes32(v.b[i])));
                console.log("  want", vm.toString(bytes32(v.r[i])), v.trap[i]);
                console.log("  got ", vm.toString(bytes32(uint256(r))), trap);
                revert("float vector mismatch");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Gas per op group (measured over every vector; printed with -vv)
    // ---------------------------------------------------------------------------------------------

    uint256 internal constant GROUPS = 16;

    function _group(uint16 op) internal pure returns (uint256 g, string memory name) {
        if (op >= 0x5b && op <= 0x66) return (0, "compare (eq ne lt gt le ge)");
        if (
            op == 0x8b || op == 0x8c || op == 0x98 || op == 0x99 || op == 0x9a || op == 0xa6
                || (op >= 0xbc && op <= 0xbf)
        ) {
            return (1, "abs neg copysign reinterpret");
        }
        if ((op >= 0x8d && op <= 0x90) || (op >= 0x9b && op <= 0x9e)) return (2, "ceil floor trunc nearest");
        if (op == 0x91) return (3, "f32.sqrt");
        if (op == 0x9f) return (4, "f64.sqrt");
        if (op == 0x92 || op == 0x93) return (5, "f32.add sub");
        if (op == 0xa0 || op == 0xa1) return (6, "f64.add sub");
        if (op == 0x94) return (7, "f32.mul");
        if (op == 0xa2) return (8, "f64.mul");
        if (op == 0x95) return (9, "f32.div");
        if (op == 0xa3) return (10, "f64.div");
        if (op == 0x96 || op == 0x97 || op == 0xa4 || op == 0xa5) return (11, "min max");
        if (op >= 0xfc00) return (12, "trunc_sat (saturating)");
        if (op >= 0xa8 && op <= 0xb1) return (13, "trunc (trapping)");
        if (op == 0xb6 || op == 0xbb) return (14, "demote promote");
        return (15, "convert int -> float");
    }

    /// Gas of each library call over all vectors, per op group; every call stays under issue 4's
    /// 400,000 bound. `forge test --match-test test_gas_floatOpGroups -vv` prints the table.
    function test_gas_floatOpGroups() public view {
        Vectors memory v = _loadVectors();
        uint256 total = v.op.length;
        uint256[] memory used = new uint256[](total);
        uint256[] memory counts = new uint256[](GROUPS);
        for (uint256 i = 0; i < total; i++) {
            uint16 op = uint16(v.op[i]);
            uint64 a = uint64(v.a[i]);
            uint64 b = uint64(v.b[i]);
            bool un = _isUnary(op);
            uint256 before = gasleft();
            if (un) FloatMath.unary(op, a);
            else FloatMath.binary(op, a, b);
            used[i] = before - gasleft();
            (uint256 g,) = _group(op);
            counts[g]++;
        }
        uint256[][] memory samples = new uint256[][](GROUPS);
        for (uint256 g = 0; g < GROUPS; g++) {
            samples[g] = new uint256[](counts[g]);
            counts[g] = 0;
        }
        for (uint256 i = 0; i < total; i++) {
            (uint256 g,) = _group(uint16(v.op[i]));
            samples[g][counts[g]++] = used[i];
        }
        console.log("group | calls | min | median | max (gas per FloatMath call)");
        uint16[GROUPS] memory representative =
            [uint16(0x5b), 0x8b, 0x8d, 0x91, 0x9f, 0x92, 0xa0, 0x94, 0xa2, 0x95, 0xa3, 0x96, 0xfc00, 0xa8, 0xb6, 0xb2];
        for (uint256 g = 0; g < GROUPS; g++) {
            uint256 n = counts[g];
            if (n == 0) continue;
            uint256[] memory s = samples[g];
            _sort(s, n);
            (, string memory name) = _group(representative[g]);
            console.log(
                string.concat(
                    name,
                    " | ",
                    vm.toString(n),
                    " | ",
                    vm.toString(s[0]),
                    " | ",
                    vm.toString(s[n / 2]),
                    " | ",
                    vm.toString(s[n - 1])
                )
            );
            assertLe(s[n - 1], GAS_LIMIT_PER_OP, name);
        }
    }

    function _sort(uint256[] memory s, uint256 n) internal pure {
        for (uint256 i = 1; i < n; i++) {
            uint256 key = s[i];
            uint256 j = i;
            while (j > 0 && s[j - 1] > key) {
                s[j] = s[j - 1];
                j--;
            }
            s[j] = key;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Hard cases, computed by hand
    // ---------------------------------------------------------------------------------------------

    function _u(uint16 op, uint64 x) internal pure returns (uint64 r) {
        uint8 trap;
        (r, trap) = FloatMath.unary(op, x);
        assertEq(trap, 0, "unexpected trap");
    }

    function _b(uint16 op, uint64 x, uint64 y) internal pure returns (uint64 r) {
        (r,) = FloatMath.binary(op, x, y);
    }

    function _trap(uint16 op, uint64 x) internal pure returns (uint8 trap) {
        (, trap) = FloatMath.unary(op, x);
    }

    function test_add_tiesToEven() public pure {
        // 1 + 2^-24 is halfway between 1 and 1 + 2^-23: the even neighbour is 1.
        assertEq(_b(F32_ADD, F32_ONE, 0x33800000), F32_ONE);
        // (1 + 2^-23) + 2^-24 is halfway between an odd and an even significand: up.
        assertEq(_b(F32_ADD, 0x3f800001, 0x33800000), 0x3f800002);
        // Just above the half: up.
        assertEq(_b(F32_ADD, F32_ONE, 0x33800001), 0x3f800001);
        // f64: 1 + 2^-53 -> 1; (1 + 2^-52) + 2^-53 -> 1 + 2^-51.
        assertEq(_b(F64_ADD, F64_ONE, 0x3ca0000000000000), F64_ONE);
        assertEq(_b(F64_ADD, 0x3ff0000000000001, 0x3ca0000000000000), 0x3ff0000000000002);
        // 1 - 2^-54 ties between the odd 1 - 2^-53 and the even 1: rounds to 1.
        assertEq(_b(F64_SUB, F64_ONE, 0x3c90000000000000), F64_ONE);
        // 1 - 2^-53 is exact (the binade below has a finer ulp).
        assertEq(_b(F64_SUB, F64_ONE, 0x3ca0000000000000), 0x3fefffffffffffff);
    }

    function test_add_farApartOperands_stickyDecidesRounding() public pure {
        // 2^100 + 2^-100 in f64: the tiny addend is far below half an ulp: unchanged.
        assertEq(_b(F64_ADD, 0x4630000000000000, 0x39b0000000000000), 0x4630000000000000);
        // 2^100 - 2^-100: just below 2^100, still nearer to 2^100 than to 2^100 - 2^47.
        assertEq(_b(F64_SUB, 0x4630000000000000, 0x39b0000000000000), 0x4630000000000000);
        // f32 max + 2^102 (a quarter ulp) stays max; + 2^103 (a tie, odd max) overflows to inf.
        assertEq(_b(F32_ADD, 0x7f7fffff, 0x72800000), 0x7f7fffff);
        assertEq(_b(F32_ADD, 0x7f7fffff, 0x73000000), F32_INF);
    }

    function test_add_signedZeros() public pure {
        assertEq(_b(F32_ADD, F32_NEG_ZERO, F32_NEG_ZERO), F32_NEG_ZERO);
        assertEq(_b(F32_ADD, F32_NEG_ZERO, 0), 0);
        assertEq(_b(F32_SUB, F32_NEG_ZERO, 0), F32_NEG_ZERO);
        assertEq(_b(F64_SUB, F64_ONE, F64_ONE), 0);
        assertEq(_b(F64_ADD, F64_INF, F64_INF | F64_NEG_ZERO), F64_NAN);
    }

    function test_mul_tiesToEvenAndOverflow() public pure {
        // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: a tie above the even 1 + 2^-11.
        assertEq(_b(F32_MUL, 0x3f800800, 0x3f800800), 0x3f801000);
        // (1 + 3*2^-12)(1 + 2^-12) = 1 + 2^-10 + 1.5 ulp: a tie between the odd 0x2001 and the
        // even 0x2002 fraction -> 0x2002.
        assertEq(_b(F32_MUL, 0x3f801800, 0x3f800800), 0x3f802002);
        // (1 + 2^-23)(1 + 2^-23) = 1 + 2 ulp + 2^-46: the tiny part is dropped.
        assertEq(_b(F32_MUL, 0x3f800001, 0x3f800001), 0x3f800002);
        // 2^127 * 2 overflows to inf; with a negative factor to -inf.
        assertEq(_b(F32_MUL, 0x7f000000, 0x40000000), F32_INF);
        assertEq(_b(F32_MUL, 0x7f000000, 0xc0000000), F32_INF | F32_NEG_ZERO);
        assertEq(_b(F64_MUL, F64_INF, 0), F64_NAN);
        assertEq(_b(F64_MUL, F64_NEG_ZERO, F64_ONE), F64_NEG_ZERO);
    }

    function test_mul_subnormalResults() public pure {
        // 2^-126 * 0.5 = 2^-127: the subnormal with only bit 22 set.
        assertEq(_b(F32_MUL, 0x00800000, 0x3f000000), 0x00400000);
        // Smallest normal f64 * 2^-52 = 2^-1074, the smallest subnormal.
        assertEq(_b(F64_MUL, 0x0010000000000000, 0x3cb0000000000000), 1);
        // 2^-1074 * 0.5 = 2^-1075 is a tie between 0 (even) and 2^-1074: 0, sign kept.
        assertEq(_b(F64_MUL, 1, 0x3fe0000000000000), 0);
        assertEq(_b(F64_MUL, 1, 0xbfe0000000000000), F64_NEG_ZERO);
        // 2^-1074 * 0.75 is above the tie: 2^-1074.
        assertEq(_b(F64_MUL, 1, 0x3fe8000000000000), 1);
        // Two subnormals: 2^-149 * 2^-149 underflows to 0.
        assertEq(_b(F32_MUL, 1, 1), 0);
    }

    function test_div_roundingAndSpecials() public pure {
        // 1/3 in f32 = 0x3eaaaaab (0.0101.. rounds up), in f64 = 0x3fd5555555555555 (rounds down).
        assertEq(_b(F32_DIV, F32_ONE, 0x40400000), 0x3eaaaaab);
        assertEq(_b(F64_DIV, F64_ONE, 0x4008000000000000), 0x3fd5555555555555);
        // 2/3 in f64: 0x3fe5555555555555.
        assertEq(_b(F64_DIV, 0x4000000000000000, 0x4008000000000000), 0x3fe5555555555555);
        // Subnormal ties: 2^-149 / 2 -> 0 (even); 3*2^-149 / 2 = 1.5 ulp -> 2 ulp (even).
        assertEq(_b(F32_DIV, 1, 0x40000000), 0);
        assertEq(_b(F32_DIV, 3, 0x40000000), 2);
        // 1 / 0 = inf, -1 / 0 = -inf, 0 / 0 = NaN, inf / inf = NaN, 1 / -inf = -0.
        assertEq(_b(F32_DIV, F32_ONE, 0), F32_INF);
        assertEq(_b(F32_DIV, 0xbf800000, 0), F32_INF | F32_NEG_ZERO);
        assertEq(_b(F32_DIV, 0, 0), F32_NAN);
        assertEq(_b(F64_DIV, F64_INF, F64_INF), F64_NAN);
        assertEq(_b(F64_DIV, F64_ONE, F64_INF | F64_NEG_ZERO), F64_NEG_ZERO);
        // f64 max / 0.5 overflows.
        assertEq(_b(F64_DIV, 0x7fefffffffffffff, 0x3fe0000000000000), F64_INF);
    }

    function test_sqrt_exactInexactAndSubnormal() public pure {
        assertEq(_u(F32_SQRT, 0x40800000), 0x40000000); // sqrt(4) = 2
        assertEq(_u(F32_SQRT, 0x40000000), 0x3fb504f3); // sqrt(2)
        assertEq(_u(F64_SQRT, 0x4000000000000000), 0x3ff6a09e667f3bcd);
        // Subnormal radicands: sqrt(2^-148) = 2^-74; sqrt(2^-1074) = 2^-537.
        assertEq(_u(F32_SQRT, 2), 0x1a800000);
        assertEq(_u(F64_SQRT, 1), 0x1e60000000000000);
        // sqrt(2^-149) = 2^-74.5 = 2^-75 * sqrt(2): significand of sqrt(2) at exponent -75.
        assertEq(_u(F32_SQRT, 1), 0x1a3504f3);
        // sqrt(-0) = -0; sqrt(-1) and sqrt(-inf) are NaN; sqrt(inf) = inf.
        assertEq(_u(F64_SQRT, F64_NEG_ZERO), F64_NEG_ZERO);
        assertEq(_u(F64_SQRT, 0xbff0000000000000), F64_NAN);
        assertEq(_u(F32_SQRT, F32_INF | F32_NEG_ZERO), F32_NAN);
        assertEq(_u(F32_SQRT, F32_INF), F32_INF);
    }

    function test_convert_int64ToF32_roundsOnce() public pure {
        // 2^62 + 2^38 + 1: above half an f32 ulp (2^39) -> 2^62 + 2^39. Rounding through f64
        // first would drop the +1 and then tie down to 2^62 (0x5e800000).
        uint64 n = (uint64(1) << 62) + (uint64(1) << 38) + 1;
        assertEq(_u(F32_CONVERT_I64_S, n), 0x5e800001);
        assertEq(_u(F32_CONVERT_I64_U, n), 0x5e800001);
        // The exact tie 2^62 + 2^38 goes to the even 2^62.
        assertEq(_u(F32_CONVERT_I64_S, n - 1), 0x5e800000);
        // Negative: -(2^62 + 2^38 + 1).
        assertEq(_u(F32_CONVERT_I64_S, ~n + 1), 0xde800001);
        // i64 min is exact: -2^63.
        assertEq(_u(F32_CONVERT_I64_S, 0x8000000000000000), 0xdf000000);
        // 2^24 + 1 is a tie in f32 -> 2^24; 2^24 + 3 -> 2^24 + 4.
        assertEq(_u(F32_CONVERT_I32_S, (1 << 24) + 1), 0x4b800000);
        assertEq(_u(F32_CONVERT_I32_S, (1 << 24) + 3), 0x4b800002);
        // i32 -1 (only the low 32 bits count) -> -1.0.
        assertEq(_u(F32_CONVERT_I32_S, 0xffffffff), 0xbf800000);
        assertEq(_u(F64_CONVERT_I32_S, 0xffffffff80000000), 0xc1e0000000000000);
    }

    function test_convert_u64ToF64() public pure {
        assertEq(_u(F64_CONVERT_I64_U, type(uint64).max), 0x43f0000000000000); // -> 2^64
        // 2^63 + 2^10 is a tie between 2^63 (even) and 2^63 + 2^11.
        assertEq(_u(F64_CONVERT_I64_U, 0x8000000000000400), 0x43e0000000000000);
        assertEq(_u(F64_CONVERT_I64_U, 0x8000000000000401), 0x43e0000000000001);
        // 2^63 + 3*2^10: tie between odd 2^63 + 2^11 and even 2^63 + 2^12.
        assertEq(_u(F64_CONVERT_I64_U, 0x8000000000000c00), 0x43e0000000000002);
        // As signed the same bits are -(2^63 - 2^10): an exact 53-bit value.
        assertEq(_u(F64_CONVERT_I64_S, 0x8000000000000400), 0xc3dfffffffffffff);
    }

    function test_trunc_i32Bounds() public pure {
        assertEq(_u(I32_TRUNC_F64_S, 0x41dfffffffe00000), 0x7fffffff); // 2147483647.5
        assertEq(_u(I32_TRUNC_F64_S, 0xc1e00000001ccccd), 0x80000000); // -2147483648.9
        assertEq(_trap(I32_TRUNC_F64_S, 0x41e0000000000000), 4); // 2147483648.0
        assertEq(_trap(I32_TRUNC_F64_S, 0xc1e0000000200000), 4); // -2147483649.0
        assertEq(_u(I32_TRUNC_F64_U, 0xbfeccccccccccccd), 0); // -0.9 -> 0
        assertEq(_trap(I32_TRUNC_F64_U, 0xbff0000000000000), 4); // -1.0
        assertEq(_u(I32_TRUNC_F64_U, 0x41effffffffccccd), 0xffffffff); // 4294967295.9
        assertEq(_trap(I32_TRUNC_F64_U, 0x41f0000000000000), 4); // 4294967296.0
        assertEq(_trap(I32_TRUNC_F32_S, F32_NAN), 5);
        assertEq(_trap(I32_TRUNC_F32_S, F32_INF), 4);
        assertEq(_u(I32_TRUNC_F32_S, 0xcf000000), 0x80000000); // -2^31 is in range
        assertEq(_trap(I32_TRUNC_F32_S, 0x4f000000), 4); // 2^31 is not
        assertEq(_u(I64_TRUNC_F64_S, 0x43dfffffffffffff), 0x7ffffffffffffc00); // 2^63 - 2^10
        assertEq(_trap(I64_TRUNC_F64_S, 0x43e0000000000000), 4); // 2^63
    }

    function test_truncSat_clamps() public pure {
        assertEq(_u(0xfc00, F32_NAN), 0);
        assertEq(_u(0xfc00, F32_INF), 0x7fffffff);
        assertEq(_u(0xfc00, F32_INF | F32_NEG_ZERO), 0x80000000);
        assertEq(_u(0xfc01, 0xc0a00000), 0); // -5.0 -> 0 unsigned
        assertEq(_u(0xfc03, 0x41f0000000000000), 0xffffffff); // 2^32 -> u32 max
        assertEq(_u(0xfc06, 0x7e37e43c8800759c), 0x7fffffffffffffff); // 1e300
        assertEq(_u(0xfc06, 0xfe37e43c8800759c), 0x8000000000000000); // -1e300
        assertEq(_u(0xfc07, 0x43efffffffffffff), 0xfffffffffffff800); // 2^64 - 2^11
        assertEq(_u(0xfc07, 0x43f0000000000000), type(uint64).max); // 2^64
    }

    function test_nearest_tiesToEven() public pure {
        assertEq(_u(F32_NEAREST, 0x3f000000), 0); // 0.5 -> +0
        assertEq(_u(F32_NEAREST, 0x3fc00000), 0x40000000); // 1.5 -> 2
        assertEq(_u(F32_NEAREST, 0x40200000), 0x40000000); // 2.5 -> 2
        assertEq(_u(F32_NEAREST, 0xbf000000), F32_NEG_ZERO); // -0.5 -> -0
        assertEq(_u(F32_NEAREST, 0xbfc00000), 0xc0000000); // -1.5 -> -2
        assertEq(_u(F32_NEAREST, 0x3f000001), F32_ONE); // just above 0.5 -> 1
        assertEq(_u(F64_NEAREST, 0x3fe0000000000000), 0); // 0.5
        assertEq(_u(F64_NEAREST, 0x3ff8000000000000), 0x4000000000000000); // 1.5
        assertEq(_u(F64_NEAREST, 0x4004000000000000), 0x4000000000000000); // 2.5
        assertEq(_u(F64_NEAREST, 0x400c000000000000), 0x4010000000000000); // 3.5 -> 4
        assertEq(_u(F64_NEAREST, 0xbfe0000000000000), F64_NEG_ZERO); // -0.5
        // 2^52 + 0.5 does not exist; 2^52 - 0.5 (= 4503599627370495.5) ties to the even 2^52.
        assertEq(_u(F64_NEAREST, 0x432fffffffffffff), 0x4330000000000000);
    }

    function test_ceilFloorTrunc_signsAndCarry() public pure {
        assertEq(_u(F64_CEIL, 0xbfe0000000000000), F64_NEG_ZERO); // ceil(-0.5) = -0
        assertEq(_u(F64_FLOOR, 0x3fe0000000000000), 0); // floor(0.5) = +0
        assertEq(_u(F64_FLOOR, 0xbfe0000000000000), 0xbff0000000000000); // floor(-0.5) = -1
        assertEq(_u(F64_CEIL, 0x3ff8000000000000), 0x4000000000000000); // ceil(1.5) = 2
        assertEq(_u(F64_CEIL, 0x3fffffffffffffff), 0x4000000000000000); // carry into the exponent
        assertEq(_u(F64_TRUNC, 0xc00c000000000000), 0xc008000000000000); // trunc(-3.5) = -3
        assertEq(_u(F64_FLOOR, 1), 0); // floor of the smallest subnormal
        assertEq(_u(F64_CEIL, 1), F64_ONE);
        assertEq(_u(F64_TRUNC, 0x7ff4000000000001), F64_NAN); // signaling NaN -> canonical
    }

    function test_minMax_nanAndZeros() public pure {
        assertEq(_b(F32_MIN, 0, F32_NEG_ZERO), F32_NEG_ZERO);
        assertEq(_b(F32_MIN, F32_NEG_ZERO, 0), F32_NEG_ZERO);
        assertEq(_b(F32_MAX, F32_NEG_ZERO, 0), 0);
        assertEq(_b(F32_MAX, 0xff800000, 0x7f7fffff), 0x7f7fffff);
        assertEq(_b(F32_MIN, 0x7fa00001, F32_ONE), F32_NAN);
        assertEq(_b(F32_MAX, F32_ONE, 0xffc00001), F32_NAN);
    }

    function test_nanPayloads_keptByBitMovesOnly() public pure {
        uint64 snan = 0x7fa00001;
        assertEq(_b(F32_ADD, snan, F32_ONE), F32_NAN);
        assertEq(_b(F32_SUB, F32_INF, F32_INF), F32_NAN);
        assertEq(_u(0x8c, snan), snan | 0x80000000); // neg
        assertEq(_u(0x8b, snan | 0x80000000), snan); // abs
        assertEq(_b(0x98, snan, 0xbf800000), snan | 0x80000000); // copysign
        assertEq(_u(F64_PROMOTE, snan), F64_NAN);
        assertEq(_u(F32_DEMOTE, 0xfff0000000000001), F32_NAN);
        assertEq(_u(0xbe, 0xffffffff7fa00001), snan); // f32.reinterpret_i32: low bits
        assertEq(_u(0xbd, 0xfff0000000000001), 0xfff0000000000001);
        assertEq(_u(0xbc, snan), snan);
        assertEq(_u(0xbf, 0x7ff0000000000001), 0x7ff0000000000001);
    }

    function test_demote_roundingSubnormalAndOverflow() public pure {
        // f64 1 + 2^-24 is an f32 tie -> 1; 1 + 2^-24 + 2^-52 -> 1 + 2^-23.
        assertEq(_u(F32_DEMOTE, 0x3ff0000010000000), F32_ONE);
        assertEq(_u(F32_DEMOTE, 0x3ff0000010000001), 0x3f800001);
        // 2^-149 exactly is the smallest f32 subnormal; 2^-150 ties to 0; a bit more -> 2^-149.
        assertEq(_u(F32_DEMOTE, 0x36a0000000000000), 1);
        assertEq(_u(F32_DEMOTE, 0x3690000000000000), 0);
        assertEq(_u(F32_DEMOTE, 0x3690000000000001), 1);
        // f64 max overflows f32 -> inf; a negative tiny f64 -> -0.
        assertEq(_u(F32_DEMOTE, 0x7fefffffffffffff), F32_INF);
        assertEq(_u(F32_DEMOTE, 0x8000000000000001), F32_NEG_ZERO);
        // Promote is exact, subnormals included: 2^-149 -> 0x36a0000000000000.
        assertEq(_u(F64_PROMOTE, 1), 0x36a0000000000000);
    }

    function test_compare_nanAndZeros() public pure {
        assertEq(_b(0x5b, 0, F32_NEG_ZERO), 1); // +0 == -0
        assertEq(_b(0x5d, F32_NEG_ZERO, 0), 0); // -0 < +0 is false
        assertEq(_b(0x5c, F32_NAN, F32_NAN), 1); // NaN != NaN
        assertEq(_b(0x5b, F32_NAN, F32_NAN), 0);
        assertEq(_b(0x65, F64_NAN, F64_ONE), 0); // le with NaN
        assertEq(_b(0x63, 0xbff0000000000000, 1), 1); // -1 < smallest subnormal
        assertEq(_b(0x64, F64_INF, 0x7fefffffffffffff), 1);
    }

    function test_unsupportedOpcode_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(FloatMath.Unsupported.selector, uint16(0x6a)));
        harness.binary(0x6a, 1, 2);
        vm.expectRevert(abi.encodeWithSelector(FloatMath.Unsupported.selector, uint16(0x92)));
        harness.unary(0x92, 1);
        vm.expectRevert(abi.encodeWithSelector(FloatMath.Unsupported.selector, uint16(0x8b)));
        harness.binary(0x8b, 1, 2);
        vm.expectRevert(abi.encodeWithSelector(FloatMath.Unsupported.selector, uint16(0xa7)));
        harness.unary(0xa7, 1);
    }

    // ---------------------------------------------------------------------------------------------
    // Identities (fuzzed)
    //
    // The fuzz dictionary is off for these tests (`dictionary_weight = 0`): forge seeds it with
    // literals from every source file, so any edit elsewhere would change the inputs. Edge values
    // come from `_edge32`/`_edge64` instead. Gas metering is paused in each test all the same, so
    // the figure in .gas-snapshot does not depend on the drawn inputs either.
    // ---------------------------------------------------------------------------------------------

    /// A special f32 bit pattern for small selectors (zeros, smallest/largest subnormal, smallest
    /// normal, one, largest finite, infinities, quiet and signaling NaN), else `raw`.
    function _edge32(uint32 raw, uint8 sel) internal pure returns (uint64) {
        uint32[10] memory specials = [
            uint32(0), 0x80000000, 1, 0x007fffff, 0x00800000, 0x3f800000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fa00001
        ];
        return sel < 40 ? specials[sel % 10] : raw;
    }

    /// The f64 counterpart of `_edge32`.
    function _edge64(uint64 raw, uint8 sel) internal pure returns (uint64) {
        uint64[10] memory specials = [
            uint64(0),
            0x8000000000000000,
            1,
            0x000fffffffffffff,
            0x0010000000000000,
            0x3ff0000000000000,
            0x7fefffffffffffff,
            0x7ff0000000000000,
            0xfff0000000000000,
            0x7ff4000000000001
        ];
        return sel < 40 ? specials[sel % 10] : raw;
    }

    function _isNaN32(uint64 x) internal pure returns (bool) {
        return (x & 0x7fffffff) > 0x7f800000;
    }

    function _isNaN64(uint64 x) internal pure returns (bool) {
        return (x & 0x7fffffffffffffff) > 0x7ff0000000000000;
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_mulByOne_isCanonicalIdentity(uint32 x32, uint64 raw64, uint8 sel) public {
        vm.pauseGasMetering();
        uint64 x = _edge32(x32, sel);
        uint64 x64 = _edge64(raw64, sel);
        assertEq(_b(F32_MUL, x, F32_ONE), _isNaN32(x) ? F32_NAN : x);
        assertEq(_b(F64_MUL, F64_ONE, x64), _isNaN64(x64) ? F64_NAN : x64);
        // x / 1 and x + (-0) likewise.
        assertEq(_b(F64_DIV, x64, F64_ONE), _isNaN64(x64) ? F64_NAN : x64);
        assertEq(_b(F32_ADD, x, F32_NEG_ZERO), _isNaN32(x) ? F32_NAN : x);
        vm.resumeGasMetering();
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_addNegation_isPositiveZero(uint32 x32, uint64 x64) public {
        vm.pauseGasMetering();
        uint64 x = x32;
        vm.assume((x & 0x7f800000) != 0x7f800000 && (x64 & F64_INF) != F64_INF);
        assertEq(_b(F32_ADD, x, x ^ 0x80000000), 0);
        assertEq(_b(F32_SUB, x, x), 0);
        assertEq(_b(F64_ADD, x64, x64 ^ F64_NEG_ZERO), 0);
        assertEq(_b(F64_SUB, x64, x64), 0);
        vm.resumeGasMetering();
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_commutativity(uint64 rawA, uint64 rawB, uint8 selA, uint8 selB) public {
        vm.pauseGasMetering();
        uint64 a = _edge64(rawA, selA);
        uint64 b = _edge64(rawB, selB);
        uint64 a32 = _edge32(uint32(rawA), selA);
        uint64 b32 = _edge32(uint32(rawB), selB);
        assertEq(_b(F32_ADD, a32, b32), _b(F32_ADD, b32, a32));
        assertEq(_b(F32_MUL, a32, b32), _b(F32_MUL, b32, a32));
        assertEq(_b(F64_ADD, a, b), _b(F64_ADD, b, a));
        assertEq(_b(F64_MUL, a, b), _b(F64_MUL, b, a));
        // a - b == -(b - a) unless the result is NaN or an exact zero (both +0).
        uint64 d = _b(F64_SUB, a, b);
        if (!_isNaN64(d) && d << 1 != 0) assertEq(d, _b(F64_SUB, b, a) ^ F64_NEG_ZERO);
        vm.resumeGasMetering();
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_integersRoundTrip(int32 i, int64 j, uint64 u) public {
        vm.pauseGasMetering();
        uint64 i32bits = uint64(uint32(i));
        // Every i32 is exact in f64.
        assertEq(_u(I32_TRUNC_F64_S, _u(F64_CONVERT_I32_S, i32bits)), i32bits);
        // |i| < 2^24 is exact in f32.
        int32 small = i % (1 << 24);
        uint64 smallBits = uint64(uint32(small));
        assertEq(_u(I32_TRUNC_F32_S, _u(F32_CONVERT_I32_S, smallBits)), smallBits);
        // |j| < 2^53 is exact in f64.
        int64 k = j % (1 << 53);
        assertEq(_u(I64_TRUNC_F64_S, _u(F64_CONVERT_I64_S, uint64(k))), uint64(k));
        // u64 -> f64 -> u64 (saturating) loses only the bits below the 53-bit significand:
        // the result is within half an ulp of u (or 2^64, saturated).
        uint64 back = _u(0xfc07, _u(F64_CONVERT_I64_U, u));
        uint256 diff = back > u ? back - u : u - back;
        uint256 bitLen = 0;
        for (uint64 t = u; t != 0; t >>= 1) {
            bitLen++;
        }
        uint256 halfUlp = bitLen > 53 ? uint256(1) << (bitLen - 54) : 0;
        assertLe(diff, back == type(uint64).max ? halfUlp + 1 : halfUlp);
        vm.resumeGasMetering();
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_promoteDemote_roundTrip(uint32 x32, uint8 sel) public {
        vm.pauseGasMetering();
        uint64 x = _edge32(x32, sel);
        uint64 back = _u(F32_DEMOTE, _u(F64_PROMOTE, x));
        assertEq(back, _isNaN32(x) ? F32_NAN : x);
        vm.resumeGasMetering();
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_sqrtOfSquare_isAbs(uint32 x32) public {
        vm.pauseGasMetering();
        uint64 x = x32 & 0x7fffffff;
        // Keep x*x normal and finite: exponent field within [64, 190].
        vm.assume(x >= 0x20000000 && x < 0x5f000000);
        assertEq(_u(F32_SQRT, _b(F32_MUL, x, x)), x);
        vm.resumeGasMetering();
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_roundToIntegral_brackets(uint64 raw, uint8 sel) public {
        vm.pauseGasMetering();
        uint64 x = _edge64(raw, sel);
        vm.assume(!_isNaN64(x));
        uint64 fl = _u(F64_FLOOR, x);
        uint64 ce = _u(F64_CEIL, x);
        uint64 ne = _u(F64_NEAREST, x);
        assertEq(_b(0x65, fl, x), 1); // floor(x) <= x
        assertEq(_b(0x66, ce, x), 1); // ceil(x) >= x
        assertEq(_b(0x65, fl, ne) & _b(0x65, ne, ce), 1); // floor <= nearest <= ceil
        assertEq(_u(F64_TRUNC, x), x >> 63 == 0 ? fl : ce);
        vm.resumeGasMetering();
    }

    /// forge-config: default.fuzz.dictionary_weight = 0
    function testFuzz_minMax_symmetric(uint64 rawA, uint64 rawB, uint8 selA, uint8 selB) public {
        vm.pauseGasMetering();
        uint64 a = _edge64(rawA, selA);
        uint64 b = _edge64(rawB, selB);
        assertEq(_b(0xa4, a, b), _b(0xa4, b, a));
        assertEq(_b(0xa5, a, b), _b(0xa5, b, a));
        assertEq(_b(0x61, a, b), 1 - _b(0x62, a, b)); // eq == !ne
        assertEq(_b(0x63, a, b), _b(0x64, b, a)); // a < b == b > a
        vm.resumeGasMetering();
    }
}
