use serde::{Deserialize, Serialize};

use super::{check_lengths, Block, BuildOptions, Optimizer, OptimizerState, Value};
use crate::error::{Error, Result};
use crate::real::Real;
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

super::declare_optimizer! {
    /// Adafactor (Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
    /// ICML 2018), as `torch.optim.Adafactor`: no first moment, and for each weight matrix a factored
    /// second moment (one statistic per row and per column instead of one per element), t from 1:
    ///
    /// ```text
    /// beta2_t = 1 - t^beta2_decay,   rho_t = min(lr_t, 1/sqrt(t)),   alpha_t = max(eps2, RMS(theta)) rho_t
    /// theta  <- theta - lr_t * weight_decay * theta
    /// matrix: R <- beta2_t R + (1 - beta2_t) mean_cols(g^2),  C <- beta2_t C + (1 - beta2_t) mean_rows(g^2)
    ///         V  = R C^T / max(mean(R), eps1)
    /// vector: V <- beta2_t V + (1 - beta2_t) g^2
    /// U = g / sqrt(max(V, eps1^2)),   theta <- theta - alpha_t U / max(1, RMS(U) / d)
    /// ```
    ///
    /// `RMS` is taken per block (per tensor in PyTorch). Without a layout the whole vector is one
    /// vector block. Defaults (PyTorch): `lr = 1e-2`, `beta2_decay = -0.8`, `eps1` = the type's machine
    /// epsilon, `eps2 = 1e-3`, `d = 1`, `weight_decay = 0`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Adafactor<T>, "adafactor", builder AdafactorBuilder {
        /// Learning rate (a schedule of the step), capped at `1/sqrt(t)`.
        learning_rate: Schedule = 1e-2, in Range::Positive;
        /// Exponent of the second-moment decay `1 - t^beta2_decay`.
        beta2_decay: f64 = -0.8, in Range::at_most(0.0);
        /// Added to the squared gradient (absent: the machine epsilon of the parameter type).
        eps1: Option<f64> = None, in Range::Positive, ref "PyTorch eps[0]";
        /// Floor of the parameter RMS that scales the step.
        eps2: f64 = 1e-3, in Range::NonNegative, ref "PyTorch eps[1]";
        /// Clipping threshold of the update's RMS.
        d: f64 = 1.0, in Range::at_least(1.0);
        /// Decoupled weight decay.
        weight_decay: f64 = 0.0, in Range::NonNegative;
    }
    options {}
    state {
        layout: Vec<Block>,
        t: u64,
        r: Vec<T>,
        c: Vec<T>,
        v: Vec<T>,
    }
}

impl<T: Real> Adafactor<T> {
    fn blocks(&self, n: usize) -> Vec<Block> {
        if self.layout.is_empty() {
            vec![Block { len: n, shape: None }]
        } else {
            self.layout.clone()
        }
    }

    /// Lengths of the row, column and vector statistics for `n` parameters.
    fn state_lengths(&self, n: usize) -> (usize, usize, usize) {
        self.blocks(n).iter().fold((0, 0, 0), |(r, c, v), b| match b.shape {
            Some((rows, cols)) => (r + rows, c + cols, v),
            None => (r, c, v + b.len),
        })
    }
}

pub(crate) fn build<T: Real>(p: &mut Params, o: &BuildOptions) -> Result<Box<dyn Optimizer<T>>> {
    Ok(Box::new(Adafactor::spec_builder(p, o)?.build()?))
}

fn rms<T: Real>(x: &[T]) -> f64 {
    (x.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

impl<T: Real> Optimizer<T> for Adafactor<T> {
    fn name(&self) -> &'static str {
        "adafactor"
    }

    fn hyperparameters(&self) -> Vec<(&'static str, Value)> {
        let mut h = self.declared_report();
        // eps1 is reported only when given (absent, it depends on the parameter type).
        h.retain(|(k, _)| *k != "eps1" || self.eps1.is_some());
        h
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate.value(self.t)
    }

    fn set_learning_rate(&mut self, schedule: Schedule) -> Result<()> {
        let name = self.name();
        super::RateField::set(&mut self.learning_rate, schedule, name)
    }

    fn set_layout(&mut self, blocks: &[Block]) -> Result<()> {
        if let Some(bad) = blocks.iter().find(|b| b.shape.is_some_and(|(r, c)| r * c != b.len)) {
            return Err(Error::Inconsistent {
                field: "adafactor.layout".into(),
                message: format!("a block of {} values cannot have shape {:?}", bad.len, bad.shape),
            });
        }
        self.layout = blocks.to_vec();
        self.reset();
        Ok(())
    }

    fn update(&mut self, params: &mut [T], grads: &[T]) -> Result<()> {
        check_lengths("adafactor", params.len(), grads.len())?;
        let n = params.len();
        let blocks = self.blocks(n);
        if blocks.iter().map(|b| b.len).sum::<usize>() != n {
            return Err(Error::Dimension {
                field: "adafactor.params".into(),
                expected: blocks.iter().map(|b| b.len).sum(),
                got: n,
            });
        }
        let (nr, nc, nv) = self.state_lengths(n);
        if self.r.len() != nr || self.c.len() != nc || self.v.len() != nv {
            if self.t > 0 {
                return Err(Error::Dimension {
                    field: "adafactor.params".into(),
                    expected: self.r.len() + self.c.len() + self.v.len(),
                    got: nr + nc + nv,
                });
            }
            (self.r, self.c, self.v) = (vec![T::ZERO; nr], vec![T::ZERO; nc], vec![T::ZERO; nv]);
        }
        let t = (self.t + 1) as f64;
        let lr = self.learning_rate.rate(self.t)?;
        let beta2 = 1.0 - t.powf(self.beta2_decay);
        let (b2, omb2) = (T::from_f64(beta2), T::from_f64(1.0 - beta2));
        let rho = lr.min(1.0 / t.sqrt());
        let eps1 = self.eps1.unwrap_or(if T::NAME == "f32" { f32::EPSILON as f64 } else { f64::EPSILON });
        let floor = T::from_f64(eps1 * eps1);
        let decay = T::from_f64(1.0 - lr * self.weight_decay);
        let (mut start, mut ro, mut co, mut vo) = (0, 0, 0, 0);
        let mut u: Vec<T> = Vec::new();
        for block in &blocks {
            let p = &mut params[start..start + block.len];
            let g = &grads[start..start + block.len];
            start += block.len;
            let alpha = rms(p).max(self.eps2) * rho;
            p.iter_mut().for_each(|x| *x *= decay);
            u.clear();
            match block.shape {
                Some((rows, cols)) => {
                    // downhill stores the block as its transpose: element [i][j] (i < cols, j < rows)
                    // is PyTorch's weight[j][i]. R runs over PyTorch's rows, C over its columns.
                    let (r, c) = (&mut self.r[ro..ro + rows], &mut self.c[co..co + cols]);
                    ro += rows;
                    co += cols;
                    for (j, rj) in r.iter_mut().enumerate() {
                        let mean =
                            (0..cols).map(|i| g[i * rows + j] * g[i * rows + j]).fold(T::ZERO, |a, b| a + b)
                                / T::from_f64(cols as f64);
                        *rj = b2 * *rj + omb2 * mean;
                    }
                    for (i, ci) in c.iter_mut().enumerate() {
                        let row = &g[i * rows..(i + 1) * rows];
                        let mean =
                            row.iter().map(|&x| x * x).fold(T::ZERO, |a, b| a + b) / T::from_f64(rows as f64);
                        *ci = b2 * *ci + omb2 * mean;
                    }
                    let r_mean = r.iter().fold(T::ZERO, |a, &b| a + b) / T::from_f64(rows as f64);
                    let denom = r_mean.max(T::from_f64(eps1));
                    for i in 0..cols {
                        for j in 0..rows {
                            let var = (r[j] * c[i] / denom).max(floor);
                            u.push(g[i * rows + j] / var.sqrt());
                        }
                    }
                }
                None => {
                    let v = &mut self.v[vo..vo + block.len];
                    vo += block.len;
                    for (vi, &gi) in v.iter_mut().zip(g) {
                        *vi = b2 * *vi + omb2 * gi * gi;
                        u.push(gi / (*vi).max(floor).sqrt());
                    }
                }
            }
            let scale = T::from_f64(alpha / (rms(&u) / self.d).max(1.0));
            for (x, &du) in p.iter_mut().zip(&u) {
                *x -= scale * du;
            }
        }
        self.t += 1;
        Ok(())
    }

    fn state(&self) -> OptimizerState<T> {
        super::save("adafactor", self.t, &[("r", &self.r), ("c", &self.c), ("v", &self.v)])
    }

    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        if state.optimizer != "adafactor" {
            return Err(Error::Inconsistent {
                field: "state.optimizer".into(),
                message: format!("saved by '{}', cannot load into 'adafactor'", state.optimizer),
            });
        }
        let (mut r, mut c, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (name, data) in state.buffers {
            match name.as_str() {
                "r" => r = data,
                "c" => c = data,
                "v" => v = data,
                other => return Err(Error::unknown("buffer for adafactor", other, &["r", "c", "v"])),
            }
        }
        (self.r, self.c, self.v, self.t) = (r, c, v, state.step);
        Ok(())
    }

    fn reset(&mut self) {
        self.t = 0;
        self.r.clear();
        self.c.clear();
        self.v.clear();
    }
}
