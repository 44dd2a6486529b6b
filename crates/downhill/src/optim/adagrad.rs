use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, learning_rate, lr_value, BuildOptions, GradientTransforms, Optimizer,
    OptimizerState, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

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
pub struct AdaGrad<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Harmonic decay of the rate, `>= 0`.
    pub lr_decay: f64,
    /// Added to `sqrt(s)`, `> 0`.
    pub eps: f64,
    /// Starting value of the accumulator, `>= 0`.
    pub initial_accumulator_value: f64,
    /// Clipping and coupled weight decay.
    pub transforms: GradientTransforms,
    t: u64,
    sum: Vec<T>,
}

impl<T: Real> AdaGrad<T> {
    /// PyTorch's defaults with the given rate.
    pub fn new(lr: f64) -> Self {
        AdaGrad {
            learning_rate: Schedule::constant(lr),
            lr_decay: 0.0,
            eps: 1e-10,
            initial_accumulator_value: 0.0,
            transforms: GradientTransforms::default(),
            t: 0,
            sum: Vec::new(),
        }
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let mut a = AdaGrad::<T>::new(0.0);
    a.learning_rate = learning_rate(p, 1e-2, o)?;
    a.lr_decay = p.number("lr_decay", 0.0, Range::NonNegative)?;
    a.eps = p.number("eps", 1e-10, Range::Positive)?;
    a.initial_accumulator_value = p.number("initial_accumulator_value", 0.0, Range::NonNegative)?;
    a.transforms = GradientTransforms::from_params(p)?;
    a.transforms.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    Ok(Box::new(a))
}

impl<T: Real> Optimizer<T> for AdaGrad<T> {
    fn name(&self) -> &'static str {
        "adagrad"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("lr_decay", self.lr_decay.into()),
            ("eps", self.eps.into()),
            ("initial_accumulator_value", self.initial_accumulator_value.into()),
            ("weight_decay", self.transforms.weight_decay.into()),
        ];
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
        let pre = self.transforms.prepare(grads);
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
