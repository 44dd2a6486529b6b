//! Formatting shared by the commands: formats, numbers, columns.

use clap::ValueEnum;

/// How a command prints its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

/// Names for parameter columns: x, y, z for up to three dimensions, else x1..xn.
pub fn coordinate_names(dim: usize) -> Vec<String> {
    if dim <= 3 {
        ["x", "y", "z"][..dim].iter().map(|s| s.to_string()).collect()
    } else {
        (1..=dim).map(|i| format!("x{i}")).collect()
    }
}

/// A number in a fixed-width table cell: plain decimals for moderate magnitudes, scientific otherwise.
pub fn cell(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 {
        "0".into()
    } else if !x.is_finite() {
        format!("{x}")
    } else if (1e-3..1e5).contains(&a) {
        format!("{x:.6}")
    } else {
        format!("{x:.4e}")
    }
}

/// Formats a column of numbers in one style: fixed decimals when every value is zero or of
/// moderate magnitude, scientific notation for all of them otherwise.
pub fn column(values: &[f64]) -> Vec<String> {
    let fixed = values.iter().all(|&x| x == 0.0 || (1e-3..1e5).contains(&x.abs()));
    values
        .iter()
        .map(|&x| {
            if !x.is_finite() {
                format!("{x}")
            } else if fixed {
                format!("{x:.6}")
            } else {
                format!("{x:.4e}")
            }
        })
        .collect()
}

/// Builds table rows from columns of equal length.
pub fn rows_from_columns(columns: &[Vec<String>]) -> Vec<Vec<String>> {
    let n = columns.first().map_or(0, Vec::len);
    (0..n).map(|i| columns.iter().map(|c| c[i].clone()).collect()).collect()
}

/// Which rows of `n` a table shows when the user did not ask for all: about `target` evenly spaced
/// ones, always including the first and the last.
pub fn sample_rows(n: usize, target: usize) -> Vec<usize> {
    if n <= target + 1 {
        return (0..n).collect();
    }
    // A round interval (1, 2, 5, 10, 20, ...) so that step numbers read well.
    let raw = (n - 1).div_ceil(target);
    let mut every = 1;
    'search: for scale in [1usize, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000] {
        for m in [1, 2, 5] {
            every = m * scale;
            if every >= raw {
                break 'search;
            }
        }
    }
    let mut rows: Vec<usize> = (0..n).step_by(every).collect();
    if rows.last() != Some(&(n - 1)) {
        rows.push(n - 1);
    }
    rows
}

/// Renders rows as right-aligned columns under a header.
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut s = line(header);
    for r in rows {
        s.push_str(&line(r));
    }
    s
}

/// Parses `X,Y,...` into numbers, naming `field` in errors.
pub fn parse_point(field: &str, text: &str) -> Result<Vec<f64>, downhill::Error> {
    text.split(',')
        .enumerate()
        .map(|(i, part)| {
            let name = format!("{field}[{i}]");
            let x = downhill::spec::parse_number(&name, part)?;
            downhill::spec::Range::Finite.check(&name, x)
        })
        .collect()
}

/// A progress bar with rate and ETA on stderr; hidden when stderr is not a terminal or `quiet`.
pub fn progress(total: u64, unit: &str, quiet: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let template = format!("{{bar:40}} {{human_pos}}/{{human_len}} {unit}  {{elapsed}} elapsed, eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Writes `bytes` to `path` atomically: a unique temporary file in the same directory, fsync,
/// rename ([`downhill_runs::output`]).
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    downhill_runs::output::write_atomic(path, bytes).map_err(crate::runs_error)
}

/// [`write_atomic`] for content held in several pieces, written one after another.
pub fn write_atomic_parts(path: &std::path::Path, parts: &[impl AsRef<[u8]>]) -> anyhow::Result<()> {
    downhill_runs::output::write_atomic_parts(path, parts).map_err(crate::runs_error)
}

/// Checks, before any work, that `path` can be written as an output file of `flag`: its
/// directory exists and it is not itself a directory.
pub fn check_output(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    downhill_runs::output::check_output(flag, path).map_err(crate::runs_error)
}

/// Checks, before any work, that `dir` can hold the output files of `flag`: it is a directory or
/// can be created as one (its parent exists).
pub fn check_output_dir(flag: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    downhill_runs::output::check_output_dir(flag, dir).map_err(crate::runs_error)
}

/// Reads at most `limit` bytes of the file `path` given to `flag`; a larger file (or an endless
/// one such as `/dev/zero`) is refused once the limit is passed, a missing one is bad input.
pub fn read_limited(flag: &str, path: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    downhill_runs::output::read_limited(flag, path, limit).map_err(crate::runs_error)
}

pub use downhill_runs::output::human_bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_always_include_the_ends() {
        assert_eq!(sample_rows(5, 20), vec![0, 1, 2, 3, 4]);
        let r = sample_rows(201, 20);
        assert_eq!((r[0], *r.last().unwrap()), (0, 200));
        assert!(r.len() <= 22);
    }

    #[test]
    fn points_parse_or_name_the_bad_coordinate() {
        assert_eq!(parse_point("start", "-1.5, 2.5").unwrap(), vec![-1.5, 2.5]);
        assert_eq!(
            parse_point("start", "1,x").unwrap_err().to_string(),
            "start[1]: cannot read 'x' as a number"
        );
        assert!(parse_point("start", "1,nan").unwrap_err().to_string().contains("start[1]: NaN is not in"));
    }
}
