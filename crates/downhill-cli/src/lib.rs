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
