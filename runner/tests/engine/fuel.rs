//! Fuel under the deterministic configuration: the fuel check at every loop header calls out of
//! the module through Wasmtime's `preserve_all` out-of-gas trampoline (the vendored
//! `wasmtime-internal-cranelift`, runner/vendor/README.md). A loop that keeps vector values live
//! across that check computes exact results, running out of fuel traps as `OutOfFuel` at the same
//! point every time, and the store stays usable after the trap.

use wasmtime::{Instance, Store, Trap, TypedFunc};

/// Four f32x4 accumulators carried around a loop; returns a + b + c + d from one lane each.
/// With n iterations: a = n, b = 2n, c = n(n+1)/2, d = -n (exact in f32 for n = 1000).
const LOOP: &str = r#"(module
  (func (export "run") (param $n i32) (result f32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128) (local $one v128)
    (local.set $one (f32x4.splat (f32.const 1)))
    (loop $l
      (local.set $a (f32x4.add (local.get $a) (local.get $one)))
      (local.set $b (f32x4.add (local.get $b) (f32x4.add (local.get $one) (local.get $one))))
      (local.set $c (f32x4.add (local.get $c) (local.get $a)))
      (local.set $d (f32x4.sub (local.get $d) (local.get $one)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $b)))
      (f32.add (f32x4.extract_lane 2 (local.get $c)) (f32x4.extract_lane 3 (local.get $d))))))"#;

fn setup() -> (Store<()>, TypedFunc<i32, f32>) {
    let (engine, module) = crate::compile(LOOP);
    let mut store = Store::new(&engine, ());
    store.set_fuel(0).expect("fuel is on");
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
    let run = instance.get_typed_func::<i32, f32>(&mut store, "run").expect("export");
    (store, run)
}

#[test]
fn vector_loop_is_exact_with_fuel_to_spare() {
    let (mut store, run) = setup();
    store.set_fuel(1_000_000_000).unwrap();
    assert_eq!(run.call(&mut store, 1000).unwrap(), 502_500.0);
    let used = 1_000_000_000 - store.get_fuel().unwrap();
    assert!(used > 1000 * 10, "the loop consumed {used} fuel");
}

#[test]
fn running_out_of_fuel_traps_at_the_same_point_and_the_store_recovers() {
    let mut left = Vec::new();
    for _ in 0..2 {
        let (mut store, run) = setup();
        store.set_fuel(5_000).unwrap();
        let err = run.call(&mut store, 1_000_000).expect_err("5,000 fuel cannot run a million iterations");
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::OutOfFuel), "{err:?}");
        left.push(store.get_fuel().unwrap());
        // Unwinding through the trampoline leaves the store usable.
        store.set_fuel(1_000_000_000).unwrap();
        assert_eq!(run.call(&mut store, 1000).unwrap(), 502_500.0);
    }
    assert_eq!(left, [0, 0]);
}
