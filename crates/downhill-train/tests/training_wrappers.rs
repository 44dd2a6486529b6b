//! Optimizer wrappers in training: SAM's second gradient on the minibatch (against a step computed
//! by hand from the model's own loss), the EMA as what validation sees, parameter groups inside a
//! wrapper, and exact resume.

use downhill::optim;
use downhill::rng::Rng;
use downhill_train::{Dataset, Labels, Model, Snapshot, Target, Trainer, Workspace};

fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let centers = [[2.0, 0.0, 1.0], [-2.0, 1.0, 0.0], [0.0, -2.0, -1.0]];
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let c = i % 3;
        features.extend(centers[c].iter().map(|m| m + 0.7 * rng.normal()));
        labels.push(c as u32);
    }
    Dataset {
        name: "blobs".into(),
        features,
        dim: 3,
        feature_names: vec!["a".into(), "b".into(), "c".into()],
        target: Target::Classes { labels, names: vec!["0".into(), "1".into(), "2".into()] },
    }
}

fn trainer<T: optim::Buildable + downhill_train::Scalar>(
    spec: &str,
    data: &Dataset,
    batch: usize,
    groups: bool,
) -> Trainer<T> {
    let (train, val) = data.split(0.25, 5).unwrap();
    let model = Model::parse("mlp:hidden=16,8", 3, &data.target).unwrap();
    let opt = downhill_train::build_optimizer::<T>(spec, &Default::default(), &model, !groups).unwrap();
    Trainer::new(&train, &val, model, opt, batch, 9).unwrap()
}

fn labels(d: &Dataset) -> Vec<u32> {
    match &d.target {
        Target::Classes { labels, .. } => labels.clone(),
        Target::Values { .. } => unreachable!(),
    }
}

#[test]
fn sam_in_training_steps_with_the_minibatch_gradient_at_the_perturbed_point() {
    // One minibatch holding the whole training set, so that the step can be computed by hand from
    // the model's loss: g at theta, e = rho g/(||g|| + 1e-12), theta - lr * grad(theta + e). The
    // trainer sums the rows in its shuffled order, hence the tolerance.
    let data = blobs(120, 3);
    let (train, _) = data.split(0.25, 5).unwrap();
    let n = train.len();
    let (lr, rho) = (0.5, 0.2);
    let mut t = trainer::<f64>("sam(gd:lr=0.5):rho=0.2", &data, n, false);
    let theta = t.params().to_vec();
    let mut x = train.features.clone();
    t.feature_scaler().apply(&mut x);
    let y = labels(&train);
    let model = t.model().clone();
    let mut ws = Workspace::default();
    let mut g = vec![0.0; theta.len()];
    model.totals_and_gradient(&theta, &x, Labels::Classes(&y), n, &mut g, &mut ws);
    let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let perturbed: Vec<f64> = theta.iter().zip(&g).map(|(p, g)| p + rho / (norm + 1e-12) * g).collect();
    let mut g2 = vec![0.0; theta.len()];
    model.totals_and_gradient(&perturbed, &x, Labels::Classes(&y), n, &mut g2, &mut ws);
    let want: Vec<f64> = theta.iter().zip(&g2).map(|(p, g)| p - lr * g).collect();
    t.epoch().unwrap();
    for (i, (a, b)) in t.params().iter().zip(&want).enumerate() {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "parameter {i}: {a} vs {b}");
    }
    // And not the plain step: the second gradient matters.
    let plain: Vec<f64> = theta.iter().zip(&g).map(|(p, g)| p - lr * g).collect();
    assert!(t.params().iter().zip(&plain).any(|(a, b)| (a - b).abs() > 1e-6));
}

#[test]
fn sam_with_rho_zero_trains_exactly_like_its_inner_optimizer() {
    let data = blobs(200, 4);
    let mut a = trainer::<f32>("sam(momentum:lr=0.05):rho=0", &data, 16, false);
    let mut b = trainer::<f32>("momentum:lr=0.05", &data, 16, false);
    for _ in 0..3 {
        a.epoch().unwrap();
        b.epoch().unwrap();
    }
    assert_eq!(a.params(), b.params());
    let mut c = trainer::<f32>("sam(momentum:lr=0.05):rho=0.05", &data, 16, false);
    for _ in 0..15 {
        c.epoch().unwrap();
    }
    assert!(c.history().last().unwrap().val_accuracy.unwrap() > 0.9, "{:?}", c.history().last());
}

#[test]
fn ema_is_what_training_validates() {
    let data = blobs(200, 5);
    let mut with = trainer::<f64>("ema(adam:lr=0.01):decay=0.9", &data, 16, false);
    let mut without = trainer::<f64>("adam:lr=0.01", &data, 16, false);
    let (_, val) = data.split(0.25, 5).unwrap();
    let mut x = val.features.clone();
    with.feature_scaler().apply(&mut x);
    let y = labels(&val);
    for _ in 0..3 {
        with.epoch().unwrap();
        without.epoch().unwrap();
        assert_eq!(with.params(), without.params(), "the average does not change training");
        let eval = with.eval_params();
        assert_ne!(eval, with.params());
        let totals = with.model().evaluate(&eval, &x, Labels::Classes(&y), &mut Workspace::default());
        let val_loss = totals.loss / totals.samples as f64;
        assert_eq!(with.history().last().unwrap().val_loss, Some(val_loss));
    }
}

#[test]
fn wrappers_go_around_both_parameter_groups() {
    let target = Target::Classes { labels: vec![0, 1, 0, 1], names: vec!["0".into(), "1".into()] };
    let model = Model::parse("mlp:hidden=3", 2, &target).unwrap();
    let spec = "lookahead(adamw:lr=0.1,weight_decay=0.5):k=1,alpha=1";
    let mut opt = downhill_train::build_optimizer::<f64>(spec, &Default::default(), &model, false).unwrap();
    assert_eq!(opt.name(), "lookahead");
    let mut p = vec![1.0; model.num_params()];
    opt.update(&mut p, &vec![0.0; model.num_params()]).unwrap();
    let nw = model.weights();
    assert!(p[..nw].iter().all(|&w| w == 1.0 - 0.1 * 0.5), "{p:?}");
    assert!(p[nw..].iter().all(|&b| b == 1.0), "{p:?}");
}

#[test]
fn wrapped_training_resumes_bit_for_bit() {
    let data = blobs(240, 1);
    for (spec, groups) in [
        ("lookahead(adam:lr=0.01):k=3", false),
        ("accumulate(adamw:lr=0.01,weight_decay=0.1):k=3", true),
        ("ema(sf-adamw:lr=0.01):decay=0.9", false),
        ("sam(momentum:lr=0.05):rho=0.05", false),
        ("skip-nonfinite(ema(muon:lr=0.02))", false),
    ] {
        let mut straight = trainer::<f32>(spec, &data, 16, groups);
        for _ in 0..4 {
            straight.epoch().unwrap();
        }
        let mut first = trainer::<f32>(spec, &data, 16, groups);
        for _ in 0..2 {
            first.epoch().unwrap();
        }
        let json = serde_json::to_string(&first.snapshot()).unwrap();
        let snap: Snapshot<f32> = serde_json::from_str(&json).unwrap();
        let mut resumed = trainer::<f32>(spec, &data, 16, groups);
        resumed.restore(snap).unwrap();
        for _ in 0..2 {
            resumed.epoch().unwrap();
        }
        assert_eq!(straight.params(), resumed.params(), "{spec}");
        assert_eq!(straight.eval_params(), resumed.eval_params(), "{spec}");
        let val = |t: &Trainer<f32>| t.history().iter().map(|e| e.val_loss).collect::<Vec<_>>();
        assert_eq!(val(&straight), val(&resumed), "{spec}");
    }
}

#[test]
fn a_lower_rate_carries_the_state_over() {
    // What --reduce-on-plateau does: the same spec with a lower lr takes over the state.
    let data = blobs(120, 2);
    let mut t = trainer::<f64>("lookahead(adam:lr=0.01):k=2", &data, 16, false);
    t.epoch().unwrap();
    let state = t.optimizer().state();
    let lower = optim::build::<f64>("lookahead(adam:lr=0.001):k=2", &Default::default()).unwrap();
    t.replace_optimizer(lower).unwrap();
    assert_eq!(t.optimizer().state(), state);
    assert_eq!(t.optimizer().learning_rate(), 0.001);
    let other = optim::build::<f64>("adam:lr=0.001", &Default::default()).unwrap();
    assert!(t.replace_optimizer(other).is_err(), "a state from another optimizer is refused");
}
