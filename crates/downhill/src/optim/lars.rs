use serde::{Deserialize, Serialize};

use super::layerwise::{norm, Layers};
use super::{
    check_lengths, ensure, learning_rate, lr_value, Block, BuildOptions, GradientTransforms, Optimizer,
    OptimizerState, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg, "Large Batch Training of
/// Convolutional Networks", 2017), as optax's `lars` (`add_decayed_weights`,
/// `scale_by_trust_ratio`, the learning rate, then `trace`). Per parameter block `b` (each weight
/// matrix and bias of a model; a plain vector is one block):
///
/// ```text
/// u      = g + weight_decay * theta
/// r_b    = trust_coefficient * ||theta_b|| / (||u_b|| + eps)      (1 when either norm is 0)
/// b     <- -lr_t * (u * r_b) + momentum * b                        (optax's trace, holding the step)
/// theta <- theta + b                     (nesterov: theta + (-lr_t * (u * r_b) + momentum * b))
/// ```
///
/// Defaults (optax): `momentum = 0.9`, `trust_coefficient = 1e-3`, `eps = 0`, `weight_decay = 0`,
/// `nesterov = false`; optax has no default rate, downhill uses `lr = 1` (as timm's LARS), so a
/// step moves each block by about `1e-3` of its norm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lars<T> {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Momentum of the trace, in `[0, 1)`.
    pub momentum: f64,
    /// Nesterov form of the trace.
    pub nesterov: bool,
    /// Multiplier of the trust ratio, `> 0`.
    pub trust_coefficient: f64,
    /// Added to the update's norm in the ratio, `>= 0`.
    pub eps: f64,
    /// Clipping and the weight decay added to the gradient before the trust ratio.
    pub transforms: GradientTransforms,
    layers: Layers,
    t: u64,
    trace: Vec<T>,
}

impl<T: Real> Lars<T> {
    /// optax's defaults with the given rate.
    pub fn new(lr: f64) -> Self {
        Lars {
            learning_rate: Schedule::constant(lr),
            momentum: 0.9,
            nesterov: false,
            trust_coefficient: 1e-3,
            eps: 0.0,
            transforms: GradientTransforms::default(),
            layers: Layers::default(),
            t: 0,
            trace: Vec::new(),
        }
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let mut a = Lars::<T>::new(0.0);
    a.learning_rate = learning_rate(p, 1.0, o)?;
    a.momentum = p.number_aliased("momentum", &["beta"], 0.9, Range::UnitHalfOpen)?;
    a.nesterov = p.flag("nesterov", false)?;
    a.trust_coefficient = p.number("trust_coefficient", 1e-3, Range::Positive)?;
    a.eps = p.number("eps", 0.0, Range::NonNegative)?;
    a.transforms = GradientTransforms::from_params(p)?;
    a.transforms.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    Ok(Box::new(a))
}

impl<T: Real> Optimizer<T> for Lars<T> {
    fn name(&self) -> &'static str {
        "lars"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("momentum", self.momentum.into()),
            ("nesterov", self.nesterov.into()),
            ("trust_coefficient", self.trust_coefficient.into()),
            ("eps", self.eps.into()),
            ("weight_decay", self.transforms.weight_decay.into()),
        ];
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn set_layout(&mut self, blocks: &[Block]) -> Result<()> {
        self.layers.set("lars", blocks, self.trace.len())
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("lars", params.len(), grads.len())?;
        let n = params.len();
        let blocks = self.layers.ranges("lars", n)?;
        ensure("lars", &mut self.trace, n, T::ZERO)?;
        let neg_lr = T::from_f64(-self.learning_rate.rate(self.t)?);
        let mu = T::from_f64(self.momentum);
        let pre = self.transforms.prepare(grads);
        for range in blocks {
            let (p, g, b) = (&mut params[range.clone()], &grads[range.clone()], &mut self.trace[range]);
            let pn = norm(p.iter().copied());
            let un = norm(g.iter().zip(p.iter()).map(|(&g, &p)| pre.apply(g, p)));
            let ratio =
                if pn == 0.0 || un == 0.0 { 1.0 } else { self.trust_coefficient * pn / (un + self.eps) };
            let ratio = T::from_f64(ratio);
            for i in 0..p.len() {
                let step = neg_lr * (pre.apply(g[i], p[i]) * ratio);
                let bi = step + mu * b[i];
                b[i] = bi;
                p[i] += if self.nesterov { step + mu * bi } else { bi };
            }
        }
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Lars<T>| "lars"; trace);
}
