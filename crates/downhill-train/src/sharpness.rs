//! Sharpness: the largest eigenvalue of the Hessian of the training loss, by the Lanczos method
//! on exact Hessian-vector products ([`Model::hessian_vector_product`], Pearlmutter's R-operator).
//!
//! Gradient descent with step `lr` is stable on a quadratic only while the sharpness is below
//! `2/lr`; Cohen et al. (2021, "Gradient Descent on Neural Networks Typically Occurs at the Edge of
//! Stability") found that full-batch GD on networks raises the sharpness until it reaches `2/lr`
//! and then hovers there. [`sharpness`] measures it for any model and data.
//!
//! ```
//! use downhill_train::{sharpness, Labels, LanczosOptions, Model, Target};
//!
//! // Least squares: the Hessian of (1/n) sum (x.w + b - y)^2 is (2/n) [X 1]^T [X 1].
//! let x = [1.0, 0.0, 0.0, 2.0, 1.0, 1.0];
//! let y = [1.0, 2.0, 3.0];
//! let target = Target::Values { values: y.to_vec(), names: vec!["y".into()] };
//! let model = Model::parse("linear", 2, &target).unwrap();
//! let top = sharpness(&model, &[0.0; 3], &x, Labels::Values(&y), &LanczosOptions::default()).unwrap();
//! assert!(top.value > 0.0 && top.products <= 3 + 1);
//! ```

use super::model::{Labels, Model, Workspace};
use crate::Scalar;
use downhill::analysis::symmetric_eigen;
use downhill::error::{Error, Result};
use downhill::rng::Rng;

/// How [`top_eigenvalue`] iterates.
#[derive(Debug, Clone, PartialEq)]
pub struct LanczosOptions {
    /// The most matrix-vector products (Lanczos steps); each costs about three passes over the
    /// data for a model. Memory: this many vectors of the parameters' length, in f64.
    pub max_products: usize,
    /// Stop when the top Ritz value moves by less than this, relative, between two steps.
    pub tolerance: f64,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        LanczosOptions { max_products: 30, tolerance: 1e-5, seed: 0 }
    }
}

/// The largest eigenvalue an estimator found.
#[derive(Debug, Clone, PartialEq)]
pub struct TopEigen {
    /// The largest (most positive) eigenvalue's estimate: the top Ritz value.
    pub value: f64,
    /// Its unit Ritz vector.
    pub vector: Vec<f64>,
    /// Matrix-vector products used.
    pub products: usize,
    /// `||A u - value u||` for the returned vector `u`: a bound on the distance from `value` to an
    /// eigenvalue of `A`.
    pub residual: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The largest eigenvalue of the symmetric tridiagonal matrix with diagonal `alpha` and
/// off-diagonal `beta` (`beta.len() >= alpha.len() - 1`), by bisection on Sturm sequence counts.
fn tridiagonal_top(alpha: &[f64], beta: &[f64]) -> f64 {
    let m = alpha.len();
    let off = |i: usize| if i < m - 1 { beta[i].abs() } else { 0.0 };
    // Gershgorin bounds.
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (i, &a) in alpha.iter().enumerate() {
        let r = off(i) + if i > 0 { off(i - 1) } else { 0.0 };
        lo = lo.min(a - r);
        hi = hi.max(a + r);
    }
    // The number of eigenvalues below x.
    let below = |x: f64| {
        let (mut count, mut d) = (0, 1.0);
        for (i, &a) in alpha.iter().enumerate() {
            let b2 = if i > 0 { beta[i - 1] * beta[i - 1] } else { 0.0 };
            d = a - x - if i > 0 { b2 / d } else { 0.0 };
            if d == 0.0 {
                d = -f64::EPSILON * (x.abs() + f64::MIN_POSITIVE);
            }
            count += usize::from(d < 0.0);
        }
        count
    };
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if below(mid) == m {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The largest eigenvalue of the symmetric `dim x dim` operator `apply(v, out)` (`out <- A v`), by
/// the Lanczos method with full reorthogonalization from a seeded random start.
///
/// Unlike power iteration, which finds the eigenvalue of largest *magnitude*, this returns the
/// most positive one even when a negative eigenvalue is larger in size, and converges in far fewer
/// products (the top Ritz value of a Krylov space of size `k` is at least as good as `k` steps of
/// power iteration).
pub fn top_eigenvalue(
    dim: usize,
    apply: &mut dyn FnMut(&[f64], &mut [f64]),
    options: &LanczosOptions,
) -> Result<TopEigen> {
    if dim == 0 {
        return Err(Error::out_of_range("dimension", 0, "1.."));
    }
    if options.max_products == 0 {
        return Err(Error::out_of_range("max_products", 0, "1.."));
    }
    if options.tolerance.is_nan() || options.tolerance < 0.0 {
        return Err(Error::out_of_range("tolerance", options.tolerance, "[0, inf)"));
    }
    let mut rng = Rng::new(options.seed);
    let mut q: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let n0 = dot(&q, &q).sqrt();
    q.iter_mut().for_each(|v| *v /= n0);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let (mut alpha, mut beta): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut w = vec![0.0; dim];
    let mut previous = f64::NAN;
    for _ in 0..options.max_products.min(dim) {
        apply(&q, &mut w);
        if w.iter().any(|v| !v.is_finite()) {
            return Err(Error::Inconsistent {
                field: "hessian".into(),
                message: "a Hessian-vector product is not finite".into(),
            });
        }
        let a = dot(&q, &w);
        alpha.push(a);
        basis.push(std::mem::take(&mut q));
        // Full reorthogonalization, twice ("twice is enough"), against every basis vector.
        for _ in 0..2 {
            for b in &basis {
                let c = dot(b, &w);
                w.iter_mut().zip(b).for_each(|(w, b)| *w -= c * b);
            }
        }
        let top = tridiagonal_top(&alpha, &beta);
        let b = dot(&w, &w).sqrt();
        let scale = alpha.iter().chain(&beta).fold(0.0f64, |s, v| s.max(v.abs()));
        let settled = (top - previous).abs() <= options.tolerance * top.abs();
        if settled || b <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        previous = top;
        beta.push(b);
        q = w.iter().map(|v| v / b).collect();
    }
    // The Ritz vector, from the tridiagonal matrix's eigenvectors (computed once, at the end).
    let m = alpha.len();
    let mut t = vec![0.0; m * m];
    for i in 0..m {
        t[i * m + i] = alpha[i];
        if i + 1 < m {
            t[i * m + i + 1] = beta[i];
            t[(i + 1) * m + i] = beta[i];
        }
    }
    let (values, vectors) = symmetric_eigen(&t, m);
    let ritz = (values[m - 1], &vectors[m - 1]);
    let mut vector = vec![0.0; dim];
    for (y, b) in ritz.1.iter().zip(&basis) {
        vector.iter_mut().zip(b).for_each(|(v, b)| *v += y * b);
    }
    let norm = dot(&vector, &vector).sqrt();
    vector.iter_mut().for_each(|v| *v /= norm);
    apply(&vector, &mut w);
    let residual = w.iter().zip(&vector).map(|(a, u)| (a - ritz.0 * u).powi(2)).sum::<f64>().sqrt();
    Ok(TopEigen { value: ritz.0, vector, products: basis.len() + 1, residual })
}

/// The Hessian of a model's mean loss over a whole data set, as an operator: exact
/// Hessian-vector products summed over chunks of the data (so memory stays bounded).
pub struct HessianOperator<'a, T: Scalar> {
    model: &'a Model,
    params: &'a [T],
    x: &'a [T],
    labels: Labels<'a, T>,
    n: usize,
    ws: Workspace<T>,
    v: Vec<T>,
    grad: Vec<T>,
    part: Vec<T>,
}

/// Samples per chunk of a full-data Hessian-vector product.
const CHUNK: usize = 1024;

impl<'a, T: Scalar> HessianOperator<'a, T> {
    /// The Hessian of `model`'s mean loss on the samples `x` (row-major, `model.sizes[0]` columns)
    /// with `labels`, at `params`.
    pub fn new(model: &'a Model, params: &'a [T], x: &'a [T], labels: Labels<'a, T>) -> Result<Self> {
        let d = model.sizes[0];
        if params.len() != model.num_params() {
            return Err(Error::Dimension {
                field: "params".into(),
                expected: model.num_params(),
                got: params.len(),
            });
        }
        if x.is_empty() || x.len() % d != 0 {
            return Err(Error::Inconsistent {
                field: "x".into(),
                message: format!("{} values are not a positive whole number of {d}-feature samples", x.len()),
            });
        }
        let n = x.len() / d;
        let k = *model.sizes.last().unwrap_or(&1);
        let ok = match labels {
            Labels::Classes(y) => y.len() == n,
            Labels::Values(v) => v.len() == n * k,
        };
        if !ok {
            return Err(Error::Inconsistent {
                field: "labels".into(),
                message: format!("do not match the {n} samples"),
            });
        }
        let p = params.len();
        Ok(HessianOperator {
            model,
            params,
            x,
            labels,
            n,
            ws: Workspace::default(),
            v: vec![T::ZERO; p],
            grad: vec![T::ZERO; p],
            part: vec![T::ZERO; p],
        })
    }

    /// The number of parameters (the operator's size).
    pub fn dim(&self) -> usize {
        self.params.len()
    }

    /// `out <- H v`; returns the mean loss.
    pub fn apply(&mut self, v: &[f64], out: &mut [f64]) -> f64 {
        let (d, k) = (self.model.sizes[0], *self.model.sizes.last().unwrap_or(&1));
        self.v.iter_mut().zip(v).for_each(|(a, &b)| *a = T::from_f64(b));
        out.fill(0.0);
        let mut loss = 0.0;
        for start in (0..self.n).step_by(CHUNK) {
            let b = CHUNK.min(self.n - start);
            let labels = match self.labels {
                Labels::Classes(y) => Labels::Classes(&y[start..start + b]),
                Labels::Values(y) => Labels::Values(&y[start * k..(start + b) * k]),
            };
            let totals = self.model.hessian_vector_product(
                self.params,
                &self.x[start * d..(start + b) * d],
                labels,
                b,
                &self.v,
                &mut self.grad,
                &mut self.part,
                &mut self.ws,
            );
            loss += totals.loss;
            let weight = b as f64 / self.n as f64;
            out.iter_mut().zip(&self.part).for_each(|(o, &h)| *o += weight * h.to_f64());
        }
        loss / self.n as f64
    }
}

/// The sharpness of a model on data: the largest eigenvalue of the Hessian of its mean loss over
/// the samples `x` (row-major) with `labels`, at `params` (weight decay is not part of the loss).
pub fn sharpness<T: Scalar>(
    model: &Model,
    params: &[T],
    x: &[T],
    labels: Labels<'_, T>,
    options: &LanczosOptions,
) -> Result<TopEigen> {
    let mut op = HessianOperator::new(model, params, x, labels)?;
    let dim = op.dim();
    top_eigenvalue(
        dim,
        &mut |v, out| {
            op.apply(v, out);
        },
        options,
    )
}
