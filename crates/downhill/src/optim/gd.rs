use serde::{Deserialize, Serialize};

use super::{
    check_lengths, learning_rate, lr_value, BuildOptions, GradientTransforms, Optimizer, OptimizerState,
    Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// Gradient descent, and stochastic gradient descent when fed minibatch gradients.
///
/// ```text
/// theta <- theta - lr_t * g
/// ```
///
/// The seed article's boxed update (derived from the first-order Taylor expansion), and
/// `torch.optim.SGD` with `momentum = 0`. Default `lr = 1e-3` as PyTorch. With `weight_decay`
/// the gradient becomes `g + weight_decay * theta` first (PyTorch's coupled L2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradientDescent {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Clipping and coupled weight decay.
    pub transforms: GradientTransforms,
    t: u64,
}

impl GradientDescent {
    /// Plain gradient descent with a constant rate.
    pub fn new(lr: f64) -> Self {
        GradientDescent {
            learning_rate: Schedule::constant(lr),
            transforms: GradientTransforms::default(),
            t: 0,
        }
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let learning_rate = learning_rate(p, 1e-3, o)?;
    let mut transforms = GradientTransforms::from_params(p)?;
    transforms.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    Ok(Box::new(GradientDescent { learning_rate, transforms, t: 0 }))
}

impl<T: Real> Optimizer<T> for GradientDescent {
    fn name(&self) -> &'static str {
        "gd"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = vec![
            ("lr", lr_value(&self.learning_rate)),
            ("weight_decay", self.transforms.weight_decay.into()),
        ];
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("gd", params.len(), grads.len())?;
        let lr = T::from_f64(self.learning_rate.value(self.t));
        let pre = self.transforms.prepare(grads);
        super::parallel::for_chunks2(params, grads, |params, grads| {
            if pre.is_identity() {
                for (p, &g) in params.iter_mut().zip(grads) {
                    *p -= lr * g;
                }
            } else {
                for (p, &g) in params.iter_mut().zip(grads) {
                    let g = pre.apply(g, *p);
                    *p -= lr * g;
                }
            }
        });
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &GradientDescent| "gd"; );
}
