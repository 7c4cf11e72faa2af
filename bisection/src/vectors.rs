//! Cross-language test vectors (`spec/vectors/`), generated here and replayed by the Solidity
//! verifier: pure numeric results for the math libraries, and one-step proofs with the roots
//! before and after.

use std::sync::Arc;

use crate::code::{op, Family, Instr, Program, OPCODES};
use crate::machine::{Machine, Trap};
use crate::merkle::Hash32;
use crate::numeric;
use crate::proof::{prove_step, BlobTrees, StepProof};

/// Trap codes in vectors (and in the Solidity verifier): 0 = no trap, else 1 + the [`Trap`]
/// variant's position.
pub fn trap_code(t: Option<Trap>) -> u8 {
    match t {
        None => 0,
        Some(Trap::Unreachable) => 1,
        Some(Trap::MemoryOutOfBounds) => 2,
        Some(Trap::IntegerDivideByZero) => 3,
        Some(Trap::IntegerOverflow) => 4,
        Some(Trap::InvalidConversion) => 5,
        Some(Trap::TableOutOfBounds) => 6,
        Some(Trap::IndirectCallToNull) => 7,
        Some(Trap::BadSignature) => 8,
        Some(Trap::CallStackExhausted) => 9,
        Some(Trap::BadInstruction) => 10,
    }
}

/// Deterministic pseudo-random numbers (splitmix64), for vectors and simulations.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent` %.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn f32s() -> Vec<u64> {
    let v: [f32; 24] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        2.5,
        -2.5,
        3.0,
        0.1,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        1.1754942e-38,
        f32::INFINITY,
        f32::NEG_INFINITY,
        2147483648.0,
        -2147483648.0,
        2147483520.0,
        4294967296.0,
        9.223372e18,
        -9.223372e18,
        16777217.0,
    ];
    let mut out: Vec<u64> = v.iter().map(|x| x.to_bits() as u64).collect();
    out.extend([0x7fc0_0000u64, 0xffc0_0000, 0x7fa0_0001, 0xff80_0001, 0x7f80_0001]);
    out
}

fn f64s() -> Vec<u64> {
    let v: [f64; 24] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        2.5,
        -2.5,
        3.0,
        0.1,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        2.225073858507201e-308,
        f64::INFINITY,
        f64::NEG_INFINITY,
        2147483648.0,
        -2147483649.0,
        4294967295.5,
        9.223372036854775e18,
        -9.223372036854776e18,
        1.8446744073709552e19,
        9007199254740993.0,
    ];
    let mut out: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
    out.extend([0x7ff8_0000_0000_0000u64, 0xfff8_0000_0000_0000, 0x7ff4_0000_0000_0001, 0xfff0_0000_0000_0001]);
    out
}

fn ints() -> Vec<u64> {
    vec![
        0,
        1,
        2,
        3,
        31,
        32,
        33,
        63,
        64,
        65,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        0x7fff_ffff_ffff_ffff,
        0x8000_0000_0000_0000,
        u64::MAX,
        0x80,
        0xff,
        0x8000,
        0xffff,
        0x1234_5678_9abc_def0,
    ]
}

/// Operand values for an opcode: the special values of its operand type plus random bits.
fn operands(opcode: u16, rng: &mut Rng, random: usize) -> Vec<u64> {
    let f32_in = matches!(opcode, 0x5b..=0x60 | 0x8b..=0x98 | 0xa8 | 0xa9 | 0xae | 0xaf | 0xbb | 0xbc | 0xfc00 | 0xfc01 | 0xfc04 | 0xfc05);
    let f64_in = matches!(opcode, 0x61..=0x66 | 0x99..=0xa6 | 0xaa | 0xab | 0xb0 | 0xb1 | 0xb6 | 0xbd | 0xfc02 | 0xfc03 | 0xfc06 | 0xfc07);
    let i32_in = matches!(opcode, 0x45..=0x4f | 0x67..=0x78 | 0xac | 0xad | 0xb2 | 0xb3 | 0xb7 | 0xb8 | 0xbe | 0xc0 | 0xc1);
    let mut v = if f32_in {
        f32s()
    } else if f64_in {
        f64s()
    } else {
        ints()
    };
    for _ in 0..random {
        let r = rng.next();
        v.push(if f32_in || i32_in { r & 0xffff_ffff } else { r });
    }
    if i32_in {
        for x in v.iter_mut() {
            *x &= 0xffff_ffff;
        }
    }
    v
}

/// Numeric vectors: `{family: {op: [...], a: [...], b: [...], r: [...], trap: [...]}}` with values
/// as 0x-hex strings (unary ops have `b` = 0).
pub fn numeric() -> serde_json::Value {
    let mut rng = Rng(0x6761_7665_6c00_0001);
    let mut files = serde_json::Map::new();
    for (name, fam) in [("integer", Family::Integer), ("float", Family::Float)] {
        let (mut ops, mut a_s, mut b_s, mut r_s, mut traps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &(code, _, f) in OPCODES {
            if f != fam || matches!(code, op::I32_CONST..=op::F64_CONST) {
                continue;
            }
            let xs = operands(code, &mut rng, 8);
            let binary = numeric::is_binary(code);
            let pairs: Vec<(u64, u64)> = if binary {
                let ys = operands(code, &mut rng, 8);
                let mut p: Vec<(u64, u64)> = xs.iter().step_by(2).flat_map(|x| ys.iter().step_by(3).map(move |y| (*x, *y))).collect();
                p.extend(xs.iter().zip(ys.iter().rev()).map(|(x, y)| (*x, *y)));
                p
            } else {
                xs.iter().map(|x| (*x, 0)).collect()
            };
            for (x, y) in pairs {
                let res = if binary { numeric::binary(code, x, y) } else { numeric::unary(code, x) };
                let (r, t) = match res {
                    Ok(r) => (r, None),
                    Err(t) => (0, Some(t)),
                };
                ops.push(serde_json::json!(code));
                a_s.push(serde_json::json!(format!("{x:#x}")));
                b_s.push(serde_json::json!(format!("{y:#x}")));
                r_s.push(serde_json::json!(format!("{r:#x}")));
                traps.push(serde_json::json!(trap_code(t)));
            }
        }
        files.insert(name.to_string(), serde_json::json!({ "count": ops.len(), "op": ops, "a": a_s, "b": b_s, "r": r_s, "trap": traps }));
    }
    serde_json::Value::Object(files)
}

/// Step vectors as JSON: `{count, op: [...], root_before: [...], root_after: [...], proof: [...]}`.
pub fn steps_json(proofs: &[StepProof]) -> serde_json::Value {
    let hex = |h: &Hash32| format!("0x{}", hex::encode(h));
    serde_json::json!({
        "count": proofs.len(),
        "op": proofs.iter().map(|p| p.instr.op).collect::<Vec<_>>(),
        "root_before": proofs.iter().map(|p| hex(&p.root_before)).collect::<Vec<_>>(),
        "root_after": proofs.iter().map(|p| hex(&p.root_after)).collect::<Vec<_>>(),
        "proof": proofs.iter().map(|p| format!("0x{}", hex::encode(&p.proof))).collect::<Vec<_>>(),
    })
}

fn ins(op: u16, a: u32, b: u32, c: u64) -> Instr {
    Instr { op, a, b, c }
}

/// Runs `code` (entered at 1 with a depth-1 locals tree) and proves every step.
fn prove_program(code: Vec<Instr>, memory_pages: u32, blobs: Vec<Arc<Vec<u8>>>, out: &mut Vec<StepProof>, only: Option<u16>) {
    let Ok(program) = Program::from_instructions(code, vec![(0x7f, 1024), (0x7e, 77), (0x7d, 0x3f80_0000), (0x7c, 0)], memory_pages) else {
        return;
    };
    let mut m = Machine::new(Arc::new(program), blobs, 8);
    let mut trees = BlobTrees::default();
    for _ in 0..400 {
        let (_, next) = m.next_instruction();
        let Ok(p) = prove_step(&mut m, &mut trees) else { return };
        if only.is_none_or(|o| o == next.op) {
            out.push(p);
        }
        if m.status != crate::state::Status::Running {
            // One proof of the fixed point after the macro-step ended.
            if only.is_none() {
                if let Ok(p) = prove_step(&mut m, &mut trees) {
                    out.push(p);
                }
            }
            return;
        }
        if !m.active {
            return;
        }
    }
}

/// Synthetic step vectors: every lowered opcode on a small program, with operand sets that hit
/// its edge cases (the numeric specials, unaligned and leaf-crossing memory accesses, multi-step
/// bulk instructions, every branch shape, calls, returns and traps).
pub fn synthetic_steps() -> Vec<StepProof> {
    synthetic_steps_seeded(0x6761_7665_6c00_0002)
}

/// [`synthetic_steps`] with the operands drawn from `seed` (the live differential against the
/// deployed verifier draws a fresh seed each run).
pub fn synthetic_steps_seeded(seed: u64) -> Vec<StepProof> {
    let mut out = Vec::new();
    let mut rng = Rng(seed);
    let enter = ins(op::INVOKE, 1, 0, 1);
    let konst = |v: u64| ins(op::I64_CONST, 0, 0, v);
    for &(code, _, fam) in OPCODES {
        match fam {
            Family::Integer | Family::Float if !matches!(code, op::I32_CONST..=op::F64_CONST) => {
                let xs = operands(code, &mut rng, 2);
                let ys = operands(code, &mut rng, 2);
                for k in 0..xs.len().min(10) {
                    let (x, y) = (xs[(k * 7) % xs.len()], ys[(k * 5 + 1) % ys.len()]);
                    let mut prog = vec![enter, konst(x)];
                    if numeric::is_binary(code) {
                        prog.push(konst(y));
                    }
                    prog.push(ins(code, 0, 0, 0));
                    prove_program(prog, 1, vec![], &mut out, Some(code));
                }
            }
            _ => {}
        }
    }
    // Constants, locals, globals, drop, select.
    for (c, a) in [(op::I32_CONST, 0u32), (op::I64_CONST, 0), (op::F32_CONST, 0), (op::F64_CONST, 0)] {
        prove_program(vec![enter, ins(c, a, 0, 0xdead_beef_0bad_f00d)], 1, vec![], &mut out, Some(c));
    }
    for depth in [0u64, 1, 2] {
        let e = ins(op::INVOKE, 1, 0, depth);
        let last = (1u32 << (2 * depth)) - 1;
        prove_program(
            vec![
                e,
                konst(5),
                ins(op::LOCAL_SET, last, depth as u32, 0),
                ins(op::LOCAL_GET, last, depth as u32, 0),
                ins(op::LOCAL_TEE, 0, depth as u32, 0),
                ins(op::DROP, 0, 0, 0),
            ],
            1,
            vec![],
            &mut out,
            None,
        );
    }
    for g in 0..4 {
        prove_program(vec![enter, ins(op::GLOBAL_GET, g, 0, 0), konst(9), ins(op::GLOBAL_SET, g, 0, 0)], 1, vec![], &mut out, None);
    }
    for cond in [0u64, 1, 0x1_0000_0000] {
        prove_program(vec![enter, konst(1), konst(2), konst(cond), ins(op::SELECT, 0, 0, 0)], 1, vec![], &mut out, Some(op::SELECT));
    }
    // Loads and stores: aligned, unaligned, crossing a leaf, at the end of memory, out of bounds.
    for addr in [0u64, 3, 29, 31, 65534, 65535, 65536, 0xffff_ffff] {
        for load in op::LOAD_FIRST..=op::LOAD_LAST {
            prove_program(vec![enter, konst(addr), ins(load, 1, 0, 0)], 1, vec![], &mut out, Some(load));
        }
        for store in op::STORE_FIRST..=op::STORE_LAST {
            prove_program(vec![enter, konst(addr), konst(0x0102_0304_0506_0708), ins(store, 1, 0, 0)], 1, vec![], &mut out, Some(store));
        }
    }
    // memory.size / grow (within and past the limit of 8 pages, past the module maximum).
    for (delta, max) in [(1u64, 65536u32), (7, 65536), (8, 65536), (1, 1), (0, 0)] {
        prove_program(vec![enter, ins(op::MEMORY_SIZE, 0, 0, 0), konst(delta), ins(op::MEMORY_GROW, max, 0, 0)], 1, vec![], &mut out, None);
    }
    // Bulk memory: every chunk of multi-step fills and copies, both directions, traps.
    for (dst, src, n) in [(5u64, 40u64, 70u64), (40, 5, 70), (0, 0, 0), (64, 0, 32), (65500, 0, 100), (100, 65530, 7)] {
        prove_program(vec![enter, konst(dst), konst(src), konst(n), ins(op::MEMORY_COPY, 0, 0, 0)], 1, vec![], &mut out, Some(op::MEMORY_COPY));
        prove_program(vec![enter, konst(dst), konst(0xab), konst(n), ins(op::MEMORY_FILL, 0, 0, 0)], 1, vec![], &mut out, Some(op::MEMORY_FILL));
    }
    // The blob oracle: lengths, valid and invalid reads, multi-chunk reads crossing blob leaves.
    let blobs = vec![Arc::new((0..200u32).map(|i| i as u8).collect::<Vec<u8>>()), Arc::new(vec![9u8; 5])];
    for blob in [0u64, 1, 2] {
        prove_program(vec![enter, konst(blob), ins(op::BLOB_LEN, 0, 0, 0)], 1, blobs.clone(), &mut out, Some(op::BLOB_LEN));
    }
    for (blob, off, dst, len) in [(0u64, 3u64, 10u64, 70u64), (0, 190, 0, 10), (0, 195, 0, 10), (1, 0, 31, 5), (2, 0, 0, 1), (0, 0, 65530, 10), (0, 0, 0, 0)] {
        prove_program(
            vec![
                enter,
                konst(blob),
                konst(off),
                konst(dst),
                konst(len),
                ins(op::BLOB_READ, 0, 0, 0),
                ins(op::BLOB_READ_CHUNK, 0, 0, 0),
                ins(op::DROP, 0, 0, 0),
            ],
            1,
            blobs.clone(),
            &mut out,
            None,
        );
    }
    // Control: branches keeping and dropping values, br_table entries, calls, indirect calls
    // (hit, null, out of range, bad type), returns, unreachable, and the end of a macro-step.
    prove_program(
        vec![
            enter,
            konst(1),
            konst(2),
            konst(3),
            konst(1),
            ins(op::BR_IF, 8, 1, 2),
            ins(op::UNREACHABLE, 0, 0, 0),
            ins(op::UNREACHABLE, 0, 0, 0),
            konst(0),
            ins(op::BR_UNLESS, 11, 0, 0),
            ins(op::UNREACHABLE, 0, 0, 0),
            konst(1),
            ins(op::RETURN, 0, 1, 0),
        ],
        1,
        vec![],
        &mut out,
        None,
    );
    for index in [0u64, 1, 2, 7] {
        prove_program(
            vec![
                enter,
                konst(index),
                ins(op::BR_TABLE, 3, 0, 0),
                ins(op::BR_TABLE_ENTRY, 6, 0, 0),
                ins(op::BR_TABLE_ENTRY, 7, 0, 0),
                ins(op::BR_TABLE_ENTRY, 8, 0, 0),
                konst(1),
                konst(0),
                konst(2),
                ins(op::RETURN, 0, 1, 0),
            ],
            1,
            vec![],
            &mut out,
            None,
        );
    }
    // A callee at 8 (1 param, depth 1) returning its param + 1; a table of 3 slots at 12.
    let callee = [ins(op::LOCAL_GET, 0, 1, 0), konst(1), ins(0x7c, 0, 0, 0), ins(op::RETURN, 0, 1, 0)];
    let table = [ins(op::TABLE_ENTRY, 8, 1, 1 | 5 << 8), Instr::default(), ins(op::TABLE_ENTRY, 8, 1, 1 | 6 << 8)];
    for (kind, index) in [(0u8, 0u64), (1, 0), (1, 1), (1, 2), (1, 3)] {
        let call = if kind == 0 { ins(op::CALL, 8, 1, 1) } else { ins(op::CALL_INDIRECT, 5, 12, 3) };
        let mut prog = vec![enter, konst(41)];
        if kind == 1 {
            prog.push(konst(index));
        }
        prog.push(call);
        prog.push(ins(op::RETURN, 0, 1, 0));
        while prog.len() < 8 {
            prog.push(Instr::default());
        }
        prog.extend(callee);
        prog.extend(table);
        prove_program(prog, 1, vec![], &mut out, None);
    }
    prove_program(vec![enter, ins(op::UNREACHABLE, 0, 0, 0)], 1, vec![], &mut out, None);
    for status in [0u64, 1, 2] {
        prove_program(vec![enter, konst(status), ins(op::RETURN, 0, 1, 0)], 1, vec![], &mut out, None);
    }
    out
}

/// v128 operands for SIMD sub-opcode `n`: lanes drawn from the special values of its input lane
/// type (f32, f64 or integers) plus random bits. `start` is the index of the first operand
/// across a run of programs, so consecutive programs get different integer classes and the two
/// operands of a binary op sometimes both hold lane extremes (`0x8000 × 0x8000` for q15mulr
/// and dot, saturation at both ends).
fn v128s(n: u16, rng: &mut Rng, start: usize, count: usize) -> Vec<u128> {
    let f32_in = matches!(n, 0x41..=0x46 | 0x5f | 0x67..=0x6a | 0xe0..=0xeb | 0xf8 | 0xf9);
    let f64_in = matches!(n, 0x47..=0x4c | 0x5e | 0x74 | 0x75 | 0x7a | 0x94 | 0xec..=0xf7 | 0xfc | 0xfd);
    let mut out = Vec::with_capacity(count);
    const SPECIALS: [u128; 8] = [
        0x8000_8000_8000_8000_8000_8000_8000_8000,
        u128::MAX,
        0x7fff_8000_00ff_ff00_8000_0000_7fff_ffff,
        0x8080_8080_8080_8080_8080_8080_8080_8080,
        0,
        0x7fff_7fff_7fff_7fff_7fff_7fff_7fff_7fff,
        0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff,
        0x8000_0000_8000_0000_8000_0000_8000_0000,
    ];
    for k in start..start + count {
        let v = if f32_in {
            let pool = f32s();
            (0..4).fold(0u128, |v, i| v | (pool[(rng.next() as usize + k) % pool.len()] as u128) << (32 * i))
        } else if f64_in {
            let pool = f64s();
            (0..2).fold(0u128, |v, i| v | (pool[(rng.next() as usize + k) % pool.len()] as u128) << (64 * i))
        } else {
            let j = k / 4;
            match k % 4 {
                0 => {
                    let pool = ints();
                    (pool[k % pool.len()] as u128) << 64 | pool[(k * 3 + 1) % pool.len()] as u128
                }
                2 => SPECIALS[j % SPECIALS.len()],
                3 => SPECIALS[j * 5 % SPECIALS.len()],
                _ => (rng.next() as u128) << 64 | rng.next() as u128,
            }
        };
        out.push(v);
    }
    out
}

/// Synthetic step vectors for every SIMD opcode (`spec/vectors/steps-simd.json`): lane values
/// at the edges of each lane type, every lane-index shape, and memory accesses that are aligned,
/// unaligned, leaf-crossing, at the end of memory and out of bounds.
pub fn simd_steps() -> Vec<StepProof> {
    simd_steps_seeded(0x6761_7665_6c00_0003)
}

/// [`simd_steps`] with the lane values drawn from `seed`.
pub fn simd_steps_seeded(seed: u64) -> Vec<StepProof> {
    let mut out = Vec::new();
    let mut rng = Rng(seed);
    let enter = ins(op::INVOKE, 1, 0, 1);
    let konst = |v: u64| ins(op::I64_CONST, 0, 0, v);
    let vec = |v: u128| [konst(v as u64), konst((v >> 64) as u64)];
    let pattern: u128 = 0x0f0e_0d0c_0b0a_0908_f7f6_f5f4_8382_8180;
    for &(code, _, fam) in OPCODES {
        if fam != Family::Simd {
            continue;
        }
        let n = code - crate::simd::FIRST;
        let lanes = |bits: u32| 128 / bits;
        match n {
            // Loads and stores: memory holds `pattern` at 16 and 65520 (the last 16 bytes).
            0x00..=0x0b | 0x54..=0x5d => {
                let lane_bits = match n {
                    0x54 | 0x58 => Some(8),
                    0x55 | 0x59 => Some(16),
                    0x56 | 0x5a => Some(32),
                    0x57 | 0x5b => Some(64),
                    _ => None,
                };
                let takes_vec = lane_bits.is_some() || n == 0x0b;
                for (k, (addr, offset)) in
                    [(16u64, 0u32), (3, 0), (20, 1), (29, 0), (65520, 0), (65519, 1), (65530, 0), (0xffff_fff0, 0), (0xffff_ffff, 1)].into_iter().enumerate()
                {
                    let lane = lane_bits.map_or(0, |b| [0, lanes(b) - 1, 1 % lanes(b)][k % 3]);
                    let mut prog = vec![enter, konst(16)];
                    prog.extend(vec(pattern));
                    prog.push(ins(crate::simd::FIRST + 0x0b, 0, 0, 0));
                    prog.push(konst(65520));
                    prog.extend(vec(pattern.rotate_left(40)));
                    prog.push(ins(crate::simd::FIRST + 0x0b, 0, 0, 0));
                    prog.push(konst(addr));
                    if takes_vec {
                        prog.extend(vec(v128s(n, &mut rng, k, 1)[0]));
                    }
                    prog.push(ins(code, offset, lane, 0));
                    prove_program(prog, 1, vec![], &mut out, Some(code));
                }
            }
            _ => {
                let (vecs, scalar): (usize, Option<u64>) = match n {
                    0x0d
                    | 0x0e
                    | 0x23..=0x52
                    | 0xd6..=0xdf
                    | 0x65
                    | 0x66
                    | 0x6e..=0x73
                    | 0x76..=0x79
                    | 0x7b
                    | 0x82
                    | 0x85
                    | 0x86
                    | 0x8e..=0x93
                    | 0x95..=0x9f
                    | 0xae
                    | 0xb1
                    | 0xb5..=0xba
                    | 0xbc..=0xbf
                    | 0xce
                    | 0xd1
                    | 0xd5
                    | 0xe4..=0xeb
                    | 0xf0..=0xf7 => (
                        if n == 0x52 {
                            3
                        } else if n == 0x4d {
                            1
                        } else {
                            2
                        },
                        None,
                    ),
                    0x0f..=0x14 => (0, Some(0)),
                    0x17 | 0x1a | 0x1c | 0x1e | 0x20 | 0x22 => (1, Some(0)),
                    0x6b..=0x6d | 0x8b..=0x8d | 0xab..=0xad | 0xcb..=0xcd => (1, Some(1)),
                    _ => (1, None),
                };
                let lane_count = match n {
                    0x15..=0x17 => 16,
                    0x18..=0x1a => 8,
                    0x1b | 0x1c | 0x1f | 0x20 => 4,
                    0x1d | 0x1e | 0x21 | 0x22 => 2,
                    _ => 0,
                };
                for k in 0..8usize {
                    let mut prog = vec![enter];
                    for v in v128s(n, &mut rng, k * vecs, vecs) {
                        prog.extend(vec(v));
                    }
                    match scalar {
                        // Shift counts: in range, at and past the lane width, huge.
                        Some(1) => prog.push(konst([0u64, 1, 7, 8, 15, 31, 63, 0xffff_ffff][k])),
                        Some(_) => {
                            let pool = if matches!(n, 0x13 | 0x20) {
                                f32s()
                            } else if matches!(n, 0x14 | 0x22) {
                                f64s()
                            } else {
                                ints()
                            };
                            let x = pool[(k * 5 + rng.next() as usize) % pool.len()];
                            prog.push(konst(if matches!(n, 0x0f..=0x11 | 0x13 | 0x17 | 0x1a | 0x1c | 0x20) { x & 0xffff_ffff } else { x }));
                        }
                        None => {}
                    }
                    let (a, b, c) = if n == 0x0d {
                        let mut sel = [0u8; 16];
                        for s in sel.iter_mut() {
                            *s = (rng.next() % 32) as u8;
                        }
                        let w = |i: usize| u32::from_le_bytes([sel[i], sel[i + 1], sel[i + 2], sel[i + 3]]);
                        (w(0), w(4), u64::from_le_bytes(sel[8..16].try_into().unwrap_or([0; 8])))
                    } else if lane_count > 0 {
                        (0, [0, lane_count - 1, 1, lane_count / 2][k % 4], 0)
                    } else {
                        (0, 0, 0)
                    };
                    prog.push(ins(code, a, b, c));
                    prove_program(prog, 1, vec![], &mut out, Some(code));
                }
            }
        }
    }
    // select.v128 on both conditions.
    for cond in [0u64, 1] {
        let mut prog = vec![enter];
        prog.extend(vec(pattern));
        prog.extend(vec(!pattern));
        prog.push(konst(cond));
        prog.push(ins(op::SELECT_V128, 0, 0, 0));
        prove_program(prog, 1, vec![], &mut out, Some(op::SELECT_V128));
    }
    out
}

/// Proofs from a real run: the first `first` steps and the first execution of every opcode.
pub fn real_steps(program: Arc<Program>, blobs: Vec<Arc<Vec<u8>>>, memory_limit_pages: u32, first: u64) -> crate::Result<Vec<StepProof>> {
    let mut m = Machine::new(program, blobs, memory_limit_pages);
    let mut trees = BlobTrees::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let mut n = 0u64;
    while m.status == crate::state::Status::Running {
        let (_, next) = m.next_instruction();
        if n < first || seen.insert(next.op) {
            seen.insert(next.op);
            out.push(prove_step(&mut m, &mut trees)?);
        } else {
            m.step()?;
        }
        n += 1;
    }
    Ok(out)
}

/// The lowered opcodes a program's code contains (what the verifier must cover).
pub fn opcodes_in(program: &Program) -> std::collections::BTreeSet<u16> {
    let mut ops: std::collections::BTreeSet<u16> = program.code.iter().map(|i| i.op).collect();
    // Entries are data, read by br_table and call_indirect; a zero leaf is `unreachable`.
    ops.remove(&op::BR_TABLE_ENTRY);
    ops.remove(&op::TABLE_ENTRY);
    ops
}

/// Game vectors (`spec/game.md`): split points, dissection commitments, round counts and toy
/// machine transitions, replayed by `contracts/test/GameVectors.t.sol` (Rust vs Solidity).
pub fn game() -> serde_json::Value {
    use crate::game::{self, toy::Toy};
    let mut rng = Rng(0x6761_7665_6c00_0003);
    let hex = |h: &Hash32| format!("0x{}", hex::encode(h));
    let (mut ps, mut pe, mut pn, mut pi, mut pp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..200 {
        let start = rng.next() % (1 << 40);
        let len = 2 + rng.next() % (1 << (rng.next() % 40));
        let k = [2u64, 4, 8, 16, 32, 64][(rng.next() % 6) as usize];
        let parts = game::part_count(len, k);
        let i = rng.next() % (parts + 1);
        ps.push(start);
        pe.push(start + len);
        pn.push(parts);
        pi.push(i);
        pp.push(game::point(start, start + len, parts, i));
    }
    let (mut cl, mut cm, mut cs, mut ce, mut croots, mut cc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in 0..40u64 {
        let level = 1 + (t % 2) as u8;
        let (m, s) = (rng.next() % 1000, rng.next() % 1000);
        let e = s + 2 + rng.next() % 5000;
        let n = 1 + rng.next() % 32;
        let roots: Vec<Hash32> = (0..=n).map(|_| crate::merkle::keccak256(&rng.next().to_be_bytes())).collect();
        cl.push(level);
        cm.push(m);
        cs.push(s);
        ce.push(e);
        cc.push(hex(&game::commitment(level, m, s, e, &roots)));
        croots.push(roots.iter().map(hex).collect::<Vec<_>>());
    }
    let (mut rn, mut rd, mut rk, mut rr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (n, d, k) in [(1u64, 1u8, 32u64), (1024, 6, 32), (32, 7, 32), (2000, 6, 32), (1 << 40, 0, 32), (21, 2, 4), (5, 3, 2), (1_000_000, 10, 16)] {
        rn.push(n);
        rd.push(d);
        rk.push(k);
        rr.push(game::rounds(n, d, k));
    }
    // Toy machine: a run of 6 macro-steps, every transition's proof and root after.
    let toy = Toy { max_instructions: 9 };
    let mut input = [7u8; 32];
    input[..8].copy_from_slice(&6u64.to_be_bytes());
    let mut s = toy.initial(&[1; 32], &[2; 32], &input);
    let initial = s.root();
    let (mut tm, mut tproof, mut troot_before, mut troot_after) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..60 {
        let m = s.macro_step;
        let next = toy.step(m, s);
        tm.push(m);
        tproof.push(format!("0x{}", hex::encode(s.proof())));
        troot_before.push(hex(&s.root()));
        troot_after.push(hex(&next.root()));
        // The padding rule: the same state in the next macro-step's game is a fixed point.
        tm.push(m + 1);
        tproof.push(format!("0x{}", hex::encode(s.proof())));
        troot_before.push(hex(&s.root()));
        troot_after.push(hex(&toy.step(m + 1, s).root()));
        s = next;
    }
    serde_json::json!({
        "points": { "start": ps, "end": pe, "parts": pn, "i": pi, "p": pp },
        "commitments": { "level": cl, "macroStep": cm, "start": cs, "end": ce, "roots": croots, "c": cc },
        "rounds": { "n": rn, "depth": rd, "k": rk, "r": rr },
        "toy": {
            "maxInstructions": 9, "codeRoot": hex(&[1; 32]), "modelRoot": hex(&[2; 32]), "inputRoot": hex(&input),
            "initialRoot": hex(&initial), "macroStep": tm, "proof": tproof, "rootBefore": troot_before, "rootAfter": troot_after,
        },
    })
}
