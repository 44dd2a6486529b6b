//! Learning-rate schedules: plain functions of the step count.
//!
//! Steps are counted from 0: `value(0)` is the rate of the first update. (Adam's bias correction
//! counts from 1; the two conventions are the seed article's and PyTorch's, and both are kept.)
//! Every schedule is computed in `f64` and converted to the working precision by the optimizer.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

use crate::error::{Error, Result};
use crate::spec::{Params, Range, Spec};

/// The most steps any schedule, run or sweep accepts (a sanity cap, not a memory limit).
pub const MAX_STEPS: u64 = 1_000_000_000_000;

/// The largest cycle growth factor `mult` of [`Schedule::CosineRestarts`].
pub const MAX_MULT: u64 = 1000;

/// A learning-rate schedule. Build one directly, or parse a spec with [`Schedule::parse`].
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

impl Schedule {
    /// A constant rate.
    pub fn constant(lr: f64) -> Self {
        Schedule::Constant { lr }
    }

    /// The learning rate at 0-based step `t`.
    #[inline]
    pub fn value(&self, t: u64) -> f64 {
        match *self {
            Schedule::Constant { lr } => lr,
            _ => self.varying(t),
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
            Schedule::Step { lr, gamma, every } => lr * gamma.powf((t / every) as f64),
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
                pieces[i].value(t - start)
            }
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

    /// Checks that the schedule is self-consistent and all its rates are finite and non-negative.
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

    #[test]
    fn step_and_inv_sqrt() {
        let s = Schedule::parse("step:lr=1,gamma=0.5,every=3").unwrap();
        assert_eq!((0..7).map(|t| s.value(t)).collect::<Vec<_>>(), [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
        let s = Schedule::parse("inv-sqrt:lr=2").unwrap();
        assert_eq!(s.value(0), 2.0);
        assert_eq!(s.value(3), 1.0);
    }
}
