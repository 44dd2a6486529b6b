//! `downhill compare`: several optimizers from one start on one landscape.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use downhill::compare::{compare, CompareOptions, Comparison};
use downhill::optim::{self, BuildOptions};
use downhill::{DescribedObjective, Point};

use crate::objective_args::{point_or_default, ObjectiveArgs};
use crate::output::{self, column, rows_from_columns, table, Format};
use crate::plot::{self, ContourPanel, Figure, Grid, LinePanel, Marker, Panel, Series, Shape};
use crate::record::{capacity, points_needed, too_many_points_because};

#[derive(Args, Debug, Clone)]
#[command(
    allow_negative_numbers = true,
    after_help = "Examples:\n  \
    downhill compare --objective quadratic:a=50,b=1 --start 1,1 --steps 100 \\\n      \
    --optimizer gd:lr=0.005 --optimizer momentum:lr=0.002 --optimizer adam:lr=0.1 --plot compare.png\n  \
    downhill compare --objective rosenbrock:a=1,b=10 --steps 200 --tune-lr \\\n      \
    --optimizer gd --optimizer nesterov --optimizer rmsprop --optimizer adam --optimizer lion"
)]
pub struct CompareArgs {
    #[command(flatten)]
    pub landscape: ObjectiveArgs,
    #[arg(
        long = "optimizer",
        value_name = "SPEC",
        required = true,
        help = crate::cmd_list::optimizer_help("An optimizer spec; repeat for each optimizer to compare")
    )]
    pub optimizers: Vec<String>,
    /// Start point (default: the objective's usual start, or the origin).
    #[arg(long, value_name = "X,Y,...", allow_hyphen_values = true)]
    pub start: Option<String>,
    /// Updates per optimizer.
    #[arg(long, default_value_t = 200)]
    pub steps: u64,
    /// Pick each optimizer's learning rate first: 13 log-spaced rates from 1e-4 to 1, keeping the
    /// one with the lowest final loss (runs that diverge or go non-finite are discarded).
    #[arg(long)]
    pub tune_lr: bool,
    /// "Reached" means f - f* <= TOL (or |grad| <= TOL when no minimum is known).
    #[arg(long, default_value_t = 1e-6)]
    pub tol: f64,
    /// Stop a run as diverged once any |parameter| exceeds B.
    #[arg(long, value_name = "B")]
    pub bound: Option<f64>,
    /// Draw the trajectories on the contour map (2-D) and the loss curves: a .png or .svg path.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// What [`compare`] takes: the objective, the start and the options.
type Prepared = (Box<dyn DescribedObjective<f64>>, Vec<f64>, CompareOptions);

/// The objective, the start and the options `args` give, checked with the flags named; the JSON
/// format is refused up front when the document would not fit in memory.
fn prepare(args: &CompareArgs) -> Result<Prepared> {
    let objective = args.landscape.build::<f64>()?;
    let start = point_or_default("start", args.start.as_deref(), objective.as_ref())?;
    for spec in &args.optimizers {
        optim::build::<f64>(spec, &BuildOptions::default()).with_context(|| format!("--optimizer {spec}"))?;
    }
    // Every point of every run is kept when they fit in memory; otherwise tables and plots get
    // thinned trajectories, and JSON (which lists every point) is refused.
    let limit = capacity::<f64>(objective.dim());
    let need = points_needed(args.steps, 1).saturating_mul(args.optimizers.len() as u64);
    // JSON builds a document tree of every point (a few hundred bytes each): an eighth of the budget.
    let json_limit = limit / 8;
    if need > json_limit && args.format == Format::Json {
        let why = format!(
            "compare --format json lists every point of every run, at most {json_limit} points in all"
        );
        return Err(too_many_points_because::<f64>(
            "--format json",
            args.steps.saturating_mul(args.optimizers.len() as u64),
            1,
            objective.dim(),
            json_limit,
            &why,
            false,
        )
        .context("use fewer --steps, or --format table or csv"));
    }
    let options = CompareOptions {
        steps: args.steps,
        tune_lr: args.tune_lr,
        tol: args.tol,
        bound: args.bound,
        keep_every_point: need <= limit,
    };
    Ok((objective, start, options))
}

pub fn to_table(c: &Comparison) -> String {
    let mut s = format!(
        "objective  {}  f = {}\nstart      ({})  {} steps each{}\n\n",
        c.objective.name(),
        c.objective.formula(),
        c.start.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "),
        c.steps,
        if c.entries.iter().any(|e| e.tuned) {
            "; learning rates tuned over 1e-4..1 (13 log-spaced)"
        } else {
            ""
        }
    );
    let names: Vec<String> = c
        .entries
        .iter()
        .map(|e| optim::OptimizerSpec::parse(&e.spec).map_or_else(|_| e.spec.clone(), |s| s.short_name()))
        .collect();
    let lrs = column(&c.entries.iter().map(|e| e.lr).collect::<Vec<_>>());
    let losses = column(&c.entries.iter().map(|e| e.result.loss).collect::<Vec<_>>());
    let dist: Vec<String> =
        c.entries.iter().map(|e| e.distance.map(output::cell).unwrap_or_else(|| "-".into())).collect();
    let reached: Vec<String> = c
        .entries
        .iter()
        .map(|e| e.reached_at.map(|s| s.to_string()).unwrap_or_else(|| "never".into()))
        .collect();
    let stops: Vec<String> = c.entries.iter().map(|e| e.result.stop.as_str().to_string()).collect();
    let evaluations: Vec<String> = c.entries.iter().map(|e| e.result.evaluations.to_string()).collect();
    let header = [
        "optimizer",
        "lr",
        "final loss",
        "distance",
        &format!("steps to {:e}", c.tol),
        "evaluations",
        "stop",
    ]
    .map(String::from);
    s.push_str(&table(&header, &rows_from_columns(&[names, lrs, losses, dist, reached, evaluations, stops])));
    s
}

/// One trajectory to draw: a legend label and its recorded points.
pub struct Track<'a> {
    pub label: String,
    pub points: &'a [Point<f64>],
}

/// The contour map with trajectories (2-D) beside loss curves on a log scale: the picture of
/// `compare --plot` and of `plot run.json`.
pub fn trajectory_figure(
    f: &dyn DescribedObjective<f64>,
    start: &[f64],
    tracks: &[Track],
    steps: u64,
) -> Figure {
    let f_star = f.minima().iter().map(|m| m.value).min_by(f64::total_cmp);
    let mut fig = Figure::inches(if f.dim() == 2 { 15.0 } else { 8.0 }, 6.0);
    fig.title = Some(format!("{}: {}", f.name(), f.formula()));
    if f.dim() == 2 {
        let bounds = f.domain().unwrap_or_else(|| {
            let pts = tracks.iter().flat_map(|t| t.points.iter().map(|p| (p.params[0], p.params[1])));
            let (mut x0, mut x1, mut y0, mut y1) =
                (start[0] - 1.0, start[0] + 1.0, start[1] - 1.0, start[1] + 1.0);
            for (x, y) in
                pts.filter(|(x, y)| x.is_finite() && y.is_finite() && x.abs() < 1e3 && y.abs() < 1e3)
            {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
            let (px, py) = (0.1 * (x1 - x0), 0.1 * (y1 - y0));
            [x0 - px, x1 + px, y0 - py, y1 + py]
        });
        let grid = Grid::sample(|x, y| f.value(&[x, y]), bounds, 200, 200);
        let (zmin, zmax) = grid.range();
        let span = (zmax - zmin).max(1e-12);
        let levels: Vec<f64> =
            plot::logspace(span.log10() - 4.0, span.log10(), 20).into_iter().map(|l| zmin + l).collect();
        let series = tracks
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let mut s = Series::line(
                    t.label.clone(),
                    t.points.iter().map(|p| (p.params[0], p.params[1])).collect(),
                    plot::TAB10[k % 10],
                );
                s.marker = 2;
                s
            })
            .collect();
        let mut markers = vec![Marker {
            label: Some("Start".into()),
            at: (start[0], start[1]),
            shape: Shape::Circle,
            color: plot::BLACK_,
            size: 8,
        }];
        for (i, m) in f.minima().iter().enumerate() {
            markers.push(Marker {
                label: (i == 0).then(|| "Known minima".to_string()),
                at: (m.point[0], m.point[1]),
                shape: Shape::Star,
                color: plot::RED,
                size: 10,
            });
        }
        fig.panels.push(Panel::Contour(ContourPanel {
            title: "Trajectories".into(),
            xlabel: "θ₁".into(),
            ylabel: "θ₂".into(),
            bounds,
            grid,
            levels,
            log_colors: false,
            contour_alpha: 0.6,
            series,
            markers,
            equal_aspect: false,
        }));
    }
    // Loss panel: f - f* on a log scale when the minimum is known, else f shifted to be positive.
    let shift = f_star.unwrap_or_else(|| {
        let m = tracks.iter().flat_map(|t| t.points.iter().map(|p| p.loss)).fold(f64::INFINITY, f64::min);
        if m > 0.0 {
            0.0
        } else {
            m - 1e-12
        }
    });
    let floor = 1e-16;
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let series: Vec<Series> = tracks
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let pts: Vec<(f64, f64)> = t
                .points
                .iter()
                .map(|p| (p.step as f64, (p.loss - shift).max(floor)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            for &(_, y) in &pts {
                lo = lo.min(y);
                hi = hi.max(y);
            }
            Series::line(t.label.clone(), pts, plot::TAB10[k % 10])
        })
        .collect();
    let y = if hi > lo {
        (lo / 2.0, hi * 2.0)
    } else if lo.is_finite() {
        (lo / 10.0, lo * 10.0 + floor)
    } else {
        (floor, 1.0)
    };
    let ylabel = if f_star.is_some() { "f(θ) - f*" } else { "f(θ) - min f" };
    fig.panels.push(Panel::Lines(LinePanel {
        title: "Loss".into(),
        xlabel: "Step".into(),
        ylabel: ylabel.into(),
        x: (0.0, steps.max(1) as f64),
        y,
        log_y: true,
        series,
        vlines: Vec::new(),
        grid: true,
    }));
    fig
}

/// The picture of a comparison.
pub fn figure(c: &Comparison) -> Figure {
    let tracks: Vec<Track> =
        c.entries.iter().map(|e| Track { label: e.spec.clone(), points: &e.result.trajectory }).collect();
    trajectory_figure(c.objective.as_ref(), &c.start, &tracks, c.steps)
}

pub fn run(args: &CompareArgs) -> Result<String> {
    if let Some(path) = &args.plot {
        plot::check_extension(path, "plot")?;
        crate::output::check_output("--plot", path)?;
    }
    let (objective, start, options) = prepare(args)?;
    let c = compare(objective, &args.optimizers, start, &options)?;
    if let Some(path) = &args.plot {
        plot::save(&figure(&c), path)?;
    }
    let mut out = match args.format {
        Format::Json => serde_json::to_string_pretty(&c)? + "\n",
        Format::Csv => {
            let mut s = String::from("spec,lr,loss,distance_to_minimum,steps_to_tol,stop,steps\n");
            for e in &c.entries {
                s.push_str(&format!(
                    "\"{}\",{},{},{},{},{},{}\n",
                    e.spec,
                    e.lr,
                    e.result.loss,
                    e.distance.map(|d| d.to_string()).unwrap_or_default(),
                    e.reached_at.map(|d| d.to_string()).unwrap_or_default(),
                    e.result.stop.as_str(),
                    e.result.steps
                ));
            }
            s
        }
        Format::Table => to_table(&c),
    };
    if let (Some(path), Format::Table) = (&args.plot, args.format) {
        out.push_str(&format!("\nplot: {}\n", path.display()));
    }
    Ok(out)
}
