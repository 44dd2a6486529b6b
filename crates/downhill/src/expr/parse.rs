//! Tokenizer and recursive-descent parser for formulas such as `(1-x)^2 + 10*(y-x^2)^2`.

use std::fmt;

/// A syntax tree node.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    /// A number literal (or `pi`, `e`).
    Num(f64),
    /// A variable by name.
    Var(String),
    /// `-a`.
    Neg(Box<Ast>),
    /// `a op b`.
    Bin(BinOp, Box<Ast>, Box<Ast>),
    /// `f(a)`.
    Call(Func, Box<Ast>),
    /// `min(a, b)` / `max(a, b)`.
    Call2(Func2, Box<Ast>, Box<Ast>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^`
    Pow,
}

/// One-argument functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// sine
    Sin,
    /// cosine
    Cos,
    /// tangent
    Tan,
    /// e^x
    Exp,
    /// natural logarithm
    Log,
    /// square root
    Sqrt,
    /// absolute value
    Abs,
    /// hyperbolic tangent
    Tanh,
    /// hyperbolic sine
    Sinh,
    /// hyperbolic cosine
    Cosh,
    /// arctangent
    Atan,
}

/// Two-argument functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func2 {
    /// smaller argument
    Min,
    /// larger argument
    Max,
}

/// The function names the parser knows.
pub const FUNCTIONS: &[&str] =
    &["sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh", "atan", "min", "max"];

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "exp" => Func::Exp,
            "log" | "ln" => Func::Log,
            "sqrt" => Func::Sqrt,
            "abs" => Func::Abs,
            "tanh" => Func::Tanh,
            "sinh" => Func::Sinh,
            "cosh" => Func::Cosh,
            "atan" => Func::Atan,
            _ => return None,
        })
    }

    /// The name as written in formulas.
    pub fn name(self) -> &'static str {
        match self {
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Tanh => "tanh",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Atan => "atan",
        }
    }
}

/// A syntax error at a character position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Character (not byte) offset of the offending character.
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
    End,
}

struct Lexer {
    toks: Vec<(Tok, usize)>,
}

fn lex(src: &str) -> Result<Lexer, SyntaxError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value = text.parse::<f64>().map_err(|_| SyntaxError {
                message: format!("malformed number '{text}'"),
                position: start,
            })?;
            toks.push((Tok::Num(value), start));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphabetic() || chars[i].is_ascii_digit() || chars[i] == '_')
            {
                i += 1;
            }
            toks.push((Tok::Ident(chars[start..i].iter().collect()), start));
        } else if "+-*/^(),".contains(c) {
            toks.push((Tok::Op(c), i));
            i += 1;
        } else {
            return Err(SyntaxError { message: format!("unexpected character '{c}'"), position: i });
        }
    }
    toks.push((Tok::End, chars.len()));
    Ok(Lexer { toks })
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

/// Nesting limit, so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn at(&self) -> usize {
        self.toks[self.pos].1
    }
    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError { message: message.into(), position: self.at() })
    }
    fn expect(&mut self, c: char) -> Result<(), SyntaxError> {
        if *self.peek() == Tok::Op(c) {
            self.bump();
            Ok(())
        } else {
            self.err(format!("expected '{c}'"))
        }
    }
    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("formula nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Ast, SyntaxError> {
        self.enter()?;
        let mut lhs = self.term()?;
        loop {
            let op = match self.peek() {
                Tok::Op('+') => BinOp::Add,
                Tok::Op('-') => BinOp::Sub,
                _ => break,
            };
            self.bump();
            let rhs = self.term()?;
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Ast, SyntaxError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op('*') => BinOp::Mul,
                Tok::Op('/') => BinOp::Div,
                _ => break,
            };
            self.bump();
            let rhs = self.unary()?;
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    /// Unary minus binds looser than `^`: `-x^2` is `-(x^2)`.
    fn unary(&mut self) -> Result<Ast, SyntaxError> {
        match self.peek() {
            Tok::Op('-') => {
                self.bump();
                self.enter()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Ast::Neg(Box::new(inner)))
            }
            Tok::Op('+') => {
                self.bump();
                self.unary()
            }
            _ => self.power(),
        }
    }

    /// `^` is right-associative and its exponent may carry a sign: `2^-x^2` is `2^(-(x^2))`.
    fn power(&mut self) -> Result<Ast, SyntaxError> {
        let base = self.atom()?;
        if *self.peek() == Tok::Op('^') {
            self.bump();
            self.enter()?;
            let exponent = self.unary()?;
            self.depth -= 1;
            return Ok(Ast::Bin(BinOp::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Ast, SyntaxError> {
        let start = self.at();
        match self.bump() {
            Tok::Num(v) => Ok(Ast::Num(v)),
            Tok::Op('(') => {
                let inner = self.expr()?;
                self.expect(')')?;
                Ok(inner)
            }
            Tok::Ident(name) => {
                if *self.peek() == Tok::Op('(') {
                    self.bump();
                    let lower = name.to_ascii_lowercase();
                    if lower == "min" || lower == "max" {
                        let a = self.expr()?;
                        self.expect(',')?;
                        let b = self.expr()?;
                        self.expect(')')?;
                        let f = if lower == "min" { Func2::Min } else { Func2::Max };
                        return Ok(Ast::Call2(f, Box::new(a), Box::new(b)));
                    }
                    let Some(f) = Func::from_name(&lower) else {
                        let hint = crate::error::closest(&lower, FUNCTIONS)
                            .map(|s| format!(" (did you mean '{s}'?)"))
                            .unwrap_or_default();
                        return Err(SyntaxError {
                            message: format!("unknown function '{name}'{hint}"),
                            position: start,
                        });
                    };
                    let a = self.expr()?;
                    if *self.peek() == Tok::Op(',') {
                        return self.err(format!("{} takes one argument", f.name()));
                    }
                    self.expect(')')?;
                    return Ok(Ast::Call(f, Box::new(a)));
                }
                match name.as_str() {
                    "pi" => Ok(Ast::Num(std::f64::consts::PI)),
                    "e" => Ok(Ast::Num(std::f64::consts::E)),
                    _ if Func::from_name(&name).is_some() || name == "min" || name == "max" => {
                        Err(SyntaxError {
                            message: format!("function '{name}' needs parentheses"),
                            position: start,
                        })
                    }
                    _ => Ok(Ast::Var(name)),
                }
            }
            Tok::End => Err(SyntaxError { message: "formula ends too early".into(), position: start }),
            Tok::Op(c) => Err(SyntaxError { message: format!("unexpected '{c}'"), position: start }),
        }
    }
}

/// Parses a formula.
pub fn parse(src: &str) -> Result<Ast, SyntaxError> {
    let lexer = lex(src)?;
    let mut p = Parser { toks: lexer.toks, pos: 0, depth: 0 };
    if *p.peek() == Tok::End {
        return p.err("empty formula");
    }
    let ast = p.expr()?;
    match p.peek() {
        Tok::End => Ok(ast),
        Tok::Op(')') => p.err("unmatched ')'"),
        _ => p.err("expected an operator"),
    }
}

impl fmt::Display for Ast {
    /// Fully parenthesized, so that printing and re-parsing gives the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ast::Num(v) => {
                if *v < 0.0 || (v.is_sign_negative() && *v == 0.0) {
                    write!(f, "(-{:?})", -v)
                } else {
                    write!(f, "{v:?}")
                }
            }
            Ast::Var(name) => write!(f, "{name}"),
            Ast::Neg(a) => write!(f, "(-{a})"),
            Ast::Bin(op, a, b) => {
                let c = match op {
                    BinOp::Add => '+',
                    BinOp::Sub => '-',
                    BinOp::Mul => '*',
                    BinOp::Div => '/',
                    BinOp::Pow => '^',
                };
                write!(f, "({a} {c} {b})")
            }
            Ast::Call(func, a) => write!(f, "{}({a})", func.name()),
            Ast::Call2(func, a, b) => {
                write!(f, "{}({a}, {b})", if *func == Func2::Min { "min" } else { "max" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(parse("-x^2").unwrap().to_string(), "(-(x ^ 2.0))");
        assert_eq!(parse("2^3^2").unwrap().to_string(), "(2.0 ^ (3.0 ^ 2.0))");
        assert_eq!(parse("a-b-c").unwrap().to_string(), "((a - b) - c)");
        assert_eq!(parse("a/b*c").unwrap().to_string(), "((a / b) * c)");
        assert_eq!(parse("2^-x").unwrap().to_string(), "(2.0 ^ (-x))");
        assert_eq!(parse("1.5e-3*x").unwrap().to_string(), "(0.0015 * x)");
        assert_eq!(parse("max(x, -y)").unwrap().to_string(), "max(x, (-y))");
    }

    #[test]
    fn errors_point_at_the_offending_character() {
        let cases = [
            ("(1-x", 4, "expected ')'"),
            ("x + * y", 4, "unexpected '*'"),
            ("x $ y", 2, "unexpected character '$'"),
            ("sinn(x)", 0, "did you mean 'sin'"),
            ("", 0, "empty"),
            ("x y", 2, "expected an operator"),
            ("x)", 1, "unmatched"),
            ("sin x", 0, "needs parentheses"),
            ("min(x)", 5, "expected ','"),
            ("1..2", 0, "malformed number"),
        ];
        for (src, pos, msg) in cases {
            let e = parse(src).unwrap_err();
            assert_eq!(e.position, pos, "{src}: {e:?}");
            assert!(e.message.contains(msg), "{src}: {}", e.message);
        }
        let deep = "(".repeat(10_000) + "x" + &")".repeat(10_000);
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
    }
}
