//! A compiled formula: a straight-line program (tape) in single-assignment form.

use std::collections::HashMap;

use super::parse::{Ast, BinOp, Func, Func2};
use crate::real::Real;

/// One instruction; operands index earlier slots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Ins {
    Const(f64),
    Var(usize),
    Neg(usize),
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    Div(usize, usize),
    /// `a*a`, which is how numpy squares (`x**2` on arrays).
    Square(usize),
    /// `a^c` for a constant `c` other than 2 (libm pow).
    PowC(usize, f64),
    /// `a^b`, both varying.
    Pow(usize, usize),
    F(Func, usize),
    Min(usize, usize),
    Max(usize, usize),
    // A constant operand as an immediate, only in a [`Program`]: `v[a] + c`, `c - v[a]`,
    // `v[a] - c`, `v[a] * c`, `c / v[a]`, `v[a] / c`.
    AddC(usize, f64),
    SubCL(f64, usize),
    SubCR(usize, f64),
    MulC(usize, f64),
    DivCL(f64, usize),
    DivCR(usize, f64),
}

/// Hashable identity of an instruction, for sharing common subexpressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Var(usize),
    Neg(usize),
    Bin(u8, usize, usize),
    PowC(usize, u64),
    F(Func, usize),
    Imm(u8, usize, u64),
}

fn key(ins: &Ins) -> Key {
    match *ins {
        Ins::Const(c) => Key::Const(c.to_bits()),
        Ins::Var(i) => Key::Var(i),
        Ins::Neg(a) => Key::Neg(a),
        Ins::Add(a, b) => Key::Bin(0, a, b),
        Ins::Sub(a, b) => Key::Bin(1, a, b),
        Ins::Mul(a, b) => Key::Bin(2, a, b),
        Ins::Div(a, b) => Key::Bin(3, a, b),
        Ins::Square(a) => Key::Bin(4, a, a),
        Ins::Pow(a, b) => Key::Bin(5, a, b),
        Ins::Min(a, b) => Key::Bin(6, a, b),
        Ins::Max(a, b) => Key::Bin(7, a, b),
        Ins::PowC(a, c) => Key::PowC(a, c.to_bits()),
        Ins::F(f, a) => Key::F(f, a),
        Ins::AddC(a, c) => Key::Imm(0, a, c.to_bits()),
        Ins::SubCL(c, a) => Key::Imm(1, a, c.to_bits()),
        Ins::SubCR(a, c) => Key::Imm(2, a, c.to_bits()),
        Ins::MulC(a, c) => Key::Imm(3, a, c.to_bits()),
        Ins::DivCL(c, a) => Key::Imm(4, a, c.to_bits()),
        Ins::DivCR(a, c) => Key::Imm(5, a, c.to_bits()),
    }
}

/// Tapes up to this many slots evaluate with stack buffers.
pub(crate) const STACK_SLOTS: usize = 64;

/// Runs `f` with two zeroed scratch buffers of length `n`: on the stack up to [`STACK_SLOTS`]
/// (sized in two steps, so that small formulas clear little), on the heap beyond.
fn with_scratch<T: Real, R>(n: usize, f: impl FnOnce(&mut [T], &mut [T]) -> R) -> R {
    if n <= 16 {
        let (mut a, mut b) = ([T::ZERO; 16], [T::ZERO; 16]);
        f(&mut a[..n], &mut b[..n])
    } else if n <= STACK_SLOTS {
        let (mut a, mut b) = ([T::ZERO; STACK_SLOTS], [T::ZERO; STACK_SLOTS]);
        f(&mut a[..n], &mut b[..n])
    } else {
        let (mut a, mut b) = (vec![T::ZERO; n], vec![T::ZERO; n]);
        f(&mut a, &mut b)
    }
}

/// The compiled program; the last slot is the result.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tape {
    pub ins: Vec<Ins>,
    /// The slot holding the result (shared subexpressions can make it any slot).
    pub out: usize,
}

struct Builder<'a> {
    tape: Vec<Ins>,
    seen: HashMap<Key, usize>,
    vars: &'a [String],
}

fn apply_func<T: Real>(f: Func, x: T) -> T {
    match f {
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Exp => x.exp(),
        Func::Log => x.ln(),
        Func::Sqrt => x.sqrt(),
        Func::Abs => x.abs(),
        Func::Tanh => x.tanh(),
        Func::Sinh => x.sinh(),
        Func::Cosh => x.cosh(),
        Func::Atan => x.atan(),
    }
}

/// First and second derivative of `f` at `x`, given `y = f(x)`.
fn func_derivatives(f: Func, x: f64, y: f64) -> (f64, f64) {
    match f {
        Func::Sin => (x.cos(), -y),
        Func::Cos => (-x.sin(), -y),
        Func::Tan => (1.0 + y * y, 2.0 * y * (1.0 + y * y)),
        Func::Exp => (y, y),
        Func::Log => (1.0 / x, -1.0 / (x * x)),
        Func::Sqrt => (0.5 / y, -0.25 / (y * x)),
        Func::Abs => (x.sign_or_zero(), 0.0),
        Func::Tanh => (1.0 - y * y, -2.0 * y * (1.0 - y * y)),
        Func::Sinh => (x.cosh(), y),
        Func::Cosh => (x.sinh(), y),
        Func::Atan => (1.0 / (1.0 + x * x), -2.0 * x / ((1.0 + x * x) * (1.0 + x * x))),
    }
}

trait SignOrZero {
    fn sign_or_zero(self) -> Self;
}

impl SignOrZero for f64 {
    fn sign_or_zero(self) -> f64 {
        Real::sign(self)
    }
}

impl<'a> Builder<'a> {
    fn push(&mut self, ins: Ins) -> usize {
        // Fold instructions whose operands are all constants.
        let c = |i: usize| match self.tape[i] {
            Ins::Const(v) => Some(v),
            _ => None,
        };
        let folded = match ins {
            Ins::Neg(a) => c(a).map(|x| -x),
            Ins::Add(a, b) => c(a).zip(c(b)).map(|(x, y)| x + y),
            Ins::Sub(a, b) => c(a).zip(c(b)).map(|(x, y)| x - y),
            Ins::Mul(a, b) => c(a).zip(c(b)).map(|(x, y)| x * y),
            Ins::Div(a, b) => c(a).zip(c(b)).map(|(x, y)| x / y),
            Ins::Square(a) => c(a).map(|x| x * x),
            Ins::PowC(a, p) => c(a).map(|x| x.powf(p)),
            Ins::Pow(a, b) => c(a).zip(c(b)).map(|(x, y)| x.powf(y)),
            Ins::F(f, a) => c(a).map(|x| apply_func(f, x)),
            Ins::Min(a, b) => c(a).zip(c(b)).map(|(x, y)| if x <= y { x } else { y }),
            Ins::Max(a, b) => c(a).zip(c(b)).map(|(x, y)| if x >= y { x } else { y }),
            Ins::AddC(a, y) => c(a).map(|x| x + y),
            Ins::SubCL(x, a) => c(a).map(|y| x - y),
            Ins::SubCR(a, y) => c(a).map(|x| x - y),
            Ins::MulC(a, y) => c(a).map(|x| x * y),
            Ins::DivCL(x, a) => c(a).map(|y| x / y),
            Ins::DivCR(a, y) => c(a).map(|x| x / y),
            Ins::Const(_) | Ins::Var(_) => None,
        };
        let ins = folded.map(Ins::Const).unwrap_or(ins);
        let k = key(&ins);
        if let Some(&i) = self.seen.get(&k) {
            return i;
        }
        self.tape.push(ins);
        let i = self.tape.len() - 1;
        self.seen.insert(k, i);
        i
    }

    /// One node, given its operands' slots.
    fn node(&mut self, ast: &Ast, a: Option<usize>, b: Option<usize>) -> usize {
        let (a, b) = (a.unwrap_or(usize::MAX), b.unwrap_or(usize::MAX));
        match ast {
            Ast::Num(v) => self.push(Ins::Const(*v)),
            Ast::Var(name) => {
                let i = self
                    .vars
                    .iter()
                    .position(|v| v == name)
                    .expect("variables are collected before compiling");
                self.push(Ins::Var(i))
            }
            Ast::Neg(_) => self.push(Ins::Neg(a)),
            Ast::Bin(BinOp::Pow, ..) => match self.tape[b] {
                Ins::Const(2.0) => self.push(Ins::Square(a)),
                Ins::Const(1.0) => a,
                Ins::Const(p) => self.push(Ins::PowC(a, p)),
                _ => self.push(Ins::Pow(a, b)),
            },
            Ast::Bin(op, ..) => self.push(match op {
                BinOp::Add => Ins::Add(a, b),
                BinOp::Sub => Ins::Sub(a, b),
                BinOp::Mul => Ins::Mul(a, b),
                BinOp::Div => Ins::Div(a, b),
                BinOp::Pow => unreachable!("handled above"),
            }),
            Ast::Call(f, _) => self.push(Ins::F(*f, a)),
            Ast::Call2(f, ..) => self.push(if *f == Func2::Min { Ins::Min(a, b) } else { Ins::Max(a, b) }),
        }
    }
}

/// The slots an instruction reads.
fn operands(ins: &Ins) -> [Option<usize>; 2] {
    match *ins {
        Ins::Const(_) | Ins::Var(_) => [None, None],
        Ins::Neg(a)
        | Ins::Square(a)
        | Ins::PowC(a, _)
        | Ins::F(_, a)
        | Ins::AddC(a, _)
        | Ins::SubCL(_, a)
        | Ins::SubCR(a, _)
        | Ins::MulC(a, _)
        | Ins::DivCL(_, a)
        | Ins::DivCR(a, _) => [Some(a), None],
        Ins::Add(a, b)
        | Ins::Sub(a, b)
        | Ins::Mul(a, b)
        | Ins::Div(a, b)
        | Ins::Pow(a, b)
        | Ins::Min(a, b)
        | Ins::Max(a, b) => [Some(a), Some(b)],
    }
}

impl Tape {
    pub fn compile(ast: &Ast, vars: &[String]) -> Tape {
        let mut b = Builder { tape: Vec::new(), seen: HashMap::new(), vars };
        // Bottom-up without recursion, in the order a recursive walk would take.
        let out = ast.fold(|node, x, y| b.node(node, x, y));
        let mut ins = b.tape;
        ins.truncate(out + 1);
        Tape { ins, out }
    }

    /// For each slot, the last instruction that reads it (itself if none does; `usize::MAX`
    /// for the result, which is read at the end).
    fn last_uses(&self) -> Vec<usize> {
        let mut last: Vec<usize> = (0..self.ins.len()).collect();
        for (k, ins) in self.ins.iter().enumerate() {
            for a in operands(ins).into_iter().flatten() {
                last[a] = k;
            }
        }
        if let Some(l) = last.get_mut(self.out) {
            *l = usize::MAX;
        }
        last
    }

    /// The most jets [`Tape::hessian`] holds at once (each is freed after its last use).
    pub fn peak_jets(&self) -> usize {
        let last = self.last_uses();
        let mut freed_at = vec![0usize; self.ins.len()];
        for &l in &last {
            if l != usize::MAX {
                freed_at[l] += 1;
            }
        }
        let (mut live, mut peak) = (0usize, 0usize);
        for freed in freed_at {
            live += 1;
            peak = peak.max(live);
            live -= freed;
        }
        peak
    }

    /// Value, gradient and Hessian by forward-mode second-order jets, in f64. A jet is dropped
    /// after its last use, so memory follows [`Tape::peak_jets`], not the tape's length.
    pub fn hessian(&self, x: &[f64], d: usize, grad: &mut [f64], hess: &mut [f64]) -> f64 {
        let last = self.last_uses();
        let mut jets: Vec<Jet> = Vec::with_capacity(self.ins.len());
        for (k, ins) in self.ins.iter().enumerate() {
            let j = match *ins {
                Ins::Const(c) => Jet::constant(c, d),
                Ins::Var(i) => Jet::variable(x[i], i, d),
                Ins::Neg(a) => jets[a].scale(-1.0),
                Ins::Add(a, b) => jets[a].add(&jets[b], 1.0),
                Ins::Sub(a, b) => jets[a].add(&jets[b], -1.0),
                Ins::Mul(a, b) => jets[a].mul(&jets[b]),
                Ins::Div(a, b) => {
                    let r = 1.0 / jets[b].v;
                    let inv = jets[b].chain(r, -r * r, 2.0 * r * r * r);
                    jets[a].mul(&inv)
                }
                Ins::Square(a) => {
                    let u = jets[a].v;
                    jets[a].chain(u * u, 2.0 * u, 2.0)
                }
                Ins::PowC(a, p) => {
                    let u = jets[a].v;
                    jets[a].chain(u.powf(p), p * u.powf(p - 1.0), p * (p - 1.0) * u.powf(p - 2.0))
                }
                Ins::Pow(a, b) => {
                    // a^b = exp(b * ln a)
                    let u = jets[a].v;
                    let ln = jets[a].chain(u.ln(), 1.0 / u, -1.0 / (u * u));
                    let e = jets[b].mul(&ln);
                    let y = e.v.exp();
                    e.chain(y, y, y)
                }
                Ins::F(f, a) => {
                    let u = jets[a].v;
                    let y = apply_func(f, u);
                    let (d1, d2) = func_derivatives(f, u, y);
                    jets[a].chain(y, d1, d2)
                }
                Ins::AddC(a, c) => jets[a].add(&Jet::constant(c, d), 1.0),
                Ins::SubCR(a, c) => jets[a].add(&Jet::constant(c, d), -1.0),
                Ins::SubCL(c, a) => Jet::constant(c, d).add(&jets[a], -1.0),
                Ins::MulC(a, c) => jets[a].scale(c),
                Ins::DivCR(a, c) => jets[a].mul(&Jet::constant(1.0 / c, d)),
                Ins::DivCL(c, a) => {
                    let r = 1.0 / jets[a].v;
                    jets[a].chain(r, -r * r, 2.0 * r * r * r).scale(c)
                }
                Ins::Min(a, b) => {
                    if jets[a].v <= jets[b].v {
                        jets[a].clone()
                    } else {
                        jets[b].clone()
                    }
                }
                Ins::Max(a, b) => {
                    if jets[a].v >= jets[b].v {
                        jets[a].clone()
                    } else {
                        jets[b].clone()
                    }
                }
            };
            jets.push(j);
            for a in operands(ins).into_iter().flatten().chain([k]) {
                if last[a] == k {
                    jets[a] = Jet::spent();
                }
            }
        }
        let out = jets.swap_remove(self.out);
        grad.copy_from_slice(&out.g);
        hess.copy_from_slice(&out.h);
        out.v
    }
}

/// A tape rewritten for evaluating values and gradients: a constant that only feeds `+ - * /`
/// becomes an immediate operand of the instruction using it, so it takes no slot, is not stored
/// and gets no adjoint. Every remaining operation is the tape's operation on the same values
/// (`c * x` and `x * c` are the same IEEE product), so values and gradients are bit-identical to
/// the tape's (tested); the Hessian still runs on the tape.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    ops: Vec<Ins>,
    out: usize,
}

impl Program {
    pub fn new(tape: &Tape) -> Program {
        Program::build(tape, true)
    }

    /// With `immediates == false`, every constant keeps its slot and each instruction is the
    /// tape's one for one: the tape evaluated as it was before the rewrite, which tests compare
    /// the rewritten program against.
    fn build(tape: &Tape, immediates: bool) -> Program {
        let konst = |i: usize| match tape.ins[i] {
            Ins::Const(c) if immediates => Some(c),
            _ => None,
        };
        // Constants that something other than + - * / with one varying operand reads, or that
        // are the result, keep their slot.
        let mut needs_slot = vec![!immediates; tape.ins.len()];
        needs_slot[tape.out] = true;
        for ins in &tape.ins {
            match *ins {
                Ins::Add(a, b) | Ins::Sub(a, b) | Ins::Mul(a, b) | Ins::Div(a, b) => {
                    if konst(a).is_some() && konst(b).is_some() {
                        needs_slot[a] = true;
                        needs_slot[b] = true;
                    }
                }
                Ins::Neg(a) | Ins::Square(a) | Ins::PowC(a, _) | Ins::F(_, a) => needs_slot[a] = true,
                Ins::Pow(a, b) | Ins::Min(a, b) | Ins::Max(a, b) => {
                    needs_slot[a] = true;
                    needs_slot[b] = true;
                }
                Ins::Const(_)
                | Ins::Var(_)
                | Ins::AddC(..)
                | Ins::SubCL(..)
                | Ins::SubCR(..)
                | Ins::MulC(..)
                | Ins::DivCL(..)
                | Ins::DivCR(..) => {}
            }
        }
        let mut slot = vec![usize::MAX; tape.ins.len()];
        let mut ops = Vec::with_capacity(tape.ins.len());
        for (i, ins) in tape.ins.iter().enumerate() {
            let s = |j: usize| slot[j];
            let op = match *ins {
                Ins::Const(c) if needs_slot[i] => Ins::Const(c),
                Ins::Const(_) => continue,
                Ins::Var(k) => Ins::Var(k),
                Ins::Neg(a) => Ins::Neg(s(a)),
                Ins::Add(a, b) => match (konst(a), konst(b)) {
                    (Some(c), None) => Ins::AddC(s(b), c),
                    (None, Some(c)) => Ins::AddC(s(a), c),
                    _ => Ins::Add(s(a), s(b)),
                },
                Ins::Sub(a, b) => match (konst(a), konst(b)) {
                    (Some(c), None) => Ins::SubCL(c, s(b)),
                    (None, Some(c)) => Ins::SubCR(s(a), c),
                    _ => Ins::Sub(s(a), s(b)),
                },
                Ins::Mul(a, b) => match (konst(a), konst(b)) {
                    (Some(c), None) => Ins::MulC(s(b), c),
                    (None, Some(c)) => Ins::MulC(s(a), c),
                    _ => Ins::Mul(s(a), s(b)),
                },
                Ins::Div(a, b) => match (konst(a), konst(b)) {
                    (Some(c), None) => Ins::DivCL(c, s(b)),
                    (None, Some(c)) => Ins::DivCR(s(a), c),
                    _ => Ins::Div(s(a), s(b)),
                },
                Ins::Square(a) => Ins::Square(s(a)),
                Ins::PowC(a, p) => Ins::PowC(s(a), p),
                Ins::Pow(a, b) => Ins::Pow(s(a), s(b)),
                Ins::F(f, a) => Ins::F(f, s(a)),
                Ins::Min(a, b) => Ins::Min(s(a), s(b)),
                Ins::Max(a, b) => Ins::Max(s(a), s(b)),
                Ins::AddC(a, c) => Ins::AddC(s(a), c),
                Ins::SubCL(c, a) => Ins::SubCL(c, s(a)),
                Ins::SubCR(a, c) => Ins::SubCR(s(a), c),
                Ins::MulC(a, c) => Ins::MulC(s(a), c),
                Ins::DivCL(c, a) => Ins::DivCL(c, s(a)),
                Ins::DivCR(a, c) => Ins::DivCR(s(a), c),
            };
            slot[i] = ops.len();
            ops.push(op);
        }
        Program { out: slot[tape.out], ops }
    }

    /// Forward pass: every slot's value, into `v` (at least as long as the program).
    pub fn forward<T: Real>(&self, x: &[T], v: &mut [T]) {
        for (slot, op) in self.ops.iter().enumerate() {
            let y = match *op {
                Ins::Const(c) => T::from_f64(c),
                Ins::Var(i) => x[i],
                Ins::Neg(a) => -v[a],
                Ins::Add(a, b) => v[a] + v[b],
                Ins::Sub(a, b) => v[a] - v[b],
                Ins::Mul(a, b) => v[a] * v[b],
                Ins::Div(a, b) => v[a] / v[b],
                Ins::Square(a) => v[a] * v[a],
                Ins::PowC(a, p) => v[a].powf(T::from_f64(p)),
                Ins::Pow(a, b) => v[a].powf(v[b]),
                Ins::F(f, a) => apply_func(f, v[a]),
                Ins::Min(a, b) => {
                    if v[a] <= v[b] {
                        v[a]
                    } else {
                        v[b]
                    }
                }
                Ins::Max(a, b) => {
                    if v[a] >= v[b] {
                        v[a]
                    } else {
                        v[b]
                    }
                }
                Ins::AddC(a, c) => v[a] + T::from_f64(c),
                Ins::SubCL(c, a) => T::from_f64(c) - v[a],
                Ins::SubCR(a, c) => v[a] - T::from_f64(c),
                Ins::MulC(a, c) => v[a] * T::from_f64(c),
                Ins::DivCL(c, a) => T::from_f64(c) / v[a],
                Ins::DivCR(a, c) => v[a] / T::from_f64(c),
            };
            v[slot] = y;
        }
    }

    /// `f(x)`.
    pub fn value<T: Real>(&self, x: &[T]) -> T {
        with_scratch(self.ops.len(), |v: &mut [T], _| {
            self.forward(x, v);
            v[self.out]
        })
    }

    /// Value and gradient by one forward and one reverse sweep.
    pub fn value_and_gradient<T: Real>(&self, x: &[T], grad: &mut [T]) -> T {
        with_scratch(self.ops.len(), |v, adj| self.sweep(x, grad, v, adj))
    }

    fn sweep<T: Real>(&self, x: &[T], grad: &mut [T], v: &mut [T], adj: &mut [T]) -> T {
        self.forward(x, v);
        adj[self.out] = T::ONE;
        grad.iter_mut().for_each(|g| *g = T::ZERO);
        for i in (0..=self.out).rev() {
            let g = adj[i];
            if g == T::ZERO {
                continue;
            }
            match self.ops[i] {
                Ins::Const(_) => {}
                Ins::Var(k) => grad[k] += g,
                Ins::Neg(a) | Ins::SubCL(_, a) => adj[a] -= g,
                Ins::AddC(a, _) | Ins::SubCR(a, _) => adj[a] += g,
                Ins::Add(a, b) => {
                    adj[a] += g;
                    adj[b] += g;
                }
                Ins::Sub(a, b) => {
                    adj[a] += g;
                    adj[b] -= g;
                }
                Ins::Mul(a, b) => {
                    adj[a] += g * v[b];
                    adj[b] += g * v[a];
                }
                Ins::MulC(a, c) => adj[a] += g * T::from_f64(c),
                Ins::Div(a, b) => {
                    adj[a] += g / v[b];
                    adj[b] -= g * v[i] / v[b];
                }
                Ins::DivCL(_, a) => adj[a] -= g * v[i] / v[a],
                Ins::DivCR(a, c) => adj[a] += g / T::from_f64(c),
                Ins::Square(a) => adj[a] += g * (T::from_f64(2.0) * v[a]),
                Ins::PowC(a, p) => adj[a] += g * T::from_f64(p) * v[a].powf(T::from_f64(p - 1.0)),
                Ins::Pow(a, b) => {
                    adj[a] += g * v[b] * v[a].powf(v[b] - T::ONE);
                    if v[i] != T::ZERO {
                        adj[b] += g * v[i] * v[a].ln();
                    }
                }
                Ins::F(f, a) => adj[a] += g * func_derivative(f, v[a], v[i]),
                Ins::Min(a, b) => {
                    if v[a] <= v[b] {
                        adj[a] += g
                    } else {
                        adj[b] += g
                    }
                }
                Ins::Max(a, b) => {
                    if v[a] >= v[b] {
                        adj[a] += g
                    } else {
                        adj[b] += g
                    }
                }
            }
        }
        v[self.out]
    }
}

/// `f'(x)` given `y = f(x)`, in the reverse sweep's precision.
fn func_derivative<T: Real>(f: Func, x: T, y: T) -> T {
    match f {
        Func::Sin => x.cos(),
        Func::Cos => -x.sin(),
        Func::Tan => T::ONE + y * y,
        Func::Exp => y,
        Func::Log => T::ONE / x,
        Func::Sqrt => T::from_f64(0.5) / y,
        Func::Abs => x.sign(),
        Func::Tanh => T::ONE - y * y,
        Func::Sinh => x.cosh(),
        Func::Cosh => x.sinh(),
        Func::Atan => T::ONE / (T::ONE + x * x),
    }
}

/// A value with its gradient and Hessian with respect to the `d` variables.
#[derive(Debug, Clone)]
struct Jet {
    v: f64,
    g: Vec<f64>,
    h: Vec<f64>,
}

impl Jet {
    /// A jet no instruction reads any more, holding no memory.
    fn spent() -> Jet {
        Jet { v: 0.0, g: Vec::new(), h: Vec::new() }
    }

    fn constant(v: f64, d: usize) -> Jet {
        Jet { v, g: vec![0.0; d], h: vec![0.0; d * d] }
    }

    fn variable(v: f64, i: usize, d: usize) -> Jet {
        let mut j = Jet::constant(v, d);
        j.g[i] = 1.0;
        j
    }

    fn scale(&self, s: f64) -> Jet {
        Jet {
            v: s * self.v,
            g: self.g.iter().map(|x| s * x).collect(),
            h: self.h.iter().map(|x| s * x).collect(),
        }
    }

    fn add(&self, o: &Jet, s: f64) -> Jet {
        Jet {
            v: self.v + s * o.v,
            g: self.g.iter().zip(&o.g).map(|(a, b)| a + s * b).collect(),
            h: self.h.iter().zip(&o.h).map(|(a, b)| a + s * b).collect(),
        }
    }

    fn mul(&self, o: &Jet) -> Jet {
        let d = self.g.len();
        let mut h = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                h[i * d + j] = self.v * o.h[i * d + j]
                    + o.v * self.h[i * d + j]
                    + self.g[i] * o.g[j]
                    + o.g[i] * self.g[j];
            }
        }
        Jet { v: self.v * o.v, g: self.g.iter().zip(&o.g).map(|(a, b)| self.v * b + o.v * a).collect(), h }
    }

    /// `f(self)` given `f`, `f'` and `f''` at `self.v`.
    fn chain(&self, y: f64, d1: f64, d2: f64) -> Jet {
        let d = self.g.len();
        let mut h = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                h[i * d + j] = d2 * self.g[i] * self.g[j] + d1 * self.h[i * d + j];
            }
        }
        Jet { v: y, g: self.g.iter().map(|x| d1 * x).collect(), h }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse::{BinOp, Func2};
    use crate::rng::Rng;

    const FUNCS: [Func; 11] = [
        Func::Sin,
        Func::Cos,
        Func::Tan,
        Func::Exp,
        Func::Log,
        Func::Sqrt,
        Func::Abs,
        Func::Tanh,
        Func::Sinh,
        Func::Cosh,
        Func::Atan,
    ];

    fn random_ast(rng: &mut Rng, depth: u32) -> Ast {
        let leaf = depth == 0 || rng.uniform() < 0.25;
        if leaf {
            return match (rng.uniform() * 4.0) as u32 {
                0 => Ast::Var("x".into()),
                1 => Ast::Var("y".into()),
                2 => Ast::Num([2.0, 0.5, -3.0, 100.0, 1.0, 0.0][(rng.uniform() * 6.0) as usize % 6]),
                _ => Ast::Num(rng.range(-5.0, 5.0)),
            };
        }
        let sub = |rng: &mut Rng| Box::new(random_ast(rng, depth - 1));
        match (rng.uniform() * 10.0) as u32 {
            0 => Ast::Neg(sub(rng)),
            1 => Ast::Call(FUNCS[(rng.uniform() * 11.0) as usize % 11], sub(rng)),
            2 => Ast::Call2(if rng.uniform() < 0.5 { Func2::Min } else { Func2::Max }, sub(rng), sub(rng)),
            3 => Ast::Bin(BinOp::Pow, sub(rng), sub(rng)),
            4 => Ast::Bin(
                BinOp::Pow,
                sub(rng),
                Box::new(Ast::Num([2.0, 3.0, 0.5, 1.0][(rng.uniform() * 4.0) as usize % 4])),
            ),
            k => {
                let op = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::Mul][(k - 5) as usize];
                Ast::Bin(op, sub(rng), sub(rng))
            }
        }
    }

    fn same<T: Real>(a: T, b: T) -> bool {
        a.to_f64().to_bits() == b.to_f64().to_bits() || (a.to_f64().is_nan() && b.to_f64().is_nan())
    }

    fn check<T: Real>(tape: &Program, program: &Program, x: &[T], what: &str) {
        let (mut gt, mut gp) = ([T::ZERO; 2], [T::ZERO; 2]);
        let vt = tape.value_and_gradient(x, &mut gt);
        let vp = program.value_and_gradient(x, &mut gp);
        assert!(same(vt, vp), "{what}: value {vt} vs {vp}");
        assert!(same(gt[0], gp[0]) && same(gt[1], gp[1]), "{what}: gradient {gt:?} vs {gp:?}");
        assert!(same(program.value(x), vt), "{what}: value()");
    }

    #[test]
    fn the_program_computes_the_tapes_values_and_gradients_bit_for_bit() {
        let vars = ["x".to_string(), "y".to_string()];
        let mut rng = Rng::new(17);
        let mut folded = 0;
        for case in 0..4000 {
            let ast = random_ast(&mut rng, 1 + case % 5);
            let compiled = Tape::compile(&ast, &vars);
            let (tape, program) = (Program::build(&compiled, false), Program::new(&compiled));
            assert_eq!(tape.ops.len(), compiled.ins.len());
            folded += tape.ops.len() - program.ops.len();
            for _ in 0..8 {
                let x = [rng.range(-3.0, 3.0), rng.range(-3.0, 3.0)];
                check::<f64>(&tape, &program, &x, &format!("{ast:?} at {x:?}"));
                let x32 = [x[0] as f32, x[1] as f32];
                check::<f32>(&tape, &program, &x32, &format!("{ast:?} at {x32:?} (f32)"));
            }
        }
        // The rewrite did take constants out of slots in many of them.
        assert!(folded > 1000, "{folded}");
        // The forward-mode Hessian understands the immediates too: run it on the rewritten
        // instructions and compare with the original tape's.
        let mut compared = 0;
        for case in 0..2000 {
            let ast = random_ast(&mut rng, 1 + case % 4);
            let compiled = Tape::compile(&ast, &vars);
            let program = Program::new(&compiled);
            let rewritten = Tape { ins: program.ops.clone(), out: program.out };
            let x = [rng.range(-2.0, 2.0), rng.range(-2.0, 2.0)];
            let (mut g1, mut h1, mut g2, mut h2) = ([0.0; 2], [0.0; 4], [0.0; 2], [0.0; 4]);
            let v1 = compiled.hessian(&x, 2, &mut g1, &mut h1);
            let v2 = rewritten.hessian(&x, 2, &mut g2, &mut h2);
            let all: Vec<f64> = [v1].iter().chain(&g1).chain(&h1).copied().collect();
            if all.iter().any(|a| !a.is_finite() || a.abs() > 1e8) {
                continue;
            }
            compared += 1;
            let other: Vec<f64> = [v2].iter().chain(&g2).chain(&h2).copied().collect();
            for (a, b) in all.iter().zip(&other) {
                assert!((a - b).abs() <= 1e-9 * (1.0 + a.abs()), "{ast:?} at {x:?}: {all:?} vs {other:?}");
            }
        }
        assert!(compared > 1000, "{compared}");
        // The Rosenbrock formula keeps no constant slot.
        let ast = crate::expr::parse::parse("(1-x)^2 + 100*(y-x^2)^2").unwrap();
        let p = Program::new(&Tape::compile(&ast, &vars));
        assert!(p.ops.iter().all(|op| !matches!(op, Ins::Const(_))), "{:?}", p.ops);
    }
}
