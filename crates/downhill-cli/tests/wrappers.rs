//! Optimizer wrappers and the new schedules through the binary: `run`, `compare`, `sweep`,
//! `train` (with `--reduce-on-plateau`) and `schedule`, each checked against the library.

use std::path::PathBuf;
use std::process::{Command, Output};

use downhill::optim;
use downhill::schedule::ReduceOnPlateau;
use downhill::{minimize, objectives, RunOptions, Schedule};
use serde_json::Value;

fn downhill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_downhill")).args(args).output().expect("binary runs")
}

fn stdout_json(args: &[&str]) -> Value {
    let out = downhill(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn fails_with(args: &[&str], needle: &str) {
    let out = downhill(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected '{needle}' in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-wrappers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The library's run of `spec` on Rosenbrock (a=1, b=10) from (-1.5, 2.5).
fn library_run(spec: &str, steps: u64) -> downhill::RunResult<f64> {
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let mut opt = optim::build::<f64>(spec, &Default::default()).unwrap();
    minimize(f.as_ref(), opt.as_mut(), &[-1.5, 2.5], &RunOptions::steps(steps), None).unwrap()
}

const WRAPPED: &[&str] = &[
    "lookahead(adam:lr=0.1):k=5,alpha=0.5",
    "ema(momentum:lr=0.002):decay=0.9",
    "accumulate(adam:lr=0.1):k=3",
    "skip-nonfinite(rmsprop:lr=0.01)",
    "sam(gd:lr=0.005):rho=0.01",
    "ema(lookahead(nesterov:lr=0.002):k=2)",
];

#[test]
fn run_accepts_wrapped_specs_and_matches_the_library() {
    for spec in WRAPPED {
        let v = stdout_json(&[
            "run",
            "--objective",
            "rosenbrock:a=1,b=10",
            "--optimizer",
            spec,
            "--start",
            "-1.5,2.5",
            "--steps",
            "60",
            "--format",
            "json",
        ]);
        let lib = library_run(spec, 60);
        let traj = v["trajectory"].as_array().unwrap();
        assert_eq!(traj.len(), lib.trajectory.len(), "{spec}");
        for (a, b) in traj.iter().zip(&lib.trajectory) {
            assert_eq!(a["params"][0].as_f64().unwrap(), b.params[0], "{spec} step {}", b.step);
            assert_eq!(a["params"][1].as_f64().unwrap(), b.params[1], "{spec} step {}", b.step);
        }
        // The report names the wrapper and, inside it, the wrapped optimizer.
        let name = spec.split('(').next().unwrap();
        assert_eq!(v["optimizer"]["name"], name, "{spec}");
        assert!(v["optimizer"]["optimizer"]["name"].is_string(), "{spec}: {}", v["optimizer"]);
    }
    let table = downhill(&[
        "run",
        "--objective",
        "rosenbrock",
        "--optimizer",
        "lookahead(adam:lr=0.1):k=5",
        "--steps",
        "3",
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("optimizer  lookahead (k=5, alpha=0.5, optimizer=adam (lr=0.1, beta1=0.9"),
        "{text}"
    );
}

#[test]
fn skip_nonfinite_sees_and_skips_non_finite_gradients_in_run() {
    // f = sqrt(x^2) = |x|: from x = 1, gd:lr=1 lands exactly on 0 (1 - 1 * 1), where the loss is
    // 0 but the gradient x / sqrt(x^2) is 0/0 = NaN. Unwrapped, the run stops there as before;
    // wrapped, the wrapper is handed that gradient, leaves x at 0 for max_consecutive_errors = 3
    // steps (counting them), then passes it on as optax does, and the NaN step stops the run.
    let run = |spec: &str| {
        stdout_json(&[
            "run",
            "--expr",
            "sqrt(x^2)",
            "--optimizer",
            spec,
            "--start",
            "1",
            "--steps",
            "20",
            "--format",
            "json",
        ])
    };
    let plain = run("gd:lr=1");
    assert_eq!(plain["stop"], "non_finite", "{plain}");
    assert_eq!(plain["steps"], 1);
    let wrapped = run("skip-nonfinite(gd:lr=1):max_consecutive_errors=3");
    assert_eq!(wrapped["stop"], "non_finite", "{wrapped}");
    // Step 1 reaches 0; steps 2-4 are skipped; step 5 takes the NaN gradient.
    assert_eq!(wrapped["steps"], 5, "{wrapped}");
    assert_eq!(wrapped["optimizer"]["skipped"], 3.0, "{}", wrapped["optimizer"]);
    let traj = wrapped["trajectory"].as_array().unwrap();
    assert_eq!(traj.len(), 5, "the start, then x = 0 after steps 1 to 4");
    for p in &traj[1..] {
        assert_eq!(p["params"][0].as_f64(), Some(0.0), "{p}");
        assert_eq!(p["loss"].as_f64(), Some(0.0), "{p}");
    }
    assert!(wrapped["detail"].as_str().unwrap().contains("step 5"), "{}", wrapped["detail"]);
}

#[test]
fn compare_and_tune_lr_keep_the_wrapper() {
    let v = stdout_json(&[
        "compare",
        "--objective",
        "rosenbrock:a=1,b=10",
        "--start",
        "-1.5,2.5",
        "--steps",
        "40",
        "--optimizer",
        "lookahead(adam:lr=0.1):k=5",
        "--optimizer",
        "sam(gd:lr=0.005)",
        "--format",
        "json",
    ]);
    for (r, spec) in
        v["results"].as_array().unwrap().iter().zip(["lookahead(adam:lr=0.1):k=5", "sam(gd:lr=0.005)"])
    {
        assert_eq!(r["spec"], spec);
        assert_eq!(r["loss"].as_f64().unwrap(), library_run(spec, 40).loss, "{spec}");
    }
    let tuned = stdout_json(&[
        "compare",
        "--objective",
        "rosenbrock:a=1,b=10",
        "--start",
        "-1.5,2.5",
        "--steps",
        "30",
        "--tune-lr",
        "--optimizer",
        "accumulate(adam:beta1=0.8):k=2",
        "--format",
        "json",
    ]);
    let r = &tuned["results"][0];
    let spec = r["spec"].as_str().unwrap();
    assert!(spec.starts_with("accumulate(adam:lr=") && spec.ends_with(",beta1=0.8):k=2"), "{spec}");
    assert_eq!(r["optimizer"]["optimizer"]["beta1"], 0.8);
    assert_eq!(r["loss"].as_f64().unwrap(), library_run(spec, 30).loss);
    let table = String::from_utf8_lossy(
        &downhill(&["compare", "--objective", "rosenbrock", "--steps", "5", "--optimizer", "ema(adam)"])
            .stdout,
    )
    .to_string();
    assert!(table.contains("ema(adam)"), "{table}");
}

#[test]
fn sweep_expands_ranges_inside_and_outside_the_wrapper() {
    let dir = scratch("sweep");
    let out = dir.join("sweep.csv");
    let o = downhill(&[
        "sweep",
        "--objective",
        "rosenbrock:a=1,b=10",
        "--optimizer",
        "lookahead(adam:lr=0.01|0.1):k=2|5",
        "--optimizer",
        "sam(gd:lr=0.001..0.004:2)",
        "--start",
        "-1.5,2.5",
        "--steps",
        "50",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..6], ["run", "total", "optimizer", "spec", "lr", "lookahead.k"]);
    assert_eq!(lines.count(), 6);
    let rows: Vec<csv::StringRecord> =
        csv::Reader::from_reader(text.as_bytes()).records().map(Result::unwrap).collect();
    let want = [
        "lookahead(adam:lr=0.01):k=2",
        "lookahead(adam:lr=0.01):k=5",
        "lookahead(adam:lr=0.1):k=2",
        "lookahead(adam:lr=0.1):k=5",
        "sam(gd:lr=0.001)",
        "sam(gd:lr=0.004)",
    ];
    let loss_col = header.iter().position(|h| *h == "loss").unwrap();
    for (row, spec) in rows.iter().zip(want) {
        // The spec is quoted where it holds commas.
        assert_eq!(&row[3], spec);
        assert_eq!(row.get(2), Some(optim::OptimizerSpec::parse(spec).unwrap().short_name().as_str()));
        let loss: f64 = row[loss_col].parse().unwrap();
        assert_eq!(loss, library_run(spec, 50).loss, "{spec}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_takes_wrappers_and_resumes_them() {
    let dir = scratch("train");
    let log = dir.join("log.jsonl");
    let o = downhill(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "3",
        "--quiet",
        "--optimizer",
        "ema(adam:lr=0.01):decay=0.9",
        "--optimizer",
        "sam(adam:lr=0.01):rho=0.05",
        "--optimizer",
        "lookahead(accumulate(sgd:lr=0.1):k=2):k=5",
        "--log",
        log.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for name in ["ema(adam:lr=0.01):decay=0.9", "sam(adam:lr=0.01):rho=0.05", "lookahead(accumulate(sgd"] {
        assert!(text.contains(name), "{text}");
    }
    let lines: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 9);
    // accumulate counts calls: 4 minibatches per epoch.
    assert_eq!(lines[8]["step"], 12);

    // Checkpoint and resume a wrapped optimizer: the same log as straight through.
    let (ck, straight, resumed) = (dir.join("ck"), dir.join("straight.jsonl"), dir.join("resumed.jsonl"));
    let base = ["train", "--data", "iris", "--quiet", "--optimizer", "lookahead(adam:lr=0.01):k=3"];
    let run = |extra: &[&str]| {
        let o = downhill(&[&base[..], extra].concat());
        assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["--epochs", "4", "--log", straight.to_str().unwrap()]);
    run(&["--epochs", "2", "--checkpoint", ck.to_str().unwrap()]);
    run(&["--epochs", "4", "--resume", ck.to_str().unwrap(), "--log", resumed.to_str().unwrap()]);
    let strip = |p: &PathBuf| -> Vec<(f64, f64)> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| (v["train_loss"].as_f64().unwrap(), v["val_loss"].as_f64().unwrap()))
            .collect()
    };
    assert_eq!(strip(&straight), strip(&resumed));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reduce_on_plateau_lowers_the_rate_as_pytorch_would_and_resumes() {
    let dir = scratch("plateau");
    let log = dir.join("log.jsonl");
    let keys = "factor=0.5,patience=1,threshold=1e-3";
    let base = [
        "train",
        "--data",
        "iris",
        "--quiet",
        "--optimizer",
        "lookahead(adam:lr=0.05):k=2",
        "--reduce-on-plateau",
        keys,
    ];
    let o = downhill(&[&base[..], &["--epochs", "24", "--log", log.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Replay the validation losses through the scheduler: each epoch's rate is the one it set.
    let mut p = ReduceOnPlateau::parse(keys).unwrap();
    let mut lr = 0.05;
    let mut reductions = 0;
    for l in &lines {
        assert_eq!(l["lr"].as_f64().unwrap(), lr, "epoch {}", l["epoch"]);
        let next = p.step(l["val_loss"].as_f64().unwrap(), lr);
        reductions += usize::from(next < lr);
        lr = next;
    }
    assert!(reductions >= 1, "the run should plateau at least once: {lines:?}");

    // Interrupted and resumed: the same rates and losses.
    let ck = dir.join("ck");
    let resumed = dir.join("resumed.jsonl");
    for extra in [
        vec!["--epochs", "12", "--checkpoint", ck.to_str().unwrap()],
        vec!["--epochs", "24", "--resume", ck.to_str().unwrap(), "--log", resumed.to_str().unwrap()],
    ] {
        let o = downhill(&[&base[..], &extra].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let again: Vec<Value> = std::fs::read_to_string(&resumed)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pick = |v: &[Value]| v.iter().map(|l| (l["lr"].clone(), l["val_loss"].clone())).collect::<Vec<_>>();
    assert_eq!(pick(&lines), pick(&again));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_wrapper_and_plateau_input_exits_2_with_one_line() {
    let run = ["run", "--objective", "rosenbrock", "--steps", "3", "--optimizer"];
    fails_with(&[&run[..], &["lookahead(adam):k=0"]].concat(), "lookahead.k: 0 is not in whole numbers 1..=");
    fails_with(&[&run[..], &["ema(adam):decay=1"]].concat(), "ema.decay: 1 is not in [0, 1)");
    fails_with(&[&run[..], &["lookahead:k=5"]].concat(), "lookahead wraps an optimizer");
    fails_with(&[&run[..], &["lookahead(adam"]].concat(), "with its ')'");
    fails_with(&[&run[..], &["sam(adam):rh=1"]].concat(), "did you mean 'rho'");
    let train = ["train", "--data", "iris", "--epochs", "1", "--quiet"];
    fails_with(
        &[&train[..], &["--reduce-on-plateau", "factor=2"]].concat(),
        "reduce-on-plateau.factor: 2 is not in (0, 1)",
    );
    fails_with(
        &[&train[..], &["--reduce-on-plateau", "patience=2", "--schedule", "cosine:max=0.1,total=10"]]
            .concat(),
        "--reduce-on-plateau: sets the learning rate itself",
    );
    fails_with(
        &[&train[..], &["--reduce-on-plateau", "", "--validation", "0"]].concat(),
        "--validation must be above 0",
    );
    fails_with(&[&train[..], &["--optimizer", "accumulate(adam):k=0"]].concat(), "accumulate.k: 0 is not in");
}

#[test]
fn schedule_command_knows_the_new_schedules() {
    let help = String::from_utf8_lossy(&downhill(&["schedule", "--help"]).stdout).to_string();
    for name in [
        "cosine-restarts:max=,min=0,period=,mult=1",
        "cyclic:base=,max=,up=,down=up",
        "linear:lr=",
        "piecewise:lr=,boundaries=",
    ] {
        assert!(help.contains(name), "{name} missing from:\n{help}");
    }
    for spec in [
        "cosine-restarts:max=0.1,min=0.001,period=7,mult=2",
        "cyclic:base=0.001,max=0.01,up=5,down=3,mode=exp_range,gamma=0.99",
        "linear:lr=0.1,start_factor=0.25,total=8",
        "piecewise:lr=1,boundaries=3,6,factors=0.5,0.1",
    ] {
        let v = stdout_json(&["schedule", spec, "--steps", "40", "--format", "json"]);
        let s = Schedule::parse(spec).unwrap();
        let lrs: Vec<f64> = v["lr"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(lrs, (0..40).map(|t| s.value(t)).collect::<Vec<_>>(), "{spec}");
    }
    let listing = String::from_utf8_lossy(&downhill(&["optimizers"]).stdout).to_string();
    for w in optim::WRAPPERS {
        assert!(listing.contains(w.name), "{} missing from `downhill optimizers`", w.name);
    }
}
