//! Built-in objectives, and [`build`] to make one from a spec string or a formula.

mod formulas;
mod nd;
mod quadratic;
mod rosenbrock;

pub use formulas::{Formula, FormulaInfo, FORMULAS};
pub use nd::{Ackley, Rastrigin, RosenbrockNd, Sphere, StyblinskiTang, MAX_DIM, STYBLINSKI_TANG_X};
pub use quadratic::Quadratic;
pub use rosenbrock::Rosenbrock;

use crate::error::{Error, Result};
use crate::expr::Expression;
use crate::objective::DescribedObjective;
use crate::real::Real;
use crate::spec::{Params, Range, Spec};

/// One catalogue entry for listings: name, keys with defaults, description.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Spec name.
    pub name: &'static str,
    /// Keys and defaults.
    pub keys: &'static str,
    /// One line about it.
    pub description: &'static str,
}

const HAND_WRITTEN: &[Entry] = &[
    Entry {
        name: "rosenbrock",
        keys: "a=1, b=100, dim=2",
        description: "(a - x)^2 + b (y - x^2)^2, a curved valley; the seed's figure 1 uses a=1, b=10; dim>2 chains it (minimum at all ones for a=1)",
    },
    Entry {
        name: "quadratic",
        keys: "a=1, b, c, ... (one coefficient per dimension)",
        description: "sum of coef_i x_i^2, Hessian diag(2 coef_i); quadratic:a=50,b=1 is the seed's 50x^2 + y^2, quadratic:a=1 its x^2",
    },
    Entry { name: "sphere", keys: "dim=2", description: "sum x_i^2, the round bowl (condition number 1); minimum 0 at 0" },
    Entry {
        name: "styblinski-tang",
        keys: "dim=2",
        description: "0.5 sum (x^4 - 16x^2 + 5x), 2^dim local minima; global -39.166 dim at x_i = -2.9035",
    },
    Entry {
        name: "rastrigin",
        keys: "dim=2",
        description: "10 dim + sum (x^2 - 10 cos 2 pi x), a bowl of regularly spaced local minima; global 0 at 0",
    },
    Entry {
        name: "ackley",
        keys: "dim=2",
        description: "flat outside, a funnel to the global minimum 0 at 0 (not differentiable there)",
    },
];

/// Every built-in objective, for listings.
pub fn catalogue() -> Vec<Entry> {
    let mut all = HAND_WRITTEN.to_vec();
    all.extend(FORMULAS.iter().map(|f| Entry { name: f.name, keys: "", description: f.description }));
    all
}

/// Names accepted by [`build`].
pub fn names() -> Vec<&'static str> {
    catalogue().iter().map(|c| c.name).collect()
}

/// Builds an objective from a spec such as `rosenbrock:a=1,b=10`, `quadratic:a=50,b=1`,
/// `rastrigin:dim=5` or `himmelblau`.
pub fn build<T: Real>(text: &str) -> Result<Box<dyn DescribedObjective<T>>> {
    let spec = Spec::parse(text, "objective")?;
    let mut p = Params::new(&spec.name, &spec);
    let objective: Box<dyn DescribedObjective<T>> = match spec.name.as_str() {
        "rosenbrock" => {
            let a = p.number("a", 1.0, Range::Finite)?;
            let b = p.number("b", 100.0, Range::Finite)?;
            let dim = nd::dim(&mut p, 2)?;
            if dim == 2 {
                Box::new(Rosenbrock { a, b })
            } else {
                Box::new(RosenbrockNd { dim, a, b })
            }
        }
        "quadratic" => Box::new(Quadratic::from_params(&mut p)?),
        "sphere" => Box::new(Sphere { dim: nd::dim(&mut p, 1)? }),
        "styblinski-tang" => Box::new(StyblinskiTang { dim: nd::dim(&mut p, 1)? }),
        "rastrigin" => Box::new(Rastrigin { dim: nd::dim(&mut p, 1)? }),
        "ackley" => Box::new(Ackley { dim: nd::dim(&mut p, 1)? }),
        other => match Formula::named(other) {
            Some(f) => Box::new(f),
            None => return Err(Error::unknown("objective", other, &names())),
        },
    };
    p.finish()?;
    Ok(objective)
}

/// An objective from a formula, e.g. `(1-x)^2 + 10*(y-x^2)^2`; `vars` fixes the variable order.
pub fn from_expression<T: Real>(
    formula: &str,
    vars: Option<&[String]>,
) -> Result<Box<dyn DescribedObjective<T>>> {
    Ok(Box::new(Expression::parse(formula, vars)?))
}
