//! `downhill train`: minibatch training on built-in data sets, CSV or IDX files, with any optimizer
//! and schedule, a JSON-lines log, loss-curve plots, comparisons and exact checkpoints.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use downhill::optim::{self, BuildOptions, Buildable};
use downhill::schedule::ReduceOnPlateau;
use downhill_train::Scalar;
use downhill_train::{
    self as train, Dataset, EpochStats, Model, Session, Snapshot, Task, TrainConfig, TrainOutcome, Trainer,
};

use crate::checkpoint::{crc32, read_framed, write_framed};
use crate::output::{table, write_atomic};
use crate::plot::{self, Figure, LinePanel, Panel, Series, TAB10};
use crate::BadInput;

/// Train a model on real data with minibatches, any optimizer and schedule.
///
/// Data: a built-in set (--data iris|winequality|diabetes|linnerud), a CSV file (--csv FILE
/// --target COLUMN), or MNIST-style IDX files (--idx IMAGES --idx-labels LABELS). Features are
/// standardized with the training split's statistics; --validation holds out a seeded fraction.
///
/// Give --optimizer several times to compare optimizers on the same data, split,
/// initialization and batches: one table of final metrics and, with --plot, one chart.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Built-in data set: iris, winequality, diabetes, linnerud (see `downhill train --list`).
    #[arg(long, default_value = "iris", conflicts_with_all = ["csv", "idx"])]
    pub data: String,
    /// A CSV file: one row per sample, a header row optional (at most 256 MiB).
    #[arg(long, value_name = "FILE", conflicts_with = "idx")]
    pub csv: Option<PathBuf>,
    /// The CSV column to predict: a header name, a 0-based index, or `last`.
    #[arg(long, default_value = "last", requires = "csv")]
    pub target: String,
    /// How to read the CSV target: auto (text or at most 20 whole numbers = classes), classify, regress.
    #[arg(long, value_enum, default_value = "auto")]
    pub task: TaskArg,
    /// An IDX images file (e.g. train-images-idx3-ubyte, optionally .gz); needs --idx-labels.
    #[arg(long, value_name = "FILE", requires = "idx_labels")]
    pub idx: Option<PathBuf>,
    /// The IDX labels file matching --idx.
    #[arg(long, value_name = "FILE", requires = "idx")]
    pub idx_labels: Option<PathBuf>,
    /// Fraction of samples held out for validation, in [0, 1).
    #[arg(long, default_value_t = 0.2)]
    pub validation: f64,
    /// Model: mlp:hidden=64,64,act=relu|tanh|gelu,loss=auto|ce|mse|bce, linear, logistic, softmax.
    #[arg(long, default_value = "mlp:hidden=64,64")]
    pub model: String,
    #[arg(
        long = "optimizer",
        short = 'o',
        default_value = "adam:lr=1e-3",
        help = crate::cmd_list::optimizer_help("Optimizer spec; repeat to compare several")
    )]
    pub optimizers: Vec<String>,
    /// Learning-rate schedule over steps (replaces lr=); `total=auto` means epochs x batches per
    /// epoch, e.g. warmup-cosine:max=3e-3,min=1e-5,warmup=100,total=auto.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Lower the learning rate when the validation loss stops improving (PyTorch's
    /// ReduceLROnPlateau, mode min, checked after each epoch), e.g.
    /// factor=0.1,patience=10,threshold=1e-4,threshold_mode=rel,cooldown=0,min_lr=0 (these are the
    /// defaults; give "" for all of them). Needs a constant learning rate and a validation set.
    #[arg(long, value_name = "KEYS")]
    pub reduce_on_plateau: Option<String>,
    /// Minibatch size, or `full` for the whole training set in every step (full-batch
    /// L-BFGS, BFGS, CG or a line search: `-o lbfgs --batch full`).
    #[arg(long, default_value = "32", value_parser = parse_batch)]
    pub batch: usize,
    /// Epochs to train (with --resume: up to this many in all).
    #[arg(long, default_value_t = 30)]
    pub epochs: u64,
    /// Seed for the split, the initialization and the shuffles.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Precision.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: Dtype,
    /// Put biases in their own parameter group with weight_decay=0.
    #[arg(long)]
    pub no_bias_decay: bool,
    /// Threads for the matrix products (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write one JSON object per epoch to this file (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Save loss and metric curves (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Every N updates, measure the sharpness (the top eigenvalue of the Hessian of the loss on
    /// the whole training split, by Lanczos on exact Hessian-vector products) into the log
    /// (`sharpness`), the epoch lines and the plot. Each measurement costs about 20-60 passes
    /// over the training split.
    #[arg(long, value_name = "N")]
    pub track_sharpness: Option<u64>,
    /// Directory for checkpoints (model, optimizer state, RNG, epoch).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Save a checkpoint every N epochs (and at the end).
    #[arg(long, default_value_t = 1, requires = "checkpoint")]
    pub checkpoint_every: u64,
    /// Continue from the latest checkpoint in DIR (same data, model, optimizer, batch, seed).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Print only the summary (no per-epoch lines).
    #[arg(long, short)]
    pub quiet: bool,
    /// List the built-in data sets and exit.
    #[arg(long)]
    pub list: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskArg {
    Auto,
    Classify,
    Regress,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dtype {
    F32,
    F64,
}

use train::MAX_EPOCHS;

/// What a checkpoint must agree with to be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    data: String,
    validation: f64,
    model: String,
    optimizer: String,
    schedule: Option<String>,
    batch: usize,
    seed: u64,
    dtype: Dtype,
    no_bias_decay: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reduce_on_plateau: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
struct Payload<T> {
    settings: Settings,
    snapshot: Snapshot<T>,
    /// ReduceLROnPlateau's counters and the rate it set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plateau: Option<train::Plateau>,
}

/// Reads the data set the flags name.
pub fn load_data(args: &TrainArgs) -> Result<(Dataset, String)> {
    let (data, description) = if let Some(csv) = &args.csv {
        let task = match args.task {
            TaskArg::Auto => Task::Auto,
            TaskArg::Classify => Task::Classify,
            TaskArg::Regress => Task::Regress,
        };
        let bytes = train::read_file(csv, train::MAX_CSV_BYTES)
            .map_err(|e| anyhow::Error::new(e).context("--csv"))?;
        let ds = train::parse_csv(&bytes, &csv.display().to_string(), &args.target, task)
            .map_err(|e| anyhow::Error::new(e).context("--csv"))?;
        // The data are named by their content, not their path: a checkpoint resumes on the same
        // bytes wherever they are, and never on a file changed in place.
        let desc = format!("csv:{}#{} crc32={:08x}", file_name(csv), args.target, crc32(&bytes));
        (ds, desc)
    } else if let (Some(images), Some(labels)) = (&args.idx, &args.idx_labels) {
        let ds = train::load_idx_pair(images, labels).map_err(|e| anyhow::Error::new(e).context("--idx"))?;
        let hash = |p: &Path| -> Result<String> {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Ok(format!("{} crc32={:08x}", file_name(p), crc32(&bytes)))
        };
        (ds, format!("idx:{}+{}", hash(images)?, hash(labels)?))
    } else {
        (train::builtin(&args.data).map_err(|e| anyhow::Error::new(e).context("--data"))?, args.data.clone())
    };
    Ok((data, description))
}

/// `--batch`: a size, or `full` (the largest batch, so one batch holds the whole training set).
fn parse_batch(text: &str) -> std::result::Result<usize, String> {
    if text.eq_ignore_ascii_case("full") {
        return Ok(train::MAX_BATCH);
    }
    text.parse::<usize>().map_err(|_| format!("'{text}' is not a whole number or 'full'"))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn check_args(args: &TrainArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.validation) {
        bail!(BadInput(format!("--validation: {} is not in [0, 1)", args.validation)));
    }
    if !(1..=train::MAX_BATCH).contains(&args.batch) {
        bail!(BadInput(format!("--batch: {} is not in 1..={}", args.batch, train::MAX_BATCH)));
    }
    if !(1..=MAX_EPOCHS).contains(&args.epochs) {
        bail!(BadInput(format!("--epochs: {} is not in 1..={MAX_EPOCHS}", args.epochs)));
    }
    if args.track_sharpness == Some(0) {
        bail!(BadInput("--track-sharpness: 0 is not in 1..".into()));
    }
    if args.checkpoint_every == 0 {
        bail!(BadInput("--checkpoint-every: 0 is not in 1..".into()));
    }
    if let Some(t) = args.threads {
        if !(1..=1024).contains(&t) {
            bail!(BadInput(format!("--threads: {t} is not in 1..=1024")));
        }
    }
    if args.optimizers.len() > 1 && (args.checkpoint.is_some() || args.resume.is_some()) {
        bail!(BadInput("--checkpoint/--resume: work with one --optimizer, not a comparison".into()));
    }
    if args.optimizers.len() > 10 {
        bail!(BadInput(format!("--optimizer: {} given, at most 10 can be compared", args.optimizers.len())));
    }
    // Every output is checked before any work, so a typo costs nothing.
    if let Some(p) = &args.plot {
        plot::check_extension(p, "--plot")?;
        crate::output::check_output("--plot", p)?;
    }
    if let Some(p) = &args.log {
        crate::output::check_output("--log", p)?;
    }
    if let Some(dir) = &args.checkpoint {
        crate::output::check_output_dir("--checkpoint", dir)?;
    }
    if let Some(text) = &args.reduce_on_plateau {
        ReduceOnPlateau::parse(text).map_err(|e| BadInput(format!("--reduce-on-plateau: {e}")))?;
        if args.schedule.is_some() {
            bail!(BadInput(
                "--reduce-on-plateau: sets the learning rate itself; give a constant lr= instead of --schedule".into()
            ));
        }
        if args.validation == 0.0 {
            bail!(BadInput(
                "--reduce-on-plateau: watches the validation loss; --validation must be above 0".into()
            ));
        }
    }
    Ok(())
}

pub fn run(args: &TrainArgs) -> Result<String> {
    if args.list {
        let rows: Vec<Vec<String>> = train::BUILTIN
            .iter()
            .map(|(n, t, d)| vec![n.to_string(), t.to_string(), d.to_string()])
            .collect();
        return Ok(table(&["data set".into(), "task".into(), "description".into()], &rows));
    }
    check_args(args)?;
    let work = || match args.dtype {
        Dtype::F32 => train_all::<f32>(args),
        Dtype::F64 => train_all::<f64>(args),
    };
    match args.threads {
        Some(n) => {
            rayon::ThreadPoolBuilder::new().num_threads(n).build().context("starting threads")?.install(work)
        }
        None => work(),
    }
}

/// The training the flags describe, as the library takes it.
pub fn config(args: &TrainArgs) -> TrainConfig {
    TrainConfig {
        model: args.model.clone(),
        optimizers: args.optimizers.clone(),
        schedule: args.schedule.clone(),
        reduce_on_plateau: args.reduce_on_plateau.clone(),
        validation: args.validation,
        batch: args.batch,
        epochs: args.epochs,
        seed: args.seed,
        decay_biases: !args.no_bias_decay,
        track_sharpness: args.track_sharpness,
    }
}

/// A library error, with the flag named for an error about one setting.
fn flag_error(e: downhill::Error) -> anyhow::Error {
    match e {
        downhill::Error::Setting { setting, error } => {
            anyhow::Error::new(*error).context(format!("--{}", setting.replace('_', "-")))
        }
        e => e.into(),
    }
}

/// The first line of a training's output: the data, the split, the model and the batches.
pub fn header(session: &Session, data: &Dataset) -> String {
    let (train_set, val_set, model) = (&session.train, &session.validation, &session.model);
    let batch = session.config().batch;
    format!(
        "{}: {} train / {} validation samples, {} features, {}; model {} ({} parameters, layers {:?}); batch {}, {} steps per epoch\n",
        data.name,
        train_set.len(),
        val_set.len(),
        data.dim,
        if data.target.is_classes() {
            format!("{} classes", data.target.width())
        } else {
            format!("{} target(s)", data.target.width())
        },
        model.kind,
        model.num_params(),
        model.sizes,
        if batch >= train_set.len() { "full".to_string() } else { batch.to_string() },
        session.batches
    )
}

fn train_all<T: Scalar + Buildable + Serialize + DeserializeOwned>(args: &TrainArgs) -> Result<String> {
    let (data, description) = load_data(args)?;
    let session = Session::new(&data, &config(args)).map_err(flag_error)?;
    let classes = data.target.is_classes();
    let mut out = String::new();
    let header = header(&session, &data);
    if !args.quiet {
        print!("{header}");
    } else {
        out.push_str(&header);
    }
    let mut outcomes: Vec<TrainOutcome> = Vec::new();
    for spec in &args.optimizers {
        let mut run = session.start::<T>(spec).map_err(flag_error)?;
        let settings = Settings {
            data: description.clone(),
            validation: args.validation,
            model: args.model.clone(),
            optimizer: spec.clone(),
            schedule: session.schedule.clone(),
            batch: args.batch,
            seed: args.seed,
            dtype: args.dtype,
            no_bias_decay: args.no_bias_decay,
            reduce_on_plateau: args.reduce_on_plateau.clone(),
        };
        if let Some(dir) = &args.resume {
            let (path, payload) = latest_checkpoint::<T>(dir)?;
            if payload.settings != settings {
                bail!(BadInput(format!(
                    "--resume: {} was saved with different settings: {}",
                    path.display(),
                    settings_diff(&payload.settings, &settings)
                )));
            }
            if let Some(saved) = payload.plateau {
                run.restore_plateau(saved).map_err(flag_error)?;
            }
            run.trainer
                .restore(payload.snapshot)
                .map_err(|e| BadInput(format!("--resume: {}: {e}", path.display())))?;
            if !args.quiet {
                println!("resumed from {} (epoch {})", path.display(), run.trainer.epochs_done());
            }
        }
        let label = if args.optimizers.len() > 1 { format!("{spec}: ") } else { String::new() };
        let bar = crate::output::progress(args.epochs, "epochs", args.quiet);
        bar.set_position(run.trainer.epochs_done().min(args.epochs));
        let mut error = None;
        let started = std::time::Instant::now();
        while run.trainer.epochs_done() < args.epochs {
            let (stats, lowered) = match run.epoch() {
                Ok(done) => done,
                Err(e @ downhill::Error::Setting { .. }) => return Err(flag_error(e)),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            };
            bar.inc(1);
            if !args.quiet {
                bar.suspend(|| println!("{label}{}", epoch_line(&stats)));
                if let Some(lr) = lowered {
                    bar.suspend(|| {
                        println!("{label}reduce-on-plateau: lr {lr:e} from epoch {} on", stats.epoch + 1)
                    });
                }
            }
            if let Some(dir) = &args.checkpoint {
                if stats.epoch % args.checkpoint_every == 0 || stats.epoch == args.epochs {
                    save_checkpoint(dir, &settings, &run.trainer, run.plateau.as_ref())?;
                }
            }
            if let Some(log) = &args.log {
                // The finished optimizers' epochs, then this one's so far.
                let mut runs: Vec<(&str, &[EpochStats])> =
                    outcomes.iter().map(|o| (o.optimizer.as_str(), o.history.as_slice())).collect();
                runs.push((spec.as_str(), run.trainer.history()));
                write_log(log, &runs, args.optimizers.len() > 1)?;
            }
        }
        bar.finish_and_clear();
        if let Some(e) = &error {
            eprintln!("{label}stopped: {e}");
        }
        outcomes.push(TrainOutcome {
            optimizer: spec.clone(),
            history: run.trainer.history().to_vec(),
            error,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let files = write_outputs(
        args.log.as_deref(),
        args.plot.as_deref(),
        &outcomes,
        classes,
        &data.name,
        session.batches,
    )?;
    out.push_str(&summary(&outcomes, classes));
    out.push_str(&files);
    if let Some(dir) = &args.checkpoint {
        let latest = checkpoint_files(dir)
            .ok()
            .and_then(|f| f.into_iter().max())
            .map(|(_, p)| p.display().to_string());
        out.push_str(&format!(
            "checkpoints: {} (latest {}); continue with --resume {}\n",
            dir.display(),
            latest.unwrap_or_else(|| "none".into()),
            dir.display()
        ));
    }
    if outcomes.iter().all(|o| o.error.is_some()) {
        print!("{out}");
        bail!("training stopped: {}", outcomes[0].error.clone().unwrap_or_default());
    }
    Ok(out)
}

/// Writes the JSON-lines log and the plot of finished trainings, where asked; returns the lines
/// that name them (`log: FILE`, `plot: FILE`).
pub fn write_outputs(
    log: Option<&Path>,
    plot_path: Option<&Path>,
    outcomes: &[TrainOutcome],
    classes: bool,
    name: &str,
    batches: u64,
) -> Result<String> {
    let mut lines = String::new();
    if let Some(log) = log {
        let all: Vec<(&str, &[EpochStats])> =
            outcomes.iter().map(|o| (o.optimizer.as_str(), o.history.as_slice())).collect();
        write_log(log, &all, outcomes.len() > 1)?;
    }
    if let Some(path) = plot_path {
        plot::save(&curves(outcomes, classes, name, batches as f64), path)?;
    }
    if let Some(p) = log {
        lines.push_str(&format!("log: {}\n", p.display()));
    }
    if let Some(p) = plot_path {
        lines.push_str(&format!("plot: {}\n", p.display()));
    }
    Ok(lines)
}

fn epoch_line(s: &EpochStats) -> String {
    let metric = match (s.val_accuracy, s.val_rmse) {
        (Some(a), _) => format!("  val_acc {:.4}", a),
        (_, Some(r)) => format!("  val_rmse {:.5}", r),
        _ => String::new(),
    };
    let val = s.val_loss.map(|v| format!("  val_loss {v:.5}")).unwrap_or_default();
    let sharp = s.sharpness.last().map(|p| format!("  sharpness {:.4e}", p.value)).unwrap_or_default();
    format!(
        "epoch {:>4}  step {:>7}  lr {:.3e}  train_loss {:.5}{val}{metric}{sharp}  {:.0} samples/s",
        s.epoch, s.step, s.lr, s.train_loss, s.samples_per_second
    )
}

pub fn summary(outcomes: &[TrainOutcome], classes: bool) -> String {
    let metric = if classes { "val_accuracy" } else { "val_rmse" };
    let header: Vec<String> = [
        "optimizer",
        "epochs",
        "train_loss",
        "val_loss",
        metric,
        &format!("best {metric}"),
        "seconds",
        "status",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let last = o.history.last();
            let m = |e: &EpochStats| if classes { e.val_accuracy } else { e.val_rmse };
            let best = o.history.iter().filter_map(m).fold(None, |b: Option<f64>, x| {
                Some(b.map_or(x, |b| if classes { b.max(x) } else { b.min(x) }))
            });
            let f = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.5}"));
            vec![
                o.optimizer.clone(),
                last.map_or("0".into(), |l| l.epoch.to_string()),
                f(last.map(|l| l.train_loss)),
                f(last.and_then(|l| l.val_loss)),
                f(last.and_then(m)),
                f(best),
                format!("{:.2}", o.seconds),
                o.error.as_ref().map_or("ok".into(), |e| format!("stopped: {e}")),
            ]
        })
        .collect();
    table(&header, &rows)
}

fn write_log(path: &Path, runs: &[(&str, &[EpochStats])], tag: bool) -> Result<()> {
    let mut bytes = Vec::new();
    for (optimizer, history) in runs {
        for e in history.iter() {
            let mut v = serde_json::to_value(e)?;
            if let (true, Some(obj)) = (tag, v.as_object_mut()) {
                obj.insert("optimizer".into(), serde_json::Value::String(optimizer.to_string()));
            }
            serde_json::to_writer(&mut bytes, &v)?;
            bytes.write_all(b"\n")?;
        }
    }
    write_atomic(path, &bytes)
}

fn save_checkpoint<T: Scalar + Serialize + DeserializeOwned>(
    dir: &Path,
    settings: &Settings,
    trainer: &Trainer<T>,
    plateau: Option<&train::Plateau>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let epoch = trainer.epochs_done();
    let payload =
        Payload { settings: settings.clone(), snapshot: trainer.snapshot(), plateau: plateau.cloned() };
    write_framed(&dir.join(format!("epoch-{epoch:06}.ckpt")), "train", &payload)?;
    // Keep the two newest: the one just written and the one before it.
    let mut files = checkpoint_files(dir)?;
    files.sort();
    if files.len() > 2 {
        for (_, old) in &files[..files.len() - 2] {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(())
}

fn checkpoint_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| BadInput(format!("--resume: {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(epoch) =
            name.strip_prefix("epoch-").and_then(|r| r.strip_suffix(".ckpt")).and_then(|n| n.parse().ok())
        {
            files.push((epoch, entry.path()));
        }
    }
    Ok(files)
}

fn latest_checkpoint<T: Scalar + Serialize + DeserializeOwned>(dir: &Path) -> Result<(PathBuf, Payload<T>)> {
    let files = checkpoint_files(dir)?;
    let Some((_, path)) = files.into_iter().max() else {
        bail!(BadInput(format!("--resume: {}: no epoch-*.ckpt checkpoints there", dir.display())));
    };
    let payload: Payload<T> = read_framed(&path, "train")?;
    Ok((path, payload))
}

fn settings_diff(saved: &Settings, now: &Settings) -> String {
    let a = serde_json::to_value(saved).unwrap_or_default();
    let b = serde_json::to_value(now).unwrap_or_default();
    let mut diffs = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, va) in a {
            if b.get(k) != Some(va) {
                diffs.push(format!("{k} was {va}, now {}", b.get(k).cloned().unwrap_or_default()));
            }
        }
    }
    diffs.join("; ")
}

fn curves(outcomes: &[TrainOutcome], classes: bool, name: &str, steps_per_epoch: f64) -> Figure {
    let tracked = outcomes.iter().any(|o| o.history.iter().any(|e| !e.sharpness.is_empty()));
    let mut fig = Figure::inches(if tracked { 17.0 } else { 12.0 }, 4.5);
    fig.title = Some(format!("Training on {name}"));
    let epochs = outcomes.iter().map(|o| o.history.len()).max().unwrap_or(1).max(2) as f64;
    let single = outcomes.len() == 1;
    let mut loss_series = Vec::new();
    let mut metric_series = Vec::new();
    let mut sharp_series = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let color = TAB10[i % 10];
        let pts = |f: &dyn Fn(&EpochStats) -> Option<f64>| -> Vec<(f64, f64)> {
            o.history
                .iter()
                .filter_map(|e| f(e).filter(|v| v.is_finite()).map(|v| (e.epoch as f64, v)))
                .collect()
        };
        let (train_label, val_label) = if single {
            ("train loss".to_string(), "validation loss".to_string())
        } else {
            (String::new(), o.optimizer.clone())
        };
        let mut train_line =
            Series::line(train_label, pts(&|e| Some(e.train_loss)), if single { TAB10[0] } else { color });
        train_line.dashed = true;
        if !single {
            // One legend entry per optimizer: its colour; dashed vs solid is in the title.
            train_line.label = None;
        }
        loss_series.push(train_line);
        loss_series.push(Series::line(
            val_label,
            pts(&|e| e.val_loss),
            if single { TAB10[1] } else { color },
        ));
        let m = pts(&|e| if classes { e.val_accuracy } else { e.val_rmse });
        metric_series.push(Series::line(
            if single { "validation".into() } else { o.optimizer.clone() },
            m,
            color,
        ));
        let points: Vec<&train::SharpnessPoint> = o.history.iter().flat_map(|e| &e.sharpness).collect();
        if !points.is_empty() {
            let at = |p: &train::SharpnessPoint| p.step as f64 / steps_per_epoch;
            let values = points.iter().filter(|p| p.value.is_finite()).map(|p| (at(p), p.value)).collect();
            sharp_series.push(Series::line(
                if single { "sharpness".into() } else { o.optimizer.clone() },
                values,
                color,
            ));
            // Plain gradient descent is stable on a quadratic only while the sharpness is below 2/lr.
            let name = o.optimizer.split(':').next().unwrap_or_default();
            if ["gd", "sgd"].contains(&name) && !o.optimizer.contains("momentum") {
                let limit = points.iter().filter(|p| p.lr > 0.0).map(|p| (at(p), 2.0 / p.lr)).collect();
                let mut line =
                    Series::line(if single { "2/lr".to_string() } else { String::new() }, limit, color);
                line.dashed = true;
                if !single {
                    line.label = None;
                }
                sharp_series.push(line);
            }
        }
    }
    let range = |s: &[Series], log: bool| {
        let vals: Vec<f64> = s
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .collect();
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
        }
        if log {
            (lo / 1.3, hi * 1.3)
        } else {
            let pad = ((hi - lo) * 0.08).max(1e-3);
            (lo - pad, hi + pad)
        }
    };
    // A log axis only pays off over more than a decade.
    let (lo, hi) = range(&loss_series, true);
    let log_loss = hi / lo > 10.0;
    let loss_y = if log_loss { (lo, hi) } else { range(&loss_series, false) };
    let metric_y = range(&metric_series, false);
    fig.panels.push(Panel::Lines(LinePanel {
        title: "Loss (dashed: training minibatches, solid: validation)".into(),
        xlabel: "Epoch".into(),
        ylabel: if log_loss { "Loss (log scale)".into() } else { "Loss".into() },
        x: (1.0, epochs),
        y: loss_y,
        log_y: log_loss,
        series: loss_series,
        vlines: Vec::new(),
        grid: true,
    }));
    fig.panels.push(Panel::Lines(LinePanel {
        title: if classes { "Validation accuracy".into() } else { "Validation RMSE".into() },
        xlabel: "Epoch".into(),
        ylabel: if classes { "Accuracy".into() } else { "RMSE (target units)".into() },
        x: (1.0, epochs),
        y: if classes { (metric_y.0.max(0.0), metric_y.1.min(1.02)) } else { metric_y },
        log_y: false,
        series: metric_series,
        vlines: Vec::new(),
        grid: true,
    }));
    if tracked {
        let (lo, hi) = range(&sharp_series, true);
        let log = hi / lo > 10.0;
        let first =
            sharp_series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(f64::INFINITY, f64::min);
        fig.panels.push(Panel::Lines(LinePanel {
            title: "Sharpness (top Hessian eigenvalue; dashed: 2/lr)".into(),
            xlabel: "Epoch".into(),
            ylabel: if log { "Sharpness (log scale)".into() } else { "Sharpness".into() },
            x: (first.min(1.0), epochs),
            y: if log { (lo, hi) } else { range(&sharp_series, false) },
            log_y: log,
            series: sharp_series,
            vlines: Vec::new(),
            grid: true,
        }));
    }
    fig
}

/// Samples per second of the MLP benchmark model, for `bench train`.
pub fn bench_samples_per_second(
    sizes: &[usize],
    batch: usize,
    batches: usize,
    threads: usize,
) -> Result<f64> {
    use downhill_train::Target;
    let (d, classes) = (sizes[0], *sizes.last().unwrap_or(&10));
    let n = batch * batches;
    let mut rng = downhill::rng::Rng::new(42);
    let data = Dataset {
        name: "synthetic".into(),
        features: (0..n * d).map(|_| rng.uniform()).collect(),
        dim: d,
        feature_names: (0..d).map(|i| i.to_string()).collect(),
        target: Target::Classes {
            labels: (0..n).map(|i| (i % classes) as u32).collect(),
            names: (0..classes).map(|c| c.to_string()).collect(),
        },
    };
    let hidden: Vec<String> = sizes[1..sizes.len() - 1].iter().map(|s| s.to_string()).collect();
    let model = Model::parse(&format!("mlp:hidden={}", hidden.join(",")), d, &data.target)?;
    let empty = data.select(&[]);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    pool.install(|| -> Result<f64> {
        let opt = optim::build::<f32>("adam:lr=1e-3", &BuildOptions::default())?;
        let mut trainer = Trainer::new(&data, &empty, model, opt, batch, 1)?;
        trainer.epoch()?; // warm-up: buffers, caches, thread pool
        let mut best: f64 = 0.0;
        for _ in 0..3 {
            let s = trainer.epoch()?;
            best = best.max(s.samples_per_second);
        }
        Ok(best)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_diff_names_the_changed_fields() {
        let a = Settings {
            data: "iris".into(),
            validation: 0.2,
            model: "mlp".into(),
            optimizer: "adam".into(),
            schedule: None,
            batch: 32,
            seed: 1,
            dtype: Dtype::F32,
            no_bias_decay: false,
            reduce_on_plateau: None,
        };
        let b = Settings { batch: 16, ..a.clone() };
        assert_eq!(settings_diff(&a, &b), "batch was 32, now 16");
    }
}
