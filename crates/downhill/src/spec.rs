//! Spec strings: `name:key=value,key=value`, the way people name optimizers, objectives and
//! schedules on a command line or in a web request.
//!
//! Parsing is strict: an unknown key, a repeated key, a value that is not a number or a number
//! outside its range is an [`Error`] that names the field, the value and what is accepted.

use crate::error::{Error, Result};

/// A parsed `name:key=value,...` string.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The name before the colon, lower-cased.
    pub name: String,
    /// The `key=value` pairs in the order given.
    pub entries: Vec<(String, String)>,
}

impl Spec {
    /// Parses `name[:key=value[,key=value...]]`. `what` names the kind of spec in errors.
    pub fn parse(text: &str, what: &str) -> Result<Spec> {
        let text = text.trim();
        let (name, rest) = match text.split_once(':') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (text, None),
        };
        if name.is_empty() {
            return Err(Error::Parse {
                field: what.into(),
                value: text.into(),
                expected: format!("a {what} spec such as name:key=value"),
            });
        }
        let mut entries: Vec<(String, String)> = Vec::new();
        if let Some(rest) = rest {
            // `name:` alone has no entries; an empty entry inside (`hidden=64,,`) is a typo.
            let rest = if rest.trim().is_empty() { "" } else { rest };
            for part in rest.split(',').filter(|_| !rest.is_empty()) {
                let part = part.trim();
                if part.is_empty() {
                    return Err(Error::Parse {
                        field: name.to_string(),
                        value: rest.trim().into(),
                        expected: "key=value entries separated by single commas (an entry is empty)".into(),
                    });
                }
                let Some((k, v)) = part.split_once('=') else {
                    // A list value such as `hidden=64,64`: a bare number continues the previous key.
                    if let (Some(last), true) = (entries.last_mut(), looks_numeric(part)) {
                        last.1.push(',');
                        last.1.push_str(part);
                        continue;
                    }
                    return Err(Error::Parse {
                        field: name.to_string(),
                        value: part.into(),
                        expected: "key=value".into(),
                    });
                };
                let k = k.trim().to_ascii_lowercase();
                if entries.iter().any(|(e, _)| *e == k) {
                    return Err(Error::Inconsistent {
                        field: format!("{name}.{k}"),
                        message: "given more than once".into(),
                    });
                }
                entries.push((k, v.trim().to_string()));
            }
        }
        Ok(Spec { name: name.to_ascii_lowercase(), entries })
    }
}

fn looks_numeric(part: &str) -> bool {
    part.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+')
}

/// Reads typed values out of a [`Spec`], checks ranges, and rejects keys nobody asked for.
///
/// Call the getters for every key the thing accepts, then [`Params::finish`]. Crates that define
/// specs of their own (the training crate's `mlp:hidden=64,64`) read them with it, so that their
/// errors read like the optimizers'.
#[derive(Debug)]
pub struct Params<'a> {
    prefix: &'a str,
    /// Key, value, and whether a getter asked for it.
    entries: Vec<(&'a str, &'a str, bool)>,
    accepted: Vec<&'static str>,
}

/// Ranges a number can be required to lie in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// Any finite number.
    Finite,
    /// `(0, inf)`.
    Positive,
    /// `[0, inf)`.
    NonNegative,
    /// `[0, 1)`: EMA decay rates such as betas.
    UnitHalfOpen,
    /// `[0, 1]`.
    Unit,
    /// `(0, 1]`.
    UnitPositive,
    /// Any other interval: `lo` to `hi`, each end included when its flag says so (`f64::INFINITY`
    /// for an open end).
    Interval {
        /// Lower end.
        lo: f64,
        /// Whether `lo` itself is accepted.
        lo_closed: bool,
        /// Upper end.
        hi: f64,
        /// Whether `hi` itself is accepted.
        hi_closed: bool,
    },
}

impl Range {
    /// Whether `x` lies in the range (NaN never does).
    pub fn contains(self, x: f64) -> bool {
        match self {
            Range::Finite => x.is_finite(),
            Range::Positive => x > 0.0 && x.is_finite(),
            Range::NonNegative => x >= 0.0 && x.is_finite(),
            Range::UnitHalfOpen => (0.0..1.0).contains(&x),
            Range::Unit => (0.0..=1.0).contains(&x),
            Range::UnitPositive => x > 0.0 && x <= 1.0,
            Range::Interval { lo, lo_closed, hi, hi_closed } => {
                x.is_finite()
                    && (if lo_closed { x >= lo } else { x > lo })
                    && (if hi_closed { x <= hi } else { x < hi })
            }
        }
    }

    /// `(lo, hi)`, both ends excluded.
    pub const fn open(lo: f64, hi: f64) -> Range {
        Range::Interval { lo, lo_closed: false, hi, hi_closed: false }
    }

    /// `[lo, hi)`.
    pub const fn closed_open(lo: f64, hi: f64) -> Range {
        Range::Interval { lo, lo_closed: true, hi, hi_closed: false }
    }

    /// `[lo, inf)`.
    pub const fn at_least(lo: f64) -> Range {
        Range::Interval { lo, lo_closed: true, hi: f64::INFINITY, hi_closed: false }
    }

    /// `(-inf, hi]`.
    pub const fn at_most(hi: f64) -> Range {
        Range::Interval { lo: f64::NEG_INFINITY, lo_closed: false, hi, hi_closed: true }
    }

    /// The range written as an interval.
    pub fn describe(self) -> String {
        match self {
            Range::Finite => "(-inf, inf)".into(),
            Range::Positive => "(0, inf)".into(),
            Range::NonNegative => "[0, inf)".into(),
            Range::UnitHalfOpen => "[0, 1)".into(),
            Range::Unit => "[0, 1]".into(),
            Range::UnitPositive => "(0, 1]".into(),
            Range::Interval { lo, lo_closed, hi, hi_closed } => format!(
                "{}{}, {}{}",
                if lo_closed { '[' } else { '(' },
                fmt_num(lo),
                fmt_num(hi),
                if hi_closed { ']' } else { ')' }
            ),
        }
    }

    /// `Ok(x)` when in range, else an [`Error::OutOfRange`] for `field`.
    pub fn check(self, field: &str, x: f64) -> Result<f64> {
        if self.contains(x) {
            Ok(x)
        } else {
            Err(Error::out_of_range(field, fmt_num(x), &self.describe()))
        }
    }
}

/// Formats a number the way a person would type it back.
pub fn fmt_num(x: f64) -> String {
    format!("{x}")
}

/// Parses one number, naming `field` on failure. Accepts `inf`/`nan` so that range checks can
/// reject them with a useful message.
pub fn parse_number(field: &str, text: &str) -> Result<f64> {
    text.trim().parse::<f64>().map_err(|_| Error::Parse {
        field: field.into(),
        value: text.into(),
        expected: "a number".into(),
    })
}

impl<'a> Params<'a> {
    /// Reader over `spec`'s entries; `prefix` starts field names in errors (e.g. `adam`).
    pub fn new(prefix: &'a str, spec: &'a Spec) -> Self {
        Params::from_entries(prefix, &spec.entries)
    }

    /// Reader over raw entries.
    pub fn from_entries(prefix: &'a str, entries: &'a [(String, String)]) -> Self {
        Params::from_pairs(prefix, entries.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Reader over borrowed `(key, value)` pairs (keys already lower-case), for callers that build
    /// many things from parts of one spec without writing each out as text.
    pub fn from_pairs(prefix: &'a str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Params {
            prefix,
            entries: pairs.into_iter().map(|(k, v)| (k, v, false)).collect(),
            accepted: Vec::with_capacity(16),
        }
    }

    /// The dotted name of `key`, e.g. `lbfgs.c1`, for error messages.
    pub fn field(&self, key: &str) -> String {
        format!("{}.{}", self.prefix, key)
    }

    /// The raw text for `key` or any of its aliases.
    pub fn raw(&mut self, key: &'static str, aliases: &[&'static str]) -> Result<Option<&'a str>> {
        self.accepted.push(key);
        let mut found: Option<(usize, &'a str)> = None;
        for (i, &(k, v, _)) in self.entries.iter().enumerate() {
            if k == key || aliases.contains(&k) {
                if found.is_some() {
                    return Err(Error::Inconsistent {
                        field: self.field(key),
                        message: format!("given more than once (aliases: {})", aliases.join(", ")),
                    });
                }
                found = Some((i, v));
            }
        }
        Ok(found.map(|(i, v)| {
            self.entries[i].2 = true;
            v
        }))
    }

    /// A number in `range`, or `default` when absent.
    pub fn number(&mut self, key: &'static str, default: f64, range: Range) -> Result<f64> {
        self.number_aliased(key, &[], default, range)
    }

    /// Like [`Params::number`], also accepting alias keys.
    pub fn number_aliased(
        &mut self,
        key: &'static str,
        aliases: &[&'static str],
        default: f64,
        range: Range,
    ) -> Result<f64> {
        match self.raw(key, aliases)? {
            None => Ok(default),
            Some(text) => self.checked(key, text, range),
        }
    }

    /// `text` parsed and checked against `range`; the field name is only formatted for an error.
    fn checked(&self, key: &str, text: &str, range: Range) -> Result<f64> {
        match text.trim().parse::<f64>() {
            Ok(x) if range.contains(x) => Ok(x),
            _ => {
                let field = self.field(key);
                range.check(&field, parse_number(&field, text)?)
            }
        }
    }

    /// An optional number in `range`.
    pub fn optional(&mut self, key: &'static str, range: Range) -> Result<Option<f64>> {
        match self.raw(key, &[])? {
            None => Ok(None),
            Some(text) => Ok(Some(self.checked(key, text, range)?)),
        }
    }

    /// A non-negative whole number no larger than `max`, or `default` when absent.
    pub fn count(&mut self, key: &'static str, default: u64, max: u64) -> Result<u64> {
        match self.raw(key, &[])? {
            None => Ok(default),
            Some(text) => {
                let field = self.field(key);
                let x = parse_number(&field, text)?;
                if x.fract() != 0.0 || !(0.0..=max as f64).contains(&x) {
                    return Err(Error::out_of_range(field, text, &format!("whole numbers 0..={max}")));
                }
                Ok(x as u64)
            }
        }
    }

    /// A comma-separated list of whole numbers in `1..=max` (`hidden=64,64`); `default` when
    /// absent. An empty list is written `none`.
    pub fn counts(&mut self, key: &'static str, default: &[usize], max: usize) -> Result<Vec<usize>> {
        match self.raw(key, &[])? {
            None => Ok(default.to_vec()),
            Some("none") => Ok(Vec::new()),
            Some(text) => {
                let field = self.field(key);
                text.split(',')
                    .map(|item| {
                        let x = parse_number(&field, item.trim())?;
                        if x.fract() != 0.0 || !(1.0..=max as f64).contains(&x) {
                            return Err(Error::out_of_range(
                                &field,
                                item.trim(),
                                &format!("whole numbers 1..={max}"),
                            ));
                        }
                        Ok(x as usize)
                    })
                    .collect()
            }
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`), or `default` when absent.
    pub fn flag(&mut self, key: &'static str, default: bool) -> Result<bool> {
        match self.raw(key, &[])? {
            None => Ok(default),
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(Error::Parse {
                    field: self.field(key),
                    value: text.into(),
                    expected: "true or false".into(),
                }),
            },
        }
    }

    /// One of `choices`, or `default` when absent.
    pub fn choice(
        &mut self,
        key: &'static str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str> {
        match self.raw(key, &[])? {
            None => Ok(default),
            Some(text) => {
                let lower = text.to_ascii_lowercase();
                choices
                    .iter()
                    .copied()
                    .find(|c| *c == lower)
                    .ok_or_else(|| Error::unknown(&format!("value for {}", self.field(key)), text, choices))
            }
        }
    }

    /// Fails on any key that no getter asked for, suggesting the closest accepted key.
    pub fn finish(self) -> Result<()> {
        for &(k, _, used) in &self.entries {
            if !used {
                return Err(Error::unknown(&format!("{} key", self.prefix), k, &self.accepted));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_entries() {
        let s = Spec::parse(" Adam:lr=0.1, beta1 = 0.9 ", "optimizer").unwrap();
        assert_eq!(s.name, "adam");
        assert_eq!(s.entries, vec![("lr".into(), "0.1".into()), ("beta1".into(), "0.9".into())]);
        assert_eq!(Spec::parse("gd", "optimizer").unwrap().entries, vec![]);
    }

    #[test]
    fn rejects_malformed_specs() {
        assert!(Spec::parse("", "optimizer").is_err());
        assert!(Spec::parse(":lr=1", "optimizer").is_err());
        assert!(Spec::parse("adam:lr", "optimizer").is_err());
        assert!(Spec::parse("adam:lr=1,lr=2", "optimizer").is_err());
        assert!(Spec::parse("mlp:64", "model").is_err());
    }

    #[test]
    fn list_values_continue_the_previous_key() {
        let s = Spec::parse("mlp:hidden=64,32,act=relu", "model").unwrap();
        assert_eq!(s.entries, vec![("hidden".into(), "64,32".into()), ("act".into(), "relu".into())]);
        let mut p = Params::new("mlp", &s);
        assert_eq!(p.counts("hidden", &[], 4096).unwrap(), vec![64, 32]);
        let bad = Spec::parse("mlp:hidden=64,0", "model").unwrap();
        let e = Params::new("mlp", &bad).counts("hidden", &[], 4096).unwrap_err().to_string();
        assert_eq!(e, "mlp.hidden: 0 is not in whole numbers 1..=4096");
    }

    #[test]
    fn unknown_key_suggests() {
        let s = Spec::parse("adam:bta1=0.9", "optimizer").unwrap();
        let mut p = Params::new("adam", &s);
        p.number("beta1", 0.9, Range::UnitHalfOpen).unwrap();
        let e = p.finish().unwrap_err().to_string();
        assert!(e.contains("'bta1'") && e.contains("did you mean 'beta1'"), "{e}");
    }

    #[test]
    fn ranges_reject_nan_and_bounds() {
        assert!(Range::Positive.check("lr", f64::NAN).is_err());
        assert!(Range::Positive.check("lr", 0.0).is_err());
        assert!(Range::Positive.check("lr", f64::INFINITY).is_err());
        assert!(Range::UnitHalfOpen.check("beta", 1.0).is_err());
        assert!(Range::UnitHalfOpen.check("beta", 0.0).is_ok());
        let e = Range::UnitHalfOpen.check("adam.beta1", 1.5).unwrap_err().to_string();
        assert_eq!(e, "adam.beta1: 1.5 is not in [0, 1)");
    }
}
