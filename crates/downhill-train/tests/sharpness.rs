//! Sharpness (the top Hessian eigenvalue of the training loss) against the exact Hessian of small
//! models, built from loss values alone and diagonalized by a Jacobi solver written here.

use downhill::rng::Rng;
use downhill_train::{
    sharpness, top_eigenvalue, Dataset, HessianOperator, Labels, LanczosOptions, Model, Target, Trainer,
    Workspace,
};

/// Eigenvalues (ascending) of a symmetric row-major matrix by cyclic Jacobi rotations, written
/// independently of the library's solver.
fn jacobi_eigenvalues(m: &[f64], n: usize) -> Vec<f64> {
    let mut a = m.to_vec();
    for _ in 0..200 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p * n + q].abs() < 1e-300 {
                    continue;
                }
                // Rotation angle that zeroes a[p][q]: tan(2 phi) = 2 a_pq / (a_qq - a_pp).
                let phi = 0.5 * (2.0 * a[p * n + q]).atan2(a[q * n + q] - a[p * n + p]);
                let (s, c) = phi.sin_cos();
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    ev.sort_by(f64::total_cmp);
    ev
}

/// Mean loss from the forward pass only (no backward code involved).
fn loss(model: &Model, p: &[f64], x: &[f64], labels: Labels<'_, f64>, ws: &mut Workspace<f64>) -> f64 {
    let t = model.evaluate(p, x, labels, ws);
    t.loss / t.samples as f64
}

/// The full Hessian by central second differences of the loss value (step h: truncation error
/// O(h^2), rounding O(eps/h^2), both about 1e-8 here).
fn hessian_from_values(model: &Model, p: &[f64], x: &[f64], labels: Labels<'_, f64>) -> Vec<f64> {
    let n = p.len();
    let h = 1e-4;
    let mut ws = Workspace::default();
    let mut q = p.to_vec();
    let mut f = |q: &[f64]| loss(model, q, x, labels, &mut ws);
    let mut hess = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut at = |si: f64, sj: f64| {
                q.copy_from_slice(p);
                q[i] += si * h;
                q[j] += sj * h;
                f(&q)
            };
            let v = (at(1.0, 1.0) - at(1.0, -1.0) - at(-1.0, 1.0) + at(-1.0, -1.0)) / (4.0 * h * h);
            hess[i * n + j] = v;
            hess[j * n + i] = v;
        }
    }
    hess
}

struct Case {
    spec: &'static str,
    classes: usize,
    values: bool,
}

fn data(n: usize, d: usize, case: &Case, seed: u64) -> (Vec<f64>, Vec<u32>, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
    let y: Vec<u32> = (0..n).map(|i| (i % case.classes) as u32).collect();
    let v: Vec<f64> = (0..n * 2).map(|_| rng.normal()).collect();
    (x, y, v)
}

#[test]
fn hessian_vector_products_and_sharpness_match_the_exact_hessian() {
    let cases = [
        Case { spec: "mlp:hidden=5,4,act=tanh", classes: 3, values: false },
        Case { spec: "mlp:hidden=6,act=gelu", classes: 2, values: true },
        Case { spec: "mlp:hidden=5,3,act=relu,loss=bce", classes: 2, values: false },
        Case { spec: "mlp:hidden=4,act=tanh,loss=mse", classes: 3, values: false },
    ];
    for (c, case) in cases.iter().enumerate() {
        let (n, d) = (12, 3);
        let (x, y, v) = data(n, d, case, 10 + c as u64);
        let target = if case.values {
            Target::Values { values: v.clone(), names: vec!["a".into(), "b".into()] }
        } else {
            Target::Classes { labels: y.clone(), names: (0..case.classes).map(|k| k.to_string()).collect() }
        };
        let model = Model::parse(case.spec, d, &target).unwrap();
        let labels = if case.values { Labels::Values(&v) } else { Labels::Classes(&y) };
        let mut rng = Rng::new(100 + c as u64);
        // Larger than the default initialization so the network is well inside its nonlinearity.
        let params: Vec<f64> = model.init::<f64>(&mut rng).iter().map(|p| 2.0 * p).collect();
        let dim = params.len();
        let h = hessian_from_values(&model, &params, &x, labels);
        let scale = h.iter().fold(0.0f64, |m, v| m.max(v.abs()));

        // Every Hessian-vector product against H v, and the gradient against the backward pass.
        let mut ws = Workspace::default();
        let (mut grad, mut hv, mut reference) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
        let dir: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        model.hessian_vector_product(&params, &x, labels, n, &dir, &mut grad, &mut hv, &mut ws);
        model.loss_and_gradient(&params, &x, labels, n, &mut reference, &mut ws);
        assert_eq!(grad, reference, "{}: gradient", case.spec);
        for i in 0..dim {
            let want: f64 = (0..dim).map(|j| h[i * dim + j] * dir[j]).sum();
            // Finite-difference entries carry about 1e-7 of the largest entry, summed over dim terms.
            assert!(
                (hv[i] - want).abs() < 1e-6 * scale * dim as f64,
                "{}: (Hv)[{i}] = {} vs {want}",
                case.spec,
                hv[i]
            );
        }

        // The top eigenvalue: Lanczos on the exact products against Jacobi on the full Hessian.
        let exact = jacobi_eigenvalues(&h, dim);
        let top = exact[dim - 1];
        let est = sharpness(&model, &params, &x, labels, &LanczosOptions::default()).unwrap();
        assert!(
            (est.value - top).abs() < 1e-5 * top.abs().max(exact[0].abs()),
            "{}: Lanczos {} vs exact {top} (spectrum {:.3e}..{:.3e})",
            case.spec,
            est.value,
            exact[0],
            top
        );
        // The Ritz vector converges more slowly than its value (value error ~ residual^2 / gap).
        assert!(est.residual < 1e-2 * top.abs(), "{}: residual {} (top {top})", case.spec, est.residual);
        // In f32 the same estimate agrees to f32 rounding.
        let p32: Vec<f32> = params.iter().map(|&p| p as f32).collect();
        let x32: Vec<f32> = x.iter().map(|&p| p as f32).collect();
        let v32: Vec<f32> = v.iter().map(|&p| p as f32).collect();
        let l32 = if case.values { Labels::Values(&v32) } else { Labels::Classes(&y) };
        let est32 = sharpness(&model, &p32, &x32, l32, &LanczosOptions::default()).unwrap();
        assert!((est32.value - top).abs() < 1e-3 * top.abs(), "{}: f32 {} vs {top}", case.spec, est32.value);
    }
}

#[test]
fn lanczos_finds_the_most_positive_eigenvalue_not_the_largest_in_size() {
    // diag(-10, 1, 2, ..., 8) in a random orthogonal basis is not needed: Lanczos is basis-free;
    // power iteration would return -10 here.
    let diag: Vec<f64> = std::iter::once(-10.0).chain((1..=8).map(f64::from)).collect();
    let mut apply = |v: &[f64], out: &mut [f64]| {
        for i in 0..v.len() {
            out[i] = diag[i] * v[i];
        }
    };
    let top = top_eigenvalue(9, &mut apply, &LanczosOptions::default()).unwrap();
    assert!((top.value - 8.0).abs() < 1e-10, "{}", top.value);
    assert!(top.vector[8].abs() > 1.0 - 1e-8);
    assert!(top_eigenvalue(0, &mut apply, &LanczosOptions::default()).is_err());
    let bad = LanczosOptions { max_products: 0, ..Default::default() };
    assert!(top_eigenvalue(9, &mut apply, &bad).is_err());
}

#[test]
fn hessian_operator_rejects_mismatched_data() {
    let target = Target::Classes { labels: vec![0, 1], names: vec!["a".into(), "b".into()] };
    let model = Model::parse("softmax", 3, &target).unwrap();
    let p = vec![0.0; model.num_params()];
    assert!(HessianOperator::new(&model, &p, &[0.0; 5], Labels::Classes(&[0, 1])).is_err());
    assert!(HessianOperator::new(&model, &p, &[0.0; 6], Labels::Classes(&[0])).is_err());
    assert!(HessianOperator::new(&model, &p[1..], &[0.0; 6], Labels::Classes(&[0, 1])).is_err());
}

#[test]
fn tracked_sharpness_of_least_squares_is_its_closed_form() {
    // A linear model with MSE on standardized features: H = (2/n) [X 1]^T [X 1], whose top
    // eigenvalue is 2 max(lambda_max(correlation of X), 1), whatever the weights.
    let (n, d) = (200, 3);
    let mut rng = Rng::new(5);
    let mut features = Vec::new();
    for _ in 0..n {
        let a = rng.normal();
        features.extend([a, a + 0.5 * rng.normal(), rng.normal()]);
    }
    let values: Vec<f64> = features.chunks(3).map(|r| r[0] - r[2] + 0.1 * rng.normal()).collect();
    let data = Dataset {
        name: "toy".into(),
        features: features.clone(),
        dim: d,
        feature_names: vec!["a".into(), "b".into(), "c".into()],
        target: Target::Values { values, names: vec!["y".into()] },
    };
    let empty = data.select(&[]);
    let model = Model::parse("linear", d, &data.target).unwrap();
    let opt = downhill::optim::build::<f64>("gd:lr=0.05", &Default::default()).unwrap();
    let mut trainer = Trainer::new(&data, &empty, model, opt, 50, 1).unwrap();
    trainer.track_sharpness(3, LanczosOptions::default());
    let mut points = Vec::new();
    for _ in 0..2 {
        points.extend(trainer.epoch().unwrap().sharpness.clone());
    }
    // Standardize as the trainer does (population deviation) and form the correlation matrix.
    let mut corr = vec![0.0; d * d];
    let cols: Vec<Vec<f64>> = (0..d)
        .map(|j| {
            let c: Vec<f64> = features.iter().skip(j).step_by(d).copied().collect();
            let m = c.iter().sum::<f64>() / n as f64;
            let s = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
            c.iter().map(|v| (v - m) / s).collect()
        })
        .collect();
    for i in 0..d {
        for j in 0..d {
            corr[i * d + j] = cols[i].iter().zip(&cols[j]).map(|(a, b)| a * b).sum::<f64>() / n as f64;
        }
    }
    let want = 2.0 * jacobi_eigenvalues(&corr, d)[d - 1].max(1.0);
    // 8 updates (2 epochs of 4 batches): measured before updates 0, 3 and 6.
    assert_eq!(points.iter().map(|p| p.step).collect::<Vec<_>>(), vec![0, 3, 6]);
    for p in &points {
        assert!((p.value - want).abs() < 1e-6 * want, "{} vs {want}", p.value);
        assert_eq!(p.lr, 0.05);
    }
    // The log line carries the measurements; an epoch without any leaves the field out.
    let line = serde_json::to_string(&trainer.history()[0]).unwrap();
    assert!(line.contains("\"sharpness\":[{\"step\":0,"), "{line}");
    trainer.track_sharpness(0, LanczosOptions::default());
    let line = serde_json::to_string(trainer.epoch().unwrap()).unwrap();
    assert!(!line.contains("sharpness"), "{line}");
}
