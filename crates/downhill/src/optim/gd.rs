use serde::{Deserialize, Serialize};

use super::{check_lengths, BuildOptions, GradientTransforms, Iteration, Optimizer, OptimizerState, Value};
use crate::batch::{BatchKind, Batchable};
use crate::error::{Error, Result};
use crate::line_search::{Found, Line, LineSearch};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Gradient descent, and stochastic gradient descent when fed minibatch gradients.
    ///
    /// ```text
    /// theta <- theta - lr_t * g
    /// ```
    ///
    /// The seed article's boxed update (derived from the first-order Taylor expansion), and
    /// `torch.optim.SGD` with `momentum = 0`, with PyTorch's defaults. With `weight_decay` the
    /// gradient becomes `g + weight_decay * theta` first (PyTorch's coupled L2).
    ///
    /// With `line_search=armijo|strong-wolfe|more-thuente` it is steepest descent with a line search along `-g`,
    /// tried first at `lr` (set `lr=1` for that), in [`Optimizer::iterate`]; this takes neither
    /// clipping nor weight decay (they would change the function the search measures).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct GradientDescent<T>, "gd", builder GradientDescentBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// Coupled L2 weight decay, `g + weight_decay * theta`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
        /// A line search along `-g` (`None`: the plain update).
        #[serde(default)]
        line_search: Option<LineSearch>,
    }
    state {
        t: u64,
        #[serde(skip)]
        marker: std::marker::PhantomData<fn() -> T>,
    }
    check = check;
}

fn check<T>(b: &GradientDescentBuilder<T>) -> Result<()> {
    if b.line_search.is_some() && (!b.transforms.is_identity() || b.weight_decay != 0.0) {
        return Err(Error::Inconsistent {
            field: "gd.line_search".into(),
            message: "cannot be combined with weight_decay, clip_norm or clip_value".into(),
        });
    }
    Ok(())
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b = GradientDescent::spec_builder(p, o)?
        .transforms(GradientTransforms::from_params(p)?)
        .line_search(LineSearch::from_params(p, "none", 0.9)?);
    Ok(Box::new(b.build()?))
}

/// The keys: the declared ones and the line search's.
pub(crate) fn keys() -> Vec<super::Hyperparameter> {
    let mut keys = GradientDescent::<f64>::declared();
    keys.extend(super::line_search_keys("none", 0.9));
    keys
}

impl<T: Real> Optimizer<T> for GradientDescent<T> {
    fn name(&self) -> &'static str {
        "gd"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
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
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
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

    fn batchable(&self) -> Option<Batchable> {
        let plain = self.weight_decay == 0.0 && self.transforms.is_identity() && self.line_search.is_none();
        plain.then(|| Batchable::new(BatchKind::Gd, &self.learning_rate, 0.0, 0.0, 0.0, 0.0))?
    }

    super::bookkeeping!(|_: &GradientDescent<T>| "gd"; );
}
