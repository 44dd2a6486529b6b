//! Two-dimensional test functions defined by their formulas. Their gradients and Hessians come
//! from the expression engine's automatic differentiation, which is exact up to rounding; the
//! tests check them against central differences anyway.

use crate::expr::Expression;
use crate::objective::{Landscape, Minimum, Objective};
use crate::real::Real;

/// A catalogue entry defined by a formula in `x` and `y`.
pub struct FormulaInfo {
    /// Spec name.
    pub name: &'static str,
    /// The formula, in downhill's expression syntax.
    pub formula: &'static str,
    /// One line about its character.
    pub description: &'static str,
    /// `[xmin, xmax, ymin, ymax]` to plot.
    pub domain: [f64; 4],
    /// Known minima `(x, y, value)`, global first (values from the literature).
    pub minima: &'static [(f64, f64, f64)],
    /// A start point that shows the landscape's character.
    pub start: [f64; 2],
}

/// The formula-defined test functions.
pub const FORMULAS: &[FormulaInfo] = &[
    FormulaInfo {
        name: "beale",
        formula: "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
        description: "sharp ridges and flat plateaus around a narrow valley; minimum 0 at (3, 0.5)",
        domain: [-4.5, 4.5, -4.5, 4.5],
        minima: &[(3.0, 0.5, 0.0)],
        start: [1.0, 1.5],
    },
    FormulaInfo {
        name: "booth",
        formula: "(x + 2*y - 7)^2 + (2*x + y - 5)^2",
        description: "a plain quadratic bowl (Hessian eigenvalues 2 and 18, condition number 9); minimum 0 at (1, 3)",
        domain: [-10.0, 10.0, -10.0, 10.0],
        minima: &[(1.0, 3.0, 0.0)],
        start: [-6.0, 6.0],
    },
    FormulaInfo {
        name: "matyas",
        formula: "0.26*(x^2 + y^2) - 0.48*x*y",
        description: "a flat, tilted quadratic (Hessian eigenvalues 0.04 and 1, condition number 25); minimum 0 at (0, 0)",
        domain: [-10.0, 10.0, -10.0, 10.0],
        minima: &[(0.0, 0.0, 0.0)],
        start: [7.0, -5.0],
    },
    FormulaInfo {
        name: "himmelblau",
        formula: "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        description: "four equal minima (value 0), one local maximum and four saddles",
        domain: [-5.0, 5.0, -5.0, 5.0],
        minima: &[
            (3.0, 2.0, 0.0),
            (-2.805118086952745, 3.131312518250573, 0.0),
            (-3.779310253377747, -3.28318599128617, 0.0),
            (3.584428340330492, -1.848126526964404, 0.0),
        ],
        start: [0.0, 0.0],
    },
    FormulaInfo {
        name: "three-hump-camel",
        formula: "2*x^2 - 1.05*x^4 + x^6/6 + x*y + y^2",
        description: "three local minima; global minimum 0 at (0, 0)",
        domain: [-2.0, 2.0, -2.0, 2.0],
        minima: &[(0.0, 0.0, 0.0)],
        start: [1.5, -1.5],
    },
    FormulaInfo {
        name: "six-hump-camel",
        formula: "(4 - 2.1*x^2 + x^4/3)*x^2 + x*y + (-4 + 4*y^2)*y^2",
        description: "six local minima; two global minima -1.0316 at (+-0.0898, -+0.7127)",
        domain: [-3.0, 3.0, -2.0, 2.0],
        minima: &[
            (0.08984201368301331, -0.7126564032704135, -1.031628453489877),
            (-0.08984201368301331, 0.7126564032704135, -1.031628453489877),
        ],
        start: [-1.5, 1.0],
    },
    FormulaInfo {
        name: "goldstein-price",
        formula: "(1 + (x + y + 1)^2*(19 - 14*x + 3*x^2 - 14*y + 6*x*y + 3*y^2)) * (30 + (2*x - 3*y)^2*(18 - 32*x + 12*x^2 + 48*y - 36*x*y + 27*y^2))",
        description: "values spanning six orders of magnitude, several local minima; global minimum 3 at (0, -1)",
        domain: [-2.0, 2.0, -2.0, 2.0],
        minima: &[(0.0, -1.0, 3.0)],
        start: [-0.6, 0.6],
    },
    FormulaInfo {
        name: "mccormick",
        formula: "sin(x + y) + (x - y)^2 - 1.5*x + 2.5*y + 1",
        description: "a tilted valley with a sine ripple; minimum -1.9132 at (0.5 - pi/3, -0.5 - pi/3)",
        domain: [-1.5, 4.0, -3.0, 4.0],
        minima: &[(-0.5471975511965976, -1.5471975511965976, -1.913222954981037)],
        start: [3.0, 3.0],
    },
    FormulaInfo {
        name: "levy",
        formula: "sin(pi*(1 + (x-1)/4))^2 + ((x-1)/4)^2*(1 + 10*sin(pi*(1 + (x-1)/4) + 1)^2) + ((y-1)/4)^2*(1 + sin(2*pi*(1 + (y-1)/4))^2)",
        description: "Levy function N.13-style (2-D): many local minima; global minimum 0 at (1, 1)",
        domain: [-10.0, 10.0, -10.0, 10.0],
        minima: &[(1.0, 1.0, 0.0)],
        start: [-6.0, 6.0],
    },
    FormulaInfo {
        name: "saddle",
        formula: "x^2 - y^2",
        description: "the textbook saddle: gradient zero at (0, 0), curving up along x and down along y; no minimum",
        domain: [-2.0, 2.0, -2.0, 2.0],
        minima: &[],
        start: [1.5, 0.01],
    },
    FormulaInfo {
        name: "monkey-saddle",
        formula: "x^3 - 3*x*y^2",
        description: "a degenerate saddle (zero Hessian at the origin) with three valleys; no minimum",
        domain: [-2.0, 2.0, -2.0, 2.0],
        minima: &[],
        start: [0.5, 0.3],
    },
];

/// A formula from [`FORMULAS`] as an objective, its derivatives by automatic differentiation.
///
/// ```
/// use downhill::objective::{Landscape, Objective};
/// use downhill::objectives::Formula;
///
/// let f = Formula::named("booth").unwrap(); // (x + 2y - 7)^2 + (2x + y - 5)^2
/// let mut grad = [0.0; 2];
/// assert_eq!(f.evaluate(&[1.0, 3.0], &mut grad)?, 0.0);
/// assert_eq!(grad, [0.0, 0.0]);
/// assert_eq!(f.evaluate(&[0.0, 0.0], &mut grad)?, 74.0); // 49 + 25
/// assert_eq!(f.minima()[0].point, [1.0, 3.0]);
/// assert!(f.evaluate(&[0.0; 3], &mut grad).is_err());
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Formula {
    info: &'static FormulaInfo,
    expr: Expression,
}

impl std::fmt::Debug for FormulaInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Formula {
    /// The catalogue entry named `name`, compiled.
    pub fn named(name: &str) -> Option<Formula> {
        let info = FORMULAS.iter().find(|f| f.name == name)?;
        let vars = ["x".to_string(), "y".to_string()];
        let expr = Expression::parse(info.formula, Some(&vars)).expect("catalogue formulas parse");
        Some(Formula { info, expr })
    }
}

impl<T: Real> Objective<T> for Formula {
    fn dim(&self) -> usize {
        2
    }
    fn value(&self, x: &[T]) -> T {
        self.expr.value(x)
    }
    fn gradient(&self, x: &[T], g: &mut [T]) {
        Objective::<T>::gradient(&self.expr, x, g)
    }
    fn value_and_gradient(&self, x: &[T], g: &mut [T]) -> T {
        self.expr.value_and_gradient(x, g)
    }
    fn has_hessian(&self) -> bool {
        true
    }
    fn hessian(&self, x: &[T], h: &mut [T]) -> crate::error::Result<()> {
        self.expr.hessian(x, h)
    }
}

impl Landscape for Formula {
    fn name(&self) -> String {
        self.info.name.to_string()
    }
    fn formula(&self) -> String {
        self.info.formula.to_string()
    }
    fn minima(&self) -> Vec<Minimum> {
        self.info.minima.iter().map(|&(x, y, value)| Minimum { point: vec![x, y], value }).collect()
    }
    fn default_start(&self) -> Option<Vec<f64>> {
        Some(self.info.start.to_vec())
    }
    fn domain(&self) -> Option<[f64; 4]> {
        Some(self.info.domain)
    }
}
