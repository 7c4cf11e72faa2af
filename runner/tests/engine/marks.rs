//! The compiled code marks every page it writes in the memory's dirty-page map
//! (`runner/src/dirty.rs`): each store width, the v128 lane stores, `memory.fill`, `memory.copy`
//! and `memory.init`, at addresses that cross page boundaries. Every changed page is marked, and
//! nothing outside the written bytes' pages (plus the next page, for a store) is; a trapping
//! store and an empty bulk operation mark nothing.

use std::collections::BTreeSet;

use gavel_runner::dirty::{self, DirtyMap};
use wasmtime::{Instance, Memory, Store, Val};

const PAGE: usize = 4096;

const MARKS: &str = r#"(module
  (memory (export "mem") 2)
  (data $seg "\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\10\11\12\13\14")
  (func (export "i32.store8") (param i32) (i32.store8 (local.get 0) (i32.const -1)))
  (func (export "i32.store16") (param i32) (i32.store16 (local.get 0) (i32.const -1)))
  (func (export "i32.store") (param i32) (i32.store (local.get 0) (i32.const -1)))
  (func (export "i64.store8") (param i32) (i64.store8 (local.get 0) (i64.const -1)))
  (func (export "i64.store16") (param i32) (i64.store16 (local.get 0) (i64.const -1)))
  (func (export "i64.store32") (param i32) (i64.store32 (local.get 0) (i64.const -1)))
  (func (export "i64.store") (param i32) (i64.store (local.get 0) (i64.const -1)))
  (func (export "f32.store") (param i32) (f32.store (local.get 0) (f32.const -nan:0x7fffff)))
  (func (export "f64.store") (param i32) (f64.store (local.get 0) (f64.const -nan:0xfffffffffffff)))
  (func (export "i32.store@3") (param i32) (i32.store offset=3 (local.get 0) (i32.const -1)))
  (func (export "v128.store") (param i32) (v128.store (local.get 0) (v128.const i64x2 -1 -1)))
  (func (export "v128.store8_lane") (param i32) (v128.store8_lane 15 (local.get 0) (v128.const i64x2 -1 -1)))
  (func (export "v128.store16_lane") (param i32) (v128.store16_lane 7 (local.get 0) (v128.const i64x2 -1 -1)))
  (func (export "v128.store32_lane") (param i32) (v128.store32_lane 3 (local.get 0) (v128.const i64x2 -1 -1)))
  (func (export "v128.store64_lane") (param i32) (v128.store64_lane 1 (local.get 0) (v128.const i64x2 -1 -1)))
  (func (export "fill") (param i32 i32) (memory.fill (local.get 0) (i32.const 255) (local.get 1)))
  (func (export "copy") (param i32 i32) (memory.copy (local.get 0) (i32.const 65536) (local.get 1)))
  (func (export "init") (param i32 i32) (memory.init $seg (local.get 0) (i32.const 0) (local.get 1)))
  (func (export "seq") (param i32)
    (i32.store8 (local.get 0) (i32.const -1))
    (i32.store8 offset=4000 (local.get 0) (i32.const -1))
    (i32.store offset=4094 (local.get 0) (i32.const -1))
    (i64.store offset=2 (local.get 0) (i64.const -1))
    (v128.store offset=8180 (local.get 0) (v128.const i64x2 -1 -1)))
  (func (export "loop") (param $at i32) (param $n i32)
    (loop $l
      (i32.store (local.get $at) (i32.const -1))
      (local.set $at (i32.add (local.get $at) (i32.const 4)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))"#;

struct Guest {
    store: Store<()>,
    instance: Instance,
    mem: Memory,
    map: DirtyMap,
}

impl Guest {
    fn new() -> Guest {
        let (engine, module) = crate::compile(MARKS);
        let mut store = Store::new(&engine, ());
        store.set_fuel(u64::MAX / 2).expect("fuel is on");
        let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
        let mem = instance.get_memory(&mut store, "mem").expect("memory export");
        let mut map = DirtyMap::of(mem.data_ptr(&store)).expect("a memory of the deterministic engine has a dirty-page map");
        map.clear(mem.data_size(&store));
        Guest { store, instance, mem, map }
    }

    /// Calls `f(args)` on fresh memory contents; returns the pages it changed, the pages marked,
    /// and whether it trapped.
    fn call(&mut self, f: &str, args: &[i32]) -> (BTreeSet<usize>, BTreeSet<usize>, bool) {
        // Memory back to zero, except the source of `copy` (page 16 on), and no marks.
        let size = self.mem.data_size(&self.store);
        let data = self.mem.data_mut(&mut self.store);
        data[..65536].fill(0);
        data[65536..].fill(0x5a);
        self.map.clear(size);
        let before = self.mem.data(&self.store).to_vec();
        let func = self.instance.get_func(&mut self.store, f).unwrap_or_else(|| panic!("no export {f}"));
        let args: Vec<Val> = args.iter().map(|&a| Val::I32(a)).collect();
        let trapped = func.call(&mut self.store, &args, &mut []).is_err();
        let after = self.mem.data(&self.store);
        let changed = (0..size / PAGE).filter(|p| before[p * PAGE..(p + 1) * PAGE] != after[p * PAGE..(p + 1) * PAGE]).collect();
        let mut marked = Vec::new();
        assert!(self.map.take(size, &mut marked), "the guest's memory is a live pool memory");
        (changed, marked.into_iter().collect(), trapped)
    }
}

fn pages(from: usize, to_inclusive: usize) -> BTreeSet<usize> {
    (from..=to_inclusive).collect()
}

#[test]
fn every_store_width_marks_the_pages_it_writes() {
    let mut g = Guest::new();
    let stores: [(&str, usize); 15] = [
        ("i32.store8", 1),
        ("i32.store16", 2),
        ("i32.store", 4),
        ("i64.store8", 1),
        ("i64.store16", 2),
        ("i64.store32", 4),
        ("i64.store", 8),
        ("f32.store", 4),
        ("f64.store", 8),
        ("v128.store", 16),
        ("v128.store8_lane", 1),
        ("v128.store16_lane", 2),
        ("v128.store32_lane", 4),
        ("v128.store64_lane", 8),
        ("i32.store@3", 4),
    ];
    for (f, width) in stores {
        let offset = if f.ends_with("@3") { 3 } else { 0 };
        // Inside a page, ending exactly at a page's end, and crossing into the next page.
        for at in [5 * PAGE + 100, 6 * PAGE - width - offset, 7 * PAGE - 1 - offset, 8 * PAGE - width / 2 - offset] {
            let (changed, marked, trapped) = g.call(f, &[at as i32]);
            assert!(!trapped, "{f} at {at} trapped");
            let (first, last) = ((at + offset) / PAGE, (at + offset + width - 1) / PAGE);
            assert_eq!(changed, pages(first, last), "{f} at {at}: the test's own expectation");
            assert!(marked.is_superset(&changed), "{f} at {at}: changed {changed:?}, marked {marked:?}");
            let allowed = pages(first, last + 1);
            assert!(marked.is_subset(&allowed), "{f} at {at}: marked {marked:?} beyond {allowed:?}");
        }
    }
    // A store in the last page of memory marks it (and the map's next byte, past the memory).
    let last = g.mem.data_size(&g.store) - 8;
    let (changed, marked, _) = g.call("i64.store", &[last as i32]);
    assert_eq!(changed, pages(last / PAGE, last / PAGE));
    assert!(marked.is_superset(&changed));
}

#[test]
fn a_trapping_store_marks_nothing() {
    let mut g = Guest::new();
    let size = g.mem.data_size(&g.store);
    for (f, at) in [("i32.store", size - 2), ("v128.store", size - 8), ("i32.store8", size)] {
        let (changed, marked, trapped) = g.call(f, &[at as i32]);
        assert!(trapped, "{f} at {at} past the end of memory must trap");
        assert!(changed.is_empty() && marked.is_empty(), "{f} at {at}: changed {changed:?}, marked {marked:?}");
    }
}

#[test]
fn bulk_operations_mark_every_page_of_their_destination() {
    let mut g = Guest::new();
    for f in ["fill", "copy"] {
        for (at, len) in [(100, 8), (PAGE - 3, 6), (2 * PAGE + 17, 3 * PAGE), (3 * PAGE, PAGE), (9 * PAGE - 1, 1)] {
            let (changed, marked, trapped) = g.call(f, &[at as i32, len as i32]);
            assert!(!trapped, "{f} {at}+{len} trapped");
            let expected = pages(at / PAGE, (at + len - 1) / PAGE);
            assert_eq!(changed, expected, "{f} {at}+{len}: the test's own expectation");
            assert_eq!(marked, expected, "{f} {at}+{len}");
        }
        let (changed, marked, trapped) = g.call(f, &[5 * PAGE as i32, 0]);
        assert!(!trapped && changed.is_empty() && marked.is_empty(), "{f} of length 0 marked {marked:?}");
    }
    for (at, len) in [(PAGE - 10, 20), (4 * PAGE, 1)] {
        let (changed, marked, trapped) = g.call("init", &[at as i32, len as i32]);
        assert!(!trapped);
        let expected = pages(at / PAGE, (at + len - 1) / PAGE);
        assert_eq!(changed, expected);
        assert_eq!(marked, expected, "memory.init {at}+{len}");
    }
    // Out of bounds: traps before writing anything, marks nothing.
    let size = g.mem.data_size(&g.store);
    let (_, marked, trapped) = g.call("fill", &[(size - 4) as i32, 8]);
    assert!(trapped && marked.is_empty());
}

/// Stores from one address value in one block share marks where one mark's two pages cover
/// them (`gavel_mark_store`); every page they change is still marked.
#[test]
fn a_sequence_of_stores_from_one_address_marks_every_page_it_changes() {
    let mut g = Guest::new();
    for at in [0, 100, PAGE - 1, PAGE - 2, 2 * PAGE - 4000, 2 * PAGE - 4094, 3 * PAGE - 4097, 3 * PAGE - 8180, 4 * PAGE - 8190] {
        let (changed, marked, trapped) = g.call("seq", &[at as i32]);
        assert!(!trapped, "seq at {at} trapped");
        let (first, last) = (at / PAGE, (at + 8180 + 15) / PAGE);
        assert!(!changed.is_empty());
        assert!(marked.is_superset(&changed), "seq at {at}: changed {changed:?}, marked {marked:?}");
        assert!(marked.is_subset(&pages(first, last + 1)), "seq at {at}: marked {marked:?}");
    }
}

#[test]
fn a_loop_of_stores_marks_each_page_it_crosses() {
    let mut g = Guest::new();
    let (at, n) = (PAGE + 8, 3 * PAGE / 4);
    let (changed, marked, trapped) = g.call("loop", &[at as i32, n as i32]);
    assert!(!trapped);
    let end = at + 4 * n - 1;
    assert_eq!(changed, pages(at / PAGE, end / PAGE));
    assert!(marked.is_superset(&changed) && marked.is_subset(&pages(at / PAGE, end / PAGE + 1)), "marked {marked:?}");
}

#[test]
fn host_writes_are_marked_and_other_memories_have_no_map() {
    let mut g = Guest::new();
    let size = g.mem.data_size(&g.store);
    dirty::mark(g.mem.data_ptr(&g.store), 3 * PAGE - 1, 2);
    let mut marked = Vec::new();
    assert!(g.map.take(size, &mut marked));
    assert_eq!(marked, vec![2, 3]);
    // A second take finds the marks cleared.
    marked.clear();
    assert!(g.map.take(size, &mut marked));
    assert!(marked.is_empty());
    // A memory that is not one of the deterministic engine's has no map.
    let mut plain = vec![0u8; 2 * PAGE];
    assert!(DirtyMap::of(plain.as_mut_ptr()).is_none());
}
