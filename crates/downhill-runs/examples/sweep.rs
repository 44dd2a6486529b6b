//! A hyperparameter sweep from code: plan, shard (from a Slurm array or Kubernetes Indexed Job
//! when run in one), run with a resumable journal, write the CSV, print the best run.
//!
//! `cargo run -p downhill-runs --example sweep`

use downhill::objectives;
use downhill_runs::sweep::{grid_starts, Plan, Shard, Sweep, Table};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10")?;
    // 7 learning rates x 3 beta1 values, from a 3 x 3 grid of starts: 189 runs of 300 steps.
    let plan = Plan::new(&["adam:lr=1e-4..1e-1:log:7,beta1=0.8|0.9|0.95"])?;
    let starts = grid_starts(f.domain().ok_or("no plotting domain")?, 3, 3);
    let shard = Shard::from_env(None)?.unwrap_or(Shard::ALL);
    let sweep = Sweep::new(plan, starts, 300, 1e6)?.with_shard(shard);
    let dir = std::env::temp_dir().join(format!("downhill-sweep-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("results.csv");
    // Journaled beside the output every second: a killed process started again skips the runs done.
    let mut done = sweep.execute(f.as_ref(), "rosenbrock:a=1,b=10", &f.minima(), Some((&out, 1.0)), &())?;
    downhill_runs::output::write_atomic_parts(&out, &Table::new(&sweep).csv(&done.rows)?)?;
    done.remove_journal();
    let best = done.rows.iter().min_by(|a, b| a.loss.total_cmp(&b.loss)).ok_or("no runs")?;
    println!(
        "{} runs (shard {}/{}), wrote {}\nbest: {} from {:?}: loss {:e} after {} evaluations",
        done.rows.len(),
        shard.index,
        shard.count,
        out.display(),
        sweep.plan().spec(sweep.config_of(best.index)),
        sweep.start_of(best.index),
        best.loss,
        best.evaluations
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
