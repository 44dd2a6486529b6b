//! Checkpoints of `run` and `train`: the file format and the segmented run live in
//! [`downhill_runs::checkpoint`]; this maps their errors to the command line's and connects the
//! run's [`Recorder`].

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Result;
use serde::{de::DeserializeOwned, Serialize};

use downhill::{DescribedObjective, Optimizer, Point, Real, RunOptions, RunResult};
use downhill_runs::checkpoint::{self as ck, Checkpointing, Recording, RunIdentity};

use crate::cmd_run::RunArgs;
use crate::record::{capacity, Recorder, CHECKPOINT_POINTS};
use downhill_cli::runs_error;

/// CRC-32 of `bytes`: the checksum of checkpoints, and the content hash of training data.
pub use downhill_runs::crc32;

/// Writes `payload` as a checkpoint of `kind` (`run`, `train`): header line, then JSON.
pub fn write_framed<P: Serialize>(path: &Path, kind: &str, payload: &P) -> Result<()> {
    ck::write_framed(path, kind, payload).map_err(runs_error)
}

/// Reads a checkpoint of `kind`, checking the header, length and checksum before parsing.
pub fn read_framed<P: DeserializeOwned>(path: &Path, kind: &str) -> Result<P> {
    ck::read_framed(path, kind).map_err(runs_error)
}

/// Checks, before the run, that `--checkpoint PATH` may be written: its directory exists, and an
/// existing file there is a downhill checkpoint (anything else is kept unless `force`).
pub fn check_target(path: &Path, force: bool) -> Result<()> {
    ck::check_target("--checkpoint", path, force).map_err(runs_error)
}

impl<T: Real> Recording<T> for Recorder<'_, T> {
    fn restore(&mut self, points: Vec<Point<T>>, every: u64) {
        Recorder::restore(self, points, every)
    }
    fn offer(&mut self, point: &Point<T>, offset: u64) -> ControlFlow<()> {
        Recorder::offer(self, point, offset)
    }
    fn finish(&mut self, point: &Point<T>, offset: u64) -> ControlFlow<()> {
        Recorder::finish(self, point, offset)
    }
    fn points(&self) -> &[Point<T>] {
        &self.points
    }
    fn take_points(&mut self) -> Vec<Point<T>> {
        std::mem::take(&mut self.points)
    }
    fn every(&self) -> u64 {
        Recorder::every(self)
    }
    fn take_error(&mut self) -> Option<std::io::Error> {
        Recorder::take_error(self)
    }
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
    let identity = RunIdentity {
        objective: objective.name(),
        optimizer: args.optimizer.clone(),
        schedule: args.schedule.clone(),
    };
    let checkpointing = Checkpointing {
        save: args.checkpoint.as_deref(),
        every: args.checkpoint_every,
        resume: args.resume.as_deref(),
        max_points: capacity::<T>(objective.dim()).min(CHECKPOINT_POINTS),
    };
    ck::minimize_checkpointed(&identity, objective, optimizer, start, options, &checkpointing, recorder)
        .map_err(runs_error)
}
