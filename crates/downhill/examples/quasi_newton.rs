//! A quasi-Newton method with a line search: L-BFGS (strong Wolfe) on the Rosenbrock function
//! `(1 - x)^2 + 100 (y - x^2)^2` from the classic start `(-1.2, 1)`, next to BFGS, nonlinear
//! conjugate gradient and plain gradient descent with an Armijo line search.
//!
//! Run it with `cargo run --example quasi_newton`.
//!
//! These methods evaluate the objective inside a step (the line search tries points along the
//! search direction), so the number to compare is `evaluations`, scipy's `nfev`, not steps.
//! For reference, scipy 1.17's `minimize(method="L-BFGS-B")` needs 46 evaluations here (README).

use downhill::line_search::{Armijo, LineSearch};
use downhill::optim::CgVariant;
use downhill::prelude::*;

fn main() -> Result<()> {
    let valley = Rosenbrock { a: 1.0, b: 100.0 };
    let start = [-1.2, 1.0];
    // Stop when the gradient norm falls to 1e-8 (or after 20,000 steps).
    let options = RunOptions { grad_tol: Some(1e-8), record_every: 0, ..RunOptions::steps(20_000) };

    let mut lbfgs = Lbfgs::<f64>::builder().memory(10).build()?; // 10 (s, y) pairs, More-Thuente search
    let mut bfgs = Bfgs::<f64>::default(); // dense inverse Hessian, scipy's step rules
    let mut cg = ConjugateGradient::<f64>::builder().variant(CgVariant::PolakRibierePlus).build()?; // strong Wolfe, c2 = 0.1
                                                                                                    // Steepest descent, backtracking from a step of 1.
    let mut gd = GradientDescent::<f64>::builder()
        .lr(1.0)
        .line_search(Some(LineSearch::Armijo(Armijo::default())))
        .build()?;

    let methods: [(&str, &mut dyn Optimizer<f64>); 4] =
        [("lbfgs", &mut lbfgs), ("bfgs", &mut bfgs), ("cg", &mut cg), ("gd + armijo", &mut gd)];
    println!(
        "{:<12} {:>6} {:>12} {:<10} {:>10} {:>12}",
        "method", "steps", "evaluations", "stop", "loss", "|x - (1,1)|"
    );
    let mut evaluations = Vec::new();
    for (name, method) in methods {
        let run = minimize(&valley, method, &start, &options, None)?;
        let error = ((run.params[0] - 1.0).powi(2) + (run.params[1] - 1.0).powi(2)).sqrt();
        println!(
            "{name:<12} {:>6} {:>12} {:<10} {:>10.2e} {:>12.2e}",
            run.steps,
            run.evaluations,
            run.stop.as_str(),
            run.loss,
            error
        );
        // Every method reaches the tolerance, which puts it within about 1e-8 of (1, 1)
        // (the Hessian's smallest eigenvalue there is 0.4, so |x - x*| <= |g| / 0.4).
        assert_eq!(run.stop, StopReason::Converged, "{name}: {:?}", run.detail);
        assert!(error < 1e-7, "{name} ended {error} from the minimum");
        evaluations.push(run.evaluations);
    }
    // L-BFGS needs no more evaluations than scipy's L-BFGS-B, and gradient descent, even with a
    // line search, hundreds of times more: the curvature information is what pays.
    assert!(evaluations[0] <= 46, "L-BFGS took {} evaluations", evaluations[0]);
    assert!(evaluations[3] > 50 * evaluations[0]);
    Ok(())
}
