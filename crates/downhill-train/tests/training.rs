//! Training: backward passes against finite differences, the new optimizers against loops
//! written from their papers' equations, exact resume, thread-count independence, learning.

use downhill::optim::{self, Block, Muon, Optimizer};
use downhill::rng::Rng;
use downhill_train::{Dataset, Labels, Model, Snapshot, Target, Trainer, Workspace};

fn classes_target(n: usize, c: usize) -> Target {
    Target::Classes {
        labels: (0..n as u32).map(|i| (i * 7 + 3) % c as u32).collect(),
        names: (0..c).map(|i| i.to_string()).collect(),
    }
}

/// Central differences of the mean batch loss, against the hand-written backward pass.
fn check_gradient(spec: &str, target: Target, inputs: usize, batch: usize) {
    let model = Model::parse(spec, inputs, &target).unwrap();
    let mut rng = Rng::new(11);
    let params: Vec<f64> = model.init(&mut rng);
    let x: Vec<f64> = (0..batch * inputs).map(|_| rng.normal()).collect();
    let values: Vec<f64>;
    let labels = match &target {
        Target::Classes { labels, .. } => Labels::Classes(&labels[..batch]),
        Target::Values { names, .. } => {
            values = (0..batch * names.len()).map(|_| rng.normal()).collect();
            Labels::Values(&values)
        }
    };
    let mut ws = Workspace::default();
    let mut grad = vec![0.0; params.len()];
    model.loss_and_gradient(&params, &x, labels, batch, &mut grad, &mut ws);
    let mut scratch = vec![0.0; params.len()];
    let mut worst: f64 = 0.0;
    for i in 0..params.len() {
        let h = 1e-5;
        let mut p = params.clone();
        let f = |p: &[f64], ws: &mut Workspace<f64>, s: &mut Vec<f64>| {
            model.loss_and_gradient(p, &x, labels, batch, s, ws)
        };
        p[i] = params[i] + h;
        let fp = f(&p, &mut ws, &mut scratch);
        p[i] = params[i] - h;
        let fm = f(&p, &mut ws, &mut scratch);
        p[i] = params[i] + 2.0 * h;
        let fpp = f(&p, &mut ws, &mut scratch);
        p[i] = params[i] - 2.0 * h;
        let fmm = f(&p, &mut ws, &mut scratch);
        let fd = (8.0 * (fp - fm) - (fpp - fmm)) / (12.0 * h);
        // Relative error, with an absolute floor for components near zero (rounding in the
        // differences is about 1e-16 / h = 1e-11).
        let err = (fd - grad[i]).abs() / (1e-4 + fd.abs().max(grad[i].abs()));
        worst = worst.max(err);
    }
    assert!(worst < 1e-6, "{spec}: worst relative gradient error {worst:e}");
}

#[test]
fn backward_passes_match_finite_differences() {
    for act in ["relu", "tanh", "gelu"] {
        check_gradient(&format!("mlp:hidden=6,5,act={act}"), classes_target(9, 4), 3, 9);
        let values = Target::Values { values: vec![0.0; 18], names: vec!["a".into(), "b".into()] };
        check_gradient(&format!("mlp:hidden=7,act={act}"), values, 4, 9);
    }
    check_gradient("softmax", classes_target(8, 3), 5, 8);
    check_gradient("logistic", classes_target(8, 2), 5, 8);
    check_gradient("linear", Target::Values { values: vec![0.0; 8], names: vec!["y".into()] }, 3, 8);
    check_gradient("mlp:hidden=5,loss=mse", classes_target(8, 3), 4, 8);
}

#[test]
fn losses_equal_their_definitions() {
    // One sample, softmax: loss = logsumexp(z) - z_y, computed from a zero-weight model's biases.
    let target = classes_target(1, 3);
    let model = Model::parse("softmax", 2, &target).unwrap();
    let mut params = vec![0.0f64; model.num_params()];
    params[6..9].copy_from_slice(&[1.0, 2.0, 3.0]);
    let label = match &target {
        Target::Classes { labels, .. } => labels[0] as usize,
        _ => unreachable!(),
    };
    let z = [1.0f64, 2.0, 3.0];
    let want = z.iter().map(|v| v.exp()).sum::<f64>().ln() - z[label];
    let mut ws = Workspace::default();
    let t = model.evaluate(&params, &[0.5, -0.5], Labels::Classes(&[label as u32]), &mut ws);
    assert!((t.loss - want).abs() < 1e-14);
    // Large logits do not overflow.
    params[6..9].copy_from_slice(&[1000.0, 0.0, -1000.0]);
    let t = model.evaluate(&params, &[0.0, 0.0], Labels::Classes(&[2]), &mut ws);
    assert_eq!(t.loss, 2000.0);
}

/// Runs `opt` on gradients of f(x) = sum c_i x_i^2 and returns the iterates.
fn run(opt: &mut dyn Optimizer<f64>, x0: &[f64], steps: usize) -> Vec<Vec<f64>> {
    let c: Vec<f64> = (0..x0.len()).map(|i| 1.0 + i as f64).collect();
    let mut x = x0.to_vec();
    let mut out = vec![x.clone()];
    for _ in 0..steps {
        let g: Vec<f64> = x.iter().zip(&c).map(|(x, c)| 2.0 * c * x).collect();
        opt.update(&mut x, &g).unwrap();
        out.push(x.clone());
    }
    out
}

fn close(a: &[Vec<f64>], b: &[Vec<f64>], tol: f64, what: &str) {
    for (t, (x, y)) in a.iter().zip(b).enumerate() {
        for (u, v) in x.iter().zip(y) {
            assert!((u - v).abs() <= tol * (1.0 + v.abs()), "{what}: step {t}: {u} vs {v}");
        }
    }
}

#[test]
fn nadam_follows_pytorch_equations() {
    let (lr, b1, b2, eps, psi): (f64, f64, f64, f64, f64) = (0.01, 0.9, 0.999, 1e-8, 4e-3);
    let mut o = optim::build::<f64>("nadam:lr=0.01", &Default::default()).unwrap();
    let got = run(o.as_mut(), &[1.0, -2.0, 0.5], 50);
    let mut x = vec![1.0, -2.0, 0.5];
    let (mut m, mut v, mut prod) = (vec![0.0; 3], vec![0.0; 3], 1.0);
    let mut want = vec![x.clone()];
    for t in 1..=50 {
        let mu = b1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * psi));
        let mu1 = b1 * (1.0 - 0.5 * 0.96f64.powf((t + 1) as f64 * psi));
        prod *= mu;
        for i in 0..3 {
            let g = 2.0 * (1.0 + i as f64) * x[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let d = (v[i] / (1.0 - b2.powi(t))).sqrt() + eps;
            x[i] -= lr * (1.0 - mu) / (1.0 - prod) * g / d + lr * mu1 / (1.0 - prod * mu1) * m[i] / d;
        }
        want.push(x.clone());
    }
    close(&got, &want, 1e-12, "nadam");
}

#[test]
fn radam_follows_pytorch_equations() {
    let (lr, b1, b2, eps): (f64, f64, f64, f64) = (0.01, 0.9, 0.999, 1e-8);
    let mut o = optim::build::<f64>("radam:lr=0.01", &Default::default()).unwrap();
    let got = run(o.as_mut(), &[1.0, -2.0, 0.5], 60);
    let rho_inf = 2.0 / (1.0 - b2) - 1.0;
    let mut x = vec![1.0, -2.0, 0.5];
    let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
    let mut want = vec![x.clone()];
    let mut switched = None;
    for t in 1..=60 {
        let rho = rho_inf - 2.0 * t as f64 * b2.powi(t) / (1.0 - b2.powi(t));
        for i in 0..3 {
            let g = 2.0 * (1.0 + i as f64) * x[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let mhat = m[i] / (1.0 - b1.powi(t));
            if rho > 5.0 {
                switched.get_or_insert(t);
                let r =
                    ((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)).sqrt();
                let vhat = (v[i] / (1.0 - b2.powi(t))).sqrt();
                x[i] -= lr * mhat * r / (vhat + eps / (1.0 - b2.powi(t)).sqrt());
            } else {
                x[i] -= lr * mhat;
            }
        }
        want.push(x.clone());
    }
    // rho_t first exceeds 5 at t = 6 for beta2 = 0.999 (the paper's warm-up of the variance).
    assert_eq!(switched, Some(6));
    close(&got, &want, 1e-10, "radam");
}

#[test]
fn schedule_free_adamw_follows_the_reference_and_evaluates_at_x() {
    let (lr, b1, b2, eps): (f64, f64, f64, f64) = (0.05, 0.9, 0.999, 1e-8);
    let mut o = optim::build::<f64>("sf-adamw:lr=0.05", &Default::default()).unwrap();
    let got = run(o.as_mut(), &[1.0, -2.0], 40);
    // The paper's form with x kept explicitly: y = (1 - b1) z + b1 x, z <- z - lr u,
    // x <- (1 - c) x + c z with c = 1/t (r = 0, constant lr): x_t is the mean of z_1..z_t.
    let mut z = vec![1.0, -2.0];
    let mut xs = z.clone();
    let mut v = [0.0; 2];
    let mut y = z.clone();
    let mut want = vec![y.clone()];
    for t in 1..=40 {
        for i in 0..2 {
            let g = 2.0 * (1.0 + i as f64) * y[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let u = g / ((v[i] / (1.0 - b2.powi(t))).sqrt() + eps);
            z[i] -= lr * u;
            let c = 1.0 / t as f64;
            xs[i] = (1.0 - c) * xs[i] + c * z[i];
            y[i] = (1.0 - b1) * z[i] + b1 * xs[i];
        }
        want.push(y.clone());
    }
    close(&got, &want, 1e-9, "sf-adamw y");
    let x_eval = o.eval_params(&got[40]).unwrap();
    for i in 0..2 {
        assert!((x_eval[i] - xs[i]).abs() < 1e-9, "x: {} vs {}", x_eval[i], xs[i]);
    }
}

fn naive_ns(g: &[f64], rows: usize, cols: usize, steps: usize) -> Vec<f64> {
    // X = G / |G|_F, X <- a X + (b A + c A^2) X with A = X X^T, on the rows x cols matrix.
    let (a, b, c) = (3.4445, -4.7750, 2.0315);
    let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-7;
    let mut x: Vec<f64> = g.iter().map(|v| v / norm).collect();
    let mm = |p: &[f64], q: &[f64], n: usize, k: usize, m: usize| {
        let mut o = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..m {
                o[i * m + j] = (0..k).map(|l| p[i * k + l] * q[l * m + j]).sum();
            }
        }
        o
    };
    for _ in 0..steps {
        let xt: Vec<f64> = (0..cols * rows).map(|i| x[(i % rows) * cols + i / rows]).collect();
        let aa = mm(&x, &xt, rows, cols, rows);
        let a2 = mm(&aa, &aa, rows, rows, rows);
        let bm: Vec<f64> = aa.iter().zip(&a2).map(|(p, q)| b * p + c * q).collect();
        let bx = mm(&bm, &x, rows, rows, cols);
        x = x.iter().zip(&bx).map(|(p, q)| a * p + q).collect();
    }
    x
}

#[test]
fn muon_orthogonalizes_matrices_and_uses_adamw_on_vectors() {
    let mut rng = Rng::new(3);
    let (fan_out, fan_in) = (3, 5);
    // downhill stores the layer as fan_in x fan_out.
    let w0: Vec<f64> = (0..fan_in * fan_out).map(|_| rng.normal()).collect();
    let b0: Vec<f64> = (0..fan_out).map(|_| rng.normal()).collect();
    let g: Vec<f64> = (0..fan_in * fan_out + fan_out).map(|_| rng.normal()).collect();
    let mut muon = Muon::<f64>::new(0.02).unwrap();
    muon.set_layout(&[Block { len: 15, shape: Some((fan_out, fan_in)) }, Block { len: 3, shape: None }])
        .unwrap();
    let mut p: Vec<f64> = w0.iter().chain(&b0).copied().collect();
    muon.update(&mut p, &g).unwrap();
    // Step 1 from zero momentum: b = (1 - beta) g, u = (1 - beta) g + beta b.
    let u: Vec<f64> = g[..15].iter().map(|g| 0.05 * g + 0.95 * (0.05 * g)).collect();
    let o = naive_ns(&u, fan_in, fan_out, 5);
    for i in 0..15 {
        let want = w0[i] - 0.02 * o[i];
        assert!((p[i] - want).abs() < 1e-12, "weight {i}: {} vs {want}", p[i]);
    }
    // NS5 leaves the singular values near 1 (the quintic's fixed band is about [0.68, 1.13]).
    let gram: Vec<f64> = (0..fan_out * fan_out)
        .map(|k| (0..fan_in).map(|l| o[l * fan_out + k / fan_out] * o[l * fan_out + k % fan_out]).sum())
        .collect();
    for k in 0..fan_out {
        assert!((0.4..1.3).contains(&gram[k * fan_out + k]), "diagonal of O^T O: {}", gram[k * fan_out + k]);
    }
    // Biases: one AdamW step from zero moments moves each by lr * ratio * sign(g) (to ~eps).
    for i in 0..3 {
        let want = b0[i] - 0.02 * 0.015 * g[15 + i].signum();
        assert!((p[15 + i] - want).abs() < 1e-9, "bias {i}");
    }
}

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

fn trainer(spec: &str, data: &Dataset, groups: bool) -> Trainer<f32> {
    let (train, val) = data.split(0.25, 5).unwrap();
    let model = Model::parse("mlp:hidden=16,8", 3, &data.target).unwrap();
    let opt = downhill_train::build_optimizer::<f32>(spec, &Default::default(), &model, !groups).unwrap();
    Trainer::new(&train, &val, model, opt, 16, 9).unwrap()
}

#[test]
fn resume_is_bit_identical_to_training_straight_through() {
    let data = blobs(300, 1);
    for (spec, groups) in [
        ("adam:lr=0.01", false),
        ("sf-adamw:lr=0.01", false),
        ("muon:lr=0.02", false),
        ("adamw:lr=0.01,weight_decay=0.1", true),
        ("nadam", false),
        ("adafactor", true),
    ] {
        let mut straight = trainer(spec, &data, groups);
        for _ in 0..6 {
            straight.epoch().unwrap();
        }
        let mut first = trainer(spec, &data, groups);
        for _ in 0..3 {
            first.epoch().unwrap();
        }
        // Through JSON, as a checkpoint file would be.
        let json = serde_json::to_string(&first.snapshot()).unwrap();
        let snap: Snapshot<f32> = serde_json::from_str(&json).unwrap();
        let mut resumed = trainer(spec, &data, groups);
        resumed.restore(snap).unwrap();
        for _ in 0..3 {
            resumed.epoch().unwrap();
        }
        assert_eq!(straight.params(), resumed.params(), "{spec}");
        let strip = |h: &[downhill_train::EpochStats]| {
            h.iter().map(|e| (e.epoch, e.step, e.train_loss, e.val_loss, e.val_accuracy)).collect::<Vec<_>>()
        };
        assert_eq!(strip(straight.history()), strip(resumed.history()), "{spec}");
    }
}

#[test]
fn training_is_identical_on_one_and_two_threads() {
    // Wide enough that the products split across threads.
    let data = blobs(600, 2);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let (train, val) = data.split(0.2, 1).unwrap();
            let model = Model::parse("mlp:hidden=512,256", 3, &data.target).unwrap();
            let opt = optim::build::<f32>("adam:lr=1e-3", &Default::default()).unwrap();
            let mut t = Trainer::new(&train, &val, model, opt, 128, 3).unwrap();
            t.epoch().unwrap();
            t.params().to_vec()
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn every_training_optimizer_learns_separable_blobs() {
    let data = blobs(300, 4);
    for spec in [
        "gd:lr=0.1",
        "momentum:lr=0.05",
        "rmsprop:lr=0.003",
        "adam:lr=0.01",
        "adamw:lr=0.01",
        "nadam",
        "radam:lr=0.01",
        "sf-adamw:lr=0.01",
        "muon:lr=0.02",
        "lion:lr=1e-3",
        "adafactor",
    ] {
        let mut t = trainer(spec, &data, false);
        for _ in 0..15 {
            t.epoch().unwrap();
        }
        let last = t.history().last().unwrap();
        assert!(last.val_accuracy.unwrap() > 0.9, "{spec}: {last:?}");
        assert!(last.train_loss < t.history()[0].train_loss, "{spec}");
    }
}

#[test]
fn diverging_training_stops_with_a_clear_error_and_finite_params() {
    let data = blobs(120, 6);
    let mut t = trainer("gd:lr=1e30", &data, false);
    let mut err = None;
    for _ in 0..5 {
        if let Err(e) = t.epoch() {
            err = Some(e.to_string());
            break;
        }
    }
    let err = err.expect("lr 1e30 must diverge");
    assert!(err.contains("lower the learning rate"), "{err}");
    assert!(t.params().iter().all(|p| p.is_finite()));
}

#[cfg(feature = "datasets")]
#[test]
fn iris_mlp_reaches_high_validation_accuracy() {
    let data = downhill_train::builtin("iris").unwrap();
    assert_eq!((data.len(), data.dim), (150, 4));
    let (train, val) = data.split(0.2, 1).unwrap();
    let model = Model::parse("mlp:hidden=32", 4, &data.target).unwrap();
    let opt = optim::build::<f32>("adam:lr=0.01", &Default::default()).unwrap();
    let mut t = Trainer::new(&train, &val, model, opt, 16, 1).unwrap();
    for _ in 0..60 {
        t.epoch().unwrap();
    }
    assert!(t.history().last().unwrap().val_accuracy.unwrap() >= 0.9);
}

#[test]
fn the_bias_group_is_not_decayed() {
    let target = classes_target(4, 2);
    let model = Model::parse("mlp:hidden=3", 2, &target).unwrap();
    let spec = "adamw:lr=0.1,weight_decay=0.5";
    let mut opt = downhill_train::build_optimizer::<f64>(spec, &Default::default(), &model, false).unwrap();
    let mut p = vec![1.0; model.num_params()];
    // A zero gradient leaves Adam's moments at zero, so only the decoupled decay moves weights.
    opt.update(&mut p, &vec![0.0; model.num_params()]).unwrap();
    let nw = model.weights();
    assert!(p[..nw].iter().all(|&w| w == 1.0 - 0.1 * 0.5), "{p:?}");
    assert!(p[nw..].iter().all(|&b| b == 1.0), "{p:?}");
}

#[test]
fn adafactor_follows_pytorch_equations_on_matrices_and_vectors() {
    use downhill::optim::Adafactor;
    // One 3 x 2 weight (PyTorch orientation: rows = fan_out = 3, cols = fan_in = 2) and a bias of 3.
    let (rows, cols) = (3usize, 2usize);
    let mut rng = Rng::new(21);
    let w_pt: Vec<f64> = (0..rows * cols).map(|_| rng.normal()).collect(); // [j][i], j < rows
    let bias: Vec<f64> = (0..rows).map(|_| rng.normal()).collect();
    // downhill stores the weight transposed: [i][j].
    let mut p: Vec<f64> =
        (0..cols).flat_map(|i| (0..rows).map(move |j| (i, j))).map(|(i, j)| w_pt[j * cols + i]).collect();
    p.extend(&bias);
    let mut opt = Adafactor::<f64>::new(0.05).unwrap();
    opt.set_layout(&[Block { len: 6, shape: Some((rows, cols)) }, Block { len: 3, shape: None }]).unwrap();
    // Reference, written from torch.optim.Adafactor's algorithm in PyTorch's orientation.
    let (mut w, mut b) = (w_pt.clone(), bias.clone());
    let (mut r, mut c, mut v) = (vec![0.0; rows], vec![0.0; cols], vec![0.0; rows]);
    let eps1 = f64::EPSILON;
    let rms = |x: &[f64]| (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
    for t in 1..=6 {
        let gw: Vec<f64> = w.iter().enumerate().map(|(k, x)| (k as f64 + 1.0) * x - 0.3).collect();
        let gb: Vec<f64> = b.iter().map(|x| 2.0 * x + 0.1).collect();
        // downhill's gradient in its own layout.
        let mut g: Vec<f64> =
            (0..cols).flat_map(|i| (0..rows).map(move |j| (i, j))).map(|(i, j)| gw[j * cols + i]).collect();
        g.extend(&gb);
        opt.update(&mut p, &g).unwrap();

        let tf = t as f64;
        let beta2 = 1.0 - tf.powf(-0.8);
        let rho = 0.05f64.min(1.0 / tf.sqrt());
        // Weight.
        let alpha = rms(&w).max(1e-3) * rho;
        for j in 0..rows {
            let mean = (0..cols).map(|i| gw[j * cols + i].powi(2)).sum::<f64>() / cols as f64;
            r[j] = beta2 * r[j] + (1.0 - beta2) * mean;
        }
        for i in 0..cols {
            let mean = (0..rows).map(|j| gw[j * cols + i].powi(2)).sum::<f64>() / rows as f64;
            c[i] = beta2 * c[i] + (1.0 - beta2) * mean;
        }
        let rmean = (r.iter().sum::<f64>() / rows as f64).max(eps1);
        let u: Vec<f64> = (0..rows * cols)
            .map(|k| gw[k] / (r[k / cols] * c[k % cols] / rmean).max(eps1 * eps1).sqrt())
            .collect();
        let scale = alpha / (rms(&u) / 1.0).max(1.0);
        w.iter_mut().zip(&u).for_each(|(x, u)| *x -= scale * u);
        // Bias.
        let alpha = rms(&b).max(1e-3) * rho;
        let mut ub = vec![0.0; rows];
        for k in 0..rows {
            v[k] = beta2 * v[k] + (1.0 - beta2) * gb[k] * gb[k];
            ub[k] = gb[k] / v[k].max(eps1 * eps1).sqrt();
        }
        let scale = alpha / rms(&ub).max(1.0);
        b.iter_mut().zip(&ub).for_each(|(x, u)| *x -= scale * u);

        for i in 0..cols {
            for j in 0..rows {
                assert!((p[i * rows + j] - w[j * cols + i]).abs() < 1e-12, "step {t} weight [{j}][{i}]");
            }
        }
        for k in 0..rows {
            assert!((p[6 + k] - b[k]).abs() < 1e-12, "step {t} bias {k}");
        }
    }
    // The factored state is rows + cols numbers, not rows x cols.
    let st = opt.state();
    assert_eq!(
        st.buffers.iter().map(|(n, b)| (n.as_str(), b.len())).collect::<Vec<_>>(),
        vec![("r", 3), ("c", 2), ("v", 3)]
    );
}

// Moved from the core crate's tests/first_order.rs with the training code.
#[test]
fn training_takes_layer_wise_norms_per_weight_matrix_and_bias() {
    use downhill::optim::BuildOptions;
    // One batch per epoch, so one epoch is one step: LAMB moves each weight matrix and each bias
    // by lr * ||theta_b|| (bias blocks start at 0, where the trust ratio is 1 instead).
    let features: Vec<f64> = (0..120).map(|i| ((i * 37) % 17) as f64 / 8.0 - 1.0).collect();
    let labels: Vec<u32> = (0..40).map(|i| (i % 2) as u32).collect();
    let data = Dataset {
        name: "toy".into(),
        features,
        dim: 3,
        feature_names: vec!["a".into(), "b".into(), "c".into()],
        target: Target::Classes { labels, names: vec!["0".into(), "1".into()] },
    };
    let (train, val) = data.split(0.25, 5).unwrap();
    let model = Model::parse("mlp:hidden=4", 3, &data.target).unwrap();
    let blocks = model.blocks();
    let opt = optim::build::<f64>("lamb:lr=0.01", &BuildOptions::default()).unwrap();
    let mut t = Trainer::new(&train, &val, model, opt, train.len(), 3).unwrap();
    let before = t.params().to_vec();
    t.epoch().unwrap();
    let after = t.params().to_vec();
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let mut start = 0;
    let mut matrices = 0;
    for b in &blocks {
        let r = start..start + b.len;
        start += b.len;
        let moved = norm(&mut r.clone().map(|i| after[i] - before[i]));
        let size = norm(&mut r.clone().map(|i| before[i]));
        if size > 0.0 {
            matrices += 1;
            assert!((moved - 0.01 * size).abs() <= 1e-12 * size, "block {r:?}: moved {moved}, size {size}");
        }
    }
    assert!(matrices >= 2, "the model has two weight matrices");
}
