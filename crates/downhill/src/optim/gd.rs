use serde::{Deserialize, Serialize};

use super::{
    check_lengths, learning_rate, lr_value, BuildOptions, GradientTransforms, Iteration, Optimizer,
    OptimizerState, Value,
};
use crate::error::{Error, Result};
use crate::line_search::{Found, Line, LineSearch};
use crate::objective::Objective;
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
///
/// With `line_search=armijo|strong-wolfe` it is steepest descent with a line search along `-g`,
/// tried first at `lr` (set `lr=1` for that), in [`Optimizer::iterate`]; this takes neither
/// clipping nor weight decay (they would change the function the search measures).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradientDescent {
    /// Learning rate (a schedule of the step).
    pub learning_rate: Schedule,
    /// Clipping and coupled weight decay.
    pub transforms: GradientTransforms,
    /// A line search along `-g` (`None`: the plain update).
    #[serde(default)]
    pub line_search: Option<LineSearch>,
    t: u64,
}

impl GradientDescent {
    /// Plain gradient descent with a constant rate.
    pub fn new(lr: f64) -> Self {
        GradientDescent {
            learning_rate: Schedule::constant(lr),
            transforms: GradientTransforms::default(),
            line_search: None,
            t: 0,
        }
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let learning_rate = learning_rate(p, 1e-3, o)?;
    let mut transforms = GradientTransforms::from_params(p)?;
    transforms.weight_decay = p.number("weight_decay", 0.0, Range::NonNegative)?;
    let line_search = LineSearch::from_params(p, "none", 0.9)?;
    if line_search.is_some() && transforms != GradientTransforms::default() {
        return Err(Error::Inconsistent {
            field: "gd.line_search".into(),
            message: "cannot be combined with weight_decay, clip_norm or clip_value".into(),
        });
    }
    Ok(Box::new(GradientDescent { learning_rate, transforms, line_search, t: 0 }))
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
        if self.line_search.is_some() {
            LineSearch::describe(&self.line_search, &mut h);
        }
        h
    }

    fn iterate(
        &mut self,
        objective: &dyn Objective<T>,
        params: &mut [T],
        loss: T,
        grad: &[T],
        new_grad: &mut [T],
    ) -> Result<Iteration<T>> {
        let Some(search) = self.line_search else {
            self.update(params, grad)?;
            return Ok(Iteration::Moved);
        };
        check_lengths("gd", params.len(), grad.len())?;
        let direction: Vec<T> = grad.iter().map(|&g| -g).collect();
        let mut found = Found::default();
        let line = Line { point: params, loss, grad, direction: &direction };
        match search.search(objective, &line, self.learning_rate.rate(self.t)?, &mut found) {
            Ok(()) => {
                params.copy_from_slice(&found.point);
                new_grad.copy_from_slice(&found.grad);
                self.t += 1;
                Ok(Iteration::Evaluated(found.loss))
            }
            Err(e) => Ok(Iteration::Stalled(format!("{} line search: {e}", search.name()))),
        }
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("gd", params.len(), grads.len())?;
        if let Some(search) = &self.line_search {
            return Err(Error::Unsupported(format!(
                "gd with line_search={} evaluates the objective; run it on an objective (minimize / iterate)",
                search.name()
            )));
        }
        let lr = T::from_f64(self.learning_rate.rate(self.t)?);
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
