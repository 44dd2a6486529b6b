use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, learning_rate, lr_value, BuildOptions, GradientTransforms, Optimizer,
    OptimizerState, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// Polyak's heavy-ball momentum (Polyak 1964), exactly as the seed writes it:
///
/// ```text
/// v     <- beta * v + (1 - dampening) * g      (v starts at 0)
/// theta <- theta - lr_t * v
/// ```
///
/// With `dampening = 0` (the default) this is the seed's `v = beta*v + g` and
/// `torch.optim.SGD(momentum=beta)`. Like PyTorch, the first step sets `v = g` without dampening
/// (with `dampening = 0` that equals `beta*0 + g`, so the seed's form is reproduced exactly).
/// Defaults: `lr = 1e-3` (PyTorch), `beta = 0.9` (the seed's "typically 0.9").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Momentum<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Momentum coefficient `beta` in `[0, 1)`.
    pub beta: f64,
    /// Dampening in `[0, 1]`.
    pub dampening: f64,
    /// Clipping and coupled weight decay.
    pub transforms: GradientTransforms,
    t: u64,
    velocity: Vec<T>,
}

impl<T: Real> Momentum<T> {
    /// Heavy ball with the seed's update.
    pub fn new(lr: f64, beta: f64) -> Self {
        Momentum {
            learning_rate: Schedule::constant(lr),
            beta,
            dampening: 0.0,
            transforms: GradientTransforms::default(),
            t: 0,
            velocity: Vec::new(),
        }
    }

    /// The velocity buffer `v` (empty before the first update).
    pub fn velocity(&self) -> &[T] {
        &self.velocity
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let mut m = Momentum::<T>::new(0.0, 0.9);
    m.learning_rate = learning_rate(p, 1e-3, o)?;
    m.beta = p.number_aliased("beta", &["momentum"], 0.9, Range::UnitHalfOpen)?;
    m.dampening = p.number("dampening", 0.0, Range::Unit)?;
    m.transforms = GradientTransforms::from_params(p)?;
    m.transforms.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    Ok(Box::new(m))
}

/// The shared velocity update of heavy ball and PyTorch-form Nesterov; returns nothing, leaves
/// `v` updated and calls `apply(p, g, v)` for the parameter step, all in one pass.
#[inline(always)]
pub(crate) fn momentum_pass<T: Real>(
    params: &mut [T],
    grads: &[T],
    velocity: &mut [T],
    first: bool,
    (beta, one_minus_dampening): (T, T),
    pre: &super::Prepared<T>,
    apply: impl Fn(&mut T, T, T) + Sync + Send,
) {
    let pre = *pre;
    super::parallel::for_chunks3(params, grads, velocity, |params, grads, velocity| {
        if pre.is_identity() && !first {
            // The common case, with no per-element branches.
            for ((p, &g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
                *v = beta * *v + one_minus_dampening * g;
                apply(p, g, *v);
            }
        } else {
            for ((p, &g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
                let g = pre.apply(g, *p);
                *v = if first { g } else { beta * *v + one_minus_dampening * g };
                apply(p, g, *v);
            }
        }
    });
}

impl<T: Real> Optimizer<T> for Momentum<T> {
    fn name(&self) -> &'static str {
        "momentum"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("beta", self.beta.into()),
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
        check_lengths("momentum", params.len(), grads.len())?;
        ensure("momentum", &mut self.velocity, params.len(), T::ZERO)?;
        let lr = T::from_f64(self.learning_rate.rate(self.t)?);
        let pre = self.transforms.prepare(grads);
        let (beta, omd) = (T::from_f64(self.beta), T::from_f64(1.0 - self.dampening));
        momentum_pass(params, grads, &mut self.velocity, self.t == 0, (beta, omd), &pre, |p, _, v| {
            *p -= lr * v
        });
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Momentum<T>| "momentum"; velocity);
}
