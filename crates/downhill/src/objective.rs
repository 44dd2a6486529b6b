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

/// A differentiable function `f: R^d -> R` to minimize: the mathematics only.
///
/// Implementors give the value and the exact gradient; the Hessian is optional (Newton's method
/// needs it). Slices have length [`Objective::dim`] (the Hessian `dim * dim`, row-major). The
/// run loop and the optimizers check lengths before they call; [`Objective::evaluate`] is the
/// checked call for your own code. The built-in objectives never panic on a wrong length: they
/// answer NaN (and fill the gradient with NaN), and their Hessians return
/// [`Error::Dimension`].
///
/// What the tools that draw and report need (a name, the formula, known minima, a start point
/// and a plotting window) lives beside this trait, in [`Landscape`].
///
/// ```
/// use downhill::objective::Objective;
///
/// /// f(x) = sum_i (x_i - i)^2.
/// struct Shifted(usize);
///
/// impl Objective<f64> for Shifted {
///     fn dim(&self) -> usize {
///         self.0
///     }
///     fn value(&self, x: &[f64]) -> f64 {
///         x.iter().enumerate().map(|(i, v)| (v - i as f64).powi(2)).sum()
///     }
///     fn gradient(&self, x: &[f64], grad: &mut [f64]) {
///         for (i, (g, v)) in grad.iter_mut().zip(x).enumerate() {
///             *g = 2.0 * (v - i as f64);
///         }
///     }
/// }
///
/// let f = Shifted(3);
/// let mut grad = [0.0; 3];
/// assert_eq!(f.evaluate(&[1.0, 1.0, 1.0], &mut grad)?, 2.0);
/// assert_eq!(grad, [2.0, 0.0, -2.0]);
/// // A point of the wrong length is an error naming the field and the lengths.
/// let err = f.evaluate(&[1.0, 1.0], &mut grad).unwrap_err();
/// assert_eq!(err.to_string(), "point: expected 3 values, got 2");
/// # Ok::<(), downhill::Error>(())
/// ```
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

    /// [`Objective::value_and_gradient`] with the lengths checked: [`Error::Dimension`] naming
    /// `point` or `gradient` when either is not [`Objective::dim`] long.
    fn evaluate(&self, x: &[T], grad: &mut [T]) -> Result<T> {
        let d = self.dim();
        check_length("point", d, x.len())?;
        check_length("gradient", d, grad.len())?;
        Ok(self.value_and_gradient(x, grad))
    }

    /// Values and gradients at many points at once, for batched sweeps. `points` is
    /// coordinate-major (`points[i * n + r]` is coordinate `i` of point `r`, with `n = values.len()`),
    /// and so is `grads`. Implementations must perform, per point, exactly the operations of
    /// [`Objective::value_and_gradient`]; the default does so one point at a time (and answers
    /// NaN when `points` or `grads` is not `dim * n` long). Override it with a loop over points
    /// that the compiler can vectorize (see `Rosenbrock`).
    fn value_and_gradient_many(&self, points: &[T], values: &mut [T], grads: &mut [T]) {
        let n = values.len();
        let d = self.dim();
        if points.len() != d * n || grads.len() != d * n {
            values.fill(T::from_f64(f64::NAN));
            grads.fill(T::from_f64(f64::NAN));
            return;
        }
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
        Err(Error::Unsupported("the objective has no Hessian".into()))
    }
}

/// [`Error::Dimension`] for `field` unless `got == expected`.
pub(crate) fn check_length(field: &str, expected: usize, got: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::Dimension { field: field.into(), expected, got })
    }
}

/// The checks a built-in Hessian makes: `x` of length `dim`, `hess` of `dim * dim`.
pub(crate) fn check_hessian_lengths(dim: usize, x: usize, hess: usize) -> Result<()> {
    check_length("point", dim, x)?;
    check_length("hessian", dim.saturating_mul(dim), hess)
}

/// NaN in the working precision: what a built-in answers for a point of the wrong length.
pub(crate) fn nan<T: Real>() -> T {
    T::from_f64(f64::NAN)
}

/// What the tools that draw and report know about an objective beyond its mathematics: the spec
/// that rebuilds it, its formula, known minima, a start point that shows its character and a
/// window to plot. Every built-in implements it; implement it for your own objective to use the
/// drawing and reporting tools with it.
///
/// ```
/// use downhill::objective::{Landscape, Minimum};
/// use downhill::objectives::Rosenbrock;
///
/// let f = Rosenbrock { a: 1.0, b: 10.0 };
/// assert_eq!(f.name(), "rosenbrock:a=1,b=10");
/// assert_eq!(f.formula(), "(1 - x)^2 + 10 (y - x^2)^2");
/// assert_eq!(f.minima(), [Minimum { point: vec![1.0, 1.0], value: 0.0 }]);
/// assert_eq!(f.default_start(), Some(vec![-1.5, 2.5])); // the seed's figure 1 start
/// ```
pub trait Landscape {
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

/// An [`Objective`] that is also a [`Landscape`]: what [`crate::objectives::build`] returns and
/// what the drawing and reporting tools take. Implemented for every type that is both; a
/// `&dyn DescribedObjective<T>` is also a `&dyn Objective<T>` and a `&dyn Landscape`.
///
/// ```
/// use downhill::objective::{DescribedObjective, Landscape, Objective};
///
/// let f: Box<dyn DescribedObjective<f64>> = downhill::objectives::build("himmelblau")?;
/// assert_eq!((f.name(), f.dim(), f.minima().len()), ("himmelblau".to_string(), 2, 4));
/// let math: &dyn Objective<f64> = &*f;
/// assert_eq!(math.value(&[3.0, 2.0]), 0.0);
/// # Ok::<(), downhill::Error>(())
/// ```
pub trait DescribedObjective<T: Real>: Objective<T> + Landscape {}

impl<T: Real, O: Objective<T> + Landscape> DescribedObjective<T> for O {}

/// An objective that counts how often it is evaluated, as scipy's `nfev`/`njev`/`nhev` do.
///
/// Every call of [`Objective::value`], [`Objective::gradient`] or
/// [`Objective::value_and_gradient`] is one evaluation (a value and a gradient at the same point
/// computed together are one, as in scipy's line searches); every [`Objective::hessian`] is one
/// Hessian evaluation. [`crate::minimize`] wraps its objective in one, so the counts cover every
/// evaluation a step makes (line searches, look-ahead gradients, trust-region trials) and none is
/// counted twice. The counters are exact when one thread evaluates at a time, as a run does.
pub struct Counted<'a, T> {
    inner: &'a dyn Objective<T>,
    evaluations: std::sync::atomic::AtomicU64,
    hessians: std::sync::atomic::AtomicU64,
}

impl<'a, T: Real> Counted<'a, T> {
    /// Wraps `objective` with both counts at 0.
    pub fn new(objective: &'a dyn Objective<T>) -> Self {
        Counted { inner: objective, evaluations: Default::default(), hessians: Default::default() }
    }

    /// Value and gradient evaluations so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hessian evaluations so far.
    pub fn hessian_evaluations(&self) -> u64 {
        self.hessians.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn bump(counter: &std::sync::atomic::AtomicU64, by: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        // A load and a store rather than a locked add: runs evaluate from one thread at a time,
        // and the count sits in the hot loop of every 2-D run.
        counter.store(counter.load(Relaxed) + by, Relaxed);
    }
}

impl<T: Real> Objective<T> for Counted<'_, T> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn value(&self, x: &[T]) -> T {
        Self::bump(&self.evaluations, 1);
        self.inner.value(x)
    }
    fn gradient(&self, x: &[T], grad: &mut [T]) {
        Self::bump(&self.evaluations, 1);
        self.inner.gradient(x, grad)
    }
    fn value_and_gradient(&self, x: &[T], grad: &mut [T]) -> T {
        Self::bump(&self.evaluations, 1);
        self.inner.value_and_gradient(x, grad)
    }
    fn value_and_gradient_many(&self, points: &[T], values: &mut [T], grads: &mut [T]) {
        Self::bump(&self.evaluations, values.len() as u64);
        self.inner.value_and_gradient_many(points, values, grads)
    }
    fn has_hessian(&self) -> bool {
        self.inner.has_hessian()
    }
    fn hessian(&self, x: &[T], hess: &mut [T]) -> Result<()> {
        Self::bump(&self.hessians, 1);
        self.inner.hessian(x, hess)
    }
}

/// An objective from a closure that returns `f(x)` and writes `grad f(x)`: a training batch, a
/// function from another language, anything that is not a built-in [`Objective`].
///
/// ```
/// use downhill::objective::FnObjective;
/// use downhill::{minimize, optim, RunOptions};
///
/// // f(x, y) = (x - 3)^2 + 10 y^2, minimized by L-BFGS with a strong Wolfe line search.
/// let f = FnObjective::new("bowl", 2, |x: &[f64], g: &mut [f64]| {
///     g[0] = 2.0 * (x[0] - 3.0);
///     g[1] = 20.0 * x[1];
///     (x[0] - 3.0).powi(2) + 10.0 * x[1] * x[1]
/// });
/// let mut lbfgs = optim::build::<f64>("lbfgs", &Default::default()).unwrap();
/// let options = RunOptions { grad_tol: Some(1e-10), ..RunOptions::steps(100) };
/// let run = minimize(&f, lbfgs.as_mut(), &[0.0, 1.0], &options, None).unwrap();
/// assert!((run.params[0] - 3.0).abs() < 1e-9 && run.evaluations < 20);
/// ```
pub struct FnObjective<F> {
    name: String,
    dim: usize,
    function: F,
}

impl<F> FnObjective<F> {
    /// `function(x, grad)` returns `f(x)` and writes the gradient into `grad` (both of length `dim`).
    pub fn new(name: impl Into<String>, dim: usize, function: F) -> Self {
        FnObjective { name: name.into(), dim, function }
    }
}

impl<T: Real, F: Fn(&[T], &mut [T]) -> T + Send + Sync> Objective<T> for FnObjective<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, x: &[T]) -> T {
        let mut g = vec![T::ZERO; self.dim];
        (self.function)(x, &mut g)
    }
    fn gradient(&self, x: &[T], grad: &mut [T]) {
        (self.function)(x, grad);
    }
    fn value_and_gradient(&self, x: &[T], grad: &mut [T]) -> T {
        (self.function)(x, grad)
    }
}

impl<F> Landscape for FnObjective<F> {
    fn name(&self) -> String {
        self.name.clone()
    }
}
