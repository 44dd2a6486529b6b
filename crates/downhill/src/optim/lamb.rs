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
    /// LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
    /// ICLR 2020), as optax's `lamb` (`scale_by_adam`, `add_decayed_weights`, `scale_by_trust_ratio`,
    /// then the learning rate), `t` counted from 1. Per parameter block `b` (each weight matrix and
    /// bias of a model; a plain vector is one block):
    ///
    /// ```text
    /// m     <- (1 - beta1) * g + beta1 * m
    /// v     <- (1 - beta2) * g^2 + beta2 * v
    /// u      = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t) + eps_root) + eps) + weight_decay * theta
    /// r_b    = ||theta_b|| / ||u_b||                 (1 when either norm is 0)
    /// theta <- theta - lr_t * (u * r_b)
    /// ```
    ///
    /// Two passes over each block: the first updates the moments and measures both norms, the
    /// second recomputes `u` (the same operations, so the same bits) and steps. Defaults (optax):
    /// `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-6`, `eps_root = 0`, `weight_decay = 0` (decoupled,
    /// inside the trust ratio); optax has no default rate, downhill uses `lr = 1e-3`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Lamb<T>, "lamb", builder LambBuilder {
        /// Learning rate (a schedule of the step; optax has no default).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "optax b1";
        /// Second-moment decay.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "optax b2";
        /// Added to `sqrt(v_hat + eps_root)`.
        eps: f64 = 1e-6, in Range::Positive;
        /// Added to `v_hat` inside the square root.
        eps_root: f64 = 0.0, in Range::NonNegative;
        /// Weight decay added to the Adam direction before the trust ratio.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        layers: Layers,
        t: u64,
        mu: Vec<T>,
        nu: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Lamb::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Lamb<T> {
    fn name(&self) -> &'static str {
        "lamb"
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
        self.layers.set("lamb", blocks, self.mu.len())
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("lamb", params.len(), grads.len())?;
        let n = params.len();
        let blocks = self.layers.ranges("lamb", n)?;
        ensure("lamb", &mut self.mu, n, T::ZERO)?;
        ensure("lamb", &mut self.nu, n, T::ZERO)?;
        let t = self.t + 1;
        let lr = T::from_f64(self.learning_rate.rate(self.t)?);
        let (b1, omb1) = (T::from_f64(self.beta1), T::from_f64(1.0 - self.beta1));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let bc1 = T::from_f64(super::bias_correction(self.beta1, t as f64));
        let bc2 = T::from_f64(super::bias_correction(self.beta2, t as f64));
        let (eps, eps_root, wd) =
            (T::from_f64(self.eps), T::from_f64(self.eps_root), T::from_f64(self.weight_decay));
        let decay = self.weight_decay != 0.0;
        let pre = self.transforms.with_decay(0.0).prepare(grads);
        // The Adam direction plus decay, from the updated moments.
        let direction = |m: T, v: T, p: T| {
            let u = (m / bc1) / ((v / bc2 + eps_root).sqrt() + eps);
            if decay {
                u + wd * p
            } else {
                u
            }
        };
        // Two passes per block, each split across threads when the block is large: the moments
        // with the block's two norms (summed over fixed chunks, so the same bits on any number of
        // threads), then the step.
        for range in blocks {
            let (p, g) = (&mut params[range.clone()], &grads[range.clone()]);
            let (m, v) = (&mut self.mu[range.clone()], &mut self.nu[range]);
            let [pp, uu] = parallel::sum_chunks4(p, g, m, v, |p, g, m, v| {
                let (mut pp, mut uu) = (0.0, 0.0);
                for i in 0..p.len() {
                    let gi = pre.apply(g[i], p[i]);
                    let mi = omb1 * gi + b1 * m[i];
                    let vi = omb2 * (gi * gi) + b2 * v[i];
                    m[i] = mi;
                    v[i] = vi;
                    let u = direction(mi, vi, p[i]).to_f64();
                    let pf = p[i].to_f64();
                    pp += pf * pf;
                    uu += u * u;
                }
                [pp, uu]
            });
            let (pn, un) = (pp.sqrt(), uu.sqrt());
            let ratio = T::from_f64(if pn == 0.0 || un == 0.0 { 1.0 } else { pn / un });
            parallel::for_chunks3(p, m, v, |p, m, v| {
                for i in 0..p.len() {
                    p[i] -= lr * (direction(m[i], v[i], p[i]) * ratio);
                }
            });
        }
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &Lamb<T>| "lamb"; mu, nu);
}
