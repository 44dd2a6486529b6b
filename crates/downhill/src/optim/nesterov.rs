use serde::{Deserialize, Serialize};

use super::momentum::momentum_pass;
use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
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
    pub struct NesterovLookahead<T>, "nesterov", builder NesterovLookaheadBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// Momentum coefficient.
        beta: f64 = 0.9, in Range::UnitHalfOpen, alias "momentum", ref "PyTorch momentum";
        /// Coupled L2 weight decay of the look-ahead gradient.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping, applied to the look-ahead gradient.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        velocity: Vec<T>,
        #[serde(skip)]
        point: Vec<T>,
        #[serde(skip)]
        grad: Vec<T>,
    }
}

super::declare_optimizer! {
    /// Nesterov momentum as in `torch.optim.SGD(momentum=beta, nesterov=True)`; gradient only:
    ///
    /// ```text
    /// b     <- beta * b + (1 - dampening) * g      (first step: b = g)
    /// theta <- theta - lr_t * (g + beta * b)
    /// ```
    ///
    /// See [`NesterovLookahead`] for the seed's form and why the two produce the same iterates.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Nesterov<T>, "nesterov", builder NesterovBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// Momentum coefficient.
        beta: f64 = 0.9, in Range::UnitHalfOpen, alias "momentum", ref "PyTorch momentum";
        /// Dampening of the gradient's share in `b` (form=pytorch only).
        dampening: f64 = 0.0, in Range::Unit;
        /// Coupled L2 weight decay, `g + weight_decay * theta`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        velocity: Vec<T>,
    }
}

impl<T: Real> NesterovLookahead<T> {
    /// The velocity `v` (empty before the first step).
    pub fn velocity(&self) -> &[T] {
        &self.velocity
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let form = p.choice("form", &["lookahead", "pytorch"], "lookahead")?;
    let transforms = GradientTransforms::from_params(p)?;
    if form == "lookahead" {
        if p.optional("dampening", Range::Unit)?.is_some_and(|d| d != 0.0) {
            return Err(Error::Inconsistent {
                field: "nesterov.dampening".into(),
                message: "only the pytorch form has dampening; add form=pytorch".into(),
            });
        }
        Ok(Box::new(NesterovLookahead::spec_builder(p, o)?.transforms(transforms).build()?))
    } else {
        Ok(Box::new(Nesterov::spec_builder(p, o)?.transforms(transforms).build()?))
    }
}

/// The keys of both forms: `form` and PyTorch's form's keys (the look-ahead form has no `dampening`).
pub(crate) fn keys() -> Vec<super::Hyperparameter> {
    let mut keys = Nesterov::<f64>::declared();
    let form = super::Hyperparameter {
        key: "form",
        default: Value::Text("lookahead"),
        accepts: "lookahead|pytorch".into(),
        doc: "The seed's look-ahead form (needs the objective) or PyTorch's (gradient only).",
        reference: None,
        rate: false,
    };
    keys.insert(2, form);
    keys
}

impl<T: Real> Optimizer<T> for NesterovLookahead<T> {
    fn name(&self) -> &'static str {
        "nesterov"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        h.insert(2, ("form", "lookahead".into()));
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
        let pre = self.transforms.with_decay(self.weight_decay).prepare(&self.grad);
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
        let mut h = self.declared_report();
        h.insert(2, ("form", "pytorch".into()));
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
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        let (beta, omd) = (T::from_f64(self.beta), T::from_f64(1.0 - self.dampening));
        momentum_pass(params, grads, &mut self.velocity, self.t == 0, (beta, omd), &pre, |p, g, b| {
            *p -= lr * (g + beta * b)
        });
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Nesterov<T>| "nesterov"; velocity);
}
