//! N-dimensional test functions with hand-written gradients and Hessians.

use std::f64::consts::{E, PI};

use crate::error::{Error, Result};
use crate::objective::{check_hessian_lengths, nan, Landscape, Minimum, Objective};
use crate::real::Real;
use crate::spec::Params;

/// The most dimensions the N-D test functions accept.
pub const MAX_DIM: u64 = 100_000;

pub(crate) fn dim(p: &mut Params, min: u64) -> Result<usize> {
    let d = p.count("dim", 2, MAX_DIM)?;
    if d < min {
        return Err(Error::out_of_range(format!("{}.dim", "objective"), d, &format!("[{min}, {MAX_DIM}]")));
    }
    Ok(d as usize)
}

fn f<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

/// `f(x) = sum_i x_i^2`: the round bowl, condition number 1.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::objectives::Sphere;
///
/// let f = Sphere { dim: 3 };
/// let mut grad = [0.0; 3];
/// assert_eq!(f.evaluate(&[1.0, 2.0, 3.0], &mut grad)?, 14.0);
/// assert_eq!(grad, [2.0, 4.0, 6.0]);
/// assert!(f.evaluate(&[1.0, 2.0], &mut grad).is_err());
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sphere {
    /// Dimensions.
    pub dim: usize,
}

impl<T: Real> Objective<T> for Sphere {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, x: &[T]) -> T {
        if x.len() != self.dim {
            return nan();
        }
        x.iter().fold(T::ZERO, |s, &v| s + v * v)
    }
    fn gradient(&self, x: &[T], g: &mut [T]) {
        if x.len() != self.dim || g.len() != self.dim {
            g.fill(nan());
            return;
        }
        for (g, &v) in g.iter_mut().zip(x) {
            *g = f::<T>(2.0) * v;
        }
    }
    fn has_hessian(&self) -> bool {
        true
    }
    fn hessian(&self, x: &[T], h: &mut [T]) -> Result<()> {
        check_hessian_lengths(self.dim, x.len(), h.len())?;
        h.iter_mut().for_each(|v| *v = T::ZERO);
        for i in 0..self.dim {
            h[i * self.dim + i] = f(2.0);
        }
        Ok(())
    }
}

impl Landscape for Sphere {
    fn name(&self) -> String {
        format!("sphere:dim={}", self.dim)
    }
    fn formula(&self) -> String {
        "sum_i x_i^2".into()
    }
    fn minima(&self) -> Vec<Minimum> {
        vec![Minimum { point: vec![0.0; self.dim], value: 0.0 }]
    }
    fn default_start(&self) -> Option<Vec<f64>> {
        Some((0..self.dim).map(|i| if i % 2 == 0 { 1.5 } else { -1.0 }).collect())
    }
    fn domain(&self) -> Option<[f64; 4]> {
        Some([-2.0, 2.0, -2.0, 2.0])
    }
}

/// The chained Rosenbrock function in N dimensions,
/// `sum_{i<N-1} b (x_{i+1} - x_i^2)^2 + (a - x_i)^2`; minimum 0 at `(a, a^2, ...)` when `a = 1`
/// (every coordinate 1), the textbook case.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::objectives::RosenbrockNd;
///
/// let f = RosenbrockNd { dim: 3, a: 1.0, b: 100.0 };
/// let mut grad = [0.0; 3];
/// // At the origin each of the two terms is (1 - 0)^2 = 1.
/// assert_eq!(f.evaluate(&[0.0, 0.0, 0.0], &mut grad)?, 2.0);
/// assert_eq!(grad, [-2.0, -2.0, 0.0]);
/// assert_eq!(f.evaluate(&[1.0, 1.0, 1.0], &mut grad)?, 0.0);
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RosenbrockNd {
    /// Dimensions (at least 2).
    pub dim: usize,
    /// Valley offset.
    pub a: f64,
    /// Valley steepness.
    pub b: f64,
}

impl<T: Real> Objective<T> for RosenbrockNd {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, x: &[T]) -> T {
        if x.len() != self.dim {
            return nan();
        }
        let (a, b) = (f::<T>(self.a), f::<T>(self.b));
        let mut s = T::ZERO;
        for i in 0..self.dim.saturating_sub(1) {
            let r = x[i + 1] - x[i] * x[i];
            s += b * (r * r) + (a - x[i]) * (a - x[i]);
        }
        s
    }
    fn gradient(&self, x: &[T], g: &mut [T]) {
        if x.len() != self.dim || g.len() != self.dim {
            g.fill(nan());
            return;
        }
        let (a, b) = (f::<T>(self.a), f::<T>(self.b));
        g.iter_mut().for_each(|v| *v = T::ZERO);
        for i in 0..self.dim.saturating_sub(1) {
            let r = x[i + 1] - x[i] * x[i];
            g[i] += f::<T>(-4.0) * b * x[i] * r - f::<T>(2.0) * (a - x[i]);
            g[i + 1] += f::<T>(2.0) * b * r;
        }
    }
    fn has_hessian(&self) -> bool {
        true
    }
    fn hessian(&self, x: &[T], h: &mut [T]) -> Result<()> {
        check_hessian_lengths(self.dim, x.len(), h.len())?;
        let n = self.dim;
        let b = f::<T>(self.b);
        h.iter_mut().for_each(|v| *v = T::ZERO);
        for i in 0..n.saturating_sub(1) {
            h[i * n + i] += f::<T>(12.0) * b * x[i] * x[i] - f::<T>(4.0) * b * x[i + 1] + f(2.0);
            h[(i + 1) * n + i + 1] += f::<T>(2.0) * b;
            let off = f::<T>(-4.0) * b * x[i];
            h[i * n + i + 1] = off;
            h[(i + 1) * n + i] = off;
        }
        Ok(())
    }
}

impl Landscape for RosenbrockNd {
    fn name(&self) -> String {
        format!("rosenbrock:dim={},a={},b={}", self.dim, self.a, self.b)
    }
    fn formula(&self) -> String {
        format!("sum_i {} (x_(i+1) - x_i^2)^2 + ({} - x_i)^2", self.b, self.a)
    }
    fn minima(&self) -> Vec<Minimum> {
        if self.a == 1.0 && self.b > 0.0 {
            vec![Minimum { point: vec![1.0; self.dim], value: 0.0 }]
        } else {
            Vec::new()
        }
    }
    fn default_start(&self) -> Option<Vec<f64>> {
        Some((0..self.dim).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect())
    }
}

/// Styblinski-Tang, `0.5 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)`: `2^N` local minima, the global one at
/// `x_i = -2.903534...` with value `-39.16617 N`.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::objectives::{StyblinskiTang, STYBLINSKI_TANG_X};
///
/// let f = StyblinskiTang { dim: 2 };
/// let mut grad = [0.0; 2];
/// let x = STYBLINSKI_TANG_X;
/// let v = f.evaluate(&[x, x], &mut grad)?;
/// assert!((v - 2.0 * -39.16616570377142).abs() < 1e-12);
/// assert!(grad.iter().all(|g| g.abs() < 1e-12)); // a stationary point
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StyblinskiTang {
    /// Dimensions.
    pub dim: usize,
}

/// Where each coordinate of Styblinski-Tang's global minimum lies: the root of `2x^3 - 16x + 2.5`.
pub const STYBLINSKI_TANG_X: f64 = -2.903534027771178;

impl<T: Real> Objective<T> for StyblinskiTang {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, x: &[T]) -> T {
        if x.len() != self.dim {
            return nan();
        }
        let s = x.iter().fold(T::ZERO, |s, &v| s + v * v * v * v - f::<T>(16.0) * v * v + f::<T>(5.0) * v);
        f::<T>(0.5) * s
    }
    fn gradient(&self, x: &[T], g: &mut [T]) {
        if x.len() != self.dim || g.len() != self.dim {
            g.fill(nan());
            return;
        }
        for (g, &v) in g.iter_mut().zip(x) {
            *g = f::<T>(2.0) * v * v * v - f::<T>(16.0) * v + f(2.5);
        }
    }
    fn has_hessian(&self) -> bool {
        true
    }
    fn hessian(&self, x: &[T], h: &mut [T]) -> Result<()> {
        check_hessian_lengths(self.dim, x.len(), h.len())?;
        h.iter_mut().for_each(|v| *v = T::ZERO);
        for i in 0..self.dim {
            h[i * self.dim + i] = f::<T>(6.0) * x[i] * x[i] - f(16.0);
        }
        Ok(())
    }
}

impl Landscape for StyblinskiTang {
    fn name(&self) -> String {
        format!("styblinski-tang:dim={}", self.dim)
    }
    fn formula(&self) -> String {
        "0.5 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)".into()
    }
    fn minima(&self) -> Vec<Minimum> {
        let x = STYBLINSKI_TANG_X;
        let per = 0.5 * (x.powi(4) - 16.0 * x * x + 5.0 * x);
        vec![Minimum { point: vec![x; self.dim], value: per * self.dim as f64 }]
    }
    fn default_start(&self) -> Option<Vec<f64>> {
        Some(vec![0.5; self.dim])
    }
    fn domain(&self) -> Option<[f64; 4]> {
        Some([-5.0, 5.0, -5.0, 5.0])
    }
}

/// Rastrigin, `10 N + sum_i (x_i^2 - 10 cos(2 pi x_i))`: a bowl covered in regularly spaced local
/// minima; global minimum 0 at the origin.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::objectives::Rastrigin;
///
/// let f = Rastrigin { dim: 2 };
/// let mut grad = [1.0f64; 2];
/// assert_eq!(f.evaluate(&[0.0, 0.0], &mut grad)?, 0.0);
/// assert_eq!(grad, [0.0, 0.0]);
/// // At (1, 0): 20 + (1 - 10 cos 2 pi) + (0 - 10 cos 0) = 1.
/// assert!((f.value(&[1.0f64, 0.0]) - 1.0).abs() < 1e-12);
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rastrigin {
    /// Dimensions.
    pub dim: usize,
}

impl<T: Real> Objective<T> for Rastrigin {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, x: &[T]) -> T {
        if x.len() != self.dim {
            return nan();
        }
        let two_pi = f::<T>(2.0 * PI);
        x.iter().fold(f::<T>(10.0 * self.dim as f64), |s, &v| s + v * v - f::<T>(10.0) * (two_pi * v).cos())
    }
    fn gradient(&self, x: &[T], g: &mut [T]) {
        if x.len() != self.dim || g.len() != self.dim {
            g.fill(nan());
            return;
        }
        let two_pi = f::<T>(2.0 * PI);
        for (g, &v) in g.iter_mut().zip(x) {
            *g = f::<T>(2.0) * v + f::<T>(20.0 * PI) * (two_pi * v).sin();
        }
    }
    fn has_hessian(&self) -> bool {
        true
    }
    fn hessian(&self, x: &[T], h: &mut [T]) -> Result<()> {
        check_hessian_lengths(self.dim, x.len(), h.len())?;
        h.iter_mut().for_each(|v| *v = T::ZERO);
        let two_pi = f::<T>(2.0 * PI);
        for i in 0..self.dim {
            h[i * self.dim + i] = f::<T>(2.0) + f::<T>(40.0 * PI * PI) * (two_pi * x[i]).cos();
        }
        Ok(())
    }
}

impl Landscape for Rastrigin {
    fn name(&self) -> String {
        format!("rastrigin:dim={}", self.dim)
    }
    fn formula(&self) -> String {
        "10 N + sum_i (x_i^2 - 10 cos(2 pi x_i))".into()
    }
    fn minima(&self) -> Vec<Minimum> {
        vec![Minimum { point: vec![0.0; self.dim], value: 0.0 }]
    }
    fn default_start(&self) -> Option<Vec<f64>> {
        Some((0..self.dim).map(|i| if i % 2 == 0 { 3.3 } else { -2.7 }).collect())
    }
    fn domain(&self) -> Option<[f64; 4]> {
        Some([-5.12, 5.12, -5.12, 5.12])
    }
}

/// Ackley, `-20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e`: nearly flat outer
/// region, a funnel to the global minimum 0 at the origin, where it is not differentiable (the
/// gradient there is taken as 0 and the Hessian is infinite).
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::objectives::Ackley;
///
/// let f = Ackley { dim: 2 };
/// let mut grad = [1.0f64; 2];
/// assert!(f.evaluate(&[0.0, 0.0], &mut grad)?.abs() < 1e-15); // the global minimum 0
/// assert_eq!(grad, [0.0, 0.0]);
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Ackley {
    /// Dimensions.
    pub dim: usize,
}

const ACKLEY_A: f64 = 20.0;
const ACKLEY_B: f64 = 0.2;
const ACKLEY_C: f64 = 2.0 * PI;

impl<T: Real> Objective<T> for Ackley {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, x: &[T]) -> T {
        if x.len() != self.dim {
            return nan();
        }
        let d = f::<T>(self.dim as f64);
        let s = x.iter().fold(T::ZERO, |s, &v| s + v * v);
        let c = x.iter().fold(T::ZERO, |s, &v| s + (f::<T>(ACKLEY_C) * v).cos());
        -f::<T>(ACKLEY_A) * (-f::<T>(ACKLEY_B) * (s / d).sqrt()).exp() - (c / d).exp() + f::<T>(ACKLEY_A + E)
    }
    fn gradient(&self, x: &[T], g: &mut [T]) {
        if x.len() != self.dim || g.len() != self.dim {
            g.fill(nan());
            return;
        }
        let d = f::<T>(self.dim as f64);
        let s = x.iter().fold(T::ZERO, |s, &v| s + v * v);
        let c = x.iter().fold(T::ZERO, |s, &v| s + (f::<T>(ACKLEY_C) * v).cos());
        let r = (s / d).sqrt();
        let e1 = (-f::<T>(ACKLEY_B) * r).exp();
        let e2 = (c / d).exp();
        for (g, &v) in g.iter_mut().zip(x) {
            let t1 = if r == T::ZERO { T::ZERO } else { f::<T>(ACKLEY_A * ACKLEY_B) * e1 * v / (d * r) };
            *g = t1 + f::<T>(ACKLEY_C) / d * e2 * (f::<T>(ACKLEY_C) * v).sin();
        }
    }
    fn has_hessian(&self) -> bool {
        true
    }
    fn hessian(&self, x: &[T], h: &mut [T]) -> Result<()> {
        check_hessian_lengths(self.dim, x.len(), h.len())?;
        let n = self.dim;
        let xs: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        let d = n as f64;
        let s: f64 = xs.iter().map(|v| v * v).sum();
        let c: f64 = xs.iter().map(|v| (ACKLEY_C * v).cos()).sum();
        let r = (s / d).sqrt();
        let e1 = (-ACKLEY_B * r).exp();
        let e2 = (c / d).exp();
        let k = ACKLEY_A * ACKLEY_B / d;
        for i in 0..n {
            for j in 0..n {
                let delta = if i == j { 1.0 } else { 0.0 };
                let h1 = if r == 0.0 {
                    f64::INFINITY * delta
                } else {
                    k * e1
                        * (-ACKLEY_B * xs[i] * xs[j] / (d * r * r) + delta / r
                            - xs[i] * xs[j] / (d * r * r * r))
                };
                let (si, sj) = ((ACKLEY_C * xs[i]).sin(), (ACKLEY_C * xs[j]).sin());
                let h2 = ACKLEY_C / d
                    * e2
                    * (-ACKLEY_C / d * si * sj + ACKLEY_C * (ACKLEY_C * xs[i]).cos() * delta);
                h[i * n + j] = T::from_f64(h1 + h2);
            }
        }
        Ok(())
    }
}

impl Landscape for Ackley {
    fn name(&self) -> String {
        format!("ackley:dim={}", self.dim)
    }
    fn formula(&self) -> String {
        "-20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e".into()
    }
    fn minima(&self) -> Vec<Minimum> {
        vec![Minimum { point: vec![0.0; self.dim], value: 0.0 }]
    }
    fn default_start(&self) -> Option<Vec<f64>> {
        Some((0..self.dim).map(|i| if i % 2 == 0 { 3.0 } else { -2.5 }).collect())
    }
    fn domain(&self) -> Option<[f64; 4]> {
        Some([-5.0, 5.0, -5.0, 5.0])
    }
}
