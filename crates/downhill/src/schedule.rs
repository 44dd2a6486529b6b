//! Learning-rate schedules: plain functions of the step count.
//!
//! Steps are counted from 0: `value(0)` is the rate of the first update. (Adam's bias correction
//! counts from 1; the two conventions are the seed article's and PyTorch's, and both are kept.)
//! Every schedule is computed in `f64` and converted to the working precision by the optimizer.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::spec::{Params, Range, Spec};

/// The most steps any schedule, run or sweep accepts (a sanity cap, not a memory limit).
pub const MAX_STEPS: u64 = 1_000_000_000_000;

/// The largest cycle growth factor `mult` of [`Schedule::CosineRestarts`].
pub const MAX_MULT: u64 = 1000;

/// A learning-rate schedule: a function of the 0-based step count.
///
/// Build one with a constructor, which checks its settings ([`Schedule::warmup_cosine`],
/// [`Schedule::step`], ...), from a number ([`From<f64>`], a constant rate), from your own
/// function ([`Schedule::custom`]), or parse a spec with [`Schedule::parse`]. A variant written
/// out directly is checked by [`Schedule::validate`], which optimizers call when they take it.
///
/// [`Schedule::value`] never panics: settings that make no sense (a step decay every 0 steps)
/// give NaN, and [`Schedule::rate`], which optimizers use, turns any NaN, infinite or negative
/// rate into an error that names the step.
///
/// ```
/// use downhill::Schedule;
///
/// // The seed article's warmup + cosine: 1000 steps up to 1e-3, then down to 1e-5 at 10,000.
/// let s = Schedule::warmup_cosine(1e-3, 1e-5, 1000, 10_000)?;
/// assert_eq!(s.value(500), 5e-4);
/// assert_eq!(s.value(1000), 1e-3);
/// assert_eq!(s.value(20_000), 1e-5);
/// // Written as a spec, and read back.
/// assert_eq!(s.to_string(), "warmup-cosine:max=0.001,min=1e-5,warmup=1000,total=10000");
/// assert_eq!(Schedule::parse(&s.to_string())?, s);
/// // Warmup longer than the whole schedule is an error naming the field.
/// let err = Schedule::warmup_cosine(1e-3, 1e-5, 2000, 1000).unwrap_err();
/// assert_eq!(err.to_string(), "schedule.warmup: 2000 must not exceed total (1000)");
/// // A constant rate from a number, and your own function of the step.
/// let constant: Schedule = 0.1.into();
/// assert_eq!(constant.value(7), 0.1);
/// let halving = Schedule::custom("halve every 10", |t| 0.1 * 0.5f64.powi((t / 10) as i32));
/// assert_eq!(halving.value(25), 0.025);
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Schedule {
    /// `lr` at every step.
    Constant {
        /// The rate.
        lr: f64,
    },
    /// Linear warmup `max * t / warmup` for `t < warmup`, then `max` (the seed's warmup phase).
    Warmup {
        /// Rate reached at the end of warmup.
        max: f64,
        /// Warmup length in steps.
        warmup: u64,
    },
    /// Cosine annealing (Loshchilov & Hutter 2017):
    /// `min + 0.5 (max - min) (1 + cos(pi t / total))` for `t < total`, then `min`.
    Cosine {
        /// Rate at step 0.
        max: f64,
        /// Rate approached at `total`.
        min: f64,
        /// Length of the annealing.
        total: u64,
    },
    /// The seed article's warmup + cosine, operation for operation:
    /// `max * t / warmup` for `t < warmup`, then
    /// `min + 0.5 (max - min) (1 + cos(pi (t - warmup) / (total - warmup)))`; `min` from `total` on.
    WarmupCosine {
        /// Peak rate (`eta_max`).
        max: f64,
        /// Final rate (`eta_min`).
        min: f64,
        /// Warmup steps (`T_warmup`).
        warmup: u64,
        /// Total steps (`T_total`).
        total: u64,
    },
    /// Step decay: `lr * gamma^floor(t / every)` (PyTorch `StepLR`).
    Step {
        /// Initial rate.
        lr: f64,
        /// Factor applied every `every` steps.
        gamma: f64,
        /// Period in steps.
        every: u64,
    },
    /// Exponential decay: `lr * gamma^t` (PyTorch `ExponentialLR`).
    Exponential {
        /// Initial rate.
        lr: f64,
        /// Factor per step.
        gamma: f64,
    },
    /// Inverse square root: `lr / sqrt(t + offset)`. The seed writes `eta_0 / sqrt(t)` with `t`
    /// counted from 1; with steps counted from 0 that is `offset = 1`, the default.
    InvSqrt {
        /// `eta_0`.
        lr: f64,
        /// Added to the 0-based step before the square root.
        offset: f64,
    },
    /// Polynomial decay: `(lr - end) (1 - t/total)^power + end` for `t < total`, then `end`.
    Polynomial {
        /// Initial rate.
        lr: f64,
        /// Final rate.
        end: f64,
        /// Exponent (1 is linear decay).
        power: f64,
        /// Length of the decay.
        total: u64,
    },
    /// One-cycle (Smith 2018; PyTorch `OneCycleLR` with cosine annealing and its defaults):
    /// from `max/div` up to `max` over the first `pct_start` of `total`, then down to
    /// `max/div/final_div`.
    OneCycle {
        /// Peak rate.
        max: f64,
        /// Number of steps in the cycle.
        total: u64,
        /// Fraction of the cycle spent increasing.
        pct_start: f64,
        /// `initial = max / div`.
        div: f64,
        /// `final = initial / final_div`.
        final_div: f64,
    },
    /// Cosine annealing with warm restarts (Loshchilov & Hutter 2017; PyTorch
    /// `CosineAnnealingWarmRestarts` stepped once per step): cycles of `period`, `period * mult`,
    /// `period * mult^2`, ... steps; with `t_cur` the step within its cycle of length `t_i`,
    /// `min + (max - min) (1 + cos(pi t_cur / t_i)) / 2`.
    CosineRestarts {
        /// Rate at the start of each cycle (PyTorch's base lr).
        max: f64,
        /// Rate approached at the end of each cycle (`eta_min`).
        min: f64,
        /// Length of the first cycle (`T_0`).
        period: u64,
        /// Growth of each cycle over the previous one (`T_mult`, a whole number).
        mult: u64,
    },
    /// Cyclical learning rates (Smith 2017; PyTorch `CyclicLR`): up from `base` to `max` in `up`
    /// steps, back down in `down`; with `c = floor(1 + t/(up+down))` and
    /// `x = 1 + t/(up+down) - c`, the rate is `base + (max - base) s(x) scale`, where `s` rises
    /// linearly to 1 at `x = up/(up+down)` and falls back to 0, and `scale` is 1 (`triangular`),
    /// `1/2^(c-1)` (`triangular2`) or `gamma^t` (`exp_range`).
    Cyclic {
        /// Lower rate (`base_lr`).
        base: f64,
        /// Upper rate (`max_lr`).
        max: f64,
        /// Steps of the rising half (`step_size_up`).
        up: u64,
        /// Steps of the falling half (`step_size_down`).
        down: u64,
        /// How the amplitude shrinks.
        mode: CyclicMode,
        /// Factor per step for `exp_range`.
        gamma: f64,
    },
    /// Linear change of a factor (PyTorch `LinearLR`):
    /// `lr (start_factor + (end_factor - start_factor) min(t, total) / total)`.
    Linear {
        /// The rate the factors multiply.
        lr: f64,
        /// Factor at step 0.
        start_factor: f64,
        /// Factor from step `total` on.
        end_factor: f64,
        /// Steps of the change.
        total: u64,
    },
    /// Piecewise constant (optax `piecewise_constant_schedule`): `lr` times the product of the
    /// `factors` whose boundary is at or before the step.
    Piecewise {
        /// Rate before the first boundary.
        lr: f64,
        /// Increasing steps from which each factor applies.
        boundaries: Vec<u64>,
        /// One factor per boundary.
        factors: Vec<f64>,
    },
    /// Pieces joined at boundaries (optax `join_schedules`): piece `i + 1` starts at step
    /// `boundaries[i]` and sees the step count relative to that boundary.
    Join {
        /// The schedules in order; one more than `boundaries`.
        pieces: Vec<Schedule>,
        /// Increasing absolute step numbers where the next piece begins.
        boundaries: Vec<u64>,
    },
    /// Your own function of the step (PyTorch's `LambdaLR`, optax's callable schedules); build it
    /// with [`Schedule::custom`]. It serializes as `{"name": "custom", "function": NAME}`, and
    /// reading that back is an error: the function itself cannot be written down.
    Custom(CustomSchedule),
}

/// The function inside a [`Schedule::Custom`]: a name for reports and the function itself.
///
/// Clones share the function; two custom schedules are equal when they share it (a clone of one
/// another), whatever their names.
///
/// ```
/// use downhill::Schedule;
///
/// let s = Schedule::custom("inverse", |t| 1.0 / (t as f64 + 1.0));
/// let Schedule::Custom(f) = &s else { unreachable!() };
/// assert_eq!(f.name(), "inverse");
/// assert_eq!(f.value(3), 0.25);
/// assert_eq!(s.clone(), s);
/// assert_ne!(Schedule::custom("inverse", |t| 1.0 / (t as f64 + 1.0)), s);
/// ```
#[derive(Clone)]
pub struct CustomSchedule {
    name: String,
    function: Arc<dyn Fn(u64) -> f64 + Send + Sync>,
}

impl CustomSchedule {
    /// The name given to [`Schedule::custom`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The function's value at step `t`, unchecked.
    pub fn value(&self, t: u64) -> f64 {
        (self.function)(t)
    }
}

impl std::fmt::Debug for CustomSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSchedule").field("name", &self.name).finish_non_exhaustive()
    }
}

impl PartialEq for CustomSchedule {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.function, &other.function)
    }
}

impl Serialize for CustomSchedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("function", &self.name)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for CustomSchedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Named {
            function: String,
        }
        let named = Named::deserialize(d)?;
        Err(serde::de::Error::custom(format!(
            "schedule: the custom schedule '{}' is a Rust function and cannot be read back; \
             build it again with Schedule::custom",
            named.function
        )))
    }
}

/// How a [`Schedule::Cyclic`] amplitude changes from cycle to cycle (PyTorch's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CyclicMode {
    /// The same amplitude every cycle.
    Triangular,
    /// The amplitude halves every cycle.
    Triangular2,
    /// The amplitude is multiplied by `gamma` every step.
    ExpRange,
}

/// The most boundaries a [`Schedule::Piecewise`] accepts.
pub const MAX_PIECES: usize = 10_000;

/// Names accepted by [`Schedule::parse`], with aliases.
pub const SCHEDULE_NAMES: &[&str] = &[
    "constant",
    "warmup",
    "cosine",
    "warmup-cosine",
    "step",
    "exponential",
    "inv-sqrt",
    "polynomial",
    "one-cycle",
    "cosine-restarts",
    "cyclic",
    "linear",
    "piecewise",
];

impl From<f64> for Schedule {
    /// A constant rate: `0.1.into()` is `Schedule::Constant { lr: 0.1 }`.
    fn from(lr: f64) -> Self {
        Schedule::Constant { lr }
    }
}

impl Schedule {
    /// A constant rate (checked where it is used: an optimizer refuses a rate that is not
    /// positive and finite).
    ///
    /// ```
    /// use downhill::Schedule;
    /// assert_eq!(Schedule::constant(0.1).value(1_000), 0.1);
    /// assert_eq!(Schedule::constant(0.1), 0.1.into());
    /// ```
    pub fn constant(lr: f64) -> Self {
        Schedule::Constant { lr }
    }

    /// Your own function of the 0-based step, with a name for reports (PyTorch's `LambdaLR`,
    /// optax's callable schedules). The function is not checked here; an optimizer that meets a
    /// NaN, infinite or negative rate stops with an error naming the step (see [`Schedule::rate`]).
    ///
    /// ```
    /// use downhill::Schedule;
    ///
    /// // PyTorch's LambdaLR(lambda t: 0.95 ** t) on a base rate of 0.1.
    /// let s = Schedule::custom("0.1 * 0.95^t", |t| 0.1 * 0.95f64.powi(t as i32));
    /// assert_eq!(s.value(0), 0.1);
    /// assert_eq!(s.value(2), 0.1 * 0.95 * 0.95);
    /// assert_eq!(s.to_string(), "custom:0.1 * 0.95^t");
    /// let bad = Schedule::custom("negative", |t| 1.0 - t as f64);
    /// assert!(bad.rate(1).is_ok());
    /// assert_eq!(
    ///     bad.rate(3).unwrap_err().to_string(),
    ///     "schedule custom:negative at step 3: -2 is not in [0, inf) (a finite, non-negative rate)"
    /// );
    /// ```
    pub fn custom(name: impl Into<String>, function: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        Schedule::Custom(CustomSchedule { name: name.into(), function: Arc::new(function) })
    }

    /// Linear warmup from 0 to `max` over `warmup` steps, then `max`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::warmup(1.0, 4)?;
    /// assert_eq!((0..6).map(|t| s.value(t)).collect::<Vec<_>>(), [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
    /// assert!(Schedule::warmup(0.1, 0).is_err());
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn warmup(max: f64, warmup: u64) -> Result<Self> {
        Schedule::Warmup { max, warmup }.validated()
    }

    /// Cosine annealing from `max` to `min` over `total` steps.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::cosine(1.0, 0.0, 100)?;
    /// assert_eq!(s.value(0), 1.0);
    /// assert!((s.value(50) - 0.5).abs() < 1e-15);
    /// assert_eq!(s.value(100), 0.0);
    /// assert!(Schedule::cosine(0.1, 0.2, 100).is_err()); // min above max
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn cosine(max: f64, min: f64, total: u64) -> Result<Self> {
        Schedule::Cosine { max, min, total }.validated()
    }

    /// The seed article's linear warmup to `max` over `warmup` steps, then cosine annealing to
    /// `min` at `total`. `warmup` must not exceed `total`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::warmup_cosine(1e-3, 1e-5, 1000, 10_000)?;
    /// assert_eq!(s.value(1000), 1e-3);
    /// assert!((s.value(5500) - (1e-3 + 1e-5) / 2.0).abs() < 1e-15);
    /// assert!(Schedule::warmup_cosine(1e-3, 1e-5, 2000, 1000).is_err());
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn warmup_cosine(max: f64, min: f64, warmup: u64, total: u64) -> Result<Self> {
        Schedule::WarmupCosine { max, min, warmup, total }.validated()
    }

    /// Step decay `lr * gamma^floor(t / every)` (PyTorch `StepLR`); `gamma` in `(0, 1]`,
    /// `every >= 1`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::step(1.0, 0.5, 3)?;
    /// assert_eq!((0..7).map(|t| s.value(t)).collect::<Vec<_>>(), [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
    /// let err = Schedule::step(1.0, 0.5, 0).unwrap_err();
    /// assert_eq!(err.to_string(), "schedule.every: 0 is not in [1, 1000000000000]");
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn step(lr: f64, gamma: f64, every: u64) -> Result<Self> {
        Schedule::Step { lr, gamma, every }.validated()
    }

    /// Exponential decay `lr * gamma^t` (PyTorch `ExponentialLR`); `gamma` in `(0, 1]`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::exponential(1.0, 0.5)?;
    /// assert_eq!(s.value(3), 0.125);
    /// assert!(Schedule::exponential(1.0, 1.5).is_err());
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn exponential(lr: f64, gamma: f64) -> Result<Self> {
        Schedule::Exponential { lr, gamma }.validated()
    }

    /// Inverse square root `lr / sqrt(t + offset)`; the seed's `eta_0 / sqrt(t)` with `t` from 1
    /// is `offset = 1`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::inv_sqrt(2.0, 1.0)?;
    /// assert_eq!(s.value(0), 2.0);
    /// assert_eq!(s.value(3), 1.0);
    /// assert!(Schedule::inv_sqrt(2.0, 0.0).is_err()); // 1/sqrt(0) at step 0
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn inv_sqrt(lr: f64, offset: f64) -> Result<Self> {
        Schedule::InvSqrt { lr, offset }.validated()
    }

    /// Polynomial decay `(lr - end) (1 - t/total)^power + end`, then `end`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::polynomial(1.0, 0.0, 1.0, 4)?;
    /// assert_eq!((0..6).map(|t| s.value(t)).collect::<Vec<_>>(), [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
    /// assert!(Schedule::polynomial(1.0, 2.0, 1.0, 4).is_err()); // end above lr
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn polynomial(lr: f64, end: f64, power: f64, total: u64) -> Result<Self> {
        Schedule::Polynomial { lr, end, power, total }.validated()
    }

    /// One-cycle (PyTorch `OneCycleLR` with cosine annealing): from `max/div` up to `max` over the
    /// first `pct_start` of `total` steps, then down to `max/div/final_div`. PyTorch's defaults
    /// are `pct_start = 0.3`, `div = 25`, `final_div = 1e4`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::one_cycle(0.1, 100, 0.3, 25.0, 1e4)?;
    /// assert!((s.value(0) - 0.1 / 25.0).abs() < 1e-15);
    /// assert!((s.value(29) - 0.1).abs() < 1e-15);
    /// assert!(Schedule::one_cycle(0.1, 100, 0.0, 25.0, 1e4).is_err()); // no rising phase
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn one_cycle(max: f64, total: u64, pct_start: f64, div: f64, final_div: f64) -> Result<Self> {
        Schedule::OneCycle { max, total, pct_start, div, final_div }.validated()
    }

    /// Cosine annealing with warm restarts (PyTorch `CosineAnnealingWarmRestarts`): cycles of
    /// `period`, `period * mult`, ... steps, each from `max` down towards `min`.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::cosine_restarts(1.0, 0.0, 10, 2)?;
    /// assert_eq!(s.value(10), 1.0); // the second cycle starts
    /// assert!((s.value(20) - 0.5).abs() < 1e-15); // half way through the 20-step second cycle
    /// assert!(Schedule::cosine_restarts(1.0, 0.0, 0, 1).is_err());
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn cosine_restarts(max: f64, min: f64, period: u64, mult: u64) -> Result<Self> {
        Schedule::CosineRestarts { max, min, period, mult }.validated()
    }

    /// Cyclical rates (PyTorch `CyclicLR`): from `base` up to `max` in `up` steps and back in
    /// `down`; `gamma` is used by [`CyclicMode::ExpRange`] only (PyTorch's default is 1).
    ///
    /// ```
    /// use downhill::schedule::{CyclicMode, Schedule};
    /// let s = Schedule::cyclic(0.0, 1.0, 2, 2, CyclicMode::Triangular, 1.0)?;
    /// assert_eq!((0..5).map(|t| s.value(t)).collect::<Vec<_>>(), [0.0, 0.5, 1.0, 0.5, 0.0]);
    /// assert!(Schedule::cyclic(2.0, 1.0, 2, 2, CyclicMode::Triangular, 1.0).is_err()); // base above max
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn cyclic(base: f64, max: f64, up: u64, down: u64, mode: CyclicMode, gamma: f64) -> Result<Self> {
        Schedule::Cyclic { base, max, up, down, mode, gamma }.validated()
    }

    /// A factor changing linearly from `start_factor` to `end_factor` over `total` steps, times
    /// `lr` (PyTorch `LinearLR`).
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::linear(1.0, 0.25, 1.0, 3)?;
    /// assert_eq!((0..5).map(|t| s.value(t)).collect::<Vec<_>>(), [0.25, 0.5, 0.75, 1.0, 1.0]);
    /// assert!(Schedule::linear(1.0, 0.0, 1.0, 3).is_err()); // a factor of 0 at step 0
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn linear(lr: f64, start_factor: f64, end_factor: f64, total: u64) -> Result<Self> {
        Schedule::Linear { lr, start_factor, end_factor, total }.validated()
    }

    /// Piecewise constant (optax `piecewise_constant_schedule`): `lr`, multiplied by
    /// `factors[i]` from step `boundaries[i]` on.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::piecewise(1.0, vec![2, 4], vec![0.5, 0.1])?;
    /// assert_eq!((0..6).map(|t| s.value(t)).collect::<Vec<_>>(), [1.0, 1.0, 0.5, 0.5, 0.05, 0.05]);
    /// assert!(Schedule::piecewise(1.0, vec![4, 2], vec![0.5, 0.1]).is_err()); // not increasing
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn piecewise(lr: f64, boundaries: Vec<u64>, factors: Vec<f64>) -> Result<Self> {
        Schedule::Piecewise { lr, boundaries, factors }.validated()
    }

    /// Schedules one after another (optax `join_schedules`): piece `i + 1` starts at the absolute
    /// step `boundaries[i]` and counts its own steps from 0 there. Pieces may be custom.
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::join(vec![Schedule::warmup(1.0, 10)?, Schedule::cosine(1.0, 0.0, 90)?], vec![10])?;
    /// assert_eq!(s.value(5), 0.5);
    /// assert_eq!(s.value(10), 1.0);
    /// assert_eq!(s.value(100), 0.0);
    /// assert!(Schedule::join(vec![Schedule::constant(1.0)], vec![10]).is_err()); // one piece too few
    /// # Ok::<(), downhill::Error>(())
    /// ```
    pub fn join(pieces: Vec<Schedule>, boundaries: Vec<u64>) -> Result<Self> {
        Schedule::Join { pieces, boundaries }.validated()
    }

    fn validated(self) -> Result<Self> {
        self.validate()?;
        Ok(self)
    }

    /// The learning rate at 0-based step `t`. Never panics: settings that [`Schedule::validate`]
    /// refuses give NaN where they have no meaning.
    #[inline]
    pub fn value(&self, t: u64) -> f64 {
        match *self {
            Schedule::Constant { lr } => lr,
            _ => self.varying(t),
        }
    }

    /// The learning rate at step `t`, checked: an error naming the schedule and the step when it
    /// is NaN, infinite or negative (which only an unchecked variant or a custom function gives).
    /// Optimizers read their rates through this.
    ///
    /// ```
    /// use downhill::Schedule;
    /// assert_eq!(Schedule::constant(0.1).rate(5), Ok(0.1));
    /// let every_zero = Schedule::Step { lr: 1.0, gamma: 0.5, every: 0 }; // written out, unchecked
    /// assert!(every_zero.value(3).is_nan());
    /// assert!(every_zero.rate(3).unwrap_err().to_string().contains("at step 3: NaN"));
    /// ```
    #[inline]
    pub fn rate(&self, t: u64) -> Result<f64> {
        let v = self.value(t);
        if v >= 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(Error::out_of_range(
                format!("schedule {self} at step {t}"),
                v,
                "[0, inf) (a finite, non-negative rate)",
            ))
        }
    }

    fn varying(&self, t: u64) -> f64 {
        match *self {
            Schedule::Constant { lr } => lr,
            Schedule::Warmup { max, warmup } => {
                if t < warmup {
                    max * t as f64 / warmup as f64
                } else {
                    max
                }
            }
            Schedule::Cosine { max, min, total } => {
                if t < total {
                    min + 0.5 * (max - min) * (1.0 + (PI * t as f64 / total as f64).cos())
                } else {
                    min
                }
            }
            Schedule::WarmupCosine { max, min, warmup, total } => {
                if t < warmup {
                    // numpy: eta_max * t / T_warmup, left to right.
                    max * t as f64 / warmup as f64
                } else if t < total {
                    let t_cos = (t - warmup) as f64;
                    let t_span = (total - warmup) as f64;
                    min + 0.5 * (max - min) * (1.0 + (PI * t_cos / t_span).cos())
                } else {
                    min
                }
            }
            Schedule::Step { lr, gamma, every } => match t.checked_div(every) {
                Some(k) => lr * gamma.powf(k as f64),
                None => f64::NAN,
            },
            Schedule::Exponential { lr, gamma } => lr * gamma.powf(t as f64),
            Schedule::InvSqrt { lr, offset } => lr / (t as f64 + offset).sqrt(),
            Schedule::Polynomial { lr, end, power, total } => {
                if t < total {
                    (lr - end) * (1.0 - t as f64 / total as f64).powf(power) + end
                } else {
                    end
                }
            }
            Schedule::OneCycle { max, total, pct_start, div, final_div } => {
                let initial = max / div;
                let min = initial / final_div;
                let up_end = pct_start * total as f64 - 1.0;
                let down_end = total as f64 - 1.0;
                let anneal =
                    |start: f64, end: f64, pct: f64| end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0);
                let t = t as f64;
                if t <= up_end {
                    anneal(initial, max, t / up_end)
                } else if t < down_end {
                    anneal(max, min, (t - up_end) / (down_end - up_end))
                } else {
                    min
                }
            }
            Schedule::CosineRestarts { max, min, period, mult } => {
                if period == 0 || mult == 0 {
                    return f64::NAN;
                }
                let (mut t_cur, mut t_i) = (t, period);
                if mult == 1 {
                    t_cur = t % period;
                } else {
                    while t_cur >= t_i {
                        t_cur -= t_i;
                        t_i = t_i.saturating_mul(mult);
                    }
                }
                min + (max - min) * (1.0 + (PI * t_cur as f64 / t_i as f64).cos()) / 2.0
            }
            Schedule::Cyclic { base, max, up, down, mode, gamma } => {
                // PyTorch's arithmetic, in its order.
                let total = up as f64 + down as f64;
                let ratio = up as f64 / total;
                let e = t as f64;
                let cycle = (1.0 + e / total).floor();
                let x = 1.0 + e / total - cycle;
                let scale = if x <= ratio { x / ratio } else { (x - 1.0) / (ratio - 1.0) };
                let height = (max - base) * scale;
                let amplitude = match mode {
                    CyclicMode::Triangular => 1.0,
                    CyclicMode::Triangular2 => 1.0 / 2f64.powf(cycle - 1.0),
                    CyclicMode::ExpRange => gamma.powf(e),
                };
                base + height * amplitude
            }
            Schedule::Linear { lr, start_factor, end_factor, total } => {
                lr * (start_factor + (end_factor - start_factor) * t.min(total) as f64 / total as f64)
            }
            Schedule::Piecewise { lr, ref boundaries, ref factors } => {
                let mut v = lr;
                for (&b, &f) in boundaries.iter().zip(factors) {
                    if t < b {
                        break;
                    }
                    v *= f;
                }
                v
            }
            Schedule::Join { ref pieces, ref boundaries } => {
                let i = boundaries.iter().take_while(|&&b| t >= b).count();
                let start = if i == 0 { 0 } else { boundaries[i - 1] };
                match pieces.get(i) {
                    Some(piece) if t >= start => piece.value(t - start),
                    _ => f64::NAN,
                }
            }
            Schedule::Custom(ref f) => f.value(t),
        }
    }

    /// The rate at step 0 (what a constant schedule would report as its `lr`).
    pub fn initial(&self) -> f64 {
        self.value(0)
    }

    /// Whether this is a [`Schedule::Constant`].
    pub fn is_constant(&self) -> bool {
        matches!(self, Schedule::Constant { .. })
    }

    /// What [`crate::Optimizer::set_learning_rate`] accepts: a schedule that passes
    /// [`Schedule::validate`], or a constant rate of 0 or more. A training loop's scheduler sets 0
    /// at the start of a warmup (PyTorch accepts `lr = 0`); a spec or builder still asks an
    /// optimizer's `lr` to be positive.
    ///
    /// ```
    /// use downhill::Schedule;
    /// assert!(Schedule::constant(0.0).validate_setting().is_ok());
    /// assert!(Schedule::constant(0.0).validate().is_err());
    /// assert_eq!(
    ///     Schedule::constant(-1e-3).validate_setting().unwrap_err().to_string(),
    ///     "schedule.lr: -0.001 is not in [0, inf)"
    /// );
    /// ```
    pub fn validate_setting(&self) -> Result<()> {
        match *self {
            Schedule::Constant { lr } => Range::NonNegative.check("schedule.lr", lr).map(|_| ()),
            _ => self.validate(),
        }
    }

    /// Checks that the schedule is self-consistent and all its rates are finite and non-negative,
    /// with the one-line messages [`Schedule::parse`] gives (it calls this). The constructors call
    /// it; call it yourself on a variant written out. A custom function passes (its values are
    /// checked one by one by [`Schedule::rate`]).
    ///
    /// ```
    /// use downhill::Schedule;
    /// let s = Schedule::Step { lr: 0.1, gamma: 0.5, every: 0 };
    /// assert_eq!(s.validate().unwrap_err().to_string(), "schedule.every: 0 is not in [1, 1000000000000]");
    /// assert_eq!(s.validate(), Schedule::parse("step:lr=0.1,gamma=0.5,every=0").map(|_| ()));
    /// ```
    pub fn validate(&self) -> Result<()> {
        let nonneg = |f: &str, x: f64| Range::NonNegative.check(&format!("schedule.{f}"), x).map(|_| ());
        let pos = |f: &str, x: f64| Range::Positive.check(&format!("schedule.{f}"), x).map(|_| ());
        let steps = |f: &str, x: u64, min: u64| {
            if x < min || x > MAX_STEPS {
                Err(Error::out_of_range(format!("schedule.{f}"), x, &format!("[{min}, {MAX_STEPS}]")))
            } else {
                Ok(())
            }
        };
        let ordered = |min: f64, max: f64| {
            if min > max {
                Err(Error::Inconsistent {
                    field: "schedule.min".into(),
                    message: format!("{min} must not exceed max ({max})"),
                })
            } else {
                Ok(())
            }
        };
        match *self {
            Schedule::Constant { lr } => pos("lr", lr),
            Schedule::Warmup { max, warmup } => {
                pos("max", max)?;
                steps("warmup", warmup, 1)
            }
            Schedule::Cosine { max, min, total } => {
                pos("max", max)?;
                nonneg("min", min)?;
                ordered(min, max)?;
                steps("total", total, 1)
            }
            Schedule::WarmupCosine { max, min, warmup, total } => {
                pos("max", max)?;
                nonneg("min", min)?;
                ordered(min, max)?;
                steps("total", total, 1)?;
                steps("warmup", warmup, 0)?;
                if warmup > total {
                    return Err(Error::Inconsistent {
                        field: "schedule.warmup".into(),
                        message: format!("{warmup} must not exceed total ({total})"),
                    });
                }
                Ok(())
            }
            Schedule::Step { lr, gamma, every } => {
                pos("lr", lr)?;
                Range::UnitPositive.check("schedule.gamma", gamma)?;
                steps("every", every, 1)
            }
            Schedule::Exponential { lr, gamma } => {
                pos("lr", lr)?;
                Range::UnitPositive.check("schedule.gamma", gamma).map(|_| ())
            }
            Schedule::InvSqrt { lr, offset } => {
                pos("lr", lr)?;
                pos("offset", offset)
            }
            Schedule::Polynomial { lr, end, power, total } => {
                pos("lr", lr)?;
                nonneg("end", end)?;
                pos("power", power)?;
                steps("total", total, 1)?;
                if end > lr {
                    return Err(Error::Inconsistent {
                        field: "schedule.end".into(),
                        message: format!("{end} must not exceed lr ({lr})"),
                    });
                }
                Ok(())
            }
            Schedule::OneCycle { max, total, pct_start, div, final_div } => {
                pos("max", max)?;
                steps("total", total, 2)?;
                pos("div", div)?;
                pos("final_div", final_div)?;
                Range::Unit.check("schedule.pct_start", pct_start)?;
                let up_end = pct_start * total as f64 - 1.0;
                if up_end <= 0.0 || up_end >= total as f64 - 1.0 {
                    return Err(Error::Inconsistent {
                        field: "schedule.pct_start".into(),
                        message: format!(
                            "{pct_start} leaves an empty phase with total {total}; need 1 < pct_start*total < total"
                        ),
                    });
                }
                Ok(())
            }
            Schedule::CosineRestarts { max, min, period, mult } => {
                pos("max", max)?;
                nonneg("min", min)?;
                ordered(min, max)?;
                steps("period", period, 1)?;
                if !(1..=MAX_MULT).contains(&mult) {
                    return Err(Error::out_of_range(
                        "schedule.mult",
                        mult,
                        &format!("whole numbers 1..={MAX_MULT}"),
                    ));
                }
                Ok(())
            }
            Schedule::Cyclic { base, max, up, down, gamma, .. } => {
                nonneg("base", base)?;
                pos("max", max)?;
                if base > max {
                    return Err(Error::Inconsistent {
                        field: "schedule.base".into(),
                        message: format!("{base} must not exceed max ({max})"),
                    });
                }
                steps("up", up, 1)?;
                steps("down", down, 1)?;
                Range::UnitPositive.check("schedule.gamma", gamma).map(|_| ())
            }
            Schedule::Linear { lr, start_factor, end_factor, total } => {
                pos("lr", lr)?;
                Range::UnitPositive.check("schedule.start_factor", start_factor)?;
                Range::Unit.check("schedule.end_factor", end_factor)?;
                steps("total", total, 1)
            }
            Schedule::Piecewise { lr, ref boundaries, ref factors } => {
                pos("lr", lr)?;
                if boundaries.is_empty() {
                    return Err(Error::Inconsistent {
                        field: "schedule.boundaries".into(),
                        message: "required: a list such as 100,200".into(),
                    });
                }
                if boundaries.len() != factors.len() {
                    return Err(Error::Inconsistent {
                        field: "schedule.factors".into(),
                        message: format!(
                            "{} factors for {} boundaries: give one factor per boundary",
                            factors.len(),
                            boundaries.len()
                        ),
                    });
                }
                if boundaries.len() > MAX_PIECES {
                    return Err(Error::out_of_range(
                        "schedule.boundaries",
                        boundaries.len(),
                        &format!("at most {MAX_PIECES} boundaries"),
                    ));
                }
                if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::Inconsistent {
                        field: "schedule.boundaries".into(),
                        message: format!("{boundaries:?} must be increasing"),
                    });
                }
                for &b in boundaries {
                    steps("boundaries", b, 0)?;
                }
                let mut v = lr;
                for &f in factors {
                    nonneg("factors", f)?;
                    v *= f;
                    if !v.is_finite() {
                        return Err(Error::out_of_range(
                            "schedule.factors",
                            f,
                            "factors whose running product with lr stays finite",
                        ));
                    }
                }
                Ok(())
            }
            Schedule::Join { ref pieces, ref boundaries } => {
                if pieces.len() != boundaries.len() + 1 || pieces.is_empty() {
                    return Err(Error::Inconsistent {
                        field: "schedule".into(),
                        message: "a join needs one boundary fewer than pieces".into(),
                    });
                }
                if boundaries.windows(2).any(|w| w[0] >= w[1]) || boundaries.first() == Some(&0) {
                    return Err(Error::Inconsistent {
                        field: "schedule.until".into(),
                        message: format!("boundaries {boundaries:?} must be positive and increasing"),
                    });
                }
                pieces.iter().try_for_each(Schedule::validate)
            }
            // A function cannot be checked ahead of time; `rate` checks each value it gives.
            Schedule::Custom(_) => Ok(()),
        }
    }

    /// Parses a schedule spec.
    ///
    /// One piece is `name:key=value,...`, e.g. `warmup-cosine:max=1e-3,min=1e-5,warmup=1000,total=10000`.
    /// Pieces can be joined with `;`, each but the last ending in `until N` (the absolute step where
    /// the next piece starts, which then counts its own steps from 0):
    /// `warmup:max=0.1,warmup=100 until 100; cosine:max=0.1,total=900`.
    pub fn parse(text: &str) -> Result<Schedule> {
        let parts: Vec<&str> = text.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
        if parts.len() > 1 {
            let mut pieces = Vec::new();
            let mut boundaries = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let last = i + 1 == parts.len();
                let (spec, until) = match part.rsplit_once(" until ") {
                    Some((s, n)) => (s, Some(n.trim())),
                    None => (*part, None),
                };
                match (until, last) {
                    (Some(n), false) => boundaries.push(n.parse::<u64>().map_err(|_| Error::Parse {
                        field: "schedule.until".into(),
                        value: n.into(),
                        expected: "a whole number of steps".into(),
                    })?),
                    (None, false) => {
                        return Err(Error::Parse {
                            field: "schedule".into(),
                            value: (*part).into(),
                            expected: "'SPEC until STEP' before each ';'".into(),
                        })
                    }
                    (Some(_), true) => {
                        return Err(Error::Parse {
                            field: "schedule".into(),
                            value: (*part).into(),
                            expected: "no 'until' on the last piece".into(),
                        })
                    }
                    (None, true) => {}
                }
                pieces.push(Schedule::parse_one(spec)?);
            }
            let s = Schedule::Join { pieces, boundaries };
            s.validate()?;
            return Ok(s);
        }
        Schedule::parse_one(text)
    }

    fn parse_one(text: &str) -> Result<Schedule> {
        if text.split(':').next().map(str::trim) == Some("custom") {
            return Err(Error::Inconsistent {
                field: "schedule".into(),
                message: "a custom schedule is a Rust function (Schedule::custom) and cannot be written \
                          as text; use one of the named schedules"
                    .into(),
            });
        }
        // A list such as `boundaries=100,200` (or `100/200`); required.
        let list = |p: &mut Params, k: &'static str| -> Result<Vec<String>> {
            match p.raw(k, &[])? {
                Some(text) if !text.trim().is_empty() => {
                    let items: Vec<String> = text.split([',', '/']).map(|s| s.trim().to_string()).collect();
                    if items.len() > MAX_PIECES {
                        return Err(Error::out_of_range(
                            format!("schedule.{k}"),
                            items.len(),
                            &format!("at most {MAX_PIECES} values"),
                        ));
                    }
                    Ok(items)
                }
                _ => Err(Error::Inconsistent {
                    field: format!("schedule.{k}"),
                    message: "required: a list such as 100,200".into(),
                }),
            }
        };
        let spec = Spec::parse(text, "schedule")?;
        let mut p = Params::new("schedule", &spec);
        let num = |p: &mut Params, k: &'static str, d: f64| p.number(k, d, Range::Finite);
        let req = |p: &mut Params, k: &'static str| -> Result<f64> {
            p.optional(k, Range::Finite)?.ok_or_else(|| Error::Inconsistent {
                field: format!("schedule.{k}"),
                message: format!("required by {}", spec.name),
            })
        };
        let req_steps = |p: &mut Params, k: &'static str| -> Result<u64> {
            let x = p.count(k, u64::MAX, MAX_STEPS)?;
            if x == u64::MAX {
                return Err(Error::Inconsistent {
                    field: format!("schedule.{k}"),
                    message: format!("required by {}", spec.name),
                });
            }
            Ok(x)
        };
        let s = match spec.name.as_str() {
            "constant" | "const" => Schedule::Constant { lr: req(&mut p, "lr")? },
            "warmup" | "linear-warmup" => {
                Schedule::Warmup { max: req(&mut p, "max")?, warmup: req_steps(&mut p, "warmup")? }
            }
            "cosine" => Schedule::Cosine {
                max: req(&mut p, "max")?,
                min: num(&mut p, "min", 0.0)?,
                total: req_steps(&mut p, "total")?,
            },
            "warmup-cosine" => Schedule::WarmupCosine {
                max: req(&mut p, "max")?,
                min: num(&mut p, "min", 0.0)?,
                warmup: req_steps(&mut p, "warmup")?,
                total: req_steps(&mut p, "total")?,
            },
            "step" | "step-decay" => Schedule::Step {
                lr: req(&mut p, "lr")?,
                gamma: num(&mut p, "gamma", 0.1)?,
                every: req_steps(&mut p, "every")?,
            },
            "exponential" | "exp" => {
                Schedule::Exponential { lr: req(&mut p, "lr")?, gamma: req(&mut p, "gamma")? }
            }
            "inv-sqrt" | "inverse-sqrt" => {
                Schedule::InvSqrt { lr: req(&mut p, "lr")?, offset: num(&mut p, "offset", 1.0)? }
            }
            "polynomial" | "poly" => Schedule::Polynomial {
                lr: req(&mut p, "lr")?,
                end: num(&mut p, "end", 0.0)?,
                power: num(&mut p, "power", 1.0)?,
                total: req_steps(&mut p, "total")?,
            },
            "one-cycle" | "onecycle" => Schedule::OneCycle {
                max: req(&mut p, "max")?,
                total: req_steps(&mut p, "total")?,
                pct_start: num(&mut p, "pct_start", 0.3)?,
                div: num(&mut p, "div", 25.0)?,
                final_div: num(&mut p, "final_div", 1e4)?,
            },
            "cosine-restarts" | "cosine-warm-restarts" | "sgdr" => Schedule::CosineRestarts {
                max: req(&mut p, "max")?,
                min: num(&mut p, "min", 0.0)?,
                period: req_steps(&mut p, "period")?,
                mult: p.count("mult", 1, MAX_MULT)?,
            },
            "cyclic" | "cyclic-lr" => {
                let base = req(&mut p, "base")?;
                let max = req(&mut p, "max")?;
                let up = req_steps(&mut p, "up")?;
                let down = p.count("down", up, MAX_STEPS)?;
                let mode =
                    match p.choice("mode", &["triangular", "triangular2", "exp_range"], "triangular")? {
                        "triangular2" => CyclicMode::Triangular2,
                        "exp_range" => CyclicMode::ExpRange,
                        _ => CyclicMode::Triangular,
                    };
                Schedule::Cyclic { base, max, up, down, mode, gamma: num(&mut p, "gamma", 1.0)? }
            }
            "linear" | "linear-lr" => Schedule::Linear {
                lr: req(&mut p, "lr")?,
                start_factor: num(&mut p, "start_factor", 1.0 / 3.0)?,
                end_factor: num(&mut p, "end_factor", 1.0)?,
                total: req_steps(&mut p, "total")?,
            },
            "piecewise" | "piecewise-constant" => {
                let lr = req(&mut p, "lr")?;
                let boundaries = list(&mut p, "boundaries")?
                    .iter()
                    .map(|b| {
                        let x = crate::spec::parse_number("schedule.boundaries", b)?;
                        if x.fract() != 0.0 || !(0.0..=MAX_STEPS as f64).contains(&x) {
                            return Err(Error::out_of_range(
                                "schedule.boundaries",
                                b,
                                &format!("whole numbers 0..={MAX_STEPS}"),
                            ));
                        }
                        Ok(x as u64)
                    })
                    .collect::<Result<Vec<u64>>>()?;
                let factors = list(&mut p, "factors")?
                    .iter()
                    .map(|f| crate::spec::parse_number("schedule.factors", f))
                    .collect::<Result<Vec<f64>>>()?;
                Schedule::Piecewise { lr, boundaries, factors }
            }
            other => return Err(Error::unknown("schedule", other, SCHEDULE_NAMES)),
        };
        p.finish()?;
        s.validate()?;
        Ok(s)
    }
}

/// A number as a spec writes it: the shortest text that reads back to the same `f64`, without a
/// trailing `.0` (`0.001`, `1e-5`, `1000`).
fn number(x: f64) -> String {
    let text = format!("{x:?}");
    match text.strip_suffix(".0") {
        Some(whole) => whole.to_string(),
        None => text,
    }
}

impl std::fmt::Display for Schedule {
    /// The spec that [`Schedule::parse`] reads back to an equal schedule (`custom:NAME` for a
    /// custom function, which cannot be read back).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |x: f64| number(x);
        match self {
            Schedule::Constant { lr } => write!(f, "constant:lr={}", n(*lr)),
            Schedule::Warmup { max, warmup } => write!(f, "warmup:max={},warmup={warmup}", n(*max)),
            Schedule::Cosine { max, min, total } => {
                write!(f, "cosine:max={},min={},total={total}", n(*max), n(*min))
            }
            Schedule::WarmupCosine { max, min, warmup, total } => {
                write!(f, "warmup-cosine:max={},min={},warmup={warmup},total={total}", n(*max), n(*min))
            }
            Schedule::Step { lr, gamma, every } => {
                write!(f, "step:lr={},gamma={},every={every}", n(*lr), n(*gamma))
            }
            Schedule::Exponential { lr, gamma } => write!(f, "exponential:lr={},gamma={}", n(*lr), n(*gamma)),
            Schedule::InvSqrt { lr, offset } => write!(f, "inv-sqrt:lr={},offset={}", n(*lr), n(*offset)),
            Schedule::Polynomial { lr, end, power, total } => {
                write!(f, "polynomial:lr={},end={},power={},total={total}", n(*lr), n(*end), n(*power))
            }
            Schedule::OneCycle { max, total, pct_start, div, final_div } => write!(
                f,
                "one-cycle:max={},total={total},pct_start={},div={},final_div={}",
                n(*max),
                n(*pct_start),
                n(*div),
                n(*final_div)
            ),
            Schedule::CosineRestarts { max, min, period, mult } => {
                write!(f, "cosine-restarts:max={},min={},period={period},mult={mult}", n(*max), n(*min))
            }
            Schedule::Cyclic { base, max, up, down, mode, gamma } => {
                let mode = match mode {
                    CyclicMode::Triangular => "triangular",
                    CyclicMode::Triangular2 => "triangular2",
                    CyclicMode::ExpRange => "exp_range",
                };
                write!(
                    f,
                    "cyclic:base={},max={},up={up},down={down},mode={mode},gamma={}",
                    n(*base),
                    n(*max),
                    n(*gamma)
                )
            }
            Schedule::Linear { lr, start_factor, end_factor, total } => write!(
                f,
                "linear:lr={},start_factor={},end_factor={},total={total}",
                n(*lr),
                n(*start_factor),
                n(*end_factor)
            ),
            Schedule::Piecewise { lr, boundaries, factors } => {
                let list = |v: Vec<String>| v.join("/");
                write!(
                    f,
                    "piecewise:lr={},boundaries={},factors={}",
                    n(*lr),
                    list(boundaries.iter().map(u64::to_string).collect()),
                    list(factors.iter().map(|&x| n(x)).collect())
                )
            }
            Schedule::Join { pieces, boundaries } => {
                for (i, piece) in pieces.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{piece}")?;
                    if let Some(b) = boundaries.get(i) {
                        write!(f, " until {b}")?;
                    }
                }
                Ok(())
            }
            Schedule::Custom(c) => write!(f, "custom:{}", c.name),
        }
    }
}

/// How [`ReduceOnPlateau`] decides that a metric improved (PyTorch's `threshold_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Better when below `best * (1 - threshold)`.
    Rel,
    /// Better when below `best - threshold`.
    Abs,
}

/// PyTorch's `ReduceLROnPlateau` in `mode="min"`, stepped once per epoch with the validation loss:
/// after more than `patience` epochs without improvement the rate becomes
/// `max(lr * factor, min_lr)` (unless that lowers it by `eps` or less), and the next `cooldown`
/// epochs are not counted. A loss improves when it is below `best * (1 - threshold)` (`rel`,
/// the default) or `best - threshold` (`abs`).
///
/// The counters are part of the value (serializable), so that a checkpoint resumes it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceOnPlateau {
    /// Multiplies the rate at each reduction, in `(0, 1)`.
    pub factor: f64,
    /// Epochs without improvement tolerated before a reduction.
    pub patience: u64,
    /// Relative (or absolute) improvement that counts, `>= 0`.
    pub threshold: f64,
    /// `rel` or `abs`.
    pub threshold_mode: ThresholdMode,
    /// Epochs after a reduction during which bad epochs are not counted.
    pub cooldown: u64,
    /// The rate never goes below this, `>= 0`.
    pub min_lr: f64,
    /// Reductions smaller than this are skipped, `>= 0`.
    pub eps: f64,
    /// The best loss so far (`None` before the first epoch: PyTorch's `inf`).
    pub best: Option<f64>,
    /// Epochs since the last improvement (`num_bad_epochs`).
    pub bad_epochs: u64,
    /// Cooldown epochs left.
    pub cooldown_left: u64,
}

impl ReduceOnPlateau {
    /// Parses `factor=0.1,patience=10,threshold=1e-4,threshold_mode=rel,cooldown=0,min_lr=0,eps=1e-8`
    /// (every key optional; these are PyTorch's defaults).
    pub fn parse(text: &str) -> Result<ReduceOnPlateau> {
        let spec = Spec::parse(&format!("reduce-on-plateau:{text}"), "reduce-on-plateau")?;
        let mut p = Params::new("reduce-on-plateau", &spec);
        let factor = p.number("factor", 0.1, Range::Positive)?;
        if factor >= 1.0 {
            return Err(Error::out_of_range("reduce-on-plateau.factor", factor, "(0, 1)"));
        }
        let patience = p.count("patience", 10, MAX_STEPS)?;
        let threshold = p.number("threshold", 1e-4, Range::NonNegative)?;
        let threshold_mode = match p.choice("threshold_mode", &["rel", "abs"], "rel")? {
            "abs" => ThresholdMode::Abs,
            _ => ThresholdMode::Rel,
        };
        let cooldown = p.count("cooldown", 0, MAX_STEPS)?;
        let min_lr = p.number("min_lr", 0.0, Range::NonNegative)?;
        let eps = p.number("eps", 1e-8, Range::NonNegative)?;
        p.finish()?;
        Ok(ReduceOnPlateau {
            factor,
            patience,
            threshold,
            threshold_mode,
            cooldown,
            min_lr,
            eps,
            best: None,
            bad_epochs: 0,
            cooldown_left: 0,
        })
    }

    fn is_better(&self, loss: f64) -> bool {
        let best = self.best.unwrap_or(f64::INFINITY);
        match self.threshold_mode {
            ThresholdMode::Rel => loss < best * (1.0 - self.threshold),
            ThresholdMode::Abs => loss < best - self.threshold,
        }
    }

    /// Records one epoch's `loss` when the rate is `lr`; returns the rate for the next epoch.
    pub fn step(&mut self, loss: f64, lr: f64) -> f64 {
        if self.is_better(loss) {
            self.best = Some(loss);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > self.patience {
            self.cooldown_left = self.cooldown;
            self.bad_epochs = 0;
            let reduced = (lr * self.factor).max(self.min_lr);
            if lr - reduced > self.eps {
                return reduced;
            }
        }
        lr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_warmup_cosine_matches_hand_formula() {
        let s = Schedule::parse("warmup-cosine:max=1e-3,min=1e-5,warmup=1000,total=10000").unwrap();
        assert_eq!(s.value(0), 0.0);
        assert_eq!(s.value(500), 1e-3 * 500.0 / 1000.0);
        assert_eq!(s.value(1000), 1e-3);
        // Half way through the cosine phase the rate is the mean of max and min.
        assert!((s.value(5500) - (1e-3 + 1e-5) / 2.0).abs() < 1e-15);
        assert_eq!(s.value(10_000), 1e-5);
    }

    #[test]
    fn contradictions_are_errors() {
        for bad in [
            "warmup-cosine:max=1e-3,min=1e-5,warmup=2000,total=1000",
            "cosine:max=1e-3,min=1e-2,total=10",
            "constant:lr=0",
            "constant:lr=nan",
            "exponential:lr=1,gamma=1.5",
            "constant",
            "cosin:max=1,total=3",
            "a until 3; constant:lr=1",
            "constant:lr=1 until 0; constant:lr=2",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn join_restarts_the_step_count() {
        let s = Schedule::parse("constant:lr=1 until 10; exponential:lr=0.5,gamma=0.5").unwrap();
        assert_eq!(s.value(9), 1.0);
        assert_eq!(s.value(10), 0.5);
        assert_eq!(s.value(12), 0.125);
    }

    #[test]
    fn one_cycle_matches_pytorch_endpoints() {
        let s = Schedule::parse("one-cycle:max=0.1,total=100").unwrap();
        assert!((s.value(0) - 0.1 / 25.0).abs() < 1e-15);
        assert!((s.value(29) - 0.1).abs() < 1e-15);
        assert!((s.value(99) - 0.1 / 25.0 / 1e4).abs() < 1e-18);
    }

    /// A schedule of every kind, its fields drawn from values that include zeros, negatives, NaN,
    /// infinities and huge step counts.
    fn arbitrary(rng: &mut crate::rng::Rng, depth: u32) -> Schedule {
        const X: [f64; 9] = [-1.0, 0.0, 1e-3, 0.25, 0.5, 1.0, 2.5, f64::NAN, f64::INFINITY];
        const N: [u64; 8] = [0, 1, 2, 3, 10, 1000, MAX_STEPS + 1, u64::MAX];
        let mut x = || X[rng.below(X.len() as u64) as usize];
        let xs: Vec<f64> = (0..6).map(|_| x()).collect();
        let mut n = || N[rng.below(N.len() as u64) as usize];
        let ns: Vec<u64> = (0..4).map(|_| n()).collect();
        let mode =
            [CyclicMode::Triangular, CyclicMode::Triangular2, CyclicMode::ExpRange][rng.below(3) as usize];
        match rng.below(if depth == 0 { 15 } else { 14 }) {
            0 => Schedule::Constant { lr: xs[0] },
            1 => Schedule::Warmup { max: xs[0], warmup: ns[0] },
            2 => Schedule::Cosine { max: xs[0], min: xs[1], total: ns[0] },
            3 => Schedule::WarmupCosine { max: xs[0], min: xs[1], warmup: ns[0], total: ns[1] },
            4 => Schedule::Step { lr: xs[0], gamma: xs[1], every: ns[0] },
            5 => Schedule::Exponential { lr: xs[0], gamma: xs[1] },
            6 => Schedule::InvSqrt { lr: xs[0], offset: xs[1] },
            7 => Schedule::Polynomial { lr: xs[0], end: xs[1], power: xs[2], total: ns[0] },
            8 => Schedule::OneCycle {
                max: xs[0],
                total: ns[0],
                pct_start: xs[1],
                div: xs[2],
                final_div: xs[3],
            },
            9 => Schedule::CosineRestarts { max: xs[0], min: xs[1], period: ns[0], mult: ns[1] },
            10 => Schedule::Cyclic { base: xs[0], max: xs[1], up: ns[0], down: ns[1], mode, gamma: xs[2] },
            11 => Schedule::Linear { lr: xs[0], start_factor: xs[1], end_factor: xs[2], total: ns[0] },
            12 => {
                let k = rng.below(3) as usize;
                Schedule::Piecewise {
                    lr: xs[0],
                    boundaries: ns[..k].to_vec(),
                    factors: xs[1..1 + k].to_vec(),
                }
            }
            13 => Schedule::custom("twice the step", |t| 2.0 * t as f64),
            _ => {
                let k = rng.below(3) as usize;
                let pieces = (0..=k).map(|_| arbitrary(rng, depth + 1)).collect();
                let boundaries = (1..=k as u64).map(|i| i * 100 * (1 + rng.below(2))).collect();
                Schedule::Join { pieces, boundaries }
            }
        }
    }

    #[test]
    fn value_never_panics_and_checked_schedules_give_finite_non_negative_rates() {
        let mut rng = crate::rng::Rng::new(15);
        let steps = [0, 1, 2, 5, 99, 100, 101, 999, 1000, 1001, 1 << 40, u64::MAX];
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..200_000 {
            let s = arbitrary(&mut rng, 0);
            let values: Vec<f64> = steps.iter().map(|&t| s.value(t)).collect();
            match s.validate() {
                Ok(()) => {
                    valid += 1;
                    for (&t, v) in steps.iter().zip(&values) {
                        assert!(*v >= 0.0 && v.is_finite(), "{s}: {v} at step {t}");
                        assert_eq!(s.rate(t), Ok(*v));
                    }
                    // The spec it prints reads back to the same schedule (custom ones cannot).
                    // A join of one piece reads back as that piece.
                    let same = match &s {
                        Schedule::Join { pieces, .. } if pieces.len() == 1 => &pieces[0],
                        _ => &s,
                    };
                    if !s.to_string().contains("custom:") {
                        assert_eq!(Schedule::parse(&s.to_string()).as_ref(), Ok(same), "{s}");
                    }
                }
                Err(e) => {
                    invalid += 1;
                    assert!(!e.to_string().contains('\n'), "{e}");
                    assert!(e.to_string().starts_with("schedule"), "{e}");
                }
            }
        }
        assert!(valid > 5_000 && invalid > 5_000, "{valid} valid, {invalid} invalid");
    }

    #[test]
    fn settings_without_meaning_give_nan_not_a_panic() {
        assert!(Schedule::Step { lr: 1.0, gamma: 0.5, every: 0 }.value(3).is_nan());
        assert!(Schedule::CosineRestarts { max: 1.0, min: 0.0, period: 0, mult: 1 }.value(3).is_nan());
        assert!(Schedule::CosineRestarts { max: 1.0, min: 0.0, period: 0, mult: 2 }.value(3).is_nan());
        assert!(Schedule::CosineRestarts { max: 1.0, min: 0.0, period: 5, mult: 0 }.value(7).is_nan());
        assert!(Schedule::Join { pieces: vec![], boundaries: vec![] }.value(0).is_nan());
        let e = Schedule::Step { lr: 1.0, gamma: 0.5, every: 0 }.rate(3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "schedule step:lr=1,gamma=0.5,every=0 at step 3: NaN is not in [0, inf) (a finite, non-negative rate)"
        );
    }

    #[test]
    fn constructors_check_as_specs_do() {
        let cases: [(Result<Schedule>, &str); 6] = [
            (
                Schedule::warmup_cosine(1e-3, 1e-5, 2000, 1000),
                "warmup-cosine:max=1e-3,min=1e-5,warmup=2000,total=1000",
            ),
            (Schedule::step(1.0, 0.5, 0), "step:lr=1,gamma=0.5,every=0"),
            (Schedule::cosine(1e-3, 1e-2, 10), "cosine:max=1e-3,min=1e-2,total=10"),
            (Schedule::exponential(1.0, 1.5), "exponential:lr=1,gamma=1.5"),
            (Schedule::inv_sqrt(-1.0, 1.0), "inv-sqrt:lr=-1"),
            (Schedule::cosine_restarts(1.0, 0.0, 10, 0), "cosine-restarts:max=1,period=10,mult=0"),
        ];
        for (typed, spec) in cases {
            let typed = typed.unwrap_err();
            assert_eq!(Err(typed.clone()), Schedule::parse(spec), "{spec}");
            assert!(typed.to_string().starts_with("schedule."), "{typed}");
        }
        assert_eq!(
            Schedule::warmup_cosine(1e-3, 1e-5, 2000, 1000).unwrap_err().to_string(),
            "schedule.warmup: 2000 must not exceed total (1000)"
        );
        assert_eq!(Schedule::from(0.5), Schedule::Constant { lr: 0.5 });
    }

    #[test]
    fn a_custom_schedule_reports_serializes_by_name_and_is_not_read_back() {
        let s = Schedule::custom("lambda", |t| 0.1 / (1.0 + t as f64));
        assert_eq!(s.value(1), 0.05);
        assert_eq!(s.clone(), s);
        assert!(format!("{s:?}").contains("lambda"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"name":"custom","function":"lambda"}"#);
        let back = serde_json::from_str::<Schedule>(&json).unwrap_err().to_string();
        assert!(back.contains("custom schedule 'lambda'") && back.contains("Schedule::custom"), "{back}");
        let text = Schedule::parse("custom:lambda").unwrap_err().to_string();
        assert!(text.contains("Schedule::custom"), "{text}");
        // Inside a join, the custom piece counts its own steps from its boundary.
        let joined = Schedule::join(vec![Schedule::constant(1.0), s], vec![10]).unwrap();
        assert_eq!(joined.value(11), 0.05);
        assert_eq!(joined.to_string(), "constant:lr=1 until 10; custom:lambda");
        // Values a rate cannot have are errors naming the step.
        let bad = Schedule::custom("one over t", |t| 1.0 / t as f64);
        assert_eq!(bad.rate(2), Ok(0.5));
        let e = bad.rate(0).unwrap_err().to_string();
        assert_eq!(
            e,
            "schedule custom:one over t at step 0: inf is not in [0, inf) (a finite, non-negative rate)"
        );
    }

    #[test]
    fn step_and_inv_sqrt() {
        let s = Schedule::parse("step:lr=1,gamma=0.5,every=3").unwrap();
        assert_eq!((0..7).map(|t| s.value(t)).collect::<Vec<_>>(), [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
        let s = Schedule::parse("inv-sqrt:lr=2").unwrap();
        assert_eq!(s.value(0), 2.0);
        assert_eq!(s.value(3), 1.0);
    }
}
