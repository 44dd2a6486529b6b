//! The library part of the `downhill` binary: the output helpers its commands share. The figures
//! and the plotting live in the `downhill-plot` crate (which the Python package uses too, without
//! this crate's server and command-line dependencies); they are re-exported here under their old
//! paths.

pub use downhill_plot::{figures, plot};
pub mod output;

/// An error caused by what the user typed (exit status 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The CLI's error for an orchestration error: input the user can fix becomes [`BadInput`] or
/// [`downhill::Error`] (exit status 2) with the same one-line message as before the library
/// existed; an optimizer spec of a sweep is named as its `--optimizer` argument.
pub fn runs_error(e: downhill_runs::Error) -> anyhow::Error {
    use downhill_runs::Error;
    match e {
        Error::Downhill(e) => e.into(),
        Error::Optimizer { spec, source } => runs_error(*source).context(format!("--optimizer {spec}")),
        Error::Invalid(msg) => BadInput(msg).into(),
        Error::Checkpoint { path, message } => {
            BadInput(format!("--resume: {}: {message}", path.display())).into()
        }
        other => other.into(),
    }
}
