//! Property tests of the training crate's parsers: whatever a person types or a file holds, the
//! data loaders and the model spec parser return a value or an error, never panic, and what they
//! accept is valid. Case counts are reported in docs/RELIABILITY.md. (Moved from the core
//! crate's `tests/fuzz.rs` with the training code.)

use downhill_train::{parse_csv, parse_idx, Model, Target, Task};
use proptest::prelude::*;

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// CSV-like text: numbers, words, empty cells, quotes, ragged rows.
fn csv_text() -> impl Strategy<Value = String> {
    let cell = prop_oneof![
        (-1e6f64..1e6).prop_map(|x| x.to_string()),
        (0u32..5).prop_map(|x| x.to_string()),
        Just(String::new()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("\"a,b\"".to_string()),
        // Hostile cells: an unterminated quote, line breaks inside quotes, huge and tiny numbers,
        // long and non-ASCII text.
        Just("\"open".to_string()),
        Just("\"a\nb\"".to_string()),
        Just("\"a\rb\"".to_string()),
        Just("1e400".to_string()),
        Just("-1e-400".to_string()),
        Just("01".to_string()),
        Just("1.0".to_string()),
        Just("９".to_string()),
        "[a-z]{200,400}",
        "[a-z]{1,4}",
        "[ -~]{0,6}",
    ];
    let row = prop::collection::vec(cell, 0..6).prop_map(|cells| cells.join(","));
    prop::collection::vec(row, 0..12).prop_map(|rows| rows.join("\n"))
}

/// IDX-like bytes: a plausible header (sometimes wrong), sizes, and a body of any length.
fn idx_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(0u8), 0u8..=255],
        prop_oneof![Just(8u8), Just(0x0d), 0u8..=255],
        0u8..5,
        // Small sizes, and sizes whose product overflows or passes the value limit.
        prop::collection::vec(
            prop_oneof![4 => 0u32..6, 1 => Just(u32::MAX), 1 => 1u32 << 16..1u32 << 24],
            0..5,
        ),
        prop::collection::vec(0u8..=255, 0..200),
    )
        .prop_map(|(z, kind, ndim, dims, body)| {
            let mut b = vec![0, z, kind, ndim];
            dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
            b.extend(body);
            b
        })
}

proptest! {
    #![proptest_config(cfg(10_000))]

    #[test]
    fn csv_loader_never_panics(text in csv_text(), target in prop_oneof![Just("last".to_string()), Just("0".to_string()), "[a-z0-9]{1,3}"]) {
        for task in [Task::Auto, Task::Classify, Task::Regress] {
            if let Ok(ds) = parse_csv(text.as_bytes(), "fuzz.csv", &target, task) {
                // Whatever loads is consistent enough to train on.
                prop_assert!(ds.validate().is_ok());
                prop_assert!(ds.dim >= 1 && !ds.is_empty());
            }
        }
    }

    #[test]
    fn idx_loader_never_panics(bytes in prop_oneof![idx_bytes(), prop::collection::vec(0u8..=255, 0..64)]) {
        if let Ok(a) = parse_idx(&bytes, "fuzz") {
            prop_assert_eq!(a.values.len(), a.shape.iter().product::<usize>());
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

    /// The model spec parser on hostile text: a model or an error, never a panic; what it accepts
    /// stays under the parameter limit.
    #[test]
    fn model_specs_take_hostile_text(spec in hostile_spec()) {
        let target = Target::Classes { labels: vec![0, 1], names: vec!["a".into(), "b".into()] };
        if let Ok(m) = Model::parse(&spec, 4, &target) {
            prop_assert!(m.num_params() <= 200_000_000); // the model limit
        }
    }
}
