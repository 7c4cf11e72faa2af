//! The watchtower's fast view of a run (wasmtime's level-1 roots, the step machine started at a
//! boundary) against the full two-engine index, on the real models: every level-1 root, level-2
//! roots at positions asked in any order (backwards jumps included, past a macro-step's end, past
//! the run's end), and the step proofs, byte for byte.

use std::sync::Arc;

use gavel_bisection::game::{TraceProvider, LEVEL_INSTRUCTION, LEVEL_MACRO};
use gavel_challenger::fast_trace::FastTrace;
use gavel_challenger::trace::RunTrace;
use gavel_runner::cases::{repo_root, Case};
use gavel_runner::machine::MachineOptions;

fn both(case: &str) -> (FastTrace, RunTrace, std::path::PathBuf) {
    let case = Case::load(&repo_root(), case).unwrap();
    let model = crate::model_bytes(&case);
    let input = Arc::new(gavel_codec::encode(&case.inputs));
    let dir = std::env::temp_dir().join(format!("gavel-fast-trace-{}-{}", case.name, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = Arc::new(crate::runtime().clone());
    let fast = FastTrace::open(runtime, model.clone(), input.clone(), &MachineOptions::default()).unwrap();
    let full = RunTrace::honest(crate::runtime(), model, input, &MachineOptions::default(), Some(&dir), &mut |_, _| {}).unwrap();
    (fast, full, dir)
}

fn agree_everywhere(case: &str, macro_steps: &[u64]) {
    let (mut fast, mut full, dir) = both(case);
    let n = full.counts().len() as u64;
    assert_eq!(fast.macro_steps(), n);
    for i in 0..=n + 2 {
        assert_eq!(fast.root(LEVEL_MACRO, 0, i).unwrap(), full.root(LEVEL_MACRO, 0, i).unwrap(), "{case}: level-1 root {i}");
    }
    assert_eq!(fast.output_at(n), full.output_at(n));
    for &m in macro_steps {
        let count = full.counts().get(m as usize).copied().unwrap_or(0);
        // Forwards, backwards, the last instruction, the boundary, past the padded end.
        let mut positions = vec![0, 1, count / 2, count / 3, count.saturating_sub(1), count, count + 1, 5, count / 2 + 7, 1 << 40];
        positions.extend((0..8).map(|j| count * j / 8));
        for &p in &positions {
            assert_eq!(
                fast.root(LEVEL_INSTRUCTION, m, p).unwrap(),
                full.root(LEVEL_INSTRUCTION, m, p).unwrap(),
                "{case}: level-2 root of macro-step {m} at {p} (of {count})"
            );
        }
        for &p in &[count.saturating_sub(1), 0, count / 2, count, count + 3] {
            assert_eq!(fast.step_proof(m, p).unwrap(), full.step_proof(m, p).unwrap(), "{case}: step proof of macro-step {m} at {p} (of {count})");
        }
    }
    assert!(!fast.confirmed() && fast.divergence().is_none(), "the fast view answered on its own");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fast_view_agrees_with_the_full_index_on_silero() {
    agree_everywhere("silero_vad", &[0, 1, 16, 17, 18, 25]);
}

#[test]
fn fast_view_agrees_with_the_full_index_on_the_detector() {
    // The detector's heaviest node (a Conv) and a few others.
    agree_everywhere("ppocr_det", &[0, 8, 101, 290, 300]);
}
