//! `downhill plot`: draw a saved run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use downhill::{objectives, Objective};

use crate::plot::{self, ContourPanel, Figure, Grid, LinePanel, Marker, Panel, Series, Shape};
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
    let points: Vec<(u64, Vec<f64>, f64)> = traj
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
            Ok((step, params, p["loss"].as_f64().unwrap_or(f64::NAN)))
        })
        .collect::<Result<_>>()?;
    if points.is_empty() {
        return Err(bad("run JSON: the trajectory is empty"));
    }
    let objective = objective_from(name).with_context(|| format!("{}: objective", args.input.display()))?;
    let label = format!(
        "{} {}",
        v["optimizer"]["name"].as_str().unwrap_or("optimizer"),
        v["optimizer"]["lr"].as_f64().map(|lr| format!("(lr={lr})")).unwrap_or_default()
    );
    let mut fig = Figure::inches(if objective.dim() == 2 { 14.0 } else { 8.0 }, 6.0);
    fig.title = Some(format!("{}: {}", objective.name(), objective.formula()));
    if objective.dim() == 2 {
        let path: Vec<(f64, f64)> = points.iter().map(|(_, p, _)| (p[0], p[1])).collect();
        let bounds = objective.domain().unwrap_or_else(|| {
            let (mut x0, mut x1, mut y0, mut y1) =
                (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
            for &(x, y) in path.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
            let (px, py) = (0.2 * (x1 - x0).max(0.5), 0.2 * (y1 - y0).max(0.5));
            [x0 - px, x1 + px, y0 - py, y1 + py]
        });
        let grid = Grid::sample(|x, y| objective.value(&[x, y]), bounds, 200, 200);
        let (zmin, zmax) = grid.range();
        let span = (zmax - zmin).max(1e-12);
        let levels =
            plot::logspace(span.log10() - 4.0, span.log10(), 20).into_iter().map(|l| zmin + l).collect();
        let mut s = Series::line(label.clone(), path.clone(), plot::RED);
        s.marker = 2;
        let mut markers = vec![Marker {
            label: Some("Start".into()),
            at: path[0],
            shape: Shape::Circle,
            color: plot::GREEN,
            size: 8,
        }];
        for (i, m) in objective.minima().iter().enumerate() {
            markers.push(Marker {
                label: (i == 0).then(|| "Known minima".to_string()),
                at: (m.point[0], m.point[1]),
                shape: Shape::Star,
                color: plot::RED,
                size: 10,
            });
        }
        fig.panels.push(Panel::Contour(ContourPanel {
            title: "Trajectory".into(),
            xlabel: "θ₁".into(),
            ylabel: "θ₂".into(),
            bounds,
            grid,
            levels,
            log_colors: false,
            contour_alpha: 0.6,
            series: vec![s],
            markers,
            equal_aspect: false,
        }));
    }
    let f_star = objective.minima().iter().map(|m| m.value).fold(f64::INFINITY, f64::min);
    let losses: Vec<(f64, f64)> =
        points.iter().map(|(s, _, l)| (*s as f64, *l)).filter(|(_, l)| l.is_finite()).collect();
    let shift = if f_star.is_finite() {
        f_star
    } else {
        losses.iter().map(|p| p.1).fold(f64::INFINITY, f64::min) - 1e-12
    };
    let pts: Vec<(f64, f64)> = losses.iter().map(|&(s, l)| (s, (l - shift).max(1e-16))).collect();
    let (lo, hi) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let last = points.last().map(|p| p.0).unwrap_or(1).max(1) as f64;
    fig.panels.push(Panel::Lines(LinePanel {
        title: "Loss".into(),
        xlabel: "Step".into(),
        ylabel: if f_star.is_finite() { "f(θ) - f*".into() } else { "f(θ) - min f".into() },
        x: (0.0, last),
        y: if hi > lo { (lo / 2.0, hi * 2.0) } else { (lo / 10.0, lo * 10.0 + 1e-16) },
        log_y: true,
        series: vec![Series::line(label, pts, plot::RED)],
        vlines: Vec::new(),
        grid: true,
    }));
    plot::save(&fig, &args.output)?;
    Ok(format!("plot: {}\n", args.output.display()))
}
