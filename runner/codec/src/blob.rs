//! Blob ids (`spec/machine.md`): `keccak256("gavel.blob.v1" ‖ len u64 ‖ root)` where `root` is
//! the 4-ary keccak tree over the blob's 32-byte leaves. A portable implementation for the guest,
//! which names its own output with it; the host computes the same with SIMD hashing
//! (`gavel_bisection::state::blob_id`), and a test checks they agree.

const RC: [u64; 24] = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808a, 0x8000000080008000,
    0x000000000000808b, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008a, 0x0000000000000088, 0x0000000080008009, 0x000000008000000a,
    0x000000008000808b, 0x800000000000008b, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
];
const ROTC: [u32; 24] = [1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44];
const PILN: [usize; 24] = [10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1];

fn keccak_f(a: &mut [u64; 25]) {
    for rc in RC {
        let mut c = [0u64; 5];
        for x in 0..5 {
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        }
        for x in 0..5 {
            let d = c[(x + 4) % 5] ^ c[(x + 1) % 5].rotate_left(1);
            for y in 0..5 {
                a[x + 5 * y] ^= d;
            }
        }
        let mut t = a[1];
        for i in 0..24 {
            let j = PILN[i];
            let next = a[j];
            a[j] = t.rotate_left(ROTC[i]);
            t = next;
        }
        for y in 0..5 {
            let row = [a[5 * y], a[5 * y + 1], a[5 * y + 2], a[5 * y + 3], a[5 * y + 4]];
            for x in 0..5 {
                a[x + 5 * y] = row[x] ^ (!row[(x + 1) % 5] & row[(x + 2) % 5]);
            }
        }
        a[0] ^= rc;
    }
}

/// Ethereum's keccak256 (original Keccak padding).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    const RATE: usize = 136;
    let mut a = [0u64; 25];
    let absorb = |block: &[u8; RATE], a: &mut [u64; 25]| {
        for (i, w) in block.chunks_exact(8).enumerate() {
            a[i] ^= u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        }
        keccak_f(a);
    };
    let mut chunks = data.chunks_exact(RATE);
    for c in &mut chunks {
        let mut block = [0u8; RATE];
        block.copy_from_slice(c);
        absorb(&block, &mut a);
    }
    let rest = chunks.remainder();
    let mut block = [0u8; RATE];
    block[..rest.len()].copy_from_slice(rest);
    block[rest.len()] ^= 0x01;
    block[RATE - 1] ^= 0x80;
    absorb(&block, &mut a);
    let mut out = [0u8; 32];
    for (i, w) in a[..4].iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Smallest depth `d` with `4^d ≥ ceil(len / 32)` (0 for at most one leaf).
pub fn depth_for(len: usize) -> u32 {
    let leaves = len.div_ceil(32).max(1);
    let mut d = 0;
    while (1usize << (2 * d)) < leaves {
        d += 1;
    }
    d
}

/// Root of the depth-[`depth_for`] 4-ary keccak tree over the zero-padded 32-byte leaves.
pub fn blob_root(bytes: &[u8]) -> [u8; 32] {
    let depth = depth_for(bytes.len());
    let mut level: Vec<[u8; 32]> = bytes
        .chunks(32)
        .map(|c| {
            let mut l = [0u8; 32];
            l[..c.len()].copy_from_slice(c);
            l
        })
        .collect();
    if level.is_empty() {
        level.push([0u8; 32]);
    }
    let mut zero = [0u8; 32];
    for _ in 0..depth {
        let mut next = Vec::with_capacity(level.len().div_ceil(4));
        for group in level.chunks(4) {
            let mut pre = [0u8; 128];
            for (i, slot) in pre.chunks_exact_mut(32).enumerate() {
                slot.copy_from_slice(group.get(i).unwrap_or(&zero));
            }
            next.push(keccak256(&pre));
        }
        zero = keccak256(&[zero, zero, zero, zero].concat());
        level = next;
    }
    level[0]
}

/// `keccak256("gavel.blob.v1" ‖ len u64 ‖ blob_root(bytes))`.
pub fn blob_id(bytes: &[u8]) -> [u8; 32] {
    let mut pre = [0u8; 13 + 8 + 32];
    pre[..13].copy_from_slice(b"gavel.blob.v1");
    pre[13..21].copy_from_slice(&(bytes.len() as u64).to_be_bytes());
    pre[21..].copy_from_slice(&blob_root(bytes));
    keccak256(&pre)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn keccak_known_answers() {
        assert_eq!(hex(&keccak256(b"")), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
        assert_eq!(hex(&keccak256(b"abc")), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
        // Crosses the 136-byte rate.
        let long = vec![0x61u8; 200];
        let once = keccak256(&long);
        assert_ne!(once, keccak256(&long[..199]));
    }

    #[test]
    fn depths() {
        assert_eq!(depth_for(0), 0);
        assert_eq!(depth_for(32), 0);
        assert_eq!(depth_for(33), 1);
        assert_eq!(depth_for(128), 1);
        assert_eq!(depth_for(129), 2);
    }

    #[test]
    fn small_blob_root_is_the_blob() {
        let mut want = [0u8; 32];
        want[..3].copy_from_slice(b"abc");
        assert_eq!(blob_root(b"abc"), want);
    }
}
