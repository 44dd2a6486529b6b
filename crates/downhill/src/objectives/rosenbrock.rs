use crate::error::Result;
use crate::objective::{check_hessian_lengths, nan, Landscape, Minimum, Objective};
use crate::real::Real;

/// The Rosenbrock function `f(x, y) = (a - x)^2 + b (y - x^2)^2`.
///
/// The seed article's figure 1 uses `a = 1, b = 10` ("Rosenbrock-like"); the textbook function has
/// `b = 100`, which is the default. Value and gradient are computed with the same operations in
/// the same order as the seed's numpy code, so f64 trajectories agree with it bit for bit:
/// `df/dx = -2 (a - x) + (2 b) (y - x^2) (-2 x)`, `df/dy = (2 b) (y - x^2)`.
///
/// ```
/// use downhill::objective::Objective;
/// use downhill::objectives::Rosenbrock;
///
/// let f = Rosenbrock { a: 1.0, b: 10.0 }; // the seed's figure 1
/// let mut grad = [0.0f64; 2];
/// // At (0, 0): f = 1, gradient (-2, 0).
/// assert_eq!(f.evaluate(&[0.0, 0.0], &mut grad)?, 1.0);
/// assert_eq!(grad, [-2.0, 0.0]);
/// assert!(f.evaluate(&[0.0, 0.0, 0.0], &mut grad).is_err()); // a 3-D point
/// assert!(f.value(&[0.0f64]).is_nan()); // unchecked: NaN, never a panic
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rosenbrock {
    /// Position of the valley's minimum along x.
    pub a: f64,
    /// Steepness of the valley walls.
    pub b: f64,
}

impl Default for Rosenbrock {
    fn default() -> Self {
        Rosenbrock { a: 1.0, b: 100.0 }
    }
}

impl<T: Real> Objective<T> for Rosenbrock {
    fn dim(&self) -> usize {
        2
    }

    fn value(&self, v: &[T]) -> T {
        if v.len() != 2 {
            return nan();
        }
        let (a, b) = (T::from_f64(self.a), T::from_f64(self.b));
        let (x, y) = (v[0], v[1]);
        let r = y - x * x;
        (a - x) * (a - x) + b * (r * r)
    }

    fn gradient(&self, v: &[T], grad: &mut [T]) {
        if v.len() != 2 || grad.len() != 2 {
            grad.fill(nan());
            return;
        }
        let (a, two_b) = (T::from_f64(self.a), T::from_f64(self.b * 2.0));
        let two = T::from_f64(2.0);
        let (x, y) = (v[0], v[1]);
        grad[0] = -two * (a - x) + two_b * (y - x * x) * (-two * x);
        grad[1] = two_b * (y - x * x);
    }

    fn value_and_gradient(&self, v: &[T], grad: &mut [T]) -> T {
        // The same operations as `value` and `gradient`, sharing the loads and conversions.
        if v.len() != 2 || grad.len() != 2 {
            grad.fill(nan());
            return nan();
        }
        let (a, b, two_b) = (T::from_f64(self.a), T::from_f64(self.b), T::from_f64(self.b * 2.0));
        let two = T::from_f64(2.0);
        let (x, y) = (v[0], v[1]);
        grad[0] = -two * (a - x) + two_b * (y - x * x) * (-two * x);
        grad[1] = two_b * (y - x * x);
        let r = y - x * x;
        (a - x) * (a - x) + b * (r * r)
    }

    fn value_and_gradient_many(&self, points: &[T], values: &mut [T], grads: &mut [T]) {
        if points.len() != 2 * values.len() || grads.len() != 2 * values.len() {
            values.fill(nan());
            grads.fill(nan());
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { many_avx2(self.a, self.b, points, values, grads) };
                return;
            }
        }
        many(self.a, self.b, points, values, grads)
    }

    fn has_hessian(&self) -> bool {
        true
    }

    fn hessian(&self, v: &[T], h: &mut [T]) -> Result<()> {
        check_hessian_lengths(2, v.len(), h.len())?;
        let b = T::from_f64(self.b);
        let (x, y) = (v[0], v[1]);
        let (two, four, eight) = (T::from_f64(2.0), T::from_f64(4.0), T::from_f64(8.0));
        h[0] = two - four * b * (y - x * x) + eight * b * x * x;
        h[1] = -four * b * x;
        h[2] = h[1];
        h[3] = two * b;
        Ok(())
    }
}

impl Landscape for Rosenbrock {
    fn name(&self) -> String {
        format!("rosenbrock:a={},b={}", self.a, self.b)
    }

    fn formula(&self) -> String {
        format!("({} - x)^2 + {} (y - x^2)^2", self.a, self.b)
    }

    fn minima(&self) -> Vec<Minimum> {
        if self.b > 0.0 {
            vec![Minimum { point: vec![self.a, self.a * self.a], value: 0.0 }]
        } else {
            Vec::new()
        }
    }

    fn default_start(&self) -> Option<Vec<f64>> {
        // The seed's figure 1 start (-1.5, 2.5) for a = 1.
        Some(vec![self.a - 2.5, self.a * self.a + 1.5])
    }

    fn domain(&self) -> Option<[f64; 4]> {
        // The seed's figure 1 window for a = 1; shifted with a otherwise.
        Some([self.a - 3.0, self.a + 1.0, self.a * self.a - 2.0, self.a * self.a + 2.0])
    }
}

/// [`many`] compiled for AVX2: the same IEEE operations (no FMA), so the same bits, 4 or 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn many_avx2<T: Real>(a: f64, b: f64, points: &[T], values: &mut [T], grads: &mut [T]) {
    many(a, b, points, values, grads)
}

/// Values and gradients at many points (coordinate-major), with `value_and_gradient`'s operations.
#[inline(always)]
fn many<T: Real>(a: f64, b: f64, points: &[T], values: &mut [T], grads: &mut [T]) {
    let n = values.len();
    let (a, b, two_b) = (T::from_f64(a), T::from_f64(b), T::from_f64(b * 2.0));
    let two = T::from_f64(2.0);
    let (xs, ys) = points.split_at(n);
    let (gx, gy) = grads.split_at_mut(n);
    let (ys, gx, gy) = (&ys[..n], &mut gx[..n], &mut gy[..n]);
    for r in 0..n {
        let (x, y) = (xs[r], ys[r]);
        gx[r] = -two * (a - x) + two_b * (y - x * x) * (-two * x);
        gy[r] = two_b * (y - x * x);
        let q = y - x * x;
        values[r] = (a - x) * (a - x) + b * (q * q);
    }
}
