//! Exact, crash-safe checkpoints of a run.
//!
//! File format, version 1: one ASCII header line
//! `DOWNHILL-CHECKPOINT 1 run fnv1a64=<16 hex digits> bytes=<payload length>`, then a JSON payload
//! with everything needed to continue: the command's settings (checked on resume), the step, the
//! parameters, the optimizer's state (buffers and step count) and the trajectory so far. Floats
//! round-trip exactly through JSON, so a resumed run is bit-for-bit the uninterrupted one. Files are
//! written to a temporary name, fsynced and renamed, so a crash leaves the previous checkpoint whole.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use downhill::{
    minimize, Objective, Optimizer, OptimizerState, Point, Real, RunOptions, RunResult, StopReason,
};

use crate::cmd_run::RunArgs;
use crate::output::write_atomic;
use crate::BadInput;

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
    trajectory: Vec<Point<T>>,
    stop: Option<StopReason>,
    detail: Option<String>,
    /// Evaluations so far (absent in files from before it was counted).
    #[serde(default)]
    evaluations: u64,
    #[serde(default)]
    hessian_evaluations: u64,
}

fn fnv1a(bytes: &[u8]) -> u64 {
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

fn read<T: Serialize + DeserializeOwned>(path: &Path) -> Result<Payload<T>> {
    read_framed(path, "run")
}

/// Reads a checkpoint of `kind`, checking the header, length and checksum before parsing.
pub fn read_framed<P: DeserializeOwned>(path: &Path, kind: &str) -> Result<P> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad(path, "not a downhill checkpoint (no header line)"))?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| bad(path, "not a downhill checkpoint"))?;
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
    let len: usize = fields[4]
        .strip_prefix("bytes=")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(path, "bad header"))?;
    let body = &bytes[nl + 1..];
    if body.len() != len {
        return Err(bad(path, format!("truncated or padded: {} of {len} payload bytes", body.len())));
    }
    if fnv1a(body) != hash {
        return Err(bad(path, "corrupted: checksum mismatch"));
    }
    serde_json::from_slice(body).map_err(|e| bad(path, format!("unreadable payload: {e}")))
}

/// Runs in segments of `--checkpoint-every` steps, saving after each; resumes from `--resume`.
pub fn run_in_segments<T: Real + Serialize + DeserializeOwned>(
    args: &RunArgs,
    objective: &dyn Objective<T>,
    optimizer: &mut dyn Optimizer<T>,
    start: &[f64],
    options: &RunOptions,
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
    // Segments: between checkpoints, or 1% of the run for the progress bar.
    let every_ck = args.checkpoint_every.unwrap_or(if args.checkpoint.is_some() {
        options.max_steps
    } else {
        options.max_steps.div_ceil(100)
    });
    if every_ck == 0 {
        return Err(downhill::Error::out_of_range("checkpoint-every", 0, "[1, steps]").into());
    }
    let (mut evaluations, mut hessian_evaluations) = (0, 0);
    let (mut params, mut trajectory, mut done, mut stop, mut detail) = match &args.resume {
        Some(path) => {
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
            optimizer.load_state(p.optimizer_state).map_err(|e| bad(path, e))?;
            (evaluations, hessian_evaluations) = (p.evaluations, p.hessian_evaluations);
            (p.params, p.trajectory, p.step, p.stop, p.detail)
        }
        None => (start.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>(), Vec::new(), 0, None, None),
    };
    let every = options.record_every;
    let bar = crate::output::progress(options.max_steps, "steps", args.quiet);
    bar.set_position(done);
    while stop.is_none() && done < options.max_steps {
        let seg = every_ck.min(options.max_steps - done);
        // Record every point of the segment and keep those the whole run would (steps are global).
        let seg_options =
            RunOptions { max_steps: seg, record_every: u64::from(every > 0), ..options.clone() };
        let r = minimize(objective, optimizer, &params, &seg_options, None)?;
        let last_global = done + r.steps;
        // A segment evaluates its start point again; the uninterrupted run does not.
        evaluations += r.evaluations - u64::from(done > 0 && r.evaluations > 0);
        hessian_evaluations += r.hessian_evaluations;
        let finished = r.stop != StopReason::MaxSteps || last_global == options.max_steps;
        for (i, mut p) in r.trajectory.into_iter().enumerate() {
            p.step += done;
            let _ = i;
            let is_last = p.step == last_global;
            // Keep what the uninterrupted run keeps: its start, every K-th step, and its final point.
            let keep = if p.step == 0 {
                trajectory.is_empty()
            } else if trajectory.last().map(|q: &Point<T>| q.step) == Some(p.step) {
                false
            } else {
                (every > 0 && p.step % every == 0) || (is_last && finished)
            };
            if keep {
                trajectory.push(p);
            }
        }
        done = last_global;
        bar.set_position(done);
        params = r.params;
        if r.stop != StopReason::MaxSteps {
            stop = Some(r.stop);
            detail = r.detail;
        }
        if let Some(path) = &args.checkpoint {
            let payload = Payload {
                settings: settings.clone(),
                step: done,
                params: params.clone(),
                optimizer_state: optimizer.state(),
                trajectory: trajectory.clone(),
                stop,
                detail: detail.clone(),
                evaluations,
                hessian_evaluations,
            };
            write(path, &payload)?;
        }
        if r.steps == 0 {
            break;
        }
    }
    bar.finish_and_clear();
    let last = trajectory.last().cloned().ok_or_else(|| anyhow::anyhow!("empty trajectory"))?;
    Ok(RunResult {
        stop: stop.unwrap_or(StopReason::MaxSteps),
        steps: done,
        params,
        loss: last.loss,
        grad_norm: last.grad_norm,
        trajectory,
        detail,
        evaluations,
        hessian_evaluations,
    })
}
