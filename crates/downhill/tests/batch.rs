//! The batched sweep engine gives exactly what one-at-a-time `minimize` gives.

use downhill::batch::{minimize_batch, minimize_many};
use downhill::optim::Buildable;
use downhill::optim::{self, BuildOptions, Value};
use downhill::{minimize, objectives, Optimizer, RunOptions};

#[test]
fn batched_runs_are_bit_identical_to_minimize() {
    // Rosenbrock has its own vectorized batch evaluation; the others use the default, point by point.
    for objective in ["rosenbrock:a=1,b=10", "quadratic:a=50,b=1", "himmelblau"] {
        check_objective::<f64>(objective);
        check_objective::<f32>(objective);
    }
}

fn check_objective<T: Buildable>(objective: &str) {
    let f = objectives::build::<T>(objective).unwrap();
    let specs = [
        vec!["gd:lr=0.001", "gd:lr=0.005", "gd:lr=0.02", "gd:lr=0.5"],
        vec!["momentum:lr=0.002,beta=0.9", "momentum:lr=0.01,beta=0.5", "momentum:lr=0.5"],
        vec!["adam:lr=0.1", "adam:lr=0.01,beta1=0.8,beta2=0.99", "adam:lr=0.3,eps=1e-6", "adam:lr=1e-4"],
        vec!["adamw:lr=0.1", "adamw:lr=0.05,weight_decay=0.1", "adamw:lr=0.01,weight_decay=0"],
    ];
    let starts: Vec<Vec<T>> = [[-1.5, 2.5], [0.3, -0.7], [1.9, 2.9]]
        .iter()
        .map(|p| p.iter().map(|&x| T::from_f64(x)).collect())
        .collect();
    for group in specs {
        let mut built = Vec::new();
        let mut st = Vec::new();
        for s in &group {
            for x0 in &starts {
                built.push(optim::build::<T>(s, &BuildOptions::default()).unwrap());
                st.push(x0.clone());
            }
        }
        let refs: Vec<&dyn Optimizer<T>> = built.iter().map(|b| b.as_ref()).collect();
        let batch = minimize_batch(f.as_ref(), &refs, &st, 300, Some(10.0)).expect("batchable");
        for (k, (b, x0)) in built.iter_mut().zip(&st).enumerate() {
            let options = RunOptions { bound: Some(10.0), record_every: 0, ..RunOptions::steps(300) };
            let r = minimize(f.as_ref(), b.as_mut(), x0, &options, None).unwrap();
            let got = &batch[k];
            assert_eq!((got.stop, got.steps), (r.stop, r.steps), "{group:?} run {k}");
            assert_eq!(
                got.loss.to_f64().to_bits(),
                r.loss.to_f64().to_bits(),
                "{} {group:?} run {k}",
                T::NAME
            );
            assert!(
                got.params.iter().zip(&r.params).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()),
                "{group:?} run {k}"
            );
        }
    }
    // Schedules, clipping, other optimizers and mixed kinds are declined, not approximated.
    for s in ["rmsprop", "adam:amsgrad=true", "gd:clip_norm=1", "lion"] {
        let o = optim::build::<T>(s, &BuildOptions::default()).unwrap();
        assert!(
            minimize_batch(f.as_ref(), &[o.as_ref()], &[vec![T::ZERO, T::ZERO]], 10, None).is_none(),
            "{s}"
        );
    }
    let (a, g) = (
        optim::build::<T>("adam", &BuildOptions::default()).unwrap(),
        optim::build::<T>("gd", &BuildOptions::default()).unwrap(),
    );
    assert!(minimize_batch(
        f.as_ref(),
        &[a.as_ref(), g.as_ref()],
        &[vec![T::ZERO, T::ZERO], vec![T::ZERO, T::ZERO]],
        10,
        None
    )
    .is_none());
}

#[test]
fn large_batches_with_shared_betas_are_bit_identical_to_minimize() {
    // Enough runs per beta pair for the engine's 16-run blocks and their remainders, interleaved
    // betas (the engine sorts runs by beta and back), and enough steps for the first bias
    // correction to round to exactly 1 (where the engine leaves that division out).
    let f = objectives::build::<f64>("rosenbrock").unwrap();
    let f32f = objectives::build::<f32>("rosenbrock").unwrap();
    let mut specs = Vec::new();
    for i in 0..37 {
        let lr = 1e-4 * 10f64.powf(3.0 * i as f64 / 36.0);
        for (b1, b2) in [(0.9, 0.999), (0.8, 0.99), (0.5, 0.999)] {
            specs.push(format!("adam:lr={lr},beta1={b1},beta2={b2}"));
        }
        specs.push(format!("adamw:lr={lr},weight_decay=0.05"));
    }
    let steps = 900;
    let options = RunOptions { bound: Some(1e3), record_every: 0, ..RunOptions::steps(steps) };
    fn check<T: Buildable>(
        f: &dyn downhill::Objective<T>,
        specs: &[String],
        steps: u64,
        options: &RunOptions,
    ) {
        for kind in ["adam:", "adamw:"] {
            let chosen: Vec<&String> = specs.iter().filter(|s| s.starts_with(kind)).collect();
            let built: Vec<_> =
                chosen.iter().map(|s| optim::build::<T>(s, &BuildOptions::default()).unwrap()).collect();
            let refs: Vec<&dyn Optimizer<T>> = built.iter().map(|b| b.as_ref()).collect();
            let start = vec![T::from_f64(-1.2), T::from_f64(1.0)];
            let starts = vec![start.clone(); refs.len()];
            let batch = minimize_batch(f, &refs, &starts, steps, Some(1e3)).expect("batchable");
            for (k, s) in chosen.iter().enumerate() {
                let mut o = optim::build::<T>(s, &BuildOptions::default()).unwrap();
                let r = minimize(f, o.as_mut(), &start, options, None).unwrap();
                let got = &batch[k];
                assert_eq!((got.stop, got.steps), (r.stop, r.steps), "{} {s}", T::NAME);
                assert_eq!(got.loss.to_f64().to_bits(), r.loss.to_f64().to_bits(), "{} {s}", T::NAME);
                assert!(
                    got.params
                        .iter()
                        .zip(&r.params)
                        .all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()),
                    "{} {s}",
                    T::NAME
                );
            }
        }
    }
    check::<f64>(f.as_ref(), &specs, steps, &options);
    check::<f32>(f32f.as_ref(), &specs, steps, &options);
}

#[test]
fn new_element_wise_optimizers_batch_bit_identically_and_the_rest_are_declined() {
    // Adamax, AdaBelief, Yogi, Adadelta and Rprop have fast paths in the engine; every run must
    // end exactly where `minimize` ends it. Adan, ASGD and the layer-wise methods are declined
    // (a sweep runs them one at a time through `minimize`).
    fn check<T: Buildable>(objective: &str) {
        let f = objectives::build::<T>(objective).unwrap();
        let groups = [
            vec!["adamax", "adamax:lr=0.05,beta1=0.8", "adamax:lr=0.3,eps=1e-3", "adamax:lr=0.01,beta2=0.9"],
            vec![
                "adabelief:lr=0.05",
                "adabelief:lr=0.01,weight_decay=0.1",
                "adabelief:lr=0.2,eps=1e-8,eps_root=0",
            ],
            vec!["yogi", "yogi:lr=0.1,beta1=0.5", "yogi:lr=0.02,eps_root=1e-6,initial_accumulator_value=0.5"],
            vec!["adadelta", "adadelta:lr=0.5,rho=0.8", "adadelta:lr=2,eps=1e-4"],
            vec!["rprop", "rprop:lr=0.1,etaminus=0.3,etaplus=1.5", "rprop:lr=0.5,step_min=0.01,step_max=0.2"],
        ];
        let starts: Vec<Vec<T>> = [[-1.5, 2.5], [0.3, -0.7], [1.9, 2.9]]
            .iter()
            .map(|p| p.iter().map(|&x| T::from_f64(x)).collect())
            .collect();
        for group in groups {
            let mut built = Vec::new();
            let mut st = Vec::new();
            for s in &group {
                for x0 in &starts {
                    built.push(optim::build::<T>(s, &BuildOptions::default()).unwrap());
                    st.push(x0.clone());
                }
            }
            let refs: Vec<&dyn Optimizer<T>> = built.iter().map(|b| b.as_ref()).collect();
            let batch = minimize_batch(f.as_ref(), &refs, &st, 400, Some(10.0)).expect("batchable");
            for (k, (b, x0)) in built.iter_mut().zip(&st).enumerate() {
                let options = RunOptions { bound: Some(10.0), record_every: 0, ..RunOptions::steps(400) };
                let r = minimize(f.as_ref(), b.as_mut(), x0, &options, None).unwrap();
                let got = &batch[k];
                let label = format!("{} {objective} {} run {k}", T::NAME, group[k / starts.len()]);
                assert_eq!((got.stop, got.steps), (r.stop, r.steps), "{label}");
                assert_eq!(got.loss.to_f64().to_bits(), r.loss.to_f64().to_bits(), "{label}");
                assert!(
                    got.params
                        .iter()
                        .zip(&r.params)
                        .all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()),
                    "{label}"
                );
            }
        }
        for s in
            ["adan", "asgd", "lamb", "lars", "novograd", "adamax:weight_decay=0.1", "adadelta:clip_norm=1"]
        {
            let o = optim::build::<T>(s, &BuildOptions::default()).unwrap();
            assert!(
                minimize_batch(f.as_ref(), &[o.as_ref()], &[vec![T::ZERO, T::ZERO]], 10, None).is_none(),
                "{s}"
            );
        }
    }
    for objective in ["rosenbrock:a=1,b=10", "quadratic:a=50,b=1", "himmelblau"] {
        check::<f64>(objective);
        check::<f32>(objective);
    }
}

#[test]
fn parameter_groups_are_not_batched_as_their_first_group() {
    // Two GD groups at lr 0.01 and 1e-4 report the first group's rate; rebuilt from that report,
    // the batched engine used 0.01 for both (final loss 0.32 where minimize gives 6.54). It must
    // decline them; minimize, the reference, updates each group at its own rate.
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let groups = || {
        optim::Grouped::new(vec![
            (1, optim::build::<f64>("gd:lr=0.01", &BuildOptions::default()).unwrap()),
            (1, optim::build::<f64>("gd:lr=1e-4", &BuildOptions::default()).unwrap()),
        ])
        .unwrap()
    };
    let grouped = groups();
    let start = vec![vec![-1.5, 2.5]];
    assert!(minimize_batch(f.as_ref(), &[&grouped as &dyn Optimizer<f64>], &start, 200, Some(10.0)).is_none());
    // The reference, written out: each coordinate moves at its group's rate.
    let (mut x, mut g) = (vec![-1.5, 2.5], vec![0.0; 2]);
    for _ in 0..200 {
        f.gradient(&x, &mut g);
        x[0] -= 0.01 * g[0];
        x[1] -= 1e-4 * g[1];
    }
    let mut opt = groups();
    let run = minimize(f.as_ref(), &mut opt, &start[0], &RunOptions::steps(200), None).unwrap();
    assert_eq!(run.params, x);
    // The batched path (the engine where it applies, minimize for the rest) gives the same: the
    // issue's 6.54, not the 0.32 of both groups at 0.01.
    let mut boxed: Vec<Box<dyn Optimizer<f64>>> = vec![Box::new(groups()), Box::new(groups())];
    let starts = vec![start[0].clone(), vec![0.5, -0.5]];
    let many = minimize_many(f.as_ref(), &mut boxed, &starts, 200, Some(10.0)).unwrap();
    assert_eq!(many[0].params, x);
    assert_eq!(many[0].loss, run.loss);
    assert!((run.loss - 6.54).abs() < 0.01, "{}", run.loss);
    // And the report names both groups with their own rates.
    let Value::Groups(reported) = &groups().hyperparameters()[0].1 else {
        panic!("grouped reports its groups")
    };
    let rates: Vec<&Value> = reported.iter().map(|(_, r)| &r.hyperparameters[0].1).collect();
    assert_eq!(rates, [&Value::Number(0.01), &Value::Number(1e-4)]);
    assert_eq!(groups().name(), "grouped");
}

#[test]
fn minimize_many_batches_what_it_can_and_equals_minimize() {
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    // Batched (GD, Adam) and not (RMSprop, a schedule-free method): each equals minimize.
    for specs in [["gd:lr=0.01", "gd:lr=1e-4"], ["adam:lr=0.1", "adam:lr=0.01"], ["rmsprop", "sf-adamw"]] {
        let build =
            || specs.iter().map(|s| optim::build::<f64>(s, &BuildOptions::default()).unwrap()).collect();
        let mut opts: Vec<Box<dyn Optimizer<f64>>> = build();
        let starts = vec![vec![-1.5, 2.5]; specs.len()];
        let many = minimize_many(f.as_ref(), &mut opts, &starts, 100, Some(10.0)).unwrap();
        let mut fresh: Vec<Box<dyn Optimizer<f64>>> = build();
        for (k, o) in fresh.iter_mut().enumerate() {
            let options = RunOptions { bound: Some(10.0), record_every: 0, ..RunOptions::steps(100) };
            let r = minimize(f.as_ref(), o.as_mut(), &starts[k], &options, None).unwrap();
            assert_eq!((many[k].loss.to_bits(), many[k].steps), (r.loss.to_bits(), r.steps), "{}", specs[k]);
        }
    }
}
