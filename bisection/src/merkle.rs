//! keccak256 4-ary Merkle trees over 32-byte leaves (`spec/machine.md`, "Merkle trees").
//!
//! Leaves are the raw 32 bytes (no leaf hash); an inner node is `keccak256(c0 ‖ c1 ‖ c2 ‖ c3)`:
//! 128 bytes, one keccak-f permutation, so a 4-ary tree costs a third of the permutations of a
//! binary one over the same leaves. Every tree has a fixed depth known to the verifier, so a leaf
//! can never be confused with a node. The memory tree is updated incrementally: only 128-byte
//! groups that differ from a shadow copy are rehashed, with their ancestors.

use rayon::prelude::*;

/// A 32-byte hash or leaf.
pub type Hash32 = [u8; 32];

/// Children per inner node.
pub const ARITY: usize = 4;
/// Leaf size in bytes.
pub const LEAF_BYTES: usize = 32;
/// Depth of the memory tree: 4^14 leaves of 32 bytes (8 GiB) cover the 4 GiB wasm32 address
/// space, so `memory.grow` changes a size field, never the tree's shape.
pub const MEMORY_DEPTH: usize = 14;
/// The OS page: the unit of dirty tracking.
const PAGE: usize = 4096;
/// The incremental unit: one level-4 subtree (4^4 leaves). An implementation detail; the root
/// does not depend on it.
const CHUNK: usize = 8192;
/// Tree levels inside one chunk: level 1 (128 bytes) .. level 4 (8 KiB).
const CHUNK_LEVELS: usize = 4;
/// Inner nodes per chunk: 64 + 16 + 4 + 1.
const CHUNK_NODES: usize = 85;
/// Offset of each in-chunk level (1..=4) in a chunk's node array.
const LEVEL_OFFSET: [usize; CHUNK_LEVELS + 1] = [0, 0, 64, 80, 84];

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> Hash32 {
    keccak_asm::Keccak256::digest(data).into()
}

/// The inner-node hash `keccak256(c0 ‖ c1 ‖ c2 ‖ c3)`.
pub fn hash_node(children: &[Hash32]) -> Hash32 {
    debug_assert_eq!(children.len(), ARITY);
    keccak256(&concat4(children))
}

/// keccak256 of each 128-byte message, eight or four at a time where the CPU allows
/// ([`crate::keccak4`]).
pub fn hash_many(msgs: &[&[u8; 128]]) -> Vec<Hash32> {
    let mut out = Vec::with_capacity(msgs.len());
    for group in msgs.chunks(8) {
        let pick = |k: usize| group.get(k).copied().unwrap_or(group[0]);
        if group.len() > 4 {
            let h = crate::keccak4::hash128_x8([pick(0), pick(1), pick(2), pick(3), pick(4), pick(5), pick(6), pick(7)]);
            out.extend_from_slice(&h[..group.len()]);
        } else {
            let h = crate::keccak4::hash128_x4([pick(0), pick(1), pick(2), pick(3)]);
            out.extend_from_slice(&h[..group.len()]);
        }
    }
    out
}

fn concat4(children: &[Hash32]) -> [u8; 128] {
    let mut buf = [0u8; 128];
    for (k, c) in children.iter().enumerate() {
        buf[32 * k..32 * (k + 1)].copy_from_slice(c);
    }
    buf
}

/// `ZERO[h]` is the root of a height-`h` tree whose leaves are all zero.
pub fn zero_hashes() -> &'static [Hash32; MEMORY_DEPTH + 1] {
    static ZERO: std::sync::OnceLock<[Hash32; MEMORY_DEPTH + 1]> = std::sync::OnceLock::new();
    ZERO.get_or_init(|| {
        let mut z = [[0u8; 32]; MEMORY_DEPTH + 1];
        for h in 1..=MEMORY_DEPTH {
            z[h] = hash_node(&[z[h - 1]; ARITY]);
        }
        z
    })
}

/// `data` cut into 32-byte leaves, the last one zero-padded.
/// The 32-byte leaves of `data`, the last one zero-padded.
pub fn leaves(data: &[u8]) -> Vec<Hash32> {
    data.chunks(LEAF_BYTES)
        .map(|c| {
            let mut leaf = [0u8; 32];
            leaf[..c.len()].copy_from_slice(c);
            leaf
        })
        .collect()
}

/// One level up: groups of four, missing children are `zero` (the empty subtree of that height).
fn parent_level(level: &[Hash32], zero: &Hash32) -> Vec<Hash32> {
    let preimages: Vec<[u8; 128]> = level
        .chunks(ARITY)
        .map(|group| {
            let mut children = [*zero; ARITY];
            children[..group.len()].copy_from_slice(group);
            concat4(&children)
        })
        .collect();
    let refs: Vec<&[u8; 128]> = preimages.iter().collect();
    hash_many(&refs)
}

/// Root of the depth-`depth` tree over a list of leaves (zero-padded to `4^depth`).
pub fn root_of_leaves(leaves: Vec<Hash32>, depth: usize) -> Hash32 {
    let zero = zero_hashes();
    assert!(depth <= MEMORY_DEPTH, "tree depth {depth} above {MEMORY_DEPTH}");
    assert!(leaves.len() <= 1usize << (2 * depth), "{} leaves do not fit a depth-{depth} tree", leaves.len());
    let mut level = leaves;
    for h in 0..depth {
        if level.is_empty() {
            return zero[depth];
        }
        level = parent_level(&level, &zero[h]);
    }
    level.first().copied().unwrap_or(zero[depth])
}

/// Root of the depth-`depth` tree over `data` zero-padded to `4^depth` leaves.
pub fn root_of(data: &[u8], depth: usize) -> Hash32 {
    root_of_leaves(leaves(data), depth)
}

/// Smallest depth whose tree holds `count` leaves.
pub fn depth_for_leaves(count: usize) -> usize {
    let mut depth = 0;
    while (1usize << (2 * depth)) < count {
        depth += 1;
    }
    depth
}

/// Smallest depth whose tree holds `len` bytes.
pub fn depth_for(len: usize) -> usize {
    depth_for_leaves(len.div_ceil(LEAF_BYTES))
}

/// Proof for leaf `index` of the depth-`depth` tree over `data`: for each level bottom-up, the
/// three siblings in child order (the node's own position left out), `3 * depth` hashes.
pub fn proof_of(data: &[u8], depth: usize, index: usize) -> Vec<Hash32> {
    let zero = zero_hashes();
    let mut level = leaves(data);
    let mut idx = index;
    let mut path = Vec::with_capacity(3 * depth);
    for z in zero.iter().take(depth) {
        let first = idx & !(ARITY - 1);
        for k in first..first + ARITY {
            if k != idx {
                path.push(level.get(k).copied().unwrap_or(*z));
            }
        }
        level = parent_level(&level, z);
        idx /= ARITY;
    }
    path
}

/// Recomputes a root from a leaf, its index and the path of [`proof_of`].
pub fn root_from_proof(leaf: &Hash32, index: usize, path: &[Hash32]) -> Hash32 {
    let mut node = *leaf;
    let mut idx = index;
    for siblings in path.chunks(ARITY - 1) {
        let pos = idx % ARITY;
        let mut children = [[0u8; 32]; ARITY];
        let mut s = siblings.iter();
        for (k, child) in children.iter_mut().enumerate() {
            *child = if k == pos { node } else { s.next().copied().unwrap_or_default() };
        }
        node = hash_node(&children);
        idx /= ARITY;
    }
    node
}

/// A tree that keeps every level, for repeated proofs (the code, a blob, a frame's locals).
#[derive(Clone, Debug, Default)]
pub struct LevelTree {
    /// `levels[0]` are the leaves, `levels[depth]` holds the root; missing nodes are `Z[h]`.
    levels: Vec<Vec<Hash32>>,
}

impl LevelTree {
    /// Builds the depth-`depth` tree over `leaves` (zero-padded).
    pub fn build(leaves: Vec<Hash32>, depth: usize) -> LevelTree {
        let zero = zero_hashes();
        assert!(depth <= MEMORY_DEPTH, "tree depth {depth} above {MEMORY_DEPTH}");
        assert!(leaves.len() <= 1usize << (2 * depth), "{} leaves do not fit a depth-{depth} tree", leaves.len());
        let mut levels = vec![leaves];
        for h in 0..depth {
            let next = parent_level(&levels[h], &zero[h]);
            levels.push(next);
        }
        LevelTree { levels }
    }

    /// Depth.
    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }

    /// The root.
    pub fn root(&self) -> Hash32 {
        let d = self.depth();
        self.levels[d].first().copied().unwrap_or(zero_hashes()[d])
    }

    /// Leaf `index` (zero beyond the data).
    pub fn leaf(&self, index: usize) -> Hash32 {
        self.levels[0].get(index).copied().unwrap_or_default()
    }

    /// The proof for leaf `index`: three siblings per level, bottom-up.
    pub fn proof(&self, index: usize) -> Vec<Hash32> {
        let zero = zero_hashes();
        let mut path = Vec::with_capacity(3 * self.depth());
        let mut idx = index;
        for (level, z) in self.levels.iter().zip(zero.iter()).take(self.depth()) {
            let first = idx & !(ARITY - 1);
            for k in first..first + ARITY {
                if k != idx {
                    path.push(level.get(k).copied().unwrap_or(*z));
                }
            }
            idx /= ARITY;
        }
        path
    }

    /// Replaces leaf `index` and rehashes its ancestors.
    pub fn set(&mut self, index: usize, leaf: Hash32) {
        let zero = zero_hashes();
        let depth = self.depth();
        if self.levels[0].len() <= index {
            self.levels[0].resize(index + 1, zero[0]);
        }
        self.levels[0][index] = leaf;
        let mut idx = index;
        for h in 0..depth {
            let first = idx & !(ARITY - 1);
            let mut children = [zero[h]; ARITY];
            for (k, c) in children.iter_mut().enumerate() {
                if let Some(n) = self.levels[h].get(first + k) {
                    *c = *n;
                }
            }
            idx /= ARITY;
            if self.levels[h + 1].len() <= idx {
                self.levels[h + 1].resize(idx + 1, zero[h + 1]);
            }
            self.levels[h + 1][idx] = hash_node(&children);
        }
    }
}

/// The incrementally maintained memory tree of one machine.
#[derive(Clone)]
pub struct MemoryTree {
    /// Memory contents as of the last update.
    shadow: Vec<u8>,
    /// In-chunk nodes, [`CHUNK_NODES`] per 8 KiB chunk.
    chunk_nodes: Vec<Hash32>,
    /// `upper[k]` holds the nodes of level `CHUNK_LEVELS + 1 + k` that cover existing memory.
    upper: Vec<Vec<Hash32>>,
    /// Hashing statistics of the last update.
    last: UpdateStats,
}

/// What the last update did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpdateStats {
    /// 4 KiB pages whose contents changed.
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
        MemoryTree { shadow: Vec::new(), chunk_nodes: Vec::new(), upper: vec![Vec::new(); MEMORY_DEPTH - CHUNK_LEVELS], last: UpdateStats::default() }
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
        self.shadow.resize(len, 0);
        let old_chunks = self.chunk_nodes.len() / CHUNK_NODES;
        for _ in old_chunks..len / CHUNK {
            for (level, z) in zero.iter().enumerate().take(CHUNK_LEVELS + 1).skip(1) {
                let count = 1 << (2 * (CHUNK_LEVELS - level));
                self.chunk_nodes.extend(std::iter::repeat_n(*z, count));
            }
        }
        for (k, nodes) in self.upper.iter_mut().enumerate() {
            let level = CHUNK_LEVELS + 1 + k;
            let covers = LEAF_BYTES << (2 * level);
            nodes.resize(len.div_ceil(covers), zero[level]);
        }
    }

    /// Brings the tree up to date with `memory` (whose length is a multiple of 8 KiB and never
    /// shrinks) by comparing all of it with the shadow copy, and returns the memory root.
    pub fn update(&mut self, memory: &[u8]) -> Hash32 {
        self.update_from(memory.len(), |p| Some(&memory[p * PAGE..(p + 1) * PAGE]))
    }

    /// Like [`MemoryTree::update`], but trusts that only the 4 KiB pages listed in `dirty` (and
    /// pages added by growth) can differ from the shadow copy, e.g. as reported by
    /// the runner's dirty-page map.
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
        self.update_from(memory.len(), |p| mask[p].then(|| &memory[p * PAGE..(p + 1) * PAGE]))
    }

    /// Applies copies of written pages (`data` holds 4 KiB page `indices[k]` at `k * 4096`) to a
    /// memory now `memory_len` bytes long. Pages added by growth and not listed are zero.
    pub fn apply_pages(&mut self, memory_len: usize, indices: &[usize], data: &[u8]) -> Hash32 {
        let mut slot = vec![u32::MAX; memory_len / PAGE];
        for (k, &p) in indices.iter().enumerate() {
            if let Some(s) = slot.get_mut(p) {
                *s = k as u32;
            }
        }
        self.update_from(memory_len, |p| {
            let k = slot[p] as usize;
            (k != u32::MAX as usize).then(|| &data[k * PAGE..(k + 1) * PAGE])
        })
    }

    /// Rehashes what differs from the shadow in every 4 KiB page for which `page(p)` gives the
    /// current contents (pages it returns `None` for are unchanged).
    fn update_from<'a>(&mut self, memory_len: usize, page: impl Fn(usize) -> Option<&'a [u8]> + Sync) -> Hash32 {
        assert!(memory_len.is_multiple_of(CHUNK), "memory length {memory_len} is not a multiple of 8 KiB");
        assert!(memory_len >= self.shadow.len(), "wasm memory never shrinks");
        if memory_len > self.shadow.len() {
            self.grow_to(memory_len);
        }
        let changed: Vec<(usize, u64, u64)> = self
            .shadow
            .par_chunks_mut(CHUNK)
            .zip(self.chunk_nodes.par_chunks_mut(CHUNK_NODES))
            .enumerate()
            .filter_map(|(c, (shadow, nodes))| {
                let halves = [page(2 * c), page(2 * c + 1)];
                if halves.iter().all(Option::is_none) {
                    return None;
                }
                let (hashes, pages) = rehash_chunk(halves, shadow, nodes);
                (hashes > 0).then_some((c, hashes, pages))
            })
            .collect();
        let mut hashes: u64 = changed.iter().map(|c| c.1).sum();
        let dirty_pages: u64 = changed.iter().map(|c| c.2).sum();
        let mut dirty: Vec<usize> = changed.iter().map(|c| c.0).collect();
        let zero = zero_hashes();
        for k in 0..self.upper.len() {
            let level = CHUNK_LEVELS + 1 + k;
            let mut parents: Vec<usize> = dirty.iter().map(|i| i / ARITY).collect();
            parents.dedup();
            let preimages: Vec<[u8; 128]> = parents
                .iter()
                .map(|&p| {
                    let mut children = [zero[level - 1]; ARITY];
                    for (j, child) in children.iter_mut().enumerate() {
                        let i = ARITY * p + j;
                        let got = if k == 0 { self.chunk_nodes.get(i * CHUNK_NODES + CHUNK_NODES - 1) } else { self.upper[k - 1].get(i) };
                        if let Some(h) = got {
                            *child = *h;
                        }
                    }
                    concat4(&children)
                })
                .collect();
            let refs: Vec<&[u8; 128]> = preimages.iter().collect();
            for (&p, h) in parents.iter().zip(hash_many(&refs)) {
                self.upper[k][p] = h;
            }
            hashes += parents.len() as u64;
            dirty = parents;
        }
        self.last = UpdateStats { dirty_pages, hashes };
        self.root()
    }

    /// The node at `level` (0 = leaves) and `index`, as of the last update.
    fn node(&self, level: usize, index: usize) -> Hash32 {
        let zero = zero_hashes();
        match level {
            0 => self.shadow.get(index * LEAF_BYTES..(index + 1) * LEAF_BYTES).map_or(zero[0], |b| {
                let mut l = [0u8; 32];
                l.copy_from_slice(b);
                l
            }),
            1..=CHUNK_LEVELS => {
                let per_chunk = 1usize << (2 * (CHUNK_LEVELS - level));
                let (chunk, pos) = (index / per_chunk, index % per_chunk);
                self.chunk_nodes.get(chunk * CHUNK_NODES + LEVEL_OFFSET[level] + pos).copied().unwrap_or(zero[level])
            }
            _ => self.upper[level - CHUNK_LEVELS - 1].get(index).copied().unwrap_or(zero[level]),
        }
    }

    /// The proof for memory leaf `index` (bytes `32·index ..`), as of the last update.
    pub fn proof(&self, index: usize) -> Vec<Hash32> {
        let mut path = Vec::with_capacity(3 * MEMORY_DEPTH);
        let mut idx = index;
        for h in 0..MEMORY_DEPTH {
            let first = idx & !(ARITY - 1);
            for k in first..first + ARITY {
                if k != idx {
                    path.push(self.node(h, k));
                }
            }
            idx /= ARITY;
        }
        path
    }

    /// The current memory root (as of the last update).
    pub fn root(&self) -> Hash32 {
        self.upper.last().and_then(|top| top.first().copied()).unwrap_or(zero_hashes()[MEMORY_DEPTH])
    }
}

/// Rehashes the in-chunk nodes whose 128-byte groups differ between the given halves and the
/// shadow, and updates the shadow. Returns (hashes, pages that changed).
fn rehash_chunk(halves: [Option<&[u8]>; 2], shadow: &mut [u8], nodes: &mut [Hash32]) -> (u64, u64) {
    let mut pages = 0;
    // Bit i of `mask` marks node i of the current level as changed.
    let mut mask: u64 = 0;
    let mut msgs: Vec<&[u8; 128]> = Vec::new();
    let mut at: Vec<usize> = Vec::new();
    for (half, src) in halves.iter().enumerate() {
        let Some(src) = src else { continue };
        let old = &shadow[half * PAGE..(half + 1) * PAGE];
        if **src == *old {
            continue;
        }
        pages += 1;
        for (j, (new, old)) in src.chunks_exact(128).zip(old.chunks_exact(128)).enumerate() {
            if new != old {
                let i = half * (PAGE / 128) + j;
                mask |= 1 << i;
                at.push(i);
                msgs.push(new.try_into().expect("128-byte chunk"));
            }
        }
    }
    let mut hashes = msgs.len() as u64;
    for (i, h) in at.iter().zip(hash_many(&msgs)) {
        nodes[*i] = h;
    }
    for (half, src) in halves.iter().enumerate() {
        if let Some(src) = src {
            shadow[half * PAGE..(half + 1) * PAGE].copy_from_slice(src);
        }
    }
    for level in 2..=CHUNK_LEVELS {
        let count = 1 << (2 * (CHUNK_LEVELS - level));
        let (below, here) = (LEVEL_OFFSET[level - 1], LEVEL_OFFSET[level]);
        let changed: Vec<usize> = (0..count).filter(|p| mask & (0b1111 << (ARITY * p)) != 0).collect();
        let preimages: Vec<[u8; 128]> = changed.iter().map(|p| concat4(&nodes[below + ARITY * p..below + ARITY * (p + 1)])).collect();
        let refs: Vec<&[u8; 128]> = preimages.iter().collect();
        for (p, h) in changed.iter().zip(hash_many(&refs)) {
            nodes[here + p] = h;
        }
        hashes += changed.len() as u64;
        mask = changed.iter().fold(0, |m, p| m | 1 << p);
    }
    (hashes, pages)
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
    fn memory_tree_proofs_match_from_scratch() {
        let mem = pseudo_random(3 * 65536, 9);
        let mut tree = MemoryTree::new();
        let root = tree.update(&mem);
        for index in [0usize, 1, 255, 256, 4097, 6143, 6144, 1 << 20] {
            let path = tree.proof(index);
            assert_eq!(path, proof_of(&mem, MEMORY_DEPTH, index));
            let mut leaf = [0u8; 32];
            if let Some(b) = mem.get(index * 32..index * 32 + 32) {
                leaf.copy_from_slice(b);
            }
            assert_eq!(root_from_proof(&leaf, index, &path), root);
        }
    }

    #[test]
    fn proofs_verify() {
        let data = pseudo_random(1000, 3);
        let depth = depth_for(data.len());
        assert_eq!(depth, 3);
        let root = root_of(&data, depth);
        for index in [0usize, 7, 30, 31] {
            let mut leaf = [0u8; 32];
            let chunk = data.chunks(32).nth(index).unwrap_or(&[]);
            leaf[..chunk.len()].copy_from_slice(chunk);
            let path = proof_of(&data, depth, index);
            assert_eq!(root_from_proof(&leaf, index, &path), root);
            let level = LevelTree::build(leaves(&data), depth);
            assert_eq!(level.proof(index), path);
            assert_eq!(level.root(), root);
            leaf[0] ^= 1;
            assert_ne!(root_from_proof(&leaf, index, &path), root);
        }
    }
}
