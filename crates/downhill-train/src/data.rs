//! Data sets: built-in ones, CSV and IDX (MNIST) files, standardization and seeded splits.
//!
//! A [`Dataset`] holds features as an `n x d` row-major `f64` matrix and a [`Target`]: class
//! labels (classification) or real values (regression, possibly several outputs). Loaders never
//! panic on bad input: every problem is an [`Error::Data`] naming the file, the line or column,
//! and what was expected.

use std::io::Read;
use std::path::Path;

use downhill::error::{Error, Result};
use downhill::rng::Rng;

/// What is predicted.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Class labels `0..names.len()`.
    Classes {
        /// One label per sample.
        labels: Vec<u32>,
        /// The name of each class.
        names: Vec<String>,
    },
    /// Real values, `k` per sample, row-major.
    Values {
        /// `n x k` values.
        values: Vec<f64>,
        /// The name of each output.
        names: Vec<String>,
    },
}

impl Target {
    /// Outputs per sample: the number of classes, or of values.
    pub fn width(&self) -> usize {
        match self {
            Target::Classes { names, .. } | Target::Values { names, .. } => names.len(),
        }
    }

    /// Whether this is a classification target.
    pub fn is_classes(&self) -> bool {
        matches!(self, Target::Classes { .. })
    }

    fn select(&self, rows: &[usize]) -> Target {
        match self {
            Target::Classes { labels, names } => {
                Target::Classes { labels: rows.iter().map(|&i| labels[i]).collect(), names: names.clone() }
            }
            Target::Values { values, names } => {
                let k = names.len();
                Target::Values {
                    values: rows.iter().flat_map(|&i| values[i * k..(i + 1) * k].iter().copied()).collect(),
                    names: names.clone(),
                }
            }
        }
    }
}

/// Features and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// A short name for reports (`iris`, or the file name).
    pub name: String,
    /// `n x d` features, row-major.
    pub features: Vec<f64>,
    /// Number of features `d`.
    pub dim: usize,
    /// The name of each feature.
    pub feature_names: Vec<String>,
    /// What is predicted.
    pub target: Target,
}

/// Mean and standard deviation of each column, to standardize with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaler {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column standard deviations (1 where a column is constant).
    pub std: Vec<f64>,
}

impl Scaler {
    /// Fits column means and (population) standard deviations of an `n x d` matrix.
    pub fn fit(data: &[f64], d: usize) -> Scaler {
        let n = data.len().checked_div(d).unwrap_or(0).max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in data.chunks_exact(d) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; d];
        for row in data.chunks_exact(d) {
            for ((v, x), m) in var.iter_mut().zip(row).zip(&mean) {
                *v += (x - m) * (x - m);
            }
        }
        let std = var.iter().map(|v| (v / n).sqrt()).map(|s| if s > 1e-12 { s } else { 1.0 }).collect();
        Scaler { mean, std }
    }

    /// `(x - mean) / std`, column by column, in place.
    pub fn apply(&self, data: &mut [f64]) {
        let d = self.mean.len();
        for row in data.chunks_exact_mut(d) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let d = self.dim;
        Dataset {
            name: self.name.clone(),
            features: rows.iter().flat_map(|&i| self.features[i * d..(i + 1) * d].iter().copied()).collect(),
            dim: d,
            feature_names: self.feature_names.clone(),
            target: self.target.select(rows),
        }
    }

    /// A seeded shuffle split into (train, validation), `validation` the fraction held out
    /// (at least one sample on each side).
    pub fn split(&self, validation: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&validation) || validation.is_nan() {
            return Err(Error::out_of_range("validation", validation, "[0, 1)"));
        }
        let n = self.len();
        let mut order: Vec<usize> = (0..n).collect();
        Rng::new(seed ^ 0x5EED_5A17).shuffle(&mut order);
        let held =
            if validation == 0.0 { 0 } else { ((n as f64 * validation).round() as usize).clamp(1, n - 1) };
        if n < 2 && held > 0 {
            return Err(Error::data(&self.name, format!("{n} samples cannot be split")));
        }
        let (val, train) = order.split_at(held);
        Ok((self.select(train), self.select(val)))
    }

    /// Checks that the data set can be trained on: samples, features, finite values, classes.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.features.is_empty() {
            return Err(Error::data(&self.name, "no samples or no feature columns"));
        }
        if self.features.len() % self.dim != 0 {
            return Err(Error::data(&self.name, "feature matrix is ragged"));
        }
        if let Some(i) = self.features.iter().position(|x| !x.is_finite()) {
            return Err(Error::data(
                &self.name,
                format!(
                    "sample {}, feature '{}' is not finite",
                    i / self.dim,
                    self.feature_names[i % self.dim]
                ),
            ));
        }
        match &self.target {
            Target::Classes { labels, names } => {
                if labels.len() != self.len() {
                    return Err(Error::data(&self.name, "labels and samples differ in number"));
                }
                if names.len() < 2 {
                    return Err(Error::data(&self.name, "classification needs at least 2 classes"));
                }
                if let Some(l) = labels.iter().find(|&&l| l as usize >= names.len()) {
                    return Err(Error::data(&self.name, format!("label {l} outside 0..{}", names.len())));
                }
            }
            Target::Values { values, names } => {
                if values.len() != self.len() * names.len() {
                    return Err(Error::data(&self.name, "targets and samples differ in number"));
                }
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(Error::data(&self.name, "a target value is not finite"));
                }
            }
        }
        Ok(())
    }
}

/// How to read a CSV target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Classes when the column holds text or at most 20 distinct whole numbers, else values.
    Auto,
    /// Class labels (any text; sorted distinct values become classes 0, 1, ...).
    Classify,
    /// Real values.
    Regress,
}

/// The largest CSV file read (parsing holds its bytes, the features as `f64` and one target per row).
pub const MAX_CSV_BYTES: u64 = 256 << 20;

/// The most values an IDX file may hold (1 GiB as `f64`; MNIST's training images are 47 million).
pub const MAX_IDX_VALUES: usize = 1 << 27;

/// Reads at most `limit` bytes of `path`; a larger file, or an endless one such as `/dev/zero`,
/// is an error as soon as the limit is passed.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let origin = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::data(&origin, format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::data(&origin, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::data(
            &origin,
            format!("larger than the {} MiB limit for this kind of file", limit >> 20),
        ));
    }
    Ok(bytes)
}

/// Reads a CSV file whose `target` column (a header name, a 0-based index, or `last`) is
/// predicted from all the other columns. Files over [`MAX_CSV_BYTES`] are refused.
///
/// The first row is a header when any of its cells is not a number. Every row must have the
/// header's number of cells and every feature cell must be a number.
pub fn load_csv(path: &Path, target: &str, task: Task) -> Result<Dataset> {
    let origin = path.display().to_string();
    let text = read_file(path, MAX_CSV_BYTES)?;
    parse_csv(&text, &origin, target, task)
}

/// One target cell: a number (possibly not finite: refused later with its line), or text
/// (an index into the distinct texts seen).
#[derive(Clone, Copy)]
enum Cell {
    Number(f64),
    Text(u32),
}

/// [`load_csv`] on bytes already in memory; `origin` names them in errors. Rows are parsed one
/// at a time: features go straight to numbers, targets to numbers or to an index of distinct texts.
pub fn parse_csv(bytes: &[u8], origin: &str, target: &str, task: Task) -> Result<Dataset> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let mut record = csv::StringRecord::new();
    // The next non-empty row and its line, refusing a quoted cell that runs over a line break
    // (an unterminated quote would otherwise swallow the rows after it).
    let mut next_row = |record: &mut csv::StringRecord| -> Result<Option<u64>> {
        loop {
            let more =
                reader.read_record(record).map_err(|e| Error::data(origin, format!("not valid CSV: {e}")))?;
            if !more {
                return Ok(None);
            }
            let line = record.position().map_or(0, |p| p.line());
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            if record.iter().any(|c| c.contains(['\n', '\r'])) {
                return Err(Error::data(
                    format!("{origin} line {line}"),
                    "a quoted cell runs over the end of the line (an unterminated quote?)",
                ));
            }
            return Ok(Some(line));
        }
    };
    let Some(first_line) = next_row(&mut record)? else {
        return Err(Error::data(origin, "the file is empty"));
    };
    let first: Vec<String> = record.iter().map(str::to_string).collect();
    let header = first.iter().any(|c| c.parse::<f64>().is_err());
    let width = first.len();
    let names: Vec<String> =
        if header { first.clone() } else { (0..width).map(|i| format!("column {i}")).collect() };
    if width < 2 {
        return Err(Error::data(origin, "need at least two columns: features and a target"));
    }
    let column = if target == "last" {
        width - 1
    } else if let Some(i) = names.iter().position(|n| n == target) {
        i
    } else if let Ok(i) = target.parse::<usize>() {
        if i >= width {
            return Err(Error::out_of_range("target", i, &format!("column indices 0..={}", width - 1)));
        }
        i
    } else {
        let accepted: Vec<&str> = names.iter().map(String::as_str).collect();
        return Err(Error::unknown("target column", target, &accepted));
    };
    let dim = width - 1;
    let mut features = Vec::new();
    let mut targets: Vec<Cell> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut texts: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut take_row = |line: u64, cells: &mut dyn Iterator<Item = &str>| -> Result<()> {
        let mut count = 0;
        for (j, cell) in cells.enumerate() {
            count += 1;
            if j >= width {
                continue;
            }
            if j == column {
                targets.push(match cell.parse::<f64>() {
                    Ok(x) => Cell::Number(x),
                    Err(_) => {
                        let next = texts.len() as u32;
                        Cell::Text(*texts.entry(cell.to_string()).or_insert(next))
                    }
                });
                continue;
            }
            let x: f64 = cell.parse().ok().filter(|x: &f64| x.is_finite()).ok_or_else(|| {
                Error::data(
                    format!("{origin} line {line}, column '{}'", names[j]),
                    format!("cannot read '{cell}' as a finite number"),
                )
            })?;
            features.push(x);
        }
        if count != width {
            return Err(Error::data(
                format!("{origin} line {line}"),
                format!("expected {width} cells (as in the first row), got {count}"),
            ));
        }
        lines.push(line);
        Ok(())
    };
    if !header {
        take_row(first_line, &mut first.iter().map(String::as_str))?;
    }
    while let Some(line) = next_row(&mut record)? {
        take_row(line, &mut record.iter())?;
    }
    if targets.is_empty() {
        return Err(Error::data(origin, "no data rows after the header"));
    }
    let target_field = |i: usize| format!("{origin} line {}, column '{}'", lines[i], names[column]);
    // A numeric column (every cell a number) must hold finite numbers, whatever the task.
    let numeric: Option<Vec<f64>> =
        targets.iter().map(|c| if let Cell::Number(x) = c { Some(*x) } else { None }).collect();
    if let Some(v) = &numeric {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::data(
                target_field(i),
                format!("the target '{}' is not a finite number", v[i]),
            ));
        }
    }
    let classify = match task {
        Task::Classify => true,
        Task::Regress => false,
        Task::Auto => match &numeric {
            None => true,
            Some(v) => {
                let mut distinct: Vec<i64> =
                    v.iter().filter(|x| x.fract() == 0.0).map(|&x| x as i64).collect();
                distinct.sort_unstable();
                distinct.dedup();
                distinct.len() <= 20 && v.iter().all(|x| x.fract() == 0.0)
            }
        },
    };
    let target = if classify {
        match &numeric {
            // Numbers are classes by value: `1`, `1.0` and `01` are one class, named `1`.
            Some(v) => {
                let mut classes = v.clone();
                classes.sort_by(f64::total_cmp);
                classes.dedup();
                let labels = v.iter().map(|x| classes.partition_point(|c| c < x) as u32).collect();
                Target::Classes { labels, names: classes.iter().map(|c| format!("{c}")).collect() }
            }
            // Any text: classes are the distinct cells in sorted order (numbers among them as written).
            None => {
                let mut all: Vec<String> = texts.keys().cloned().collect();
                for c in &targets {
                    if let Cell::Number(x) = c {
                        all.push(format!("{x}"));
                    }
                }
                all.sort_unstable();
                all.dedup();
                let mut by_text = vec![0u32; texts.len()];
                for (t, &i) in &texts {
                    by_text[i as usize] = all.binary_search(t).unwrap_or(0) as u32;
                }
                let labels = targets
                    .iter()
                    .map(|c| match c {
                        Cell::Text(i) => by_text[*i as usize],
                        Cell::Number(x) => all.binary_search(&format!("{x}")).unwrap_or(0) as u32,
                    })
                    .collect();
                Target::Classes { labels, names: all }
            }
        }
    } else {
        let values = match numeric {
            Some(v) => v,
            None => {
                let i = targets.iter().position(|c| matches!(c, Cell::Text(_))).unwrap_or(0);
                let bad = match targets[i] {
                    Cell::Text(t) => texts.iter().find(|(_, &k)| k == t).map_or("", |(s, _)| s.as_str()),
                    Cell::Number(_) => "",
                };
                return Err(Error::data(
                    target_field(i),
                    format!("cannot read '{bad}' as a number (regression target)"),
                ));
            }
        };
        Target::Values { values, names: vec![names[column].clone()] }
    };
    let feature_names =
        names.iter().enumerate().filter(|(j, _)| *j != column).map(|(_, n)| n.clone()).collect();
    let name = Path::new(origin).file_stem().map_or(origin.to_string(), |s| s.to_string_lossy().into_owned());
    let ds = Dataset { name, features, dim, feature_names, target };
    ds.validate()?;
    Ok(ds)
}

/// An array read from an IDX file: its shape and values (as `f64`).
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub values: Vec<f64>,
    /// Whether the file stored unsigned bytes (pixels 0..255).
    pub bytes: bool,
}

/// Reads an IDX file (the MNIST format), gzip-compressed when its name ends in `.gz`. The header
/// is read and checked first, then exactly the bytes its shape implies (at most
/// [`MAX_IDX_VALUES`] values): a file longer than its header says is refused without unpacking
/// the rest.
pub fn load_idx(path: &Path) -> Result<IdxArray> {
    let origin = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::data(&origin, format!("cannot read: {e}")))?;
    let file = std::io::BufReader::new(file);
    if path.extension().is_some_and(|e| e == "gz") {
        read_idx(flate2::read::GzDecoder::new(file), &origin, "not valid gzip")
    } else {
        read_idx(file, &origin, "cannot read")
    }
}

/// Parses IDX bytes: magic `0 0 type ndim`, `ndim` big-endian u32 sizes, then the values.
pub fn parse_idx(bytes: &[u8], origin: &str) -> Result<IdxArray> {
    read_idx(bytes, origin, "cannot read")
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
fn read_up_to(r: &mut impl Read, n: u64, origin: &str, io: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(n).read_to_end(&mut out).map_err(|e| Error::data(origin, format!("{io}: {e}")))?;
    Ok(out)
}

fn read_idx(mut r: impl Read, origin: &str, io: &str) -> Result<IdxArray> {
    let magic = read_up_to(&mut r, 4, origin, io)?;
    if magic.len() < 4 || magic[0] != 0 || magic[1] != 0 {
        let shown: Vec<String> = magic.iter().map(|b| format!("{b:02x}")).collect();
        return Err(Error::data(
            origin,
            format!("bad IDX magic {}: expected 00 00 <type> <dims>", shown.join(" ")),
        ));
    }
    let (kind, ndim) = (magic[2], magic[3] as usize);
    let width = match kind {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        _ => {
            return Err(Error::data(
                origin,
                format!("unknown IDX element type 0x{kind:02x}; accepted: 08, 09, 0b, 0c, 0d, 0e"),
            ))
        }
    };
    if ndim == 0 {
        return Err(Error::data(origin, "IDX file with 0 dimensions"));
    }
    let header = 4 + 4 * ndim;
    let sizes = read_up_to(&mut r, 4 * ndim as u64, origin, io)?;
    if sizes.len() < 4 * ndim {
        return Err(Error::data(
            origin,
            format!("truncated: {} bytes, the header alone needs {header}", 4 + sizes.len()),
        ));
    }
    let shape: Vec<usize> =
        sizes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let count = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
    let Some(count) = count.filter(|&c| c <= MAX_IDX_VALUES) else {
        return Err(Error::data(
            origin,
            format!("shape {shape:?} is too large: at most {MAX_IDX_VALUES} values are read"),
        ));
    };
    let need = header + count * width;
    // One byte more than the shape needs tells a longer file without reading the rest of it.
    let data = read_up_to(&mut r, (count * width) as u64 + 1, origin, io)?;
    if data.len() != count * width {
        let what = if data.len() < count * width {
            format!("the file has {}", header + data.len())
        } else {
            "the file is longer".to_string()
        };
        return Err(Error::data(
            origin,
            format!("shape {shape:?} needs {need} bytes, {what} (truncated or wrong file)"),
        ));
    }
    let values: Vec<f64> = match kind {
        0x08 => data.iter().map(|&b| b as f64).collect(),
        0x09 => data.iter().map(|&b| b as i8 as f64).collect(),
        0x0B => data.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]]) as f64).collect(),
        0x0C => data.chunks_exact(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
        0x0D => data.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
        _ => data.chunks_exact(8).map(|c| f64::from_be_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
    };
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::data(origin, "a value is not finite"));
    }
    Ok(IdxArray { shape, values, bytes: kind == 0x08 })
}

/// A classification data set from an IDX images file and an IDX labels file (as MNIST's
/// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`). Byte pixels are scaled to [0, 1].
pub fn load_idx_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    let x = load_idx(images)?;
    let y = load_idx(labels)?;
    let n = x.shape[0];
    if y.shape.len() != 1 || y.shape[0] != n {
        return Err(Error::data(
            labels.display().to_string(),
            format!("expected {n} labels (one per image) in a 1-D file, found shape {:?}", y.shape),
        ));
    }
    let dim: usize = x.shape[1..].iter().product();
    let mut features = x.values;
    if x.bytes {
        features.iter_mut().for_each(|v| *v /= 255.0);
    }
    if let Some(bad) = y.values.iter().find(|v| v.fract() != 0.0 || **v < 0.0 || **v > 65535.0) {
        return Err(Error::data(labels.display().to_string(), format!("label {bad} is not a class number")));
    }
    let classes = y.values.iter().fold(0.0f64, |a, &b| a.max(b)) as usize + 1;
    let ds = Dataset {
        name: images.file_stem().map_or("idx".into(), |s| s.to_string_lossy().into_owned()),
        features,
        dim,
        feature_names: (0..dim).map(|i| format!("pixel {i}")).collect(),
        target: Target::Classes {
            labels: y.values.iter().map(|&v| v as u32).collect(),
            names: (0..classes).map(|c| c.to_string()).collect(),
        },
    };
    ds.validate()?;
    Ok(ds)
}

/// The built-in data sets: name, task, one line of description.
pub const BUILTIN: &[(&str, &str, &str)] = &[
    ("iris", "classification", "Fisher's iris: 150 flowers, 4 measurements, 3 species (linfa-datasets)"),
    (
        "winequality",
        "classification",
        "red Vinho Verde wines: 1,599 samples, 11 chemical measurements, quality 3..8 as 6 classes (linfa-datasets)",
    ),
    ("diabetes", "regression", "diabetes progression: 442 patients, 10 measurements, one value (linfa-datasets)"),
    ("linnerud", "regression", "Linnerud fitness club: 20 men, 3 exercises, 3 physiological values (linfa-datasets)"),
];

/// A built-in data set by name (see [`BUILTIN`]); needs the `datasets` feature.
pub fn builtin(name: &str) -> Result<Dataset> {
    let names: Vec<&str> = BUILTIN.iter().map(|b| b.0).collect();
    if !names.contains(&name) {
        return Err(Error::unknown("data set", name, &names));
    }
    load_builtin(name)
}

#[cfg(feature = "datasets")]
fn load_builtin(name: &str) -> Result<Dataset> {
    use linfa_datasets as ld;
    fn classes(
        name: &str,
        ds: linfa::Dataset<f64, usize, ndarray::Ix1>,
        class_names: Option<&[&str]>,
    ) -> Dataset {
        let raw: Vec<usize> = ds.targets().iter().copied().collect();
        let mut distinct = raw.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let names = match class_names {
            Some(n) => n.iter().map(|s| s.to_string()).collect(),
            None => distinct.iter().map(|c| c.to_string()).collect(),
        };
        let labels = raw.iter().map(|r| distinct.iter().position(|d| d == r).unwrap_or(0) as u32).collect();
        Dataset {
            name: name.into(),
            features: ds.records().iter().copied().collect(),
            dim: ds.records().ncols(),
            feature_names: ds.feature_names().to_vec(),
            target: Target::Classes { labels, names },
        }
    }
    Ok(match name {
        "iris" => classes("iris", ld::iris(), Some(&["setosa", "versicolor", "virginica"])),
        "winequality" => classes("winequality", ld::winequality(), None),
        "diabetes" => {
            let ds = ld::diabetes();
            let values = ds.targets().iter().copied().collect();
            values_set(name, ds.records(), ds.feature_names().to_vec(), values, vec!["progression".into()])
        }
        _ => {
            let ds = ld::linnerud();
            let values = ds.targets().iter().copied().collect();
            values_set(name, ds.records(), ds.feature_names().to_vec(), values, ds.target_names().to_vec())
        }
    })
}

/// A regression data set from linfa's records and targets.
#[cfg(feature = "datasets")]
fn values_set(
    name: &str,
    records: &ndarray::Array2<f64>,
    feature_names: Vec<String>,
    values: Vec<f64>,
    names: Vec<String>,
) -> Dataset {
    Dataset {
        name: name.into(),
        features: records.iter().copied().collect(),
        dim: records.ncols(),
        feature_names,
        target: Target::Values { values, names },
    }
}

#[cfg(not(feature = "datasets"))]
fn load_builtin(name: &str) -> Result<Dataset> {
    Err(Error::Unsupported(format!(
        "data set '{name}' is built in only with downhill's `datasets` feature; load a CSV or IDX file instead"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_text_labels_and_errors() {
        let text = b"a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n";
        let ds = parse_csv(text, "t.csv", "kind", Task::Auto).unwrap();
        assert_eq!(ds.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            ds.target,
            Target::Classes { labels: vec![0, 1, 0], names: vec!["cat".into(), "dog".into()] }
        );
        let e = parse_csv(b"a,b,c\n1,2,3\n4,5\n", "t.csv", "c", Task::Auto).unwrap_err().to_string();
        assert_eq!(e, "t.csv line 3: expected 3 cells (as in the first row), got 2");
        let e = parse_csv(b"a,b,c\n1,x,3\n4,5,6\n", "t.csv", "c", Task::Auto).unwrap_err().to_string();
        assert_eq!(e, "t.csv line 2, column 'b': cannot read 'x' as a finite number");
        let e = parse_csv(b"a,b,c\n1,2,3\n", "t.csv", "cc", Task::Auto).unwrap_err().to_string();
        assert!(e.starts_with("unknown target column 'cc' (did you mean 'c'?)"), "{e}");
        assert!(parse_csv(b"", "t.csv", "last", Task::Auto).is_err());
    }

    #[test]
    fn csv_without_header_regression() {
        let ds = parse_csv(b"1,2,0.5\n3,4,1.5\n", "t.csv", "last", Task::Auto).unwrap();
        assert_eq!(ds.dim, 2);
        assert_eq!(ds.target, Target::Values { values: vec![0.5, 1.5], names: vec!["column 2".into()] });
    }

    #[test]
    fn idx_round_trip_and_bad_magic() {
        let mut b = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend([0, 255, 51, 102]);
        let a = parse_idx(&b, "x").unwrap();
        assert_eq!(a.shape, vec![2, 1, 2]);
        assert_eq!(a.values, vec![0.0, 255.0, 51.0, 102.0]);
        let e = parse_idx(&[1, 2, 3, 4], "x").unwrap_err().to_string();
        assert_eq!(e, "x: bad IDX magic 01 02 03 04: expected 00 00 <type> <dims>");
        assert!(parse_idx(&b[..b.len() - 1], "x").unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn gzipped_idx_files_load_like_plain_ones() {
        use std::io::Write;
        let mut images = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        images.extend([0, 255, 255, 0, 255, 0, 0, 255]);
        let labels = vec![0, 0, 0x08, 1, 0, 0, 0, 2, 0, 1];
        let dir = std::env::temp_dir().join(format!("downhill-idx-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gz = |name: &str, bytes: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(bytes).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, e.finish().unwrap()).unwrap();
            path
        };
        let ds = load_idx_pair(&gz("i.gz", &images), &gz("l.gz", &labels)).unwrap();
        assert_eq!((ds.len(), ds.dim), (2, 4));
        assert_eq!(ds.features, vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(ds.target, Target::Classes { labels: vec![0, 1], names: vec!["0".into(), "1".into()] });
        let not_gz = dir.join("bad.gz");
        std::fs::write(&not_gz, b"plain bytes").unwrap();
        assert!(load_idx(&not_gz).unwrap_err().to_string().contains("not valid gzip"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn csv_targets_that_are_not_finite_name_their_line_and_value() {
        let text = b"a,y\n1,1.5\n2,2.5\n3,3.5\n4,4.5\n5,nan\n6,6.5\n";
        for task in [Task::Regress, Task::Auto, Task::Classify] {
            let e = parse_csv(text, "t.csv", "y", task).unwrap_err().to_string();
            assert_eq!(e, "t.csv line 6, column 'y': the target 'NaN' is not a finite number", "{task:?}");
        }
        let e = parse_csv(b"a,y\n1,2\n2,inf\n", "t.csv", "y", Task::Regress).unwrap_err().to_string();
        assert_eq!(e, "t.csv line 3, column 'y': the target 'inf' is not a finite number");
        // A text target in a regression names its line and value.
        let e = parse_csv(b"a,y\n1,2\n2,3\n3,x\n", "t.csv", "y", Task::Regress).unwrap_err().to_string();
        assert_eq!(e, "t.csv line 4, column 'y': cannot read 'x' as a number (regression target)");
    }

    #[test]
    fn an_unterminated_quote_is_an_error_not_a_swallowed_row() {
        let text = b"a,b,kind\n1,2,\"cat\n3,4,dog\n5,6,cat\n";
        let e = parse_csv(text, "t.csv", "kind", Task::Auto).unwrap_err().to_string();
        assert_eq!(e, "t.csv line 2: a quoted cell runs over the end of the line (an unterminated quote?)");
    }

    #[test]
    fn numeric_labels_are_classes_by_value() {
        let ds = parse_csv(b"a,y\n1,1\n2,1.0\n3,01\n4,2\n", "t.csv", "y", Task::Classify).unwrap();
        assert_eq!(
            ds.target,
            Target::Classes { labels: vec![0, 0, 0, 1], names: vec!["1".into(), "2".into()] }
        );
        let ds = parse_csv(b"a,y\n1,1\n2,1.0\n3,01\n4,2\n", "t.csv", "y", Task::Auto).unwrap();
        assert_eq!(ds.target.width(), 2);
    }

    #[test]
    fn files_over_the_limit_and_endless_ones_are_refused() {
        let e = read_file(Path::new("/dev/zero"), 1 << 20).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: larger than the 1 MiB limit for this kind of file");
        let t0 = std::time::Instant::now();
        assert!(load_csv(Path::new("/dev/zero"), "last", Task::Auto).is_err());
        assert!(t0.elapsed().as_secs() < 20);
    }

    /// Counts the bytes read through it.
    struct Counting<R>(R, std::rc::Rc<std::cell::Cell<usize>>);

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.set(self.1.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn a_gzip_bomb_is_refused_after_its_header() {
        use std::io::Write;
        // A header for 10 x 4 x 4 bytes (160), then 64 MiB of zeros, compressed to a few hundred KB.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&[0, 0, 0x08, 3, 0, 0, 0, 10, 0, 0, 0, 4, 0, 0, 0, 4]).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let gz = e.finish().unwrap();
        assert!(gz.len() < 1 << 20);
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let decoder = Counting(flate2::read::GzDecoder::new(&gz[..]), read.clone());
        let err = read_idx(decoder, "bomb.gz", "not valid gzip").unwrap_err().to_string();
        assert_eq!(
            err,
            "bomb.gz: shape [10, 4, 4] needs 176 bytes, the file is longer (truncated or wrong file)"
        );
        // The header (16 bytes) and one byte past the 160 the shape needs: nothing more unpacked.
        assert_eq!(read.get(), 16 + 161);
        // A header that asks for more values than the limit is refused before any are read.
        let huge = [0, 0, 0x08, 3, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0];
        let e = parse_idx(&huge, "h").unwrap_err().to_string();
        assert!(e.contains("too large: at most 134217728 values"), "{e}");
    }

    #[test]
    fn scaler_and_split() {
        let data = vec![1.0, 10.0, 3.0, 10.0];
        let s = Scaler::fit(&data, 2);
        assert_eq!(s.mean, vec![2.0, 10.0]);
        assert_eq!(s.std, vec![1.0, 1.0]);
        let ds = Dataset {
            name: "t".into(),
            features: (0..20).map(f64::from).collect(),
            dim: 2,
            feature_names: vec!["a".into(), "b".into()],
            target: Target::Values { values: (0..10).map(f64::from).collect(), names: vec!["y".into()] },
        };
        let (tr, va) = ds.split(0.3, 1).unwrap();
        assert_eq!((tr.len(), va.len()), (7, 3));
        let mut all: Vec<f64> = tr.features.iter().chain(&va.features).copied().collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all, ds.features);
        assert_eq!(ds.split(0.3, 1).unwrap(), (tr, va));
    }
}
