//! Models with hand-written forward and backward passes: linear, logistic and softmax
//! regression, and multilayer perceptrons.
//!
//! Parameters live in one flat vector so that any optimizer updates them in one pass: first every
//! layer's weight matrix (`fan_in x fan_out`, row-major, so a layer is `z = h W + b`), then every
//! bias. [`Model::blocks`] describes that layout for optimizers that care about shapes (Muon)
//! and for parameter groups (no weight decay on biases).

use serde::{Deserialize, Serialize};

use super::gemm::{gemm, View};
use super::Target;
use crate::Scalar;
use downhill::error::{Error, Result};
use downhill::optim::Block;
use downhill::rng::Rng;
use downhill::spec::{Params, Spec};

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`: PyTorch's `GELU(approximate='tanh')`.
    Gelu,
}

/// Training loss, averaged over the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Softmax cross-entropy over class logits (PyTorch `CrossEntropyLoss`).
    Ce,
    /// Mean squared error over every output (PyTorch `MSELoss`).
    Mse,
    /// Binary cross-entropy on one logit (PyTorch `BCEWithLogitsLoss`), for two classes.
    Bce,
}

/// A feed-forward network: `sizes[0]` inputs, hidden layers, `sizes.last()` outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The spec's name: `linear`, `logistic`, `softmax` or `mlp`.
    pub kind: String,
    /// Layer widths, inputs first.
    pub sizes: Vec<usize>,
    /// Nonlinearity between layers.
    pub activation: Activation,
    /// Loss on the outputs.
    pub loss: Loss,
}

/// The model specs [`Model::parse`] accepts.
pub const MODEL_NAMES: &[&str] = &["mlp", "linear", "softmax", "logistic"];

/// The most parameters a model may have (800 MB of f32).
pub const MAX_PARAMS: usize = 200_000_000;

/// The widest layer a spec may ask for.
pub const MAX_WIDTH: usize = 1 << 16;

impl Model {
    /// Builds a model for `inputs` features and `target` from a spec:
    /// `linear` (least squares), `logistic` (two classes, one logit), `softmax` (classes), or
    /// `mlp:hidden=64,64,act=relu|tanh|gelu,loss=auto|ce|mse|bce` (default hidden=64,64, relu,
    /// cross-entropy for classes and MSE for values).
    pub fn parse(text: &str, inputs: usize, target: &Target) -> Result<Model> {
        let spec = Spec::parse(text, "model")?;
        if !MODEL_NAMES.contains(&spec.name.as_str()) {
            return Err(Error::unknown("model", &spec.name, MODEL_NAMES));
        }
        let mut p = Params::new("model", &spec);
        let width = target.width();
        let default_loss = if target.is_classes() { "ce" } else { "mse" };
        let (hidden, act, loss) = match spec.name.as_str() {
            "mlp" => {
                let hidden = p.counts("hidden", &[64, 64], MAX_WIDTH)?;
                let act = p.choice("act", &["relu", "tanh", "gelu"], "relu")?;
                let loss = p.choice("loss", &["auto", "ce", "mse", "bce"], "auto")?;
                (hidden, act, if loss == "auto" { default_loss } else { loss })
            }
            "linear" => (vec![], "relu", "mse"),
            "softmax" => (vec![], "relu", "ce"),
            _ => (vec![], "relu", "bce"),
        };
        p.finish()?;
        let loss = match loss {
            "ce" => Loss::Ce,
            "mse" => Loss::Mse,
            _ => Loss::Bce,
        };
        let outputs = match (loss, target) {
            (Loss::Bce, Target::Classes { names, .. }) if names.len() == 2 => 1,
            (Loss::Bce, _) => {
                return Err(Error::Inconsistent {
                    field: "model.loss".into(),
                    message: format!("bce (logistic) needs exactly 2 classes, the data has {width} outputs"),
                })
            }
            (Loss::Ce, Target::Values { .. }) => {
                return Err(Error::Inconsistent {
                    field: "model.loss".into(),
                    message: "cross-entropy needs class labels; this data set has real-valued targets".into(),
                })
            }
            _ => width,
        };
        let activation = match act {
            "tanh" => Activation::Tanh,
            "gelu" => Activation::Gelu,
            _ => Activation::Relu,
        };
        let mut sizes = vec![inputs];
        sizes.extend(hidden);
        sizes.push(outputs);
        let model = Model { kind: spec.name, sizes, activation, loss };
        let params = model.sizes.windows(2).map(|w| (w[0] as u128 + 1) * w[1] as u128).sum::<u128>();
        if params > MAX_PARAMS as u128 {
            return Err(Error::out_of_range("model.parameters", params, &format!("1..={MAX_PARAMS}")));
        }
        Ok(model)
    }

    /// Number of layers (weight matrices).
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Number of weights (all matrices).
    pub fn weights(&self) -> usize {
        self.sizes.windows(2).map(|w| w[0] * w[1]).sum()
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.weights() + self.sizes[1..].iter().sum::<usize>()
    }

    /// The flat layout: one matrix block per layer (shape `(fan_out, fan_in)` as PyTorch stores
    /// `nn.Linear.weight`; Muon only uses the shape up to transposition), then one vector block
    /// per bias.
    pub fn blocks(&self) -> Vec<Block> {
        let mats = self.sizes.windows(2).map(|w| Block { len: w[0] * w[1], shape: Some((w[1], w[0])) });
        let biases = self.sizes[1..].iter().map(|&n| Block { len: n, shape: None });
        mats.chain(biases).collect()
    }

    fn weight_offsets(&self) -> Vec<usize> {
        let mut off = vec![0];
        for w in self.sizes.windows(2) {
            off.push(off.last().copied().unwrap_or(0) + w[0] * w[1]);
        }
        off
    }

    fn bias_offsets(&self) -> Vec<usize> {
        let mut off = vec![self.weights()];
        for &n in &self.sizes[1..] {
            off.push(off.last().copied().unwrap_or(0) + n);
        }
        off
    }

    /// PyTorch's `nn.Linear` initialization: weights and biases uniform in
    /// `(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    pub fn init<T: Scalar>(&self, rng: &mut Rng) -> Vec<T> {
        let mut p = Vec::with_capacity(self.num_params());
        for w in self.sizes.windows(2) {
            let bound = 1.0 / (w[0] as f64).sqrt();
            p.extend((0..w[0] * w[1]).map(|_| T::from_f64(rng.range(-bound, bound))));
        }
        for w in self.sizes.windows(2) {
            let bound = 1.0 / (w[0] as f64).sqrt();
            p.extend((0..w[1]).map(|_| T::from_f64(rng.range(-bound, bound))));
        }
        p
    }
}

/// A batch's targets, in the model's precision.
#[derive(Debug, Clone, Copy)]
pub enum Labels<'a, T> {
    /// One class per sample.
    Classes(&'a [u32]),
    /// `outputs` values per sample, row-major.
    Values(&'a [T]),
}

/// Reusable buffers for a batch: pre-activations and activations of each layer, and deltas.
#[derive(Debug, Default)]
pub struct Workspace<T> {
    z: Vec<Vec<T>>,
    h: Vec<Vec<T>>,
    delta: Vec<T>,
    spare: Vec<T>,
    // Directional derivatives (Pearlmutter's R-operator) for Hessian-vector products.
    rz: Vec<Vec<T>>,
    rh: Vec<Vec<T>>,
    rdelta: Vec<T>,
    rspare: Vec<T>,
}

/// Sums of a pass over data, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Sum of per-sample losses.
    pub loss: f64,
    /// Correctly classified samples (classification).
    pub correct: usize,
    /// Sum of squared errors over every output (regression), in training units.
    pub sse: f64,
    /// Samples seen.
    pub samples: usize,
}

#[inline]
fn gelu_parts<T: Scalar>(x: T) -> (T, T) {
    let c = T::from_f64((2.0 / std::f64::consts::PI).sqrt());
    let k = T::from_f64(0.044715);
    let half = T::from_f64(0.5);
    let u = c * (x + k * x * x * x);
    let t = u.tanh();
    let value = half * x * (T::ONE + t);
    let slope =
        half * (T::ONE + t) + half * x * (T::ONE - t * t) * c * (T::ONE + T::from_f64(3.0) * k * x * x);
    (value, slope)
}

impl Activation {
    fn forward<T: Scalar>(self, z: &[T], h: &mut [T]) {
        match self {
            Activation::Relu => h.iter_mut().zip(z).for_each(|(h, &z)| *h = z.max(T::ZERO)),
            Activation::Tanh => h.iter_mut().zip(z).for_each(|(h, &z)| *h = z.tanh()),
            Activation::Gelu => h.iter_mut().zip(z).for_each(|(h, &z)| *h = gelu_parts(z).0),
        }
    }

    /// `d <- d * act'(z)` (tanh uses its output `h`).
    fn backward<T: Scalar>(self, z: &[T], h: &[T], d: &mut [T]) {
        match self {
            Activation::Relu => d.iter_mut().zip(z).for_each(|(d, &z)| {
                if z <= T::ZERO {
                    *d = T::ZERO
                }
            }),
            Activation::Tanh => d.iter_mut().zip(h).for_each(|(d, &h)| *d *= T::ONE - h * h),
            Activation::Gelu => d.iter_mut().zip(z).for_each(|(d, &z)| *d *= gelu_parts(z).1),
        }
    }

    /// `(act'(z), act''(z))` (tanh uses its output `h`). ReLU's second derivative is taken as 0,
    /// as automatic differentiation does.
    #[inline]
    fn slope_and_curvature<T: Scalar>(self, z: T, h: T) -> (T, T) {
        match self {
            Activation::Relu => (if z > T::ZERO { T::ONE } else { T::ZERO }, T::ZERO),
            Activation::Tanh => {
                let s = T::ONE - h * h;
                (s, T::from_f64(-2.0) * h * s)
            }
            Activation::Gelu => {
                let c = T::from_f64((2.0 / std::f64::consts::PI).sqrt());
                let k = T::from_f64(0.044715);
                let half = T::from_f64(0.5);
                let u = c * (z + k * z * z * z);
                let du = c * (T::ONE + T::from_f64(3.0) * k * z * z);
                let ddu = T::from_f64(6.0) * c * k * z;
                let t = u.tanh();
                let sech2 = T::ONE - t * t;
                let curvature = sech2 * (du + half * z * (ddu - T::from_f64(2.0) * t * du * du));
                // The slope exactly as the backward pass computes it, so gradients agree to the bit.
                (gelu_parts(z).1, curvature)
            }
        }
    }
}

/// `log(1 + exp(x))` without overflow.
#[inline]
fn softplus<T: Scalar>(x: T) -> T {
    x.max(T::ZERO) + (T::ONE + (-x.abs()).exp()).ln()
}

impl Model {
    /// Runs the network on `batch` samples `x` (row-major, `sizes[0]` columns); the outputs
    /// (logits or predictions, `batch x outputs`) are left in the workspace and returned.
    pub fn forward<'w, T: Scalar>(
        &self,
        params: &[T],
        x: &[T],
        batch: usize,
        ws: &'w mut Workspace<T>,
    ) -> &'w [T] {
        assert_eq!(params.len(), self.num_params(), "parameter vector does not match the model");
        assert_eq!(x.len(), batch * self.sizes[0], "input does not match the batch");
        let (wo, bo) = (self.weight_offsets(), self.bias_offsets());
        let layers = self.layers();
        ws.z.resize_with(layers, Vec::new);
        ws.h.resize_with(layers, Vec::new);
        for l in 0..layers {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let mut z = std::mem::take(&mut ws.z[l]);
            z.resize(batch * fan_out, T::ZERO);
            let bias = &params[bo[l]..bo[l + 1]];
            for row in z.chunks_exact_mut(fan_out) {
                row.copy_from_slice(bias);
            }
            let input: &[T] = if l == 0 { x } else { &ws.h[l - 1] };
            gemm(
                View::new(input, batch, fan_in),
                View::new(&params[wo[l]..wo[l + 1]], fan_in, fan_out),
                T::ONE,
                &mut z,
            );
            if l + 1 < layers {
                let mut h = std::mem::take(&mut ws.h[l]);
                h.resize(batch * fan_out, T::ZERO);
                self.activation.forward(&z, &mut h);
                ws.h[l] = h;
            }
            ws.z[l] = z;
        }
        &ws.z[layers - 1]
    }

    /// Adds the per-sample losses of the outputs in the workspace to `totals`, and when `delta`
    /// is given writes `d(mean loss)/d outputs` into it.
    fn loss_of<T: Scalar>(
        &self,
        out: &[T],
        labels: Labels<'_, T>,
        batch: usize,
        totals: &mut Totals,
        delta: Option<&mut [T]>,
    ) {
        let k = *self.sizes.last().unwrap_or(&1);
        let inv = T::ONE / T::from_f64(batch as f64);
        let mut delta = delta;
        match (self.loss, labels) {
            (Loss::Ce, Labels::Classes(y)) => {
                for (i, row) in out.chunks_exact(k).enumerate() {
                    let label = y[i] as usize;
                    let (mut arg, mut max) = (0, row[0]);
                    for (j, &v) in row.iter().enumerate() {
                        if v > max {
                            (arg, max) = (j, v);
                        }
                    }
                    let sum: T = row.iter().fold(T::ZERO, |s, &v| s + (v - max).exp());
                    let lse = max + sum.ln();
                    totals.loss += (lse - row[label]).to_f64();
                    totals.correct += usize::from(arg == label);
                    if let Some(d) = delta.as_deref_mut() {
                        let d = &mut d[i * k..(i + 1) * k];
                        for (j, (d, &v)) in d.iter_mut().zip(row).enumerate() {
                            let p = (v - lse).exp();
                            *d = (if j == label { p - T::ONE } else { p }) * inv;
                        }
                    }
                }
            }
            (Loss::Bce, Labels::Classes(y)) => {
                for (i, &z) in out.iter().enumerate() {
                    let t = T::from_f64(y[i] as f64);
                    totals.loss += (softplus(z) - z * t).to_f64();
                    totals.correct += usize::from((z > T::ZERO) == (y[i] == 1));
                    if let Some(d) = delta.as_deref_mut() {
                        let s = T::ONE / (T::ONE + (-z).exp());
                        d[i] = (s - t) * inv;
                    }
                }
            }
            (Loss::Mse, labels) => {
                let scale = T::from_f64(2.0) * inv / T::from_f64(k as f64);
                for (i, row) in out.chunks_exact(k).enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        let t = match labels {
                            Labels::Values(t) => t[i * k + j],
                            Labels::Classes(y) => T::from_f64(f64::from(u8::from(y[i] as usize == j))),
                        };
                        let e = v - t;
                        totals.loss += (e * e).to_f64() / k as f64;
                        totals.sse += (e * e).to_f64();
                        if let Some(d) = delta.as_deref_mut() {
                            d[i * k + j] = e * scale;
                        }
                    }
                    if let Labels::Classes(y) = labels {
                        let arg = (0..k).fold(0, |a, j| if row[j] > row[a] { j } else { a });
                        totals.correct += usize::from(arg == y[i] as usize);
                    }
                }
            }
            (Loss::Ce | Loss::Bce, Labels::Values(_)) => {
                panic!("a classification loss needs class labels (Model::parse rejects this model)")
            }
        }
        totals.samples += batch;
    }

    /// Mean loss on the batch and its gradient with respect to every parameter (written into
    /// `grad`, which is overwritten).
    pub fn loss_and_gradient<T: Scalar>(
        &self,
        params: &[T],
        x: &[T],
        labels: Labels<'_, T>,
        batch: usize,
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> f64 {
        let totals = self.totals_and_gradient(params, x, labels, batch, grad, ws);
        totals.loss / batch as f64
    }

    /// As [`Model::loss_and_gradient`], returning the batch's sums (loss, correct predictions)
    /// instead of the mean loss.
    pub fn totals_and_gradient<T: Scalar>(
        &self,
        params: &[T],
        x: &[T],
        labels: Labels<'_, T>,
        batch: usize,
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Totals {
        assert_eq!(grad.len(), params.len(), "gradient buffer does not match the model");
        self.forward(params, x, batch, ws);
        let layers = self.layers();
        let k = self.sizes[layers];
        let mut delta = std::mem::take(&mut ws.delta);
        delta.resize(batch * k, T::ZERO);
        let mut totals = Totals::default();
        self.loss_of(&ws.z[layers - 1], labels, batch, &mut totals, Some(&mut delta));
        let (wo, bo) = (self.weight_offsets(), self.bias_offsets());
        let mut spare = std::mem::take(&mut ws.spare);
        for l in (0..layers).rev() {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let input: &[T] = if l == 0 { x } else { &ws.h[l - 1] };
            gemm(
                View::new(input, batch, fan_in).t(),
                View::new(&delta, batch, fan_out),
                T::ZERO,
                &mut grad[wo[l]..wo[l + 1]],
            );
            let gb = &mut grad[bo[l]..bo[l + 1]];
            gb.fill(T::ZERO);
            for row in delta.chunks_exact(fan_out) {
                gb.iter_mut().zip(row).for_each(|(g, &d)| *g += d);
            }
            if l > 0 {
                spare.resize(batch * fan_in, T::ZERO);
                gemm(
                    View::new(&delta, batch, fan_out),
                    View::new(&params[wo[l]..wo[l + 1]], fan_in, fan_out).t(),
                    T::ZERO,
                    &mut spare,
                );
                self.activation.backward(&ws.z[l - 1], &ws.h[l - 1], &mut spare);
                std::mem::swap(&mut delta, &mut spare);
            }
        }
        ws.delta = delta;
        ws.spare = spare;
        totals
    }

    /// Writes into `out` the product of the Hessian of the batch's mean loss with `v`, and into
    /// `grad` the gradient, in one forward and one backward pass with Pearlmutter's R-operator
    /// (exact up to rounding: the directional derivative of the backward pass along `v`).
    /// Returns the batch's sums, as [`Model::totals_and_gradient`].
    ///
    /// ReLU's second derivative is taken as 0 (its kink has measure zero), as in PyTorch's
    /// double backward.
    #[allow(clippy::too_many_arguments)]
    pub fn hessian_vector_product<T: Scalar>(
        &self,
        params: &[T],
        x: &[T],
        labels: Labels<'_, T>,
        batch: usize,
        v: &[T],
        grad: &mut [T],
        out: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Totals {
        assert_eq!(v.len(), params.len(), "direction does not match the model");
        assert_eq!(out.len(), params.len(), "product buffer does not match the model");
        assert_eq!(grad.len(), params.len(), "gradient buffer does not match the model");
        self.forward(params, x, batch, ws);
        let layers = self.layers();
        let (wo, bo) = (self.weight_offsets(), self.bias_offsets());
        // R-forward: rz_l = rh_{l-1} W_l + h_{l-1} V_l + c_l, rh_l = act'(z_l) rz_l.
        ws.rz.resize_with(layers, Vec::new);
        ws.rh.resize_with(layers, Vec::new);
        for l in 0..layers {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let mut rz = std::mem::take(&mut ws.rz[l]);
            rz.resize(batch * fan_out, T::ZERO);
            for row in rz.chunks_exact_mut(fan_out) {
                row.copy_from_slice(&v[bo[l]..bo[l + 1]]);
            }
            let input: &[T] = if l == 0 { x } else { &ws.h[l - 1] };
            let dir = View::new(&v[wo[l]..wo[l + 1]], fan_in, fan_out);
            gemm(View::new(input, batch, fan_in), dir, T::ONE, &mut rz);
            if l > 0 {
                let w = View::new(&params[wo[l]..wo[l + 1]], fan_in, fan_out);
                gemm(View::new(&ws.rh[l - 1], batch, fan_in), w, T::ONE, &mut rz);
            }
            if l + 1 < layers {
                let mut rh = std::mem::take(&mut ws.rh[l]);
                rh.resize(batch * fan_out, T::ZERO);
                for ((rh, &rz), (&z, &h)) in rh.iter_mut().zip(&rz).zip(ws.z[l].iter().zip(&ws.h[l])) {
                    *rh = self.activation.slope_and_curvature(z, h).0 * rz;
                }
                ws.rh[l] = rh;
            }
            ws.rz[l] = rz;
        }
        // The loss's gradient and its Hessian (in the outputs) times the outputs' R-derivative.
        let k = self.sizes[layers];
        let mut delta = std::mem::take(&mut ws.delta);
        delta.resize(batch * k, T::ZERO);
        let mut totals = Totals::default();
        self.loss_of(&ws.z[layers - 1], labels, batch, &mut totals, Some(&mut delta));
        let mut rdelta = std::mem::take(&mut ws.rdelta);
        rdelta.resize(batch * k, T::ZERO);
        self.loss_curvature(&ws.z[layers - 1], &ws.rz[layers - 1], batch, &mut rdelta);
        let (mut spare, mut rspare) = (std::mem::take(&mut ws.spare), std::mem::take(&mut ws.rspare));
        for l in (0..layers).rev() {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let input: &[T] = if l == 0 { x } else { &ws.h[l - 1] };
            let d = View::new(&delta, batch, fan_out);
            let rd = View::new(&rdelta, batch, fan_out);
            gemm(View::new(input, batch, fan_in).t(), d, T::ZERO, &mut grad[wo[l]..wo[l + 1]]);
            gemm(View::new(input, batch, fan_in).t(), rd, T::ZERO, &mut out[wo[l]..wo[l + 1]]);
            if l > 0 {
                gemm(View::new(&ws.rh[l - 1], batch, fan_in).t(), d, T::ONE, &mut out[wo[l]..wo[l + 1]]);
            }
            let (gb, hb) = (&mut grad[bo[l]..bo[l + 1]], &mut out[bo[l]..bo[l + 1]]);
            gb.fill(T::ZERO);
            hb.fill(T::ZERO);
            for (row, rrow) in delta.chunks_exact(fan_out).zip(rdelta.chunks_exact(fan_out)) {
                gb.iter_mut().zip(row).for_each(|(g, &d)| *g += d);
                hb.iter_mut().zip(rrow).for_each(|(h, &d)| *h += d);
            }
            if l > 0 {
                // s = delta W^T; r(s) = r(delta) W^T + delta V^T; then through the activation:
                // delta' = act'(z) s, r(delta') = act'(z) r(s) + act''(z) r(z) s.
                let w = View::new(&params[wo[l]..wo[l + 1]], fan_in, fan_out).t();
                spare.resize(batch * fan_in, T::ZERO);
                rspare.resize(batch * fan_in, T::ZERO);
                gemm(d, w, T::ZERO, &mut spare);
                gemm(rd, w, T::ZERO, &mut rspare);
                gemm(d, View::new(&v[wo[l]..wo[l + 1]], fan_in, fan_out).t(), T::ONE, &mut rspare);
                let (z, h, rz) = (&ws.z[l - 1], &ws.h[l - 1], &ws.rz[l - 1]);
                for i in 0..batch * fan_in {
                    let (slope, curvature) = self.activation.slope_and_curvature(z[i], h[i]);
                    rspare[i] = slope * rspare[i] + curvature * rz[i] * spare[i];
                    spare[i] *= slope;
                }
                std::mem::swap(&mut delta, &mut spare);
                std::mem::swap(&mut rdelta, &mut rspare);
            }
        }
        ws.delta = delta;
        ws.spare = spare;
        ws.rdelta = rdelta;
        ws.rspare = rspare;
        totals
    }

    /// `r_delta <- (Hessian of the mean loss in the outputs) r_out`.
    fn loss_curvature<T: Scalar>(&self, out: &[T], r_out: &[T], batch: usize, r_delta: &mut [T]) {
        let k = *self.sizes.last().unwrap_or(&1);
        let inv = T::ONE / T::from_f64(batch as f64);
        match self.loss {
            Loss::Ce => {
                // diag(p) - p p^T, p = softmax(out).
                for ((row, r), d) in
                    out.chunks_exact(k).zip(r_out.chunks_exact(k)).zip(r_delta.chunks_exact_mut(k))
                {
                    let max = row.iter().fold(row[0], |m, &v| m.max(v));
                    let sum: T = row.iter().fold(T::ZERO, |s, &v| s + (v - max).exp());
                    let lse = max + sum.ln();
                    let pr = row.iter().zip(r).fold(T::ZERO, |s, (&v, &r)| s + (v - lse).exp() * r);
                    for ((d, &v), &r) in d.iter_mut().zip(row).zip(r) {
                        *d = (v - lse).exp() * (r - pr) * inv;
                    }
                }
            }
            Loss::Bce => {
                for ((d, &z), &r) in r_delta.iter_mut().zip(out).zip(r_out) {
                    let s = T::ONE / (T::ONE + (-z).exp());
                    *d = s * (T::ONE - s) * r * inv;
                }
            }
            Loss::Mse => {
                let scale = T::from_f64(2.0) * inv / T::from_f64(k as f64);
                r_delta.iter_mut().zip(r_out).for_each(|(d, &r)| *d = r * scale);
            }
        }
    }

    /// Loss, accuracy and squared-error sums over a whole data set, `chunk` samples at a time.
    pub fn evaluate<T: Scalar>(
        &self,
        params: &[T],
        x: &[T],
        labels: Labels<'_, T>,
        ws: &mut Workspace<T>,
    ) -> Totals {
        let d = self.sizes[0];
        let k = *self.sizes.last().unwrap_or(&1);
        let n = x.len() / d;
        let mut totals = Totals::default();
        let chunk = 512;
        for start in (0..n).step_by(chunk) {
            let b = chunk.min(n - start);
            let out = self.forward(params, &x[start * d..(start + b) * d], b, ws);
            let out = out.to_vec();
            let l = match labels {
                Labels::Classes(y) => Labels::Classes(&y[start..start + b]),
                Labels::Values(v) => Labels::Values(&v[start * k..(start + b) * k]),
            };
            self.loss_of(&out, l, b, &mut totals, None);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(n: usize, c: usize) -> Target {
        Target::Classes {
            labels: (0..n as u32).map(|i| i % c as u32).collect(),
            names: (0..c).map(|i| i.to_string()).collect(),
        }
    }

    #[test]
    fn parses_specs() {
        let t = classes(10, 3);
        let m = Model::parse("mlp:hidden=8,4,act=tanh", 5, &t).unwrap();
        assert_eq!(m.sizes, vec![5, 8, 4, 3]);
        assert_eq!(m.num_params(), 5 * 8 + 8 * 4 + 4 * 3 + 8 + 4 + 3);
        assert_eq!(Model::parse("softmax", 5, &t).unwrap().sizes, vec![5, 3]);
        let e = Model::parse("logistic", 5, &t).unwrap_err().to_string();
        assert!(e.contains("exactly 2 classes"), "{e}");
        let e = Model::parse("mlp:act=relux", 5, &t).unwrap_err().to_string();
        assert!(e.contains("did you mean 'relu'"), "{e}");
        assert!(Model::parse("cnn", 5, &t).is_err());
        let blocks = m.blocks();
        assert_eq!(blocks.iter().map(|b| b.len).sum::<usize>(), m.num_params());
        assert_eq!(blocks[0].shape, Some((8, 5)));
    }
}
