use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Schedule-Free AdamW (Defazio et al., "The Road Less Scheduled", NeurIPS 2024), as the
    /// authors' reference `AdamWScheduleFree`. It keeps two sequences: `z` takes AdamW-like steps and
    /// `x`, a weighted average of the `z`s, is the answer; gradients are taken at their interpolation
    /// `y = (1 - beta1) z + beta1 x`, which is what the parameter vector holds during training
    /// (t from 1, lr_t from the schedule, usually a warmup then constant):
    ///
    /// ```text
    /// v <- beta2 v + (1 - beta2) g^2,     u = g / (sqrt(v / (1 - beta2^t)) + eps) + wd * y
    /// lr_max = max(lr_max, lr_t),  w_t = t^r lr_max^weight_lr_power,  c = w_t / sum_{i<=t} w_i
    /// y <- y + c (z - y) + lr_t (beta1 (1 - c) - 1) u
    /// z <- z - lr_t u
    /// ```
    ///
    /// [`Optimizer::eval_params`] returns `x = y + (1 - 1/beta1)(z - y)`: validate and save that.
    /// Defaults (reference): `lr = 2.5e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`,
    /// `weight_decay = 0`, `r = 0`, `weight_lr_power = 2`. No learning-rate decay is needed.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ScheduleFreeAdamW<T>, "sf-adamw", builder ScheduleFreeAdamWBuilder {
        /// Learning rate (a schedule of the step; warm up through a schedule).
        learning_rate: Schedule = 2.5e-3, in Range::Positive;
        /// Interpolation between `z` and `x` for the gradient point `y`.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "reference betas[0]";
        /// Second-moment decay.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "reference betas[1]";
        /// Added to `sqrt(v_hat)`.
        eps: f64 = 1e-8, in Range::Positive;
        /// Decoupled weight decay, at `y`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
        /// Polynomial weighting of the average by the step count.
        r: f64 = 0.0, in Range::NonNegative;
        /// Power of the learning rate in the average's weights.
        weight_lr_power: f64 = 2.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        z: Vec<T>,
        v: Vec<T>,
        #[serde(skip)]
        sums: (u64, f64, f64),
    }
}

impl<T: Real> ScheduleFreeAdamW<T> {
    /// Advances `(lr_max, weight_sum)` to cover steps `1..=t`, in the order training does.
    fn sums_to(&mut self, t: u64) -> (f64, f64, f64) {
        if self.sums.0 > t {
            self.sums = (0, 0.0, 0.0);
        }
        let mut weight = 0.0;
        while self.sums.0 < t {
            let k = self.sums.0 + 1;
            let lr_max = self.sums.1.max(self.learning_rate.value(k - 1));
            weight = (k as f64).powf(self.r) * lr_max.powf(self.weight_lr_power);
            self.sums = (k, lr_max, self.sums.2 + weight);
        }
        (self.sums.1, self.sums.2, weight)
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(
        ScheduleFreeAdamW::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?,
    ))
}

impl<T: Real> Optimizer<T> for ScheduleFreeAdamW<T> {
    fn name(&self) -> &'static str {
        "sf-adamw"
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
        check_lengths("sf-adamw", params.len(), grads.len())?;
        let n = params.len();
        if self.z.is_empty() {
            self.z = params.to_vec();
        }
        ensure("sf-adamw", &mut self.z, n, T::ZERO)?;
        ensure("sf-adamw", &mut self.v, n, T::ZERO)?;
        let t = self.t + 1;
        let lr_f = self.learning_rate.rate(self.t)?;
        let (_, weight_sum, weight) = self.sums_to(t);
        let ckp1 = if weight_sum == 0.0 { 0.0 } else { weight / weight_sum };
        let bc2 = T::from_f64(super::bias_correction(self.beta2, t as f64));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let (eps, wd) = (T::from_f64(self.eps), T::from_f64(self.weight_decay));
        let (c, y_lr, lr) =
            (T::from_f64(ckp1), T::from_f64(lr_f * (self.beta1 * (1.0 - ckp1) - 1.0)), T::from_f64(lr_f));
        let pre = self.transforms.with_decay(0.0).prepare(grads);
        super::parallel::for_chunks4(params, grads, &mut self.z, &mut self.v, |ys, gs, zs, vs| {
            for (((y, &g), z), v) in ys.iter_mut().zip(gs).zip(zs.iter_mut()).zip(vs.iter_mut()) {
                let g = pre.apply(g, *y);
                *v = b2 * *v + omb2 * g * g;
                let u = g / ((*v / bc2).sqrt() + eps) + wd * *y;
                *y += c * (*z - *y);
                *y += y_lr * u;
                *z -= lr * u;
            }
        });
        self.t = t;
        Ok(())
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        if self.z.len() != params.len() || self.beta1 == 0.0 {
            return None;
        }
        let w = T::from_f64(1.0 - 1.0 / self.beta1);
        Some(params.iter().zip(&self.z).map(|(&y, &z)| y + w * (z - y)).collect())
    }

    super::bookkeeping!(|_: &ScheduleFreeAdamW<T>| "sf-adamw"; z, v);
}
