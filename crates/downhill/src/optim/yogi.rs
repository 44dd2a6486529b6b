use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, learning_rate, BuildOptions, GradientTransforms, Optimizer, OptimizerState,
    Prepared, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

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
pub struct Yogi<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// First-moment decay in `[0, 1)`.
    pub beta1: f64,
    /// Second-moment rate in `[0, 1)`.
    pub beta2: f64,
    /// Added to the root, `> 0`.
    pub eps: f64,
    /// Added inside the root, `>= 0`.
    pub eps_root: f64,
    /// Starting value of both moments, `>= 0`.
    pub initial_accumulator_value: f64,
    /// Clipping.
    pub transforms: GradientTransforms,
    t: u64,
    mu: Vec<T>,
    nu: Vec<T>,
}

impl<T: Real> Yogi<T> {
    /// optax's defaults with the given rate.
    pub fn new(lr: f64) -> Self {
        Yogi {
            learning_rate: Schedule::constant(lr),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-3,
            eps_root: 0.0,
            initial_accumulator_value: 1e-6,
            transforms: GradientTransforms::default(),
            t: 0,
            mu: Vec::new(),
            nu: Vec::new(),
        }
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let mut a = Yogi::<T>::new(0.0);
    a.learning_rate = learning_rate(p, 1e-2, o)?;
    a.beta1 = p.number("beta1", 0.9, Range::UnitHalfOpen)?;
    a.beta2 = p.number("beta2", 0.999, Range::UnitHalfOpen)?;
    a.eps = p.number("eps", 1e-3, Range::Positive)?;
    a.eps_root = p.number("eps_root", 0.0, Range::NonNegative)?;
    a.initial_accumulator_value =
        p.number_aliased("initial_accumulator_value", &["initial_accumulator"], 1e-6, Range::NonNegative)?;
    a.transforms = GradientTransforms::from_params(p)?;
    Ok(Box::new(a))
}

impl<T: Real> Optimizer<T> for Yogi<T> {
    fn name(&self) -> &'static str {
        "yogi"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = super::moment_report(&self.learning_rate, self.beta1, self.beta2, self.eps);
        h.extend([
            ("eps_root", self.eps_root.into()),
            ("initial_accumulator_value", self.initial_accumulator_value.into()),
        ]);
        self.transforms.describe(&mut h);
        h
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
