//! Numeric instructions: pure functions of their operands' bits.
//!
//! Values are `u64` bit patterns (i32 and f32 zero-extended). Floats follow IEEE-754 with the
//! rule of the runner's wasmtime configuration (`cranelift_nan_canonicalization`): every result
//! of an arithmetic float instruction (add, sub, mul, div, sqrt, min, max, ceil, floor, trunc,
//! nearest, promote, demote) that is a NaN is the canonical quiet NaN, positive, no payload;
//! bit moves (abs, neg, copysign, reinterpret, loads, stores, const) keep payloads.

use crate::code::op;
use crate::machine::Trap;

/// The canonical f32 NaN.
pub const F32_NAN: u32 = 0x7fc0_0000;
/// The canonical f64 NaN.
pub const F64_NAN: u64 = 0x7ff8_0000_0000_0000;

#[inline]
fn f32c(x: f32) -> u64 {
    if x.is_nan() {
        F32_NAN as u64
    } else {
        x.to_bits() as u64
    }
}

#[inline]
fn f64c(x: f64) -> u64 {
    if x.is_nan() {
        F64_NAN
    } else {
        x.to_bits()
    }
}

#[inline]
fn f32v(x: u64) -> f32 {
    f32::from_bits(x as u32)
}

#[inline]
fn f64v(x: u64) -> f64 {
    f64::from_bits(x)
}

#[inline]
fn b(x: bool) -> u64 {
    x as u64
}

#[inline]
fn i32r(x: u32) -> u64 {
    x as u64
}

fn fmin32(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        F32_NAN as u64
    } else if a == b {
        (a.to_bits() | b.to_bits()) as u64
    } else {
        f32c(if a < b { a } else { b })
    }
}

fn fmax32(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        F32_NAN as u64
    } else if a == b {
        (a.to_bits() & b.to_bits()) as u64
    } else {
        f32c(if a > b { a } else { b })
    }
}

fn fmin64(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        F64_NAN
    } else if a == b {
        a.to_bits() | b.to_bits()
    } else {
        f64c(if a < b { a } else { b })
    }
}

fn fmax64(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        F64_NAN
    } else if a == b {
        a.to_bits() & b.to_bits()
    } else {
        f64c(if a > b { a } else { b })
    }
}

/// Trapping float-to-int truncation: the truncated value must lie strictly between `lo` and
/// `hi` (exclusive bounds as f64, exact for every wasm case).
#[inline]
fn trunc_checked(x: f64, lo: f64, hi: f64) -> Result<f64, Trap> {
    if x.is_nan() {
        return Err(Trap::InvalidConversion);
    }
    let t = x.trunc();
    if t <= lo || t >= hi {
        return Err(Trap::IntegerOverflow);
    }
    Ok(t)
}

/// Applies a unary numeric opcode (`0x45..=0xc4` with one operand, or a saturating truncation).
#[inline]
pub fn unary(op: u16, x: u64) -> Result<u64, Trap> {
    let x32 = x as u32;
    Ok(match op {
        op::I32_EQZ => b(x32 == 0),
        op::I64_EQZ => b(x == 0),
        op::I32_CLZ => i32r(x32.leading_zeros()),
        op::I32_CTZ => i32r(x32.trailing_zeros()),
        op::I32_POPCNT => i32r(x32.count_ones()),
        op::I64_CLZ => x.leading_zeros() as u64,
        op::I64_CTZ => x.trailing_zeros() as u64,
        op::I64_POPCNT => x.count_ones() as u64,
        op::F32_ABS => (x32 & 0x7fff_ffff) as u64,
        op::F32_NEG => (x32 ^ 0x8000_0000) as u64,
        op::F32_CEIL => f32c(f32v(x).ceil()),
        op::F32_FLOOR => f32c(f32v(x).floor()),
        op::F32_TRUNC => f32c(f32v(x).trunc()),
        op::F32_NEAREST => f32c(f32v(x).round_ties_even()),
        op::F32_SQRT => f32c(f32v(x).sqrt()),
        op::F64_ABS => x & 0x7fff_ffff_ffff_ffff,
        op::F64_NEG => x ^ 0x8000_0000_0000_0000,
        op::F64_CEIL => f64c(f64v(x).ceil()),
        op::F64_FLOOR => f64c(f64v(x).floor()),
        op::F64_TRUNC => f64c(f64v(x).trunc()),
        op::F64_NEAREST => f64c(f64v(x).round_ties_even()),
        op::F64_SQRT => f64c(f64v(x).sqrt()),
        op::I32_WRAP_I64 => x & 0xffff_ffff,
        op::I32_TRUNC_F32_S => i32r(trunc_checked(f32v(x) as f64, -2147483649.0, 2147483648.0)? as i32 as u32),
        op::I32_TRUNC_F32_U => i32r(trunc_checked(f32v(x) as f64, -1.0, 4294967296.0)? as u32),
        op::I32_TRUNC_F64_S => i32r(trunc_checked(f64v(x), -2147483649.0, 2147483648.0)? as i32 as u32),
        op::I32_TRUNC_F64_U => i32r(trunc_checked(f64v(x), -1.0, 4294967296.0)? as u32),
        op::I64_EXTEND_I32_S => x32 as i32 as i64 as u64,
        op::I64_EXTEND_I32_U => x32 as u64,
        op::I64_TRUNC_F32_S => trunc_checked(f32v(x) as f64, -9223373136366403584.0, 9223372036854775808.0)? as i64 as u64,
        op::I64_TRUNC_F32_U => trunc_checked(f32v(x) as f64, -1.0, 18446744073709551616.0)? as u64,
        op::I64_TRUNC_F64_S => trunc_checked(f64v(x), -9223372036854777856.0, 9223372036854775808.0)? as i64 as u64,
        op::I64_TRUNC_F64_U => trunc_checked(f64v(x), -1.0, 18446744073709551616.0)? as u64,
        op::F32_CONVERT_I32_S => (x32 as i32 as f32).to_bits() as u64,
        op::F32_CONVERT_I32_U => (x32 as f32).to_bits() as u64,
        op::F32_CONVERT_I64_S => (x as i64 as f32).to_bits() as u64,
        op::F32_CONVERT_I64_U => (x as f32).to_bits() as u64,
        op::F32_DEMOTE_F64 => f32c(f64v(x) as f32),
        op::F64_CONVERT_I32_S => (x32 as i32 as f64).to_bits(),
        op::F64_CONVERT_I32_U => (x32 as f64).to_bits(),
        op::F64_CONVERT_I64_S => (x as i64 as f64).to_bits(),
        op::F64_CONVERT_I64_U => (x as f64).to_bits(),
        op::F64_PROMOTE_F32 => f64c(f32v(x) as f64),
        // Reinterpretations are bit moves: the value keeps its bits.
        0xbc | 0xbe => x & 0xffff_ffff,
        0xbd | 0xbf => x,
        op::I32_EXTEND8_S => i32r(x32 as i8 as i32 as u32),
        op::I32_EXTEND16_S => i32r(x32 as i16 as i32 as u32),
        op::I64_EXTEND8_S => x as i8 as i64 as u64,
        op::I64_EXTEND16_S => x as i16 as i64 as u64,
        op::I64_EXTEND32_S => x as i32 as i64 as u64,
        // Saturating truncations: Rust's `as` saturates and maps NaN to 0, as wasm does.
        op::I32_TRUNC_SAT_F32_S => i32r(f32v(x) as i32 as u32),
        op::I32_TRUNC_SAT_F32_U => i32r(f32v(x) as u32),
        op::I32_TRUNC_SAT_F64_S => i32r(f64v(x) as i32 as u32),
        op::I32_TRUNC_SAT_F64_U => i32r(f64v(x) as u32),
        op::I64_TRUNC_SAT_F32_S => f32v(x) as i64 as u64,
        op::I64_TRUNC_SAT_F32_U => f32v(x) as u64,
        op::I64_TRUNC_SAT_F64_S => f64v(x) as i64 as u64,
        op::I64_TRUNC_SAT_F64_U => f64v(x) as u64,
        _ => return Err(Trap::BadInstruction),
    })
}

/// Applies a binary numeric opcode to `x` (first operand, deeper on the stack) and `y`.
#[inline]
pub fn binary(op: u16, x: u64, y: u64) -> Result<u64, Trap> {
    let (a, c) = (x as u32, y as u32);
    Ok(match op {
        op::I32_EQ => b(a == c),
        op::I32_NE => b(a != c),
        op::I32_LT_S => b((a as i32) < (c as i32)),
        op::I32_LT_U => b(a < c),
        op::I32_GT_S => b((a as i32) > (c as i32)),
        op::I32_GT_U => b(a > c),
        op::I32_LE_S => b((a as i32) <= (c as i32)),
        op::I32_LE_U => b(a <= c),
        op::I32_GE_S => b((a as i32) >= (c as i32)),
        op::I32_GE_U => b(a >= c),
        op::I64_EQ => b(x == y),
        op::I64_NE => b(x != y),
        op::I64_LT_S => b((x as i64) < (y as i64)),
        op::I64_LT_U => b(x < y),
        op::I64_GT_S => b((x as i64) > (y as i64)),
        op::I64_GT_U => b(x > y),
        op::I64_LE_S => b((x as i64) <= (y as i64)),
        op::I64_LE_U => b(x <= y),
        op::I64_GE_S => b((x as i64) >= (y as i64)),
        op::I64_GE_U => b(x >= y),
        op::F32_EQ => b(f32v(x) == f32v(y)),
        op::F32_NE => b(f32v(x) != f32v(y)),
        op::F32_LT => b(f32v(x) < f32v(y)),
        op::F32_GT => b(f32v(x) > f32v(y)),
        op::F32_LE => b(f32v(x) <= f32v(y)),
        op::F32_GE => b(f32v(x) >= f32v(y)),
        op::F64_EQ => b(f64v(x) == f64v(y)),
        op::F64_NE => b(f64v(x) != f64v(y)),
        op::F64_LT => b(f64v(x) < f64v(y)),
        op::F64_GT => b(f64v(x) > f64v(y)),
        op::F64_LE => b(f64v(x) <= f64v(y)),
        op::F64_GE => b(f64v(x) >= f64v(y)),
        op::I32_ADD => i32r(a.wrapping_add(c)),
        op::I32_SUB => i32r(a.wrapping_sub(c)),
        op::I32_MUL => i32r(a.wrapping_mul(c)),
        op::I32_DIV_S => {
            if c == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            if a as i32 == i32::MIN && c as i32 == -1 {
                return Err(Trap::IntegerOverflow);
            }
            i32r(((a as i32) / (c as i32)) as u32)
        }
        op::I32_DIV_U => i32r(a.checked_div(c).ok_or(Trap::IntegerDivideByZero)?),
        op::I32_REM_S => {
            if c == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            i32r((a as i32).wrapping_rem(c as i32) as u32)
        }
        op::I32_REM_U => i32r(a.checked_rem(c).ok_or(Trap::IntegerDivideByZero)?),
        op::I32_AND => i32r(a & c),
        op::I32_OR => i32r(a | c),
        op::I32_XOR => i32r(a ^ c),
        op::I32_SHL => i32r(a.wrapping_shl(c)),
        op::I32_SHR_S => i32r((a as i32).wrapping_shr(c) as u32),
        op::I32_SHR_U => i32r(a.wrapping_shr(c)),
        op::I32_ROTL => i32r(a.rotate_left(c & 31)),
        op::I32_ROTR => i32r(a.rotate_right(c & 31)),
        op::I64_ADD => x.wrapping_add(y),
        op::I64_SUB => x.wrapping_sub(y),
        op::I64_MUL => x.wrapping_mul(y),
        op::I64_DIV_S => {
            if y == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            if x as i64 == i64::MIN && y as i64 == -1 {
                return Err(Trap::IntegerOverflow);
            }
            ((x as i64) / (y as i64)) as u64
        }
        op::I64_DIV_U => x.checked_div(y).ok_or(Trap::IntegerDivideByZero)?,
        op::I64_REM_S => {
            if y == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            (x as i64).wrapping_rem(y as i64) as u64
        }
        op::I64_REM_U => x.checked_rem(y).ok_or(Trap::IntegerDivideByZero)?,
        op::I64_AND => x & y,
        op::I64_OR => x | y,
        op::I64_XOR => x ^ y,
        op::I64_SHL => x.wrapping_shl(y as u32),
        op::I64_SHR_S => (x as i64).wrapping_shr(y as u32) as u64,
        op::I64_SHR_U => x.wrapping_shr(y as u32),
        op::I64_ROTL => x.rotate_left((y & 63) as u32),
        op::I64_ROTR => x.rotate_right((y & 63) as u32),
        op::F32_ADD => f32c(f32v(x) + f32v(y)),
        op::F32_SUB => f32c(f32v(x) - f32v(y)),
        op::F32_MUL => f32c(f32v(x) * f32v(y)),
        op::F32_DIV => f32c(f32v(x) / f32v(y)),
        op::F32_MIN => fmin32(f32v(x), f32v(y)),
        op::F32_MAX => fmax32(f32v(x), f32v(y)),
        op::F32_COPYSIGN => ((a & 0x7fff_ffff) | (c & 0x8000_0000)) as u64,
        op::F64_ADD => f64c(f64v(x) + f64v(y)),
        op::F64_SUB => f64c(f64v(x) - f64v(y)),
        op::F64_MUL => f64c(f64v(x) * f64v(y)),
        op::F64_DIV => f64c(f64v(x) / f64v(y)),
        op::F64_MIN => fmin64(f64v(x), f64v(y)),
        op::F64_MAX => fmax64(f64v(x), f64v(y)),
        op::F64_COPYSIGN => (x & 0x7fff_ffff_ffff_ffff) | (y & 0x8000_0000_0000_0000),
        _ => return Err(Trap::BadInstruction),
    })
}

/// Whether `op` is a binary numeric opcode (two operands, one result): from the opcode table.
pub fn is_binary(op: u16) -> bool {
    crate::code::is_numeric_binary(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_results_are_canonical_and_bit_moves_keep_payloads() {
        let snan = 0x7fa0_0001u64;
        assert_eq!(binary(0x92, snan, 0x3f80_0000).unwrap(), F32_NAN as u64);
        // inf - inf: x86 produces a negative default NaN; wasmtime canonicalizes it.
        assert_eq!(binary(0x93, 0x7f80_0000, 0x7f80_0000).unwrap(), F32_NAN as u64);
        assert_eq!(unary(0x8c, snan).unwrap(), snan | 0x8000_0000);
        assert_eq!(unary(0x8b, snan | 0x8000_0000).unwrap(), snan);
        assert_eq!(unary(0xbb, snan).unwrap(), F64_NAN);
    }

    #[test]
    fn min_max_order_signed_zeros() {
        let (pz, nz) = (0u64, 0x8000_0000u64);
        assert_eq!(binary(0x96, pz, nz).unwrap(), nz);
        assert_eq!(binary(0x97, nz, pz).unwrap(), pz);
    }

    #[test]
    fn trapping_truncation_bounds() {
        assert_eq!(unary(0xa8, (2147483520.0f32).to_bits() as u64).unwrap(), 2147483520);
        assert_eq!(unary(0xa8, (2147483648.0f32).to_bits() as u64), Err(Trap::IntegerOverflow));
        assert_eq!(unary(0xa8, (-2147483648.0f32).to_bits() as u64).unwrap(), 0x8000_0000);
        assert_eq!(unary(0xa9, (-0.9f32).to_bits() as u64).unwrap(), 0);
        assert_eq!(unary(0xa9, (-1.0f32).to_bits() as u64), Err(Trap::IntegerOverflow));
        assert_eq!(unary(0xb1, f64::NAN.to_bits()), Err(Trap::InvalidConversion));
    }

    #[test]
    fn division_traps() {
        assert_eq!(binary(0x6d, 0x8000_0000, 0xffff_ffff), Err(Trap::IntegerOverflow));
        assert_eq!(binary(0x6f, 0x8000_0000, 0xffff_ffff).unwrap(), 0);
        assert_eq!(binary(0x80, 1, 0), Err(Trap::IntegerDivideByZero));
    }
}
