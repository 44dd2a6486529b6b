//! The library entry points the command line, the server and the tour call: the run document,
//! comparisons, training sessions and the theory checks. Each is checked against the same work
//! written out with the lower-level API.

use downhill::compare::{compare, lr_grid, CompareOptions};
use downhill::optim::{self, BuildOptions};
use downhill::report::{RunDocument, RunHeader, RunSummary, TrajectoryPoint};
use downhill::train::{self, Dataset, Model, Session, Target, TrainConfig, Trainer};
use downhill::{minimize, objectives, Error, RunOptions};

/// A run document writes the same text straight to a stream as through a `serde_json::Value`
/// (which holds numbers as f64): f32 numbers are widened, not printed at f32 precision.
#[test]
fn the_run_document_streams_what_a_value_tree_holds() {
    let f = objectives::build::<f32>("rosenbrock:a=1,b=10").unwrap();
    let mut opt = optim::build::<f32>("asgd:lr=0.01", &BuildOptions::default()).unwrap();
    let start = [-1.5, 2.5];
    let start32 = [-1.5f32, 2.5];
    let r = minimize(f.as_ref(), opt.as_mut(), &start32, &RunOptions::steps(30), None).unwrap();
    let doc = RunDocument::new(f.as_ref(), opt.as_ref(), &start, &r);
    let streamed = serde_json::to_string_pretty(&doc).unwrap();
    let tree = serde_json::to_string_pretty(&serde_json::to_value(&doc).unwrap()).unwrap();
    assert_eq!(streamed, tree);
    let v: serde_json::Value = serde_json::from_str(&streamed).unwrap();
    // f32 numbers widened exactly to f64, not printed at f32 precision.
    let p1 = &v["trajectory"][1];
    assert_eq!(p1["params"][0].as_f64().unwrap(), r.trajectory[1].params[0] as f64);
    assert_eq!(v["trajectory"].as_array().unwrap().len(), r.trajectory.len());
    assert_eq!(v["loss"].as_f64().unwrap(), r.loss as f64);
    // ASGD answers with its average (`eval_params`), which the document carries beside the iterate.
    let avg = opt.eval_params(&r.params).unwrap();
    assert_eq!(v["eval_params"][0].as_f64().unwrap(), avg[0] as f64);
    assert_eq!(v["eval_loss"].as_f64().unwrap(), f.value(&avg) as f64);
    // The streamed pieces (header, points, summary) carry the document's own values.
    let header = serde_json::to_value(RunHeader::new(f.as_ref(), opt.as_ref(), &start)).unwrap();
    for key in ["objective", "optimizer", "dtype", "start"] {
        assert_eq!(header[key], v[key], "{key}");
    }
    let summary = serde_json::to_value(RunSummary::new(f.as_ref(), &r)).unwrap();
    for (key, value) in summary.as_object().unwrap() {
        assert_eq!(value, &v[key], "{key}");
    }
    let point = serde_json::to_value(TrajectoryPoint::of(&r.trajectory[7])).unwrap();
    assert_eq!(point, v["trajectory"][7]);
}

/// A comparison is each spec run by `minimize` (at the tuned rate when tuning), its tolerance
/// step the first in the full trajectory within `tol` of the minimum.
#[test]
fn a_comparison_is_the_runs_written_out() {
    let spec = "quadratic:a=50,b=1";
    let specs = ["gd:lr=0.005".to_string(), "momentum:lr=0.002".to_string()];
    let options = CompareOptions { steps: 1000, tol: 1e-4, ..CompareOptions::default() };
    let c = compare(objectives::build::<f64>(spec).unwrap(), &specs, vec![1.0, 1.0], &options).unwrap();
    let f = objectives::build::<f64>(spec).unwrap();
    for (entry, spec) in c.entries.iter().zip(&specs) {
        let mut opt = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        let r = minimize(f.as_ref(), opt.as_mut(), &[1.0, 1.0], &RunOptions::steps(1000), None).unwrap();
        assert_eq!(entry.result.params, r.params, "{spec}");
        assert_eq!(entry.result.trajectory, r.trajectory, "{spec}");
        let first = r.trajectory.iter().find(|p| p.loss <= 1e-4).map(|p| p.step);
        assert!(first.is_some(), "{spec}");
        assert_eq!(entry.reached_at, first, "{spec}");
        assert_eq!(entry.lr, opt.learning_rate());
    }
    // Tuning picks, over the grid, the rate whose run ends lowest: checked by running them all.
    let tuned = compare(
        objectives::build::<f64>(spec).unwrap(),
        &["gd".to_string()],
        vec![1.0, 1.0],
        &CompareOptions { steps: 50, tune_lr: true, ..CompareOptions::default() },
    )
    .unwrap();
    let best = lr_grid()
        .into_iter()
        .filter_map(|lr| {
            let mut opt = optim::build::<f64>(&format!("gd:lr={lr}"), &BuildOptions::default()).unwrap();
            let options = RunOptions { bound: Some(1e6), ..RunOptions::steps(50) };
            let r = minimize(f.as_ref(), opt.as_mut(), &[1.0, 1.0], &options, None).unwrap();
            (r.stop == downhill::StopReason::MaxSteps).then_some((r.loss, lr))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert_eq!(tuned.entries[0].lr, best.1);
    // Thinned, a long run keeps round steps and its end, each point the full run's.
    let long = compare(
        objectives::build::<f64>(spec).unwrap(),
        &["gd:lr=1e-5".to_string()],
        vec![1.0, 1.0],
        &CompareOptions { steps: 25_003, keep_every_point: false, ..CompareOptions::default() },
    )
    .unwrap();
    let kept = &long.entries[0].result.trajectory;
    assert!(kept.len() <= 10_001 && kept.len() > 2_000, "{}", kept.len());
    assert!(kept[..kept.len() - 1].iter().all(|p| p.step % 10 == 0));
    assert_eq!(kept.last().unwrap().step, 25_003);
    // A bad spec is refused before anything runs.
    let e = compare(
        objectives::build::<f64>(spec).unwrap(),
        &["gd".to_string(), "adma".to_string()],
        vec![1.0, 1.0],
        &CompareOptions::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("did you mean 'adam'"), "{e}");
}

fn toy() -> Dataset {
    let features: Vec<f64> = (0..120).flat_map(|i| [(i % 17) as f64 / 17.0, (i % 5) as f64 / 5.0]).collect();
    let labels = features.chunks(2).map(|x| u32::from(x[0] > x[1])).collect();
    Dataset {
        name: "toy".into(),
        features,
        dim: 2,
        feature_names: vec!["x0".into(), "x1".into()],
        target: Target::Classes { labels, names: vec!["no".into(), "yes".into()] },
    }
}

/// A session trains each optimizer exactly as a `Trainer` set up by hand on the same split,
/// model and seed.
#[test]
fn a_training_session_is_the_trainer_loop_written_out() {
    let data = toy();
    let config = TrainConfig {
        model: "mlp:hidden=8".into(),
        optimizers: vec!["adam".into(), "adamw:weight_decay=0.1".into()],
        schedule: Some("cosine:max=0.02,total=auto".into()),
        batch: 16,
        epochs: 4,
        seed: 3,
        decay_biases: false,
        ..TrainConfig::default()
    };
    let mut seen = 0;
    let outcomes = train::train::<f64>(&data, &config, |_, _| seen += 1).unwrap();
    assert_eq!(seen, 8);
    let (tr, val) = data.split(0.2, 3).unwrap();
    let batches = tr.len().div_ceil(16);
    let schedule = downhill::Schedule::parse(&format!("cosine:max=0.02,total={}", batches * 4)).unwrap();
    for (o, spec) in outcomes.iter().zip(&config.optimizers) {
        let model = Model::parse("mlp:hidden=8", 2, &data.target).unwrap();
        let build = BuildOptions { schedule: Some(schedule.clone()) };
        let opt = train::build_optimizer::<f64>(spec, &build, &model, false).unwrap();
        let mut t = Trainer::new(&tr, &val, model, opt, 16, 3).unwrap();
        for _ in 0..4 {
            t.epoch().unwrap();
        }
        let strip = |h: &[train::EpochStats]| -> Vec<(u64, f64, Option<f64>)> {
            h.iter().map(|e| (e.epoch, e.train_loss, e.val_loss)).collect()
        };
        assert_eq!(strip(&o.history), strip(t.history()), "{spec}");
        assert!(o.error.is_none());
    }
    // Errors about one setting name it.
    let bad = TrainConfig { model: "mlp:hidden=0".into(), ..config.clone() };
    match Session::new(&data, &bad) {
        Err(Error::Setting { setting, error }) => {
            assert_eq!(setting, "model");
            assert!(error.to_string().contains("model.hidden: 0 is not in"), "{error}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let bad = TrainConfig { optimizers: vec!["adam:lr=-1".into()], schedule: None, ..config.clone() };
    let e = Session::new(&data, &bad).unwrap().start::<f64>("adam:lr=-1").err().unwrap();
    assert_eq!(e.to_string(), "optimizer: adam.lr: -1 is not in (0, inf)");
    let bad = TrainConfig { validation: 1.0, ..config.clone() };
    assert_eq!(Session::new(&data, &bad).err().unwrap().to_string(), "validation: 1 is not in [0, 1)");
    let bad = TrainConfig { reduce_on_plateau: Some(String::new()), ..config };
    assert!(Session::new(&data, &bad).err().unwrap().to_string().starts_with("reduce_on_plateau: sets the"));
}

/// ReduceLROnPlateau in a session lowers the rate when the validation loss stalls, as the
/// scheduler stepped by hand on the same losses says.
#[test]
fn a_session_lowers_the_rate_on_a_plateau_as_the_scheduler_says() {
    let data = toy();
    let config = TrainConfig {
        model: "softmax".into(),
        optimizers: vec!["gd:lr=0.5".into()],
        reduce_on_plateau: Some("factor=0.5,patience=0,threshold=0.5".into()),
        batch: 8,
        epochs: 5,
        ..TrainConfig::default()
    };
    let session = Session::new(&data, &config).unwrap();
    let mut run = session.start::<f64>("gd:lr=0.5").unwrap();
    let mut scheduler =
        downhill::schedule::ReduceOnPlateau::parse("factor=0.5,patience=0,threshold=0.5").unwrap();
    let mut lr = 0.5;
    let mut lowered_any = false;
    for _ in 0..5 {
        let (stats, lowered) = run.epoch().unwrap();
        let next = scheduler.step(stats.val_loss.unwrap(), lr);
        assert_eq!(lowered, (next != lr).then_some(next));
        lowered_any |= lowered.is_some();
        lr = next;
        assert_eq!(run.trainer.optimizer().learning_rate(), lr);
    }
    assert!(lowered_any);
}

#[test]
fn theory_checks_run_in_the_order_given_and_unknown_ids_are_refused_first() {
    use downhill::theory::{run_checks, Effort, IDS};
    let ids = ["momentum-window".to_string(), "optimal-lr-quadratic".to_string()];
    let checks = run_checks(&ids, Effort::Quick).unwrap();
    assert_eq!(checks.iter().map(|c| c.id).collect::<Vec<_>>(), ["momentum-window", "optimal-lr-quadratic"]);
    let alone = downhill::theory::run_with("optimal-lr-quadratic", Effort::Quick).unwrap();
    assert_eq!(serde_json::to_value(&checks[1]).unwrap(), serde_json::to_value(&alone).unwrap());
    let e = run_checks(&["optimal-lr-quadratic".into(), "sadle-fraction".into()], Effort::Quick).unwrap_err();
    assert!(e.to_string().contains("did you mean 'saddle-fraction'"), "{e}");
    assert!(IDS.len() > 20);
}
