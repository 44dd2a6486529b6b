//! Orchestration for [downhill]: what a command line does around single runs, as a
//! library that a Rust program calls directly.
//!
//! - [`sweep`]: the cartesian product of hyperparameter ranges and start points. Range syntax
//!   ([`sweep::expand`]), configuration indexing ([`sweep::Plan`]), sharding across machines
//!   including Slurm array and Kubernetes Indexed Job variables ([`sweep::Shard`]), the batched
//!   chunk runner ([`sweep::Sweep::run`]), the resumable journal ([`sweep::Journal`]) and typed
//!   result rows ([`sweep::Row`]) written as CSV or JSON ([`sweep::Table`]).
//! - [`checkpoint`]: exact, crash-safe checkpoints of a run: a versioned, CRC-32-checksummed file
//!   written atomically, and [`checkpoint::minimize_checkpointed`], which runs in segments with a
//!   checkpoint after each and continues bit for bit from one.
//! - [`output`]: atomic file writes (a unique temporary file beside the target, fsync, rename)
//!   and the checks made before any work.
//!
//! ```
//! use downhill::objectives;
//! use downhill_runs::sweep::{Plan, Sweep};
//!
//! let objective = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
//! // Five learning rates x two beta1 values, from two start points: 20 runs of 50 steps.
//! let plan = Plan::new(&["adam:lr=1e-3..1e-1:log:5,beta1=0.8|0.9"]).unwrap();
//! let sweep = Sweep::new(plan, vec![vec![-1.5, 2.0], vec![0.0, 0.0]], 50, 1e6).unwrap();
//! let rows = sweep.run(objective.as_ref(), &sweep.runs(), &objective.minima(), &()).unwrap();
//! assert_eq!(rows.len(), 20);
//! let best = rows.iter().min_by(|a, b| a.loss.total_cmp(&b.loss)).unwrap();
//! println!("best: {} from {:?}: {}", sweep.plan().spec(sweep.config_of(best.index)), sweep.start_of(best.index), best.loss);
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
mod error;
pub mod output;
pub mod sweep;

pub use error::{Error, Result};

/// CRC-32 (IEEE, as zlib and PNG compute it) of `bytes`: the one checksum of checkpoints and
/// sweep journals.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
