//! The optimizer wrappers against reference loops written here from their papers and optax's
//! definitions, their checkpoints, their specs and their errors.
//!
//! The inner optimizers are downhill's own (tested against PyTorch and the seed elsewhere); what
//! these tests check is the wrapper's arithmetic around them, so the reference loops drive a second,
//! independent instance of the same inner optimizer and apply the wrapper's equations by hand.

use downhill::objectives::{Quadratic, Rosenbrock};
use downhill::optim::{self, Optimizer, OptimizerState, Value};
use downhill::{minimize, Objective, RunOptions};

fn build(spec: &str) -> Box<dyn Optimizer<f64>> {
    optim::build::<f64>(spec, &Default::default()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// A gradient sequence with some variety: a fixed pseudo-random walk.
fn grads(steps: usize, dim: usize) -> Vec<Vec<f64>> {
    let mut rng = downhill::rng::Rng::new(17);
    (0..steps).map(|_| (0..dim).map(|_| rng.uniform() * 2.0 - 1.0).collect()).collect()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn lookahead_is_the_papers_algorithm_around_sgd() {
    // Zhang et al. 2019, Algorithm 1, with SGD as the inner optimizer written out by hand.
    let (lr, k, alpha) = (0.01, 3usize, 0.4);
    let f = Rosenbrock { a: 1.0, b: 10.0 };
    let mut opt = build("lookahead(gd:lr=0.01):k=3,alpha=0.4");
    let (mut theta, mut slow) = (vec![-1.5, 2.5], vec![-1.5, 2.5]);
    let mut params = theta.clone();
    let mut g = vec![0.0; 2];
    for t in 1..=40 {
        f.gradient(&params, &mut g);
        opt.update(&mut params, &g).unwrap();
        let mut gr = vec![0.0; 2];
        f.gradient(&theta, &mut gr);
        for i in 0..2 {
            theta[i] -= lr * gr[i];
        }
        if t % k == 0 {
            for (s, t) in slow.iter_mut().zip(&mut theta) {
                *s += alpha * (*t - *s);
                *t = *s;
            }
        }
        assert_eq!(bits(&params), bits(&theta), "step {t}");
    }
    assert_eq!(opt.steps(), 40);
}

#[test]
fn lookahead_around_adam_synchronizes_every_k_inner_steps() {
    let mut opt = build("lookahead(adam:lr=0.05):k=4,alpha=0.5");
    let mut inner = build("adam:lr=0.05");
    let gs = grads(21, 5);
    let mut params = vec![0.3, -0.2, 1.0, 0.0, 2.0];
    let mut fast = params.clone();
    let mut slow = params.clone();
    for (t, g) in gs.iter().enumerate() {
        opt.update(&mut params, g).unwrap();
        inner.update(&mut fast, g).unwrap();
        if (t + 1) % 4 == 0 {
            for (s, f) in slow.iter_mut().zip(&mut fast) {
                *s += 0.5 * (*f - *s);
                *f = *s;
            }
        }
        assert_eq!(bits(&params), bits(&fast), "step {}", t + 1);
    }
}

#[test]
fn ema_is_pytorchs_averaged_model_and_what_train_evaluates() {
    // torch.optim.swa_utils.AveragedModel with get_ema_avg_fn(decay): the first update copies the
    // parameters, later ones take decay * ema + (1 - decay) * theta.
    let decay = 0.9;
    let mut opt = build("ema(adam:lr=0.1):decay=0.9");
    let mut inner = build("adam:lr=0.1");
    let (mut params, mut plain) = (vec![1.0, -1.0, 0.5], vec![1.0, -1.0, 0.5]);
    assert_eq!(opt.eval_params(&params), None, "nothing to average before the first step");
    let mut ema: Vec<f64> = Vec::new();
    for (t, g) in grads(12, 3).iter().enumerate() {
        opt.update(&mut params, g).unwrap();
        inner.update(&mut plain, g).unwrap();
        assert_eq!(bits(&params), bits(&plain), "training is unchanged");
        if ema.is_empty() {
            ema = plain.clone();
        } else {
            for (e, p) in ema.iter_mut().zip(&plain) {
                *e = decay * *e + (1.0 - decay) * p;
            }
        }
        assert_eq!(bits(&opt.eval_params(&params).unwrap()), bits(&ema), "step {}", t + 1);
    }
}

#[test]
fn accumulate_steps_every_k_calls_with_the_mean_gradient() {
    // optax.MultiSteps(every_k_schedule=3): zero updates on the first k-1 calls, then the inner
    // optimizer on the mean of the k gradients (here computed as sum / k, a different rounding).
    let k = 3;
    let mut opt = build("accumulate(adam:lr=0.1):k=3");
    let mut inner = build("adam:lr=0.1");
    let gs = grads(14, 4);
    let mut params = vec![0.5, 0.25, -1.0, 2.0];
    let mut reference = params.clone();
    for (t, g) in gs.iter().enumerate() {
        let before = params.clone();
        opt.update(&mut params, g).unwrap();
        if (t + 1) % k == 0 {
            let mean: Vec<f64> =
                (0..4).map(|i| gs[t + 1 - k..=t].iter().map(|g| g[i]).sum::<f64>() / k as f64).collect();
            inner.update(&mut reference, &mean).unwrap();
            for (a, b) in params.iter().zip(&reference) {
                assert!((a - b).abs() <= 1e-13 * b.abs().max(1.0), "step {}: {a} vs {b}", t + 1);
            }
            reference.clone_from(&params);
        } else {
            assert_eq!(bits(&params), bits(&before), "call {} must not move the parameters", t + 1);
        }
        assert_eq!(opt.steps(), t as u64 + 1);
    }
    assert_eq!(inner.steps(), 4, "the inner optimizer stepped once per k calls");
}

#[test]
fn accumulate_of_one_is_the_inner_optimizer() {
    let mut opt = build("accumulate(nadam:lr=0.01):k=1");
    let mut inner = build("nadam:lr=0.01");
    let (mut a, mut b) = (vec![1.0, 2.0], vec![1.0, 2.0]);
    for g in grads(10, 2) {
        opt.update(&mut a, &g).unwrap();
        inner.update(&mut b, &g).unwrap();
    }
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn skip_nonfinite_is_optax_apply_if_finite() {
    // Gradients 3, 4, 5 and 8 are not finite; with max_consecutive_errors=2 the third in a row
    // (gradient 5) is applied anyway, as optax does once notfinite_count > max_consecutive_errors.
    let mut opt = build("skip-nonfinite(momentum:lr=0.1):max_consecutive_errors=2");
    let mut inner = build("momentum:lr=0.1");
    let mut gs = grads(10, 2);
    gs[3][0] = f64::NAN;
    gs[4][1] = f64::INFINITY;
    gs[5][0] = f64::NEG_INFINITY;
    gs[8][1] = f64::NAN;
    let (mut params, mut reference) = (vec![1.0, 1.0], vec![1.0, 1.0]);
    let mut consecutive = 0;
    for (t, g) in gs.iter().enumerate() {
        opt.update(&mut params, g).unwrap();
        let finite = g.iter().all(|x| x.is_finite());
        consecutive = if finite { 0 } else { consecutive + 1 };
        if finite || consecutive > 2 {
            inner.update(&mut reference, g).unwrap();
        }
        let same = params
            .iter()
            .zip(&reference)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        assert!(same, "step {}: {params:?} vs {reference:?}", t + 1);
    }
    let report = opt.hyperparameters();
    assert!(report.contains(&("skipped", Value::Number(3.0))), "{report:?}");
    assert_eq!(opt.steps(), 10);
    // The state carries the counts.
    let state = opt.state();
    assert_eq!(state.counters, [("consecutive".into(), 0), ("non_finite".into(), 4), ("skipped".into(), 3)]);
}

#[test]
fn sam_takes_the_gradient_at_the_perturbed_point() {
    // Foret et al. 2021, Algorithm 1 with SGD, written out: e = rho g/(||g|| + 1e-12),
    // theta -= lr * grad f(theta + e).
    let (lr, rho) = (0.002, 0.05);
    let f = Rosenbrock { a: 1.0, b: 10.0 };
    let mut opt = build("sam(gd:lr=0.002):rho=0.05");
    let run = minimize(&f, opt.as_mut(), &[-1.5, 2.5], &RunOptions::steps(60), None).unwrap();
    let mut theta = vec![-1.5, 2.5];
    let (mut g, mut g2) = (vec![0.0; 2], vec![0.0; 2]);
    for point in &run.trajectory {
        assert_eq!(bits(&point.params), bits(&theta), "step {}", point.step);
        f.gradient(&theta, &mut g);
        let scale = rho / ((g[0] * g[0] + g[1] * g[1]).sqrt() + 1e-12);
        let perturbed = [theta[0] + scale * g[0], theta[1] + scale * g[1]];
        f.gradient(&perturbed, &mut g2);
        theta[0] -= lr * g2[0];
        theta[1] -= lr * g2[1];
    }
}

#[test]
fn sam_on_a_parabola_follows_its_closed_form() {
    // f = a x^2: the perturbation is rho * sign(x), so x <- x - lr * 2a (x + rho sign(x)).
    let (a, lr, rho) = (3.0, 0.05, 0.1);
    let f = Quadratic { coefficients: vec![a] };
    let mut opt = build("sam(gd:lr=0.05):rho=0.1");
    let run = minimize(&f, opt.as_mut(), &[2.0], &RunOptions::steps(30), None).unwrap();
    let mut x: f64 = 2.0;
    for point in &run.trajectory {
        assert!((point.params[0] - x).abs() <= 1e-12, "step {}: {} vs {x}", point.step, point.params[0]);
        x -= lr * 2.0 * a * (x + rho * x.signum());
    }
    // rho = 0 is plain gradient descent, bit for bit.
    let plain = minimize(&f, build("gd:lr=0.05").as_mut(), &[2.0], &RunOptions::steps(30), None).unwrap();
    let zero =
        minimize(&f, build("sam(gd:lr=0.05):rho=0").as_mut(), &[2.0], &RunOptions::steps(30), None).unwrap();
    assert_eq!(plain.trajectory, zero.trajectory);
}

#[test]
fn sam_without_the_objective_says_so() {
    let e = build("sam(adam)").update(&mut [1.0], &[1.0]).unwrap_err().to_string();
    assert!(e.contains("sam needs the objective"), "{e}");
}

#[test]
fn wrapped_states_round_trip_bit_for_bit() {
    for spec in [
        "lookahead(adam:lr=0.05):k=3",
        "ema(rmsprop:lr=0.01,momentum=0.9):decay=0.8",
        "accumulate(adamw:lr=0.01):k=4",
        "skip-nonfinite(lion:lr=0.001)",
        "sam(momentum:lr=0.01):rho=0.1",
        "ema(lookahead(accumulate(sf-adamw:lr=0.01):k=2):k=2):decay=0.5",
    ] {
        let f = Rosenbrock { a: 1.0, b: 10.0 };
        let mut a = build(spec);
        let mut params = vec![-1.2, 1.0];
        let mut g = vec![0.0; 2];
        let mut gs = grads(7, 2);
        gs[2][0] = f64::NAN; // only skip-nonfinite is given this gradient sequence below
        for (t, step) in gs.iter().enumerate() {
            f.gradient(&params, &mut g);
            let grad = if spec.starts_with("skip") { step.clone() } else { g.clone() };
            a.step_on(&f, &mut params, &grad).unwrap_or_else(|e| panic!("{spec} step {t}: {e}"));
        }
        let saved = a.state();
        let json = serde_json::to_string(&saved).unwrap();
        let back: OptimizerState<f64> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, saved, "{spec}: JSON round trip");
        let mut b = build(spec);
        b.load_state(back).unwrap();
        assert_eq!(b.state(), saved, "{spec}: load then save");
        assert_eq!(b.steps(), a.steps(), "{spec}");
        let mut p2 = params.clone();
        for t in 0..9 {
            f.gradient(&params, &mut g);
            a.step_on(&f, &mut params, &g).unwrap();
            b.step_on(&f, &mut p2, &g).unwrap();
            assert_eq!(bits(&params), bits(&p2), "{spec}: step {t} after the reload");
            assert_eq!(a.eval_params(&params), b.eval_params(&p2), "{spec}");
        }
        // A state saved by another optimizer, or one missing its inner state, is refused.
        let mut wrong = saved.clone();
        wrong.inner = None;
        assert!(build(spec).load_state(wrong).is_err(), "{spec}");
        assert!(build(spec).load_state(build("adam").state()).is_err(), "{spec}");
        b.reset();
        assert_eq!(b.steps(), 0);
        assert_eq!(b.eval_params(&params), None, "{spec}");
    }
}

#[test]
fn reports_show_the_wrapper_and_the_wrapped_optimizer() {
    let opt = build("lookahead(adam:lr=0.01):k=5,alpha=0.5");
    assert_eq!(opt.name(), "lookahead");
    assert_eq!(opt.learning_rate(), 0.01);
    let json = serde_json::to_value(opt.hyperparameters()).unwrap();
    assert_eq!(json[0], serde_json::json!(["k", 5.0]));
    assert_eq!(json[1], serde_json::json!(["alpha", 0.5]));
    assert_eq!(json[2][0], "optimizer");
    assert_eq!(json[2][1]["name"], "adam");
    assert_eq!(json[2][1]["lr"], 0.01);
    assert_eq!(json[2][1]["beta2"], 0.999);
}

#[test]
fn bad_wrapper_keys_name_the_field_and_range() {
    for (spec, message) in [
        ("lookahead(adam):k=0", "lookahead.k: 0 is not in whole numbers 1..=4294967295"),
        ("lookahead(adam):alpha=1.5", "lookahead.alpha: 1.5 is not in [0, 1]"),
        ("ema(adam):decay=1", "ema.decay: 1 is not in [0, 1)"),
        ("accumulate(adam):k=-2", "accumulate.k: -2 is not in whole numbers 1..=4294967295"),
        ("sam(adam):rho=-1", "sam.rho: -1 is not in [0, inf)"),
        (
            "skip-nonfinite(adam):max_consecutive_errors=0.5",
            "skip-nonfinite.max_consecutive_errors: 0.5 is not in whole numbers 0..=4294967295",
        ),
        ("lookahead(adam:lr=-1)", "adam.lr: -1 is not in (0, inf)"),
    ] {
        let e = optim::build::<f64>(spec, &Default::default()).map(|_| ()).unwrap_err().to_string();
        assert_eq!(e, message, "{spec}");
    }
    let e = optim::build::<f64>("ema(adam):k=3", &Default::default()).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("unknown ema key 'k'") && e.contains("accepted: decay"), "{e}");
}

#[test]
fn a_schedule_reaches_the_wrapped_optimizer() {
    let schedule = downhill::Schedule::parse("step:lr=1,gamma=0.5,every=2").unwrap();
    let options = optim::BuildOptions { schedule: Some(schedule) };
    let mut opt = optim::build::<f32>("lookahead(gd):k=2", &options).unwrap();
    let mut p = [0.0f32];
    let mut rates = Vec::new();
    for _ in 0..5 {
        rates.push(opt.learning_rate());
        opt.update(&mut p, &[1.0]).unwrap();
    }
    assert_eq!(rates, [1.0, 1.0, 0.5, 0.5, 0.25]);
}

#[test]
fn minimize_hands_non_finite_gradients_to_a_skipping_wrapper_even_when_wrapped_again() {
    // |x| with the gradient x / |x|: from 1, gd:lr=1 lands on 0, where the gradient is 0/0 = NaN.
    let f = downhill::objective::FnObjective::new("abs", 1, |x: &[f64], g: &mut [f64]| {
        g[0] = x[0] / x[0].abs();
        x[0].abs()
    });
    let options = RunOptions::steps(20);
    for (spec, accepts, steps) in [
        ("gd:lr=1", false, 1),
        ("lookahead(adam):k=5", false, 1),
        ("skip-nonfinite(gd:lr=1):max_consecutive_errors=2", true, 4),
        // EMA leaves the iterate alone: the same two skips inside it, then the NaN step.
        ("ema(skip-nonfinite(gd:lr=1):max_consecutive_errors=2)", true, 4),
    ] {
        let mut opt = build(spec);
        assert_eq!(opt.accepts_non_finite_gradients(), accepts, "{spec}");
        if spec.starts_with("lookahead") {
            continue;
        }
        let r = minimize(&f, opt.as_mut(), &[1.0], &options, None).unwrap();
        assert_eq!(r.stop, downhill::StopReason::NonFinite, "{spec}");
        assert_eq!(r.steps, steps, "{spec}: {:?}", r.detail);
        // The last accepted point: unwrapped, the start (0 with its NaN gradient is refused);
        // wrapped, 0, where the wrapper skipped.
        let last = if accepts { 0.0 } else { 1.0 };
        assert_eq!(r.params, vec![last], "{spec}: back to the last accepted point");
    }
}
