//! The `downhill` binary end to end: output is checked against the library and against the seed's
//! numpy fixture, never against the binary's own earlier output.

use std::process::{Command, Output};

use downhill::optim::{self, BuildOptions};
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

fn seed_fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../downhill/tests/fixtures/seed_figures.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn run_json_reproduces_seed_figure_1() {
    let fx = seed_fixture();
    for lr in ["0.001", "0.005", "0.02"] {
        let spec = format!("gd:lr={lr}");
        let v = stdout_json(&[
            "run",
            "--objective",
            "rosenbrock:a=1,b=10",
            "--optimizer",
            &spec,
            "--start",
            "-1.5,2.5",
            "--steps",
            "200",
            "--bound",
            "10",
            "--format",
            "json",
        ]);
        let want = fx["fig1"][lr]["path"].as_array().unwrap();
        let traj = v["trajectory"].as_array().unwrap();
        assert_eq!(traj.len(), want.len(), "lr {lr}");
        for (p, w) in traj.iter().zip(want) {
            assert_eq!(p["params"], *w, "lr {lr} step {}", p["step"]);
        }
        assert_eq!(v["steps"].as_u64().unwrap() as usize, want.len() - 1);
        assert_eq!(v["stop"], if lr == "0.02" { "diverged" } else { "max_steps" });
        assert_eq!(v["trajectory"][0]["step"], 0);
    }
}

#[test]
fn run_json_schema_and_agreement_with_the_library() {
    let v = stdout_json(&[
        "run",
        "--objective",
        "quadratic:a=50,b=1",
        "--optimizer",
        "adam:lr=0.1",
        "--start",
        "1,1",
        "--steps",
        "100",
        "--format",
        "json",
    ]);
    for key in ["objective", "optimizer", "stop", "steps", "params", "loss", "trajectory"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let o = &v["optimizer"];
    assert_eq!(
        (o["name"].as_str(), o["lr"].as_f64(), o["beta1"].as_f64()),
        (Some("adam"), Some(0.1), Some(0.9))
    );
    assert_eq!((o["beta2"].as_f64(), o["eps"].as_f64()), (Some(0.999), Some(1e-8)));
    assert_eq!(v["trajectory"].as_array().unwrap().len(), 101);

    let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let mut opt = optim::build::<f64>("adam:lr=0.1", &BuildOptions::default()).unwrap();
    let run = minimize(f.as_ref(), opt.as_mut(), &[1.0, 1.0], &RunOptions::steps(100), None).unwrap();
    let params: Vec<f64> = v["params"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(params, run.params);
    assert_eq!(v["loss"].as_f64().unwrap(), run.loss);
}

#[test]
fn run_with_a_schedule_reports_it_per_step() {
    let v = stdout_json(&[
        "run",
        "--objective",
        "quadratic:a=1",
        "--optimizer",
        "gd",
        "--schedule",
        "cosine:max=0.4,min=0.01,total=20",
        "--steps",
        "20",
        "--format",
        "json",
    ]);
    let s = Schedule::parse("cosine:max=0.4,min=0.01,total=20").unwrap();
    for p in v["trajectory"].as_array().unwrap() {
        let step = p["step"].as_u64().unwrap();
        assert_eq!(p["lr"].as_f64().unwrap(), s.value(step));
    }
}

#[test]
fn run_csv_and_table() {
    let out = downhill(&[
        "run",
        "--objective",
        "quadratic:a=1",
        "--optimizer",
        "gd:lr=0.25",
        "--steps",
        "4",
        "--format",
        "csv",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "step,loss,lr,grad_norm,x");
    // x_k = 2.5 / 2^k exactly, loss x^2, gradient norm 2|x|.
    assert_eq!(lines[1], "0,6.25,0.25,5,2.5");
    assert_eq!(lines[4], "3,0.09765625,0.25,0.625,0.3125");
    assert_eq!(lines.len(), 6);

    let out = downhill(&[
        "run",
        "--objective",
        "rosenbrock:a=1,b=10",
        "--optimizer",
        "gd:lr=0.005",
        "--start",
        "-1.5,2.5",
        "--steps",
        "200",
        "--bound",
        "10",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("stop       max_steps after 200 steps"), "{text}");
    assert!(text.contains("minimum    (1, 1)"), "{text}");
}

#[test]
fn f32_runs_print_f32_numbers() {
    let v = stdout_json(&[
        "run",
        "--objective",
        "quadratic:a=1",
        "--optimizer",
        "gd:lr=0.1",
        "--steps",
        "2",
        "--dtype",
        "f32",
        "--format",
        "json",
    ]);
    assert_eq!(v["dtype"], "f32");
    // 2.5 - 0.1 * 5 in f32 is 2.0 exactly; then 2.0 - 0.1*4 = 1.6 (rounded to f32, printed shortest).
    assert_eq!(v["trajectory"][1]["params"][0].as_f64(), Some(2.0));
    assert_eq!(v["params"][0].as_f64().unwrap() as f32, 2.0f32 - 0.1f32 * 4.0f32);
}

#[test]
fn schedule_command_matches_the_library() {
    let spec = "warmup-cosine:max=1e-3,min=1e-5,warmup=1000,total=10000";
    let out = downhill(&["schedule", spec, "--steps", "10000", "--format", "csv"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("step,lr"));
    let s = Schedule::parse(spec).unwrap();
    let mut n = 0;
    for (t, line) in lines.enumerate() {
        let (step, lr) = line.split_once(',').unwrap();
        assert_eq!(step.parse::<usize>().unwrap(), t);
        assert_eq!(lr.parse::<f64>().unwrap(), s.value(t as u64));
        n += 1;
    }
    assert_eq!(n, 10_000);
    let v = stdout_json(&["schedule", "step:lr=1,gamma=0.5,every=2", "--steps", "5", "--format", "json"]);
    assert_eq!(v["lr"], serde_json::json!([1.0, 1.0, 0.5, 0.5, 0.25]));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--objective", "rosenbrock", "--optimizer", "adma"], "did you mean 'adam'"),
        (&["run", "--objective", "rosenbrock", "--optimizer", "adam:nope=1"], "unknown adam key 'nope'"),
        (&["run", "--objective", "rosenbrock", "--optimizer", "gd:lr=0"], "gd.lr: 0 is not in (0, inf)"),
        (
            &["run", "--objective", "rosenbrock", "--optimizer", "gd:lr=-0.1"],
            "gd.lr: -0.1 is not in (0, inf)",
        ),
        (
            &["run", "--objective", "rosenbrock", "--optimizer", "momentum:beta=1"],
            "momentum.beta: 1 is not in [0, 1)",
        ),
        (
            &["run", "--objective", "rosenbrock", "--optimizer", "adam:eps=-1"],
            "adam.eps: -1 is not in (0, inf)",
        ),
        (
            &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--start", "1,2,3"],
            "expected 2 values, got 3",
        ),
        (
            &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--start", "1,nan"],
            "start[1]: NaN is not in",
        ),
        (&["run", "--objective", "rosenbrock", "--optimizer", "gd", "--steps", "0"], "steps: 0 is not in"),
        (
            &["run", "--objective", "rosenbrock", "--optimizer", "gd", "--bound", "-3"],
            "bound: -3 is not in (0, inf)",
        ),
        (&["run", "--objective", "nope", "--optimizer", "gd"], "unknown objective 'nope'"),
        (
            &["schedule", "warmup-cosine:max=1e-3,min=1e-5,warmup=2000,total=1000", "--steps", "10"],
            "warmup: 2000 must not exceed total (1000)",
        ),
        (&["schedule", "cosine:max=1e-3,min=1,total=10", "--steps", "10"], "min: 1 must not exceed max"),
        (&["schedule", "constant:lr=0.1", "--steps", "0"], "steps: 0 is not in"),
        (&["run", "--objective", "rosenbrock"], "--optimizer"),
    ];
    for (args, needle) in cases {
        let out = downhill(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: '{err}' lacks '{needle}'");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(!err.contains("panicked"), "{args:?} panicked");
        if !needle.starts_with("--") {
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
        }
    }
}

#[test]
fn non_finite_is_a_result_not_a_crash() {
    // lr far beyond 2/lambda_max overflows quickly without a bound.
    let v = stdout_json(&[
        "run",
        "--objective",
        "quadratic:a=1",
        "--optimizer",
        "gd:lr=1e150",
        "--steps",
        "50",
        "--format",
        "json",
    ]);
    assert_eq!(v["stop"], "non_finite");
    assert!(v["detail"].as_str().unwrap().contains("step"));
    let last = v["trajectory"].as_array().unwrap().last().unwrap().clone();
    assert!(last["loss"].as_f64().unwrap().is_finite());
}

#[test]
fn listings_name_every_optimizer() {
    let out = downhill(&["optimizers"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["gd", "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad", "lion", "newton"]
    {
        assert!(text.contains(name), "{name} missing");
    }
    let v = stdout_json(&["objectives", "--format", "json"]);
    assert!(v.as_array().unwrap().iter().any(|o| o["name"] == "rosenbrock"));
}

#[test]
fn every_optimizer_help_lists_the_whole_registry() {
    // The lists come from optim::REGISTRY, so they cannot drift (before, one named 9 of 28).
    for command in ["run", "compare", "sweep", "train"] {
        let out = downhill(&[command, "--help"]);
        let help = String::from_utf8(out.stdout).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
        for e in optim::REGISTRY {
            assert!(
                help.contains(&format!(" {},", e.name)) || help.contains(&format!(" {};", e.name)),
                "{command}: {}",
                e.name
            );
        }
        for w in optim::WRAPPERS {
            assert!(help.contains(&format!("{}(SPEC)", w.name)), "{command}: {}", w.name);
        }
    }
    // `downhill optimizers` prints each entry's keys with the declared defaults.
    let text = String::from_utf8(downhill(&["optimizers"]).stdout).unwrap();
    for e in optim::REGISTRY {
        assert!(text.contains(&e.summary()), "{}", e.name);
    }
}

#[test]
fn analyze_reports_the_seed_quadratic_numbers() {
    let v = stdout_json(&["analyze", "--objective", "quadratic:a=50,b=1", "--at", "1,1", "--format", "json"]);
    let p = &v["point"];
    assert_eq!(p["eigenvalues"], serde_json::json!([2.0, 100.0]));
    assert_eq!(p["condition_number"].as_f64(), Some(50.0));
    assert_eq!(p["optimal_lr"].as_f64(), Some(2.0 / 102.0));
    assert_eq!(p["divergence_threshold"].as_f64(), Some(0.02));
    assert_eq!(p["kind"], "not_critical");
    let v = stdout_json(&["analyze", "--expr", "x^3 - 3*x*y^2", "--at", "0,0", "--format", "json"]);
    assert_eq!(v["point"]["kind"], "degenerate");
    let v = stdout_json(&["analyze", "--objective", "himmelblau", "--format", "json"]);
    assert_eq!(v["box"]["critical_points"].as_array().unwrap().len(), 9);
}

#[test]
fn expressions_run_like_the_catalogue() {
    let a = stdout_json(&[
        "run",
        "--expr",
        "(1-x)^2 + 10*(y-x^2)^2",
        "--optimizer",
        "gd:lr=0.005",
        "--start",
        "-1.5,2.5",
        "--steps",
        "200",
        "--format",
        "json",
    ]);
    let fx = seed_fixture();
    let want = fx["fig1"]["0.005"]["path"].as_array().unwrap().last().unwrap().clone();
    for i in 0..2 {
        let got = a["params"][i].as_f64().unwrap();
        let w = want[i].as_f64().unwrap();
        assert!((got - w).abs() < 1e-12, "{got} vs {w}");
    }
    // --vars reorders the coordinates.
    let b = stdout_json(&[
        "run",
        "--expr",
        "(1-x)^2 + 10*(y-x^2)^2",
        "--vars",
        "y,x",
        "--optimizer",
        "gd:lr=0.005",
        "--start",
        "2.5,-1.5",
        "--steps",
        "200",
        "--format",
        "json",
    ]);
    assert_eq!(a["params"][0], b["params"][1]);
    // A bad formula shows where it is wrong.
    let out = downhill(&["run", "--expr", "(1-x", "--optimizer", "gd"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected ')'") && err.contains("(1-x\n") && err.contains("    ^"), "{err}");
    // A formula that leaves its domain stops non_finite.
    let v = stdout_json(&[
        "run",
        "--expr",
        "log(x)",
        "--optimizer",
        "gd:lr=1",
        "--start",
        "0.5",
        "--steps",
        "5",
        "--format",
        "json",
    ]);
    assert_eq!(v["stop"], "non_finite");
}

#[test]
fn every_catalogue_objective_runs_and_analyzes() {
    let list = stdout_json(&["objectives", "--format", "json"]);
    let names: Vec<String> =
        list.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect();
    assert!(names.len() >= 17, "{names:?}");
    for name in &names {
        let v = stdout_json(&[
            "run",
            "--objective",
            name,
            "--optimizer",
            "adam:lr=0.01",
            "--steps",
            "20",
            "--format",
            "json",
        ]);
        assert_eq!(v["steps"], 20, "{name}");
        let out = downhill(&["analyze", "--objective", name, "--grid", "5"]);
        // Ackley's default start is fine; only its minimum is not twice differentiable.
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_png(path: &std::path::Path, min_bytes: usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert!(bytes.len() > min_bytes, "{} is only {} bytes", path.display(), bytes.len());
    // Width and height from the IHDR chunk.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(w >= 1000 && h >= 700, "{}: {w}x{h}", path.display());
}

#[test]
fn figures_are_written_with_the_seed_data() {
    let dir = scratch("figures");
    let out = downhill(&["figures", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["gd_learning_rate", "optimizer_comparison", "lr_schedules"] {
        assert_png(&dir.join(format!("{name}.png")), 30_000);
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.len() > 30_000, "{name}.svg");
        let no_partial = std::fs::read_dir(&dir)
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().contains("partial"));
        assert!(no_partial, "temporary files left behind");
    }
    let svg = std::fs::read_to_string(dir.join("optimizer_comparison.svg")).unwrap();
    for text in [
        "Optimizer Comparison on Ill-Conditioned Quadratic",
        "Momentum (η=0.002, β=0.9)",
        "Adam (η=0.1)",
        "Start",
    ] {
        assert!(svg.contains(text), "figure 2 lacks '{text}'");
    }
    // The data behind the figures is the seed's numpy data.
    let fx = seed_fixture();
    let fig1: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gd_learning_rate.json")).unwrap()).unwrap();
    for (i, lr) in ["0.001", "0.005", "0.02"].iter().enumerate() {
        assert_eq!(fig1["runs"][i]["path"], fx["fig1"][*lr]["path"], "fig 1 lr {lr}");
    }
    let fig2: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("optimizer_comparison.json")).unwrap())
            .unwrap();
    for (i, key) in ["gd", "momentum", "adam"].iter().enumerate() {
        assert_eq!(fig2["runs"][i]["path"], fx["fig2"][*key]["path"], "fig 2 {key}");
    }
    let fig3: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("lr_schedules.json")).unwrap()).unwrap();
    assert_eq!(fig3["schedule"]["lr"], fx["fig3"]["schedule"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_matches_the_library_and_tunes_honestly() {
    let dir = scratch("compare");
    let png = dir.join("c.png");
    let v = stdout_json(&[
        "compare",
        "--objective",
        "quadratic:a=50,b=1",
        "--start",
        "1,0.3",
        "--steps",
        "60",
        "--optimizer",
        "gd:lr=0.005",
        "--optimizer",
        "momentum",
        "--tune-lr",
        "--plot",
        png.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_png(&png, 20_000);
    let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    // The tuned rate beats or ties every other rate on the grid (1e-4 .. 1, 13 values).
    for r in results {
        let name = r["optimizer"]["name"].as_str().unwrap().to_string();
        let best = r["loss"].as_f64().unwrap();
        for k in 0..=12 {
            let lr = 10f64.powf(-4.0 + k as f64 / 3.0);
            let mut o = optim::build::<f64>(&format!("{name}:lr={lr}"), &BuildOptions::default()).unwrap();
            let run = minimize(
                f.as_ref(),
                o.as_mut(),
                &[1.0, 0.3],
                &RunOptions { bound: Some(1e6), ..RunOptions::steps(60) },
                None,
            )
            .unwrap();
            if run.loss.is_finite() && run.stop != downhill::StopReason::Diverged {
                assert!(
                    best <= run.loss * (1.0 + 1e-9) + 1e-300,
                    "{name}: tuned {best} but lr {lr} gives {}",
                    run.loss
                );
            }
        }
        // And the reported run is what the library produces with that rate.
        let spec = r["spec"].as_str().unwrap();
        let mut o = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        let run = minimize(f.as_ref(), o.as_mut(), &[1.0, 0.3], &RunOptions::steps(60), None).unwrap();
        assert_eq!(r["loss"].as_f64().unwrap(), run.loss, "{spec}");
    }
    let out = downhill(&["compare", "--objective", "booth", "--optimizer", "adam", "--plot", "x.gif"]);
    assert_eq!(out.status.code(), Some(2), "bad plot extension is bad input");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tour_writes_everything_it_lists() {
    let dir = scratch("tour");
    let out = downhill(&["tour", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let listed: Vec<&str> =
        text.lines().map(str::trim).filter(|l| l.starts_with(dir.to_str().unwrap())).collect();
    // 9 figure files, 9 comparison files (the second Rosenbrock race has PyTorch's and optax's other
    // first-order methods), the theory report with one plot per check that has a chart, and the
    // training log and plot.
    let charts = downhill_theory::IDS
        .iter()
        .filter(|id| downhill_theory::run_with(id, downhill_theory::Effort::Quick).unwrap().chart.is_some())
        .count();
    assert_eq!(listed.len(), 9 + 9 + 2 + charts + 2, "{text}");
    for path in listed {
        assert!(std::fs::metadata(path).unwrap().len() > 1000, "{path}");
    }
    assert!(text.contains("newton"));
    assert!(["adamax", "adadelta", "rprop", "asgd", "adabelief", "adan", "lamb", "lars", "yogi", "novograd"]
        .iter()
        .all(|name| text.contains(name)));
    assert!(text.contains("Training an MLP on real data") && text.contains("muon:lr=0.01"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sweep CSV's rows as fields (the `csv` crate quotes a spec that holds commas).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

fn sweep_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "sweep",
        "--objective",
        "rosenbrock:a=1,b=10",
        "--optimizer",
        "adam:lr=1e-3..1e-1:log:5,beta1=0.8|0.9",
        "--optimizer",
        "gd:lr=0.001|0.005",
        "--starts",
        "grid:3x2",
        "--steps",
        "50",
        "--out",
        out,
        "--quiet",
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn sweep_rows_match_the_library_and_shards_cover_it() {
    let dir = scratch("sweep");
    let all = dir.join("all.csv");
    let heat = dir.join("heat.png");
    let out = downhill(&sweep_args(all.to_str().unwrap(), &["--heatmap", heat.to_str().unwrap()]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_png(&heat, 20_000);
    let text = std::fs::read_to_string(&all).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "run,total,optimizer,spec,lr,beta1,start_0,start_1,loss,distance,stop,steps,evaluations,final_0,final_1"
    );
    assert_eq!(lines.count(), (5 * 2 + 2) * 6);
    let rows = csv_records(&text);
    // Every row is what the library gives for that spec and start.
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    for row in &rows {
        let spec = row[3].as_str();
        let after: Vec<&str> = row[4..].iter().map(String::as_str).collect();
        // after: lr, beta1, start_0, start_1, loss, ...
        let start = [after[2].parse::<f64>().unwrap(), after[3].parse::<f64>().unwrap()];
        let mut o = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        let run = minimize(
            f.as_ref(),
            o.as_mut(),
            &start,
            &RunOptions { bound: Some(1e6), ..RunOptions::steps(50) },
            None,
        )
        .unwrap();
        assert_eq!(after[4].parse::<f64>().unwrap(), run.loss, "{row:?}");
        // Evaluations as `minimize` counts them (scipy's nfev: the start and one per step).
        assert_eq!(after[8].parse::<u64>().unwrap(), run.evaluations, "{row:?}");
    }
    // Three shards, merged, equal the unsharded sweep row for row.
    let mut parts = Vec::new();
    for i in 0..3 {
        let p = dir.join(format!("s{i}.csv"));
        let shard = format!("{i}/3");
        let out = downhill(&sweep_args(p.to_str().unwrap(), &["--shard", &shard]));
        assert!(out.status.success());
        parts.push(p);
    }
    let merged = dir.join("merged.csv");
    let mut margs = vec!["merge".to_string()];
    margs.extend(parts.iter().map(|p| p.to_str().unwrap().to_string()));
    margs.extend(["-o".into(), merged.to_str().unwrap().into()]);
    let out = downhill(&margs.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&merged).unwrap(), text);
    // A missing shard, or one given twice, is an error.
    let out = downhill(&[
        "merge",
        parts[0].to_str().unwrap(),
        parts[1].to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
    let out = downhill(&[
        "merge",
        parts[0].to_str().unwrap(),
        parts[0].to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than once"));
    // Shards from the environment, as a Slurm array or a Kubernetes Indexed Job sets them.
    let env_out = dir.join("env.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_downhill"))
        .args(sweep_args(env_out.to_str().unwrap(), &[]))
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&env_out).unwrap(), std::fs::read_to_string(&parts[1]).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_downhill"))
        .args(sweep_args(env_out.to_str().unwrap(), &["--shards", "3"]))
        .env("JOB_COMPLETION_INDEX", "2")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&env_out).unwrap(), std::fs::read_to_string(&parts[2]).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_sweeps_are_refused_before_running() {
    for (extra, needle) in [
        (vec!["--optimizer", "adam:lr=0..1:log:5"], "positive ends"),
        (vec!["--optimizer", "adam:lr=1e-3..1:cubic:5"], "range kind"),
        (vec!["--optimizer", "adam:beta1=0.5|1.5"], "adam.beta1: 1.5 is not in [0, 1)"),
        (vec!["--optimizer", "adam", "--shard", "3/3"], "shard"),
        (vec!["--optimizer", "adam", "--starts", "grid:0x3"], "grid sides"),
        (
            vec!["--optimizer", "adam:lr=1e-3|1e-2,beta1=0.8|0.9", "--heatmap", "h.gif"],
            "must end in .png or .svg",
        ),
    ] {
        let mut args = vec!["sweep", "--objective", "booth", "--steps", "5", "--out", "/nonexistent/x.csv"];
        args.extend(extra);
        let out = downhill(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn theory_json_lists_every_check_and_the_report_renders() {
    let dir = scratch("theory");
    let v = stdout_json(&["theory", "--quick", "--format", "json", "--report", dir.to_str().unwrap()]);
    let checks = v["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in downhill_theory::IDS {
        assert!(ids.contains(id), "{id} missing");
    }
    for c in checks {
        for key in ["id", "claim", "source", "verdict", "quantity", "predicted", "measured", "details"] {
            assert!(c.get(key).is_some(), "{}: no {key}", c["id"]);
        }
        assert!(["holds", "holds-with-caveat", "fails"].contains(&c["verdict"].as_str().unwrap()));
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("saddle-fraction") && html.contains("<img"));
    assert!(
        html.contains("<th>what they are</th>") && html.contains("largest ratio of f_T - f* to the bound")
    );
    assert_png(&dir.join("edge-of-stability.png"), 20_000);
    assert_png(&dir.join("saddle-fraction.png"), 20_000);
    let out = downhill(&["theory", "--check", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Splits one CSV record (RFC 4180 quoting, no embedded newlines).
fn csv_record(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[test]
fn theory_formats_say_what_each_number_is() {
    let ids = ["--check", "gd-convex-rate", "--check", "momentum-window"];
    let run = |format: &str| {
        let mut args = vec!["theory", "--format", format];
        args.extend(ids);
        let out = downhill(&args);
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json = stdout_json(&[
        "theory",
        "--format",
        "json",
        "--check",
        "gd-convex-rate",
        "--check",
        "momentum-window",
    ]);
    let checks = json["checks"].as_array().unwrap();
    // CSV: a header and one record per check, its fields the JSON's.
    let csv = run("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,verdict,quantity,predicted,measured,claim,source,details");
    assert_eq!(lines.len(), 3, "{csv}");
    for (line, c) in lines[1..].iter().zip(checks) {
        let f = csv_record(line);
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!(f[0], c["id"].as_str().unwrap());
        assert_eq!(f[2], c["quantity"].as_str().unwrap());
        assert_eq!(f[4].parse::<f64>().unwrap(), c["measured"].as_f64().unwrap());
        assert_eq!(f[7], c["details"].as_str().unwrap());
    }
    // Markdown: a table with the quantity column and a section per check.
    let md = run("markdown");
    assert!(md.starts_with("# downhill theory"), "{md}");
    assert!(md.contains("| check | verdict | predicted | measured | what they are |"), "{md}");
    assert!(md.contains("## momentum-window") && md.contains("centre of mass of its impulse response"));
    assert!(!md.contains("id,verdict"));
    assert_eq!(run("md"), md);
    // The table says what predicted and measured are under each row.
    let table = run("table");
    assert!(table.contains("predicted, measured: largest ratio of f_T - f* to the bound"), "{table}");
    let out = downhill(&["theory", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("csv"));
}

#[test]
fn a_killed_sweep_resumes_to_the_same_result() {
    let dir = scratch("fault");
    let sweep = |out: &std::path::Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_downhill"));
        c.args([
            "sweep",
            "--objective",
            "rosenbrock",
            "--optimizer",
            "adam:lr=1e-4..1e-1:log:100,beta1=0.5..0.99:100",
            "--optimizer",
            "rmsprop:lr=1e-3|1e-2",
            "--starts",
            "random:3:seed=7",
            "--steps",
            "1500",
            "--quiet",
            "--out",
        ]);
        c.arg(out);
        c
    };
    let reference = dir.join("ref.csv");
    assert!(sweep(&reference).status().unwrap().success());
    // Kill the same sweep with SIGKILL at several points, resuming each time.
    let out = dir.join("out.csv");
    let journal = dir.join("out.csv.journal");
    let mut rng = downhill::rng::Rng::new(2026);
    let mut journal_lines = Vec::new();
    for _ in 0..4 {
        let mut child = sweep(&out).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.range(150.0, 700.0) as u64));
        let _ = child.kill();
        let _ = child.wait();
        if let Ok(j) = std::fs::read_to_string(&journal) {
            journal_lines.push(j.lines().count());
        }
        assert!(
            !out.exists() || std::fs::read(&out).unwrap() == std::fs::read(&reference).unwrap(),
            "a partial output was left"
        );
    }
    let done = sweep(&out).output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&reference).unwrap(), "resumed sweep differs");
    assert!(!journal.exists(), "journal left after completion");
    eprintln!("journal lines after each kill: {journal_lines:?}");
    // A torn journal line (a kill mid-write) is dropped, not misread.
    let mut child = sweep(&out).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let _ = child.kill();
    let _ = child.wait();
    if journal.exists() {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
        f.write_all(b"{\"index\": 12, \"spec\": \"ada").unwrap();
    }
    assert!(sweep(&out).status().unwrap().success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&reference).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_checkpoints_resume_exactly_and_refuse_damage() {
    let dir = scratch("checkpoint");
    let ck = dir.join("run.ck");
    let base = [
        "run",
        "--objective",
        "rosenbrock",
        "--optimizer",
        "adam:lr=0.001",
        "--format",
        "json",
        "--every",
        "1000000",
    ];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    let run = |args: &[String]| downhill(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // Segments with checkpoints give exactly the uninterrupted output.
    let plain = run(&with(&["--steps", "3000000"]));
    assert!(plain.status.success());
    // Kill a checkpointing run part-way, then resume it.
    let args =
        with(&["--steps", "3000000", "--checkpoint", ck.to_str().unwrap(), "--checkpoint-every", "150000"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_downhill"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as its first checkpoint is on disk (however slow the machine is).
    let t0 = std::time::Instant::now();
    while !ck.exists() && child.try_wait().unwrap().is_none() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ck.exists(), "no checkpoint written");
    let header = std::fs::read_to_string(&ck).unwrap().lines().next().unwrap().to_string();
    assert!(header.starts_with("DOWNHILL-CHECKPOINT 2 run crc32="), "{header}");
    let resumed = run(&with(&["--steps", "3000000", "--resume", ck.to_str().unwrap()]));
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(resumed.stdout, plain.stdout, "resumed run differs from the uninterrupted one");
    // Damage is refused with a clear error and exit 2.
    let good = std::fs::read(&ck).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            {
                let mut b = good.clone();
                let n = b.len();
                b[n - 10] ^= 1;
                b
            },
            "checksum",
        ),
        (good[..good.len() - 7].to_vec(), "truncated"),
        (
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("CHECKPOINT 2 ", "CHECKPOINT 7 ", 1)
                .into_bytes(),
            "version 7",
        ),
        (
            // A file of the old format (version 1, FNV-1a) is named as such.
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("CHECKPOINT 2 run crc32=", "CHECKPOINT 1 run fnv1a64=00000000", 1)
                .into_bytes(),
            "version 1 (FNV-1a checksum, from an older downhill)",
        ),
        (b"hello".to_vec(), "not a downhill checkpoint"),
    ];
    for (bytes, needle) in cases {
        std::fs::write(&ck, bytes).unwrap();
        let out = run(&with(&["--steps", "3000000", "--resume", ck.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle) && err.lines().count() == 1, "{needle}: {err}");
    }
    std::fs::write(&ck, &good).unwrap();
    let other = base
        .iter()
        .map(|s| s.replace("adam:lr=0.001", "adam:lr=0.002"))
        .chain(["--steps", "3000000", "--resume", ck.to_str().unwrap()].map(String::from))
        .collect::<Vec<_>>();
    let out = run(&other);
    assert!(String::from_utf8_lossy(&out.stderr).contains("different run"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plot_draws_a_saved_run_and_refuses_a_malformed_one() {
    let dir = scratch("plot");
    let v = stdout_json(&[
        "run",
        "--objective",
        "himmelblau",
        "--optimizer",
        "adam:lr=0.05",
        "--steps",
        "100",
        "--format",
        "json",
    ]);
    let run = dir.join("run.json");
    std::fs::write(&run, v.to_string()).unwrap();
    let png = dir.join("run.png");
    let out = downhill(&["plot", run.to_str().unwrap(), "-o", png.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_png(&png, 20_000);
    let mut bad = v.clone();
    bad["trajectory"][3]["params"] = serde_json::json!([1.0]);
    std::fs::write(&run, bad.to_string()).unwrap();
    let bad_png = dir.join("bad.png");
    let out = downhill(&["plot", run.to_str().unwrap(), "-o", bad_png.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must have 2 coordinates"));
    assert!(!bad_png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn f32_sweeps_equal_f32_runs() {
    let dir = scratch("sweep-f32");
    let out = dir.join("s.csv");
    let o = downhill(&[
        "sweep",
        "--objective",
        "rosenbrock:a=1,b=10",
        "--optimizer",
        "adam:lr=1e-3..1e-1:log:3,beta1=0.8|0.9",
        "--optimizer",
        "gd:lr=0.001|0.02",
        "--start",
        "-1.5,2.5",
        "--steps",
        "300",
        "--dtype",
        "f32",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<String>> = csv_records(&text);
    assert_eq!(rows.len(), 8);
    for r in &rows {
        let spec = &r[col("spec")];
        let v = stdout_json(&[
            "run",
            "--objective",
            "rosenbrock:a=1,b=10",
            "--optimizer",
            spec,
            "--start",
            "-1.5,2.5",
            "--steps",
            "300",
            "--bound",
            "1000000",
            "--dtype",
            "f32",
            "--format",
            "json",
        ]);
        let loss: f64 = r[col("loss")].parse().unwrap();
        assert_eq!(loss, v["loss"].as_f64().unwrap(), "{spec}");
        assert_eq!(r[col("stop")], v["stop"].as_str().unwrap(), "{spec}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_commands_run_small_and_report_consistent_ratios() {
    // Timings are not asserted (they belong to the machine); the reports' structure and their
    // arithmetic are.
    let v = stdout_json(&[
        "bench",
        "sweep",
        "--configs",
        "64",
        "--steps",
        "50",
        "--python",
        "none",
        "--format",
        "json",
    ]);
    assert_eq!((v["configs"].as_u64(), v["steps"].as_u64()), (Some(64), Some(50)));
    assert_eq!(v["spec"], "adam:lr=1e-4..1e-1:log:64");
    let (engine, alone) =
        (v["engine_seconds"].as_f64().unwrap(), v["one_at_a_time_seconds"].as_f64().unwrap());
    assert!(engine > 0.0 && v["process_seconds"].as_f64().unwrap() > 0.0);
    assert!((v["speedup_vs_one_at_a_time"].as_f64().unwrap() - alone / engine).abs() < 1e-9 * alone / engine);
    assert!(v["reference"].is_null());
    let v = stdout_json(&[
        "bench",
        "sweep",
        "--configs",
        "16",
        "--steps",
        "20",
        "--grid",
        "grid",
        "--dtype",
        "f32",
        "--python",
        "none",
        "--format",
        "json",
    ]);
    assert_eq!(v["spec"], "adam:lr=1e-4..1e-1:log:4,beta1=0.8..0.99:4");
    assert_eq!(v["dtype"], "f32");
    let out = downhill(&["bench", "sweep", "--grid", "cube", "--python", "none"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("grid"));

    let v = stdout_json(&["bench", "small", "--steps", "1000", "--format", "json"]);
    for k in ["gd", "adam"] {
        let r = &v[k];
        let ratio = r["library"].as_f64().unwrap() / r["hand_written"].as_f64().unwrap();
        assert!((r["library_ratio"].as_f64().unwrap() - ratio).abs() < 1e-9 * ratio, "{k}");
    }
    let v = stdout_json(&["bench", "step", "--size", "4096", "--optimizer", "adam", "--format", "json"]);
    let expect = v["probe_ms"].as_f64().unwrap() / v["step_ms"].as_f64().unwrap();
    assert!((v["ratio_vs_probe"].as_f64().unwrap() - expect).abs() < 1e-9 * expect);
    assert_eq!((v["reads"].as_u64(), v["writes"].as_u64()), (Some(4), Some(3)));
}

#[test]
fn sweeps_run_the_newer_first_order_optimizers_as_minimize_does() {
    // Adamax, Adadelta, Rprop, AdaBelief and Yogi go through the batched engine, the others one
    // at a time; every row must be what the library's `minimize` gives.
    let dir = scratch("sweep-first-order");
    let out = dir.join("s.csv");
    let mut args =
        vec!["sweep", "--objective", "rosenbrock:a=1,b=10", "--starts", "grid:2x2", "--steps", "60"];
    for spec in [
        "adamax:lr=0.01|0.1",
        "adadelta:rho=0.9|0.95",
        "rprop:lr=0.01|0.1",
        "asgd:lr=1e-3|5e-3",
        "adabelief:lr=0.01|0.1",
        "adan:lr=0.01|0.1",
        "lamb:lr=0.01|0.1",
        "lars:lr=1|10",
        "yogi:lr=0.01|0.1",
        "novograd:lr=0.01|0.1",
    ] {
        args.extend(["--optimizer", spec]);
    }
    args.extend(["--quiet", "--out", out.to_str().unwrap()]);
    let o = downhill(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let mut rows = 0;
    for line in csv_records(&text) {
        let r: Vec<&str> = line.iter().map(String::as_str).collect();
        let spec = r[col("spec")];
        let start = [r[col("start_0")].parse::<f64>().unwrap(), r[col("start_1")].parse::<f64>().unwrap()];
        let mut opt = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        let run = minimize(
            f.as_ref(),
            opt.as_mut(),
            &start,
            &RunOptions { bound: Some(1e6), record_every: 0, ..RunOptions::steps(60) },
            None,
        )
        .unwrap();
        assert_eq!(r[col("loss")].parse::<f64>().unwrap(), run.loss, "{line:?}");
        assert_eq!(r[col("stop")], run.stop.as_str(), "{line:?}");
        assert_eq!(r[col("evaluations")].parse::<u64>().unwrap(), run.evaluations, "{line:?}");
        rows += 1;
    }
    assert_eq!(rows, 10 * 2 * 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_reports_asgds_average_beside_its_iterate() {
    let args = |spec: &'static str| {
        [
            "run",
            "--objective",
            "quadratic:a=50,b=1",
            "--optimizer",
            spec,
            "--start",
            "1,1",
            "--steps",
            "50",
            "--format",
            "json",
        ]
    };
    let v = stdout_json(&args("asgd:lr=0.005,t0=5"));
    let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let mut o = optim::build::<f64>("asgd:lr=0.005,t0=5", &BuildOptions::default()).unwrap();
    let run = minimize(f.as_ref(), o.as_mut(), &[1.0, 1.0], &RunOptions::steps(50), None).unwrap();
    let average = o.eval_params(&run.params).unwrap();
    let got: Vec<f64> = v["eval_params"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(got, average);
    assert_eq!(v["eval_loss"].as_f64().unwrap(), f.value(&average));
    // The trajectory and params are the iterate, which the average is not.
    assert_eq!(v["params"][0].as_f64().unwrap(), run.params[0]);
    assert_ne!(got, run.params);
    let v = stdout_json(&args("gd:lr=0.005"));
    assert!(v["eval_params"].is_null() && v["eval_loss"].is_null());
}

#[test]
fn quasi_newton_runs_report_evaluations_and_checkpoint_exactly() {
    let dir = scratch("quasi-newton");
    let ck = dir.join("lbfgs.ck");
    let base = [
        "run",
        "--objective",
        "rosenbrock:a=1,b=100",
        "--start",
        "-1.2,1",
        "--tol",
        "1e-8",
        "--format",
        "json",
    ];
    for spec in ["lbfgs", "bfgs", "cg", "newton-tr", "gd:lr=1,line_search=strong-wolfe"] {
        let args: Vec<&str> = base.iter().copied().chain(["--optimizer", spec]).collect();
        let v = stdout_json(&args);
        let f = objectives::build::<f64>("rosenbrock:a=1,b=100").unwrap();
        let mut opt = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        let options = RunOptions { grad_tol: Some(1e-8), ..RunOptions::steps(1000) };
        let lib = minimize(f.as_ref(), opt.as_mut(), &[-1.2, 1.0], &options, None).unwrap();
        assert_eq!(v["evaluations"], lib.evaluations, "{spec}");
        assert_eq!(v["hessian_evaluations"], lib.hessian_evaluations, "{spec}");
        assert_eq!(v["trajectory"].as_array().unwrap().len() as u64, lib.steps + 1, "{spec}");
        // In segments (a checkpoint every 5 steps) the run and its count are the same.
        let path = ck.to_str().unwrap();
        let segmented: Vec<&str> =
            args.iter().copied().chain(["--checkpoint", path, "--checkpoint-every", "5"]).collect();
        let w = stdout_json(&segmented);
        assert_eq!(
            (&w["params"], &w["evaluations"], &w["steps"]),
            (&v["params"], &v["evaluations"], &v["steps"])
        );
        let _ = std::fs::remove_file(&ck);
    }
    let out = downhill(&["run", "--objective", "rosenbrock", "--optimizer", "lbfgs:memory=0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lbfgs.memory: 0 is not in [1, 1000]"));
    let table = String::from_utf8(
        downhill(&[
            "compare",
            "--objective",
            "rosenbrock:a=1,b=100",
            "--optimizer",
            "lbfgs",
            "--optimizer",
            "adam",
        ])
        .stdout,
    )
    .unwrap();
    assert!(table.contains("evaluations"), "{table}");
    let _ = std::fs::remove_dir_all(&dir);
}
