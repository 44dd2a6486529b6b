use serde::{Deserialize, Serialize};

use super::{check_lengths, BuildOptions, Iteration, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::real::Real;
use crate::spec::{Params, Range};

/// The solution of the trust-region subproblem from [`steihaug`].
#[derive(Debug, Clone, PartialEq)]
pub struct Steihaug {
    /// The step `p`.
    pub step: Vec<f64>,
    /// Whether `p` lies on the boundary `|p| = radius` (negative curvature or a too-long CG step).
    pub on_boundary: bool,
    /// Conjugate-gradient iterations taken.
    pub iterations: usize,
}

/// Steihaug's conjugate gradient for the trust-region subproblem
/// `min_p g.p + 0.5 p.B p` subject to `|p| <= radius` (Nocedal & Wright, Algorithm 7.2):
/// linear CG on `B p = -g` from `p = 0`, stopped at the boundary when a step leaves the region
/// or meets non-positive curvature, and when the residual falls below `tolerance`. `hessian` is
/// `B`, `n x n` row-major. When `B` is positive definite and the Newton step lies inside the
/// region, the result is the Newton step `-B^-1 g` (to `tolerance`).
pub fn steihaug(hessian: &[f64], grad: &[f64], radius: f64, tolerance: f64) -> Steihaug {
    let n = grad.len();
    let mut z = vec![0.0; n];
    let mut r: Vec<f64> = grad.to_vec();
    let mut d: Vec<f64> = r.iter().map(|v| -v).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut rr = dot(&r, &r);
    if rr.sqrt() < tolerance {
        return Steihaug { step: z, on_boundary: false, iterations: 0 };
    }
    let mut bd = vec![0.0; n];
    // The two taus with |z + tau d| = radius, smaller first.
    let crossings = |z: &[f64], d: &[f64]| {
        let (a, b, c) = (dot(d, d), 2.0 * dot(z, d), dot(z, z) - radius * radius);
        let root = (b * b - 4.0 * a * c).max(0.0).sqrt();
        ((-b - root) / (2.0 * a), (-b + root) / (2.0 * a))
    };
    let along =
        |z: &[f64], d: &[f64], tau: f64| z.iter().zip(d).map(|(z, d)| z + tau * d).collect::<Vec<f64>>();
    let model = |p: &[f64]| {
        let bp: Vec<f64> = (0..n).map(|i| dot(&hessian[i * n..(i + 1) * n], p)).collect();
        dot(grad, p) + 0.5 * dot(p, &bp)
    };
    // Exact arithmetic ends in n iterations; a few more absorb rounding.
    for j in 0..2 * n + 10 {
        for (i, out) in bd.iter_mut().enumerate() {
            *out = dot(&hessian[i * n..(i + 1) * n], &d);
        }
        let dbd = dot(&d, &bd);
        if dbd <= 0.0 {
            // Negative curvature: the model decreases without bound along d; of the two points
            // where the line meets the boundary, take the lower one (as scipy's trust-ncg).
            let (ta, tb) = crossings(&z, &d);
            let (pa, pb) = (along(&z, &d, ta), along(&z, &d, tb));
            let step = if model(&pa) < model(&pb) { pa } else { pb };
            return Steihaug { step, on_boundary: true, iterations: j + 1 };
        }
        let alpha = rr / dbd;
        let next: Vec<f64> = z.iter().zip(&d).map(|(z, d)| z + alpha * d).collect();
        if dot(&next, &next).sqrt() >= radius {
            let (_, tb) = crossings(&z, &d);
            return Steihaug { step: along(&z, &d, tb), on_boundary: true, iterations: j + 1 };
        }
        z = next;
        r.iter_mut().zip(&bd).for_each(|(r, b)| *r += alpha * b);
        let rr_next = dot(&r, &r);
        if rr_next.sqrt() < tolerance {
            return Steihaug { step: z, on_boundary: false, iterations: j + 1 };
        }
        let beta = rr_next / rr;
        rr = rr_next;
        d.iter_mut().zip(&r).for_each(|(d, r)| *d = -r + beta * *d);
    }
    Steihaug { step: z, on_boundary: false, iterations: 2 * n + 10 }
}

super::declare_optimizer! {
    /// Newton's method with a trust region, the subproblem solved by [`steihaug`] (Nocedal & Wright,
    /// Algorithms 4.1 and 7.2; scipy's `trust-ncg`):
    ///
    /// ```text
    /// p = argmin g.p + 0.5 p.H p  over |p| <= radius   (Steihaug CG, tolerance min(0.5, sqrt|g|) |g|)
    /// rho = (f(x) - f(x + p)) / -(g.p + 0.5 p.H p)
    /// rho < 0.25: radius <- radius / 4;  rho > 0.75 and |p| = radius: radius <- min(2 radius, max_radius)
    /// rho > eta: x <- x + p   (otherwise solve again with the smaller radius)
    /// ```
    ///
    /// Defaults as scipy: `radius = 1`, `max_radius = 1000`, `eta = 0.15`. One iteration ends at an
    /// accepted point; rejected trials happen inside it (each one evaluation), so the trajectory
    /// keeps one entry per accepted step. The Hessian is evaluated once per iteration. When the
    /// radius falls below the parameters' precision, or the model predicts no decrease, the run
    /// stops as `stalled`. Needs an objective with a Hessian; the dense Hessian limits it to
    /// [`super::BFGS_MAX_DIM`] parameters.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct NewtonTrustRegion<T>, "newton-tr", builder NewtonTrustRegionBuilder {
        /// The first trust radius.
        radius: f64 = 1.0, in Range::Positive, ref "scipy initial_trust_radius";
        /// The largest trust radius.
        max_radius: f64 = 1000.0, in Range::Positive, ref "scipy max_trust_radius";
        /// Accept a step when the actual decrease is more than `eta` times the predicted one.
        eta: f64 = 0.15, in Range::closed_open(0.0, 0.25);
    }
    options {}
    state {
        t: u64,
        trust_radius: f64,
        #[serde(skip)]
        hessian: Vec<T>,
        #[serde(skip)]
        trial: Vec<T>,
    }
    check = check;
    init = start;
}

impl<T: Real> NewtonTrustRegion<T> {
    /// The current trust radius.
    pub fn trust_radius(&self) -> f64 {
        self.trust_radius
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    if o.schedule.is_some() {
        return Err(Error::Inconsistent {
            field: p.field("lr"),
            message:
                "newton-tr has no learning rate (its trust radius sets the step), so it takes no schedule"
                    .into(),
        });
    }
    Ok(Box::new(NewtonTrustRegion::spec_builder(p, o)?.build()?))
}

fn check<T>(b: &NewtonTrustRegionBuilder<T>) -> Result<()> {
    if b.radius > b.max_radius {
        return Err(Error::Inconsistent {
            field: "newton-tr.radius".into(),
            message: format!("{} exceeds max_radius {}", b.radius, b.max_radius),
        });
    }
    Ok(())
}

/// The trust region starts at the first radius.
fn start<T>(n: &mut NewtonTrustRegion<T>) {
    n.trust_radius = n.radius;
}

impl<T: Real> Optimizer<T> for NewtonTrustRegion<T> {
    fn name(&self) -> &'static str {
        "newton-tr"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        self.declared_report()
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn learning_rate(&self) -> f64 {
        self.trust_radius
    }

    fn update(&mut self, _params: &mut [T], _grads: &[T]) -> Result<()> {
        Err(Error::Unsupported(
            "newton-tr needs the loss and the Hessian; run it on an objective (minimize / iterate)".into(),
        ))
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        let loss = objective.value(params);
        let mut new_grad = vec![T::ZERO; params.len()];
        self.iterate(objective, params, loss, grad, &mut new_grad).map(|_| ())
    }

    fn iterate(
        &mut self,
        objective: &dyn Objective<T>,
        params: &mut [T],
        loss: T,
        grad: &[T],
        new_grad: &mut [T],
    ) -> Result<Iteration<T>> {
        check_lengths("newton-tr", params.len(), grad.len())?;
        if !objective.has_hessian() {
            return Err(Error::Unsupported(
                "newton-tr: the objective has no Hessian (lbfgs and bfgs need gradients only)".into(),
            ));
        }
        let n = params.len();
        if n > super::BFGS_MAX_DIM {
            return Err(Error::Unsupported(format!(
                "newton-tr: {n} parameters need a {n}x{n} Hessian; newton-tr accepts at most {}",
                super::BFGS_MAX_DIM
            )));
        }
        self.hessian.resize(n * n, T::ZERO);
        objective.hessian(params, &mut self.hessian)?;
        let h: Vec<f64> = self.hessian.iter().map(|v| v.to_f64()).collect();
        if h.iter().any(|v| !v.is_finite()) {
            return Ok(Iteration::Stalled("newton-tr: the Hessian is not finite".into()));
        }
        let g: Vec<f64> = grad.iter().map(|v| v.to_f64()).collect();
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        let tolerance = 0.5f64.min(gnorm.sqrt()) * gnorm;
        let f0 = loss.to_f64();
        let xmax = params.iter().map(|x| x.to_f64().abs()).fold(0.0, f64::max);
        let smallest = crate::line_search::precision::<T>() * xmax.max(1e-30);
        self.trial.resize(n, T::ZERO);
        loop {
            let sub = steihaug(&h, &g, self.trust_radius, tolerance);
            let p = &sub.step;
            let hp: Vec<f64> =
                (0..n).map(|i| h[i * n..(i + 1) * n].iter().zip(p).map(|(a, b)| a * b).sum()).collect();
            let predicted = -(g.iter().zip(p).map(|(a, b)| a * b).sum::<f64>()
                + 0.5 * p.iter().zip(&hp).map(|(a, b)| a * b).sum::<f64>());
            if predicted.is_nan() || predicted <= 0.0 {
                return Ok(Iteration::Stalled(format!(
                    "newton-tr: the model predicts no decrease (gradient norm {gnorm:e})"
                )));
            }
            for ((t, &x), &pi) in self.trial.iter_mut().zip(params.iter()).zip(p) {
                *t = x + T::from_f64(pi);
            }
            let new_loss = objective.value_and_gradient(&self.trial, new_grad);
            let actual = f0 - new_loss.to_f64();
            let rho = if new_loss.is_finite() && new_grad.iter().all(|v| v.is_finite()) {
                actual / predicted
            } else {
                f64::NEG_INFINITY
            };
            if rho < 0.25 {
                self.trust_radius *= 0.25;
            } else if rho > 0.75 && sub.on_boundary {
                self.trust_radius = (2.0 * self.trust_radius).min(self.max_radius);
            }
            if rho > self.eta {
                params.copy_from_slice(&self.trial);
                self.t += 1;
                return Ok(Iteration::Evaluated(new_loss));
            }
            if self.trust_radius < smallest {
                return Ok(Iteration::Stalled(format!(
                    "newton-tr: the trust radius {:e} fell below the parameters' precision",
                    self.trust_radius
                )));
            }
        }
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState::new(
            "newton-tr",
            self.t,
            vec![("radius".into(), vec![T::from_f64(self.trust_radius)])],
        )
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        if state.optimizer != "newton-tr" {
            return Err(Error::Inconsistent {
                field: "state.optimizer".into(),
                message: format!("saved by '{}', cannot load into 'newton-tr'", state.optimizer),
            });
        }
        match state.buffers.as_slice() {
            [(name, r)] if name == "radius" && r.len() == 1 && r[0].to_f64() > 0.0 => {
                self.trust_radius = r[0].to_f64();
                self.t = state.step;
                Ok(())
            }
            _ => Err(Error::Inconsistent {
                field: "state.newton-tr".into(),
                message: "expected one buffer 'radius' with one positive value".into(),
            }),
        }
    }

    fn reset(&mut self) {
        self.t = 0;
        self.trust_radius = self.radius;
    }
}
