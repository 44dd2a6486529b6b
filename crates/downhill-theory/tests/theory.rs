//! The theory lab's numerical core against closed forms, and its verdicts.

use downhill::problem::{synthetic_least_squares, Problem, Sampling};
use downhill::Objective;
use downhill_theory::{
    goe_positive_fraction, minibatch_variance, rms_curvature_exponent, slope, Effort, Verdict,
};

#[test]
fn goe_positive_definite_probability_matches_closed_forms() {
    // d = 1: P(N(0,1) > 0) = 1/2. d = 2: (2 - sqrt 2)/4 for GOE (Dean & Majumdar). Binomial standard error ~ 8e-4.
    let n = 200_000;
    let p1 = goe_positive_fraction(1, n, 1);
    let p2 = goe_positive_fraction(2, n, 2);
    assert!((p1 - 0.5).abs() < 4.0 * (0.25 / n as f64).sqrt(), "{p1}");
    let exact = (2.0 - 2f64.sqrt()) / 4.0;
    assert!((p2 - exact).abs() < 4.0 * (exact * (1.0 - exact) / n as f64).sqrt(), "{p2} vs {exact}");
}

#[test]
fn minibatch_variance_is_sigma2_over_b_with_replacement() {
    let p = synthetic_least_squares(50, 3, 5.0, 1.0, 3).unwrap();
    let x = [0.3, -0.4, 1.0];
    // sigma^2 from its definition.
    let mut full = [0.0; 3];
    p.value_and_gradient(&x, &mut full);
    let mut g = [0.0; 3];
    let sigma2: f64 = (0..50)
        .map(|i| {
            p.term_gradient(i, &x, &mut g);
            g.iter().zip(&full).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
        })
        .sum::<f64>()
        / 50.0;
    for b in [1usize, 5, 25] {
        let v = minibatch_variance(&p, &x, b, Sampling::WithReplacement, 40_000, b as u64);
        assert!((v / (sigma2 / b as f64) - 1.0).abs() < 0.05, "B = {b}: {v} vs {}", sigma2 / b as f64);
        let w = minibatch_variance(&p, &x, b, Sampling::WithoutReplacement, 40_000, 100 + b as u64);
        let fpc = (50.0 - b as f64) / 49.0;
        assert!((w / (sigma2 / b as f64 * fpc) - 1.0).abs() < 0.06, "B = {b} without replacement: {w}");
    }
    // A batch of the whole data set without replacement is the full gradient: no variance at all.
    assert!(minibatch_variance(&p, &x, 50, Sampling::WithoutReplacement, 100, 9) < 1e-25);
}

#[test]
fn fisher_identity_at_the_least_squares_optimum() {
    // E[g g^T] = sigma^2 H at x*: sqrt(E g_j^2) grows as sqrt(H_jj), exponent 1/2.
    let p = synthetic_least_squares(20_000, 5, 100.0, 1.0, 4).unwrap();
    let x = p.solution().unwrap();
    let e = rms_curvature_exponent(&p, &x, 1.0);
    assert!((e - 0.5).abs() < 0.03, "{e}");
}

#[test]
fn slope_is_exact_on_a_line() {
    let x = [1.0, 2.0, 3.0, 4.0];
    let y: Vec<f64> = x.iter().map(|v| 3.0 - 0.5 * v).collect();
    assert!((slope(&x, &y) + 0.5).abs() < 1e-15);
}

#[test]
fn every_check_runs_and_reaches_its_verdict() {
    use Verdict::*;
    let expected = [
        ("hessian-classification", Holds),
        ("saddle-fraction", Fails),
        ("taylor-steepest-descent", Holds),
        ("optimal-lr-quadratic", Holds),
        ("divergence-threshold", Holds),
        ("gd-convex-rate", Holds),
        ("gd-strongly-convex-rate", Holds),
        ("sufficient-decrease", Holds),
        ("sgd-unbiased", Holds),
        ("sgd-minibatch-variance", HoldsWithCaveat),
        ("sgd-noise-floor", Holds),
        ("sgd-sqrt-decay", Holds),
        ("momentum-window", HoldsWithCaveat),
        ("heavy-ball-rate", HoldsWithCaveat),
        ("nesterov-rate", HoldsWithCaveat),
        ("rmsprop-diagonal-curvature", HoldsWithCaveat),
        ("adam-bias-correction", Holds),
        ("adam-sign-descent", HoldsWithCaveat),
        ("lr-inverse-curvature", HoldsWithCaveat),
        ("edge-of-stability", HoldsWithCaveat),
        ("adaptive-edge-of-stability", HoldsWithCaveat),
        ("warmup-stabilizes-adam", Holds),
        ("cosine-vs-step", Holds),
    ];
    assert_eq!(expected.len(), downhill_theory::IDS.len());
    let networks = ["edge-of-stability", "adaptive-edge-of-stability", "warmup-stabilizes-adam"];
    for (id, verdict) in expected {
        if networks.contains(&id) && cfg!(not(feature = "datasets")) {
            // They train on the built-in red-wine data.
            assert!(downhill_theory::run_with(id, Effort::Quick).is_err());
            continue;
        }
        // The network checks at reduced size: the same setups, fewer rates, seeds and steps.
        let c = downhill_theory::run_with(id, Effort::Quick).unwrap();
        assert_eq!(c.verdict, verdict, "{id}: {}", c.details);
        assert!(!c.details.is_empty() && c.source.contains("seeds/"));
        assert!(c.quantity.len() > 20, "{id}: quantity '{}'", c.quantity);
        if let Some(m) = c.measured {
            assert!(m.is_finite(), "{id}: measured {m}");
        }
    }
    assert!(downhill_theory::run("saddle-fractoin").is_err());
}

#[cfg(feature = "datasets")]
#[test]
fn warmup_removes_the_early_spike_of_a_deep_mlp_at_a_high_rate() {
    // The building block of warmup-stabilizes-adam, at reduced size: Adam at lr 0.1 on a
    // 3-hidden-layer MLP more than doubles the loss within the first steps; with a linear warmup
    // the loss never doubles, and at lr 0.003 there is no spike to prevent.
    let plain = downhill_theory::adam_spike("64,64,64", 0.1, 0, 120, 100, 0).unwrap();
    let warm = downhill_theory::adam_spike("64,64,64", 0.1, 100, 120, 100, 0).unwrap();
    let calm = downhill_theory::adam_spike("64,64,64", 0.003, 0, 120, 100, 0).unwrap();
    assert!(
        plain.peak > 2.0 && warm.peak < 2.0 && calm.peak < 1.5,
        "{} {} {}",
        plain.peak,
        warm.peak,
        calm.peak
    );
    // The start is the loss of an untrained 6-class network, about ln 6.
    assert!((plain.start - 6f64.ln()).abs() < 0.3, "{}", plain.start);
    assert_eq!(plain.losses.len(), 120);
    assert_eq!(plain.start, warm.start, "same initialization and first batch");
}
