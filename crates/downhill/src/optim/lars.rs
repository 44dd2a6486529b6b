use serde::{Deserialize, Serialize};

use super::layerwise::Layers;
use super::parallel;
use super::{
    check_lengths, ensure, Block, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg, "Large Batch Training of
    /// Convolutional Networks", 2017), as optax's `lars` (`add_decayed_weights`,
    /// `scale_by_trust_ratio`, the learning rate, then `trace`). Per parameter block `b` (each weight
    /// matrix and bias of a model; a plain vector is one block):
    ///
    /// ```text
    /// u      = g + weight_decay * theta
    /// r_b    = trust_coefficient * ||theta_b|| / (||u_b|| + eps)      (1 when either norm is 0)
    /// b     <- -lr_t * (u * r_b) + momentum * b                        (optax's trace, holding the step)
    /// theta <- theta + b                     (nesterov: theta + (-lr_t * (u * r_b) + momentum * b))
    /// ```
    ///
    /// Defaults (optax): `momentum = 0.9`, `trust_coefficient = 1e-3`, `eps = 0`, `weight_decay = 0`,
    /// `nesterov = false`; optax has no default rate, downhill uses `lr = 1` (as timm's LARS), so a
    /// step moves each block by about `1e-3` of its norm.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Lars<T>, "lars", builder LarsBuilder {
        /// Learning rate (a schedule of the step; optax has no default).
        learning_rate: Schedule = 1.0, in Range::Positive;
        /// Momentum of the scaled update (optax's `trace`).
        momentum: f64 = 0.9, in Range::UnitHalfOpen, alias "beta";
        /// Nesterov momentum.
        nesterov: bool = false;
        /// Scale of the trust ratio.
        trust_coefficient: f64 = 1e-3, in Range::Positive;
        /// Added to the update's norm in the trust ratio.
        eps: f64 = 0.0, in Range::NonNegative;
        /// Weight decay added to the gradient before the trust ratio.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        layers: Layers,
        t: u64,
        trace: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Lars::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Lars<T> {
    fn name(&self) -> &'static str {
        "lars"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn set_layout(&mut self, blocks: &[Block]) -> Result<()> {
        self.layers.set("lars", blocks, self.trace.len())
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("lars", params.len(), grads.len())?;
        let n = params.len();
        let blocks = self.layers.ranges("lars", n)?;
        ensure("lars", &mut self.trace, n, T::ZERO)?;
        let neg_lr = T::from_f64(-self.learning_rate.rate(self.t)?);
        let mu = T::from_f64(self.momentum);
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        let nesterov = self.nesterov;
        // Per block: the two norms (summed over fixed chunks, so the same bits on any number of
        // threads), then the step, each split across threads when the block is large.
        for range in blocks {
            let (p, g, b) = (&mut params[range.clone()], &grads[range.clone()], &mut self.trace[range]);
            let [pp, uu] = parallel::sum_chunks2(p, g, |p, g| {
                let (mut pp, mut uu) = (0.0, 0.0);
                for (&p, &g) in p.iter().zip(g) {
                    let (pf, u) = (p.to_f64(), pre.apply(g, p).to_f64());
                    pp += pf * pf;
                    uu += u * u;
                }
                [pp, uu]
            });
            let (pn, un) = (pp.sqrt(), uu.sqrt());
            let ratio =
                if pn == 0.0 || un == 0.0 { 1.0 } else { self.trust_coefficient * pn / (un + self.eps) };
            let ratio = T::from_f64(ratio);
            parallel::for_chunks3(p, g, b, |p, g, b| {
                for i in 0..p.len() {
                    let step = neg_lr * (pre.apply(g[i], p[i]) * ratio);
                    let bi = step + mu * b[i];
                    b[i] = bi;
                    p[i] += if nesterov { step + mu * bi } else { bi };
                }
            });
        }
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Lars<T>| "lars"; trace);
}
