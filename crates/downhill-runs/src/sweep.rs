//! Sweeps: many runs of the cartesian product of hyperparameter ranges and start points, in
//! parallel, optionally sharded across machines, resumable after a kill.
//!
//! - **Ranges** ([`expand`]): in an optimizer spec, `lr=1e-4..1e-1:log:13` (13 log-spaced values,
//!   ends included), `beta=0.5..0.99:5` (evenly spaced, also `a..b:lin:n`), `beta1=0.8|0.9|0.95`
//!   (a list). A wrapped spec (`lookahead(adam:lr=1e-3|1e-2):k=2|5`) sweeps the keys of every
//!   level; a wrapper's keys are named `lookahead.k`.
//! - **Indexing** ([`Plan`]): configuration `i` is generated from its index (mixed radix, the last
//!   key fastest; the specs one after another), never stored; run `r` of a [`Sweep`] is
//!   configuration `r / starts` from start `r % starts`.
//! - **Sharding** ([`Shard`]): shard `I/N` runs every `N`-th run from `I`, so that `N` machines
//!   together run each exactly once; [`Shard::from_env`] reads a Slurm array's
//!   `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT` or a Kubernetes Indexed Job's
//!   `JOB_COMPLETION_INDEX`. [`merge`] joins the shards' CSV files, checking that none is missing.
//! - **Running** ([`Sweep::run`]): runs of one optimizer kind go through the batched engine
//!   ([`downhill::batch`], bit-identical to [`downhill::minimize`] and much faster); whatever it
//!   declines runs one at a time, all in parallel.
//! - **Resuming** ([`Sweep::execute`], [`Journal`]): finished runs are appended to
//!   `<out>.journal` in chunks, each line checksummed; a killed sweep started again skips them.
//! - **Rows** ([`Row`], [`Table`]): one typed row per run, written as CSV (the `csv` crate) or JSON.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{json, Value};

use downhill::batch::Batchable;
use downhill::optim::{self, BuildOptions, Buildable};
use downhill::rng::Rng;
use downhill::spec::parse_number;
use downhill::{minimize, Minimum, Objective, Real, RunOptions, StopReason};

use crate::output::{read_limited, write_atomic};
use crate::{crc32, Error, Result};

/// The most runs one sweep may hold.
pub const MAX_RUNS: usize = 10_000_000;

fn too_many(count: usize) -> Error {
    downhill::Error::out_of_range("sweep size", count, &format!("[1, {MAX_RUNS}]")).into()
}

/// Expands one value of an optimizer spec: `a..b:log:n`, `a..b:n`, `a..b:lin:n`, `x|y|z`, or a
/// plain value. Numbers come back formatted as Rust prints an `f64` (the shortest text that reads
/// back exactly).
///
/// ```
/// use downhill_runs::sweep::expand;
/// assert_eq!(expand("lr", "1e-3..1e-1:log:3").unwrap(), ["0.001", "0.01", "0.1"]);
/// assert_eq!(expand("beta1", "0.8|0.9").unwrap(), ["0.8", "0.9"]);
/// assert!(expand("lr", "0..1:log:3").unwrap_err().to_string().contains("positive ends"));
/// ```
pub fn expand(field: &str, text: &str) -> Result<Vec<String>> {
    if text.contains('|') {
        return Ok(text.split('|').map(|s| s.trim().to_string()).collect());
    }
    let Some((a, rest)) = text.split_once("..") else { return Ok(vec![text.to_string()]) };
    let parts: Vec<&str> = rest.split(':').collect();
    let (b, kind, n) = match parts.as_slice() {
        [b, n] => (*b, "lin", *n),
        [b, kind, n] => (*b, *kind, *n),
        _ => {
            return Err(Error::Invalid(format!(
                "{field}: '{text}' is not a range; use a..b:n, a..b:lin:n or a..b:log:n"
            )))
        }
    };
    let (a, b) = (parse_number(field, a)?, parse_number(field, b)?);
    let n = n
        .parse::<usize>()
        .map_err(|_| Error::Invalid(format!("{field}: '{n}' is not a whole number of points")))?;
    if !(2..=100_000).contains(&n) {
        return Err(downhill::Error::out_of_range(format!("{field} points"), n, "[2, 100000]").into());
    }
    let values: Vec<f64> = match kind {
        "lin" => (0..n).into_par_iter().map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect(),
        "log" => {
            if !(a > 0.0 && b > 0.0) {
                return Err(Error::Invalid(format!(
                    "{field}: a log range needs positive ends, got {a}..{b}"
                )));
            }
            let (la, lb) = (a.log10(), b.log10());
            (0..n).into_par_iter().map(|i| 10f64.powf(la + (lb - la) * i as f64 / (n - 1) as f64)).collect()
        }
        other => {
            return Err(
                downhill::Error::unknown(&format!("range kind in {field}"), other, &["lin", "log"]).into()
            )
        }
    };
    Ok(values.par_iter().map(|v| format!("{v}")).collect())
}

/// One optimizer spec with its ranges expanded: every combination of the values, the last key
/// varying fastest.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The name shown in the output: the optimizer's, inside its wrappers' (`lookahead(adam)`).
    name: String,
    /// The optimizer's registry name.
    base: String,
    /// The wrappers' names, innermost first.
    wrappers: Vec<String>,
    /// Each key's output name with its values (one value for keys that do not vary).
    keys: Vec<(String, Vec<String>)>,
    /// Each key's level (0: the optimizer, i + 1: wrapper i) and its name in that spec.
    levels: Vec<(usize, String)>,
    strides: Vec<usize>,
    count: usize,
}

impl Grid {
    /// Parses one optimizer spec with ranges, e.g. `adam:lr=1e-3..1e-1:log:5,beta1=0.8|0.9`.
    pub fn parse(text: &str) -> Result<Grid> {
        let spec = optim::OptimizerSpec::parse(text)?;
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        let mut levels = Vec::new();
        let mut count: usize = 1;
        let specs = std::iter::once(&spec.base).chain(&spec.wrappers);
        for (level, part) in specs.enumerate() {
            for (k, v) in &part.entries {
                let values = expand(&format!("{}.{k}", part.name), v)?;
                count = count.saturating_mul(values.len());
                if count > MAX_RUNS {
                    return Err(too_many(count));
                }
                let column = if level == 0 { k.clone() } else { format!("{}.{k}", part.name) };
                keys.push((column, values));
                levels.push((level, k.clone()));
            }
        }
        // Combination index -> value index of key j: index / strides[j] % values.len().
        let mut strides = vec![1; keys.len()];
        for j in (0..keys.len().saturating_sub(1)).rev() {
            strides[j] = strides[j + 1] * keys[j + 1].1.len();
        }
        let wrappers: Vec<String> = spec.wrappers.iter().map(|w| w.name.clone()).collect();
        let name = spec.short_name();
        Ok(Grid { name, base: spec.base.name, wrappers, keys, levels, strides, count })
    }

    /// How many configurations the spec holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it holds none (never: a spec holds at least one configuration).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The name shown in the output, e.g. `adam` or `lookahead(adam)`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The keys that take more than one value, under their output names.
    pub fn swept(&self) -> impl Iterator<Item = &String> {
        self.keys.iter().filter(|(_, values)| values.len() > 1).map(|(k, _)| k)
    }

    /// The value of each key (output names) in combination `index`.
    pub fn picks(&self, index: usize) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.keys.iter().enumerate().map(move |(j, (k, _))| (k.as_str(), self.value(index, j)))
    }

    /// The keys of one level (0: the optimizer; i + 1: wrapper i) in combination `index`, under
    /// their names in that level's spec.
    fn level(&self, index: usize, level: usize) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.levels
            .iter()
            .enumerate()
            .filter(move |(_, (l, _))| *l == level)
            .map(move |(j, (_, k))| (k.as_str(), self.value(index, j)))
    }

    /// The value of key `j` in combination `index`.
    fn value(&self, index: usize, j: usize) -> &str {
        let values = &self.keys[j].1;
        &values[index / self.strides[j] % values.len()]
    }

    /// Builds the optimizer of combination `index`.
    pub fn build<T: Buildable>(&self, index: usize) -> downhill::Result<Box<dyn optim::Optimizer<T>>> {
        let base = optim::build_from_pairs(&self.base, self.level(index, 0), &BuildOptions::default())?;
        self.wrappers
            .iter()
            .enumerate()
            .try_fold(base, |inner, (i, w)| optim::wrap(w, self.level(index, i + 1), inner))
    }

    /// Appends the concrete spec of combination `index`, e.g. `adam:lr=0.001,beta1=0.9` or
    /// `lookahead(adam:lr=0.001):k=5`.
    fn write_spec(&self, s: &mut String, index: usize) {
        let keys = |s: &mut String, level: usize| {
            for (i, (k, v)) in self.level(index, level).enumerate() {
                s.push(if i == 0 { ':' } else { ',' });
                s.push_str(k);
                s.push('=');
                s.push_str(v);
            }
        };
        for w in self.wrappers.iter().rev() {
            s.push_str(w);
            s.push('(');
        }
        s.push_str(&self.base);
        keys(s, 0);
        for i in 0..self.wrappers.len() {
            s.push(')');
            keys(s, i + 1);
        }
    }

    /// The concrete spec of combination `index`.
    pub fn spec(&self, index: usize) -> String {
        let mut s = String::new();
        self.write_spec(&mut s, index);
        s
    }
}

/// How one configuration runs.
#[derive(Debug, Clone, Copy)]
struct Kind {
    /// The optimizer's name: batched runs are grouped by it.
    name: &'static str,
    /// Its hyperparameters for the batched engine, when that handles it.
    batch: Option<Batchable>,
}

/// Every configuration of a sweep: the optimizer specs with their ranges, one after another.
/// Configurations are generated from their index when needed, not stored.
///
/// ```
/// use downhill_runs::sweep::Plan;
/// let plan = Plan::new(&["adam:lr=1e-3..1e-1:log:3,beta1=0.8|0.9", "gd:lr=1|2"]).unwrap();
/// assert_eq!(plan.len(), 8);
/// assert_eq!(plan.spec(3), "adam:lr=0.01,beta1=0.9");
/// assert_eq!((plan.name(7), plan.value(7, "lr")), ("gd", Some("2")));
/// assert_eq!(plan.swept(), ["lr", "beta1"]);
/// ```
#[derive(Debug, Clone)]
pub struct Plan {
    texts: Vec<String>,
    grids: Vec<Grid>,
    /// The first configuration index of each spec.
    offsets: Vec<usize>,
    total: usize,
    swept: Vec<String>,
    kinds: Vec<Kind>,
}

impl Plan {
    /// Parses the specs and builds every configuration's optimizer once, in parallel, so that a
    /// bad spec fails here rather than after thousands of runs. A spec that does not parse or
    /// build gives [`Error::Optimizer`] naming it.
    pub fn new<S: AsRef<str>>(specs: &[S]) -> Result<Plan> {
        let texts: Vec<String> = specs.iter().map(|s| s.as_ref().to_string()).collect();
        let wrap = |spec: &str, e: Error| Error::Optimizer { spec: spec.to_string(), source: Box::new(e) };
        let grids =
            texts.iter().map(|t| Grid::parse(t).map_err(|e| wrap(t, e))).collect::<Result<Vec<_>>>()?;
        let mut offsets = Vec::with_capacity(grids.len());
        let mut total = 0usize;
        for g in &grids {
            offsets.push(total);
            total = total.saturating_add(g.count);
        }
        if total > MAX_RUNS {
            return Err(too_many(total));
        }
        let mut swept: Vec<String> = Vec::new();
        for k in grids.iter().flat_map(Grid::swept) {
            if !swept.contains(k) {
                swept.push(k.clone());
            }
        }
        let mut plan = Plan { texts, grids, offsets, total, swept, kinds: Vec::new() };
        plan.kinds = (0..total)
            .into_par_iter()
            .map(|i| {
                let (g, j) = plan.locate(i);
                let opt = g.build::<f64>(j).map_err(|e| wrap(&plan.texts[plan.grid_of(i)], e.into()))?;
                Ok(Kind { name: opt.name(), batch: Batchable::of(opt.as_ref()) })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(plan)
    }

    /// The number of configurations.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether there are none (no specs).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The specs as given.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// The expanded specs.
    pub fn grids(&self) -> &[Grid] {
        &self.grids
    }

    /// Which spec configuration `index` comes from.
    pub fn grid_of(&self, index: usize) -> usize {
        self.offsets.partition_point(|&o| o <= index) - 1
    }

    /// The expanded spec that configuration `index` comes from, and its index within it.
    pub fn locate(&self, index: usize) -> (&Grid, usize) {
        let i = self.grid_of(index);
        (&self.grids[i], index - self.offsets[i])
    }

    /// The concrete spec of configuration `index`.
    pub fn spec(&self, index: usize) -> String {
        let (g, i) = self.locate(index);
        g.spec(i)
    }

    /// The name shown for configuration `index` (`adam`, `lookahead(adam)`).
    pub fn name(&self, index: usize) -> &str {
        &self.locate(index).0.name
    }

    /// The value of `key` (an output name, as in [`Plan::swept`]) in configuration `index`, if
    /// its optimizer has that key.
    pub fn value(&self, index: usize, key: &str) -> Option<&str> {
        let (g, i) = self.locate(index);
        g.picks(i).find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The keys that take more than one value in some spec, in order of first appearance.
    pub fn swept(&self) -> &[String] {
        &self.swept
    }

    /// Builds the optimizer of configuration `index`.
    pub fn build<T: Buildable>(&self, index: usize) -> downhill::Result<Box<dyn optim::Optimizer<T>>> {
        let (g, i) = self.locate(index);
        g.build(i)
    }
}

/// Start points on a `nx` x `ny` grid of cell centres over `domain` (`[x_lo, x_hi, y_lo, y_hi]`),
/// row by row from the lowest `y`.
pub fn grid_starts(domain: [f64; 4], nx: usize, ny: usize) -> Vec<Vec<f64>> {
    let at = |lo: f64, hi: f64, i: usize, n: usize| lo + (hi - lo) * (i as f64 + 0.5) / n as f64;
    (0..ny)
        .flat_map(|j| {
            (0..nx).map(move |i| vec![at(domain[0], domain[1], i, nx), at(domain[2], domain[3], j, ny)])
        })
        .collect()
}

/// `n` start points drawn uniformly over `domain` (`[x_lo, x_hi, y_lo, y_hi]`) by downhill's
/// generator seeded with `seed`.
pub fn random_starts(domain: [f64; 4], n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| vec![rng.range(domain[0], domain[1]), rng.range(domain[2], domain[3])]).collect()
}

/// Parses a starts spec, `grid:NxM` ([`grid_starts`]) or `random:N[:seed=S]` ([`random_starts`],
/// seed 1 by default), for a 2-D objective with the plotting `domain`; `field` names it in errors.
pub fn parse_starts(field: &str, text: &str, dim: usize, domain: Option<[f64; 4]>) -> Result<Vec<Vec<f64>>> {
    let bad = |msg: String| Error::Invalid(msg);
    let domain =
        domain.ok_or_else(|| bad(format!("{field} needs a 2-D objective with a plotting domain")))?;
    if dim != 2 {
        return Err(bad(format!("{field} works on 2-D objectives; use one start point for others")));
    }
    if let Some(g) = text.strip_prefix("grid:") {
        let (nx, ny) =
            g.split_once('x').ok_or_else(|| bad(format!("{field}: '{text}'; expected grid:NxM")))?;
        let parse = |s: &str| s.parse::<usize>().ok().filter(|n| (1..=1000).contains(n));
        let (Some(nx), Some(ny)) = (parse(nx), parse(ny)) else {
            return Err(bad(format!("{field}: '{text}'; grid sides must be 1..=1000")));
        };
        return Ok(grid_starts(domain, nx, ny));
    }
    if let Some(r) = text.strip_prefix("random:") {
        let (n, seed) = match r.split_once(":seed=") {
            Some((n, s)) => (n, s.parse::<u64>().map_err(|_| bad(format!("{field}: bad seed in '{text}'")))?),
            None => (r, 1),
        };
        let n = n.parse::<usize>().ok().filter(|n| (1..=1_000_000).contains(n));
        let n = n.ok_or_else(|| {
            bad(format!("{field}: '{text}'; expected random:N[:seed=S] with N in 1..=1000000"))
        })?;
        return Ok(random_starts(domain, n, seed));
    }
    Err(bad(format!("{field}: '{text}'; expected grid:NxM or random:N[:seed=S]")))
}

/// One slice of a sweep: shard `index` of `count` runs every `count`-th run from `index`, so that
/// `count` processes together run every run exactly once.
///
/// ```
/// use downhill_runs::sweep::Shard;
/// let s = Shard::parse("--shard", "1/3").unwrap();
/// assert_eq!(s.runs(8).collect::<Vec<_>>(), [1, 4, 7]);
/// assert!(Shard::parse("--shard", "3/3").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: usize,
    /// How many shards there are.
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `count` must be positive and `index` below it.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 || index >= count {
            return Err(downhill::Error::out_of_range(
                "shard index",
                format!("{index}/{count}"),
                "0 <= I < N",
            )
            .into());
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (e.g. `3/8`); `field` names it in errors.
    pub fn parse(field: &str, text: &str) -> Result<Shard> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| Error::Invalid(format!("{field}: '{text}'; expected I/N such as 0/4")))?;
        Shard::new(whole(field, i)?, whole(field, n)?)
    }

    /// The shard a cluster's job array assigns, if any: `SLURM_ARRAY_TASK_ID` of
    /// `SLURM_ARRAY_TASK_COUNT` (a Slurm array), else `JOB_COMPLETION_INDEX` (a Kubernetes Indexed
    /// Job) of `shards`, which must then be given.
    pub fn from_env(shards: Option<usize>) -> Result<Option<Shard>> {
        Shard::from_vars(|name| std::env::var(name).ok(), shards)
    }

    /// [`Shard::from_env`] with the variables read through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, shards: Option<usize>) -> Result<Option<Shard>> {
        if let (Some(i), Some(n)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT")) {
            return Shard::new(whole("SLURM_ARRAY_TASK_ID", &i)?, whole("SLURM_ARRAY_TASK_COUNT", &n)?)
                .map(Some);
        }
        if let Some(i) = var("JOB_COMPLETION_INDEX") {
            let n = shards.ok_or_else(|| {
                Error::Invalid(
                    "JOB_COMPLETION_INDEX is set: give the number of shards with --shards N".into(),
                )
            })?;
            return Shard::new(whole("JOB_COMPLETION_INDEX", &i)?, n).map(Some);
        }
        Ok(None)
    }

    /// The shard of a command line: `text` (`I/N`) when given, else the environment's
    /// ([`Shard::from_env`]), else all of `shards` (one by default) from 0.
    pub fn resolve(field: &str, text: Option<&str>, shards: Option<usize>) -> Result<Shard> {
        match text {
            Some(text) => Shard::parse(field, text),
            None => match Shard::from_env(shards)? {
                Some(s) => Ok(s),
                None => Shard::new(0, shards.unwrap_or(1)),
            },
        }
    }

    /// Whether run `run` belongs to this shard.
    pub fn contains(&self, run: usize) -> bool {
        run % self.count == self.index
    }

    /// This shard's runs among `total`, in order.
    pub fn runs(&self, total: usize) -> impl Iterator<Item = usize> {
        (self.index..total).step_by(self.count)
    }
}

fn whole(what: &str, s: &str) -> Result<usize> {
    s.trim().parse::<usize>().map_err(|_| Error::Invalid(format!("{what}: '{s}' is not a whole number")))
}

/// One finished run: what it reached. Its configuration and start follow from `index`
/// ([`Sweep::config_of`], [`Sweep::start_of`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// The run's index in the sweep.
    pub index: usize,
    /// The final loss (NaN when the start's is undefined).
    #[serde(with = "nan_as_null")]
    pub loss: f64,
    /// The distance from the final point to the nearest known minimum, when the objective knows
    /// its minima.
    pub distance: Option<f64>,
    /// Why the run ended.
    pub stop: StopReason,
    /// Updates taken.
    pub steps: u64,
    /// Evaluations of the objective's value and gradient, the start included (scipy's `nfev`).
    pub evaluations: u64,
    /// The final point.
    pub params: Vec<f64>,
}

/// JSON has no NaN; a run that starts where the loss is undefined stores it as null.
mod nan_as_null {
    pub fn serialize<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v: Option<f64> = serde::Deserialize::deserialize(d)?;
        Ok(v.unwrap_or(f64::NAN))
    }
}

/// What a sweep reports as it goes. Every method does nothing by default; `()` reports nothing.
pub trait Monitor: Sync {
    /// `runs` more runs are done.
    fn advance(&self, runs: u64) {
        let _ = runs;
    }
    /// Something the user should know that does not stop the sweep (a damaged journal line).
    fn warning(&self, message: &str) {
        let _ = message;
    }
}

impl Monitor for () {}

/// A sweep: a [`Plan`] of configurations, each run from every start point for `steps` updates.
#[derive(Debug, Clone)]
pub struct Sweep {
    plan: Plan,
    starts: Vec<Vec<f64>>,
    steps: u64,
    bound: f64,
    shard: Shard,
    options: RunOptions,
}

impl Sweep {
    /// Every configuration of `plan` from every one of `starts` (at least one, all of one
    /// dimension), `steps` updates each, a run stopping as diverged once any |parameter| exceeds
    /// `bound`.
    pub fn new(plan: Plan, starts: Vec<Vec<f64>>, steps: u64, bound: f64) -> Result<Sweep> {
        if starts.is_empty() {
            return Err(Error::Invalid("a sweep needs at least one start point".into()));
        }
        if let Some(s) = starts.iter().find(|s| s.len() != starts[0].len()) {
            return Err(downhill::Error::Dimension {
                field: "start".into(),
                expected: starts[0].len(),
                got: s.len(),
            }
            .into());
        }
        let total = plan.len().saturating_mul(starts.len());
        if total > MAX_RUNS {
            return Err(too_many(total));
        }
        let options = RunOptions { bound: Some(bound), record_every: 0, ..RunOptions::steps(steps) };
        options.validate()?;
        Ok(Sweep { plan, starts, steps, bound, shard: Shard::ALL, options })
    }

    /// The same sweep, running only `shard`'s runs.
    pub fn with_shard(mut self, shard: Shard) -> Sweep {
        self.shard = shard;
        self
    }

    /// The configurations.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The start points.
    pub fn starts(&self) -> &[Vec<f64>] {
        &self.starts
    }

    /// Updates per run.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The shard this sweep runs.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// All runs of the sweep, every shard's: configurations x starts.
    pub fn total(&self) -> usize {
        self.plan.len() * self.starts.len()
    }

    /// This shard's runs, in order.
    pub fn runs(&self) -> Vec<usize> {
        self.shard.runs(self.total()).collect()
    }

    /// The configuration of run `run`.
    pub fn config_of(&self, run: usize) -> usize {
        run / self.starts.len()
    }

    /// The start point of run `run`.
    pub fn start_of(&self, run: usize) -> &[f64] {
        &self.starts[run % self.starts.len()]
    }

    /// The options each run gets: [`Sweep::steps`] updates, the bound, nothing recorded.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// Names everything that determines this sweep's results for the journal, given what names
    /// the objective (e.g. its spec and formula) and the precision `T`.
    pub fn signature<T: Real>(&self, objective: &str) -> String {
        let mut text = format!(
            "{objective}|{:?}|{}|{}|{}/{}|{}|{}",
            self.plan.texts,
            self.steps,
            self.bound,
            self.shard.index,
            self.shard.count,
            self.total(),
            T::NAME
        );
        for s in &self.starts {
            for x in s {
                text.push_str(&format!("|{:016x}", x.to_bits()));
            }
        }
        format!("{:08x}", crc32(text.as_bytes()))
    }

    /// The result row of run `index`, from its final point.
    fn row<T: Real>(&self, minima: &[Minimum], index: usize, end: End<'_, T>) -> Row {
        let params: Vec<f64> = end.params.iter().map(|p| p.to_f64()).collect();
        let distance = minima
            .iter()
            .map(|m| m.point.iter().zip(&params).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt())
            .min_by(f64::total_cmp);
        let (loss, stop, steps, evaluations) = (end.loss.to_f64(), end.stop, end.steps, end.evaluations);
        Row { index, loss, distance, stop, steps, evaluations, params }
    }

    /// Runs the runs `runs` (indices below [`Sweep::total`]) in precision `T` on `objective`, in
    /// parallel, and returns their rows in the order computed. Runs of one optimizer kind go
    /// through the batched engine (bit-identical to [`downhill::minimize`], much faster); whatever
    /// it declines (schedules, clipping, other optimizers) runs one at a time. `minima` give each
    /// row's distance.
    pub fn run<T: Buildable>(
        &self,
        objective: &dyn Objective<T>,
        runs: &[usize],
        minima: &[Minimum],
        monitor: &dyn Monitor,
    ) -> Result<Vec<Row>> {
        let total = self.total();
        if let Some(&bad) = runs.iter().find(|&&i| i >= total) {
            return Err(downhill::Error::out_of_range("run", bad, &format!("[0, {total})")).into());
        }
        if objective.dim() != self.starts[0].len() {
            return Err(downhill::Error::Dimension {
                field: "start".into(),
                expected: objective.dim(),
                got: self.starts[0].len(),
            }
            .into());
        }
        let start_of = |i: usize| -> Vec<T> { self.start_of(i).iter().map(|&x| T::from_f64(x)).collect() };
        // Batched runs by optimizer name, then the rest.
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut general = Vec::new();
        for &i in runs {
            let kind = &self.plan.kinds[self.config_of(i)];
            match kind.batch {
                Some(_) => groups.entry(kind.name).or_default().push(i),
                None => general.push(i),
            }
        }
        let mut fresh: Vec<Row> = Vec::with_capacity(runs.len());
        for (_, idx) in groups {
            let batch: Vec<_> =
                idx.iter().filter_map(|&i| self.plan.kinds[self.config_of(i)].batch).collect();
            let st: Vec<Vec<T>> = idx.iter().map(|&i| start_of(i)).collect();
            match downhill::batch::minimize_batchable(objective, &batch, &st, self.steps, Some(self.bound)) {
                Some(results) => {
                    // The batched optimizers move without evaluating inside a step: one value and
                    // gradient at the start and one after each step, as `minimize` counts them.
                    let rows: Vec<Row> = idx
                        .par_iter()
                        .zip(results.par_iter())
                        .map(|(&index, r)| {
                            let (stop, steps, evaluations) = (r.stop, r.steps, r.steps + 1);
                            self.row(
                                minima,
                                index,
                                End { params: &r.params, loss: r.loss, stop, steps, evaluations },
                            )
                        })
                        .collect();
                    fresh.extend(rows);
                    monitor.advance(idx.len() as u64);
                }
                None => general.extend(idx),
            }
        }
        let part = general
            .par_iter()
            .map(|&i| {
                let mut opt = self.plan.build::<T>(self.config_of(i))?;
                let r = minimize(objective, opt.as_mut(), &start_of(i), &self.options, None)?;
                monitor.advance(1);
                let end = End {
                    params: &r.params,
                    loss: r.loss,
                    stop: r.stop,
                    steps: r.steps,
                    evaluations: r.evaluations,
                };
                Ok(self.row(minima, i, end))
            })
            .collect::<Result<Vec<_>>>()?;
        fresh.extend(part);
        Ok(fresh)
    }

    /// Runs this shard's runs in chunks, journaling finished runs at most every `journal_secs`
    /// seconds to `<out>.journal` when `out` is given, after resuming from the journal a killed
    /// run of the same sweep (same [`Sweep::signature`] of `objective_name`) left there. Returns
    /// the rows in run order and how many came from the journal; the journal is removed by
    /// [`Journal::finish`] once the caller has written its output.
    pub fn execute<T: Buildable>(
        &self,
        objective: &dyn Objective<T>,
        objective_name: &str,
        minima: &[Minimum],
        journal: Option<(&Path, f64)>,
        monitor: &dyn Monitor,
    ) -> Result<Outcome> {
        let mut rows: Vec<Row> = Vec::new();
        let mut open = None;
        let journal_secs = journal.map_or(f64::INFINITY, |(_, s)| s);
        if journal_secs.is_nan() || journal_secs < 0.0 {
            return Err(downhill::Error::out_of_range("journal-secs", journal_secs, "[0, inf)").into());
        }
        if let Some((out, _)) = journal {
            let (mut j, done) = Journal::open(out, &self.signature::<T>(objective_name), self, monitor)?;
            j.start()?;
            rows = done;
            open = Some(j);
        }
        let resumed = rows.len();
        monitor.advance(resumed as u64);
        let already: BTreeSet<usize> = rows.iter().map(|r| r.index).collect();
        let todo: Vec<usize> = self.shard.runs(self.total()).filter(|i| !already.contains(i)).collect();
        // Chunks of about 2^24 run-steps (a fraction of a second) between journal writes; at least
        // 1,024 runs so that the batched engine's per-call set-up is amortized.
        let chunk_runs = ((1u64 << 24) / self.steps.max(1)).clamp(1024, 1 << 16) as usize;
        let mut unsaved: Vec<Row> = Vec::new();
        let mut last_save = std::time::Instant::now();
        for chunk in todo.chunks(chunk_runs) {
            unsaved.extend(self.run(objective, chunk, minima, monitor)?);
            if let Some(j) = &mut open {
                if last_save.elapsed().as_secs_f64() >= journal_secs {
                    j.append(&unsaved)?;
                    rows.append(&mut unsaved);
                    last_save = std::time::Instant::now();
                }
            }
        }
        rows.append(&mut unsaved);
        rows.par_sort_unstable_by_key(|r| r.index);
        Ok(Outcome { rows, resumed, journal: open })
    }
}

/// Where one run ended.
struct End<'a, T> {
    params: &'a [T],
    loss: T,
    stop: StopReason,
    steps: u64,
    evaluations: u64,
}

/// What [`Sweep::execute`] returns.
#[derive(Debug)]
pub struct Outcome {
    /// Every run of the shard, in run order.
    pub rows: Vec<Row>,
    /// How many of them came from the journal.
    pub resumed: usize,
    /// The journal, to remove with [`Journal::finish`] once the output is written.
    pub journal: Option<Journal>,
}

impl Outcome {
    /// Removes the journal, if there is one: call it once the output is written.
    pub fn remove_journal(&mut self) {
        if let Some(j) = self.journal.take() {
            j.finish();
        }
    }
}

/// The finished runs of an interrupted sweep, beside its output: `<out>.journal`. Its first line
/// names the sweep ([`Sweep::signature`]); each further line is one finished run as JSON after
/// its CRC-32. Runs are appended in chunks with one write and an fsync, so a kill loses at most
/// the chunk in flight. Read back, every line is checked against the sweep (checksum, run index in
/// this shard and seen once, coordinates, steps); a torn last line is cut off, and from a line
/// that fails a check on, the runs are done again. A journal is never opened through a symlink:
/// a new one is written under a unique temporary name and renamed.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    header: String,
    /// Opened on the first write.
    file: Option<std::fs::File>,
    /// The valid lines of an existing journal, copied into the new one.
    kept: Vec<u8>,
}

/// The first word of a journal: its format (v4: CRC-32 lines with evaluations).
pub const JOURNAL_VERSION: &str = "downhill-sweep-journal-v4";

impl Journal {
    /// The journal of the output file `out`: `<out>.journal`.
    pub fn path_for(out: &Path) -> PathBuf {
        let mut path = out.as_os_str().to_owned();
        path.push(".journal");
        PathBuf::from(path)
    }

    /// Reads the journal of an interrupted run of `sweep` (named `signature`) beside `out`, if
    /// any; returns the runs it holds. The file itself is (re)written only by [`Journal::start`].
    pub fn open(
        out: &Path,
        signature: &str,
        sweep: &Sweep,
        monitor: &dyn Monitor,
    ) -> Result<(Journal, Vec<Row>)> {
        use std::io::BufRead;
        let path = Journal::path_for(out);
        let header = format!("{JOURNAL_VERSION} {signature}\n");
        let mut done = Vec::new();
        let mut kept = Vec::new();
        let (total, shard, dim) = (sweep.total(), sweep.shard, sweep.starts[0].len());
        // Only a regular file is read (not a symlink planted there), and no more than this
        // sweep's runs can fill.
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        let file = if regular { std::fs::File::open(&path).ok() } else { None };
        if let Some(file) = file {
            let limit = (header.len() as u64)
                .saturating_add((total.div_ceil(shard.count) as u64).saturating_mul(400 + 40 * dim as u64));
            let mut reader = std::io::BufReader::new(std::io::Read::take(file, limit));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            if first.starts_with("downhill-sweep-journal-v")
                && !first.starts_with(&format!("{JOURNAL_VERSION} "))
            {
                monitor.warning(&format!(
                    "{}: a journal of an older downhill ({}); its runs are done again",
                    path.display(),
                    first.split(' ').next().unwrap_or_default()
                ));
            }
            if first == header {
                let mut seen = HashSet::new();
                let mut line = String::new();
                for number in 2.. {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || !line.ends_with('\n') {
                        break; // the end, or a line torn by a kill mid-write
                    }
                    let checked = line
                        .trim_end()
                        .split_once(' ')
                        .filter(|(sum, json)| {
                            sum.len() == 8
                                && u32::from_str_radix(sum, 16).ok() == Some(crc32(json.as_bytes()))
                        })
                        .ok_or_else(|| "checksum mismatch".to_string())
                        .and_then(|(_, json)| serde_json::from_str::<Row>(json).map_err(|e| e.to_string()))
                        .and_then(|row| match reject(sweep, &row, &seen) {
                            Some(why) => Err(why),
                            None => Ok(row),
                        });
                    match checked {
                        Ok(row) => {
                            seen.insert(row.index);
                            done.push(row);
                            kept.extend_from_slice(line.as_bytes());
                        }
                        Err(why) => {
                            monitor.warning(&format!(
                                "{} line {number}: {why}; the runs from there on are done again",
                                path.display()
                            ));
                            break;
                        }
                    }
                }
            }
        }
        Ok((Journal { path, header, file: None, kept }, done))
    }

    /// Writes the journal's header (and the valid lines of an old one) before the first run, so a
    /// killed sweep always leaves a journal naming its plan.
    pub fn start(&mut self) -> Result<()> {
        self.append(&[])
    }

    /// Appends finished runs with one write and an fsync.
    pub fn append(&mut self, rows: &[Row]) -> Result<()> {
        use std::io::Write;
        let io = |path: &Path, e| Error::io(format!("writing {}", path.display()), e);
        if self.file.is_none() {
            // A new journal (the header and the valid lines of the old one) under a unique name,
            // then renamed over the old one: nothing at the journal's path is ever followed.
            let dir = crate::output::parent_dir(&self.path);
            let mut tmp = tempfile::Builder::new()
                .prefix(".journal.")
                .tempfile_in(dir)
                .map_err(|e| io(&self.path, e))?;
            tmp.write_all(self.header.as_bytes()).map_err(|e| io(&self.path, e))?;
            tmp.write_all(&std::mem::take(&mut self.kept)).map_err(|e| io(&self.path, e))?;
            tmp.as_file().sync_data().map_err(|e| io(&self.path, e))?;
            let file = tmp.persist(&self.path).map_err(|e| io(&self.path, e.error))?;
            self.file = Some(file);
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut chunk = String::new();
        for r in rows {
            let json = serde_json::to_string(r)?;
            chunk.push_str(&format!("{:08x} {json}\n", crc32(json.as_bytes())));
        }
        let path = self.path.clone();
        let file = self.file.as_mut().expect("opened above");
        file.write_all(chunk.as_bytes()).map_err(|e| io(&path, e))?;
        file.sync_data().map_err(|e| io(&path, e))?;
        Ok(())
    }

    /// Removes the journal: the sweep's output is written.
    pub fn finish(self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Why `row` cannot belong to `sweep`, if it cannot.
fn reject(sweep: &Sweep, row: &Row, seen: &HashSet<usize>) -> Option<String> {
    let Shard { index: i, count: n } = sweep.shard;
    let (total, dim) = (sweep.total(), sweep.starts[0].len());
    if row.index >= total || !sweep.shard.contains(row.index) {
        return Some(format!(
            "run {} is not a run of this shard (0..{total}, every {n}th from {i})",
            row.index
        ));
    }
    if seen.contains(&row.index) {
        return Some(format!("run {} appears twice", row.index));
    }
    if row.params.len() != dim {
        return Some(format!("run {} has {} coordinates, not {dim}", row.index, row.params.len()));
    }
    if row.steps > sweep.steps {
        return Some(format!("run {} took {} steps, more than {}", row.index, row.steps, sweep.steps));
    }
    None
}

/// Result rows laid out as a table: `run,total,optimizer,spec`, the swept keys, `start_*`,
/// `loss,distance,stop,steps,evaluations`, `final_*`.
pub struct Table<'a> {
    sweep: &'a Sweep,
}

impl<'a> Table<'a> {
    /// The table of `sweep`'s rows.
    pub fn new(sweep: &'a Sweep) -> Table<'a> {
        Table { sweep }
    }

    /// The column names.
    pub fn header(&self) -> Vec<String> {
        let dim = self.sweep.starts[0].len();
        let mut head: Vec<String> = ["run", "total", "optimizer", "spec"].map(String::from).to_vec();
        head.extend(self.sweep.plan.swept.iter().cloned());
        head.extend((0..dim).map(|d| format!("start_{d}")));
        head.extend(["loss", "distance", "stop", "steps", "evaluations"].map(String::from));
        head.extend((0..dim).map(|d| format!("final_{d}")));
        head
    }

    /// The rows as CSV (written by the `csv` crate; a field is quoted when it holds a comma), in
    /// blocks formatted in parallel: write them out in order. Numbers are printed as Rust prints
    /// an `f64`, which reads back exactly.
    pub fn csv(&self, rows: &[Row]) -> Result<Vec<Vec<u8>>> {
        let (plan, total) = (&self.sweep.plan, self.sweep.total());
        let writer = || csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        let mut head = writer();
        head.write_record(self.header())?;
        // Where each swept key sits in each spec's keys (None: that optimizer has no such key).
        let slots: Vec<Vec<Option<usize>>> = plan
            .grids
            .iter()
            .map(|g| plan.swept.iter().map(|k| g.keys.iter().position(|(key, _)| key == k)).collect())
            .collect();
        let blocks = rows
            .par_chunks(1024)
            .map(|block| {
                let mut w = writer();
                let mut record: Vec<String> = Vec::new();
                let mut spec = String::new();
                for r in block {
                    let c = self.sweep.config_of(r.index);
                    let (g, i) = plan.locate(c);
                    record.clear();
                    record.extend([r.index.to_string(), total.to_string(), g.name.clone()]);
                    spec.clear();
                    g.write_spec(&mut spec, i);
                    record.push(spec.clone());
                    for slot in &slots[plan.grid_of(c)] {
                        record.push(slot.map(|j| g.value(i, j).to_string()).unwrap_or_default());
                    }
                    record.extend(self.sweep.start_of(r.index).iter().map(|x| format!("{x}")));
                    record.push(format!("{}", r.loss));
                    record.push(r.distance.map(|d| format!("{d}")).unwrap_or_default());
                    record.extend([
                        r.stop.as_str().to_string(),
                        r.steps.to_string(),
                        r.evaluations.to_string(),
                    ]);
                    record.extend(r.params.iter().map(|x| format!("{x}")));
                    w.write_record(&record)?;
                }
                w.into_inner().map_err(|e| Error::io("writing CSV", e.into_error()))
            })
            .collect::<Result<Vec<_>>>()?;
        let head = head.into_inner().map_err(|e| Error::io("writing CSV", e.into_error()))?;
        Ok(std::iter::once(head).chain(blocks).collect())
    }

    /// The rows as one JSON document: `objective`, `steps`, `shard` and `runs` (each with its
    /// spec, swept `values`, start and result).
    pub fn json(&self, rows: &[Row], objective: &str) -> Value {
        let (plan, total) = (&self.sweep.plan, self.sweep.total());
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                let c = self.sweep.config_of(r.index);
                let values: BTreeMap<&str, &str> =
                    plan.swept.iter().filter_map(|k| plan.value(c, k).map(|v| (k.as_str(), v))).collect();
                json!({"run": r.index, "total": total, "optimizer": plan.name(c), "spec": plan.spec(c),
                    "values": values, "start": self.sweep.start_of(r.index), "loss": r.loss,
                    "distance": r.distance, "stop": r.stop, "steps": r.steps, "evaluations": r.evaluations,
                    "params": r.params})
            })
            .collect();
        let shard = self.sweep.shard;
        json!({"objective": objective, "steps": self.sweep.steps, "shard": [shard.index, shard.count], "runs": list})
    }
}

/// The largest shard file [`merge`] reads (a shard of 10,000,000 runs at a few hundred bytes each).
pub const MAX_SHARD_BYTES: u64 = 4 << 30;

/// Joins the CSV shards of one sweep into `output`, checking that together they hold every run
/// exactly once; returns the number of runs.
pub fn merge(inputs: &[PathBuf], output: &Path) -> Result<usize> {
    let bad = |msg: String| Error::Invalid(msg);
    let mut header: Option<String> = None;
    let mut rows: BTreeMap<usize, String> = BTreeMap::new();
    let mut total: Option<usize> = None;
    for path in inputs {
        let bytes = read_limited("merge", path, MAX_SHARD_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            bad(format!("merge: {}: not a downhill sweep CSV (not UTF-8 text)", path.display()))
        })?;
        let mut lines = text.lines();
        let h = lines.next().ok_or_else(|| bad(format!("{}: empty file", path.display())))?;
        if !h.starts_with("run,total,") {
            return Err(bad(format!("{}: not a downhill sweep CSV (header '{h}')", path.display())));
        }
        match &header {
            Some(prev) if prev != h => {
                return Err(bad(format!(
                    "{}: header differs from the first file's: shards of different sweeps?",
                    path.display()
                )))
            }
            _ => header = Some(h.to_string()),
        }
        for (n, line) in lines.enumerate() {
            let mut fields = line.splitn(3, ',');
            let (Some(run), Some(t)) = (fields.next(), fields.next()) else {
                return Err(bad(format!("{}:{}: malformed row", path.display(), n + 2)));
            };
            let run: usize = run
                .parse()
                .map_err(|_| bad(format!("{}:{}: run '{run}' is not a number", path.display(), n + 2)))?;
            let t: usize = t
                .parse()
                .map_err(|_| bad(format!("{}:{}: total '{t}' is not a number", path.display(), n + 2)))?;
            if *total.get_or_insert(t) != t {
                return Err(bad(format!(
                    "{}:{}: total {t} differs from {}: shards of different sweeps?",
                    path.display(),
                    n + 2,
                    total.unwrap_or(0)
                )));
            }
            if rows.insert(run, line.to_string()).is_some() {
                return Err(bad(format!("run {run} appears more than once (again in {})", path.display())));
            }
        }
    }
    let total = total.unwrap_or(0);
    let missing: Vec<usize> = (0..total).filter(|i| !rows.contains_key(i)).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(10).map(|i| i.to_string()).collect();
        return Err(bad(format!(
            "{} of {total} runs are missing (first: {}): is a shard absent?",
            missing.len(),
            shown.join(", ")
        )));
    }
    let mut out = header.unwrap_or_default();
    out.push('\n');
    for line in rows.values() {
        out.push_str(line);
        out.push('\n');
    }
    write_atomic(output, out.as_bytes())?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand() {
        assert_eq!(expand("lr", "1e-3..1e-1:log:3").unwrap(), vec!["0.001", "0.01", "0.1"]);
        assert_eq!(expand("b", "0..1:5").unwrap(), vec!["0", "0.25", "0.5", "0.75", "1"]);
        assert_eq!(expand("b", "0.8|0.9").unwrap(), vec!["0.8", "0.9"]);
        assert_eq!(expand("b", "0.8").unwrap(), vec!["0.8"]);
        assert!(expand("lr", "0..1:log:3").is_err());
        assert!(expand("lr", "0..1:cubic:3").is_err());
        assert!(expand("lr", "0..1:1").is_err());
        let e = Grid::parse("adam:lr=1e-3..1e-1:log:3,beta1=0.8|0.9,eps=1e-8").unwrap();
        assert_eq!(e.count, 6);
        assert_eq!(e.swept().collect::<Vec<_>>(), vec!["lr", "beta1"]);
        assert_eq!(e.spec(0), "adam:lr=0.001,beta1=0.8,eps=1e-8");
        assert_eq!(e.spec(3), "adam:lr=0.01,beta1=0.9,eps=1e-8");
        assert_eq!(e.spec(5), "adam:lr=0.1,beta1=0.9,eps=1e-8");
        let c = Plan::new(&["adam:lr=1e-3..1e-1:log:3,beta1=0.8|0.9,eps=1e-8", "gd:lr=1|2"]).unwrap();
        assert_eq!(c.total, 8);
        assert_eq!((c.spec(6), c.spec(7), c.name(5)), ("gd:lr=1".into(), "gd:lr=2".into(), "adam"));
        assert_eq!(
            (c.value(4, "beta1"), c.value(7, "beta1"), c.value(7, "lr")),
            (Some("0.8"), None, Some("2"))
        );
        assert_eq!(c.swept(), vec!["lr", "beta1"]);
    }
}
