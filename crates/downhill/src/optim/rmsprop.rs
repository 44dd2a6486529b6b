use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// Where epsilon enters a root-mean-square denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpsPlacement {
    /// `sqrt(s) + eps`: the seed article, PyTorch, Keras.
    Outside,
    /// `sqrt(s + eps)`: optax's `rmsprop` / `scale_by_rms`.
    Inside,
}

super::declare::choice_value!(EpsPlacement { Outside = "outside", Inside = "inside" });

super::declare_optimizer! {
    /// RMSprop (Hinton 2012, lecture 6e), as the seed article writes it, with PyTorch's options:
    ///
    /// ```text
    /// s     <- alpha * s + (1 - alpha) * g^2
    /// avg   <- sqrt(s) + eps                    (eps_mode=inside: sqrt(s + eps))
    ///          centered: sqrt(s - a^2) + eps,   a <- alpha * a + (1 - alpha) * g
    /// theta <- theta - lr_t * (g / avg)          (momentum = 0)
    /// b     <- momentum * b + g / avg;  theta <- theta - lr_t * b   (momentum > 0)
    /// ```
    ///
    /// Defaults are PyTorch's. The seed calls the decay `beta` and says it is "typically 0.999"; PyTorch,
    /// Keras and Hinton's lecture use 0.99 (0.9 in the lecture's slides). `beta` is accepted as an alias of
    /// `alpha`. The division is done before multiplying by `lr`, as in PyTorch's `addcdiv`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RmsProp<T>, "rmsprop", builder RmsPropBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1e-2, in Range::Positive;
        /// Decay of the squared-gradient average (the seed's `beta`, "typically 0.999").
        alpha: f64 = 0.99, in Range::UnitHalfOpen, alias "beta";
        /// Denominator guard.
        eps: f64 = 1e-8, in Range::Positive;
        /// Where `eps` goes: `sqrt(s) + eps` (PyTorch) or `sqrt(s + eps)` (optax).
        eps_mode: EpsPlacement = EpsPlacement::Outside;
        /// Momentum on the normalized gradient.
        momentum: f64 = 0.0, in Range::UnitHalfOpen;
        /// Subtract the squared mean gradient (variance instead of second moment).
        centered: bool = false;
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
        grad_avg: Vec<T>,
        momentum_buffer: Vec<T>,
    }
}

impl<T: Real> RmsProp<T> {
    /// The running average of squared gradients `s`.
    pub fn square_avg(&self) -> &[T] {
        &self.square_avg
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(RmsProp::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for RmsProp<T> {
    fn name(&self) -> &'static str {
        "rmsprop"
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
        check_lengths("rmsprop", params.len(), grads.len())?;
        let n = params.len();
        ensure("rmsprop", &mut self.square_avg, n, T::ZERO)?;
        if self.centered {
            ensure("rmsprop", &mut self.grad_avg, n, T::ZERO)?;
        }
        if self.momentum > 0.0 {
            ensure("rmsprop", &mut self.momentum_buffer, n, T::ZERO)?;
        }
        let lr = T::from_f64(self.learning_rate.rate(self.t)?);
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        let (alpha, one_minus_alpha) = (T::from_f64(self.alpha), T::from_f64(1.0 - self.alpha));
        let eps = T::from_f64(self.eps);
        let mu = T::from_f64(self.momentum);
        let inside = self.eps_mode == EpsPlacement::Inside;
        let (centered, with_momentum) = (self.centered, self.momentum > 0.0);
        if !centered && !with_momentum && !inside && pre.is_identity() {
            // The default configuration: one branch-free pass, split across threads when large.
            super::parallel::for_chunks3(params, grads, &mut self.square_avg, |params, grads, sq| {
                plain(params, grads, sq, lr, alpha, one_minus_alpha, eps)
            });
            self.t += 1;
            return Ok(());
        }
        for i in 0..n {
            let g = pre.apply(grads[i], params[i]);
            let s = alpha * self.square_avg[i] + one_minus_alpha * (g * g);
            self.square_avg[i] = s;
            let mut var = s;
            if centered {
                let a = alpha * self.grad_avg[i] + one_minus_alpha * g;
                self.grad_avg[i] = a;
                var = s - a * a;
            }
            let avg = if inside { (var + eps).sqrt() } else { var.sqrt() + eps };
            if with_momentum {
                let b = mu * self.momentum_buffer[i] + g / avg;
                self.momentum_buffer[i] = b;
                params[i] -= lr * b;
            } else {
                params[i] -= lr * (g / avg);
            }
        }
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &RmsProp<T>| "rmsprop"; square_avg, grad_avg, momentum_buffer);
}

super::avx2_dispatch! {
    /// The default RMSprop step over a chunk.
    fn plain(params: &mut [T], grads: &[T], sq: &mut [T], lr: T, alpha: T, one_minus_alpha: T, eps: T) => plain_kernel(params, grads, sq, lr, alpha, one_minus_alpha, eps)
}

#[inline(always)]
fn plain_kernel<T: Real>(
    params: &mut [T],
    grads: &[T],
    sq: &mut [T],
    lr: T,
    alpha: T,
    one_minus_alpha: T,
    eps: T,
) {
    for ((p, &g), s) in params.iter_mut().zip(grads).zip(sq.iter_mut()) {
        let si = alpha * *s + one_minus_alpha * (g * g);
        *s = si;
        *p -= lr * (g / (si.sqrt() + eps));
    }
}
