use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// NAdam (Dozat, "Incorporating Nesterov Momentum into Adam", 2016), as `torch.optim.NAdam`:
    /// Adam whose step uses the Nesterov look-ahead of the first moment, with PyTorch's momentum
    /// schedule `mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))` (t from 1):
    ///
    /// ```text
    /// m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
    /// d  = sqrt(v / (1 - beta2^t)) + eps
    /// theta <- theta - lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) * g / d
    ///                - lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m / d
    /// ```
    ///
    /// Defaults (PyTorch): `lr = 2e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`,
    /// `momentum_decay = 4e-3`, `weight_decay = 0` (coupled L2).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct NAdam<T>, "nadam", builder NAdamBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 2e-3, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "PyTorch betas[0]";
        /// Second-moment decay.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "PyTorch betas[1]";
        /// Added to `sqrt(v_hat)`.
        eps: f64 = 1e-8, in Range::Positive;
        /// Speed of the momentum schedule `mu_t`.
        momentum_decay: f64 = 4e-3, in Range::NonNegative;
        /// Coupled L2 weight decay, `g + weight_decay * theta`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        m: Vec<T>,
        v: Vec<T>,
        #[serde(skip, default = "no_product")]
        mu_product: (u64, f64) = no_product(),
    }
}

fn no_product() -> (u64, f64) {
    (0, 1.0)
}

impl<T: Real> NAdam<T> {
    fn mu(&self, t: u64) -> f64 {
        self.beta1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * self.momentum_decay))
    }

    /// `prod_{i<=t} mu_i`, multiplied in the same order however the state was reached.
    fn product_to(&mut self, t: u64) -> f64 {
        if self.mu_product.0 > t {
            self.mu_product = no_product();
        }
        while self.mu_product.0 < t {
            let next = self.mu_product.0 + 1;
            self.mu_product = (next, self.mu_product.1 * self.mu(next));
        }
        self.mu_product.1
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(NAdam::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for NAdam<T> {
    fn name(&self) -> &'static str {
        "nadam"
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
        check_lengths("nadam", params.len(), grads.len())?;
        let n = params.len();
        ensure("nadam", &mut self.m, n, T::ZERO)?;
        ensure("nadam", &mut self.v, n, T::ZERO)?;
        let t = self.t + 1;
        let lr = self.learning_rate.rate(self.t)?;
        let (mu, mu_next) = (self.mu(t), self.mu(t + 1));
        let product = self.product_to(t);
        let cg = T::from_f64(lr * (1.0 - mu) / (1.0 - product));
        let cm = T::from_f64(lr * mu_next / (1.0 - product * mu_next));
        let bc2 = T::from_f64(super::bias_correction(self.beta2, t as f64));
        let (b1, omb1) = (T::from_f64(self.beta1), T::from_f64(1.0 - self.beta1));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let eps = T::from_f64(self.eps);
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        super::parallel::for_chunks4(params, grads, &mut self.m, &mut self.v, |ps, gs, ms, vs| {
            for (((p, &g), m), v) in ps.iter_mut().zip(gs).zip(ms.iter_mut()).zip(vs.iter_mut()) {
                let g = pre.apply(g, *p);
                *m = b1 * *m + omb1 * g;
                *v = b2 * *v + omb2 * g * g;
                let d = (*v / bc2).sqrt() + eps;
                *p -= cg * g / d;
                *p -= cm * *m / d;
            }
        });
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &NAdam<T>| "nadam"; m, v);
}
