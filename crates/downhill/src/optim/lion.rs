use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
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
    pub struct Lion<T>, "lion", builder LionBuilder {
        /// Learning rate (a schedule of the step); the Lion paper's default.
        learning_rate: Schedule = 1e-4, in Range::Positive;
        /// Interpolation between momentum and gradient for the sign.
        beta1: f64 = 0.9, in Range::UnitHalfOpen;
        /// Momentum decay.
        beta2: f64 = 0.99, in Range::UnitHalfOpen;
        /// Decoupled weight decay, `theta *= 1 - lr * weight_decay`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        m: Vec<T>,
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Lion::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Lion<T> {
    fn name(&self) -> &'static str {
        "lion"
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
        check_lengths("lion", params.len(), grads.len())?;
        ensure("lion", &mut self.m, params.len(), T::ZERO)?;
        let lr_f = self.learning_rate.rate(self.t)?;
        let lr = T::from_f64(lr_f);
        let decay = (self.weight_decay != 0.0).then(|| T::from_f64(1.0 - lr_f * self.weight_decay));
        let (b1, omb1) = (T::from_f64(self.beta1), T::from_f64(1.0 - self.beta1));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let pre = self.transforms.with_decay(0.0).prepare(grads);
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
