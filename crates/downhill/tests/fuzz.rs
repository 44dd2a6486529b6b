//! Property tests: whatever a person types, the parsers return a value or an error, never panic,
//! and what they accept is valid. Case counts are reported in docs/RELIABILITY.md.

use downhill::objectives;
use downhill::optim::{self, BuildOptions};
use downhill::{minimize, RunOptions, Schedule};
use proptest::prelude::*;

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Near-valid specs: a real or misspelled name, then keys and values drawn from what people type.
fn near_spec(names: Vec<&'static str>, keys: Vec<&'static str>) -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e309".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("true".to_string()),
        Just("".to_string()),
        Just("1e-3..1e-1:log:3".to_string()),
        (-10.0f64..10.0).prop_map(|v| format!("{v}")),
        (0u32..100_000).prop_map(|v| v.to_string()),
        "[a-z0-9.+-]{0,6}",
    ];
    let name = prop_oneof![
        prop::sample::select(names),
        "[a-z-]{0,10}".prop_map(|s| Box::leak(s.into_boxed_str()) as &'static str)
    ];
    (name, prop::collection::vec((prop::sample::select(keys), value), 0..5)).prop_map(|(n, kv)| {
        if kv.is_empty() {
            n.to_string()
        } else {
            format!("{n}:{}", kv.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        }
    })
}

const KEYS: &[&str] = &[
    "lr",
    "beta",
    "beta1",
    "beta2",
    "eps",
    "eps_root",
    "eps_mode",
    "momentum",
    "dampening",
    "weight_decay",
    "amsgrad",
    "centered",
    "alpha",
    "form",
    "clip_norm",
    "clip_value",
    "lr_decay",
    "damping",
    "a",
    "b",
    "c",
    "dim",
    "max",
    "min",
    "warmup",
    "total",
    "gamma",
    "every",
    "offset",
    "power",
    "end",
    "pct_start",
    "div",
    "final_div",
];

proptest! {
    #![proptest_config(cfg(20_000))]

    #[test]
    fn optimizer_specs_never_panic(spec in prop_oneof![near_spec(optim::names(), KEYS.to_vec()), "[ -~]{0,40}"]) {
        if let Ok(mut o) = optim::build::<f64>(&spec, &BuildOptions::default()) {
            // Whatever is accepted can take a step without panicking.
            let f = objectives::build::<f64>("quadratic:a=50,b=1").unwrap();
            let _ = minimize(f.as_ref(), o.as_mut(), &[1.0, 1.0], &RunOptions::steps(3), None);
        }
    }

    #[test]
    fn schedule_specs_never_panic(spec in prop_oneof![
        near_spec(downhill::schedule::SCHEDULE_NAMES.to_vec(), KEYS.to_vec()),
        (near_spec(downhill::schedule::SCHEDULE_NAMES.to_vec(), KEYS.to_vec()), 0u64..1000, near_spec(downhill::schedule::SCHEDULE_NAMES.to_vec(), KEYS.to_vec()))
            .prop_map(|(a, n, b)| format!("{a} until {n}; {b}")),
        "[ -~]{0,40}",
    ]) {
        if let Ok(s) = Schedule::parse(&spec) {
            // An accepted schedule gives finite, non-negative rates.
            for t in [0u64, 1, 7, 100, 10_000, 1_000_000] {
                let v = s.value(t);
                prop_assert!(v.is_finite() && v >= 0.0, "{spec} at {t}: {v}");
            }
        }
    }

    #[test]
    fn objective_specs_never_panic(spec in prop_oneof![near_spec(objectives::names(), KEYS.to_vec()), "[ -~]{0,40}"]) {
        if let Ok(f) = objectives::build::<f64>(&spec) {
            if f.dim() <= 100 {
                let x = vec![0.3; f.dim()];
                let mut g = vec![0.0; f.dim()];
                let _ = f.value_and_gradient(&x, &mut g);
            }
        }
    }
}

/// A hostile spec: a near-valid one with something hostile spliced in.
fn hostile_spec() -> impl Strategy<Value = String> {
    let hostile = prop_oneof![
        "[0-9]{300,2000}",
        "[,=:|]{1,50}",
        Just("1e308".to_string()),
        Just("-1e308".to_string()),
        Just("4e-324".to_string()),
        Just("18446744073709551616".to_string()),
        Just("x²".to_string()),
        Just("\u{0}".to_string()),
        "[a-z]{1000,3000}",
    ];
    (
        prop::sample::select(vec![
            "adam:lr=",
            "mlp:hidden=",
            "rosenbrock:dim=",
            "sphere:dim=",
            "cosine:max=1,total=",
            "gd:lr=1,",
            "rosenbrock:a=",
        ]),
        hostile,
    )
        .prop_map(|(prefix, h)| format!("{prefix}{h}"))
}

proptest! {
    #![proptest_config(cfg(3_000))]

    /// Every spec parser on hostile text: a value or an error, never a panic; objectives accepted
    /// with a huge `dim` are refused by the dimension limit before allocating.
    #[test]
    fn spec_parsers_take_hostile_text(spec in hostile_spec()) {
        let _ = optim::build::<f64>(&spec, &BuildOptions::default());
        let _ = Schedule::parse(&spec);
        if let Ok(f) = objectives::build::<f64>(&spec) {
            prop_assert!(f.dim() as u64 <= objectives::MAX_DIM);
        }
    }
}
