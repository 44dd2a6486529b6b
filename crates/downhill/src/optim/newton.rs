use serde::{Deserialize, Serialize};

use super::{check_lengths, restore, BuildOptions, Iteration, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::linalg::{cholesky, cholesky_solve};
use crate::line_search::{Found, Line, LineSearch};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Newton's method, the notebook seed's "perfect" update, which divides the gradient (push) by
    /// the curvature (brake):
    ///
    /// ```text
    /// 1-D:  theta <- theta - lr_t * (f'(theta) / f''(theta))
    /// N-D:  theta <- theta - lr_t * d,   (H + tau I) d = g   (Cholesky solve)
    /// ```
    ///
    /// Default `lr = 1`: on a quadratic the first step lands on the minimum.
    ///
    /// When `H` is not positive definite the plain Newton step can point uphill (towards a maximum
    /// or along a saddle's negative curvature). Then downhill adds a multiple of the identity, using
    /// Nocedal & Wright's "Cholesky with added multiple of the identity" (Numerical Optimization,
    /// 2nd ed., Algorithm 3.3) with `beta = damping` (default 1e-3): `tau = 0` if every diagonal entry
    /// is positive, else `tau = beta - min_i H_ii`; while the Cholesky factorization of `H + tau I`
    /// fails, `tau <- max(2 tau, beta)`. The damped matrix is positive definite, so `-d` is a descent
    /// direction. In 1-D this gives `f'' + tau = beta` whenever `f'' <= 0`. [`Newton::last_damping`]
    /// reports `tau`. Newton needs the Hessian, so it runs on objectives (`step_on`), not bare gradients.
    ///
    /// With `line_search=armijo|strong-wolfe|more-thuente` (c2 0.9) the step along `d` is searched for, tried
    /// first at `lr` (Nocedal & Wright's line-search Newton method, Algorithm 3.2).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Newton<T>, "newton", builder NewtonBuilder {
        /// Step scale (a schedule of the step); the line search's first trial.
        learning_rate: Schedule = 1.0, in Range::Positive;
        /// Smallest `tau` added to the diagonal when the Hessian is not positive definite.
        damping: f64 = 1e-3, in Range::Positive;
    }
    options {
        /// A line search along the Newton direction (`None`: the plain step).
        #[serde(default)]
        line_search: Option<LineSearch>,
    }
    state {
        t: u64,
        last_damping: f64,
        #[serde(skip)]
        hessian: Vec<T>,
        #[serde(skip)]
        factor: Vec<f64>,
    }
}

impl<T: Real> Newton<T> {
    /// The `tau` added to the Hessian's diagonal in the last step (0 when it was positive definite).
    pub fn last_damping(&self) -> f64 {
        self.last_damping
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b = Newton::spec_builder(p, o)?.line_search(LineSearch::from_params(p, "none", 0.9)?);
    Ok(Box::new(b.build()?))
}

/// The keys: the declared ones and the line search's.
pub(crate) fn keys() -> Vec<super::Hyperparameter> {
    let mut keys = Newton::<f64>::declared();
    keys.extend(super::line_search_keys("none", 0.9));
    keys
}

impl<T: Real> Newton<T> {
    /// `(H + tau I)^-1 g` for the Hessian in `self.hessian` (N-D), with `tau` by Algorithm 3.3.
    fn solve(&mut self, grad: &[T]) -> Result<Vec<f64>> {
        let n = grad.len();
        let beta = self.damping;
        let h: Vec<f64> = self.hessian.iter().map(|x| x.to_f64()).collect();
        let min_diag = (0..n).map(|i| h[i * n + i]).fold(f64::INFINITY, f64::min);
        let mut tau = if min_diag > 0.0 { 0.0 } else { beta - min_diag };
        loop {
            self.factor.clear();
            self.factor.extend_from_slice(&h);
            for i in 0..n {
                self.factor[i * n + i] += tau;
            }
            if cholesky(&mut self.factor, n) {
                break;
            }
            tau = (2.0 * tau).max(beta);
            if !tau.is_finite() {
                return Err(Error::Unsupported("newton: Hessian is not finite".into()));
            }
        }
        self.last_damping = tau;
        let mut d: Vec<f64> = grad.iter().map(|g| g.to_f64()).collect();
        cholesky_solve(&self.factor, n, &mut d);
        Ok(d)
    }
}

impl<T: Real> Optimizer<T> for Newton<T> {
    fn name(&self) -> &'static str {
        "newton"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        if self.line_search.is_some() {
            LineSearch::describe(&self.line_search, &mut h);
        }
        h
    }

    fn iterate(
        &mut self,
        objective: &dyn Objective<T>,
        params: &mut [T],
        loss: T,
        grad: &[T],
        new_grad: &mut [T],
    ) -> Result<Iteration<T>> {
        let Some(search) = self.line_search else {
            self.step_on(objective, params, grad)?;
            return Ok(Iteration::Moved);
        };
        check_lengths("newton", params.len(), grad.len())?;
        if !objective.has_hessian() {
            return Err(Error::Unsupported(
                "newton: the objective has no Hessian (lbfgs and bfgs need gradients only)".into(),
            ));
        }
        let n = params.len();
        self.hessian.resize(n * n, T::ZERO);
        objective.hessian(params, &mut self.hessian)?;
        let direction: Vec<T> = self.solve(grad)?.into_iter().map(|d| T::from_f64(-d)).collect();
        let mut found = Found::default();
        let line = Line { point: params, loss, grad, direction: &direction };
        match search.search(objective, &line, self.learning_rate.rate(self.t)?, &mut found) {
            Ok(()) => {
                params.copy_from_slice(&found.point);
                new_grad.copy_from_slice(&found.grad);
                self.t += 1;
                Ok(Iteration::Evaluated(found.loss))
            }
            Err(e) => Ok(Iteration::Stalled(format!("{} line search: {e}", search.name()))),
        }
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
            "newton needs the Hessian; run it on an objective (minimize / step_on)".into(),
        ))
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        check_lengths("newton", params.len(), grad.len())?;
        if !objective.has_hessian() {
            return Err(Error::Unsupported(
                "newton: the objective has no Hessian (lbfgs and bfgs need gradients only)".into(),
            ));
        }
        let n = params.len();
        crate::objective::check_dense_hessian("newton", n, crate::objective::MAX_DENSE_HESSIAN_DIM)?;
        self.hessian.resize(n * n, T::ZERO);
        objective.hessian(params, &mut self.hessian)?;
        let lr = T::from_f64(self.learning_rate.rate(self.t)?);
        let beta = self.damping;
        if n == 1 {
            // The notebook's lr * L'/L'', exactly, when the curvature is positive.
            let h = self.hessian[0];
            let tau = if h.to_f64() > 0.0 { 0.0 } else { beta - h.to_f64() };
            self.last_damping = tau;
            let h = if tau == 0.0 { h } else { T::from_f64(h.to_f64() + tau) };
            params[0] -= lr * (grad[0] / h);
        } else {
            let d = self.solve(grad)?;
            for (p, di) in params.iter_mut().zip(d) {
                *p -= lr * T::from_f64(di);
            }
        }
        self.t += 1;
        Ok(())
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState::new("newton", self.t, Vec::new())
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        self.t = restore("newton", state, &mut [])?;
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.last_damping = 0.0;
    }
}
