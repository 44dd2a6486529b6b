//! The seed article's three figures, rebuilt from downhill's own runs.

use serde_json::{json, Value};

use downhill::optim::{self, BuildOptions};
use downhill::{minimize, objectives, RunOptions, RunResult, Schedule, StopReason};

use crate::plot::{self, ContourPanel, Figure, Grid, LinePanel, Marker, Panel, Series, Shape};
use crate::{Error, Result};

/// One figure, its data, and what the data say about the seed's caption.
pub struct SeedFigure {
    /// File stem, as the seed's `savefig` names it.
    pub name: &'static str,
    /// The figure, ready for [`crate::plot::save`].
    pub figure: Figure,
    /// The numbers drawn, as written to the `.json` beside the pictures.
    pub data: Value,
    /// What the data say about the seed's caption, one sentence each.
    pub notes: Vec<String>,
}

fn run(
    objective: &str,
    optimizer: &str,
    start: &[f64],
    steps: u64,
    bound: Option<f64>,
) -> Result<RunResult<f64>> {
    let f = objectives::build::<f64>(objective)?;
    let mut opt = optim::build::<f64>(optimizer, &BuildOptions::default())?;
    let options = RunOptions { bound, ..RunOptions::steps(steps) };
    Ok(minimize(f.as_ref(), opt.as_mut(), start, &options, None)?)
}

fn path2(r: &RunResult<f64>) -> Vec<(f64, f64)> {
    r.trajectory.iter().map(|p| (p.params[0], p.params[1])).collect()
}

fn run_json(label: &str, spec: &str, r: &RunResult<f64>) -> Value {
    json!({
        "label": label,
        "optimizer": spec,
        "stop": r.stop.as_str(),
        "steps": r.steps,
        "path": r.trajectory.iter().map(|p| p.params.clone()).collect::<Vec<_>>(),
        "loss": r.trajectory.iter().map(|p| p.loss).collect::<Vec<_>>(),
    })
}

fn sign_changes(values: impl Iterator<Item = f64>) -> usize {
    let v: Vec<f64> = values.filter(|x| *x != 0.0).collect();
    v.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count()
}

/// matplotlib's default 5% axis margins around data.
fn margins(lo: f64, hi: f64) -> (f64, f64) {
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Figure 1: GD on (1-x)^2 + 10 (y-x^2)^2 with three learning rates.
pub fn figure_1() -> Result<SeedFigure> {
    let objective = "rosenbrock:a=1,b=10";
    let f = objectives::build::<f64>(objective)?;
    let bounds = [-2.0, 2.0, -1.0, 3.0];
    let levels = plot::logspace(-1.0, 3.0, 20);
    let mut fig = Figure::inches(16.0, 5.0);
    fig.title = Some("Gradient Descent: Effect of Learning Rate η on Convergence".into());
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for (lr, title) in
        [(0.001, "η = 0.001 (too small)"), (0.005, "η = 0.005 (good)"), (0.02, "η = 0.02 (too large)")]
    {
        let spec = format!("gd:lr={lr}");
        let r = run(objective, &spec, &[-1.5, 2.5], 200, Some(10.0))?;
        let dist = ((r.params[0] - 1.0).powi(2) + (r.params[1] - 1.0).powi(2)).sqrt();
        notes.push(match r.stop {
            StopReason::Diverged => {
                format!("η = {lr}: diverged after {} steps (|θ| > 10), as the seed's title says", r.steps)
            }
            _ => format!(
                "η = {lr}: after {} steps the loss is {:.3} and θ is {:.2} from the optimum (1, 1){}",
                r.steps,
                r.loss,
                dist,
                if lr == 0.005 {
                    ": 'good' only next to the others; 200 steps do not reach the minimum"
                } else {
                    ""
                }
            ),
        });
        let grid = Grid::sample(|x, y| f.value(&[x, y]), bounds, 200, 200);
        let mut s = Series::line("", path2(&r), plot::RED);
        s.label = None;
        s.marker = 3;
        s.width = 2;
        s.alpha = 0.8;
        fig.panels.push(Panel::Contour(ContourPanel {
            title: title.into(),
            xlabel: "θ₁".into(),
            ylabel: "θ₂".into(),
            bounds,
            grid,
            levels: levels.clone(),
            log_colors: true,
            contour_alpha: 0.6,
            series: vec![s],
            markers: vec![
                Marker {
                    label: Some("Start".into()),
                    at: (-1.5, 2.5),
                    shape: Shape::Circle,
                    color: plot::GREEN,
                    size: 8,
                },
                Marker {
                    label: Some("Optimum (1,1)".into()),
                    at: (1.0, 1.0),
                    shape: Shape::Star,
                    color: plot::RED,
                    size: 12,
                },
            ],
            equal_aspect: false,
        }));
        runs.push(run_json(title, &spec, &r));
    }
    let data = json!({"objective": objective, "start": [-1.5, 2.5], "steps": 200, "bound": 10, "xlim": [-2, 2], "ylim": [-1, 3],
        "contour_levels": levels, "runs": runs, "notes": notes});
    Ok(SeedFigure { name: "gd_learning_rate", figure: fig, data, notes })
}

/// Figure 2: GD vs momentum vs Adam on 50 x^2 + y^2.
pub fn figure_2() -> Result<SeedFigure> {
    let objective = "quadratic:a=50,b=1";
    let f = objectives::build::<f64>(objective)?;
    let bounds = [-1.2, 1.2, -1.2, 1.2];
    let grid = Grid::sample(|x, y| f.value(&[x, y]), bounds, 200, 200);
    let (zmin, zmax) = grid.range();
    let levels = plot::nice_levels(zmin, zmax, 20);
    let specs = [
        ("gd:lr=0.005", "GD (η=0.005)", plot::RED),
        ("momentum:lr=0.002,beta=0.9", "Momentum (η=0.002, β=0.9)", plot::BLUE),
        ("adam:lr=0.1", "Adam (η=0.1)", plot::GREEN),
    ];
    let mut series = Vec::new();
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for (spec, label, color) in specs {
        let r = run(objective, spec, &[1.0, 1.0], 100, None)?;
        let changes = sign_changes(r.trajectory.iter().map(|p| p.params[0]));
        let mut s = Series::line(label, path2(&r), color);
        s.marker = 2;
        s.width = 2;
        s.alpha = 0.8;
        series.push(s);
        notes.push(format!(
            "{label}: θ₁ changes sign {changes} times in 100 steps; final loss {:.3e}, |θ| = {:.3e}",
            r.loss,
            (r.params[0].powi(2) + r.params[1].powi(2)).sqrt()
        ));
        runs.push(run_json(label, spec, &r));
    }
    notes.push(
        "The seed says vanilla GD 'oscillates wildly' along θ₁. With η = 0.005 it cannot: each step multiplies θ₁ by \
         1 - η·100 = 0.5 > 0, so θ₁ shrinks monotonically. GD oscillates along θ₁ only for η > 1/100 = 0.01 and diverges \
         for η > 0.02. Here it is momentum whose iterates swing (its per-step factor is complex, modulus √0.9 ≈ 0.95)."
            .into(),
    );
    let mut fig = Figure::inches(10.0, 8.0);
    fig.panels.push(Panel::Contour(ContourPanel {
        title: "Optimizer Comparison on Ill-Conditioned Quadratic (κ = 50)".into(),
        xlabel: "θ₁ (high curvature)".into(),
        ylabel: "θ₂ (low curvature)".into(),
        bounds,
        grid,
        levels: levels.clone(),
        log_colors: false,
        contour_alpha: 0.5,
        series,
        markers: vec![
            Marker {
                label: Some("Start".into()),
                at: (1.0, 1.0),
                shape: Shape::Circle,
                color: plot::BLACK_,
                size: 10,
            },
            Marker {
                label: Some("Optimum θ*".into()),
                at: (0.0, 0.0),
                shape: Shape::Star,
                color: plot::RED,
                size: 15,
            },
        ],
        equal_aspect: true,
    }));
    let data = json!({"objective": objective, "start": [1.0, 1.0], "steps": 100, "contour_levels": levels, "runs": runs, "notes": notes});
    Ok(SeedFigure { name: "optimizer_comparison", figure: fig, data, notes })
}

/// Figure 3: learning rates on x^2, and the warmup + cosine schedule.
pub fn figure_3() -> Result<SeedFigure> {
    let mut series = Vec::new();
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for (k, lr) in [0.01, 0.1, 0.5, 0.9, 1.05].into_iter().enumerate() {
        let spec = format!("gd:lr={lr}");
        let r = run("quadratic:a=1", &spec, &[2.5], 30, Some(10.0))?;
        let pts: Vec<(f64, f64)> = r.trajectory.iter().map(|p| (p.step as f64, p.loss)).collect();
        let mut s = Series::line(format!("η = {lr}"), pts, plot::TAB10[k]);
        s.marker = 3;
        s.width = 2;
        series.push(s);
        let factor = 1.0 - 2.0 * lr;
        notes.push(format!(
            "η = {lr}: x is multiplied by 1 - 2η = {factor:.2} per step; {}",
            match r.stop {
                StopReason::Diverged =>
                    format!("|x| passes 10 after {} steps (diverges: η > 2/λ = 1)", r.steps),
                _ if lr == 0.5 =>
                    "lands exactly on the minimum in one step (η = 1/λ, the Newton step)".to_string(),
                _ => format!("f after 30 steps = {:.3e}", r.loss),
            }
        ));
        runs.push(run_json(&format!("η = {lr}"), &spec, &r));
    }
    // Rates symmetric about 1/lambda = 0.5 give factors of equal size and opposite sign, so the same f.
    for (i, a) in runs.iter().enumerate() {
        for b in runs.iter().skip(i + 1) {
            let close = |x: &Value, y: &Value| {
                let (x, y) = (x.as_array(), y.as_array());
                matches!((x, y), (Some(x), Some(y)) if x.len() == y.len() && x.iter().zip(y).all(|(p, q)| {
                    let (p, q) = (p.as_f64().unwrap_or(f64::NAN), q.as_f64().unwrap_or(f64::NAN));
                    (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1e-300)
                }))
            };
            if close(&a["loss"], &b["loss"]) {
                notes.push(format!(
                    "{} and {} give identical f at every step (factors ±{:.2}): their curves coincide",
                    a["label"].as_str().unwrap_or(""),
                    b["label"].as_str().unwrap_or(""),
                    (1.0 - 2.0
                        * a["optimizer"]
                            .as_str()
                            .and_then(|s| s.strip_prefix("gd:lr="))
                            .and_then(|x| x.parse::<f64>().ok())
                            .unwrap_or(0.0))
                    .abs()
                ));
            }
        }
    }
    let left = LinePanel {
        title: "Convergence for Different Learning Rates".into(),
        xlabel: "Iteration".into(),
        ylabel: "f(θ)".into(),
        x: margins(0.0, 30.0),
        y: (-0.5, 10.0),
        log_y: false,
        series,
        vlines: Vec::new(),
        grid: true,
    };
    let schedule = Schedule::parse("warmup-cosine:max=1e-3,min=1e-5,warmup=1000,total=10000")?;
    let eta: Vec<f64> = (0..10_000).map(|t| schedule.value(t)).collect();
    let pts: Vec<(f64, f64)> = eta.iter().enumerate().map(|(t, v)| (t as f64, v * 1000.0)).collect();
    let mut line = Series::line("", pts, plot::BLUE);
    line.label = None;
    let right = LinePanel {
        title: "Cosine Annealing with Warmup".into(),
        xlabel: "Training Step".into(),
        ylabel: "Learning Rate η (×10⁻³)".into(),
        x: margins(0.0, 9999.0),
        y: margins(0.0, 1.0),
        log_y: false,
        series: vec![line],
        vlines: vec![(1000.0, plot::RED, "End of warmup".into())],
        grid: true,
    };
    let mut fig = Figure::inches(14.0, 5.0);
    fig.panels.push(Panel::Lines(left));
    fig.panels.push(Panel::Lines(right));
    let data = json!({"objective": "quadratic:a=1", "start": [2.5], "steps": 30, "bound": 10, "runs": runs,
        "schedule": {"spec": "warmup-cosine:max=1e-3,min=1e-5,warmup=1000,total=10000", "lr": eta}, "notes": notes});
    Ok(SeedFigure { name: "lr_schedules", figure: fig, data, notes })
}

/// All three.
pub fn all() -> Result<Vec<SeedFigure>> {
    Ok(vec![figure_1()?, figure_2()?, figure_3()?])
}

/// Each figure's name with its notes.
pub type Notes = Vec<(String, Vec<String>)>;

/// Writes the three figures into `dir` (created if missing) as `.png`, `.svg` and `.json` (their
/// data); returns the paths written and what the data say about each caption.
pub fn write_all(dir: &std::path::Path) -> Result<(Vec<std::path::PathBuf>, Notes)> {
    std::fs::create_dir_all(dir)
        .map_err(|error| Error::Io { context: format!("creating {}", dir.display()), error })?;
    let mut written = Vec::new();
    let mut notes = Vec::new();
    for f in all()? {
        for ext in ["png", "svg"] {
            let path = dir.join(format!("{}.{ext}", f.name));
            plot::save(&f.figure, &path)?;
            written.push(path);
        }
        let path = dir.join(format!("{}.json", f.name));
        crate::write_atomic(&path, (serde_json::to_string_pretty(&f.data)? + "\n").as_bytes())?;
        written.push(path);
        notes.push((f.name.to_string(), f.notes));
    }
    Ok((written, notes))
}
