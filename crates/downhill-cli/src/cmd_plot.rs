//! `downhill plot`: draw a saved run.

use std::path::PathBuf;

use anyhow::{Context, Result};

use clap::Args;
use serde_json::Value;

use downhill::{objectives, DescribedObjective, Point};

use crate::cmd_compare::{trajectory_figure, Track};
use crate::plot;
use crate::BadInput;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  downhill run --objective himmelblau --optimizer adam:lr=0.05 --steps 300 --format json > run.json\n  \
    downhill plot run.json -o run.png"
)]
pub struct PlotArgs {
    /// A JSON file written by `downhill run --format json`.
    pub input: PathBuf,
    /// Where to write the picture (.png or .svg).
    #[arg(short, long, default_value = "run.png")]
    pub output: PathBuf,
}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    BadInput(msg.into()).into()
}

fn objective_from(name: &str) -> Result<Box<dyn DescribedObjective<f64>>> {
    Ok(match name.strip_prefix("expr:") {
        Some(formula) => objectives::from_expression::<f64>(formula, None)?,
        None => objectives::build::<f64>(name)?,
    })
}

/// The largest run file read (a `run --format json` document of a few million points).
pub const MAX_RUN_FILE_BYTES: u64 = 256 << 20;

/// The parts of a `run --format json` document that a plot needs, read without building a JSON
/// tree of the whole trajectory.
#[derive(serde::Deserialize)]
struct RunFile {
    objective: NameOnly,
    #[serde(default)]
    optimizer: Value,
    trajectory: Vec<PointIn>,
}

#[derive(serde::Deserialize)]
struct NameOnly {
    name: String,
}

#[derive(serde::Deserialize)]
struct PointIn {
    step: u64,
    params: Vec<Option<f64>>,
    #[serde(default)]
    loss: Option<f64>,
    #[serde(default)]
    lr: Option<f64>,
}

pub fn run(args: &PlotArgs) -> Result<String> {
    plot::check_extension(&args.output, "--output")?;
    crate::output::check_output("--output", &args.output)?;
    let bytes = crate::output::read_limited("plot", &args.input, MAX_RUN_FILE_BYTES)?;
    let file: RunFile = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!("{}: not a run JSON document (downhill run --format json): {e}", args.input.display()))
    })?;
    drop(bytes);
    let name = file.objective.name.as_str();
    let v = serde_json::json!({ "optimizer": file.optimizer });
    let points: Vec<Point<f64>> = file
        .trajectory
        .into_iter()
        .map(|p| Point {
            step: p.step,
            params: p.params.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect(),
            loss: p.loss.unwrap_or(f64::NAN),
            lr: p.lr.unwrap_or(f64::NAN),
            grad_norm: f64::NAN,
        })
        .collect();
    if points.is_empty() {
        return Err(bad("run JSON: the trajectory is empty"));
    }
    let objective = objective_from(name).with_context(|| format!("{}: objective", args.input.display()))?;
    if points.iter().any(|p| p.params.len() != objective.dim()) {
        return Err(bad(format!("run JSON: trajectory points must have {} coordinates", objective.dim())));
    }
    let label = format!(
        "{} {}",
        v["optimizer"]["name"].as_str().unwrap_or("optimizer"),
        v["optimizer"]["lr"].as_f64().map(|lr| format!("(lr={lr})")).unwrap_or_default()
    );
    let last = points.last().map(|p| p.step).unwrap_or(1);
    let fig = trajectory_figure(
        objective.as_ref(),
        &points[0].params.clone(),
        &[Track { label, points: &points }],
        last,
    );
    plot::save(&fig, &args.output)?;
    Ok(format!("plot: {}\n", args.output.display()))
}
