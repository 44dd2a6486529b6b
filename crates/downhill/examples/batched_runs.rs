//! Many runs at once from code, with the batched engine: Adam's learning rate (17 values, log-spaced) times its
//! `beta1` (3 values) times 4 start points on the seed's Rosenbrock valley, 204 runs of 1,000
//! steps, all advanced together by the batched engine on every core.
//!
//! Run it with `cargo run --release --example batched_runs` (it is quick in a debug build too).
//!
//! The batched engine performs, run for run, exactly the operations `minimize` would; the
//! example checks that on the best configuration, bit for bit.

use downhill::batch::minimize_batch;
use downhill::prelude::*;

fn main() -> Result<()> {
    let valley = Rosenbrock { a: 1.0, b: 10.0 };
    let steps = 1000;
    let bound = Some(1e6); // stop a run as diverged beyond |param| = 1e6

    // ---- The plan: every (lr, beta1, start) ---------------------------------------------------
    let rates: Vec<f64> = (0..17).map(|i| 10f64.powf(-4.0 + i as f64 / 4.0)).collect(); // 1e-4 ..= 1
    let betas = [0.8, 0.9, 0.95];
    let starts = [[-1.5, 2.5], [2.0, -1.0], [0.0, 0.0], [-1.0, -1.0]];
    let mut configs = Vec::new(); // (lr, beta1, start)
    for &lr in &rates {
        for &beta1 in &betas {
            for start in starts {
                configs.push((lr, beta1, start));
            }
        }
    }

    // ---- Run them all at once -----------------------------------------------------------------
    let optimizers: Vec<Adam<f64>> = configs
        .iter()
        .map(|&(lr, beta1, _)| Adam::builder().lr(lr).beta1(beta1).build())
        .collect::<Result<_>>()?;
    let views: Vec<&dyn Optimizer<f64>> = optimizers.iter().map(|o| o as &dyn Optimizer<f64>).collect();
    let start_points: Vec<Vec<f64>> = configs.iter().map(|c| c.2.to_vec()).collect();
    let results = minimize_batch(&valley, &views, &start_points, steps, bound)
        .expect("plain Adam with a constant rate is one of the batched engine's kinds");
    assert_eq!(results.len(), 17 * 3 * 4);

    // ---- A table: the worst final loss over the 4 starts, per (lr, beta1) ----------------------
    // (the worst start, because a rate should work from anywhere)
    println!("worst final loss over 4 starts after {steps} steps (Adam on rosenbrock:a=1,b=10)");
    println!("{:>9}  {:>10}  {:>10}  {:>10}", "lr", "beta1=0.8", "beta1=0.9", "beta1=0.95");
    let mut best = (f64::INFINITY, 0usize); // (worst-start loss, index of the first of its 4 runs)
    for (i, &lr) in rates.iter().enumerate() {
        print!("{lr:>9.2e}");
        for j in 0..betas.len() {
            let first = (i * betas.len() + j) * starts.len();
            let group = &results[first..first + starts.len()];
            let worst = group.iter().map(|r| r.loss).fold(f64::NEG_INFINITY, f64::max);
            let diverged = group.iter().any(|r| r.stop != StopReason::MaxSteps);
            print!("  {:>10}", if diverged { "diverged".to_string() } else { format!("{worst:.2e}") });
            if !diverged && worst < best.0 {
                best = (worst, first);
            }
        }
        println!();
    }
    let (lr, beta1, _) = configs[best.1];
    println!("best: lr {lr:.3e}, beta1 {beta1} (worst final loss {:.2e})", best.0);

    // PyTorch's default rate, 1e-3, is far too slow here: the sweep finds a much better one.
    let default_group = (4 * betas.len() + 1) * starts.len(); // lr = 1e-3, beta1 = 0.9
    assert!((configs[default_group].0 - 1e-3).abs() < 1e-15 && configs[default_group].1 == 0.9);
    let default_worst = results[default_group..default_group + 4].iter().map(|r| r.loss).fold(0.0, f64::max);
    println!("Adam's default (lr 1e-3, beta1 0.9): worst final loss {default_worst:.2e}");
    assert!(best.0 < default_worst * 1e-3);

    // ---- Check the engine against the plain run loop, bit for bit -----------------------------
    for k in best.1..best.1 + starts.len() {
        let mut adam = optimizers[k].clone();
        let options = RunOptions { bound, record_every: 0, ..RunOptions::steps(steps) };
        let single = minimize(&valley, &mut adam, &start_points[k], &options, None)?;
        assert_eq!(single.loss.to_bits(), results[k].loss.to_bits());
        assert_eq!(single.params, results[k].params);
    }
    println!("the best configuration's 4 runs are bit-identical to minimize()");
    Ok(())
}
