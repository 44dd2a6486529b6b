//! Many independent runs advanced together: the engine behind fast sweeps.
//!
//! [`minimize_batch`] runs one optimizer kind (GD, heavy-ball momentum, Adam or AdamW, and the
//! element-wise two-buffer methods Adamax, AdaBelief, Yogi, Adadelta and Rprop, with constant
//! learning rates and no gradient transforms) from many hyperparameter settings and start
//! points at once. Parameters and optimizer state live in flat structure-of-arrays buffers, the
//! per-step scalars (Adam's `1 - beta^t` via `powf`) are computed once per distinct beta rather than
//! once per run, and runs are split across threads. Every run performs exactly the operations
//! [`crate::minimize`] would, so its final point, loss, stop reason and step count are
//! bit-identical (a test checks this); only final values are kept, no trajectories.

use crate::objective::Objective;
use crate::optim::Optimizer;
use crate::real::Real;
use crate::run::StopReason;
use crate::schedule::Schedule;

/// The end of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult<T = f64> {
    /// Final parameters (for `non_finite`, the last finite ones).
    pub params: Vec<T>,
    /// Final loss.
    pub loss: T,
    /// Why it ended.
    pub stop: StopReason,
    /// Updates taken.
    pub steps: u64,
}

/// The update rules the batched engine implements, one per optimizer family it handles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BatchKind {
    /// [`crate::optim::GradientDescent`].
    Gd,
    /// [`crate::optim::Momentum`] (heavy ball, no dampening).
    Momentum,
    /// [`crate::optim::Adam`]; `decoupled` for AdamW.
    Adam {
        /// AdamW's decoupled weight decay.
        decoupled: bool,
    },
    /// [`crate::optim::Adamax`].
    Adamax,
    /// [`crate::optim::AdaBelief`].
    AdaBelief,
    /// [`crate::optim::Yogi`].
    Yogi,
    /// [`crate::optim::Adadelta`].
    Adadelta,
    /// [`crate::optim::Rprop`].
    Rprop,
}

use BatchKind as Kind;

impl Kind {
    /// Whether the update divides by Adam's bias corrections `1 - beta^t`.
    fn bias_corrected(self) -> bool {
        matches!(self, Kind::Adam { .. } | Kind::Adamax | Kind::AdaBelief | Kind::Yogi)
    }
}

/// The hyperparameters the batched kernels need.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Hyper {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    wd: f64,
    /// Added inside the root (AdaBelief: to the second moment).
    eps_root: f64,
    /// The state's starting values `(m, v)`: Yogi's initial accumulator, Rprop's initial step.
    init: (f64, f64),
    /// Rprop's step-size bounds.
    bounds: (f64, f64),
}

/// What the batched engine needs to know of one optimizer: its kind and constant
/// hyperparameters, a few numbers instead of a whole optimizer. Sweeps that build thousands of
/// optimizers keep these and let the optimizers go. Optimizers describe themselves through
/// [`Optimizer::batchable`].
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Batchable {
    kind: Kind,
    hyper: Hyper,
}

impl Batchable {
    /// The batched form of `optimizer` ([`Optimizer::batchable`]), or `None` when the engine does
    /// not handle it. The optimizer is only inspected: its state must be fresh (no steps taken).
    pub fn of<T: Real>(optimizer: &dyn Optimizer<T>) -> Option<Batchable> {
        optimizer.batchable()
    }

    /// `kind` with a constant rate `lr` (`None` for any other schedule), the two decays (for
    /// Adadelta `rho` and 0, for Rprop `etaminus` and `etaplus`), `eps` and the weight decay.
    pub(crate) fn new(
        kind: Kind,
        lr: &Schedule,
        beta1: f64,
        beta2: f64,
        eps: f64,
        wd: f64,
    ) -> Option<Batchable> {
        let Schedule::Constant { lr } = *lr else { return None };
        let hyper = Hyper { lr, beta1, beta2, eps, wd, eps_root: 0.0, init: (0.0, 0.0), bounds: (0.0, 0.0) };
        Some(Batchable { kind, hyper })
    }

    /// With `eps_root` added inside the root.
    pub(crate) fn eps_root(mut self, eps_root: f64) -> Batchable {
        self.hyper.eps_root = eps_root;
        self
    }

    /// With the state's starting values `(m, v)`.
    pub(crate) fn init(mut self, m: f64, v: f64) -> Batchable {
        self.hyper.init = (m, v);
        self
    }

    /// With Rprop's step-size bounds.
    pub(crate) fn bounds(mut self, lo: f64, hi: f64) -> Batchable {
        self.hyper.bounds = (lo, hi);
        self
    }

    /// The update rule.
    pub fn kind(&self) -> BatchKind {
        self.kind
    }

    /// The constant learning rate (Rprop: the initial step).
    pub fn learning_rate(&self) -> f64 {
        self.hyper.lr
    }
}

/// Runs `optimizers[i]` from `starts[i]` for every `i`, `max_steps` updates each, stopping a run as
/// diverged once any `|param| > bound` and as non-finite on NaN or infinity, exactly as
/// [`crate::minimize`] with those options. Returns `None` when some optimizer is not one the batched
/// engine handles (use `minimize` for those); the optimizers are only inspected, not stepped.
pub fn minimize_batch<T: Real>(
    objective: &dyn Objective<T>,
    optimizers: &[&dyn Optimizer<T>],
    starts: &[Vec<T>],
    max_steps: u64,
    bound: Option<f64>,
) -> Option<Vec<BatchResult<T>>> {
    let batch: Vec<Batchable> = optimizers.iter().map(|o| Batchable::of(*o)).collect::<Option<_>>()?;
    minimize_batchable(objective, &batch, starts, max_steps, bound)
}

/// Runs `optimizers[i]` from `starts[i]` as [`minimize_batch`] does when every optimizer is
/// [`Batchable`], and otherwise one at a time through [`crate::minimize`] with the same options:
/// the same results either way, so a caller never has to know which optimizers the engine takes
/// (parameter groups, schedules and line searches go the general way). The optimizers are stepped
/// only on the general path.
pub fn minimize_many<T: Real>(
    objective: &dyn Objective<T>,
    optimizers: &mut [Box<dyn Optimizer<T>>],
    starts: &[Vec<T>],
    max_steps: u64,
    bound: Option<f64>,
) -> crate::Result<Vec<BatchResult<T>>> {
    if optimizers.len() != starts.len() {
        return Err(crate::Error::Dimension {
            field: "starts".into(),
            expected: optimizers.len(),
            got: starts.len(),
        });
    }
    let refs: Vec<&dyn Optimizer<T>> = optimizers.iter().map(|o| o.as_ref()).collect();
    if let Some(results) = minimize_batch(objective, &refs, starts, max_steps, bound) {
        return Ok(results);
    }
    let options = crate::RunOptions { bound, record_every: 0, ..crate::RunOptions::steps(max_steps) };
    optimizers
        .iter_mut()
        .zip(starts)
        .map(|(o, x0)| {
            let r = crate::minimize(objective, o.as_mut(), x0, &options, None)?;
            Ok(BatchResult { params: r.params, loss: r.loss, stop: r.stop, steps: r.steps })
        })
        .collect()
}

/// [`minimize_batch`] for optimizers already reduced to their [`Batchable`] form. Returns `None`
/// when they are not all of one kind, when the lengths disagree, or when a start has the wrong
/// dimension or a non-finite coordinate.
pub fn minimize_batchable<T: Real>(
    objective: &dyn Objective<T>,
    optimizers: &[Batchable],
    starts: &[Vec<T>],
    max_steps: u64,
    bound: Option<f64>,
) -> Option<Vec<BatchResult<T>>> {
    let d = objective.dim();
    if optimizers.len() != starts.len()
        || starts.iter().any(|s| s.len() != d || s.iter().any(|x| !x.is_finite()))
    {
        return None;
    }
    let kind = optimizers.first()?.kind;
    if optimizers.iter().any(|b| b.kind != kind) {
        return None;
    }
    let hypers: Vec<Hyper> = optimizers.iter().map(|b| b.hyper).collect();
    let powers = Powers::new(kind, &hypers, max_steps);
    // Runs that share their betas are put side by side, so that each task sees long stretches of
    // runs with the same bias corrections (scalars, not per-run lookups); results go back in order.
    let mut order: Vec<usize> = (0..hypers.len()).collect();
    order.sort_by_key(|&r| (hypers[r].beta1.to_bits(), hypers[r].beta2.to_bits()));
    let hypers: Vec<Hyper> = order.iter().map(|&r| hypers[r]).collect();
    let starts: Vec<&[T]> = order.iter().map(|&r| starts[r].as_slice()).collect();
    let run_range = |lo: usize, hi: usize| -> Vec<BatchResult<T>> {
        advance_soa_dispatch(objective, kind, &hypers[lo..hi], &starts[lo..hi], max_steps, bound, &powers)
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        let n = starts.len();
        // A few tasks per thread, each large enough for the vector loops to pay off.
        let chunk = n.div_ceil(4 * rayon::current_num_threads()).clamp(64, 4096);
        let ranges: Vec<(usize, usize)> = (0..n).step_by(chunk).map(|lo| (lo, (lo + chunk).min(n))).collect();
        let parts: Vec<Vec<BatchResult<T>>> = ranges.par_iter().map(|&(lo, hi)| run_range(lo, hi)).collect();
        Some(unsort(&order, parts.into_iter().flatten()))
    }
    #[cfg(not(feature = "parallel"))]
    {
        Some(unsort(&order, run_range(0, starts.len()).into_iter()))
    }
}

/// Puts results computed in `order` back in the callers' order.
fn unsort<T>(order: &[usize], sorted: impl Iterator<Item = BatchResult<T>>) -> Vec<BatchResult<T>> {
    let mut out: Vec<Option<BatchResult<T>>> = (0..order.len()).map(|_| None).collect();
    for (&r, result) in order.iter().zip(sorted) {
        out[r] = Some(result);
    }
    out.into_iter().map(|r| r.expect("every run has a result")).collect()
}

/// Adam's bias corrections `1 - beta^t` (libm `pow`, as the one-at-a-time kernel computes them) for
/// every distinct beta and step, computed once for the whole batch instead of once per task and
/// step. Left empty when the table would be large (many distinct betas times many steps); the
/// tasks then compute them step by step.
struct Powers {
    b1s: Vec<f64>,
    b2s: Vec<f64>,
    /// `[beta index * steps + (t - 1)]`.
    c1: Vec<f64>,
    c2: Vec<f64>,
    steps: usize,
}

impl Powers {
    const MAX_ENTRIES: u64 = 1 << 22;

    fn new(kind: Kind, hypers: &[Hyper], max_steps: u64) -> Powers {
        let b1s = distinct(hypers.iter().map(|h| h.beta1));
        let b2s = distinct(hypers.iter().map(|h| h.beta2));
        let entries = (b1s.len() + b2s.len()) as u64 * max_steps;
        if !kind.bias_corrected() || entries > Self::MAX_ENTRIES {
            return Powers { b1s, b2s, c1: Vec::new(), c2: Vec::new(), steps: 0 };
        }
        let row = |b: f64| -> Vec<f64> {
            (1..=max_steps).map(|t| crate::optim::bias_correction(b, t as f64)).collect()
        };
        let table = |bs: &[f64]| -> Vec<f64> {
            #[cfg(feature = "parallel")]
            {
                use rayon::prelude::*;
                bs.par_iter().map(|&b| row(b)).collect::<Vec<_>>().concat()
            }
            #[cfg(not(feature = "parallel"))]
            {
                bs.iter().map(|&b| row(b)).collect::<Vec<_>>().concat()
            }
        };
        Powers { c1: table(&b1s), c2: table(&b2s), b1s, b2s, steps: max_steps as usize }
    }

    /// The tabulated `1 - beta^t` for `t = 1..=steps` of beta1 (`which == 1`) or beta2, if any.
    fn row(&self, which: usize, beta: f64) -> Option<&[f64]> {
        if self.steps == 0 {
            return None;
        }
        let (bs, table) = if which == 1 { (&self.b1s, &self.c1) } else { (&self.b2s, &self.c2) };
        let i = bs.iter().position(|b| b.to_bits() == beta.to_bits())?;
        Some(&table[i * self.steps..(i + 1) * self.steps])
    }
}

/// The distinct values (bit for bit), in order of first appearance.
fn distinct(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut uniq: Vec<f64> = Vec::new();
    for v in values {
        if !uniq.iter().any(|u| u.to_bits() == v.to_bits()) {
            uniq.push(v);
        }
    }
    uniq
}

/// A stretch `lo..hi` of runs with the same betas, and their bias corrections at the current step.
struct Segment<'a, T> {
    lo: usize,
    hi: usize,
    beta1: f64,
    beta2: f64,
    row1: Option<&'a [f64]>,
    row2: Option<&'a [f64]>,
    b1: T,
    b2: T,
    omb1: T,
    omb2: T,
    c1: T,
    c2: T,
    /// `1 - beta1^t` before its conversion to `T` (Adamax divides the rate by it in f64).
    c1_f64: f64,
}

/// One coordinate of one stretch of runs: what Adam reads and writes.
struct AdamLanes<'a, T> {
    x: &'a [T],
    g: &'a [T],
    m: &'a mut [T],
    v: &'a mut [T],
    out: &'a mut [T],
    lr: &'a [T],
    eps: &'a [T],
    decay: &'a [T],
}

/// Adam's update over a stretch of runs, in the one-at-a-time kernel's operations and order;
/// `DIV1 == false` leaves out the division by a first bias correction equal to 1.
#[inline(always)]
fn adam_lanes<T: Real, const DIV1: bool>(a: AdamLanes<'_, T>, s: &Segment<'_, T>) {
    // Blocks of 16 runs, written as fixed-length loops, give the vectorizer several independent
    // vectors per iteration, so that divisions and square roots of different vectors overlap.
    const W: usize = 16;
    let n = a.x.len();
    let AdamLanes { x, g, m, v, out, lr, eps, decay } = a;
    let (g, m, v, out) = (&g[..n], &mut m[..n], &mut v[..n], &mut out[..n]);
    let (lr, eps, decay) = (&lr[..n], &eps[..n], &decay[..n]);
    // One run's update, at index `$r` of slices named as here.
    macro_rules! update {
        ($r:expr, $x:ident, $g:ident, $m:ident, $v:ident, $out:ident, $lr:ident, $eps:ident, $decay:ident) => {{
            let r = $r;
            let p = $x[r] * $decay[r];
            let gi = $g[r];
            let mi = s.b1 * $m[r] + s.omb1 * gi;
            let vi = s.b2 * $v[r] + s.omb2 * (gi * gi);
            $m[r] = mi;
            $v[r] = vi;
            let mhat = if DIV1 { mi / s.c1 } else { mi };
            $out[r] = p - $lr[r] * mhat / ((vi / s.c2).sqrt() + $eps[r]);
        }};
    }
    let blocks = n / W * W;
    for lo in (0..blocks).step_by(W) {
        let (xb, gb, lrb, epsb, decayb) =
            (&x[lo..lo + W], &g[lo..lo + W], &lr[lo..lo + W], &eps[lo..lo + W], &decay[lo..lo + W]);
        let (mb, vb, outb) = (&mut m[lo..lo + W], &mut v[lo..lo + W], &mut out[lo..lo + W]);
        for r in 0..W {
            update!(r, xb, gb, mb, vb, outb, lrb, epsb, decayb);
        }
    }
    for r in blocks..n {
        update!(r, x, g, m, v, out, lr, eps, decay);
    }
}

/// [`advance_soa`] compiled for AVX2 when the CPU has it: the same IEEE operations in the same
/// order (no FMA contraction), so bit-identical results, with twice the vector width.
fn advance_soa_dispatch<T: Real>(
    f: &dyn Objective<T>,
    kind: Kind,
    hypers: &[Hyper],
    starts: &[&[T]],
    max_steps: u64,
    bound: Option<f64>,
    powers: &Powers,
) -> Vec<BatchResult<T>> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { advance_soa_avx2(f, kind, hypers, starts, max_steps, bound, powers) };
        }
    }
    advance_soa(f, kind, hypers, starts, max_steps, bound, powers)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn advance_soa_avx2<T: Real>(
    f: &dyn Objective<T>,
    kind: Kind,
    hypers: &[Hyper],
    starts: &[&[T]],
    max_steps: u64,
    bound: Option<f64>,
    powers: &Powers,
) -> Vec<BatchResult<T>> {
    advance_soa(f, kind, hypers, starts, max_steps, bound, powers)
}

/// The structure-of-arrays path: every array is coordinate-major (`a[i * n + r]`), each step is one
/// loop per coordinate over all runs (which the compiler vectorizes), and the objective evaluates all
/// runs at once through [`Objective::value_and_gradient_many`]. Stopped runs keep being computed but
/// are never committed.
#[inline(always)]
fn advance_soa<T: Real>(
    f: &dyn Objective<T>,
    kind: Kind,
    hypers: &[Hyper],
    starts: &[&[T]],
    max_steps: u64,
    bound: Option<f64>,
    powers: &Powers,
) -> Vec<BatchResult<T>> {
    let (n, d) = (starts.len(), f.dim());
    let mut x = vec![T::ZERO; n * d];
    for (r, s) in starts.iter().enumerate() {
        for i in 0..d {
            x[i * n + r] = s[i];
        }
    }
    let mut g = vec![T::ZERO; n * d];
    let mut loss = vec![T::ZERO; n];
    f.value_and_gradient_many(&x, &mut loss, &mut g);
    let mut stop = vec![StopReason::MaxSteps; n];
    let mut steps = vec![0u64; n];
    let mut alive: Vec<bool> =
        (0..n).map(|r| loss[r].is_finite() && (0..d).all(|i| g[i * n + r].is_finite())).collect();
    for r in 0..n {
        if !alive[r] {
            stop[r] = StopReason::NonFinite;
        }
    }
    let mut alive_count = alive.iter().filter(|a| **a).count();
    // Per-run scalars, converted to T as the one-at-a-time kernels convert them.
    let per_run =
        |f: &dyn Fn(&Hyper) -> f64| -> Vec<T> { hypers.iter().map(|h| T::from_f64(f(h))).collect() };
    let lr = per_run(&|h| h.lr);
    let b1 = per_run(&|h| h.beta1);
    let eps = per_run(&|h| h.eps);
    // Decoupled decay multiplies by 1 - lr wd; where there is none, multiplying by 1 is exact.
    let decay = per_run(&|h| {
        if matches!(kind, Kind::Adam { decoupled: true }) && h.wd != 0.0 {
            1.0 - h.lr * h.wd
        } else {
            1.0
        }
    });
    // Stretches of runs with the same betas (the caller sorted them so): Adam's bias corrections
    // are one scalar per stretch and step.
    let mut segments: Vec<Segment<T>> = Vec::new();
    for (r, h) in hypers.iter().enumerate() {
        match segments.last_mut() {
            Some(s) if s.beta1.to_bits() == h.beta1.to_bits() && s.beta2.to_bits() == h.beta2.to_bits() => {
                s.hi = r + 1
            }
            _ => segments.push(Segment {
                lo: r,
                hi: r + 1,
                beta1: h.beta1,
                beta2: h.beta2,
                row1: powers.row(1, h.beta1),
                row2: powers.row(2, h.beta2),
                b1: T::from_f64(h.beta1),
                b2: T::from_f64(h.beta2),
                omb1: T::from_f64(1.0 - h.beta1),
                omb2: T::from_f64(1.0 - h.beta2),
                c1: T::ONE,
                c2: T::ONE,
                c1_f64: 1.0,
            }),
        }
    }
    let (mut m, mut v) = (vec![T::ZERO; n * d], vec![T::ZERO; n * d]);
    for (r, h) in hypers.iter().enumerate() {
        if h.init != (0.0, 0.0) {
            let (m0, v0) = (T::from_f64(h.init.0), T::from_f64(h.init.1));
            for i in 0..d {
                m[i * n + r] = m0;
                v[i * n + r] = v0;
            }
        }
    }
    let eps_root = per_run(&|h| h.eps_root);
    let wd = per_run(&|h| h.wd);
    let (lo, hi) = (per_run(&|h| h.bounds.0), per_run(&|h| h.bounds.1));
    // Adamax's rate lr / (1 - beta1^t), per run and step.
    let mut clr = vec![T::ZERO; if kind == Kind::Adamax { n } else { 0 }];
    let (mut xn, mut gn, mut ln) = (vec![T::ZERO; n * d], vec![T::ZERO; n * d], vec![T::ZERO; n]);
    for k in 1..=max_steps {
        if alive_count == 0 {
            break;
        }
        if kind.bias_corrected() {
            let t = k as f64;
            let at = |b: f64, row: Option<&[f64]>| {
                row.map_or_else(|| crate::optim::bias_correction(b, t), |r| r[k as usize - 1])
            };
            for s in &mut segments {
                s.c1_f64 = at(s.beta1, s.row1);
                s.c1 = T::from_f64(s.c1_f64);
                s.c2 = T::from_f64(at(s.beta2, s.row2));
                if kind == Kind::Adamax {
                    for r in s.lo..s.hi {
                        clr[r] = T::from_f64(hypers[r].lr / s.c1_f64);
                    }
                }
            }
        }
        for i in 0..d {
            let (xs, gs) = (&x[i * n..(i + 1) * n], &g[i * n..(i + 1) * n]);
            let (ms, vs, out) =
                (&mut m[i * n..(i + 1) * n], &mut v[i * n..(i + 1) * n], &mut xn[i * n..(i + 1) * n]);
            match kind {
                Kind::Gd => {
                    for r in 0..n {
                        out[r] = xs[r] - lr[r] * gs[r];
                    }
                }
                Kind::Momentum => {
                    for r in 0..n {
                        let mr = if k == 1 { gs[r] } else { b1[r] * ms[r] + T::ONE * gs[r] };
                        ms[r] = mr;
                        out[r] = xs[r] - lr[r] * mr;
                    }
                }
                Kind::Adam { .. } => {
                    for s in &segments {
                        let span = s.lo..s.hi;
                        let lanes = AdamLanes {
                            x: &xs[span.clone()],
                            g: &gs[span.clone()],
                            m: &mut ms[span.clone()],
                            v: &mut vs[span.clone()],
                            out: &mut out[span.clone()],
                            lr: &lr[span.clone()],
                            eps: &eps[span.clone()],
                            decay: &decay[span],
                        };
                        // Dividing by exactly 1 changes nothing, so it is skipped once the first
                        // bias correction has rounded to 1 (after a few hundred steps).
                        if s.c1 == T::ONE {
                            adam_lanes::<T, false>(lanes, s);
                        } else {
                            adam_lanes::<T, true>(lanes, s);
                        }
                    }
                }
                // The others in their one-at-a-time kernels' operations and order.
                Kind::Adamax => {
                    for s in &segments {
                        for r in s.lo..s.hi {
                            let gi = gs[r];
                            let mi = ms[r] + s.omb1 * (gi - ms[r]);
                            let ui = (s.b2 * vs[r]).max(gi.abs() + eps[r]);
                            ms[r] = mi;
                            vs[r] = ui;
                            out[r] = xs[r] - clr[r] * (mi / ui);
                        }
                    }
                }
                Kind::AdaBelief => {
                    for s in &segments {
                        for r in s.lo..s.hi {
                            let gi = gs[r];
                            let mi = s.omb1 * gi + s.b1 * ms[r];
                            let e = gi - mi;
                            let si = s.omb2 * (e * e) + s.b2 * vs[r] + eps_root[r];
                            ms[r] = mi;
                            vs[r] = si;
                            let mut u = (mi / s.c1) / ((si / s.c2).sqrt() + eps[r]);
                            if hypers[r].wd != 0.0 {
                                u += wd[r] * xs[r];
                            }
                            out[r] = xs[r] - lr[r] * u;
                        }
                    }
                }
                Kind::Yogi => {
                    for s in &segments {
                        for r in s.lo..s.hi {
                            let gi = gs[r];
                            let g2 = gi * gi;
                            let mi = s.omb1 * gi + s.b1 * ms[r];
                            let vi = vs[r] - s.omb2 * (vs[r] - g2).sign() * g2;
                            ms[r] = mi;
                            vs[r] = vi;
                            out[r] =
                                xs[r] - lr[r] * ((mi / s.c1) / ((vi / s.c2 + eps_root[r]).sqrt() + eps[r]));
                        }
                    }
                }
                Kind::Adadelta => {
                    for s in &segments {
                        for r in s.lo..s.hi {
                            let gi = gs[r];
                            let si = ms[r] * s.b1 + s.omb1 * gi * gi;
                            let delta = (vs[r] + eps[r]).sqrt() / (si + eps[r]).sqrt() * gi;
                            ms[r] = si;
                            vs[r] = vs[r] * s.b1 + s.omb1 * delta * delta;
                            out[r] = xs[r] - lr[r] * delta;
                        }
                    }
                }
                Kind::Rprop => {
                    for s in &segments {
                        for r in s.lo..s.hi {
                            let gi = gs[r];
                            let product = gi * ms[r];
                            let flipped = product < T::ZERO;
                            let factor = if product > T::ZERO {
                                s.b2
                            } else if flipped {
                                s.b1
                            } else {
                                T::ONE
                            };
                            let step = (vs[r] * factor).max(lo[r]).min(hi[r]);
                            let gi = if flipped { T::ZERO } else { gi };
                            vs[r] = step;
                            ms[r] = gi;
                            out[r] = xs[r] - gi.sign() * step;
                        }
                    }
                }
            }
        }
        f.value_and_gradient_many(&xn, &mut ln, &mut gn);
        // The common case, checked without branches: every run is alive and stays finite and
        // within the bound, so the new buffers simply become the current ones.
        if alive_count == n {
            let mut ok = ln.iter().fold(true, |ok, l| ok & l.is_finite());
            let limit = bound.unwrap_or(f64::INFINITY);
            for (xv, gv) in xn.iter().zip(&gn) {
                ok &= xv.is_finite() & gv.is_finite() & (xv.abs().to_f64() <= limit);
            }
            if ok {
                std::mem::swap(&mut x, &mut xn);
                std::mem::swap(&mut g, &mut gn);
                std::mem::swap(&mut loss, &mut ln);
                steps.fill(k);
                continue;
            }
        } else {
            // Some runs have stopped: the same check over the live ones, then a masked copy.
            let limit = bound.unwrap_or(f64::INFINITY);
            let mut ok = true;
            for r in 0..n {
                ok &= !alive[r] | ln[r].is_finite();
            }
            for i in 0..d {
                let (xs, gs) = (&xn[i * n..(i + 1) * n], &gn[i * n..(i + 1) * n]);
                for r in 0..n {
                    ok &=
                        !alive[r] | (xs[r].is_finite() & gs[r].is_finite() & (xs[r].abs().to_f64() <= limit));
                }
            }
            if ok {
                for (j, (xv, gv)) in x.iter_mut().zip(g.iter_mut()).enumerate() {
                    if alive[j % n] {
                        *xv = xn[j];
                        *gv = gn[j];
                    }
                }
                for r in 0..n {
                    if alive[r] {
                        loss[r] = ln[r];
                        steps[r] = k;
                    }
                }
                continue;
            }
        }
        for r in 0..n {
            if !alive[r] {
                continue;
            }
            steps[r] = k;
            let finite =
                ln[r].is_finite() && (0..d).all(|i| xn[i * n + r].is_finite() && gn[i * n + r].is_finite());
            if !finite {
                stop[r] = StopReason::NonFinite;
                alive[r] = false;
                alive_count -= 1;
                continue;
            }
            for i in 0..d {
                x[i * n + r] = xn[i * n + r];
                g[i * n + r] = gn[i * n + r];
            }
            loss[r] = ln[r];
            if bound.is_some_and(|b| (0..d).any(|i| x[i * n + r].abs().to_f64() > b)) {
                stop[r] = StopReason::Diverged;
                alive[r] = false;
                alive_count -= 1;
            }
        }
    }
    (0..n)
        .map(|r| BatchResult {
            params: (0..d).map(|i| x[i * n + r]).collect(),
            loss: loss[r],
            stop: stop[r],
            steps: steps[r],
        })
        .collect()
}
