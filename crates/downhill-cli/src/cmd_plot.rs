//! `downhill plot`: draw a saved run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use downhill::{objectives, Objective, Point};

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

fn objective_from(name: &str) -> Result<Box<dyn Objective<f64>>> {
    Ok(match name.strip_prefix("expr:") {
        Some(formula) => objectives::from_expression::<f64>(formula, None)?,
        None => objectives::build::<f64>(name)?,
    })
}

pub fn run(args: &PlotArgs) -> Result<String> {
    let text =
        std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("{}: not JSON: {e}", args.input.display())))?;
    let name = v["objective"]["name"].as_str().ok_or_else(|| bad("run JSON: objective.name is missing"))?;
    let traj = v["trajectory"].as_array().ok_or_else(|| bad("run JSON: trajectory is missing"))?;
    let points: Vec<Point<f64>> = traj
        .iter()
        .map(|p| {
            let step = p["step"]
                .as_u64()
                .ok_or_else(|| bad("run JSON: trajectory[].step must be a whole number"))?;
            let params = p["params"]
                .as_array()
                .ok_or_else(|| bad("run JSON: trajectory[].params must be an array"))?
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect();
            let loss = p["loss"].as_f64().unwrap_or(f64::NAN);
            Ok(Point { step, params, loss, lr: p["lr"].as_f64().unwrap_or(f64::NAN), grad_norm: f64::NAN })
        })
        .collect::<Result<_>>()?;
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
