use serde::{Deserialize, Serialize};

use super::layerwise::Layers;
use super::parallel;
use super::{
    check_lengths, ensure, Block, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value,
};
use crate::error::{Error, Result};
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// NovoGrad (Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
    /// Training of Deep Networks", 2019), as optax's `novograd` (`scale_by_novograd`, then the
    /// learning rate). The second moment is one number per parameter block `b` (each weight matrix
    /// and bias of a model; a plain vector is one block), `t` counted from 1:
    ///
    /// ```text
    /// v_b   <- t == 1 ? ||g_b||^2 : (1 - beta2) * ||g_b||^2 + beta2 * v_b
    /// u      = g / (sqrt(v_b + eps_root) + eps) + weight_decay * theta
    /// m     <- t == 1 ? u : beta1 * m + u
    /// theta <- theta - lr_t * m
    /// ```
    ///
    /// No bias correction, and `m` is a sum (no `1 - beta1` factor), as in optax and the paper.
    /// `||g_b||^2` is computed as optax does, the square of the norm. Defaults (optax):
    /// `beta1 = 0.9`, `beta2 = 0.25`, `eps = 1e-6`, `eps_root = 0`, `weight_decay = 0` (decoupled,
    /// inside the momentum); optax has no default rate, downhill uses `lr = 1e-3`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct NovoGrad<T>, "novograd", builder NovoGradBuilder {
        /// Learning rate (a schedule of the step; optax has no default).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "optax b1";
        /// Decay of the per-block second moment.
        beta2: f64 = 0.25, in Range::UnitHalfOpen, ref "optax b2";
        /// Added to `sqrt(v_b + eps_root)`.
        eps: f64 = 1e-6, in Range::Positive;
        /// Added to `v_b` inside the square root.
        eps_root: f64 = 0.0, in Range::NonNegative;
        /// Weight decay added to the normalized gradient.
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

impl<T: Real> NovoGrad<T> {
    /// The per-block second moments (empty before the first update).
    pub fn block_second_moments(&self) -> &[T] {
        &self.nu
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(NovoGrad::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for NovoGrad<T> {
    fn name(&self) -> &'static str {
        "novograd"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn set_learning_rate(&mut self, schedule: Schedule) -> Result<()> {
        let name = self.name();
        super::RateField::set(&mut self.learning_rate, schedule, name)
    }

    fn set_layout(&mut self, blocks: &[Block]) -> Result<()> {
        if !self.nu.is_empty() && self.nu.len() != blocks.len() {
            return Err(Error::Dimension {
                field: "novograd.layout".into(),
                expected: self.nu.len(),
                got: blocks.len(),
            });
        }
        self.layers.set("novograd", blocks, self.mu.len())
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("novograd", params.len(), grads.len())?;
        let n = params.len();
        let blocks = self.layers.ranges("novograd", n)?;
        ensure("novograd", &mut self.mu, n, T::ZERO)?;
        if self.nu.is_empty() {
            self.nu.resize(blocks.len(), T::ZERO);
        } else if self.nu.len() != blocks.len() {
            return Err(Error::Dimension {
                field: "novograd.nu".into(),
                expected: self.nu.len(),
                got: blocks.len(),
            });
        }
        let first = self.t == 0;
        let lr = T::from_f64(self.learning_rate.rate(self.t)?);
        let (b1, b2, omb2) =
            (T::from_f64(self.beta1), T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let (eps, eps_root, wd) =
            (T::from_f64(self.eps), T::from_f64(self.eps_root), T::from_f64(self.weight_decay));
        let decay = self.weight_decay != 0.0;
        let pre = self.transforms.with_decay(0.0).prepare(grads);
        // Per block: the gradient's norm (summed over fixed chunks, so the same bits on any number
        // of threads), then the step, each split across threads when the block is large.
        for (b, range) in blocks.into_iter().enumerate() {
            let (p, g, m) = (&mut params[range.clone()], &grads[range.clone()], &mut self.mu[range]);
            let [gg] = parallel::sum_chunks2(p, g, |p, g| {
                let mut gg = 0.0;
                for (&p, &g) in p.iter().zip(g) {
                    let u = pre.apply(g, p).to_f64();
                    gg += u * u;
                }
                [gg]
            });
            let gn = T::from_f64(gg.sqrt());
            let g2 = gn * gn;
            let v = if first { g2 } else { omb2 * g2 + b2 * self.nu[b] };
            self.nu[b] = v;
            let denom = (v + eps_root).sqrt() + eps;
            parallel::for_chunks3(p, g, m, |p, g, m| {
                for i in 0..p.len() {
                    let mut u = pre.apply(g[i], p[i]) / denom;
                    if decay {
                        u += wd * p[i];
                    }
                    let mi = if first { u } else { b1 * m[i] + u };
                    m[i] = mi;
                    p[i] -= lr * mi;
                }
            });
        }
        self.t += 1;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state(&self) -> OptimizerState<T> {
        super::save("novograd", self.t, &[("mu", &self.mu), ("nu", &self.nu)])
    }

    /// `nu` has one entry per block, so it is checked apart from `mu`.
    fn load_state(&mut self, mut state: OptimizerState<T>) -> Result<()> {
        let nu = state.buffers.iter().position(|(name, _)| name == "nu").map(|i| state.buffers.remove(i).1);
        self.t = super::restore("novograd", state, &mut [("mu", &mut self.mu)])?;
        self.nu = nu.unwrap_or_default();
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.mu.clear();
        self.nu.clear();
    }
}
