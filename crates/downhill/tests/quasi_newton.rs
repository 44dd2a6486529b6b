//! Line searches, L-BFGS, BFGS, nonlinear CG and the trust-region Newton method against
//! independent references: the conditions themselves, closed forms on quadratics, finite
//! termination, a direct linear solve, scipy's trust-ncg iterates (fixture written by
//! scripts/scipy_quasi_newton.py), More and Thuente's published tables with scipy's `dcsrch`
//! trials, and scipy's evaluation counts.

use std::sync::atomic::{AtomicU64, Ordering};

use downhill::line_search::{dot, Armijo, Found, Line, LineSearch, MoreThuente, StrongWolfe};
use downhill::objective::FnObjective;
use downhill::objectives::{self, Rosenbrock};
use downhill::optim::{self, steihaug, Bfgs, CgVariant, ConjugateGradient, Lbfgs, Optimizer};
use downhill::{minimize, Objective, RunOptions, StopReason};

/// A random symmetric positive definite `n x n` matrix `A = M M^T + n I / 4` and a vector `b`.
fn spd(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = downhill::rng::Rng::new(seed);
    let m: Vec<f64> = (0..n * n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..n).map(|k| m[i * n + k] * m[j * n + k]).sum::<f64>();
        }
        a[i * n + i] += n as f64 / 4.0;
    }
    let b = (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    (a, b)
}

/// `f = 0.5 x.A x - b.x`.
fn quadratic(a: Vec<f64>, b: Vec<f64>) -> impl Objective<f64> {
    let n = b.len();
    FnObjective::new("quadratic", n, move |x: &[f64], g: &mut [f64]| {
        for i in 0..n {
            g[i] = (0..n).map(|j| a[i * n + j] * x[j]).sum::<f64>() - b[i];
        }
        0.5 * x.iter().zip(g.iter()).map(|(x, g)| x * g).sum::<f64>()
            - 0.5 * x.iter().zip(&b).map(|(x, b)| x * b).sum::<f64>()
    })
}

/// Gaussian elimination with partial pivoting: `A x = b`.
fn solve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> =
        (0..n).map(|i| a[i * n..(i + 1) * n].iter().copied().chain([b[i]]).collect()).collect();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs())).unwrap();
        m.swap(c, p);
        let pivot = m[c].clone();
        for row in m.iter_mut().skip(c + 1) {
            let f = row[c] / pivot[c];
            row.iter_mut().zip(&pivot).skip(c).for_each(|(v, p)| *v -= f * p);
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        x[r] = (m[r][n] - (r + 1..n).map(|k| m[r][k] * x[k]).sum::<f64>()) / m[r][r];
    }
    x
}

fn exact() -> LineSearch {
    // On a quadratic the cubic through two trials is the quadratic itself, so interpolation
    // lands on the exact minimizer along the line; c2 = 1e-10 accepts only that point.
    LineSearch::StrongWolfe(StrongWolfe { c1: 1e-4, c2: 1e-10, max_evaluations: 50 })
}

#[test]
fn armijo_takes_the_largest_halving_with_sufficient_decrease() {
    // f = 0.5 x.A x - b.x along d = -g from x0: phi(a) = f0 - a g.g + 0.5 a^2 g.A g, so the Armijo
    // condition phi(a) <= f0 - c1 a g.g holds exactly for a <= 2 (1 - c1) g.g / g.A g.
    let (a, b) = spd(4, 3);
    let f = quadratic(a.clone(), b);
    let x = [1.0, -2.0, 0.5, 3.0];
    let mut g = [0.0; 4];
    let loss = f.value_and_gradient(&x, &mut g);
    let d: Vec<f64> = g.iter().map(|v| -v).collect();
    let ag: Vec<f64> = (0..4).map(|i| (0..4).map(|j| a[i * 4 + j] * g[j]).sum()).collect();
    for (c1, shrink, initial) in [(1e-4, 0.5, 1.0), (0.3, 0.5, 10.0), (1e-4, 0.8, 3.0)] {
        let limit = 2.0 * (1.0 - c1) * dot(&g, &g) / dot(&g, &ag);
        let mut want = initial;
        let mut tries = 1;
        while want > limit {
            want *= shrink;
            tries += 1;
        }
        let mut found = Found::default();
        let search = Armijo { c1, shrink, max_evaluations: 100 };
        search.search(&f, &Line { point: &x, loss, grad: &g, direction: &d }, initial, &mut found).unwrap();
        assert!((found.step - want).abs() <= 1e-15 * want, "{} vs {want}", found.step);
        assert_eq!(found.evaluations, tries);
        let mut check = [0.0; 4];
        assert_eq!(found.loss, f.value_and_gradient(&found.point, &mut check));
        assert_eq!(found.grad, check);
    }
}

#[test]
fn strong_wolfe_finds_the_exact_minimizer_of_a_quadratic_line() {
    // alpha* = -g.d / d.A d in closed form.
    let (a, b) = spd(6, 11);
    let f = quadratic(a.clone(), b);
    let x = [0.3, -1.0, 2.0, 0.0, 1.0, -0.5];
    let mut g = [0.0; 6];
    let loss = f.value_and_gradient(&x, &mut g);
    let d: Vec<f64> = g.iter().enumerate().map(|(i, v)| -v + 0.1 * i as f64 * v.signum()).collect();
    let ad: Vec<f64> = (0..6).map(|i| (0..6).map(|j| a[i * 6 + j] * d[j]).sum()).collect();
    let alpha = -dot(&g, &d) / dot(&d, &ad);
    for initial in [1e-3, alpha * 0.5, 1.0, 50.0] {
        let mut found = Found::default();
        exact().search(&f, &Line { point: &x, loss, grad: &g, direction: &d }, initial, &mut found).unwrap();
        assert!((found.step - alpha).abs() < 1e-10 * alpha, "initial {initial}: {} vs {alpha}", found.step);
        assert!(found.satisfied);
    }
}

#[test]
fn strong_wolfe_steps_satisfy_both_conditions_on_rosenbrock() {
    let f = objectives::RosenbrockNd { dim: 5, a: 1.0, b: 100.0 };
    let mut rng = downhill::rng::Rng::new(5);
    let mut checked = 0;
    for _ in 0..200 {
        let x: Vec<f64> = (0..5).map(|_| rng.uniform() * 3.0 - 1.5).collect();
        let mut g = vec![0.0; 5];
        let loss = Objective::<f64>::value_and_gradient(&f, &x, &mut g);
        // A descent direction: -g bent by a random vector, and the initial step 1 or 1/|g|.
        let r: Vec<f64> = (0..5).map(|_| rng.uniform() - 0.5).collect();
        let d: Vec<f64> = g.iter().zip(&r).map(|(g, r)| -g + r * g.abs()).collect();
        let slope = dot(&g, &d);
        if slope >= 0.0 {
            continue;
        }
        for (search, c1, c2) in
            [(StrongWolfe::quasi_newton(), 1e-4, 0.9), (StrongWolfe::conjugate_gradient(), 1e-4, 0.1)]
        {
            let initial = if rng.uniform() < 0.5 { 1.0 } else { 1.0 / dot(&g, &g).sqrt() };
            let mut found = Found::default();
            search
                .search(&f, &Line { point: &x, loss, grad: &g, direction: &d }, initial, &mut found)
                .unwrap();
            // The conditions, evaluated afresh at x + alpha d.
            let p: Vec<f64> = x.iter().zip(&d).map(|(x, d)| x + found.step * d).collect();
            let mut gp = vec![0.0; 5];
            let fp = Objective::<f64>::value_and_gradient(&f, &p, &mut gp);
            assert!(found.satisfied);
            assert!(fp <= loss + c1 * found.step * slope, "sufficient decrease");
            assert!(dot(&gp, &d).abs() <= c2 * slope.abs(), "curvature");
            assert_eq!((fp, &gp), (found.loss, &found.grad));
            checked += 1;
        }
    }
    assert!(checked > 200);
}

/// `phi(alpha)` and `phi'(alpha)` as a 1-D objective (searched from 0 along +1) that records
/// every step it is evaluated at.
fn line_function<'a>(
    trials: &'a std::sync::Mutex<Vec<f64>>,
    phi: impl Fn(f64) -> (f64, f64) + Send + Sync + 'a,
) -> impl Objective<f64> + 'a {
    FnObjective::new("line", 1, move |x: &[f64], g: &mut [f64]| {
        trials.lock().unwrap().push(x[0]);
        let (value, slope) = phi(x[0]);
        g[0] = slope;
        value
    })
}

#[test]
fn more_thuente_reproduces_the_papers_tables_and_scipys_dcsrch() {
    // More & Thuente (1994), section 5: function (5.1) phi = -a / (a^2 + 2) with c1 = 1e-3,
    // c2 = 0.1 (Table 1: 6, 3, 1, 4 evaluations, steps 1.4, 1.4, 10, 37) and (5.2)
    // phi = (a + 0.004)^5 - 2 (a + 0.004)^4 with c1 = c2 = 0.1 (Table 2: 12, 8, 8, 11
    // evaluations, step 1.6), each from a0 = 1e-3, 1e-1, 10, 1e3. The trials are those of scipy
    // 1.17.1's `DCSRCH` (xtol 1e-14, steps in [1e-100, 1e100]) on the same functions, printed to 17
    // digits; the port does the same floating-point operations, so they agree to rounding in the
    // last digits (tolerance 1e-12 relative).
    let f1 = |a: f64| (-a / (a * a + 2.0), (a * a - 2.0) / (a * a + 2.0).powi(2));
    let f2 = |a: f64| {
        let b = a + 0.004;
        (b.powi(5) - 2.0 * b.powi(4), 5.0 * b.powi(4) - 8.0 * b.powi(3))
    };
    type Case = (usize, f64, f64, f64, &'static [f64]);
    let cases: [Case; 8] = [
        (1, 1e-3, 1e-3, 0.1, &[0.001, 0.005, 0.021, 0.085, 0.341, 1.365]),
        (1, 1e-1, 1e-3, 0.1, &[0.1, 0.5, 1.4413720790892741]),
        (1, 1e1, 1e-3, 0.1, &[10.0]),
        (1, 1e3, 1e-3, 0.1, &[1000.0, 332.83537094698613, 110.78382764820593, 36.88760696396662]),
        (
            2,
            1e-3,
            0.1,
            0.1,
            &[
                0.001,
                0.005,
                0.021,
                0.085,
                0.341,
                1.365,
                5.461,
                2.1070247668786957,
                1.551692634475675,
                1.5975830448985595,
                1.595861148209162,
                1.596000000186075,
            ],
        ),
        (
            2,
            1e-1,
            0.1,
            0.1,
            &[
                0.1,
                0.5,
                2.1,
                1.1322375187701137,
                1.6024085266778738,
                1.5847382834276738,
                1.5959997953704832,
                1.5960000000049348,
            ],
        ),
        (
            2,
            1e1,
            0.1,
            0.1,
            &[
                10.0,
                2.306989958039605,
                0.6872867127876888,
                1.5661413536177324,
                1.6123738059384738,
                1.595068126248893,
                1.5960001387963476,
                1.5959999997572032,
            ],
        ),
        (
            2,
            1e3,
            0.1,
            0.1,
            &[
                1000.0,
                222.29565484593803,
                49.472816490427086,
                11.069352144736474,
                2.5433685560303143,
                0.7201153415592905,
                1.6296513166653739,
                1.3512229797881472,
                1.5950402760316598,
                1.5960006258007582,
                1.595999998872531,
            ],
        ),
    ];
    for (function, a0, c1, c2, want) in cases {
        let trials = std::sync::Mutex::new(Vec::new());
        let f: Box<dyn Objective<f64>> = if function == 1 {
            Box::new(line_function(&trials, f1))
        } else {
            Box::new(line_function(&trials, f2))
        };
        let mut g = [0.0];
        let loss = f.value_and_gradient(&[0.0], &mut g);
        trials.lock().unwrap().clear();
        let search = MoreThuente { c1, c2, ..MoreThuente::default() };
        let mut found = Found::default();
        let line = Line { point: &[0.0], loss, grad: &g, direction: &[1.0] };
        search.search(f.as_ref(), &line, a0, &mut found).unwrap();
        let got = trials.lock().unwrap().clone();
        assert_eq!(got.len(), want.len(), "function {function} from {a0}: trials {got:?}");
        for (x, y) in got.iter().zip(want) {
            assert!((x - y).abs() <= 1e-12 * y, "function {function} from {a0}: {got:?} vs {want:?}");
        }
        assert!(found.satisfied);
        assert_eq!(found.evaluations, want.len() as u64);
        assert_eq!(found.step, *got.last().unwrap());
        // Both conditions, checked here rather than trusted.
        let (value, slope) = if function == 1 { f1(found.step) } else { f2(found.step) };
        assert_eq!(found.loss, value);
        assert!(value <= loss + c1 * found.step * g[0] && slope.abs() <= c2 * g[0].abs());
    }
}

#[test]
fn more_thuente_lands_on_the_minimizer_of_the_modified_function_of_a_quadratic() {
    // phi(a) = (1 - 2a)^2 (f = x^2 from 1 along -f'): phi(1) = phi(0) fails sufficient decrease,
    // so the step comes from psi(a) = phi(a) - phi(0) - c1 a phi'(0), a quadratic that the cubic
    // interpolates exactly: its minimizer (1 - c1) / 2, which satisfies both conditions.
    let f = objectives::Quadratic::new(vec![1.0]);
    let mut g = [0.0];
    let loss = f.value_and_gradient(&[1.0], &mut g);
    for c1 in [1e-4, 0.3] {
        let mut found = Found::default();
        let line = Line { point: &[1.0], loss, grad: &g, direction: &[-g[0]] };
        MoreThuente { c1, ..MoreThuente::default() }.search(&f, &line, 1.0, &mut found).unwrap();
        let want = (1.0 - c1) / 2.0;
        assert!((found.step - want).abs() <= 1e-15, "{} vs {want}", found.step);
        assert_eq!(found.evaluations, 2);
        assert!(found.satisfied);
    }
    // Out of evaluations after the first trial, the search fails; as a `LineSearch` it then runs
    // the strong Wolfe search from the same step, whose cubic lands on the exact minimizer 1/2.
    let tight = MoreThuente { max_evaluations: 1, ..MoreThuente::default() };
    let line = Line { point: &[1.0], loss, grad: &g, direction: &[-g[0]] };
    let mut found = Found::default();
    assert!(tight.search(&f, &line, 1.0, &mut found).is_err());
    LineSearch::MoreThuente(tight).search(&f, &line, 1.0, &mut found).unwrap();
    assert_eq!((found.step, found.evaluations, found.point[0]), (0.5, 3, 0.0));
}

#[test]
fn more_thuente_follows_scipy_on_rosenbrock_and_treats_non_finite_trials_as_too_long() {
    // scipy 1.17.1's `line_search_wolfe1` from (-1.2, 1) along -g with BFGS's first step
    // 1.01 / ||g||: trials 0.004337226902282702, then 0.0008486542812509531 (accepted).
    let f = Rosenbrock::default();
    let x = [-1.2, 1.0];
    let mut g = [0.0; 2];
    let loss = f.value_and_gradient(&x, &mut g);
    let d = [-g[0], -g[1]];
    let initial = 1.01 / dot(&g, &g).sqrt();
    let mut found = Found::default();
    MoreThuente::default()
        .search(&f, &Line { point: &x, loss, grad: &g, direction: &d }, initial, &mut found)
        .unwrap();
    assert_eq!(found.evaluations, 2);
    assert!((found.step - 0.0008486542812509531).abs() <= 1e-15, "{}", found.step);
    // A trial beyond which the function is +inf: the search bisects back and still succeeds.
    let trials = std::sync::Mutex::new(Vec::new());
    let wall = line_function(&trials, |a| {
        if a < 2.0 {
            ((a - 1.0).powi(2), 2.0 * (a - 1.0))
        } else {
            (f64::INFINITY, 0.0)
        }
    });
    let mut g = [0.0];
    let loss = wall.value_and_gradient(&[0.0], &mut g);
    let line = Line { point: &[0.0], loss, grad: &g, direction: &[1.0] };
    MoreThuente::default().search(&wall, &line, 1e3, &mut found).unwrap();
    assert!(found.satisfied && found.step < 2.0 && found.loss < loss, "{found:?}");
}

#[test]
fn line_searches_refuse_uphill_directions() {
    let f = Rosenbrock::default();
    let x = [0.0, 0.0];
    let mut g = [0.0; 2];
    let loss = f.value_and_gradient(&x, &mut g);
    let mut found = Found::default();
    let line = Line { point: &x, loss, grad: &g, direction: &g };
    assert!(StrongWolfe::quasi_newton().search(&f, &line, 1.0, &mut found).is_err());
    assert!(Armijo::default().search(&f, &line, 1.0, &mut found).is_err());
}

/// Iterates of `opt` on the quadratic, exact line searches.
fn path(opt: &mut dyn Optimizer<f64>, f: &dyn Objective<f64>, start: &[f64], steps: u64) -> Vec<Vec<f64>> {
    let r = minimize(f, opt, start, &RunOptions::steps(steps), None).unwrap();
    r.trajectory.into_iter().map(|p| p.params).collect()
}

#[test]
fn bfgs_and_lbfgs_end_in_n_steps_on_a_quadratic_with_exact_line_searches() {
    // Nocedal & Wright, Theorem 6.4 and section 7.2: with exact line searches BFGS (and L-BFGS
    // with memory >= n) generate conjugate directions and reach the minimizer A^-1 b in n steps.
    let n = 6;
    let (a, b) = spd(n, 21);
    let target = solve(&a, &b);
    let f = quadratic(a, b);
    let start = vec![1.0; n];
    let mut bfgs = Bfgs::<f64>::builder().line_search(Some(exact())).build().unwrap();
    let mut lbfgs = Lbfgs::<f64>::builder().memory(n as u64).line_search(Some(exact())).build().unwrap();
    let pb = path(&mut bfgs, &f, &start, n as u64);
    let pl = path(&mut lbfgs, &f, &start, n as u64);
    let distance = |p: &[f64]| p.iter().zip(&target).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    for p in [&pb, &pl] {
        assert!(distance(&p[n]) < 1e-9, "after n steps: {}", distance(&p[n]));
        assert!(distance(&p[n - 2]) > 1e-6, "not before: {}", distance(&p[n - 2]));
    }
    // The same conjugate directions, so the same iterates.
    for (x, y) in pb.iter().zip(&pl) {
        for (u, v) in x.iter().zip(y) {
            assert!((u - v).abs() < 1e-8, "bfgs {x:?} vs lbfgs {y:?}");
        }
    }
}

#[test]
fn every_cg_variant_ends_in_n_steps_on_an_spd_quadratic() {
    // Nonlinear CG with exact line searches on a strictly convex quadratic is linear CG
    // (every beta formula agrees there): at most n steps (Nocedal & Wright, Theorem 5.2).
    let n = 7;
    let (a, b) = spd(n, 8);
    let target = solve(&a, &b);
    let f = quadratic(a, b);
    for variant in [
        CgVariant::PolakRibierePlus,
        CgVariant::FletcherReeves,
        CgVariant::HestenesStiefel,
        CgVariant::HagerZhang,
    ] {
        let mut cg =
            ConjugateGradient::<f64>::builder().variant(variant).line_search(Some(exact())).build().unwrap();
        let p = path(&mut cg, &f, &vec![-1.0; n], n as u64);
        let err = p[n].iter().zip(&target).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-9, "{variant:?}: {err}");
    }
}

#[test]
fn steihaug_is_the_newton_step_inside_the_region_and_stops_on_its_boundary() {
    let n = 5;
    let (a, g) = spd(n, 4);
    let newton: Vec<f64> = solve(&a, &g).iter().map(|v| -v).collect();
    let len = dot(&newton, &newton).sqrt();
    let inside = steihaug(&a, &g, 10.0 * len, 1e-13);
    assert!(!inside.on_boundary && inside.iterations <= n + 1);
    for (p, q) in inside.step.iter().zip(&newton) {
        assert!((p - q).abs() < 1e-10, "{p} vs {q}");
    }
    let cut = steihaug(&a, &g, 0.3 * len, 1e-13);
    assert!(cut.on_boundary);
    assert!((dot(&cut.step, &cut.step).sqrt() - 0.3 * len).abs() < 1e-12);
    // With negative curvature the step goes to the boundary too, downhill in the model.
    let indefinite = vec![1.0, 0.0, 0.0, -2.0];
    let s = steihaug(&indefinite, &[1.0, 0.5], 2.0, 1e-12);
    assert!(s.on_boundary && (dot(&s.step, &s.step).sqrt() - 2.0).abs() < 1e-12);
    let model = s.step[0] + 0.5 * s.step[1] + 0.5 * (s.step[0].powi(2) - 2.0 * s.step[1].powi(2));
    assert!(model < 0.0);
}

#[test]
fn newton_tr_follows_scipy_trust_ncg() {
    // scripts/scipy_quasi_newton.py fixture: scipy's accepted iterates (a rejected trial repeats
    // the point), its nfev and nhev, with the Euclidean gradient tolerance 1e-8.
    let text = include_str!("fixtures/scipy_trust_ncg.json");
    let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
    for run in fixture["runs"].as_array().unwrap() {
        let n = run["dim"].as_u64().unwrap() as usize;
        let f = objectives::build::<f64>(&format!("rosenbrock:dim={n}")).unwrap();
        let start: Vec<f64> = run["start"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let mut want: Vec<Vec<f64>> = Vec::new();
        for p in run["iterates"].as_array().unwrap() {
            let p: Vec<f64> = p.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            if want.last() != Some(&p) {
                want.push(p);
            }
        }
        let mut opt = optim::build::<f64>("newton-tr", &Default::default()).unwrap();
        let options = RunOptions { grad_tol: Some(1e-8), ..RunOptions::steps(1000) };
        let r = minimize(f.as_ref(), opt.as_mut(), &start, &options, None).unwrap();
        assert_eq!(r.stop, StopReason::Converged);
        assert_eq!(r.trajectory.len(), want.len(), "dim {n}");
        for (p, q) in r.trajectory.iter().zip(&want) {
            for (a, b) in p.params.iter().zip(q) {
                // numpy's dot products round differently; the paths agree far beyond that.
                assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "dim {n} step {}: {a} vs {b}", p.step);
            }
        }
        assert_eq!(r.evaluations, run["nfev"].as_u64().unwrap(), "nfev, dim {n}");
        assert_eq!(r.hessian_evaluations, run["nhev"].as_u64().unwrap(), "nhev, dim {n}");
    }
}

/// A Rosenbrock that counts its own calls, independently of the run's count.
fn counting(calls: &AtomicU64) -> impl Objective<f64> + '_ {
    FnObjective::new("counted rosenbrock", 2, move |x: &[f64], g: &mut [f64]| {
        calls.fetch_add(1, Ordering::Relaxed);
        Rosenbrock::default().value_and_gradient(x, g)
    })
}

#[test]
fn evaluations_are_what_the_objective_saw() {
    for (spec, steps) in [
        ("lbfgs", 100),
        ("bfgs", 100),
        ("cg", 100),
        ("lbfgs:line_search=armijo", 100),
        ("gd:lr=1,line_search=armijo", 50),
        ("adam:lr=0.01", 50),
        ("nesterov:lr=1e-3", 50),
    ] {
        let calls = AtomicU64::new(0);
        let f = counting(&calls);
        let mut opt = optim::build::<f64>(spec, &Default::default()).unwrap();
        let options = RunOptions { grad_tol: Some(1e-8), ..RunOptions::steps(steps) };
        let r = minimize(&f, opt.as_mut(), &[-1.2, 1.0], &options, None).unwrap();
        assert_eq!(r.evaluations, calls.load(Ordering::Relaxed), "{spec}");
        assert_eq!(r.trajectory.len() as u64, r.steps + 1, "{spec}: one entry per iteration");
        match spec {
            "adam:lr=0.01" => assert_eq!(r.evaluations, r.steps + 1),
            // The look-ahead gradient is a second evaluation in every step.
            "nesterov:lr=1e-3" => assert_eq!(r.evaluations, 2 * r.steps + 1),
            _ => assert!(r.evaluations > r.steps),
        }
    }
}

#[test]
fn rosenbrock_in_no_more_evaluations_than_scipy() {
    // scipy 1.17.1's counts on this machine (scripts/scipy_quasi_newton.py bench; the issue's
    // older scipy: L-BFGS-B 46/632, BFGS 41/656, CG 80/2196, trust-ncg 31).
    for (spec, dim, scipy) in [
        ("lbfgs", 2, 46.0),
        ("cg", 2, 80.0),
        ("newton-tr", 2, 31.0),
        ("bfgs", 2, 41.0),
        ("lbfgs", 100, 643.0),
        ("cg", 100, 2106.0),
        ("bfgs", 100, 654.0),
    ] {
        let f = objectives::build::<f64>(&format!("rosenbrock:dim={dim}")).unwrap();
        let start: Vec<f64> = (0..dim).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
        let mut opt = optim::build::<f64>(spec, &Default::default()).unwrap();
        let options = RunOptions { grad_tol: Some(1e-8), record_every: 0, ..RunOptions::steps(5000) };
        let r = minimize(f.as_ref(), opt.as_mut(), &start, &options, None).unwrap();
        assert_eq!(r.stop, StopReason::Converged, "{spec} {dim}-D");
        assert!(r.loss < 1e-12, "{spec} {dim}-D: loss {}", r.loss);
        assert!(r.evaluations as f64 <= scipy, "{spec} {dim}-D: {} evaluations", r.evaluations);
    }
}

#[test]
fn specs_check_their_keys() {
    for (spec, needle) in [
        ("lbfgs:memory=0", "lbfgs.memory"),
        ("lbfgs:c2=1e-5", "lbfgs.c2"),
        ("lbfgs:line_search=none,c1=0.1", "lbfgs.c1"),
        ("cg:variant=xx", "cg"),
        ("bfgs:line_search=armijo,c2=0.5", "bfgs.c2"),
        ("gd:line_search=armijo,weight_decay=0.1", "gd.line_search"),
        ("newton-tr:eta=0.3", "newton-tr.eta"),
        ("lbfgs:shrink=2,line_search=armijo", "lbfgs.shrink"),
        ("bfgs:shrink=0.5", "bfgs.shrink"),
        ("cg:line_search=more-thuente,c2=1.5", "cg.c2"),
        ("lbfgs:line_search=more-thuente-x", "more-thuente"),
    ] {
        let e =
            optim::build::<f64>(spec, &Default::default()).err().unwrap_or_else(|| panic!("{spec} accepted"));
        assert!(e.to_string().contains(needle), "{spec}: {e}");
    }
    // Without a line search, L-BFGS needs only gradients; with one, a bare gradient is refused.
    let mut plain = optim::build::<f64>("lbfgs:line_search=none", &Default::default()).unwrap();
    let mut x = [1.0, 2.0];
    plain.update(&mut x, &[0.5, 0.5]).unwrap();
    let mut searching = optim::build::<f64>("lbfgs", &Default::default()).unwrap();
    assert!(searching.update(&mut x, &[0.5, 0.5]).is_err());
}

#[test]
fn checkpointed_state_resumes_the_same_path() {
    let f = objectives::build::<f64>("rosenbrock:dim=6").unwrap();
    let start = f.default_start().unwrap();
    for spec in ["lbfgs", "bfgs", "cg", "newton-tr"] {
        let mut whole = optim::build::<f64>(spec, &Default::default()).unwrap();
        let all = minimize(f.as_ref(), whole.as_mut(), &start, &RunOptions::steps(40), None).unwrap();
        let mut first = optim::build::<f64>(spec, &Default::default()).unwrap();
        let half = minimize(f.as_ref(), first.as_mut(), &start, &RunOptions::steps(20), None).unwrap();
        let json = serde_json::to_string(&first.state()).unwrap();
        let mut second = optim::build::<f64>(spec, &Default::default()).unwrap();
        second.load_state(serde_json::from_str(&json).unwrap()).unwrap();
        let rest = minimize(f.as_ref(), second.as_mut(), &half.params, &RunOptions::steps(20), None).unwrap();
        assert_eq!(rest.params, all.params, "{spec}");
        // The resumed run evaluates its start again: one evaluation more in all.
        assert_eq!(half.evaluations + rest.evaluations, all.evaluations + 1, "{spec}");
    }
}
