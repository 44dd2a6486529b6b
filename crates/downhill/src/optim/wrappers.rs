//! Wrappers: optimizers that hold another optimizer and change when or where it steps.
//!
//! A wrapper is written around any spec, the inner spec in parentheses and the wrapper's own keys
//! after them: `lookahead(adam:lr=0.01):k=5,alpha=0.5`. Wrappers nest, the innermost applied first:
//! `ema(lookahead(sgd:lr=0.1):k=5):decay=0.99`. Optimizer names never contain parentheses, so the
//! grammar is unambiguous, and everything inside the parentheses is an ordinary spec (sweep ranges
//! such as `lr=1e-3..1e-1:log:5` included).
//!
//! Each wrapper's saved state holds its own buffers and counters, with the inner optimizer's state
//! nested in [`OptimizerState::inner`], so checkpoints round-trip bit for bit at any depth.

use super::{check_lengths, BuildOptions, Buildable, Optimizer, OptimizerState, Report, Value};
use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::real::Real;
use crate::spec::{Params, Range, Spec};

/// One registered wrapper.
pub struct WrapperEntry {
    /// Name used in specs.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// The wrapper's own keys, each declared once: the spec reads them, the typed constructors
    /// check against them and the listing shows them.
    pub keys: &'static [WrapperKey],
    /// What it does, for listings.
    pub note: &'static str,
}

/// One key of a wrapper, e.g. Lookahead's `k`.
pub struct WrapperKey {
    /// Spec key.
    pub key: &'static str,
    /// Default.
    pub default: f64,
    /// Accepted values: a range, or whole numbers from `Some(min)` to 2^32 - 1.
    pub accepts: (Range, Option<u64>),
    /// One line saying what it does.
    pub doc: &'static str,
}

impl WrapperKey {
    /// `x` when accepted, else the spec's one-line error for `wrapper.key`.
    fn check(&self, wrapper: &str, x: f64) -> Result<f64> {
        let field = format!("{wrapper}.{}", self.key);
        match self.accepts {
            (_, Some(min)) if x.fract() != 0.0 || !(min as f64..=MAX_COUNT as f64).contains(&x) => {
                Err(Error::out_of_range(
                    field,
                    crate::spec::fmt_num(x),
                    &format!("whole numbers {min}..={MAX_COUNT}"),
                ))
            }
            (_, Some(_)) => Ok(x),
            (range, None) => range.check(&field, x),
        }
    }
}

impl WrapperEntry {
    /// One line for `--help` and listings: keys with their defaults, then what it does.
    pub fn summary(&self) -> String {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{}={}", k.key, super::declare::show_number(k.default)))
            .collect();
        format!("{}: {}", keys.join(", "), self.note)
    }

    fn key(&self, key: &str) -> &'static WrapperKey {
        self.keys.iter().find(|k| k.key == key).expect("a declared wrapper key")
    }

    /// Reads `key` from a spec (its default when absent) and checks it.
    fn read(&self, p: &mut Params, key: &'static str) -> Result<f64> {
        let k = self.key(key);
        match p.raw(key, &[])? {
            None => Ok(k.default),
            Some(text) => k.check(self.name, crate::spec::parse_number(&p.field(key), text)?),
        }
    }
}

/// The declared key `key` of wrapper `name` checked, for the typed constructors.
fn checked(name: &str, key: &str, x: f64) -> Result<f64> {
    let entry = lookup_wrapper(name).expect("a registered wrapper");
    entry.key(key).check(entry.name, x)
}

const fn count(key: &'static str, default: f64, min: u64, doc: &'static str) -> WrapperKey {
    WrapperKey { key, default, accepts: (Range::Finite, Some(min)), doc }
}

const fn number(key: &'static str, default: f64, range: Range, doc: &'static str) -> WrapperKey {
    WrapperKey { key, default, accepts: (range, None), doc }
}

/// Every wrapper that [`super::build`] knows.
pub const WRAPPERS: &[WrapperEntry] = &[
    WrapperEntry {
        name: "lookahead",
        aliases: &[],
        keys: &[
            count("k", 5.0, 1, "Fast steps between synchronizations."),
            number("alpha", 0.5, Range::Unit, "Slow step size."),
        ],
        note: "every k inner steps, slow += alpha*(fast - slow) and fast <- slow (Zhang et al. 2019)",
    },
    WrapperEntry {
        name: "ema",
        aliases: &[],
        keys: &[number("decay", 0.999, Range::UnitHalfOpen, "Weight of the old average.")],
        note:
            "ema <- decay*ema + (1-decay)*theta after each step (first: ema = theta); train validates at ema",
    },
    WrapperEntry {
        name: "accumulate",
        aliases: &["multi-steps", "multisteps"],
        keys: &[count("k", 2.0, 1, "Calls per inner step.")],
        note: "the inner optimizer steps every k-th call with the mean of the k gradients (optax MultiSteps)",
    },
    WrapperEntry {
        name: "skip-nonfinite",
        aliases: &["apply-if-finite"],
        keys: &[count(
            "max_consecutive_errors",
            5.0,
            0,
            "Non-finite gradients in a row skipped before one is applied.",
        )],
        note: "skips steps whose gradient is not finite, counting them (optax apply_if_finite)",
    },
    WrapperEntry {
        name: "sam",
        aliases: &[],
        keys: &[number("rho", 0.05, Range::NonNegative, "Radius of the neighbourhood.")],
        note:
            "steps with the gradient at theta + rho*g/||g|| (sharpness-aware minimization, Foret et al. 2021)",
    },
];

/// Every accepted wrapper name, aliases included.
pub fn wrapper_names() -> Vec<&'static str> {
    WRAPPERS.iter().flat_map(|e| std::iter::once(e.name).chain(e.aliases.iter().copied())).collect()
}

fn lookup_wrapper(name: &str) -> Option<&'static WrapperEntry> {
    WRAPPERS.iter().find(|e| e.name == name || e.aliases.contains(&name))
}

/// The most wrappers one spec may nest.
const MAX_DEPTH: usize = 8;

/// A parsed optimizer spec: the base optimizer and the wrappers around it, innermost first.
///
/// `lookahead(adam:lr=0.01):k=5` is the base `adam:lr=0.01` and one wrapper `lookahead:k=5`.
/// [`std::fmt::Display`] writes the spec back in the same syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerSpec {
    /// The optimizer that computes the steps.
    pub base: Spec,
    /// The wrappers, innermost first (names resolved to their registry names).
    pub wrappers: Vec<Spec>,
}

impl OptimizerSpec {
    /// Parses `name:key=value,...` or `wrapper(SPEC):key=value,...`, nested at most 8 deep.
    pub fn parse(text: &str) -> Result<OptimizerSpec> {
        let mut wrappers = Vec::new();
        let base = Self::parse_into(text.trim(), &mut wrappers)?;
        wrappers.reverse();
        Ok(OptimizerSpec { base, wrappers })
    }

    /// Parses `text`, pushing wrappers outermost first; returns the base spec.
    fn parse_into(text: &str, wrappers: &mut Vec<Spec>) -> Result<Spec> {
        let open = text.find('(');
        let colon = text.find(':');
        let Some(open) = open.filter(|&o| colon.is_none_or(|c| o < c)) else {
            if let Some(close) = text.find(')') {
                return Err(Error::Parse {
                    field: "optimizer".into(),
                    value: text.into(),
                    expected: format!("no ')' without a matching '(' (at byte {close})"),
                });
            }
            let spec = Spec::parse(text, "optimizer")?;
            if let Some(w) = lookup_wrapper(&spec.name) {
                return Err(Error::Parse {
                    field: "optimizer".into(),
                    value: text.into(),
                    expected: format!(
                        "{name}(OPTIMIZER){keys}: {name} wraps an optimizer, e.g. {name}(adam:lr=0.01){keys}",
                        name = w.name,
                        keys = text.find(':').map_or(String::new(), |c| text[c..].to_string())
                    ),
                });
            }
            return Ok(spec);
        };
        if wrappers.len() >= MAX_DEPTH {
            return Err(Error::out_of_range(
                "optimizer wrappers",
                wrappers.len() + 1,
                &format!("[0, {MAX_DEPTH}]"),
            ));
        }
        let name = text[..open].trim();
        let mut depth = 0usize;
        let mut close = None;
        for (i, c) in text.char_indices().skip_while(|&(i, _)| i < open) {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else {
            return Err(Error::Parse {
                field: "optimizer".into(),
                value: text.into(),
                expected: "WRAPPER(OPTIMIZER):key=value with its ')', as in lookahead(adam:lr=0.01):k=5"
                    .into(),
            });
        };
        let rest = text[close + 1..].trim();
        let keys = match rest.strip_prefix(':') {
            Some(keys) => keys,
            None if rest.is_empty() => "",
            None => {
                return Err(Error::Parse {
                    field: format!("optimizer {name}(...)"),
                    value: rest.into(),
                    expected: "nothing or ':key=value,...' after the ')'".into(),
                })
            }
        };
        let mut spec = Spec::parse(&format!("{name}:{keys}"), "optimizer wrapper")?;
        let Some(entry) = lookup_wrapper(&spec.name) else {
            return Err(Error::unknown("optimizer wrapper", &spec.name, &wrapper_names()));
        };
        spec.name = entry.name.to_string();
        wrappers.push(spec);
        Self::parse_into(text[open + 1..close].trim(), wrappers)
    }

    /// Builds the optimizer: the base from the registry (with `options`), then each wrapper.
    pub fn build<T: Buildable>(&self, options: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
        let base = super::build_from_pairs(&self.base.name, pairs(&self.base), options)?;
        self.wrap(base)
    }

    /// Puts this spec's wrappers around `inner` (built from [`OptimizerSpec::base`], possibly as
    /// parameter groups).
    pub fn wrap<T: Real>(&self, inner: Box<dyn Optimizer<T>>) -> Result<Box<dyn Optimizer<T>>> {
        self.wrappers.iter().try_fold(inner, |inner, w| wrap(&w.name, pairs(w), inner))
    }

    /// The optimizer's name inside its wrappers' names, without keys: `lookahead(adam)`.
    pub fn short_name(&self) -> String {
        self.wrappers.iter().fold(self.base.name.clone(), |inner, w| format!("{}({inner})", w.name))
    }

    /// Sets `key` of the base optimizer to `value` (replacing it), e.g. a tuned `lr`.
    pub fn set_base(&mut self, key: &str, value: &str) {
        self.base.entries.retain(|(k, _)| k != key);
        self.base.entries.push((key.to_string(), value.to_string()));
    }
}

fn pairs(spec: &Spec) -> impl Iterator<Item = (&str, &str)> + Clone {
    spec.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

fn write_spec(f: &mut std::fmt::Formatter<'_>, spec: &Spec) -> std::fmt::Result {
    for (i, (k, v)) in spec.entries.iter().enumerate() {
        write!(f, "{}{k}={v}", if i == 0 { ":" } else { "," })?;
    }
    Ok(())
}

impl std::fmt::Display for OptimizerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for w in self.wrappers.iter().rev() {
            write!(f, "{}(", w.name)?;
        }
        f.write_str(&self.base.name)?;
        write_spec(f, &self.base)?;
        for w in &self.wrappers {
            f.write_str(")")?;
            write_spec(f, w)?;
        }
        Ok(())
    }
}

/// Wraps `inner` in the wrapper `name` (or alias) with `(key, value)` pairs, as the spec
/// `name(...):key=value,...` would.
pub fn wrap<'a, T: Real>(
    name: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    inner: Box<dyn Optimizer<T>>,
) -> Result<Box<dyn Optimizer<T>>> {
    let entry =
        lookup_wrapper(name).ok_or_else(|| Error::unknown("optimizer wrapper", name, &wrapper_names()))?;
    let mut p = Params::from_pairs(entry.name, pairs);
    let built: Box<dyn Optimizer<T>> = match entry.name {
        "lookahead" => {
            let (k, alpha) = (entry.read(&mut p, "k")?, entry.read(&mut p, "alpha")?);
            Box::new(Lookahead::new(inner, k as u64, alpha)?)
        }
        "ema" => Box::new(Ema::new(inner, entry.read(&mut p, "decay")?)?),
        "accumulate" => Box::new(Accumulate::new(inner, entry.read(&mut p, "k")? as u64)?),
        "skip-nonfinite" => {
            Box::new(SkipNonFinite::new(inner, entry.read(&mut p, "max_consecutive_errors")? as u64)?)
        }
        "sam" => Box::new(Sam::new(inner, entry.read(&mut p, "rho")?)?),
        other => return Err(Error::unknown("optimizer wrapper", other, &wrapper_names())),
    };
    p.finish()?;
    Ok(built)
}

/// The largest `k` or error count a wrapper accepts.
const MAX_COUNT: u64 = u32::MAX as u64;

/// Checks a saved wrapper state's name, buffers and counters, and hands back its parts.
struct Saved<T> {
    buffers: Vec<(String, Vec<T>)>,
    counters: Vec<(String, u64)>,
    inner: OptimizerState<T>,
    step: u64,
}

fn open_state<T>(
    name: &'static str,
    state: OptimizerState<T>,
    buffers: &[&str],
    counters: &[&str],
) -> Result<Saved<T>> {
    if state.optimizer != name {
        return Err(Error::Inconsistent {
            field: "state.optimizer".into(),
            message: format!("saved by '{}', cannot load into '{name}'", state.optimizer),
        });
    }
    for (b, _) in &state.buffers {
        if !buffers.contains(&b.as_str()) {
            return Err(Error::unknown(&format!("buffer for {name}"), b, buffers));
        }
    }
    for (c, _) in &state.counters {
        if !counters.contains(&c.as_str()) {
            return Err(Error::unknown(&format!("counter for {name}"), c, counters));
        }
    }
    let inner = state.inner.ok_or_else(|| Error::Inconsistent {
        field: "state.inner".into(),
        message: format!("a {name} state holds the state of the optimizer it wraps"),
    })?;
    Ok(Saved { buffers: state.buffers, counters: state.counters, inner: *inner, step: state.step })
}

impl<T> Saved<T> {
    /// The buffer `name` (empty when absent), checked to have `len` values when `len` is known.
    fn buffer(&mut self, name: &str, len: Option<usize>) -> Result<Vec<T>> {
        let data = match self.buffers.iter().position(|(n, _)| n == name) {
            Some(i) => self.buffers.swap_remove(i).1,
            None => Vec::new(),
        };
        if let (Some(n), false) = (len, data.is_empty()) {
            if data.len() != n {
                return Err(Error::Dimension {
                    field: format!("state.{name}"),
                    expected: n,
                    got: data.len(),
                });
            }
        }
        Ok(data)
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.iter().find(|(n, _)| n == name).map_or(0, |c| c.1)
    }
}

fn wrapped_state<T: Real>(
    name: &str,
    step: u64,
    buffers: &[(&str, &Vec<T>)],
    counters: &[(&str, u64)],
    inner: &dyn Optimizer<T>,
) -> OptimizerState<T> {
    let mut s = super::save(name, step, buffers);
    s.counters = counters.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    s.inner = Some(Box::new(inner.state()));
    s
}

/// Lookahead (Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back",
/// NeurIPS 2019): the inner optimizer takes `k` fast steps, then the slow weights move a fraction
/// `alpha` towards the fast ones and the fast weights restart from there:
///
/// ```text
/// phi <- theta_0                                   (at the first step)
/// theta <- inner step(theta)                        (every step)
/// every k-th inner step: phi <- phi + alpha (theta - phi);  theta <- phi
/// ```
///
/// Defaults `k = 5`, `alpha = 0.5` (the paper's). The inner optimizer's state carries on across
/// synchronizations (optax's `reset_state=False`). The step count is the inner optimizer's.
pub struct Lookahead<T> {
    inner: Box<dyn Optimizer<T>>,
    /// Fast steps between synchronizations, `>= 1`.
    k: u64,
    /// Slow step size in `[0, 1]`.
    alpha: f64,
    slow: Vec<T>,
}

impl<T: Real> Lookahead<T> {
    /// Lookahead around `inner`; fails when `k` is 0.
    pub fn new(inner: Box<dyn Optimizer<T>>, k: u64, alpha: f64) -> Result<Self> {
        let k = checked("lookahead", "k", k as f64)? as u64;
        Ok(Lookahead { inner, k, alpha: checked("lookahead", "alpha", alpha)?, slow: Vec::new() })
    }

    /// Fast steps between synchronizations.
    pub fn k(&self) -> u64 {
        self.k
    }

    /// Slow step size.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The slow weights `phi` (empty before the first step).
    pub fn slow(&self) -> &[T] {
        &self.slow
    }

    fn before(&mut self, params: &[T]) -> Result<()> {
        if self.slow.is_empty() {
            self.slow = params.to_vec();
        } else if self.slow.len() != params.len() {
            return Err(Error::Dimension {
                field: "lookahead.params".into(),
                expected: self.slow.len(),
                got: params.len(),
            });
        }
        Ok(())
    }

    fn after(&mut self, params: &mut [T]) {
        if self.inner.steps() % self.k == 0 {
            let alpha = T::from_f64(self.alpha);
            for (p, s) in params.iter_mut().zip(&mut self.slow) {
                *s += alpha * (*p - *s);
                *p = *s;
            }
        }
    }
}

/// The trait methods every wrapper forwards to its inner optimizer unchanged.
macro_rules! forward {
    () => {
        fn accepts_non_finite_gradients(&self) -> bool {
            self.inner.accepts_non_finite_gradients()
        }

        forward!(learning_rate);
    };
    (learning_rate) => {
        fn learning_rate(&self) -> f64 {
            self.inner.learning_rate()
        }

        fn set_learning_rate(&mut self, schedule: $crate::schedule::Schedule) -> Result<()> {
            self.inner.set_learning_rate(schedule)
        }

        fn set_layout(&mut self, blocks: &[super::Block]) -> Result<()> {
            self.inner.set_layout(blocks)
        }
    };
}

impl<T: Real> Optimizer<T> for Lookahead<T> {
    fn name(&self) -> &'static str {
        "lookahead"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("k", (self.k as f64).into()),
            ("alpha", self.alpha.into()),
            ("optimizer", Value::Optimizer(Report::of(self.inner.as_ref()))),
        ]
    }

    fn steps(&self) -> u64 {
        self.inner.steps()
    }

    forward!();

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("lookahead", params.len(), grads.len())?;
        self.before(params)?;
        self.inner.update(params, grads)?;
        self.after(params);
        Ok(())
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        check_lengths("lookahead", params.len(), grad.len())?;
        self.before(params)?;
        self.inner.step_on(objective, params, grad)?;
        self.after(params);
        Ok(())
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        self.inner.eval_params(params)
    }

    fn state(&self) -> OptimizerState<T> {
        wrapped_state("lookahead", self.steps(), &[("slow", &self.slow)], &[], self.inner.as_ref())
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        let mut saved = open_state("lookahead", state, &["slow"], &[])?;
        let slow = saved.buffer("slow", None)?;
        self.inner.load_state(saved.inner)?;
        self.slow = slow;
        Ok(())
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.slow.clear();
    }
}

/// An exponential moving average of the weights, kept beside any optimizer (PyTorch's
/// `AveragedModel` with `get_ema_avg_fn(decay)`, updated after every step):
///
/// ```text
/// after the first step:  ema = theta
/// after each later one:  ema <- decay * ema + (1 - decay) * theta
/// ```
///
/// Training is unchanged; [`Optimizer::eval_params`] returns the average, so `downhill train`
/// validates (and saves) it, as it does Schedule-Free's `x`. When the inner optimizer has its own
/// evaluation point (Schedule-Free), that point is what is averaged. Default `decay = 0.999`.
pub struct Ema<T> {
    inner: Box<dyn Optimizer<T>>,
    /// Weight of the old average, in `[0, 1)`.
    decay: f64,
    ema: Vec<T>,
}

impl<T: Real> Ema<T> {
    /// An average with `decay` around `inner`.
    pub fn new(inner: Box<dyn Optimizer<T>>, decay: f64) -> Result<Self> {
        Ok(Ema { inner, decay: checked("ema", "decay", decay)?, ema: Vec::new() })
    }

    /// Weight of the old average.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// The average (empty before the first step).
    pub fn average(&self) -> &[T] {
        &self.ema
    }

    fn after(&mut self, params: &[T]) -> Result<()> {
        let point = self.inner.eval_params(params);
        let point = point.as_deref().unwrap_or(params);
        if self.ema.is_empty() {
            self.ema = point.to_vec();
            return Ok(());
        }
        if self.ema.len() != point.len() {
            return Err(Error::Dimension {
                field: "ema.params".into(),
                expected: self.ema.len(),
                got: point.len(),
            });
        }
        let (d, c) = (T::from_f64(self.decay), T::from_f64(1.0 - self.decay));
        for (e, &p) in self.ema.iter_mut().zip(point) {
            *e = d * *e + c * p;
        }
        Ok(())
    }
}

impl<T: Real> Optimizer<T> for Ema<T> {
    fn name(&self) -> &'static str {
        "ema"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        vec![("decay", self.decay.into()), ("optimizer", Value::Optimizer(Report::of(self.inner.as_ref())))]
    }

    fn steps(&self) -> u64 {
        self.inner.steps()
    }

    forward!();

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        self.inner.update(params, grads)?;
        self.after(params)
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        self.inner.step_on(objective, params, grad)?;
        self.after(params)
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        if self.ema.len() == params.len() {
            Some(self.ema.clone())
        } else {
            self.inner.eval_params(params)
        }
    }

    fn state(&self) -> OptimizerState<T> {
        wrapped_state("ema", self.steps(), &[("ema", &self.ema)], &[], self.inner.as_ref())
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        let mut saved = open_state("ema", state, &["ema"], &[])?;
        let ema = saved.buffer("ema", None)?;
        self.inner.load_state(saved.inner)?;
        self.ema = ema;
        Ok(())
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.ema.clear();
    }
}

/// Gradient accumulation (optax's `MultiSteps` with `use_grad_mean=True`): the gradients of `k`
/// calls are averaged, and the inner optimizer steps once, on the `k`-th call, with their mean;
/// the other calls leave the parameters unchanged. With `n` the calls since the last inner step:
///
/// ```text
/// acc <- acc + (g - acc) / (n + 1)
/// if n + 1 == k: theta <- inner step(theta, acc);  acc <- 0
/// ```
///
/// The step count ([`Optimizer::steps`]) counts calls; the inner optimizer's counts its own steps
/// (one per `k` calls), so its schedule advances once per accumulated step. Default `k = 2`.
pub struct Accumulate<T> {
    inner: Box<dyn Optimizer<T>>,
    /// Calls per inner step, `>= 1`.
    k: u64,
    calls: u64,
    acc: Vec<T>,
}

impl<T: Real> Accumulate<T> {
    /// Accumulation of `k` gradients around `inner`; fails when `k` is 0.
    pub fn new(inner: Box<dyn Optimizer<T>>, k: u64) -> Result<Self> {
        Ok(Accumulate { inner, k: checked("accumulate", "k", k as f64)? as u64, calls: 0, acc: Vec::new() })
    }

    /// Calls per inner step.
    pub fn k(&self) -> u64 {
        self.k
    }

    /// Adds `grads` to the mean; returns whether this call completes `k`.
    fn add(&mut self, params: usize, grads: &[T]) -> Result<bool> {
        check_lengths("accumulate", params, grads.len())?;
        super::ensure("accumulate", &mut self.acc, grads.len(), T::ZERO)?;
        let n = self.calls % self.k;
        let count = T::from_f64((n + 1) as f64);
        for (a, &g) in self.acc.iter_mut().zip(grads) {
            *a += (g - *a) / count;
        }
        Ok(n + 1 == self.k)
    }
}

impl<T: Real> Optimizer<T> for Accumulate<T> {
    fn name(&self) -> &'static str {
        "accumulate"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        vec![("k", (self.k as f64).into()), ("optimizer", Value::Optimizer(Report::of(self.inner.as_ref())))]
    }

    fn steps(&self) -> u64 {
        self.calls
    }

    forward!();

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        if self.add(params.len(), grads)? {
            self.inner.update(params, &self.acc)?;
            self.acc.fill(T::ZERO);
        }
        self.calls += 1;
        Ok(())
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        if self.add(params.len(), grad)? {
            self.inner.step_on(objective, params, &self.acc)?;
            self.acc.fill(T::ZERO);
        }
        self.calls += 1;
        Ok(())
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        self.inner.eval_params(params)
    }

    fn state(&self) -> OptimizerState<T> {
        wrapped_state("accumulate", self.calls, &[("acc", &self.acc)], &[], self.inner.as_ref())
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        let mut saved = open_state("accumulate", state, &["acc"], &[])?;
        let acc = saved.buffer("acc", None)?;
        self.inner.load_state(saved.inner)?;
        self.acc = acc;
        self.calls = saved.step;
        Ok(())
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.acc.clear();
        self.calls = 0;
    }
}

/// Skips steps whose gradient has a NaN or an infinity (optax's `apply_if_finite`): the inner
/// optimizer neither moves the parameters nor updates its state. After more than
/// `max_consecutive_errors` non-finite gradients in a row the step is taken anyway (as optax
/// does, so that a run that only produces non-finite gradients fails visibly instead of stalling).
///
/// Counts: [`SkipNonFinite::skipped`] (steps skipped), [`SkipNonFinite::non_finite`] (non-finite
/// gradients seen, skipped or not) and the current run of consecutive ones; all are saved with the
/// state and `skipped` appears in reports. The step count counts calls. Default
/// `max_consecutive_errors = 5` (optax has no default).
pub struct SkipNonFinite<T> {
    inner: Box<dyn Optimizer<T>>,
    /// Non-finite gradients in a row that are skipped before one is passed on.
    max_consecutive_errors: u64,
    calls: u64,
    consecutive: u64,
    non_finite: u64,
    skipped: u64,
}

impl<T: Real> SkipNonFinite<T> {
    /// Skipping around `inner`.
    pub fn new(inner: Box<dyn Optimizer<T>>, max_consecutive_errors: u64) -> Result<Self> {
        let max_consecutive_errors =
            checked("skip-nonfinite", "max_consecutive_errors", max_consecutive_errors as f64)? as u64;
        Ok(SkipNonFinite {
            inner,
            max_consecutive_errors,
            calls: 0,
            consecutive: 0,
            non_finite: 0,
            skipped: 0,
        })
    }

    /// Non-finite gradients in a row that are skipped before one is passed on.
    pub fn max_consecutive_errors(&self) -> u64 {
        self.max_consecutive_errors
    }

    /// Steps skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Non-finite gradients seen so far (optax's `total_notfinite`).
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Non-finite gradients in a row up to now (optax's `notfinite_count`).
    pub fn consecutive(&self) -> u64 {
        self.consecutive
    }

    /// Counts this call's gradient; returns whether the inner optimizer should step.
    fn admit(&mut self, grads: &[T]) -> bool {
        self.calls += 1;
        let finite = grads.iter().fold(true, |ok, g| ok & g.is_finite());
        if finite {
            self.consecutive = 0;
            return true;
        }
        self.consecutive += 1;
        self.non_finite += 1;
        let take = self.consecutive > self.max_consecutive_errors;
        if !take {
            self.skipped += 1;
        }
        take
    }
}

impl<T: Real> Optimizer<T> for SkipNonFinite<T> {
    fn name(&self) -> &'static str {
        "skip-nonfinite"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("max_consecutive_errors", (self.max_consecutive_errors as f64).into()),
            ("skipped", (self.skipped as f64).into()),
            ("optimizer", Value::Optimizer(Report::of(self.inner.as_ref()))),
        ]
    }

    fn steps(&self) -> u64 {
        self.calls
    }

    forward!(learning_rate);

    fn accepts_non_finite_gradients(&self) -> bool {
        true
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("skip-nonfinite", params.len(), grads.len())?;
        if self.admit(grads) {
            self.inner.update(params, grads)?;
        }
        Ok(())
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        check_lengths("skip-nonfinite", params.len(), grad.len())?;
        if self.admit(grad) {
            self.inner.step_on(objective, params, grad)?;
        }
        Ok(())
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        self.inner.eval_params(params)
    }

    fn state(&self) -> OptimizerState<T> {
        let counters =
            [("consecutive", self.consecutive), ("non_finite", self.non_finite), ("skipped", self.skipped)];
        wrapped_state::<T>("skip-nonfinite", self.calls, &[], &counters, self.inner.as_ref())
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        let saved = open_state("skip-nonfinite", state, &[], &["consecutive", "non_finite", "skipped"])?;
        let (consecutive, non_finite, skipped) =
            (saved.counter("consecutive"), saved.counter("non_finite"), saved.counter("skipped"));
        self.inner.load_state(saved.inner)?;
        (self.calls, self.consecutive, self.non_finite, self.skipped) =
            (saved.step, consecutive, non_finite, skipped);
        Ok(())
    }

    fn reset(&mut self) {
        self.inner.reset();
        (self.calls, self.consecutive, self.non_finite, self.skipped) = (0, 0, 0, 0);
    }
}

/// Sharpness-aware minimization (Foret, Kleiner, Mobahi & Neyshabur, ICLR 2021): the inner
/// optimizer steps with the gradient taken at the worst point of a `rho`-ball, to first order:
///
/// ```text
/// e = rho * g / (||g|| + 1e-12)          (g the gradient at theta; the 1e-12 as the authors' code)
/// theta <- inner step(theta, grad f(theta + e))
/// ```
///
/// It needs a second gradient, so it works through [`Optimizer::step_on`] (the run loop, and
/// `train`, which hands it the minibatch's loss); [`Optimizer::update`] with a bare gradient is an
/// error. Default `rho = 0.05` (the paper's). `rho = 0` is the inner optimizer.
pub struct Sam<T> {
    inner: Box<dyn Optimizer<T>>,
    /// Radius of the neighbourhood, `>= 0`.
    rho: f64,
    point: Vec<T>,
    grad: Vec<T>,
}

impl<T: Real> Sam<T> {
    /// SAM around `inner`.
    pub fn new(inner: Box<dyn Optimizer<T>>, rho: f64) -> Result<Self> {
        Ok(Sam { inner, rho: checked("sam", "rho", rho)?, point: Vec::new(), grad: Vec::new() })
    }

    /// Radius of the neighbourhood.
    pub fn rho(&self) -> f64 {
        self.rho
    }
}

impl<T: Real> Optimizer<T> for Sam<T> {
    fn name(&self) -> &'static str {
        "sam"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        vec![("rho", self.rho.into()), ("optimizer", Value::Optimizer(Report::of(self.inner.as_ref())))]
    }

    fn steps(&self) -> u64 {
        self.inner.steps()
    }

    forward!();

    fn update(&mut self, _params: &mut [T], _grads: &[T]) -> Result<()> {
        Err(Error::Unsupported(
            "sam needs the objective for its second gradient: use it in run, compare, sweep or train (Optimizer::step_on)"
                .into(),
        ))
    }

    fn step_on(&mut self, objective: &dyn Objective<T>, params: &mut [T], grad: &[T]) -> Result<()> {
        check_lengths("sam", params.len(), grad.len())?;
        if objective.dim() != params.len() {
            return Err(Error::Dimension {
                field: "sam.params".into(),
                expected: objective.dim(),
                got: params.len(),
            });
        }
        let norm = grad.iter().map(|g| g.to_f64() * g.to_f64()).sum::<f64>().sqrt();
        let scale = T::from_f64(self.rho / (norm + 1e-12));
        self.point.clear();
        self.point.extend(params.iter().zip(grad).map(|(&p, &g)| p + scale * g));
        self.grad.resize(params.len(), T::ZERO);
        objective.gradient(&self.point, &mut self.grad);
        self.inner.step_on(objective, params, &self.grad)
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        self.inner.eval_params(params)
    }

    fn state(&self) -> OptimizerState<T> {
        wrapped_state::<T>("sam", self.steps(), &[], &[], self.inner.as_ref())
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        let saved = open_state("sam", state, &[], &[])?;
        self.inner.load_state(saved.inner)
    }

    fn reset(&mut self) {
        self.inner.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_nest_and_print_back() {
        let s = OptimizerSpec::parse("ema( lookahead(adam:lr=0.01,beta1=0.8):k=3 ):decay=0.9").unwrap();
        assert_eq!(s.base.name, "adam");
        assert_eq!(s.wrappers.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["lookahead", "ema"]);
        assert_eq!(s.to_string(), "ema(lookahead(adam:lr=0.01,beta1=0.8):k=3):decay=0.9");
        assert_eq!(s.short_name(), "ema(lookahead(adam))");
        assert_eq!(OptimizerSpec::parse(&s.to_string()).unwrap(), s);
        let plain = OptimizerSpec::parse("adam:lr=1e-3..1e-1:log:5").unwrap();
        assert!(plain.wrappers.is_empty());
        assert_eq!(plain.base.entries, [("lr".to_string(), "1e-3..1e-1:log:5".to_string())]);
        let alias = OptimizerSpec::parse("multi-steps(gd)").unwrap();
        assert_eq!(alias.to_string(), "accumulate(gd)");
    }

    #[test]
    fn malformed_specs_name_the_problem() {
        for (bad, says) in [
            ("lookahead(adam:lr=0.01", "with its ')'"),
            ("lookahead:k=5", "wraps an optimizer"),
            ("adam:lr=0.1)", "without a matching '('"),
            ("lookahead(adam)k=5", "after the ')'"),
            ("lookahed(adam)", "did you mean 'lookahead'"),
            ("lookahead()", "optimizer"),
            (&format!("{}gd{}", "ema(".repeat(9), ")".repeat(9)), "wrappers"),
        ] {
            let e = OptimizerSpec::parse(bad).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
