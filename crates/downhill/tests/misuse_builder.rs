//! Typed construction validates as specs do (issue #15): Adam with `lr = -1` or `beta1 = 1.5` is an
//! `Err` naming the field and the accepted range, with the spec's message.

use downhill::optim::{self, Adam, BuildOptions};
use downhill::Error;

#[test]
fn adam_with_a_negative_learning_rate_is_an_error_naming_lr_and_its_range() {
    let err = Adam::<f64>::builder().lr(-1.0).build().unwrap_err();
    assert!(
        matches!(&err, Error::OutOfRange { field, value, .. } if field.ends_with("lr") && value == "-1"),
        "{err}"
    );
    assert!(err.to_string().contains("(0, inf)"), "{err}");
    // The same message as the spec.
    let spec = optim::build::<f64>("adam:lr=-1", &BuildOptions::default()).err().unwrap();
    assert_eq!(err.to_string(), spec.to_string());
}

#[test]
fn adam_with_beta1_above_one_is_an_error_naming_beta1_and_its_range() {
    let err = Adam::<f64>::builder().beta1(1.5).build().unwrap_err();
    assert!(
        matches!(&err, Error::OutOfRange { field, value, .. } if field.ends_with("beta1") && value == "1.5"),
        "{err}"
    );
    assert!(err.to_string().contains("[0, 1)"), "{err}");
    let spec = optim::build::<f64>("adam:beta1=1.5", &BuildOptions::default()).err().unwrap();
    assert_eq!(err.to_string(), spec.to_string());
}
