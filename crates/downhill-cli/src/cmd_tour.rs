//! `downhill tour`: the seeds in one command.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use downhill::compare::{compare, CompareOptions, Comparison};

use crate::cmd_compare;
use crate::cmd_figures;
use crate::output::write_atomic;
use crate::plot;

#[derive(Args, Debug)]
pub struct TourArgs {
    /// Directory for everything the tour writes.
    #[arg(long, default_value = "downhill-tour")]
    pub out: PathBuf,
}

/// The seed's optimizers and their classic relatives, in their default form (the training-era ones,
/// NAdam, RAdam, Schedule-Free AdamW, Adafactor and Muon, appear in the training section and in
/// `downhill compare`).
const ALL: [&str; 9] =
    ["gd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad", "lion", "newton"];

/// The other first-order methods of torch.optim and optax, raced on the figure 1 landscape in a
/// figure of their own (ten lines, one color each).
const MORE: [&str; 10] =
    ["adamax", "adadelta", "rprop", "asgd", "adabelief", "adan", "lamb", "lars", "yogi", "novograd"];

/// The optimizers of the training section, each at its usual rate for an MLP.
const TRAINING: [&str; 6] = [
    "adam:lr=1e-3",
    "adamw:lr=1e-3",
    "momentum:lr=0.01",
    "rmsprop:lr=1e-3",
    "sf-adamw:lr=1e-3",
    "muon:lr=0.01",
];

pub fn run(args: &TourArgs) -> Result<String> {
    let dir = &args.out;
    let mut s = String::from(
        "downhill tour: the seed article's figures, its optimizers on its landscapes, and training\n\n",
    );
    let (written, notes) = cmd_figures::write_all(&dir.join("figures"))?;
    s.push_str("1. The seed's three figures, recomputed (what the data say about the captions):\n");
    for (name, ns) in &notes {
        s.push_str(&format!("   {name}\n"));
        for n in ns {
            s.push_str(&format!("     - {n}\n"));
        }
    }
    let mut files = written;
    let landscapes = [
        (
            "rosenbrock",
            "rosenbrock:a=1,b=10",
            &[-1.5, 2.5][..],
            200u64,
            "the seed's figure 1 landscape, start and budget",
        ),
        (
            "quadratic",
            "quadratic:a=50,b=1",
            &[1.0, 1.0][..],
            100,
            "the seed's figure 2 landscape (kappa = 50), start and budget",
        ),
    ];
    for (k, (tag, spec, start, steps, about)) in landscapes.iter().enumerate() {
        let race = |optimizers: &[&str]| -> Result<Comparison> {
            let specs: Vec<String> = optimizers.iter().map(|s| s.to_string()).collect();
            let options = CompareOptions { steps: *steps, tune_lr: true, ..CompareOptions::default() };
            Ok(compare(downhill::objectives::build::<f64>(spec)?, &specs, start.to_vec(), &options)?)
        };
        let c = race(&ALL)?;
        s.push_str(&format!(
            "\n{}. The seed's optimizers and their classic relatives, learning rate tuned, on {about}:\n\n",
            k + 2
        ));
        for line in cmd_compare::to_table(&c).lines() {
            s.push_str(&format!("   {line}\n"));
        }
        if *tag == "quadratic" {
            s.push_str(
                "\n   Read with care: 50x^2 + y^2 is axis-aligned, and AdaGrad, RMSprop and Lion scale each coordinate \
                 by its own\n   gradient size, so they do not feel its condition number at all (and from (1, 1) their \
                 first, equal-sized\n   steps aim straight at the optimum). Rotate the same bowl 45 degrees (same \
                 eigenvalues 2 and 100) and the\n   advantage is gone; momentum wins:\n     downhill compare --expr \
                 '25.5*x^2 + 25.5*y^2 + 49*x*y' --start 1,0.3 --steps 100 --tune-lr \\\n       --optimizer gd \
                 --optimizer momentum --optimizer rmsprop --optimizer adagrad --optimizer adam\n",
            );
        }
        for ext in ["png", "svg"] {
            let path = dir.join(format!("compare_{tag}.{ext}"));
            plot::save(&cmd_compare::figure(&c), &path)?;
            files.push(path);
        }
        let path = dir.join(format!("compare_{tag}.json"));
        write_atomic(&path, (serde_json::to_string_pretty(&c)? + "\n").as_bytes())?;
        files.push(path);
        if *tag == "rosenbrock" {
            let c = race(&MORE)?;
            s.push_str("\n   And the other first-order methods of PyTorch (adamax to asgd) and optax, tuned the same way:\n\n");
            for line in cmd_compare::to_table(&c).lines() {
                s.push_str(&format!("   {line}\n"));
            }
            for ext in ["png", "svg"] {
                let path = dir.join(format!("compare_{tag}_more.{ext}"));
                plot::save(&cmd_compare::figure(&c), &path)?;
                files.push(path);
            }
            let path = dir.join(format!("compare_{tag}_more.json"));
            write_atomic(&path, (serde_json::to_string_pretty(&c)? + "\n").as_bytes())?;
            files.push(path);
        }
    }
    // The network checks at reduced size, to keep the tour short; `downhill theory` runs them in full.
    let checks = downhill_theory::run_checks(&[], downhill_theory::Effort::Quick)?;
    s.push_str(&format!(
        "\n4. The theory lab: every claim of the seeds, checked by experiment ({}):\n\n",
        crate::cmd_theory::summary(&checks)
    ));
    for c in &checks {
        s.push_str(&format!("   {:28} {}\n", c.id, c.verdict.as_str()));
    }
    s.push_str("   (network checks at reduced size here; in full: `downhill theory`; plots and reasoning in the report below)\n");
    files.extend(crate::cmd_theory::write_report(&checks, &dir.join("theory"))?);
    // 5. Training: the same optimizers on real data.
    let train_plot = dir.join("train_winequality.png");
    let train_log = dir.join("train_winequality.jsonl");
    let data = downhill_train::builtin("winequality")?;
    let config = downhill_train::TrainConfig {
        optimizers: TRAINING.map(String::from).to_vec(),
        ..downhill_train::TrainConfig::default()
    };
    let session = downhill_train::Session::new(&data, &config)?;
    let outcomes = session.train::<f32>(|_, _| {})?;
    let summary = crate::cmd_train::header(&session, &data) + &crate::cmd_train::summary(&outcomes, true);
    crate::cmd_train::write_outputs(
        Some(&train_log),
        Some(&train_plot),
        &outcomes,
        true,
        &data.name,
        session.batches,
    )?;
    s.push_str("\n5. Training an MLP on real data (red wine quality, 6 classes; same split, initialization and batches):\n\n");
    for line in summary.lines() {
        s.push_str(&format!("   {line}\n"));
    }
    s.push_str("   (more: `downhill train --help`; `downhill serve` opens the playground in a browser)\n");
    files.push(train_log);
    files.push(train_plot);
    s.push_str("\nFiles:\n");
    for f in &files {
        s.push_str(&format!("   {}\n", f.display()));
    }
    s.push_str(
        "\nNext: `downhill theory` for the verdicts in full, `downhill compare --help` to race optimizers on any objective or formula, \
         `downhill analyze --objective himmelblau` for the geometry, `downhill optimizers` for every update rule.\n",
    );
    Ok(s)
}
