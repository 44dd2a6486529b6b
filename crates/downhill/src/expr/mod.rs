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

pub use parse::{parse, Ast, BinOp, Func, Func2, SyntaxError, FUNCTIONS, MAX_FORMULA_LEN};

use crate::error::{Error, Result};
use crate::objective::{check_hessian_lengths, nan, Landscape, Objective};
use crate::real::Real;
use tape::{Program, Tape};

/// The most variables a formula may have.
pub const MAX_VARIABLES: usize = 64;

/// The most working memory a formula's Hessian may take: the jets alive at once
/// (`Tape::peak_jets`) times `d^2 + d` numbers each.
pub const MAX_HESSIAN_BYTES: usize = 1 << 30;

/// A formula as an [`Objective`], with exact derivatives.
///
/// ```
/// use downhill::expr::Expression;
/// use downhill::objective::{Landscape, Objective};
///
/// // The seed's Rosenbrock-like function; variables in alphabetical order (x, y).
/// let f = Expression::parse("(1-x)^2 + 10*(y-x^2)^2", None)?;
/// let mut grad = [0.0; 2];
/// assert_eq!(f.evaluate(&[0.0, 0.0], &mut grad)?, 1.0);
/// assert_eq!(grad, [-2.0, 0.0]); // d/dx = -2 (1 - x) - 40 x (y - x^2)
/// assert_eq!(f.name(), "expr:(1-x)^2 + 10*(y-x^2)^2");
/// assert!(f.evaluate(&[0.0], &mut grad).is_err());
/// # Ok::<(), downhill::Error>(())
/// ```
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

/// `text`, cut to its first 60 characters for a message.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// The variables in order of first appearance.
fn collect_vars(ast: &Ast, out: &mut Vec<String>) {
    ast.fold(|node, _, _| {
        if let Ast::Var(name) = node {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
    });
}

impl Expression {
    /// Parses and compiles `source`. `vars` fixes the variable order (it must name every variable
    /// of the formula; extra names are allowed and get zero gradient); without it, variables are
    /// sorted alphabetically.
    pub fn parse(source: &str, vars: Option<&[String]>) -> Result<Expression> {
        if source.len() > MAX_FORMULA_LEN {
            return Err(Error::out_of_range(
                "expr length",
                format!("{} bytes", source.len()),
                &format!("[1, {MAX_FORMULA_LEN}] bytes"),
            ));
        }
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
                message: format!("'{}' has no variables", shortened(source)),
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
        if x.len() != self.vars.len() {
            return nan();
        }
        self.program.value(x)
    }

    fn gradient(&self, x: &[T], grad: &mut [T]) {
        Objective::value_and_gradient(self, x, grad);
    }

    fn value_and_gradient(&self, x: &[T], grad: &mut [T]) -> T {
        if x.len() != self.vars.len() || grad.len() != self.vars.len() {
            grad.fill(nan());
            return nan();
        }
        self.program.value_and_gradient(x, grad)
    }

    fn has_hessian(&self) -> bool {
        true
    }

    fn hessian(&self, x: &[T], hess: &mut [T]) -> Result<()> {
        let d = self.vars.len();
        check_hessian_lengths(d, x.len(), hess.len())?;
        let bytes = self.tape.peak_jets().saturating_mul((d * d + d) * 8);
        if bytes > MAX_HESSIAN_BYTES {
            return Err(Error::out_of_range(
                "expr Hessian working memory",
                format!("{} MiB", bytes >> 20),
                &format!("[0, {}] MiB (a shorter formula or fewer variables)", MAX_HESSIAN_BYTES >> 20),
            ));
        }
        let x64: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        let mut g = vec![0.0; d];
        let mut h = vec![0.0; d * d];
        self.tape.hessian(&x64, d, &mut g, &mut h);
        for (o, v) in hess.iter_mut().zip(h) {
            *o = T::from_f64(v);
        }
        Ok(())
    }
}

impl Landscape for Expression {
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

    /// Runs `f` on a thread with a 2 MiB stack (Rust's default for spawned threads and tokio's
    /// blocking pool), where a recursion over a 100,000-deep tree would overflow.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new().stack_size(2 << 20).spawn(f).unwrap().join().unwrap();
    }

    #[test]
    fn long_operator_chains_parse_compile_differentiate_print_and_drop_on_a_small_stack() {
        on_small_stack(|| {
            let n = 100_000usize;
            let nf = n as f64;
            let chain = |op: &str| vec!["x"; n].join(op);
            // x+x+...+x = n x: gradient n, Hessian 0.
            let e = Expression::parse(&chain("+"), None).unwrap();
            let mut g = [0.0];
            assert_eq!(e.value_and_gradient(&[1.5f64], &mut g), 1.5 * nf);
            assert_eq!(g[0], nf);
            let mut h = [1.0];
            Objective::<f64>::hessian(&e, &[1.5], &mut h).unwrap();
            assert_eq!(h[0], 0.0);
            // x*x*...*x = x^n: at x = 1 the value is 1, f' = n and f'' = n (n - 1), all exact.
            let e = Expression::parse(&chain("*"), None).unwrap();
            assert_eq!(e.value_and_gradient(&[1.0f64], &mut g), 1.0);
            assert_eq!(g[0], nf);
            Objective::<f64>::hessian(&e, &[1.0], &mut h).unwrap();
            assert_eq!(h[0], nf * (nf - 1.0));
            // x-x-...-x = (2 - n) x; x/x/.../x = x^(2 - n), which is 1 at x = 1 with f' = 2 - n.
            let e = Expression::parse(&chain("-"), None).unwrap();
            assert_eq!(e.value_and_gradient(&[2.0f64], &mut g), 2.0 * (2.0 - nf));
            assert_eq!(g[0], 2.0 - nf);
            let e = Expression::parse(&chain("/"), None).unwrap();
            assert_eq!(e.value_and_gradient(&[1.0f64], &mut g), 1.0);
            assert_eq!(g[0], 2.0 - nf);
            // Two variables interleaved, with parentheses at depth 1: sum of k (x + y) = n(n+1)/2 (x+y).
            let text: Vec<String> = (1..=n / 10).map(|k| format!("{k}*(x+y)")).collect();
            let e = Expression::parse(&text.join("+"), None).unwrap();
            let m = (n / 10) as f64;
            let mut g2 = [0.0; 2];
            assert_eq!(e.value_and_gradient(&[1.0f64, 0.5], &mut g2), m * (m + 1.0) / 2.0 * 1.5);
            assert_eq!(g2, [m * (m + 1.0) / 2.0; 2]);
            // Printing, cloning, comparing and dropping the 100,000-deep tree.
            let ast = parse(&chain("+")).unwrap();
            let text = ast.to_string();
            // n letters and, per operator, "(", " + " and ")".
            assert_eq!(text.len(), n + 5 * (n - 1));
            assert!(
                text[..n - 1].bytes().all(|c| c == b'(')
                    && text[n - 2..].starts_with("(x + x) + x) + x)")
                    && text.ends_with(") + x)")
            );
            let copy = ast.clone();
            assert!(copy == ast);
            assert!(format!("{copy:?}").starts_with("Bin(Add, Bin(Add, Bin(Add,"));
            drop(copy);
            let other = parse(&(chain("+") + "+y")).unwrap();
            assert!(other != ast);
        });
    }

    #[test]
    fn deep_nesting_and_overlong_formulas_are_refused_in_one_short_message() {
        on_small_stack(|| {
            for text in [
                "-".repeat(24_000) + "x",
                "(".repeat(24_000) + "x" + &")".repeat(24_000),
                vec!["x"; 24_000].join("^"),
                "sin(".repeat(300) + "x" + &")".repeat(300),
            ] {
                let err = Expression::parse(&text, None).unwrap_err().to_string();
                assert!(err.contains("nested deeper than 200 levels"), "{}", &err[..err.len().min(300)]);
                // The message shows the neighbourhood of the culprit, not the whole formula.
                assert!(err.len() < 300, "{} bytes: {err}", err.len());
                assert!(err.contains("...") && err.ends_with('^'), "{err}");
            }
            // Within the limit the same shapes work: 100 unary minuses is x, 150 parentheses too.
            let e = Expression::parse(&("-".repeat(100) + "x"), None).unwrap();
            assert_eq!(Objective::<f64>::value(&e, &[3.0]), 3.0);
            let e = Expression::parse(&("(".repeat(150) + "x" + &")".repeat(150)), None).unwrap();
            assert_eq!(Objective::<f64>::value(&e, &[3.0]), 3.0);
        });
        let long = "x+".repeat(MAX_FORMULA_LEN / 2) + "x";
        let err = Expression::parse(&long, None).unwrap_err().to_string();
        assert_eq!(err, format!("expr length: {} bytes is not in [1, {MAX_FORMULA_LEN}] bytes", long.len()));
        assert!(parse(&long).unwrap_err().message.contains("at most 1048576"));
    }

    #[test]
    fn the_hessian_frees_jets_after_their_last_use_and_refuses_what_would_not_fit() {
        // A chain keeps two jets alive (the running sum and the next operand), whatever its length.
        let e = Expression::parse(&vec!["x"; 1000].join("+"), None).unwrap();
        assert!(e.tape.peak_jets() <= 3, "{}", e.tape.peak_jets());
        // 64 variables and 40,000 distinct subexpressions, all used again in the second half: each
        // jet is 64^2 + 64 numbers, and 40,000 alive at once (1.3 GB) exceed the 1 GiB allowance.
        let vars: Vec<String> = (0..64).map(|i| format!("v{i}")).collect();
        let terms: Vec<String> = (0..40_000).map(|k| format!("{}*{}", vars[k % 64], k + 2)).collect();
        let text = format!("({}) * ({})", terms.join("+"), terms.join("*"));
        assert!(text.len() <= MAX_FORMULA_LEN);
        let e = Expression::parse(&text, Some(&vars)).unwrap();
        assert!(e.tape.peak_jets() > 40_000, "{}", e.tape.peak_jets());
        let mut h = vec![0.0; 64 * 64];
        let err = Objective::<f64>::hessian(&e, &[0.1; 64], &mut h).unwrap_err().to_string();
        assert!(
            err.starts_with("expr Hessian working memory: ") && err.contains("is not in [0, 1024] MiB"),
            "{err}"
        );
    }

    /// Generated hostile formulas: long chains of every operator, nesting around the limit,
    /// huge and tiny numbers, long names, stray Unicode. Each parses or is refused in a short
    /// message; what parses evaluates its value, gradient and Hessian; nothing panics or
    /// overflows a 2 MiB stack.
    #[test]
    fn hostile_formulas_parse_or_fail_cleanly() {
        on_small_stack(|| {
            let mut rng = crate::rng::Rng::new(1616);
            let atoms = [
                "x",
                "y",
                "z1",
                "1e308",
                "1e999",
                "-1e308",
                "0.0000000001",
                "4.9e-324",
                "pi",
                "e",
                "sqrt(x)",
                "log(y)",
                "min(x,y)",
                "max(x,1e300)",
                "x^1e308",
                "0^0",
                "(x)",
                "abs(-x)",
                "a_very_long_name_x",
                "β",
            ];
            let junk = ["x²", "1..2", "", "$", ")", "(", ",", "sin", "e+", "9e99999"];
            let ops = ["+", "-", "*", "/", "^"];
            let (mut parsed, mut refused) = (0, 0);
            for case in 0..150 {
                let mut text = String::new();
                let terms = [1, 2, 50, 3_000, 20_000][rng.below(5) as usize];
                let op = ops[rng.below(4) as usize];
                for t in 0..terms {
                    if t > 0 {
                        text.push_str(if rng.below(10) == 0 { ops[rng.below(5) as usize] } else { op });
                    }
                    text.push_str(atoms[rng.below(atoms.len() as u64) as usize]);
                }
                // Wrap in nesting of a random kind and depth around the 200-level limit.
                let depth = [0, 5, 150, 199, 201, 5_000][rng.below(6) as usize];
                let (open, close) = [("(", ")"), ("-(", ")"), ("sin(", ")"), ("max(x,", ")"), ("2^(", ")")]
                    [rng.below(5) as usize];
                text = open.repeat(depth) + &text + &close.repeat(depth);
                if case % 3 == 1 {
                    // Something malformed somewhere.
                    let at = rng.below(text.chars().count() as u64 + 1) as usize;
                    let (head, tail): (String, String) =
                        (text.chars().take(at).collect(), text.chars().skip(at).collect());
                    text = head + junk[rng.below(junk.len() as u64) as usize] + &tail;
                }
                if case % 7 == 0 {
                    // Cut it anywhere (on a character boundary).
                    let cut = rng.below(text.chars().count() as u64 + 1) as usize;
                    text = text.chars().take(cut).collect();
                }
                match Expression::parse(&text, None) {
                    Ok(e) => {
                        parsed += 1;
                        let d = e.variables().len();
                        let x: Vec<f64> = (0..d).map(|_| rng.range(-2.0, 2.0)).collect();
                        let mut g = vec![0.0; d];
                        let mut h = vec![0.0; d * d];
                        let v = e.value_and_gradient(&x, &mut g);
                        assert!(v.to_bits() == e.value(&x).to_bits() || v.is_nan());
                        Objective::<f64>::hessian(&e, &x, &mut h).unwrap();
                        let _ = Objective::<f32>::value(&e, &x.iter().map(|&v| v as f32).collect::<Vec<_>>());
                        assert!(!e.ast().to_string().is_empty());
                        let copy = e.clone();
                        assert!(copy.ast() == e.ast());
                    }
                    Err(err) => {
                        refused += 1;
                        let msg = err.to_string();
                        assert!(msg.starts_with("expr"), "{msg}");
                        assert!(msg.len() < 400, "{} bytes: {}", msg.len(), &msg[..200]);
                    }
                }
            }
            assert!(parsed > 20 && refused > 20, "{parsed} parsed, {refused} refused");
        });
    }
}
