use serde::{Deserialize, Serialize};

use super::lbfgs::search_with_restart;
use super::{
    check_lengths, learning_rate, lr_value, BuildOptions, Iteration, Optimizer, OptimizerState, Value,
};
use crate::error::{Error, Result};
use crate::line_search::{dot, norm, Found, Line, LineSearch, StrongWolfe};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::Params;

/// The most parameters [`Bfgs`] accepts: its `n x n` matrix takes 128 MiB in f64 at 4096.
pub const BFGS_MAX_DIM: usize = 4096;

/// BFGS with a dense inverse-Hessian approximation `H` (Nocedal & Wright, Algorithm 6.1):
///
/// ```text
/// d = -H g;  x <- x + alpha d            (alpha from the line search, tried first at lr = 1)
/// s = x_new - x,  y = g_new - g,  rho = 1 / (y . s)
/// H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T
/// ```
///
/// `H` starts as the identity; just before the first update it is rescaled to
/// `(y . s / y . y) I` (Nocedal & Wright, equation 6.20), where scipy keeps `I`. The first step is
/// tried at `min(1, 1/||g||) lr`, like scipy's `1.01/||g||`. An update is skipped unless
/// `y . s > eps y . y` (positive curvature). The line search defaults to strong Wolfe with
/// `c1 = 1e-4, c2 = 0.9`; when it fails, `H` is reset to the identity and the search retried
/// along `-g`; when that fails too the run stops as `stalled`. `H` takes `n^2` values, so BFGS
/// accepts at most [`BFGS_MAX_DIM`] parameters; use [`super::Lbfgs`] beyond.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bfgs<T> {
    /// The initial step of each line search (the step itself without one).
    pub learning_rate: Schedule,
    /// The line search; `None` takes the initial step as it is.
    pub line_search: Option<LineSearch>,
    t: u64,
    /// The inverse-Hessian approximation, row-major (empty: the identity, not yet scaled).
    inverse_hessian: Vec<T>,
    last_point: Vec<T>,
    last_grad: Vec<T>,
    #[serde(skip)]
    direction: Vec<T>,
    #[serde(skip)]
    found: Found<T>,
}

impl<T: Real> Bfgs<T> {
    /// BFGS with a strong Wolfe line search and initial step 1.
    pub fn new() -> Self {
        Bfgs {
            learning_rate: Schedule::constant(1.0),
            line_search: Some(LineSearch::StrongWolfe(StrongWolfe::quasi_newton())),
            t: 0,
            inverse_hessian: Vec::new(),
            last_point: Vec::new(),
            last_grad: Vec::new(),
            direction: Vec::new(),
            found: Found::default(),
        }
    }

    /// The inverse-Hessian approximation (row-major; empty before the first update).
    pub fn inverse_hessian(&self) -> &[T] {
        &self.inverse_hessian
    }

    fn check_dim(n: usize) -> Result<()> {
        if n > BFGS_MAX_DIM {
            return Err(Error::Unsupported(format!(
                "bfgs: {n} parameters need a {n}x{n} matrix; bfgs accepts at most {BFGS_MAX_DIM} (use lbfgs)"
            )));
        }
        Ok(())
    }

    /// The BFGS update with the pair from the last step's point to `params`.
    fn remember(&mut self, params: &[T], grad: &[T]) {
        let n = params.len();
        if self.last_point.len() != n {
            return;
        }
        let s: Vec<f64> = params.iter().zip(&self.last_point).map(|(&a, &b)| (a - b).to_f64()).collect();
        let y: Vec<f64> = grad.iter().zip(&self.last_grad).map(|(&a, &b)| (a - b).to_f64()).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let yy: f64 = y.iter().map(|v| v * v).sum();
        if sy.is_nan() || sy <= f64::EPSILON * yy || !sy.is_finite() {
            return;
        }
        let mut h: Vec<f64> = if self.inverse_hessian.len() == n * n {
            self.inverse_hessian.iter().map(|v| v.to_f64()).collect()
        } else {
            let mut h = vec![0.0; n * n];
            let gamma = sy / yy;
            (0..n).for_each(|i| h[i * n + i] = gamma);
            h
        };
        // H y, y.H y; then H <- H + ((sy + yHy) / sy^2) s s^T - (Hy s^T + s (Hy)^T) / sy, the
        // expanded form of the product above (H is symmetric).
        let hy: Vec<f64> = (0..n).map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum()).collect();
        let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
        let a = (sy + yhy) / (sy * sy);
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] += a * s[i] * s[j] - (hy[i] * s[j] + s[i] * hy[j]) / sy;
            }
        }
        self.inverse_hessian = h.into_iter().map(T::from_f64).collect();
    }

    fn compute_direction(&mut self, grad: &[T]) {
        let n = grad.len();
        self.direction.clear();
        if self.inverse_hessian.len() == n * n {
            let h = &self.inverse_hessian;
            self.direction.extend((0..n).map(|i| {
                T::from_f64(-(0..n).map(|j| h[i * n + j].to_f64() * grad[j].to_f64()).sum::<f64>())
            }));
        } else {
            self.direction.extend(grad.iter().map(|&g| -g));
        }
    }

    fn prepare(&mut self, params: &[T], grad: &[T]) -> Result<f64> {
        Self::check_dim(params.len())?;
        self.remember(params, grad);
        self.compute_direction(grad);
        if dot(grad, &self.direction).partial_cmp(&0.0) != Some(std::cmp::Ordering::Less) {
            self.inverse_hessian.clear();
            self.compute_direction(grad);
        }
        let lr = self.learning_rate.rate(self.t)?;
        Ok(if self.inverse_hessian.is_empty() { (1.0f64).min(1.0 / norm(grad)) * lr } else { lr })
    }

    fn finish(&mut self, start: &[T], grad: &[T]) {
        self.last_point.clear();
        self.last_point.extend_from_slice(start);
        self.last_grad.clear();
        self.last_grad.extend_from_slice(grad);
        self.t += 1;
    }
}

impl<T: Real> Default for Bfgs<T> {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let mut b = Bfgs::<T>::new();
    b.learning_rate = learning_rate(p, 1.0, o)?;
    b.line_search = LineSearch::from_params(p, "strong-wolfe", 0.9)?;
    Ok(Box::new(b))
}

impl<T: Real> Optimizer<T> for Bfgs<T> {
    fn name(&self) -> &'static str {
        "bfgs"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![("lr", lr_value(&self.learning_rate))];
        LineSearch::describe(&self.line_search, &mut h);
        h
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn set_learning_rate(&mut self, schedule: Schedule) -> Result<()> {
        schedule.validate()?;
        self.learning_rate = schedule;
        Ok(())
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("bfgs", params.len(), grads.len())?;
        if let Some(search) = &self.line_search {
            return Err(Error::Unsupported(format!(
                "bfgs with line_search={} evaluates the objective; run it on an objective or use line_search=none",
                search.name()
            )));
        }
        let step = T::from_f64(self.prepare(params, grads)?);
        let start = params.to_vec();
        for (p, &d) in params.iter_mut().zip(&self.direction) {
            *p += step * d;
        }
        self.finish(&start, grads);
        Ok(())
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
        check_lengths("bfgs", params.len(), grad.len())?;
        let Some(search) = self.line_search else {
            self.update(params, grad)?;
            return Ok(Iteration::Moved);
        };
        let initial = self.prepare(params, grad)?;
        let rate = self.learning_rate.rate(self.t)?;
        let fallback = (!self.inverse_hessian.is_empty()).then(|| (1.0f64).min(1.0 / norm(grad)) * rate);
        let direction = std::mem::take(&mut self.direction);
        let mut found = std::mem::take(&mut self.found);
        let line = Line { point: params, loss, grad, direction: &direction };
        let result = search_with_restart(&search, objective, &line, initial, &mut found, fallback);
        let outcome = match result {
            Ok(retried) => {
                if retried {
                    self.inverse_hessian.clear();
                }
                let start = params.to_vec();
                params.copy_from_slice(&found.point);
                new_grad.copy_from_slice(&found.grad);
                self.finish(&start, grad);
                Iteration::Evaluated(found.loss)
            }
            Err(why) => Iteration::Stalled(why),
        };
        self.direction = direction;
        self.found = found;
        Ok(outcome)
    }

    fn state(&self) -> OptimizerState<T> {
        let buffers = [
            ("inverse_hessian", &self.inverse_hessian),
            ("last_point", &self.last_point),
            ("last_grad", &self.last_grad),
        ];
        super::save("bfgs", self.t, &buffers)
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        if state.optimizer != "bfgs" {
            return Err(Error::Inconsistent {
                field: "state.optimizer".into(),
                message: format!("saved by '{}', cannot load into 'bfgs'", state.optimizer),
            });
        }
        let (mut h, mut x, mut g) = (Vec::new(), Vec::new(), Vec::new());
        for (name, data) in state.buffers {
            match name.as_str() {
                "inverse_hessian" => h = data,
                "last_point" => x = data,
                "last_grad" => g = data,
                other => {
                    return Err(Error::unknown(
                        "buffer for bfgs",
                        other,
                        &["inverse_hessian", "last_point", "last_grad"],
                    ))
                }
            }
        }
        let n = x.len();
        if g.len() != n || !(h.is_empty() || h.len() == n * n) || n > BFGS_MAX_DIM {
            return Err(Error::Inconsistent {
                field: "state.bfgs".into(),
                message: "buffer lengths do not match each other".into(),
            });
        }
        (self.inverse_hessian, self.last_point, self.last_grad, self.t) = (h, x, g, state.step);
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.inverse_hessian.clear();
        self.last_point.clear();
        self.last_grad.clear();
    }
}
