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

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a file and a failure leaves any previous file intact.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_parts(path, &[bytes])
}

/// The directory a file is written in (`.` for a bare name).
fn parent_dir(path: &std::path::Path) -> &std::path::Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."))
}

/// A file being written under a unique temporary name beside `path` (created with `O_EXCL`, so a
/// planted file or symlink is never followed), renamed over `path` by [`AtomicFile::commit`].
/// Dropped without a commit, it removes itself. Two writers to one path each write their own
/// temporary file: the last rename wins and the file is always one whole output.
pub struct AtomicFile {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Creates the temporary file beside `path`.
    pub fn create(path: &std::path::Path) -> anyhow::Result<AtomicFile> {
        use anyhow::Context;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("output");
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // Outputs are ordinary files (0666 less the umask), not tempfile's private 0600.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp =
            builder.tempfile_in(parent_dir(path)).with_context(|| format!("writing {}", path.display()))?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    /// Flushes the content to disk and renames it over the destination.
    pub fn commit(self) -> anyhow::Result<()> {
        use anyhow::Context;
        let AtomicFile { path, tmp } = self;
        tmp.as_file().sync_all().with_context(|| format!("writing {}", path.display()))?;
        tmp.persist(&path).map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// [`write_atomic`] for content held in several pieces, written one after another.
pub fn write_atomic_parts(path: &std::path::Path, parts: &[impl AsRef<[u8]>]) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let mut file = AtomicFile::create(path)?;
    for part in parts {
        file.file().write_all(part.as_ref()).with_context(|| format!("writing {}", path.display()))?;
    }
    file.commit()
}

/// Checks, before any work, that `path` can be written as an output file of `flag`: its
/// directory exists and it is not itself a directory.
pub fn check_output(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(crate::BadInput(format!(
            "{flag}: {}: the directory {} does not exist",
            path.display(),
            dir.display()
        ))
        .into());
    }
    if path.is_dir() {
        return Err(crate::BadInput(format!("{flag}: {}: is a directory, not a file", path.display())).into());
    }
    Ok(())
}

/// Checks, before any work, that `dir` can hold the output files of `flag`: it is a directory or
/// can be created as one (its parent exists).
pub fn check_output_dir(flag: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(
            crate::BadInput(format!("{flag}: {}: exists and is not a directory", dir.display())).into()
        );
    }
    let parent = parent_dir(dir);
    if !dir.exists() && !parent.is_dir() {
        return Err(crate::BadInput(format!(
            "{flag}: {}: the directory {} does not exist",
            dir.display(),
            parent.display()
        ))
        .into());
    }
    Ok(())
}

/// Reads at most `limit` bytes of the file `path` given to `flag`; a larger file (or an endless
/// one such as `/dev/zero`) is refused once the limit is passed, a missing one is bad input.
pub fn read_limited(flag: &str, path: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let bad =
        |msg: String| anyhow::Error::from(crate::BadInput(format!("{flag}: {}: {msg}", path.display())));
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| bad(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(bad(format!("larger than the {} limit for this file", human_bytes(limit))));
    }
    Ok(bytes)
}

/// A byte count for people: `256 MiB`, `1.2 GB`.
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1_000_000_000 {
        format!("{:.1} GB", n as f64 / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        format!("{n} bytes")
    }
}

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
