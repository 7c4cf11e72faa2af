// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Opcodes} from "./Opcodes.sol";

/// @title FloatMath
/// @notice Exact IEEE-754 binary32/binary64 emulation of every WebAssembly float instruction, the
///         Solidity mirror of the float arms of `bisection/src/numeric.rs` (see spec/floats.md).
/// @dev Values travel as `uint64` bit patterns; f32 and i32 values live in the low 32 bits (only
///      those are read, results are zero-extended). Rules, as in the runner's wasmtime:
///      - every arithmetic result (add, sub, mul, div, sqrt, min, max, ceil, floor, trunc, nearest,
///        promote, demote) that is a NaN is the canonical positive quiet NaN;
///      - abs, neg, copysign and the reinterpretations are bit moves and keep NaN payloads;
///      - rounding is round-to-nearest, ties-to-even, with gradual underflow (no flush-to-zero).
///      Every rounding goes through one routine, `_roundPack`: an operation computes its exact
///      result as `(-1)^neg * mant * 2^exp` (or exact up to a sticky bit far below the rounding
///      point) and `_roundPack` rounds it once into the target format.
///
///      A format is named by its fraction width: `F32` (23) or `F64` (52).
///
///      Lints: `1 << n` builds powers of two (literal first on purpose), and every int/uint cast
///      is of an exponent (|e| < 2^12) or a shift count (< 256), so none can truncate.
// forge-lint: disable-next-item(incorrect-shift, unsafe-typecast)
library FloatMath {
    /// The opcode is not a float-family instruction of this arity.
    error Unsupported(uint16 op);

    /// Trap code for an out-of-range trapping truncation (`trap_code` in bisection/src/vectors.rs).
    uint8 internal constant TRAP_INTEGER_OVERFLOW = 4;
    /// Trap code for a trapping truncation of NaN.
    uint8 internal constant TRAP_INVALID_CONVERSION = 5;

    /// Fraction width of binary32; also the format tag.
    uint256 internal constant F32 = 23;
    /// Fraction width of binary64; also the format tag.
    uint256 internal constant F64 = 52;

    /// The canonical f32 NaN (quiet, positive, no payload).
    uint256 internal constant F32_NAN = 0x7fc00000;
    /// The canonical f64 NaN (quiet, positive, no payload).
    uint256 internal constant F64_NAN = 0x7ff8000000000000;

    uint256 private constant MASK32 = 0xffffffff;
    /// A truncated magnitude above every integer range (whose largest bound is 2^64 - 1).
    uint256 private constant BEYOND_RANGE = 1 << 65;

    // ---------------------------------------------------------------------------------------------
    // Dispatch
    // ---------------------------------------------------------------------------------------------

    /// Unary float-family op: returns the result bits (i32/f32 zero-extended into uint64) and a trap code.
    function unary(uint16 op, uint64 x) internal pure returns (uint64 r, uint8 trap) {
        uint256 v = x;
        uint256 res;
        if (op >= Opcodes.F32_ABS && op <= Opcodes.F32_SQRT) {
            res = _unaryArith(op - Opcodes.F32_ABS, v & MASK32, F32);
        } else if (op >= Opcodes.F64_ABS && op <= Opcodes.F64_SQRT) {
            res = _unaryArith(op - Opcodes.F64_ABS, v, F64);
        } else if (
            (op >= Opcodes.I32_TRUNC_F32_S && op <= Opcodes.I32_TRUNC_F64_U)
                || (op >= Opcodes.I64_TRUNC_F32_S && op <= Opcodes.I64_TRUNC_F64_U)
                || (op >= Opcodes.TRUNC_SAT_FIRST && op <= Opcodes.TRUNC_SAT_LAST)
        ) {
            (res, trap) = _truncToInt(op, v);
        } else if (
            (op >= Opcodes.F32_CONVERT_I32_S && op <= Opcodes.F32_CONVERT_I64_U)
                || (op >= Opcodes.F64_CONVERT_I32_S && op <= Opcodes.F64_CONVERT_I64_U)
        ) {
            res = _convertInt(op, v);
        } else if (op == Opcodes.F32_DEMOTE_F64) {
            res = _demote(v);
        } else if (op == Opcodes.F64_PROMOTE_F32) {
            res = _promote(v & MASK32);
        } else if (op == Opcodes.I32_REINTERPRET_F32 || op == Opcodes.F32_REINTERPRET_I32) {
            // i32.reinterpret_f32 / f32.reinterpret_i32: the low 32 bits, unchanged.
            res = v & MASK32;
        } else if (op == Opcodes.I64_REINTERPRET_F64 || op == Opcodes.F64_REINTERPRET_I64) {
            res = v;
        } else {
            revert FloatMath.Unsupported(op);
        }
        r = uint64(res);
    }

    /// Binary float-family op (x is the deeper operand).
    function binary(uint16 op, uint64 x, uint64 y) internal pure returns (uint64 r, uint8 trap) {
        uint256 a = x;
        uint256 b = y;
        uint256 res;
        if (op >= Opcodes.F32_EQ && op <= Opcodes.F32_GE) {
            res = _compare(op - Opcodes.F32_EQ, a & MASK32, b & MASK32, F32);
        } else if (op >= Opcodes.F64_EQ && op <= Opcodes.F64_GE) {
            res = _compare(op - Opcodes.F64_EQ, a, b, F64);
        } else if (op >= Opcodes.F32_ADD && op <= Opcodes.F32_COPYSIGN) {
            res = _binaryArith(op - Opcodes.F32_ADD, a & MASK32, b & MASK32, F32);
        } else if (op >= Opcodes.F64_ADD && op <= Opcodes.F64_COPYSIGN) {
            res = _binaryArith(op - Opcodes.F64_ADD, a, b, F64);
        } else {
            revert FloatMath.Unsupported(op);
        }
        r = uint64(res);
        trap = 0;
    }

    /// abs, neg, ceil, floor, trunc, nearest, sqrt (in opcode order) of one format.
    function _unaryArith(uint256 k, uint256 x, uint256 fb) private pure returns (uint256) {
        uint256 sign = _signBit(fb);
        if (k == 0) return x & (sign - 1); // abs
        if (k == 1) return x ^ sign; // neg
        if (k == 6) return _sqrt(x, fb);
        return _roundToIntegral(k - 2, x, fb);
    }

    /// add, sub, mul, div, min, max, copysign (in opcode order) of one format.
    function _binaryArith(uint256 k, uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        uint256 sign = _signBit(fb);
        if (k == 0) return _add(a, b, fb);
        if (k == 1) return _add(a, b ^ sign, fb); // a - b == a + (-b) exactly, NaNs aside
        if (k == 2) return _mul(a, b, fb);
        if (k == 3) return _div(a, b, fb);
        if (k == 6) return (a & (sign - 1)) | (b & sign); // copysign
        return _minMax(k == 5, a, b, fb);
    }

    // ---------------------------------------------------------------------------------------------
    // Format helpers
    // ---------------------------------------------------------------------------------------------

    /// Exponent field width: 8 for binary32, 11 for binary64.
    function _expBits(uint256 fb) private pure returns (uint256) {
        return fb == F32 ? 8 : 11;
    }

    /// The sign bit of the format (bit 31 or bit 63).
    function _signBit(uint256 fb) private pure returns (uint256) {
        return 1 << (fb + _expBits(fb));
    }

    /// The all-ones biased exponent (infinities and NaNs).
    function _expMax(uint256 fb) private pure returns (uint256) {
        return (1 << _expBits(fb)) - 1;
    }

    /// The exponent bias: 127 or 1023.
    function _bias(uint256 fb) private pure returns (int256) {
        return int256((1 << (_expBits(fb) - 1)) - 1);
    }

    function _canonicalNaN(uint256 fb) private pure returns (uint256) {
        return fb == F32 ? F32_NAN : F64_NAN;
    }

    function _infinity(bool neg, uint256 fb) private pure returns (uint256) {
        return (neg ? _signBit(fb) : 0) | (_expMax(fb) << fb);
    }

    function _zero(bool neg, uint256 fb) private pure returns (uint256) {
        return neg ? _signBit(fb) : 0;
    }

    /// Splits a bit pattern into its sign, biased exponent field and fraction field.
    function _fields(uint256 x, uint256 fb) private pure returns (bool neg, uint256 bexp, uint256 frac) {
        neg = x & _signBit(fb) != 0;
        bexp = (x >> fb) & _expMax(fb);
        frac = x & ((1 << fb) - 1);
    }

    function _isNaN(uint256 x, uint256 fb) private pure returns (bool) {
        (, uint256 bexp, uint256 frac) = _fields(x, fb);
        return bexp == _expMax(fb) && frac != 0;
    }

    /// A finite value as an exact integer significand and power of two:
    /// `|x| = mant * 2^exp`. Zeros give `mant = 0`; subnormals and the smallest normals share the
    /// exponent `1 - bias - fb`, so a zero or subnormal always has the smallest exponent.
    function _unpackFinite(uint256 x, uint256 fb) private pure returns (bool neg, int256 exp, uint256 mant) {
        uint256 bexp;
        (neg, bexp, mant) = _fields(x, fb);
        if (bexp == 0) {
            bexp = 1;
        } else {
            mant |= 1 << fb;
        }
        exp = int256(bexp) - _bias(fb) - int256(fb);
    }

    /// Number of significant bits of `x` (0 for 0).
    function _bitLength(uint256 x) private pure returns (uint256 n) {
        unchecked {
            if (x >> 128 != 0) {
                x >>= 128;
                n += 128;
            }
            if (x >> 64 != 0) {
                x >>= 64;
                n += 64;
            }
            if (x >> 32 != 0) {
                x >>= 32;
                n += 32;
            }
            if (x >> 16 != 0) {
                x >>= 16;
                n += 16;
            }
            if (x >> 8 != 0) {
                x >>= 8;
                n += 8;
            }
            if (x >> 4 != 0) {
                x >>= 4;
                n += 4;
            }
            if (x >> 2 != 0) {
                x >>= 2;
                n += 2;
            }
            if (x >> 1 != 0) {
                x >>= 1;
                n += 1;
            }
            n += x;
        }
    }

    /// `x / 2^shift` rounded to nearest, ties to even. `n` is `_bitLength(x)`.
    /// @dev When `shift > n`, `x < 2^n <= 2^(shift-1)` is below half a unit: the result is 0.
    function _shiftRightNearestEven(uint256 x, uint256 shift, uint256 n) private pure returns (uint256 q) {
        if (shift == 0) return x;
        if (shift > n) return 0;
        q = x >> shift;
        uint256 rem = x & ((1 << shift) - 1);
        uint256 half = 1 << (shift - 1);
        if (rem > half || (rem == half && q & 1 == 1)) q += 1;
    }

    /// Rounds `(-1)^neg * mant * 2^exp` to the nearest value of the format (ties to even) and
    /// returns its bits: the single rounding step of every operation.
    /// @dev The result's last significand bit has weight `2^q` with
    ///      `q = max(lead, 1 - bias) - fb`, where `lead` is the weight of `mant`'s leading bit:
    ///      normal results keep `fb + 1` bits, results below the smallest normal keep the bits
    ///      down to the subnormal quantum `2^(1 - bias - fb)` (gradual underflow). If rounding
    ///      carries into a new bit the significand is exactly `2^(fb+1)` and halving it loses
    ///      nothing. Too large a result becomes infinity (round-to-nearest never gives max-finite
    ///      on overflow); too small a one becomes a zero of the same sign.
    ///      Callers may pass `mant` with a sticky bit: exact to within a nonzero amount strictly
    ///      below the lowest kept bit's half, which never changes a nearest-even decision.
    function _roundPack(bool neg, int256 exp, uint256 mant, uint256 fb) private pure returns (uint256) {
        if (mant == 0) return _zero(neg, fb);
        uint256 n = _bitLength(mant);
        int256 lead = exp + int256(n) - 1;
        int256 minNormal = 1 - _bias(fb);
        int256 q = (lead > minNormal ? lead : minNormal) - int256(fb);
        uint256 sig;
        if (q > exp) {
            sig = _shiftRightNearestEven(mant, uint256(q - exp), n);
        } else {
            // The value has fewer significant bits than the format keeps: exact.
            sig = mant << uint256(exp - q);
        }
        if (sig >> (fb + 1) != 0) {
            sig >>= 1;
            q += 1;
        }
        uint256 bits;
        if (sig >> fb == 0) {
            // Subnormal or zero: biased exponent 0, no hidden bit.
            bits = sig;
        } else {
            int256 bexp = q + int256(fb) + _bias(fb);
            if (bexp >= int256(_expMax(fb))) return _infinity(neg, fb);
            bits = (uint256(bexp) << fb) | (sig ^ (1 << fb));
        }
        return neg ? bits | _signBit(fb) : bits;
    }

    // ---------------------------------------------------------------------------------------------
    // Arithmetic
    // ---------------------------------------------------------------------------------------------

    /// a + b, rounded once.
    /// @dev Both significands are aligned exactly on the smaller exponent when the exponents
    ///      differ by at most 128 (at most 53 + 128 bits). Beyond that the smaller operand lies
    ///      entirely below half a unit of the larger (which is then normal, 53 bits), and it is
    ///      replaced by a sticky 1 at 2^-128 of the larger's exponent: same side of every rounding
    ///      boundary, so the same nearest-even result. An exact zero sum is +0 unless both
    ///      addends are -0.
    function _add(uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        (bool na, uint256 ea, uint256 fracA) = _fields(a, fb);
        (bool nb, uint256 eb, uint256 fracB) = _fields(b, fb);
        uint256 emax = _expMax(fb);
        if (ea == emax || eb == emax) {
            if ((ea == emax && fracA != 0) || (eb == emax && fracB != 0)) return _canonicalNaN(fb);
            if (ea == emax && eb == emax) return na == nb ? a : _canonicalNaN(fb); // inf - inf
            return ea == emax ? a : b;
        }
        // Make `a` the operand with the larger exponent.
        return ea >= eb ? _addFinite(a, b, fb) : _addFinite(b, a, fb);
    }

    /// a + b for finite operands, `a` having the larger (or equal) exponent.
    function _addFinite(uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        (bool na, int256 xa, uint256 ma) = _unpackFinite(a, fb);
        (bool nb, int256 xb, uint256 mb) = _unpackFinite(b, fb);
        uint256 d = uint256(xa - xb);
        if (d > 128) {
            d = 128;
            if (mb != 0) mb = 1;
        }
        ma <<= d;
        int256 exp = xa - int256(d);
        if (na == nb) return _roundPack(na, exp, ma + mb, fb);
        if (ma == mb) return _zero(false, fb); // x + (-x) == +0 under round-to-nearest
        return ma > mb ? _roundPack(na, exp, ma - mb, fb) : _roundPack(nb, exp, mb - ma, fb);
    }

    /// a * b: the 106-bit product of the significands is exact, rounded once.
    function _mul(uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        (bool na, uint256 ea, uint256 fracA) = _fields(a, fb);
        (bool nb, uint256 eb, uint256 fracB) = _fields(b, fb);
        uint256 emax = _expMax(fb);
        bool neg = na != nb;
        if (ea == emax || eb == emax) {
            if ((ea == emax && fracA != 0) || (eb == emax && fracB != 0)) return _canonicalNaN(fb);
            // inf * 0 is invalid; inf * anything else is inf.
            if ((ea | fracA) == 0 || (eb | fracB) == 0) return _canonicalNaN(fb);
            return _infinity(neg, fb);
        }
        return _mulFinite(neg, a, b, fb);
    }

    function _mulFinite(bool neg, uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        (, int256 xa, uint256 ma) = _unpackFinite(a, fb);
        (, int256 xb, uint256 mb) = _unpackFinite(b, fb);
        return _roundPack(neg, xa + xb, ma * mb, fb);
    }

    /// a / b: the quotient `(ma << 128) / mb` has at least 75 bits; its remainder becomes a
    /// sticky bit appended below it, then one rounding.
    function _div(uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        (bool na, uint256 ea, uint256 fracA) = _fields(a, fb);
        (bool nb, uint256 eb, uint256 fracB) = _fields(b, fb);
        uint256 emax = _expMax(fb);
        bool neg = na != nb;
        bool aZero = (ea | fracA) == 0;
        bool bZero = (eb | fracB) == 0;
        if ((ea == emax && fracA != 0) || (eb == emax && fracB != 0)) return _canonicalNaN(fb);
        if (ea == emax) return eb == emax ? _canonicalNaN(fb) : _infinity(neg, fb);
        if (eb == emax) return _zero(neg, fb);
        if (bZero) return aZero ? _canonicalNaN(fb) : _infinity(neg, fb);
        if (aZero) return _zero(neg, fb);
        return _divFinite(neg, a, b, fb);
    }

    function _divFinite(bool neg, uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        (, int256 xa, uint256 ma) = _unpackFinite(a, fb);
        (, int256 xb, uint256 mb) = _unpackFinite(b, fb);
        uint256 num = ma << 128;
        uint256 quot = num / mb;
        uint256 sticky = num % mb != 0 ? 1 : 0;
        return _roundPack(neg, xa - xb - 129, (quot << 1) | sticky, fb);
    }

    /// sqrt(x): for `x = mant * 2^exp` with `exp` made even, `sqrt(x) = sqrt(mant << 128) *
    /// 2^(exp/2 - 64)`; the integer root has at least 64 bits and a nonzero remainder becomes a
    /// sticky bit. A square root is never exactly halfway between two floats, so only the sticky
    /// side matters. sqrt(-0) = -0; any other negative is invalid.
    function _sqrt(uint256 x, uint256 fb) private pure returns (uint256) {
        (bool neg, uint256 bexp, uint256 frac) = _fields(x, fb);
        if (bexp == _expMax(fb) && frac != 0) return _canonicalNaN(fb);
        if ((bexp | frac) == 0) return x; // ±0
        if (neg) return _canonicalNaN(fb);
        if (bexp == _expMax(fb)) return x; // +inf
        (, int256 exp, uint256 mant) = _unpackFinite(x, fb);
        if (exp & 1 != 0) {
            mant <<= 1;
            exp -= 1;
        }
        uint256 radicand = mant << 128;
        uint256 root = _isqrt(radicand);
        uint256 sticky = root * root != radicand ? 1 : 0;
        return _roundPack(false, exp / 2 - 65, (root << 1) | sticky, fb);
    }

    /// floor(sqrt(n)) by Newton's iteration from a power of two above the root; the iterates
    /// decrease monotonically to the floor of the root.
    function _isqrt(uint256 n) private pure returns (uint256 x) {
        if (n == 0) return 0;
        x = 1 << ((_bitLength(n) + 1) / 2);
        while (true) {
            uint256 y = (x + n / x) >> 1;
            if (y >= x) return x;
            x = y;
        }
    }

    /// min (`isMax` false) or max. Either operand NaN gives the canonical NaN; -0 orders below +0.
    function _minMax(bool isMax, uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        if (_isNaN(a, fb) || _isNaN(b, fb)) return _canonicalNaN(fb);
        int256 ka = _orderKey(a, fb);
        int256 kb = _orderKey(b, fb);
        if (ka == kb) {
            // Equal values differ only for ±0: min takes the sign bit, max drops it.
            return isMax ? a & b : a | b;
        }
        return (ka < kb) != isMax ? a : b;
    }

    /// A signed integer with the order of the (non-NaN) values; +0 and -0 map to the same key.
    function _orderKey(uint256 x, uint256 fb) private pure returns (int256) {
        uint256 sign = _signBit(fb);
        int256 mag = int256(x & (sign - 1));
        return x & sign != 0 ? -mag : mag;
    }

    /// eq, ne, lt, gt, le, ge (in opcode order). Every comparison with a NaN is false except ne.
    function _compare(uint256 k, uint256 a, uint256 b, uint256 fb) private pure returns (uint256) {
        if (_isNaN(a, fb) || _isNaN(b, fb)) return k == 1 ? 1 : 0;
        int256 ka = _orderKey(a, fb);
        int256 kb = _orderKey(b, fb);
        bool r;
        if (k == 0) r = ka == kb;
        else if (k == 1) r = ka != kb;
        else if (k == 2) r = ka < kb;
        else if (k == 3) r = ka > kb;
        else if (k == 4) r = ka <= kb;
        else r = ka >= kb;
        return r ? 1 : 0;
    }

    /// ceil, floor, trunc, nearest (`k` = 0..3) to an integral value in the same format.
    /// @dev With `f` fraction bits below the binary point, the integral value toward zero clears
    ///      them; rounding the magnitude up adds `2^f` to the bit pattern, whose carry runs from
    ///      the fraction into the exponent exactly as the value needs (1.5 -> 2.0 in bits).
    ///      nearest breaks ties to the even integer. Values below 1 in magnitude go to ±0 or ±1.
    function _roundToIntegral(uint256 k, uint256 x, uint256 fb) private pure returns (uint256) {
        (bool neg, uint256 bexp, uint256 frac) = _fields(x, fb);
        uint256 emax = _expMax(fb);
        if (bexp == emax) return frac != 0 ? _canonicalNaN(fb) : x; // NaN, ±inf
        uint256 bias = uint256(_bias(fb));
        if (bexp >= bias + fb) return x; // already an integer (this includes every |x| >= 2^fb)
        if ((bexp | frac) == 0) return x; // ±0
        bool up; // whether the magnitude rounds away from zero
        if (bexp < bias) {
            // 0 < |x| < 1.
            if (k == 0) up = !neg;
            else if (k == 1) up = neg;
            else if (k == 3) up = bexp == bias - 1 && frac != 0; // |x| > 0.5; 0.5 ties to 0
            return up ? (x & _signBit(fb)) | (bias << fb) : _zero(neg, fb);
        }
        uint256 f = bias + fb - bexp; // 1..fb fraction bits
        uint256 low = x & ((1 << f) - 1);
        if (low == 0) return x;
        uint256 truncated = x ^ low;
        if (k == 0) {
            up = !neg;
        } else if (k == 1) {
            up = neg;
        } else if (k == 3) {
            uint256 half = 1 << (f - 1);
            // The integer's lowest bit is the hidden bit when f == fb (|x| in [1, 2)).
            bool odd = f == fb || (x >> f) & 1 == 1;
            up = low > half || (low == half && odd);
        }
        return up ? truncated + (1 << f) : truncated;
    }

    // ---------------------------------------------------------------------------------------------
    // Conversions
    // ---------------------------------------------------------------------------------------------

    /// f32.demote_f64: one nearest-even rounding of the exact f64 value (overflow -> inf,
    /// subnormal f32 results kept).
    function _demote(uint256 x) private pure returns (uint256) {
        (bool neg, uint256 bexp, uint256 frac) = _fields(x, F64);
        if (bexp == _expMax(F64)) return frac != 0 ? F32_NAN : _infinity(neg, F32);
        (, int256 exp, uint256 mant) = _unpackFinite(x, F64);
        return _roundPack(neg, exp, mant, F32);
    }

    /// f64.promote_f32: exact (every f32 is an f64), NaNs canonical.
    function _promote(uint256 x) private pure returns (uint256) {
        (bool neg, uint256 bexp, uint256 frac) = _fields(x, F32);
        if (bexp == _expMax(F32)) return frac != 0 ? F64_NAN : _infinity(neg, F64);
        (, int256 exp, uint256 mant) = _unpackFinite(x, F32);
        return _roundPack(neg, exp, mant, F64);
    }

    /// f32/f64.convert_i32/i64_s/u: one nearest-even rounding of the exact integer (so i64 -> f32
    /// never rounds twice through f64).
    function _convertInt(uint16 op, uint256 x) private pure returns (uint256) {
        // f32.convert_* give f32, f64.convert_* give f64; within each: i32_s, i32_u, i64_s, i64_u.
        uint256 fb = op <= Opcodes.F32_CONVERT_I64_U ? F32 : F64;
        uint256 k = op <= Opcodes.F32_CONVERT_I64_U ? op - Opcodes.F32_CONVERT_I32_S : op - Opcodes.F64_CONVERT_I32_S;
        uint256 width = k < 2 ? 32 : 64;
        bool signed = k % 2 == 0;
        uint256 v = width == 32 ? x & MASK32 : x;
        bool neg = signed && (v >> (width - 1)) != 0;
        uint256 mag = neg ? (1 << width) - v : v;
        return _roundPack(neg, 0, mag, fb);
    }

    /// Trapping (`i32.trunc_f32_s..=i32.trunc_f64_u`, `i64.trunc_f32_s..=i64.trunc_f64_u`) and
    /// saturating (`i32.trunc_sat_f32_s..=i64.trunc_sat_f64_u`) truncations to integers.
    /// @dev The magnitude truncated toward zero is compared with the target's range: trapping
    ///      ones trap (NaN: invalid conversion; out of range: integer overflow), saturating ones
    ///      clamp and map NaN to 0. `-0.9` truncates to 0 and is in range even for unsigned.
    function _truncToInt(uint16 op, uint256 x) private pure returns (uint256 r, uint8 trap) {
        bool saturating = op >= Opcodes.TRUNC_SAT_FIRST;
        // Each group of four is signed/unsigned alternately; sources and widths by group.
        bool srcF64;
        uint256 width;
        if (saturating) {
            uint256 k = op - Opcodes.TRUNC_SAT_FIRST; // i32_f32_s, i32_f32_u, i32_f64_s, i32_f64_u, then i64 ...
            srcF64 = k & 2 != 0;
            width = k < 4 ? 32 : 64;
        } else if (op <= Opcodes.I32_TRUNC_F64_U) {
            srcF64 = op >= Opcodes.I32_TRUNC_F64_S; // i32.trunc_f32_s/u, i32.trunc_f64_s/u
            width = 32;
        } else {
            srcF64 = op >= Opcodes.I64_TRUNC_F64_S; // i64.trunc_f32_s/u, i64.trunc_f64_s/u
            width = 64;
        }
        bool signed = op % 2 == 0;
        uint256 fb = srcF64 ? F64 : F32;
        uint256 v = srcF64 ? x : x & MASK32;

        (bool neg, uint256 bexp, uint256 frac) = _fields(v, fb);
        if (bexp == _expMax(fb) && frac != 0) {
            return (0, saturating ? 0 : TRAP_INVALID_CONVERSION);
        }
        uint256 mag;
        if (bexp == _expMax(fb)) {
            mag = BEYOND_RANGE; // ±inf: beyond every range
        } else {
            (, int256 exp, uint256 mant) = _unpackFinite(v, fb);
            if (exp >= 0) {
                mag = exp > 64 ? BEYOND_RANGE : mant << uint256(exp); // exact, < 2^117
            } else {
                mag = exp < -64 ? 0 : mant >> uint256(-exp);
            }
        }
        uint256 limit;
        if (signed) limit = neg ? 1 << (width - 1) : (1 << (width - 1)) - 1;
        else limit = neg ? 0 : (1 << width) - 1;
        if (mag > limit) {
            if (!saturating) return (0, TRAP_INTEGER_OVERFLOW);
            mag = limit;
        }
        r = neg && mag != 0 ? (1 << width) - mag : mag;
    }
}
