use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::batch::{BatchKind, Batchable};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
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
        #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Momentum<T>, "momentum", builder MomentumBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// Momentum coefficient (the seed's "typically 0.9").
        beta: f64 = 0.9, in Range::UnitHalfOpen, alias "momentum", ref "PyTorch momentum";
        /// Dampening of the gradient's share in `v`.
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

impl<T: Real> Momentum<T> {
    /// The velocity buffer `v` (empty before the first update).
    pub fn velocity(&self) -> &[T] {
        &self.velocity
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b = Momentum::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?);
    Ok(Box::new(b.build()?))
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
        let mut h = self.declared_report();
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
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        let (beta, omd) = (T::from_f64(self.beta), T::from_f64(1.0 - self.dampening));
        momentum_pass(params, grads, &mut self.velocity, self.t == 0, (beta, omd), &pre, |p, _, v| {
            *p -= lr * v
        });
        self.t += 1;
        Ok(())
    }

    fn batchable(&self) -> Option<Batchable> {
        let plain = self.weight_decay == 0.0 && self.dampening == 0.0 && self.transforms.is_identity();
        plain.then(|| Batchable::new(BatchKind::Momentum, &self.learning_rate, self.beta, 0.0, 0.0, 0.0))?
    }

    super::bookkeeping!(|_: &Momentum<T>| "momentum"; velocity);
}
