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
    /// Adadelta (Zeiler, "ADADELTA: An Adaptive Learning Rate Method", 2012), as
    /// `torch.optim.Adadelta` (its single-tensor CPU path, in its operation order):
    ///
    /// ```text
    /// g     <- g + weight_decay * theta                  (coupled L2, as PyTorch)
    /// s     <- rho * s + (1 - rho) * g^2
    /// delta  = sqrt(a + eps) / sqrt(s + eps) * g
    /// a     <- rho * a + (1 - rho) * delta^2
    /// theta <- theta - lr_t * delta
    /// ```
    ///
    /// The paper has no learning rate (PyTorch's `lr = 1` is the paper's method). Defaults (PyTorch):
    /// `lr = 1`, `rho = 0.9`, `eps = 1e-6`, `weight_decay = 0`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Adadelta<T>, "adadelta", builder AdadeltaBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1.0, in Range::Positive;
        /// Decay of both running averages.
        rho: f64 = 0.9, in Range::Unit;
        /// Added inside both square roots.
        eps: f64 = 1e-6, in Range::Positive;
        /// Coupled L2 weight decay, `g + weight_decay * theta`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        square_avg: Vec<T>,
        acc_delta: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Adadelta::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Adadelta<T> {
    fn name(&self) -> &'static str {
        "adadelta"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn batchable(&self) -> Option<Batchable> {
        let plain = self.weight_decay == 0.0 && self.transforms.is_identity();
        plain
            .then(|| Batchable::new(BatchKind::Adadelta, &self.learning_rate, self.rho, 0.0, self.eps, 0.0))?
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("adadelta", params.len(), grads.len())?;
        let n = params.len();
        ensure("adadelta", &mut self.square_avg, n, T::ZERO)?;
        ensure("adadelta", &mut self.acc_delta, n, T::ZERO)?;
        let c = Coeffs {
            lr: T::from_f64(self.learning_rate.rate(self.t)?),
            rho: T::from_f64(self.rho),
            omr: T::from_f64(1.0 - self.rho),
            eps: T::from_f64(self.eps),
        };
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        super::parallel::for_chunks4(
            params,
            grads,
            &mut self.square_avg,
            &mut self.acc_delta,
            |p, g, s, a| dispatch(p, g, s, a, &c, &pre),
        );
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Adadelta<T>| "adadelta"; square_avg, acc_delta);
}

#[derive(Clone, Copy)]
struct Coeffs<T> {
    lr: T,
    rho: T,
    omr: T,
    eps: T,
}

super::avx2_dispatch! {
    /// The Adadelta step over a chunk.
    fn dispatch(p: &mut [T], g: &[T], s: &mut [T], a: &mut [T], c: &Coeffs<T>, pre: &Prepared<T>) => {
        if pre.is_identity() {
            kernel::<T, false>(p, g, s, a, c, pre)
        } else {
            kernel::<T, true>(p, g, s, a, c, pre)
        }
    }
}

/// One pass reading p, g, s, a and writing p, s, a. `addcmul`'s `value * t1 * t2` is evaluated
/// left to right, as PyTorch's CPU kernel does.
#[inline(always)]
fn kernel<T: Real, const PRE: bool>(
    p: &mut [T],
    g: &[T],
    s: &mut [T],
    a: &mut [T],
    c: &Coeffs<T>,
    pre: &Prepared<T>,
) {
    let n = p.len();
    let (g, s, a) = (&g[..n], &mut s[..n], &mut a[..n]);
    for i in 0..n {
        let gi = if PRE { pre.apply(g[i], p[i]) } else { g[i] };
        let si = s[i] * c.rho + c.omr * gi * gi;
        let delta = (a[i] + c.eps).sqrt() / (si + c.eps).sqrt() * gi;
        s[i] = si;
        a[i] = a[i] * c.rho + c.omr * delta * delta;
        p[i] -= c.lr * delta;
    }
}
