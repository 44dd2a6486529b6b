use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// AdaGrad (Duchi, Hazan & Singer, JMLR 2011), as `torch.optim.Adagrad`:
    ///
    /// ```text
    /// clr   <- lr_t / (1 + t * lr_decay)        (t = updates already applied)
    /// s     <- s + g^2                           (s starts at initial_accumulator_value)
    /// theta <- theta - clr * (g / (sqrt(s) + eps))
    /// ```
    ///
    /// Defaults (PyTorch): `lr = 1e-2`, `lr_decay = 0`, `eps = 1e-10`, `initial_accumulator_value = 0`,
    /// `weight_decay = 0` (coupled L2).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct AdaGrad<T>, "adagrad", builder AdaGradBuilder {
        /// Learning rate (a schedule of the step), divided by `1 + t * lr_decay`.
        learning_rate: Schedule = 1e-2, in Range::Positive;
        /// Decay of the rate with the step count.
        lr_decay: f64 = 0.0, in Range::NonNegative;
        /// Denominator guard.
        eps: f64 = 1e-10, in Range::Positive;
        /// The accumulator's starting value.
        initial_accumulator_value: f64 = 0.0, in Range::NonNegative;
        /// Coupled L2 weight decay, `g + weight_decay * theta`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        sum: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(AdaGrad::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for AdaGrad<T> {
    fn name(&self) -> &'static str {
        "adagrad"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t) / (1.0 + self.t as f64 * self.lr_decay)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("adagrad", params.len(), grads.len())?;
        ensure("adagrad", &mut self.sum, params.len(), T::from_f64(self.initial_accumulator_value))?;
        let clr = T::from_f64(self.learning_rate.rate(self.t)? / (1.0 + self.t as f64 * self.lr_decay));
        let eps = T::from_f64(self.eps);
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        super::parallel::for_chunks3(params, grads, &mut self.sum, |params, grads, sums| {
            if pre.is_identity() {
                // The common case, with no per-element branches.
                plain(params, grads, sums, clr, eps)
            } else {
                for ((p, &g), s) in params.iter_mut().zip(grads).zip(sums.iter_mut()) {
                    let g = pre.apply(g, *p);
                    *s += g * g;
                    *p -= clr * (g / (s.sqrt() + eps));
                }
            }
        });
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &AdaGrad<T>| "adagrad"; sum);
}

super::avx2_dispatch! {
    /// The AdaGrad step without gradient transforms over a chunk.
    fn plain(params: &mut [T], grads: &[T], sums: &mut [T], clr: T, eps: T) => plain_kernel(params, grads, sums, clr, eps)
}

#[inline(always)]
fn plain_kernel<T: Real>(params: &mut [T], grads: &[T], sums: &mut [T], clr: T, eps: T) {
    for ((p, &g), s) in params.iter_mut().zip(grads).zip(sums.iter_mut()) {
        *s += g * g;
        *p -= clr * (g / (s.sqrt() + eps));
    }
}
