//! One optimizer updating your own parameter buffer from gradients you computed: the way a
//! training loop in candle, burn or your own code uses downhill. No objective, no run loop:
//! you own the parameters and the gradients, and call `optimizer.update(&mut params, &grads)`.
//!
//! Run it with `cargo run --example parameter_buffer`.
//!
//! The model is a linear regression `y = w1 x1 + w2 x2 + b`, trained in `f32` on the mean squared
//! error, with the gradient written by hand. Least squares has a closed form (the normal
//! equations), solved here in `f64`: the trained weights must agree with it.

use downhill::prelude::*;
use downhill::rng::Rng;

fn main() -> Result<()> {
    // ---- Data: y = 3 x1 - 2 x2 + 0.5 + noise -------------------------------------------------
    let mut rng = Rng::new(42);
    let n = 200;
    let xs: Vec<[f64; 2]> = (0..n).map(|_| [rng.normal(), rng.normal()]).collect();
    let ys: Vec<f64> = xs.iter().map(|x| 3.0 * x[0] - 2.0 * x[1] + 0.5 + 0.1 * rng.normal()).collect();

    // ---- The parameters: one flat buffer [w1, w2, b], owned by you ----------------------------
    // A model with several tensors either keeps one optimizer per tensor, or lays the tensors end
    // to end in one buffer (and tells layer-aware optimizers such as Muon where each matrix is,
    // with `optimizer.set_layout`).
    let mut params = vec![0.0f32; 3];
    let mut grads = vec![0.0f32; 3];

    // Adam whose rate decays from 0.1 to 1e-4 over the run (cosine).
    let steps = 800;
    let mut adam = Adam::<f32>::builder().lr(Schedule::cosine(0.1, 1e-4, steps)?).build()?;

    for step in 0..steps {
        // Forward pass and the gradient of L = mean((w.x + b - y)^2), by hand:
        // dL/dw_j = 2/n sum r_i x_ij, dL/db = 2/n sum r_i, with residual r_i = w.x_i + b - y_i.
        grads.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0f32;
        for (x, &y) in xs.iter().zip(&ys) {
            let (x1, x2) = (x[0] as f32, x[1] as f32);
            let residual = params[0] * x1 + params[1] * x2 + params[2] - y as f32;
            loss += residual * residual / n as f32;
            grads[0] += 2.0 * residual * x1 / n as f32;
            grads[1] += 2.0 * residual * x2 / n as f32;
            grads[2] += 2.0 * residual / n as f32;
        }
        // The whole optimizer step: reads the gradient, updates the parameters in place.
        adam.update(&mut params, &grads)?;
        if step % 200 == 0 || step == steps - 1 {
            println!("step {step:>3}  lr {:.5}  loss {loss:.6}  params {params:?}", adam.lr().value(step));
        }
    }
    assert_eq!(adam.steps(), steps);

    // ---- The closed form: solve (X^T X) theta = X^T y with X = [x1, x2, 1] ---------------------
    let mut xtx = [[0.0f64; 3]; 3];
    let mut xty = [0.0f64; 3];
    for (x, &y) in xs.iter().zip(&ys) {
        let row = [x[0], x[1], 1.0];
        for i in 0..3 {
            xty[i] += row[i] * y;
            for j in 0..3 {
                xtx[i][j] += row[i] * row[j];
            }
        }
    }
    let exact = solve3(xtx, xty);
    println!("least squares (normal equations): {exact:?}");
    for (trained, exact) in params.iter().zip(exact) {
        // f32 rounding in the sums leaves an error of about 1e-6.
        assert!((*trained as f64 - exact).abs() < 1e-4, "trained {trained}, least squares {exact}");
    }
    println!("trained weights match the least-squares solution to 1e-4");
    Ok(())
}

/// Solves the 3 x 3 system `a x = b` by Cramer's rule.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> [f64; 3] {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    let mut x = [0.0; 3];
    for (k, xk) in x.iter_mut().enumerate() {
        let mut m = a;
        for i in 0..3 {
            m[i][k] = b[i];
        }
        *xk = det(m) / d;
    }
    x
}
