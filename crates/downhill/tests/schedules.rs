//! Schedules against PyTorch's schedulers and ReduceLROnPlateau against PyTorch's, from
//! `tests/fixtures/torch_schedules.json`, which `scripts/schedule_reference.py` writes by stepping
//! the real `torch.optim.lr_scheduler` classes once per optimizer step from step 0 (the piecewise
//! cases come from optax's `piecewise_constant_schedule` formula, evaluated in Python).

use downhill::schedule::{ReduceOnPlateau, Schedule};
use serde_json::Value;

fn fixture() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torch_schedules.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn schedules_match_pytorch_to_1e_12() {
    let f = fixture();
    let cases = f["schedules"].as_array().unwrap();
    assert!(cases.len() >= 11);
    for case in cases {
        let spec = case["spec"].as_str().unwrap();
        let s = Schedule::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        for (t, want) in case["lr"].as_array().unwrap().iter().enumerate() {
            let want = want.as_f64().unwrap();
            let got = s.value(t as u64);
            // Relative 1e-12: PyTorch's LinearLR steps a recursive product whose rounding drifts
            // by a few ulps from the closed form; everything else agrees to the last bit or two.
            assert!((got - want).abs() <= 1e-12 * want.abs(), "{spec} at step {t}: {got} vs torch {want}");
        }
    }
}

#[test]
fn reduce_on_plateau_matches_pytorch() {
    let f = fixture();
    let losses: Vec<f64> =
        f["plateau_losses"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
    for case in f["plateau"].as_array().unwrap() {
        let spec = case["spec"].as_str().unwrap();
        let mut p = ReduceOnPlateau::parse(spec).unwrap();
        let mut lr = case["lr0"].as_f64().unwrap();
        for (epoch, (loss, want)) in losses.iter().zip(case["lr_after"].as_array().unwrap()).enumerate() {
            lr = p.step(*loss, lr);
            assert_eq!(lr, want.as_f64().unwrap(), "{spec} after epoch {epoch} (loss {loss})");
        }
    }
}

#[test]
fn reduce_on_plateau_by_hand() {
    // patience 2: the third epoch in a row without a 1e-4 relative improvement lowers the rate.
    // 1.0 best; 0.99995 is within the threshold (not better); 2.0, 3.0 bad -> reduce after 3.0.
    let mut p = ReduceOnPlateau::parse("factor=0.5,patience=2").unwrap();
    let lrs: Vec<f64> = [1.0, 0.99995, 2.0, 3.0, 0.5, 0.6, 0.6, 0.6]
        .iter()
        .scan(1.0, |lr, &l| {
            *lr = p.step(l, *lr);
            Some(*lr)
        })
        .collect();
    assert_eq!(lrs, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]);
}

#[test]
fn reduce_on_plateau_rejects_bad_keys() {
    for (bad, says) in [
        ("factor=1", "reduce-on-plateau.factor: 1 is not in (0, 1)"),
        ("factor=0", "reduce-on-plateau.factor: 0 is not in (0, inf)"),
        ("patience=-1", "reduce-on-plateau.patience"),
        ("threshold_mode=relative", "threshold_mode"),
        ("min_lr=nan", "reduce-on-plateau.min_lr"),
        ("mode=max", "unknown reduce-on-plateau key 'mode'"),
    ] {
        let e = ReduceOnPlateau::parse(bad).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
    assert_eq!(ReduceOnPlateau::parse("").unwrap().patience, 10);
}

#[test]
fn new_schedules_reject_contradictions_without_panicking() {
    for bad in [
        "cosine-restarts:max=0.1",
        "cosine-restarts:max=0.1,period=0",
        "cosine-restarts:max=0.1,period=5,mult=0",
        "cosine-restarts:max=0.1,period=5,mult=1.5",
        "cosine-restarts:max=0.1,min=0.2,period=5",
        "cyclic:base=0.1,max=0.01,up=3",
        "cyclic:base=0.001,max=0.1,up=0",
        "cyclic:base=0.001,max=0.1,up=3,down=0",
        "cyclic:base=0.001,max=0.1,up=3,mode=sine",
        "cyclic:base=0.001,max=0.1,up=3,gamma=0",
        "linear:lr=0.1,total=0",
        "linear:lr=0.1,start_factor=0,total=5",
        "linear:lr=0.1,end_factor=1.5,total=5",
        "piecewise:lr=0.1,boundaries=10,20,factors=0.5",
        "piecewise:lr=0.1,boundaries=20,10,factors=0.5,0.5",
        "piecewise:lr=0.1,boundaries=10,10,factors=0.5,0.5",
        "piecewise:lr=0.1,boundaries=10.5,factors=0.5",
        "piecewise:lr=0.1,boundaries=10,factors=-1",
        "piecewise:lr=0.1,boundaries=1,2,factors=1e300,1e300",
        "piecewise:lr=0.1,factors=0.5",
        "piecewise:lr=0.1,boundaries=x,factors=0.5",
    ] {
        assert!(Schedule::parse(bad).is_err(), "{bad} should be rejected");
    }
    let e = Schedule::parse("piecewise:lr=0.1,boundaries=10,20,factors=0.5").unwrap_err().to_string();
    assert_eq!(e, "schedule.factors: 1 factors for 2 boundaries: give one factor per boundary");
}

#[test]
fn cosine_restarts_cycles_grow_by_mult() {
    // period 2, mult 3: cycles start at steps 0, 2, 8, 26, 80.
    let s = Schedule::parse("cosine-restarts:max=1,period=2,mult=3").unwrap();
    for start in [0u64, 2, 8, 26, 80] {
        assert_eq!(s.value(start), 1.0, "a cycle starts at {start}");
    }
    // Half way through the cycle from 26 (length 54) the rate is (max + min) / 2.
    assert!((s.value(26 + 27) - 0.5).abs() < 1e-15);
    // Far out the loop stays short and the value finite.
    assert!(s.value(999_999_999_999).is_finite());
    let big = Schedule::parse("cosine-restarts:max=1,period=1000000000000,mult=1000").unwrap();
    assert!(big.value(999_999_999_999).is_finite());
}
