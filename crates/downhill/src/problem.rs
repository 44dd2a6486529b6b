//! Finite-sum problems `f(theta) = (1/N) sum_i f_i(theta)` for stochastic gradient methods.
//!
//! A [`Problem`] is an [`Objective`] (its value and gradient are the full-batch ones) that can also
//! give the gradient of a minibatch `(1/B) sum_{i in batch} f_i`. A [`Sampler`] draws the batches
//! from a seed, with replacement or as reshuffled epochs without replacement, and its state is
//! serializable so a run can be resumed exactly.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::objective::{check_hessian_lengths, nan, Landscape, Minimum, Objective};
use crate::real::Real;
use crate::rng::Rng;

/// A finite sum of `len()` terms.
pub trait Problem<T: Real>: Objective<T> {
    /// Number of terms `N`.
    fn len(&self) -> usize;

    /// True when there are no terms.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(1/B) sum_{i in batch} f_i(x)`, writing its gradient into `grad`. Indices may repeat.
    fn batch_value_and_gradient(&self, batch: &[usize], x: &[T], grad: &mut [T]) -> T;

    /// The gradient of one term, `grad f_i(x)`.
    fn term_gradient(&self, i: usize, x: &[T], grad: &mut [T]) {
        self.batch_value_and_gradient(&[i], x, grad);
    }
}

/// How minibatches are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Each index uniformly and independently (the seed's SGD: unbiased, variance sigma^2/B).
    WithReplacement,
    /// Reshuffle every epoch and walk through it (no index repeats within an epoch; the variance
    /// of the batch mean carries the finite-population factor (N-B)/(N-1)).
    WithoutReplacement,
}

/// Draws minibatches of indices `0..n` from a seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampler {
    n: usize,
    batch: usize,
    sampling: Sampling,
    rng: Rng,
    order: Vec<usize>,
    pos: usize,
    epoch: u64,
    #[serde(skip)]
    out: Vec<usize>,
}

impl Sampler {
    /// Batches of `batch` indices from `0..n`.
    pub fn new(n: usize, batch: usize, sampling: Sampling, seed: u64) -> Result<Sampler> {
        if n == 0 {
            return Err(Error::out_of_range("problem size", 0, "[1, inf)"));
        }
        if batch == 0 || batch > n {
            return Err(Error::out_of_range("batch", batch, &format!("[1, {n}]")));
        }
        Ok(Sampler {
            n,
            batch,
            sampling,
            rng: Rng::new(seed),
            order: Vec::new(),
            pos: n,
            epoch: 0,
            out: Vec::new(),
        })
    }

    /// Completed passes over the data (without replacement) so far.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The next batch. Without replacement, a batch never straddles two epochs: the last short
    /// remainder of a shuffled epoch is dropped (as PyTorch's `drop_last=True`), so every batch has
    /// exactly `batch` distinct indices.
    pub fn next_batch(&mut self) -> &[usize] {
        self.out.clear();
        match self.sampling {
            Sampling::WithReplacement => {
                for _ in 0..self.batch {
                    self.out.push(self.rng.below(self.n as u64) as usize);
                }
            }
            Sampling::WithoutReplacement => {
                if self.pos + self.batch > self.n {
                    if self.order.len() != self.n {
                        self.order = (0..self.n).collect();
                    } else {
                        self.epoch += 1;
                    }
                    self.rng.shuffle(&mut self.order);
                    self.pos = 0;
                }
                self.out.extend_from_slice(&self.order[self.pos..self.pos + self.batch]);
                self.pos += self.batch;
            }
        }
        &self.out
    }
}

/// Dense row-major data: `rows x cols`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows (examples).
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
    /// `rows * cols` values, row-major.
    pub data: Vec<f64>,
}

impl Matrix {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// `value`, `gradient` and `value_and_gradient` of a finite sum: its batch over every term.
macro_rules! full_batch_objective {
    () => {
        fn value(&self, x: &[T]) -> T {
            let mut g = vec![T::ZERO; Objective::<T>::dim(self)];
            self.value_and_gradient(x, &mut g)
        }
        fn gradient(&self, x: &[T], grad: &mut [T]) {
            self.value_and_gradient(x, grad);
        }
        fn value_and_gradient(&self, x: &[T], grad: &mut [T]) -> T {
            let d = Objective::<T>::dim(self);
            if x.len() != d || grad.len() != d {
                grad.fill(nan());
                return nan();
            }
            let all: Vec<usize> = (0..Problem::<T>::len(self)).collect();
            Problem::batch_value_and_gradient(self, &all, x, grad)
        }
    };
}

/// Whether a batch call fits: `x` and `grad` of the problem's dimension, every index a term.
fn fits<T>(dim: usize, len: usize, batch: &[usize], x: &[T], grad: &[T]) -> bool {
    x.len() == dim && grad.len() == dim && batch.iter().all(|&i| i < len)
}

fn dot<T: Real>(a: &[f64], x: &[T]) -> T {
    a.iter().zip(x).fold(T::ZERO, |s, (&ai, &xi)| s + T::from_f64(ai) * xi)
}

/// `log(1 + exp(z))` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// `1 / (1 + exp(-z))` without overflow.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Linear least squares, `f_i(x) = 0.5 (a_i . x - b_i)^2 + 0.5 l2 |x|^2`.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::problem::{LeastSquares, Matrix};
///
/// // Two examples, a = I, b = (1, 2): f(0) = (0.5 * 1 + 0.5 * 4) / 2.
/// let a = Matrix { rows: 2, cols: 2, data: vec![1.0, 0.0, 0.0, 1.0] };
/// let f = LeastSquares::new(a, vec![1.0, 2.0], 0.0)?;
/// let mut grad = [0.0; 2];
/// assert_eq!(f.evaluate(&[0.0, 0.0], &mut grad)?, 1.25);
/// assert_eq!(grad, [-0.5, -1.0]);
/// let x = f.solution()?; // (1, 2), up to rounding
/// assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12);
/// assert!(f.evaluate(&[0.0; 3], &mut grad).is_err());
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LeastSquares {
    /// Design matrix, one example per row.
    pub a: Matrix,
    /// Targets.
    pub b: Vec<f64>,
    /// Ridge penalty.
    pub l2: f64,
    /// The parameters the data were generated from, when synthetic.
    pub truth: Option<Vec<f64>>,
}

impl LeastSquares {
    /// A least-squares problem; fails when shapes disagree.
    pub fn new(a: Matrix, b: Vec<f64>, l2: f64) -> Result<LeastSquares> {
        if a.data.len() != a.rows * a.cols {
            return Err(Error::Dimension { field: "a".into(), expected: a.rows * a.cols, got: a.data.len() });
        }
        if b.len() != a.rows {
            return Err(Error::Dimension { field: "b".into(), expected: a.rows, got: b.len() });
        }
        Ok(LeastSquares { a, b, l2, truth: None })
    }

    /// `A^T A / N + l2 I`: the Hessian, the same everywhere.
    pub fn hessian_matrix(&self) -> Vec<f64> {
        let (n, d) = (self.a.rows, self.a.cols);
        let mut h = vec![0.0; d * d];
        for i in 0..n {
            let r = self.a.row(i);
            for j in 0..d {
                for k in 0..d {
                    h[j * d + k] += r[j] * r[k];
                }
            }
        }
        for (idx, v) in h.iter_mut().enumerate() {
            *v /= n as f64;
            if idx % (d + 1) == 0 {
                *v += self.l2;
            }
        }
        h
    }

    /// The exact minimizer, solving the normal equations `(A^T A / N + l2 I) x = A^T b / N` by Cholesky.
    pub fn solution(&self) -> Result<Vec<f64>> {
        let (n, d) = (self.a.rows, self.a.cols);
        let mut h = self.hessian_matrix();
        let mut rhs = vec![0.0; d];
        for i in 0..n {
            for (j, r) in rhs.iter_mut().enumerate() {
                *r += self.a.row(i)[j] * self.b[i] / n as f64;
            }
        }
        if !crate::linalg::cholesky(&mut h, d) {
            return Err(Error::Unsupported("least squares: A^T A is singular; add l2 > 0".into()));
        }
        crate::linalg::cholesky_solve(&h, d, &mut rhs);
        Ok(rhs)
    }
}

impl<T: Real> Objective<T> for LeastSquares {
    fn dim(&self) -> usize {
        self.a.cols
    }
    full_batch_objective!();
    fn has_hessian(&self) -> bool {
        true
    }
    fn hessian(&self, x: &[T], hess: &mut [T]) -> Result<()> {
        check_hessian_lengths(self.a.cols, x.len(), hess.len())?;
        for (o, v) in hess.iter_mut().zip(self.hessian_matrix()) {
            *o = T::from_f64(v);
        }
        Ok(())
    }
}

impl Landscape for LeastSquares {
    fn name(&self) -> String {
        format!("least-squares:n={},dim={}", self.a.rows, self.a.cols)
    }
    fn formula(&self) -> String {
        "(1/N) sum_i 0.5 (a_i . x - b_i)^2".into()
    }
    fn minima(&self) -> Vec<Minimum> {
        match self.solution() {
            Ok(p) => {
                let value = Objective::<f64>::value(self, &p);
                vec![Minimum { point: p, value }]
            }
            Err(_) => Vec::new(),
        }
    }
}

impl<T: Real> Problem<T> for LeastSquares {
    fn len(&self) -> usize {
        self.a.rows
    }
    fn batch_value_and_gradient(&self, batch: &[usize], x: &[T], grad: &mut [T]) -> T {
        if !fits(Objective::<T>::dim(self), Problem::<T>::len(self), batch, x, grad) {
            grad.fill(nan());
            return nan();
        }
        grad.iter_mut().for_each(|g| *g = T::ZERO);
        let mut loss = T::ZERO;
        for &i in batch {
            let r = self.a.row(i);
            let e = dot(r, x) - T::from_f64(self.b[i]);
            loss += T::from_f64(0.5) * e * e;
            for (g, &a) in grad.iter_mut().zip(r) {
                *g += e * T::from_f64(a);
            }
        }
        let inv = T::ONE / T::from_f64(batch.len() as f64);
        let l2 = T::from_f64(self.l2);
        for (g, &xi) in grad.iter_mut().zip(x) {
            *g = *g * inv + l2 * xi;
        }
        let reg = x.iter().fold(T::ZERO, |s, &v| s + v * v) * T::from_f64(0.5 * self.l2);
        loss * inv + reg
    }
}

/// Binary logistic regression, `f_i(x) = log(1 + exp(-s_i a_i . x)) + 0.5 l2 |x|^2` with labels
/// `s_i` in {-1, +1} (given as 0/1), computed stably.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::problem::{Logistic, Matrix};
///
/// // One example a = 1 with label 1: f(0) = log 2, f'(0) = -sigmoid(0) = -0.5.
/// let f = Logistic { a: Matrix { rows: 1, cols: 1, data: vec![1.0] }, y: vec![1], l2: 0.0 };
/// let mut grad = [0.0];
/// assert_eq!(f.evaluate(&[0.0], &mut grad)?, 2f64.ln());
/// assert_eq!(grad, [-0.5]);
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Features, one example per row.
    pub a: Matrix,
    /// Labels, 0 or 1.
    pub y: Vec<u8>,
    /// Ridge penalty.
    pub l2: f64,
}

impl<T: Real> Objective<T> for Logistic {
    fn dim(&self) -> usize {
        self.a.cols
    }
    full_batch_objective!();
}

impl Landscape for Logistic {
    fn name(&self) -> String {
        format!("logistic:n={},dim={}", self.a.rows, self.a.cols)
    }
    fn formula(&self) -> String {
        "(1/N) sum_i log(1 + exp(-s_i a_i . x))".into()
    }
}

impl<T: Real> Problem<T> for Logistic {
    fn len(&self) -> usize {
        self.a.rows
    }
    fn batch_value_and_gradient(&self, batch: &[usize], x: &[T], grad: &mut [T]) -> T {
        if !fits(Objective::<T>::dim(self), Problem::<T>::len(self), batch, x, grad) {
            grad.fill(nan());
            return nan();
        }
        grad.iter_mut().for_each(|g| *g = T::ZERO);
        let mut loss = 0.0;
        for &i in batch {
            let r = self.a.row(i);
            let s = if self.y[i] == 1 { 1.0 } else { -1.0 };
            let z = s * dot::<T>(r, x).to_f64();
            loss += softplus(-z);
            // d/dx softplus(-z) = -s * sigmoid(-z) * a
            let c = T::from_f64(-s * sigmoid(-z));
            for (g, &a) in grad.iter_mut().zip(r) {
                *g += c * T::from_f64(a);
            }
        }
        let inv = 1.0 / batch.len() as f64;
        for (g, &xi) in grad.iter_mut().zip(x) {
            *g = *g * T::from_f64(inv) + T::from_f64(self.l2) * xi;
        }
        let reg = 0.5 * self.l2 * x.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>();
        T::from_f64(loss * inv + reg)
    }
}

/// Multinomial (softmax) regression with `classes` classes: parameters are a `classes x dim`
/// weight matrix, row-major; `f_i = logsumexp(W a_i) - (W a_i)_{y_i}`, computed stably.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::problem::{Matrix, Softmax};
///
/// // One example a = 1 of class 0, two classes: at W = 0 both are equally likely, f = log 2 and
/// // the gradient is p - onehot(0) = (0.5 - 1, 0.5).
/// let a = Matrix { rows: 1, cols: 1, data: vec![1.0] };
/// let f = Softmax { a, y: vec![0], classes: 2, l2: 0.0 };
/// let mut grad = [0.0; 2];
/// assert_eq!(f.evaluate(&[0.0, 0.0], &mut grad)?, 2f64.ln());
/// assert_eq!(grad, [-0.5, 0.5]);
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Softmax {
    /// Features, one example per row.
    pub a: Matrix,
    /// Labels in `0..classes`.
    pub y: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// Ridge penalty.
    pub l2: f64,
}

impl<T: Real> Objective<T> for Softmax {
    fn dim(&self) -> usize {
        self.a.cols * self.classes
    }
    full_batch_objective!();
}

impl Landscape for Softmax {
    fn name(&self) -> String {
        format!("softmax:n={},dim={},classes={}", self.a.rows, self.a.cols, self.classes)
    }
    fn formula(&self) -> String {
        "(1/N) sum_i logsumexp(W a_i) - (W a_i)_(y_i)".into()
    }
}

impl<T: Real> Problem<T> for Softmax {
    fn len(&self) -> usize {
        self.a.rows
    }
    fn batch_value_and_gradient(&self, batch: &[usize], x: &[T], grad: &mut [T]) -> T {
        if !fits(Objective::<T>::dim(self), Problem::<T>::len(self), batch, x, grad) {
            grad.fill(nan());
            return nan();
        }
        let (d, k) = (self.a.cols, self.classes);
        grad.iter_mut().for_each(|g| *g = T::ZERO);
        let mut loss = 0.0;
        let mut logits = vec![0.0; k];
        for &i in batch {
            let r = self.a.row(i);
            for (c, l) in logits.iter_mut().enumerate() {
                *l = dot::<T>(r, &x[c * d..(c + 1) * d]).to_f64();
            }
            let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = logits.iter().map(|l| (l - m).exp()).sum();
            let lse = m + sum.ln();
            loss += lse - logits[self.y[i]];
            for c in 0..k {
                let p = (logits[c] - lse).exp() - if c == self.y[i] { 1.0 } else { 0.0 };
                let p = T::from_f64(p);
                for (g, &a) in grad[c * d..(c + 1) * d].iter_mut().zip(r) {
                    *g += p * T::from_f64(a);
                }
            }
        }
        let inv = 1.0 / batch.len() as f64;
        for (g, &xi) in grad.iter_mut().zip(x) {
            *g = *g * T::from_f64(inv) + T::from_f64(self.l2) * xi;
        }
        let reg = 0.5 * self.l2 * x.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>();
        T::from_f64(loss * inv + reg)
    }
}

/// A synthetic least-squares problem with a Gaussian design whose population covariance has
/// eigenvalues spaced geometrically from 1 to `kappa` (so `E[A^T A / N]` has condition number
/// `kappa`), true parameters drawn from N(0, 1), and Gaussian label noise of standard deviation `noise`.
pub fn synthetic_least_squares(
    n: usize,
    dim: usize,
    kappa: f64,
    noise: f64,
    seed: u64,
) -> Result<LeastSquares> {
    if n == 0 || dim == 0 {
        return Err(Error::out_of_range("n and dim", format!("{n}, {dim}"), "[1, inf)"));
    }
    crate::spec::Range::Positive.check("kappa", kappa)?;
    if kappa < 1.0 {
        return Err(Error::out_of_range("kappa", kappa, "[1, inf)"));
    }
    crate::spec::Range::NonNegative.check("noise", noise)?;
    let mut rng = Rng::new(seed);
    let scales: Vec<f64> = (0..dim)
        .map(|j| if dim == 1 { 1.0 } else { kappa.powf(j as f64 / (dim - 1) as f64).sqrt() })
        .collect();
    let truth: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let mut data = Vec::with_capacity(n * dim);
    let mut b = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = scales.iter().map(|s| s * rng.normal()).collect();
        b.push(row.iter().zip(&truth).map(|(a, t)| a * t).sum::<f64>() + noise * rng.normal());
        data.extend(row);
    }
    let mut p = LeastSquares::new(Matrix { rows: n, cols: dim, data }, b, 0.0)?;
    p.truth = Some(truth);
    Ok(p)
}

/// Synthetic binary classification: Gaussian features, labels from a logistic model with random
/// true weights (`flip` of them flipped at random for label noise).
pub fn synthetic_logistic(n: usize, dim: usize, flip: f64, seed: u64) -> Result<Logistic> {
    if n == 0 || dim == 0 {
        return Err(Error::out_of_range("n and dim", format!("{n}, {dim}"), "[1, inf)"));
    }
    crate::spec::Range::Unit.check("flip", flip)?;
    let mut rng = Rng::new(seed);
    let w: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let mut data = Vec::with_capacity(n * dim);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let z: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum();
        let mut label = u8::from(rng.uniform() < sigmoid(z));
        if rng.uniform() < flip {
            label = 1 - label;
        }
        y.push(label);
        data.extend(row);
    }
    Ok(Logistic { a: Matrix { rows: n, cols: dim, data }, y, l2: 0.0 })
}
