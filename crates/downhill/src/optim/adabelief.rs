use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Prepared, Value,
};
use crate::batch::{BatchKind, Batchable};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
    /// Gradients", NeurIPS 2020), as optax's `adabelief` (`scale_by_belief`, then
    /// `add_decayed_weights`, then the learning rate), `t` counted from 1:
    ///
    /// ```text
    /// m     <- (1 - beta1) * g + beta1 * m
    /// s     <- (1 - beta2) * (g - m)^2 + beta2 * s + eps_root
    /// u      = (m / (1 - beta1^t)) / (sqrt(s / (1 - beta2^t)) + eps)
    /// theta <- theta - lr_t * (u + weight_decay * theta)
    /// ```
    ///
    /// The second moment is of the gradient's deviation from its prediction `m` (the "belief"),
    /// where Adam has the gradient itself. `eps_root` enters the saved state, as in optax. Defaults
    /// (optax): `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-16`, `eps_root = 1e-16`,
    /// `weight_decay = 0` (decoupled, multiplied by the rate as in optax and PyTorch's AdamW); optax
    /// has no default rate, downhill uses the paper's `lr = 1e-3`. The paper's own epsilons are
    /// `eps = 1e-8`, `eps_root = 0`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct AdaBelief<T>, "adabelief", builder AdaBeliefBuilder {
        /// Learning rate (a schedule of the step; optax has no default, this is the paper's).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "optax b1";
        /// Decay of the belief `(g - m)^2`.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "optax b2";
        /// Added to `sqrt(s_hat)`.
        eps: f64 = 1e-16, in Range::Positive;
        /// Added to `s` each step.
        eps_root: f64 = 1e-16, in Range::NonNegative;
        /// Decoupled weight decay, times lr.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        mu: Vec<T>,
        nu: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(AdaBelief::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for AdaBelief<T> {
    fn name(&self) -> &'static str {
        "adabelief"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn batchable(&self) -> Option<Batchable> {
        let b = Batchable::new(
            BatchKind::AdaBelief,
            &self.learning_rate,
            self.beta1,
            self.beta2,
            self.eps,
            self.weight_decay,
        );
        self.transforms.is_identity().then(|| b.map(|b| b.eps_root(self.eps_root)))?
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("adabelief", params.len(), grads.len())?;
        let n = params.len();
        ensure("adabelief", &mut self.mu, n, T::ZERO)?;
        ensure("adabelief", &mut self.nu, n, T::ZERO)?;
        let t = self.t + 1;
        let c = Coeffs {
            lr: T::from_f64(self.learning_rate.rate(self.t)?),
            b1: T::from_f64(self.beta1),
            omb1: T::from_f64(1.0 - self.beta1),
            b2: T::from_f64(self.beta2),
            omb2: T::from_f64(1.0 - self.beta2),
            bc1: T::from_f64(super::bias_correction(self.beta1, t as f64)),
            bc2: T::from_f64(super::bias_correction(self.beta2, t as f64)),
            eps: T::from_f64(self.eps),
            eps_root: T::from_f64(self.eps_root),
            wd: T::from_f64(self.weight_decay),
        };
        let decay = self.weight_decay != 0.0;
        let pre = self.transforms.with_decay(0.0).prepare(grads);
        super::parallel::for_chunks4(params, grads, &mut self.mu, &mut self.nu, |p, g, m, s| {
            dispatch(p, g, m, s, &c, &pre, decay)
        });
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &AdaBelief<T>| "adabelief"; mu, nu);
}

#[derive(Clone, Copy)]
struct Coeffs<T> {
    lr: T,
    b1: T,
    omb1: T,
    b2: T,
    omb2: T,
    bc1: T,
    bc2: T,
    eps: T,
    eps_root: T,
    wd: T,
}

super::avx2_dispatch! {
    /// The AdaBelief step over a chunk.
    fn dispatch(p: &mut [T], g: &[T], m: &mut [T], s: &mut [T], c: &Coeffs<T>, pre: &Prepared<T>, decay: bool) => {
        match (pre.is_identity(), decay) {
            (true, false) => kernel::<T, false, false>(p, g, m, s, c, pre),
            (true, true) => kernel::<T, false, true>(p, g, m, s, c, pre),
            (false, false) => kernel::<T, true, false>(p, g, m, s, c, pre),
            (false, true) => kernel::<T, true, true>(p, g, m, s, c, pre),
        }
    }
}

/// One pass reading p, g, m, s and writing p, m, s, in optax's operation order.
#[inline(always)]
fn kernel<T: Real, const PRE: bool, const DECAY: bool>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    s: &mut [T],
    c: &Coeffs<T>,
    pre: &Prepared<T>,
) {
    let n = p.len();
    let (g, m, s) = (&g[..n], &mut m[..n], &mut s[..n]);
    for i in 0..n {
        let gi = if PRE { pre.apply(g[i], p[i]) } else { g[i] };
        let mi = c.omb1 * gi + c.b1 * m[i];
        let e = gi - mi;
        let si = c.omb2 * (e * e) + c.b2 * s[i] + c.eps_root;
        m[i] = mi;
        s[i] = si;
        let mut u = (mi / c.bc1) / ((si / c.bc2).sqrt() + c.eps);
        if DECAY {
            u += c.wd * p[i];
        }
        p[i] -= c.lr * u;
    }
}
