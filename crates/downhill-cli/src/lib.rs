//! The parts of the `downhill` binary that other front ends reuse: the seed article's figures,
//! the plotting behind them and the output helpers. The Python package's `downhill.figures`
//! calls [`figures::write_all`], so both draw the same files from the same code.

pub mod figures;
pub mod output;
pub mod plot;

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
