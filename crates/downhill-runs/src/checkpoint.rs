//! Exact, crash-safe checkpoints of a run.
//!
//! File format, version 2: one ASCII header line
//! `DOWNHILL-CHECKPOINT 2 <kind> crc32=<8 hex digits> bytes=<payload length>`, then a JSON payload
//! (`kind` is `run` for [`minimize_checkpointed`], or the caller's own, e.g. `train`). A run's
//! payload holds everything needed to continue: the run's settings (checked on resume), the step,
//! the parameters, the optimizer's state (buffers and step count) and the points kept so far.
//! Floats round-trip exactly through JSON, so a resumed run is bit for bit the uninterrupted one.
//! Files are written to a unique temporary name, fsynced and renamed ([`crate::output`]), so a
//! crash leaves the previous checkpoint whole. Version 1 (an FNV-1a checksum) is refused with an
//! error that names the version.
//!
//! ```
//! use downhill::{objectives, optim, RunOptions};
//! use downhill_runs::checkpoint::{minimize_checkpointed, Checkpointing, KeepEvery, RunIdentity};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("run.ck");
//! let f = objectives::build::<f64>("rosenbrock").unwrap();
//! let id = RunIdentity::new("rosenbrock", "adam:lr=0.01");
//! let options = RunOptions::steps(1000);
//! // 1000 steps in segments of 300, with a checkpoint after each.
//! let run = |resume: Option<&std::path::Path>, steps: u64| {
//!     let mut adam = optim::build::<f64>("adam:lr=0.01", &Default::default()).unwrap();
//!     let ck = Checkpointing { save: Some(&path), every: Some(300), resume, ..Checkpointing::default() };
//!     let options = RunOptions { max_steps: steps, ..options.clone() };
//!     minimize_checkpointed(&id, f.as_ref(), adam.as_mut(), &[-1.5, 2.0], &options, &ck, &mut KeepEvery::new(100))
//! };
//! let straight = run(None, 1000).unwrap();
//! // Resuming from the last checkpoint of the same run continues it exactly.
//! let resumed = run(Some(&path), 1000).unwrap();
//! assert_eq!((resumed.steps, resumed.loss), (straight.steps, straight.loss));
//! ```

use std::ops::ControlFlow;
use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use downhill::{
    minimize, Objective, Optimizer, OptimizerState, Point, Real, RunOptions, RunResult, StopReason,
};

use crate::output::write_atomic;
use crate::{crc32, Error, Result};

/// The largest checkpoint file read: a run's, or a training run's (a model of up to 2e8
/// parameters with its optimizer state, as JSON).
pub const MAX_CHECKPOINT_BYTES: u64 = 16 << 30;

/// The longest header line read before deciding that a file is not a checkpoint.
const MAX_HEADER_BYTES: u64 = 256;

const MAGIC: &str = "DOWNHILL-CHECKPOINT";

/// The version of the file format written and read.
pub const VERSION: u32 = 2;

/// Writes `payload` as a checkpoint of `kind` (`run`, `train`): header line, then JSON, atomically.
pub fn write_framed<P: Serialize>(path: &Path, kind: &str, payload: &P) -> Result<()> {
    let body = serde_json::to_vec(payload)?;
    let mut bytes =
        format!("{MAGIC} {VERSION} {kind} crc32={:08x} bytes={}\n", crc32(&body), body.len()).into_bytes();
    bytes.extend_from_slice(&body);
    write_atomic(path, &bytes)
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Checkpoint { path: path.to_path_buf(), message: message.to_string() }
}

/// Checks, before a run, that a checkpoint may be written at `path`: its directory exists, and an
/// existing file there is a downhill checkpoint (anything else is kept unless `force`:
/// [`Error::Invalid`] says so).
pub fn check_target(field: &str, path: &Path, force: bool) -> Result<()> {
    use std::io::Read;
    crate::output::check_output(field, path)?;
    if force || !path.exists() {
        return Ok(());
    }
    let mut head = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(MAGIC.len() as u64 + 1).read_to_end(&mut head);
    }
    if head != format!("{MAGIC} ").as_bytes() {
        return Err(Error::Invalid(format!(
            "{field}: {} exists and is not a downhill checkpoint; give --force to overwrite it",
            path.display()
        )));
    }
    Ok(())
}

/// Reads a checkpoint of `kind`, checking the header, length and checksum before parsing. The
/// header line is read first (at most 256 bytes), and the payload only up to the length it names
/// (at most [`MAX_CHECKPOINT_BYTES`]), so an endless or foreign file is refused at once.
pub fn read_framed<P: DeserializeOwned>(path: &Path, kind: &str) -> Result<P> {
    use std::io::{BufRead, Read};
    let file = std::fs::File::open(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let mut reader = std::io::BufReader::new(file);
    let mut head = Vec::new();
    (&mut reader)
        .take(MAX_HEADER_BYTES)
        .read_until(b'\n', &mut head)
        .map_err(|e| bad(path, format!("cannot read: {e}")))?;
    if head.last() != Some(&b'\n') {
        return Err(bad(path, "not a downhill checkpoint (no header line)"));
    }
    let header =
        std::str::from_utf8(&head[..head.len() - 1]).map_err(|_| bad(path, "not a downhill checkpoint"))?;
    let fields: Vec<&str> = header.split(' ').collect();
    if fields.first() != Some(&MAGIC) || fields.len() != 5 {
        return Err(bad(path, "not a downhill checkpoint"));
    }
    let version: u32 = fields[1].parse().map_err(|_| bad(path, "unreadable version"))?;
    if version == 1 {
        return Err(bad(
            path,
            format!(
                "checkpoint format version 1 (FNV-1a checksum, from an older downhill); this downhill \
                 reads version {VERSION}: start the run again or finish it with the older downhill"
            ),
        ));
    }
    if version != VERSION {
        return Err(bad(
            path,
            format!("checkpoint format version {version}; this downhill reads version {VERSION}"),
        ));
    }
    if fields[2] != kind {
        return Err(bad(path, format!("a '{}' checkpoint, not a {kind} checkpoint", fields[2])));
    }
    let sum = fields[3]
        .strip_prefix("crc32=")
        .filter(|h| h.len() == 8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| bad(path, "bad header"))?;
    let len: u64 = fields[4]
        .strip_prefix("bytes=")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(path, "bad header"))?;
    if len > MAX_CHECKPOINT_BYTES {
        return Err(bad(
            path,
            format!("the header claims {len} payload bytes; checkpoints are at most {MAX_CHECKPOINT_BYTES}"),
        ));
    }
    let mut body = Vec::new();
    reader.take(len + 1).read_to_end(&mut body).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let len = len as usize;
    if body.len() != len {
        return Err(bad(path, format!("truncated or padded: {} of {len} payload bytes", body.len())));
    }
    if crc32(&body) != sum {
        return Err(bad(path, "corrupted: checksum mismatch"));
    }
    serde_json::from_slice(&body).map_err(|e| bad(path, format!("unreadable payload: {e}")))
}

/// What names a run, besides its start and [`RunOptions`]: a checkpoint is resumed only by a run
/// with the same identity.
#[derive(Debug, Clone, PartialEq)]
pub struct RunIdentity {
    /// The objective, e.g. its spec `rosenbrock:a=1,b=10`.
    pub objective: String,
    /// The optimizer, e.g. its spec `adam:lr=0.01`.
    pub optimizer: String,
    /// The learning-rate schedule, if any.
    pub schedule: Option<String>,
}

impl RunIdentity {
    /// An identity without a schedule.
    pub fn new(objective: impl Into<String>, optimizer: impl Into<String>) -> RunIdentity {
        RunIdentity { objective: objective.into(), optimizer: optimizer.into(), schedule: None }
    }
}

/// The settings a checkpoint must agree with to be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    objective: String,
    optimizer: String,
    schedule: Option<String>,
    dtype: String,
    start: Vec<f64>,
    steps: u64,
    bound: Option<f64>,
    loss_bound: Option<f64>,
    tol: Option<f64>,
    loss_tol: Option<f64>,
    every: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
struct Payload<T> {
    settings: Settings,
    step: u64,
    params: Vec<T>,
    optimizer_state: OptimizerState<T>,
    /// The points kept so far.
    trajectory: Vec<Point<T>>,
    stop: Option<StopReason>,
    detail: Option<String>,
    /// The recording interval reached (it grows while a table's points are thinned).
    every: Option<u64>,
    /// The loss and gradient norm at `params` (JSON has no NaN: a run whose start is undefined
    /// stores none).
    loss: Option<T>,
    grad_norm: Option<f64>,
    evaluations: u64,
    hessian_evaluations: u64,
}

/// Where a run's points go while it runs in segments: kept, thinned or written out. The steps of
/// the points offered count from their segment's start, `offset` steps into the run.
pub trait Recording<T> {
    /// Continues from the points kept before a checkpoint, recorded every `every` steps.
    fn restore(&mut self, points: Vec<Point<T>>, every: u64);
    /// A point computed `offset` steps into the run; `Break` stops the run.
    fn offer(&mut self, point: &Point<T>, offset: u64) -> ControlFlow<()>;
    /// The run's last point, kept whatever its step unless it already was.
    fn finish(&mut self, point: &Point<T>, offset: u64) -> ControlFlow<()>;
    /// The points kept so far (saved in the checkpoint).
    fn points(&self) -> &[Point<T>];
    /// Hands over the points kept, for the result.
    fn take_points(&mut self) -> Vec<Point<T>>;
    /// The recording interval now.
    fn every(&self) -> u64;
    /// A write error that stopped the run, if any.
    fn take_error(&mut self) -> Option<std::io::Error> {
        None
    }
}

/// A [`Recording`] that keeps every `every`-th point and the last one.
#[derive(Debug, Clone)]
pub struct KeepEvery<T> {
    every: u64,
    points: Vec<Point<T>>,
    last_offered: Option<u64>,
}

impl<T> KeepEvery<T> {
    /// Keeps the points whose step is a multiple of `every` (at least 1).
    pub fn new(every: u64) -> KeepEvery<T> {
        KeepEvery { every: every.max(1), points: Vec::new(), last_offered: None }
    }
}

impl<T: Real> Recording<T> for KeepEvery<T> {
    fn restore(&mut self, points: Vec<Point<T>>, every: u64) {
        self.every = every.max(1);
        self.last_offered = points.last().map(|p| p.step);
        self.points = points;
    }

    fn offer(&mut self, point: &Point<T>, offset: u64) -> ControlFlow<()> {
        let step = point.step + offset;
        if self.last_offered.is_some_and(|s| step <= s) {
            return ControlFlow::Continue(());
        }
        self.last_offered = Some(step);
        if step % self.every == 0 {
            self.points.push(Point { step, ..point.clone() });
        }
        ControlFlow::Continue(())
    }

    fn finish(&mut self, point: &Point<T>, offset: u64) -> ControlFlow<()> {
        let step = point.step + offset;
        if self.points.last().is_none_or(|p| p.step < step) {
            self.points.push(Point { step, ..point.clone() });
        }
        ControlFlow::Continue(())
    }

    fn points(&self) -> &[Point<T>] {
        &self.points
    }

    fn take_points(&mut self) -> Vec<Point<T>> {
        std::mem::take(&mut self.points)
    }

    fn every(&self) -> u64 {
        self.every
    }
}

/// Where a run's checkpoints go and where it continues from.
#[derive(Debug, Clone, Copy)]
pub struct Checkpointing<'a> {
    /// Write a checkpoint here after each segment (and at the end).
    pub save: Option<&'a Path>,
    /// Steps per segment (with `save`); without it, one checkpoint at the end.
    pub every: Option<u64>,
    /// Continue from this checkpoint, written by a run with the same identity and options.
    pub resume: Option<&'a Path>,
    /// The most points a checkpoint may hold: a resumed file with more is refused.
    pub max_points: u64,
}

impl Default for Checkpointing<'_> {
    /// No checkpoints, no resume, at most 100,000 points.
    fn default() -> Self {
        Checkpointing { save: None, every: None, resume: None, max_points: 100_000 }
    }
}

/// [`downhill::minimize`] in segments of `checkpointing.every` steps with a checkpoint after each
/// when `checkpointing.save` is given, continuing from `checkpointing.resume`. The result, the
/// points recorded and [`RunResult::evaluations`] are those of the uninterrupted run, bit for bit.
pub fn minimize_checkpointed<T: Real + Serialize + DeserializeOwned>(
    identity: &RunIdentity,
    objective: &dyn Objective<T>,
    optimizer: &mut dyn Optimizer<T>,
    start: &[f64],
    options: &RunOptions,
    checkpointing: &Checkpointing<'_>,
    recorder: &mut dyn Recording<T>,
) -> Result<RunResult<T>> {
    let settings = Settings {
        objective: identity.objective.clone(),
        optimizer: identity.optimizer.clone(),
        schedule: identity.schedule.clone(),
        dtype: T::NAME.into(),
        start: start.to_vec(),
        steps: options.max_steps,
        bound: options.bound,
        loss_bound: options.loss_bound,
        tol: options.grad_tol,
        loss_tol: options.loss_tol,
        every: options.record_every,
    };
    let segment = match (checkpointing.save, checkpointing.every) {
        (Some(_), Some(n)) => n,
        _ => options.max_steps,
    };
    if segment == 0 {
        return Err(downhill::Error::out_of_range("checkpoint-every", 0, "[1, steps]").into());
    }
    let mut params: Vec<T> = start.iter().map(|&x| T::from_f64(x)).collect();
    let (mut done, mut stop, mut detail) = (0, None, None);
    let (mut loss, mut grad_norm) = (T::from_f64(f64::NAN), f64::NAN);
    let (mut evaluations, mut hessian_evaluations) = (0, 0);
    if let Some(path) = checkpointing.resume {
        let p: Payload<T> = read_framed(path, "run")?;
        if p.settings != settings {
            return Err(bad(
                path,
                format!(
                    "it was written by a different run ({} with {} in {}, {} steps); give the same options",
                    p.settings.objective, p.settings.optimizer, p.settings.dtype, p.settings.steps
                ),
            ));
        }
        validate(&p, objective.dim(), options.max_steps, checkpointing.max_points)
            .map_err(|e| bad(path, e))?;
        optimizer.load_state(p.optimizer_state).map_err(|e| bad(path, e))?;
        recorder.restore(p.trajectory, p.every.unwrap_or(options.record_every));
        (evaluations, hessian_evaluations) = (p.evaluations, p.hessian_evaluations);
        (params, done, stop, detail) = (p.params, p.step, p.stop, p.detail);
        let last = recorder.points().last();
        loss = p.loss.or(last.map(|q| q.loss)).unwrap_or(loss);
        grad_norm = p.grad_norm.or(last.map(|q| q.grad_norm)).unwrap_or(grad_norm);
    }
    let write_error = |e: std::io::Error| Error::io("writing the trajectory", e);
    while stop.is_none() && done < options.max_steps {
        let seg = segment.min(options.max_steps - done);
        // The recorder sees every point (steps are global); the segment itself records only its
        // start and end.
        let seg_options = RunOptions { max_steps: seg, record_every: 0, ..options.clone() };
        let r = {
            let mut observe = |p: &Point<T>| recorder.offer(p, done);
            minimize(objective, optimizer, &params, &seg_options, Some(&mut observe))?
        };
        if let Some(e) = recorder.take_error() {
            return Err(write_error(e));
        }
        // A segment evaluates its start point again; the uninterrupted run does not.
        evaluations += r.evaluations - u64::from(done > 0 && r.evaluations > 0);
        hessian_evaluations += r.hessian_evaluations;
        let offset = done;
        done += r.steps;
        params = r.params;
        (loss, grad_norm) = (r.loss, r.grad_norm);
        if r.stop != StopReason::MaxSteps {
            stop = Some(r.stop);
            detail = r.detail;
        }
        if stop.is_some() || done == options.max_steps {
            // The run's last point is always kept.
            if let Some(last) = r.trajectory.last() {
                let _ = recorder.finish(last, offset);
                if let Some(e) = recorder.take_error() {
                    return Err(write_error(e));
                }
            }
        }
        if let Some(path) = checkpointing.save {
            let payload = Payload {
                settings: settings.clone(),
                step: done,
                params: params.clone(),
                optimizer_state: optimizer.state(),
                trajectory: recorder.points().to_vec(),
                stop,
                detail: detail.clone(),
                every: Some(recorder.every()),
                loss: Some(loss),
                grad_norm: Some(grad_norm),
                evaluations,
                hessian_evaluations,
            };
            write_framed(path, "run", &payload)?;
        }
        if r.steps == 0 {
            break;
        }
    }
    Ok(RunResult {
        stop: stop.unwrap_or(StopReason::MaxSteps),
        steps: done,
        params,
        loss,
        grad_norm,
        trajectory: recorder.take_points(),
        detail,
        evaluations,
        hessian_evaluations,
    })
}

/// Checks a checkpoint's content against the run it is to continue: a well-formed file with a
/// recomputed checksum must still describe a state this run can reach.
fn validate<T: Real>(p: &Payload<T>, dim: usize, max_steps: u64, max_points: u64) -> Result<(), String> {
    if p.step > max_steps {
        return Err(format!("step {} is beyond this run's {max_steps} steps", p.step));
    }
    if p.optimizer_state.step != p.step {
        return Err(format!(
            "the optimizer state is at step {}, the run at step {}",
            p.optimizer_state.step, p.step
        ));
    }
    if p.params.len() != dim {
        return Err(format!("{} parameters, the objective has {dim}", p.params.len()));
    }
    if let Some(i) = p.params.iter().position(|x| !x.is_finite()) {
        return Err(format!("parameter {i} is not finite"));
    }
    if p.stop.is_none() && p.step == max_steps && p.trajectory.is_empty() {
        return Err("a finished run with no points".into());
    }
    if p.trajectory.len() as u64 > max_points.saturating_add(1) {
        return Err(format!("{} points, more than the {max_points} a checkpoint holds", p.trajectory.len()));
    }
    let mut previous = None;
    for q in &p.trajectory {
        if previous.is_some_and(|s| q.step <= s) || q.step > p.step {
            return Err(format!("point at step {} is out of order or beyond step {}", q.step, p.step));
        }
        if q.params.len() != dim {
            return Err(format!("point at step {} has {} coordinates, not {dim}", q.step, q.params.len()));
        }
        previous = Some(q.step);
    }
    if let Some(e) = p.every {
        if e == 0 || e > max_steps.saturating_mul(10) {
            return Err(format!("recording interval {e} is not in [1, {}]", max_steps.saturating_mul(10)));
        }
    }
    Ok(())
}
