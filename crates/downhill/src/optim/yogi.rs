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
    /// Yogi (Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018), as optax's
    /// `yogi` (`scale_by_yogi`, then the learning rate), `t` counted from 1:
    ///
    /// ```text
    /// m     <- (1 - beta1) * g + beta1 * m
    /// v     <- v - (1 - beta2) * sign(v - g^2) * g^2         (sign(0) = 0)
    /// theta <- theta - lr_t * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t) + eps_root) + eps)
    /// ```
    ///
    /// `v` moves towards `g^2` by at most `(1 - beta2) g^2`, additively, where Adam's moves
    /// multiplicatively, so the effective rate cannot jump up when gradients shrink. Both `m` and
    /// `v` start at `initial_accumulator_value`, as in optax. Defaults (optax): `beta1 = 0.9`,
    /// `beta2 = 0.999`, `eps = 1e-3`, `eps_root = 0`, `initial_accumulator_value = 1e-6`; optax has no
    /// default rate, downhill uses the paper's `lr = 1e-2`. optax's Yogi has no weight decay.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Yogi<T>, "yogi", builder YogiBuilder {
        /// Learning rate (a schedule of the step; optax has no default, this is the paper's).
        learning_rate: Schedule = 1e-2, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "optax b1";
        /// Second-moment decay.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "optax b2";
        /// Added to `sqrt(v_hat + eps_root)`.
        eps: f64 = 1e-3, in Range::Positive;
        /// Added to `v_hat` inside the square root.
        eps_root: f64 = 0.0, in Range::NonNegative;
        /// Starting value of `m` and `v`.
        initial_accumulator_value: f64 = 1e-6, in Range::NonNegative, alias "initial_accumulator", ref "optax initial_accumulator_value";
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
    Ok(Box::new(Yogi::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Yogi<T> {
    fn name(&self) -> &'static str {
        "yogi"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn batchable(&self) -> Option<Batchable> {
        let b = Batchable::new(BatchKind::Yogi, &self.learning_rate, self.beta1, self.beta2, self.eps, 0.0);
        let init = self.initial_accumulator_value;
        self.transforms.is_identity().then(|| b.map(|b| b.eps_root(self.eps_root).init(init, init)))?
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("yogi", params.len(), grads.len())?;
        let n = params.len();
        let init = T::from_f64(self.initial_accumulator_value);
        ensure("yogi", &mut self.mu, n, init)?;
        ensure("yogi", &mut self.nu, n, init)?;
        let t = self.t + 1;
        let c = Coeffs {
            lr: T::from_f64(self.learning_rate.rate(self.t)?),
            b1: T::from_f64(self.beta1),
            omb1: T::from_f64(1.0 - self.beta1),
            omb2: T::from_f64(1.0 - self.beta2),
            bc1: T::from_f64(super::bias_correction(self.beta1, t as f64)),
            bc2: T::from_f64(super::bias_correction(self.beta2, t as f64)),
            eps: T::from_f64(self.eps),
            eps_root: T::from_f64(self.eps_root),
        };
        let pre = self.transforms.prepare(grads);
        super::parallel::for_chunks4(params, grads, &mut self.mu, &mut self.nu, |p, g, m, v| {
            dispatch(p, g, m, v, &c, &pre)
        });
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &Yogi<T>| "yogi"; mu, nu);
}

#[derive(Clone, Copy)]
struct Coeffs<T> {
    lr: T,
    b1: T,
    omb1: T,
    omb2: T,
    bc1: T,
    bc2: T,
    eps: T,
    eps_root: T,
}

super::avx2_dispatch! {
    /// The Yogi step over a chunk.
    fn dispatch(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: &Coeffs<T>, pre: &Prepared<T>) => {
        if pre.is_identity() {
            kernel::<T, false>(p, g, m, v, c, pre)
        } else {
            kernel::<T, true>(p, g, m, v, c, pre)
        }
    }
}

/// One pass reading p, g, m, v and writing p, m, v, in optax's operation order.
#[inline(always)]
fn kernel<T: Real, const PRE: bool>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    c: &Coeffs<T>,
    pre: &Prepared<T>,
) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let gi = if PRE { pre.apply(g[i], p[i]) } else { g[i] };
        let g2 = gi * gi;
        let mi = c.omb1 * gi + c.b1 * m[i];
        let vi = v[i] - c.omb2 * (v[i] - g2).sign() * g2;
        m[i] = mi;
        v[i] = vi;
        p[i] -= c.lr * ((mi / c.bc1) / ((vi / c.bc2 + c.eps_root).sqrt() + c.eps));
    }
}
