use serde::{Deserialize, Serialize};

use super::{check_lengths, BuildOptions, Iteration, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::line_search::{dot, norm, Found, Line, LineSearch, MoreThuente};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989), with the two-loop recursion
    /// (Nocedal & Wright, Algorithm 7.4):
    ///
    /// ```text
    /// s_i = x_(i+1) - x_i,  y_i = g_(i+1) - g_i,  rho_i = 1 / (y_i . s_i)      (the last `memory` pairs)
    /// q = g;  for i newest..oldest: a_i = rho_i s_i . q;  q -= a_i y_i
    /// r = gamma q,  gamma = s.y / y.y of the newest pair (1 with no pair)
    /// for i oldest..newest: b = rho_i y_i . r;  r += s_i (a_i - b)
    /// d = -r;  x <- x + alpha d
    /// ```
    ///
    /// `alpha` comes from the line search (default More-Thuente, [`MoreThuente`], the search of
    /// L-BFGS-B, with `c1 = 1e-4`, `c2 = 0.9`; `strong-wolfe` and `armijo` are the others), tried
    /// first at `lr` (default 1), or at `min(1, 1/||g||) lr` on the first iteration and after a
    /// reset, when the direction is the raw gradient (PyTorch uses `1/||g||_1`, L-BFGS-B `1/||g||_2`).
    /// With `line_search=none` the step is that initial step, and L-BFGS needs only gradients
    /// ([`Optimizer::update`] works, in minibatch training too). A pair is stored only when
    /// `s . y > eps y . y` (positive curvature, as L-BFGS-B); otherwise it is skipped. When the line
    /// search fails, the memory is cleared and the search retried along `-g`; when that fails too
    /// the run stops as `stalled`.
    ///
    /// Differences from PyTorch's `LBFGS`: one [`Optimizer::iterate`] is one iteration (PyTorch's
    /// `step` runs up to `max_iter = 20`), the default is a line search (PyTorch's is none), and the
    /// memory default is 10 (PyTorch's `history_size` is 100; scipy's `maxcor` is 10).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Lbfgs<T>, "lbfgs", builder LbfgsBuilder {
        /// Step scale (a schedule of the step); the line search's first trial.
        learning_rate: Schedule = 1.0, in Range::Positive;
        /// Correction pairs `(s, y)` kept.
        memory: u64 = 10, in (1, 1000), ref "PyTorch history_size";
    }
    options {
        /// The line search (`None`: the step as it is, gradients only).
        line_search: Option<LineSearch> = Some(LineSearch::MoreThuente(MoreThuente::quasi_newton())),
    }
    state {
        t: u64,
        s: Vec<T>,
        y: Vec<T>,
        last_point: Vec<T>,
        last_grad: Vec<T>,
        #[serde(skip)]
        direction: Vec<T>,
        #[serde(skip)]
        alpha: Vec<f64>,
        #[serde(skip)]
        found: Found<T>,
    }
}

impl<T: Real> Lbfgs<T> {
    /// Pairs stored now.
    pub fn pairs(&self, n: usize) -> usize {
        self.s.len().checked_div(n).unwrap_or(0)
    }

    /// Stores the pair from the last step's point to `params`, dropping the oldest when full.
    fn remember(&mut self, params: &[T], grad: &[T]) {
        let n = params.len();
        if self.last_point.len() != n {
            return;
        }
        let s: Vec<T> = params.iter().zip(&self.last_point).map(|(&a, &b)| a - b).collect();
        let y: Vec<T> = grad.iter().zip(&self.last_grad).map(|(&a, &b)| a - b).collect();
        let (sy, yy) = (dot(&s, &y), dot(&y, &y));
        if sy.is_nan() || sy <= f64::EPSILON * yy || !sy.is_finite() {
            return;
        }
        if self.s.len() / n >= self.memory as usize {
            self.s.drain(..n);
            self.y.drain(..n);
        }
        self.s.extend_from_slice(&s);
        self.y.extend_from_slice(&y);
    }

    /// `direction = -H g` by the two-loop recursion.
    fn compute_direction(&mut self, grad: &[T]) {
        let n = grad.len();
        let m = self.pairs(n);
        let mut q: Vec<f64> = grad.iter().map(|g| g.to_f64()).collect();
        self.alpha.resize(m, 0.0);
        let pair =
            |v: &[T], i: usize| -> Vec<f64> { v[i * n..(i + 1) * n].iter().map(|x| x.to_f64()).collect() };
        let dot64 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut rho = vec![0.0; m];
        for i in (0..m).rev() {
            let (s, y) = (pair(&self.s, i), pair(&self.y, i));
            rho[i] = 1.0 / dot64(&y, &s);
            let a = rho[i] * dot64(&s, &q);
            self.alpha[i] = a;
            q.iter_mut().zip(&y).for_each(|(q, y)| *q -= a * y);
        }
        if m > 0 {
            let (s, y) = (pair(&self.s, m - 1), pair(&self.y, m - 1));
            let gamma = dot64(&s, &y) / dot64(&y, &y);
            q.iter_mut().for_each(|q| *q *= gamma);
        }
        for (i, rho) in rho.iter().enumerate() {
            let (s, y) = (pair(&self.s, i), pair(&self.y, i));
            let b = rho * dot64(&y, &q);
            let a = self.alpha[i];
            q.iter_mut().zip(&s).for_each(|(q, s)| *q += s * (a - b));
        }
        self.direction.clear();
        self.direction.extend(q.iter().map(|&r| T::from_f64(-r)));
    }

    fn clear_memory(&mut self) {
        self.s.clear();
        self.y.clear();
    }

    /// The direction for this step (the raw gradient when the memory's is not downhill) and its
    /// initial step.
    fn prepare(&mut self, params: &[T], grad: &[T]) -> f64 {
        self.remember(params, grad);
        self.compute_direction(grad);
        if dot(grad, &self.direction).partial_cmp(&0.0) != Some(std::cmp::Ordering::Less) {
            self.clear_memory();
            self.compute_direction(grad);
        }
        let lr = self.learning_rate.value(self.t);
        if self.s.is_empty() {
            (1.0f64).min(1.0 / norm(grad)) * lr
        } else {
            lr
        }
    }

    fn finish(&mut self, start: &[T], grad: &[T]) {
        self.last_point.clear();
        self.last_point.extend_from_slice(start);
        self.last_grad.clear();
        self.last_grad.extend_from_slice(grad);
        self.t += 1;
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b = Lbfgs::spec_builder(p, o)?.line_search(LineSearch::from_params(p, "more-thuente", 0.9)?);
    Ok(Box::new(b.build()?))
}

/// The keys: the declared ones and the line search's.
pub(crate) fn keys() -> Vec<super::Hyperparameter> {
    let mut keys = Lbfgs::<f64>::declared();
    keys.extend(super::line_search_keys("more-thuente", 0.9));
    keys
}

/// Runs `search` along `line`; when it fails and `fallback` gives an initial step, searches
/// again along `-g` from there. `Ok(true)` when the accepted point came from that second search.
pub(crate) fn search_with_restart<T: Real>(
    search: &LineSearch,
    objective: &dyn Objective<T>,
    line: &Line<'_, T>,
    initial: f64,
    found: &mut Found<T>,
    fallback: Option<f64>,
) -> std::result::Result<bool, String> {
    match search.search(objective, line, initial, found) {
        Ok(()) => Ok(false),
        Err(first) => {
            let Some(initial) = fallback else {
                return Err(format!("{} line search: {first}", search.name()));
            };
            let steepest: Vec<T> = line.grad.iter().map(|&g| -g).collect();
            let line = Line { direction: &steepest, ..*line };
            search
                .search(objective, &line, initial, found)
                .map(|()| true)
                .map_err(|e| format!("{} line search: {e}, also along -grad", search.name()))
        }
    }
}

impl<T: Real> Optimizer<T> for Lbfgs<T> {
    fn name(&self) -> &'static str {
        "lbfgs"
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
        check_lengths("lbfgs", params.len(), grads.len())?;
        if let Some(search) = &self.line_search {
            return Err(Error::Unsupported(format!(
                "lbfgs with line_search={} evaluates the objective; run it on an objective \
                 (minimize, or train with a full batch) or use line_search=none",
                search.name()
            )));
        }
        self.learning_rate.rate(self.t)?;
        let step = T::from_f64(self.prepare(params, grads));
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
        check_lengths("lbfgs", params.len(), grad.len())?;
        let Some(search) = self.line_search else {
            self.update(params, grad)?;
            return Ok(Iteration::Moved);
        };
        let initial = self.prepare(params, grad);
        let rate = self.learning_rate.rate(self.t)?;
        let fallback = (!self.s.is_empty()).then(|| (1.0f64).min(1.0 / norm(grad)) * rate);
        let direction = std::mem::take(&mut self.direction);
        let mut found = std::mem::take(&mut self.found);
        let line = Line { point: params, loss, grad, direction: &direction };
        let result = search_with_restart(&search, objective, &line, initial, &mut found, fallback);
        let outcome = match result {
            Ok(retried) => {
                if retried {
                    self.clear_memory();
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
            ("s", &self.s),
            ("y", &self.y),
            ("last_point", &self.last_point),
            ("last_grad", &self.last_grad),
        ];
        super::save("lbfgs", self.t, &buffers)
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        if state.optimizer != "lbfgs" {
            return Err(Error::Inconsistent {
                field: "state.optimizer".into(),
                message: format!("saved by '{}', cannot load into 'lbfgs'", state.optimizer),
            });
        }
        let mut fresh = self.to_builder().assemble();
        for (name, data) in state.buffers {
            match name.as_str() {
                "s" => fresh.s = data,
                "y" => fresh.y = data,
                "last_point" => fresh.last_point = data,
                "last_grad" => fresh.last_grad = data,
                other => {
                    return Err(Error::unknown(
                        "buffer for lbfgs",
                        other,
                        &["s", "y", "last_point", "last_grad"],
                    ))
                }
            }
        }
        let n = fresh.last_point.len();
        let pairs_ok = n > 0
            && fresh.s.len() == fresh.y.len()
            && fresh.s.len() % n == 0
            && fresh.s.len() / n <= self.memory as usize;
        if fresh.last_grad.len() != n || !(pairs_ok || fresh.s.is_empty()) {
            return Err(Error::Inconsistent {
                field: "state.lbfgs".into(),
                message: "buffer lengths do not match each other or the memory".into(),
            });
        }
        self.s = fresh.s;
        self.y = fresh.y;
        self.last_point = fresh.last_point;
        self.last_grad = fresh.last_grad;
        self.t = state.step;
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.clear_memory();
        self.last_point.clear();
        self.last_grad.clear();
    }
}
