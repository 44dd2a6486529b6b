//! A learning-rate schedule of your own: any function of the step.
//!
//! Run it with `cargo run --example custom_schedule`.
//!
//! The schedule is the Transformer's ("Attention is all you need", section 5.3), which downhill
//! does not have built in: `lr_t = scale * min((t + 1)^-0.5, (t + 1) * warmup^-1.5)`, a linear
//! warmup followed by an inverse-square-root decay. `Schedule::custom` turns the function into a
//! schedule the optimizer evaluates at each step (optax takes a callable, PyTorch has `LambdaLR`);
//! a training loop can also set the rate itself before each update, as PyTorch's schedulers write
//! a group's `lr`. Both are shown and must agree bit for bit.
//!
//! The check: gradient descent on `f(x) = x^2` has the closed form
//! `x_T = x_0 * prod_t (1 - 2 lr_t)`, which the loop must reproduce.

use downhill::prelude::*;

/// The Transformer's schedule, with `scale = 0.2` and 50 warmup steps (peak 0.2 / sqrt(50)).
fn noam(t: u64) -> f64 {
    let (scale, warmup) = (0.2, 50.0);
    let s = (t + 1) as f64;
    scale * (s.powf(-0.5)).min(s * warmup.powf(-1.5))
}

fn main() -> Result<()> {
    let parabola = Quadratic::new(vec![1.0]); // f(x) = x^2, gradient 2x
    let steps = 300;

    // 1. The schedule inside the optimizer: it reads `noam(t)` before update t.
    let mut gd = GradientDescent::<f64>::builder().lr(Schedule::custom("noam", noam)).build()?;
    let mut x = vec![3.0f64];
    let mut grad = vec![0.0f64];
    println!(" step   lr         x");
    for t in 0..steps {
        parabola.gradient(&x, &mut grad);
        gd.update(&mut x, &grad)?;
        if t % 50 == 0 || t == steps - 1 {
            println!("{t:>5}   {:.5}   {:.6e}", noam(t), x[0]);
        }
    }

    // 2. The loop sets a constant rate before each update instead.
    let by_hand: &mut dyn Optimizer<f64> = &mut GradientDescent::new(noam(0))?;
    let mut y = vec![3.0f64];
    for t in 0..steps {
        by_hand.set_learning_rate(Schedule::constant(noam(t)))?;
        parabola.gradient(&y, &mut grad);
        by_hand.update(&mut y, &grad)?;
    }
    assert_eq!(x[0].to_bits(), y[0].to_bits(), "the two ways must take the same steps");

    let closed_form = (0..steps).fold(3.0, |x, t| x * (1.0 - 2.0 * noam(t)));
    println!("closed form x_0 prod (1 - 2 lr_t) = {closed_form:.6e}");
    assert!((x[0] - closed_form).abs() <= 1e-12 * closed_form.abs());
    // The rate peaks at step 49, at 0.2 / sqrt(50).
    let peak = (0..steps).max_by(|&a, &b| noam(a).total_cmp(&noam(b))).unwrap_or(0);
    assert_eq!(peak, 49);
    Ok(())
}
