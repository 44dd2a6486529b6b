//! `downhill run`.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use downhill::optim::{self, BuildOptions, Buildable};
use downhill::report::{RunDocument, RunHeader, RunSummary, TrajectoryPoint};
use std::io::Write;

use downhill::{DescribedObjective, Optimizer, Real, RunOptions, RunResult, Schedule};

use crate::objective_args::{point_or_default, ObjectiveArgs};
use crate::output::{self, cell, column, coordinate_names, sample_rows};
use crate::record::{
    capacity, csv_header, csv_row, points_needed, too_many_points, Recorder, StreamFormat, CHECKPOINT_POINTS,
};

/// Floating-point precision of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    /// 32-bit floats.
    F32,
    /// 64-bit floats (the seed's numpy precision).
    F64,
}

#[derive(Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Examples:\n  \
    downhill run --objective rosenbrock:a=1,b=10 --optimizer gd:lr=0.005 --start -1.5,2.5 --steps 200 --bound 10\n  \
    downhill run --objective quadratic:a=50,b=1 --optimizer adam:lr=0.1 --start 1,1 --steps 100 --format json\n  \
    downhill run --objective quadratic:a=1 --optimizer gd --schedule cosine:max=0.4,total=50 --steps 50 --format csv"
)]
pub struct RunArgs {
    #[command(flatten)]
    pub landscape: ObjectiveArgs,
    #[arg(long, value_name = "SPEC", help = crate::cmd_list::optimizer_help("Optimizer spec"))]
    pub optimizer: String,
    /// Learning-rate schedule replacing the optimizer's lr, e.g. warmup-cosine:max=1e-3,min=1e-5,warmup=100,total=1000.
    #[arg(long, value_name = "SPEC")]
    pub schedule: Option<String>,
    /// Start point, comma-separated (default: the objective's usual start, e.g. -1.5,2.5 for rosenbrock).
    #[arg(long, value_name = "X,Y,...", allow_hyphen_values = true)]
    pub start: Option<String>,
    /// Number of updates.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Stop as diverged once any |parameter| exceeds B (the seed's figures use 10).
    #[arg(long, value_name = "B")]
    pub bound: Option<f64>,
    /// Stop as diverged once the loss exceeds L.
    #[arg(long, value_name = "L")]
    pub loss_bound: Option<f64>,
    /// Stop as converged once the gradient norm is at most TOL.
    #[arg(long, value_name = "TOL")]
    pub tol: Option<f64>,
    /// Stop as converged once the loss changes by at most TOL in one step.
    #[arg(long, value_name = "TOL")]
    pub loss_tol: Option<f64>,
    /// Precision of the run.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// Keep every K-th trajectory point (the start and the end are always kept). Table output
    /// shows about 20 rows unless this is given.
    #[arg(long, value_name = "K")]
    pub every: Option<u64>,
    /// Save the run's exact state to FILE (every --checkpoint-every steps, and at the end).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Steps between checkpoints (default: only at the end).
    #[arg(long, value_name = "N", requires = "checkpoint")]
    pub checkpoint_every: Option<u64>,
    /// No progress bar (it shows on a terminal for runs of 100,000 steps or more).
    #[arg(long)]
    pub quiet: bool,
    /// Continue a run from a checkpoint written by --checkpoint; the other options must match it.
    /// The result is bit-for-bit what the uninterrupted run gives.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<std::path::PathBuf>,
}

/// How `downhill run` prints the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// Aligned columns for people (about 20 rows unless --every is given).
    Table,
    /// One JSON document (the trajectory must fit in memory: see --every).
    Json,
    /// JSON lines: a header object, one object per point as computed, a summary object.
    Jsonl,
    /// Comma-separated values with a header row, one row per point as computed.
    Csv,
}

/// `downhill run`: the run's options plus what only the command line has.
#[derive(Args, Debug)]
pub struct RunCommand {
    #[command(flatten)]
    pub args: RunArgs,
    /// Output format. csv and jsonl stream points as they are computed; json and table keep them
    /// in memory (at most 256 MiB of points; a table thins them).
    #[arg(long, value_enum, default_value_t = RunFormat::Table)]
    pub format: RunFormat,
    /// Let --checkpoint overwrite an existing file that is not a downhill checkpoint.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: &RunCommand) -> Result<String> {
    match cmd.args.dtype {
        Dtype::F32 => run_typed::<f32>(cmd),
        Dtype::F64 => run_typed::<f64>(cmd),
    }
}

/// Everything about one finished run, ready to print.
pub struct Report<T> {
    pub objective: Box<dyn DescribedObjective<T>>,
    pub optimizer: Box<dyn Optimizer<T>>,
    pub start: Vec<f64>,
    pub result: RunResult<T>,
}

/// A run set up from its options, not yet started.
struct Setup<T> {
    objective: Box<dyn DescribedObjective<T>>,
    optimizer: Box<dyn Optimizer<T>>,
    start: Vec<f64>,
    options: RunOptions,
    every: u64,
}

fn setup<T: Buildable>(args: &RunArgs) -> Result<Setup<T>> {
    let objective = args.landscape.build::<T>()?;
    let schedule = match &args.schedule {
        Some(text) => Some(Schedule::parse(text).context("--schedule")?),
        None => None,
    };
    let optimizer = optim::build::<T>(&args.optimizer, &BuildOptions { schedule }).context("--optimizer")?;
    let start = point_or_default("start", args.start.as_deref(), objective.as_ref())?;
    let options = RunOptions {
        max_steps: args.steps,
        grad_tol: args.tol,
        loss_tol: args.loss_tol,
        bound: args.bound,
        loss_bound: args.loss_bound,
        record_every: args.every.unwrap_or(1),
    };
    options.validate()?;
    let every = args.every.unwrap_or(1);
    if every == 0 || every > args.steps {
        return Err(downhill::Error::out_of_range(
            "every",
            every,
            &format!("[1, {}] (the steps)", args.steps),
        )
        .into());
    }
    if let Some(n) = args.checkpoint_every {
        if n == 0 || n > args.steps {
            return Err(downhill::Error::out_of_range(
                "checkpoint-every",
                n,
                &format!("[1, {}] (the steps)", args.steps),
            )
            .into());
        }
    }
    Ok(Setup { objective, optimizer, start, options, every })
}

fn run_typed<T: Buildable + serde::Serialize + serde::de::DeserializeOwned>(
    cmd: &RunCommand,
) -> Result<String> {
    let args = &cmd.args;
    let mut s = setup::<T>(args)?;
    let dim = s.objective.dim();
    if let Some(path) = &args.checkpoint {
        crate::checkpoint::check_target(path, cmd.force)?;
    }
    let checkpointing = args.checkpoint.is_some() || args.resume.is_some();
    let limit = if checkpointing { capacity::<T>(dim).min(CHECKPOINT_POINTS) } else { capacity::<T>(dim) };
    let fits = points_needed(args.steps, s.every) <= limit;
    let refuse =
        |flag: &str, stream: bool| too_many_points::<T>(flag, args.steps, s.every, dim, limit, stream);
    let stream = match (fits, cmd.format) {
        (true, _) => None,
        (false, RunFormat::Table) if args.every.is_none() => None,
        (false, RunFormat::Csv) if !checkpointing => Some(StreamFormat::Csv),
        (false, RunFormat::Jsonl) if !checkpointing => Some(StreamFormat::Jsonl),
        (false, RunFormat::Csv | RunFormat::Jsonl) => return Err(refuse("--checkpoint", false)),
        (false, RunFormat::Json) => return Err(refuse("--format json", !checkpointing)),
        (false, RunFormat::Table) => return Err(refuse("--every", !checkpointing)),
    };
    let bar = crate::output::progress(args.steps, "steps", args.quiet || args.steps < 100_000);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(format) = stream {
        // Points are written as they are computed; only the header and the summary are extra.
        match format {
            StreamFormat::Csv => out.write_all(csv_header(&coordinate_names(dim)).as_bytes())?,
            StreamFormat::Jsonl => {
                serde_json::to_writer(
                    &mut out,
                    &RunHeader::new(s.objective.as_ref(), s.optimizer.as_ref(), &s.start),
                )?;
                out.write_all(b"\n")?;
            }
        }
        let result = {
            let mut recorder = Recorder::stream(&mut out, format, s.every).with_bar(bar.clone());
            crate::checkpoint::run_recorded(
                args,
                s.objective.as_ref(),
                s.optimizer.as_mut(),
                &s.start,
                &s.options,
                &mut recorder,
            )?
        };
        bar.finish_and_clear();
        let report = Report { objective: s.objective, optimizer: s.optimizer, start: s.start, result };
        if format == StreamFormat::Jsonl {
            serde_json::to_writer(&mut out, &RunSummary::new(report.objective.as_ref(), &report.result))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(String::new());
    }
    let mut recorder = if fits { Recorder::keep(s.every) } else { Recorder::thin() }.with_bar(bar.clone());
    let result = crate::checkpoint::run_recorded(
        args,
        s.objective.as_ref(),
        s.optimizer.as_mut(),
        &s.start,
        &s.options,
        &mut recorder,
    )?;
    bar.finish_and_clear();
    let report = Report { objective: s.objective, optimizer: s.optimizer, start: s.start, result };
    Ok(match cmd.format {
        RunFormat::Json => {
            // Written straight out: no JSON tree of a trajectory that may hold millions of points.
            let doc = RunDocument::new(
                report.objective.as_ref(),
                report.optimizer.as_ref(),
                &report.start,
                &report.result,
            );
            serde_json::to_writer_pretty(&mut out, &doc)?;
            out.write_all(b"\n")?;
            out.flush()?;
            String::new()
        }
        RunFormat::Jsonl => {
            serde_json::to_writer(
                &mut out,
                &RunHeader::new(report.objective.as_ref(), report.optimizer.as_ref(), &report.start),
            )?;
            out.write_all(b"\n")?;
            for p in &report.result.trajectory {
                serde_json::to_writer(&mut out, &TrajectoryPoint::of(p))?;
                out.write_all(b"\n")?;
            }
            serde_json::to_writer(&mut out, &RunSummary::new(report.objective.as_ref(), &report.result))?;
            out.write_all(b"\n")?;
            out.flush()?;
            String::new()
        }
        RunFormat::Csv => {
            out.write_all(csv_header(&coordinate_names(dim)).as_bytes())?;
            for p in &report.result.trajectory {
                out.write_all(csv_row(p).as_bytes())?;
            }
            out.flush()?;
            String::new()
        }
        RunFormat::Table => to_table(&report, args.every.is_some()),
    })
}

/// Euclidean distance from the final point to the nearest known minimum.
fn distance_to_minimum<T: Real>(r: &Report<T>) -> Option<f64> {
    downhill::report::distance_to_minimum(r.objective.as_ref(), &r.result.params)
}

fn hyper_line<T: Real>(opt: &dyn Optimizer<T>) -> String {
    report_line(opt.name(), &opt.hyperparameters())
}

/// `name (key=value, ...)`; a wrapped optimizer is written the same way inside its wrapper's line.
fn report_line(name: &str, hyperparameters: &[(&'static str, optim::Value)]) -> String {
    let parts: Vec<String> = hyperparameters
        .iter()
        .map(|(k, v)| match v {
            optim::Value::Number(x) => format!("{k}={x}"),
            optim::Value::Bool(b) => format!("{k}={b}"),
            optim::Value::Text(t) => format!("{k}={t}"),
            optim::Value::Schedule(s) => format!("{k}={}", serde_json::to_string(&s).unwrap_or_default()),
            optim::Value::Optimizer(r) => format!("{k}={}", report_line(r.name, &r.hyperparameters)),
            optim::Value::Groups(g) => {
                let groups: Vec<String> = g
                    .iter()
                    .map(|(n, r)| format!("{n}: {}", report_line(r.name, &r.hyperparameters)))
                    .collect();
                format!("{k}=[{}]", groups.join("; "))
            }
        })
        .collect();
    format!("{} ({})", name, parts.join(", "))
}

fn to_table<T: Real>(r: &Report<T>, all_rows: bool) -> String {
    let o = &r.objective;
    let dim = o.dim();
    let fmt_point = |p: &[f64]| p.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(", ");
    let mut s = format!(
        "objective  {}  f = {}\noptimizer  {}\nstart      ({})  dtype {}\n\n",
        o.name(),
        o.formula(),
        hyper_line(r.optimizer.as_ref()),
        fmt_point(&r.start),
        T::NAME
    );
    let mut header = vec!["step".to_string()];
    let show_coords = dim <= 4;
    if show_coords {
        header.extend(coordinate_names(dim));
    } else {
        header.push("|theta|".into());
    }
    header.extend(["loss".into(), "|grad|".into(), "lr".into()]);
    let traj = &r.result.trajectory;
    let rows: Vec<usize> = if all_rows { (0..traj.len()).collect() } else { sample_rows(traj.len(), 20) };
    let pick = |f: &dyn Fn(&downhill::Point<T>) -> f64| {
        column(&rows.iter().map(|&i| f(&traj[i])).collect::<Vec<_>>())
    };
    let mut columns = vec![rows.iter().map(|&i| traj[i].step.to_string()).collect::<Vec<_>>()];
    if show_coords {
        for d in 0..dim {
            columns.push(pick(&|p| p.params[d].to_f64()));
        }
    } else {
        columns.push(pick(&|p| p.params.iter().map(|x| x.to_f64().powi(2)).sum::<f64>().sqrt()));
    }
    columns.push(pick(&|p| p.loss.to_f64()));
    columns.push(pick(&|p| p.grad_norm));
    columns.push(pick(&|p| p.lr));
    let body = output::rows_from_columns(&columns);
    s.push_str(&output::table(&header, &body));
    s.push_str(&format!("\nstop       {} after {} steps", r.result.stop.as_str(), r.result.steps));
    if let Some(d) = &r.result.detail {
        s.push_str(&format!(" ({d})"));
    }
    s.push_str(&format!("\nevaluated  {} times (value and gradient)", r.result.evaluations));
    if r.result.hessian_evaluations > 0 {
        s.push_str(&format!(", the Hessian {} times", r.result.hessian_evaluations));
    }
    let final_params: Vec<f64> = r.result.params.iter().map(|x| x.to_f64()).collect();
    s.push_str(&format!("\nfinal      ({})  loss {}", fmt_point(&final_params), r.result.loss));
    if let (Some(d), Some(m)) = (distance_to_minimum(r), o.minima().first()) {
        s.push_str(&format!("\nminimum    ({}) = {}; distance {}", fmt_point(&m.point), m.value, cell(d)));
    }
    s.push('\n');
    s
}
