//! Line searches: how far to go along a descent direction.
//!
//! A direction method (L-BFGS, BFGS, conjugate gradient, Newton, gradient descent) picks a
//! direction `d` at `x`; a line search picks the step `alpha` along it by evaluating
//! `phi(alpha) = f(x + alpha d)` and its slope `phi'(alpha) = grad f(x + alpha d) . d`. Both
//! searches here are values of their own that any method (or a user) can call:
//!
//! - [`Armijo`]: backtracking from the initial step, `alpha <- shrink * alpha`, until the
//!   *sufficient decrease* (Armijo) condition `phi(alpha) <= phi(0) + c1 alpha phi'(0)` holds.
//! - [`StrongWolfe`]: Nocedal & Wright's Algorithms 3.5 (bracketing) and 3.6 (zoom), with cubic
//!   interpolation of the two bracket ends, until sufficient decrease and the *strong curvature*
//!   condition `|phi'(alpha)| <= c2 |phi'(0)|` both hold.
//! - [`MoreThuente`]: the same conditions by More and Thuente's safeguarded interpolation
//!   (MINPACK-2's `dcsrch`, the search scipy's BFGS and CG use).
//!
//! Every trial evaluates the value and the gradient together (one evaluation, as scipy counts
//! them), and the search hands back the accepted point with its loss and gradient so that nothing
//! is evaluated twice. The objective counts the evaluations (see [`crate::objective::Counted`]).
//!
//! ```
//! use downhill::line_search::{Found, Line, StrongWolfe};
//! use downhill::objectives::Quadratic;
//! use downhill::Objective;
//!
//! // f = x^2 + 10 y^2 from (1, 1) along -grad; a strong Wolfe step satisfies both conditions.
//! let f = Quadratic::new(vec![1.0, 10.0]);
//! let x = [1.0, 1.0];
//! let mut g = [0.0; 2];
//! let loss = f.value_and_gradient(&x, &mut g);
//! let d = [-g[0], -g[1]];
//! let mut found = Found::default();
//! StrongWolfe::quasi_newton().search(&f, &Line { point: &x, loss, grad: &g, direction: &d }, 1.0, &mut found).unwrap();
//! assert!(found.satisfied && found.loss < loss);
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::optim::Value;
use crate::real::Real;
use crate::spec::{Params, Range};

/// Where a line search starts: the point, the loss and gradient there, and the direction.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a, T> {
    /// `x`.
    pub point: &'a [T],
    /// `f(x)`.
    pub loss: T,
    /// `grad f(x)`.
    pub grad: &'a [T],
    /// `d`; the search fails unless `grad . d < 0`.
    pub direction: &'a [T],
}

/// The point a line search accepted, with its loss and gradient (buffers reused across searches).
#[derive(Debug, Clone, Default)]
pub struct Found<T> {
    /// The accepted step `alpha`.
    pub step: f64,
    /// `x + alpha d`, computed exactly as the evaluated trial point was.
    pub point: Vec<T>,
    /// `f(x + alpha d)`.
    pub loss: T,
    /// `grad f(x + alpha d)`.
    pub grad: Vec<T>,
    /// Evaluations this search made.
    pub evaluations: u64,
    /// Whether the search's conditions hold at the accepted point. `false` when the strong Wolfe
    /// search ran out of evaluations (or its interval shrank below the precision of the
    /// parameters) and returned its best point, which satisfies sufficient decrease only.
    pub satisfied: bool,
    trial: Vec<T>,
}

/// Why a line search found no acceptable step.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// `grad . d >= 0` (or not finite): no small step goes downhill.
    #[error("the direction does not go downhill (slope {0:e})")]
    NotDescent(f64),
    /// No trial decreased the loss enough.
    #[error("no step with sufficient decrease in {evaluations} evaluations (last step tried {step:e})")]
    NoDecrease {
        /// Evaluations made.
        evaluations: u64,
        /// The last step tried.
        step: f64,
    },
}

/// `sum a_i b_i` in f64.
pub fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.to_f64() * y.to_f64()).sum()
}

/// The Euclidean norm in f64.
pub fn norm<T: Real>(a: &[T]) -> f64 {
    dot(a, a).sqrt()
}

/// The relative precision of `T` (2^-23 for f32, 2^-52 for f64).
pub(crate) fn precision<T: Real>() -> f64 {
    if T::NAME == "f32" {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    }
}

/// One trial of a search: `phi(alpha)` and `phi'(alpha)` (an infinite value when either is not
/// finite, so that a search treats the step as too long).
struct Trial {
    step: f64,
    value: f64,
    loss_bits: f64,
    slope: f64,
}

impl<T: Real> Found<T> {
    fn prepare(&mut self, n: usize) {
        self.point.resize(n, T::ZERO);
        self.grad.resize(n, T::ZERO);
        self.trial.resize(n, T::ZERO);
        self.evaluations = 0;
        self.satisfied = false;
    }

    /// Writes `x + alpha d` into `point`.
    fn place(&mut self, line: &Line<'_, T>, alpha: f64) {
        let a = T::from_f64(alpha);
        for ((p, &x), &d) in self.point.iter_mut().zip(line.point).zip(line.direction) {
            *p = x + a * d;
        }
    }

    /// Evaluates at `x + alpha d`, the gradient into `trial`.
    fn evaluate(&mut self, objective: &dyn Objective<T>, line: &Line<'_, T>, alpha: f64) -> Trial {
        self.place(line, alpha);
        let loss = objective.value_and_gradient(&self.point, &mut self.trial);
        self.evaluations += 1;
        let slope = dot(&self.trial, line.direction);
        let value = loss.to_f64();
        let ok = value.is_finite() && slope.is_finite();
        Trial {
            step: alpha,
            value: if ok { value } else { f64::INFINITY },
            loss_bits: value,
            slope: if ok { slope } else { f64::NAN },
        }
    }

    /// Keeps the last trial's gradient as the best point's.
    fn keep(&mut self) {
        std::mem::swap(&mut self.grad, &mut self.trial);
    }

    /// Ends the search at `best` (whose gradient is in `grad`).
    fn finish(&mut self, line: &Line<'_, T>, best: &Trial, satisfied: bool) {
        self.step = best.step;
        self.place(line, best.step);
        self.loss = T::from_f64(best.loss_bits);
        self.satisfied = satisfied;
    }
}

fn slope_of<T: Real>(line: &Line<'_, T>) -> std::result::Result<f64, Failure> {
    let slope = dot(line.grad, line.direction);
    if slope < 0.0 && slope.is_finite() {
        Ok(slope)
    } else {
        Err(Failure::NotDescent(slope))
    }
}

/// Armijo backtracking: try `alpha0, shrink alpha0, shrink^2 alpha0, ...` and accept the first
/// step with `phi(alpha) <= phi(0) + c1 alpha phi'(0)` (Nocedal & Wright, Algorithm 3.1).
/// A trial whose loss or gradient is not finite counts as too long.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Armijo {
    /// Sufficient-decrease constant in `(0, 1)`; default 1e-4.
    pub c1: f64,
    /// Factor applied to a rejected step, in `(0, 1)`; default 0.5.
    pub shrink: f64,
    /// Most evaluations per search; default 60 (0.5^60 ~ 1e-18).
    pub max_evaluations: u64,
}

impl Default for Armijo {
    fn default() -> Self {
        Armijo { c1: 1e-4, shrink: 0.5, max_evaluations: 60 }
    }
}

impl Armijo {
    /// Searches along `line.direction` from the step `initial`; on success `found` holds the
    /// accepted point, its loss and its gradient.
    pub fn search<T: Real>(
        &self,
        objective: &dyn Objective<T>,
        line: &Line<'_, T>,
        initial: f64,
        found: &mut Found<T>,
    ) -> std::result::Result<(), Failure> {
        found.prepare(line.point.len());
        let slope = slope_of(line)?;
        let f0 = line.loss.to_f64();
        let mut alpha = initial;
        while found.evaluations < self.max_evaluations {
            let t = found.evaluate(objective, line, alpha);
            if t.value <= f0 + self.c1 * alpha * slope {
                found.keep();
                found.finish(line, &t, true);
                return Ok(());
            }
            alpha *= self.shrink;
        }
        Err(Failure::NoDecrease { evaluations: found.evaluations, step: alpha / self.shrink })
    }
}

/// A line search for the strong Wolfe conditions
///
/// ```text
/// phi(alpha)      <= phi(0) + c1 alpha phi'(0)      (sufficient decrease)
/// |phi'(alpha)|   <= c2 |phi'(0)|                   (strong curvature)
/// ```
///
/// Nocedal & Wright, Numerical Optimization (2nd ed.), Algorithm 3.5: from the initial step,
/// extrapolate (to the minimizer of the cubic through the last two trials, kept within
/// `[alpha + 0.01 (alpha - alpha_prev), 10 alpha]`) until a trial fails sufficient decrease, is no
/// better than the previous one, or has a non-negative slope; the interval between the two last
/// trials then holds a Wolfe point. Algorithm 3.6 (zoom) shrinks it with the minimizer of the
/// cubic through its ends (equation 3.59), moved away from an end when it falls within 10% of
/// the interval twice in a row (bisection when the cubic has no minimizer, as after a non-finite
/// trial). This is the interpolation of Mark Schmidt's minFunc, which PyTorch's `LBFGS` uses too.
///
/// When the evaluations run out, or the interval becomes narrower than the parameters'
/// precision, the search returns its best point if that has sufficient decrease
/// (`Found::satisfied` is then false) and fails otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StrongWolfe {
    /// Sufficient-decrease constant; default 1e-4.
    pub c1: f64,
    /// Curvature constant in `(c1, 1)`: 0.9 for quasi-Newton and Newton methods, 0.1 for
    /// conjugate gradient (Nocedal & Wright's recommendations).
    pub c2: f64,
    /// Most evaluations per search; default 25 (PyTorch's `max_ls`).
    pub max_evaluations: u64,
}

impl StrongWolfe {
    /// `c1 = 1e-4, c2 = 0.9`, for quasi-Newton and Newton directions.
    pub fn quasi_newton() -> Self {
        StrongWolfe { c1: 1e-4, c2: 0.9, max_evaluations: 25 }
    }

    /// `c1 = 1e-4, c2 = 0.1`, for conjugate gradient.
    pub fn conjugate_gradient() -> Self {
        StrongWolfe { c2: 0.1, ..StrongWolfe::quasi_newton() }
    }

    /// Searches along `line.direction` from the step `initial`; on success `found` holds the
    /// accepted point, its loss and its gradient.
    pub fn search<T: Real>(
        &self,
        objective: &dyn Objective<T>,
        line: &Line<'_, T>,
        initial: f64,
        found: &mut Found<T>,
    ) -> std::result::Result<(), Failure> {
        found.prepare(line.point.len());
        let g0 = slope_of(line)?;
        let f0 = line.loss.to_f64();
        let (c1, c2) = (self.c1, self.c2);
        let decreases = |t: &Trial| t.value <= f0 + c1 * t.step * g0;
        let curvature = |t: &Trial| t.slope.abs() <= -c2 * g0;
        let start = Trial { step: 0.0, value: f0, loss_bits: f0, slope: g0 };
        // The smallest change of step that still moves some parameter.
        let dmax = line.direction.iter().map(|d| d.to_f64().abs()).fold(0.0, f64::max);
        let xmax = line.point.iter().map(|x| x.to_f64().abs()).fold(0.0, f64::max);
        let resolution = precision::<T>() * xmax.max(1e-30) / dmax.max(1e-300);

        // Bracketing (Algorithm 3.5). `found.grad` always holds the gradient at `prev` when
        // `prev.step > 0`.
        let mut prev = start;
        let mut alpha = initial;
        let (mut lo, mut hi);
        loop {
            let t = found.evaluate(objective, line, alpha);
            if !decreases(&t) || (found.evaluations > 1 && t.value >= prev.value) {
                (lo, hi) = (prev, t);
                break;
            }
            found.keep();
            if curvature(&t) {
                found.finish(line, &t, true);
                return Ok(());
            }
            if t.slope >= 0.0 {
                (lo, hi) = (t, prev);
                break;
            }
            if found.evaluations >= self.max_evaluations {
                found.finish(line, &t, false);
                return Ok(());
            }
            let next = cubic_minimizer(&prev, &t, t.step + 0.01 * (t.step - prev.step), 10.0 * t.step);
            prev = t;
            alpha = next;
        }

        // Zoom (Algorithm 3.6): `lo` has sufficient decrease and the lowest value so far, its
        // gradient is in `found.grad` (or is the start's); the interval [lo, hi] holds a Wolfe point.
        let mut close_before = false;
        while found.evaluations < self.max_evaluations && (hi.step - lo.step).abs() > resolution {
            let (a, b) = (lo.step.min(hi.step), lo.step.max(hi.step));
            let mut alpha = cubic_minimizer(&lo, &hi, a, b);
            let margin = 0.1 * (b - a);
            if (b - alpha).min(alpha - a) < margin {
                if close_before || alpha >= b || alpha <= a {
                    alpha = if (alpha - b).abs() < (alpha - a).abs() { b - margin } else { a + margin };
                    close_before = false;
                } else {
                    close_before = true;
                }
            } else {
                close_before = false;
            }
            let t = found.evaluate(objective, line, alpha);
            if !decreases(&t) || t.value >= lo.value {
                hi = t;
            } else {
                found.keep();
                if curvature(&t) {
                    found.finish(line, &t, true);
                    return Ok(());
                }
                if t.slope * (hi.step - lo.step) >= 0.0 {
                    hi = lo;
                }
                lo = t;
            }
        }
        if lo.step > 0.0 {
            found.finish(line, &lo, false);
            Ok(())
        } else {
            Err(Failure::NoDecrease { evaluations: found.evaluations, step: hi.step })
        }
    }
}

/// More and Thuente's line search (ACM TOMS 20, 1994), a port of MINPACK-2's `dcsrch` and
/// `dcstep` as scipy 1.17 ships them (`scipy/optimize/_dcsrch.py`, the search behind
/// `line_search_wolfe1`, which scipy's `BFGS` and `CG` use first). It looks for a step with
///
/// ```text
/// phi(alpha)      <= phi(0) + c1 alpha phi'(0)      (sufficient decrease)
/// |phi'(alpha)|   <= c2 |phi'(0)|                   (strong curvature)
/// ```
///
/// keeping an interval `[stx, sty]` that contains a minimizer of
/// `psi(alpha) = phi(alpha) - phi(0) - c1 alpha phi'(0)` (stage 1) or of `phi` itself (stage 2,
/// once a trial has `psi <= 0` and `phi' >= 0`). Each new trial comes from `dcstep`: the cubic or
/// quadratic (secant) interpolant of the best trial and the newest one, chosen by the four cases of
/// More and Thuente's section 4; before a minimizer is bracketed, trials extrapolate into
/// `[alpha + 1.1 (alpha - stx), alpha + 4 (alpha - stx)]`; once bracketed, a bisection is forced
/// when the interval did not shrink to 66% in two trials. The first trial is `initial` (clamped
/// into `[min_step, max_step]`).
///
/// The search stops with `Found::satisfied` when both conditions hold. It stops with a warning
/// (as `dcsrch` does) when rounding errors prevent progress, when the bracket is narrower than
/// `xtol` relative to its right end, when it sits at `max_step` or `min_step`, or after
/// `max_evaluations`: it then returns the last trial with `Found::satisfied` false if that trial
/// decreases sufficiently, and fails otherwise. (scipy reports every warning as a failure and
/// falls back to its Nocedal-Wright search; [`LineSearch::MoreThuente`] does the same with
/// [`StrongWolfe`].) Defaults are scipy's BFGS call: `c1 = 1e-4, c2 = 0.9, xtol = 1e-14`, steps
/// in `[1e-100, 1e100]`, at most 100 evaluations. One deviation: a trial whose value or slope is
/// not finite is treated as a higher value with the next trial at the middle of `[stx, alpha]`
/// (`dcsrch` would produce NaN there and give up).
///
/// ```
/// use downhill::line_search::{Found, Line, MoreThuente};
/// use downhill::objectives::Quadratic;
/// use downhill::Objective;
///
/// // On f = x^2 from x = 1 along -f', the first trial (step 1 lands on -1) has the same value,
/// // not a sufficient decrease; the second is the minimizer of the modified function
/// // psi(a) = phi(a) - phi(0) - c1 a phi'(0), which is (1 - c1) / 2 for this quadratic.
/// let f = Quadratic::new(vec![1.0]);
/// let x = [1.0];
/// let mut g = [0.0];
/// let loss = f.value_and_gradient(&x, &mut g);
/// let mut found = Found::default();
/// let line = Line { point: &x, loss, grad: &g, direction: &[-g[0]] };
/// MoreThuente::default().search(&f, &line, 1.0, &mut found).unwrap();
/// assert!((found.step - 0.49995).abs() < 1e-15 && found.evaluations == 2 && found.satisfied);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MoreThuente {
    /// Sufficient-decrease constant (`ftol` in MINPACK); default 1e-4.
    pub c1: f64,
    /// Curvature constant (`gtol`); default 0.9 (0.1 for conjugate gradient).
    pub c2: f64,
    /// Relative width of the bracket below which the search stops with a warning; default 1e-14.
    pub xtol: f64,
    /// Smallest step; default 1e-100.
    pub min_step: f64,
    /// Largest step; default 1e100.
    pub max_step: f64,
    /// Most evaluations per search; default 100.
    pub max_evaluations: u64,
}

impl Default for MoreThuente {
    fn default() -> Self {
        MoreThuente::quasi_newton()
    }
}

/// The state `dcsrch` keeps between trials: the best step `stx` and the other end `sty` of the
/// interval, with their values and slopes (of `psi` while `modified`).
#[derive(Debug, Clone, Copy)]
struct Bracket {
    stx: f64,
    fx: f64,
    gx: f64,
    sty: f64,
    fy: f64,
    gy: f64,
    bracketed: bool,
}

impl MoreThuente {
    /// `c1 = 1e-4, c2 = 0.9`: scipy's BFGS.
    pub fn quasi_newton() -> Self {
        MoreThuente {
            c1: 1e-4,
            c2: 0.9,
            xtol: 1e-14,
            min_step: 1e-100,
            max_step: 1e100,
            max_evaluations: 100,
        }
    }

    /// `c1 = 1e-4, c2 = 0.1`, for conjugate gradient (scipy's CG uses `c2 = 0.4`).
    pub fn conjugate_gradient() -> Self {
        MoreThuente { c2: 0.1, ..MoreThuente::quasi_newton() }
    }

    /// Searches along `line.direction` from the step `initial`; on success `found` holds the
    /// accepted point, its loss and its gradient.
    pub fn search<T: Real>(
        &self,
        objective: &dyn Objective<T>,
        line: &Line<'_, T>,
        initial: f64,
        found: &mut Found<T>,
    ) -> std::result::Result<(), Failure> {
        const P5: f64 = 0.5;
        const P66: f64 = 0.66;
        const XTRAPL: f64 = 1.1;
        const XTRAPU: f64 = 4.0;
        found.prepare(line.point.len());
        let ginit = slope_of(line)?;
        let finit = line.loss.to_f64();
        let (min_step, max_step) = (self.min_step, self.max_step);
        let gtest = self.c1 * ginit;
        let mut width = max_step - min_step;
        let mut width1 = width / P5;
        let mut b =
            Bracket { stx: 0.0, fx: finit, gx: ginit, sty: 0.0, fy: finit, gy: ginit, bracketed: false };
        let mut stage2 = false;
        let mut stp = if initial.is_finite() { initial.clamp(min_step, max_step) } else { 1.0 };
        let (mut stmin, mut stmax) = (0.0, stp + XTRAPU * stp);
        loop {
            let t = found.evaluate(objective, line, stp);
            let (f, g) = (t.value, t.slope);
            let ftest = finit + stp * gtest;
            if !stage2 && f <= ftest && g >= 0.0 {
                stage2 = true;
            }
            if f <= ftest && g.abs() <= self.c2 * -ginit {
                found.keep();
                found.finish(line, &t, true);
                return Ok(());
            }
            let stuck = b.bracketed && (stp <= stmin || stp >= stmax || stmax - stmin <= self.xtol * stmax);
            let warning = stuck
                || (stp == max_step && f <= ftest && g <= gtest)
                || (stp == min_step && (f > ftest || g >= gtest))
                || found.evaluations >= self.max_evaluations;
            if warning {
                if f <= ftest && stp > 0.0 {
                    found.keep();
                    found.finish(line, &t, false);
                    return Ok(());
                }
                return Err(Failure::NoDecrease { evaluations: found.evaluations, step: stp });
            }
            if !(f.is_finite() && g.is_finite()) {
                // Too long: the new trial is the middle of [stx, stp], which brackets a minimizer.
                let next = b.stx + P5 * (stp - b.stx);
                b.sty = stp;
                b.fy = f64::INFINITY;
                b.gy = f64::NAN;
                b.bracketed = true;
                stp = next;
            } else if !stage2 && f <= b.fx && f > ftest {
                // The modified function psi while the decrease is not yet sufficient.
                let mut m = Bracket {
                    fx: b.fx - b.stx * gtest,
                    gx: b.gx - gtest,
                    fy: b.fy - b.sty * gtest,
                    gy: b.gy - gtest,
                    ..b
                };
                stp = dcstep(&mut m, stp, f - stp * gtest, g - gtest, stmin, stmax);
                b = Bracket {
                    fx: m.fx + m.stx * gtest,
                    fy: m.fy + m.sty * gtest,
                    gx: m.gx + gtest,
                    gy: m.gy + gtest,
                    ..m
                };
            } else {
                stp = dcstep(&mut b, stp, f, g, stmin, stmax);
            }
            if b.bracketed {
                if (b.sty - b.stx).abs() >= P66 * width1 {
                    stp = b.stx + P5 * (b.sty - b.stx);
                }
                width1 = width;
                width = (b.sty - b.stx).abs();
                stmin = b.stx.min(b.sty);
                stmax = b.stx.max(b.sty);
            } else {
                stmin = stp + XTRAPL * (stp - b.stx);
                stmax = stp + XTRAPU * (stp - b.stx);
            }
            if !stp.is_finite() {
                // Interpolation through a non-finite end: bisect what is bracketed.
                stp = b.stx + P5 * (b.sty - b.stx);
            }
            stp = stp.clamp(min_step, max_step);
            // No further progress possible: the best point so far, evaluated again (as dcsrch
            // does) so that the next pass stops with it and its gradient.
            if b.bracketed && (stp <= stmin || stp >= stmax || stmax - stmin <= self.xtol * stmax) {
                stp = b.stx;
            }
        }
    }
}

fn sign(v: f64) -> f64 {
    // numpy's sign: 0 at 0.
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// MINPACK-2's `dcstep`: a safeguarded trial step from the best point `(stx, fx, gx)`, the other
/// end `(sty, fy, gy)` and the newest trial `(stp, fp, dp)`; updates the interval in `b`.
fn dcstep(b: &mut Bracket, stp: f64, fp: f64, dp: f64, stpmin: f64, stpmax: f64) -> f64 {
    let (stx, fx, dx) = (b.stx, b.fx, b.gx);
    let (sty, fy, dy) = (b.sty, b.fy, b.gy);
    let sgnd = sign(dp) * sign(dx);
    let stpf;
    if fp > fx {
        // Case 1: a higher value; the minimum is bracketed. The cubic step if it is closer to
        // stx than the quadratic step, else their average.
        let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (dx / s) * (dp / s)).sqrt();
        if stp < stx {
            gamma = -gamma;
        }
        let p = (gamma - dx) + theta;
        let q = ((gamma - dx) + gamma) + dp;
        let r = p / q;
        let stpc = stx + r * (stp - stx);
        let stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx);
        stpf = if (stpc - stx).abs() <= (stpq - stx).abs() { stpc } else { stpc + (stpq - stpc) / 2.0 };
        b.bracketed = true;
    } else if sgnd < 0.0 {
        // Case 2: lower value, slopes of opposite sign; bracketed. The cubic step if it is
        // farther from stp than the secant step, else the secant step.
        let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (dx / s) * (dp / s)).sqrt();
        if stp > stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + dx;
        let r = p / q;
        let stpc = stp + r * (stx - stp);
        let stpq = stp + (dp / (dp - dx)) * (stx - stp);
        stpf = if (stpc - stp).abs() > (stpq - stp).abs() { stpc } else { stpq };
        b.bracketed = true;
    } else if dp.abs() < dx.abs() {
        // Case 3: lower value, slopes of the same sign, the slope's magnitude decreases.
        let theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * (0f64.max((theta / s).powi(2) - (dx / s) * (dp / s))).sqrt();
        if stp > stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = (gamma + (dx - dp)) + gamma;
        let r = p / q;
        let stpc = if r < 0.0 && gamma != 0.0 {
            stp + r * (stx - stp)
        } else if stp > stx {
            stpmax
        } else {
            stpmin
        };
        let stpq = stp + (dp / (dp - dx)) * (stx - stp);
        if b.bracketed {
            let f = if (stpc - stp).abs() < (stpq - stp).abs() { stpc } else { stpq };
            stpf =
                if stp > stx { (stp + 0.66 * (sty - stp)).min(f) } else { (stp + 0.66 * (sty - stp)).max(f) };
        } else {
            let f = if (stpc - stp).abs() > (stpq - stp).abs() { stpc } else { stpq };
            stpf = f.clamp(stpmin, stpmax);
        }
    } else if b.bracketed {
        // Case 4: lower value, slopes of the same sign, the magnitude does not decrease: the
        // cubic step through stp and sty.
        let theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp;
        let s = theta.abs().max(dy.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (dy / s) * (dp / s)).sqrt();
        if stp > sty {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + dy;
        let r = p / q;
        stpf = stp + r * (sty - stp);
    } else if stp > stx {
        stpf = stpmax;
    } else {
        stpf = stpmin;
    }
    if fp > fx {
        (b.sty, b.fy, b.gy) = (stp, fp, dp);
    } else {
        if sgnd < 0.0 {
            (b.sty, b.fy, b.gy) = (stx, fx, dx);
        }
        (b.stx, b.fx, b.gx) = (stp, fp, dp);
    }
    stpf
}

/// The minimizer of the cubic that interpolates `phi` and `phi'` at two trials (Nocedal &
/// Wright, equation 3.59), clamped to `[lower, upper]`; the midpoint when the cubic has none.
fn cubic_minimizer(p: &Trial, q: &Trial, lower: f64, upper: f64) -> f64 {
    let d1 = p.slope + q.slope - 3.0 * (p.value - q.value) / (p.step - q.step);
    let disc = d1 * d1 - p.slope * q.slope;
    if disc >= 0.0 {
        let d2 = disc.sqrt();
        let m = if p.step <= q.step {
            q.step - (q.step - p.step) * ((q.slope + d2 - d1) / (q.slope - p.slope + 2.0 * d2))
        } else {
            p.step - (p.step - q.step) * ((p.slope + d2 - d1) / (p.slope - q.slope + 2.0 * d2))
        };
        if m.is_finite() {
            return m.clamp(lower, upper);
        }
    }
    0.5 * (lower + upper)
}

/// A line search as an optimizer's setting: `line_search=strong-wolfe|armijo|none` with `c1`,
/// `c2` (strong Wolfe) and `shrink` (Armijo).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LineSearch {
    /// Backtracking to sufficient decrease.
    Armijo(Armijo),
    /// Strong Wolfe conditions.
    StrongWolfe(StrongWolfe),
    /// More and Thuente's search for the strong Wolfe conditions; when it stops with a warning,
    /// a [`StrongWolfe`] search with the same `c1`, `c2` runs from the same initial step (scipy's
    /// `_line_search_wolfe12`), and `Found::evaluations` counts both.
    MoreThuente(MoreThuente),
}

impl LineSearch {
    /// Runs the search (see [`Armijo::search`], [`StrongWolfe::search`] and
    /// [`MoreThuente::search`]; the last falls back to strong Wolfe as described at
    /// [`LineSearch::MoreThuente`]).
    pub fn search<T: Real>(
        &self,
        objective: &dyn Objective<T>,
        line: &Line<'_, T>,
        initial: f64,
        found: &mut Found<T>,
    ) -> std::result::Result<(), Failure> {
        match self {
            LineSearch::Armijo(a) => a.search(objective, line, initial, found),
            LineSearch::StrongWolfe(w) => w.search(objective, line, initial, found),
            LineSearch::MoreThuente(m) => {
                if m.search(objective, line, initial, found).is_ok() && found.satisfied {
                    return Ok(());
                }
                let spent = found.evaluations;
                let fallback = StrongWolfe {
                    c1: m.c1,
                    c2: m.c2,
                    max_evaluations: StrongWolfe::quasi_newton().max_evaluations,
                };
                let result = fallback.search(objective, line, initial, found);
                found.evaluations += spent;
                match result {
                    Ok(()) => Ok(()),
                    Err(Failure::NoDecrease { step, .. }) => {
                        Err(Failure::NoDecrease { evaluations: found.evaluations, step })
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The spec name: `armijo`, `strong-wolfe` or `more-thuente`.
    pub fn name(&self) -> &'static str {
        match self {
            LineSearch::Armijo(_) => "armijo",
            LineSearch::StrongWolfe(_) => "strong-wolfe",
            LineSearch::MoreThuente(_) => "more-thuente",
        }
    }

    /// Reads `line_search` (default `default`), `c1` (1e-4), `c2` (`c2_default`, strong Wolfe
    /// and More-Thuente only) and `shrink` (0.5, Armijo only) from an optimizer's spec. `None` for
    /// `line_search=none`, which takes no other key.
    pub(crate) fn from_params(
        p: &mut Params,
        default: &'static str,
        c2_default: f64,
    ) -> Result<Option<LineSearch>> {
        let kind = p.choice("line_search", &["strong-wolfe", "more-thuente", "armijo", "none"], default)?;
        let c1 = p.optional("c1", Range::Positive)?;
        let c2 = p.optional("c2", Range::Positive)?;
        let shrink = p.optional("shrink", Range::Positive)?;
        let field = |key: &str| p.field(key);
        let misplaced = |key: &str| Error::Inconsistent {
            field: field(key),
            message: format!("does not apply to line_search={kind}"),
        };
        let c1v = c1.unwrap_or(1e-4);
        if c1v >= 1.0 {
            return Err(Error::out_of_range(field("c1"), c1v, "(0, 1)"));
        }
        match kind {
            "none" => match (c1, c2, shrink) {
                (Some(_), _, _) => Err(misplaced("c1")),
                (_, Some(_), _) => Err(misplaced("c2")),
                (_, _, Some(_)) => Err(misplaced("shrink")),
                _ => Ok(None),
            },
            "armijo" => {
                if c2.is_some() {
                    return Err(misplaced("c2"));
                }
                let shrink = shrink.unwrap_or(0.5);
                if shrink >= 1.0 {
                    return Err(Error::out_of_range(field("shrink"), shrink, "(0, 1)"));
                }
                Ok(Some(LineSearch::Armijo(Armijo { c1: c1v, shrink, ..Armijo::default() })))
            }
            _ => {
                if shrink.is_some() {
                    return Err(misplaced("shrink"));
                }
                let c2 = c2.unwrap_or(c2_default);
                if c2 <= c1v || c2 >= 1.0 {
                    return Err(Error::out_of_range(field("c2"), c2, &format!("({c1v}, 1), above c1")));
                }
                Ok(Some(if kind == "more-thuente" {
                    LineSearch::MoreThuente(MoreThuente { c1: c1v, c2, ..MoreThuente::quasi_newton() })
                } else {
                    LineSearch::StrongWolfe(StrongWolfe { c1: c1v, c2, ..StrongWolfe::quasi_newton() })
                }))
            }
        }
    }

    /// The keys of [`LineSearch::from_params`] for an optimizer's report.
    pub fn describe(search: &Option<LineSearch>, out: &mut Vec<(&'static str, Value)>) {
        match search {
            None => out.push(("line_search", "none".into())),
            Some(LineSearch::Armijo(a)) => out.extend([
                ("line_search", "armijo".into()),
                ("c1", a.c1.into()),
                ("shrink", a.shrink.into()),
            ]),
            Some(LineSearch::StrongWolfe(w)) => {
                out.extend([("line_search", "strong-wolfe".into()), ("c1", w.c1.into()), ("c2", w.c2.into())])
            }
            Some(LineSearch::MoreThuente(m)) => {
                out.extend([("line_search", "more-thuente".into()), ("c1", m.c1.into()), ("c2", m.c2.into())])
            }
        }
    }
}
