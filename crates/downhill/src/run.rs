//! The run loop: [`minimize`] walks an objective with an optimizer and says why it stopped.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::objective::{Counted, Objective};
use crate::optim::{Iteration, Optimizer};
use crate::real::Real;
use crate::schedule::MAX_STEPS;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Took `max_steps` updates.
    MaxSteps,
    /// Met the gradient-norm or loss-change tolerance.
    Converged,
    /// A parameter's magnitude exceeded `bound`, or the loss exceeded `loss_bound`.
    Diverged,
    /// The loss, a parameter or the gradient became NaN or infinite.
    NonFinite,
    /// An observer asked to stop.
    Stopped,
    /// The method found no acceptable step (a line search or trust region gave up, usually at
    /// the limit of floating-point precision); `detail` says why.
    Stalled,
}

impl StopReason {
    /// The snake_case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max_steps",
            StopReason::Converged => "converged",
            StopReason::Diverged => "diverged",
            StopReason::NonFinite => "non_finite",
            StopReason::Stopped => "stopped",
            StopReason::Stalled => "stalled",
        }
    }
}

/// Settings of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Most updates to take (`>= 1`).
    pub max_steps: u64,
    /// Stop as converged when `||grad|| <= grad_tol`.
    pub grad_tol: Option<f64>,
    /// Stop as converged when `|f_k - f_(k-1)| <= loss_tol`.
    pub loss_tol: Option<f64>,
    /// Stop as diverged as soon as any `|param| > bound` (after recording that point).
    pub bound: Option<f64>,
    /// Stop as diverged as soon as the loss exceeds this (after recording that point).
    pub loss_bound: Option<f64>,
    /// Record every `record_every`-th point (0: only the start and the end). The start and the
    /// last point are always recorded.
    pub record_every: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_steps: 1000,
            grad_tol: None,
            loss_tol: None,
            bound: None,
            loss_bound: None,
            record_every: 1,
        }
    }
}

impl RunOptions {
    /// `max_steps` updates, every point recorded, no tolerances or bounds.
    pub fn steps(max_steps: u64) -> Self {
        RunOptions { max_steps, ..RunOptions::default() }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if self.max_steps == 0 || self.max_steps > MAX_STEPS {
            return Err(Error::out_of_range("steps", self.max_steps, &format!("[1, {MAX_STEPS}]")));
        }
        for (field, v) in [("tol", self.grad_tol), ("loss_tol", self.loss_tol)] {
            if let Some(v) = v {
                crate::spec::Range::NonNegative.check(field, v)?;
            }
        }
        for (field, v) in [("bound", self.bound), ("loss_bound", self.loss_bound)] {
            if let Some(v) = v {
                crate::spec::Range::Positive.check(field, v)?;
            }
        }
        Ok(())
    }
}

/// One recorded point of a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Point<T> {
    /// Updates taken to reach it (0 is the start).
    pub step: u64,
    /// The parameters.
    pub params: Vec<T>,
    /// The objective's value.
    pub loss: T,
    /// The learning rate of the update that leaves this point (the schedule at `step`).
    pub lr: f64,
    /// Euclidean norm of the gradient here.
    pub grad_norm: f64,
}

/// What [`minimize`] returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult<T> {
    /// Why it ended.
    pub stop: StopReason,
    /// Updates taken.
    pub steps: u64,
    /// Final parameters (for `non_finite`: the last finite ones).
    pub params: Vec<T>,
    /// Final loss (for `non_finite`: the last finite one).
    pub loss: T,
    /// Gradient norm at the final parameters.
    pub grad_norm: f64,
    /// Recorded points, starting with step 0.
    pub trajectory: Vec<Point<T>>,
    /// For `non_finite`, `diverged` and `stalled`: what went wrong, and at which step.
    pub detail: Option<String>,
    /// Evaluations of the objective's value and gradient, the start included, as scipy counts
    /// `nfev`: `steps + 1` for a first-order method, more for methods that evaluate inside a step
    /// (line searches, trust regions, look-ahead Nesterov).
    pub evaluations: u64,
    /// Evaluations of the Hessian (scipy's `nhev`).
    pub hessian_evaluations: u64,
}

/// Watches a run; return `ControlFlow::Break(())` to stop it (stop reason `stopped`).
pub trait Observer<T> {
    /// Called at every point, recorded or not, after the stop checks.
    fn observe(&mut self, point: &Point<T>) -> ControlFlow<()>;
}

impl<T, F: FnMut(&Point<T>) -> ControlFlow<()>> Observer<T> for F {
    fn observe(&mut self, point: &Point<T>) -> ControlFlow<()> {
        self(point)
    }
}

/// A cancellation token: work started inside [`Cancel::scope`] stops soon after [`Cancel::cancel`]
/// is called from any thread.
///
/// [`minimize`] and [`minimize_stochastic`] look at the token of their thread every
/// [`CANCEL_CHECK_EVERY`] steps and return [`Error::Cancelled`] once it is set, so a caller that
/// gave up on a result (a server whose request ran out of time, a closed connection) does not
/// keep a core busy; code that loops by itself can call [`cancelled`]. The token is ambient
/// (per thread) rather than a parameter, so that every caller of `minimize` (comparisons, tuning,
/// analyses) stops without each threading it through.
///
/// ```
/// use downhill::run::{cancelled, Cancel};
/// let token = Cancel::new();
/// token.cancel();
/// assert!(token.scope(cancelled));
/// assert!(!cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// Steps between two looks at the cancellation token in the run loops.
pub const CANCEL_CHECK_EVERY: u64 = 16;

thread_local! {
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

impl Cancel {
    /// A token not yet cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the work watching this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Runs `work` on this thread with this token as the one [`cancelled`] reads (the previous
    /// token, if any, is restored afterwards).
    pub fn scope<R>(&self, work: impl FnOnce() -> R) -> R {
        struct Restore(Option<Cancel>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(self.clone())));
        work()
    }
}

/// Whether the token of the enclosing [`Cancel::scope`] on this thread was cancelled (false
/// outside any scope).
pub fn cancelled() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(Cancel::is_cancelled))
}

fn check_cancelled(step: u64) -> Result<()> {
    if step % CANCEL_CHECK_EVERY == 0 && cancelled() {
        return Err(Error::Cancelled(format!("stopped at step {step}")));
    }
    Ok(())
}

fn norm<T: Real>(v: &[T]) -> f64 {
    v.iter().map(|x| x.to_f64() * x.to_f64()).sum::<f64>().sqrt()
}

/// Whether every element is finite, without a branch per element.
fn all_finite<T: Real>(v: &[T]) -> bool {
    v.iter().fold(true, |ok, x| ok & x.is_finite())
}

fn first_bad<T: Real>(v: &[T]) -> Option<usize> {
    v.iter().position(|x| !x.is_finite())
}

/// Minimizes `objective` from `start` with `optimizer`.
///
/// Each iteration takes one optimizer step, evaluates the loss and gradient at the new point and
/// checks, in this order: non-finite loss, parameters or gradient (stop `non_finite`; the bad
/// point is not recorded, so the trajectory ends at the last finite point); record the point;
/// `bound`/`loss_bound` (stop `diverged`, like the seed's figure code which appends the point and
/// then breaks); `grad_tol`/`loss_tol` (stop `converged`); the observer. The start point is checked
/// for `grad_tol` before the first step. Every [`CANCEL_CHECK_EVERY`] steps it returns
/// [`Error::Cancelled`] if the thread's [`Cancel`] token was cancelled.
///
/// Each step is [`Optimizer::iterate`] on the objective wrapped in
/// [`crate::objective::Counted`]: a method that evaluates inside its step (a line search, a trust
/// region) hands back the accepted point's loss and gradient, which are not evaluated again, and
/// [`RunResult::evaluations`] counts every evaluation. A step that finds no acceptable point stops
/// the run as `stalled` (as `converged` when the gradient is exactly zero).
///
/// An optimizer that takes non-finite gradients itself
/// ([`Optimizer::accepts_non_finite_gradients`]: `skip-nonfinite`, alone or inside other wrappers)
/// is not stopped by a non-finite loss or gradient: the point is accepted (and recorded, with its
/// NaN or infinite loss and gradient norm) and the next step hands it that gradient, which it
/// skips and counts. Non-finite parameters stop every run.
pub fn minimize<T: Real>(
    objective: &dyn Objective<T>,
    optimizer: &mut dyn Optimizer<T>,
    start: &[T],
    options: &RunOptions,
    mut observer: Option<&mut dyn Observer<T>>,
) -> Result<RunResult<T>> {
    options.validate()?;
    let dim = objective.dim();
    if start.len() != dim {
        return Err(Error::Dimension { field: "start".into(), expected: dim, got: start.len() });
    }
    if let Some(i) = first_bad(start) {
        return Err(Error::out_of_range(format!("start[{i}]"), start[i], "(-inf, inf)"));
    }
    let counted = Counted::new(objective);
    let objective: &dyn Objective<T> = &counted;
    let mut params = start.to_vec();
    let mut grad = vec![T::ZERO; dim];
    let mut loss = objective.value_and_gradient(&params, &mut grad);
    let mut grad_norm = norm(&grad);
    let mut trajectory = Vec::new();
    let make = |step, params: &[T], loss, lr, grad_norm| Point {
        step,
        params: params.to_vec(),
        loss,
        lr,
        grad_norm,
    };

    if !loss.is_finite() || first_bad(&grad).is_some() {
        let what = if loss.is_finite() { "gradient" } else { "loss" };
        return Ok(RunResult {
            stop: StopReason::NonFinite,
            steps: 0,
            params,
            loss,
            grad_norm,
            trajectory,
            detail: Some(format!("{what} is not finite at the start point")),
            evaluations: 1,
            hessian_evaluations: 0,
        });
    }
    let first = make(0, &params, loss, optimizer.learning_rate(), grad_norm);
    trajectory.push(first.clone());
    if options.grad_tol.is_some_and(|tol| grad_norm <= tol) {
        return Ok(RunResult {
            stop: StopReason::Converged,
            steps: 0,
            params,
            loss,
            grad_norm,
            trajectory,
            detail: None,
            evaluations: 1,
            hessian_evaluations: 0,
        });
    }
    if let Some(obs) = observer.as_deref_mut() {
        if obs.observe(&first).is_break() {
            return Ok(RunResult {
                stop: StopReason::Stopped,
                steps: 0,
                params,
                loss,
                grad_norm,
                trajectory,
                detail: None,
                evaluations: 1,
                hessian_evaluations: 0,
            });
        }
    }

    let mut stop = StopReason::MaxSteps;
    let mut detail = None;
    let mut steps = 0;
    // The step of the last accepted (finite) point.
    let mut accepted = 0;
    // The current point is kept in `prev` (a copy made beside the step, not in its way), in case
    // the step leads somewhere non-finite; the optimizer updates `params` in place.
    let mut prev = params.clone();
    let mut next_grad = grad.clone();
    // The gradient norm costs a square root; it is computed only where it is used.
    let every_step_norm = options.grad_tol.is_some();
    let lenient = optimizer.accepts_non_finite_gradients();
    for k in 1..=options.max_steps {
        check_cancelled(k)?;
        prev.copy_from_slice(&params);
        let new_loss = match optimizer.iterate(objective, &mut params, loss, &grad, &mut next_grad)? {
            Iteration::Moved => objective.value_and_gradient(&params, &mut next_grad),
            Iteration::Evaluated(new_loss) => new_loss,
            Iteration::Stalled(why) => {
                params.copy_from_slice(&prev);
                if grad.iter().all(|g| *g == T::ZERO) {
                    // Nothing to improve: a stationary point, found exactly.
                    stop = StopReason::Converged;
                    detail = Some(format!("the gradient is exactly 0 after step {}", k - 1));
                } else {
                    stop = StopReason::Stalled;
                    detail = Some(format!("{why}, at step {k}"));
                }
                break;
            }
        };
        steps = k;
        let finite_params = all_finite(&params);
        // A non-finite loss or gradient at finite parameters goes on to an optimizer that takes it.
        let carry_on = finite_params && (lenient || (new_loss.is_finite() & all_finite(&next_grad)));
        if !carry_on {
            let why = if let Some(i) = first_bad(&params) {
                format!("parameter {i} is {} at step {k}", params[i])
            } else if !new_loss.is_finite() {
                format!("loss is {new_loss} at step {k}")
            } else {
                let i = first_bad(&next_grad).unwrap_or(0);
                format!("gradient component {i} is {} at step {k}", next_grad[i])
            };
            // Back to the last finite point.
            params.copy_from_slice(&prev);
            stop = StopReason::NonFinite;
            detail = Some(why);
            break;
        }
        let previous_loss = loss;
        // Accept: the new gradient becomes current (the old buffer is overwritten next step).
        std::mem::swap(&mut grad, &mut next_grad);
        accepted = k;
        loss = new_loss;
        if every_step_norm || observer.is_some() {
            grad_norm = norm(&grad);
        }
        let record = k == options.max_steps || (options.record_every > 0 && k % options.record_every == 0);
        if let Some(bound) = options.bound {
            if let Some(i) = params.iter().position(|p| p.abs().to_f64() > bound) {
                stop = StopReason::Diverged;
                detail =
                    Some(format!("|parameter {i}| = {} exceeds bound {bound} at step {k}", params[i].abs()));
            }
        }
        if stop != StopReason::Diverged {
            if let Some(lb) = options.loss_bound {
                if loss.to_f64() > lb {
                    stop = StopReason::Diverged;
                    detail = Some(format!("loss {loss} exceeds loss_bound {lb} at step {k}"));
                }
            }
        }
        if stop == StopReason::MaxSteps
            && (options.grad_tol.is_some_and(|tol| grad_norm <= tol)
                || options.loss_tol.is_some_and(|tol| (loss - previous_loss).abs().to_f64() <= tol))
        {
            stop = StopReason::Converged;
        }
        // Points are built only when someone looks at them: no allocation on unrecorded steps.
        let mut point = None;
        if stop == StopReason::MaxSteps {
            if let Some(obs) = observer.as_deref_mut() {
                let p = make(k, &params, loss, optimizer.learning_rate(), grad_norm);
                if obs.observe(&p).is_break() {
                    stop = StopReason::Stopped;
                }
                point = Some(p);
            }
        }
        if record || stop != StopReason::MaxSteps {
            trajectory.push(
                point.unwrap_or_else(|| make(k, &params, loss, optimizer.learning_rate(), norm(&grad))),
            );
        }
        if stop != StopReason::MaxSteps {
            break;
        }
    }
    grad_norm = norm(&grad);
    if trajectory.last().map(|p| p.step) != Some(accepted) {
        trajectory.push(make(accepted, &params, loss, optimizer.learning_rate(), grad_norm));
    }
    Ok(RunResult {
        stop,
        steps,
        params,
        loss,
        grad_norm,
        trajectory,
        detail,
        evaluations: counted.evaluations(),
        hessian_evaluations: counted.hessian_evaluations(),
    })
}

/// Stochastic minimization of a finite sum: each update uses the gradient of the next minibatch
/// from `sampler`. Recorded points (every `record_every` steps, plus start and end) carry the
/// full-batch loss and gradient norm, so trajectories compare across batch sizes. `bound` is checked
/// every step; `loss_bound`, `grad_tol` and `loss_tol` at recorded points (on full-batch values).
/// A non-finite minibatch loss or parameter stops the run with `non_finite`.
pub fn minimize_stochastic<T: Real>(
    problem: &dyn crate::problem::Problem<T>,
    optimizer: &mut dyn Optimizer<T>,
    start: &[T],
    sampler: &mut crate::problem::Sampler,
    options: &RunOptions,
) -> Result<RunResult<T>> {
    options.validate()?;
    let dim = problem.dim();
    if start.len() != dim {
        return Err(Error::Dimension { field: "start".into(), expected: dim, got: start.len() });
    }
    let mut params = start.to_vec();
    let mut grad = vec![T::ZERO; dim];
    let full = |p: &[T], g: &mut [T]| {
        let l = problem.value_and_gradient(p, g);
        (l, norm(g))
    };
    let (mut loss, mut grad_norm) = full(&params, &mut grad);
    let mut trajectory =
        vec![Point { step: 0, params: params.clone(), loss, lr: optimizer.learning_rate(), grad_norm }];
    let (mut stop, mut detail, mut steps) = (StopReason::MaxSteps, None, 0);
    let mut next = params.clone();
    for k in 1..=options.max_steps {
        check_cancelled(k)?;
        let batch = sampler.next_batch();
        let batch_loss = problem.batch_value_and_gradient(batch, &params, &mut grad);
        if !batch_loss.is_finite() || first_bad(&grad).is_some() {
            stop = StopReason::NonFinite;
            detail = Some(format!("minibatch loss or gradient is not finite at step {k}"));
            break;
        }
        next.copy_from_slice(&params);
        optimizer.update(&mut next, &grad)?;
        steps = k;
        if let Some(i) = first_bad(&next) {
            stop = StopReason::NonFinite;
            detail = Some(format!("parameter {i} is {} at step {k}", next[i]));
            break;
        }
        params.copy_from_slice(&next);
        let diverged = options.bound.and_then(|b| params.iter().position(|p| p.abs().to_f64() > b));
        let record = k == options.max_steps
            || diverged.is_some()
            || (options.record_every > 0 && k % options.record_every == 0);
        if record {
            let previous = loss;
            (loss, grad_norm) = full(&params, &mut grad);
            trajectory.push(Point {
                step: k,
                params: params.clone(),
                loss,
                lr: optimizer.learning_rate(),
                grad_norm,
            });
            if let Some(i) = diverged {
                stop = StopReason::Diverged;
                detail = Some(format!("|parameter {i}| exceeds bound at step {k}"));
            } else if !loss.is_finite() {
                stop = StopReason::NonFinite;
                detail = Some(format!("full loss is {loss} at step {k}"));
            } else if options.loss_bound.is_some_and(|lb| loss.to_f64() > lb) {
                stop = StopReason::Diverged;
                detail = Some(format!("loss {loss} exceeds loss_bound at step {k}"));
            } else if options.grad_tol.is_some_and(|t| grad_norm <= t)
                || options.loss_tol.is_some_and(|t| (loss - previous).abs().to_f64() <= t)
            {
                stop = StopReason::Converged;
            }
            if stop != StopReason::MaxSteps {
                break;
            }
        }
    }
    if trajectory.last().map(|p| p.step) != Some(steps) {
        (loss, grad_norm) = full(&params, &mut grad);
        trajectory.push(Point {
            step: steps,
            params: params.clone(),
            loss,
            lr: optimizer.learning_rate(),
            grad_norm,
        });
    }
    // Minibatch gradients, one per step, plus the full-batch evaluations at recorded points.
    let evaluations = steps + trajectory.len() as u64;
    Ok(RunResult {
        stop,
        steps,
        params,
        loss,
        grad_norm,
        trajectory,
        detail,
        evaluations,
        hessian_evaluations: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_token_stops_the_run_at_the_next_check() {
        let f = crate::objectives::build::<f64>("rosenbrock").unwrap();
        let mut opt = crate::optim::build::<f64>("gd:lr=1e-4", &Default::default()).unwrap();
        let token = Cancel::new();
        // The observer plays the other thread: it cancels at step 100; the loop looks at steps
        // that are multiples of 16, so the run stops before taking step 112.
        let mut taken = 0;
        let mut watch = |p: &Point<f64>| {
            taken = p.step;
            if p.step == 100 {
                token.cancel();
            }
            ControlFlow::Continue(())
        };
        let err = token
            .scope(|| {
                minimize(
                    f.as_ref(),
                    opt.as_mut(),
                    &[-1.5, 2.5],
                    &RunOptions::steps(1_000_000),
                    Some(&mut watch),
                )
            })
            .unwrap_err();
        assert_eq!(err, Error::Cancelled("stopped at step 112".into()));
        assert_eq!(taken, 111);
        // Outside the scope the token is not watched; an uncancelled scope runs to the end.
        assert!(!cancelled());
        let run = minimize(f.as_ref(), opt.as_mut(), &[-1.5, 2.5], &RunOptions::steps(200), None).unwrap();
        assert_eq!(run.stop, StopReason::MaxSteps);
        let fresh = Cancel::new();
        let run =
            fresh.scope(|| minimize(f.as_ref(), opt.as_mut(), &[-1.5, 2.5], &RunOptions::steps(200), None));
        assert_eq!(run.unwrap().steps, 200);
    }

    #[test]
    fn a_token_cancelled_from_another_thread_stops_a_long_run_quickly() {
        let f = crate::objectives::build::<f64>("rosenbrock").unwrap();
        let mut opt = crate::optim::build::<f64>("gd:lr=1e-6", &Default::default()).unwrap();
        let token = Cancel::new();
        let remote = token.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            remote.cancel();
        });
        let options = RunOptions { record_every: 0, ..RunOptions::steps(crate::schedule::MAX_STEPS) };
        let t0 = std::time::Instant::now();
        let result = token.scope(|| minimize(f.as_ref(), opt.as_mut(), &[-1.5, 2.5], &options, None));
        canceller.join().unwrap();
        // MAX_STEPS steps would take minutes; the run returns within a second of the cancel.
        assert!(matches!(result, Err(Error::Cancelled(_))), "{result:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(2), "{:?}", t0.elapsed());
    }
}
