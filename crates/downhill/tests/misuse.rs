//! Misuse of the typed API (issue #15): each case is an `Err` that names the field and the accepted
//! range or bound, never a panic, a hang or a silent NaN.

use downhill::objectives::{self, Quadratic, Rosenbrock, RosenbrockNd};
use downhill::optim::{self, BuildOptions};
use downhill::problem::{LeastSquares, Matrix};
use downhill::{minimize, Error, Objective, RunOptions, Schedule};

#[test]
fn a_step_decay_every_0_steps_is_an_error_not_a_division_by_zero() {
    let err = Schedule::step(0.1, 0.5, 0).unwrap_err();
    assert_eq!(
        err,
        Error::OutOfRange {
            field: "schedule.every".into(),
            value: "0".into(),
            range: "[1, 1000000000000]".into()
        }
    );
    // Written out as a variant, it is unchecked until used: the value is NaN (no panic), and
    // `validate` (which `set_learning_rate` calls) gives the same error.
    let literal = Schedule::Step { lr: 0.1, gamma: 0.5, every: 0 };
    assert!(literal.value(3).is_nan());
    assert_eq!(literal.validate(), Err(err.clone()));
    let mut gd = optim::build::<f64>("gd", &BuildOptions::default()).unwrap();
    assert_eq!(gd.set_learning_rate(literal), Err(err));
}

#[test]
fn warmup_longer_than_the_schedule_is_an_error_as_the_readme_says() {
    let err = Schedule::warmup_cosine(1e-3, 1e-5, 2000, 1000).unwrap_err();
    assert_eq!(
        err,
        Error::Inconsistent {
            field: "schedule.warmup".into(),
            message: "2000 must not exceed total (1000)".into()
        }
    );
    // The spec and the typed constructor share one check, and so one message.
    assert_eq!(Schedule::parse("warmup-cosine:max=1e-3,min=1e-5,warmup=2000,total=1000"), Err(err));
    assert!(Schedule::warmup_cosine(1e-3, 1e-5, 1000, 1000).is_ok(), "warmup == total is allowed");
}

/// Every built-in objective at its default keys, a few with other dimensions, and a finite sum.
fn built_ins() -> Vec<Box<dyn Objective<f64>>> {
    let mut all: Vec<Box<dyn Objective<f64>>> = objectives::names()
        .into_iter()
        .map(|name| objectives::build::<f64>(name).unwrap() as Box<dyn Objective<f64>>)
        .collect();
    all.push(Box::new(RosenbrockNd { dim: 5, a: 1.0, b: 100.0 }));
    all.push(Box::new(Quadratic::new(vec![1.0, 2.0, 3.0])));
    all.push(objectives::from_expression::<f64>("x^2 + y*z", None).unwrap());
    let a = Matrix { rows: 3, cols: 2, data: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0] };
    all.push(Box::new(LeastSquares::new(a, vec![1.0, 2.0, 3.0], 0.0).unwrap()));
    all
}

#[test]
fn a_point_of_the_wrong_length_is_a_dimension_error_from_every_built_in() {
    for f in built_ins() {
        let d = f.dim();
        for wrong in [0, d - 1, d + 1, 2 * d + 3] {
            if wrong == d {
                continue;
            }
            let x = vec![0.5; wrong];
            let mut grad = vec![0.0; d];
            let err = f.evaluate(&x, &mut grad).unwrap_err();
            assert_eq!(err, Error::Dimension { field: "point".into(), expected: d, got: wrong });
            assert_eq!(err.to_string(), format!("point: expected {d} values, got {wrong}"));
            // The gradient buffer is checked too.
            let mut short = vec![0.0; wrong];
            let err = f.evaluate(&vec![0.5; d], &mut short).unwrap_err();
            assert_eq!(err, Error::Dimension { field: "gradient".into(), expected: d, got: wrong });
            // The unchecked calls answer NaN rather than panic or read out of bounds.
            assert!(f.value(&x).is_nan(), "dim {d}, point of {wrong}");
            let mut g = vec![0.0; wrong];
            f.gradient(&x, &mut g);
            assert!(g.iter().all(|v| v.is_nan()), "dim {d}, point of {wrong}");
            assert!(f.value_and_gradient(&x, &mut g).is_nan());
            // Hessians return the error.
            if f.has_hessian() {
                let mut h = vec![0.0; d * d];
                assert!(matches!(f.hessian(&x, &mut h), Err(Error::Dimension { .. })));
                let mut h = vec![0.0; d * d + 1];
                assert!(matches!(f.hessian(&vec![0.5; d], &mut h), Err(Error::Dimension { .. })));
            }
            // Many points at once: wrong buffer lengths give NaN values.
            let (mut values, mut grads) = (vec![0.0; 2], vec![0.0; 2 * d]);
            f.value_and_gradient_many(&vec![0.5; 2 * wrong], &mut values, &mut grads);
            assert!(values.iter().all(|v| v.is_nan()), "dim {d}, points of {wrong}");
        }
        // The right length still works, and agrees with the unchecked call.
        let x = vec![0.5; d];
        let mut g = vec![0.0; d];
        let v = f.evaluate(&x, &mut g).unwrap();
        assert_eq!(v.to_bits(), f.value(&x).to_bits());
    }
}

#[test]
fn the_seed_rosenbrock_still_evaluates_bit_for_bit_through_the_checked_call() {
    // The seed's figure 1 start: f = (1 + 1.5)^2 + 10 (2.5 - 2.25)^2, written out.
    let f = Rosenbrock { a: 1.0, b: 10.0 };
    let (x, y) = (-1.5f64, 2.5f64);
    let mut g = [0.0; 2];
    let v = f.evaluate(&[x, y], &mut g).unwrap();
    assert_eq!(v, (1.0 - x) * (1.0 - x) + 10.0 * ((y - x * x) * (y - x * x)));
    assert_eq!(g, [-2.0 * (1.0 - x) + 20.0 * (y - x * x) * (-2.0 * x), 20.0 * (y - x * x)]);
}

#[test]
fn a_custom_schedule_that_turns_negative_stops_the_update_with_an_error_naming_the_step() {
    let objective = Rosenbrock { a: 1.0, b: 10.0 };
    let mut tried = Vec::new();
    for entry in optim::REGISTRY {
        let mut opt = optim::build::<f64>(entry.name, &BuildOptions::default()).unwrap();
        let schedule = Schedule::custom("sign flip", |t| if t < 3 { 1e-3 } else { -1e-3 });
        if opt.set_learning_rate(schedule).is_err() {
            continue; // Rprop takes constant rates only; the trust-region method has none
        }
        tried.push(entry.name);
        let err = minimize(&objective, opt.as_mut(), &[-1.5, 2.5], &RunOptions::steps(10), None)
            .expect_err(entry.name)
            .to_string();
        assert_eq!(
            err,
            "schedule custom:sign flip at step 3: -0.001 is not in [0, inf) (a finite, non-negative rate)",
            "{}",
            entry.name
        );
        // The same through a plain update on your own buffer: steps 0..2 apply, step 3 refuses
        // and leaves the parameters alone.
        if entry.name == "adam" {
            let mut opt = optim::build::<f64>("adam", &BuildOptions::default()).unwrap();
            opt.set_learning_rate(Schedule::custom("nan at 2", |t| if t < 2 { 0.1 } else { f64::NAN }))
                .unwrap();
            let mut params = [1.0, -1.0];
            opt.update(&mut params, &[0.5, 0.5]).unwrap();
            opt.update(&mut params, &[0.5, 0.5]).unwrap();
            let before = params;
            let err = opt.update(&mut params, &[0.5, 0.5]).unwrap_err().to_string();
            assert!(err.contains("at step 2: NaN"), "{err}");
            assert_eq!(params, before);
        }
    }
    assert!(tried.len() >= 20, "{tried:?}");
}
