//! Numeric instructions: pure functions of their operands' bits.
//!
//! Values are `u64` bit patterns (i32 and f32 zero-extended). Floats follow IEEE-754 with the
//! rule of the runner's wasmtime configuration (`cranelift_nan_canonicalization`): every result
//! of an arithmetic float instruction (add, sub, mul, div, sqrt, min, max, ceil, floor, trunc,
//! nearest, promote, demote) that is a NaN is the canonical quiet NaN, positive, no payload;
//! bit moves (abs, neg, copysign, reinterpret, loads, stores, const) keep payloads.

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
        0x45 => b(x32 == 0),
        0x50 => b(x == 0),
        0x67 => i32r(x32.leading_zeros()),
        0x68 => i32r(x32.trailing_zeros()),
        0x69 => i32r(x32.count_ones()),
        0x79 => x.leading_zeros() as u64,
        0x7a => x.trailing_zeros() as u64,
        0x7b => x.count_ones() as u64,
        0x8b => (x32 & 0x7fff_ffff) as u64,
        0x8c => (x32 ^ 0x8000_0000) as u64,
        0x8d => f32c(f32v(x).ceil()),
        0x8e => f32c(f32v(x).floor()),
        0x8f => f32c(f32v(x).trunc()),
        0x90 => f32c(f32v(x).round_ties_even()),
        0x91 => f32c(f32v(x).sqrt()),
        0x99 => x & 0x7fff_ffff_ffff_ffff,
        0x9a => x ^ 0x8000_0000_0000_0000,
        0x9b => f64c(f64v(x).ceil()),
        0x9c => f64c(f64v(x).floor()),
        0x9d => f64c(f64v(x).trunc()),
        0x9e => f64c(f64v(x).round_ties_even()),
        0x9f => f64c(f64v(x).sqrt()),
        0xa7 => x & 0xffff_ffff,
        0xa8 => i32r(trunc_checked(f32v(x) as f64, -2147483649.0, 2147483648.0)? as i32 as u32),
        0xa9 => i32r(trunc_checked(f32v(x) as f64, -1.0, 4294967296.0)? as u32),
        0xaa => i32r(trunc_checked(f64v(x), -2147483649.0, 2147483648.0)? as i32 as u32),
        0xab => i32r(trunc_checked(f64v(x), -1.0, 4294967296.0)? as u32),
        0xac => x32 as i32 as i64 as u64,
        0xad => x32 as u64,
        0xae => trunc_checked(f32v(x) as f64, -9223373136366403584.0, 9223372036854775808.0)? as i64 as u64,
        0xaf => trunc_checked(f32v(x) as f64, -1.0, 18446744073709551616.0)? as u64,
        0xb0 => trunc_checked(f64v(x), -9223372036854777856.0, 9223372036854775808.0)? as i64 as u64,
        0xb1 => trunc_checked(f64v(x), -1.0, 18446744073709551616.0)? as u64,
        0xb2 => (x32 as i32 as f32).to_bits() as u64,
        0xb3 => (x32 as f32).to_bits() as u64,
        0xb4 => (x as i64 as f32).to_bits() as u64,
        0xb5 => (x as f32).to_bits() as u64,
        0xb6 => f32c(f64v(x) as f32),
        0xb7 => (x32 as i32 as f64).to_bits(),
        0xb8 => (x32 as f64).to_bits(),
        0xb9 => (x as i64 as f64).to_bits(),
        0xba => (x as f64).to_bits(),
        0xbb => f64c(f32v(x) as f64),
        // Reinterpretations are bit moves: the value keeps its bits.
        0xbc | 0xbe => x & 0xffff_ffff,
        0xbd | 0xbf => x,
        0xc0 => i32r(x32 as i8 as i32 as u32),
        0xc1 => i32r(x32 as i16 as i32 as u32),
        0xc2 => x as i8 as i64 as u64,
        0xc3 => x as i16 as i64 as u64,
        0xc4 => x as i32 as i64 as u64,
        // Saturating truncations: Rust's `as` saturates and maps NaN to 0, as wasm does.
        0xfc00 => i32r(f32v(x) as i32 as u32),
        0xfc01 => i32r(f32v(x) as u32),
        0xfc02 => i32r(f64v(x) as i32 as u32),
        0xfc03 => i32r(f64v(x) as u32),
        0xfc04 => f32v(x) as i64 as u64,
        0xfc05 => f32v(x) as u64,
        0xfc06 => f64v(x) as i64 as u64,
        0xfc07 => f64v(x) as u64,
        _ => return Err(Trap::BadInstruction),
    })
}

/// Applies a binary numeric opcode to `x` (first operand, deeper on the stack) and `y`.
#[inline]
pub fn binary(op: u16, x: u64, y: u64) -> Result<u64, Trap> {
    let (a, c) = (x as u32, y as u32);
    Ok(match op {
        0x46 => b(a == c),
        0x47 => b(a != c),
        0x48 => b((a as i32) < (c as i32)),
        0x49 => b(a < c),
        0x4a => b((a as i32) > (c as i32)),
        0x4b => b(a > c),
        0x4c => b((a as i32) <= (c as i32)),
        0x4d => b(a <= c),
        0x4e => b((a as i32) >= (c as i32)),
        0x4f => b(a >= c),
        0x51 => b(x == y),
        0x52 => b(x != y),
        0x53 => b((x as i64) < (y as i64)),
        0x54 => b(x < y),
        0x55 => b((x as i64) > (y as i64)),
        0x56 => b(x > y),
        0x57 => b((x as i64) <= (y as i64)),
        0x58 => b(x <= y),
        0x59 => b((x as i64) >= (y as i64)),
        0x5a => b(x >= y),
        0x5b => b(f32v(x) == f32v(y)),
        0x5c => b(f32v(x) != f32v(y)),
        0x5d => b(f32v(x) < f32v(y)),
        0x5e => b(f32v(x) > f32v(y)),
        0x5f => b(f32v(x) <= f32v(y)),
        0x60 => b(f32v(x) >= f32v(y)),
        0x61 => b(f64v(x) == f64v(y)),
        0x62 => b(f64v(x) != f64v(y)),
        0x63 => b(f64v(x) < f64v(y)),
        0x64 => b(f64v(x) > f64v(y)),
        0x65 => b(f64v(x) <= f64v(y)),
        0x66 => b(f64v(x) >= f64v(y)),
        0x6a => i32r(a.wrapping_add(c)),
        0x6b => i32r(a.wrapping_sub(c)),
        0x6c => i32r(a.wrapping_mul(c)),
        0x6d => {
            if c == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            if a as i32 == i32::MIN && c as i32 == -1 {
                return Err(Trap::IntegerOverflow);
            }
            i32r(((a as i32) / (c as i32)) as u32)
        }
        0x6e => i32r(a.checked_div(c).ok_or(Trap::IntegerDivideByZero)?),
        0x6f => {
            if c == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            i32r((a as i32).wrapping_rem(c as i32) as u32)
        }
        0x70 => i32r(a.checked_rem(c).ok_or(Trap::IntegerDivideByZero)?),
        0x71 => i32r(a & c),
        0x72 => i32r(a | c),
        0x73 => i32r(a ^ c),
        0x74 => i32r(a.wrapping_shl(c)),
        0x75 => i32r((a as i32).wrapping_shr(c) as u32),
        0x76 => i32r(a.wrapping_shr(c)),
        0x77 => i32r(a.rotate_left(c & 31)),
        0x78 => i32r(a.rotate_right(c & 31)),
        0x7c => x.wrapping_add(y),
        0x7d => x.wrapping_sub(y),
        0x7e => x.wrapping_mul(y),
        0x7f => {
            if y == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            if x as i64 == i64::MIN && y as i64 == -1 {
                return Err(Trap::IntegerOverflow);
            }
            ((x as i64) / (y as i64)) as u64
        }
        0x80 => x.checked_div(y).ok_or(Trap::IntegerDivideByZero)?,
        0x81 => {
            if y == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            (x as i64).wrapping_rem(y as i64) as u64
        }
        0x82 => x.checked_rem(y).ok_or(Trap::IntegerDivideByZero)?,
        0x83 => x & y,
        0x84 => x | y,
        0x85 => x ^ y,
        0x86 => x.wrapping_shl(y as u32),
        0x87 => (x as i64).wrapping_shr(y as u32) as u64,
        0x88 => x.wrapping_shr(y as u32),
        0x89 => x.rotate_left((y & 63) as u32),
        0x8a => x.rotate_right((y & 63) as u32),
        0x92 => f32c(f32v(x) + f32v(y)),
        0x93 => f32c(f32v(x) - f32v(y)),
        0x94 => f32c(f32v(x) * f32v(y)),
        0x95 => f32c(f32v(x) / f32v(y)),
        0x96 => fmin32(f32v(x), f32v(y)),
        0x97 => fmax32(f32v(x), f32v(y)),
        0x98 => ((a & 0x7fff_ffff) | (c & 0x8000_0000)) as u64,
        0xa0 => f64c(f64v(x) + f64v(y)),
        0xa1 => f64c(f64v(x) - f64v(y)),
        0xa2 => f64c(f64v(x) * f64v(y)),
        0xa3 => f64c(f64v(x) / f64v(y)),
        0xa4 => fmin64(f64v(x), f64v(y)),
        0xa5 => fmax64(f64v(x), f64v(y)),
        0xa6 => (x & 0x7fff_ffff_ffff_ffff) | (y & 0x8000_0000_0000_0000),
        _ => return Err(Trap::BadInstruction),
    })
}

/// Whether `op` is a binary numeric opcode (two operands, one result).
pub fn is_binary(op: u16) -> bool {
    matches!(op, 0x46..=0x4f | 0x51..=0x66 | 0x6a..=0x78 | 0x7c..=0x8a | 0x92..=0x98 | 0xa0..=0xa6)
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
