use serde::{Deserialize, Serialize};

use super::{
    check_lengths, ensure, Block, BuildOptions, GradientTransforms, Optimizer, OptimizerState, Value,
};
use crate::error::{Error, Result};
use crate::linalg::matmul;
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Muon (Jordan et al., 2024: "MomentUm Orthogonalized by Newton-Schulz"), as the reference
    /// `Muon` with its auxiliary AdamW (`MuonWithAuxAdam`). For each weight matrix:
    ///
    /// ```text
    /// b <- beta b + (1 - beta) g                       (momentum)
    /// u  = nesterov ? (1 - beta) g + beta b : b
    /// O  = NS5(u) * sqrt(max(1, rows / cols))          (approximately the U V^T of u's SVD)
    /// W <- W (1 - lr wd) - lr O
    /// ```
    ///
    /// `NS5` is five iterations of the quintic Newton-Schulz map `X <- a X + (b A + c A^2) X` with
    /// `A = X X^T`, `(a, b, c) = (3.4445, -4.7750, 2.0315)`, from `X = u / (||u||_F + 1e-7)`. The
    /// reference runs it in bfloat16; downhill runs it in the parameter type. Vector blocks
    /// (biases) get AdamW with `lr * adam_lr_ratio`, `adam_beta1/2`, `adam_eps`, the same decay.
    ///
    /// Without a layout (e.g. a 2-D test function) the whole vector is one `1 x n` matrix, for
    /// which the orthogonalized update is close to the normalized direction `u / |u|`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Muon<T>, "muon", builder MuonBuilder {
        /// Learning rate of the matrices (a schedule of the step).
        learning_rate: Schedule = 0.02, in Range::Positive;
        /// Momentum coefficient.
        momentum: f64 = 0.95, in Range::UnitHalfOpen, alias "beta";
        /// Nesterov momentum.
        nesterov: bool = true;
        /// Newton-Schulz iterations.
        ns_steps: u64 = 5, in (0, 100);
        /// Decoupled weight decay.
        weight_decay: f64 = 0.0, in Range::NonNegative;
        /// The vectors' AdamW rate as a fraction of `lr`.
        adam_lr_ratio: f64 = 0.015, in Range::Positive;
        /// The vectors' AdamW first-moment decay.
        adam_beta1: f64 = 0.9, in Range::UnitHalfOpen;
        /// The vectors' AdamW second-moment decay.
        adam_beta2: f64 = 0.95, in Range::UnitHalfOpen;
        /// The vectors' AdamW `eps`.
        adam_eps: f64 = 1e-10, in Range::Positive;
    }
    options {
        /// Clipping.
        transforms: GradientTransforms,
    }
    state {
        layout: Vec<Block>,
        t: u64,
        b: Vec<T>,
        m: Vec<T>,
        v: Vec<T>,
    }
}

const NS: (f64, f64, f64) = (3.4445, -4.7750, 2.0315);

/// `NS5` of the `rows x cols` row-major matrix `u`, in place (works on the wider orientation).
pub fn newton_schulz<T: Real>(u: &mut [T], rows: usize, cols: usize, steps: u64) {
    let norm = u.iter().map(|x| x.to_f64() * x.to_f64()).sum::<f64>().sqrt();
    let scale = T::from_f64(1.0 / (norm + 1e-7));
    // X is s x l with s <= l, so that A = X X^T is the smaller Gram matrix.
    let (s, l, transpose) = if rows <= cols { (rows, cols, false) } else { (cols, rows, true) };
    let mut x: Vec<T> = vec![T::ZERO; s * l];
    for i in 0..rows {
        for j in 0..cols {
            let v = u[i * cols + j] * scale;
            if transpose {
                x[j * l + i] = v;
            } else {
                x[i * l + j] = v;
            }
        }
    }
    let (a, b, c) = (T::from_f64(NS.0), T::from_f64(NS.1), T::from_f64(NS.2));
    let mut gram = vec![T::ZERO; s * s];
    let mut poly = vec![T::ZERO; s * s];
    let mut next = vec![T::ZERO; s * l];
    for _ in 0..steps {
        mul(&x, s, l, &x, true, &mut gram, s); // A = X X^T
        mul(&gram, s, s, &gram, false, &mut poly, s); // A A
        for (p, &g) in poly.iter_mut().zip(&gram) {
            *p = b * g + c * *p; // B = b A + c A A
        }
        mul(&poly, s, s, &x, false, &mut next, l); // B X
        for (n, &xv) in next.iter_mut().zip(&x) {
            *n += a * xv;
        }
        std::mem::swap(&mut x, &mut next);
    }
    for i in 0..rows {
        for j in 0..cols {
            u[i * cols + j] = if transpose { x[j * l + i] } else { x[i * l + j] };
        }
    }
}

/// `out = a (r x k) * b`, where `b` is `k x n` or, with `b_t`, the transpose of an `n x k` matrix.
fn mul<T: Real>(a: &[T], r: usize, k: usize, b: &[T], b_t: bool, out: &mut [T], n: usize) {
    if b_t {
        let bt: Vec<T> = (0..k * n).map(|i| b[(i % n) * k + i / n]).collect();
        matmul(a, &bt, r, k, n, out);
    } else {
        matmul(a, b, r, k, n, out);
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Muon::spec_builder(p, o)?.transforms(GradientTransforms::from_params(p)?).build()?))
}

impl<T: Real> Optimizer<T> for Muon<T> {
    fn name(&self) -> &'static str {
        "muon"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        self.transforms.describe(&mut h);
        h
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn set_layout(&mut self, blocks: &[Block]) -> Result<()> {
        let total: usize = blocks.iter().map(|b| b.len).sum();
        if let Some(bad) = blocks.iter().find(|b| b.shape.is_some_and(|(r, c)| r * c != b.len)) {
            return Err(Error::Inconsistent {
                field: "muon.layout".into(),
                message: format!("a block of {} values cannot have shape {:?}", bad.len, bad.shape),
            });
        }
        if !self.b.is_empty() && self.b.len() != total {
            return Err(Error::Dimension { field: "muon.layout".into(), expected: self.b.len(), got: total });
        }
        self.layout = blocks.to_vec();
        Ok(())
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("muon", params.len(), grads.len())?;
        let n = params.len();
        let layout = if self.layout.is_empty() {
            vec![Block { len: n, shape: Some((1, n)) }]
        } else {
            self.layout.clone()
        };
        let covered: usize = layout.iter().map(|b| b.len).sum();
        if covered != n {
            return Err(Error::Dimension { field: "muon.params".into(), expected: covered, got: n });
        }
        ensure("muon", &mut self.b, n, T::ZERO)?;
        let vectors = layout.iter().any(|b| b.shape.is_none());
        if vectors {
            ensure("muon", &mut self.m, n, T::ZERO)?;
            ensure("muon", &mut self.v, n, T::ZERO)?;
        }
        let t = self.t + 1;
        let lr_f = self.learning_rate.rate(self.t)?;
        let pre = self.transforms.with_decay(0.0).prepare(grads);
        let decay = T::from_f64(1.0 - lr_f * self.weight_decay);
        let (beta, omb) = (T::from_f64(self.momentum), T::from_f64(1.0 - self.momentum));
        // Auxiliary AdamW, in the seed's Adam operation order.
        let alr = lr_f * self.adam_lr_ratio;
        let a_decay = T::from_f64(1.0 - alr * self.weight_decay);
        let (ab1, aomb1) = (T::from_f64(self.adam_beta1), T::from_f64(1.0 - self.adam_beta1));
        let (ab2, aomb2) = (T::from_f64(self.adam_beta2), T::from_f64(1.0 - self.adam_beta2));
        let abc1 = T::from_f64(super::bias_correction(self.adam_beta1, t as f64));
        let abc2 = T::from_f64(super::bias_correction(self.adam_beta2, t as f64));
        let (alr_t, aeps) = (T::from_f64(alr), T::from_f64(self.adam_eps));
        let lr = T::from_f64(lr_f);
        let mut start = 0;
        let mut u: Vec<T> = Vec::new();
        for block in &layout {
            let range = start..start + block.len;
            start += block.len;
            let (p, g, b) = (&mut params[range.clone()], &grads[range.clone()], &mut self.b[range.clone()]);
            match block.shape {
                Some((rows, cols)) => {
                    u.clear();
                    for ((b, &g), &p) in b.iter_mut().zip(g).zip(p.iter()) {
                        let g = pre.apply(g, p);
                        *b = beta * *b + omb * g;
                        u.push(if self.nesterov { omb * g + beta * *b } else { *b });
                    }
                    // The layout's (rows, cols) is PyTorch's (fan_out, fan_in); downhill stores the
                    // block as its transpose, which NS5 maps to the transposed result.
                    newton_schulz(&mut u, cols, rows, self.ns_steps);
                    let s = T::from_f64((rows as f64 / cols as f64).max(1.0).sqrt());
                    for (p, &o) in p.iter_mut().zip(&u) {
                        *p = *p * decay - lr * (o * s);
                    }
                }
                None => {
                    let (m, v) = (&mut self.m[range.clone()], &mut self.v[range]);
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                        let g = pre.apply(g, *p);
                        *p *= a_decay;
                        *m = ab1 * *m + aomb1 * g;
                        *v = ab2 * *v + aomb2 * g * g;
                        *p -= (alr_t * (*m / abc1)) / ((*v / abc2).sqrt() + aeps);
                    }
                }
            }
        }
        self.t = t;
        Ok(())
    }

    super::bookkeeping!(|_: &Muon<T>| "muon"; b, m, v);
}
