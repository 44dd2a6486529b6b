use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, learning_rate, lr_value, BuildOptions, GradientTransforms, Optimizer,
    OptimizerState, Value,
};
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
/// Defaults are PyTorch's: `lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`, `momentum = 0`,
/// `centered = false`. The seed calls the decay `beta` and says it is "typically 0.999"; PyTorch,
/// Keras and Hinton's lecture use 0.99 (0.9 in the lecture's slides). `beta` is accepted as an alias of
/// `alpha`. The division is done before multiplying by `lr`, as in PyTorch's `addcdiv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RmsProp<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Decay of the squared-gradient average, in `[0, 1)`.
    pub alpha: f64,
    /// Denominator guard, `> 0`.
    pub eps: f64,
    /// Where `eps` goes.
    pub eps_mode: EpsPlacement,
    /// Momentum on the normalized gradient, in `[0, 1)`.
    pub momentum: f64,
    /// Subtract the squared mean gradient (variance instead of second moment).
    pub centered: bool,
    /// Clipping and coupled weight decay.
    pub transforms: GradientTransforms,
    t: u64,
    square_avg: Vec<T>,
    grad_avg: Vec<T>,
    momentum_buffer: Vec<T>,
}

impl<T: Real> RmsProp<T> {
    /// PyTorch's defaults with a given rate.
    pub fn new(lr: f64) -> Self {
        RmsProp {
            learning_rate: Schedule::constant(lr),
            alpha: 0.99,
            eps: 1e-8,
            eps_mode: EpsPlacement::Outside,
            momentum: 0.0,
            centered: false,
            transforms: GradientTransforms::default(),
            t: 0,
            square_avg: Vec::new(),
            grad_avg: Vec::new(),
            momentum_buffer: Vec::new(),
        }
    }

    /// The running average of squared gradients `s`.
    pub fn square_avg(&self) -> &[T] {
        &self.square_avg
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let mut r = RmsProp::<T>::new(0.0);
    r.learning_rate = learning_rate(p, 1e-2, o)?;
    r.alpha = p.number_aliased("alpha", &["beta"], 0.99, Range::UnitHalfOpen)?;
    r.eps = p.number("eps", 1e-8, Range::Positive)?;
    r.eps_mode = match p.choice("eps_mode", &["outside", "inside"], "outside")? {
        "inside" => EpsPlacement::Inside,
        _ => EpsPlacement::Outside,
    };
    r.momentum = p.number("momentum", 0.0, Range::UnitHalfOpen)?;
    r.centered = p.flag("centered", false)?;
    r.transforms = GradientTransforms::from_params(p)?;
    r.transforms.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    Ok(Box::new(r))
}

impl<T: Real> Optimizer<T> for RmsProp<T> {
    fn name(&self) -> &'static str {
        "rmsprop"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("alpha", self.alpha.into()),
            ("eps", self.eps.into()),
            ("eps_mode", if self.eps_mode == EpsPlacement::Inside { "inside" } else { "outside" }.into()),
            ("momentum", self.momentum.into()),
            ("centered", self.centered.into()),
            ("weight_decay", self.transforms.weight_decay.into()),
        ];
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
        let pre = self.transforms.prepare(grads);
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
