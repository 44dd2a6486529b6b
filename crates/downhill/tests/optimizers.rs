//! Each optimizer against a reference written here from its published equations in plain f64,
//! independent of the library's code. Gradients come from `q(x) = 3 x0^2 + 0.5 x1^2 - 2 x0 x1`'s
//! closed form, so the tests also exercise non-separable coupling.

use downhill::optim::{
    self, AdaGrad, Adam, EpsPlacement, GradientDescent, Lion, Momentum, Nesterov, NesterovLookahead, Newton,
    RmsProp,
};
use downhill::{minimize, objectives, Objective, Optimizer, OptimizerState, RunOptions, Schedule};

/// A small coupled quadratic, with its gradient in closed form.
struct Coupled;

impl Objective<f64> for Coupled {
    fn dim(&self) -> usize {
        2
    }
    fn value(&self, x: &[f64]) -> f64 {
        3.0 * x[0] * x[0] + 0.5 * x[1] * x[1] - 2.0 * x[0] * x[1]
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        g[0] = 6.0 * x[0] - 2.0 * x[1];
        g[1] = x[1] - 2.0 * x[0];
    }
}

fn grad(x: &[f64]) -> Vec<f64> {
    vec![6.0 * x[0] - 2.0 * x[1], x[1] - 2.0 * x[0]]
}

const START: [f64; 2] = [1.0, -0.7];
const STEPS: usize = 25;

/// Runs `opt` for `STEPS` updates with exact gradients of `Coupled`.
fn run(opt: &mut dyn Optimizer<f64>) -> Vec<Vec<f64>> {
    let mut x = START.to_vec();
    let mut path = vec![x.clone()];
    for _ in 0..STEPS {
        let g = grad(&x);
        opt.update(&mut x, &g).unwrap();
        path.push(x.clone());
    }
    path
}

/// Relative error measured against max(|want|, 0.1): the parameters are of order 1, and iterates
/// that cross zero would otherwise turn an ulp of cancellation into a large relative error.
fn assert_close(label: &str, got: &[Vec<f64>], want: &[Vec<f64>], rel: f64) {
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        for (a, b) in g.iter().zip(w) {
            let err = (a - b).abs() / b.abs().max(0.1);
            assert!(err <= rel, "{label} step {k}: got {a}, want {b} (rel {err:e})");
        }
    }
}

/// Reference loop: `rule(x, g, t)` applies one update in place, t counted from 1.
fn reference(mut rule: impl FnMut(&mut [f64], &[f64], usize)) -> Vec<Vec<f64>> {
    let mut x = START.to_vec();
    let mut path = vec![x.clone()];
    for t in 1..=STEPS {
        let g = grad(&x);
        rule(&mut x, &g, t);
        path.push(x.clone());
    }
    path
}

#[test]
fn gradient_descent() {
    let want = reference(|x, g, _| {
        for i in 0..2 {
            x[i] -= 0.05 * g[i];
        }
    });
    assert_close("gd", &run(&mut GradientDescent::new(0.05).unwrap()), &want, 0.0);
}

#[test]
fn heavy_ball_is_the_seed_form_and_pytorch_dampening() {
    let mut v = [0.0; 2];
    let want = reference(|x, g, _| {
        for i in 0..2 {
            v[i] = 0.8 * v[i] + g[i];
            x[i] -= 0.05 * v[i];
        }
    });
    assert_close("momentum", &run(&mut Momentum::builder().lr(0.05).beta(0.8).build().unwrap()), &want, 0.0);

    // PyTorch: first step buf = g, then buf = mu*buf + (1-d)*g.
    let mut v = [0.0; 2];
    let want = reference(|x, g, t| {
        for i in 0..2 {
            v[i] = if t == 1 { g[i] } else { 0.8 * v[i] + 0.7 * g[i] };
            x[i] -= 0.05 * v[i];
        }
    });
    let mut opt =
        optim::build::<f64>("momentum:lr=0.05,beta=0.8,dampening=0.3", &Default::default()).unwrap();
    assert_close("momentum dampening", &run(opt.as_mut()), &want, 1e-15);
}

#[test]
fn nesterov_pytorch_form() {
    let mut b = [0.0; 2];
    let want = reference(|x, g, t| {
        for i in 0..2 {
            b[i] = if t == 1 { g[i] } else { 0.9 * b[i] + g[i] };
            x[i] -= 0.02 * (g[i] + 0.9 * b[i]);
        }
    });
    assert_close(
        "nesterov pytorch",
        &run(&mut Nesterov::builder().lr(0.02).beta(0.9).build().unwrap()),
        &want,
        0.0,
    );
}

#[test]
fn nesterov_lookahead_is_the_seed_form() {
    // v <- beta v + grad(theta - lr beta v); theta <- theta - lr v
    let (lr, beta) = (0.02, 0.9);
    let mut x = START.to_vec();
    let mut v = [0.0; 2];
    let mut want = vec![x.clone()];
    for _ in 0..STEPS {
        let look = [x[0] - lr * beta * v[0], x[1] - lr * beta * v[1]];
        let g = grad(&look);
        for i in 0..2 {
            v[i] = beta * v[i] + g[i];
            x[i] -= lr * v[i];
        }
        want.push(x.clone());
    }
    let mut opt = NesterovLookahead::builder().lr(lr).beta(beta).build().unwrap();
    let run = minimize(&Coupled, &mut opt, &START, &RunOptions::steps(STEPS as u64), None).unwrap();
    let got: Vec<Vec<f64>> = run.trajectory.iter().map(|p| p.params.clone()).collect();
    assert_close("nesterov lookahead", &got, &want, 0.0);
    // Without the objective the look-ahead form cannot work, and says so.
    assert!(NesterovLookahead::<f64>::builder()
        .lr(lr)
        .beta(beta)
        .build()
        .unwrap()
        .update(&mut [1.0, 1.0], &[1.0, 1.0])
        .is_err());
}

#[test]
fn pytorch_nesterov_iterates_are_the_seed_lookahead_points() {
    // phi_t = theta_t - lr * beta * v_t (see NesterovLookahead's docs).
    let (lr, beta) = (0.003, 0.9);
    for spec in ["rosenbrock:a=1,b=10", "quadratic:a=50,b=1"] {
        let f = objectives::build::<f64>(spec).unwrap();
        let mut seed = NesterovLookahead::builder().lr(lr).beta(beta).build().unwrap();
        let mut torch = Nesterov::builder().lr(lr).beta(beta).build().unwrap();
        let mut theta = vec![-1.5, 2.5];
        let mut phi = theta.clone();
        let mut g = vec![0.0; 2];
        for step in 0..300 {
            f.gradient(&theta, &mut g);
            seed.step_on(f.as_ref(), &mut theta, &g).unwrap();
            f.gradient(&phi, &mut g);
            torch.update(&mut phi, &g).unwrap();
            let v = seed.velocity();
            for i in 0..2 {
                let look = theta[i] - lr * beta * v[i];
                let err = (look - phi[i]).abs() / phi[i].abs().max(1e-3);
                assert!(err < 1e-10, "{spec} step {step}: lookahead {look} vs pytorch {}", phi[i]);
            }
        }
    }
}

#[test]
fn rmsprop_variants() {
    let cases = [(false, false, 0.0), (true, false, 0.0), (false, true, 0.0), (true, true, 0.5)];
    for (centered, inside, mu) in cases {
        let (lr, alpha, eps) = (0.01, 0.9, 1e-3);
        let (mut s, mut a, mut b) = ([0.0; 2], [0.0; 2], [0.0; 2]);
        let want = reference(|x, g, _| {
            for i in 0..2 {
                s[i] = alpha * s[i] + (1.0 - alpha) * g[i] * g[i];
                let mut var = s[i];
                if centered {
                    a[i] = alpha * a[i] + (1.0 - alpha) * g[i];
                    var -= a[i] * a[i];
                }
                let avg = if inside { (var + eps).sqrt() } else { var.sqrt() + eps };
                if mu > 0.0 {
                    b[i] = mu * b[i] + g[i] / avg;
                    x[i] -= lr * b[i];
                } else {
                    x[i] -= lr * (g[i] / avg);
                }
            }
        });
        let mut opt = RmsProp::builder()
            .lr(lr)
            .alpha(alpha)
            .eps(eps)
            .centered(centered)
            .momentum(mu)
            .eps_mode(if inside { EpsPlacement::Inside } else { EpsPlacement::Outside })
            .build()
            .unwrap();
        assert_close(
            &format!("rmsprop centered={centered} inside={inside} mu={mu}"),
            &run(&mut opt),
            &want,
            1e-14,
        );
    }
}

/// Adam from Kingma & Ba's Algorithm 1, in the seed's operation order.
fn adam_reference(lr: f64, wd: f64, decoupled: bool, amsgrad: bool, eps_root: f64) -> Vec<Vec<f64>> {
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let (mut m, mut v, mut vmax) = ([0.0; 2], [0.0; 2], [0.0f64; 2]);
    reference(|x, g, t| {
        for i in 0..2 {
            let mut gi = g[i];
            if decoupled {
                x[i] *= 1.0 - lr * wd;
            } else {
                gi += wd * x[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            vmax[i] = vmax[i].max(v[i]);
            let m_hat = m[i] / (1.0 - b1.powi(t as i32));
            let v_hat = if amsgrad { vmax[i] } else { v[i] } / (1.0 - b2.powi(t as i32));
            x[i] -= lr * m_hat / ((v_hat + eps_root).sqrt() + eps);
        }
    })
}

#[test]
fn adam_adamw_amsgrad_eps_root() {
    // powi vs powf in the bias correction: agreement to a few ulps, hence 1e-13.
    assert_close(
        "adam",
        &run(&mut Adam::new(0.05).unwrap()),
        &adam_reference(0.05, 0.0, false, false, 0.0),
        1e-13,
    );
    let mut coupled = Adam::builder().lr(0.05).weight_decay(0.1).build().unwrap();
    assert_close("adam l2", &run(&mut coupled), &adam_reference(0.05, 0.1, false, false, 0.0), 1e-13);
    let mut w = Adam::adamw_builder().lr(0.05).weight_decay(0.1).build().unwrap();
    assert_close("adamw", &run(&mut w), &adam_reference(0.05, 0.1, true, false, 0.0), 1e-13);
    let mut a = Adam::builder().lr(0.05).amsgrad(true).build().unwrap();
    assert_close("amsgrad", &run(&mut a), &adam_reference(0.05, 0.0, false, true, 0.0), 1e-13);
    let mut a = Adam::builder().lr(0.05).eps_root(1e-4).build().unwrap();
    assert_close("eps_root", &run(&mut a), &adam_reference(0.05, 0.0, false, false, 1e-4), 1e-13);
    // AdamW's default decay is PyTorch's 0.01 and its name is adamw.
    let opt = optim::build::<f64>("adamw", &Default::default()).unwrap();
    assert_eq!(opt.name(), "adamw");
    assert!(opt.hyperparameters().iter().any(|(k, v)| *k == "weight_decay" && *v == 0.01.into()));
}

#[test]
fn adam_first_step_is_lr_times_sign() {
    // With bias correction, m_hat = g and v_hat = g^2 at t = 1, so the step is lr*g/(|g|+eps).
    let mut a = Adam::new(0.1).unwrap();
    let mut x: Vec<f64> = vec![0.0, 0.0, 0.0];
    a.update(&mut x, &[3.0, -1e-3, 0.0]).unwrap();
    assert!((x[0] + 0.1 * 3.0 / (3.0 + 1e-8)).abs() < 1e-16);
    assert!((x[1] - 0.1 * 1e-3 / (1e-3 + 1e-8)).abs() < 1e-16);
    assert_eq!(x[2], 0.0);
}

#[test]
fn adagrad_with_lr_decay() {
    let (lr, decay, eps, init) = (0.3, 0.1, 1e-10, 0.5);
    let mut s = [init; 2];
    let want = reference(|x, g, t| {
        let clr = lr / (1.0 + (t - 1) as f64 * decay);
        for i in 0..2 {
            s[i] += g[i] * g[i];
            x[i] -= clr * (g[i] / (s[i].sqrt() + eps));
        }
    });
    let mut a = AdaGrad::builder().lr(lr).lr_decay(decay).initial_accumulator_value(init).build().unwrap();
    assert_close("adagrad", &run(&mut a), &want, 1e-15);
}

#[test]
fn lion_reference_code() {
    let (lr, b1, b2, wd) = (0.01, 0.9, 0.99, 0.1);
    let mut m = [0.0; 2];
    let want = reference(|x, g, _| {
        for i in 0..2 {
            x[i] *= 1.0 - lr * wd;
            let c = b1 * m[i] + (1.0 - b1) * g[i];
            let sign = if c > 0.0 {
                1.0
            } else if c < 0.0 {
                -1.0
            } else {
                0.0
            };
            x[i] -= lr * sign;
            m[i] = b2 * m[i] + (1.0 - b2) * g[i];
        }
    });
    let mut l = Lion::builder().lr(lr).weight_decay(wd).build().unwrap();
    assert_close("lion", &run(&mut l), &want, 1e-15);
    // sign(0) = 0: a zero gradient moves nothing (f64::signum would give 1).
    let mut l = Lion::<f64>::new(0.1).unwrap();
    let mut x = vec![1.0];
    l.update(&mut x, &[0.0]).unwrap();
    assert_eq!(x[0], 1.0);
}

#[test]
fn newton_lands_on_a_quadratic_minimum_in_one_step() {
    // The notebook: lr * L'/L'' is the whole distance to the minimum of a parabola.
    let f = objectives::build::<f64>("quadratic:a=1").unwrap();
    let run =
        minimize(f.as_ref(), &mut Newton::new(1.0).unwrap(), &[2.5], &RunOptions::steps(1), None).unwrap();
    assert_eq!(run.params, vec![0.0]);
    let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let run = minimize(f.as_ref(), &mut Newton::new(1.0).unwrap(), &[1.0, -3.0], &RunOptions::steps(1), None)
        .unwrap();
    assert!(run.params.iter().all(|p| p.abs() < 1e-15), "{:?}", run.params);
    let run = minimize(&Coupled, &mut optim_newton(), &START, &RunOptions::steps(1), None);
    assert!(run.is_err(), "Coupled has no Hessian: newton must refuse, not guess");
}

fn optim_newton() -> Newton<f64> {
    Newton::new(1.0).unwrap()
}

#[test]
fn newton_on_rosenbrock_converges_quadratically_and_damps_indefinite_hessians() {
    let f = objectives::build::<f64>("rosenbrock:a=1,b=100").unwrap();
    let run =
        minimize(f.as_ref(), &mut Newton::new(1.0).unwrap(), &[-1.2, 1.0], &RunOptions::steps(20), None)
            .unwrap();
    assert!((run.params[0] - 1.0).abs() < 1e-12 && (run.params[1] - 1.0).abs() < 1e-12, "{:?}", run.params);
    // At (0, 1) the Hessian diag(2 - 4b, 2b) is indefinite: the damped step must go downhill.
    let mut n = Newton::new(1e-4).unwrap();
    let mut x = vec![0.0, 1.0];
    let mut g = vec![0.0; 2];
    let before = f.value_and_gradient(&x, &mut g);
    n.step_on(f.as_ref(), &mut x, &g).unwrap();
    assert!(n.last_damping() > 0.0);
    assert!(f.value(&x) < before, "damped Newton stepped uphill");
}

#[test]
fn schedules_drive_the_learning_rate() {
    let s = Schedule::parse("step:lr=0.1,gamma=0.5,every=2").unwrap();
    let mut gd = GradientDescent::builder().lr(s.clone()).build().unwrap();
    let mut x = vec![0.0];
    let mut expected = 0.0;
    for t in 0..6u64 {
        assert_eq!(Optimizer::<f64>::learning_rate(&gd), s.value(t));
        gd.update(&mut x, &[1.0]).unwrap();
        expected -= s.value(t);
        assert_eq!(x[0], expected);
    }
}

#[test]
fn gradient_clipping_by_norm_and_value() {
    // ||(3, 4)|| = 5 > 1: PyTorch's factor is 1 / (5 + 1e-6).
    let mut opt = optim::build::<f64>("gd:lr=1,clip_norm=1", &Default::default()).unwrap();
    let mut x = vec![0.0, 0.0];
    opt.update(&mut x, &[3.0, 4.0]).unwrap();
    let c = 1.0 / (5.0 + 1e-6);
    assert_eq!(x, vec![-3.0 * c, -4.0 * c]);
    let mut opt = optim::build::<f64>("gd:lr=1,clip_value=0.5", &Default::default()).unwrap();
    let mut x = vec![0.0, 0.0, 0.0];
    opt.update(&mut x, &[3.0, -4.0, 0.25]).unwrap();
    assert_eq!(x, vec![-0.5, 0.5, -0.25]);
    // Clipping composes with any optimizer: Adam's first step sees the clipped gradient's sign.
    let mut opt = optim::build::<f64>("adam:lr=0.1,clip_norm=1e-3", &Default::default()).unwrap();
    let mut x = vec![0.0];
    opt.update(&mut x, &[1e6]).unwrap();
    assert!((x[0] + 0.1).abs() < 1e-6);
}

#[test]
fn state_round_trips_bit_for_bit() {
    for spec in [
        "adam:lr=0.05,amsgrad=true",
        "rmsprop:lr=0.01,centered=true,momentum=0.5",
        "momentum:lr=0.05",
        "lion:lr=0.01",
        "adagrad",
        "nesterov:form=pytorch,lr=0.02",
        "adamw:lr=0.05",
    ] {
        let mut straight = optim::build::<f64>(spec, &Default::default()).unwrap();
        let whole = run_n(straight.as_mut(), START.to_vec(), 40);

        let mut first = optim::build::<f64>(spec, &Default::default()).unwrap();
        let half = run_n(first.as_mut(), START.to_vec(), 20);
        let json = serde_json::to_string(&first.state()).unwrap();
        let state: OptimizerState<f64> = serde_json::from_str(&json).unwrap();
        let mut second = optim::build::<f64>(spec, &Default::default()).unwrap();
        second.load_state(state).unwrap();
        let resumed = run_n(second.as_mut(), half, 20);
        assert_eq!(
            whole.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            resumed.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "{spec}"
        );
    }
    // Loading another optimizer's state is refused.
    let adam = optim::build::<f64>("adam", &Default::default()).unwrap();
    let mut lion = optim::build::<f64>("lion", &Default::default()).unwrap();
    assert!(lion.load_state(adam.state()).is_err());
}

fn run_n(opt: &mut dyn Optimizer<f64>, mut x: Vec<f64>, n: usize) -> Vec<f64> {
    for _ in 0..n {
        let g = grad(&x);
        opt.update(&mut x, &g).unwrap();
    }
    x
}

#[test]
fn f32_follows_f64() {
    let f64_obj = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let f32_obj = objectives::build::<f32>("quadratic:a=50,b=1").unwrap();
    for spec in [
        "gd:lr=0.005",
        "momentum:lr=0.002",
        "adam:lr=0.1",
        "rmsprop:lr=0.01",
        "lion:lr=0.01",
        "adagrad:lr=0.1",
        "nesterov:lr=0.002",
        "newton:lr=0.5",
    ] {
        let mut a = optim::build::<f64>(spec, &Default::default()).unwrap();
        let mut b = optim::build::<f32>(spec, &Default::default()).unwrap();
        let ra = minimize(f64_obj.as_ref(), a.as_mut(), &[1.0, 1.0], &RunOptions::steps(100), None).unwrap();
        let rb =
            minimize(f32_obj.as_ref(), b.as_mut(), &[1.0f32, 1.0], &RunOptions::steps(100), None).unwrap();
        for (x, y) in ra.params.iter().zip(&rb.params) {
            assert!((x - *y as f64).abs() < 1e-4, "{spec}: f64 {x} vs f32 {y}");
        }
    }
}

#[test]
fn lengths_are_checked_not_panicked() {
    let mut a = Adam::<f64>::new(0.1).unwrap();
    assert!(a.update(&mut [1.0, 2.0], &[1.0]).is_err());
    a.update(&mut [1.0, 2.0], &[1.0, 1.0]).unwrap();
    assert!(a.update(&mut [1.0, 2.0, 3.0], &[1.0, 1.0, 1.0]).is_err(), "state has 2 entries");
}

#[test]
fn bad_specs_are_one_line_errors() {
    let cases = [
        ("adma", "did you mean 'adam'"),
        ("adam:bta1=0.9", "did you mean 'beta1'"),
        ("adam:lr=0", "adam.lr: 0 is not in (0, inf)"),
        ("adam:lr=-1", "adam.lr: -1 is not in (0, inf)"),
        ("adam:lr=nan", "adam.lr: NaN is not in (0, inf)"),
        ("adam:beta1=1", "adam.beta1: 1 is not in [0, 1)"),
        ("momentum:beta=-0.1", "momentum.beta: -0.1 is not in [0, 1)"),
        ("rmsprop:eps=0", "rmsprop.eps: 0 is not in (0, inf)"),
        ("adam:amsgrad=maybe", "true or false"),
        ("nesterov:form=sideways", "lookahead, pytorch"),
        ("nesterov:dampening=0.5", "form=pytorch"),
        ("adam:lr=abc", "cannot read 'abc' as a number"),
    ];
    for (spec, needle) in cases {
        let e =
            optim::build::<f64>(spec, &Default::default()).err().unwrap_or_else(|| panic!("{spec} accepted"));
        let msg = e.to_string();
        assert!(msg.contains(needle), "{spec}: '{msg}' lacks '{needle}'");
        assert!(!msg.contains('\n'), "{spec}: not one line");
    }
    let sched = Schedule::parse("constant:lr=0.1").unwrap();
    let both = optim::build::<f64>("gd:lr=0.1", &optim::BuildOptions { schedule: Some(sched) });
    assert!(both.is_err());
}

#[test]
fn every_registered_name_builds_and_steps() {
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    for name in optim::names() {
        // ASGD's PyTorch default (lr 1e-2) is SGD at 0.01, which oscillates here as `gd:lr=0.01`
        // does (curvature about 170 at the start); it is checked at a stable rate instead.
        let spec = if name == "asgd" { "asgd:lr=1e-3" } else { name };
        let mut opt = optim::build::<f64>(spec, &Default::default()).unwrap();
        let run = minimize(f.as_ref(), opt.as_mut(), &[-1.5, 2.5], &RunOptions::steps(10), None).unwrap();
        assert_eq!(run.steps, 10, "{name}");
        assert!(run.loss < f.value(&[-1.5, 2.5]), "{name} did not go downhill");
    }
}

#[test]
fn threaded_and_vectorized_steps_are_bit_identical_to_the_scalar_reference() {
    // Large enough to be split across threads; compare with a one-thread pool and with an
    // independent scalar loop written from the seed's equations.
    let n = 300_000;
    let grads: Vec<f32> = (0..n).map(|i| ((i % 997) as f32 - 498.0) * 1e-3).collect();
    let start: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32 - 500.0) * 1e-3).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut a = Adam::<f32>::adamw(1e-2).unwrap();
            let mut p = start.clone();
            for _ in 0..3 {
                a.update(&mut p, &grads).unwrap();
            }
            p
        })
    };
    let (one, two) = (run(1), run(2));
    assert!(one.iter().zip(&two).all(|(a, b)| a.to_bits() == b.to_bits()));
    // Scalar reference, AdamW in the seed's order, f32 arithmetic with f64-computed scalars as the library does.
    let (lr, wd, b1, b2, eps) = (1e-2f64, 0.01f64, 0.9f64, 0.999f64, 1e-8f64);
    let mut p = start.clone();
    let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
    for t in 1..=3 {
        let bc1 = (1.0 - b1.powf(t as f64)) as f32;
        let bc2 = (1.0 - b2.powf(t as f64)) as f32;
        for i in 0..n {
            let mut pi = p[i];
            pi *= (1.0 - lr * wd) as f32;
            let g = grads[i];
            m[i] = b1 as f32 * m[i] + (1.0 - b1) as f32 * g;
            v[i] = b2 as f32 * v[i] + (1.0 - b2) as f32 * (g * g);
            p[i] = pi - lr as f32 * (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps as f32);
        }
    }
    assert!(
        p.iter().zip(&one).all(|(a, b)| a.to_bits() == b.to_bits()),
        "SIMD/threaded Adam differs from the scalar loop"
    );
}

#[test]
fn adams_few_parameter_path_equals_its_vector_kernel_bit_for_bit() {
    // Up to 16 parameters take a short path without the kernel's set-up; 17 take the kernel.
    // Each element's update is independent, so the first 16 of 17 must match 16 exactly, over
    // enough steps for the bias corrections to reach exactly 1.
    for (label, make) in [
        ("adam", (|| Adam::new(0.01).unwrap()) as fn() -> Adam<f64>),
        ("adamw", || Adam::adamw_builder().lr(0.01).weight_decay(0.3).build().unwrap()),
        ("adam eps", || Adam::builder().lr(0.2).eps(1e-3).beta1(0.5).build().unwrap()),
    ] {
        let (mut small, mut large) = (make(), make());
        let mut x16: Vec<f64> = (0..16).map(|i| (i as f64 - 7.5) / 3.0).collect();
        let mut x17 = x16.clone();
        x17.push(0.25);
        for step in 0..1500 {
            let g16: Vec<f64> =
                x16.iter().enumerate().map(|(i, x)| (i as f64 + 1.0) * x - 0.1 * x * x).collect();
            let mut g17 = g16.clone();
            g17.push(0.5 * x17[16]);
            small.update(&mut x16, &g16).unwrap();
            large.update(&mut x17, &g17).unwrap();
            for i in 0..16 {
                assert_eq!(x16[i].to_bits(), x17[i].to_bits(), "{label} step {step} element {i}");
            }
        }
    }
}

#[test]
fn vectorized_rmsprop_and_adagrad_are_bit_identical_to_scalar_loops() {
    // Large enough for threads and the AVX2 build; references written from the equations with
    // the library's scalar conversions.
    fn check<T: downhill::Real>() {
        let n = 200_003;
        let grads: Vec<T> = (0..n).map(|i| T::from_f64(((i % 991) as f64 - 495.0) * 1e-3)).collect();
        let start: Vec<T> = (0..n).map(|i| T::from_f64(((i % 1009) as f64 - 504.0) * 1e-3)).collect();
        let (lr, alpha, eps) = (1e-2, 0.99, 1e-8);
        let mut rms = RmsProp::new(lr).unwrap();
        let mut ada = AdaGrad::new(lr).unwrap();
        let (mut p_rms, mut p_ada) = (start.clone(), start.clone());
        let (mut q_rms, mut q_ada) = (start.clone(), start.clone());
        let (mut sq, mut sum) = (vec![T::ZERO; n], vec![T::ZERO; n]);
        for _ in 0..3 {
            rms.update(&mut p_rms, &grads).unwrap();
            ada.update(&mut p_ada, &grads).unwrap();
            for i in 0..n {
                let g = grads[i];
                sq[i] = T::from_f64(alpha) * sq[i] + T::from_f64(1.0 - alpha) * (g * g);
                q_rms[i] -= T::from_f64(lr) * (g / (sq[i].sqrt() + T::from_f64(eps)));
                sum[i] += g * g;
                q_ada[i] -= T::from_f64(lr) * (g / (sum[i].sqrt() + T::from_f64(1e-10)));
            }
        }
        let same =
            |a: &[T], b: &[T]| a.iter().zip(b).all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits());
        assert!(same(&p_rms, &q_rms), "rmsprop {}", T::NAME);
        assert!(same(&p_ada, &q_ada), "adagrad {}", T::NAME);
    }
    check::<f64>();
    check::<f32>();
}
