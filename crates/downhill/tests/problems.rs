//! Finite-sum problems and minibatch sampling.

use downhill::analysis::symmetric_eigen;
use downhill::optim::{self, GradientDescent};
use downhill::problem::{
    synthetic_least_squares, synthetic_logistic, LeastSquares, Matrix, Problem, Sampler, Sampling, Softmax,
};
use downhill::rng::Rng;
use downhill::{
    minimize, minimize_stochastic, DescribedObjective, Objective, RunOptions, Schedule, StopReason,
};

fn fd_check(p: &dyn DescribedObjective<f64>, x: &[f64]) {
    let mut g = vec![0.0; p.dim()];
    p.value_and_gradient(x, &mut g);
    for i in 0..x.len() {
        let h = 1e-5;
        let (mut a, mut b) = (x.to_vec(), x.to_vec());
        a[i] += h;
        b[i] -= h;
        let fd = (p.value(&a) - p.value(&b)) / (2.0 * h);
        assert!((fd - g[i]).abs() <= 1e-6 * (1.0 + g[i].abs()), "{}: grad[{i}] {} vs {fd}", p.name(), g[i]);
    }
}

fn small_softmax() -> Softmax {
    let mut rng = Rng::new(5);
    let (n, d, k) = (30, 3, 4);
    let data = (0..n * d).map(|_| rng.normal()).collect();
    let y = (0..n).map(|_| rng.below(k as u64) as usize).collect();
    Softmax { a: Matrix { rows: n, cols: d, data }, y, classes: k, l2: 0.01 }
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(1);
    let mut ls = synthetic_least_squares(40, 3, 10.0, 0.5, 1).unwrap();
    ls.l2 = 0.1;
    let mut lg = synthetic_logistic(40, 3, 0.1, 2).unwrap();
    lg.l2 = 0.05;
    let sm = small_softmax();
    for _ in 0..5 {
        fd_check(&ls, &(0..3).map(|_| rng.normal()).collect::<Vec<_>>());
        fd_check(&lg, &(0..3).map(|_| rng.normal()).collect::<Vec<_>>());
        fd_check(&sm, &(0..12).map(|_| rng.normal()).collect::<Vec<_>>());
    }
}

#[test]
fn the_mean_of_term_gradients_is_the_full_gradient() {
    // The seed's unbiasedness identity, exactly: (1/N) sum_i grad f_i = grad f.
    let p = synthetic_logistic(50, 4, 0.0, 3).unwrap();
    let x = [0.3, -0.2, 0.5, 1.0];
    let mut full = [0.0; 4];
    p.value_and_gradient(&x, &mut full);
    let mut mean = [0.0; 4];
    let mut gi = [0.0; 4];
    for i in 0..50 {
        Problem::<f64>::term_gradient(&p, i, &x, &mut gi);
        for j in 0..4 {
            mean[j] += gi[j] / 50.0;
        }
    }
    for j in 0..4 {
        assert!((mean[j] - full[j]).abs() < 1e-14, "{mean:?} vs {full:?}");
    }
}

#[test]
fn samplers_are_reproducible_and_cover_epochs() {
    let mut s = Sampler::new(12, 4, Sampling::WithoutReplacement, 9).unwrap();
    let mut t = Sampler::new(12, 4, Sampling::WithoutReplacement, 9).unwrap();
    for _epoch in 0..5 {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let b = s.next_batch().to_vec();
            assert_eq!(b, t.next_batch());
            seen.extend(b);
        }
        seen.sort();
        assert_eq!(seen, (0..12).collect::<Vec<_>>(), "every index once per epoch");
    }
    assert_eq!(s.epoch(), 4);
    let mut r = Sampler::new(5, 5, Sampling::WithReplacement, 1).unwrap();
    let mut counts = [0; 5];
    for _ in 0..4000 {
        for &i in r.next_batch() {
            counts[i] += 1;
        }
    }
    assert!(counts.iter().all(|&c| (3800..4200).contains(&c)), "{counts:?}");
    assert!(Sampler::new(5, 6, Sampling::WithReplacement, 1).is_err());
    assert!(Sampler::new(5, 0, Sampling::WithReplacement, 1).is_err());
}

#[test]
fn noiseless_least_squares_recovers_the_truth() {
    let p = synthetic_least_squares(200, 5, 100.0, 0.0, 4).unwrap();
    let sol = p.solution().unwrap();
    for (a, b) in sol.iter().zip(p.truth.as_ref().unwrap()) {
        assert!((a - b).abs() < 1e-9, "{sol:?}");
    }
    let mut g = vec![0.0; 5];
    p.value_and_gradient(&sol, &mut g);
    assert!(g.iter().all(|v| v.abs() < 1e-12));
}

#[test]
fn synthetic_design_has_the_requested_condition_number() {
    // E[A^T A / N] = diag(1 .. kappa); with N = 20000 the sample version is within a few percent.
    let p = synthetic_least_squares(20_000, 4, 50.0, 0.1, 5).unwrap();
    let (ev, _) = symmetric_eigen(&p.hessian_matrix(), 4);
    let kappa = ev[3] / ev[0];
    assert!((kappa / 50.0 - 1.0).abs() < 0.1, "kappa {kappa}");
}

#[test]
fn sgd_is_reproducible_and_converges_with_decay() {
    let p = synthetic_least_squares(500, 4, 10.0, 0.5, 6).unwrap();
    let sol = p.solution().unwrap();
    let f_star = Objective::<f64>::value(&p, &sol);
    let run = |seed| {
        let mut sampler = Sampler::new(500, 10, Sampling::WithoutReplacement, seed).unwrap();
        let mut gd =
            GradientDescent::builder().lr(Schedule::InvSqrt { lr: 0.05, offset: 1.0 }).build().unwrap();
        minimize_stochastic(
            &p,
            &mut gd,
            &[0.0; 4],
            &mut sampler,
            &RunOptions { record_every: 100, ..RunOptions::steps(5000) },
        )
        .unwrap()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a.params, b.params, "same seed, same run");
    assert_ne!(a.params, c.params, "another seed, another path");
    assert_eq!(a.stop, StopReason::MaxSteps);
    assert!(a.loss - f_star < 1e-3 * (1.0 + f_star), "suboptimality {}", a.loss - f_star);
    assert_eq!(a.trajectory.len(), 51);
    // Full-batch GD for comparison goes through the same Problem as an Objective.
    let mut gd = optim::build::<f64>("gd:lr=0.05", &Default::default()).unwrap();
    let full = minimize(&p, gd.as_mut(), &[0.0; 4], &RunOptions::steps(2000), None).unwrap();
    assert!(full.loss - f_star < 1e-9);
}

#[test]
fn losses_are_stable_for_huge_logits() {
    let sm = small_softmax();
    let x: Vec<f64> = (0..12).map(|i| if i % 2 == 0 { 1e4 } else { -1e4 }).collect();
    let mut g = vec![0.0f64; 12];
    let v = sm.value_and_gradient(&x, &mut g);
    assert!(v.is_finite() && g.iter().all(|v| v.is_finite()));
    let lg = synthetic_logistic(20, 3, 0.0, 7).unwrap();
    let mut g = vec![0.0f64; 3];
    let v = lg.value_and_gradient(&[1e5, -1e5, 1e5], &mut g);
    assert!(v.is_finite() && g.iter().all(|v| v.is_finite()));
    let bad = LeastSquares::new(Matrix { rows: 2, cols: 2, data: vec![1.0; 4] }, vec![1.0], 0.0);
    assert!(bad.is_err());
}
