//! Hostile input against the command line: unbounded work is refused or bounded, every reader
//! has a size limit, outputs are written through unique temporary files, journals and
//! checkpoints are checked against the run they continue, and errors are one clear line.
//! Memory is measured from /proc (the peak resident size, VmHWM); no test here needs more than
//! a few hundred MB.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn downhill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_downhill")).args(args).output().expect("binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-hardening-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exit code 2, one line on stderr containing `needle`, nothing on stdout, no panic.
fn refused(args: &[&str], needle: &str) -> String {
    let t0 = Instant::now();
    let out = downhill(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: '{err}' lacks '{needle}'");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(t0.elapsed() < Duration::from_secs(20), "{args:?} took {:?}", t0.elapsed());
    err
}

/// Runs `args` for `secs` seconds (or until it exits) and returns its peak resident memory in MB.
fn peak_mb_within(args: &[&str], secs: f64) -> f64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_downhill"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let t0 = Instant::now();
    let mut peak_kb = 0.0f64;
    while t0.elapsed().as_secs_f64() < secs {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    peak_kb / 1024.0
}

#[test]
fn long_runs_and_comparisons_take_bounded_memory() {
    // Before: every point was kept (6.8 GB after 6 s for 1e12 steps; compare aborted).
    let cases: &[&[&str]] = &[
        &["run", "--objective", "rosenbrock", "--optimizer", "gd:lr=1e-4", "--steps", "1000000000000"],
        &[
            "run",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "gd:lr=1e-4",
            "--steps",
            "1000000000000",
            "--format",
            "csv",
        ],
        &[
            "run",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "gd:lr=1e-4",
            "--steps",
            "1000000000000",
            "--format",
            "jsonl",
        ],
        &[
            "compare",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "gd",
            "--optimizer",
            "adam",
            "--steps",
            "1000000000",
        ],
    ];
    for args in cases {
        let mb = peak_mb_within(args, 2.5);
        assert!(mb > 0.0 && mb < 100.0, "{args:?}: {mb:.0} MB");
    }
    // A checkpointed run keeps its points in the checkpoint, so they must be few: refused up front.
    let dir = scratch("long");
    let ck = dir.join("run.ck");
    refused(
        &[
            "run",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "gd",
            "--steps",
            "1000000000000",
            "--every",
            "1000000",
            "--checkpoint",
            s(&ck),
        ],
        "a checkpointed run keeps at most 100000 points: record fewer with --every 20000000 or more",
    );
    // With few points it runs in segments, in little memory, and writes small checkpoints.
    let mb = peak_mb_within(
        &[
            "run",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "gd:lr=1e-4",
            "--steps",
            "10000000000",
            "--every",
            "1000000",
            "--checkpoint",
            s(&ck),
            "--checkpoint-every",
            "200000",
        ],
        2.5,
    );
    assert!(mb > 0.0 && mb < 100.0, "checkpointed: {mb:.0} MB");
    assert!(std::fs::metadata(&ck).unwrap().len() < 100_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_output_beyond_the_memory_limit_is_refused_up_front() {
    let err = refused(
        &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--steps", "10000000", "--format", "json"],
        "10000002 points (about 880.0 MB in memory); the limit is 256 MiB of points",
    );
    assert!(err.contains("--every 5 or more, or stream them with --format csv or --format jsonl"), "{err}");
    refused(
        &[
            "compare",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "gd",
            "--optimizer",
            "adam",
            "--steps",
            "10000000",
            "--format",
            "json",
        ],
        "record fewer",
    );
    // Within the limit the document keeps its documented shape.
    let out = downhill(&[
        "run",
        "--objective",
        "rosenbrock",
        "--optimizer",
        "gd",
        "--steps",
        "4",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trajectory"].as_array().unwrap().len(), 5);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "objective",
            "optimizer",
            "dtype",
            "start",
            "stop",
            "detail",
            "steps",
            "evaluations",
            "hessian_evaluations",
            "params",
            "loss",
            "grad_norm",
            "distance_to_minimum",
            "eval_params",
            "eval_loss",
            "trajectory"
        ]
    );
}

#[test]
fn streamed_formats_match_the_library_point_for_point() {
    use downhill::optim::{self, BuildOptions};
    let objective = downhill::objectives::build::<f64>("rosenbrock").unwrap();
    let mut opt = optim::build::<f64>("adam:lr=0.01", &BuildOptions::default()).unwrap();
    let want = downhill::minimize(
        objective.as_ref(),
        opt.as_mut(),
        &[-1.5, 2.5],
        &downhill::RunOptions { record_every: 7, ..downhill::RunOptions::steps(100) },
        None,
    )
    .unwrap();
    let base =
        ["run", "--objective", "rosenbrock", "--optimizer", "adam:lr=0.01", "--steps", "100", "--every", "7"];
    let csv = downhill(&[&base[..], &["--format", "csv"]].concat());
    let rows: Vec<Vec<f64>> = String::from_utf8(csv.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), want.trajectory.len());
    for (row, p) in rows.iter().zip(&want.trajectory) {
        assert_eq!((row[0] as u64, row[1], row[4], row[5]), (p.step, p.loss, p.params[0], p.params[1]));
    }
    let jsonl = downhill(&[&base[..], &["--format", "jsonl"]].concat());
    let lines: Vec<serde_json::Value> =
        String::from_utf8(jsonl.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), want.trajectory.len() + 2);
    assert_eq!(lines[0]["optimizer"]["name"], "adam");
    for (line, p) in lines[1..].iter().zip(&want.trajectory) {
        assert_eq!(line["step"].as_u64(), Some(p.step));
        assert_eq!(line["params"][1].as_f64(), Some(p.params[1]));
    }
    let last = lines.last().unwrap();
    assert_eq!((last["stop"].as_str(), last["steps"].as_u64()), (Some("max_steps"), Some(100)));
    assert_eq!(last["loss"].as_f64(), Some(want.loss));
}

#[test]
fn clear_one_line_errors() {
    refused(
        &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--stepz", "3"],
        "(a similar argument exists: '--steps'); see 'downhill run --help'",
    );
    refused(
        &["run", "--objective", "rosenbrock"],
        "required arguments were not provided: --optimizer <SPEC>",
    );
    refused(
        &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--steps", "10", "--every", "20"],
        "every: 20 is not in [1, 10]",
    );
    refused(
        &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--resume", "missing.ck"],
        "missing.ck: cannot read",
    );
    refused(&["run", "--objective", "rosenbrock:a=1e308,b=1e308", "--optimizer", "gd"], "rosenbrock:a=");
    refused(
        &["train", "--csv", "a.csv", "--idx", "b", "--idx-labels", "c"],
        "'--csv <FILE>' cannot be used with '--idx <FILE>'",
    );
    refused(&["train", "--model", "softmax:x=1"], "unknown model key 'x'; accepted: none (it takes no keys)");
    refused(&["train", "--model", "mlp:hidden=64,,,,"], "an entry is empty");
    refused(&["analyze", "--objective", "sphere:dim=100000"], "use L-BFGS or a first-order method");
    refused(
        &["run", "--objective", "rosenbrock:dim=100000", "--optimizer", "newton", "--steps", "2"],
        "newton: dimension: 100000 is not in [1, 1000]",
    );
    refused(
        &["run", "--objective", "sphere:dim=20000", "--optimizer", "newton", "--steps", "2"],
        "use L-BFGS",
    );
    // A formula error shows the formula with a caret under the culprit (three lines).
    let out = downhill(&["run", "--expr", "x²", "--optimizer", "gd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected character '²'"));
}

#[test]
fn every_reader_has_a_size_limit() {
    let dir = scratch("readers");
    let png = dir.join("x.png");
    refused(&["plot", "/dev/zero", "-o", s(&png)], "/dev/zero: larger than the 256 MiB limit");
    refused(
        &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--resume", "/dev/zero"],
        "not a downhill checkpoint",
    );
    refused(&["train", "--csv", "/dev/zero"], "larger than the 256 MiB limit");
    // A checkpoint header that claims an absurd payload is refused before reading it.
    let ck = dir.join("huge.ck");
    std::fs::write(&ck, "DOWNHILL-CHECKPOINT 2 run crc32=00000000 bytes=99999999999999\n").unwrap();
    refused(
        &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--resume", s(&ck)],
        "checkpoints are at most",
    );
    assert!(!png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// CRC-32, as checkpoints and journals use.
fn crc32(bytes: &[u8]) -> u32 {
    downhill_runs::crc32(bytes)
}

#[test]
fn checkpoints_are_checked_against_the_run_and_never_overwrite_other_files() {
    let dir = scratch("ck");
    let ck = dir.join("run.ck");
    let base = [
        "run",
        "--objective",
        "rosenbrock",
        "--optimizer",
        "adam:lr=0.01",
        "--steps",
        "50",
        "--format",
        "json",
    ];
    let args = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|a| a.to_string()).collect() };
    let run = |a: &[String]| downhill(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let first = run(&args(&["--checkpoint", s(&ck)]));
    assert!(first.status.success());
    // A well-formed checkpoint with a recomputed checksum but a step this run cannot reach.
    let text = std::fs::read_to_string(&ck).unwrap();
    let (_, body) = text.split_once('\n').unwrap();
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["step"] = serde_json::json!(1_000_000_000_000_000_000u64);
    v["optimizer_state"]["step"] = v["step"].clone();
    let body = serde_json::to_string(&v).unwrap();
    let forged = format!(
        "DOWNHILL-CHECKPOINT 2 run crc32={:08x} bytes={}\n{body}",
        crc32(body.as_bytes()),
        body.len()
    );
    std::fs::write(&ck, forged).unwrap();
    let out = run(&args(&["--resume", s(&ck)]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("step 1000000000000000000 is beyond this run's 50 steps"));
    // --checkpoint over a file that is not a checkpoint: refused, the file kept; --force overwrites.
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "my notes\n").unwrap();
    let out = run(&args(&["--checkpoint", s(&notes)]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a downhill checkpoint; give --force"));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    assert!(run(&args(&["--checkpoint", s(&notes), "--force"])).status.success());
    assert!(std::fs::read_to_string(&notes).unwrap().starts_with("DOWNHILL-CHECKPOINT 2 run"));
    // The checkpoint holds the points kept for the output, not a trajectory of every step.
    let out = run(&[
        "run",
        "--objective",
        "rosenbrock",
        "--optimizer",
        "gd",
        "--steps",
        "100000",
        "--checkpoint",
        s(&ck),
    ]
    .map(String::from));
    assert!(out.status.success());
    let text = std::fs::read_to_string(&ck).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
    assert!(
        v["trajectory"].as_array().unwrap().len() <= 10_001,
        "{}",
        v["trajectory"].as_array().unwrap().len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outputs_never_follow_planted_symlinks() {
    let dir = scratch("symlink");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    // The old fixed temporary names, and the sweep's journal.
    for name in [".out.csv.partial", ".plot.png.partial.png", "out.csv.journal", ".log.jsonl.partial"] {
        std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
    }
    let out = dir.join("out.csv");
    let o = downhill(&[
        "sweep",
        "--objective",
        "rosenbrock",
        "--optimizer",
        "adam:lr=1e-3..1e-1:log:64",
        "--starts",
        "random:64",
        "--steps",
        "300",
        "--journal-secs",
        "0",
        "--quiet",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plot = dir.join("plot.png");
    let o = downhill(&[
        "compare",
        "--objective",
        "rosenbrock",
        "--optimizer",
        "gd",
        "--steps",
        "20",
        "--plot",
        s(&plot),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = dir.join("log.jsonl");
    let o = downhill(&["train", "--data", "iris", "--epochs", "2", "--quiet", "--log", s(&log)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(std::fs::read_to_string(&out).unwrap().lines().count() == 64 * 64 + 1);
    assert!(std::fs::read(&plot).unwrap().starts_with(b"\x89PNG"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_writers_to_one_output_each_leave_a_whole_file() {
    let dir = scratch("writers");
    let sweep = |out: &Path, steps: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_downhill"));
        c.args([
            "sweep",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "adam:lr=1e-4..1e-1:log:100,beta1=0.5..0.99:20",
            "--starts",
            "random:5",
            "--steps",
            steps,
            "--quiet",
            "--journal-secs",
            "0",
            "--out",
        ]);
        c.arg(out);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    let (ref_a, ref_b) = (dir.join("a.csv"), dir.join("b.csv"));
    assert!(sweep(&ref_a, "400").status().unwrap().success());
    assert!(sweep(&ref_b, "401").status().unwrap().success());
    let (a, b) = (std::fs::read(&ref_a).unwrap(), std::fs::read(&ref_b).unwrap());
    let out = dir.join("same.csv");
    for _ in 0..4 {
        let mut one = sweep(&out, "400").spawn().unwrap();
        let mut two = sweep(&out, "401").spawn().unwrap();
        let _ = (one.wait().unwrap(), two.wait().unwrap());
        let got = std::fs::read(&out).unwrap();
        assert!(got == a || got == b, "a fused file of {} bytes", got.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_is_checked_line_by_line_against_the_sweep() {
    let dir = scratch("journal");
    let sweep = |out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_downhill"));
        c.args([
            "sweep",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "adam:lr=1e-4..1e-1:log:64,beta1=0.5..0.99:16",
            "--starts",
            "random:4:seed=7",
            "--steps",
            "300",
            "--quiet",
            "--out",
        ]);
        c.arg(out);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    let reference = dir.join("ref.csv");
    assert!(sweep(&reference).status().unwrap().success());
    let want = std::fs::read(&reference).unwrap();
    // A killed sweep leaves a journal whose first line names the sweep.
    let out = dir.join("out.csv");
    let journal = dir.join("out.csv.journal");
    let header = loop {
        let mut child = sweep(&out).spawn().unwrap();
        let t0 = Instant::now();
        while !journal.exists() && child.try_wait().unwrap().is_none() && t0.elapsed().as_secs() < 60 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
        if let Some(h) =
            std::fs::read_to_string(&journal).ok().and_then(|t| t.lines().next().map(String::from))
        {
            break h;
        }
        let _ = std::fs::remove_file(&out);
    };
    assert!(header.starts_with("downhill-sweep-journal-v4 "), "{header}");
    // Journal lines for the first runs, from the reference rows (run, ..., loss, distance, stop,
    // steps, evaluations, final_0, final_1): what the sweep itself wrote for them.
    let row = |line: &str| {
        let c: Vec<&str> = line.rsplitn(8, ',').collect();
        let num = |s: &str| -> serde_json::Value {
            s.parse::<f64>().map_or(serde_json::Value::Null, |x| serde_json::json!(x))
        };
        let index: u64 = line.split(',').next().unwrap().parse().unwrap();
        serde_json::json!({"index": index, "loss": num(c[6]), "distance": num(c[5]), "stop": c[4], "steps": c[3].parse::<u64>().unwrap(), "evaluations": c[2].parse::<u64>().unwrap(), "params": [num(c[1]), num(c[0])]})
    };
    let reframe = |v: &serde_json::Value| {
        let json = v.to_string();
        format!("{:08x} {json}", crc32(json.as_bytes()))
    };
    let text = String::from_utf8(want.clone()).unwrap();
    let good: Vec<serde_json::Value> = text.lines().skip(1).take(40).map(row).collect();
    let mut lines: Vec<String> = vec![header.clone()];
    lines.extend(good.iter().map(reframe));
    // Without damage the journal's runs are taken as done and the result is the reference.
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let o = sweep(&out).stderr(Stdio::piped()).output().unwrap();
    assert!(o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), want);
    assert!(String::from_utf8_lossy(&o.stderr).is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    // Well-formed but wrong lines, each with a valid checksum unless the edit is the value itself.
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good[3].clone();
        f(&mut v);
        v
    };
    let cases: Vec<(&str, String)> = vec![
        ("duplicate", reframe(&good[1])),
        ("index", reframe(&with(&|v| v["index"] = serde_json::json!(99_999_999)))),
        ("length", reframe(&with(&|v| v["params"] = serde_json::json!([1.0, 2.0, 3.0])))),
        ("steps", reframe(&with(&|v| v["steps"] = serde_json::json!(99_999_999)))),
        // A changed value under the old checksum.
        ("value", reframe(&good[3]).replacen("\"loss\":", "\"loss\":7", 1)),
        ("separator", reframe(&with(&|v| v["loss"] = serde_json::json!(-1.0))).replacen(" {", "{", 1)),
    ];
    for (what, bad) in cases {
        let mut forged = lines.clone();
        forged.insert(3, bad);
        std::fs::write(&journal, forged.join("\n") + "\n").unwrap();
        let o = sweep(&out).stderr(Stdio::piped()).output().unwrap();
        assert!(o.status.success(), "{what}");
        assert_eq!(std::fs::read(&out).unwrap(), want, "{what}: the resumed sweep differs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("line 4:") && err.contains("the runs from there on are done again"),
            "{what}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outputs_are_checked_before_any_work() {
    let dir = scratch("outputs");
    let missing = dir.join("nodir").join("x");
    let t0 = Instant::now();
    refused(
        &["train", "--data", "winequality", "--epochs", "500", "--log", &format!("{}.jsonl", s(&missing))],
        "does not exist",
    );
    refused(
        &[
            "sweep",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "adam:lr=1e-3..1e-1:log:5",
            "--steps",
            "100",
            "--out",
            &format!("{}.csv", s(&missing)),
        ],
        "does not exist",
    );
    let file = dir.join("report");
    std::fs::write(&file, "").unwrap();
    refused(&["theory", "--report", s(&file)], "exists and is not a directory");
    let out = dir.join("s.csv");
    refused(
        &[
            "sweep",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "adam:lr=1e-3..1e-1:log:5",
            "--steps",
            "100",
            "--out",
            s(&out),
            "--heatmap",
            s(&dir.join("h.png")),
        ],
        "--heatmap needs two swept hyperparameters; this sweep varies lr",
    );
    assert!(!out.exists(), "the sweep ran before refusing");
    assert!(t0.elapsed() < Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_resumed_training_checks_the_data_content_not_its_path() {
    let dir = scratch("csvhash");
    let csv = dir.join("d1.csv");
    let mut text = String::from("a,b,y\n");
    for i in 0..40 {
        text.push_str(&format!("{},{},{}\n", i % 7, (i * 3) % 5, i % 2));
    }
    std::fs::write(&csv, &text).unwrap();
    let ck = dir.join("ck");
    let train = |csv_arg: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_downhill"))
            .current_dir(&dir)
            .args(["train", "--csv", csv_arg, "--model", "softmax", "--quiet"])
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(train("d1.csv", &["--epochs", "2", "--checkpoint", "ck"]).status.success());
    // The same bytes under another spelling of the path resume.
    let o = train("./d1.csv", &["--epochs", "3", "--checkpoint", "ck", "--resume", "ck"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Changed in place: refused, naming the data.
    std::fs::write(&csv, text.replace("\n3,", "\n4,")).unwrap();
    let o = train("d1.csv", &["--epochs", "4", "--resume", "ck"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("saved with different settings: data was \"csv:d1.csv#last crc32="), "{err}");
    let _ = ck;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hostile command lines, generated: every spec parser and loader through the binary under a
/// 2 GiB address-space limit. Each must end with 0, 1 or 2 within seconds, never panic or abort.
#[test]
fn generated_hostile_command_lines_never_crash() {
    let dir = scratch("fuzz");
    let garbage = dir.join("garbage.bin");
    let mut rng = downhill::rng::Rng::new(16);
    let bytes: Vec<u8> = (0..4096).map(|_| (rng.uniform() * 256.0) as u8).collect();
    std::fs::write(&garbage, &bytes).unwrap();
    let long = "9".repeat(5000);
    let values = [
        "0",
        "-1",
        "1e308",
        "-1e308",
        "1e-320",
        "nan",
        "inf",
        "",
        ",,,",
        "1..2:log:0",
        &long,
        "x",
        "0x10",
        "１",
    ];
    let mut lines: Vec<Vec<String>> = Vec::new();
    for v in values {
        let (opt, obj) = (format!("adam:lr={v},beta1={v}"), format!("rosenbrock:a={v},dim={v}"));
        lines.push(
            ["run", "--objective", "rosenbrock", "--optimizer", &opt, "--steps", "5"]
                .map(String::from)
                .to_vec(),
        );
        lines.push(
            ["run", "--objective", &obj, "--optimizer", "gd", "--steps", "5"].map(String::from).to_vec(),
        );
        let model = format!("mlp:hidden={v},act={v}");
        lines.push(["train", "--model", &model, "--epochs", "1", "--quiet"].map(String::from).to_vec());
        let schedule = format!("cosine:max={v},total={v}");
        lines.push(["schedule", &schedule, "--steps", "5"].map(String::from).to_vec());
        lines.push(
            ["run", "--objective", "rosenbrock", "--optimizer", "gd", "--steps", v]
                .map(String::from)
                .to_vec(),
        );
        lines.push(
            ["run", "--objective", "rosenbrock", "--optimizer", "gd", "--start", v]
                .map(String::from)
                .to_vec(),
        );
        lines.push(
            ["run", "--objective", "rosenbrock", "--optimizer", "gd", "--every", v]
                .map(String::from)
                .to_vec(),
        );
    }
    for reader in [
        vec!["plot", s(&garbage), "-o", "/nonexistent/x.png"],
        vec!["run", "--objective", "rosenbrock", "--optimizer", "gd", "--resume", s(&garbage)],
        vec!["train", "--csv", s(&garbage), "--epochs", "1"],
        vec!["train", "--idx", s(&garbage), "--idx-labels", s(&garbage), "--epochs", "1"],
        vec!["merge", s(&garbage), "-o", "/nonexistent/m.csv"],
    ] {
        lines.push(reader.iter().map(|a| a.to_string()).collect());
    }
    for args in &lines {
        let t0 = Instant::now();
        let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -v 2097152; exec '{}' {}", env!("CARGO_BIN_EXE_downhill"), quoted.join(" ")))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let short: Vec<String> = args.iter().map(|a| a.chars().take(30).collect()).collect();
        assert!(matches!(out.status.code(), Some(0..=2)), "{short:?}: {:?} {err}", out.status);
        assert!(!err.contains("panicked"), "{short:?}: {err}");
        assert!(t0.elapsed() < Duration::from_secs(30), "{short:?} took {:?}", t0.elapsed());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
