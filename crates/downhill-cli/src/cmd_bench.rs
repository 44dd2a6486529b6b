//! `downhill bench`: speed, as ratios against references measured in the same run.

use std::hint::black_box;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use downhill::objectives::Rosenbrock;
use downhill::optim::{self, Adam, BuildOptions, Buildable, GradientDescent};
use downhill::{minimize, objectives, Objective, Optimizer, Real, RunOptions};

use crate::cmd_run::Dtype;
use crate::BadInput;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// One optimizer step on a large tensor, against a memory-bandwidth probe with the same access pattern.
    Step(StepArgs),
    /// 2-D Rosenbrock through the library API and a formula, against a hand-written loop.
    Small(SmallArgs),
    /// The 10,000-configuration x 1,000-step Adam sweep on Rosenbrock.
    Sweep(SweepBenchArgs),
    /// MLP training samples per second (784-256-256-10, batch 128, Adam), against PyTorch on the
    /// CPU in the same run when `python3 -c 'import torch'` works.
    Train(TrainBenchArgs),
    /// Evaluations to converge on Rosenbrock (2-D and 100-D) for lbfgs, bfgs, cg and newton-tr,
    /// beside scipy's L-BFGS-B, BFGS, CG and trust-ncg run in the same command when `--python`
    /// can import scipy.
    QuasiNewton(QuasiNewtonArgs),
}

#[derive(Args, Debug)]
pub struct QuasiNewtonArgs {
    /// Dimensions of Rosenbrock (`rosen`, the chained form) to run, comma-separated.
    #[arg(long, default_value = "2,100")]
    pub dims: String,
    /// downhill's tolerance on the gradient's Euclidean norm (`run --tol`).
    #[arg(long, default_value_t = 1e-8)]
    pub tol: f64,
    /// scipy's `gtol` (an infinity norm for BFGS, CG and L-BFGS-B; Euclidean for trust-ncg).
    #[arg(long, default_value_t = 1e-9)]
    pub scipy_gtol: f64,
    /// Python interpreter for the scipy reference; `none` skips it.
    #[arg(long, default_value = "python3")]
    pub python: String,
    #[arg(long, default_value = "table")]
    pub format: String,
}

const SCIPY_SCRIPT: &str = include_str!("../scripts/scipy_quasi_newton.py");

/// downhill's methods and the scipy method each is compared with.
const QUASI_NEWTON: [(&str, &str); 4] =
    [("lbfgs", "L-BFGS-B"), ("bfgs", "BFGS"), ("cg", "CG"), ("newton-tr", "trust-ncg")];

fn quasi_newton(args: &QuasiNewtonArgs) -> Result<serde_json::Value> {
    let dims = parse_list("--dims", &args.dims, optim::BFGS_MAX_DIM)?;
    if dims.contains(&1) {
        return Err(BadInput("--dims: Rosenbrock needs at least 2 dimensions".into()).into());
    }
    downhill::spec::Range::Positive.check("tol", args.tol)?;
    downhill::spec::Range::Positive.check("scipy-gtol", args.scipy_gtol)?;
    let reference = if args.python == "none" {
        None
    } else {
        let script_args = ["bench".to_string(), args.dims.clone(), args.scipy_gtol.to_string()];
        Some(python_json(&args.python, SCIPY_SCRIPT, &script_args).unwrap_or_else(
            || json!({"error": format!("{} cannot import scipy (pip install scipy)", args.python)}),
        ))
    };
    let mut rows = Vec::new();
    for &n in &dims {
        let spec = if n == 2 { "rosenbrock:a=1,b=100".to_string() } else { format!("rosenbrock:dim={n}") };
        let objective = objectives::build::<f64>(&spec)?;
        let start: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        for (ours, theirs) in QUASI_NEWTON {
            let mut opt = optim::build::<f64>(ours, &BuildOptions::default())?;
            let options =
                RunOptions { grad_tol: Some(args.tol), record_every: 0, ..RunOptions::steps(100_000) };
            let started = Instant::now();
            let r = minimize(objective.as_ref(), opt.as_mut(), &start, &options, None)?;
            let seconds = started.elapsed().as_secs_f64();
            let scipy = reference.as_ref().and_then(|v| {
                v["rows"].as_array()?.iter().find(|row| row["method"] == theirs && row["dim"] == n).cloned()
            });
            let nfev = scipy.as_ref().and_then(|s| s["nfev"].as_u64());
            rows.push(json!({
                "dim": n,
                "method": ours,
                "stop": r.stop.as_str(),
                "steps": r.steps,
                "evaluations": r.evaluations,
                "hessian_evaluations": r.hessian_evaluations,
                "loss": r.loss,
                "seconds": seconds,
                "scipy_method": theirs,
                "scipy": scipy,
                "evaluations_ratio_vs_scipy": nfev.map(|f| r.evaluations as f64 / f as f64),
            }));
        }
    }
    Ok(json!({
        "objective": "Rosenbrock (scipy's rosen) from (-1.2, 1, -1.2, 1, ...)",
        "tol": args.tol,
        "scipy_gtol": args.scipy_gtol,
        "reference": reference.as_ref().map(|r| json!({"scipy": r["scipy"], "numpy": r["numpy"], "error": r["error"]})),
        "rows": rows,
    }))
}

#[derive(Args, Debug)]
pub struct TrainBenchArgs {
    /// Layer widths, inputs first.
    #[arg(long, default_value = "784,256,256,10")]
    pub sizes: String,
    /// Minibatch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Minibatches per timed epoch.
    #[arg(long, default_value_t = 100)]
    pub batches: usize,
    /// Thread counts to measure, comma-separated.
    #[arg(long, default_value = "1,2")]
    pub threads: String,
    /// Python interpreter for the PyTorch reference.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Skip the PyTorch reference even when it is installed.
    #[arg(long)]
    pub no_torch: bool,
    #[arg(long, default_value = "table")]
    pub format: String,
}

const TORCH_SCRIPT: &str = include_str!("../scripts/torch_train_bench.py");

fn parse_list(field: &str, text: &str, max: usize) -> Result<Vec<usize>> {
    text.split(',')
        .map(|s| match s.trim().parse::<usize>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            _ => Err(BadInput(format!("{field}: '{}' is not a whole number in 1..={max}", s.trim())).into()),
        })
        .collect()
}

fn train_bench(args: &TrainBenchArgs) -> Result<serde_json::Value> {
    let sizes = parse_list("--sizes", &args.sizes, 1 << 14)?;
    if sizes.len() < 2 {
        return Err(BadInput("--sizes: need at least inputs and outputs".into()).into());
    }
    let threads = parse_list("--threads", &args.threads, 256)?;
    if !(1..=1 << 16).contains(&args.batch) || !(1..=100_000).contains(&args.batches) {
        return Err(BadInput("--batch/--batches: must be in 1..=65536 and 1..=100000".into()).into());
    }
    let torch_ok = !args.no_torch
        && std::process::Command::new(&args.python)
            .args(["-c", "import torch"])
            .output()
            .is_ok_and(|o| o.status.success());
    let mut rows = Vec::new();
    for &t in &threads {
        let ours = crate::cmd_train::bench_samples_per_second(&sizes, args.batch, args.batches, t)?;
        let torch = if torch_ok {
            let script_args =
                [args.sizes.clone(), args.batch.to_string(), args.batches.to_string(), t.to_string()];
            python_json(&args.python, TORCH_SCRIPT, &script_args)
        } else {
            None
        };
        let torch_sps = torch.as_ref().and_then(|v| v["samples_per_s"].as_f64());
        rows.push(json!({
            "threads": t,
            "downhill_samples_per_s": ours,
            "torch_samples_per_s": torch_sps,
            "torch_version": torch.as_ref().and_then(|v| v["torch"].as_str().map(str::to_string)),
            "ratio_vs_torch": torch_sps.map(|p| ours / p),
        }));
    }
    Ok(
        json!({"sizes": sizes, "batch": args.batch, "batches": args.batches, "optimizer": "adam:lr=1e-3", "loss": "cross-entropy", "dtype": "f32", "torch": torch_ok, "rows": rows}),
    )
}

#[derive(Args, Debug)]
pub struct StepArgs {
    #[arg(long, default_value = "adam", help = crate::cmd_list::optimizer_help("Optimizer spec"))]
    pub optimizer: String,
    /// Number of parameters.
    #[arg(long, default_value_t = 10_000_000)]
    pub size: usize,
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Also time PyTorch's implementations of the same optimizer (for-loop, foreach, fused) on the
    /// same size, dtype and thread count when `--python` can import torch, and optax under jax.jit
    /// when JAX and optax are installed too.
    #[arg(long)]
    pub vs_torch: bool,
    /// Python interpreter for --vs-torch.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

const TORCH_STEP_SCRIPT: &str = include_str!("../scripts/torch_step_bench.py");

/// Runs a reference script with `python -c SCRIPT ARGS...` and reads the JSON object it prints
/// (None when the interpreter, its torch, or the script fails).
fn python_json(python: &str, script: &str, args: &[String]) -> Option<serde_json::Value> {
    let out = std::process::Command::new(python).arg("-c").arg(script).args(args).output().ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

#[derive(Args, Debug)]
pub struct SmallArgs {
    /// Steps per measurement.
    #[arg(long, default_value_t = 2_000_000)]
    pub steps: u64,
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct SweepBenchArgs {
    /// Configurations.
    #[arg(long, default_value_t = 10_000)]
    pub configs: usize,
    /// Steps per configuration.
    #[arg(long, default_value_t = 1_000)]
    pub steps: u64,
    /// Which sweep: `lr` (CONFIGS learning rates, beta1 0.9) or `grid` (sqrt(CONFIGS) learning
    /// rates x sqrt(CONFIGS) beta1 values in 0.8..0.99).
    #[arg(long, default_value = "lr")]
    pub grid: String,
    /// Precision of the runs.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Python interpreter for the numpy (and JAX, when installed) reference, timed in the same run;
    /// `none` skips it.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

const SWEEP_SCRIPT: &str = include_str!("../scripts/sweep_reference.py");

/// Best of `reps` timings of `f`, in seconds (the minimum is the least disturbed by the machine).
fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// (arrays read, arrays written) per element of `opt`'s step on `n` parameters, from the state it
/// keeps after one update: params and gradient read, params written, and every per-parameter
/// buffer (the inner optimizer's too, for a wrapper) read and written. Derived, so it cannot drift
/// from the optimizers (AMSGrad's fourth buffer, NAdam's and RAdam's second moment are counted).
fn access_pattern<T: Real>(opt: &dyn Optimizer<T>, n: usize) -> (usize, usize) {
    fn buffers<T>(state: &downhill::OptimizerState<T>, n: usize) -> usize {
        let own = state.buffers.iter().filter(|(_, b)| b.len() == n).count();
        own + state.inner.as_ref().map_or(0, |inner| buffers(inner, n))
    }
    let k = buffers(&opt.state(), n);
    (2 + k, 1 + k)
}

/// The probe for patterns without a kernel of their own: `writes` arrays (params first) read and
/// written, the gradient (the last array) read, one pass per chunk.
fn probe_general<T: Real>(arrays: &mut [Vec<T>], writes: usize, c: T, chunk: usize, parallel: bool) {
    use rayon::prelude::*;
    let (written, read) = arrays.split_at_mut(writes);
    let g = &read[read.len() - 1];
    let n = g.len();
    let mut chunks: Vec<Vec<&mut [T]>> = (0..n.div_ceil(chunk)).map(|_| Vec::with_capacity(writes)).collect();
    for a in written.iter_mut() {
        for (k, part) in a.chunks_mut(chunk).enumerate() {
            chunks[k].push(part);
        }
    }
    let body = |(k, mut parts): (usize, Vec<&mut [T]>)| {
        let g = &g[k * chunk..((k + 1) * chunk).min(n)];
        let (p, bufs) = parts.split_first_mut().expect("params come first");
        for (i, &gi) in g.iter().enumerate() {
            let mut acc = p[i] * c;
            for b in bufs.iter_mut() {
                let v = b[i] * c + gi;
                b[i] = v;
                acc += v;
            }
            p[i] = acc;
        }
    };
    if parallel {
        chunks.into_par_iter().enumerate().for_each(body);
    } else {
        chunks.into_iter().enumerate().for_each(body);
    }
}

/// Four matching chunks: params, first and second moments (written) and gradients (read).
type Chunk4<'a, T> = (((&'a mut [T], &'a mut [T]), &'a mut [T]), &'a [T]);

/// Reads `reads` arrays and writes `writes` of them with trivial arithmetic, in the same chunks and
/// on the same threads as the optimizer: the memory traffic of a step and nothing else.
fn probe<T: Real>(arrays: &mut [Vec<T>], reads: usize, writes: usize) {
    use rayon::prelude::*;
    let c = T::from_f64(0.999);
    let chunk = 1 << 15;
    let parallel = arrays[0].len() >= (1 << 17) && rayon::current_num_threads() > 1;
    macro_rules! run {
        ($iter:expr, $body:expr) => {
            if parallel {
                $iter.for_each($body)
            } else {
                $iter.collect::<Vec<_>>().into_iter().for_each($body)
            }
        };
    }
    match (reads, writes) {
        (2, 1) => {
            let (a, rest) = arrays.split_at_mut(1);
            let (p, g) = (&mut a[0], &rest[0]);
            run!(p.par_chunks_mut(chunk).zip(g.par_chunks(chunk)), |(p, g): (&mut [T], &[T])| {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p = *p * c + g;
                }
            });
        }
        (3, 2) => {
            let (a, rest) = arrays.split_at_mut(1);
            let (b, rest) = rest.split_at_mut(1);
            let (p, m, g) = (&mut a[0], &mut b[0], &rest[0]);
            run!(
                p.par_chunks_mut(chunk).zip(m.par_chunks_mut(chunk)).zip(g.par_chunks(chunk)),
                |((p, m), g): ((&mut [T], &mut [T]), &[T])| {
                    for ((p, m), &g) in p.iter_mut().zip(m.iter_mut()).zip(g) {
                        *m = *m * c + g;
                        *p = *p * c + *m;
                    }
                }
            );
        }
        (4, 3) => {
            let (a, rest) = arrays.split_at_mut(1);
            let (b, rest) = rest.split_at_mut(1);
            let (d, rest) = rest.split_at_mut(1);
            let (p, m, v, g) = (&mut a[0], &mut b[0], &mut d[0], &rest[rest.len() - 1]);
            run!(
                p.par_chunks_mut(chunk)
                    .zip(m.par_chunks_mut(chunk))
                    .zip(v.par_chunks_mut(chunk))
                    .zip(g.par_chunks(chunk)),
                |(((p, m), v), g): Chunk4<T>| {
                    for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                        *m = *m * c + g;
                        *v = *v * c + g;
                        *p = *p * c + *m + *v;
                    }
                }
            );
        }
        (_, writes) => probe_general(arrays, writes, c, chunk, parallel),
    }
}

fn step_typed<T: Buildable>(args: &StepArgs) -> Result<serde_json::Value> {
    let n = args.size;
    if !(1_000..=1_000_000_000).contains(&n) {
        return Err(downhill::Error::out_of_range("size", n, "[1000, 1e9]").into());
    }
    let mut opt = optim::build::<T>(&args.optimizer, &BuildOptions::default())?;
    let name = opt.name();
    if name == "newton"
        || args.optimizer.contains("lookahead")
        || (name == "nesterov" && !args.optimizer.contains("pytorch"))
    {
        return Err(BadInput(format!(
            "bench step: {} needs the objective; use a gradient-only optimizer (nesterov:form=pytorch)",
            args.optimizer
        ))
        .into());
    }
    let mut params: Vec<T> = (0..n).map(|i| T::from_f64(((i % 1000) as f64 - 500.0) * 1e-3)).collect();
    let grads: Vec<T> = (0..n).map(|i| T::from_f64(((i % 997) as f64 - 498.0) * 1e-4)).collect();
    opt.update(&mut params, &grads)?; // allocate state
    let reps = if n >= 5_000_000 { 9 } else { 31 };
    let (r, w) = access_pattern(opt.as_ref(), n);
    let mut arrays: Vec<Vec<T>> = (0..r).map(|k| vec![T::from_f64(0.001 * k as f64); n]).collect();
    // With several threads, the same step on one thread is a third reference (how much the
    // threads buy). Interleave them so that drift in the machine's speed affects all alike; keep
    // each one's best.
    let one_thread = (rayon::current_num_threads() > 1)
        .then(|| rayon::ThreadPoolBuilder::new().num_threads(1).build())
        .transpose()?;
    let (mut t_opt, mut t_probe, mut t_one) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        t_opt = t_opt.min(best_of(1, || {
            opt.update(&mut params, &grads).expect("sizes match");
            black_box(&params);
        }));
        t_probe = t_probe.min(best_of(1, || {
            probe(&mut arrays, r, w);
            black_box(&arrays);
        }));
        if let Some(pool) = &one_thread {
            t_one = t_one.min(best_of(1, || {
                pool.install(|| opt.update(&mut params, &grads).expect("sizes match"));
                black_box(&params);
            }));
        }
    }
    let bytes = ((r + w) * n * std::mem::size_of::<T>()) as f64;
    let torch = if args.vs_torch {
        let script_args = [
            name,
            &n.to_string(),
            &rayon::current_num_threads().to_string(),
            T::NAME,
            &reps.min(9).to_string(),
        ]
        .map(String::from);
        let t = python_json(&args.python, TORCH_STEP_SCRIPT, &script_args);
        match t {
            Some(mut v) => {
                for variant in ["for_loop", "foreach", "fused", "optax"] {
                    if let Some(ms) = v[variant].as_f64() {
                        v[format!("{variant}_ratio")] = json!(ms / (t_opt * 1e3));
                    }
                }
                v
            }
            None => {
                json!({"error": format!("{} cannot import torch, or PyTorch has no {name}", args.python)})
            }
        }
    } else {
        serde_json::Value::Null
    };
    Ok(json!({
        "torch": torch,
        "optimizer": args.optimizer, "dtype": T::NAME, "size": n, "threads": rayon::current_num_threads(),
        "reads": r, "writes": w,
        "step_ms": t_opt * 1e3, "step_gb_per_s": bytes / t_opt / 1e9,
        "probe_ms": t_probe * 1e3, "probe_gb_per_s": bytes / t_probe / 1e9,
        "ratio_vs_probe": t_probe / t_opt,
        "one_thread_ms": one_thread.as_ref().map(|_| t_one * 1e3),
        "speedup_vs_one_thread": one_thread.as_ref().map(|_| t_one / t_opt),
    }))
}

fn small(args: &SmallArgs) -> Result<serde_json::Value> {
    let steps = args.steps;
    if !(1_000..=1_000_000_000).contains(&steps) {
        return Err(downhill::Error::out_of_range("steps", steps, "[1000, 1e9]").into());
    }
    let f = Rosenbrock { a: 1.0, b: 100.0 };
    let start = [-1.2, 1.0];
    let options = RunOptions { record_every: 0, ..RunOptions::steps(steps) };
    let expr = objectives::from_expression::<f64>("(1-x)^2 + 100*(y-x^2)^2", None)?;
    // Hand-written references: the seed's loop, with the closed-form gradient.
    let hand_gd = || {
        let (mut x, mut y) = (start[0], start[1]);
        for _ in 0..steps {
            let r = y - x * x;
            let gx = -2.0 * (1.0 - x) - 400.0 * x * r;
            let gy = 200.0 * r;
            x -= 1e-4 * gx;
            y -= 1e-4 * gy;
        }
        black_box((x, y));
    };
    let hand_adam = || {
        let (mut p, mut m, mut v) = ([start[0], start[1]], [0.0f64; 2], [0.0f64; 2]);
        let (b1, b2) = (0.9f64, 0.999f64);
        // `1 - beta^t` as the library computes it, including its shortcut: once a correction is
        // exactly 1 it stays 1, and neither side calls pow again.
        let (mut one1, mut one2) = (false, false);
        let correction = |b: f64, t: u64, one: &mut bool| {
            if *one {
                return 1.0;
            }
            let c = optim::bias_correction(b, t as f64);
            *one = c == 1.0;
            c
        };
        for t in 1..=steps {
            let r = p[1] - p[0] * p[0];
            let g = [-2.0 * (1.0 - p[0]) - 400.0 * p[0] * r, 200.0 * r];
            let (bc1, bc2) = (correction(b1, t, &mut one1), correction(b2, t, &mut one2));
            for i in 0..2 {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                p[i] -= 1e-3 * (m[i] / bc1) / ((v[i] / bc2).sqrt() + 1e-8);
            }
        }
        black_box(p);
    };
    let api = |obj: &dyn Objective<f64>, adam: bool| {
        let mut o: Box<dyn Optimizer<f64>> = if adam {
            Box::new(Adam::new(1e-3).expect("valid Adam"))
        } else {
            Box::new(GradientDescent::new(1e-4).expect("valid GD"))
        };
        black_box(minimize(obj, o.as_mut(), &start, &options, None).expect("valid"));
    };
    let reps = 3;
    let rate = |t: f64| steps as f64 / t;
    let (h_gd, h_adam) = (rate(best_of(reps, hand_gd)), rate(best_of(reps, hand_adam)));
    let (a_gd, a_adam) = (rate(best_of(reps, || api(&f, false))), rate(best_of(reps, || api(&f, true))));
    let (e_gd, e_adam) =
        (rate(best_of(reps, || api(expr.as_ref(), false))), rate(best_of(reps, || api(expr.as_ref(), true))));
    Ok(json!({
        "steps": steps,
        "gd": {"hand_written": h_gd, "library": a_gd, "expression": e_gd, "library_ratio": a_gd / h_gd, "expression_ratio": e_gd / h_gd},
        "adam": {"hand_written": h_adam, "library": a_adam, "expression": e_adam, "library_ratio": a_adam / h_adam, "expression_ratio": e_adam / h_adam},
    }))
}

fn sweep(args: &SweepBenchArgs) -> Result<serde_json::Value> {
    match args.dtype {
        Dtype::F64 => sweep_typed::<f64>(args),
        Dtype::F32 => sweep_typed::<f32>(args),
    }
}

fn sweep_typed<T: Buildable>(args: &SweepBenchArgs) -> Result<serde_json::Value> {
    if !(1..=1_000_000).contains(&args.configs) {
        return Err(downhill::Error::out_of_range("configs", args.configs, "[1, 1000000]").into());
    }
    if !(1..=100_000).contains(&args.steps) {
        return Err(downhill::Error::out_of_range("steps", args.steps, "[1, 100000]").into());
    }
    // The optimizer spec of the sweep, as `downhill sweep` takes it.
    let spec = match args.grid.as_str() {
        "lr" => format!("adam:lr=1e-4..1e-1:log:{}", args.configs.max(2)),
        "grid" => {
            let side = (args.configs as f64).sqrt().round().max(2.0) as usize;
            format!("adam:lr=1e-4..1e-1:log:{side},beta1=0.8..0.99:{side}")
        }
        other => return Err(downhill::Error::unknown("grid", other, &["lr", "grid"]).into()),
    };
    let f = Rosenbrock { a: 1.0, b: 100.0 };
    // The configurations, as the sweep builds them.
    let configs: Vec<(f64, f64)> = match args.grid.as_str() {
        "lr" => {
            let n = args.configs.max(2);
            (0..n).map(|i| (10f64.powf(-4.0 + 3.0 * i as f64 / (n - 1) as f64), 0.9)).collect()
        }
        _ => {
            let side = (args.configs as f64).sqrt().round().max(2.0) as usize;
            let lrs = (0..side).map(|i| 10f64.powf(-4.0 + 3.0 * i as f64 / (side - 1) as f64));
            lrs.flat_map(|lr| (0..side).map(move |j| (lr, 0.8 + 0.19 * j as f64 / (side - 1) as f64)))
                .collect()
        }
    };
    let n = configs.len();
    let batch: Vec<downhill::batch::Batchable> = configs
        .iter()
        .map(|&(lr, b1)| {
            let a = Adam::<T>::builder().lr(lr).beta1(b1).build().expect("valid Adam");
            downhill::batch::Batchable::of(&a).expect("Adam is batched")
        })
        .collect();
    let start = vec![T::from_f64(-1.2), T::ONE];
    let starts = vec![start.clone(); n];
    let engine = best_of(5, || {
        black_box(downhill::batch::minimize_batchable(&f, &batch, &starts, args.steps, Some(1e6)));
    });
    // The same work one run at a time through `minimize` (a tenth of it, scaled).
    let sample = (n / 10).max(1);
    let options = RunOptions { bound: Some(1e6), record_every: 0, ..RunOptions::steps(args.steps) };
    let t1 = Instant::now();
    {
        use rayon::prelude::*;
        let r: Vec<f64> = configs[..sample]
            .par_iter()
            .map(|&(lr, b1)| {
                let mut a = Adam::<T>::builder().lr(lr).beta1(b1).build().expect("valid Adam");
                minimize(&f, &mut a, &start, &options, None).map(|r| r.loss.to_f64()).unwrap_or(f64::NAN)
            })
            .collect();
        black_box(r);
    }
    let per_run = t1.elapsed().as_secs_f64() * n as f64 / sample as f64;
    // The whole `downhill sweep` process, output written, as a user runs it.
    let dir = std::env::temp_dir().join(format!("downhill-bench-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let mut process = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let out = std::process::Command::new(&exe)
            .args([
                "sweep",
                "--objective",
                "rosenbrock",
                "--optimizer",
                &spec,
                "--start",
                "-1.2,1",
                "--quiet",
            ])
            .args(["--steps", &args.steps.to_string(), "--dtype", T::NAME, "--threads"])
            .arg(rayon::current_num_threads().to_string())
            .arg("--out")
            .arg(dir.join("sweep.csv"))
            .output()?;
        process = process.min(t.elapsed().as_secs_f64());
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("downhill sweep failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let reference = if args.python == "none" {
        serde_json::Value::Null
    } else {
        let script_args = [args.grid.clone(), n.to_string(), args.steps.to_string()];
        let mut r = python_json(&args.python, SWEEP_SCRIPT, &script_args)
            .unwrap_or_else(|| json!({"error": format!("{} cannot run the numpy reference", args.python)}));
        for key in ["numpy_f64", "numpy_f32", "jax_f64", "jax_f32"] {
            if let Some(secs) = r[key].as_f64() {
                r[format!("{key}_ratio")] = json!(secs / process);
            }
        }
        r
    };
    let config_steps = n as f64 * args.steps as f64;
    Ok(json!({
        "sweep": args.grid, "spec": spec, "configs": n, "steps": args.steps, "dtype": T::NAME,
        "threads": rayon::current_num_threads(),
        "engine_seconds": engine, "config_steps_per_s": config_steps / engine,
        "process_seconds": process,
        "one_at_a_time_seconds": per_run, "speedup_vs_one_at_a_time": per_run / engine,
        "reference": reference,
    }))
}

fn torch_lines(t: &serde_json::Value) -> String {
    if t.is_null() {
        return String::new();
    }
    if let Some(e) = t["error"].as_str() {
        return format!("  PyTorch: not measured ({e})\n");
    }
    let mut s = format!(
        "  PyTorch {}{} on {} thread(s), same size and dtype:\n",
        t["torch"].as_str().unwrap_or(""),
        t["optax_version"].as_str().map(|v| format!(" (and optax {v})")).unwrap_or_default(),
        t["threads"]
    );
    for (variant, label) in [
        ("for_loop", "foreach=False"),
        ("foreach", "foreach=True"),
        ("fused", "fused=True"),
        ("optax", "optax, jax.jit"),
    ] {
        if let (Some(ms), Some(r)) = (t[variant].as_f64(), t[format!("{variant}_ratio")].as_f64()) {
            s.push_str(&format!("    {label:14} {ms:8.2} ms   its time / downhill's time: {r:.2}\n"));
        }
    }
    s
}

pub fn run(args: &BenchArgs) -> Result<String> {
    let (threads, format) = match &args.what {
        BenchWhat::Step(a) => (a.threads, a.format.clone()),
        BenchWhat::Small(a) => (Some(1), a.format.clone()),
        BenchWhat::Sweep(a) => (a.threads, a.format.clone()),
        BenchWhat::Train(a) => (None, a.format.clone()),
        BenchWhat::QuasiNewton(a) => (Some(1), a.format.clone()),
    };
    if format != "table" && format != "json" {
        return Err(downhill::Error::unknown("format", &format, &["table", "json"]).into());
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).build()?;
    let v = pool.install(|| -> Result<serde_json::Value> {
        Ok(match &args.what {
            BenchWhat::Step(a) => match a.dtype {
                Dtype::F32 => step_typed::<f32>(a)?,
                Dtype::F64 => step_typed::<f64>(a)?,
            },
            BenchWhat::Small(a) => small(a)?,
            BenchWhat::Sweep(a) => sweep(a)?,
            BenchWhat::Train(a) => train_bench(a)?,
            BenchWhat::QuasiNewton(a) => quasi_newton(a)?,
        })
    })?;
    if format == "json" {
        return Ok(serde_json::to_string_pretty(&v)? + "\n");
    }
    Ok(match &args.what {
        BenchWhat::Step(_) => format!(
            "{} step, {} x {} elements, {} thread(s)\n  optimizer      {:8.2} ms  {:6.1} GB/s\n  bandwidth probe {:7.2} ms  {:6.1} GB/s  (reads {}, writes {} arrays, same as the step)\n  ratio (probe time / step time): {:.2}\n",
            v["optimizer"].as_str().unwrap_or(""), v["dtype"].as_str().unwrap_or(""), v["size"], v["threads"],
            v["step_ms"].as_f64().unwrap_or(0.0), v["step_gb_per_s"].as_f64().unwrap_or(0.0),
            v["probe_ms"].as_f64().unwrap_or(0.0), v["probe_gb_per_s"].as_f64().unwrap_or(0.0), v["reads"], v["writes"],
            v["ratio_vs_probe"].as_f64().unwrap_or(0.0)
        ) + &match v["speedup_vs_one_thread"].as_f64() {
            Some(x) => format!(
                "  same step on 1 thread {:6.2} ms: speedup {x:.2}\n",
                v["one_thread_ms"].as_f64().unwrap_or(0.0)
            ),
            None => String::new(),
        } + &torch_lines(&v["torch"]),
        BenchWhat::Small(_) => {
            let row = |k: &str| {
                format!(
                    "  {k:5} hand-written {:>7.1} M/s   library {:>7.1} M/s ({:.2}x)   expression {:>6.1} M/s ({:.2}x)\n",
                    v[k]["hand_written"].as_f64().unwrap_or(0.0) / 1e6,
                    v[k]["library"].as_f64().unwrap_or(0.0) / 1e6,
                    v[k]["library_ratio"].as_f64().unwrap_or(0.0),
                    v[k]["expression"].as_f64().unwrap_or(0.0) / 1e6,
                    v[k]["expression_ratio"].as_f64().unwrap_or(0.0)
                )
            };
            format!("2-D Rosenbrock, {} steps, steps per second (1 thread):\n{}{}", v["steps"], row("gd"), row("adam"))
        }
        BenchWhat::Train(_) => {
            let mut text = format!(
                "MLP {:?}, batch {}, Adam, f32, cross-entropy: training samples per second (best of 3 epochs of {} batches)\n",
                v["sizes"].as_array().map(|a| a.iter().filter_map(|x| x.as_u64()).collect::<Vec<_>>()).unwrap_or_default(),
                v["batch"], v["batches"]
            );
            for r in v["rows"].as_array().into_iter().flatten() {
                let torch = match (r["torch_samples_per_s"].as_f64(), r["ratio_vs_torch"].as_f64()) {
                    (Some(p), Some(q)) => format!("   PyTorch {} {:>9.0}/s   ratio {:.2}", r["torch_version"].as_str().unwrap_or(""), p, q),
                    _ => "   PyTorch not installed (pip install torch)".into(),
                };
                text.push_str(&format!("  {} thread(s): downhill {:>9.0}/s{torch}\n", r["threads"], r["downhill_samples_per_s"].as_f64().unwrap_or(0.0)));
            }
            text
        }
        BenchWhat::QuasiNewton(_) => quasi_newton_table(&v),
        BenchWhat::Sweep(_) => {
            let secs = |k: &str| v[k].as_f64().unwrap_or(0.0);
            let mut text = format!(
                "Adam sweep on Rosenbrock ({}), {} configs x {} steps, {}, {} thread(s):\n  engine (minimize_batchable)  {:7.3} s  {:.3e} config-steps/s  ({:.1}x one run at a time through minimize)\n  whole `downhill sweep` process, CSV written  {:.3} s\n",
                v["spec"].as_str().unwrap_or(""), v["configs"], v["steps"], v["dtype"].as_str().unwrap_or(""), v["threads"],
                secs("engine_seconds"), secs("config_steps_per_s"), secs("speedup_vs_one_at_a_time"), secs("process_seconds")
            );
            let r = &v["reference"];
            if let Some(e) = r["error"].as_str() {
                text.push_str(&format!("  reference: not measured ({e})\n"));
            }
            for (key, label) in [("numpy_f64", "numpy f64"), ("numpy_f32", "numpy f32"), ("jax_f64", "JAX f64 jit(vmap(scan))"), ("jax_f32", "JAX f32 jit(vmap(scan))")] {
                if let (Some(t), Some(ratio)) = (r[key].as_f64(), r[format!("{key}_ratio")].as_f64()) {
                    let extra = r[format!("{key}_compile")].as_f64().map(|c| format!(", plus {c:.2} s to compile")).unwrap_or_default();
                    text.push_str(&format!("  {label:24} {t:7.3} s{extra}   its time / downhill's process: {ratio:.2}\n"));
                }
            }
            if r.is_object() && r["jax"].is_null() && r.get("error").is_none() {
                text.push_str("  JAX: not installed\n");
            }
            text
        }
    })
}

fn quasi_newton_table(v: &serde_json::Value) -> String {
    let mut text = format!(
        "{}: evaluations of value and gradient to converge (downhill --tol {}, scipy gtol {})\n",
        v["objective"].as_str().unwrap_or(""),
        v["tol"],
        v["scipy_gtol"]
    );
    let reference = &v["reference"];
    match (reference["scipy"].as_str(), reference["error"].as_str()) {
        (Some(version), _) => text.push_str(&format!("scipy {version} run in the same command\n\n")),
        (None, Some(e)) => text.push_str(&format!("scipy: not measured ({e})\n\n")),
        _ => text.push_str("scipy: skipped (--python none)\n\n"),
    }
    let header = ["dim", "downhill", "evaluations", "loss", "stop", "scipy", "nfev", "loss", "ratio"]
        .map(String::from);
    let mut body = Vec::new();
    for r in v["rows"].as_array().into_iter().flatten() {
        let s = &r["scipy"];
        let hessians = r["hessian_evaluations"].as_u64().unwrap_or(0);
        let evals = if hessians > 0 {
            format!("{} (+{hessians} H)", r["evaluations"])
        } else {
            r["evaluations"].to_string()
        };
        let scipy_evals = match (s["nfev"].as_u64(), s["nhev"].as_u64()) {
            (Some(f), Some(h)) if h > 0 => format!("{f} (+{h} H)"),
            (Some(f), _) => f.to_string(),
            _ => "-".into(),
        };
        body.push(vec![
            r["dim"].to_string(),
            r["method"].as_str().unwrap_or("").to_string(),
            evals,
            format!("{:.2e}", r["loss"].as_f64().unwrap_or(f64::NAN)),
            r["stop"].as_str().unwrap_or("").to_string(),
            r["scipy_method"].as_str().unwrap_or("").to_string(),
            scipy_evals,
            s["loss"].as_f64().map(|l| format!("{l:.2e}")).unwrap_or_else(|| "-".into()),
            r["evaluations_ratio_vs_scipy"].as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()),
        ]);
    }
    text.push_str(&crate::output::table(&header, &body));
    text
}
