//! The objective catalogue and formulas: derivatives against finite differences, minima against
//! the literature, and the analysis numbers the seed's formulas predict.

use downhill::analysis::{analyze_box, analyze_point, PointKind};
use downhill::expr::{parse, Ast, BinOp, Expression, Func, Func2};
use downhill::objectives::{self, catalogue};
use downhill::rng::Rng;
use downhill::{minimize, optim, DescribedObjective, Objective, RunOptions, StopReason};
use proptest::prelude::*;

/// The specs to test: every catalogue name, with the N-D ones also in 3 and 5 dimensions.
fn specs() -> Vec<String> {
    let mut v: Vec<String> = catalogue().iter().map(|e| e.name.to_string()).collect();
    for nd in ["rosenbrock", "sphere", "styblinski-tang", "rastrigin", "ackley"] {
        v.push(format!("{nd}:dim=3"));
        v.push(format!("{nd}:dim=5"));
    }
    v.push("rosenbrock:a=1,b=10".into());
    v.push("quadratic:a=50,b=1".into());
    v.push("quadratic:a=3,b=-2,c=0.5".into());
    v
}

/// Fourth-order central difference of `f` along coordinate `i` (error O(h^4)).
fn diff(f: &dyn Fn(&[f64]) -> f64, x: &[f64], i: usize) -> f64 {
    let h = 1e-3 * (1.0 + x[i].abs());
    let at = |k: f64| {
        let mut y = x.to_vec();
        y[i] += k * h;
        f(&y)
    };
    (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h)
}

fn random_point(o: &dyn DescribedObjective<f64>, rng: &mut Rng) -> Vec<f64> {
    let [x0, x1, y0, y1] = o.domain().unwrap_or([-2.0, 2.0, -2.0, 2.0]);
    (0..o.dim()).map(|i| if i % 2 == 0 { rng.range(x0, x1) } else { rng.range(y0, y1) }).collect()
}

#[test]
fn gradients_and_hessians_match_finite_differences() {
    let mut rng = Rng::new(2026);
    for spec in specs() {
        let o = objectives::build::<f64>(&spec).unwrap();
        let n = o.dim();
        for _ in 0..20 {
            let x = random_point(o.as_ref(), &mut rng);
            let mut g = vec![0.0; n];
            o.gradient(&x, &mut g);
            let mut h = vec![0.0; n * n];
            o.hessian(&x, &mut h).unwrap();
            let value = |y: &[f64]| o.value(y);
            let scale_g = 1.0 + g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let scale_h = 1.0 + h.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for i in 0..n {
                let fd = diff(&value, &x, i);
                assert!((fd - g[i]).abs() <= 1e-6 * scale_g, "{spec} grad[{i}] at {x:?}: {} vs {fd}", g[i]);
                for j in 0..n {
                    let gj = |y: &[f64]| {
                        let mut t = vec![0.0; n];
                        o.gradient(y, &mut t);
                        t[j]
                    };
                    let fd = diff(&gj, &x, i);
                    let an = h[j * n + i];
                    assert!((fd - an).abs() <= 1e-6 * scale_h, "{spec} H[{j},{i}] at {x:?}: {an} vs {fd}");
                    assert!(
                        (h[i * n + j] - h[j * n + i]).abs() <= 1e-12 * scale_h,
                        "{spec}: Hessian not symmetric"
                    );
                }
            }
        }
    }
}

#[test]
fn known_minima_are_strict_minima_with_the_stated_values() {
    for spec in specs() {
        let o = objectives::build::<f64>(&spec).unwrap();
        for m in o.minima() {
            let value = o.value(&m.point);
            assert!(
                (value - m.value).abs() <= 1e-9 * (1.0 + m.value.abs()),
                "{spec}: f = {value}, stated {}",
                m.value
            );
            let mut g = vec![0.0; o.dim()];
            o.gradient(&m.point, &mut g);
            let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(gn <= 1e-8 * (1.0 + m.value.abs()), "{spec}: |grad| = {gn} at {:?}", m.point);
            if spec.starts_with("ackley") {
                continue; // not twice differentiable at its minimum
            }
            let a = analyze_point(o.as_ref(), &m.point).unwrap();
            assert_eq!(a.kind, PointKind::StrictLocalMinimum, "{spec} at {:?}: {:?}", m.point, a.eigenvalues);
        }
    }
}

#[test]
fn analyze_the_seed_quadratic() {
    // The acceptance numbers: eigenvalues 2 and 100, kappa 50, optimal lr 2/102, threshold 0.02.
    let o = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let a = analyze_point(o.as_ref(), &[1.0, 1.0]).unwrap();
    assert_eq!(a.eigenvalues, vec![2.0, 100.0]);
    assert_eq!(a.condition_number, Some(50.0));
    assert_eq!(a.optimal_lr, Some(2.0 / 102.0));
    assert_eq!(a.divergence_threshold, Some(0.02));
    assert_eq!(a.predicted_rate, Some(49.0 / 51.0));
    assert_eq!(a.kind, PointKind::NotCritical);
    assert_eq!(analyze_point(o.as_ref(), &[0.0, 0.0]).unwrap().kind, PointKind::StrictLocalMinimum);
}

#[test]
fn predicted_rate_is_what_gd_achieves_on_the_quadratic() {
    // GD at the optimal step contracts the error by exactly (kappa-1)/(kappa+1) per step.
    let o = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let a = analyze_point(o.as_ref(), &[1.0, 1.0]).unwrap();
    let spec = format!("gd:lr={}", a.optimal_lr.unwrap());
    let mut gd = optim::build::<f64>(&spec, &Default::default()).unwrap();
    let run = minimize(o.as_ref(), gd.as_mut(), &[1.0, 1.0], &RunOptions::steps(50), None).unwrap();
    let dist = |p: &[f64]| p.iter().map(|v| v * v).sum::<f64>().sqrt();
    let measured = (dist(&run.params) / dist(&[1.0, 1.0])).powf(1.0 / 50.0);
    assert!((measured - a.predicted_rate.unwrap()).abs() < 1e-12, "{measured}");
}

#[test]
fn descriptions_state_true_condition_numbers() {
    for (spec, kappa) in [("booth", 9.0), ("matyas", 25.0)] {
        let o = objectives::build::<f64>(spec).unwrap();
        let a = analyze_point(o.as_ref(), &[0.3, -0.2]).unwrap();
        assert!((a.condition_number.unwrap() - kappa).abs() < 1e-9, "{spec}: {:?}", a.condition_number);
    }
}

#[test]
fn critical_points_of_himmelblau_and_the_saddles() {
    let o = objectives::build::<f64>("himmelblau").unwrap();
    let b = analyze_box(o.as_ref(), [-5.0, 5.0, -5.0, 5.0], 41).unwrap();
    let count = |k: PointKind| b.critical_points.iter().filter(|p| p.kind == k).count();
    assert_eq!(count(PointKind::StrictLocalMinimum), 4);
    assert_eq!(count(PointKind::StrictLocalMaximum), 1);
    assert_eq!(count(PointKind::Saddle), 4);
    assert!(b.mu < 0.0, "himmelblau is not convex on the box");

    let s = objectives::build::<f64>("saddle").unwrap();
    assert_eq!(analyze_point(s.as_ref(), &[0.0, 0.0]).unwrap().kind, PointKind::Saddle);
    let m = objectives::build::<f64>("monkey-saddle").unwrap();
    assert_eq!(analyze_point(m.as_ref(), &[0.0, 0.0]).unwrap().kind, PointKind::Degenerate);

    // On a quadratic, L and mu over any box are the eigenvalues.
    let q = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
    let b = analyze_box(q.as_ref(), [-1.0, 1.0, -1.0, 1.0], 5).unwrap();
    assert_eq!((b.l, b.mu, b.condition_number), (100.0, 2.0, Some(50.0)));
}

#[test]
fn expressions_agree_with_hand_written_objectives() {
    let e = Expression::parse("(1-x)^2 + 10*(y-x^2)^2", None).unwrap();
    let r = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let mut rng = Rng::new(3);
    for _ in 0..100 {
        let x = [rng.range(-2.0, 2.0), rng.range(-1.0, 3.0)];
        let (mut g1, mut g2) = ([0.0; 2], [0.0; 2]);
        let v1 = e.value_and_gradient(&x, &mut g1);
        let v2 = r.value_and_gradient(&x, &mut g2);
        assert_eq!(v1, v2, "values use the same operations");
        for i in 0..2 {
            assert!((g1[i] - g2[i]).abs() <= 1e-13 * (1.0 + g2[i].abs()));
        }
    }
    // A run on the formula follows the seed's figure 1 run to rounding.
    let mut gd1 = optim::build::<f64>("gd:lr=0.005", &Default::default()).unwrap();
    let mut gd2 = optim::build::<f64>("gd:lr=0.005", &Default::default()).unwrap();
    let a = minimize(&e, gd1.as_mut(), &[-1.5, 2.5], &RunOptions::steps(200), None).unwrap();
    let b = minimize(r.as_ref(), gd2.as_mut(), &[-1.5, 2.5], &RunOptions::steps(200), None).unwrap();
    assert!((a.params[0] - b.params[0]).abs() < 1e-12 && (a.params[1] - b.params[1]).abs() < 1e-12);
}

#[test]
fn undefined_formulas_stop_non_finite() {
    let e = Expression::parse("log(x)", None).unwrap();
    let mut gd = optim::build::<f64>("gd:lr=1", &Default::default()).unwrap();
    // log has no minimum; GD on it walks x to 0 and below: log of a negative number is NaN.
    let run = minimize(&e, gd.as_mut(), &[0.5], &RunOptions::steps(10), None).unwrap();
    assert_eq!(run.stop, StopReason::NonFinite);
    let e = Expression::parse("1/x", None).unwrap();
    let mut gd = optim::build::<f64>("gd:lr=0.1", &Default::default()).unwrap();
    let run = minimize(&e, gd.as_mut(), &[0.0], &RunOptions::steps(10), None).unwrap();
    assert_eq!(run.stop, StopReason::NonFinite);
}

#[test]
fn every_function_and_operator_differentiates() {
    let formula = "sin(x)*cos(y) + tan(x/4) + exp(-y^2) + log(2+x^2) + sqrt(1+y^2) + abs(x-y) + tanh(x) \
                   + sinh(y/3) + cosh(x/3) + atan(x*y) + min(x, y)^2 + max(x, 2*y) + x^y + 2^x + pi*e - x/(1+y^2)";
    let o = Expression::parse(formula, None).unwrap();
    let mut rng = Rng::new(11);
    for _ in 0..50 {
        let x = [rng.range(0.2, 2.0), rng.range(0.2, 2.0)];
        let (mut g, mut h) = ([0.0; 2], [0.0; 4]);
        o.value_and_gradient(&x, &mut g);
        Objective::<f64>::hessian(&o, &x, &mut h).unwrap();
        for i in 0..2 {
            let fd = diff(&|y: &[f64]| o.value(y), &x, i);
            assert!((fd - g[i]).abs() < 1e-6 * (1.0 + g[i].abs()), "grad {i} at {x:?}: {} vs {fd}", g[i]);
            for j in 0..2 {
                let fd = diff(
                    &|y: &[f64]| {
                        let mut t = [0.0; 2];
                        o.value_and_gradient(y, &mut t);
                        t[j]
                    },
                    &x,
                    i,
                );
                assert!(
                    (fd - h[j * 2 + i]).abs() < 1e-5 * (1.0 + fd.abs()),
                    "H[{j},{i}] at {x:?}: {} vs {fd}",
                    h[j * 2 + i]
                );
            }
        }
    }
}

fn arb_ast() -> impl Strategy<Value = Ast> {
    let leaf = prop_oneof![
        (-1e6f64..1e6).prop_map(Ast::Num),
        prop::sample::select(vec!["x", "y", "z", "w1"]).prop_map(|s| Ast::Var(s.to_string())),
    ];
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Ast::Neg(Box::new(a))),
            (
                prop::sample::select(vec![BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::Pow]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| Ast::Bin(op, Box::new(a), Box::new(b))),
            (
                prop::sample::select(vec![
                    Func::Sin,
                    Func::Exp,
                    Func::Log,
                    Func::Sqrt,
                    Func::Abs,
                    Func::Atan
                ]),
                inner.clone()
            )
                .prop_map(|(f, a)| Ast::Call(f, Box::new(a))),
            (prop::sample::select(vec![Func2::Min, Func2::Max]), inner.clone(), inner)
                .prop_map(|(f, a, b)| Ast::Call2(f, Box::new(a), Box::new(b))),
        ]
    })
}

/// Negative literals print as `(-c)` and parse back as `Neg(c)`; compare modulo that.
fn normalize(a: &Ast) -> Ast {
    match a {
        Ast::Num(v) if *v < 0.0 || (v.is_sign_negative() && *v == 0.0) => Ast::Neg(Box::new(Ast::Num(-v))),
        Ast::Num(_) | Ast::Var(_) => a.clone(),
        Ast::Neg(x) => Ast::Neg(Box::new(normalize(x))),
        Ast::Bin(op, x, y) => Ast::Bin(*op, Box::new(normalize(x)), Box::new(normalize(y))),
        Ast::Call(f, x) => Ast::Call(*f, Box::new(normalize(x))),
        Ast::Call2(f, x, y) => Ast::Call2(*f, Box::new(normalize(x)), Box::new(normalize(y))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn printed_formulas_parse_back_to_the_same_tree(ast in arb_ast()) {
        let text = ast.to_string();
        let back = parse(&text).unwrap();
        prop_assert_eq!(normalize(&back), normalize(&ast), "{}", text);
    }

    #[test]
    fn arbitrary_text_parses_or_errors_without_panicking(s in "[-+*/^(),.0-9a-z eE]{0,40}") {
        match Expression::parse(&s, None) {
            Ok(e) => { let _ = Objective::<f64>::value(&e, &vec![0.5; e.variables().len()]); }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }
}
