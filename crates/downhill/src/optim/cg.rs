use serde::{Deserialize, Serialize};

use super::lbfgs::search_with_restart;
use super::{check_lengths, BuildOptions, Iteration, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::line_search::{dot, norm, Found, Line, LineSearch, StrongWolfe};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// The formula for `beta` in nonlinear conjugate gradient (`y = g - g_prev`, `d` the previous
/// direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgVariant {
    /// Polak-Ribiere, clipped at 0 (PR+, Gilbert & Nocedal 1992): `max(0, g.y / g_prev.g_prev)`.
    PolakRibierePlus,
    /// Fletcher-Reeves: `g.g / g_prev.g_prev`.
    FletcherReeves,
    /// Hestenes-Stiefel: `g.y / d.y`.
    HestenesStiefel,
    /// Hager-Zhang (2005): `(y - 2 d |y|^2 / d.y) . g / d.y`, bounded below by
    /// `-1 / (|d| min(0.01, |g_prev|))`.
    HagerZhang,
}

super::declare::choice_value!(CgVariant {
    PolakRibierePlus = "pr+",
    FletcherReeves = "fr",
    HestenesStiefel = "hs",
    HagerZhang = "hz",
});

impl CgVariant {
    /// The spec name.
    pub fn name(self) -> &'static str {
        super::declare::Choice::name(self)
    }
}

super::declare_optimizer! {
    /// Nonlinear conjugate gradient (Nocedal & Wright, section 5.2):
    ///
    /// ```text
    /// d_0 = -g_0;   d_k = -g_k + beta_k d_(k-1)   (beta by `variant`, default PR+)
    /// x <- x + alpha d_k                          (alpha from a strong Wolfe search, c2 = 0.1)
    /// ```
    ///
    /// Restarts (`d = -g`): whenever `d_k` is not a descent direction, whenever `beta` is not
    /// finite, when the line search fails along `d_k` (it is retried along `-g`), PR+ by itself when
    /// `beta` would be negative, and every `restart` iterations when that key is given (`restart=n`
    /// is Nocedal & Wright's `n`-step restart; the default 0 never restarts on a count, as scipy:
    /// on 2-D Rosenbrock restarting every 2 steps costs 96 evaluations instead of 57). The first
    /// trial step is `min(1, 1/|g|) lr` after a restart and otherwise
    /// `min(1, 1.01 * 2 (f_k - f_(k-1)) / (g_k . d_k)) lr` (N&W eq. 3.60, as scipy). On a strictly
    /// convex quadratic with exact line searches every variant is linear CG and ends in at most `n`
    /// steps. When the line search fails, it is retried along `-g`; when that fails too the run
    /// stops as `stalled`. scipy's `CG` is PR+ with `c2 = 0.4`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ConjugateGradient<T>, "cg", builder ConjugateGradientBuilder {
        /// Step scale (a schedule of the step); the line search's first trial.
        learning_rate: Schedule = 1.0, in Range::Positive;
        /// The formula for `beta`.
        variant: CgVariant = CgVariant::PolakRibierePlus;
        /// Restart along `-g` every this many iterations (0: only when needed).
        restart: u64 = 0, in (0, 1 << 40);
    }
    options {
        /// The line search (`None`: the step as it is).
        line_search: Option<LineSearch> = Some(LineSearch::StrongWolfe(StrongWolfe::conjugate_gradient())),
    }
    state {
        t: u64,
        last_grad: Vec<T>,
        last_direction: Vec<T>,
        last: Vec<f64>,
        #[serde(skip)]
        direction: Vec<T>,
        #[serde(skip)]
        found: Found<T>,
    }
}

impl<T: Real> ConjugateGradient<T> {
    /// The direction for this step and its initial step; `true` when it is a restart.
    fn prepare(&mut self, loss: T, grad: &[T]) -> (f64, bool) {
        let n = grad.len();
        let lr = self.learning_rate.value(self.t);
        let period = if self.restart == 0 { u64::MAX } else { self.restart };
        self.direction.clear();
        self.direction.extend(grad.iter().map(|&g| -g));
        let gg = dot(grad, grad);
        let restart_step = (1.0f64).min(1.0 / gg.sqrt()) * lr;
        if self.last_grad.len() != n || self.last.len() != 2 || self.last[1] as u64 + 1 >= period {
            return (restart_step, true);
        }
        let (gp, dp) = (&self.last_grad, &self.last_direction);
        let y: Vec<f64> = grad.iter().zip(gp).map(|(&a, &b)| (a - b).to_f64()).collect();
        let g64: Vec<f64> = grad.iter().map(|g| g.to_f64()).collect();
        let d64: Vec<f64> = dp.iter().map(|d| d.to_f64()).collect();
        let dot64 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let gpgp = dot(gp, gp);
        let gy = dot64(&g64, &y);
        let dy = dot64(&d64, &y);
        let beta = match self.variant {
            CgVariant::PolakRibierePlus => (gy / gpgp).max(0.0),
            CgVariant::FletcherReeves => gg / gpgp,
            CgVariant::HestenesStiefel => gy / dy,
            CgVariant::HagerZhang => {
                let yy = dot64(&y, &y);
                let dg = dot64(&d64, &g64);
                let b = (gy - 2.0 * yy * dg / dy) / dy;
                let bound = -1.0 / (dot64(&d64, &d64).sqrt() * 0.01f64.min(gpgp.sqrt()));
                b.max(bound)
            }
        };
        if !beta.is_finite() {
            return (restart_step, true);
        }
        let b = T::from_f64(beta);
        for (d, &p) in self.direction.iter_mut().zip(dp) {
            *d += b * p;
        }
        let slope = dot(grad, &self.direction);
        if slope.partial_cmp(&0.0) != Some(std::cmp::Ordering::Less) {
            self.direction.clear();
            self.direction.extend(grad.iter().map(|&g| -g));
            return (restart_step, true);
        }
        let guess = 1.01 * 2.0 * (loss.to_f64() - self.last[0]) / slope;
        let initial = if guess.is_finite() && guess > 0.0 { guess.min(1.0) } else { 1.0 };
        (initial * lr, false)
    }

    fn finish(&mut self, loss: T, grad: &[T], restarted: bool) {
        let since = if restarted || self.last.len() != 2 { 0.0 } else { self.last[1] + 1.0 };
        self.last_grad.clear();
        self.last_grad.extend_from_slice(grad);
        self.last_direction.clone_from(&self.direction);
        self.last = vec![loss.to_f64(), since];
        self.t += 1;
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b =
        ConjugateGradient::spec_builder(p, o)?.line_search(LineSearch::from_params(p, "strong-wolfe", 0.1)?);
    Ok(Box::new(b.build()?))
}

/// The keys: the declared ones and the line search's.
pub(crate) fn keys() -> Vec<super::Hyperparameter> {
    let mut keys = ConjugateGradient::<f64>::declared();
    keys.extend(super::line_search_keys("strong-wolfe", 0.1));
    keys
}

impl<T: Real> Optimizer<T> for ConjugateGradient<T> {
    fn name(&self) -> &'static str {
        "cg"
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

    fn update(&mut self, _params: &mut [T], _grads: &[T]) -> Result<()> {
        Err(Error::Unsupported(
            "cg needs the loss as well as the gradient; run it on an objective (minimize, or train with a full batch)"
                .into(),
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
        check_lengths("cg", params.len(), grad.len())?;
        let rate = self.learning_rate.rate(self.t)?;
        let (initial, restarted) = self.prepare(loss, grad);
        let Some(search) = self.line_search else {
            let step = T::from_f64(initial);
            for (p, &d) in params.iter_mut().zip(&self.direction) {
                *p += step * d;
            }
            self.finish(loss, grad, restarted);
            return Ok(Iteration::Moved);
        };
        let fallback = (!restarted).then(|| (1.0f64).min(1.0 / norm(grad)) * rate);
        let mut found = std::mem::take(&mut self.found);
        let line = Line { point: params, loss, grad, direction: &self.direction };
        let result = search_with_restart(&search, objective, &line, initial, &mut found, fallback);
        self.found = found;
        Ok(match result {
            Ok(retried) => {
                if retried {
                    self.direction.clear();
                    self.direction.extend(grad.iter().map(|&g| -g));
                }
                params.copy_from_slice(&self.found.point);
                new_grad.copy_from_slice(&self.found.grad);
                let new_loss = self.found.loss;
                self.finish(loss, grad, restarted || retried);
                Iteration::Evaluated(new_loss)
            }
            Err(why) => Iteration::Stalled(why),
        })
    }

    fn state(&self) -> OptimizerState<T> {
        let mut buffers = Vec::new();
        if !self.last_grad.is_empty() {
            buffers.push(("last_grad".to_string(), self.last_grad.clone()));
            buffers.push(("last_direction".to_string(), self.last_direction.clone()));
            // f_prev (a value of type T, so exact) and the iterations since the last restart.
            buffers.push(("last".to_string(), self.last.iter().map(|&v| T::from_f64(v)).collect()));
        }
        OptimizerState::new("cg", self.t, buffers)
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        if state.optimizer != "cg" {
            return Err(Error::Inconsistent {
                field: "state.optimizer".into(),
                message: format!("saved by '{}', cannot load into 'cg'", state.optimizer),
            });
        }
        let (mut g, mut d, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for (name, data) in state.buffers {
            match name.as_str() {
                "last_grad" => g = data,
                "last_direction" => d = data,
                "last" => last = data.iter().map(|v| v.to_f64()).collect(),
                other => {
                    return Err(Error::unknown(
                        "buffer for cg",
                        other,
                        &["last_grad", "last_direction", "last"],
                    ))
                }
            }
        }
        if g.len() != d.len() || !(last.is_empty() && g.is_empty() || last.len() == 2) {
            return Err(Error::Inconsistent {
                field: "state.cg".into(),
                message: "buffer lengths do not match each other".into(),
            });
        }
        (self.last_grad, self.last_direction, self.last, self.t) = (g, d, last, state.step);
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.last_grad.clear();
        self.last_direction.clear();
        self.last.clear();
    }
}
