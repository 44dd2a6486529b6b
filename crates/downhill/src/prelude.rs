//! What most programs need, in one line: `use downhill::prelude::*;`.
//!
//! The traits to implement or call ([`Objective`], [`Optimizer`]), every optimizer type,
//! [`Schedule`], the run loop ([`minimize`] with its [`RunOptions`] and [`RunResult`]), the
//! number type [`Real`] and the error type. Everything else stays in its module: option enums
//! such as [`crate::optim::CgVariant`], the other built-in objectives ([`crate::objectives`]),
//! line searches, schedules' helpers.
//!
//! ```
//! use downhill::prelude::*;
//!
//! let mut adam = Adam::<f64>::new(0.1)?;
//! let run = minimize(&Rosenbrock { a: 1.0, b: 10.0 }, &mut adam, &[-1.5, 2.5], &RunOptions::steps(500), None)?;
//! assert!(run.loss < 1e-6);
//! # Ok::<(), downhill::Error>(())
//! ```

pub use crate::error::{Error, Result};
pub use crate::objective::{FnObjective, Minimum, Objective};
pub use crate::objectives::{Quadratic, Rosenbrock};
pub use crate::optim::{
    Accumulate, AdaBelief, AdaGrad, Adadelta, Adafactor, Adam, Adamax, Adan, Asgd, Bfgs, ConjugateGradient,
    Ema, GradientDescent, Lamb, Lars, Lbfgs, Lion, Lookahead, Momentum, Muon, NAdam, Nesterov,
    NesterovLookahead, Newton, NewtonTrustRegion, NovoGrad, Optimizer, OptimizerState, RAdam, RmsProp, Rprop,
    Sam, ScheduleFreeAdamW, SkipNonFinite, Yogi,
};
pub use crate::real::Real;
pub use crate::run::{minimize, Observer, Point, RunOptions, RunResult, StopReason};
pub use crate::schedule::Schedule;
