//! Guest memories come from a pool that keeps their pages (`runner/src/pool.rs`): a memory a
//! finished instance gave back is all zeros for the next one, bounded at its new size, and still
//! grows, and the pool survives more memories at once than it keeps.

use wasmtime::{Instance, Memory, Store, Trap, TypedFunc};

const PAGE: usize = 65536;

const MEM: &str = r#"(module
  (memory (export "mem") 1)
  (func (export "poke") (param $a i32) (param $v i32) (i32.store (local.get $a) (local.get $v)))
  (func (export "peek") (param $a i32) (result i32) (i32.load (local.get $a)))
  (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n))))"#;

struct Guest {
    store: Store<()>,
    mem: Memory,
    poke: TypedFunc<(i32, i32), ()>,
    peek: TypedFunc<i32, i32>,
    grow: TypedFunc<i32, i32>,
}

fn guest(engine: &wasmtime::Engine, module: &wasmtime::Module) -> Guest {
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX / 2).expect("fuel is on");
    let instance = Instance::new(&mut store, module, &[]).expect("instantiate");
    let mem = instance.get_memory(&mut store, "mem").expect("memory export");
    let poke = instance.get_typed_func(&mut store, "poke").expect("poke");
    let peek = instance.get_typed_func(&mut store, "peek").expect("peek");
    let grow = instance.get_typed_func(&mut store, "grow").expect("grow");
    Guest { store, mem, poke, peek, grow }
}

fn out_of_bounds(g: &mut Guest, addr: usize) -> bool {
    let err = g.peek.call(&mut g.store, addr as i32).expect_err("load past the end of memory");
    err.downcast_ref::<Trap>() == Some(&Trap::MemoryOutOfBounds)
}

#[test]
fn a_reused_memory_is_zeroed_bounded_and_grows() {
    let (engine, module) = crate::compile(MEM);
    let mut first = guest(&engine, &module);
    assert_eq!(first.grow.call(&mut first.store, 3).unwrap(), 1);
    let base = first.mem.data_ptr(&first.store) as usize;
    for addr in [0, 4096, PAGE + 8, 3 * PAGE + 100, 4 * PAGE - 4] {
        first.poke.call(&mut first.store, (addr as i32, -1)).unwrap();
    }
    assert_eq!(first.peek.call(&mut first.store, 4 * PAGE as i32 - 4).unwrap(), -1);
    drop(first);

    let mut second = guest(&engine, &module);
    // The pool handed back the same reservation: its pages were kept, and reset.
    assert_eq!(second.mem.data_ptr(&second.store) as usize, base, "the memory was not reused");
    assert_eq!(second.mem.data_size(&second.store), PAGE);
    assert!(second.mem.data(&second.store).iter().all(|&b| b == 0), "a reused memory is not all zeros");
    // What the last instance could reach is out of bounds again at the new size.
    assert!(out_of_bounds(&mut second, PAGE + 8));
    assert!(out_of_bounds(&mut second, 4 * PAGE - 4));
    assert_eq!(second.grow.call(&mut second.store, 4).unwrap(), 1);
    assert_eq!(second.mem.data_size(&second.store), 5 * PAGE);
    assert!(second.mem.data(&second.store).iter().all(|&b| b == 0), "grown memory is not all zeros");
    second.poke.call(&mut second.store, (5 * PAGE as i32 - 4, 7)).unwrap();
    assert_eq!(second.peek.call(&mut second.store, 5 * PAGE as i32 - 4).unwrap(), 7);
    assert!(out_of_bounds(&mut second, 5 * PAGE));
}

#[test]
fn more_memories_at_once_than_the_pool_keeps() {
    let (engine, module) = crate::compile(MEM);
    for round in 0..3 {
        let mut live: Vec<Guest> = (0..6).map(|_| guest(&engine, &module)).collect();
        let bases: std::collections::HashSet<usize> = live.iter().map(|g| g.mem.data_ptr(&g.store) as usize).collect();
        assert_eq!(bases.len(), 6, "two live memories share a reservation");
        for (i, g) in live.iter_mut().enumerate() {
            assert_eq!(g.peek.call(&mut g.store, 16).unwrap(), 0, "round {round}: stale memory");
            g.poke.call(&mut g.store, (16, i as i32 + 1)).unwrap();
        }
        for (i, g) in live.iter_mut().enumerate() {
            assert_eq!(g.peek.call(&mut g.store, 16).unwrap(), i as i32 + 1);
        }
    }
}
