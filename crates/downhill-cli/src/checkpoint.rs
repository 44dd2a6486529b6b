//! Exact, crash-safe checkpoints of a run.
//!
//! File format, version 1: one ASCII header line
//! `DOWNHILL-CHECKPOINT 1 run fnv1a64=<16 hex digits> bytes=<payload length>`, then a JSON payload
//! with everything needed to continue: the command's settings (checked on resume), the step, the
//! parameters, the optimizer's state (buffers and step count) and the points kept so far (at most
//! [`CHECKPOINT_POINTS`]: a run whose points must stream cannot be checkpointed). Floats
//! round-trip exactly through JSON, so a resumed run is bit-for-bit the uninterrupted one. Files are
//! written to a temporary name, fsynced and renamed, so a crash leaves the previous checkpoint whole.

use std::path::Path;

use anyhow::Result;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use downhill::{
    minimize, DescribedObjective, Optimizer, OptimizerState, Point, Real, RunOptions, RunResult, StopReason,
};

use crate::cmd_run::RunArgs;
use crate::output::write_atomic;
use crate::record::{capacity, Recorder, CHECKPOINT_POINTS};
use crate::BadInput;

/// The largest checkpoint file read: a run's (points bounded by [`CHECKPOINT_POINTS`]) or a
/// training run's (a model of up to 2e8 parameters with its optimizer state, as JSON).
pub const MAX_CHECKPOINT_BYTES: u64 = 16 << 30;

/// The longest header line read before deciding that a file is not a checkpoint.
const MAX_HEADER_BYTES: u64 = 256;

const MAGIC: &str = "DOWNHILL-CHECKPOINT";
const VERSION: u32 = 1;

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
    /// The points kept so far (every `every`-th, thinned for a table).
    trajectory: Vec<Point<T>>,
    stop: Option<StopReason>,
    detail: Option<String>,
    /// The recording interval reached (it grows while a table's points are thinned).
    #[serde(default)]
    every: Option<u64>,
    /// The loss and gradient norm at `params`.
    #[serde(default)]
    loss: Option<T>,
    #[serde(default)]
    grad_norm: Option<f64>,
    /// Evaluations so far (absent in files from before it was counted).
    #[serde(default)]
    evaluations: u64,
    #[serde(default)]
    hessian_evaluations: u64,
}

/// FNV-1a, 64 bits: the checksum of checkpoints and the content hash of training data.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn write<T: Serialize + DeserializeOwned>(path: &Path, payload: &Payload<T>) -> Result<()> {
    write_framed(path, "run", payload)
}

/// Writes `payload` as a checkpoint of `kind` (`run`, `train`): header line, then JSON.
pub fn write_framed<P: Serialize>(path: &Path, kind: &str, payload: &P) -> Result<()> {
    let body = serde_json::to_vec(payload)?;
    let mut bytes =
        format!("{MAGIC} {VERSION} {kind} fnv1a64={:016x} bytes={}\n", fnv1a(&body), body.len()).into_bytes();
    bytes.extend_from_slice(&body);
    write_atomic(path, &bytes)
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> anyhow::Error {
    BadInput(format!("--resume: {}: {msg}", path.display())).into()
}

/// Checks, before the run, that `--checkpoint PATH` may be written: its directory exists, and an
/// existing file there is a downhill checkpoint (anything else is kept unless `force`).
pub fn check_target(path: &Path, force: bool) -> Result<()> {
    use std::io::Read;
    crate::output::check_output("--checkpoint", path)?;
    if force || !path.exists() {
        return Ok(());
    }
    let mut head = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(MAGIC.len() as u64 + 1).read_to_end(&mut head);
    }
    if head != format!("{MAGIC} ").as_bytes() {
        return Err(BadInput(format!(
            "--checkpoint: {} exists and is not a downhill checkpoint; give --force to overwrite it",
            path.display()
        ))
        .into());
    }
    Ok(())
}

fn read<T: Serialize + DeserializeOwned>(path: &Path) -> Result<Payload<T>> {
    read_framed(path, "run")
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
    if version != VERSION {
        return Err(bad(
            path,
            format!("checkpoint format version {version}; this downhill reads version {VERSION}"),
        ));
    }
    if fields[2] != kind {
        return Err(bad(path, format!("a '{}' checkpoint, not a {kind} checkpoint", fields[2])));
    }
    let hash = fields[3]
        .strip_prefix("fnv1a64=")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
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
    let mut bytes = Vec::new();
    reader.take(len + 1).read_to_end(&mut bytes).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let body = &bytes[..];
    let len = len as usize;
    if body.len() != len {
        return Err(bad(path, format!("truncated or padded: {} of {len} payload bytes", body.len())));
    }
    if fnv1a(body) != hash {
        return Err(bad(path, "corrupted: checksum mismatch"));
    }
    serde_json::from_slice(body).map_err(|e| bad(path, format!("unreadable payload: {e}")))
}

/// Runs `args` with its points going to `recorder`: in segments of `--checkpoint-every` steps
/// with a checkpoint after each when `--checkpoint` is given, continuing from `--resume`.
pub fn run_recorded<T: Real + Serialize + DeserializeOwned>(
    args: &RunArgs,
    objective: &dyn DescribedObjective<T>,
    optimizer: &mut dyn Optimizer<T>,
    start: &[f64],
    options: &RunOptions,
    recorder: &mut Recorder<'_, T>,
) -> Result<RunResult<T>> {
    let settings = Settings {
        objective: objective.name(),
        optimizer: args.optimizer.clone(),
        schedule: args.schedule.clone(),
        dtype: T::NAME.into(),
        start: start.to_vec(),
        steps: options.max_steps,
        bound: options.bound,
        loss_bound: options.loss_bound,
        tol: options.grad_tol,
        loss_tol: options.loss_tol,
        every: options.record_every,
    };
    let segment = match (&args.checkpoint, args.checkpoint_every) {
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
    if let Some(path) = &args.resume {
        let p: Payload<T> = read(path)?;
        if p.settings != settings {
            return Err(bad(
                path,
                format!(
                    "it was written by a different run ({} with {} in {}, {} steps); give the same options",
                    p.settings.objective, p.settings.optimizer, p.settings.dtype, p.settings.steps
                ),
            ));
        }
        validate(&p, objective.dim(), options.max_steps).map_err(|e| bad(path, e))?;
        optimizer.load_state(p.optimizer_state).map_err(|e| bad(path, e))?;
        recorder.restore(p.trajectory, p.every.unwrap_or(options.record_every));
        (evaluations, hessian_evaluations) = (p.evaluations, p.hessian_evaluations);
        (params, done, stop, detail) = (p.params, p.step, p.stop, p.detail);
        let last = recorder.points.last();
        loss = p.loss.or(last.map(|q| q.loss)).unwrap_or(loss);
        grad_norm = p.grad_norm.or(last.map(|q| q.grad_norm)).unwrap_or(grad_norm);
    }
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
            return Err(anyhow::Error::new(e).context("writing the trajectory"));
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
                    return Err(anyhow::Error::new(e).context("writing the trajectory"));
                }
            }
        }
        if let Some(path) = &args.checkpoint {
            let payload = Payload {
                settings: settings.clone(),
                step: done,
                params: params.clone(),
                optimizer_state: optimizer.state(),
                trajectory: recorder.points.clone(),
                stop,
                detail: detail.clone(),
                every: Some(recorder.every()),
                loss: Some(loss),
                grad_norm: Some(grad_norm),
                evaluations,
                hessian_evaluations,
            };
            write(path, &payload)?;
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
        trajectory: std::mem::take(&mut recorder.points),
        detail,
        evaluations,
        hessian_evaluations,
    })
}

/// Checks a checkpoint's content against the run it is to continue: a well-formed file with a
/// recomputed checksum must still describe a state this run can reach.
fn validate<T: Real>(p: &Payload<T>, dim: usize, max_steps: u64) -> std::result::Result<(), String> {
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
    let limit = capacity::<T>(dim).min(CHECKPOINT_POINTS) as usize;
    if p.trajectory.len() > limit + 1 {
        return Err(format!("{} points, more than the {limit} a checkpoint holds", p.trajectory.len()));
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
