//! `downhill analyze`.

use anyhow::{Context, Result};
use clap::Args;

use downhill::analysis::{BoxAnalysis, PointAnalysis};
use downhill::report::analyze;

use crate::objective_args::{point_or_default, ObjectiveArgs};
use crate::output::{self, column, rows_from_columns, table, Format};

#[derive(Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Examples:\n  \
    downhill analyze --objective quadratic:a=50,b=1 --at 1,1\n  \
    downhill analyze --objective himmelblau --box -5,5,-5,5\n  \
    downhill analyze --expr 'x^3 - 3*x*y^2' --at 0,0 --format json"
)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub landscape: ObjectiveArgs,
    /// The point to analyze (default: the objective's usual start point, or the origin).
    #[arg(long, value_name = "X,Y,...", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// For 2-D objectives: a box xmin,xmax,ymin,ymax over which to estimate L and mu and search for
    /// critical points (default: the objective's plotting domain).
    #[arg(long = "box", value_name = "XMIN,XMAX,YMIN,YMAX", allow_hyphen_values = true)]
    pub bounds: Option<String>,
    /// Grid points per side for the box estimates.
    #[arg(long, default_value_t = 41)]
    pub grid: usize,
    /// Output format (csv is treated as table).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: &AnalyzeArgs) -> Result<String> {
    let objective = args.landscape.build::<f64>()?;
    let at = point_or_default("at", args.at.as_deref(), objective.as_ref())?;
    let bounds = match &args.bounds {
        Some(text) => {
            let b = output::parse_point("box", text).context("--box")?;
            if b.len() != 4 {
                return Err(
                    downhill::Error::Dimension { field: "box".into(), expected: 4, got: b.len() }.into()
                );
            }
            Some([b[0], b[1], b[2], b[3]])
        }
        None => None,
    };
    let doc = analyze(objective.as_ref(), &at, bounds, args.grid)?;
    if args.format == Format::Json {
        return Ok(serde_json::to_string_pretty(&doc)? + "\n");
    }
    let mut s = format!("objective  {}  f = {}\n", objective.name(), objective.formula());
    s.push_str(&point_text(&doc.point));
    if let Some(b) = &doc.region {
        s.push_str(&box_text(b));
    }
    Ok(s)
}

fn vec_text(v: &[f64]) -> String {
    format!("({})", v.iter().map(|x| format!("{}", round(*x))).collect::<Vec<_>>().join(", "))
}

/// Rounds to 10 significant digits so that 0.019607843137254902 reads 0.01960784314.
fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 10 - x.abs().log10().ceil() as i32;
    let f = 10f64.powi(digits.clamp(-300, 300));
    (x * f).round() / f
}

fn point_text(p: &PointAnalysis) -> String {
    let n = p.point.len();
    let mut s = format!("at         {}\n", vec_text(&p.point));
    s.push_str(&format!("value      {}\n", round(p.value)));
    s.push_str(&format!("gradient   {}   |grad| = {}\n", vec_text(&p.gradient), round(p.gradient_norm)));
    let rows: Vec<String> = (0..n).map(|i| vec_text(&p.hessian[i * n..(i + 1) * n])).collect();
    s.push_str(&format!("hessian    [{}]\n", rows.join(", ")));
    for (k, (l, v)) in p.eigenvalues.iter().zip(&p.eigenvectors).enumerate() {
        let label = if k == 0 { "eigen" } else { "" };
        s.push_str(&format!("{label:<10} {} along {}\n", round(*l), vec_text(v)));
    }
    let curvature = format!("{:?}", p.curvature).to_lowercase().replace("definite", " definite");
    s.push_str(&format!("point      {}; curvature here: {}\n", p.kind.describe(), curvature));
    match p.condition_number {
        Some(k) => s.push_str(&format!("kappa      lambda_max / lambda_min = {}\n", round(k))),
        None => s.push_str("kappa      infinite (the Hessian is not positive definite)\n"),
    }
    if let Some(lr) = p.optimal_lr {
        s.push_str(&format!(
            "optimal lr 2/(lambda_max + lambda_min) = {} (GD on the local quadratic)\n",
            round(lr)
        ));
    }
    if let Some(t) = p.divergence_threshold {
        s.push_str(&format!("diverges   for lr > 2/lambda_max = {}; 1/L = {}\n", round(t), round(t / 2.0)));
    }
    if let Some(r) = p.predicted_rate {
        s.push_str(&format!(
            "rate       distance shrinks by (kappa-1)/(kappa+1) = {} per step at the optimal lr\n",
            round(r)
        ));
    }
    s
}

fn box_text(b: &BoxAnalysis) -> String {
    let [x0, x1, y0, y1] = b.bounds;
    let mut s = format!("\nbox        [{x0}, {x1}] x [{y0}, {y1}], Hessian on a {0}x{0} grid\n", b.grid);
    s.push_str(&format!("L          {} (largest eigenvalue, at {})\n", round(b.l), vec_text(&b.l_at)));
    let convex = if b.mu > 0.0 { "strongly convex on the box" } else { "not convex on the box" };
    s.push_str(&format!(
        "mu         {} (smallest eigenvalue, at {}): {convex}\n",
        round(b.mu),
        vec_text(&b.mu_at)
    ));
    if let Some(lr) = b.safe_lr {
        s.push_str(&format!(
            "safe lr    1/L = {} (the step of the seed's convergence theorems)\n",
            round(lr)
        ));
    }
    if let Some(r) = b.strongly_convex_rate {
        s.push_str(&format!(
            "rate       f - f* shrinks by at least 1 - mu/L = {} per step with lr 1/L\n",
            round(r)
        ));
    }
    if b.critical_points.is_empty() {
        s.push_str("critical   none found in the box\n");
    } else {
        s.push_str(&format!("critical points in the box ({}):\n", b.critical_points.len()));
        let cps = &b.critical_points;
        let xs = column(&cps.iter().map(|p| p.point[0]).collect::<Vec<_>>());
        let ys = column(&cps.iter().map(|p| p.point[1]).collect::<Vec<_>>());
        let fs = column(&cps.iter().map(|p| p.value).collect::<Vec<_>>());
        let kinds: Vec<String> = cps.iter().map(|p| p.kind.describe().to_string()).collect();
        let eig: Vec<String> = cps.iter().map(|p| vec_text(&p.eigenvalues)).collect();
        let header = ["x", "y", "f", "kind", "eigenvalues"].map(String::from);
        s.push_str(&table(&header, &rows_from_columns(&[xs, ys, fs, kinds, eig])));
    }
    s
}
