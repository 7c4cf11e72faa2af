//! `gavel prove-step`, `gavel verify-step` and `gavel run --exact-steps` as separate processes.

use gavel_tests::{gavel, repo};

fn silero_args() -> Vec<String> {
    let d = repo().join("tests/data/silero_vad/inputs");
    let input = |n: &str| format!("{n}={}", d.join(format!("{n}.npy")).display());
    vec![
        "--model".into(),
        repo().join("models/silero_vad.onnx").display().to_string(),
        "--input".into(),
        input("input"),
        "--input".into(),
        input("sr"),
        "--input".into(),
        input("state"),
    ]
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "gavel failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run(extra: &[&str]) -> serde_json::Value {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.splice(1..1, silero_args());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    json(&gavel(&refs))
}

#[test]
fn prove_step_and_verify_step_agree_on_the_root_after() {
    let dir = std::env::temp_dir().join(format!("gavel-step-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exact = run(&["run", "--exact-steps", "--json"]);
    let total = exact["instructions"].as_u64().unwrap();
    let plain = run(&["run", "--json"]);
    assert_eq!(exact["state_root"], plain["state_root"]);
    // Fuel is an approximation; the exact count is what a proof indexes.
    assert!(total > 1_000_000);
    for step in [0, 1, total / 3, total - 1] {
        let out = dir.join(format!("{step}.bin"));
        let p = run(&["prove-step", "--step", &step.to_string(), "--out", out.to_str().unwrap(), "--json"]);
        assert_eq!(p["step"].as_u64(), Some(step));
        assert!(p["opcode"].as_str().is_some_and(|o| o != "unknown"));
        let v = json(&gavel(&["verify-step", out.to_str().unwrap(), "--json"]));
        assert_eq!(v["root_after"], p["root_after"]);
        assert_eq!(v["root_before"], p["root_before"]);
        if step == total - 1 {
            // The last step of the run ends the last macro-step: the final state root.
            assert_eq!(p["root_after"], plain["state_root"]);
        }
        if step == 0 {
            assert_eq!(p["opcode"], "invoke");
        }
        // A flipped byte is rejected with a one-line error and a non-zero exit.
        let mut bytes = std::fs::read(&out).unwrap();
        let k = bytes.len() / 2;
        bytes[k] ^= 0x10;
        let bad = dir.join("bad.bin");
        std::fs::write(&bad, &bytes).unwrap();
        let o = gavel(&["verify-step", bad.to_str().unwrap()]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("error: invalid proof"), "{err}");
    }
    // A level-2 trace of the last macro-step ends at the final root.
    let t = dir.join("l2.json");
    let last = exact["steps"].as_u64().unwrap() - 1;
    let l2 = run(&["trace-steps", "--macro-step", &last.to_string(), "--stride", "1000", "--out", t.to_str().unwrap(), "--json"]);
    assert_eq!(l2["last_root"], plain["state_root"]);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&t).unwrap()).unwrap();
    assert_eq!(doc["roots"].as_array().unwrap().len() as u64, l2["steps"].as_u64().unwrap().div_ceil(1000) + 1);
    // Past the end of the run.
    let o = {
        let mut args: Vec<String> = vec!["prove-step".into()];
        args.extend(silero_args());
        args.extend(["--step".into(), total.to_string(), "--out".into(), dir.join("x.bin").display().to_string()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        gavel(&refs)
    };
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("past the end of the run"));
    // Not a proof file; truncated proof.
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"hello").unwrap();
    let o = gavel(&["verify-step", junk.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not a gavel proof file"));
    let full = std::fs::read(dir.join("1.bin")).unwrap();
    std::fs::write(&junk, &full[..full.len() - 7]).unwrap();
    let o = gavel(&["verify-step", junk.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("truncated"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The committed cross-language vectors are exactly what the current code generates (so the
/// Solidity verifier is always tested against today's Rust semantics), and cover every opcode
/// of the pinned guest (`gavel guest vectors` fails otherwise).
#[test]
fn committed_vectors_are_current() {
    let dir = std::env::temp_dir().join(format!("gavel-vectors-{}", std::process::id()));
    let out = gavel(&["guest", "vectors", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["numeric-integer.json", "numeric-float.json", "steps-synthetic.json", "steps-silero.json", "game.json", "tree.json", "binding.json"] {
        let fresh = std::fs::read(dir.join(name)).unwrap();
        let committed = std::fs::read(repo().join("spec/vectors").join(name)).unwrap();
        assert!(fresh == committed, "spec/vectors/{name} is stale: run `gavel guest vectors`");
    }
    std::fs::remove_dir_all(&dir).ok();
}
