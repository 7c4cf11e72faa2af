//! v128 lowering (`spec/simd.md`): values that are two slots through locals, `local.tee`,
//! `select`, branches that keep and drop mixed-width values, loops with v128 params, calls with
//! v128 params and results, and the lowering's refusals. Each function runs on the step machine,
//! every step proven and verified, and its result is compared with wasmtime's.

use std::sync::Arc;

use crate::proving::{run_machine, slots};
use crate::{production, wat};
use gavel_bisection::code::Program;
use wasmtime::Val;

const WAT: &str = r#"
(module
  (memory 1)
  ;; br_if to a block with a v128 result, over an i32 and an i64 that are dropped.
  (func (export "branch") (param v128 i32) (result v128)
    (local v128)
    block (result v128)
      i32.const 1
      i64.const 2
      local.get 0
      local.get 1
      br_if 0
      local.set 2
      drop
      drop
      local.get 2
      v128.not
    end)
  ;; local.tee and select of v128 values.
  (func (export "tee_select") (param v128 v128 i32) (result v128 i32)
    (local v128 i32)
    local.get 0
    local.tee 3
    local.get 1
    local.get 2
    select
    local.get 3
    i32x4.add
    i32.const 9
    local.tee 4)
  ;; A loop carrying a v128 param and an i32 counter.
  (func (export "loop") (param v128 i32) (result v128)
    local.get 0
    local.get 1
    loop (param v128 i32) (result v128)
      local.set 1
      f32.const 1.5
      f32x4.splat
      f32x4.add
      local.get 1
      i32.const 1
      i32.sub
      local.tee 1
      local.get 1
      br_if 0
      drop
    end)
  ;; Calls with v128 params and results, through memory.
  (func $mix (param i64 v128 i32) (result v128 v128)
    local.get 1
    local.get 0
    i64x2.splat
    i64x2.add
    local.get 1
    local.get 2
    i8x16.splat
    i8x16.sub)
  (func (export "call") (param v128 i64) (result v128)
    i32.const 48
    local.get 1
    local.get 0
    i32.const 3
    call $mix
    i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31
    v128.store offset=7
    i32.const 55
    v128.load)
)
"#;

#[test]
fn v128_values_move_as_slot_pairs_like_wasmtime() {
    let bytes = wat(WAT);
    let program = Arc::new(Program::lower(&bytes).expect("lower"));
    let a: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    let b: u128 = 0x8000_0000_7fff_ffff_0000_0001_ffff_ffff;
    let cases: Vec<(&str, Vec<Val>)> = vec![
        ("branch", vec![Val::V128(a.into()), Val::I32(1)]),
        ("branch", vec![Val::V128(a.into()), Val::I32(0)]),
        ("tee_select", vec![Val::V128(a.into()), Val::V128(b.into()), Val::I32(0)]),
        ("tee_select", vec![Val::V128(a.into()), Val::V128(b.into()), Val::I32(5)]),
        ("loop", vec![Val::V128(0x3f80_0000_4000_0000_c000_0000_0000_0000u128.into()), Val::I32(4)]),
        ("call", vec![Val::V128(b.into()), Val::I64(-3)]),
    ];
    for (name, args) in cases {
        let (mut store, instance) = production(&bytes);
        let f = instance.get_func(&mut store, name).expect("export");
        let mut results: Vec<Val> = f.ty(&store).results().map(|_| Val::I32(0)).collect();
        f.call(&mut store, &args, &mut results).expect("wasmtime call");
        assert_eq!(run_machine(&program, name, &slots(&args)), slots(&results), "{name} {args:?}");
    }
}

#[test]
fn lowering_rejects_what_the_machine_does_not_prove() {
    for (text, what) in [
        ("(module (global v128 (v128.const i64x2 0 0)))", "v128 globals"),
        // Relaxed SIMD results are implementation-defined: never lowered.
        ("(module (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))", "F32x4RelaxedMadd"),
        ("(module (func (param v128) (result v128) local.get 0 i32x4.relaxed_trunc_f32x4_s))", "I32x4RelaxedTruncF32x4S"),
    ] {
        let bytes = wat(text);
        let err = Program::lower(&bytes).expect_err(what).to_string();
        assert!(err.contains(what), "{err} should name {what}");
    }
}
