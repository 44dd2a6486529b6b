use crate::error::{Error, Result};
use crate::objective::{check_hessian_lengths, nan, Landscape, Minimum, Objective};
use crate::real::Real;
use crate::spec::{Params, Range};

/// The separable quadratic `f(x) = sum_i c_i x_i^2`, Hessian `diag(2 c_i)`.
///
/// `quadratic:a=50,b=1` is the seed's ill-conditioned `50 x^2 + y^2` (eigenvalues 100 and 2,
/// condition number 50); `quadratic:a=1` is the seed's one-dimensional `x^2`. The gradient is
/// computed as `(2 c_i) x_i`, which is how the seed writes it (`100*theta[0]`, `2*x`).
///
/// ```
/// use downhill::objective::{Landscape, Objective};
/// use downhill::objectives::Quadratic;
///
/// let f = Quadratic::new(vec![50.0, 1.0]); // the seed's 50 x^2 + y^2
/// let mut grad = [0.0; 2];
/// assert_eq!(f.evaluate(&[1.0, 1.0], &mut grad)?, 51.0);
/// assert_eq!(grad, [100.0, 2.0]);
/// assert_eq!(f.name(), "quadratic:a=50,b=1");
/// assert!(f.evaluate(&[1.0], &mut grad).is_err());
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Quadratic {
    /// One coefficient per dimension.
    pub coefficients: Vec<f64>,
}

/// Keys naming the coefficients, one per dimension.
const KEYS: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u",
    "v", "w", "x", "y", "z",
];

impl Quadratic {
    /// `sum_i coefficients[i] x_i^2`.
    pub fn new(coefficients: Vec<f64>) -> Self {
        Quadratic { coefficients }
    }

    pub(crate) fn from_params(p: &mut Params) -> Result<Self> {
        let mut coefficients = Vec::new();
        let mut gap: Option<&str> = None;
        for key in KEYS {
            match p.optional(key, Range::Finite)? {
                Some(c) => {
                    if let Some(missing) = gap {
                        return Err(Error::Inconsistent {
                            field: format!("quadratic.{key}"),
                            message: format!(
                                "coefficients must be consecutive from 'a'; '{missing}' is missing"
                            ),
                        });
                    }
                    coefficients.push(c);
                }
                None => {
                    gap.get_or_insert(key);
                }
            }
        }
        if coefficients.is_empty() {
            coefficients.push(1.0);
        }
        Ok(Quadratic { coefficients })
    }
}

impl<T: Real> Objective<T> for Quadratic {
    fn dim(&self) -> usize {
        self.coefficients.len()
    }

    fn value(&self, x: &[T]) -> T {
        if x.len() != self.coefficients.len() || x.is_empty() {
            return nan();
        }
        let mut sum = T::from_f64(self.coefficients[0]) * (x[0] * x[0]);
        for (c, &xi) in self.coefficients.iter().zip(x).skip(1) {
            sum += T::from_f64(*c) * (xi * xi);
        }
        sum
    }

    fn gradient(&self, x: &[T], grad: &mut [T]) {
        if x.len() != self.coefficients.len() || grad.len() != x.len() {
            grad.fill(nan());
            return;
        }
        for ((g, c), &xi) in grad.iter_mut().zip(&self.coefficients).zip(x) {
            *g = T::from_f64(2.0 * c) * xi;
        }
    }

    fn has_hessian(&self) -> bool {
        true
    }

    fn hessian(&self, x: &[T], h: &mut [T]) -> Result<()> {
        let n = self.coefficients.len();
        check_hessian_lengths(n, x.len(), h.len())?;
        h.iter_mut().for_each(|v| *v = T::ZERO);
        for (i, c) in self.coefficients.iter().enumerate() {
            h[i * n + i] = T::from_f64(2.0 * c);
        }
        Ok(())
    }
}

impl Landscape for Quadratic {
    fn name(&self) -> String {
        let parts: Vec<String> =
            self.coefficients.iter().zip(KEYS).map(|(c, k)| format!("{k}={c}")).collect();
        format!("quadratic:{}", parts.join(","))
    }

    fn formula(&self) -> String {
        let vars = ["x", "y", "z"];
        let terms: Vec<String> = self
            .coefficients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let v =
                    if self.coefficients.len() <= 3 { vars[i].to_string() } else { format!("x{}", i + 1) };
                if *c == 1.0 {
                    format!("{v}^2")
                } else {
                    format!("{c} {v}^2")
                }
            })
            .collect();
        terms.join(" + ")
    }

    fn minima(&self) -> Vec<Minimum> {
        if self.coefficients.iter().all(|&c| c > 0.0) {
            vec![Minimum { point: vec![0.0; self.coefficients.len()], value: 0.0 }]
        } else {
            Vec::new()
        }
    }

    fn default_start(&self) -> Option<Vec<f64>> {
        // The seed's starts: (1, 1) in figure 2, 2.5 for x^2 in figure 3.
        Some(if self.coefficients.len() == 1 { vec![2.5] } else { vec![1.0; self.coefficients.len()] })
    }

    fn domain(&self) -> Option<[f64; 4]> {
        // The seed's figure 2 window.
        (self.coefficients.len() == 2).then_some([-1.2, 1.2, -1.2, 1.2])
    }
}
