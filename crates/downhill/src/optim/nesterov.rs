use serde::{Deserialize, Serialize};

use super::momentum::momentum_pass;
use super::{
    check_lengths, ensure, learning_rate, lr_value, BuildOptions, GradientTransforms, Optimizer,
    OptimizerState, Value,
};
use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// Nesterov momentum in the seed article's look-ahead form (Nesterov 1983):
///
/// ```text
/// v     <- beta * v + grad f(theta - lr_t * beta * v)     (v starts at 0)
/// theta <- theta - lr_t * v
/// ```
///
/// The gradient is taken at the look-ahead point, so this form needs the objective: it works in
/// [`crate::minimize`] (through [`Optimizer::step_on`]); [`Optimizer::update`] with a bare
/// gradient is an error. Training loops use [`Nesterov`], the PyTorch reformulation.
///
/// How the two relate: write `phi = theta - lr * beta * v` for the look-ahead point. Substituting
/// into the update gives `phi <- phi - lr * (g(phi) + beta * v_new)`, which is exactly PyTorch's
/// Nesterov step on `phi`. Both forms start at `phi_0 = theta_0` (because `v_0 = 0`), so with a
/// constant learning rate PyTorch's iterates *are* the seed's look-ahead points, with the same
/// velocities. A test checks this.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NesterovLookahead<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Momentum coefficient in `[0, 1)`.
    pub beta: f64,
    /// Clipping and coupled weight decay, applied to the look-ahead gradient.
    pub transforms: GradientTransforms,
    t: u64,
    velocity: Vec<T>,
    #[serde(skip)]
    point: Vec<T>,
    #[serde(skip)]
    grad: Vec<T>,
}

/// Nesterov momentum as in `torch.optim.SGD(momentum=beta, nesterov=True)`; gradient only:
///
/// ```text
/// b     <- beta * b + (1 - dampening) * g      (first step: b = g)
/// theta <- theta - lr_t * (g + beta * b)
/// ```
///
/// See [`NesterovLookahead`] for the seed's form and why the two produce the same iterates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Nesterov<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Momentum coefficient in `[0, 1)`.
    pub beta: f64,
    /// Dampening in `[0, 1]`.
    pub dampening: f64,
    /// Clipping and coupled weight decay.
    pub transforms: GradientTransforms,
    t: u64,
    velocity: Vec<T>,
}

impl<T: Real> NesterovLookahead<T> {
    /// The seed's form with a constant rate.
    pub fn new(lr: f64, beta: f64) -> Self {
        NesterovLookahead {
            learning_rate: Schedule::constant(lr),
            beta,
            transforms: GradientTransforms::default(),
            t: 0,
            velocity: Vec::new(),
            point: Vec::new(),
            grad: Vec::new(),
        }
    }

    /// The velocity `v` (empty before the first step).
    pub fn velocity(&self) -> &[T] {
        &self.velocity
    }
}

impl<T: Real> Nesterov<T> {
    /// PyTorch's form with a constant rate.
    pub fn new(lr: f64, beta: f64) -> Self {
        Nesterov {
            learning_rate: Schedule::constant(lr),
            beta,
            dampening: 0.0,
            transforms: GradientTransforms::default(),
            t: 0,
            velocity: Vec::new(),
        }
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let lr = learning_rate(p, 1e-3, o)?;
    let beta = p.number_aliased("beta", &["momentum"], 0.9, Range::UnitHalfOpen)?;
    let form = p.choice("form", &["lookahead", "pytorch"], "lookahead")?;
    let mut transforms = GradientTransforms::from_params(p)?;
    transforms.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    let dampening = p.number("dampening", 0.0, Range::Unit)?;
    if form == "lookahead" {
        if dampening != 0.0 {
            return Err(Error::Inconsistent {
                field: "nesterov.dampening".into(),
                message: "only the pytorch form has dampening; add form=pytorch".into(),
            });
        }
        let mut n = NesterovLookahead::new(0.0, beta);
        n.learning_rate = lr;
        n.transforms = transforms;
        Ok(Box::new(n))
    } else {
        let mut n = Nesterov::new(0.0, beta);
        n.learning_rate = lr;
        n.dampening = dampening;
        n.transforms = transforms;
        Ok(Box::new(n))
    }
}

impl<T: Real> Optimizer<T> for NesterovLookahead<T> {
    fn name(&self) -> &'static str {
        "nesterov"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("beta", self.beta.into()),
            ("form", "lookahead".into()),
            ("weight_decay", self.transforms.weight_decay.into()),
        ];
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, _params: &mut [T], _grads: &[T]) -> Result<()> {
        Err(Error::Unsupported(
            "nesterov form=lookahead evaluates the gradient at the look-ahead point and needs the objective; \
             use form=pytorch with a bare gradient"
                .into(),
        ))
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        check_lengths("nesterov", params.len(), grad.len())?;
        let n = params.len();
        ensure("nesterov", &mut self.velocity, n, T::ZERO)?;
        let lr_f = self.learning_rate.rate(self.t)?;
        let lr = T::from_f64(lr_f);
        // The seed writes eta*beta*v: (eta*beta) first, as Python evaluates it left to right.
        let lr_beta = lr * T::from_f64(self.beta);
        self.point.clear();
        self.point.extend(params.iter().zip(&self.velocity).map(|(&p, &v)| p - lr_beta * v));
        self.grad.resize(n, T::ZERO);
        objective.gradient(&self.point, &mut self.grad);
        let pre = self.transforms.prepare(&self.grad);
        let beta = T::from_f64(self.beta);
        for ((p, v), (&g, &q)) in
            params.iter_mut().zip(self.velocity.iter_mut()).zip(self.grad.iter().zip(&self.point))
        {
            let g = pre.apply(g, q);
            *v = beta * *v + g;
            *p -= lr * *v;
        }
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &NesterovLookahead<T>| "nesterov"; velocity);
}

impl<T: Real> Optimizer<T> for Nesterov<T> {
    fn name(&self) -> &'static str {
        "nesterov"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("beta", self.beta.into()),
            ("form", "pytorch".into()),
            ("dampening", self.dampening.into()),
            ("weight_decay", self.transforms.weight_decay.into()),
        ];
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("nesterov", params.len(), grads.len())?;
        ensure("nesterov", &mut self.velocity, params.len(), T::ZERO)?;
        let lr = T::from_f64(self.learning_rate.rate(self.t)?);
        let pre = self.transforms.prepare(grads);
        let (beta, omd) = (T::from_f64(self.beta), T::from_f64(1.0 - self.dampening));
        momentum_pass(params, grads, &mut self.velocity, self.t == 0, (beta, omd), &pre, |p, g, b| {
            *p -= lr * (g + beta * b)
        });
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Nesterov<T>| "nesterov"; velocity);
}
