//! Documents that describe a run, an analysis or the registries, as plain serde structures: the
//! command line prints them with `--format json` and the Python package returns them as dicts, so
//! both front ends show the same keys and values from one definition.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::analysis::{BoxAnalysis, PointAnalysis};
use crate::objective::{DescribedObjective, Landscape, Minimum};
use crate::optim::{Optimizer, Value};
use crate::real::Real;
use crate::run::{Point, RunResult};

/// An objective's name, formula and dimension, with its known minima where a document lists them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObjectiveInfo {
    /// Spec name, or the formula for `--expr`.
    pub name: String,
    /// The formula in words.
    pub formula: String,
    /// Number of variables.
    pub dim: usize,
    /// Known minima (absent from analysis documents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minima: Option<Vec<Minimum>>,
}

impl ObjectiveInfo {
    /// Name, formula, dimension and minima of `objective`.
    pub fn with_minima<T: Real>(objective: &dyn DescribedObjective<T>) -> Self {
        ObjectiveInfo { minima: Some(objective.minima()), ..Self::without_minima(objective) }
    }

    /// Name, formula and dimension of `objective`.
    pub fn without_minima<T: Real>(objective: &dyn DescribedObjective<T>) -> Self {
        ObjectiveInfo {
            name: objective.name(),
            formula: objective.formula(),
            dim: objective.dim(),
            minima: None,
        }
    }
}

/// An optimizer as a document shows it: `name`, then every resolved hyperparameter in the
/// optimizer's order (a map, so the keys sit beside `name`).
#[derive(Debug, Clone)]
pub struct OptimizerInfo {
    /// Registry name.
    pub name: &'static str,
    /// Hyperparameters, in [`Optimizer::hyperparameters`] order.
    pub hyperparameters: Vec<(&'static str, Value)>,
}

impl OptimizerInfo {
    /// The name and hyperparameters of `optimizer`.
    pub fn of<T: Real>(optimizer: &dyn Optimizer<T>) -> Self {
        OptimizerInfo { name: optimizer.name(), hyperparameters: optimizer.hyperparameters() }
    }
}

impl Serialize for OptimizerInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.hyperparameters.len() + 1))?;
        map.serialize_entry("name", self.name)?;
        for (key, value) in &self.hyperparameters {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Numbers of precision `T`, written widened to `f64` (NaN and infinities as `null`), so that a
/// run document reads the same whether it is written straight to a stream or built as a
/// `serde_json::Value` first (which holds every number as `f64`).
fn widened<T: Real, S: Serializer>(values: &&[T], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|x| x.to_f64()))
}

fn widened_one<T: Real, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.to_f64())
}

fn widened_vec<T: Real, S: Serializer>(values: &Option<Vec<T>>, serializer: S) -> Result<S::Ok, S::Error> {
    match values {
        Some(v) => serializer.serialize_some(&Widened(v)),
        None => serializer.serialize_none(),
    }
}

fn widened_option<T: Real, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => serializer.serialize_some(&v.to_f64()),
        None => serializer.serialize_none(),
    }
}

/// A slice serialized through [`widened`].
struct Widened<'a, T>(&'a [T]);

impl<T: Real> Serialize for Widened<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        widened(&self.0, serializer)
    }
}

/// Points serialized one by one as [`TrajectoryPoint`]s, never collected.
fn points<T: Real, S: Serializer>(points: &&[Point<T>], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(points.iter().map(TrajectoryPoint::of))
}

/// One recorded point of a run document: `{step, params, loss, lr}`, numbers as `f64`. A run
/// streamed as JSON lines writes one per line.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(bound = "T: Real")]
pub struct TrajectoryPoint<'a, T> {
    /// Updates taken to reach it.
    pub step: u64,
    /// The parameters.
    #[serde(serialize_with = "widened")]
    pub params: &'a [T],
    /// The objective's value.
    #[serde(serialize_with = "widened_one")]
    pub loss: T,
    /// The rate of the update that leaves this point.
    pub lr: f64,
}

impl<'a, T: Real> TrajectoryPoint<'a, T> {
    /// The document of a recorded point.
    pub fn of(point: &'a Point<T>) -> Self {
        TrajectoryPoint { step: point.step, params: &point.params, loss: point.loss, lr: point.lr }
    }
}

/// The first line of a run streamed as JSON lines: what runs, from where.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunHeader<'a> {
    /// The objective with its minima.
    pub objective: ObjectiveInfo,
    /// The optimizer with every resolved hyperparameter.
    pub optimizer: OptimizerInfo,
    /// `f32` or `f64`.
    pub dtype: &'static str,
    /// The start point as given.
    pub start: &'a [f64],
}

impl<'a> RunHeader<'a> {
    /// The header of a run of `optimizer` on `objective` from `start`.
    pub fn new<T: Real>(
        objective: &dyn DescribedObjective<T>,
        optimizer: &dyn Optimizer<T>,
        start: &'a [f64],
    ) -> Self {
        RunHeader {
            objective: ObjectiveInfo::with_minima(objective),
            optimizer: OptimizerInfo::of(optimizer),
            dtype: T::NAME,
            start,
        }
    }
}

/// The last line of a run streamed as JSON lines: how the run ended.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(bound = "T: Real")]
pub struct RunSummary<'a, T> {
    /// Why the run ended ([`crate::StopReason::as_str`]).
    pub stop: &'static str,
    /// What went wrong, for `non_finite` and `diverged`.
    pub detail: Option<&'a str>,
    /// Updates taken.
    pub steps: u64,
    /// Value-and-gradient evaluations, counted as scipy's `nfev` (the start included).
    pub evaluations: u64,
    /// Hessian evaluations.
    pub hessian_evaluations: u64,
    /// Final parameters.
    #[serde(serialize_with = "widened")]
    pub params: &'a [T],
    /// Final loss.
    #[serde(serialize_with = "widened_one")]
    pub loss: T,
    /// Gradient norm at the final parameters.
    pub grad_norm: f64,
    /// Euclidean distance from the final point to the nearest known minimum.
    pub distance_to_minimum: Option<f64>,
}

impl<'a, T: Real> RunSummary<'a, T> {
    /// The summary of `result`, a run on `objective`.
    pub fn new(objective: &dyn DescribedObjective<T>, result: &'a RunResult<T>) -> Self {
        RunSummary {
            stop: result.stop.as_str(),
            detail: result.detail.as_deref(),
            steps: result.steps,
            evaluations: result.evaluations,
            hessian_evaluations: result.hessian_evaluations,
            params: &result.params,
            loss: result.loss,
            grad_norm: result.grad_norm,
            distance_to_minimum: distance_to_minimum(objective, &result.params),
        }
    }
}

/// The document of `downhill run --format json` (and of `downhill.run` in Python and the
/// playground's `/api/run`). It borrows the run and writes its trajectory point by point, so a
/// trajectory of millions of points is streamed, not copied; numbers are written as `f64`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(bound = "T: Real")]
pub struct RunDocument<'a, T> {
    /// The objective with its minima.
    pub objective: ObjectiveInfo,
    /// The optimizer with every resolved hyperparameter.
    pub optimizer: OptimizerInfo,
    /// `f32` or `f64`.
    pub dtype: &'static str,
    /// The start point as given.
    pub start: &'a [f64],
    /// Why the run ended ([`crate::StopReason::as_str`]).
    pub stop: &'static str,
    /// What went wrong, for `non_finite` and `diverged`.
    pub detail: Option<&'a str>,
    /// Updates taken.
    pub steps: u64,
    /// Value-and-gradient evaluations of the objective, counted as scipy's `nfev` (the start
    /// included).
    pub evaluations: u64,
    /// Hessian evaluations.
    pub hessian_evaluations: u64,
    /// Final parameters.
    #[serde(serialize_with = "widened")]
    pub params: &'a [T],
    /// Final loss.
    #[serde(serialize_with = "widened_one")]
    pub loss: T,
    /// Gradient norm at the final parameters.
    pub grad_norm: f64,
    /// Euclidean distance from the final point to the nearest known minimum.
    pub distance_to_minimum: Option<f64>,
    /// The answer where it is not the iterate (ASGD's average, Schedule-Free's `x`); `None`
    /// otherwise.
    #[serde(serialize_with = "widened_vec")]
    pub eval_params: Option<Vec<T>>,
    /// The objective at [`RunDocument::eval_params`].
    #[serde(serialize_with = "widened_option")]
    pub eval_loss: Option<T>,
    /// Recorded points, starting with step 0, written as [`TrajectoryPoint`]s.
    #[serde(serialize_with = "points")]
    pub trajectory: &'a [Point<T>],
}

impl<'a, T: Real> RunDocument<'a, T> {
    /// The document of a finished run of `optimizer` on `objective` from `start`.
    pub fn new(
        objective: &dyn DescribedObjective<T>,
        optimizer: &dyn Optimizer<T>,
        start: &'a [f64],
        result: &'a RunResult<T>,
    ) -> Self {
        let eval_params = optimizer.eval_params(&result.params);
        let eval_loss = eval_params.as_ref().map(|x| objective.value(x));
        let header = RunHeader::new(objective, optimizer, start);
        let summary = RunSummary::new(objective, result);
        RunDocument {
            objective: header.objective,
            optimizer: header.optimizer,
            dtype: header.dtype,
            start,
            stop: summary.stop,
            detail: summary.detail,
            steps: summary.steps,
            evaluations: summary.evaluations,
            hessian_evaluations: summary.hessian_evaluations,
            params: summary.params,
            loss: summary.loss,
            grad_norm: summary.grad_norm,
            distance_to_minimum: summary.distance_to_minimum,
            eval_params,
            eval_loss,
            trajectory: &result.trajectory,
        }
    }
}

/// Euclidean distance from `params` to the nearest known minimum of `objective`, if it has any.
pub fn distance_to_minimum<T: Real>(objective: &dyn Landscape, params: &[T]) -> Option<f64> {
    objective
        .minima()
        .iter()
        .map(|m| m.point.iter().zip(params).map(|(a, b)| (a - b.to_f64()).powi(2)).sum::<f64>().sqrt())
        .min_by(f64::total_cmp)
}

/// The document of `downhill analyze --format json`: the objective, the point analysis and,
/// for 2-D objectives, the box analysis.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AnalysisDocument {
    /// The objective, without minima.
    pub objective: ObjectiveInfo,
    /// What the geometry at the point says.
    pub point: PointAnalysis,
    /// Estimates over a box, where one was given or the objective has a plotting domain.
    #[serde(rename = "box")]
    pub region: Option<BoxAnalysis>,
}

/// Grid sizes [`analyze`] accepts per side of the box.
pub const ANALYSIS_GRID: std::ops::RangeInclusive<usize> = 2..=1000;

/// Analyzes `objective` at `at` and, over `bounds` (default: the plotting domain of a 2-D
/// objective), on a `grid x grid` grid: what `downhill analyze` computes.
pub fn analyze(
    objective: &dyn DescribedObjective<f64>,
    at: &[f64],
    bounds: Option<[f64; 4]>,
    grid: usize,
) -> crate::Result<AnalysisDocument> {
    if !ANALYSIS_GRID.contains(&grid) {
        return Err(crate::Error::out_of_range("grid", grid, "[2, 1000]"));
    }
    let point = crate::analysis::analyze_point(objective, at)?;
    let bounds = match bounds {
        Some(b) => Some(b),
        None if objective.dim() == 2 => objective.domain(),
        None => None,
    };
    let region = match bounds {
        Some(b) => Some(crate::analysis::analyze_box(objective, b, grid)?),
        None => None,
    };
    Ok(AnalysisDocument { objective: ObjectiveInfo::without_minima(objective), point, region })
}

/// One optimizer of `downhill optimizers --format json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OptimizerListing {
    /// Spec name.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// Keys with their defaults.
    pub keys: String,
    /// Every declared hyperparameter: key, default, accepted values, doc, PyTorch/optax name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hyperparameters: Vec<crate::optim::Hyperparameter>,
    /// Whether it is a wrapper written around another spec, `name(SPEC):keys`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wrapper: bool,
}

/// Every registered optimizer, in registry order, then the wrappers.
pub fn optimizer_listing() -> Vec<OptimizerListing> {
    crate::optim::REGISTRY
        .iter()
        .map(|e| OptimizerListing {
            name: e.name,
            aliases: e.aliases,
            keys: e.summary(),
            hyperparameters: (e.keys)(),
            wrapper: false,
        })
        .chain(crate::optim::WRAPPERS.iter().map(|w| OptimizerListing {
            name: w.name,
            aliases: w.aliases,
            keys: w.summary(),
            hyperparameters: Vec::new(),
            wrapper: true,
        }))
        .collect()
}

/// One objective of `downhill objectives --format json`, described with its default keys.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObjectiveListing {
    /// Spec name.
    pub name: &'static str,
    /// Keys with their defaults.
    pub keys: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// The formula at the default keys.
    pub formula: String,
    /// Dimension at the default keys.
    pub dim: usize,
    /// Plotting box `[xmin, xmax, ymin, ymax]` for 2-D objectives.
    pub domain: Option<[f64; 4]>,
    /// Known minima at the default keys.
    pub minima: Vec<Minimum>,
}

/// Every built-in objective, in catalogue order.
pub fn objective_listing() -> crate::Result<Vec<ObjectiveListing>> {
    crate::objectives::catalogue()
        .into_iter()
        .map(|e| {
            let o = crate::objectives::build::<f64>(e.name)?;
            Ok(ObjectiveListing {
                name: e.name,
                keys: e.keys,
                description: e.description,
                formula: o.formula(),
                dim: o.dim(),
                domain: o.domain(),
                minima: o.minima(),
            })
        })
        .collect()
}
