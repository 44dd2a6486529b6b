//! Objectives from formulas: `(1-x)^2 + 10*(y-x^2)^2`, with exact derivatives.
//!
//! A formula is parsed once and compiled to a tape (a straight-line program with constants folded
//! and common subexpressions shared). Values are computed by running the tape; gradients by one
//! reverse sweep over it (reverse-mode automatic differentiation), Hessians by forward-mode
//! second-order jets. Derivatives are exact up to floating-point rounding: there are no finite
//! differences anywhere.
//!
//! Syntax: `+ - * / ^`, unary minus (binding looser than `^`: `-x^2 = -(x^2)`), parentheses, numbers
//! such as `1.5e-3`, the constants `pi` and `e`, and the functions `sin cos tan exp log sqrt abs tanh
//! sinh cosh atan` and `min(a, b)`, `max(a, b)`. `x^2` is computed as `x*x`. Variables are the other
//! identifiers, in alphabetical order unless given.
//!
//! Where a formula is not differentiable or not defined (`log` of a negative number, division by
//! zero, `sqrt` at 0) the value or gradient is NaN or infinite, and a run stops with `non_finite`.
//! At kinks of `abs`, `min` and `max` the derivative of one side is used (`abs'(0) = 0`).

mod parse;
mod tape;

pub use parse::{parse, Ast, BinOp, Func, Func2, SyntaxError, FUNCTIONS};

use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::real::Real;
use tape::{Program, Tape};

/// The most variables a formula may have.
pub const MAX_VARIABLES: usize = 64;

/// A formula as an [`Objective`].
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    vars: Vec<String>,
    ast: Ast,
    /// For the Hessian (forward-mode jets).
    tape: Tape,
    /// For values and gradients.
    program: Program,
}

fn collect_vars(ast: &Ast, out: &mut Vec<String>) {
    match ast {
        Ast::Num(_) => {}
        Ast::Var(name) => {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        Ast::Neg(a) | Ast::Call(_, a) => collect_vars(a, out),
        Ast::Bin(_, a, b) | Ast::Call2(_, a, b) => {
            collect_vars(a, out);
            collect_vars(b, out);
        }
    }
}

impl Expression {
    /// Parses and compiles `source`. `vars` fixes the variable order (it must name every variable
    /// of the formula; extra names are allowed and get zero gradient); without it, variables are
    /// sorted alphabetically.
    pub fn parse(source: &str, vars: Option<&[String]>) -> Result<Expression> {
        let ast = parse::parse(source).map_err(|e| Error::Expression {
            formula: source.to_string(),
            position: e.position,
            message: e.message,
        })?;
        let mut found = Vec::new();
        collect_vars(&ast, &mut found);
        let vars = match vars {
            Some(given) => {
                for (i, v) in given.iter().enumerate() {
                    if given[..i].contains(v) {
                        return Err(Error::Inconsistent {
                            field: "vars".into(),
                            message: format!("'{v}' is listed twice"),
                        });
                    }
                }
                if let Some(missing) = found.iter().find(|v| !given.contains(v)) {
                    return Err(Error::Inconsistent {
                        field: "vars".into(),
                        message: format!("the formula uses '{missing}', which --vars does not list"),
                    });
                }
                given.to_vec()
            }
            None => {
                found.sort();
                found
            }
        };
        if vars.is_empty() {
            return Err(Error::Inconsistent {
                field: "expr".into(),
                message: format!("'{source}' has no variables"),
            });
        }
        if vars.len() > MAX_VARIABLES {
            return Err(Error::out_of_range("expr variables", vars.len(), &format!("[1, {MAX_VARIABLES}]")));
        }
        let tape = Tape::compile(&ast, &vars);
        let program = Program::new(&tape);
        Ok(Expression { source: source.to_string(), vars, ast, tape, program })
    }

    /// The variables in order.
    pub fn variables(&self) -> &[String] {
        &self.vars
    }

    /// The syntax tree.
    pub fn ast(&self) -> &Ast {
        &self.ast
    }

    /// Number of instructions after folding and sharing.
    pub fn tape_len(&self) -> usize {
        self.tape.ins.len()
    }
}

impl<T: Real> Objective<T> for Expression {
    fn dim(&self) -> usize {
        self.vars.len()
    }

    fn value(&self, x: &[T]) -> T {
        self.program.value(x)
    }

    fn gradient(&self, x: &[T], grad: &mut [T]) {
        self.program.value_and_gradient(x, grad);
    }

    fn value_and_gradient(&self, x: &[T], grad: &mut [T]) -> T {
        self.program.value_and_gradient(x, grad)
    }

    fn has_hessian(&self) -> bool {
        true
    }

    fn hessian(&self, x: &[T], hess: &mut [T]) -> Result<()> {
        let d = self.vars.len();
        let x64: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        let mut g = vec![0.0; d];
        let mut h = vec![0.0; d * d];
        self.tape.hessian(&x64, d, &mut g, &mut h);
        for (o, v) in hess.iter_mut().zip(h) {
            *o = T::from_f64(v);
        }
        Ok(())
    }

    fn name(&self) -> String {
        format!("expr:{}", self.source)
    }

    fn formula(&self) -> String {
        self.source.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_rosenbrock_like_gradient_matches_the_hand_formula() {
        let e = Expression::parse("(1-x)^2 + 10*(y-x^2)^2", None).unwrap();
        assert_eq!(e.variables(), ["x", "y"]);
        let (x, y) = (-1.5f64, 2.5f64);
        let mut g = [0.0; 2];
        let v = e.value_and_gradient(&[x, y], &mut g);
        assert_eq!(v, (1.0 - x) * (1.0 - x) + 10.0 * ((y - x * x) * (y - x * x)));
        assert!((g[0] - (-2.0 * (1.0 - x) - 40.0 * x * (y - x * x))).abs() < 1e-12);
        assert!((g[1] - 20.0 * (y - x * x)).abs() < 1e-12);
        let mut h = [0.0; 4];
        Objective::<f64>::hessian(&e, &[x, y], &mut h).unwrap();
        assert!((h[0] - (2.0 - 40.0 * (y - x * x) + 80.0 * x * x)).abs() < 1e-12);
        assert!((h[1] - (-40.0 * x)).abs() < 1e-12 && (h[2] - h[1]).abs() < 1e-12);
        assert!((h[3] - 20.0).abs() < 1e-12);
    }

    #[test]
    fn common_subexpressions_are_shared() {
        let e = Expression::parse("(y-x^2)^2 + (y-x^2)", None).unwrap();
        // y, x, the constant 2, x^2, y-x^2, (.)^2, + : seven slots, not the ten of the tree.
        assert_eq!(e.tape_len(), 7);
    }

    #[test]
    fn vars_order_and_errors() {
        let vars = vec!["y".to_string(), "x".to_string()];
        let e = Expression::parse("x - 2*y", Some(&vars)).unwrap();
        let mut g = [0.0; 2];
        e.value_and_gradient(&[1.0f64, 0.0], &mut g);
        assert_eq!(g, [-2.0, 1.0]);
        assert!(Expression::parse("x + z", Some(&vars)).is_err());
        assert!(Expression::parse("2 + 3", None).is_err());
        let err = Expression::parse("(1-x", None).unwrap_err().to_string();
        assert!(err.contains("(1-x\n") && err.ends_with("    ^"), "{err}");
    }
}
