//! Many independent runs advanced together: the engine behind fast sweeps.
//!
//! [`minimize_batch`] runs one optimizer kind (GD, heavy-ball momentum, Adam or AdamW, with
//! constant learning rates and no gradient transforms) from many hyperparameter settings and start
//! points at once. Parameters and optimizer state live in flat structure-of-arrays buffers, the
//! per-step scalars (Adam's `1 - beta^t` via `powf`) are computed once per distinct beta rather than
//! once per run, and runs are split across threads. Every run performs exactly the operations
//! [`crate::minimize`] would, so its final point, loss, stop reason and step count are
//! bit-identical (a test checks this); only final values are kept, no trajectories.

use crate::objective::Objective;
use crate::optim::{Optimizer, Value};
use crate::real::Real;
use crate::run::StopReason;

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

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Gd,
    Momentum,
    Adam { decoupled: bool },
}

/// The hyperparameters the batched kernels need, read from an optimizer's report.
#[derive(Clone, Copy)]
struct Hyper {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    wd: f64,
}

fn hyper_of<T: Real>(opt: &dyn Optimizer<T>) -> Option<(Kind, Hyper)> {
    let h = opt.hyperparameters();
    let num = |k: &str| {
        h.iter().find(|(n, _)| *n == k).and_then(|(_, v)| match v {
            Value::Number(x) => Some(*x),
            _ => None,
        })
    };
    let flag = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| matches!(v, Value::Bool(true)));
    // Schedules, clipping and the rarer options go through the general path.
    if h.iter().any(|(n, v)| matches!(v, Value::Schedule(_)) || n.starts_with("clip")) {
        return None;
    }
    let lr = num("lr")?;
    match opt.name() {
        "gd" if num("weight_decay") == Some(0.0) => {
            Some((Kind::Gd, Hyper { lr, beta1: 0.0, beta2: 0.0, eps: 0.0, wd: 0.0 }))
        }
        "momentum" if num("weight_decay") == Some(0.0) && num("dampening") == Some(0.0) => {
            Some((Kind::Momentum, Hyper { lr, beta1: num("beta")?, beta2: 0.0, eps: 0.0, wd: 0.0 }))
        }
        name @ ("adam" | "adamw") if flag("amsgrad") == Some(false) && num("eps_root") == Some(0.0) => {
            let wd = num("weight_decay")?;
            let decoupled = name == "adamw";
            if !decoupled && wd != 0.0 {
                return None;
            }
            Some((
                Kind::Adam { decoupled },
                Hyper { lr, beta1: num("beta1")?, beta2: num("beta2")?, eps: num("eps")?, wd },
            ))
        }
        _ => None,
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
    let d = objective.dim();
    if optimizers.len() != starts.len()
        || starts.iter().any(|s| s.len() != d || s.iter().any(|x| !x.is_finite()))
    {
        return None;
    }
    let mut kinds = Vec::with_capacity(optimizers.len());
    for o in optimizers {
        kinds.push(hyper_of::<T>(*o)?);
    }
    let kind = kinds.first()?.0;
    if kinds.iter().any(|(k, _)| *k != kind) {
        return None;
    }
    let hypers: Vec<Hyper> = kinds.into_iter().map(|(_, h)| h).collect();
    let powers = Powers::new(kind, &hypers, max_steps);
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
        Some(parts.into_iter().flatten().collect())
    }
    #[cfg(not(feature = "parallel"))]
    {
        Some(run_range(0, starts.len()))
    }
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
        let (b1s, _) = distinct(hypers.iter().map(|h| h.beta1));
        let (b2s, _) = distinct(hypers.iter().map(|h| h.beta2));
        let entries = (b1s.len() + b2s.len()) as u64 * max_steps;
        if !matches!(kind, Kind::Adam { .. }) || entries > Self::MAX_ENTRIES {
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

/// Distinct values and, for each run, the index of its value.
fn distinct(values: impl Iterator<Item = f64>) -> (Vec<f64>, Vec<usize>) {
    let mut uniq: Vec<f64> = Vec::new();
    let idx = values
        .map(|v| match uniq.iter().position(|u| u.to_bits() == v.to_bits()) {
            Some(i) => i,
            None => {
                uniq.push(v);
                uniq.len() - 1
            }
        })
        .collect();
    (uniq, idx)
}

/// [`advance_soa`] compiled for AVX2 when the CPU has it: the same IEEE operations in the same
/// order (no FMA contraction), so bit-identical results, with twice the vector width.
fn advance_soa_dispatch<T: Real>(
    f: &dyn Objective<T>,
    kind: Kind,
    hypers: &[Hyper],
    starts: &[Vec<T>],
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
    starts: &[Vec<T>],
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
    starts: &[Vec<T>],
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
    let b2 = per_run(&|h| h.beta2);
    let omb1 = per_run(&|h| 1.0 - h.beta1);
    let omb2 = per_run(&|h| 1.0 - h.beta2);
    let eps = per_run(&|h| h.eps);
    // Decoupled decay multiplies by 1 - lr wd; where there is none, multiplying by 1 is exact.
    let decay = per_run(&|h| {
        if matches!(kind, Kind::Adam { decoupled: true }) && h.wd != 0.0 {
            1.0 - h.lr * h.wd
        } else {
            1.0
        }
    });
    let (b1s, b1_of) = distinct(hypers.iter().map(|h| h.beta1));
    let (b2s, b2_of) = distinct(hypers.iter().map(|h| h.beta2));
    let rows1: Vec<Option<&[f64]>> = b1s.iter().map(|&b| powers.row(1, b)).collect();
    let rows2: Vec<Option<&[f64]>> = b2s.iter().map(|&b| powers.row(2, b)).collect();
    let (mut u1, mut u2) = (vec![T::ZERO; b1s.len()], vec![T::ZERO; b2s.len()]);
    let (mut c1, mut c2) = (vec![T::ONE; n], vec![T::ONE; n]);
    let (mut m, mut v) = (vec![T::ZERO; n * d], vec![T::ZERO; n * d]);
    let (mut xn, mut gn, mut ln) = (vec![T::ZERO; n * d], vec![T::ZERO; n * d], vec![T::ZERO; n]);
    for k in 1..=max_steps {
        if alive_count == 0 {
            break;
        }
        if matches!(kind, Kind::Adam { .. }) {
            let t = k as f64;
            let at = |b: f64, row: &Option<&[f64]>| {
                T::from_f64(row.map_or_else(|| crate::optim::bias_correction(b, t), |r| r[k as usize - 1]))
            };
            for ((u, &b), row) in u1.iter_mut().zip(&b1s).zip(&rows1) {
                *u = at(b, row);
            }
            for ((u, &b), row) in u2.iter_mut().zip(&b2s).zip(&rows2) {
                *u = at(b, row);
            }
            for r in 0..n {
                c1[r] = u1[b1_of[r]];
                c2[r] = u2[b2_of[r]];
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
                    for r in 0..n {
                        let p = xs[r] * decay[r];
                        let gi = gs[r];
                        let mi = b1[r] * ms[r] + omb1[r] * gi;
                        let vi = b2[r] * vs[r] + omb2[r] * (gi * gi);
                        ms[r] = mi;
                        vs[r] = vi;
                        out[r] = p - lr[r] * (mi / c1[r]) / ((vi / c2[r]).sqrt() + eps[r]);
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
