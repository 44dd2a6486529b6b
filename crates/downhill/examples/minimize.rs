//! Minimize a built-in objective with an optimizer and a learning-rate schedule.
//!
//! Run it with `cargo run --example minimize`.
//!
//! 1. Gradient descent with a cosine schedule on the seed article's bowl `50 x^2 + y^2`. On a
//!    quadratic, GD has a closed form: step `t` multiplies coordinate `i` by `1 - lr_t * 2 a_i`.
//!    We compute that product by hand and check the run against it.
//! 2. Adam with the seed's warmup + cosine schedule on the seed's Rosenbrock valley
//!    `(a - x)^2 + b (y - x^2)^2` with `a = 1, b = 10`, whose minimum is known exactly: `(a, a^2)`.

use downhill::prelude::*;

fn main() -> Result<()> {
    // ---- 1. Gradient descent on 50 x^2 + y^2 -------------------------------------------------
    let coefficients = [50.0, 1.0];
    let bowl = Quadratic::new(coefficients.to_vec());

    // The rate falls from 0.015 to 0.001 along half a cosine over 200 steps. GD is stable on this
    // bowl while lr < 2 / lambda_max = 2 / 100 = 0.02.
    let schedule = Schedule::cosine(0.015, 0.001, 200)?; // max, min, total
    let mut gd = GradientDescent::<f64>::builder().lr(schedule.clone()).build()?; // checks the schedule

    let start = [1.0, 1.0];
    let run = minimize(&bowl, &mut gd, &start, &RunOptions::steps(200), None)?;

    println!("gradient descent, cosine schedule, on 50x^2 + y^2:");
    println!("  step        lr          loss");
    for point in run.trajectory.iter().step_by(40) {
        println!("  {:>4}  {:>8.5}  {:>12.4e}", point.step, point.lr, point.loss);
    }
    println!("  stopped after {} steps ({}), at {:?}", run.steps, run.stop.as_str(), run.params);

    // The closed form, from the schedule's values.
    let mut expected = start;
    for t in 0..200 {
        let lr = schedule.value(t);
        for (x, a) in expected.iter_mut().zip(coefficients) {
            *x *= 1.0 - lr * 2.0 * a;
        }
    }
    for (got, want) in run.params.iter().zip(expected) {
        // The two orders of operations differ by a few roundings per step.
        assert!((got - want).abs() <= 1e-12 * want.abs().max(1e-300), "{got} vs closed form {want}");
    }
    println!("  matches the closed form prod_t (1 - 2 a_i lr_t) to 1e-12\n");

    // ---- 2. Adam with warmup + cosine on Rosenbrock -------------------------------------------
    let (a, b) = (1.0, 10.0);
    let valley = Rosenbrock { a, b };
    let warmup_cosine = Schedule::warmup_cosine(0.05, 1e-4, 100, 2000)?; // max, min, warmup, total (checked)
    let mut adam = Adam::<f64>::builder().lr(warmup_cosine).beta1(0.9).build()?;

    let options = RunOptions { record_every: 400, ..RunOptions::steps(2000) };
    let run = minimize(&valley, &mut adam, &[-1.5, 2.5], &options, None)?;
    let distance = ((run.params[0] - a).powi(2) + (run.params[1] - a * a).powi(2)).sqrt();
    println!("adam, warmup-cosine, on rosenbrock:a=1,b=10 from (-1.5, 2.5):");
    for point in &run.trajectory {
        println!("  step {:>4}  lr {:.5}  loss {:.3e}", point.step, point.lr, point.loss);
    }
    println!("  final point {:?}, {distance:.2e} from the minimum (a, a^2) = (1, 1)", run.params);
    assert!(distance < 1e-3, "Adam ended {distance} from the minimum");
    Ok(())
}
