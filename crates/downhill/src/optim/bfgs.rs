use serde::{Deserialize, Serialize};

use super::lbfgs::search_with_restart;
use super::{check_lengths, BuildOptions, Iteration, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::line_search::{dot, norm, Found, Line, LineSearch, MoreThuente};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// The most parameters [`Bfgs`] accepts: its `n x n` matrix takes 128 MiB in f64 at 4096.
pub const BFGS_MAX_DIM: usize = 4096;

super::declare_optimizer! {
    /// BFGS with a dense inverse-Hessian approximation `H` (Nocedal & Wright, Algorithm 6.1):
    ///
    /// ```text
    /// d = -H g;  x <- x + alpha d            (alpha from the line search, tried first at lr = 1)
    /// s = x_new - x,  y = g_new - g,  rho = 1 / (y . s)
    /// H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T
    /// ```
    ///
    /// These are scipy's step rules (`scipy.optimize.minimize(method="BFGS")`): `H` starts as the
    /// identity (not rescaled), the line search defaults to More-Thuente ([`MoreThuente`], scipy's
    /// `line_search_wolfe1`, falling back to strong Wolfe like scipy's `line_search_wolfe2`) with
    /// `c1 = 1e-4, c2 = 0.9`, and each search starts from
    ///
    /// ```text
    /// alpha_0 = min(lr, 1.01 * 2 (f_k - f_(k-1)) / (g . d))      (lr when that is not positive)
    /// ```
    ///
    /// with `f_(-1) = f_0 + ||g_0|| / 2` on the first iteration (a first step of length about 1, as
    /// scipy's `old_old_fval`). An update is skipped unless `y . s > eps y . y` (positive curvature;
    /// scipy updates anyway). When the search fails, `H` is reset to the identity and the search
    /// retried along `-g` from `min(1, 1/||g||) lr`; when that fails too the run stops as `stalled`.
    /// With `line_search=none` the step is `min(1, 1/||g||) lr` while `H` is the identity, `lr`
    /// after. `H` takes `n^2` values, so BFGS
    /// accepts at most [`BFGS_MAX_DIM`] parameters; use [`super::Lbfgs`] beyond.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Bfgs<T>, "bfgs", builder BfgsBuilder {
        /// Step scale (a schedule of the step); the line search's first trial.
        learning_rate: Schedule = 1.0, in Range::Positive;
    }
    options {
        /// The line search (`None`: the step as it is, gradients only).
        line_search: Option<LineSearch> = Some(LineSearch::MoreThuente(MoreThuente::quasi_newton())),
    }
    state {
        t: u64,
        inverse_hessian: Vec<T>,
        last_point: Vec<T>,
        last_grad: Vec<T>,
        /// `f` at `last_point` (empty before the first step), for the next search's initial step.
        last_loss: Vec<T>,
        #[serde(skip)]
        direction: Vec<T>,
        #[serde(skip)]
        found: Found<T>,
    }
}

impl<T: Real> Bfgs<T> {
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
            (0..n).for_each(|i| h[i * n + i] = 1.0);
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

    /// scipy's first trial step for a search from `loss` along the current direction.
    fn initial_step(&self, loss: T, grad: &[T]) -> Result<f64> {
        let lr = self.learning_rate.rate(self.t)?;
        let previous = match self.last_loss.first() {
            Some(&f) => f.to_f64(),
            None => loss.to_f64() + norm(grad) / 2.0,
        };
        let alpha = 1.01 * 2.0 * (loss.to_f64() - previous) / dot(grad, &self.direction);
        Ok(if alpha > 0.0 && alpha.is_finite() { alpha.min(lr) } else { lr })
    }

    fn finish(&mut self, start: &[T], loss: Option<T>, grad: &[T]) {
        self.last_loss.clear();
        self.last_loss.extend(loss);
        self.last_point.clear();
        self.last_point.extend_from_slice(start);
        self.last_grad.clear();
        self.last_grad.extend_from_slice(grad);
        self.t += 1;
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b = Bfgs::spec_builder(p, o)?.line_search(LineSearch::from_params(p, "more-thuente", 0.9)?);
    Ok(Box::new(b.build()?))
}

/// The keys: the declared ones and the line search's.
pub(crate) fn keys() -> Vec<super::Hyperparameter> {
    let mut keys = Bfgs::<f64>::declared();
    keys.extend(super::line_search_keys("more-thuente", 0.9));
    keys
}

impl<T: Real> Optimizer<T> for Bfgs<T> {
    fn name(&self) -> &'static str {
        "bfgs"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
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
        let name = self.name();
        super::RateField::set(&mut self.learning_rate, schedule, name)
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
        self.finish(&start, None, grads);
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
        self.prepare(params, grad)?;
        let initial = self.initial_step(loss, grad)?;
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
                self.finish(&start, Some(loss), grad);
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
            ("last_loss", &self.last_loss),
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
        let (mut h, mut x, mut g, mut f) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (name, data) in state.buffers {
            match name.as_str() {
                "inverse_hessian" => h = data,
                "last_point" => x = data,
                "last_grad" => g = data,
                "last_loss" => f = data,
                other => {
                    return Err(Error::unknown(
                        "buffer for bfgs",
                        other,
                        &["inverse_hessian", "last_point", "last_grad", "last_loss"],
                    ))
                }
            }
        }
        let n = x.len();
        if g.len() != n || !(h.is_empty() || h.len() == n * n) || f.len() > 1 || n > BFGS_MAX_DIM {
            return Err(Error::Inconsistent {
                field: "state.bfgs".into(),
                message: "buffer lengths do not match each other".into(),
            });
        }
        (self.inverse_hessian, self.last_point, self.last_grad, self.last_loss, self.t) =
            (h, x, g, f, state.step);
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.inverse_hessian.clear();
        self.last_point.clear();
        self.last_grad.clear();
        self.last_loss.clear();
    }
}
