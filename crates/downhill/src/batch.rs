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
use crate::run::StopReason;

/// The end of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult {
    /// Final parameters (for `non_finite`, the last finite ones).
    pub params: Vec<f64>,
    /// Final loss.
    pub loss: f64,
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

fn hyper_of(opt: &dyn Optimizer<f64>) -> Option<(Kind, Hyper)> {
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
pub fn minimize_batch(
    objective: &dyn Objective<f64>,
    optimizers: &[&dyn Optimizer<f64>],
    starts: &[Vec<f64>],
    max_steps: u64,
    bound: Option<f64>,
) -> Option<Vec<BatchResult>> {
    let d = objective.dim();
    if optimizers.len() != starts.len()
        || starts.iter().any(|s| s.len() != d || s.iter().any(|x| !x.is_finite()))
    {
        return None;
    }
    let mut kinds = Vec::with_capacity(optimizers.len());
    for o in optimizers {
        kinds.push(hyper_of(*o)?);
    }
    let kind = kinds.first()?.0;
    if kinds.iter().any(|(k, _)| *k != kind) {
        return None;
    }
    let hypers: Vec<Hyper> = kinds.into_iter().map(|(_, h)| h).collect();
    let run_range = |lo: usize, hi: usize| -> Vec<BatchResult> {
        advance(objective, kind, &hypers[lo..hi], &starts[lo..hi], max_steps, bound)
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        let chunk = 256;
        let n = starts.len();
        let ranges: Vec<(usize, usize)> = (0..n).step_by(chunk).map(|lo| (lo, (lo + chunk).min(n))).collect();
        let parts: Vec<Vec<BatchResult>> = ranges.par_iter().map(|&(lo, hi)| run_range(lo, hi)).collect();
        Some(parts.into_iter().flatten().collect())
    }
    #[cfg(not(feature = "parallel"))]
    {
        Some(run_range(0, starts.len()))
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

fn advance(
    f: &dyn Objective<f64>,
    kind: Kind,
    hypers: &[Hyper],
    starts: &[Vec<f64>],
    max_steps: u64,
    bound: Option<f64>,
) -> Vec<BatchResult> {
    let (n, d) = (starts.len(), f.dim());
    let mut x: Vec<f64> = starts.concat();
    let mut g = vec![0.0; n * d];
    let mut loss = vec![0.0; n];
    let mut m = vec![0.0; n * d];
    let mut v = vec![0.0; n * d];
    let mut old = vec![0.0; d];
    let mut stop = vec![StopReason::MaxSteps; n];
    let mut steps = vec![0u64; n];
    let mut active: Vec<usize> = Vec::with_capacity(n);
    for r in 0..n {
        loss[r] = f.value_and_gradient(&x[r * d..(r + 1) * d], &mut g[r * d..(r + 1) * d]);
        if !loss[r].is_finite() || g[r * d..(r + 1) * d].iter().any(|v| !v.is_finite()) {
            stop[r] = StopReason::NonFinite;
        } else {
            active.push(r);
        }
    }
    let (b1s, b1_of) = distinct(hypers.iter().map(|h| h.beta1));
    let (b2s, b2_of) = distinct(hypers.iter().map(|h| h.beta2));
    let mut bc1 = vec![0.0; b1s.len()];
    let mut bc2 = vec![0.0; b2s.len()];
    for k in 1..=max_steps {
        if active.is_empty() {
            break;
        }
        if matches!(kind, Kind::Adam { .. }) {
            let t = k as f64;
            for (c, b) in bc1.iter_mut().zip(&b1s) {
                *c = 1.0 - b.powf(t);
            }
            for (c, b) in bc2.iter_mut().zip(&b2s) {
                *c = 1.0 - b.powf(t);
            }
        }
        let mut still = 0;
        for a in 0..active.len() {
            let r = active[a];
            let h = hypers[r];
            let (xs, gs) = (&mut x[r * d..(r + 1) * d], &mut g[r * d..(r + 1) * d]);
            let (ms, vs) = (&mut m[r * d..(r + 1) * d], &mut v[r * d..(r + 1) * d]);
            // Update in place; keep the old point to restore if the new one is not finite.
            old.copy_from_slice(xs);
            match kind {
                Kind::Gd => {
                    for i in 0..d {
                        xs[i] -= h.lr * gs[i];
                    }
                }
                Kind::Momentum => {
                    for i in 0..d {
                        // First step: v = g (PyTorch); afterwards the seed's v = beta v + (1 - 0) g.
                        ms[i] = if k == 1 { gs[i] } else { h.beta1 * ms[i] + 1.0 * gs[i] };
                        xs[i] -= h.lr * ms[i];
                    }
                }
                Kind::Adam { decoupled } => {
                    let (c1, c2) = (bc1[b1_of[r]], bc2[b2_of[r]]);
                    let (omb1, omb2) = (1.0 - h.beta1, 1.0 - h.beta2);
                    let decay = 1.0 - h.lr * h.wd;
                    for i in 0..d {
                        let mut p = xs[i];
                        if decoupled && h.wd != 0.0 {
                            p *= decay;
                        }
                        let gi = gs[i];
                        let mi = h.beta1 * ms[i] + omb1 * gi;
                        let vi = h.beta2 * vs[i] + omb2 * (gi * gi);
                        ms[i] = mi;
                        vs[i] = vi;
                        xs[i] = p - h.lr * (mi / c1) / ((vi / c2).sqrt() + h.eps);
                    }
                }
            }
            steps[r] = k;
            let new_loss = f.value_and_gradient(xs, gs);
            if xs.iter().any(|v| !v.is_finite()) || !new_loss.is_finite() || gs.iter().any(|v| !v.is_finite())
            {
                stop[r] = StopReason::NonFinite;
                xs.copy_from_slice(&old);
                continue;
            }
            loss[r] = new_loss;
            if bound.is_some_and(|b| xs.iter().any(|p| p.abs() > b)) {
                stop[r] = StopReason::Diverged;
                continue;
            }
            active[still] = r;
            still += 1;
        }
        active.truncate(still);
    }
    (0..n)
        .map(|r| BatchResult {
            params: x[r * d..(r + 1) * d].to_vec(),
            loss: loss[r],
            stop: stop[r],
            steps: steps[r],
        })
        .collect()
}
