//! Optimizers: state plus an in-place update.
//!
//! Every optimizer implements [`Optimizer`]. First-order methods take a gradient
//! ([`Optimizer::update`]), which is all a training loop has. Methods that need more of the
//! objective (Nesterov's look-ahead form evaluates the gradient elsewhere, Newton needs the
//! Hessian) implement [`Optimizer::step_on`]. Methods that evaluate the objective inside a step
//! and end at a point they have evaluated (L-BFGS, BFGS, CG and Newton with a line search, the
//! trust-region Newton method) implement [`Optimizer::iterate`], which [`crate::minimize`] and
//! `downhill_train::Trainer` call; its default calls `step_on`.
//!
//! Conventions shared by all optimizers:
//! - Hyperparameters are `f64`; element-wise arithmetic runs in the parameter type `T`.
//! - `t` counts updates already applied, from 0. Schedules are evaluated at `t` (so the first
//!   update uses `schedule(0)`); Adam-style bias correction uses `t + 1` (the seed's and
//!   PyTorch's `1 - beta^t` with `t` starting at 1).
//! - Gradient transforms ([`GradientTransforms`]: clip by global norm, clip by value, coupled
//!   L2 weight decay) are applied element by element inside the optimizer's single loop over
//!   memory, in that order; only the global-norm clip needs a read-only pass first.
//! - Every learning rate is a [`Schedule`]; a plain `lr=0.1` is `Schedule::Constant`.
//!
//! Each optimizer is one file here and one line in [`REGISTRY`].
//!
//! # Typed construction
//!
//! Every optimizer has a builder whose setters are its spec keys; `build` checks each value as a
//! spec does and fails with the same one-line error:
//!
//! ```
//! use downhill::optim::{Adam, GradientDescent};
//! use downhill::Schedule;
//!
//! let adam = Adam::<f64>::builder().lr(1e-2).beta1(0.8).build()?;
//! assert_eq!(adam.beta1(), 0.8);
//! let cosine = Schedule::Cosine { max: 0.1, min: 0.0, total: 1000 };
//! let gd = GradientDescent::<f64>::builder().lr(cosine).weight_decay(1e-4).build()?;
//! let err = Adam::<f64>::builder().beta1(1.5).build().unwrap_err();
//! assert_eq!(err.to_string(), "adam.beta1: 1.5 is not in [0, 1)");
//! assert!(Adam::<f64>::new(-1.0).is_err());
//! # let _ = gd;
//! # Ok::<(), downhill::Error>(())
//! ```
//!
//! # How to add an optimizer
//!
//! 1. Write `src/optim/NAME.rs`. Declare the struct with `declare_optimizer!`
//!    (see `declare.rs`): the doc comment with the update equations as implemented, the
//!    defaults' source and the paper; then each hyperparameter once, as
//!    `/// one-line doc` and `field: type = default, in RANGE, ref "PyTorch name";` (the rate is
//!    the field `learning_rate`, key `lr`; `, alias "k"` adds a spec alias; a choice is an enum
//!    made a `Choice` with `choice_value!`); then the `options` set by code (clipping
//!    in `transforms: GradientTransforms`, a line search) and the `state`, which starts at
//!    `Default` or `= expr`; `check = f;` adds a check across fields. The macro writes the
//!    builder, `new(lr)`, `Default`, getters, spec reading and the listing.
//! 2. Implement [`Optimizer`] for it: `hyperparameters` starts from `self.declared_report()`
//!    (and `self.transforms.describe`), `update` is one pass over memory, `bookkeeping!` gives
//!    `steps`, `set_learning_rate`, `state`, `load_state` and `reset`; `batchable` only if the
//!    batched engine has its kind.
//! 3. Write `build(p, o)`: `NAME::spec_builder(p, o)?` plus the options read by hand
//!    (`GradientTransforms::from_params(p)?`), then `.build()?`.
//! 4. Add `mod NAME;`, its `pub use` (the type and its builder) and one `entry!` line to
//!    [`REGISTRY`]: name, aliases, `NAME::<f64>::declared`, `NAME::build` and a note. `downhill
//!    optimizers`, the CLI's `--optimizer` help, the JSON listing and the Python package's list
//!    follow from it.
//! 5. Add its row to the README's optimizer table (`DOWNHILL_BLESS_README=1 cargo test -p
//!    downhill --test readme_optimizers` fills in the defaults) and a test against an independent
//!    reference (the paper's equations written out, PyTorch or optax).

mod adabelief;
mod adadelta;
mod adafactor;
mod adagrad;
mod adam;
mod adamax;
mod adan;
mod asgd;
mod bfgs;
mod cg;
pub(crate) mod declare;
mod gd;
mod grouped;
mod lamb;
mod lars;
mod layerwise;
mod lbfgs;
mod lion;
mod momentum;
mod muon;
mod nadam;
mod nesterov;
mod newton;
mod newton_tr;
mod novograd;
pub(crate) mod parallel;
mod radam;
mod rmsprop;
mod rprop;
mod schedule_free;
mod wrappers;
mod yogi;

pub use adabelief::{AdaBelief, AdaBeliefBuilder};
pub use adadelta::{Adadelta, AdadeltaBuilder};
pub use adafactor::{Adafactor, AdafactorBuilder};
pub use adagrad::{AdaGrad, AdaGradBuilder};
pub use adam::{Adam, AdamBuilder};
pub use adamax::{Adamax, AdamaxBuilder};
pub use adan::{Adan, AdanBuilder};
pub use asgd::{Asgd, AsgdBuilder};
pub use bfgs::{Bfgs, BfgsBuilder, BFGS_MAX_DIM};
pub use cg::{CgVariant, ConjugateGradient, ConjugateGradientBuilder};
pub(crate) use declare::declare_optimizer;
pub use declare::Hyperparameter;
pub use gd::{GradientDescent, GradientDescentBuilder};
pub use grouped::Grouped;
pub use lamb::{Lamb, LambBuilder};
pub use lars::{Lars, LarsBuilder};
pub use lbfgs::{Lbfgs, LbfgsBuilder};
pub use lion::{Lion, LionBuilder};
pub use momentum::{Momentum, MomentumBuilder};
pub use muon::{Muon, MuonBuilder};
pub use nadam::{NAdam, NAdamBuilder};
pub use nesterov::{Nesterov, NesterovBuilder, NesterovLookahead, NesterovLookaheadBuilder};
pub use newton::{Newton, NewtonBuilder};
pub use newton_tr::{steihaug, NewtonTrustRegion, NewtonTrustRegionBuilder, Steihaug};
pub use novograd::{NovoGrad, NovoGradBuilder};
pub use radam::{RAdam, RAdamBuilder};
pub use rmsprop::{EpsPlacement, RmsProp, RmsPropBuilder};
pub use rprop::{Rprop, RpropBuilder};
pub use schedule_free::{ScheduleFreeAdamW, ScheduleFreeAdamWBuilder};
pub use wrappers::{
    wrap, wrapper_names, Accumulate, Ema, Lookahead, OptimizerSpec, Sam, SkipNonFinite, WrapperEntry,
    WRAPPERS,
};
pub use yogi::{Yogi, YogiBuilder};

/// A contiguous piece of a flat parameter vector, as a model lays its parameters out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Number of parameters in the block.
    pub len: usize,
    /// `(rows, cols)` for a weight matrix, as PyTorch's `(fan_out, fan_in)`; `None` for a vector
    /// such as a bias.
    pub shape: Option<(usize, usize)>,
}

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// A hyperparameter's value, for reports and JSON output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A number.
    Number(f64),
    /// A switch.
    Bool(bool),
    /// A word such as `lookahead`.
    Text(&'static str),
    /// A learning-rate schedule.
    Schedule(Schedule),
    /// The optimizer a wrapper wraps, with its own hyperparameters.
    Optimizer(Report),
    /// Parameter groups ([`Grouped`]): each group's length and optimizer.
    Groups(Vec<(usize, Report)>),
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Number(x)
    }
}
impl From<bool> for Value {
    fn from(x: bool) -> Self {
        Value::Bool(x)
    }
}
impl From<&'static str> for Value {
    fn from(x: &'static str) -> Self {
        Value::Text(x)
    }
}

/// An optimizer's name and resolved hyperparameters, as a wrapper reports the optimizer inside it.
/// Serializes as one JSON object, `{"name": ..., key: value, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Registry name.
    pub name: &'static str,
    /// Every resolved hyperparameter, in the optimizer's order.
    pub hyperparameters: Vec<(&'static str, Value)>,
}

impl Report {
    /// The report of `optimizer` as it is now.
    pub fn of<T: Real>(optimizer: &dyn Optimizer<T>) -> Report {
        Report { name: optimizer.name(), hyperparameters: optimizer.hyperparameters() }
    }
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.hyperparameters.len() + 1))?;
        map.serialize_entry("name", self.name)?;
        for (k, v) in &self.hyperparameters {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// An optimizer's mutable state: step count and named buffers, like PyTorch's `state_dict`.
///
/// Saving and loading it reproduces a run bit for bit (serialize it with any serde format that
/// round-trips floats exactly, e.g. serde_json with `float_roundtrip`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct OptimizerState<T> {
    /// The optimizer's name, checked on load.
    pub optimizer: String,
    /// Updates applied so far.
    pub step: u64,
    /// Named per-parameter buffers (empty before the first update).
    pub buffers: Vec<(String, Vec<T>)>,
    /// Whole-number state beyond the step count, such as a wrapper's counters (empty for most).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<(String, u64)>,
    /// The state of the optimizer a wrapper wraps (`None` for plain optimizers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner: Option<Box<OptimizerState<T>>>,
}

impl<T> OptimizerState<T> {
    /// A state with buffers only: no counters, no inner optimizer.
    pub fn new(optimizer: impl Into<String>, step: u64, buffers: Vec<(String, Vec<T>)>) -> Self {
        OptimizerState { optimizer: optimizer.into(), step, buffers, counters: Vec::new(), inner: None }
    }
}

/// What one [`Optimizer::iterate`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Iteration<T> {
    /// The parameters moved; the objective has not been evaluated there.
    Moved,
    /// The parameters moved to a point the step evaluated: the loss there (the gradient is in
    /// `new_grad`).
    Evaluated(T),
    /// No acceptable step from here (a line search or trust region gave up, usually at the limit
    /// of floating-point precision); the parameters are unchanged. Says why.
    Stalled(String),
}

/// Gradient-only or objective-aware optimizer with explicit, saveable state.
pub trait Optimizer<T: Real>: Send + Sync {
    /// Registry name, e.g. `adam`.
    fn name(&self) -> &'static str;

    /// Every resolved hyperparameter, in a stable order.
    fn hyperparameters(&self) -> Vec<(&'static str, Value)>;

    /// Updates applied so far (`t`).
    fn steps(&self) -> u64;

    /// The learning rate the next update will use (the schedule at [`Optimizer::steps`]).
    fn learning_rate(&self) -> f64;

    /// Replaces the learning rate from the next update on (a training loop's scheduler sets a
    /// constant rate before each step, as PyTorch's `lr_scheduler` writes a group's `lr`). Updates
    /// already applied and the state are kept. The default refuses with [`Error::Unsupported`].
    fn set_learning_rate(&mut self, schedule: Schedule) -> Result<()> {
        let _ = schedule;
        Err(Error::Unsupported(format!("{} cannot change its learning rate", self.name())))
    }

    /// Applies one update to `params` given the gradient `grads` at `params`.
    ///
    /// Fails with [`Error::Dimension`] when lengths disagree with each other or with the state,
    /// and with [`Error::Unsupported`] for methods that need the objective itself.
    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()>;

    /// One step on an objective; `grad` is the gradient at `params`. The default calls
    /// [`Optimizer::update`]; Newton and look-ahead Nesterov override it.
    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        let _ = objective;
        self.update(params, grad)
    }

    /// One iteration of a method that evaluates the objective inside its step (line searches,
    /// trust regions, look-ahead gradients), as `torch.optim.LBFGS.step(closure)` does. `loss`
    /// and `grad` are `f` and its gradient at `params`; `new_grad` is a buffer of the same length.
    ///
    /// Returns [`Iteration::Evaluated`] when the step ends at a point it has evaluated (an accepted
    /// line-search or trust-region trial): the loss there, with the gradient written into
    /// `new_grad`, so that the caller does not evaluate it again. [`Iteration::Moved`] means the
    /// caller evaluates the new point itself. [`Iteration::Stalled`] means no acceptable step was
    /// found; `params` are then unchanged. [`crate::minimize`] and `downhill_train::Trainer` call
    /// this; its default calls [`Optimizer::step_on`]. Wrap the objective in
    /// [`crate::objective::Counted`] to count evaluations.
    fn iterate(
        &mut self,
        objective: &dyn Objective<T>,
        params: &mut [T],
        loss: T,
        grad: &[T],
        new_grad: &mut [T],
    ) -> Result<Iteration<T>> {
        let _ = (loss, new_grad);
        self.step_on(objective, params, grad)?;
        Ok(Iteration::Moved)
    }

    /// Tells the optimizer how the flat parameter vector splits into matrices and vectors.
    /// Element-wise optimizers ignore it; Muon orthogonalizes each matrix block and updates the
    /// vector blocks with AdamW. Fails when the blocks do not add up to the state's length.
    fn set_layout(&mut self, blocks: &[Block]) -> Result<()> {
        let _ = blocks;
        Ok(())
    }

    /// What the batched engine ([`crate::batch::minimize_batch`]) needs to run this optimizer: its
    /// kind and constant hyperparameters, or `None` when the engine does not handle it (the
    /// default; also schedules, clipping and the rarer options). Only a fresh optimizer (no steps
    /// taken) is described truthfully: the engine starts from empty state.
    fn batchable(&self) -> Option<crate::batch::Batchable> {
        None
    }

    /// Whether this optimizer takes a non-finite gradient itself (`skip-nonfinite` skips it and
    /// counts it; the wrappers around it pass the question on). [`crate::minimize`] then carries
    /// on past a non-finite loss or gradient instead of stopping as `non_finite`.
    fn accepts_non_finite_gradients(&self) -> bool {
        false
    }

    /// The parameters to evaluate (validate, deploy) when they differ from the ones the gradient
    /// is taken at: schedule-free methods train at `y` but their answer is the average `x`.
    /// `None` means `params` themselves.
    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        let _ = params;
        None
    }

    /// A copy of the state.
    fn state(&self) -> OptimizerState<T>;

    /// Replaces the state with a saved one (checked for name, buffer names and lengths).
    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()>;

    /// Forgets all state, as if newly built.
    fn reset(&mut self);
}

/// Gradient pre-processing that composes with any optimizer, applied inside its update loop.
///
/// Order, per element: multiply by the global-norm clip factor, clamp to `[-clip_value, clip_value]`,
/// add `weight_decay * param` (coupled L2 regularization, PyTorch's `weight_decay` for SGD, Adam,
/// RMSprop and AdaGrad; AdamW and Lion decay the weights directly instead).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GradientTransforms {
    /// Rescale the whole gradient to this global L2 norm when it is larger. As PyTorch's
    /// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)`, applied only when below 1.
    pub clip_norm: Option<f64>,
    /// Clamp each component to `[-clip_value, clip_value]`.
    pub clip_value: Option<f64>,
    /// Coupled weight decay: `g <- g + weight_decay * p`.
    pub weight_decay: f64,
}

/// [`GradientTransforms`] resolved for one step: the per-element map `g -> g'`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared<T> {
    scale: Option<T>,
    clip: Option<T>,
    decay: Option<T>,
}

impl<T: Real> Prepared<T> {
    /// The transformed gradient component for parameter `p`.
    #[inline(always)]
    pub fn apply(&self, g: T, p: T) -> T {
        let mut g = g;
        if let Some(s) = self.scale {
            g *= s;
        }
        if let Some(c) = self.clip {
            g = g.max(-c).min(c);
        }
        if let Some(wd) = self.decay {
            g += wd * p;
        }
        g
    }

    /// Whether `apply` is the identity.
    pub fn is_identity(&self) -> bool {
        self.scale.is_none() && self.clip.is_none() && self.decay.is_none()
    }
}

impl GradientTransforms {
    /// Whether nothing is on: no clipping, no coupled decay.
    pub fn is_identity(&self) -> bool {
        self.clip_norm.is_none() && self.clip_value.is_none() && self.weight_decay == 0.0
    }

    /// These transforms with coupled weight decay `weight_decay`.
    pub fn with_decay(&self, weight_decay: f64) -> Self {
        GradientTransforms { weight_decay, ..*self }
    }

    /// Reads the shared keys `clip_norm` and `clip_value` from a spec.
    pub(crate) fn from_params(p: &mut Params) -> Result<Self> {
        Ok(GradientTransforms {
            clip_norm: p.optional("clip_norm", Range::Positive)?,
            clip_value: p.optional("clip_value", Range::Positive)?,
            weight_decay: 0.0,
        })
    }

    /// Resolves the transforms for one step (reads `grads` once when clipping by norm).
    pub(crate) fn prepare<T: Real>(&self, grads: &[T]) -> Prepared<T> {
        let scale = self.clip_norm.and_then(|max_norm| {
            let norm = grads.iter().map(|g| g.to_f64() * g.to_f64()).sum::<f64>().sqrt();
            let coef = max_norm / (norm + 1e-6);
            (coef < 1.0).then(|| T::from_f64(coef))
        });
        Prepared {
            scale,
            clip: self.clip_value.map(T::from_f64),
            decay: (self.weight_decay != 0.0).then(|| T::from_f64(self.weight_decay)),
        }
    }

    /// The settings that are on, for reports.
    pub fn describe(&self, out: &mut Vec<(&'static str, Value)>) {
        if let Some(c) = self.clip_norm {
            out.push(("clip_norm", c.into()));
        }
        if let Some(c) = self.clip_value {
            out.push(("clip_value", c.into()));
        }
    }
}

/// Adam's bias correction `1 - beta^t`, bit-identical to `1.0 - beta.powf(t)` (libm `pow`, as the
/// seed's numpy `1 - beta**t`) but without the `pow` call once `beta^t < 2^-60`: below `2^-54`
/// the difference rounds to exactly 1, and `pow` near underflow takes a slow path. Long runs spend
/// most of their steps there (0.9^t underflows after about 7,000 steps).
#[inline]
pub fn bias_correction(beta: f64, t: f64) -> f64 {
    if t * beta.log2() < -60.0 {
        1.0
    } else {
        1.0 - beta.powf(t)
    }
}

/// [`bias_correction`] step after step, remembering the step from which it is exactly 1: `beta^t`
/// only shrinks as `t` grows, so from there on it is 1 without a call to `log2` or `pow`. A cache,
/// nothing more: every value is bit-identical to [`bias_correction`]'s (tested), whatever order
/// the steps come in and whatever `beta` is passed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiasCorrection {
    beta_bits: u64,
    one_from: u64,
}

impl Default for BiasCorrection {
    fn default() -> Self {
        BiasCorrection { beta_bits: 0, one_from: u64::MAX }
    }
}

impl BiasCorrection {
    /// `1 - beta^t`.
    #[inline]
    pub fn at(&mut self, beta: f64, t: u64) -> f64 {
        if t >= self.one_from && beta.to_bits() == self.beta_bits {
            return 1.0;
        }
        let c = bias_correction(beta, t as f64);
        if c == 1.0 && (beta.to_bits() != self.beta_bits || t < self.one_from) {
            *self = BiasCorrection { beta_bits: beta.to_bits(), one_from: t };
        }
        c
    }
}

/// Checks that params, grads and state agree in length, allocating zeroed state on first use.
#[inline]
pub(crate) fn check_lengths(name: &str, params: usize, grads: usize) -> Result<()> {
    if params != grads {
        return Err(Error::Dimension { field: format!("{name}.grads"), expected: params, got: grads });
    }
    Ok(())
}

/// Sizes `buf` to `n` zeros on first use; fails if it already has another length.
pub(crate) fn ensure<T: Real>(name: &str, buf: &mut Vec<T>, n: usize, fill: T) -> Result<()> {
    if buf.is_empty() {
        buf.resize(n, fill);
    } else if buf.len() != n {
        return Err(Error::Dimension { field: format!("{name}.params"), expected: buf.len(), got: n });
    }
    Ok(())
}

/// Moves the saved buffers named `names` into `targets` after checking the name and lengths.
pub(crate) fn restore<T: Real>(
    name: &'static str,
    state: OptimizerState<T>,
    targets: &mut [(&'static str, &mut Vec<T>)],
) -> Result<u64> {
    if state.optimizer != name {
        return Err(Error::Inconsistent {
            field: "state.optimizer".into(),
            message: format!("saved by '{}', cannot load into '{name}'", state.optimizer),
        });
    }
    let len = state.buffers.first().map(|b| b.1.len());
    for (buf_name, data) in &state.buffers {
        if !targets.iter().any(|(n, _)| n == buf_name) {
            return Err(Error::unknown(
                &format!("buffer for {name}"),
                buf_name,
                &targets.iter().map(|t| t.0).collect::<Vec<_>>(),
            ));
        }
        if Some(data.len()) != len {
            return Err(Error::Dimension {
                field: format!("state.{buf_name}"),
                expected: len.unwrap_or(0),
                got: data.len(),
            });
        }
    }
    for (target_name, target) in targets.iter_mut() {
        target.clear();
        if let Some((_, data)) = state.buffers.iter().find(|(n, _)| n == target_name) {
            target.extend_from_slice(data);
        }
    }
    Ok(state.step)
}

/// Named copies of buffers, skipping empty ones.
pub(crate) fn save<T: Real>(name: &str, step: u64, buffers: &[(&str, &Vec<T>)]) -> OptimizerState<T> {
    OptimizerState::new(
        name,
        step,
        buffers.iter().filter(|(_, b)| !b.is_empty()).map(|(n, b)| (n.to_string(), (*b).clone())).collect(),
    )
}

/// Defines `fn $name<T: Real>(args)`, which evaluates `$kernel` (a call of an `#[inline(always)]`
/// kernel on the arguments) compiled for AVX2 when the CPU has it (detected at run time, cached by std) and the portable build
/// otherwise. The kernel's IEEE operations are the same in both (Rust never fuses a multiply and
/// an add on its own), so the results are bit-identical; only the vector width changes. Divisions
/// and square roots make these loops compute-bound with 2-wide f64 vectors; 4-wide keeps them at
/// the speed of memory.
macro_rules! avx2_dispatch {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $kernel:expr) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        fn $name<T: Real>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2<T: Real>($($arg: $ty),*) {
                    $kernel
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    unsafe { avx2($($arg),*) };
                    return;
                }
            }
            $kernel
        }
    };
}
pub(crate) use avx2_dispatch;

/// A `learning_rate` field that [`Optimizer::set_learning_rate`] replaces: a [`Schedule`], or a
/// plain number for methods whose rate is only a starting value (Rprop's initial step), which
/// take constant rates only.
pub(crate) trait RateField {
    fn set(&mut self, schedule: Schedule, optimizer: &str) -> Result<()>;
}

impl RateField for Schedule {
    fn set(&mut self, schedule: Schedule, _: &str) -> Result<()> {
        schedule.validate_setting()?;
        *self = schedule;
        Ok(())
    }
}

impl RateField for f64 {
    fn set(&mut self, schedule: Schedule, optimizer: &str) -> Result<()> {
        schedule.validate_setting()?;
        match schedule {
            Schedule::Constant { lr } => {
                *self = lr;
                Ok(())
            }
            _ => {
                Err(Error::Unsupported(format!("{optimizer} takes a constant learning rate, not a schedule")))
            }
        }
    }
}

/// The bookkeeping every optimizer with a step counter `t` and `Vec` state buffers shares:
/// `steps`, `set_learning_rate` (of the field `learning_rate`), `state`, `load_state` and `reset`,
/// from the optimizer's name and its buffer fields.
macro_rules! bookkeeping {
    ($name:expr; $($buf:ident),*) => {
        fn steps(&self) -> u64 {
            self.t
        }

        fn set_learning_rate(&mut self, schedule: $crate::schedule::Schedule) -> Result<()> {
            let name: &'static str = $name(self);
            $crate::optim::RateField::set(&mut self.learning_rate, schedule, name)
        }

        fn state(&self) -> OptimizerState<T> {
            let name: &'static str = $name(self);
            $crate::optim::save(name, self.t, &[$((stringify!($buf), &self.$buf)),*])
        }

        fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
            let name: &'static str = $name(self);
            self.t = $crate::optim::restore(name, state, &mut [$((stringify!($buf), &mut self.$buf)),*])?;
            Ok(())
        }

        fn reset(&mut self) {
            self.t = 0;
            $(self.$buf.clear();)*
        }
    };
}
pub(crate) use bookkeeping;

/// The listing of the line-search keys ([`LineSearch::from_params`](crate::line_search::LineSearch)),
/// for optimizers that take one: `line_search` defaulting to `kind`, and with it `c1`, `c2`
/// (Wolfe only, defaulting to `c2`) and `shrink` (Armijo only).
pub(crate) fn line_search_keys(kind: &'static str, c2: f64) -> Vec<Hyperparameter> {
    let key = |key, default, accepts: &str, doc| Hyperparameter {
        key,
        default,
        accepts: accepts.into(),
        doc,
        reference: None,
        rate: false,
    };
    let mut keys = vec![key(
        "line_search",
        Value::Text(kind),
        "strong-wolfe|more-thuente|armijo|none",
        "A line search along the step's direction, tried first at lr.",
    )];
    if kind != "none" {
        keys.push(key("c1", Value::Number(1e-4), "(0, 1)", "Sufficient-decrease (Armijo) constant."));
        keys.push(key("c2", Value::Number(c2), "(c1, 1)", "Curvature constant (strong Wolfe)."));
    }
    keys
}

/// What a spec needs beyond its own keys.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// A learning-rate schedule that replaces the optimizer's `lr` (giving both is an error).
    pub schedule: Option<Schedule>,
}

/// Reports a schedule as a number when it is constant.
pub(crate) fn lr_value(s: &Schedule) -> Value {
    match s {
        Schedule::Constant { lr } => Value::Number(*lr),
        other => Value::Schedule(other.clone()),
    }
}

/// A constructor taking the spec's keys.
pub(crate) type Builder<T> = fn(&mut Params, &BuildOptions) -> Result<Box<dyn Optimizer<T>>>;

/// One registered optimizer.
pub struct Entry {
    /// Name used in specs.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// The declared hyperparameters with this entry's defaults (from the optimizer's declaration).
    pub keys: fn() -> Vec<Hyperparameter>,
    /// What the keys do not say: the update in brief, whose defaults, keys read by hand.
    pub note: &'static str,
    build_f32: Builder<f32>,
    build_f64: Builder<f64>,
}

impl Entry {
    /// One line for `--help` and listings: every key with its default, then the note.
    pub fn summary(&self) -> String {
        declare::summary(&(self.keys)(), self.note)
    }

    /// The defaults as the README's optimizer table shows them: `lr 1e-3, beta1 0.9, ...`.
    pub fn defaults(&self) -> String {
        let keys = (self.keys)();
        keys.iter().map(|k| format!("{} {}", k.key, declare::show(&k.default))).collect::<Vec<_>>().join(", ")
    }
}

macro_rules! entry {
    ($name:literal, $aliases:expr, $keys:expr, $build:path, $note:literal) => {
        Entry {
            name: $name,
            aliases: $aliases,
            keys: $keys,
            note: $note,
            build_f32: $build,
            build_f64: $build,
        }
    };
}

/// Every optimizer that [`build`] knows. Defaults follow PyTorch unless a summary says otherwise.
pub const REGISTRY: &[Entry] = &[
    entry!(
        "gd",
        &["sgd"],
        gd::keys,
        gd::build,
        "(PyTorch SGD); theta <- theta - lr*g; sgd is the same update on minibatch gradients"
    ),
    entry!(
        "momentum",
        &["heavy-ball", "polyak"],
        Momentum::<f64>::declared,
        momentum::build,
        "(beta alias momentum); v <- beta*v + g, theta <- theta - lr*v"
    ),
    entry!(
        "nesterov",
        &[],
        nesterov::keys,
        nesterov::build,
        "(form=lookahead is the seed's; dampening for form=pytorch only)"
    ),
    entry!("rmsprop", &[], RmsProp::<f64>::declared, rmsprop::build, "(alpha alias beta; PyTorch RMSprop)"),
    entry!("adam", &[], Adam::<f64>::declared, adam::build_adam, "(weight_decay coupled, L2)"),
    entry!(
        "adamw",
        &[],
        || Adam::<f64>::adamw_builder().declared(),
        adam::build_adamw,
        "(weight_decay decoupled)"
    ),
    entry!("adagrad", &[], AdaGrad::<f64>::declared, adagrad::build, "(PyTorch Adagrad)"),
    entry!("lion", &[], Lion::<f64>::declared, lion::build, "(decoupled; Lion paper defaults)"),
    entry!("nadam", &[], NAdam::<f64>::declared, nadam::build, "(coupled; PyTorch NAdam)"),
    entry!("radam", &[], RAdam::<f64>::declared, radam::build, "(PyTorch RAdam)"),
    entry!(
        "sf-adamw",
        &["schedule-free", "adamw-schedulefree"],
        ScheduleFreeAdamW::<f64>::declared,
        schedule_free::build,
        "(Defazio et al. 2024; evaluate at x)"
    ),
    entry!(
        "adafactor",
        &[],
        Adafactor::<f64>::declared,
        adafactor::build,
        "(PyTorch Adafactor; factored second moment on matrices; eps1=none is the machine epsilon)"
    ),
    entry!("muon", &[], Muon::<f64>::declared, muon::build, "(matrices: Newton-Schulz; vectors: AdamW)"),
    entry!("adamax", &[], Adamax::<f64>::declared, adamax::build, "(coupled; PyTorch Adamax)"),
    entry!("adadelta", &[], Adadelta::<f64>::declared, adadelta::build, "(coupled; PyTorch Adadelta)"),
    entry!(
        "rprop",
        &[],
        Rprop::<f64>::declared,
        rprop::build,
        "(lr is the initial step size; PyTorch Rprop)"
    ),
    entry!(
        "asgd",
        &[],
        Asgd::<f64>::declared,
        asgd::build,
        "(coupled; PyTorch ASGD; evaluate at the average)"
    ),
    entry!("adabelief", &[], AdaBelief::<f64>::declared, adabelief::build, "(decoupled; optax adabelief)"),
    entry!("adan", &[], Adan::<f64>::declared, adan::build, "(decoupled; optax adan)"),
    entry!("lamb", &[], Lamb::<f64>::declared, lamb::build, "(optax lamb; trust ratio per block)"),
    entry!("lars", &[], Lars::<f64>::declared, lars::build, "(optax lars; trust ratio per block)"),
    entry!("yogi", &[], Yogi::<f64>::declared, yogi::build, "(optax yogi)"),
    entry!(
        "novograd",
        &[],
        NovoGrad::<f64>::declared,
        novograd::build,
        "(optax novograd; second moment per block)"
    ),
    entry!(
        "newton",
        &[],
        newton::keys,
        newton::build,
        "; theta <- theta - lr*H^-1 g (1-D: lr*g/f''), damped when H is not positive definite"
    ),
    entry!(
        "lbfgs",
        &["l-bfgs"],
        lbfgs::keys,
        lbfgs::build,
        "(two-loop recursion; needs the objective unless line_search=none)"
    ),
    entry!("bfgs", &[], bfgs::keys, bfgs::build, "(dense inverse-Hessian update; at most 4096 parameters)"),
    entry!(
        "cg",
        &["conjugate-gradient"],
        cg::keys,
        cg::build,
        "(nonlinear conjugate gradient; restart=N restarts every N iterations)"
    ),
    entry!(
        "newton-tr",
        &["trust-ncg"],
        NewtonTrustRegion::<f64>::declared,
        newton_tr::build,
        "(Newton with a trust region, Steihaug-CG inside; needs the Hessian)"
    ),
];

/// Every accepted optimizer name, aliases included.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().flat_map(|e| std::iter::once(e.name).chain(e.aliases.iter().copied())).collect()
}

/// The registry entry for `name` (or alias).
pub fn lookup(name: &str) -> Result<&'static Entry> {
    REGISTRY
        .iter()
        .find(|e| e.name == name || e.aliases.contains(&name))
        .ok_or_else(|| Error::unknown("optimizer", name, &names()))
}

/// Builds an optimizer from a spec such as `adam:lr=0.1,beta1=0.9`, or a wrapped one such as
/// `lookahead(adam:lr=0.1):k=5,alpha=0.5` (see [`OptimizerSpec`] and [`WRAPPERS`]).
///
/// Every optimizer also accepts `clip_norm` and `clip_value` (see [`GradientTransforms`]).
pub fn build<T: Buildable>(text: &str, options: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    OptimizerSpec::parse(text)?.build(options)
}

/// Builds the optimizer `name` from `(key, value)` pairs (lower-case keys), as [`build`] would from
/// `name:key=value,...`, without writing the spec out as text: for sweeps that build thousands.
pub fn build_from_pairs<'a, T: Buildable>(
    name: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    options: &BuildOptions,
) -> Result<Box<dyn Optimizer<T>>> {
    let entry = lookup(name)?;
    let mut p = Params::from_pairs(entry.name, pairs);
    let opt = <T as sealed::Pick>::pick(entry)(&mut p, options)?;
    p.finish()?;
    Ok(opt)
}

/// The precisions the registry builds optimizers in (`f32`, `f64`).
pub trait Buildable: Real + sealed::Pick {}

impl Buildable for f32 {}
impl Buildable for f64 {}

// The constructors take the crate's spec reader; the trait is sealed, so no one outside sees them.
#[allow(private_interfaces)]
mod sealed {
    use super::{Builder, Entry};

    /// Picks the registry constructor for a precision.
    pub trait Pick: Sized {
        /// The constructor of `entry` for this precision.
        fn pick(entry: &Entry) -> Builder<Self>;
    }

    impl Pick for f32 {
        fn pick(entry: &Entry) -> Builder<f32> {
            entry.build_f32
        }
    }

    impl Pick for f64 {
        fn pick(entry: &Entry) -> Builder<f64> {
            entry.build_f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bias_correction;

    #[test]
    fn the_cached_bias_correction_is_bias_correction() {
        use super::BiasCorrection;
        let mut c = BiasCorrection::default();
        let mut rng = crate::rng::Rng::new(9);
        let betas = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999];
        let mut t = 1u64;
        for _ in 0..200_000 {
            // Mostly consecutive steps, with jumps back (a reset, a restored checkpoint), jumps
            // ahead and a change of beta now and then.
            let r = rng.uniform();
            t = if r < 0.001 {
                1
            } else if r < 0.002 {
                t + 5000
            } else {
                t + 1
            };
            let beta = betas[if rng.uniform() < 0.999 { 2 } else { (rng.uniform() * 6.0) as usize % 6 }];
            assert_eq!(c.at(beta, t).to_bits(), bias_correction(beta, t as f64).to_bits(), "{beta}^{t}");
        }
        for beta in betas {
            let mut c = BiasCorrection::default();
            for t in 1..60_000u64 {
                assert_eq!(c.at(beta, t).to_bits(), bias_correction(beta, t as f64).to_bits(), "{beta}^{t}");
            }
        }
    }

    #[test]
    fn bias_correction_equals_one_minus_pow_bit_for_bit() {
        for beta in [0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999, 1e-300] {
            for t in (1..200_000u64).step_by(7).chain([1_000_000, 1 << 40]) {
                let t = t as f64;
                assert_eq!(bias_correction(beta, t).to_bits(), (1.0 - beta.powf(t)).to_bits(), "{beta}^{t}");
            }
        }
    }
}
