//! v128 instructions (`spec/simd.md`).
//!
//! A v128 value is two u64 slots on the operand stack and in locals: the low half (bytes 0-7,
//! little-endian) is pushed first, the high half on top. Lowering (`code.rs`) turns everything
//! that only moves values (`local.*`, `drop`, `v128.const`) into ordinary slot instructions, so
//! the instructions here are the ones that compute on or access memory with vectors. A lowered
//! SIMD opcode is `0xFD00 + n` where `n` is the WebAssembly `0xFD` sub-opcode; memory offsets go
//! in `a`, lane indices in `b`, the 16 lane bytes of `i8x16.shuffle` in `a ‖ b ‖ c`
//! (little-endian). Float lanes use the scalar rules of [`crate::numeric`] (wasmtime's NaN
//! canonicalization applies lane by lane).

use wasmparser::{MemArg, Operator};

use crate::code::{Instr, OPCODES};
use crate::machine::Trap;
use crate::numeric;
use crate::semantics::{StepContext, PAGE};

/// First lowered SIMD opcode.
pub const FIRST: u16 = 0xfd00;
/// Last lowered SIMD opcode.
pub const LAST: u16 = 0xfdff;
/// `i8x16.shuffle`: lane bytes in `a ‖ b ‖ c`.
pub const I8X16_SHUFFLE: u16 = 0xfd0d;

/// Which sub-opcodes the machine implements: the `Family::Simd` rows of [`OPCODES`].
const SUPPORTED: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < OPCODES.len() {
        let op = OPCODES[i].0;
        if op >= FIRST {
            t[(op - FIRST) as usize] = true;
        }
        i += 1;
    }
    t
};

/// Whether `op` is a SIMD opcode the machine implements.
pub fn supported(op: u16) -> bool {
    (FIRST..=LAST).contains(&op) && SUPPORTED[(op - FIRST) as usize]
}

/// The lowered opcode, `a` and `b` of a SIMD operator the machine implements (`None` for any
/// other operator; `v128.const` and `i8x16.shuffle` are lowered in `code.rs`).
pub fn lower(o: &Operator<'_>) -> Option<(u16, u32, u32)> {
    use Operator as O;
    let mem = |m: &MemArg| -> Option<u32> { (m.memory == 0).then(|| u32::try_from(m.offset).ok()).flatten() };
    let (n, a, b): (u16, u32, u32) = match o {
        O::V128Load { memarg } => (0x00, mem(memarg)?, 0),
        O::V128Load8x8S { memarg } => (0x01, mem(memarg)?, 0),
        O::V128Load8x8U { memarg } => (0x02, mem(memarg)?, 0),
        O::V128Load16x4S { memarg } => (0x03, mem(memarg)?, 0),
        O::V128Load16x4U { memarg } => (0x04, mem(memarg)?, 0),
        O::V128Load32x2S { memarg } => (0x05, mem(memarg)?, 0),
        O::V128Load32x2U { memarg } => (0x06, mem(memarg)?, 0),
        O::V128Load8Splat { memarg } => (0x07, mem(memarg)?, 0),
        O::V128Load16Splat { memarg } => (0x08, mem(memarg)?, 0),
        O::V128Load32Splat { memarg } => (0x09, mem(memarg)?, 0),
        O::V128Load64Splat { memarg } => (0x0a, mem(memarg)?, 0),
        O::V128Store { memarg } => (0x0b, mem(memarg)?, 0),
        O::V128Load32Zero { memarg } => (0x5c, mem(memarg)?, 0),
        O::V128Load64Zero { memarg } => (0x5d, mem(memarg)?, 0),
        O::V128Load8Lane { memarg, lane } => (0x54, mem(memarg)?, *lane as u32),
        O::V128Load16Lane { memarg, lane } => (0x55, mem(memarg)?, *lane as u32),
        O::V128Load32Lane { memarg, lane } => (0x56, mem(memarg)?, *lane as u32),
        O::V128Load64Lane { memarg, lane } => (0x57, mem(memarg)?, *lane as u32),
        O::V128Store8Lane { memarg, lane } => (0x58, mem(memarg)?, *lane as u32),
        O::V128Store16Lane { memarg, lane } => (0x59, mem(memarg)?, *lane as u32),
        O::V128Store32Lane { memarg, lane } => (0x5a, mem(memarg)?, *lane as u32),
        O::V128Store64Lane { memarg, lane } => (0x5b, mem(memarg)?, *lane as u32),
        O::I8x16ExtractLaneS { lane } => (0x15, 0, *lane as u32),
        O::I8x16ExtractLaneU { lane } => (0x16, 0, *lane as u32),
        O::I8x16ReplaceLane { lane } => (0x17, 0, *lane as u32),
        O::I16x8ExtractLaneS { lane } => (0x18, 0, *lane as u32),
        O::I16x8ExtractLaneU { lane } => (0x19, 0, *lane as u32),
        O::I16x8ReplaceLane { lane } => (0x1a, 0, *lane as u32),
        O::I32x4ExtractLane { lane } => (0x1b, 0, *lane as u32),
        O::I32x4ReplaceLane { lane } => (0x1c, 0, *lane as u32),
        O::I64x2ExtractLane { lane } => (0x1d, 0, *lane as u32),
        O::I64x2ReplaceLane { lane } => (0x1e, 0, *lane as u32),
        O::F32x4ExtractLane { lane } => (0x1f, 0, *lane as u32),
        O::F32x4ReplaceLane { lane } => (0x20, 0, *lane as u32),
        O::F64x2ExtractLane { lane } => (0x21, 0, *lane as u32),
        O::F64x2ReplaceLane { lane } => (0x22, 0, *lane as u32),
        other => (plain(other)?, 0, 0),
    };
    let opcode = FIRST + n;
    supported(opcode).then_some((opcode, a, b))
}

/// The sub-opcode of a SIMD operator without immediates.
fn plain(o: &Operator<'_>) -> Option<u16> {
    use Operator as O;
    Some(match o {
        O::I8x16Swizzle => 0x0e,
        O::I8x16Splat => 0x0f,
        O::I16x8Splat => 0x10,
        O::I32x4Splat => 0x11,
        O::I64x2Splat => 0x12,
        O::F32x4Splat => 0x13,
        O::F64x2Splat => 0x14,
        O::I8x16Eq => 0x23,
        O::I8x16Ne => 0x24,
        O::I8x16LtS => 0x25,
        O::I8x16LtU => 0x26,
        O::I8x16GtS => 0x27,
        O::I8x16GtU => 0x28,
        O::I8x16LeS => 0x29,
        O::I8x16LeU => 0x2a,
        O::I8x16GeS => 0x2b,
        O::I8x16GeU => 0x2c,
        O::I16x8Eq => 0x2d,
        O::I16x8Ne => 0x2e,
        O::I16x8LtS => 0x2f,
        O::I16x8LtU => 0x30,
        O::I16x8GtS => 0x31,
        O::I16x8GtU => 0x32,
        O::I16x8LeS => 0x33,
        O::I16x8LeU => 0x34,
        O::I16x8GeS => 0x35,
        O::I16x8GeU => 0x36,
        O::I32x4Eq => 0x37,
        O::I32x4Ne => 0x38,
        O::I32x4LtS => 0x39,
        O::I32x4LtU => 0x3a,
        O::I32x4GtS => 0x3b,
        O::I32x4GtU => 0x3c,
        O::I32x4LeS => 0x3d,
        O::I32x4LeU => 0x3e,
        O::I32x4GeS => 0x3f,
        O::I32x4GeU => 0x40,
        O::F32x4Eq => 0x41,
        O::F32x4Ne => 0x42,
        O::F32x4Lt => 0x43,
        O::F32x4Gt => 0x44,
        O::F32x4Le => 0x45,
        O::F32x4Ge => 0x46,
        O::F64x2Eq => 0x47,
        O::F64x2Ne => 0x48,
        O::F64x2Lt => 0x49,
        O::F64x2Gt => 0x4a,
        O::F64x2Le => 0x4b,
        O::F64x2Ge => 0x4c,
        O::V128Not => 0x4d,
        O::V128And => 0x4e,
        O::V128AndNot => 0x4f,
        O::V128Or => 0x50,
        O::V128Xor => 0x51,
        O::V128Bitselect => 0x52,
        O::V128AnyTrue => 0x53,
        O::F32x4DemoteF64x2Zero => 0x5e,
        O::F64x2PromoteLowF32x4 => 0x5f,
        O::I8x16Abs => 0x60,
        O::I8x16Neg => 0x61,
        O::I8x16Popcnt => 0x62,
        O::I8x16AllTrue => 0x63,
        O::I8x16Bitmask => 0x64,
        O::I8x16NarrowI16x8S => 0x65,
        O::I8x16NarrowI16x8U => 0x66,
        O::F32x4Ceil => 0x67,
        O::F32x4Floor => 0x68,
        O::F32x4Trunc => 0x69,
        O::F32x4Nearest => 0x6a,
        O::I8x16Shl => 0x6b,
        O::I8x16ShrS => 0x6c,
        O::I8x16ShrU => 0x6d,
        O::I8x16Add => 0x6e,
        O::I8x16AddSatS => 0x6f,
        O::I8x16AddSatU => 0x70,
        O::I8x16Sub => 0x71,
        O::I8x16SubSatS => 0x72,
        O::I8x16SubSatU => 0x73,
        O::F64x2Ceil => 0x74,
        O::F64x2Floor => 0x75,
        O::I8x16MinS => 0x76,
        O::I8x16MinU => 0x77,
        O::I8x16MaxS => 0x78,
        O::I8x16MaxU => 0x79,
        O::F64x2Trunc => 0x7a,
        O::I8x16AvgrU => 0x7b,
        O::I16x8ExtAddPairwiseI8x16S => 0x7c,
        O::I16x8ExtAddPairwiseI8x16U => 0x7d,
        O::I32x4ExtAddPairwiseI16x8S => 0x7e,
        O::I32x4ExtAddPairwiseI16x8U => 0x7f,
        O::I16x8Abs => 0x80,
        O::I16x8Neg => 0x81,
        O::I16x8Q15MulrSatS => 0x82,
        O::I16x8AllTrue => 0x83,
        O::I16x8Bitmask => 0x84,
        O::I16x8NarrowI32x4S => 0x85,
        O::I16x8NarrowI32x4U => 0x86,
        O::I16x8ExtendLowI8x16S => 0x87,
        O::I16x8ExtendHighI8x16S => 0x88,
        O::I16x8ExtendLowI8x16U => 0x89,
        O::I16x8ExtendHighI8x16U => 0x8a,
        O::I16x8Shl => 0x8b,
        O::I16x8ShrS => 0x8c,
        O::I16x8ShrU => 0x8d,
        O::I16x8Add => 0x8e,
        O::I16x8AddSatS => 0x8f,
        O::I16x8AddSatU => 0x90,
        O::I16x8Sub => 0x91,
        O::I16x8SubSatS => 0x92,
        O::I16x8SubSatU => 0x93,
        O::F64x2Nearest => 0x94,
        O::I16x8Mul => 0x95,
        O::I16x8MinS => 0x96,
        O::I16x8MinU => 0x97,
        O::I16x8MaxS => 0x98,
        O::I16x8MaxU => 0x99,
        O::I16x8AvgrU => 0x9b,
        O::I16x8ExtMulLowI8x16S => 0x9c,
        O::I16x8ExtMulHighI8x16S => 0x9d,
        O::I16x8ExtMulLowI8x16U => 0x9e,
        O::I16x8ExtMulHighI8x16U => 0x9f,
        O::I32x4Abs => 0xa0,
        O::I32x4Neg => 0xa1,
        O::I32x4AllTrue => 0xa3,
        O::I32x4Bitmask => 0xa4,
        O::I32x4ExtendLowI16x8S => 0xa7,
        O::I32x4ExtendHighI16x8S => 0xa8,
        O::I32x4ExtendLowI16x8U => 0xa9,
        O::I32x4ExtendHighI16x8U => 0xaa,
        O::I32x4Shl => 0xab,
        O::I32x4ShrS => 0xac,
        O::I32x4ShrU => 0xad,
        O::I32x4Add => 0xae,
        O::I32x4Sub => 0xb1,
        O::I32x4Mul => 0xb5,
        O::I32x4MinS => 0xb6,
        O::I32x4MinU => 0xb7,
        O::I32x4MaxS => 0xb8,
        O::I32x4MaxU => 0xb9,
        O::I32x4DotI16x8S => 0xba,
        O::I32x4ExtMulLowI16x8S => 0xbc,
        O::I32x4ExtMulHighI16x8S => 0xbd,
        O::I32x4ExtMulLowI16x8U => 0xbe,
        O::I32x4ExtMulHighI16x8U => 0xbf,
        O::I64x2Abs => 0xc0,
        O::I64x2Neg => 0xc1,
        O::I64x2AllTrue => 0xc3,
        O::I64x2Bitmask => 0xc4,
        O::I64x2ExtendLowI32x4S => 0xc7,
        O::I64x2ExtendHighI32x4S => 0xc8,
        O::I64x2ExtendLowI32x4U => 0xc9,
        O::I64x2ExtendHighI32x4U => 0xca,
        O::I64x2Shl => 0xcb,
        O::I64x2ShrS => 0xcc,
        O::I64x2ShrU => 0xcd,
        O::I64x2Add => 0xce,
        O::I64x2Sub => 0xd1,
        O::I64x2Mul => 0xd5,
        O::I64x2Eq => 0xd6,
        O::I64x2Ne => 0xd7,
        O::I64x2LtS => 0xd8,
        O::I64x2GtS => 0xd9,
        O::I64x2LeS => 0xda,
        O::I64x2GeS => 0xdb,
        O::I64x2ExtMulLowI32x4S => 0xdc,
        O::I64x2ExtMulHighI32x4S => 0xdd,
        O::I64x2ExtMulLowI32x4U => 0xde,
        O::I64x2ExtMulHighI32x4U => 0xdf,
        O::F32x4Abs => 0xe0,
        O::F32x4Neg => 0xe1,
        O::F32x4Sqrt => 0xe3,
        O::F32x4Add => 0xe4,
        O::F32x4Sub => 0xe5,
        O::F32x4Mul => 0xe6,
        O::F32x4Div => 0xe7,
        O::F32x4Min => 0xe8,
        O::F32x4Max => 0xe9,
        O::F32x4PMin => 0xea,
        O::F32x4PMax => 0xeb,
        O::F64x2Abs => 0xec,
        O::F64x2Neg => 0xed,
        O::F64x2Sqrt => 0xef,
        O::F64x2Add => 0xf0,
        O::F64x2Sub => 0xf1,
        O::F64x2Mul => 0xf2,
        O::F64x2Div => 0xf3,
        O::F64x2Min => 0xf4,
        O::F64x2Max => 0xf5,
        O::F64x2PMin => 0xf6,
        O::F64x2PMax => 0xf7,
        O::I32x4TruncSatF32x4S => 0xf8,
        O::I32x4TruncSatF32x4U => 0xf9,
        O::F32x4ConvertI32x4S => 0xfa,
        O::F32x4ConvertI32x4U => 0xfb,
        O::I32x4TruncSatF64x2SZero => 0xfc,
        O::I32x4TruncSatF64x2UZero => 0xfd,
        O::F64x2ConvertLowI32x4S => 0xfe,
        O::F64x2ConvertLowI32x4U => 0xff,
        _ => return None,
    })
}

/// Pops a v128 (high slot on top).
#[inline]
fn pop<C: StepContext>(c: &mut C) -> Result<u128, C::Error> {
    let hi = c.pop()?;
    let lo = c.pop()?;
    Ok((hi as u128) << 64 | lo as u128)
}

/// Pushes a v128 (low slot first).
#[inline]
fn push<C: StepContext>(c: &mut C, v: u128) -> Result<(), C::Error> {
    c.push(v as u64)?;
    c.push((v >> 64) as u64)
}

/// Lane `i` of `bits`-bit lanes, zero-extended.
#[inline]
fn lane(v: u128, bits: u32, i: u32) -> u64 {
    ((v >> (bits * i)) as u64) & mask(bits)
}

#[inline]
fn mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// `v` with lane `i` set to the low `bits` bits of `x`.
#[inline]
fn with_lane(v: u128, bits: u32, i: u32, x: u64) -> u128 {
    let m = (mask(bits) as u128) << (bits * i);
    (v & !m) | (((x & mask(bits)) as u128) << (bits * i))
}

/// Sign-extends the low `bits` bits of `x` to i64.
#[inline]
fn sext(x: u64, bits: u32) -> i64 {
    let s = 64 - bits;
    ((x << s) as i64) >> s
}

/// The low `bits` bits of `x`, sign-extended (`signed`) or zero-extended to 64 bits.
#[inline]
fn widen(x: u64, bits: u32, signed: bool) -> u64 {
    if signed {
        sext(x, bits) as u64
    } else {
        x & mask(bits)
    }
}

/// `x` clamped to the signed (`signed`) or unsigned range of `bits`-bit lanes (as lane bits).
#[inline]
fn saturate(x: i64, bits: u32, signed: bool) -> u64 {
    let (lo, hi) = if signed { (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1) } else { (0, mask(bits) as i64) };
    x.clamp(lo, hi) as u64
}

/// A vector from a lane function.
#[inline]
fn build(bits: u32, f: impl Fn(u32) -> u64) -> u128 {
    let mut v = 0u128;
    for i in 0..128 / bits {
        v |= ((f(i) & mask(bits)) as u128) << (bits * i);
    }
    v
}

/// Lane width in bits of an integer-lane opcode's shape, from its sub-opcode group.
fn cmp_shape(n: u16) -> (u32, u16) {
    match n {
        0x23..=0x2c => (8, n - 0x23),
        0x2d..=0x36 => (16, n - 0x2d),
        0x37..=0x40 => (32, n - 0x37),
        _ => (64, [0, 1, 2, 4, 6, 8][(n - 0xd6) as usize]),
    }
}

/// Integer lane comparison `k` (eq, ne, lt_s, lt_u, gt_s, gt_u, le_s, le_u, ge_s, ge_u).
fn int_cmp(k: u16, x: u64, y: u64, bits: u32) -> bool {
    let (sx, sy) = (sext(x, bits), sext(y, bits));
    match k {
        0 => x == y,
        1 => x != y,
        2 => sx < sy,
        3 => x < y,
        4 => sx > sy,
        5 => x > y,
        6 => sx <= sy,
        7 => x <= y,
        8 => sx >= sy,
        _ => x >= y,
    }
}

/// Executes SIMD opcode `o`. Traps (out-of-bounds memory) come back as the inner `Err`.
pub fn execute<C: StepContext>(c: &mut C, o: u16, ins: Instr) -> Result<Result<(), Trap>, C::Error> {
    let n = o.wrapping_sub(FIRST);
    if !supported(o) {
        return Err(c.malformed("opcode"));
    }
    let r: u128 = match n {
        // Memory.
        0x00..=0x0b | 0x54..=0x5d => return memory(c, n, ins),
        0x0d => {
            // i8x16.shuffle
            let y = pop(c)?;
            let x = pop(c)?;
            let mut sel = [0u8; 16];
            sel[0..4].copy_from_slice(&ins.a.to_le_bytes());
            sel[4..8].copy_from_slice(&ins.b.to_le_bytes());
            sel[8..16].copy_from_slice(&ins.c.to_le_bytes());
            if sel.iter().any(|s| *s >= 32) {
                return Err(c.malformed("shuffle lane"));
            }
            build(8, |i| {
                let s = sel[i as usize] as u32;
                if s < 16 {
                    lane(x, 8, s)
                } else {
                    lane(y, 8, s - 16)
                }
            })
        }
        0x0e => {
            // i8x16.swizzle
            let s = pop(c)?;
            let x = pop(c)?;
            build(8, |i| {
                let k = lane(s, 8, i) as u32;
                if k < 16 {
                    lane(x, 8, k)
                } else {
                    0
                }
            })
        }
        0x0f..=0x14 => {
            let bits = [8, 16, 32, 64, 32, 64][(n - 0x0f) as usize];
            let x = c.pop()?;
            build(bits, |_| x)
        }
        0x15..=0x22 => {
            let (bits, kind) = match n {
                0x15..=0x17 => (8, n - 0x15),
                0x18..=0x1a => (16, n - 0x18),
                0x1b | 0x1c | 0x1f | 0x20 => (32, if n == 0x1b || n == 0x1f { 1 } else { 2 }),
                _ => (64, if n == 0x1d || n == 0x21 { 1 } else { 2 }),
            };
            let i = ins.b;
            if i >= 128 / bits {
                return Err(c.malformed("lane index"));
            }
            if kind == 2 {
                let x = c.pop()?;
                let v = pop(c)?;
                with_lane(v, bits, i, x)
            } else {
                let v = pop(c)?;
                let x = lane(v, bits, i);
                // extract_lane_s sign-extends to i32; i32/i64/f32/f64 lanes are returned as is.
                let r = if kind == 0 && bits < 32 { sext(x, bits) as u64 & 0xffff_ffff } else { x };
                c.push(r)?;
                return Ok(Ok(()));
            }
        }
        0x23..=0x40 | 0xd6..=0xdb => {
            let (bits, k) = cmp_shape(n);
            let y = pop(c)?;
            let x = pop(c)?;
            build(bits, |i| if int_cmp(k, lane(x, bits, i), lane(y, bits, i), bits) { mask(bits) } else { 0 })
        }
        0x41..=0x4c => {
            let (bits, scalar) = if n <= 0x46 { (32, 0x5b + (n - 0x41)) } else { (64, 0x61 + (n - 0x47)) };
            let y = pop(c)?;
            let x = pop(c)?;
            build(bits, |i| if float_binary(scalar, lane(x, bits, i), lane(y, bits, i)) != 0 { mask(bits) } else { 0 })
        }
        0x4d => !pop(c)?, // v128.not
        0x4e..=0x51 => {
            let y = pop(c)?;
            let x = pop(c)?;
            match n {
                0x4e => x & y,  // v128.and
                0x4f => x & !y, // v128.andnot
                0x50 => x | y,  // v128.or
                _ => x ^ y,
            }
        }
        0x52 => {
            // v128.bitselect
            let m = pop(c)?;
            let y = pop(c)?;
            let x = pop(c)?;
            (x & m) | (y & !m)
        }
        0x53 => {
            // v128.any_true
            let v = pop(c)?;
            c.push((v != 0) as u64)?;
            return Ok(Ok(()));
        }
        0x63 | 0x83 | 0xa3 | 0xc3 | 0x64 | 0x84 | 0xa4 | 0xc4 => {
            let bits = [8, 16, 32, 64][((n - 0x60) >> 5) as usize];
            let v = pop(c)?;
            let r = if n & 0xf == 3 {
                (0..128 / bits).all(|i| lane(v, bits, i) != 0) as u64
            } else {
                (0..128 / bits).map(|i| (lane(v, bits, i) >> (bits - 1)) << i).sum()
            };
            c.push(r)?;
            return Ok(Ok(()));
        }
        0x60 | 0x61 | 0x80 | 0x81 | 0xa0 | 0xa1 | 0xc0 | 0xc1 => {
            let bits = [8, 16, 32, 64][((n - 0x60) >> 5) as usize];
            let v = pop(c)?;
            build(bits, |i| {
                let x = sext(lane(v, bits, i), bits);
                (if n & 1 == 0 { x.wrapping_abs() } else { x.wrapping_neg() }) as u64
            })
        }
        0x87..=0x8a | 0xa7..=0xaa | 0xc7..=0xca => {
            let bits = [16, 32, 64][((n - 0x80) >> 5) as usize];
            let half = bits / 2;
            let k = n & 0xf;
            let high = k == 0x8 || k == 0xa;
            let signed = k <= 0x8;
            let v = pop(c)?;
            let base = if high { 64 / half } else { 0 };
            build(bits, |i| widen(lane(v, half, base + i), half, signed))
        }
        0x6b..=0x6d | 0x8b..=0x8d | 0xab..=0xad | 0xcb..=0xcd => {
            let bits = [8, 16, 32, 64][((n - 0x60) >> 5) as usize];
            let s = (c.pop()? as u32) % bits;
            let v = pop(c)?;
            let k = n & 0xf;
            build(bits, |i| {
                let x = lane(v, bits, i);
                match k {
                    0xb => x << s, // v128.store
                    0xc => (sext(x, bits) >> s) as u64,
                    _ => x >> s,
                }
            })
        }
        // Lane-wise integer arithmetic; add_sat/sub_sat and avgr_u exist for i8x16 and i16x8 only.
        0x6e..=0x73 | 0x76..=0x79 | 0x7b | 0x8e..=0x93 | 0x95..=0x99 | 0x9b | 0xae | 0xb1 | 0xb5..=0xb9 | 0xce | 0xd1 | 0xd5 => {
            let bits = [8, 16, 32, 64][((n - 0x60) >> 5) as usize];
            let k = (n - 0x60) & 0x1f;
            let y = pop(c)?;
            let x = pop(c)?;
            build(bits, |i| {
                let (a, b) = (lane(x, bits, i), lane(y, bits, i));
                let (sa, sb) = (sext(a, bits), sext(b, bits));
                match k {
                    0x0e => a.wrapping_add(b),                          // i8x16.swizzle
                    0x0f => saturate(sa + sb, bits, true),              // i8x16.splat
                    0x10 => saturate((a + b) as i64, bits, false),      // i16x8.splat
                    0x11 => a.wrapping_sub(b),                          // i32x4.splat
                    0x12 => saturate(sa - sb, bits, true),              // i64x2.splat
                    0x13 => saturate(a as i64 - b as i64, bits, false), // f32x4.splat
                    0x15 => a.wrapping_mul(b),                          // i8x16.extract_lane_s
                    0x16 => sa.min(sb) as u64,                          // i8x16.extract_lane_u
                    0x17 => a.min(b),                                   // i8x16.replace_lane
                    0x18 => sa.max(sb) as u64,                          // i16x8.extract_lane_s
                    0x19 => a.max(b),                                   // i16x8.extract_lane_u
                    _ => (a + b + 1) >> 1,
                }
            })
        }
        0x62 => {
            // i8x16.popcnt
            let v = pop(c)?;
            build(8, |i| lane(v, 8, i).count_ones() as u64)
        }
        // narrow: the lanes of x then y, read signed, saturated to the half-width signed
        // (`_s`) or unsigned (`_u`) range.
        0x65 | 0x66 | 0x85 | 0x86 => {
            let bits = if n < 0x80 { 8 } else { 16 };
            let signed = n & 1 == 1;
            let y = pop(c)?;
            let x = pop(c)?;
            let count = 64 / bits;
            build(bits, |i| {
                let (v, j) = if i < count { (x, i) } else { (y, i - count) };
                saturate(sext(lane(v, 2 * bits, j), 2 * bits), bits, signed)
            })
        }
        0x7c..=0x7f => {
            let bits = if n <= 0x7d { 16 } else { 32 };
            let half = bits / 2;
            let signed = n & 1 == 0;
            let v = pop(c)?;
            build(bits, |i| widen(lane(v, half, 2 * i), half, signed).wrapping_add(widen(lane(v, half, 2 * i + 1), half, signed)))
        }
        0x82 => {
            // i16x8.q15mulr_sat_s
            let y = pop(c)?;
            let x = pop(c)?;
            build(16, |i| {
                let p = sext(lane(x, 16, i), 16) * sext(lane(y, 16, i), 16);
                saturate((p + 0x4000) >> 15, 16, true)
            })
        }
        0xba => {
            // i32x4.dot_i16x8_s
            let y = pop(c)?;
            let x = pop(c)?;
            build(32, |i| {
                let p = |j| sext(lane(x, 16, j), 16) * sext(lane(y, 16, j), 16);
                (p(2 * i) + p(2 * i + 1)) as u64
            })
        }
        // extmul: lanes of the low or high half, extended and multiplied at twice the width.
        0x9c..=0x9f | 0xbc..=0xbf | 0xdc..=0xdf => {
            let bits = [16, 32, 64][((n - 0x80) >> 5) as usize];
            let half = bits / 2;
            let k = n & 3;
            let base = if k & 1 == 1 { 64 / half } else { 0 };
            let signed = k < 2;
            let y = pop(c)?;
            let x = pop(c)?;
            // Exact: the product of two `half`-bit lanes fits in `bits` bits, and wrapping
            // arithmetic mod 2^64 keeps its low `bits` bits.
            build(bits, |i| widen(lane(x, half, base + i), half, signed).wrapping_mul(widen(lane(y, half, base + i), half, signed)))
        }
        // Float lanes.
        0x67..=0x6a | 0x74 | 0x75 | 0x7a | 0x94 | 0xe0 | 0xe1 | 0xe3 | 0xec | 0xed | 0xef => {
            let (bits, scalar) = match n {
                0x67..=0x6a => (32, 0x8d + (n - 0x67)),
                0x74 => (64, 0x9b), // f64x2.ceil
                0x75 => (64, 0x9c), // f64x2.floor
                0x7a => (64, 0x9d), // f64x2.trunc
                0x94 => (64, 0x9e), // f64x2.nearest
                0xe0 => (32, 0x8b), // f32x4.abs
                0xe1 => (32, 0x8c), // f32x4.neg
                0xe3 => (32, 0x91), // f32x4.sqrt
                0xec => (64, 0x99), // f64x2.abs
                0xed => (64, 0x9a), // f64x2.neg
                _ => (64, 0x9f),
            };
            let v = pop(c)?;
            build(bits, |i| float_unary(scalar, lane(v, bits, i)))
        }
        0xe4..=0xeb | 0xf0..=0xf7 => {
            let (bits, k) = if n <= 0xeb { (32, n - 0xe4) } else { (64, n - 0xf0) };
            let (add, lt) = if bits == 32 { (0x92, 0x5d) } else { (0xa0, 0x63) };
            let y = pop(c)?;
            let x = pop(c)?;
            build(bits, |i| {
                let (a, b) = (lane(x, bits, i), lane(y, bits, i));
                match k {
                    // pmin: b < a ? b : a; pmax: a < b ? b : a (bit moves, no canonicalization).
                    6 => {
                        if float_binary(lt, b, a) != 0 {
                            b
                        } else {
                            a
                        }
                    }
                    7 => {
                        if float_binary(lt, a, b) != 0 {
                            b
                        } else {
                            a
                        }
                    }
                    _ => float_binary(add + k, a, b),
                }
            })
        }
        0x5e | 0x5f | 0xf8..=0xff => {
            let v = pop(c)?;
            // (result lane bits, source lane bits, scalar conversion); results past the source
            // lanes (the `_zero` forms) are zero.
            let (bits, src, scalar) = match n {
                0x5e => (32, 64, 0xb6),   // f32x4.demote_f64x2_zero
                0x5f => (64, 32, 0xbb),   // f64x2.promote_low_f32x4
                0xf8 => (32, 32, 0xfc00), // i32x4.trunc_sat_f32x4_s
                0xf9 => (32, 32, 0xfc01), // i32x4.trunc_sat_f32x4_u
                0xfa => (32, 32, 0xb2),   // f32x4.convert_i32x4_s
                0xfb => (32, 32, 0xb3),   // f32x4.convert_i32x4_u
                0xfc => (32, 64, 0xfc02), // i32x4.trunc_sat_f64x2_s_zero
                0xfd => (32, 64, 0xfc03), // i32x4.trunc_sat_f64x2_u_zero
                0xfe => (64, 32, 0xb7),   // f64x2.convert_low_i32x4_s
                _ => (64, 32, 0xb8),
            };
            build(bits, |i| if i < 128 / src { float_unary(scalar, lane(v, src, i)) } else { 0 })
        }
        _ => return Err(c.malformed("opcode")),
    };
    push(c, r)?;
    Ok(Ok(()))
}

/// A scalar float or conversion op of [`numeric::unary`] on one lane (none of them trap).
#[inline]
fn float_unary(op: u16, x: u64) -> u64 {
    numeric::unary(op, x).unwrap_or(0)
}

/// A scalar float op of [`numeric::binary`] on one lane (none of them trap).
#[inline]
fn float_binary(op: u16, x: u64, y: u64) -> u64 {
    numeric::binary(op, x, y).unwrap_or(0)
}

/// Loads and stores: effective address `pop() + a`, bounds-checked over the bytes accessed.
fn memory<C: StepContext>(c: &mut C, n: u16, ins: Instr) -> Result<Result<(), Trap>, C::Error> {
    let pages = c.memory_pages() as u64 * PAGE;
    let mut buf = [0u8; 32];
    match n {
        0x0b => {
            // v128.store
            let v = pop(c)?;
            let addr = c.pop()? as u32 as u64 + ins.a as u64;
            if addr + 16 > pages {
                return Ok(Err(Trap::MemoryOutOfBounds));
            }
            c.write(addr, &v.to_le_bytes())?;
        }
        // Lane loads (0x54..=0x57) and stores (0x58..=0x5b): pop the vector, then the address.
        0x54..=0x5b => {
            let store = n >= 0x58;
            let bits = 8u32 << ((n - 0x54) % 4);
            if ins.b >= 128 / bits {
                return Err(c.malformed("lane index"));
            }
            let v = pop(c)?;
            let addr = c.pop()? as u32 as u64 + ins.a as u64;
            let len = bits as usize / 8;
            if addr + len as u64 > pages {
                return Ok(Err(Trap::MemoryOutOfBounds));
            }
            if store {
                c.write(addr, &lane(v, bits, ins.b).to_le_bytes()[..len])?;
            } else {
                c.read(addr, len, &mut buf)?;
                push(c, with_lane(v, bits, ins.b, le(&buf[..len])))?;
            }
        }
        _ => {
            let len: usize = match n {
                0x00 => 16, // v128.load
                0x01..=0x06 | 0x0a | 0x5d => 8,
                0x07 => 1, // v128.load8_splat
                0x08 => 2, // v128.load16_splat
                _ => 4,
            };
            let addr = c.pop()? as u32 as u64 + ins.a as u64;
            if addr + len as u64 > pages {
                return Ok(Err(Trap::MemoryOutOfBounds));
            }
            c.read(addr, len, &mut buf)?;
            let raw = u128::from_le_bytes(buf[..16].try_into().unwrap_or([0; 16]));
            let raw = if len == 16 { raw } else { raw & ((1u128 << (8 * len)) - 1) };
            let v = match n {
                0x01..=0x06 => {
                    // loadNxM: M lanes of N bits, extended to 2N bits.
                    let half = 8u32 << ((n - 1) / 2);
                    let signed = n % 2 == 1;
                    build(half * 2, |i| widen(lane(raw, half, i), half, signed))
                }
                0x07..=0x0a => build(8 * len as u32, |_| raw as u64),
                _ => raw,
            };
            push(c, v)?;
        }
    }
    Ok(Ok(()))
}

/// Little-endian integer from up to 8 bytes.
fn le(b: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(raw)
}
