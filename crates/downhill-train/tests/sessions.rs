//! Training sessions, the library entry point `downhill train` and the tour call, checked against
//! the same work written out with the lower-level API.

use downhill::optim::BuildOptions;
use downhill::Error;
use downhill_train::{self as train, Dataset, Model, Session, Target, TrainConfig, Trainer};

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
