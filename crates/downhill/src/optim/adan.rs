use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Prepared, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Adan, adaptive Nesterov momentum (Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for
    /// Faster Optimizing Deep Models", 2022, Algorithm 1), as optax's `adan` (`scale_by_adan`, then
    /// `add_decayed_weights`, then the learning rate), `t` counted from 1, `d = g - g_prev` (0 at the
    /// first step):
    ///
    /// ```text
    /// m     <- (1 - beta1) * g + beta1 * m
    /// v     <- (1 - beta2) * d + beta2 * v
    /// n     <- (1 - beta3) * (g + (1 - beta2) * d)^2 + beta3 * n
    /// u      = (m / (1 - beta1^t) + (1 - beta2) * v / (1 - beta2^t)) / (sqrt(n / (1 - beta3^t) + eps_root) + eps)
    /// theta <- theta - lr_t * (u + weight_decay * theta)
    /// ```
    ///
    /// The betas are optax's: the weight of the old average (the paper writes `1 - beta`). optax
    /// decays the weights as above (decoupled, times the rate), not with the paper's proximal
    /// `theta / (1 + lr * weight_decay)`. Defaults (optax): `beta1 = 0.98`, `beta2 = 0.92`,
    /// `beta3 = 0.99`, `eps = 1e-8`, `eps_root = 1e-8`, `weight_decay = 0`; optax has no default
    /// rate, downhill uses the reference code's `lr = 1e-3`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Adan<T>, "adan", builder AdanBuilder {
        /// Learning rate (a schedule of the step; optax has no default).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// Decay of the gradient average `m`.
        beta1: f64 = 0.98, in Range::UnitHalfOpen, ref "optax b1";
        /// Decay of the gradient-difference average `v`.
        beta2: f64 = 0.92, in Range::UnitHalfOpen, ref "optax b2";
        /// Decay of the second moment `n`.
        beta3: f64 = 0.99, in Range::UnitHalfOpen, ref "optax b3";
        /// Added to `sqrt(n + eps_root)`.
        eps: f64 = 1e-8, in Range::Positive;
        /// Added to `n` inside the square root.
        eps_root: f64 = 1e-8, in Range::NonNegative;
        /// Decoupled weight decay.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        m: Vec<T>,
        v: Vec<T>,
        n: Vec<T>,
        prev: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Adan::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Adan<T> {
    fn name(&self) -> &'static str {
        "adan"
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
        check_lengths("adan", params.len(), grads.len())?;
        let len = params.len();
        for buf in [&mut self.m, &mut self.v, &mut self.n, &mut self.prev] {
            ensure("adan", buf, len, T::ZERO)?;
        }
        let t = self.t + 1;
        let c = Coeffs {
            lr: T::from_f64(self.learning_rate.rate(self.t)?),
            b1: T::from_f64(self.beta1),
            omb1: T::from_f64(1.0 - self.beta1),
            b2: T::from_f64(self.beta2),
            omb2: T::from_f64(1.0 - self.beta2),
            b3: T::from_f64(self.beta3),
            omb3: T::from_f64(1.0 - self.beta3),
            bc1: T::from_f64(super::bias_correction(self.beta1, t as f64)),
            bc2: T::from_f64(super::bias_correction(self.beta2, t as f64)),
            bc3: T::from_f64(super::bias_correction(self.beta3, t as f64)),
            eps: T::from_f64(self.eps),
            eps_root: T::from_f64(self.eps_root),
            wd: T::from_f64(self.weight_decay),
            first: self.t == 0,
        };
        let decay = self.weight_decay != 0.0;
        let pre = self.transforms.with_decay(0.0).prepare(grads);
        let state = [&mut self.m[..], &mut self.v[..], &mut self.n[..], &mut self.prev[..]];
        super::parallel::for_chunks6(params, grads, state, |p, g, [m, v, n, prev]| {
            dispatch(p, g, m, v, n, prev, &c, &pre, decay)
        });
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &Adan<T>| "adan"; m, v, n, prev);
}

#[derive(Clone, Copy)]
struct Coeffs<T> {
    lr: T,
    b1: T,
    omb1: T,
    b2: T,
    omb2: T,
    b3: T,
    omb3: T,
    bc1: T,
    bc2: T,
    bc3: T,
    eps: T,
    eps_root: T,
    wd: T,
    /// The first step, where the gradient difference is 0.
    first: bool,
}

super::avx2_dispatch! {
    /// The Adan step over a chunk.
    fn dispatch(
        p: &mut [T],
        g: &[T],
        m: &mut [T],
        v: &mut [T],
        n: &mut [T],
        prev: &mut [T],
        c: &Coeffs<T>,
        pre: &Prepared<T>,
        decay: bool,
    ) => {
        match (pre.is_identity(), decay) {
            (true, false) => kernel::<T, false, false>(p, g, m, v, n, prev, c, pre),
            (true, true) => kernel::<T, false, true>(p, g, m, v, n, prev, c, pre),
            (false, false) => kernel::<T, true, false>(p, g, m, v, n, prev, c, pre),
            (false, true) => kernel::<T, true, true>(p, g, m, v, n, prev, c, pre),
        }
    }
}

/// One pass reading p, g, m, v, n, prev and writing all but g, in optax's operation order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn kernel<T: Real, const PRE: bool, const DECAY: bool>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    n: &mut [T],
    prev: &mut [T],
    c: &Coeffs<T>,
    pre: &Prepared<T>,
) {
    let len = p.len();
    let (g, m, v, n, prev) = (&g[..len], &mut m[..len], &mut v[..len], &mut n[..len], &mut prev[..len]);
    for i in 0..len {
        let gi = if PRE { pre.apply(g[i], p[i]) } else { g[i] };
        let d = if c.first { T::ZERO } else { gi - prev[i] };
        let mi = c.omb1 * gi + c.b1 * m[i];
        let vi = c.omb2 * d + c.b2 * v[i];
        let sq = gi + c.omb2 * d;
        let ni = c.omb3 * (sq * sq) + c.b3 * n[i];
        m[i] = mi;
        v[i] = vi;
        n[i] = ni;
        prev[i] = gi;
        let mut u = (mi / c.bc1 + c.omb2 * (vi / c.bc2)) / ((ni / c.bc3 + c.eps_root).sqrt() + c.eps);
        if DECAY {
            u += c.wd * p[i];
        }
        p[i] -= c.lr * u;
    }
}
