//! Where a run's trajectory goes. A run may take up to 10^12 steps, so its points are never all
//! held: a [`Recorder`] keeps the ones that fit a memory budget, thins them for a table, or
//! streams them to the output as they are computed.

use std::io::Write;
use std::ops::ControlFlow;

use downhill::report::TrajectoryPoint;
use downhill::{Point, Real};

use crate::output::human_bytes;
use crate::BadInput;

/// Memory the recorded trajectory of one run may take.
pub const TRAJECTORY_BYTES: u64 = 256 << 20;

/// Points a checkpoint may carry, so that writing one stays quick.
pub const CHECKPOINT_POINTS: u64 = 100_000;

/// Points a table without `--every` keeps: it shows about 20 of them.
const TABLE_POINTS: usize = 10_000;

/// Bytes one recorded point of dimension `dim` takes: the struct, its parameters and the
/// allocator's share.
pub fn point_bytes<T>(dim: usize) -> u64 {
    (std::mem::size_of::<Point<T>>() + dim.saturating_mul(std::mem::size_of::<T>()) + 16) as u64
}

/// How many points of dimension `dim` fit [`TRAJECTORY_BYTES`].
pub fn capacity<T>(dim: usize) -> u64 {
    (TRAJECTORY_BYTES / point_bytes::<T>(dim)).max(2)
}

/// The most points a run of `steps` steps keeps when it records every `every`-th: the start,
/// each multiple of `every`, and the last point.
pub fn points_needed(steps: u64, every: u64) -> u64 {
    steps / every.max(1) + 2
}

/// The refusal for a run whose trajectory cannot be kept (`limit` points): how much it would
/// need, the limit, and what to do instead.
pub fn too_many_points<T>(
    flag: &str,
    steps: u64,
    every: u64,
    dim: usize,
    limit: u64,
    stream: bool,
) -> anyhow::Error {
    let why = if limit < capacity::<T>(dim) {
        format!("a checkpointed run keeps at most {limit} points")
    } else {
        format!("the limit is {} of points ({limit} at dimension {dim})", human_bytes(TRAJECTORY_BYTES))
    };
    too_many_points_because::<T>(flag, steps, every, dim, limit, &why, stream)
}

/// [`too_many_points`] with the reason for the limit given.
pub fn too_many_points_because<T>(
    flag: &str,
    steps: u64,
    every: u64,
    dim: usize,
    limit: u64,
    why: &str,
    stream: bool,
) -> anyhow::Error {
    let need = points_needed(steps, every);
    let bytes = need.saturating_mul(point_bytes::<T>(dim));
    // The smallest round interval (1, 2, 5 times a power of ten) that fits.
    let least = steps.div_ceil(limit.saturating_sub(2).max(1)).max(every + 1);
    let min_every = (0..19)
        .flat_map(|k| [1u64, 2, 5].map(|m| m.saturating_mul(10u64.saturating_pow(k))))
        .find(|&e| e >= least)
        .unwrap_or(least);
    let instead = if stream { ", or stream them with --format csv or --format jsonl" } else { "" };
    BadInput(format!(
        "{flag}: {steps} steps recorded every {every} keep up to {need} points (about {} in memory); {why}: \
         record fewer with --every {min_every} or more{instead}",
        human_bytes(bytes)
    ))
    .into()
}

/// How streamed points are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// `step,loss,lr,grad_norm,x,y,...` rows.
    Csv,
    /// One JSON object per point.
    Jsonl,
}

/// What happens to the points.
enum Mode<'w> {
    /// Keep every point on the recording interval (the caller checked that they fit).
    Keep,
    /// Keep at most about `cap` points: when more arrive, the interval grows tenfold and the
    /// points off it are dropped.
    Thin { cap: usize },
    /// Write each point to `out` and keep none.
    Stream { out: &'w mut dyn Write, format: StreamFormat },
}

/// Collects a run's points as they are computed (see the module documentation).
pub struct Recorder<'w, T> {
    mode: Mode<'w>,
    /// Points kept are those whose step is a multiple of this (and the last one).
    every: u64,
    /// Kept points (none when streaming).
    pub points: Vec<Point<T>>,
    /// The step of the last point offered, to skip a point offered twice (a segment's end is the
    /// next segment's start).
    last_offered: Option<u64>,
    /// The step of the last point kept or written.
    last_kept: Option<u64>,
    /// A failed write (a closed pipe, a full disk): the run stops and reports it.
    error: Option<std::io::Error>,
    /// Progress bar, moved every 65,536 steps.
    bar: Option<indicatif::ProgressBar>,
}

impl<'w, T: Real> Recorder<'w, T> {
    /// Keeps every `every`-th point.
    pub fn keep(every: u64) -> Self {
        Self::with_mode(Mode::Keep, every)
    }

    /// Keeps every point while there are few, then thins them for a table of about 20 rows.
    pub fn thin() -> Self {
        Self::with_mode(Mode::Thin { cap: TABLE_POINTS }, 1)
    }

    /// Writes every `every`-th point to `out` as it is computed.
    pub fn stream(out: &'w mut dyn Write, format: StreamFormat, every: u64) -> Self {
        Self::with_mode(Mode::Stream { out, format }, every)
    }

    fn with_mode(mode: Mode<'w>, every: u64) -> Self {
        Recorder {
            mode,
            every: every.max(1),
            points: Vec::new(),
            last_offered: None,
            last_kept: None,
            error: None,
            bar: None,
        }
    }

    /// Moves `bar` as the run goes.
    pub fn with_bar(mut self, bar: indicatif::ProgressBar) -> Self {
        self.bar = Some(bar);
        self
    }

    /// The recording interval now (it grows while thinning).
    pub fn every(&self) -> u64 {
        self.every
    }

    /// Continues from points kept before a checkpoint.
    pub fn restore(&mut self, points: Vec<Point<T>>, every: u64) {
        self.every = every.max(1);
        self.last_kept = points.last().map(|p| p.step);
        self.last_offered = self.last_kept;
        self.points = points;
    }

    /// A point computed `offset` steps into the run (its step counts from its segment's start).
    pub fn offer(&mut self, p: &Point<T>, offset: u64) -> ControlFlow<()> {
        let step = p.step + offset;
        if self.last_offered.is_some_and(|s| step <= s) {
            return ControlFlow::Continue(());
        }
        self.last_offered = Some(step);
        if step % 65_536 == 0 {
            if let Some(bar) = &self.bar {
                bar.set_position(step);
            }
        }
        if step % self.every != 0 {
            return ControlFlow::Continue(());
        }
        let mut q = p.clone();
        q.step = step;
        self.take(q)
    }

    /// The run's last point: kept (or written) whatever its step, unless it already was.
    pub fn finish(&mut self, p: &Point<T>, offset: u64) -> ControlFlow<()> {
        let step = p.step + offset;
        if self.last_kept.is_some_and(|s| step <= s) {
            return ControlFlow::Continue(());
        }
        let mut q = p.clone();
        q.step = step;
        let flow = self.take(q);
        if let Mode::Stream { out, .. } = &mut self.mode {
            if let Err(e) = out.flush() {
                self.error.get_or_insert(e);
            }
        }
        flow
    }

    fn take(&mut self, p: Point<T>) -> ControlFlow<()> {
        self.last_kept = Some(p.step);
        match &mut self.mode {
            Mode::Keep => self.points.push(p),
            Mode::Thin { cap } => {
                self.points.push(p);
                if self.points.len() > *cap {
                    self.every = self.every.saturating_mul(10);
                    let every = self.every;
                    self.points.retain(|q| q.step % every == 0);
                }
            }
            Mode::Stream { out, format } => {
                let written = match format {
                    StreamFormat::Csv => out.write_all(csv_row(&p).as_bytes()),
                    StreamFormat::Jsonl => serde_json::to_writer(&mut *out, &TrajectoryPoint::of(&p))
                        .map_err(std::io::Error::from)
                        .and_then(|_| out.write_all(b"\n")),
                };
                if let Err(e) = written {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// The write error that stopped the run, if any.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }
}

/// The CSV header of a run's trajectory.
pub fn csv_header(names: &[String]) -> String {
    format!("step,loss,lr,grad_norm,{}\n", names.join(","))
}

/// One CSV row of a trajectory point, at the run's precision.
pub fn csv_row<T: Real>(p: &Point<T>) -> String {
    let coords: Vec<String> = p.params.iter().map(|x| x.to_string()).collect();
    // The gradient norm is accumulated in f64; print it at the run's precision.
    let grad_norm = T::from_f64(p.grad_norm);
    format!("{},{},{},{},{}\n", p.step, p.loss, p.lr, grad_norm, coords.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(step: u64) -> Point<f64> {
        Point { step, params: vec![step as f64], loss: 1.0, lr: 0.1, grad_norm: 0.0 }
    }

    #[test]
    fn thinning_keeps_round_steps_and_the_end() {
        let mut r = Recorder::<f64>::thin();
        for s in 0..=1_000_000u64 {
            let _ = r.offer(&point(s), 0);
        }
        let _ = r.finish(&point(1_000_000), 0);
        assert!(r.points.len() <= TABLE_POINTS + 1, "{}", r.points.len());
        assert_eq!(r.every(), 1000);
        assert!(r.points.iter().all(|p| p.step % 1000 == 0));
        assert_eq!(r.points.last().unwrap().step, 1_000_000);
        // A segment's end offered again as the next one's start is not kept twice.
        let mut k = Recorder::<f64>::keep(2);
        let _ = k.offer(&point(0), 0);
        let _ = k.offer(&point(2), 0);
        let _ = k.offer(&point(0), 2);
        let _ = k.offer(&point(1), 2);
        let _ = k.finish(&point(1), 2);
        assert_eq!(k.points.iter().map(|p| p.step).collect::<Vec<_>>(), vec![0, 2, 3]);
    }

    #[test]
    fn a_refusal_names_the_need_the_limit_and_the_way_out() {
        let e =
            too_many_points::<f64>("--format json", 10_000_000, 1, 2, capacity::<f64>(2), true).to_string();
        assert!(e.contains("10000002 points"), "{e}");
        assert!(e.contains("--every 5 or more") && e.contains("--format jsonl"), "{e}");
    }
}
