//! Checkpoint and resume: stop a run half way, save everything needed to continue to a file,
//! load it into a fresh optimizer, finish, and get bit for bit the run that never stopped.
//!
//! Run it with `cargo run --example checkpoint_resume`.
//!
//! What must be saved: the parameters and the optimizer's state (its step count, which the
//! schedule reads, and its buffers: Adam's two moments). `OptimizerState` is plain serde data;
//! JSON round-trips every float exactly (serde_json's `float_roundtrip`).

use std::path::Path;

use downhill::prelude::*;
use serde::{Deserialize, Serialize};

/// The file's contents.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    params: Vec<f64>,
    optimizer: OptimizerState<f64>,
}

/// Adam with a warmup + cosine schedule over 1,000 steps: the schedule makes the step count part
/// of the state that matters.
fn optimizer() -> Adam<f64> {
    Adam::builder()
        .lr(Schedule::warmup_cosine(0.05, 1e-4, 50, 1000).expect("a valid schedule"))
        .build()
        .expect("a valid schedule")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let valley = Rosenbrock { a: 1.0, b: 10.0 };
    let start = [-1.5, 2.5];
    let quiet = |steps| RunOptions { record_every: 0, ..RunOptions::steps(steps) };

    // ---- The reference: 1,000 steps without a stop --------------------------------------------
    let uninterrupted = minimize(&valley, &mut optimizer(), &start, &quiet(1000), None)?;

    // ---- 400 steps, then a checkpoint ---------------------------------------------------------
    let mut adam = optimizer();
    let first = minimize(&valley, &mut adam, &start, &quiet(400), None)?;
    let path = std::env::temp_dir().join(format!("downhill-example-{}.json", std::process::id()));
    save(&path, &Checkpoint { params: first.params, optimizer: adam.state() })?;
    drop(adam); // the process could end here
    println!("stopped after 400 steps, saved {} ({} bytes)", path.display(), std::fs::metadata(&path)?.len());

    // ---- Later: load it into a fresh optimizer and take the remaining 600 steps ----------------
    let checkpoint = load(&path)?;
    std::fs::remove_file(&path)?;
    let mut resumed = optimizer();
    resumed.load_state(checkpoint.optimizer)?;
    assert_eq!(resumed.steps(), 400);
    let second = minimize(&valley, &mut resumed, &checkpoint.params, &quiet(600), None)?;

    println!("uninterrupted: {:?}  loss {:e}", uninterrupted.params, uninterrupted.loss);
    println!("resumed:       {:?}  loss {:e}", second.params, second.loss);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&second.params), bits(&uninterrupted.params));
    assert_eq!(second.loss.to_bits(), uninterrupted.loss.to_bits());
    println!("bit-identical");

    // Without the optimizer's state, the schedule starts its warmup again and the moments are
    // zero: the continuation differs.
    let forgetful = minimize(&valley, &mut optimizer(), &checkpoint.params, &quiet(600), None)?;
    assert_ne!(bits(&forgetful.params), bits(&uninterrupted.params));
    println!(
        "(resuming the parameters alone, without the optimizer's state, ends elsewhere: {:?})",
        forgetful.params
    );
    Ok(())
}

/// Writes the checkpoint to a temporary file beside `path`, then renames it into place, so that a
/// crash while writing leaves the previous checkpoint whole.
fn save(path: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, serde_json::to_vec(checkpoint)?)?;
    std::fs::rename(&temporary, path)
}

fn load(path: &Path) -> std::io::Result<Checkpoint> {
    Ok(serde_json::from_slice(&std::fs::read(path)?)?)
}
