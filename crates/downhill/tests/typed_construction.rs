//! Typed construction checks exactly what a spec checks, with the same one-line error, and every
//! optimizer's declaration, defaults and report agree.

use downhill::optim::{self, Adam, BuildOptions, Ema, GradientDescent, Lbfgs, Rprop, Value};
use downhill::{Optimizer, Schedule};

fn spec_error(spec: &str) -> String {
    match optim::build::<f64>(spec, &BuildOptions::default()) {
        Ok(_) => panic!("{spec} should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn typed_errors_are_the_spec_errors() {
    let typed = Adam::<f64>::builder().beta1(1.5).build().unwrap_err().to_string();
    assert_eq!(typed, "adam.beta1: 1.5 is not in [0, 1)");
    assert_eq!(typed, spec_error("adam:beta1=1.5"));
    assert_eq!(Adam::<f64>::new(-1.0).unwrap_err().to_string(), spec_error("adam:lr=-1"));
    assert_eq!(Adam::<f64>::new(f64::NAN).unwrap_err().to_string(), spec_error("adam:lr=nan"));
    assert_eq!(
        Lbfgs::<f64>::builder().memory(0).build().unwrap_err().to_string(),
        spec_error("lbfgs:memory=0")
    );
    assert_eq!(
        Rprop::<f64>::builder().step_min(1.0).step_max(0.5).build().unwrap_err().to_string(),
        spec_error("rprop:step_min=1,step_max=0.5")
    );
    assert_eq!(
        Rprop::<f64>::builder().etaplus(1.0).build().unwrap_err().to_string(),
        spec_error("rprop:etaplus=1")
    );
    let inner = || Box::new(Adam::<f64>::default()) as Box<dyn Optimizer<f64>>;
    assert_eq!(Ema::new(inner(), 1.0).err().unwrap().to_string(), spec_error("ema(adam):decay=1"));
    // A schedule that is not self-consistent is refused at construction, not at step 3.
    let bad = Schedule::WarmupCosine { max: 0.1, min: 0.0, warmup: 500, total: 100 };
    let e = GradientDescent::<f64>::builder().lr(bad.clone()).build().unwrap_err();
    assert_eq!(e.to_string(), bad.validate().unwrap_err().to_string());
}

#[test]
fn typed_and_spec_construction_agree() {
    let typed = Adam::<f64>::builder().lr(0.05).beta2(0.99).amsgrad(true).weight_decay(0.1).build().unwrap();
    let spec =
        optim::build::<f64>("adam:lr=0.05,beta2=0.99,amsgrad=true,weight_decay=0.1", &Default::default())
            .unwrap();
    assert_eq!(typed.hyperparameters(), spec.hyperparameters());
    let typed = Adam::<f64>::adamw(0.01).unwrap();
    let spec = optim::build::<f64>("adamw:lr=0.01", &Default::default()).unwrap();
    assert_eq!((typed.name(), typed.hyperparameters()), (spec.name(), spec.hyperparameters()));
}

#[test]
fn every_registry_default_builds_and_reports_its_declaration() {
    for entry in optim::REGISTRY {
        let opt = optim::build::<f64>(entry.name, &BuildOptions::default()).unwrap();
        let report = opt.hyperparameters();
        let keys = (entry.keys)();
        assert!(!keys.is_empty(), "{}", entry.name);
        for k in &keys {
            // Adafactor reports eps1 only when given.
            if let Some((_, v)) = report.iter().find(|(name, _)| *name == k.key) {
                assert_eq!(v, &k.default, "{}.{}: report vs declaration", entry.name, k.key);
            } else {
                // Absent from a default report: an option that is off (eps1, line_search=none) or
                // a key of the other form (nesterov's dampening, form=pytorch only).
                let other_form = (entry.name, k.key) == ("nesterov", "dampening");
                assert!(k.default == Value::Text("none") || other_form, "{}.{} missing", entry.name, k.key);
            }
            // Every declared key is accepted by the spec with its default written out.
            let text = format!("{}:{}", entry.name, k.key_default());
            let built = optim::build::<f64>(&text, &BuildOptions::default());
            assert!(built.is_ok() || k.default == Value::Text("none"), "{text}: {:?}", built.err());
        }
        assert!(entry.summary().starts_with(&keys[0].key_default()), "{}", entry.summary());
    }
}
