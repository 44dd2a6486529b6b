//! The library entry points the command line, the server and the tour call: the run document and
//! comparisons. Each is checked against the same work written out with the lower-level API.

use downhill::compare::{compare, lr_grid, CompareOptions};
use downhill::optim::{self, BuildOptions};
use downhill::report::{RunDocument, RunHeader, RunSummary, TrajectoryPoint};
use downhill::{minimize, objectives, RunOptions};

#[test]
fn the_run_document_streams_what_a_value_tree_holds() {
    let f = objectives::build::<f32>("rosenbrock:a=1,b=10").unwrap();
    let mut opt = optim::build::<f32>("asgd:lr=0.01", &BuildOptions::default()).unwrap();
    let start = [-1.5, 2.5];
    let start32 = [-1.5f32, 2.5];
    let r = minimize(f.as_ref(), opt.as_mut(), &start32, &RunOptions::steps(30), None).unwrap();
    let doc = RunDocument::new(f.as_ref(), opt.as_ref(), &start, &r);
    let streamed = serde_json::to_string_pretty(&doc).unwrap();
    let tree = serde_json::to_string_pretty(&serde_json::to_value(&doc).unwrap()).unwrap();
    assert_eq!(streamed, tree);
    let v: serde_json::Value = serde_json::from_str(&streamed).unwrap();
    // f32 numbers widened exactly to f64, not printed at f32 precision.
    let p1 = &v["trajectory"][1];
    assert_eq!(p1["params"][0].as_f64().unwrap(), r.trajectory[1].params[0] as f64);
    assert_eq!(v["trajectory"].as_array().unwrap().len(), r.trajectory.len());
    assert_eq!(v["loss"].as_f64().unwrap(), r.loss as f64);
    // ASGD answers with its average (`eval_params`), which the document carries beside the iterate.
    let avg = opt.eval_params(&r.params).unwrap();
    assert_eq!(v["eval_params"][0].as_f64().unwrap(), avg[0] as f64);
    assert_eq!(v["eval_loss"].as_f64().unwrap(), f.value(&avg) as f64);
    // The streamed pieces (header, points, summary) carry the document's own values.
    let header = serde_json::to_value(RunHeader::new(f.as_ref(), opt.as_ref(), &start)).unwrap();
    for key in ["objective", "optimizer", "dtype", "start"] {
        assert_eq!(header[key], v[key], "{key}");
    }
    let summary = serde_json::to_value(RunSummary::new(f.as_ref(), &r)).unwrap();
    for (key, value) in summary.as_object().unwrap() {
        assert_eq!(value, &v[key], "{key}");
    }
    let point = serde_json::to_value(TrajectoryPoint::of(&r.trajectory[7])).unwrap();
    assert_eq!(point, v["trajectory"][7]);
}

/// A comparison is each spec run by `minimize` (at the tuned rate when tuning), its tolerance
/// step the first in the full trajectory within `tol` of the minimum.
#[test]
fn a_comparison_is_the_runs_written_out() {
    let spec = "quadratic:a=50,b=1";
    let specs = ["gd:lr=0.005".to_string(), "momentum:lr=0.002".to_string()];
    let options = CompareOptions { steps: 1000, tol: 1e-4, ..CompareOptions::default() };
    let c = compare(objectives::build::<f64>(spec).unwrap(), &specs, vec![1.0, 1.0], &options).unwrap();
    let f = objectives::build::<f64>(spec).unwrap();
    for (entry, spec) in c.entries.iter().zip(&specs) {
        let mut opt = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        let r = minimize(f.as_ref(), opt.as_mut(), &[1.0, 1.0], &RunOptions::steps(1000), None).unwrap();
        assert_eq!(entry.result.params, r.params, "{spec}");
        assert_eq!(entry.result.trajectory, r.trajectory, "{spec}");
        let first = r.trajectory.iter().find(|p| p.loss <= 1e-4).map(|p| p.step);
        assert!(first.is_some(), "{spec}");
        assert_eq!(entry.reached_at, first, "{spec}");
        assert_eq!(entry.lr, opt.learning_rate());
    }
    // Tuning picks, over the grid, the rate whose run ends lowest: checked by running them all.
    let tuned = compare(
        objectives::build::<f64>(spec).unwrap(),
        &["gd".to_string()],
        vec![1.0, 1.0],
        &CompareOptions { steps: 50, tune_lr: true, ..CompareOptions::default() },
    )
    .unwrap();
    let best = lr_grid()
        .into_iter()
        .filter_map(|lr| {
            let mut opt = optim::build::<f64>(&format!("gd:lr={lr}"), &BuildOptions::default()).unwrap();
            let options = RunOptions { bound: Some(1e6), ..RunOptions::steps(50) };
            let r = minimize(f.as_ref(), opt.as_mut(), &[1.0, 1.0], &options, None).unwrap();
            (r.stop == downhill::StopReason::MaxSteps).then_some((r.loss, lr))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert_eq!(tuned.entries[0].lr, best.1);
    // Thinned, a long run keeps round steps and its end, each point the full run's.
    let long = compare(
        objectives::build::<f64>(spec).unwrap(),
        &["gd:lr=1e-5".to_string()],
        vec![1.0, 1.0],
        &CompareOptions { steps: 25_003, keep_every_point: false, ..CompareOptions::default() },
    )
    .unwrap();
    let kept = &long.entries[0].result.trajectory;
    assert!(kept.len() <= 10_001 && kept.len() > 2_000, "{}", kept.len());
    assert!(kept[..kept.len() - 1].iter().all(|p| p.step % 10 == 0));
    assert_eq!(kept.last().unwrap().step, 25_003);
    // A bad spec is refused before anything runs.
    let e = compare(
        objectives::build::<f64>(spec).unwrap(),
        &["gd".to_string(), "adma".to_string()],
        vec![1.0, 1.0],
        &CompareOptions::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("did you mean 'adam'"), "{e}");
}
