//! Figures for downhill: contour maps with trajectories, line charts and heatmaps drawn with
//! plotters into PNG or SVG ([`plot`]), and the seed article's three figures rebuilt from
//! downhill's own runs ([`figures`]).
//!
//! Its own crate so that both front ends draw the same files from the same code without pulling
//! each other's dependencies: the command line (`downhill-cli`, which adds clap, the HTTP server
//! and the sweeps) and the Python package (`python/`, which must not build axum or tokio).
//!
//! ```no_run
//! let (written, _notes) = downhill_plot::figures::write_all(std::path::Path::new("figures")).unwrap();
//! assert_eq!(written.len(), 9); // three figures, each as .png, .svg and .json
//! ```
#![warn(missing_docs)]

pub mod figures;
pub mod plot;

use std::path::{Path, PathBuf};

/// What can go wrong while drawing or saving a figure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller asked for something that cannot be drawn, e.g. a file name that ends in neither
    /// `.png` nor `.svg`; the message names the flag or field, the value and what is accepted.
    #[error("{0}")]
    BadInput(String),
    /// plotters or the PNG encoder failed, or the data have no range to draw.
    #[error("{0}")]
    Render(String),
    /// Creating a directory or writing a file failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done, with the path (`writing figures/gd.png`).
        context: String,
        /// The operating system's error (part of the message, so one line says it all).
        error: std::io::Error,
    },
    /// A figure's optimization run was refused (a spec or a start point).
    #[error(transparent)]
    Downhill(#[from] downhill::Error),
    /// A figure's data could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// True for errors caused by what the user asked for (the command line exits with status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::BadInput(_) | Error::Downhill(_))
    }
}

/// `std::result::Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Writes `bytes` to `path` through a unique temporary file beside it (created with `O_EXCL`, so
/// a planted file or symlink is never followed), flushed to disk and renamed over `path`: a
/// failure never leaves half a file, and the destination is always one whole output.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |error| Error::Io { context: format!("writing {}", path.display()), error };
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("output");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Outputs are ordinary files (0666 less the umask), not tempfile's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(&dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_the_file_whole_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.svg");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.svg")]);
        // A missing directory is an I/O error naming the path, and creates nothing.
        let err = write_atomic(&dir.path().join("missing/b.png"), b"x").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("writing ") && text.contains("missing/b.png: "), "{text}");
        assert!(!err.is_bad_input());
    }

    #[test]
    fn a_file_name_without_png_or_svg_is_bad_input() {
        let err = plot::check_extension(Path::new("out.jpg"), "--output").unwrap_err();
        assert!(err.is_bad_input());
        assert_eq!(err.to_string(), "--output: out.jpg: the file name must end in .png or .svg");
        assert!(plot::check_extension(Path::new("out.PNG"), "--output").is_ok());
    }
}
