use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, learning_rate, lr_value, BuildOptions, GradientTransforms, Optimizer,
    OptimizerState, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023), as the paper's
/// reference PyTorch code:
///
/// ```text
/// theta <- theta * (1 - lr_t * weight_decay)
/// theta <- theta - lr_t * sign(beta1 * m + (1 - beta1) * g)
/// m     <- beta2 * m + (1 - beta2) * g
/// ```
///
/// `sign(0) = 0`, as `torch.sign`. Defaults are the reference code's: `lr = 1e-4`, `beta1 = 0.9`,
/// `beta2 = 0.99`, `weight_decay = 0` (decoupled).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lion<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Interpolation for the update direction, in `[0, 1)`.
    pub beta1: f64,
    /// Decay of the momentum, in `[0, 1)`.
    pub beta2: f64,
    /// Decoupled weight decay, `>= 0`.
    pub weight_decay: f64,
    /// Clipping (its `weight_decay` is not used).
    pub transforms: GradientTransforms,
    t: u64,
    m: Vec<T>,
}

impl<T: Real> Lion<T> {
    /// The reference defaults with the given rate.
    pub fn new(lr: f64) -> Self {
        Lion {
            learning_rate: Schedule::constant(lr),
            beta1: 0.9,
            beta2: 0.99,
            weight_decay: 0.0,
            transforms: GradientTransforms::default(),
            t: 0,
            m: Vec::new(),
        }
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let mut l = Lion::<T>::new(0.0);
    l.learning_rate = learning_rate(p, 1e-4, o)?;
    l.beta1 = p.number("beta1", 0.9, Range::UnitHalfOpen)?;
    l.beta2 = p.number("beta2", 0.99, Range::UnitHalfOpen)?;
    l.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    l.transforms = GradientTransforms::from_params(p)?;
    Ok(Box::new(l))
}

impl<T: Real> Optimizer<T> for Lion<T> {
    fn name(&self) -> &'static str {
        "lion"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("beta1", self.beta1.into()),
            ("beta2", self.beta2.into()),
            ("weight_decay", self.weight_decay.into()),
        ];
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("lion", params.len(), grads.len())?;
        ensure("lion", &mut self.m, params.len(), T::ZERO)?;
        let lr_f = self.learning_rate.rate(self.t)?;
        let lr = T::from_f64(lr_f);
        let decay = (self.weight_decay != 0.0).then(|| T::from_f64(1.0 - lr_f * self.weight_decay));
        let (b1, omb1) = (T::from_f64(self.beta1), T::from_f64(1.0 - self.beta1));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let pre = GradientTransforms { weight_decay: 0.0, ..self.transforms.clone() }.prepare(grads);
        let d = decay.unwrap_or(T::ONE);
        super::parallel::for_chunks3(params, grads, &mut self.m, |params, grads, ms| {
            if pre.is_identity() {
                // The common case, with no per-element branches; multiplying by d = 1 is exact.
                for ((p, &g), m) in params.iter_mut().zip(grads).zip(ms.iter_mut()) {
                    *p *= d;
                    let c = b1 * *m + omb1 * g;
                    *p -= lr * c.sign();
                    *m = b2 * *m + omb2 * g;
                }
                return;
            }
            for ((p, &g), m) in params.iter_mut().zip(grads).zip(ms.iter_mut()) {
                let g = pre.apply(g, *p);
                if let Some(d) = decay {
                    *p *= d;
                }
                let c = b1 * *m + omb1 * g;
                *p -= lr * c.sign();
                *m = b2 * *m + omb2 * g;
            }
        });
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Lion<T>| "lion"; m);
}
