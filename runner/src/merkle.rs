//! keccak256 binary Merkle trees over 32-byte leaves (`spec/machine.md`, "Merkle trees").
//!
//! Leaves are the raw 32 bytes (no leaf hash); an inner node is `keccak256(left ‖ right)`. Every
//! tree here has a fixed depth known to the verifier, so a leaf can never be confused with a node.
//! The memory tree is updated incrementally: a shadow copy of memory tells which 64-byte pairs
//! changed since the last root, and only their ancestors are rehashed.

use rayon::prelude::*;

/// A 32-byte hash or leaf.
pub type Hash32 = [u8; 32];

/// Leaf size in bytes.
pub const LEAF_BYTES: usize = 32;
/// Depth of the memory tree: 2^27 leaves of 32 bytes cover the 4 GiB wasm32 address space, so
/// `memory.grow` changes a size field, never the tree's shape.
pub const MEMORY_DEPTH: usize = 27;
/// Bytes covered by one tracked page (the incremental unit; an implementation detail, not part of
/// the spec: the root does not depend on it).
const PAGE: usize = 4096;
/// Tree levels inside one page: level 1 (64 bytes) .. level 7 (4096 bytes).
const PAGE_LEVELS: usize = 7;
/// Inner nodes per page: 64 + 32 + 16 + 8 + 4 + 2 + 1.
const PAGE_NODES: usize = 127;
/// Offset of each in-page level (1..=7) in a page's node array.
const LEVEL_OFFSET: [usize; PAGE_LEVELS + 1] = [0, 0, 64, 96, 112, 120, 124, 126];

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> Hash32 {
    keccak_asm::Keccak256::digest(data).into()
}

/// The inner-node hash `keccak256(left ‖ right)`.
pub fn hash_pair(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left);
    buf[32..].copy_from_slice(right);
    keccak256(&buf)
}

/// `ZERO[h]` is the root of a height-`h` tree whose leaves are all zero.
pub fn zero_hashes() -> &'static [Hash32; MEMORY_DEPTH + 1] {
    static ZERO: std::sync::OnceLock<[Hash32; MEMORY_DEPTH + 1]> = std::sync::OnceLock::new();
    ZERO.get_or_init(|| {
        let mut z = [[0u8; 32]; MEMORY_DEPTH + 1];
        for h in 1..=MEMORY_DEPTH {
            z[h] = hash_pair(&z[h - 1], &z[h - 1]);
        }
        z
    })
}

/// `data` cut into 32-byte leaves, the last one zero-padded.
fn leaves(data: &[u8]) -> Vec<Hash32> {
    data.chunks(LEAF_BYTES)
        .map(|c| {
            let mut leaf = [0u8; 32];
            leaf[..c.len()].copy_from_slice(c);
            leaf
        })
        .collect()
}

/// Root of the depth-`depth` tree over `data` zero-padded to `2^depth` leaves.
pub fn root_of(data: &[u8], depth: usize) -> Hash32 {
    let zero = zero_hashes();
    assert!(depth <= MEMORY_DEPTH, "tree depth {depth} above {MEMORY_DEPTH}");
    assert!(data.len() <= LEAF_BYTES << depth, "data of {} bytes does not fit a depth-{depth} tree", data.len());
    let mut level = leaves(data);
    for h in 0..depth {
        if level.is_empty() {
            return zero[depth];
        }
        level = level
            .chunks(2)
            .map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&zero[h])))
            .collect();
    }
    level.first().copied().unwrap_or(zero[depth])
}

/// Smallest depth whose tree holds `len` bytes.
pub fn depth_for(len: usize) -> usize {
    let leaves = len.div_ceil(LEAF_BYTES).max(1);
    leaves.next_power_of_two().trailing_zeros() as usize
}

/// Sibling path from leaf `index` to the root of the depth-`depth` tree over `data`, bottom-up.
pub fn proof_of(data: &[u8], depth: usize, index: usize) -> Vec<Hash32> {
    let zero = zero_hashes();
    let mut level = leaves(data);
    let mut idx = index;
    let mut path = Vec::with_capacity(depth);
    for h in 0..depth {
        path.push(level.get(idx ^ 1).copied().unwrap_or(zero[h]));
        level = level.chunks(2).map(|p| hash_pair(&p[0], p.get(1).unwrap_or(&zero[h]))).collect();
        idx >>= 1;
    }
    path
}

/// Recomputes a root from a leaf and its bottom-up sibling path.
pub fn root_from_proof(leaf: &Hash32, index: usize, path: &[Hash32]) -> Hash32 {
    let mut node = *leaf;
    for (h, sibling) in path.iter().enumerate() {
        node = if (index >> h) & 1 == 0 { hash_pair(&node, sibling) } else { hash_pair(sibling, &node) };
    }
    node
}

/// The incrementally maintained memory tree of one machine.
#[derive(Clone)]
pub struct MemoryTree {
    /// Memory contents as of the last [`MemoryTree::update`].
    shadow: Vec<u8>,
    /// In-page nodes, [`PAGE_NODES`] per page.
    page_nodes: Vec<Hash32>,
    /// `upper[k]` holds the nodes of level `PAGE_LEVELS + 1 + k` that cover existing memory.
    upper: Vec<Vec<Hash32>>,
    /// Hashing statistics of the last update.
    last: UpdateStats,
}

/// What the last update did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpdateStats {
    /// Pages (4 KiB) whose contents changed.
    pub dirty_pages: u64,
    /// keccak256 calls made.
    pub hashes: u64,
}

impl Default for MemoryTree {
    fn default() -> Self {
        MemoryTree::new()
    }
}

impl MemoryTree {
    /// A tree over empty memory.
    pub fn new() -> MemoryTree {
        MemoryTree {
            shadow: Vec::new(),
            page_nodes: Vec::new(),
            upper: vec![Vec::new(); MEMORY_DEPTH - PAGE_LEVELS],
            last: UpdateStats::default(),
        }
    }

    /// Statistics of the last update.
    pub fn last_update(&self) -> UpdateStats {
        self.last
    }

    /// Bytes of memory tracked.
    pub fn len(&self) -> usize {
        self.shadow.len()
    }

    /// True before any memory was seen.
    pub fn is_empty(&self) -> bool {
        self.shadow.is_empty()
    }

    fn grow_to(&mut self, len: usize) {
        let zero = zero_hashes();
        let pages = len / PAGE;
        self.shadow.resize(len, 0);
        let old_pages = self.page_nodes.len() / PAGE_NODES;
        for _ in old_pages..pages {
            for level in 1..=PAGE_LEVELS {
                let count = PAGE >> (level + 5);
                self.page_nodes.extend(std::iter::repeat_n(zero[level], count));
            }
        }
        for (k, nodes) in self.upper.iter_mut().enumerate() {
            let level = PAGE_LEVELS + 1 + k;
            let want = len.div_ceil(LEAF_BYTES << level);
            nodes.resize(want, zero[level]);
        }
    }

    /// Brings the tree up to date with `memory` (whose length is a multiple of 4 KiB and never
    /// shrinks) by comparing every page with the shadow copy, and returns the memory root.
    pub fn update(&mut self, memory: &[u8]) -> Hash32 {
        self.update_from(memory.len(), |i| Some(&memory[i * PAGE..(i + 1) * PAGE]))
    }

    /// Like [`MemoryTree::update`], but trusts that only the 4 KiB pages listed in `dirty` (and
    /// pages added by growth) can differ from the shadow copy, e.g. as reported by
    /// [`crate::dirty::DirtyTracker`].
    pub fn update_pages(&mut self, memory: &[u8], dirty: &[usize]) -> Hash32 {
        let old_pages = self.shadow.len() / PAGE;
        let mut mask = vec![false; memory.len() / PAGE];
        for &p in dirty {
            if let Some(m) = mask.get_mut(p) {
                *m = true;
            }
        }
        for m in mask.iter_mut().skip(old_pages) {
            *m = true;
        }
        self.update_from(memory.len(), |i| mask[i].then(|| &memory[i * PAGE..(i + 1) * PAGE]))
    }

    /// Applies copies of written pages (`data` holds page `indices[k]` at `k * 4096`) to a memory
    /// now `memory_len` bytes long. Pages added by growth and not listed are zero.
    pub fn apply_pages(&mut self, memory_len: usize, indices: &[usize], data: &[u8]) -> Hash32 {
        let mut slot = vec![u32::MAX; memory_len / PAGE];
        for (k, &p) in indices.iter().enumerate() {
            if let Some(s) = slot.get_mut(p) {
                *s = k as u32;
            }
        }
        self.update_from(memory_len, |i| {
            let k = slot[i] as usize;
            (k != u32::MAX as usize).then(|| &data[k * PAGE..(k + 1) * PAGE])
        })
    }

    /// Rehashes every page for which `page(i)` gives contents that differ from the shadow.
    fn update_from<'a>(&mut self, memory_len: usize, page: impl Fn(usize) -> Option<&'a [u8]> + Sync) -> Hash32 {
        assert!(memory_len % PAGE == 0, "memory length {memory_len} is not page aligned");
        assert!(memory_len >= self.shadow.len(), "wasm memory never shrinks");
        if memory_len > self.shadow.len() {
            self.grow_to(memory_len);
        }
        let changed: Vec<(usize, u64)> = self
            .shadow
            .par_chunks_mut(PAGE)
            .zip(self.page_nodes.par_chunks_mut(PAGE_NODES))
            .enumerate()
            .filter_map(|(i, (shadow, nodes))| {
                let mem = page(i)?;
                if mem == shadow {
                    return None;
                }
                let hashes = rehash_page(mem, shadow, nodes);
                shadow.copy_from_slice(mem);
                Some((i, hashes))
            })
            .collect();
        let mut hashes: u64 = changed.iter().map(|c| c.1).sum();
        let mut dirty: Vec<usize> = changed.iter().map(|c| c.0).collect();
        let zero = zero_hashes();
        // Level PAGE_LEVELS + 1 reads page roots; above it, the previous upper level.
        for k in 0..self.upper.len() {
            let level = PAGE_LEVELS + 1 + k;
            let mut parents: Vec<usize> = dirty.iter().map(|i| i / 2).collect();
            parents.dedup();
            for &p in &parents {
                let (l, r) = if k == 0 {
                    let root = |i: usize| {
                        self.page_nodes.get(i * PAGE_NODES + PAGE_NODES - 1).copied().unwrap_or(zero[PAGE_LEVELS])
                    };
                    (root(2 * p), root(2 * p + 1))
                } else {
                    let below = &self.upper[k - 1];
                    let get = |i: usize| below.get(i).copied().unwrap_or(zero[level - 1]);
                    (get(2 * p), get(2 * p + 1))
                };
                self.upper[k][p] = hash_pair(&l, &r);
                hashes += 1;
            }
            dirty = parents;
        }
        self.last = UpdateStats { dirty_pages: changed.len() as u64, hashes };
        self.root()
    }

    /// The current memory root (as of the last update).
    pub fn root(&self) -> Hash32 {
        self.upper.last().and_then(|top| top.first().copied()).unwrap_or(zero_hashes()[MEMORY_DEPTH])
    }
}

/// Rehashes the in-page nodes whose 64-byte ranges differ between `mem` and `shadow`.
fn rehash_page(mem: &[u8], shadow: &[u8], nodes: &mut [Hash32]) -> u64 {
    let mut hashes = 0;
    // Bit i of `mask` marks node i of the current level as changed.
    let mut mask: u64 = 0;
    for i in 0..64 {
        let r = i * 64..(i + 1) * 64;
        if mem[r.clone()] != shadow[r.clone()] {
            nodes[i] = keccak256(&mem[r]);
            hashes += 1;
            mask |= 1 << i;
        }
    }
    for level in 2..=PAGE_LEVELS {
        let count = PAGE >> (level + 5);
        let (below, here) = (LEVEL_OFFSET[level - 1], LEVEL_OFFSET[level]);
        let mut next = 0u64;
        for p in 0..count {
            if mask & (0b11 << (2 * p)) != 0 {
                nodes[here + p] = hash_pair(&nodes[below + 2 * p], &nodes[below + 2 * p + 1]);
                hashes += 1;
                next |= 1 << p;
            }
        }
        mask = next;
    }
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn empty_memory_root_is_zero_tree() {
        let mut t = MemoryTree::new();
        assert_eq!(t.update(&[]), zero_hashes()[MEMORY_DEPTH]);
        assert_eq!(t.update(&vec![0u8; 65536]), zero_hashes()[MEMORY_DEPTH]);
    }

    #[test]
    fn incremental_equals_from_scratch() {
        let mut mem = pseudo_random(3 * 65536, 1);
        let mut t = MemoryTree::new();
        assert_eq!(t.update(&mem), root_of(&mem, MEMORY_DEPTH));
        // Touch a few scattered bytes, then grow.
        for (i, at) in [5usize, 4095, 4096, 70_000, 196_607].iter().enumerate() {
            mem[*at] ^= 0x5a + i as u8;
        }
        assert_eq!(t.update(&mem), root_of(&mem, MEMORY_DEPTH));
        assert_eq!(t.last_update().dirty_pages, 4);
        mem.extend(pseudo_random(65536, 2));
        assert_eq!(t.update(&mem), root_of(&mem, MEMORY_DEPTH));
        assert_eq!(t.update(&mem), root_of(&mem, MEMORY_DEPTH));
        assert_eq!(t.last_update(), UpdateStats { dirty_pages: 0, hashes: 0 });
    }

    #[test]
    fn applied_page_copies_equal_full_update() {
        let mut mem = pseudo_random(2 * 65536, 4);
        let mut live = MemoryTree::new();
        let mut copied = MemoryTree::new();
        live.update(&mem);
        copied.update(&mem);
        mem[100] ^= 1;
        mem[9000] ^= 2;
        mem.extend(std::iter::repeat_n(0u8, 65536));
        mem[2 * 65536 + 5] = 7;
        let written = [0usize, 2, 32];
        let data: Vec<u8> = written.iter().flat_map(|p| mem[p * 4096..(p + 1) * 4096].to_vec()).collect();
        assert_eq!(copied.apply_pages(mem.len(), &written, &data), live.update(&mem));
        assert_eq!(copied.root(), root_of(&mem, MEMORY_DEPTH));
    }

    #[test]
    fn proofs_verify() {
        let data = pseudo_random(1000, 3);
        let depth = depth_for(data.len());
        assert_eq!(depth, 5);
        let root = root_of(&data, depth);
        for index in [0usize, 7, 31] {
            let mut leaf = [0u8; 32];
            let chunk = data.chunks(32).nth(index).unwrap_or(&[]);
            leaf[..chunk.len()].copy_from_slice(chunk);
            let path = proof_of(&data, depth, index);
            assert_eq!(root_from_proof(&leaf, index, &path), root);
            leaf[0] ^= 1;
            assert_ne!(root_from_proof(&leaf, index, &path), root);
        }
    }
}
