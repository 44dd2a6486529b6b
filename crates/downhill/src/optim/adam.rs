use serde::{Deserialize, Serialize};

use super::{check_lengths, ensure, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value};
use crate::batch::{BatchKind, Batchable};
use crate::error::Result;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Adam (Kingma & Ba, ICLR 2015) and AdamW (Loshchilov & Hutter, ICLR 2019), computed exactly as
    /// the seed article's numpy code, with `t` counted from 1 in the bias correction:
    ///
    /// ```text
    /// theta <- theta * (1 - lr_t * weight_decay)        (AdamW only: decoupled decay, first)
    /// m     <- beta1 * m + (1 - beta1) * g
    /// v     <- beta2 * v + (1 - beta2) * g^2
    /// m_hat <- m / (1 - beta1^t)
    /// v_hat <- v / (1 - beta2^t)                        (amsgrad: v_max <- max(v_max, v), v_hat from v_max)
    /// theta <- theta - lr_t * m_hat / (sqrt(v_hat + eps_root) + eps)
    /// ```
    ///
    /// The last line is evaluated as `(lr_t * m_hat) / (sqrt(v_hat) + eps)`, the seed's operation order;
    /// PyTorch evaluates the same quantity as `m / (sqrt(v) / sqrt(1 - beta2^t) + eps) * lr / (1 - beta1^t)`,
    /// so the two agree to a few ulps, not bit for bit. `eps` is outside the square root (seed,
    /// PyTorch); `eps_root` (default 0) adds a term inside it, as optax's `scale_by_adam` does for
    /// differentiating through the update.
    ///
    /// Defaults are PyTorch's (listed by [`Adam::declared`]). For `adam`, `weight_decay` is coupled
    /// L2 (`g <- g + wd * theta`, as `torch.optim.Adam`); for `adamw` ([`Adam::adamw_builder`]) it is
    /// decoupled with PyTorch's default 0.01.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Adam<T>, "adam", builder AdamBuilder {
        /// Learning rate (a schedule of the step).
        learning_rate: Schedule = 1e-3, in Range::Positive;
        /// First-moment decay.
        beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "PyTorch betas[0], optax b1";
        /// Second-moment decay.
        beta2: f64 = 0.999, in Range::UnitHalfOpen, ref "PyTorch betas[1], optax b2";
        /// Added to `sqrt(v_hat)`.
        eps: f64 = 1e-8, in Range::Positive;
        /// Added to `v_hat` inside the square root (optax).
        eps_root: f64 = 0.0, in Range::NonNegative;
        /// Use the running maximum of `v` (Reddi et al., ICLR 2018).
        amsgrad: bool = false;
        /// Weight decay: coupled L2 for Adam, decoupled (times lr) for AdamW.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {
        /// AdamW: decay the weights directly instead of adding `wd * theta` to the gradient.
        decoupled: bool,
        /// Clipping (its `weight_decay` is not used; see `weight_decay`).
        transforms: GradientTransforms,
    }
    state {
        t: u64,
        m: Vec<T>,
        v: Vec<T>,
        v_max: Vec<T>,
        /// Caches of `1 - beta1^t` and `1 - beta2^t` (not saved: they refill themselves).
        #[serde(skip)]
        bc: [super::BiasCorrection; 2],
    }
}

impl<T: Real> Adam<T> {
    /// AdamW's builder: decoupled weight decay with PyTorch's default 0.01.
    pub fn adamw_builder() -> AdamBuilder<T> {
        Adam::builder().decoupled(true).weight_decay(0.01)
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01) and the given rate, checked.
    pub fn adamw(lr: impl Into<Schedule>) -> Result<Self> {
        Adam::adamw_builder().lr(lr).build()
    }

    /// Whether the weight decay is decoupled (AdamW).
    pub fn decoupled(&self) -> bool {
        self.decoupled
    }

    /// First moment `m` (empty before the first update).
    pub fn first_moment(&self) -> &[T] {
        &self.m
    }

    /// Second moment `v` (empty before the first update).
    pub fn second_moment(&self) -> &[T] {
        &self.v
    }
}

pub(crate) fn build_adam<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b = Adam::builder().read_spec(p, o)?.transforms(GradientTransforms::from_params(p)?);
    Ok(Box::new(b.build()?))
}

pub(crate) fn build_adamw<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    let b = Adam::adamw_builder().read_spec(p, o)?.transforms(GradientTransforms::from_params(p)?);
    Ok(Box::new(b.build()?))
}

impl<T: Real> Optimizer<T> for Adam<T> {
    fn name(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn batchable(&self) -> Option<Batchable> {
        let plain = !self.amsgrad && self.eps_root == 0.0 && (self.decoupled || self.weight_decay == 0.0);
        let kind = BatchKind::Adam { decoupled: self.decoupled };
        (plain && self.transforms.is_identity()).then(|| {
            Batchable::new(kind, &self.learning_rate, self.beta1, self.beta2, self.eps, self.weight_decay)
        })?
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        let n = params.len();
        if n <= 16
            && grads.len() == n
            && self.m.len() == n
            && self.v.len() == n
            && !self.amsgrad
            && self.eps_root == 0.0
            && (self.weight_decay == 0.0 || self.decoupled)
            && self.transforms.clip_norm.is_none()
            && self.transforms.clip_value.is_none()
        {
            let lr_f = self.learning_rate.rate(self.t)?;
            self.small_step(params, grads, lr_f);
            return Ok(());
        }
        let name = Optimizer::<T>::name(self);
        check_lengths(name, params.len(), grads.len())?;
        let n = params.len();
        ensure(name, &mut self.m, n, T::ZERO)?;
        ensure(name, &mut self.v, n, T::ZERO)?;
        if self.amsgrad {
            ensure(name, &mut self.v_max, n, T::ZERO)?;
        }
        let lr_f = self.learning_rate.rate(self.t)?;
        let t = self.t + 1;
        let lr = T::from_f64(lr_f);
        let (b1, omb1) = (T::from_f64(self.beta1), T::from_f64(1.0 - self.beta1));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        // Python's `beta**t` is C pow(); Rust's powf is the same libm call.
        let bc1 = T::from_f64(self.bc[0].at(self.beta1, t));
        let bc2 = T::from_f64(self.bc[1].at(self.beta2, t));
        let eps = T::from_f64(self.eps);
        let eps_root = (self.eps_root != 0.0).then(|| T::from_f64(self.eps_root));
        let decoupled = self.decoupled && self.weight_decay != 0.0;
        let decay = decoupled.then(|| T::from_f64(1.0 - lr_f * self.weight_decay));
        let coupled = if self.decoupled { 0.0 } else { self.weight_decay };
        let pre = self.transforms.with_decay(coupled).prepare(grads);
        let c = Coeffs {
            lr,
            b1,
            omb1,
            b2,
            omb2,
            bc1,
            bc2,
            eps,
            eps_root: eps_root.unwrap_or(T::ZERO),
            decay: decay.unwrap_or(T::ONE),
        };
        if self.amsgrad {
            // AMSGrad keeps a fourth buffer; it runs on one thread.
            kernel::<T, true>(
                params,
                grads,
                &mut self.m,
                &mut self.v,
                &mut self.v_max,
                &c,
                &pre,
                decay.is_some(),
                eps_root.is_some(),
            );
        } else if n <= 16 {
            // Small problems (2-D test functions): the portable loop inline, without the thread
            // and CPU-feature dispatch, whose fixed cost exceeds the work. Same operations, same bits.
            kernel::<T, false>(
                params,
                grads,
                &mut self.m,
                &mut self.v,
                &mut [],
                &c,
                &pre,
                decay.is_some(),
                eps_root.is_some(),
            );
        } else {
            let (has_decay, has_root) = (decay.is_some(), eps_root.is_some());
            super::parallel::for_chunks4(params, grads, &mut self.m, &mut self.v, |p, g, m, v| {
                dispatch(p, g, m, v, &c, &pre, has_decay, has_root)
            });
        }
        self.t += 1;
        Ok(())
    }

    super::bookkeeping!(|o: &Adam<T>| Optimizer::<T>::name(o); m, v, v_max);
}

impl<T: Real> Adam<T> {
    /// The step for a few parameters (2-D test functions) without AMSGrad, eps_root, clipping or
    /// coupled decay: the operations of [`kernel`] without its set-up, whose fixed cost exceeds
    /// the work here.
    #[inline]
    fn small_step(&mut self, params: &mut [T], grads: &[T], lr_f: f64) {
        let t = self.t + 1;
        let lr = T::from_f64(lr_f);
        // AdamW's decay multiplies the weights by 1 - lr * weight_decay first.
        let decay = (self.weight_decay != 0.0).then(|| T::from_f64(1.0 - lr_f * self.weight_decay));
        let (b1, omb1) = (T::from_f64(self.beta1), T::from_f64(1.0 - self.beta1));
        let (b2, omb2) = (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2));
        let bc1 = T::from_f64(self.bc[0].at(self.beta1, t));
        let bc2 = T::from_f64(self.bc[1].at(self.beta2, t));
        let eps = T::from_f64(self.eps);
        let n = params.len();
        let (grads, m, v) = (&grads[..n], &mut self.m[..n], &mut self.v[..n]);
        for i in 0..n {
            let g = grads[i];
            let mi = b1 * m[i] + omb1 * g;
            let vi = b2 * v[i] + omb2 * (g * g);
            m[i] = mi;
            v[i] = vi;
            let p = match decay {
                Some(d) => params[i] * d,
                None => params[i],
            };
            params[i] = p - lr * (mi / bc1) / ((vi / bc2).sqrt() + eps);
        }
        self.t = t;
    }
}

/// Per-step scalars, converted to the parameter type once.
#[derive(Clone, Copy)]
struct Coeffs<T> {
    lr: T,
    b1: T,
    omb1: T,
    b2: T,
    omb2: T,
    bc1: T,
    bc2: T,
    eps: T,
    eps_root: T,
    decay: T,
}

super::avx2_dispatch! {
    /// The Adam step (without AMSGrad) over a chunk.
    fn dispatch(
        p: &mut [T],
        g: &[T],
        m: &mut [T],
        v: &mut [T],
        c: &Coeffs<T>,
        pre: &super::Prepared<T>,
        decay: bool,
        root: bool,
    ) => kernel::<T, false>(p, g, m, v, &mut [], c, pre, decay, root)
}

/// The whole Adam step for a slice: one pass reading p, g, m, v and writing p, m, v.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn kernel<T: Real, const AMS: bool>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    v_max: &mut [T],
    c: &Coeffs<T>,
    pre: &super::Prepared<T>,
    decay: bool,
    root: bool,
) {
    // Specialize the loop on the options so the common case has no branches in it.
    macro_rules! body {
        ($pre:expr, $decay:expr, $root:expr) => {
            for i in 0..params.len() {
                let mut p = params[i];
                let g = if $pre { pre.apply(grads[i], p) } else { grads[i] };
                if $decay {
                    p *= c.decay;
                }
                let mi = c.b1 * m[i] + c.omb1 * g;
                let vi = c.b2 * v[i] + c.omb2 * (g * g);
                m[i] = mi;
                v[i] = vi;
                let v_used = if AMS {
                    let vm = v_max[i].max(vi);
                    v_max[i] = vm;
                    vm
                } else {
                    vi
                };
                let m_hat = mi / c.bc1;
                let mut v_hat = v_used / c.bc2;
                if $root {
                    v_hat += c.eps_root;
                }
                params[i] = p - c.lr * m_hat / (v_hat.sqrt() + c.eps);
            }
        };
    }
    match (pre.is_identity(), decay, root) {
        (true, false, false) => body!(false, false, false),
        (true, true, false) => body!(false, true, false),
        _ => body!(!pre.is_identity(), decay, root),
    }
}
