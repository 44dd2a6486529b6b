//! Long formulas on the command line: `x+x+...+x` with 24,000 terms (48 KB, close to the 128 KiB
//! a single argument may have on Linux) used to abort `downhill sweep` (exit 134) by overflowing
//! a worker thread's stack. Every command now takes it, and deep nesting is a one-line refusal.

use std::process::Command;

fn downhill(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_downhill")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_24000_term_chain_runs_in_sweep_run_and_analyze() {
    let n = 24_000;
    let chain = vec!["x"; n].join("+");
    let dir = std::env::temp_dir().join(format!("downhill-formulas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("sweep.csv");
    let (code, _, err) = downhill(&[
        "sweep",
        "--expr",
        &chain,
        "--optimizer",
        "gd:lr=0.001|0.01",
        "--steps",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // f = n x, f' = n: ten GD steps from 0 reach x = -10 lr n, where f = -10 lr n^2.
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (row, lr) in rows.iter().zip([0.001, 0.01]) {
        let nf = n as f64;
        assert_eq!(row[col("final_0")].parse::<f64>().unwrap(), -10.0 * lr * nf);
        assert_eq!(row[col("loss")].parse::<f64>().unwrap(), -10.0 * lr * nf * nf);
    }
    let (code, stdout, err) =
        downhill(&["run", "--expr", &chain, "--optimizer", "gd:lr=1e-6", "--steps", "3"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("max_steps"), "{stdout}");
    let (code, stdout, err) = downhill(&["analyze", "--expr", &chain, "--at", "1", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["point"]["value"].as_f64(), Some(n as f64), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deep_nesting_is_refused_in_one_short_message() {
    let deep = "-".repeat(24_000) + "x";
    let (code, stdout, err) = downhill(&["run", "--expr", &deep, "--optimizer", "gd", "--steps", "3"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(err.contains("formula nested deeper than 200 levels at column 201"), "{err}");
    assert!(err.len() < 300, "{} bytes", err.len());
}
