//! Your own objective: implement the `Objective` trait with an exact gradient (and, for Newton's
//! method, the Hessian), check the derivatives against finite differences, then minimize it.
//!
//! Run it with `cargo run --example custom_objective`.
//!
//! The function is `f(x, y) = exp(x - 1) - x + (1 + x^2) (y - 2)^2`. Both terms are `>= 0`
//! (`e^u >= 1 + u`), and both vanish only at `(1, 2)`: that is the global minimum, value 0.

use downhill::prelude::*;

/// `f(x, y) = exp(x - 1) - x + (1 + x^2) (y - 2)^2`.
struct TiltedValley;

impl Objective<f64> for TiltedValley {
    fn dim(&self) -> usize {
        2
    }

    fn value(&self, p: &[f64]) -> f64 {
        let (x, y) = (p[0], p[1]);
        (x - 1.0).exp() - x + (1.0 + x * x) * (y - 2.0).powi(2)
    }

    fn gradient(&self, p: &[f64], grad: &mut [f64]) {
        let (x, y) = (p[0], p[1]);
        grad[0] = (x - 1.0).exp() - 1.0 + 2.0 * x * (y - 2.0).powi(2);
        grad[1] = 2.0 * (1.0 + x * x) * (y - 2.0);
    }

    // Optional: with a Hessian, Newton's method and the trust-region method can run on it.
    fn has_hessian(&self) -> bool {
        true
    }

    fn hessian(&self, p: &[f64], hess: &mut [f64]) -> Result<()> {
        let (x, y) = (p[0], p[1]);
        hess[0] = (x - 1.0).exp() + 2.0 * (y - 2.0).powi(2); // d2f/dx2
        hess[1] = 4.0 * x * (y - 2.0); // d2f/dxdy
        hess[2] = hess[1];
        hess[3] = 2.0 * (1.0 + x * x); // d2f/dy2
        Ok(())
    }
}

// Optional: what reports and plots show. `Landscape` sits beside `Objective`: the mathematics
// does not need it, the tools that draw and report do.
impl downhill::Landscape for TiltedValley {
    fn name(&self) -> String {
        "tilted-valley".into()
    }

    fn minima(&self) -> Vec<downhill::objective::Minimum> {
        vec![downhill::objective::Minimum { point: vec![1.0, 2.0], value: 0.0 }]
    }
}

fn main() -> Result<()> {
    let f = TiltedValley;

    // ---- Check the derivatives against central differences ------------------------------------
    // (f(x + h e_i) - f(x - h e_i)) / 2h has an error of order h^2 f''' + eps f / h; h = 1e-5
    // balances the two at about 1e-10 here, so 1e-7 is a safe tolerance that a wrong sign or a
    // missing factor of 2 would fail by orders of magnitude.
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    for point in [[0.3, -1.0], [-1.5, 2.5], [2.0, 0.7], [1.0, 2.0]] {
        let mut grad = [0.0; 2];
        f.gradient(&point, &mut grad);
        let mut hess = [0.0; 4];
        f.hessian(&point, &mut hess)?;
        for i in 0..2 {
            let (mut up, mut down) = (point, point);
            up[i] += h;
            down[i] -= h;
            let numeric = (f.value(&up) - f.value(&down)) / (2.0 * h);
            worst = worst.max((numeric - grad[i]).abs() / grad[i].abs().max(1.0));
            // Column i of the Hessian is the derivative of the gradient along e_i.
            let (mut g_up, mut g_down) = ([0.0; 2], [0.0; 2]);
            f.gradient(&up, &mut g_up);
            f.gradient(&down, &mut g_down);
            for j in 0..2 {
                let numeric = (g_up[j] - g_down[j]) / (2.0 * h);
                worst = worst.max((numeric - hess[j * 2 + i]).abs() / hess[j * 2 + i].abs().max(1.0));
            }
        }
    }
    println!("gradient and Hessian agree with central differences: worst relative error {worst:.1e}");
    assert!(worst < 1e-7, "a derivative disagrees with finite differences by {worst}");

    // ---- Minimize it -------------------------------------------------------------------------
    let start = [0.0, 0.0];
    let options = RunOptions { grad_tol: Some(1e-10), ..RunOptions::steps(200) };
    let mut newton = Newton::<f64>::new(1.0)?;
    let mut lbfgs = Lbfgs::<f64>::default(); // 10 (s, y) pairs, More-Thuente line search
    let mut adam = Adam::<f64>::new(0.05)?;
    let optimizers: [(&str, &mut dyn Optimizer<f64>); 3] =
        [("newton", &mut newton), ("lbfgs", &mut lbfgs), ("adam lr=0.05", &mut adam)];
    println!("\nfrom {start:?}; the minimum is (1, 2), value 0:");
    for (label, optimizer) in optimizers {
        let run = minimize(&f, optimizer, &start, &options, None)?;
        let error = ((run.params[0] - 1.0).powi(2) + (run.params[1] - 2.0).powi(2)).sqrt();
        println!(
            "  {label:<13} {:>4} steps {:>4} evaluations  {:<10} loss {:.2e}  {error:.1e} from (1, 2)",
            run.steps,
            run.evaluations,
            run.stop.as_str(),
            run.loss
        );
        if label == "adam lr=0.05" {
            // A first-order method with a constant rate gets close, but not to the tolerance.
            assert!(error < 1e-2, "adam ended at {:?}", run.params);
        } else {
            // Newton and L-BFGS reach the tolerance well inside the step budget.
            assert_eq!(run.stop, StopReason::Converged);
            assert!(error < 1e-8 && run.loss < 1e-15, "{label} ended at {:?}", run.params);
        }
    }
    Ok(())
}
