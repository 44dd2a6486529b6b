use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Prepared, Value,
};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Averaged SGD (Polyak & Juditsky, "Acceleration of stochastic approximation by averaging",
    /// 1992), as `torch.optim.ASGD` (its single-tensor CPU path). With `t` updates already applied:
    ///
    /// ```text
    /// eta_t = lr_t / (1 + lambd * lr_t * t)^alpha        (eta_0 = lr)
    /// mu_t  = 1 / max(1, t - t0)                          (mu_0 = 1)
    /// g     <- g + weight_decay * theta                   (coupled L2, as PyTorch)
    /// theta <- theta * (1 - lambd * eta_t) - eta_t * g
    /// ax    <- mu_t == 1 ? theta : ax + (theta - ax) * mu_t
    /// ```
    ///
    /// The parameters are the SGD iterate (a `downhill run` trajectory shows it); the answer is the
    /// average `ax`, which [`Optimizer::eval_params`] returns (what `downhill train` validates and
    /// what `run` reports as `eval_params`). Averaging starts after `t0` steps, so with the default
    /// `t0 = 1e6` the average is the iterate in any shorter run. Defaults (PyTorch): `lr = 1e-2`,
    /// `lambd = 1e-4`, `alpha = 0.75`, `t0 = 1e6`, `weight_decay = 0`. PyTorch computes `eta` with the
    /// rate of the step before; with a schedule, downhill uses the current one.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Asgd<T>, "asgd", builder AsgdBuilder {
        /// Learning rate (a schedule of the step), decayed to `eta_t`.
        learning_rate: Schedule = 1e-2, in Range::Positive;
        /// Decay term.
        lambd: f64 = 1e-4, in Range::NonNegative;
        /// Power of the rate's decay.
        alpha: f64 = 0.75, in Range::NonNegative;
        /// Step from which averaging starts.
        t0: f64 = 1e6, in Range::NonNegative;
        /// Coupled L2 weight decay, `g + weight_decay * theta`.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        ax: Vec<T>,
    }
}

impl<T: Real> Asgd<T> {
    /// `eta_t`, the rate of the next update.
    fn eta(&self) -> f64 {
        let lr = self.learning_rate.value(self.t);
        lr / (1.0 + self.lambd * lr * self.t as f64).powf(self.alpha)
    }

    /// The average `ax` (empty before the first update).
    pub fn average(&self) -> &[T] {
        &self.ax
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Asgd::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Asgd<T> {
    fn name(&self) -> &'static str {
        "asgd"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    /// `eta_t`, the decayed rate the next update uses.
    fn learning_rate(&self) -> f64 {
        self.eta()
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("asgd", params.len(), grads.len())?;
        ensure("asgd", &mut self.ax, params.len(), T::ZERO)?;
        self.learning_rate.rate(self.t)?;
        let eta = self.eta();
        let mu = if self.t == 0 { 1.0 } else { 1.0 / (self.t as f64 - self.t0).max(1.0) };
        let c = Coeffs {
            eta: T::from_f64(eta),
            decay: T::from_f64(1.0 - self.lambd * eta),
            mu: T::from_f64(mu),
            copy: mu == 1.0,
        };
        let pre = self.transforms.with_decay(self.weight_decay).prepare(grads);
        super::parallel::for_chunks3(params, grads, &mut self.ax, |p, g, ax| dispatch(p, g, ax, &c, &pre));
        self.t += 1;
        Ok(())
    }

    fn eval_params(&self, params: &[T]) -> Option<Vec<T>> {
        (self.t > 0 && self.ax.len() == params.len()).then(|| self.ax.clone())
    }

    super::bookkeeping!(|_: &Asgd<T>| "asgd"; ax);
}

#[derive(Clone, Copy)]
struct Coeffs<T> {
    eta: T,
    decay: T,
    mu: T,
    /// `mu == 1`: the average is the iterate (PyTorch copies it).
    copy: bool,
}

super::avx2_dispatch! {
    /// The ASGD step over a chunk.
    fn dispatch(p: &mut [T], g: &[T], ax: &mut [T], c: &Coeffs<T>, pre: &Prepared<T>) => {
        match (pre.is_identity(), c.copy) {
            (true, true) => kernel::<T, false, true>(p, g, ax, c, pre),
            (true, false) => kernel::<T, false, false>(p, g, ax, c, pre),
            (false, true) => kernel::<T, true, true>(p, g, ax, c, pre),
            (false, false) => kernel::<T, true, false>(p, g, ax, c, pre),
        }
    }
}

/// One pass reading p, g, ax and writing p, ax.
#[inline(always)]
fn kernel<T: Real, const PRE: bool, const COPY: bool>(
    p: &mut [T],
    g: &[T],
    ax: &mut [T],
    c: &Coeffs<T>,
    pre: &Prepared<T>,
) {
    let n = p.len();
    let (g, ax) = (&g[..n], &mut ax[..n]);
    for i in 0..n {
        let gi = if PRE { pre.apply(g[i], p[i]) } else { g[i] };
        let pi = p[i] * c.decay - c.eta * gi;
        p[i] = pi;
        ax[i] = if COPY { pi } else { ax[i] + (pi - ax[i]) * c.mu };
    }
}
