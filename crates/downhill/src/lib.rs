//! # downhill
//!
//! Gradient-based optimization, exactly and fast: optimizers as explicit state plus an in-place
//! update, learning-rate schedules as functions of the step, objectives with exact derivatives,
//! and a run loop that records the walk and says why it stopped. Generic over `f32` and `f64`.
//!
//! The optimizers reproduce the formulas of the seed article ("Optimization Theory: From Gradient
//! Descent to Adam and Why Convergence Happens") with the same operations in the same order, so
//! `f64` runs agree with its numpy code to the last bit or within a few ulps (each optimizer's
//! documentation says which). Defaults follow PyTorch; where the seed, PyTorch and optax
//! disagree, the choice is a documented option.
//!
//! ```
//! use downhill::{minimize, objectives::Rosenbrock, optim::Adam, RunOptions};
//!
//! let objective = Rosenbrock { a: 1.0, b: 10.0 };
//! let mut adam = Adam::<f64>::new(0.1).expect("a valid rate");
//! let run = minimize(&objective, &mut adam, &[-1.5, 2.5], &RunOptions::steps(500), None).unwrap();
//! assert!(run.loss < 1e-6);
//! ```
//!
//! Or from spec strings, the way the command line does it:
//!
//! ```
//! use downhill::{minimize, objectives, optim, RunOptions};
//!
//! let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
//! let mut opt = optim::build::<f64>("momentum:lr=0.002,beta=0.9", &Default::default()).unwrap();
//! let run = minimize(f.as_ref(), opt.as_mut(), &[1.0, 1.0], &RunOptions::steps(100), None).unwrap();
//! assert_eq!(run.trajectory.len(), 101);
//! ```
#![warn(missing_docs)]

pub mod analysis;
pub mod batch;
pub mod compare;
pub mod error;
pub mod expr;
pub mod linalg;
pub mod line_search;
pub mod objective;
pub mod objectives;
pub mod optim;
pub mod prelude;
pub mod problem;
pub mod real;
pub mod report;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod spec;

pub use error::{Error, Result};
pub use objective::{DescribedObjective, Landscape, Minimum, Objective};
pub use optim::{Optimizer, OptimizerState};
pub use real::Real;
pub use run::{minimize, minimize_stochastic, Observer, Point, RunOptions, RunResult, StopReason};
pub use schedule::Schedule;
