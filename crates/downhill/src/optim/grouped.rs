use super::{Block, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::real::Real;

/// Parameter groups: consecutive pieces of one flat parameter vector, each updated by its own
/// optimizer (PyTorch's `param_groups`), e.g. weights with weight decay and biases without.
///
/// Every group steps once per [`Optimizer::update`], so their step counts stay equal. The saved
/// state prefixes each group's buffers with `g<i>.`. It reports as `grouped` with one
/// hyperparameter, `groups`: every group's length and report. The batched engine does not take
/// it ([`Optimizer::batchable`] is `None`).
///
/// ```
/// use downhill::optim::{GradientDescent, Grouped, Optimizer, Value};
///
/// let mut opt = Grouped::<f64>::new(vec![
///     (1, Box::new(GradientDescent::new(0.01)?)),
///     (1, Box::new(GradientDescent::new(1e-4)?)),
/// ])?;
/// let mut x = vec![1.0, 1.0];
/// opt.update(&mut x, &[1.0, 1.0])?;
/// assert_eq!(x, [1.0 - 0.01, 1.0 - 1e-4]);
/// let Value::Groups(groups) = &opt.hyperparameters()[0].1 else { unreachable!() };
/// assert_eq!(groups[1].1.hyperparameters[0], ("lr", Value::Number(1e-4)));
/// # Ok::<(), downhill::Error>(())
/// ```
pub struct Grouped<T> {
    groups: Vec<(usize, Box<dyn Optimizer<T>>)>,
    name: String,
}

impl<T: Real> Grouped<T> {
    /// Groups covering `len` values each, in order.
    pub fn new(groups: Vec<(usize, Box<dyn Optimizer<T>>)>) -> Result<Self> {
        if groups.is_empty() {
            return Err(Error::Inconsistent {
                field: "groups".into(),
                message: "need at least one group".into(),
            });
        }
        let name = format!("grouped({})", groups.iter().map(|g| g.1.name()).collect::<Vec<_>>().join("+"));
        Ok(Grouped { groups, name })
    }

    /// The groups' lengths and optimizers.
    pub fn groups(&self) -> impl Iterator<Item = (usize, &dyn Optimizer<T>)> {
        self.groups.iter().map(|(n, o)| (*n, o.as_ref()))
    }

    fn total(&self) -> usize {
        self.groups.iter().map(|g| g.0).sum()
    }

    fn check(&self, n: usize) -> Result<()> {
        if n != self.total() {
            return Err(Error::Dimension { field: "groups.params".into(), expected: self.total(), got: n });
        }
        Ok(())
    }
}

impl<T: Real> Optimizer<T> for Grouped<T> {
    fn name(&self) -> &'static str {
        "grouped"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let groups = self.groups.iter().map(|(n, o)| (*n, super::Report::of(o.as_ref()))).collect();
        vec![("groups", Value::Groups(groups))]
    }

    fn steps(&self) -> u64 {
        self.groups[0].1.steps()
    }

    fn learning_rate(&self) -> f64 {
        self.groups[0].1.learning_rate()
    }

    /// Gives every group the same rate.
    fn set_learning_rate(&mut self, schedule: crate::schedule::Schedule) -> Result<()> {
        self.groups.iter_mut().try_for_each(|g| g.1.set_learning_rate(schedule.clone()))
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        self.check(params.len())?;
        super::check_lengths("groups", params.len(), grads.len())?;
        let mut start = 0;
        for (len, opt) in &mut self.groups {
            opt.update(&mut params[start..start + *len], &grads[start..start + *len])?;
            start += *len;
        }
        Ok(())
    }

    /// Hands each group the blocks that fall inside it (blocks must not straddle groups).
    fn set_layout(&mut self, blocks: &[Block]) -> Result<()> {
        let mut rest = blocks;
        for (len, opt) in &mut self.groups {
            let (mut covered, mut count) = (0, 0);
            while covered < *len && count < rest.len() {
                covered += rest[count].len;
                count += 1;
            }
            if covered != *len {
                return Err(Error::Inconsistent {
                    field: "groups.layout".into(),
                    message: format!("a group of {len} values does not end at a block boundary"),
                });
            }
            opt.set_layout(&rest[..count])?;
            rest = &rest[count..];
        }
        Ok(())
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        if params.len() != self.total() {
            return None;
        }
        let mut start = 0;
        let mut out: Option<Vec<T>> = None;
        for (len, opt) in &self.groups {
            if let Some(x) = opt.eval_params(&params[start..start + len]) {
                out.get_or_insert_with(|| params.to_vec())[start..start + len].copy_from_slice(&x);
            }
            start += len;
        }
        out
    }

    fn state(&self) -> OptimizerState<T> {
        let mut buffers = Vec::new();
        for (i, (_, opt)) in self.groups.iter().enumerate() {
            for (name, data) in opt.state().buffers {
                buffers.push((format!("g{i}.{name}"), data));
            }
        }
        OptimizerState::new(self.name.clone(), self.steps(), buffers)
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        if state.optimizer != self.name {
            return Err(Error::Inconsistent {
                field: "state.optimizer".into(),
                message: format!("saved by '{}', cannot load into '{}'", state.optimizer, self.name),
            });
        }
        let mut per_group: Vec<Vec<(String, Vec<T>)>> = vec![Vec::new(); self.groups.len()];
        for (name, data) in state.buffers {
            let parsed = name
                .strip_prefix('g')
                .and_then(|r| r.split_once('.'))
                .and_then(|(i, n)| i.parse::<usize>().ok().map(|i| (i, n.to_string())));
            match parsed {
                Some((i, n)) if i < per_group.len() => per_group[i].push((n, data)),
                _ => return Err(Error::data("state", format!("buffer '{name}' belongs to no group"))),
            }
        }
        for ((_, opt), buffers) in self.groups.iter_mut().zip(per_group) {
            let optimizer = opt.name().to_string();
            opt.load_state(OptimizerState::new(optimizer, state.step, buffers))?;
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.groups.iter_mut().for_each(|g| g.1.reset());
    }
}
