//! The theory checks as the command line and the tour call them.

#[test]
fn theory_checks_run_in_the_order_given_and_unknown_ids_are_refused_first() {
    use downhill_theory::{run_checks, Effort, IDS};
    let ids = ["momentum-window".to_string(), "optimal-lr-quadratic".to_string()];
    let checks = run_checks(&ids, Effort::Quick).unwrap();
    assert_eq!(checks.iter().map(|c| c.id).collect::<Vec<_>>(), ["momentum-window", "optimal-lr-quadratic"]);
    let alone = downhill_theory::run_with("optimal-lr-quadratic", Effort::Quick).unwrap();
    assert_eq!(serde_json::to_value(&checks[1]).unwrap(), serde_json::to_value(&alone).unwrap());
    let e = run_checks(&["optimal-lr-quadratic".into(), "sadle-fraction".into()], Effort::Quick).unwrap_err();
    assert!(e.to_string().contains("did you mean 'saddle-fraction'"), "{e}");
    assert!(IDS.len() > 20);
}
