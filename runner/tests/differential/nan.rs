//! NaN payloads never leak out of float arithmetic, whichever way a result is used next: the
//! compiled code (wasmtime with the runner's deterministic configuration, on the vendored
//! Cranelift that canonicalizes a result only where its bits can be observed,
//! `runner/vendor/README.md`) and the step machine (which canonicalizes every arithmetic result,
//! `spec/floats.md`) give the same bits. Inputs include NaNs with payloads and both signs, and
//! the invalid operations that make a NaN from ordinary numbers (∞·0, ∞−∞, 0/0, √−1).

use std::sync::Arc;

use crate::proving::{run_machine, slots};
use crate::{production, wat};
use gavel_bisection::code::Program;
use wasmtime::Val;

/// Each function takes raw bits and returns raw bits, so NaN payloads cross the boundary intact.
const WAT: &str = r#"
(module
  (memory 1)
  ;; The product's only use is a sign-bit operation: it must be canonical before the neg.
  (func (export "neg_of_product") (param i32 i32) (result i32)
    (i32.reinterpret_f32 (f32.neg (f32.mul (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))))))
  (func (export "abs_of_sum") (param i32 i32) (result i32)
    (i32.reinterpret_f32 (f32.abs (f32.add (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))))))
  (func (export "copysign_of_quotient") (param i32 i32) (result i32)
    (i32.reinterpret_f32 (f32.copysign (f32.div (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))) (f32.const -1))))
  ;; A multiply-add chain: only the last result is observed.
  (func (export "madd") (param i32 i32 i32) (result i32)
    (i32.reinterpret_f32 (f32.add (f32.mul (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))) (f32.reinterpret_i32 (local.get 2)))))
  ;; Products stored straight to memory, and read back as bits.
  (func (export "store_product") (param i32 i32) (result i32)
    (f32.store (i32.const 8) (f32.mul (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))))
    (i32.load (i32.const 8)))
  ;; Through a local, a select and a block result before the bits are looked at.
  (func (export "through_select") (param i32 i32 i32) (result i32)
    (local f32)
    (local.set 3 (f32.sub (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))))
    (i32.reinterpret_f32
      (block (result f32)
        (select (local.get 3) (f32.const 2) (local.get 2)))))
  ;; Products compared (no bits observed) and also negated (observed).
  (func (export "compare_and_neg") (param i32 i32) (result i32)
    (local f32)
    (local.set 2 (f32.mul (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))))
    (i32.add
      (i32.shl (f32.eq (local.get 2) (local.get 2)) (i32.const 31))
      (i32.reinterpret_f32 (f32.neg (local.get 2)))))
  ;; min/max, sqrt, rounding and precision changes as consumers of non-canonical NaNs.
  (func (export "min_of_product") (param i32 i32 i32) (result i32)
    (i32.reinterpret_f32 (f32.neg (f32.min (f32.mul (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1))) (f32.reinterpret_i32 (local.get 2))))))
  (func (export "sqrt_floor") (param i32) (result i32)
    (i32.reinterpret_f32 (f32.floor (f32.sqrt (f32.reinterpret_i32 (local.get 0))))))
  (func (export "promote_product") (param i32 i32) (result i64)
    (i64.reinterpret_f64 (f64.neg (f64.promote_f32 (f32.mul (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1)))))))
  (func (export "demote_sum") (param i64 i64) (result i32)
    (i32.reinterpret_f32 (f32.demote_f64 (f64.add (f64.reinterpret_i64 (local.get 0)) (f64.reinterpret_i64 (local.get 1))))))
  (func (export "f64_madd_neg") (param i64 i64 i64) (result i64)
    (i64.reinterpret_f64 (f64.neg (f64.add (f64.mul (f64.reinterpret_i64 (local.get 0)) (f64.reinterpret_i64 (local.get 1))) (f64.reinterpret_i64 (local.get 2))))))
  ;; A loop-carried accumulator (acc += a·b over n steps), the GEMM inner loop's shape.
  (func (export "dot_loop") (param i32 i32 i32) (result i32)
    (local f32 i32)
    (loop $l
      (local.set 3 (f32.add (local.get 3) (f32.mul (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1)))))
      (local.set 4 (i32.add (local.get 4) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 4) (local.get 2))))
    (i32.reinterpret_f32 (f32.neg (local.get 3))))
  ;; Lanes: a vector multiply-add stored, a product under a bitwise op and a lane extract.
  (func (export "v_madd") (param v128 v128 v128) (result v128)
    (f32x4.add (f32x4.mul (local.get 0) (local.get 1)) (local.get 2)))
  (func (export "v_neg_product") (param v128 v128) (result v128)
    (f32x4.neg (f32x4.mul (local.get 0) (local.get 1))))
  (func (export "v_xor_product") (param v128 v128) (result v128)
    (v128.xor (f32x4.mul (local.get 0) (local.get 1)) (v128.const i32x4 0x80000000 0 0x80000000 0)))
  (func (export "v_lane_of_product") (param v128 v128) (result i32)
    (i32.reinterpret_f32 (f32x4.extract_lane 2 (f32x4.mul (local.get 0) (local.get 1)))))
  (func (export "v_store_sum") (param v128 v128) (result v128)
    (v128.store (i32.const 32) (f32x4.add (local.get 0) (local.get 1)))
    (v128.load (i32.const 32)))
  (func (export "v_f64_min_neg") (param v128 v128) (result v128)
    (f64x2.neg (f64x2.min (f64x2.mul (local.get 0) (local.get 1)) (local.get 1))))
  (func (export "v_promote_neg") (param v128 v128) (result v128)
    (f64x2.neg (f64x2.promote_low_f32x4 (f32x4.sub (local.get 0) (local.get 1)))))
  (func (export "v_dot_loop") (param v128 v128 i32) (result v128)
    (local v128 i32)
    (loop $l
      (local.set 3 (f32x4.add (local.get 3) (f32x4.mul (local.get 0) (local.get 1))))
      (local.set 4 (i32.add (local.get 4) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 4) (local.get 2))))
    (f32x4.neg (local.get 3)))
  ;; The same accumulator leaving the loop under other lanes: wasmtime holds a v128 local as
  ;; i8x16, so the sum crosses bitcasts both ways in the loop; a view with other lanes (f64x2,
  ;; i32x4) reads the f32 payloads and must see canonical ones.
  (func (export "v_dot_loop_as_f64") (param v128 v128 i32) (result v128)
    (local v128 i32)
    (loop $l
      (local.set 3 (f32x4.add (local.get 3) (f32x4.mul (local.get 0) (local.get 1))))
      (local.set 4 (i32.add (local.get 4) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 4) (local.get 2))))
    (f64x2.add (local.get 3) (v128.const f64x2 0 0)))
  (func (export "v_dot_loop_as_i32") (param v128 v128 i32) (result v128)
    (local v128 i32)
    (loop $l
      (local.set 3 (f32x4.add (local.get 3) (f32x4.mul (local.get 0) (local.get 1))))
      (local.set 4 (i32.add (local.get 4) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 4) (local.get 2))))
    (i32x4.add (local.get 3) (v128.const i32x4 0 0 0 0)))
  ;; An f64x2 accumulator read as f32x4 lanes inside the loop (observed there), and an f32x4 sum
  ;; stored on every iteration.
  (func (export "v_d_loop_as_f32") (param v128 v128 i32) (result v128)
    (local v128 i32 v128)
    (loop $l
      (local.set 3 (f64x2.add (local.get 3) (f64x2.mul (local.get 0) (local.get 1))))
      (local.set 5 (f32x4.add (local.get 5) (local.get 3)))
      (local.set 4 (i32.add (local.get 4) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 4) (local.get 2))))
    (local.get 5))
  (func (export "v_store_each") (param v128 v128 i32) (result v128)
    (local v128 i32)
    (loop $l
      (local.set 3 (f32x4.add (local.get 3) (f32x4.mul (local.get 0) (local.get 1))))
      (v128.store (i32.const 48) (local.get 3))
      (local.set 4 (i32.add (local.get 4) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 4) (local.get 2))))
    (v128.load (i32.const 48)))
  ;; A sum through a v128 select and a block result.
  (func (export "v_select_sum") (param v128 v128 i32) (result v128)
    (block (result v128)
      (select (f32x4.add (local.get 0) (local.get 1)) (v128.const i32x4 1 2 3 4) (local.get 2))))
)
"#;

const INF: u32 = 0x7f80_0000;
const NEG_INF: u32 = 0xff80_0000;
const CANON: u32 = 0x7fc0_0000;
/// NaNs with payloads, quiet and signalling, of both signs.
const PAYLOAD_NANS: [u32; 4] = [0x7fa0_0001, 0xffc0_1234, 0x7f80_0001, 0xff80_7fff];
const ORDINARY: [u32; 5] = [0, 0x8000_0000, 0x3f80_0000, 0xc020_0000, 0x0000_0001];

fn f64_bits(x: u32) -> u64 {
    // Map each f32 case to an f64 of the same kind (NaN payloads kept in the high bits).
    match x {
        INF => 0x7ff0_0000_0000_0000,
        NEG_INF => 0xfff0_0000_0000_0000,
        CANON => 0x7ff8_0000_0000_0000,
        x if x & 0x7f80_0000 == 0x7f80_0000 => ((x as u64 & 0x8000_0000) << 32) | 0x7ff0_0000_0000_0000 | ((x as u64 & 0x7f_ffff) << 29),
        x => f64::from(f32::from_bits(x)).to_bits(),
    }
}

fn v4(l: [u32; 4]) -> Val {
    let x = l.iter().rev().fold(0u128, |acc, &w| (acc << 32) | w as u128);
    Val::V128(x.into())
}

fn v2(l: [u64; 2]) -> Val {
    Val::V128(((l[1] as u128) << 64 | l[0] as u128).into())
}

#[test]
fn nan_payloads_never_leak_and_the_step_machine_agrees() {
    let bytes = wat(WAT);
    let program = Arc::new(Program::lower(&bytes).expect("lower"));

    let mut specials: Vec<u32> = vec![INF, NEG_INF, CANON];
    specials.extend(PAYLOAD_NANS);
    specials.extend(ORDINARY);
    let i32s = |x: u32| Val::I32(x as i32);
    let i64s = |x: u32| Val::I64(f64_bits(x) as i64);
    let mut cases: Vec<(&str, Vec<Val>)> = Vec::new();
    for &a in &specials {
        cases.push(("sqrt_floor", vec![i32s(a)]));
        for &b in &specials {
            for name in ["neg_of_product", "abs_of_sum", "copysign_of_quotient", "store_product", "compare_and_neg", "promote_product"] {
                cases.push((name, vec![i32s(a), i32s(b)]));
            }
            cases.push(("demote_sum", vec![i64s(a), i64s(b)]));
            cases.push(("through_select", vec![i32s(a), i32s(b), Val::I32(1)]));
            cases.push(("madd", vec![i32s(a), i32s(b), i32s(0x3f80_0000)]));
            cases.push(("madd", vec![i32s(a), i32s(b), i32s(NEG_INF)]));
            cases.push(("min_of_product", vec![i32s(a), i32s(b), i32s(0x4000_0000)]));
            cases.push(("f64_madd_neg", vec![i64s(a), i64s(b), i64s(INF)]));
            cases.push(("dot_loop", vec![i32s(a), i32s(b), Val::I32(3)]));
        }
    }
    // Vectors: every lane a different kind of operand.
    let lanes = |k: usize| -> [u32; 4] { std::array::from_fn(|j| specials[(k + 3 * j) % specials.len()]) };
    for k in 0..specials.len() {
        for m in 0..specials.len() {
            let (a, b) = (lanes(k), lanes(m));
            for name in ["v_neg_product", "v_xor_product", "v_lane_of_product", "v_store_sum", "v_promote_neg"] {
                cases.push((name, vec![v4(a), v4(b)]));
            }
            cases.push(("v_madd", vec![v4(a), v4(b), v4(lanes(k + m))]));
            cases.push(("v_dot_loop", vec![v4(a), v4(b), Val::I32(2)]));
            for name in ["v_dot_loop_as_f64", "v_dot_loop_as_i32", "v_store_each", "v_select_sum"] {
                cases.push((name, vec![v4(a), v4(b), Val::I32(2)]));
            }
            cases.push(("v_d_loop_as_f32", vec![v2([f64_bits(a[0]), f64_bits(a[1])]), v2([f64_bits(b[0]), f64_bits(b[1])]), Val::I32(2)]));
            cases.push(("v_f64_min_neg", vec![v2([f64_bits(a[0]), f64_bits(a[1])]), v2([f64_bits(b[0]), f64_bits(b[1])])]));
        }
    }

    let (mut store, instance) = production(&bytes);
    let mut nan_results = 0;
    for (name, args) in &cases {
        let f = instance.get_func(&mut store, name).expect("export");
        let mut results: Vec<Val> = f.ty(&store).results().map(|_| Val::I32(0)).collect();
        f.call(&mut store, args, &mut results).expect("wasmtime call");
        let compiled = slots(&results);
        assert_eq!(run_machine(&program, name, &slots(args)), compiled, "{name} {args:?}");
        // Whatever the compiled code made of a NaN, its payload is the canonical one (the sign
        // is the program's: a negation after canonicalization sets it).
        let f64_results = name.contains("f64") || name.contains("promote");
        for &w in &compiled {
            if f64_results {
                if f64::from_bits(w).is_nan() {
                    assert_eq!(w & !(1 << 63), 0x7ff8_0000_0000_0000, "{name} {args:?}: a payload leaked: {w:#x}");
                    nan_results += 1;
                }
            } else {
                for word in [w as u32, (w >> 32) as u32] {
                    if f32::from_bits(word).is_nan() {
                        assert_eq!(word & 0x7fff_ffff, CANON, "{name} {args:?}: a payload leaked: {word:#x}");
                        nan_results += 1;
                    }
                }
            }
        }
    }
    assert!(nan_results > 1000, "the cases make NaNs ({nan_results})");
}
