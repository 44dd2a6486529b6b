//! `--objective SPEC | --expr FORMULA [--vars x,y]`, shared by the commands.

use anyhow::{Context, Result};
use clap::Args;

use downhill::{objectives, DescribedObjective, Real};

use crate::output;

#[derive(Args, Debug, Clone)]
#[group(skip)]
pub struct ObjectiveArgs {
    /// Objective spec: rosenbrock[:a=1,b=100], quadratic:a=50,b=1, himmelblau, rastrigin:dim=5, ...
    /// (see `downhill objectives`).
    #[arg(long, value_name = "SPEC", required_unless_present = "expr", conflicts_with = "expr")]
    pub objective: Option<String>,
    /// Your own formula, e.g. '(1-x)^2 + 10*(y-x^2)^2'; exact derivatives by automatic
    /// differentiation. Variables are sorted alphabetically unless --vars gives the order.
    #[arg(long, value_name = "FORMULA", allow_hyphen_values = true)]
    pub expr: Option<String>,
    /// Variable order for --expr, comma-separated (e.g. y,x).
    #[arg(long, value_name = "NAMES", requires = "expr")]
    pub vars: Option<String>,
}

impl ObjectiveArgs {
    /// Builds the objective at precision `T`.
    pub fn build<T: Real>(&self) -> Result<Box<dyn DescribedObjective<T>>> {
        match (&self.objective, &self.expr) {
            (Some(spec), _) => Ok(objectives::build::<T>(spec).context("--objective")?),
            (None, Some(formula)) => {
                let vars: Option<Vec<String>> =
                    self.vars.as_ref().map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
                Ok(objectives::from_expression::<T>(formula, vars.as_deref()).context("--expr")?)
            }
            (None, None) => unreachable!("clap requires one of --objective and --expr"),
        }
    }
}

/// The point given as `--<field> X,Y,...`, or else the objective's usual start (the origin for a
/// formula), checked against the objective's dimension.
pub fn point_or_default<T: Real>(
    field: &str,
    text: Option<&str>,
    objective: &dyn DescribedObjective<T>,
) -> Result<Vec<f64>> {
    let point = match text {
        Some(text) => output::parse_point(field, text).with_context(|| format!("--{field}"))?,
        None => {
            let start = objective.default_start().unwrap_or_else(|| vec![0.0; objective.dim()]);
            if let Some(i) = start.iter().position(|x| !x.is_finite()) {
                return Err(crate::BadInput(format!(
                    "{}: its usual start has {field}[{i}] = {} (its parameters overflow f64); give --{field} or smaller parameters",
                    objective.name(),
                    start[i]
                ))
                .into());
            }
            start
        }
    };
    if point.len() != objective.dim() {
        return Err(downhill::Error::Dimension {
            field: field.into(),
            expected: objective.dim(),
            got: point.len(),
        })
        .with_context(|| format!("--{field} for {}", objective.name()));
    }
    Ok(point)
}
