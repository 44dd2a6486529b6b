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
    /// Adamax (Kingma & Ba, ICLR 2015, section 7.1: Adam with the infinity norm), as
    /// `torch.optim.Adamax` (its single-tensor CPU path), `t` counted from 1:
    ///
    /// ```text
    /// g     <- g + weight_decay * theta                  (coupled L2, as PyTorch)
    /// m     <- m + (1 - beta1) * (g - m)                 (torch's lerp_, = beta1 m + (1 - beta1) g)
    /// u     <- max(beta2 * u, |g| + eps)
    /// theta <- theta - (lr_t / (1 - beta1^t)) * (m / u)
    /// ```
    ///
    /// `eps` sits inside the maximum, as PyTorch puts it (the paper has none). Defaults (PyTorch):
    /// `lr = 2e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`, `weight_decay = 0`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Adamax<T>, "adamax", builder AdamaxBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 2e-3, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "PyTorch betas[0]";
        /// Decay of the infinity norm.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "PyTorch betas[1]";
        /// Added to `abs(g)`.
        eps: f64 = 1e-8, in Range::Positive;
        /// Coupled L2 weight decay, `g + weight_decay * theta`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        exp_avg: Vec<T>,
        exp_inf: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Adamax::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Adamax<T> {
    fn name(&self) -> &'static str {
        "adamax"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn batchable(&self) -> Option<Batchable> {
        let plain = self.weight_decay == 0.0 && self.transforms.is_identity();
        plain.then(|| {
            Batchable::new(BatchKind::Adamax, &self.learning_rate, self.beta1, self.beta2, self.eps, 0.0)
        })?
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("adamax", params.len(), grads.len())?;
        let n = params.len();
        ensure("adamax", &mut self.exp_avg, n, T::ZERO)?;
        ensure("adamax", &mut self.exp_inf, n, T::ZERO)?;
        let t = self.t + 1;
        let lr = self.learning_rate.rate(self.t)?;
        let c = Coeffs {
            omb1: T::from_f64(1.0 - self.beta1),
            b2: T::from_f64(self.beta2),
            eps: T::from_f64(self.eps),
            clr: T::from_f64(lr / super::bias_correction(self.beta1, t as f64)),
        };
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        super::parallel::for_chunks4(params, grads, &mut self.exp_avg, &mut self.exp_inf, |p, g, m, u| {
            dispatch(p, g, m, u, &c, &pre)
        });
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &Adamax<T>| "adamax"; exp_avg, exp_inf);
}

#[derive(Clone, Copy)]
struct Coeffs<T> {
    omb1: T,
    b2: T,
    eps: T,
    clr: T,
}

super::avx2_dispatch! {
    /// The Adamax step over a chunk.
    fn dispatch(p: &mut [T], g: &[T], m: &mut [T], u: &mut [T], c: &Coeffs<T>, pre: &Prepared<T>) => {
        if pre.is_identity() {
            kernel::<T, false>(p, g, m, u, c, pre)
        } else {
            kernel::<T, true>(p, g, m, u, c, pre)
        }
    }
}

/// One pass reading p, g, m, u and writing p, m, u.
#[inline(always)]
fn kernel<T: Real, const PRE: bool>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    u: &mut [T],
    c: &Coeffs<T>,
    pre: &Prepared<T>,
) {
    let n = p.len();
    let (g, m, u) = (&g[..n], &mut m[..n], &mut u[..n]);
    for i in 0..n {
        let gi = if PRE { pre.apply(g[i], p[i]) } else { g[i] };
        let mi = m[i] + c.omb1 * (gi - m[i]);
        let ui = (c.b2 * u[i]).max(gi.abs() + c.eps);
        m[i] = mi;
        u[i] = ui;
        p[i] -= c.clr * (mi / ui);
    }
}
