//! `downhill sweep` and `downhill merge`: many runs, in parallel, optionally sharded across machines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;
use serde_json::{json, Value};

use downhill::optim::Buildable;
use downhill::optim::{self, BuildOptions};
use downhill::rng::Rng;
use downhill::spec::parse_number;
use downhill::{minimize, DescribedObjective, Real, RunOptions, StopReason};

use crate::cmd_run::Dtype;

use crate::objective_args::{point_or_default, ObjectiveArgs};
use crate::output::{write_atomic, write_atomic_parts};
use crate::plot;
use crate::BadInput;

#[derive(Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Ranges in optimizer specs:\n  \
    lr=1e-4..1e-1:log:13     13 log-spaced values, ends included\n  \
    beta=0.5..0.99:5         5 evenly spaced values (also a..b:lin:n)\n  \
    beta1=0.8|0.9|0.95       a list\n\
    Starts: --start X,Y (one), --starts grid:7x7 (over the plotting domain) or random:100[:seed=1].\n\
    Shards: --shard I/N runs every N-th configuration from I; without it, SLURM_ARRAY_TASK_ID and\n  \
    SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) with --shards N, are used.\n\n\
    Example:\n  downhill sweep --objective rosenbrock:a=1,b=10 --optimizer 'adam:lr=1e-4..1e-1:log:13,beta1=0.8|0.9|0.95' \\\n      \
    --starts grid:7x7 --steps 500 --out results.csv --heatmap heat.png"
)]
pub struct SweepArgs {
    #[command(flatten)]
    pub landscape: ObjectiveArgs,
    /// Optimizer spec with ranges; repeat to sweep several optimizers.
    #[arg(long = "optimizer", value_name = "SPEC", required = true)]
    pub optimizers: Vec<String>,
    /// One start point (default: the objective's usual start).
    #[arg(long, value_name = "X,Y,...", allow_hyphen_values = true, conflicts_with = "starts")]
    pub start: Option<String>,
    /// Many start points: grid:NxM over the plotting domain, or random:N[:seed=S].
    #[arg(long, value_name = "SPEC")]
    pub starts: Option<String>,
    /// Updates per run.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Stop a run as diverged once any |parameter| exceeds B.
    #[arg(long, value_name = "B", default_value_t = 1e6)]
    pub bound: f64,
    /// Output file: .csv, .json or .parquet.
    #[arg(long)]
    pub out: PathBuf,
    /// Run only shard I of N (0-based), e.g. 3/8.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Number of shards when the index comes from JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Draw the best final loss over the first two swept hyperparameters (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub heatmap: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Seconds between journal writes, which let a killed sweep resume; a kill loses at most this
    /// much work. 0 writes after every chunk of 1024 runs.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub journal_secs: f64,
    /// Precision of the runs: f64 (default, the seed's numpy precision) or f32 (twice the vector
    /// width; each run bit-identical to `downhill run --dtype f32`). Output is written as f64.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
}

/// The most runs one sweep may hold.
const MAX_RUNS: usize = 10_000_000;

/// Expands one value: `a..b:log:n`, `a..b:n`, `a..b:lin:n`, `x|y|z`, or a plain value.
fn expand_value(field: &str, text: &str) -> Result<Vec<String>> {
    if text.contains('|') {
        return Ok(text.split('|').map(|s| s.trim().to_string()).collect());
    }
    let Some((a, rest)) = text.split_once("..") else { return Ok(vec![text.to_string()]) };
    let parts: Vec<&str> = rest.split(':').collect();
    let (b, kind, n) = match parts.as_slice() {
        [b, n] => (*b, "lin", *n),
        [b, kind, n] => (*b, *kind, *n),
        _ => {
            return Err(BadInput(format!(
                "{field}: '{text}' is not a range; use a..b:n, a..b:lin:n or a..b:log:n"
            ))
            .into())
        }
    };
    let (a, b) = (parse_number(field, a)?, parse_number(field, b)?);
    let n = n
        .parse::<usize>()
        .map_err(|_| BadInput(format!("{field}: '{n}' is not a whole number of points")))?;
    if !(2..=100_000).contains(&n) {
        return Err(downhill::Error::out_of_range(format!("{field} points"), n, "[2, 100000]").into());
    }
    let values: Vec<f64> = match kind {
        "lin" => (0..n).into_par_iter().map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect(),
        "log" => {
            if !(a > 0.0 && b > 0.0) {
                return Err(
                    BadInput(format!("{field}: a log range needs positive ends, got {a}..{b}")).into()
                );
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
/// varying fastest. A wrapped spec (`lookahead(adam:lr=1e-3..1e-1:log:5):k=2|5`) sweeps the keys
/// of every level; a wrapper's keys are named `lookahead.k` in the output.
struct Expanded {
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

impl Expanded {
    /// Parses one optimizer spec with ranges.
    fn parse(text: &str) -> Result<Expanded> {
        let spec = optim::OptimizerSpec::parse(text)?;
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        let mut levels = Vec::new();
        let mut count: usize = 1;
        let specs = std::iter::once(&spec.base).chain(&spec.wrappers);
        for (level, part) in specs.enumerate() {
            for (k, v) in &part.entries {
                let values = expand_value(&format!("{}.{k}", part.name), v)?;
                count = count.saturating_mul(values.len());
                if count > MAX_RUNS {
                    return Err(downhill::Error::out_of_range(
                        "sweep size",
                        count,
                        &format!("[1, {MAX_RUNS}]"),
                    )
                    .into());
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
        Ok(Expanded { name, base: spec.base.name, wrappers, keys, levels, strides, count })
    }

    /// The keys that take more than one value.
    fn swept(&self) -> impl Iterator<Item = &String> {
        self.keys.iter().filter(|(_, values)| values.len() > 1).map(|(k, _)| k)
    }

    /// The value of each key in combination `index` (mixed radix, the last key fastest).
    fn picks(&self, index: usize) -> impl Iterator<Item = (&str, &str)> + Clone {
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
    fn build<T: Buildable>(&self, index: usize) -> downhill::Result<Box<dyn optim::Optimizer<T>>> {
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
    fn spec(&self, index: usize) -> String {
        let mut s = String::new();
        self.write_spec(&mut s, index);
        s
    }
}

/// Every configuration of a sweep, generated from its index when needed rather than stored.
struct Configs {
    specs: Vec<Expanded>,
    /// The first configuration index of each spec.
    offsets: Vec<usize>,
    total: usize,
}

impl Configs {
    fn new(specs: Vec<Expanded>) -> Result<Configs> {
        let mut offsets = Vec::with_capacity(specs.len());
        let mut total = 0usize;
        for s in &specs {
            offsets.push(total);
            total = total.saturating_add(s.count);
        }
        if total > MAX_RUNS {
            return Err(
                downhill::Error::out_of_range("sweep size", total, &format!("[1, {MAX_RUNS}]")).into()
            );
        }
        Ok(Configs { specs, offsets, total })
    }

    /// Which expanded spec (which `--optimizer`) configuration `index` comes from.
    fn spec_of(&self, index: usize) -> usize {
        self.offsets.partition_point(|&o| o <= index) - 1
    }

    /// The expanded spec that configuration `index` comes from, and its index within it.
    fn locate(&self, index: usize) -> (&Expanded, usize) {
        let i = self.spec_of(index);
        (&self.specs[i], index - self.offsets[i])
    }

    fn spec(&self, index: usize) -> String {
        let (e, i) = self.locate(index);
        e.spec(i)
    }

    /// Builds every configuration's optimizer once, in parallel (so that a bad spec fails before
    /// thousands of runs start), and keeps what running it needs: its name and, for the optimizers
    /// the batched engine handles, their hyperparameters. `texts` are the `--optimizer` arguments
    /// the specs came from, for errors.
    fn plan(&self, texts: &[String]) -> Result<Vec<Plan>> {
        (0..self.total)
            .into_par_iter()
            .map(|i| {
                let (e, j) = self.locate(i);
                let opt =
                    e.build::<f64>(j).with_context(|| format!("--optimizer {}", texts[self.spec_of(i)]))?;
                Ok(Plan { name: opt.name(), batch: downhill::batch::Batchable::of(opt.as_ref()) })
            })
            .collect()
    }

    fn name(&self, index: usize) -> &str {
        &self.locate(index).0.name
    }

    /// The value of `key` in configuration `index`, if its optimizer has that key.
    fn value(&self, index: usize, key: &str) -> Option<&str> {
        let (e, i) = self.locate(index);
        e.picks(i).find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The swept keys of all specs, in order of first appearance.
    fn swept(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in self.specs.iter().flat_map(Expanded::swept) {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }
}

fn starts(args: &SweepArgs, objective: &dyn DescribedObjective<f64>) -> Result<Vec<Vec<f64>>> {
    let dim = objective.dim();
    if let Some(text) = &args.starts {
        let bounds = objective
            .domain()
            .ok_or_else(|| BadInput("--starts needs a 2-D objective with a plotting domain".into()))?;
        if dim != 2 {
            return Err(BadInput("--starts works on 2-D objectives; use --start for others".into()).into());
        }
        if let Some(g) = text.strip_prefix("grid:") {
            let (nx, ny) = g
                .split_once('x')
                .ok_or_else(|| BadInput(format!("--starts: '{text}'; expected grid:NxM")))?;
            let parse = |s: &str| s.parse::<usize>().ok().filter(|n| (1..=1000).contains(n));
            let (Some(nx), Some(ny)) = (parse(nx), parse(ny)) else {
                return Err(BadInput(format!("--starts: '{text}'; grid sides must be 1..=1000")).into());
            };
            let at = |lo: f64, hi: f64, i: usize, n: usize| lo + (hi - lo) * (i as f64 + 0.5) / n as f64;
            return Ok((0..ny)
                .flat_map(|j| {
                    (0..nx)
                        .map(move |i| vec![at(bounds[0], bounds[1], i, nx), at(bounds[2], bounds[3], j, ny)])
                })
                .collect());
        }
        if let Some(r) = text.strip_prefix("random:") {
            let (n, seed) = match r.split_once(":seed=") {
                Some((n, s)) => {
                    (n, s.parse::<u64>().map_err(|_| BadInput(format!("--starts: bad seed in '{text}'")))?)
                }
                None => (r, 1),
            };
            let n = n.parse::<usize>().ok().filter(|n| (1..=1_000_000).contains(n));
            let n = n.ok_or_else(|| {
                BadInput(format!("--starts: '{text}'; expected random:N[:seed=S] with N in 1..=1000000"))
            })?;
            let mut rng = Rng::new(seed);
            return Ok((0..n)
                .map(|_| vec![rng.range(bounds[0], bounds[1]), rng.range(bounds[2], bounds[3])])
                .collect());
        }
        return Err(BadInput(format!("--starts: '{text}'; expected grid:NxM or random:N[:seed=S]")).into());
    }
    Ok(vec![point_or_default("start", args.start.as_deref(), objective)?])
}

/// `(index, count)` of this process's shard.
fn shard(args: &SweepArgs) -> Result<(usize, usize)> {
    let parse = |what: &str, s: &str| {
        s.trim().parse::<usize>().map_err(|_| BadInput(format!("{what}: '{s}' is not a whole number")))
    };
    let (i, n) = if let Some(text) = &args.shard {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| BadInput(format!("--shard: '{text}'; expected I/N such as 0/4")))?;
        (parse("--shard", i)?, parse("--shard", n)?)
    } else if let (Ok(i), Ok(n)) =
        (std::env::var("SLURM_ARRAY_TASK_ID"), std::env::var("SLURM_ARRAY_TASK_COUNT"))
    {
        (parse("SLURM_ARRAY_TASK_ID", &i)?, parse("SLURM_ARRAY_TASK_COUNT", &n)?)
    } else if let Ok(i) = std::env::var("JOB_COMPLETION_INDEX") {
        let n = args.shards.ok_or_else(|| {
            BadInput("JOB_COMPLETION_INDEX is set: give the number of shards with --shards N".into())
        })?;
        (parse("JOB_COMPLETION_INDEX", &i)?, n)
    } else {
        (0, args.shards.unwrap_or(1))
    };
    if n == 0 || i >= n {
        return Err(downhill::Error::out_of_range("shard index", format!("{i}/{n}"), "0 <= I < N").into());
    }
    Ok((i, n))
}

/// One finished run: what it reached. Its configuration and start follow from `index`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    index: usize,
    #[serde(with = "nan_as_null")]
    loss: f64,
    distance: Option<f64>,
    stop: StopReason,
    steps: u64,
    params: Vec<f64>,
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

/// Finished runs of an interrupted sweep, beside its output: `<out>.journal`. Its first line names
/// the sweep (a hash of everything that determines the results: the plan); each further line is
/// one finished run as JSON after its own checksum. Runs are appended in chunks with one write and
/// an fsync, so a kill loses at most the chunk in flight. Read back, every line is checked against
/// the plan (checksum, run index in this shard and seen once, coordinates, steps); a torn last line
/// is cut off, and from a line that fails a check on, the runs are done again. A journal is never
/// opened through a symlink: a new one is written under a unique temporary name and renamed.
struct Journal {
    path: PathBuf,
    header: String,
    /// Opened on the first write (a sweep that finishes quickly never writes one).
    file: Option<std::fs::File>,
    /// The valid lines of an existing journal, copied into the new one.
    kept: Vec<u8>,
}

const JOURNAL_VERSION: &str = "downhill-sweep-journal-v3";

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// What a journal's lines are checked against.
struct JournalPlan {
    total: usize,
    shard: (usize, usize),
    dim: usize,
    steps: u64,
}

impl JournalPlan {
    /// Why `row` cannot belong to this sweep, if it cannot.
    fn reject(&self, row: &Row, seen: &std::collections::HashSet<usize>) -> Option<String> {
        let (i, n) = self.shard;
        if row.index >= self.total || row.index % n != i {
            return Some(format!(
                "run {} is not a run of this shard (0..{}, every {n}th from {i})",
                row.index, self.total
            ));
        }
        if seen.contains(&row.index) {
            return Some(format!("run {} appears twice", row.index));
        }
        if row.params.len() != self.dim {
            return Some(format!("run {} has {} coordinates, not {}", row.index, row.params.len(), self.dim));
        }
        if row.steps > self.steps {
            return Some(format!("run {} took {} steps, more than {}", row.index, row.steps, self.steps));
        }
        None
    }
}

impl Journal {
    /// Reads the journal of an interrupted run of the sweep named `signature`, if any; returns the
    /// runs it holds. The file itself is (re)written only when there is something to add.
    fn open(out: &std::path::Path, signature: &str, plan: &JournalPlan) -> Result<(Journal, Vec<Row>)> {
        use std::io::BufRead;
        let mut path = out.as_os_str().to_owned();
        path.push(".journal");
        let path = PathBuf::from(path);
        let header = format!("{JOURNAL_VERSION} {signature}\n");
        let mut done = Vec::new();
        let mut kept = Vec::new();
        // Only a regular file is read (not a symlink planted there), and no more than this plan's
        // runs can fill.
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        let file = if regular { std::fs::File::open(&path).ok() } else { None };
        if let Some(file) = file {
            let limit = (header.len() as u64).saturating_add(
                (plan.total.div_ceil(plan.shard.1) as u64).saturating_mul(400 + 40 * plan.dim as u64),
            );
            let mut reader = std::io::BufReader::new(std::io::Read::take(file, limit));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            if first == header {
                let mut seen = std::collections::HashSet::new();
                let mut line = String::new();
                for number in 2.. {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || !line.ends_with('\n') {
                        break; // the end, or a line torn by a kill mid-write
                    }
                    let checked = line
                        .trim_end()
                        .split_once(' ')
                        .filter(|(sum, json)| u64::from_str_radix(sum, 16).ok() == Some(fnv1a(json)))
                        .ok_or_else(|| "checksum mismatch".to_string())
                        .and_then(|(_, json)| serde_json::from_str::<Row>(json).map_err(|e| e.to_string()))
                        .and_then(|row| match plan.reject(&row, &seen) {
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
                            eprintln!(
                                "warning: {} line {number}: {why}; the runs from there on are done again",
                                path.display()
                            );
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
    fn start(&mut self) -> Result<()> {
        self.append(&[])
    }

    fn append(&mut self, rows: &[Row]) -> Result<()> {
        use std::io::Write;
        if self.file.is_none() {
            // A new journal (the header and the valid lines of the old one) under a unique name,
            // then renamed over the old one: nothing at the journal's path is ever followed.
            let dir =
                self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".journal.")
                .tempfile_in(dir)
                .with_context(|| format!("writing {}", self.path.display()))?;
            tmp.write_all(self.header.as_bytes())?;
            tmp.write_all(&std::mem::take(&mut self.kept))?;
            tmp.as_file().sync_data()?;
            let file = tmp
                .persist(&self.path)
                .map_err(|e| e.error)
                .with_context(|| format!("writing {}", self.path.display()))?;
            self.file = Some(file);
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut chunk = String::new();
        for r in rows {
            let json = serde_json::to_string(r)?;
            chunk.push_str(&format!("{:016x} {json}\n", fnv1a(&json)));
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(chunk.as_bytes())?;
        file.sync_data()?;
        Ok(())
    }

    fn finish(self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn run(args: &SweepArgs) -> Result<String> {
    // One pool for everything, the set-up included.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    pool.install(|| run_in_pool(args))
}

fn run_in_pool(args: &SweepArgs) -> Result<String> {
    let objective = args.landscape.build::<f64>()?;
    let mut specs = Vec::new();
    for text in &args.optimizers {
        specs.push(Expanded::parse(text).with_context(|| format!("--optimizer {text}"))?);
    }
    let configs = Configs::new(specs)?;
    let swept = configs.swept();
    let plans = configs.plan(&args.optimizers)?;
    let starts = starts(args, objective.as_ref())?;
    let total = configs.total * starts.len();
    if total > MAX_RUNS {
        return Err(downhill::Error::out_of_range("sweep size", total, &format!("[1, {MAX_RUNS}]")).into());
    }
    let options = RunOptions { bound: Some(args.bound), record_every: 0, ..RunOptions::steps(args.steps) };
    options.validate()?;
    let (shard_i, shard_n) = shard(args)?;
    // Every output is checked before the first run.
    if let Some(path) = &args.heatmap {
        plot::check_extension(path, "heatmap")?;
        crate::output::check_output("--heatmap", path)?;
        if swept.len() < 2 {
            return Err(BadInput(format!(
                "--heatmap needs two swept hyperparameters; this sweep varies {}",
                if swept.is_empty() { "none".to_string() } else { swept.join(", ") }
            ))
            .into());
        }
    }
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if !["csv", "json", "parquet"].contains(&ext.as_str()) {
        return Err(BadInput(format!(
            "--out: {}: the file name must end in .csv, .json or .parquet",
            args.out.display()
        ))
        .into());
    }
    let mine: Vec<usize> = (shard_i..total).step_by(shard_n).collect();
    let minima = objective.minima();
    // The same objective in f32 when asked for.
    let objective32 = match args.dtype {
        Dtype::F32 => Some(args.landscape.build::<f32>()?),
        Dtype::F64 => None,
    };
    let t0 = std::time::Instant::now();
    // Resume from the journal of an interrupted run of the same sweep, if there is one.
    let signature = format!(
        "{:016x}",
        fnv1a(&format!(
            "{}|{}|{:?}|{:?}|{:?}|{}|{}|{}/{}|{total}|{}{}",
            objective.name(),
            objective.formula(),
            args.optimizers,
            args.start,
            args.starts,
            args.steps,
            args.bound,
            shard_i,
            shard_n,
            objective.dim(),
            if args.dtype == Dtype::F32 { "|f32" } else { "" }
        ))
    );
    crate::output::check_output("--out", &args.out)?;
    let plan = JournalPlan { total, shard: (shard_i, shard_n), dim: objective.dim(), steps: args.steps };
    let (mut journal, resumed) = Journal::open(&args.out, &signature, &plan)?;
    journal.start()?;
    if !(args.journal_secs >= 0.0 && args.journal_secs.is_finite()) {
        return Err(downhill::Error::out_of_range("journal-secs", args.journal_secs, "[0, inf)").into());
    }
    let mut unsaved: Vec<Row> = Vec::new();
    let mut last_save = std::time::Instant::now();
    let already: std::collections::BTreeSet<usize> = resumed.iter().map(|r| r.index).collect();
    let todo: Vec<usize> = mine.iter().copied().filter(|i| !already.contains(i)).collect();
    let resumed_count = resumed.len();
    let mut rows: Vec<Row> = resumed;
    let bar = crate::output::progress(mine.len() as u64, "runs", args.quiet);
    bar.inc(resumed_count as u64);
    // Runs of one optimizer kind go through the batched engine (bit-identical to `minimize`, much
    // faster); whatever it declines (schedules, clipping, other optimizers) runs one at a time.
    // Chunks of about 2^24 run-steps (a fraction of a second) between journal writes; at least
    // 1,024 runs so that the batched engine's per-call set-up is amortized.
    let chunk_runs = ((1u64 << 24) / args.steps.max(1)).clamp(1024, 1 << 16) as usize;
    let ctx =
        Sweep { configs: &configs, starts: &starts, minima: &minima, options: &options, args, bar: &bar };
    for chunk in todo.chunks(chunk_runs) {
        let fresh = match &objective32 {
            Some(f) => ctx.run_chunk::<f32>(f.as_ref(), &plans, chunk)?,
            None => ctx.run_chunk::<f64>(objective.as_ref(), &plans, chunk)?,
        };
        unsaved.extend(fresh);
        if last_save.elapsed().as_secs_f64() >= args.journal_secs {
            journal.append(&unsaved)?;
            rows.append(&mut unsaved);
            last_save = std::time::Instant::now();
        }
    }
    rows.append(&mut unsaved);
    rows.par_sort_unstable_by_key(|r| r.index);
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();

    let dim = objective.dim();
    let table = Table { configs: &configs, swept: &swept, starts: &starts, total, dim };
    let parts: Vec<Vec<u8>> = match ext.as_str() {
        "parquet" => vec![table.parquet(&rows)],
        "csv" => table.csv(&rows).into_iter().map(String::into_bytes).collect(),
        _ => {
            let list: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let c = r.index / starts.len();
                    let values: BTreeMap<&str, &str> = swept
                        .iter()
                        .filter_map(|k| configs.value(c, k).map(|v| (k.as_str(), v)))
                        .collect();
                    json!({"run": r.index, "total": total, "optimizer": configs.name(c), "spec": configs.spec(c),
                        "values": values, "start": starts[r.index % starts.len()], "loss": r.loss,
                        "distance": r.distance, "stop": r.stop, "steps": r.steps, "params": r.params})
                })
                .collect();
            vec![(serde_json::to_string_pretty(
                &json!({"objective": objective.name(), "steps": args.steps, "shard": [shard_i, shard_n], "runs": list}),
            )? + "\n")
                .into_bytes()]
        }
    };
    write_atomic_parts(&args.out, &parts)?;
    journal.finish();
    if let Some(path) = &args.heatmap {
        heatmap(&table, &rows, objective.name(), path)?;
    }
    let best = rows.iter().filter(|r| r.loss.is_finite()).min_by(|a, b| a.loss.total_cmp(&b.loss));
    let mut s = String::new();
    if resumed_count > 0 {
        s.push_str(&format!(
            "resumed: {resumed_count} runs were already done (from {}.journal)\n",
            args.out.display()
        ));
    }
    s.push_str(&format!(
        "{} runs{} ({} configurations x {} starts), {} steps each, in {:.2} s: {:.3e} steps/s\nwrote {}\n",
        rows.len(),
        if shard_n > 1 { format!(" of {total} (shard {shard_i}/{shard_n})") } else { String::new() },
        configs.total,
        starts.len(),
        args.steps,
        elapsed,
        rows.iter().map(|r| r.steps as f64).sum::<f64>() / elapsed.max(1e-9),
        args.out.display()
    ));
    if let Some(b) = best {
        s.push_str(&format!(
            "best: {} from ({}) -> loss {:e} ({})\n",
            configs.spec(b.index / starts.len()),
            starts[b.index % starts.len()].iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", "),
            b.loss,
            b.stop.as_str()
        ));
    }
    if let Some(p) = &args.heatmap {
        s.push_str(&format!("heatmap: {}\n", p.display()));
    }
    Ok(s)
}

/// How one configuration runs.
struct Plan {
    /// The optimizer's name: runs are grouped by it.
    name: &'static str,
    /// Its hyperparameters for the batched engine, when that handles it.
    batch: Option<downhill::batch::Batchable>,
}

/// What every chunk of a sweep shares.
struct Sweep<'a> {
    configs: &'a Configs,
    starts: &'a [Vec<f64>],
    minima: &'a [downhill::Minimum],
    options: &'a RunOptions,
    args: &'a SweepArgs,
    bar: &'a indicatif::ProgressBar,
}

impl Sweep<'_> {
    /// The result row of run `index`, from its final point.
    fn row<T: Real>(&self, index: usize, params: &[T], loss: T, stop: StopReason, steps: u64) -> Row {
        let params: Vec<f64> = params.iter().map(|p| p.to_f64()).collect();
        let distance = self
            .minima
            .iter()
            .map(|m| m.point.iter().zip(&params).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt())
            .min_by(f64::total_cmp);
        Row { index, loss: loss.to_f64(), distance, stop, steps, params }
    }

    /// Runs the given runs in precision `T`. Runs of one optimizer kind go through the batched
    /// engine (bit-identical to `minimize`, much faster); whatever it declines (schedules, clipping,
    /// other optimizers) runs one at a time.
    fn run_chunk<T: Buildable>(
        &self,
        objective: &dyn DescribedObjective<T>,
        plans: &[Plan],
        chunk: &[usize],
    ) -> Result<Vec<Row>> {
        let n_starts = self.starts.len();
        let start_of =
            |i: usize| -> Vec<T> { self.starts[i % n_starts].iter().map(|&x| T::from_f64(x)).collect() };
        // Batched runs by optimizer name, then the rest.
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut general = Vec::new();
        for &i in chunk {
            let plan = &plans[i / n_starts];
            match plan.batch {
                Some(_) => groups.entry(plan.name).or_default().push(i),
                None => general.push(i),
            }
        }
        let mut fresh: Vec<Row> = Vec::with_capacity(chunk.len());
        for (_, idx) in groups {
            let batch: Vec<_> = idx.iter().filter_map(|&i| plans[i / n_starts].batch).collect();
            let st: Vec<Vec<T>> = idx.iter().map(|&i| start_of(i)).collect();
            let (steps, bound) = (self.args.steps, Some(self.args.bound));
            match downhill::batch::minimize_batchable(objective, &batch, &st, steps, bound) {
                Some(results) => {
                    let rows: Vec<Row> = idx
                        .par_iter()
                        .zip(results.par_iter())
                        .map(|(&index, r)| self.row(index, &r.params, r.loss, r.stop, r.steps))
                        .collect();
                    fresh.extend(rows);
                    self.bar.inc(idx.len() as u64);
                }
                None => general.extend(idx),
            }
        }
        let part = general
            .par_iter()
            .map(|&i| {
                let (e, j) = self.configs.locate(i / n_starts);
                let mut opt = e.build::<T>(j)?;
                let r = minimize(objective, opt.as_mut(), &start_of(i), self.options, None)?;
                self.bar.inc(1);
                Ok(self.row(i, &r.params, r.loss, r.stop, r.steps))
            })
            .collect::<Result<Vec<_>>>()?;
        fresh.extend(part);
        Ok(fresh)
    }
}

/// How result rows are laid out as columns.
struct Table<'a> {
    configs: &'a Configs,
    swept: &'a [String],
    starts: &'a [Vec<f64>],
    total: usize,
    dim: usize,
}

impl Table<'_> {
    fn config(&self, r: &Row) -> usize {
        r.index / self.starts.len()
    }

    fn start<'s>(&'s self, r: &Row) -> &'s [f64] {
        &self.starts[r.index % self.starts.len()]
    }

    /// The CSV text, in blocks formatted in parallel (write them out in order).
    fn csv(&self, rows: &[Row]) -> Vec<String> {
        let mut head = String::from("run,total,optimizer,spec");
        for k in self.swept {
            head.push_str(&format!(",{k}"));
        }
        for d in 0..self.dim {
            head.push_str(&format!(",start_{d}"));
        }
        head.push_str(",loss,distance,stop,steps");
        for d in 0..self.dim {
            head.push_str(&format!(",final_{d}"));
        }
        head.push('\n');
        // Where each swept key sits in each spec's keys (None: that optimizer has no such key).
        let slots: Vec<Vec<Option<usize>>> = self
            .configs
            .specs
            .iter()
            .map(|e| self.swept.iter().map(|k| e.keys.iter().position(|(key, _)| key == k)).collect())
            .collect();
        let blocks = rows.par_chunks(1024).map(|block| {
            use std::fmt::Write as _;
            let mut s = String::with_capacity(block.len() * 160);
            for r in block {
                let (e, i) = self.configs.locate(self.config(r));
                let _ = write!(s, "{},{},{},\"", r.index, self.total, e.name);
                e.write_spec(&mut s, i);
                s.push('"');
                for slot in &slots[self.configs.spec_of(self.config(r))] {
                    s.push(',');
                    if let Some(j) = *slot {
                        s.push_str(e.value(i, j));
                    }
                }
                for x in self.start(r) {
                    let _ = write!(s, ",{x}");
                }
                let _ = write!(s, ",{},", r.loss);
                if let Some(d) = r.distance {
                    let _ = write!(s, "{d}");
                }
                let _ = write!(s, ",{},{}", r.stop.as_str(), r.steps);
                for x in &r.params {
                    let _ = write!(s, ",{x}");
                }
                s.push('\n');
            }
            s
        });
        std::iter::once(head).chain(blocks.collect::<Vec<_>>()).collect()
    }

    /// The same columns as the CSV, as a Parquet file.
    fn parquet(&self, rows: &[Row]) -> Vec<u8> {
        use crate::parquet::{encode, Column};
        let (configs, total, dim) = (self.configs, self.total, self.dim);
        let mut cols: Vec<(String, Column)> = vec![
            ("run".into(), Column::Int64(rows.iter().map(|r| r.index as i64).collect())),
            ("total".into(), Column::Int64(rows.iter().map(|_| total as i64).collect())),
            (
                "optimizer".into(),
                Column::Text(rows.iter().map(|r| configs.name(self.config(r)).to_string()).collect()),
            ),
            ("spec".into(), Column::Text(rows.iter().map(|r| configs.spec(self.config(r))).collect())),
        ];
        for k in self.swept {
            let raw: Vec<String> = rows
                .iter()
                .map(|r| configs.value(self.config(r), k).unwrap_or_default().to_string())
                .collect();
            let nums: Option<Vec<f64>> = raw.iter().map(|v| v.parse::<f64>().ok()).collect();
            cols.push((
                k.clone(),
                match nums {
                    Some(v) => Column::Double(v),
                    None => Column::Text(raw),
                },
            ));
        }
        for d in 0..dim {
            cols.push((
                format!("start_{d}"),
                Column::Double(rows.iter().map(|r| self.start(r)[d]).collect()),
            ));
        }
        cols.push(("loss".into(), Column::Double(rows.iter().map(|r| r.loss).collect())));
        cols.push((
            "distance".into(),
            Column::Double(rows.iter().map(|r| r.distance.unwrap_or(f64::NAN)).collect()),
        ));
        cols.push(("stop".into(), Column::Text(rows.iter().map(|r| r.stop.as_str().to_string()).collect())));
        cols.push(("steps".into(), Column::Int64(rows.iter().map(|r| r.steps as i64).collect())));
        for d in 0..dim {
            cols.push((format!("final_{d}"), Column::Double(rows.iter().map(|r| r.params[d]).collect())));
        }
        encode(&cols)
    }
}

fn heatmap(table: &Table, rows: &[Row], title: String, path: &std::path::Path) -> Result<()> {
    let swept = table.swept;
    if swept.len() < 2 {
        return Err(BadInput(format!(
            "--heatmap needs two swept hyperparameters; this sweep varies {}",
            if swept.is_empty() { "none".to_string() } else { swept.join(", ") }
        ))
        .into());
    }
    let (kx, ky) = (&swept[0], &swept[1]);
    let value =
        |r: &Row, k: &str| table.configs.value(table.config(r), k).and_then(|s| s.parse::<f64>().ok());
    let axis = |k: &String| {
        let mut v: Vec<f64> = rows.iter().filter_map(|r| value(r, k)).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let (xs, ys) = (axis(kx), axis(ky));
    let mut best = vec![f64::INFINITY; xs.len() * ys.len()];
    for r in rows {
        let (Some(x), Some(y)) = (value(r, kx), value(r, ky)) else {
            continue;
        };
        let (Some(i), Some(j)) = (xs.iter().position(|v| *v == x), ys.iter().position(|v| *v == y)) else {
            continue;
        };
        if r.loss.is_finite() && r.stop != StopReason::Diverged {
            best[j * xs.len() + i] = best[j * xs.len() + i].min(r.loss);
        }
    }
    let title = format!("{title}: best final loss");
    let picture = plot::Heatmap { title: &title, xlabel: kx, ylabel: ky, xs: &xs, ys: &ys, values: &best };
    plot::save(&picture, path)
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  downhill merge shard0.csv shard1.csv shard2.csv -o all.csv")]
pub struct MergeArgs {
    /// Shard outputs of one sweep (CSV).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The merged file.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// The largest shard file `merge` reads (a shard of 10,000,000 runs at a few hundred bytes each).
const MAX_SHARD_BYTES: u64 = 4 << 30;

/// Joins shard CSVs, checking that together they hold every run exactly once.
pub fn merge(args: &MergeArgs) -> Result<String> {
    let mut header: Option<String> = None;
    let mut rows: BTreeMap<usize, String> = BTreeMap::new();
    let mut total: Option<usize> = None;
    for path in &args.inputs {
        let bytes = crate::output::read_limited("merge", path, MAX_SHARD_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            BadInput(format!("merge: {}: not a downhill sweep CSV (not UTF-8 text)", path.display()))
        })?;
        let mut lines = text.lines();
        let h = lines.next().ok_or_else(|| BadInput(format!("{}: empty file", path.display())))?;
        if !h.starts_with("run,total,") {
            return Err(
                BadInput(format!("{}: not a downhill sweep CSV (header '{h}')", path.display())).into()
            );
        }
        match &header {
            Some(prev) if prev != h => {
                return Err(BadInput(format!(
                    "{}: header differs from the first file's: shards of different sweeps?",
                    path.display()
                ))
                .into())
            }
            _ => header = Some(h.to_string()),
        }
        for (n, line) in lines.enumerate() {
            let mut fields = line.splitn(3, ',');
            let (Some(run), Some(t)) = (fields.next(), fields.next()) else {
                return Err(BadInput(format!("{}:{}: malformed row", path.display(), n + 2)).into());
            };
            let run: usize = run.parse().map_err(|_| {
                BadInput(format!("{}:{}: run '{run}' is not a number", path.display(), n + 2))
            })?;
            let t: usize = t.parse().map_err(|_| {
                BadInput(format!("{}:{}: total '{t}' is not a number", path.display(), n + 2))
            })?;
            if *total.get_or_insert(t) != t {
                return Err(BadInput(format!(
                    "{}:{}: total {t} differs from {}: shards of different sweeps?",
                    path.display(),
                    n + 2,
                    total.unwrap_or(0)
                ))
                .into());
            }
            if rows.insert(run, line.to_string()).is_some() {
                return Err(BadInput(format!(
                    "run {run} appears more than once (again in {})",
                    path.display()
                ))
                .into());
            }
        }
    }
    let total = total.unwrap_or(0);
    let missing: Vec<usize> = (0..total).filter(|i| !rows.contains_key(i)).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(10).map(|i| i.to_string()).collect();
        return Err(BadInput(format!(
            "{} of {total} runs are missing (first: {}): is a shard absent?",
            missing.len(),
            shown.join(", ")
        ))
        .into());
    }
    let mut out = header.unwrap_or_default();
    out.push('\n');
    for line in rows.values() {
        out.push_str(line);
        out.push('\n');
    }
    write_atomic(&args.output, out.as_bytes())?;
    Ok(format!(
        "merged {} runs from {} files into {}\n",
        rows.len(),
        args.inputs.len(),
        args.output.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand() {
        assert_eq!(expand_value("lr", "1e-3..1e-1:log:3").unwrap(), vec!["0.001", "0.01", "0.1"]);
        assert_eq!(expand_value("b", "0..1:5").unwrap(), vec!["0", "0.25", "0.5", "0.75", "1"]);
        assert_eq!(expand_value("b", "0.8|0.9").unwrap(), vec!["0.8", "0.9"]);
        assert_eq!(expand_value("b", "0.8").unwrap(), vec!["0.8"]);
        assert!(expand_value("lr", "0..1:log:3").is_err());
        assert!(expand_value("lr", "0..1:cubic:3").is_err());
        assert!(expand_value("lr", "0..1:1").is_err());
        let e = Expanded::parse("adam:lr=1e-3..1e-1:log:3,beta1=0.8|0.9,eps=1e-8").unwrap();
        assert_eq!(e.count, 6);
        assert_eq!(e.swept().collect::<Vec<_>>(), vec!["lr", "beta1"]);
        assert_eq!(e.spec(0), "adam:lr=0.001,beta1=0.8,eps=1e-8");
        assert_eq!(e.spec(3), "adam:lr=0.01,beta1=0.9,eps=1e-8");
        assert_eq!(e.spec(5), "adam:lr=0.1,beta1=0.9,eps=1e-8");
        let c = Configs::new(vec![e, Expanded::parse("gd:lr=1|2").unwrap()]).unwrap();
        assert_eq!(c.total, 8);
        assert_eq!((c.spec(6), c.spec(7), c.name(5)), ("gd:lr=1".into(), "gd:lr=2".into(), "adam"));
        assert_eq!(
            (c.value(4, "beta1"), c.value(7, "beta1"), c.value(7, "lr")),
            (Some("0.8"), None, Some("2"))
        );
        assert_eq!(c.swept(), vec!["lr", "beta1"]);
    }
}
