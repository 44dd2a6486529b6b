//! downhill against the seed article's own numpy code.
//!
//! `tests/fixtures/seed_figures.json` is written by `scripts/seed_reference.py`, which runs the
//! article's three figure scripts verbatim (plotting removed). Every trajectory point and loss must
//! match to 1e-12 relative (the brief's bar); in practice they are bit-identical, which the tests
//! also count and report.

use downhill::optim::{Adam, GradientDescent, Momentum};
use downhill::{minimize, objectives, Optimizer, RunOptions, Schedule, StopReason};
use serde_json::Value;

fn fixture() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed_figures.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn as_vec(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Largest relative difference, and how many values were not bit-identical.
fn compare(got: &[f64], want: &[f64]) -> (f64, usize) {
    assert_eq!(got.len(), want.len());
    let mut worst = 0.0f64;
    let mut inexact = 0;
    for (g, w) in got.iter().zip(want) {
        if g.to_bits() != w.to_bits() {
            inexact += 1;
            let rel = (g - w).abs() / w.abs().max(1e-300);
            worst = worst.max(rel);
        }
    }
    (worst, inexact)
}

fn run_2d(
    objective: &str,
    opt: &mut dyn Optimizer<f64>,
    start: [f64; 2],
    steps: u64,
    bound: Option<f64>,
) -> downhill::RunResult<f64> {
    let f = objectives::build::<f64>(objective).unwrap();
    let options = RunOptions { bound, ..RunOptions::steps(steps) };
    minimize(f.as_ref(), opt, &start, &options, None).unwrap()
}

fn check_path(label: &str, run: &downhill::RunResult<f64>, want: &Value) {
    let want_path: Vec<Vec<f64>> = want["path"].as_array().unwrap().iter().map(as_vec).collect();
    assert_eq!(run.trajectory.len(), want_path.len(), "{label}: number of points");
    let got: Vec<f64> = run.trajectory.iter().flat_map(|p| p.params.clone()).collect();
    let flat: Vec<f64> = want_path.concat();
    let (worst, inexact) = compare(&got, &flat);
    assert!(worst <= 1e-12, "{label}: relative difference {worst:e} in {inexact} values");
    if let Some(loss) = want.get("loss") {
        let got: Vec<f64> = run.trajectory.iter().map(|p| p.loss).collect();
        let (worst, inexact) = compare(&got, &as_vec(loss));
        assert!(worst <= 1e-12, "{label} loss: relative difference {worst:e} in {inexact} values");
    }
    eprintln!("{label}: {} points, {inexact} not bit-identical (max rel {worst:e})", run.trajectory.len());
}

#[test]
fn figure_1_gd_on_the_rosenbrock_like_function() {
    let fx = fixture();
    for (lr, expect_stop) in
        [(0.001, StopReason::MaxSteps), (0.005, StopReason::MaxSteps), (0.02, StopReason::Diverged)]
    {
        let mut gd = GradientDescent::new(lr).unwrap();
        let run = run_2d("rosenbrock:a=1,b=10", &mut gd, [-1.5, 2.5], 200, Some(10.0));
        assert_eq!(run.stop, expect_stop, "lr {lr}");
        check_path(&format!("fig1 lr={lr}"), &run, &fx["fig1"][format!("{lr:?}")]);
    }
}

#[test]
fn figure_2_gd_momentum_adam_on_the_ill_conditioned_quadratic() {
    let fx = fixture();
    let q = "quadratic:a=50,b=1";
    let run = run_2d(q, &mut GradientDescent::new(0.005).unwrap(), [1.0, 1.0], 100, None);
    check_path("fig2 gd", &run, &fx["fig2"]["gd"]);
    let run = run_2d(
        q,
        &mut Momentum::<f64>::builder().lr(0.002).beta(0.9).build().unwrap(),
        [1.0, 1.0],
        100,
        None,
    );
    check_path("fig2 momentum", &run, &fx["fig2"]["momentum"]);
    let run = run_2d(q, &mut Adam::<f64>::new(0.1).unwrap(), [1.0, 1.0], 100, None);
    check_path("fig2 adam", &run, &fx["fig2"]["adam"]);
}

#[test]
fn figure_2_through_spec_strings_matches_too() {
    let fx = fixture();
    for (spec, key) in
        [("gd:lr=0.005", "gd"), ("momentum:lr=0.002,momentum=0.9", "momentum"), ("adam:lr=0.1", "adam")]
    {
        let mut opt = downhill::optim::build::<f64>(spec, &Default::default()).unwrap();
        let run = run_2d("quadratic:a=50,b=1", opt.as_mut(), [1.0, 1.0], 100, None);
        check_path(spec, &run, &fx["fig2"][key]);
    }
}

#[test]
fn figure_3_learning_rates_on_x_squared() {
    let fx = fixture();
    let f = objectives::build::<f64>("quadratic:a=1").unwrap();
    assert_eq!(f.dim(), 1);
    for lr in [0.01, 0.1, 0.5, 0.9, 1.05] {
        let mut gd = GradientDescent::new(lr).unwrap();
        let options = RunOptions { bound: Some(10.0), ..RunOptions::steps(30) };
        let run = minimize(f.as_ref(), &mut gd, &[2.5], &options, None).unwrap();
        let want = &fx["fig3"]["paths"][format!("{lr:?}")];
        let want_path = as_vec(&want["path"]);
        let got: Vec<f64> = run.trajectory.iter().map(|p| p.params[0]).collect();
        assert_eq!(got.len(), want_path.len(), "lr {lr}");
        let (worst, _) = compare(&got, &want_path);
        assert!(worst <= 1e-12, "lr {lr}: {worst:e}");
        let losses: Vec<f64> = run.trajectory.iter().map(|p| p.loss).collect();
        assert!(compare(&losses, &as_vec(&want["loss"])).0 <= 1e-12);
        // 2/lambda_max = 2/2 = 1: above it GD diverges, which the seed shows with lr = 1.05.
        let expected = if lr > 1.0 { StopReason::Diverged } else { StopReason::MaxSteps };
        assert_eq!(run.stop, expected, "lr {lr}");
    }
}

#[test]
fn figure_3_warmup_cosine_schedule() {
    let fx = fixture();
    let want = as_vec(&fx["fig3"]["schedule"]);
    let s = Schedule::parse("warmup-cosine:max=1e-3,min=1e-5,warmup=1000,total=10000").unwrap();
    let got: Vec<f64> = (0..10_000).map(|t| s.value(t)).collect();
    let (worst, inexact) = compare(&got, &want);
    // numpy's vectorized cos may differ from libm's by an ulp; the 1e-12 bar allows that.
    assert!(worst <= 1e-12, "schedule: {worst:e} in {inexact} values");
    eprintln!("schedule: {inexact} of 10000 values not bit-identical (max rel {worst:e})");
}
