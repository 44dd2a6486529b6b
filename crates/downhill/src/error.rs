//! The library's error type.

use thiserror::Error;

/// Everything that can go wrong in downhill's library calls.
///
/// Messages are written for a person and fit on one line: they name the field, the value and
/// what would have been accepted.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A hyperparameter or setting outside its accepted range.
    #[error("{field}: {value} is not in {range}")]
    OutOfRange {
        /// Dotted path of the field, e.g. `adam.lr`.
        field: String,
        /// The value as the user gave it.
        value: String,
        /// The accepted range, e.g. `(0, inf)` or `[0, 1)`.
        range: String,
    },
    /// A value that could not be parsed.
    #[error("{field}: cannot read '{value}' as {expected}")]
    Parse {
        /// Dotted path of the field.
        field: String,
        /// The text that failed to parse.
        value: String,
        /// What was expected, e.g. `a number`.
        expected: String,
    },
    /// A name that is not known, with the accepted names and a suggestion.
    #[error("unknown {kind} '{name}'{suggestion}; accepted: {accepted}")]
    Unknown {
        /// What kind of name: `optimizer`, `objective`, `schedule`, `adam key`, ...
        kind: String,
        /// The name given.
        name: String,
        /// ` (did you mean 'x'?)` or empty.
        suggestion: String,
        /// The accepted names, comma-separated.
        accepted: String,
    },
    /// Lengths that must agree but do not.
    #[error("{field}: expected {expected} values, got {got}")]
    Dimension {
        /// Dotted path of the field, e.g. `start`.
        field: String,
        /// The number needed.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// Two settings that contradict each other.
    #[error("{field}: {message}")]
    Inconsistent {
        /// Dotted path of the field.
        field: String,
        /// What is wrong, e.g. `warmup (2000) must not exceed total (1000)`.
        message: String,
    },
    /// A formula that does not parse; the message shows it with a caret under the culprit.
    #[error("expr: {message} at column {col}\n  {excerpt}", col = position + 1, excerpt = excerpt(formula, *position))]
    Expression {
        /// The formula as given.
        formula: String,
        /// Character offset of the offending character.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// A data file or data set that cannot be used: unreadable, malformed or inconsistent.
    #[error("{origin}: {message}")]
    Data {
        /// Where: a path with line and column, or a data set's name.
        origin: String,
        /// What is wrong, e.g. `expected 12 cells (as in the header), got 11`.
        message: String,
    },
    /// An operation needs something the objective does not provide.
    #[error("{0}")]
    Unsupported(String),
    /// The work was cancelled through a [`crate::run::Cancel`] token before it finished.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// An error about one setting of a configuration (`model`, `schedule`, ... of a
    /// `train::TrainConfig`), so that a front end can name its own flag for it.
    #[error("{setting}: {error}")]
    Setting {
        /// The setting's name, as the configuration spells it.
        setting: String,
        /// What is wrong with it.
        error: Box<Error>,
    },
}

/// The formula with a caret under the character at `position`; a long formula is cut to the 60
/// characters around it, with `...` where text is left out.
fn excerpt(formula: &str, position: usize) -> String {
    const BEFORE: usize = 40;
    const AFTER: usize = 20;
    let n = formula.chars().count();
    let from = position.saturating_sub(BEFORE);
    let to = (position + AFTER).min(n);
    let (from, to) = if n <= BEFORE + AFTER { (0, n) } else { (from, to) };
    let head = if from > 0 { "..." } else { "" };
    let tail = if to < n { "..." } else { "" };
    let text: String = formula.chars().skip(from).take(to - from).collect();
    let caret = " ".repeat(head.len() + position - from);
    format!("{head}{text}{tail}\n  {caret}^")
}

/// Shorthand for results with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::OutOfRange`].
    pub fn out_of_range(field: impl Into<String>, value: impl ToString, range: &str) -> Self {
        Error::OutOfRange { field: field.into(), value: value.to_string(), range: range.into() }
    }

    /// An [`Error::Data`].
    pub fn data(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Data { origin: origin.into(), message: message.into() }
    }

    /// An [`Error::Unknown`], with a "did you mean" suggestion when a close name exists.
    pub fn unknown(kind: &str, name: &str, accepted: &[&str]) -> Self {
        let suggestion =
            closest(name, accepted).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
        let accepted =
            if accepted.is_empty() { "none (it takes no keys)".to_string() } else { accepted.join(", ") };
        Error::Unknown { kind: kind.into(), name: name.into(), suggestion, accepted }
    }
}

/// The accepted name closest to `name` by edit distance, if it is close enough to be a typo.
pub(crate) fn closest<'a>(name: &str, accepted: &[&'a str]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    accepted
        .iter()
        .map(|a| (edit_distance(&name, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["adam", "adamw", "adagrad", "gd", "lion"];
        assert_eq!(closest("adma", &names), Some("adam"));
        assert_eq!(closest("lino", &names), Some("lion"));
        assert_eq!(closest("newtonian", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
