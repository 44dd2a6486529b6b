//! Several optimizers raced from one start on one objective, each with its learning rate
//! optionally tuned over a fixed grid first: what `downhill compare`, `downhill tour` and the
//! playground's `/api/tune` compute. A [`Comparison`] serializes as `downhill compare --format
//! json` prints it.
//!
//! ```
//! use downhill::compare::{compare, CompareOptions};
//!
//! let objective = downhill::objectives::build::<f64>("quadratic:a=50,b=1")?;
//! let specs = ["gd".to_string(), "adam".to_string()];
//! let options = CompareOptions { steps: 100, tune_lr: true, ..CompareOptions::default() };
//! let c = compare(objective, &specs, vec![1.0, 1.0], &options)?;
//! // GD is stable only below 2 / L = 2 / 100, so its tuned rate is below that; from f = 51 both
//! // end far down.
//! assert!(c.entries[0].lr < 0.02);
//! assert!(c.entries.iter().all(|e| e.tuned && e.result.loss < 0.1));
//! # Ok::<(), downhill::Error>(())
//! ```

use serde::ser::{Serialize, Serializer};

use crate::objective::{DescribedObjective, Minimum};
use crate::optim::{self, BuildOptions, OptimizerSpec};
use crate::report::{OptimizerInfo, TrajectoryPoint};
use crate::run::{minimize, Point, RunOptions, RunResult, StopReason};
use crate::spec::Range;
use crate::Result;

/// How a comparison runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// Updates per optimizer.
    pub steps: u64,
    /// Pick each optimizer's learning rate first, from [`lr_grid`]: the rate with the lowest
    /// final loss, among the runs that neither diverge nor go non-finite.
    pub tune_lr: bool,
    /// "Reached" means `f - f* <= tol`, or `|grad| <= tol` when no minimum is known.
    pub tol: f64,
    /// Stop a run as diverged once any |parameter| exceeds this.
    pub bound: Option<f64>,
    /// Keep every point of every run; otherwise each trajectory is thinned to about 10,000
    /// points (every 10th, 100th, ... step, and the last), enough for a table or a plot.
    pub keep_every_point: bool,
}

impl Default for CompareOptions {
    /// 200 steps, no tuning, `tol` 1e-6, no bound, every point kept.
    fn default() -> Self {
        CompareOptions { steps: 200, tune_lr: false, tol: 1e-6, bound: None, keep_every_point: true }
    }
}

/// One optimizer's run in a comparison.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The spec that ran (with the tuned `lr` written in, when tuned).
    pub spec: String,
    /// Whether the learning rate was tuned.
    pub tuned: bool,
    /// The learning rate it ran with.
    pub lr: f64,
    /// The optimizer with every resolved hyperparameter.
    pub optimizer: OptimizerInfo,
    /// The run.
    pub result: RunResult<f64>,
    /// Euclidean distance from the final point to the nearest known minimum.
    pub distance: Option<f64>,
    /// The first step at which the run reached the tolerance.
    pub reached_at: Option<u64>,
}

/// A finished comparison.
pub struct Comparison {
    /// The objective raced on.
    pub objective: Box<dyn DescribedObjective<f64>>,
    /// The common start.
    pub start: Vec<f64>,
    /// Updates per optimizer.
    pub steps: u64,
    /// The tolerance of [`Entry::reached_at`].
    pub tol: f64,
    /// One entry per optimizer, in the order given.
    pub entries: Vec<Entry>,
}

/// The rates tuning tries: 10^(-4 + k/3), k = 0..=12, rounded to 3 significant digits (1e-4,
/// 2.15e-4, 4.64e-4, 1e-3, ..., 1).
pub fn lr_grid() -> Vec<f64> {
    (0..=12)
        .map(|k| {
            let v = 10f64.powf(-4.0 + k as f64 / 3.0);
            let scale = 10f64.powi(2 - v.log10().floor() as i32);
            (v * scale).round() / scale
        })
        .collect()
}

/// `spec` with its `lr` replaced (the wrapped optimizer's, for a wrapper).
fn with_lr(spec: &str, lr: f64) -> Result<String> {
    let mut parsed = OptimizerSpec::parse(spec)?;
    parsed.base.entries.retain(|(k, _)| k != "lr");
    parsed.base.entries.insert(0, ("lr".into(), format!("{lr}")));
    Ok(parsed.to_string())
}

/// Points kept from a run: every one, or (thinning) those on an interval that grows tenfold
/// whenever more than `cap` are held.
struct Keeper {
    points: Vec<Point<f64>>,
    every: u64,
    cap: Option<usize>,
    /// The step of the last point kept (it may since have been thinned away).
    last_kept: Option<u64>,
}

impl Keeper {
    fn offer(&mut self, p: &Point<f64>) {
        if p.step % self.every == 0 {
            self.take(p);
        }
    }

    /// The run's last point, kept whatever its step unless it already was.
    fn finish(&mut self, p: &Point<f64>) {
        if self.last_kept.is_none_or(|s| p.step > s) {
            self.take(p);
        }
    }

    fn take(&mut self, p: &Point<f64>) {
        self.points.push(p.clone());
        self.last_kept = Some(p.step);
        if self.cap.is_some_and(|cap| self.points.len() > cap) {
            self.every = self.every.saturating_mul(10);
            let every = self.every;
            self.points.retain(|q| q.step % every == 0);
        }
    }
}

/// Runs `spec`, keeping the points `keep` asks for, and finds the first step at which `hit`
/// holds, looking at every step whatever is kept.
fn run_tracked(
    objective: &dyn DescribedObjective<f64>,
    spec: &str,
    start: &[f64],
    options: &RunOptions,
    keep: bool,
    hit: &dyn Fn(&Point<f64>) -> bool,
) -> Result<(RunResult<f64>, Option<u64>)> {
    let mut opt = optim::build::<f64>(spec, &BuildOptions::default())?;
    let mut keeper =
        Keeper { points: Vec::new(), every: 1, cap: if keep { None } else { Some(10_000) }, last_kept: None };
    let mut reached = None;
    let quiet = RunOptions { record_every: 0, ..options.clone() };
    let mut r = {
        let mut observe = |p: &Point<f64>| {
            if reached.is_none() && hit(p) {
                reached = Some(p.step);
            }
            keeper.offer(p);
            std::ops::ControlFlow::Continue(())
        };
        minimize(objective, opt.as_mut(), start, &quiet, Some(&mut observe))?
    };
    // The start (when the run stops there) and a last point that stopped the run are not observed.
    if reached.is_none() {
        reached = r.trajectory.iter().find(|p| hit(p)).map(|p| p.step);
    }
    if let Some(last) = r.trajectory.last() {
        keeper.finish(last);
    }
    r.trajectory = keeper.points;
    Ok((r, reached))
}

/// The learning-rate spec of [`lr_grid`] with the lowest final loss for `spec` (`spec` itself
/// when every rate diverges).
fn tune(
    objective: &dyn DescribedObjective<f64>,
    spec: &str,
    start: &[f64],
    options: &RunOptions,
) -> Result<String> {
    let tuning = RunOptions { bound: Some(options.bound.unwrap_or(1e6)), record_every: 0, ..options.clone() };
    let mut best: Option<(f64, String)> = None;
    for lr in lr_grid() {
        let candidate = with_lr(spec, lr)?;
        let mut opt = optim::build::<f64>(&candidate, &BuildOptions::default())?;
        let r = minimize(objective, opt.as_mut(), start, &tuning, None)?;
        if matches!(r.stop, StopReason::Diverged | StopReason::NonFinite) || !r.loss.is_finite() {
            continue;
        }
        if best.as_ref().is_none_or(|(l, _)| r.loss < *l) {
            best = Some((r.loss, candidate));
        }
    }
    Ok(best.map_or_else(|| spec.to_string(), |(_, c)| c))
}

/// Runs each optimizer spec of `specs` on `objective` from `start` (each spec is checked before
/// any runs).
pub fn compare(
    objective: Box<dyn DescribedObjective<f64>>,
    specs: &[String],
    start: Vec<f64>,
    options: &CompareOptions,
) -> Result<Comparison> {
    Range::NonNegative.check("tol", options.tol)?;
    if start.len() != objective.dim() {
        return Err(crate::Error::Dimension {
            field: "start".into(),
            expected: objective.dim(),
            got: start.len(),
        });
    }
    let run = RunOptions { bound: options.bound, ..RunOptions::steps(options.steps) };
    run.validate()?;
    for spec in specs {
        optim::build::<f64>(spec, &BuildOptions::default())?;
    }
    let f = objective.as_ref();
    let f_star = f.minima().iter().map(|m| m.value).min_by(f64::total_cmp);
    let hit = |p: &Point<f64>| match f_star {
        Some(fs) => p.loss - fs <= options.tol,
        None => p.grad_norm <= options.tol,
    };
    let mut entries = Vec::new();
    for spec in specs {
        let chosen = if options.tune_lr { tune(f, spec, &start, &run)? } else { spec.clone() };
        let (result, reached_at) = run_tracked(f, &chosen, &start, &run, options.keep_every_point, &hit)?;
        let opt = optim::build::<f64>(&chosen, &BuildOptions::default())?;
        let distance = crate::report::distance_to_minimum(f, &result.params);
        entries.push(Entry {
            spec: chosen,
            tuned: options.tune_lr,
            lr: opt.learning_rate(),
            optimizer: OptimizerInfo::of(opt.as_ref()),
            result,
            distance,
            reached_at,
        });
    }
    Ok(Comparison { objective, start, steps: options.steps, tol: options.tol, entries })
}

/// The objective as a comparison document shows it.
#[derive(serde::Serialize)]
struct ObjectiveDoc {
    name: String,
    formula: String,
    minima: Vec<Minimum>,
}

/// One entry as a comparison document shows it.
#[derive(serde::Serialize)]
struct EntryDoc<'a> {
    spec: &'a str,
    optimizer: &'a OptimizerInfo,
    lr_tuned: bool,
    stop: &'static str,
    steps: u64,
    evaluations: u64,
    hessian_evaluations: u64,
    loss: f64,
    distance_to_minimum: Option<f64>,
    steps_to_tol: Option<u64>,
    params: &'a [f64],
    trajectory: Trajectory<'a>,
}

struct Trajectory<'a>(&'a [Point<f64>]);

impl Serialize for Trajectory<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(TrajectoryPoint::of))
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        EntryDoc {
            spec: &self.spec,
            optimizer: &self.optimizer,
            lr_tuned: self.tuned,
            stop: self.result.stop.as_str(),
            steps: self.result.steps,
            evaluations: self.result.evaluations,
            hessian_evaluations: self.result.hessian_evaluations,
            loss: self.result.loss,
            distance_to_minimum: self.distance,
            steps_to_tol: self.reached_at,
            params: &self.result.params,
            trajectory: Trajectory(&self.result.trajectory),
        }
        .serialize(serializer)
    }
}

/// `{objective: {name, formula, minima}, start, steps, tol, results: [...]}`, as `downhill
/// compare --format json` prints it.
impl Serialize for Comparison {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            objective: ObjectiveDoc,
            start: &'a [f64],
            steps: u64,
            tol: f64,
            results: &'a [Entry],
        }
        let o = self.objective.as_ref();
        Doc {
            objective: ObjectiveDoc { name: o.name(), formula: o.formula(), minima: o.minima() },
            start: &self.start,
            steps: self.steps,
            tol: self.tol,
            results: &self.entries,
        }
        .serialize(serializer)
    }
}
