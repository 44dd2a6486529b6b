//! Output files written atomically, and the checks made before any work.
//!
//! Every file goes through a unique temporary file in the target's own directory (created with
//! `O_EXCL` by [`tempfile`], so a planted file or symlink is never followed), is flushed to disk
//! and renamed over the target: a reader sees the old file or the whole new one, never half of
//! one, and two writers to one path each leave a whole file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically (see the [module](self) documentation).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.txt");
/// downhill_runs::output::write_atomic(&path, b"hello\n").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello\n");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_parts(path, &[bytes])
}

/// [`write_atomic`] for content held in several pieces, written one after another.
pub fn write_atomic_parts(path: &Path, parts: &[impl AsRef<[u8]>]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    for part in parts {
        file.file().write_all(part.as_ref()).map_err(|e| writing(path, e))?;
    }
    file.commit()
}

/// The directory a file is written in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn writing(path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("writing {}", path.display()), e)
}

/// A file being written under a unique temporary name beside `path`, renamed over `path` by
/// [`AtomicFile::commit`]. Dropped without a commit, it removes itself.
pub struct AtomicFile {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Creates the temporary file beside `path` (named `.NAME.XXXXXX.tmp`).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("output");
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // Outputs are ordinary files (0666 less the umask), not tempfile's private 0600.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = builder.tempfile_in(parent_dir(path)).map_err(|e| writing(path, e))?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    /// Flushes the content to disk and renames it over the destination.
    pub fn commit(self) -> Result<()> {
        let AtomicFile { path, tmp } = self;
        tmp.as_file().sync_all().map_err(|e| writing(&path, e))?;
        tmp.persist(&path).map_err(|e| writing(&path, e.error))?;
        Ok(())
    }
}

/// Checks, before any work, that `path` can be written as an output file named `field` in
/// messages: its directory exists and it is not itself a directory.
pub fn check_output(field: &str, path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "{field}: {}: the directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    if path.is_dir() {
        return Err(Error::Invalid(format!("{field}: {}: is a directory, not a file", path.display())));
    }
    Ok(())
}

/// Checks, before any work, that `dir` can hold the output files of `field`: it is a directory or
/// can be created as one (its parent exists).
pub fn check_output_dir(field: &str, dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Invalid(format!("{field}: {}: exists and is not a directory", dir.display())));
    }
    let parent = parent_dir(dir);
    if !dir.exists() && !parent.is_dir() {
        return Err(Error::Invalid(format!(
            "{field}: {}: the directory {} does not exist",
            dir.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// Reads at most `limit` bytes of the file `path` given as `field`; a larger file (or an endless
/// one such as `/dev/zero`) is refused once the limit is passed, a missing one is bad input.
pub fn read_limited(field: &str, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let bad = |msg: String| Error::Invalid(format!("{field}: {}: {msg}", path.display()));
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
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write_atomic(&path, b"old\n").unwrap();
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.file().write_all(b"half of a new fi").unwrap();
            // Dropped without commit: as a failure part-way leaves it.
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
        write_atomic_parts(&path, &["a,", "b\n"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a,b\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.csv")]);
    }

    #[test]
    fn outputs_and_inputs_are_checked_with_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nodir").join("x.csv");
        let e = check_output("--out", &missing).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("does not exist"), "{e}");
        assert!(check_output("--out", dir.path()).unwrap_err().to_string().contains("is a directory"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert_eq!(read_limited("f", &big, 2048).unwrap().len(), 2048);
        let e = read_limited("f", &big, 1 << 10).unwrap_err().to_string();
        assert!(e.ends_with("larger than the 1024 bytes limit for this file"), "{e}");
        assert_eq!((human_bytes(256 << 20), human_bytes(4 << 30)), ("256 MiB".into(), "4 GiB".into()));
    }
}
