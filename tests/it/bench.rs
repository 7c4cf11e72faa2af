//! `gavel bench` as a separate process, on the smallest real model.

use gavel_tests::gavel;

fn json(args: &[&str]) -> serde_json::Value {
    let out = gavel(args);
    assert!(out.status.success(), "gavel {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bench_reports_native_guest_and_traced_runs() {
    let v = json(&["bench", "--case", "silero_vad", "--iters", "1", "--json"]);
    let case = &v["cases"][0];
    assert_eq!(case["case"], "silero_vad");
    for key in [
        "native_infer_ms",
        "guest_infer_ms",
        "native_infer_min_ms",
        "guest_infer_min_ms",
        "guest_over_native_infer",
        "plain_run_ms",
        "traced_run_ms",
        "traced_over_plain",
        "traced_over_plain_without_root",
        "final_root_ms",
    ] {
        assert!(case[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {case}");
    }
    // Both ratios are medians of per-iteration ratios, and without the final root each plain run
    // is shorter, so each per-iteration ratio is larger.
    let (with_root, without_root) = (case["traced_over_plain"].as_f64(), case["traced_over_plain_without_root"].as_f64());
    assert!(without_root >= with_root, "{case}");
    assert_eq!(case["macro_steps"].as_u64(), Some(18));
    assert!(case["instructions"].as_f64().is_some_and(|x| x > 1e6));
}

#[test]
fn bench_profile_times_the_same_plan_nodes_on_both_sides() {
    let v = json(&["bench", "--profile", "--case", "silero_vad", "--iters", "1", "--json"]);
    let case = &v["cases"][0];
    let ops = case["ops"].as_array().unwrap();
    assert!(!ops.is_empty());
    // silero-vad's plan is the same on both sides: every op runs the same number of nodes.
    for op in ops {
        assert_eq!(op["native_nodes"], op["guest_nodes"], "{op}");
        assert!(op["native_nodes"].as_u64().is_some_and(|n| n > 0), "{op}");
    }
    // The model's body is one IfThenElse node (the sample-rate branch), where all the time goes.
    let body = ops.iter().find(|o| o["op"] == "IfThenElse").expect("IfThenElse node");
    assert!(body["native_ms"].as_f64().is_some_and(|x| x > 0.0));
    assert!(body["guest_ms"].as_f64().is_some_and(|x| x > 0.0));
    let total: f64 = ops.iter().filter_map(|o| o["guest_ms"].as_f64()).sum();
    assert!((case["guest_ms"].as_f64().unwrap() - total).abs() < 1e-6);
}

/// `gavel bench --sybils`: on its own anvil, the honest watchtower answers every sybil counter
/// of a false claim (one honest counter each, plus one of the claim), resolves all of it, and
/// ends in profit.
#[test]
fn bench_sybils_honest_side_answers_every_sybil_and_profits() {
    let v = json(&["bench", "--sybils", "1,3", "--json"]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    for (row, s) in rows.iter().zip([1u64, 3]) {
        assert_eq!(row["sybils"].as_u64(), Some(s), "{row}");
        // The claim, S sybils, the honest counter of the claim and one of each sybil.
        assert_eq!(row["nodes"].as_u64(), Some(2 * s + 2), "{row}");
        assert_eq!(row["honest_counters"].as_u64(), Some(s + 1), "{row}");
        assert_eq!(row["honest_resolves"].as_u64(), Some(2 * s + 2), "{row}");
        assert!(row["honest_profit_eth"].as_f64().is_some_and(|p| p > 0.5), "{row}");
        assert!(row["honest_gas"].as_u64().is_some_and(|g| g > 300_000 * s), "{row}");
    }
}
