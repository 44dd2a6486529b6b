//! `Optimizer::set_learning_rate`: a rate set before each update gives the same run, bit for bit,
//! as the schedule that produces those rates (the reference), for every registered optimizer. The
//! schedule never reaches 0, where a line search has no step to take and so does not count one.

use downhill::optim::{self, BuildOptions, REGISTRY};
use downhill::{objectives, Schedule};

#[test]
fn setting_the_rate_each_step_equals_the_schedule() {
    let objective = objectives::build::<f64>("rosenbrock:a=1,b=10,dim=20").unwrap();
    let schedule = Schedule::parse("linear:lr=2e-3,start_factor=0.1,end_factor=1,total=40").unwrap();
    let start: Vec<f64> = (0..20).map(|i| 0.3 + 0.05 * i as f64).collect();
    for entry in REGISTRY {
        // Rprop's lr is only its initial step size and newton-tr has none: they refuse a schedule,
        // and so a set rate.
        let Ok(mut scheduled) =
            optim::build::<f64>(entry.name, &BuildOptions { schedule: Some(schedule.clone()) })
        else {
            let mut opt = optim::build::<f64>(entry.name, &BuildOptions::default()).unwrap();
            assert!(opt.set_learning_rate(schedule.clone()).is_err(), "{}", entry.name);
            continue;
        };
        let mut driven = optim::build::<f64>(entry.name, &BuildOptions::default()).unwrap();
        let (mut a, mut b) = (start.clone(), start.clone());
        let (mut ga, mut gb) = (vec![0.0; 20], vec![0.0; 20]);
        for t in 0..40 {
            objective.gradient(&a, &mut ga);
            objective.gradient(&b, &mut gb);
            let want = scheduled.learning_rate();
            scheduled.step_on(objective.as_ref(), &mut a, &ga).unwrap();
            driven.set_learning_rate(Schedule::constant(schedule.value(t))).unwrap();
            // The rate the next update uses (ASGD's decayed eta, not lr itself) is the same.
            assert_eq!(driven.learning_rate(), want, "{}", entry.name);
            driven.step_on(objective.as_ref(), &mut b, &gb).unwrap();
        }
        assert!(a.iter().zip(&start).any(|(x, s)| x != s), "{} did not move", entry.name);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.to_bits(), y.to_bits(), "{}: {a:?} vs {b:?}", entry.name);
        }
        assert_eq!(scheduled.state(), driven.state(), "{}", entry.name);
    }
}

/// A training loop may set the rate to 0 (a warmup from 0, as PyTorch's schedulers do at step 0):
/// the update then leaves the parameters where they are, and the moment estimates still move.
#[test]
fn a_rate_of_zero_can_be_set_and_moves_nothing() {
    let mut adam = optim::build::<f64>("adamw", &BuildOptions::default()).unwrap();
    adam.set_learning_rate(Schedule::constant(0.0)).unwrap();
    let mut x = vec![1.0, -2.0, 0.5];
    adam.update(&mut x, &[0.3, -0.1, 2.0]).unwrap();
    assert_eq!(x, [1.0, -2.0, 0.5]);
    assert_eq!(adam.steps(), 1);
    // A negative rate is still refused, naming the field and the range.
    let e = adam.set_learning_rate(Schedule::constant(-1e-3)).unwrap_err();
    assert_eq!(e.to_string(), "schedule.lr: -0.001 is not in [0, inf)");
    // As a spec, lr = 0 stays an error: an optimizer built to take no step is a mistake.
    assert!(optim::build::<f64>("adamw:lr=0", &BuildOptions::default()).is_err());
}
