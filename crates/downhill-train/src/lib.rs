//! Training models on data: minibatches, shuffling, any optimizer and schedule, metrics per
//! epoch, and snapshots that resume bit for bit.
//!
//! ```
//! use downhill_train::{Dataset, Model, Target, Trainer};
//!
//! // y = 2 x0 - x1 + 0.5, learned by least squares with Adam.
//! let features: Vec<f64> = (0..200).flat_map(|i| [(i % 17) as f64 / 17.0, (i % 5) as f64 / 5.0]).collect();
//! let values = features.chunks(2).map(|x| 2.0 * x[0] - x[1] + 0.5).collect();
//! let data = Dataset {
//!     name: "toy".into(),
//!     features,
//!     dim: 2,
//!     feature_names: vec!["x0".into(), "x1".into()],
//!     target: Target::Values { values, names: vec!["y".into()] },
//! };
//! let (train, val) = data.split(0.2, 7).unwrap();
//! let model = Model::parse("linear", 2, &data.target).unwrap();
//! let adam = downhill::optim::build::<f32>("adam:lr=0.05", &Default::default()).unwrap();
//! let mut trainer = Trainer::new(&train, &val, model, adam, 16, 7).unwrap();
//! for _ in 0..60 {
//!     trainer.epoch().unwrap();
//! }
//! assert!(trainer.history().last().unwrap().val_rmse.unwrap() < 1e-3);
//! ```

mod data;
mod gemm;
mod model;
mod sharpness;

pub use data::{
    builtin, load_csv, load_idx, load_idx_pair, parse_csv, parse_idx, read_file, Dataset, IdxArray, Scaler,
    Target, Task, BUILTIN, MAX_CSV_BYTES, MAX_IDX_VALUES,
};
pub use model::{Activation, Labels, Loss, Model, Totals, Workspace, MODEL_NAMES};
pub use sharpness::{sharpness, top_eigenvalue, HessianOperator, LanczosOptions, TopEigen};

use serde::{Deserialize, Serialize};

/// The number types training computes in: a [`Real`] with a matrix-multiply kernel (`f32`, `f64`).
///
/// Sealed: the kernel trait lives in a private module, so only the two float types implement it.
/// The optimizers themselves only need [`Real`]; models need the packed SIMD products too.
pub trait Scalar: Real + gemm::Gemm {}

impl<T: Real + gemm::Gemm> Scalar for T {}

use downhill::error::{Error, Result};
use downhill::objective::FnObjective;
use downhill::optim::{self, Optimizer, OptimizerState};
use downhill::real::Real;
use downhill::rng::Rng;

/// Builds the optimizer for a model from a spec. With `decay_biases = false` the biases form a
/// second parameter group whose `weight_decay` is 0 (the usual practice; PyTorch's default
/// decays everything, which is `decay_biases = true`). Wrappers (`lookahead(adamw):k=5`) go
/// around both groups together.
pub fn build_optimizer<T: optim::Buildable>(
    spec: &str,
    options: &optim::BuildOptions,
    model: &Model,
    decay_biases: bool,
) -> Result<Box<dyn Optimizer<T>>> {
    let parsed = optim::OptimizerSpec::parse(spec)?;
    if decay_biases {
        return parsed.build(options);
    }
    let base = |spec: &downhill::spec::Spec| {
        optim::build_from_pairs::<T>(
            &spec.name,
            spec.entries.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            options,
        )
    };
    let main = base(&parsed.base)?;
    let mut bias_spec = parsed.clone();
    bias_spec.set_base("weight_decay", "0");
    let biases = base(&bias_spec.base)?;
    let nw = model.weights();
    parsed.wrap(Box::new(optim::Grouped::new(vec![(nw, main), (model.num_params() - nw, biases)])?))
}

/// What one epoch did, as written to the JSON-lines log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Epochs completed, from 1.
    pub epoch: u64,
    /// Optimizer updates applied so far.
    pub step: u64,
    /// Learning rate of the epoch's last update.
    pub lr: f64,
    /// Mean of the epoch's minibatch losses (the loss the optimizer saw).
    pub train_loss: f64,
    /// Loss on the validation set (`None` without one).
    pub val_loss: Option<f64>,
    /// Fraction of validation samples classified correctly (classification).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_accuracy: Option<f64>,
    /// Root mean squared error on the validation set, in the target's units (regression).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_rmse: Option<f64>,
    /// Fraction of the epoch's training samples classified correctly by the weights of the moment
    /// their minibatch was seen (classification; computed during the epoch, like `train_loss`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub train_accuracy: Option<f64>,
    /// Sharpness measured during the epoch (see [`Trainer::track_sharpness`]).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sharpness: Vec<SharpnessPoint>,
    /// Wall-clock seconds of the epoch's updates, without sharpness measurements (not a
    /// reproducible quantity).
    pub seconds: f64,
    /// Training samples per second during the epoch.
    pub samples_per_second: f64,
}

/// One sharpness measurement during training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SharpnessPoint {
    /// Updates applied before the measurement.
    pub step: u64,
    /// The learning rate of the update about to be applied (GD is stable while
    /// `value < 2 / lr`).
    pub lr: f64,
    /// The largest eigenvalue of the Hessian of the mean training loss.
    pub value: f64,
}

/// Everything needed to continue training exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot<T> {
    /// The model.
    pub model: Model,
    /// Precision (`f32` or `f64`).
    pub dtype: String,
    /// Minibatch size.
    pub batch: usize,
    /// Epochs completed.
    pub epoch: u64,
    /// The parameters the optimizer works on.
    pub params: Vec<T>,
    /// The optimizer's state.
    pub optimizer: OptimizerState<T>,
    /// The shuffling generator's state.
    pub rng: Rng,
    /// Every epoch so far.
    pub history: Vec<EpochStats>,
}

/// Features and labels in the training precision, standardized with the training set's scaler.
struct Split<T> {
    x: Vec<T>,
    classes: Vec<u32>,
    values: Vec<T>,
    /// Targets before scaling (regression), for RMSE in the data's units.
    raw: Vec<f64>,
    n: usize,
}

impl<T: Scalar> Split<T> {
    fn labels(&self) -> Labels<'_, T> {
        if self.values.is_empty() {
            Labels::Classes(&self.classes)
        } else {
            Labels::Values(&self.values)
        }
    }
}

/// Minibatch training of a [`Model`] with any [`Optimizer`].
pub struct Trainer<T: Scalar> {
    model: Model,
    params: Vec<T>,
    optimizer: Box<dyn Optimizer<T>>,
    batch: usize,
    rng: Rng,
    epoch: u64,
    history: Vec<EpochStats>,
    train: Split<T>,
    val: Split<T>,
    /// Regression targets' scaler (identity for classification).
    target_scaler: Option<Scaler>,
    feature_scaler: Scaler,
    ws: Workspace<T>,
    grad: Vec<T>,
    new_grad: Vec<T>,
    bx: Vec<T>,
    by_classes: Vec<u32>,
    by_values: Vec<T>,
    sharpness_every: u64,
    sharpness_options: LanczosOptions,
}

/// The largest minibatch accepted.
pub const MAX_BATCH: usize = 1 << 20;

impl<T: Scalar> Trainer<T> {
    /// A trainer on `train` (validated on `val`, which may be empty), with parameters initialized
    /// from `seed` and minibatches of `batch` samples shuffled each epoch from the same seed.
    ///
    /// Features are standardized with the training set's mean and deviation; so are regression
    /// targets (metrics are reported in the original units).
    pub fn new(
        train: &Dataset,
        val: &Dataset,
        model: Model,
        mut optimizer: Box<dyn Optimizer<T>>,
        batch: usize,
        seed: u64,
    ) -> Result<Self> {
        train.validate()?;
        if !val.is_empty() {
            val.validate()?;
        }
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(Error::out_of_range("batch", batch, &format!("1..={MAX_BATCH}")));
        }
        if model.sizes[0] != train.dim || (!val.is_empty() && val.dim != train.dim) {
            return Err(Error::Dimension {
                field: "model.inputs".into(),
                expected: train.dim,
                got: model.sizes[0],
            });
        }
        let feature_scaler = Scaler::fit(&train.features, train.dim);
        let target_scaler = match &train.target {
            Target::Values { values, names } => Some(Scaler::fit(values, names.len())),
            Target::Classes { .. } => None,
        };
        let prepare = |d: &Dataset| -> Split<T> {
            let mut x = d.features.clone();
            feature_scaler.apply(&mut x);
            let (classes, values, raw) = match &d.target {
                Target::Classes { labels, .. } => (labels.clone(), Vec::new(), Vec::new()),
                Target::Values { values, .. } => {
                    let mut v = values.clone();
                    if let Some(s) = &target_scaler {
                        s.apply(&mut v);
                    }
                    (Vec::new(), v.into_iter().map(T::from_f64).collect(), values.clone())
                }
            };
            Split { x: x.into_iter().map(T::from_f64).collect(), classes, values, raw, n: d.len() }
        };
        let mut init = Rng::new(seed);
        let params = model.init::<T>(&mut init);
        optimizer.set_layout(&model.blocks())?;
        Ok(Trainer {
            grad: vec![T::ZERO; params.len()],
            new_grad: Vec::new(),
            params,
            optimizer,
            batch,
            rng: Rng::new(seed ^ 0xBA7C_5EED),
            epoch: 0,
            history: Vec::new(),
            train: prepare(train),
            val: prepare(val),
            target_scaler,
            feature_scaler,
            ws: Workspace::default(),
            bx: Vec::new(),
            by_classes: Vec::new(),
            by_values: Vec::new(),
            sharpness_every: 0,
            sharpness_options: LanczosOptions::default(),
            model,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The parameters the optimizer updates.
    pub fn params(&self) -> &[T] {
        &self.params
    }

    /// The parameters to evaluate or deploy (the average `x` for schedule-free methods).
    pub fn eval_params(&self) -> Vec<T> {
        self.optimizer.eval_params(&self.params).unwrap_or_else(|| self.params.clone())
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer<T> {
        self.optimizer.as_ref()
    }

    /// Replaces the optimizer, carrying its state over: `optimizer` must accept the current one's
    /// state (the same spec with other hyperparameters, such as the lower `lr` that
    /// [`downhill::schedule::ReduceOnPlateau`] asks for).
    pub fn replace_optimizer(&mut self, mut optimizer: Box<dyn Optimizer<T>>) -> Result<()> {
        optimizer.set_layout(&self.model.blocks())?;
        optimizer.load_state(self.optimizer.state())?;
        self.optimizer = optimizer;
        Ok(())
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> u64 {
        self.epoch
    }

    /// Statistics of every epoch so far.
    pub fn history(&self) -> &[EpochStats] {
        &self.history
    }

    /// Minibatches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.train.n.div_ceil(self.batch)
    }

    /// The standardization fitted on the training features.
    pub fn feature_scaler(&self) -> &Scaler {
        &self.feature_scaler
    }

    /// Measure the sharpness on the whole training split every `every` updates (before updates
    /// 0, `every`, `2 every`, ...; 0 turns it off), into [`EpochStats::sharpness`]. Each
    /// measurement runs the Lanczos method with `options` (its seed is mixed with the step, so
    /// measurements do not depend on where a run was resumed).
    pub fn track_sharpness(&mut self, every: u64, options: LanczosOptions) {
        self.sharpness_every = every;
        self.sharpness_options = options;
    }

    /// The sharpness at the current parameters: the top eigenvalue of the Hessian of the mean
    /// loss over the training split (see [`sharpness`]).
    pub fn sharpness(&self, options: &LanczosOptions) -> Result<TopEigen> {
        sharpness(&self.model, &self.params, &self.train.x, self.train.labels(), options)
    }

    /// One pass over the shuffled training set, then metrics on the validation set.
    ///
    /// Fails (leaving the parameters at their last finite values) when a minibatch loss or the
    /// parameters stop being finite.
    pub fn epoch(&mut self) -> Result<&EpochStats> {
        let (n, d) = (self.train.n, self.model.sizes[0]);
        let k = *self.model.sizes.last().unwrap_or(&1);
        let mut order: Vec<usize> = (0..n).collect();
        self.rng.shuffle(&mut order);
        let started = std::time::Instant::now();
        let mut loss_sum = 0.0;
        let mut batches = 0usize;
        let mut correct = 0usize;
        // The rate of the epoch's last update, as the optimizer reports it before applying it.
        let mut last_lr = self.optimizer.learning_rate();
        let mut backup: Vec<T> = Vec::new();
        let mut measured = Vec::new();
        let mut measuring = std::time::Duration::ZERO;
        for rows in order.chunks(self.batch) {
            let step = self.optimizer.steps();
            if self.sharpness_every > 0 && step % self.sharpness_every == 0 {
                let clock = std::time::Instant::now();
                let options = LanczosOptions {
                    seed: self.sharpness_options.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    ..self.sharpness_options.clone()
                };
                let top = self.sharpness(&options)?;
                measured.push(SharpnessPoint { step, lr: self.optimizer.learning_rate(), value: top.value });
                measuring += clock.elapsed();
            }
            let b = rows.len();
            self.bx.clear();
            for &r in rows {
                self.bx.extend_from_slice(&self.train.x[r * d..(r + 1) * d]);
            }
            let labels = if self.train.values.is_empty() {
                self.by_classes.clear();
                self.by_classes.extend(rows.iter().map(|&r| self.train.classes[r]));
                Labels::Classes(&self.by_classes)
            } else {
                self.by_values.clear();
                for &r in rows {
                    self.by_values.extend_from_slice(&self.train.values[r * k..(r + 1) * k]);
                }
                Labels::Values(&self.by_values)
            };
            let totals = self.model.totals_and_gradient(
                &self.params,
                &self.bx,
                labels,
                b,
                &mut self.grad,
                &mut self.ws,
            );
            let loss = totals.loss / b as f64;
            correct += totals.correct;
            let step = self.optimizer.steps();
            backup.clone_from(&self.params);
            last_lr = self.optimizer.learning_rate();
            // The batch as an objective, for methods that evaluate inside a step (L-BFGS and the
            // line searches on a full batch); first-order methods just take the gradient.
            let workspace = std::sync::Mutex::new(std::mem::take(&mut self.ws));
            let model = &self.model;
            let bx = &self.bx;
            let objective = FnObjective::new("training batch", self.params.len(), |p: &[T], g: &mut [T]| {
                let mut ws = workspace.lock().unwrap_or_else(|e| e.into_inner());
                T::from_f64(model.loss_and_gradient(p, bx, labels, b, g, &mut ws))
            });
            self.new_grad.resize(self.params.len(), T::ZERO);
            // A stalled step (no acceptable point along the line) leaves the weights as they are.
            // SAM takes its second gradient on the same minibatch through the objective too.
            let stepped = self.optimizer.iterate(
                &objective,
                &mut self.params,
                T::from_f64(loss),
                &self.grad,
                &mut self.new_grad,
            );
            drop(objective);
            self.ws = workspace.into_inner().unwrap_or_else(|e| e.into_inner());
            stepped?;
            if !loss.is_finite() {
                // A wrapper such as skip-nonfinite may have declined the step; otherwise stop.
                if self.params != backup {
                    self.params.clone_from(&backup);
                    return Err(Error::Inconsistent {
                        field: "train_loss".into(),
                        message: format!(
                            "became {loss} at epoch {} step {step}: lower the learning rate",
                            self.epoch + 1
                        ),
                    });
                }
                continue;
            }
            if self.params.iter().any(|p| !p.is_finite()) {
                self.params.clone_from(&backup);
                return Err(Error::Inconsistent {
                    field: "params".into(),
                    message: format!(
                        "became non-finite at epoch {} step {step}: lower the learning rate",
                        self.epoch + 1
                    ),
                });
            }
            loss_sum += loss;
            batches += 1;
        }
        let seconds = started.elapsed().saturating_sub(measuring).as_secs_f64();
        self.epoch += 1;
        let eval = self.eval_params();
        // Accuracy on the epoch's minibatches as they were seen (no extra pass over the data).
        let train_accuracy = (!self.train.classes.is_empty()).then(|| correct as f64 / n.max(1) as f64);
        let (val_loss, val_accuracy, val_rmse) = self.validate(&eval);
        self.history.push(EpochStats {
            epoch: self.epoch,
            step: self.optimizer.steps(),
            lr: last_lr,
            train_loss: loss_sum / batches.max(1) as f64,
            val_loss,
            val_accuracy,
            val_rmse,
            train_accuracy,
            sharpness: measured,
            seconds,
            samples_per_second: n as f64 / seconds.max(1e-12),
        });
        Ok(self.history.last().unwrap_or_else(|| unreachable!()))
    }

    /// Validation loss, accuracy (classification) and RMSE in the data's units (regression).
    fn validate(&mut self, eval: &[T]) -> (Option<f64>, Option<f64>, Option<f64>) {
        if self.val.n == 0 {
            return (None, None, None);
        }
        let totals = self.model.evaluate(eval, &self.val.x, self.val.labels(), &mut self.ws);
        let loss = Some(totals.loss / totals.samples.max(1) as f64);
        match &self.target_scaler {
            None => (loss, Some(totals.correct as f64 / totals.samples.max(1) as f64), None),
            Some(scaler) => {
                let (d, k) = (self.model.sizes[0], scaler.mean.len());
                let mut sse = 0.0;
                for start in (0..self.val.n).step_by(512) {
                    let b = 512.min(self.val.n - start);
                    let out =
                        self.model.forward(eval, &self.val.x[start * d..(start + b) * d], b, &mut self.ws);
                    for (i, row) in out.chunks_exact(k).enumerate() {
                        for (j, &z) in row.iter().enumerate() {
                            let pred = z.to_f64() * scaler.std[j] + scaler.mean[j];
                            let e = pred - self.val.raw[(start + i) * k + j];
                            sse += e * e;
                        }
                    }
                }
                (loss, None, Some((sse / (self.val.n * k) as f64).sqrt()))
            }
        }
    }

    /// Everything needed to resume.
    pub fn snapshot(&self) -> Snapshot<T> {
        Snapshot {
            model: self.model.clone(),
            dtype: T::NAME.into(),
            batch: self.batch,
            epoch: self.epoch,
            params: self.params.clone(),
            optimizer: self.optimizer.state(),
            rng: self.rng.clone(),
            history: self.history.clone(),
        }
    }

    /// Continues from a snapshot taken of a trainer built with the same data, model, optimizer,
    /// batch size and seed (checked where the snapshot can tell).
    pub fn restore(&mut self, snapshot: Snapshot<T>) -> Result<()> {
        if snapshot.model != self.model {
            return Err(Error::Inconsistent {
                field: "checkpoint.model".into(),
                message: format!(
                    "saved for layers {:?}, this run has {:?}",
                    snapshot.model.sizes, self.model.sizes
                ),
            });
        }
        if snapshot.dtype != T::NAME {
            return Err(Error::Inconsistent {
                field: "checkpoint.dtype".into(),
                message: format!("saved in {}, this run uses {}", snapshot.dtype, T::NAME),
            });
        }
        if snapshot.batch != self.batch {
            return Err(Error::Inconsistent {
                field: "checkpoint.batch".into(),
                message: format!("saved with batch {}, this run has {}", snapshot.batch, self.batch),
            });
        }
        if snapshot.params.len() != self.params.len() {
            return Err(Error::Dimension {
                field: "checkpoint.params".into(),
                expected: self.params.len(),
                got: snapshot.params.len(),
            });
        }
        self.optimizer.load_state(snapshot.optimizer)?;
        self.params = snapshot.params;
        self.rng = snapshot.rng;
        self.epoch = snapshot.epoch;
        self.history = snapshot.history;
        Ok(())
    }
}

/// How a training goes, typed: what `downhill train` and `downhill tour` hand to [`Session`]
/// and [`train`]. Every optimizer of [`TrainConfig::optimizers`] trains on the same split,
/// initialization and batches, so their histories compare.
///
/// ```
/// use downhill_train::{train, Dataset, Target, TrainConfig};
///
/// // y = 2 x0 - x1 + 0.5, by least squares.
/// let features: Vec<f64> = (0..200).flat_map(|i| [(i % 17) as f64 / 17.0, (i % 5) as f64 / 5.0]).collect();
/// let values = features.chunks(2).map(|x| 2.0 * x[0] - x[1] + 0.5).collect();
/// let data = Dataset {
///     name: "toy".into(),
///     features,
///     dim: 2,
///     feature_names: vec!["x0".into(), "x1".into()],
///     target: Target::Values { values, names: vec!["y".into()] },
/// };
/// let config = TrainConfig {
///     model: "linear".into(),
///     optimizers: vec!["adam:lr=0.05".into(), "sgd:lr=0.1".into()],
///     batch: 16,
///     epochs: 60,
///     seed: 7,
///     ..TrainConfig::default()
/// };
/// let outcomes = train::<f32>(&data, &config, |_, _| {})?;
/// assert!(outcomes.iter().all(|o| o.history.last().unwrap().val_rmse.unwrap() < 1e-2));
/// # Ok::<(), downhill::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Model spec (see [`Model::parse`]), e.g. `mlp:hidden=64,64`.
    pub model: String,
    /// Optimizer specs, trained one after the other.
    pub optimizers: Vec<String>,
    /// Learning-rate schedule over steps, replacing each optimizer's `lr`; `total=auto` stands
    /// for epochs x batches per epoch.
    pub schedule: Option<String>,
    /// PyTorch's ReduceLROnPlateau on the validation loss after each epoch (see
    /// [`downhill::schedule::ReduceOnPlateau::parse`]); needs a constant rate and a validation set.
    pub reduce_on_plateau: Option<String>,
    /// Fraction of samples held out for validation, in `[0, 1)`.
    pub validation: f64,
    /// Minibatch size, in `1..=`[`MAX_BATCH`] (`MAX_BATCH` is full batch).
    pub batch: usize,
    /// Epochs to train, in `1..=`[`MAX_EPOCHS`].
    pub epochs: u64,
    /// Seed for the split, the initialization and the shuffles.
    pub seed: u64,
    /// Whether weight decay applies to the biases too (PyTorch's default); `false` puts them in a
    /// group of their own with `weight_decay = 0` (see [`build_optimizer`]).
    pub decay_biases: bool,
    /// Measure the sharpness every this many updates (see [`Trainer::track_sharpness`]).
    pub track_sharpness: Option<u64>,
}

/// The largest number of epochs a [`TrainConfig`] accepts.
pub const MAX_EPOCHS: u64 = 1_000_000;

impl Default for TrainConfig {
    /// `downhill train`'s defaults: an MLP with two hidden layers of 64, Adam at 1e-3, 20% held
    /// out, batches of 32, 30 epochs, seed 1.
    fn default() -> Self {
        TrainConfig {
            model: "mlp:hidden=64,64".into(),
            optimizers: vec!["adam:lr=1e-3".into()],
            schedule: None,
            reduce_on_plateau: None,
            validation: 0.2,
            batch: 32,
            epochs: 30,
            seed: 1,
            decay_biases: true,
            track_sharpness: None,
        }
    }
}

impl TrainConfig {
    /// Checks every setting that does not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.validation) {
            return Err(Error::out_of_range("validation", self.validation, "[0, 1)"));
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(Error::out_of_range("batch", self.batch, &format!("1..={MAX_BATCH}")));
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(Error::out_of_range("epochs", self.epochs, &format!("1..={MAX_EPOCHS}")));
        }
        if self.track_sharpness == Some(0) {
            return Err(Error::out_of_range("track_sharpness", 0, "1.."));
        }
        if self.optimizers.is_empty() {
            return Err(Error::out_of_range("optimizers", 0, "1.. specs"));
        }
        if let Some(text) = &self.reduce_on_plateau {
            downhill::schedule::ReduceOnPlateau::parse(text).map_err(|e| setting("reduce_on_plateau", e))?;
            if self.schedule.is_some() {
                return Err(Error::Inconsistent {
                    field: "reduce_on_plateau".into(),
                    message: "sets the learning rate itself; give a constant lr= instead of a schedule"
                        .into(),
                });
            }
            if self.validation == 0.0 {
                return Err(Error::Inconsistent {
                    field: "reduce_on_plateau".into(),
                    message: "watches the validation loss; validation must be above 0".into(),
                });
            }
        }
        Ok(())
    }
}

/// `error`, said to be about the setting `name` (see [`Error::Setting`]).
fn setting(name: &str, error: Error) -> Error {
    Error::Setting { setting: name.into(), error: Box::new(error) }
}

/// A training set up from a [`TrainConfig`] and a data set: the split, the model and the
/// schedule with `total=auto` resolved. [`Session::start`] starts one optimizer's training.
#[derive(Debug, Clone)]
pub struct Session {
    /// The training split.
    pub train: Dataset,
    /// The validation split (empty when `validation` is 0).
    pub validation: Dataset,
    /// The model, before initialization.
    pub model: Model,
    /// Minibatches per epoch.
    pub batches: u64,
    /// The schedule's text with `total=auto` resolved.
    pub schedule: Option<String>,
    config: TrainConfig,
    build: optim::BuildOptions,
}

impl Session {
    /// Checks `config`, splits `data` and reads the model and the schedule. Errors about one
    /// setting come as [`Error::Setting`] naming it (`model`, `schedule`).
    pub fn new(data: &Dataset, config: &TrainConfig) -> Result<Session> {
        config.validate()?;
        let (train, validation) = data.split(config.validation, config.seed)?;
        let model = Model::parse(&config.model, data.dim, &data.target).map_err(|e| setting("model", e))?;
        let batches = train.len().div_ceil(config.batch) as u64;
        let total = batches * config.epochs;
        let schedule = config.schedule.as_ref().map(|s| s.replace("total=auto", &format!("total={total}")));
        let parsed = match &schedule {
            Some(s) => Some(downhill::Schedule::parse(s).map_err(|e| setting("schedule", e))?),
            None => None,
        };
        Ok(Session {
            train,
            validation,
            model,
            batches,
            schedule,
            config: config.clone(),
            build: optim::BuildOptions { schedule: parsed },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Starts training with the optimizer `spec` (errors about it come as [`Error::Setting`]
    /// naming `optimizer`).
    pub fn start<T: Scalar + optim::Buildable>(&self, spec: &str) -> Result<TrainingRun<T>> {
        let decay = self.config.decay_biases;
        let optimizer = build_optimizer::<T>(spec, &self.build, &self.model, decay)
            .map_err(|e| setting("optimizer", e))?;
        let plateau = match &self.config.reduce_on_plateau {
            // `validate` refused a schedule with it, so the rate is the spec's constant lr.
            Some(text) => Some(Plateau {
                scheduler: downhill::schedule::ReduceOnPlateau::parse(text)?,
                lr: optimizer.learning_rate(),
            }),
            None => None,
        };
        let mut trainer = Trainer::new(
            &self.train,
            &self.validation,
            self.model.clone(),
            optimizer,
            self.config.batch,
            self.config.seed,
        )?;
        if let Some(every) = self.config.track_sharpness {
            trainer.track_sharpness(every, LanczosOptions { seed: self.config.seed, ..Default::default() });
        }
        Ok(TrainingRun { trainer, plateau, spec: spec.to_string(), decay_biases: decay })
    }
}

/// ReduceLROnPlateau during one training: the scheduler and the rate it has set (part of a
/// checkpoint, so that a resumed training lowers the rate at the same epochs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// The scheduler with its counters.
    pub scheduler: downhill::schedule::ReduceOnPlateau,
    /// The rate it has set.
    pub lr: f64,
}

/// One optimizer's training in a [`Session`].
pub struct TrainingRun<T: Scalar> {
    /// The trainer: parameters, optimizer, history.
    pub trainer: Trainer<T>,
    /// ReduceLROnPlateau's state, when the configuration asks for it.
    pub plateau: Option<Plateau>,
    spec: String,
    decay_biases: bool,
}

impl<T: Scalar + optim::Buildable> TrainingRun<T> {
    /// The optimizer spec.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// One epoch, then ReduceLROnPlateau: the epoch's statistics and the new rate, when the
    /// scheduler lowered it (the optimizer is rebuilt at that rate and keeps its state).
    pub fn epoch(&mut self) -> Result<(EpochStats, Option<f64>)> {
        let stats = self.trainer.epoch()?.clone();
        let Some(plateau) = &mut self.plateau else { return Ok((stats, None)) };
        let Some(loss) = stats.val_loss else { return Ok((stats, None)) };
        let lr = plateau.scheduler.step(loss, plateau.lr);
        if lr == plateau.lr {
            return Ok((stats, None));
        }
        plateau.lr = lr;
        self.set_rate(lr)?;
        Ok((stats, Some(lr)))
    }

    /// Resumes ReduceLROnPlateau from a checkpoint's state: its counters and the rate it had set.
    pub fn restore_plateau(&mut self, saved: Plateau) -> Result<()> {
        if let Some(now) = &mut self.plateau {
            if saved.lr != now.lr {
                self.set_rate(saved.lr)?;
            }
            self.plateau = Some(saved);
        }
        Ok(())
    }

    /// Rebuilds the optimizer with the (wrapped optimizer's) `lr` set to `lr`, keeping its state.
    fn set_rate(&mut self, lr: f64) -> Result<()> {
        let mut parsed = optim::OptimizerSpec::parse(&self.spec)?;
        parsed.set_base("lr", &format!("{lr}"));
        let optimizer = build_optimizer::<T>(
            &parsed.to_string(),
            &optim::BuildOptions::default(),
            self.trainer.model(),
            self.decay_biases,
        )
        .map_err(|e| setting("reduce_on_plateau", e))?;
        self.trainer.replace_optimizer(optimizer)
    }
}

/// One optimizer's finished (or stopped) training, from [`train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// The optimizer spec.
    pub optimizer: String,
    /// One entry per epoch.
    pub history: Vec<EpochStats>,
    /// Why it stopped early (a non-finite loss, say), if it did.
    pub error: Option<String>,
    /// Wall-clock seconds it took.
    pub seconds: f64,
}

/// Trains each optimizer of `config` on `data` in turn (see [`Session::train`]).
pub fn train<T: Scalar + optim::Buildable>(
    data: &Dataset,
    config: &TrainConfig,
    on_epoch: impl FnMut(&str, &EpochStats),
) -> Result<Vec<TrainOutcome>> {
    Session::new(data, config)?.train::<T>(on_epoch)
}

impl Session {
    /// Trains each optimizer of the configuration in turn, calling `on_epoch(spec, stats)` after
    /// every epoch. An optimizer whose training fails (a non-finite loss) is reported in its
    /// [`TrainOutcome::error`] and the next one starts.
    pub fn train<T: Scalar + optim::Buildable>(
        &self,
        mut on_epoch: impl FnMut(&str, &EpochStats),
    ) -> Result<Vec<TrainOutcome>> {
        let mut outcomes = Vec::new();
        for spec in &self.config.optimizers {
            let mut run = self.start::<T>(spec)?;
            let started = std::time::Instant::now();
            let mut error = None;
            while run.trainer.epochs_done() < self.config.epochs {
                match run.epoch() {
                    Ok((stats, _)) => on_epoch(spec, &stats),
                    Err(e @ Error::Setting { .. }) => return Err(e),
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            outcomes.push(TrainOutcome {
                optimizer: spec.clone(),
                history: run.trainer.history().to_vec(),
                error,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Ok(outcomes)
    }
}
