//! What the geometry of an objective means for an optimizer: the seed article's second-order
//! conditions, condition number, step sizes and rates, at a point and over a box.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::linalg::solve;
use crate::objective::Objective;

/// Moved to [`crate::linalg`] with the other dense linear algebra; still reachable here.
pub use crate::linalg::symmetric_eigen;

/// The sign pattern of the Hessian's eigenvalues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Curvature {
    /// All eigenvalues > 0.
    PositiveDefinite,
    /// All eigenvalues < 0.
    NegativeDefinite,
    /// Eigenvalues of both signs.
    Indefinite,
    /// No sign conflict, but some eigenvalue is (numerically) zero.
    Semidefinite,
}

/// What a point is, by the seed's first- and second-order conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    /// Gradient zero, Hessian positive definite.
    StrictLocalMinimum,
    /// Gradient zero, Hessian negative definite.
    StrictLocalMaximum,
    /// Gradient zero, Hessian indefinite.
    Saddle,
    /// Gradient zero, Hessian singular: second-order conditions cannot decide.
    Degenerate,
    /// The gradient is not zero here.
    NotCritical,
}

impl PointKind {
    /// Words for tables.
    pub fn describe(self) -> &'static str {
        match self {
            PointKind::StrictLocalMinimum => "strict local minimum",
            PointKind::StrictLocalMaximum => "strict local maximum",
            PointKind::Saddle => "saddle point",
            PointKind::Degenerate => "degenerate critical point",
            PointKind::NotCritical => "not a critical point",
        }
    }
}

/// Everything downhill can say about one point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointAnalysis {
    /// Where.
    pub point: Vec<f64>,
    /// f there.
    pub value: f64,
    /// The gradient.
    pub gradient: Vec<f64>,
    /// Its norm.
    pub gradient_norm: f64,
    /// The Hessian, row-major.
    pub hessian: Vec<f64>,
    /// Hessian eigenvalues, ascending.
    pub eigenvalues: Vec<f64>,
    /// Unit eigenvectors, one per eigenvalue.
    pub eigenvectors: Vec<Vec<f64>>,
    /// Sign pattern of the eigenvalues.
    pub curvature: Curvature,
    /// The classification.
    pub kind: PointKind,
    /// `lambda_max / lambda_min` when the Hessian is positive definite.
    pub condition_number: Option<f64>,
    /// The seed's optimal GD step on the local quadratic, `2 / (lambda_max + lambda_min)`.
    pub optimal_lr: Option<f64>,
    /// GD on the local quadratic diverges for steps above `2 / lambda_max`.
    pub divergence_threshold: Option<f64>,
    /// The distance to the minimum shrinks by `(kappa - 1)/(kappa + 1)` per step at the optimal lr.
    pub predicted_rate: Option<f64>,
    /// `1 / lambda_max`: the step of the seed's convergence theorems (`eta = 1/L`).
    pub lr_one_over_l: Option<f64>,
}

/// Tolerance for "zero" eigenvalues relative to the largest magnitude.
const EIG_TOL: f64 = 1e-9;

fn classify(eigenvalues: &[f64]) -> Curvature {
    let scale = eigenvalues.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
    let tol = EIG_TOL * scale.max(1e-12);
    let pos = eigenvalues.iter().any(|&l| l > tol);
    let neg = eigenvalues.iter().any(|&l| l < -tol);
    let zero = eigenvalues.iter().any(|&l| l.abs() <= tol);
    match (pos, neg, zero) {
        (true, true, _) => Curvature::Indefinite,
        (true, false, false) => Curvature::PositiveDefinite,
        (false, true, false) => Curvature::NegativeDefinite,
        _ => Curvature::Semidefinite,
    }
}

/// The largest dimension [`analyze_point`] takes: its Jacobi eigen-decomposition of the dense
/// Hessian costs O(n^3) per sweep (500 is a few seconds).
pub const MAX_ANALYZE_DIM: usize = 500;

/// Analyzes `objective` at `x` (needs the Hessian; at most [`MAX_ANALYZE_DIM`] dimensions).
pub fn analyze_point(objective: &dyn Objective<f64>, x: &[f64]) -> Result<PointAnalysis> {
    let n = objective.dim();
    if x.len() != n {
        return Err(Error::Dimension { field: "at".into(), expected: n, got: x.len() });
    }
    crate::objective::check_dense_hessian("analyze", n, MAX_ANALYZE_DIM)?;
    let mut gradient = vec![0.0; n];
    let value = objective.value_and_gradient(x, &mut gradient);
    let mut hessian = vec![0.0; n * n];
    objective.hessian(x, &mut hessian)?;
    if !value.is_finite() || gradient.iter().chain(&hessian).any(|v| !v.is_finite()) {
        return Err(Error::Unsupported(format!(
            "the objective is not twice differentiable at ({}): value, gradient or Hessian is not finite",
            x.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let (eigenvalues, eigenvectors) = symmetric_eigen(&hessian, n);
    let gradient_norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
    let curvature = classify(&eigenvalues);
    let scale = 1.0 + value.abs() + x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let critical = gradient_norm <= 1e-7 * scale;
    let kind = if !critical {
        PointKind::NotCritical
    } else {
        match curvature {
            Curvature::PositiveDefinite => PointKind::StrictLocalMinimum,
            Curvature::NegativeDefinite => PointKind::StrictLocalMaximum,
            Curvature::Indefinite => PointKind::Saddle,
            Curvature::Semidefinite => PointKind::Degenerate,
        }
    };
    let (lmin, lmax) = (eigenvalues[0], eigenvalues[n - 1]);
    let pd = curvature == Curvature::PositiveDefinite;
    let condition_number = pd.then(|| lmax / lmin);
    Ok(PointAnalysis {
        point: x.to_vec(),
        value,
        gradient,
        gradient_norm,
        hessian,
        eigenvalues,
        eigenvectors,
        curvature,
        kind,
        condition_number,
        optimal_lr: pd.then(|| 2.0 / (lmax + lmin)),
        divergence_threshold: (lmax > 0.0).then(|| 2.0 / lmax),
        predicted_rate: condition_number.map(|k| (k - 1.0) / (k + 1.0)),
        lr_one_over_l: (lmax > 0.0).then(|| 1.0 / lmax),
    })
}

/// Curvature bounds over a 2-D box, from the Hessian's eigenvalues on a grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxAnalysis {
    /// `[xmin, xmax, ymin, ymax]`.
    pub bounds: [f64; 4],
    /// Grid points per side.
    pub grid: usize,
    /// Estimate of the smoothness constant `L`: the largest eigenvalue seen.
    pub l: f64,
    /// Estimate of `mu`: the smallest eigenvalue seen (negative means not convex on the box).
    pub mu: f64,
    /// Where the largest eigenvalue was seen.
    pub l_at: Vec<f64>,
    /// Where the smallest was seen.
    pub mu_at: Vec<f64>,
    /// `L / mu` when `mu > 0`.
    pub condition_number: Option<f64>,
    /// The `eta = 1/L` of the seed's theorems: safe everywhere in the box.
    pub safe_lr: Option<f64>,
    /// The seed's strongly convex rate `1 - mu/L` per step, when `mu > 0`.
    pub strongly_convex_rate: Option<f64>,
    /// Critical points found in the box, classified, lowest value first.
    pub critical_points: Vec<PointAnalysis>,
}

/// Checks a `[xmin, xmax, ymin, ymax]` box.
pub fn check_box(b: [f64; 4]) -> Result<()> {
    if b.iter().any(|v| !v.is_finite()) || b[0] >= b[1] || b[2] >= b[3] {
        return Err(Error::Inconsistent {
            field: "box".into(),
            message: format!("{b:?} must be finite with xmin < xmax and ymin < ymax"),
        });
    }
    Ok(())
}

/// Stops a long analysis whose [`crate::run::Cancel`] token was cancelled.
fn check_cancelled() -> Result<()> {
    if crate::run::cancelled() {
        return Err(Error::Cancelled("the analysis was stopped".into()));
    }
    Ok(())
}

/// Finds critical points of a 2-D objective in a box: Newton's method on the gradient (which
/// converges to minima, maxima and saddles alike) from a `starts x starts` grid, deduplicated.
pub fn critical_points(
    objective: &dyn Objective<f64>,
    bounds: [f64; 4],
    starts: usize,
) -> Result<Vec<PointAnalysis>> {
    check_box(bounds)?;
    if objective.dim() != 2 {
        return Err(Error::Dimension {
            field: "box (2-D objectives only)".into(),
            expected: 2,
            got: objective.dim(),
        });
    }
    let span = (bounds[1] - bounds[0]).max(bounds[3] - bounds[2]);
    let mut found: Vec<PointAnalysis> = Vec::new();
    let (mut g, mut h) = (vec![0.0; 2], vec![0.0; 4]);
    for i in 0..starts {
        for j in 0..starts {
            check_cancelled()?;
            let fx = (i as f64 + 0.5) / starts as f64;
            let fy = (j as f64 + 0.5) / starts as f64;
            let mut x =
                vec![bounds[0] + fx * (bounds[1] - bounds[0]), bounds[2] + fy * (bounds[3] - bounds[2])];
            let mut converged = false;
            for _ in 0..60 {
                objective.gradient(&x, &mut g);
                if g.iter().map(|v| v * v).sum::<f64>().sqrt() <= 1e-11 * (1.0 + objective.value(&x).abs()) {
                    converged = true;
                    break;
                }
                if objective.hessian(&x, &mut h).is_err() {
                    break;
                }
                let Some(step) = solve(&h, &g, 2) else { break };
                x[0] -= step[0];
                x[1] -= step[1];
                if !x.iter().all(|v| v.is_finite()) {
                    break;
                }
            }
            let inside = x[0] >= bounds[0] && x[0] <= bounds[1] && x[1] >= bounds[2] && x[1] <= bounds[3];
            if !converged || !inside {
                continue;
            }
            if found
                .iter()
                .any(|p| ((p.point[0] - x[0]).powi(2) + (p.point[1] - x[1]).powi(2)).sqrt() < 1e-6 * span)
            {
                continue;
            }
            if let Ok(a) = analyze_point(objective, &x) {
                found.push(a);
            }
        }
    }
    found.sort_by(|a, b| a.value.total_cmp(&b.value));
    Ok(found)
}

/// Estimates `L` and `mu` over a 2-D box from the Hessian on a `grid x grid` lattice, and finds the
/// critical points in it.
pub fn analyze_box(objective: &dyn Objective<f64>, bounds: [f64; 4], grid: usize) -> Result<BoxAnalysis> {
    check_box(bounds)?;
    if objective.dim() != 2 {
        return Err(Error::Dimension {
            field: "box (2-D objectives only)".into(),
            expected: 2,
            got: objective.dim(),
        });
    }
    let grid = grid.clamp(2, 1000);
    let (mut l, mut mu) = (f64::NEG_INFINITY, f64::INFINITY);
    let (mut l_at, mut mu_at) = (vec![0.0; 2], vec![0.0; 2]);
    let mut h = vec![0.0; 4];
    for i in 0..grid {
        check_cancelled()?;
        for j in 0..grid {
            let x = [
                bounds[0] + (bounds[1] - bounds[0]) * i as f64 / (grid - 1) as f64,
                bounds[2] + (bounds[3] - bounds[2]) * j as f64 / (grid - 1) as f64,
            ];
            if objective.hessian(&x, &mut h).is_err() || h.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let (ev, _) = symmetric_eigen(&h, 2);
            if ev[1] > l {
                l = ev[1];
                l_at = x.to_vec();
            }
            if ev[0] < mu {
                mu = ev[0];
                mu_at = x.to_vec();
            }
        }
    }
    let convex = mu > 0.0;
    Ok(BoxAnalysis {
        bounds,
        grid,
        l,
        mu,
        l_at,
        mu_at,
        condition_number: convex.then(|| l / mu),
        safe_lr: (l > 0.0).then(|| 1.0 / l),
        strongly_convex_rate: convex.then(|| 1.0 - mu / l),
        critical_points: critical_points(objective, bounds, 15)?,
    })
}
