//! The [`Objective`] trait: a function to minimize, with its gradient and optionally its Hessian.

use crate::error::{Error, Result};
use crate::real::Real;

/// A known local or global minimum of an objective.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Minimum {
    /// Where it is.
    pub point: Vec<f64>,
    /// The objective's value there.
    pub value: f64,
}

/// The largest dimension for which a dense `n x n` Hessian is formed and factored (Newton's
/// method): 1,000 is 8 MB and a fraction of a second per step; beyond that the memory (n^2) and
/// time (n^3) grow out of proportion.
pub const MAX_DENSE_HESSIAN_DIM: usize = 1000;

/// Refuses a dense Hessian of dimension `n` above `limit` for `what`, with the memory it would
/// take and what to use instead.
pub fn check_dense_hessian(what: &str, n: usize, limit: usize) -> Result<()> {
    if n <= limit {
        return Ok(());
    }
    let gigabytes = (n as f64) * (n as f64) * 8.0 / 1e9;
    Err(Error::out_of_range(
        format!("{what}: dimension"),
        n,
        &format!(
            "[1, {limit}] (a dense {n} x {n} Hessian takes {gigabytes:.1} GB); use L-BFGS or a \
             first-order method such as adam or momentum"
        ),
    ))
}

/// A differentiable function `f: R^d -> R` to minimize.
///
/// Implementors give the value and the exact gradient; the Hessian is optional (Newton's method
/// needs it). Slices always have length [`Objective::dim`] (the Hessian `dim * dim`, row-major);
/// callers check lengths before calling, so implementations may index freely.
pub trait Objective<T: Real>: Send + Sync {
    /// Number of parameters `d`.
    fn dim(&self) -> usize;

    /// `f(x)`.
    fn value(&self, x: &[T]) -> T;

    /// Writes `grad f(x)` into `grad`.
    fn gradient(&self, x: &[T], grad: &mut [T]);

    /// `f(x)`, writing the gradient into `grad`. Override when the two share work.
    fn value_and_gradient(&self, x: &[T], grad: &mut [T]) -> T {
        self.gradient(x, grad);
        self.value(x)
    }

    /// Values and gradients at many points at once, for batched sweeps. `points` is
    /// coordinate-major (`points[i * n + r]` is coordinate `i` of point `r`, with `n = values.len()`),
    /// and so is `grads`. Implementations must perform, per point, exactly the operations of
    /// [`Objective::value_and_gradient`]; the default does so one point at a time. Override it with a
    /// loop over points that the compiler can vectorize (see `Rosenbrock`).
    fn value_and_gradient_many(&self, points: &[T], values: &mut [T], grads: &mut [T]) {
        let n = values.len();
        let d = self.dim();
        let (mut x, mut g) = (vec![T::ZERO; d], vec![T::ZERO; d]);
        for r in 0..n {
            for i in 0..d {
                x[i] = points[i * n + r];
            }
            values[r] = self.value_and_gradient(&x, &mut g);
            for i in 0..d {
                grads[i * n + r] = g[i];
            }
        }
    }

    /// Whether [`Objective::hessian`] is implemented.
    fn has_hessian(&self) -> bool {
        false
    }

    /// Writes the Hessian at `x` into `hess` (row-major, `dim * dim`).
    fn hessian(&self, _x: &[T], _hess: &mut [T]) -> Result<()> {
        Err(Error::Unsupported(format!("objective '{}' has no Hessian", self.name())))
    }

    /// The spec that rebuilds this objective, e.g. `rosenbrock:a=1,b=10`.
    fn name(&self) -> String;

    /// The formula in plain text, e.g. `(1 - x)^2 + 10 (y - x^2)^2`.
    fn formula(&self) -> String {
        self.name()
    }

    /// Known minima, best first (may be empty when none are known or none exist).
    fn minima(&self) -> Vec<Minimum> {
        Vec::new()
    }

    /// A start point that shows the landscape's character (used when a person gives none).
    fn default_start(&self) -> Option<Vec<f64>> {
        None
    }

    /// A box `[xmin, xmax, ymin, ymax]` that shows the interesting part of a 2-D landscape.
    fn domain(&self) -> Option<[f64; 4]> {
        None
    }
}
