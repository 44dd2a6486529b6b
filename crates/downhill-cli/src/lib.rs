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
