use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020), as
    /// `torch.optim.RAdam`: Adam whose adaptive step is switched on only once the variance of the
    /// second-moment estimate is bounded, and rectified until it settles (t from 1):
    ///
    /// ```text
    /// m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2,   m_hat = m / (1 - beta1^t)
    /// rho_inf = 2 / (1 - beta2) - 1,   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    /// rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    ///             theta <- theta - lr m_hat r sqrt(1 - beta2^t) / (sqrt(v) + eps)
    /// otherwise:  theta <- theta - lr m_hat                      (momentum SGD while v is unreliable)
    /// ```
    ///
    /// Defaults (PyTorch): `lr = 1e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`,
    /// `weight_decay = 0`, coupled unless `decoupled=true` (AdamW-style, `theta *= 1 - lr wd`).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RAdam<T>, "radam", builder RAdamBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "PyTorch betas[0]";
        /// Second-moment decay.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "PyTorch betas[1]";
        /// Added to `sqrt(v_hat)`.
        eps: f64 = 1e-8, in Range::Positive;
        /// Weight decay: coupled L2, or decoupled with `decoupled`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
        /// AdamW-style decoupled weight decay.
        decoupled: bool = false, ref "PyTorch decoupled_weight_decay";
    }
    options {
        /// Clipping (its `weight_decay` is not used; see `weight_decay`).
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        m: Vec<T>,
        v: Vec<T>,
    }
}

impl<T: Real> RAdam<T> {
    /// The rectification factor `r_t`, or `None` while `rho_t <= 5` (t from 1).
    pub fn rectification(&self, t: u64) -> Option<f64> {
        let b2t = self.beta2.powf(t as f64);
        let rho_inf = 2.0 / (1.0 - self.beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * t as f64 * b2t / (1.0 - b2t);
        (rho_t > 5.0).then(|| {
            ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).sqrt()
        })
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(RAdam::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for RAdam<T> {
    fn name(&self) -> &'static str {
        "radam"
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
        check_lengths("radam", params.len(), grads.len())?;
        let n = params.len();
        ensure("radam", &mut self.m, n, T::ZERO)?;
        ensure("radam", &mut self.v, n, T::ZERO)?;
        let t = self.t + 1;
        let lr_f = self.learning_rate.rate(self.t)?;
        let bc1 = super::bias_correction(self.beta1, t as f64);
        let bc2 = super::bias_correction(self.beta2, t as f64);
        let rect = self.rectification(t);
        // Per element: theta -= step_m * m / (sqrt(v) + eps), or theta -= step_m * m when off.
        let step_m = T::from_f64(lr_f / bc1 * rect.map_or(1.0, |r| r * bc2.sqrt()));
        let adaptive = rect.is_some();
        let coupled = if self.decoupled { 0.0 } else { self.weight_decay };
        let decay = T::from_f64(if self.decoupled { 1.0 - lr_f * self.weight_decay } else { 1.0 });
        let (b1, omb1) = (T::from_f64(self.beta1), T::from_f64(1.0 - self.beta1));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let eps = T::from_f64(self.eps);
        let pre = self.transforms.with_decay(coupled).prepare(grads);
        super::parallel::for_chunks4(params, grads, &mut self.m, &mut self.v, |ps, gs, ms, vs| {
            for (((p, &g), m), v) in ps.iter_mut().zip(gs).zip(ms.iter_mut()).zip(vs.iter_mut()) {
                let g = pre.apply(g, *p);
                *p *= decay;
                *m = b1 * *m + omb1 * g;
                *v = b2 * *v + omb2 * g * g;
                if adaptive {
                    *p -= step_m * *m / (v.sqrt() + eps);
                } else {
                    *p -= step_m * *m;
                }
            }
        });
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &RAdam<T>| "radam"; m, v);
}
