//! The first-order optimizers from torch.optim (Adamax, Adadelta, Rprop, ASGD) and optax
//! (AdaBelief, Adan, LAMB, LARS, Yogi, NovoGrad) against the libraries themselves: the fixture
//! `first_order_reference.json` holds trajectories that `scripts/first_order_reference.py` computed
//! with PyTorch and optax in float64 on the objective below. Also: references written here from
//! the papers' equations, checkpoints, f32, spec errors and layouts.

use downhill::optim::{self, Block, BuildOptions};
use downhill::{Optimizer, OptimizerState};
use serde::Deserialize;

/// `H` and the gradient exactly as the script writes them (the same operations in the same order).
const H: [f64; 5] = [3.0, 1.0, 2.0, 0.5, 4.0];

fn grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut g = H[i] * x[i] + 0.1 * (x[i] * x[i] * x[i]) - 0.2 * i as f64;
            if i > 0 {
                g += 0.3 * x[i - 1];
            }
            if i + 1 < n {
                g += 0.3 * x[i + 1];
            }
            g
        })
        .collect()
}

#[derive(Deserialize)]
struct Fixture {
    start: Vec<f64>,
    steps: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    library: String,
    spec: String,
    blocks: Vec<usize>,
    trajectory: Vec<Vec<f64>>,
    #[serde(default)]
    average: Vec<Vec<f64>>,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/first_order_reference.json");
    serde_json::from_str(text).expect("fixture parses")
}

fn layout(blocks: &[usize]) -> Vec<Block> {
    blocks.iter().map(|&len| Block { len, shape: None }).collect()
}

/// Relative error against max(|want|, 0.1), the largest over a trajectory.
fn max_error(got: &[Vec<f64>], want: &[Vec<f64>]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .flat_map(|(g, w)| g.iter().zip(w).map(|(a, b)| (a - b).abs() / b.abs().max(0.1)))
        .fold(0.0, f64::max)
}

/// Runs the spec's optimizer from `start` for `steps` updates; returns the iterates and what
/// `eval_params` says after each update.
fn run(spec: &str, blocks: &[usize], start: &[f64], steps: usize) -> (Vec<Vec<f64>>, Vec<Option<Vec<f64>>>) {
    let mut opt = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
    opt.set_layout(&layout(blocks)).unwrap();
    let mut x = start.to_vec();
    let (mut path, mut evals) = (vec![x.clone()], Vec::new());
    for _ in 0..steps {
        let g = grad(&x);
        opt.update(&mut x, &g).unwrap();
        path.push(x.clone());
        evals.push(opt.eval_params(&x));
    }
    (path, evals)
}

#[test]
fn every_new_optimizer_follows_pytorch_or_optax() {
    // Same objective, same float64 operations; what is left is the libraries' own rounding
    // (PyTorch's vectorized lerp/addcmul, XLA's fused expressions and reduction order), a few ulps
    // per step (the largest seen is 3e-15). 1e-13 relative bounds it with room over 30 steps.
    const TOL: f64 = 1e-13;
    let f = fixture();
    let mut seen = std::collections::BTreeSet::new();
    for case in &f.cases {
        let (path, evals) = run(&case.spec, &case.blocks, &f.start, f.steps);
        let err = max_error(&path, &case.trajectory);
        eprintln!("{:50} {err:.1e}", case.spec);
        assert!(
            err <= TOL,
            "{} ({}): relative error {err:e} against {}",
            case.spec,
            case.library,
            case.library
        );
        if !case.average.is_empty() {
            let averages: Vec<Vec<f64>> =
                evals.into_iter().map(|e| e.expect("asgd reports its average")).collect();
            let err = max_error(&averages, &case.average);
            assert!(err <= TOL, "{} average: relative error {err:e}", case.spec);
        }
        seen.insert(case.spec.split(':').next().unwrap().to_string());
    }
    let all =
        ["adamax", "adadelta", "rprop", "asgd", "adabelief", "adan", "lamb", "lars", "yogi", "novograd"];
    assert_eq!(seen, all.iter().map(|s| s.to_string()).collect());
}

/// Specs with every option away from its default where that changes the arithmetic, and the
/// layouts the layer-wise ones get.
const SPECS: [(&str, &[usize]); 10] = [
    ("adamax:lr=0.05,weight_decay=0.01,clip_norm=2", &[5]),
    ("adadelta:lr=0.5,weight_decay=0.01", &[5]),
    ("rprop:lr=0.05", &[5]),
    ("asgd:lr=0.05,lambd=0.01,t0=10,weight_decay=0.01", &[5]),
    ("adabelief:lr=0.05,weight_decay=0.01", &[5]),
    ("adan:lr=0.05,weight_decay=0.01,clip_value=1", &[5]),
    ("lamb:lr=0.05,weight_decay=0.01", &[3, 2]),
    ("lars:lr=3,weight_decay=0.01,nesterov=true", &[2, 3]),
    ("yogi:lr=0.05", &[5]),
    ("novograd:lr=0.05,weight_decay=0.01", &[3, 2]),
];

const START: [f64; 5] = [1.0, -0.7, 0.4, 1.3, -1.1];

#[test]
fn asgd_averages_the_iterates_after_t0() {
    // From the definition: with lambd = 0 the iterate is plain GD, and with t0 = 0 the rates
    // mu = 1, 1, 1/2, 1/3, ... make ax after k >= 2 steps the mean of the iterates x_2..x_k.
    let (path, evals) = run("asgd:lr=0.05,lambd=0,t0=0", &[5], &START, 40);
    let mut x = START.to_vec();
    for (k, got) in path.iter().enumerate().skip(1) {
        let g = grad(&x);
        x.iter_mut().zip(&g).for_each(|(x, g)| *x -= 0.05 * g);
        assert_eq!(got, &x, "step {k}: the iterate is gradient descent");
    }
    for k in 2..=40 {
        let ax = evals[k - 1].as_ref().unwrap();
        for i in 0..5 {
            let mean = path[2..=k].iter().map(|p| p[i]).sum::<f64>() / (k - 1) as f64;
            assert!((ax[i] - mean).abs() <= 1e-14, "step {k}: ax {} vs mean {mean}", ax[i]);
        }
    }
    // Before averaging starts (the default t0 = 1e6), the average is the iterate.
    let (path, evals) = run("asgd", &[5], &START, 5);
    assert_eq!(evals[4].as_ref().unwrap(), &path[5]);
}

#[test]
fn layer_wise_steps_have_the_papers_norms_per_block() {
    // LAMB: each block moves by lr * ||theta_b|| (the trust ratio ||theta_b|| / ||u_b|| times u_b).
    // LARS, first step (empty trace): lr * trust_coefficient * ||theta_b||. NovoGrad, first step:
    // m = g / (||g_b|| + eps), so lr * ||g_b|| / (||g_b|| + eps).
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let blocks = [3usize, 2];
    let g0 = grad(&START);
    for (spec, expected) in [
        ("lamb:lr=0.05", [0.05 * norm(&START[..3]), 0.05 * norm(&START[3..])]),
        ("lars:lr=3", [3.0 * 1e-3 * norm(&START[..3]), 3.0 * 1e-3 * norm(&START[3..])]),
        (
            "novograd:lr=0.05",
            [
                0.05 * norm(&g0[..3]) / (norm(&g0[..3]) + 1e-6),
                0.05 * norm(&g0[3..]) / (norm(&g0[3..]) + 1e-6),
            ],
        ),
    ] {
        let (path, _) = run(spec, &blocks, &START, 1);
        let step: Vec<f64> = path[1].iter().zip(&START).map(|(a, b)| a - b).collect();
        for (b, range) in [0..3, 3..5].into_iter().enumerate() {
            let got = norm(&step[range]);
            assert!(
                (got - expected[b]).abs() <= 1e-12 * expected[b],
                "{spec} block {b}: {got} vs {}",
                expected[b]
            );
        }
        // One block over the whole vector is a different method: the blocks matter.
        let (whole, _) = run(spec, &[5], &START, 1);
        assert_ne!(whole[1], path[1], "{spec}");
    }
}

#[test]
fn checkpoints_resume_bit_for_bit() {
    for (spec, blocks) in SPECS {
        let steps = |opt: &mut dyn Optimizer<f64>, mut x: Vec<f64>, n: usize| {
            for _ in 0..n {
                let g = grad(&x);
                opt.update(&mut x, &g).unwrap();
            }
            x
        };
        let build = || {
            let mut o = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
            o.set_layout(&layout(blocks)).unwrap();
            o
        };
        let mut straight = build();
        let whole = steps(straight.as_mut(), START.to_vec(), 40);
        let mut first = build();
        let half = steps(first.as_mut(), START.to_vec(), 20);
        let json = serde_json::to_string(&first.state()).unwrap();
        let state: OptimizerState<f64> = serde_json::from_str(&json).unwrap();
        let mut second = build();
        second.load_state(state).unwrap();
        assert_eq!(second.steps(), 20, "{spec}");
        let resumed = steps(second.as_mut(), half.clone(), 20);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&whole), bits(&resumed), "{spec}");
        assert_eq!(straight.eval_params(&whole), second.eval_params(&resumed), "{spec}");
        // Another optimizer refuses this state.
        let mut adam = optim::build::<f64>("adam", &BuildOptions::default()).unwrap();
        assert!(adam.load_state(first.state()).is_err(), "{spec}");
        // A reset forgets everything: the run starts over identically.
        straight.reset();
        assert_eq!(bits(&steps(straight.as_mut(), START.to_vec(), 40)), bits(&whole), "{spec}");
    }
}

#[test]
fn f32_follows_f64() {
    for (spec, blocks) in SPECS {
        let mut a = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        let mut b = optim::build::<f32>(spec, &BuildOptions::default()).unwrap();
        a.set_layout(&layout(blocks)).unwrap();
        b.set_layout(&layout(blocks)).unwrap();
        let (mut x, mut y) = (START.to_vec(), START.map(|v| v as f32).to_vec());
        for _ in 0..30 {
            let gx = grad(&x);
            let gy: Vec<f32> =
                grad(&y.iter().map(|&v| v as f64).collect::<Vec<_>>()).iter().map(|&v| v as f32).collect();
            a.update(&mut x, &gx).unwrap();
            b.update(&mut y, &gy).unwrap();
        }
        for (p, q) in x.iter().zip(&y) {
            assert!((p - *q as f64).abs() < 1e-4, "{spec}: f64 {p} vs f32 {q}");
        }
    }
}

#[test]
fn large_vectors_split_across_threads_match_one_element_at_a_time() {
    // The element-wise ones run in chunks, on threads and with AVX2 when the vector is large;
    // each element's arithmetic must still be exactly what a one-element run does.
    fn check<T: optim::Buildable>(spec: &str) {
        let n = 150_001;
        let x0: Vec<T> = (0..n).map(|i| T::from_f64(((i % 1009) as f64 - 504.0) * 1e-3)).collect();
        let g = |x: &[T], k: usize| -> Vec<T> {
            x.iter()
                .enumerate()
                .map(|(i, &v)| v * T::from_f64(1.0 + (i % 7) as f64) - T::from_f64(0.01 * k as f64))
                .collect()
        };
        let run_on = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                let mut o = optim::build::<T>(spec, &BuildOptions::default()).unwrap();
                let mut x = x0.clone();
                for k in 0..3 {
                    let gk = g(&x, k);
                    o.update(&mut x, &gk).unwrap();
                }
                x
            })
        };
        let (one, two) = (run_on(1), run_on(2));
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two), "{spec} {}", T::NAME);
        for i in [0, 1, 7, 31, 4096, 32_768, 100_003, n - 1] {
            let mut o = optim::build::<T>(spec, &BuildOptions::default()).unwrap();
            let mut x = vec![x0[i]];
            for k in 0..3 {
                let gi = x[0] * T::from_f64(1.0 + (i % 7) as f64) - T::from_f64(0.01 * k as f64);
                o.update(&mut x, &[gi]).unwrap();
            }
            assert_eq!(x[0].to_f64().to_bits(), one[i].to_f64().to_bits(), "{spec} {} element {i}", T::NAME);
        }
    }
    for spec in [
        "adamax",
        "adamax:weight_decay=0.1",
        "adadelta",
        "rprop",
        "asgd:t0=1",
        "adabelief:weight_decay=0.1",
        "adan:weight_decay=0.1",
        "yogi",
    ] {
        check::<f64>(spec);
        check::<f32>(spec);
    }
}

#[test]
fn layer_wise_steps_split_across_threads_are_bit_identical_and_match_a_plain_first_step() {
    // LAMB, LARS and NovoGrad take per-block norms over fixed chunks (added in order) and split
    // both passes across threads when a block is large: the same bits on 1, 2 and 3 threads.
    let n = 150_001;
    let x0: Vec<f64> = (0..n).map(|i| ((i % 1009) as f64 - 504.0) * 1e-3).collect();
    let g = |x: &[f64], k: usize| -> Vec<f64> {
        x.iter().enumerate().map(|(i, &v)| v * (1.0 + (i % 7) as f64) - 0.01 * k as f64).collect()
    };
    let run_on = |spec: &str, threads: usize, steps: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
            let mut o = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
            let mut x = x0.clone();
            for k in 0..steps {
                let gk = g(&x, k);
                o.update(&mut x, &gk).unwrap();
            }
            x
        })
    };
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for spec in
        ["lamb:lr=0.01,weight_decay=0.1", "lars:lr=0.5,nesterov=true", "novograd:lr=0.01,weight_decay=0.1"]
    {
        let one = run_on(spec, 1, 3);
        assert_eq!(bits(&one), bits(&run_on(spec, 2, 3)), "{spec}: 2 threads");
        assert_eq!(bits(&one), bits(&run_on(spec, 3, 3)), "{spec}: 3 threads");
    }
    // The first step written out with whole-vector norms summed in one pass (a different
    // summation order, so to 1e-12): LAMB's u = g / (|g| + eps) (bias-corrected moments are g and
    // g^2), ratio ||x|| / ||u||; LARS's ratio 1e-3 ||x|| / ||g||; NovoGrad's g / (||g|| + eps).
    let g0 = g(&x0, 0);
    let norm = |v: &[f64]| v.iter().map(|v| v * v).sum::<f64>().sqrt();
    let u: Vec<f64> = g0.iter().map(|g| g / (g.abs() + 1e-6)).collect();
    let lamb_ratio = norm(&x0) / norm(&u);
    let lars_ratio = 1e-3 * norm(&x0) / norm(&g0);
    let gn = norm(&g0);
    for (spec, want) in [
        ("lamb:lr=0.01", x0.iter().zip(&u).map(|(x, u)| x - 0.01 * (u * lamb_ratio)).collect::<Vec<_>>()),
        ("lars:lr=0.5", x0.iter().zip(&g0).map(|(x, g)| x - 0.5 * (g * lars_ratio)).collect()),
        ("novograd:lr=0.01", x0.iter().zip(&g0).map(|(x, g)| x - 0.01 * (g / (gn + 1e-6))).collect()),
    ] {
        let got = run_on(spec, 2, 1);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-3), "{spec} element {i}: {a} vs {b}");
        }
    }
}

#[test]
fn bad_specs_and_layouts_are_one_line_errors() {
    let cases = [
        ("adamax:beta1=1", "adamax.beta1: 1 is not in [0, 1)"),
        ("adadelta:rho=1.5", "adadelta.rho: 1.5 is not in [0, 1]"),
        ("adadelta:eps=0", "adadelta.eps: 0 is not in (0, inf)"),
        ("rprop:etaminus=1", "rprop.etaminus: 1 is not in (0, 1)"),
        ("rprop:etaplus=0.9", "rprop.etaplus: 0.9 is not in (1, inf)"),
        ("rprop:step_min=1,step_max=0.5", "rprop.step_max: 0.5 is not in [step_min = 1, inf)"),
        ("rprop:weight_decay=0.1", "unknown rprop key 'weight_decay'"),
        ("asgd:lambd=-1", "asgd.lambd: -1 is not in [0, inf)"),
        ("asgd:t0=nan", "asgd.t0: NaN is not in [0, inf)"),
        ("adabelief:eps_root=-1", "adabelief.eps_root: -1 is not in [0, inf)"),
        ("adan:beta3=1", "adan.beta3: 1 is not in [0, 1)"),
        ("lamb:lr=0", "lamb.lr: 0 is not in (0, inf)"),
        ("lars:trust_coefficient=0", "lars.trust_coefficient: 0 is not in (0, inf)"),
        ("lars:nesterov=maybe", "true or false"),
        ("yogi:initial_accumulator=-1", "yogi.initial_accumulator_value: -1 is not in [0, inf)"),
        ("yogi:weight_decay=0.1", "unknown yogi key 'weight_decay'"),
        ("novograd:beta2=1", "novograd.beta2: 1 is not in [0, 1)"),
        ("adabeleif", "did you mean 'adabelief'"),
    ];
    for (spec, needle) in cases {
        let e = optim::build::<f64>(spec, &BuildOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{spec} accepted"));
        let msg = e.to_string();
        assert!(msg.contains(needle), "{spec}: '{msg}' lacks '{needle}'");
        assert!(!msg.contains('\n'), "{spec}: not one line");
    }
    // Rprop's lr is an initial step size: a schedule is refused rather than silently ignored.
    let schedule = downhill::Schedule::parse("constant:lr=0.1").unwrap();
    let e = optim::build::<f64>("rprop", &BuildOptions { schedule: Some(schedule) }).err().unwrap();
    assert!(e.to_string().contains("rprop.lr"), "{e}");
    // Blocks that do not cover the parameters are an error, not a panic.
    for name in ["lamb", "lars", "novograd"] {
        let mut o = optim::build::<f64>(name, &BuildOptions::default()).unwrap();
        o.set_layout(&layout(&[3, 3])).unwrap();
        let mut x = START.to_vec();
        assert!(o.update(&mut x, &grad(&START)).is_err(), "{name}");
        o.set_layout(&layout(&[3, 2])).unwrap();
        o.update(&mut x, &grad(&START)).unwrap();
        assert!(o.set_layout(&layout(&[4, 2])).is_err(), "{name}: state has 5 entries");
    }
    let mut o = optim::build::<f64>("adamax", &BuildOptions::default()).unwrap();
    assert!(o.update(&mut [1.0, 2.0], &[1.0]).is_err());
}
