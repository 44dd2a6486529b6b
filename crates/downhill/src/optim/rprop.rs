use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Prepared, Value,
};
use crate::batch::{BatchKind, Batchable};
use crate::error::{Error, Result};
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Rprop, resilient backpropagation (Riedmiller & Braun, ICNN 1993), as `torch.optim.Rprop`:
    /// each parameter has its own step size, grown while its gradient keeps its sign and shrunk when
    /// the sign flips; only the gradient's sign is used.
    ///
    /// ```text
    /// s = sign(g * g_prev)
    /// step  <- clamp(step * (s > 0 ? etaplus : s < 0 ? etaminus : 1), step_min, step_max)
    /// g     <- (s < 0) ? 0 : g                  (after a sign flip, no move and no flip next time)
    /// theta <- theta - sign(g) * step
    /// g_prev <- g
    /// ```
    ///
    /// Every step size starts at `lr`, which is all `lr` does (as in PyTorch, where a scheduler
    /// changing it after the first step has no effect); a schedule is therefore refused. Defaults
    /// (PyTorch): `lr = 1e-2`, `etaminus = 0.5`, `etaplus = 1.2`, `step_min = 1e-6`, `step_max = 50`.
    /// PyTorch's Rprop has no weight decay, and neither has this one.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Rprop<T>, "rprop", builder RpropBuilder {
        /// Initial step size (a number: Rprop takes no schedule).
        learning_rate: f64 = 1e-2, in Range::Positive;
        /// Step factor after a sign flip.
        etaminus: f64 = 0.5, in Range::open(0.0, 1.0), ref "PyTorch etas[0]";
        /// Step factor while the sign holds.
        etaplus: f64 = 1.2, in Range::Interval { lo: 1.0, lo_closed: false, hi: f64::INFINITY, hi_closed: false }, ref "PyTorch etas[1]";
        /// Smallest step size.
        step_min: f64 = 1e-6, in Range::NonNegative, ref "PyTorch step_sizes[0]";
        /// Largest step size.
        step_max: f64 = 50.0, in Range::Positive, ref "PyTorch step_sizes[1]";
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        prev: Vec<T>,
        step_size: Vec<T>,
    }
    check = check;
}

impl<T: Real> Rprop<T> {
    /// The per-parameter step sizes (empty before the first update).
    pub fn step_sizes(&self) -> &[T] {
        &self.step_size
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    if o.schedule.is_some() {
        return Err(Error::Inconsistent {
            field: "rprop.lr".into(),
            message: "Rprop's lr is only its initial step size, so it takes no schedule".into(),
        });
    }
    Ok(Box::new(Rprop::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

fn check<T>(b: &RpropBuilder<T>) -> Result<()> {
    if b.step_max < b.step_min {
        return Err(Error::out_of_range(
            "rprop.step_max",
            b.step_max,
            &format!("[step_min = {}, inf)", b.step_min),
        ));
    }
    Ok(())
}

impl<T: Real> Optimizer<T> for Rprop<T> {
    fn name(&self) -> &'static str {
        "rprop"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn batchable(&self) -> Option<Batchable> {
        // etaminus and etaplus take the places of the betas (runs are grouped by them).
        let lr = Schedule::constant(self.learning_rate);
        let b = Batchable::new(BatchKind::Rprop, &lr, self.etaminus, self.etaplus, 0.0, 0.0);
        let b = b.map(|b| b.init(0.0, self.learning_rate).bounds(self.step_min, self.step_max));
        self.transforms.is_identity().then_some(b)?
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("rprop", params.len(), grads.len())?;
        let n = params.len();
        ensure("rprop", &mut self.prev, n, T::ZERO)?;
        ensure("rprop", &mut self.step_size, n, T::from_f64(self.learning_rate))?;
        let c = Coeffs {
            etaminus: T::from_f64(self.etaminus),
            etaplus: T::from_f64(self.etaplus),
            lo: T::from_f64(self.step_min),
            hi: T::from_f64(self.step_max),
        };
        let pre = self.transforms.prepare(grads);
        super::parallel::for_chunks4(params, grads, &mut self.prev, &mut self.step_size, |p, g, prev, s| {
            dispatch(p, g, prev, s, &c, &pre)
        });
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|_: &Rprop<T>| "rprop"; prev, step_size);
}

#[derive(Clone, Copy)]
struct Coeffs<T> {
    etaminus: T,
    etaplus: T,
    lo: T,
    hi: T,
}

super::avx2_dispatch! {
    /// The Rprop step over a chunk.
    fn dispatch(p: &mut [T], g: &[T], prev: &mut [T], s: &mut [T], c: &Coeffs<T>, pre: &Prepared<T>) => {
        if pre.is_identity() {
            kernel::<T, false>(p, g, prev, s, c, pre)
        } else {
            kernel::<T, true>(p, g, prev, s, c, pre)
        }
    }
}

/// One pass reading p, g, prev, step and writing p, prev, step.
#[inline(always)]
fn kernel<T: Real, const PRE: bool>(
    p: &mut [T],
    g: &[T],
    prev: &mut [T],
    s: &mut [T],
    c: &Coeffs<T>,
    pre: &Prepared<T>,
) {
    let n = p.len();
    let (g, prev, s) = (&g[..n], &mut prev[..n], &mut s[..n]);
    for i in 0..n {
        let gi = if PRE { pre.apply(g[i], p[i]) } else { g[i] };
        let product = gi * prev[i];
        let flipped = product < T::ZERO;
        let factor = if product > T::ZERO {
            c.etaplus
        } else if flipped {
            c.etaminus
        } else {
            T::ONE
        };
        let step = (s[i] * factor).max(c.lo).min(c.hi);
        let gi = if flipped { T::ZERO } else { gi };
        s[i] = step;
        prev[i] = gi;
        p[i] -= gi.sign() * step;
    }
}
