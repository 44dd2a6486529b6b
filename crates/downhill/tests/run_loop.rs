//! The run loop's stop reasons, and the built-in objectives' derivatives against central differences.

use std::ops::ControlFlow;

use downhill::optim::{GradientDescent, Momentum};
use downhill::{minimize, objectives, Objective, Point, RunOptions, StopReason};

/// `log(x)`, which leaves its domain when GD overshoots below zero.
struct Log;

impl Objective<f64> for Log {
    fn dim(&self) -> usize {
        1
    }
    fn value(&self, x: &[f64]) -> f64 {
        -x[0].ln()
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        g[0] = -1.0 / x[0];
    }
}

#[test]
fn non_finite_keeps_the_last_finite_point() {
    // log(x) has no minimum: GD from 0.5 with lr 1 steps to 0.5 - 2 = -1.5, where log is NaN.
    let mut gd = GradientDescent::new(1.0).unwrap();
    struct NegLog;
    impl Objective<f64> for NegLog {
        fn dim(&self) -> usize {
            1
        }
        fn value(&self, x: &[f64]) -> f64 {
            x[0].ln()
        }
        fn gradient(&self, x: &[f64], g: &mut [f64]) {
            g[0] = 1.0 / x[0];
        }
    }
    let run = minimize(&NegLog, &mut gd, &[0.5], &RunOptions::steps(10), None).unwrap();
    assert_eq!(run.stop, StopReason::NonFinite);
    assert_eq!(run.steps, 1);
    assert_eq!(run.trajectory.len(), 1, "the bad point is not recorded");
    assert_eq!(run.params, vec![0.5]);
    assert!(run.detail.unwrap().contains("step 1"));
    // A start outside the domain stops at once.
    let run = minimize(&Log, &mut GradientDescent::new(0.1).unwrap(), &[-1.0], &RunOptions::steps(10), None)
        .unwrap();
    assert_eq!(run.stop, StopReason::NonFinite);
    assert!(run.trajectory.is_empty());
}

#[test]
fn diverged_records_the_point_then_stops() {
    let f = objectives::build::<f64>("quadratic:a=1").unwrap();
    let options = RunOptions { bound: Some(10.0), ..RunOptions::steps(30) };
    let run = minimize(f.as_ref(), &mut GradientDescent::new(1.05).unwrap(), &[2.5], &options, None).unwrap();
    assert_eq!(run.stop, StopReason::Diverged);
    // |x_k| = 2.5 * 1.1^k first exceeds 10 at k = 15 (2.5 * 1.1^15 = 10.44).
    assert_eq!(run.steps, 15);
    assert!(run.params[0].abs() > 10.0);
    let options = RunOptions { loss_bound: Some(50.0), ..RunOptions::steps(30) };
    let run = minimize(f.as_ref(), &mut GradientDescent::new(1.05).unwrap(), &[2.5], &options, None).unwrap();
    assert_eq!(run.stop, StopReason::Diverged);
    assert!(run.loss > 50.0);
}

#[test]
fn converged_by_gradient_norm_and_by_loss_change() {
    let f = objectives::build::<f64>("quadratic:a=1").unwrap();
    // GD on x^2 with lr 0.25 halves x each step: |grad| = 2|x| = 5 / 2^k <= 1e-3 first at k = 13.
    let options = RunOptions { grad_tol: Some(1e-3), ..RunOptions::steps(100) };
    let run = minimize(f.as_ref(), &mut GradientDescent::new(0.25).unwrap(), &[2.5], &options, None).unwrap();
    assert_eq!((run.stop, run.steps), (StopReason::Converged, 13));
    // Loss change |f_k - f_(k-1)| = 6.25 * 3/4^k <= 1e-6 needs 4^k >= 1.875e7: first at k = 13
    // (4^12 = 1.68e7 is not enough).
    let options = RunOptions { loss_tol: Some(1e-6), ..RunOptions::steps(100) };
    let run = minimize(f.as_ref(), &mut GradientDescent::new(0.25).unwrap(), &[2.5], &options, None).unwrap();
    assert_eq!((run.stop, run.steps), (StopReason::Converged, 13));
    // lr 0.5 lands on 0 in one step; the start itself is checked before any step.
    let options = RunOptions { grad_tol: Some(0.0), ..RunOptions::steps(100) };
    let run = minimize(f.as_ref(), &mut GradientDescent::new(0.5).unwrap(), &[0.0], &options, None).unwrap();
    assert_eq!((run.stop, run.steps), (StopReason::Converged, 0));
}

#[test]
fn observers_watch_and_can_stop() {
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let mut seen = Vec::new();
    let mut obs = |p: &Point<f64>| {
        seen.push(p.step);
        if p.step == 7 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let run = minimize(
        f.as_ref(),
        &mut Momentum::builder().lr(1e-3).beta(0.9).build().unwrap(),
        &[-1.5, 2.5],
        &RunOptions::steps(100),
        Some(&mut obs),
    )
    .unwrap();
    assert_eq!(run.stop, StopReason::Stopped);
    assert_eq!(seen, (0..=7).collect::<Vec<_>>());
}

#[test]
fn record_every_keeps_start_and_end() {
    let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let options = RunOptions { record_every: 10, ..RunOptions::steps(25) };
    let run =
        minimize(f.as_ref(), &mut GradientDescent::new(0.005).unwrap(), &[1.0, 1.0], &options, None).unwrap();
    assert_eq!(run.trajectory.iter().map(|p| p.step).collect::<Vec<_>>(), vec![0, 10, 20, 25]);
    // lr at a point is the schedule at that step.
    assert!(run.trajectory.iter().all(|p| p.lr == 0.005));
}

#[test]
fn bad_run_inputs_are_errors() {
    let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let mut gd = GradientDescent::new(0.1).unwrap();
    assert!(minimize(f.as_ref(), &mut gd, &[1.0], &RunOptions::steps(5), None).is_err());
    assert!(minimize(f.as_ref(), &mut gd, &[1.0, f64::NAN], &RunOptions::steps(5), None).is_err());
    assert!(minimize(f.as_ref(), &mut gd, &[1.0, 1.0], &RunOptions::steps(0), None).is_err());
    let bad_bound = RunOptions { bound: Some(-1.0), ..RunOptions::steps(5) };
    assert!(minimize(f.as_ref(), &mut gd, &[1.0, 1.0], &bad_bound, None).is_err());
}

/// Central differences with step h, for gradient and Hessian checks.
fn check_derivatives(spec: &str, points: &[Vec<f64>]) {
    let f = objectives::build::<f64>(spec).unwrap();
    let n = f.dim();
    let h = 1e-5;
    for x in points {
        let mut g = vec![0.0; n];
        f.gradient(x, &mut g);
        let mut hess = vec![0.0; n * n];
        f.hessian(x, &mut hess).unwrap();
        for i in 0..n {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (f.value(&xp) - f.value(&xm)) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= 1e-6 * (1.0 + g[i].abs()),
                "{spec} grad[{i}] at {x:?}: {} vs fd {fd}",
                g[i]
            );
            let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
            f.gradient(&xp, &mut gp);
            f.gradient(&xm, &mut gm);
            for j in 0..n {
                let fd = (gp[j] - gm[j]) / (2.0 * h);
                let an = hess[j * n + i];
                assert!(
                    (fd - an).abs() <= 1e-6 * (1.0 + an.abs()),
                    "{spec} H[{j},{i}] at {x:?}: {an} vs fd {fd}"
                );
            }
        }
    }
}

#[test]
fn objective_derivatives_match_central_differences() {
    let points = vec![vec![-1.5, 2.5], vec![0.3, -0.7], vec![1.0, 1.0], vec![2.0, 0.1]];
    check_derivatives("rosenbrock:a=1,b=10", &points);
    check_derivatives("rosenbrock", &points);
    check_derivatives("quadratic:a=50,b=1", &points);
    check_derivatives("quadratic:a=3,b=-2,c=0.5", &[vec![0.4, -1.0, 2.0]]);
}

#[test]
fn known_minima_are_minima() {
    for spec in ["rosenbrock:a=1,b=10", "rosenbrock:a=2,b=100", "quadratic:a=50,b=1"] {
        let f = objectives::build::<f64>(spec).unwrap();
        let m = &f.minima()[0];
        assert_eq!(f.value(&m.point), m.value, "{spec}");
        let mut g = vec![0.0; f.dim()];
        f.gradient(&m.point, &mut g);
        assert!(g.iter().all(|x| *x == 0.0), "{spec}: gradient {g:?} at the minimum");
    }
    assert!(objectives::build::<f64>("quadratic:a=1,c=2").is_err(), "gap in coefficients");
    assert!(objectives::build::<f64>("rosenbruck")
        .err()
        .unwrap()
        .to_string()
        .contains("did you mean 'rosenbrock'"));
}
