//! Built-in objectives, and [`build`] to make one from a spec string.

mod quadratic;
mod rosenbrock;

pub use quadratic::Quadratic;
pub use rosenbrock::Rosenbrock;

use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::real::Real;
use crate::spec::{Params, Spec};

/// One line per built-in objective: `(name, parameters, description)`.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    (
        "rosenbrock",
        "a=1, b=100",
        "(a - x)^2 + b (y - x^2)^2; the seed's figure 1 uses a=1, b=10; minimum 0 at (a, a^2)",
    ),
    (
        "quadratic",
        "a=1, b, c, ... (one coefficient per dimension)",
        "sum of coef_i x_i^2; Hessian diag(2 coef_i); quadratic:a=50,b=1 is the seed's 50x^2 + y^2",
    ),
];

/// Names accepted by [`build`].
pub fn names() -> Vec<&'static str> {
    CATALOGUE.iter().map(|c| c.0).collect()
}

/// Builds an objective from a spec such as `rosenbrock:a=1,b=10` or `quadratic:a=50,b=1`.
pub fn build<T: Real>(text: &str) -> Result<Box<dyn Objective<T>>> {
    let spec = Spec::parse(text, "objective")?;
    let mut p = Params::new(&spec.name, &spec);
    let objective: Box<dyn Objective<T>> = match spec.name.as_str() {
        "rosenbrock" => Box::new(Rosenbrock::from_params(&mut p)?),
        "quadratic" => Box::new(Quadratic::from_params(&mut p)?),
        other => return Err(Error::unknown("objective", other, &names())),
    };
    p.finish()?;
    Ok(objective)
}
