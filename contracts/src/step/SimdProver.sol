// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, Outcome} from "./MachineState.sol";
import {OperandStack} from "./OperandStack.sol";
import {MemoryAccess} from "./MemoryAccess.sol";
import {FloatMath} from "./FloatMath.sol";
import {Opcodes, SimdOpcodes, Simd} from "./Opcodes.sol";
import {MalformedInstruction} from "./StepErrors.sol";

/// @title SimdProver
/// @notice The SIMD family (`Family::Simd`, `spec/simd.md`): every `0xFD00 + n` opcode of
///         `SimdOpcodes`, mirroring `bisection/src/simd.rs` arm by arm. A v128 is two stack
///         slots, the low half pushed first, so a pop of a v128 is two ordinary pop witnesses
///         (high, then low). Memory accesses are ordinary `≤ 32 bytes, ≤ 2 leaves` witnesses;
///         float lanes run the scalar `FloatMath` op of the same WebAssembly semantics.
/// @dev A v128 travels as a `uint256` below 2^128, lane `i` of a `bits`-wide shape at bit
///      `bits * i` (the little-endian byte order of the 16-byte value). `n` is the sub-opcode
///      (`Simd.NAME` for the opcode `Opcodes.NAME`).
///      Lane indices out of range and shuffle lanes ≥ 32 are malformed instructions, exactly where
///      `simd.rs` calls `c.malformed(..)`.
///
///      Lint: `8 << k` computes a lane width from a shape index (literal first on purpose).
// forge-lint: disable-next-item(incorrect-shift)
contract SimdProver is IFamilyProver {
    uint256 internal constant PAGE = 65536;
    uint256 internal constant ALL_ONES = type(uint128).max;

    /// @inheritdoc IFamilyProver
    function execute(Machine calldata mIn, Instr calldata ins, bytes calldata proof)
        external
        pure
        returns (Machine memory m)
    {
        m = mIn;
        uint16 op = ins.op;
        if (!SimdOpcodes.supported(op)) revert MalformedInstruction(op);
        uint256 n = op - SimdOpcodes.FIRST;
        uint256 r;
        if (n <= Simd.V128_STORE || (n >= Simd.V128_LOAD8_LANE && n <= Simd.V128_LOAD64_ZERO)) {
            memoryAccess(m, proof, n, ins);
            return m;
        } else if (n == Simd.I8X16_SHUFFLE) {
            uint256 y = popV128(m, proof);
            uint256 x = popV128(m, proof);
            r = shuffle(x, y, ins);
        } else if (n == Simd.I8X16_SWIZZLE) {
            uint256 s = popV128(m, proof);
            uint256 x = popV128(m, proof);
            r = swizzle(x, s);
        } else if (n <= Simd.F64X2_SPLAT) {
            // i8x16, i16x8, i32x4, i64x2, f32x4, f64x2 splats.
            uint256 bits = [uint256(8), 16, 32, 64, 32, 64][n - Simd.I8X16_SPLAT];
            r = splat(OperandStack.pop(m, proof), bits);
        } else if (n <= Simd.F64X2_REPLACE_LANE) {
            (bool scalar, uint256 value) = laneAccess(m, proof, n, ins);
            if (scalar) {
                OperandStack.push(m, uint64(value));
                return m;
            }
            r = value;
        } else if (n <= Simd.I32X4_GE_U || (n >= Simd.I64X2_EQ && n <= Simd.I64X2_GE_S)) {
            (uint256 bits, uint256 k) = compareShape(n);
            uint256 y = popV128(m, proof);
            uint256 x = popV128(m, proof);
            r = intCompare(k, bits, x, y);
        } else if (n <= Simd.F64X2_GE) {
            // Float compares: the scalar f32/f64 eq, ne, lt, gt, le, ge per lane.
            (uint256 bits, uint256 scalar) = (32, Opcodes.F32_EQ + n - Simd.F32X4_EQ);
            if (n >= Simd.F64X2_EQ) (bits, scalar) = (64, Opcodes.F64_EQ + n - Simd.F64X2_EQ);
            uint256 y = popV128(m, proof);
            uint256 x = popV128(m, proof);
            r = floatCompare(uint16(scalar), bits, x, y);
        } else if (n <= Simd.V128_ANY_TRUE) {
            (bool scalar, uint256 value) = bitwise(m, proof, n);
            if (scalar) {
                OperandStack.push(m, uint64(value));
                return m;
            }
            r = value;
        } else if (
            n == Simd.F32X4_DEMOTE_F64X2_ZERO || n == Simd.F64X2_PROMOTE_LOW_F32X4 || n >= Simd.I32X4_TRUNC_SAT_F32X4_S
        ) {
            r = convert(n, popV128(m, proof));
        } else if ((n >= Simd.F32X4_ADD && n <= Simd.F32X4_PMAX) || n >= Simd.F64X2_ADD) {
            uint256 y = popV128(m, proof);
            uint256 x = popV128(m, proof);
            r = floatBinary(n, x, y);
        } else if (
            n >= Simd.F32X4_ABS || (n >= Simd.F32X4_CEIL && n <= Simd.F32X4_NEAREST) || n == Simd.F64X2_CEIL
                || n == Simd.F64X2_FLOOR || n == Simd.F64X2_TRUNC || n == Simd.F64X2_NEAREST
        ) {
            // abs, neg, sqrt, ceil, floor, trunc, nearest (f32x4.abs..f64x2.sqrt less the binary ones).
            (uint256 bits, uint256 scalar) = floatUnaryScalar(n);
            r = floatMap(uint16(scalar), bits, bits, popV128(m, proof));
        } else {
            (bool scalar, uint256 value) = integer(m, proof, n);
            if (scalar) {
                OperandStack.push(m, uint64(value));
                return m;
            }
            r = value;
        }
        pushV128(m, r);
    }

    // ------------------------------------------------------------------------------ stack

    /// @notice Pops a v128: the high slot (on top), then the low slot.
    function popV128(Machine memory m, bytes calldata proof) internal pure returns (uint256) {
        uint256 hi = OperandStack.pop(m, proof);
        uint256 lo = OperandStack.pop(m, proof);
        return (hi << 64) | lo;
    }

    /// @notice Pushes a v128: the low slot first.
    function pushV128(Machine memory m, uint256 v) internal pure {
        OperandStack.push(m, uint64(v));
        OperandStack.push(m, uint64(v >> 64));
    }

    // ------------------------------------------------------------------------------ lanes

    function ones(uint256 bits) internal pure returns (uint256) {
        return (uint256(1) << bits) - 1;
    }

    /// @notice Lane `i` of `bits`-bit lanes, zero-extended.
    function lane(uint256 v, uint256 bits, uint256 i) internal pure returns (uint256) {
        return (v >> (bits * i)) & ones(bits);
    }

    /// @notice `v` with lane `i` set to the low `bits` bits of `x`.
    function withLane(uint256 v, uint256 bits, uint256 i, uint256 x) internal pure returns (uint256) {
        uint256 at = bits * i;
        return (v & ~(ones(bits) << at)) | ((x & ones(bits)) << at);
    }

    /// @notice Every `bits`-bit lane set to the low `bits` bits of `x`.
    function splat(uint256 x, uint256 bits) internal pure returns (uint256) {
        // (2^128 - 1) / (2^bits - 1) has a 1 at the bottom of every lane.
        return (x & ones(bits)) * (ALL_ONES / ones(bits));
    }

    /// @notice The low `bits` bits of `x` sign-extended to 256 bits (two's complement).
    function signExtend(uint256 x, uint256 bits) internal pure returns (uint256 s) {
        uint256 b = bits / 8 - 1;
        assembly ("memory-safe") {
            s := signextend(b, x)
        }
    }

    /// @notice Lanes of `2 * half` bits from the `half`-bit lanes `base..` of `v`, sign- or
    ///         zero-extended (the extends and `loadNxM`).
    function extend(uint256 v, uint256 half, uint256 base, bool signed) internal pure returns (uint256 r) {
        uint256 bits = 2 * half;
        uint256 m = ones(bits);
        for (uint256 i = 0; i < 128 / bits; i++) {
            uint256 x = lane(v, half, base + i);
            if (signed) x = signExtend(x, half) & m;
            r |= x << (bits * i);
        }
    }

    // ------------------------------------------------------------------------------ memory

    /// @notice Loads and stores (`memory` in simd.rs): effective address `pop() + a`, bounds
    ///         checked over exactly the bytes accessed; out of bounds traps with nothing written.
    function memoryAccess(Machine memory m, bytes calldata proof, uint256 n, Instr calldata ins) internal pure {
        bool isLane = n >= Simd.V128_LOAD8_LANE && n <= Simd.V128_STORE64_LANE;
        bool isStore = n == Simd.V128_STORE || (n >= Simd.V128_STORE8_LANE && n <= Simd.V128_STORE64_LANE);
        uint256 bits;
        uint256 len;
        if (isLane) {
            bits = 8 << ((n - Simd.V128_LOAD8_LANE) % 4);
            if (ins.b >= 128 / bits) revert MalformedInstruction(ins.op);
            len = bits / 8;
        } else if (n == Simd.V128_LOAD || n == Simd.V128_STORE) {
            len = 16;
        } else if (n <= Simd.V128_LOAD32X2_U || n == Simd.V128_LOAD64_SPLAT || n == Simd.V128_LOAD64_ZERO) {
            len = 8;
        } else if (n == Simd.V128_LOAD8_SPLAT) {
            len = 1;
        } else if (n == Simd.V128_LOAD16_SPLAT) {
            len = 2;
        } else {
            len = 4; // load32_splat, load32_zero
        }
        uint256 v;
        if (isLane || n == Simd.V128_STORE) v = popV128(m, proof);
        uint256 addr = uint256(uint32(OperandStack.pop(m, proof))) + ins.a;
        if (addr + len > uint256(m.memoryPages) * PAGE) {
            m.outcome = Outcome.TRAP;
            return;
        }
        if (isStore) {
            uint256 data = n == Simd.V128_STORE ? v : lane(v, bits, ins.b);
            // `to_le_bytes()[..len]`, left-aligned.
            MemoryAccess.write(m, proof, addr, swap128(data) << 128, len);
            return;
        }
        uint256 raw = swap128(MemoryAccess.read(m, proof, addr, len) >> 128);
        uint256 r;
        if (isLane) {
            r = withLane(v, bits, ins.b, raw);
        } else if (n >= Simd.V128_LOAD8X8_S && n <= Simd.V128_LOAD32X2_U) {
            // loadNxM: M lanes of N bits, extended to 2N bits (odd n: signed).
            r = extend(raw, 8 << ((n - Simd.V128_LOAD8X8_S) / 2), 0, n % 2 == 1);
        } else if (n >= Simd.V128_LOAD8_SPLAT && n <= Simd.V128_LOAD64_SPLAT) {
            r = splat(raw, 8 * len);
        } else {
            r = raw; // v128.load, load32_zero, load64_zero
        }
        pushV128(m, r);
    }

    /// @notice Reverses the byte order of a 128-bit value (little-endian bytes ↔ integer).
    function swap128(uint256 v) internal pure returns (uint256) {
        v = ((v & 0x00ff00ff00ff00ff00ff00ff00ff00ff) << 8) | ((v >> 8) & 0x00ff00ff00ff00ff00ff00ff00ff00ff);
        v = ((v & 0x0000ffff0000ffff0000ffff0000ffff) << 16) | ((v >> 16) & 0x0000ffff0000ffff0000ffff0000ffff);
        v = ((v & 0x00000000ffffffff00000000ffffffff) << 32) | ((v >> 32) & 0x00000000ffffffff00000000ffffffff);
        return ((v & 0xffffffffffffffff) << 64) | (v >> 64);
    }

    // ------------------------------------------------------------------------------ lane moves

    /// @notice i8x16.shuffle: lane `i` is byte `sel[i]` of `x ‖ y`; `sel` is `a ‖ b ‖ c`.
    function shuffle(uint256 x, uint256 y, Instr calldata ins) internal pure returns (uint256 r) {
        uint256 sel = uint256(ins.a) | (uint256(ins.b) << 32) | (uint256(ins.c) << 64);
        uint256 both = x | (y << 128);
        for (uint256 i = 0; i < 16; i++) {
            uint256 s = (sel >> (8 * i)) & 0xff;
            if (s >= 32) revert MalformedInstruction(ins.op);
            r |= ((both >> (8 * s)) & 0xff) << (8 * i);
        }
    }

    /// @notice i8x16.swizzle: lane `i` is byte `s[i]` of `x`, or 0 when `s[i] ≥ 16`.
    function swizzle(uint256 x, uint256 s) internal pure returns (uint256 r) {
        for (uint256 i = 0; i < 16; i++) {
            uint256 k = (s >> (8 * i)) & 0xff;
            if (k < 16) r |= ((x >> (8 * k)) & 0xff) << (8 * i);
        }
    }

    /// @notice extract_lane (scalar result) and replace_lane, lane index in `b`.
    function laneAccess(Machine memory m, bytes calldata proof, uint256 n, Instr calldata ins)
        internal
        pure
        returns (bool scalar, uint256 r)
    {
        // kind 0: extract_lane_s, 1: extract_lane (_u), 2: replace_lane.
        uint256 bits;
        uint256 kind;
        if (n <= Simd.I8X16_REPLACE_LANE) {
            (bits, kind) = (8, n - Simd.I8X16_EXTRACT_LANE_S);
        } else if (n <= Simd.I16X8_REPLACE_LANE) {
            (bits, kind) = (16, n - Simd.I16X8_EXTRACT_LANE_S);
        } else if (
            n == Simd.I32X4_EXTRACT_LANE || n == Simd.I32X4_REPLACE_LANE || n == Simd.F32X4_EXTRACT_LANE
                || n == Simd.F32X4_REPLACE_LANE
        ) {
            (bits, kind) = (32, n == Simd.I32X4_EXTRACT_LANE || n == Simd.F32X4_EXTRACT_LANE ? 1 : 2);
        } else {
            (bits, kind) = (64, n == Simd.I64X2_EXTRACT_LANE || n == Simd.F64X2_EXTRACT_LANE ? 1 : 2);
        }
        uint256 i = ins.b;
        if (i >= 128 / bits) revert MalformedInstruction(ins.op);
        if (kind == 2) {
            uint256 x = OperandStack.pop(m, proof);
            return (false, withLane(popV128(m, proof), bits, i, x));
        }
        r = lane(popV128(m, proof), bits, i);
        // extract_lane_s sign-extends to i32; i32/i64/f32/f64 lanes are returned as they are.
        if (kind == 0) r = signExtend(r, bits) & 0xffffffff;
        return (true, r);
    }

    // ------------------------------------------------------------------------------ bitwise

    /// @notice not, and, andnot, or, xor, bitselect, any_true (scalar).
    function bitwise(Machine memory m, bytes calldata proof, uint256 n) internal pure returns (bool scalar, uint256 r) {
        if (n == Simd.V128_NOT) return (false, ~popV128(m, proof) & ALL_ONES);
        if (n == Simd.V128_ANY_TRUE) return (true, popV128(m, proof) != 0 ? 1 : 0);
        if (n == Simd.V128_BITSELECT) {
            uint256 mask = popV128(m, proof);
            uint256 y = popV128(m, proof);
            uint256 x = popV128(m, proof);
            return (false, (x & mask) | (y & ~mask & ALL_ONES));
        }
        uint256 b = popV128(m, proof);
        uint256 a = popV128(m, proof);
        if (n == Simd.V128_AND) r = a & b;
        else if (n == Simd.V128_ANDNOT) r = a & ~b & ALL_ONES;
        else if (n == Simd.V128_OR) r = a | b;
        else r = a ^ b; // v128.xor
    }

    // ------------------------------------------------------------------------------ integer lanes

    /// @notice Lane width and comparison kind (`cmp_shape`): eq, ne, lt_s, lt_u, gt_s, gt_u,
    ///         le_s, le_u, ge_s, ge_u; i64x2 has only the signed orders.
    function compareShape(uint256 n) internal pure returns (uint256 bits, uint256 k) {
        if (n <= Simd.I8X16_GE_U) return (8, n - Simd.I8X16_EQ);
        if (n <= Simd.I16X8_GE_U) return (16, n - Simd.I16X8_EQ);
        if (n <= Simd.I32X4_GE_U) return (32, n - Simd.I32X4_EQ);
        return (64, [uint256(0), 1, 2, 4, 6, 8][n - Simd.I64X2_EQ]);
    }

    /// @notice Integer lane comparison `k`: all-ones lanes where it holds. A signed order is the
    ///         unsigned order with both sign bits flipped.
    function intCompare(uint256 k, uint256 bits, uint256 x, uint256 y) internal pure returns (uint256 r) {
        uint256 m = ones(bits);
        uint256 flip = k >= 2 && k % 2 == 0 ? uint256(1) << (bits - 1) : 0;
        for (uint256 s = 0; s < 128; s += bits) {
            uint256 a = ((x >> s) & m) ^ flip;
            uint256 b = ((y >> s) & m) ^ flip;
            bool t;
            if (k == 0) t = a == b;
            else if (k == 1) t = a != b;
            else if (k <= 3) t = a < b;
            else if (k <= 5) t = a > b;
            else if (k <= 7) t = a <= b;
            else t = a >= b;
            if (t) r |= m << s;
        }
    }

    /// @notice The integer-lane opcodes from `i8x16.abs` (0x60) on, grouped by shape: `n - 0x60` is
    ///         `shape << 5 | k` (shape 0..3: i8x16..i64x2) with `k` the operation. `bits` is the
    ///         shape's lane width, which is the result lane width except for extadd_pairwise
    ///         (0x7c..0x7f, in the i8x16 group).
    function integer(Machine memory m, bytes calldata proof, uint256 n) internal pure returns (bool scalar, uint256 r) {
        uint256 bits = 8 << ((n - Simd.I8X16_ABS) >> 5);
        uint256 k = (n - Simd.I8X16_ABS) & 0x1f;
        if (k == 0x03 || k == 0x04) {
            // all_true, bitmask: an i32.
            uint256 v = popV128(m, proof);
            r = k == 0x03 ? 1 : 0;
            for (uint256 i = 0; i < 128 / bits; i++) {
                uint256 l = lane(v, bits, i);
                if (k == 0x03) {
                    if (l == 0) r = 0;
                } else {
                    r |= (l >> (bits - 1)) << i;
                }
            }
            return (true, r);
        }
        if (k <= 0x01) return (false, absNeg(k == 0, bits, popV128(m, proof))); // abs, neg
        if (bits == 8 && (k == 0x02 || k >= 0x1c)) {
            // i8x16.popcnt (0x62); extadd_pairwise (0x7c..0x7f): i16x8 from i8x16, then i32x4
            // from i16x8, even n signed.
            uint256 v = popV128(m, proof);
            if (k == 0x02) return (false, popcnt(v));
            return (false, pairwise(k <= 0x1d ? 16 : 32, k % 2 == 0, v));
        }
        if (k >= 0x07 && k <= 0x0a) {
            // extend_low_s, extend_high_s, extend_low_u, extend_high_u.
            uint256 half = bits / 2;
            bool high = k == 0x08 || k == 0x0a;
            return (false, extend(popV128(m, proof), half, high ? 64 / half : 0, k <= 0x08));
        }
        if (k >= 0x0b && k <= 0x0d) {
            // shl, shr_s, shr_u: the count, then the vector.
            uint256 count = uint32(OperandStack.pop(m, proof)) % bits;
            return (false, shift(k, bits, count, popV128(m, proof)));
        }
        uint256 y = popV128(m, proof);
        uint256 x = popV128(m, proof);
        if (k == 0x05 || k == 0x06) return (false, narrow(bits, k == 0x05, x, y)); // narrow_*_s, narrow_*_u
        if (k >= 0x1c) {
            // extmul_low_s, extmul_high_s, extmul_low_u, extmul_high_u (`extmul` in simd.rs):
            // the low or high half of both operands extended to `bits`, then a wrapping mul,
            // which is exact (the product of two `bits / 2`-bit lanes fits in `bits` bits).
            uint256 half = bits / 2;
            uint256 base = k % 2 == 1 ? 64 / half : 0;
            bool signed = k <= 0x1d;
            return (false, intBinary(0x15, bits, extend(x, half, base, signed), extend(y, half, base, signed))); // mul
        }
        if (k == 0x1a) return (false, dot(x, y)); // i32x4.dot_i16x8_s
        if (k == 0x02 || k == 0x0f || k == 0x10 || k == 0x12 || k == 0x13 || k == 0x1b) {
            // q15mulr_sat_s, add_sat_s, add_sat_u, sub_sat_s, sub_sat_u, avgr_u.
            return (false, saturating(k, bits, x, y));
        }
        return (false, intBinary(k, bits, x, y));
    }

    /// @notice Lane-wise wrapping abs (`abs` true) or neg.
    function absNeg(bool abs, uint256 bits, uint256 v) internal pure returns (uint256 r) {
        uint256 m = ones(bits);
        unchecked {
            for (uint256 s = 0; s < 128; s += bits) {
                uint256 a = (v >> s) & m;
                if (!abs || a >> (bits - 1) == 1) a = (0 - a) & m;
                r |= a << s;
            }
        }
    }

    /// @notice shl (k 0xb), shr_s (0xc), shr_u (0xd) of every lane by `count` < bits.
    function shift(uint256 k, uint256 bits, uint256 count, uint256 v) internal pure returns (uint256 r) {
        uint256 m = ones(bits);
        uint256 b = bits / 8 - 1;
        for (uint256 s = 0; s < 128; s += bits) {
            uint256 a = (v >> s) & m;
            if (k == 0x0b) {
                // shl
                a = (a << count) & m;
            } else if (k == 0x0c) {
                // shr_s
                assembly ("memory-safe") {
                    a := and(sar(count, signextend(b, a)), m)
                }
            } else {
                a >>= count; // shr_u
            }
            r |= a << s;
        }
    }

    /// @notice add (k 0x0e), sub (0x11), mul (0x15), min_s, min_u, max_s, max_u (0x16..0x19),
    ///         wrapping.
    function intBinary(uint256 k, uint256 bits, uint256 x, uint256 y) internal pure returns (uint256 r) {
        uint256 m = ones(bits);
        uint256 flip = k % 2 == 0 ? uint256(1) << (bits - 1) : 0;
        unchecked {
            for (uint256 s = 0; s < 128; s += bits) {
                uint256 a = (x >> s) & m;
                uint256 b = (y >> s) & m;
                uint256 c;
                if (k == 0x0e) {
                    // add
                    c = a + b;
                } else if (k == 0x11) {
                    // sub
                    c = a - b;
                } else if (k == 0x15) {
                    // mul
                    c = a * b;
                } else {
                    // Signed order is the unsigned order with the sign bits flipped.
                    bool less = (a ^ flip) < (b ^ flip);
                    c = less == (k < 0x18) ? a : b;
                }
                r |= (c & m) << s;
            }
        }
    }

    /// @notice add_sat_s (k 0x0f), add_sat_u (0x10), sub_sat_s (0x12), sub_sat_u (0x13) and
    ///         avgr_u (0x1b) of i8x16 and i16x8, and i16x8.q15mulr_sat_s (k 0x02): the exact lane
    ///         result, clamped to the lane's signed or unsigned range (the `add/sub and avgr_u`
    ///         and `0x82` arms of simd.rs, `saturate_s`). avgr_u is `(a + b + 1) >> 1`, never
    ///         out of range; q15mulr_sat_s is `(a * b + 0x4000) >> 15`, an arithmetic shift.
    function saturating(uint256 k, uint256 bits, uint256 x, uint256 y) internal pure returns (uint256 r) {
        uint256 m = ones(bits);
        bool signed = k == 0x02 || k == 0x0f || k == 0x12;
        (int256 lo, int256 hi) = signed ? (-int256(m >> 1) - 1, int256(m >> 1)) : (int256(0), int256(m));
        unchecked {
            for (uint256 s = 0; s < 128; s += bits) {
                uint256 a = (x >> s) & m;
                uint256 b = (y >> s) & m;
                if (signed) (a, b) = (signExtend(a, bits), signExtend(b, bits));
                // Lanes of at most 16 bits: none of these overflow an int256.
                (int256 sa, int256 sb) = (int256(a), int256(b));
                int256 c;
                if (k == 0x02) c = (sa * sb + 0x4000) >> 15; // q15mulr_sat_s
                else if (k <= 0x10) c = sa + sb; // add_sat_s, add_sat_u
                else if (k <= 0x13) c = sa - sb; // sub_sat_s, sub_sat_u
                else c = (sa + sb + 1) >> 1; // avgr_u
                if (c < lo) c = lo;
                else if (c > hi) c = hi;
                r |= (uint256(c) & m) << s;
            }
        }
    }

    /// @notice i8x16.narrow_i16x8 (`bits` 8) and i16x8.narrow_i32x4 (16), `_s` when `signed`
    ///         (the `narrow` arm): the `2 * bits`-bit lanes of `x`, then those of `y`, read signed
    ///         (both forms) and clamped to the `bits`-bit signed or unsigned range.
    function narrow(uint256 bits, bool signed, uint256 x, uint256 y) internal pure returns (uint256 r) {
        uint256 m = ones(bits);
        (int256 lo, int256 hi) = signed ? (-int256(m >> 1) - 1, int256(m >> 1)) : (int256(0), int256(m));
        // The 256-bit `x ‖ y` holds the 128 / bits source lanes in result order.
        uint256 both = x | (y << 128);
        for (uint256 i = 0; i < 128 / bits; i++) {
            int256 w = int256(signExtend(lane(both, 2 * bits, i), 2 * bits));
            if (w < lo) w = lo;
            else if (w > hi) w = hi;
            r |= (uint256(w) & m) << (bits * i);
        }
    }

    /// @notice i8x16.popcnt (the `0x62` arm, `count_ones` per lane): the set bits of every byte,
    ///         counted in parallel (2-bit, 4-bit, then 8-bit partial sums; no sum leaves its lane).
    function popcnt(uint256 v) internal pure returns (uint256) {
        v -= (v >> 1) & 0x55555555555555555555555555555555;
        v = (v & 0x33333333333333333333333333333333) + ((v >> 2) & 0x33333333333333333333333333333333);
        return (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
    }

    /// @notice extadd_pairwise into `bits`-bit lanes (the `0x7c..=0x7f` arm): lane `i` is the sum
    ///         of the `bits / 2`-bit lanes `2i` and `2i + 1` of `v`, sign- (`signed`) or
    ///         zero-extended first.
    function pairwise(uint256 bits, bool signed, uint256 v) internal pure returns (uint256 r) {
        uint256 half = bits / 2;
        unchecked {
            for (uint256 i = 0; i < 128 / bits; i++) {
                uint256 a = lane(v, half, 2 * i);
                uint256 b = lane(v, half, 2 * i + 1);
                if (signed) (a, b) = (signExtend(a, half), signExtend(b, half));
                r |= ((a + b) & ones(bits)) << (bits * i);
            }
        }
    }

    /// @notice i32x4.dot_i16x8_s (the `0xba` arm): lane `i` is the sum of the signed products of
    ///         the i16 lanes `2i` and `2i + 1`, wrapping to i32 (only `2 · (-32768)² = 2^31` wraps).
    function dot(uint256 x, uint256 y) internal pure returns (uint256 r) {
        unchecked {
            for (uint256 i = 0; i < 4; i++) {
                uint256 p = signExtend(lane(x, 16, 2 * i), 16) * signExtend(lane(y, 16, 2 * i), 16)
                    + signExtend(lane(x, 16, 2 * i + 1), 16) * signExtend(lane(y, 16, 2 * i + 1), 16);
                r |= (p & 0xffffffff) << (32 * i);
            }
        }
    }

    // ------------------------------------------------------------------------------ float lanes

    /// @notice Lane width and scalar op of the lane-wise float unary opcodes.
    function floatUnaryScalar(uint256 n) internal pure returns (uint256 bits, uint256 scalar) {
        if (n >= Simd.F32X4_CEIL && n <= Simd.F32X4_NEAREST) {
            return (32, Opcodes.F32_CEIL + n - Simd.F32X4_CEIL); // ceil, floor, trunc, nearest
        }
        if (n == Simd.F64X2_CEIL) return (64, Opcodes.F64_CEIL);
        if (n == Simd.F64X2_FLOOR) return (64, Opcodes.F64_FLOOR);
        if (n == Simd.F64X2_TRUNC) return (64, Opcodes.F64_TRUNC);
        if (n == Simd.F64X2_NEAREST) return (64, Opcodes.F64_NEAREST);
        if (n == Simd.F32X4_ABS) return (32, Opcodes.F32_ABS);
        if (n == Simd.F32X4_NEG) return (32, Opcodes.F32_NEG);
        if (n == Simd.F32X4_SQRT) return (32, Opcodes.F32_SQRT);
        if (n == Simd.F64X2_ABS) return (64, Opcodes.F64_ABS);
        if (n == Simd.F64X2_NEG) return (64, Opcodes.F64_NEG);
        return (64, Opcodes.F64_SQRT); // f64x2.sqrt
    }

    /// @notice Scalar float unary `scalar` on the `src`-bit lanes of `v` into `bits`-bit lanes;
    ///         result lanes past the source lanes (the `_zero` forms) are zero.
    function floatMap(uint16 scalar, uint256 bits, uint256 src, uint256 v) internal pure returns (uint256 r) {
        uint256 count = 128 / (bits > src ? bits : src);
        for (uint256 i = 0; i < count; i++) {
            (uint64 x,) = FloatMath.unary(scalar, uint64(lane(v, src, i)));
            r |= (uint256(x) & ones(bits)) << (bits * i);
        }
    }

    /// @notice Conversions: demote, promote, trunc_sat, convert (`_zero`/`_low` forms included).
    function convert(uint256 n, uint256 v) internal pure returns (uint256) {
        if (n == Simd.F32X4_DEMOTE_F64X2_ZERO) return floatMap(Opcodes.F32_DEMOTE_F64, 32, 64, v);
        if (n == Simd.F64X2_PROMOTE_LOW_F32X4) return floatMap(Opcodes.F64_PROMOTE_F32, 64, 32, v);
        if (n <= Simd.I32X4_TRUNC_SAT_F32X4_U) {
            return floatMap(uint16(Opcodes.I32_TRUNC_SAT_F32_S + n - Simd.I32X4_TRUNC_SAT_F32X4_S), 32, 32, v);
        }
        if (n <= Simd.F32X4_CONVERT_I32X4_U) {
            return floatMap(uint16(Opcodes.F32_CONVERT_I32_S + n - Simd.F32X4_CONVERT_I32X4_S), 32, 32, v);
        }
        if (n <= Simd.I32X4_TRUNC_SAT_F64X2_U_ZERO) {
            return floatMap(uint16(Opcodes.I32_TRUNC_SAT_F64_S + n - Simd.I32X4_TRUNC_SAT_F64X2_S_ZERO), 32, 64, v);
        }
        return floatMap(uint16(Opcodes.F64_CONVERT_I32_S + n - Simd.F64X2_CONVERT_LOW_I32X4_S), 64, 32, v);
    }

    /// @notice Whether the scalar float comparison `scalar` holds for the lanes `a`, `b`.
    function holds(uint16 scalar, uint256 a, uint256 b) internal pure returns (bool) {
        (uint64 t,) = FloatMath.binary(scalar, uint64(a), uint64(b));
        return t != 0;
    }

    /// @notice All-ones lanes where the scalar comparison `scalar` holds.
    function floatCompare(uint16 scalar, uint256 bits, uint256 x, uint256 y) internal pure returns (uint256 r) {
        uint256 m = ones(bits);
        for (uint256 s = 0; s < 128; s += bits) {
            if (holds(scalar, (x >> s) & m, (y >> s) & m)) r |= m << s;
        }
    }

    /// @notice add, sub, mul, div, min, max (scalar ops, canonical NaNs), pmin, pmax (selects
    ///         on `<`: bit moves, NaN payloads kept) of f32x4 (0xe4..0xeb) and f64x2 (0xf0..0xf7).
    function floatBinary(uint256 n, uint256 x, uint256 y) internal pure returns (uint256 r) {
        (uint256 bits, uint256 k) = (32, n - Simd.F32X4_ADD);
        if (n >= Simd.F64X2_ADD) (bits, k) = (64, n - Simd.F64X2_ADD);
        uint16 lt = bits == 32 ? Opcodes.F32_LT : Opcodes.F64_LT;
        uint16 arith = uint16((bits == 32 ? Opcodes.F32_ADD : Opcodes.F64_ADD) + k);
        uint256 m = ones(bits);
        for (uint256 s = 0; s < 128; s += bits) {
            uint256 a = (x >> s) & m;
            uint256 b = (y >> s) & m;
            uint256 c;
            if (k == 6) {
                c = holds(lt, b, a) ? b : a; // pmin: b < a ? b : a
            } else if (k == 7) {
                c = holds(lt, a, b) ? b : a; // pmax: a < b ? b : a
            } else {
                (uint64 z,) = FloatMath.binary(arith, uint64(a), uint64(b));
                c = uint256(z) & m;
            }
            r |= c << s;
        }
    }
}
