//! `downhill sweep` and `downhill merge`: many runs, in parallel, optionally sharded across machines.
//!
//! The plan, sharding, journal, batched runner and rows are [`downhill_runs::sweep`]'s; this file
//! parses the arguments, calls it and prints.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use downhill::StopReason;
use downhill_runs::sweep::{self, Monitor, Plan, Row, Shard, Sweep, Table};

use crate::cmd_run::Dtype;
use crate::objective_args::{point_or_default, ObjectiveArgs};
use crate::output::write_atomic_parts;
use downhill_cli::runs_error;

use crate::{plot, BadInput};

#[derive(Args, Debug)]
#[command(
    allow_negative_numbers = true,
    after_help = "Ranges in optimizer specs:\n  \
    lr=1e-4..1e-1:log:13     13 log-spaced values, ends included\n  \
    beta=0.5..0.99:5         5 evenly spaced values (also a..b:lin:n)\n  \
    beta1=0.8|0.9|0.95       a list\n\
    Starts: --start X,Y (one), --starts grid:7x7 (over the plotting domain) or random:100[:seed=1].\n\
    Shards: --shard I/N runs every N-th configuration from I; without it, SLURM_ARRAY_TASK_ID and\n  \
    SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) with --shards N, are used.\n\n\
    Example:\n  downhill sweep --objective rosenbrock:a=1,b=10 --optimizer 'adam:lr=1e-4..1e-1:log:13,beta1=0.8|0.9|0.95' \\\n      \
    --starts grid:7x7 --steps 500 --out results.csv --heatmap heat.png"
)]
pub struct SweepArgs {
    #[command(flatten)]
    pub landscape: ObjectiveArgs,
    #[arg(
        long = "optimizer",
        value_name = "SPEC",
        required = true,
        help = crate::cmd_list::optimizer_help("Optimizer spec with ranges; repeat to sweep several optimizers")
    )]
    pub optimizers: Vec<String>,
    /// One start point (default: the objective's usual start).
    #[arg(long, value_name = "X,Y,...", allow_hyphen_values = true, conflicts_with = "starts")]
    pub start: Option<String>,
    /// Many start points: grid:NxM over the plotting domain, or random:N[:seed=S].
    #[arg(long, value_name = "SPEC")]
    pub starts: Option<String>,
    /// Updates per run.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Stop a run as diverged once any |parameter| exceeds B.
    #[arg(long, value_name = "B", default_value_t = 1e6)]
    pub bound: f64,
    /// Output file: .csv or .json.
    #[arg(long)]
    pub out: PathBuf,
    /// Run only shard I of N (0-based), e.g. 3/8.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Number of shards when the index comes from JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Draw the best final loss over the first two swept hyperparameters (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub heatmap: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Seconds between journal writes, which let a killed sweep resume; a kill loses at most this
    /// much work. 0 writes after every chunk of 1024 runs.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub journal_secs: f64,
    /// Precision of the runs: f64 (default, the seed's numpy precision) or f32 (twice the vector
    /// width; each run bit-identical to `downhill run --dtype f32`). Output is written as f64.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
}

/// The progress bar, and warnings printed above it.
struct Progress(indicatif::ProgressBar);

impl Monitor for Progress {
    fn advance(&self, runs: u64) {
        self.0.inc(runs);
    }
    fn warning(&self, message: &str) {
        self.0.suspend(|| eprintln!("warning: {message}"));
    }
}

pub fn run(args: &SweepArgs) -> Result<String> {
    // One pool for everything, the set-up included.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    pool.install(|| run_in_pool(args))
}

fn run_in_pool(args: &SweepArgs) -> Result<String> {
    let objective = args.landscape.build::<f64>()?;
    let plan = Plan::new(&args.optimizers).map_err(runs_error)?;
    let swept = plan.swept().to_vec();
    let starts = match &args.starts {
        Some(text) => sweep::parse_starts("--starts", text, objective.dim(), objective.domain()),
        None => Ok(vec![point_or_default("start", args.start.as_deref(), objective.as_ref())?]),
    }
    .map_err(runs_error)?;
    let sweep = Sweep::new(plan, starts, args.steps, args.bound).map_err(runs_error)?;
    let shard = Shard::resolve("--shard", args.shard.as_deref(), args.shards).map_err(runs_error)?;
    let sweep = sweep.with_shard(shard);
    // Every output is checked before the first run.
    if let Some(path) = &args.heatmap {
        plot::check_extension(path, "heatmap")?;
        crate::output::check_output("--heatmap", path)?;
        if swept.len() < 2 {
            return Err(too_few_swept(&swept));
        }
    }
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "parquet" {
        return Err(BadInput(format!(
            "--out: {}: Parquet output was dropped (see the README's Sweeps section); write .csv and \
             convert it, e.g. python -c \"import pandas as pd; pd.read_csv('x.csv').to_parquet('x.parquet')\"",
            args.out.display()
        ))
        .into());
    }
    if !["csv", "json"].contains(&ext.as_str()) {
        return Err(BadInput(format!(
            "--out: {}: the file name must end in .csv or .json",
            args.out.display()
        ))
        .into());
    }
    crate::output::check_output("--out", &args.out)?;
    if !(args.journal_secs >= 0.0 && args.journal_secs.is_finite()) {
        return Err(downhill::Error::out_of_range("journal-secs", args.journal_secs, "[0, inf)").into());
    }
    let minima = objective.minima();
    let name = format!("{}|{}", objective.name(), objective.formula());
    let journal = Some((args.out.as_path(), args.journal_secs));
    let bar = Progress(crate::output::progress(sweep.runs().len() as u64, "runs", args.quiet));
    let t0 = std::time::Instant::now();
    let mut outcome = match args.dtype {
        Dtype::F32 => {
            let objective32 = args.landscape.build::<f32>()?;
            sweep.execute(objective32.as_ref(), &name, &minima, journal, &bar)
        }
        Dtype::F64 => sweep.execute(objective.as_ref(), &name, &minima, journal, &bar),
    }
    .map_err(runs_error)?;
    bar.0.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    let rows = &std::mem::take(&mut outcome.rows);
    let table = Table::new(&sweep);
    let parts: Vec<Vec<u8>> = match ext.as_str() {
        "csv" => table.csv(rows).map_err(runs_error)?,
        _ => vec![(serde_json::to_string_pretty(&table.json(rows, &objective.name()))? + "\n").into_bytes()],
    };
    write_atomic_parts(&args.out, &parts)?;
    outcome.remove_journal();
    if let Some(path) = &args.heatmap {
        heatmap(&sweep, rows, objective.name(), path)?;
    }
    let best = rows.iter().filter(|r| r.loss.is_finite()).min_by(|a, b| a.loss.total_cmp(&b.loss));
    let mut s = String::new();
    if outcome.resumed > 0 {
        s.push_str(&format!(
            "resumed: {} runs were already done (from {}.journal)\n",
            outcome.resumed,
            args.out.display()
        ));
    }
    let (total, shard) = (sweep.total(), sweep.shard());
    s.push_str(&format!(
        "{} runs{} ({} configurations x {} starts), {} steps each, in {:.2} s: {:.3e} steps/s\nwrote {}\n",
        rows.len(),
        if shard.count > 1 {
            format!(" of {total} (shard {}/{})", shard.index, shard.count)
        } else {
            String::new()
        },
        sweep.plan().len(),
        sweep.starts().len(),
        args.steps,
        elapsed,
        rows.iter().map(|r| r.steps as f64).sum::<f64>() / elapsed.max(1e-9),
        args.out.display()
    ));
    if let Some(b) = best {
        s.push_str(&format!(
            "best: {} from ({}) -> loss {:e} ({})\n",
            sweep.plan().spec(sweep.config_of(b.index)),
            sweep.start_of(b.index).iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", "),
            b.loss,
            b.stop.as_str()
        ));
    }
    if let Some(p) = &args.heatmap {
        s.push_str(&format!("heatmap: {}\n", p.display()));
    }
    Ok(s)
}

fn too_few_swept(swept: &[String]) -> anyhow::Error {
    BadInput(format!(
        "--heatmap needs two swept hyperparameters; this sweep varies {}",
        if swept.is_empty() { "none".to_string() } else { swept.join(", ") }
    ))
    .into()
}

fn heatmap(sweep: &Sweep, rows: &[Row], title: String, path: &std::path::Path) -> Result<()> {
    let swept = sweep.plan().swept();
    if swept.len() < 2 {
        return Err(too_few_swept(swept));
    }
    let (kx, ky) = (&swept[0], &swept[1]);
    let value = |r: &Row, k: &str| {
        sweep.plan().value(sweep.config_of(r.index), k).and_then(|s| s.parse::<f64>().ok())
    };
    let axis = |k: &String| {
        let mut v: Vec<f64> = rows.iter().filter_map(|r| value(r, k)).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let (xs, ys) = (axis(kx), axis(ky));
    let mut best = vec![f64::INFINITY; xs.len() * ys.len()];
    for r in rows {
        let (Some(x), Some(y)) = (value(r, kx), value(r, ky)) else {
            continue;
        };
        let (Some(i), Some(j)) = (xs.iter().position(|v| *v == x), ys.iter().position(|v| *v == y)) else {
            continue;
        };
        if r.loss.is_finite() && r.stop != StopReason::Diverged {
            best[j * xs.len() + i] = best[j * xs.len() + i].min(r.loss);
        }
    }
    let title = format!("{title}: best final loss");
    let picture = plot::Heatmap { title: &title, xlabel: kx, ylabel: ky, xs: &xs, ys: &ys, values: &best };
    Ok(plot::save(&picture, path)?)
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  downhill merge shard0.csv shard1.csv shard2.csv -o all.csv")]
pub struct MergeArgs {
    /// Shard outputs of one sweep (CSV).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The merged file.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Joins shard CSVs, checking that together they hold every run exactly once.
pub fn merge(args: &MergeArgs) -> Result<String> {
    let n = sweep::merge(&args.inputs, &args.output).map_err(runs_error)?;
    Ok(format!("merged {n} runs from {} files into {}\n", args.inputs.len(), args.output.display()))
}
