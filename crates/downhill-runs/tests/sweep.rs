//! Sweeps from code: indexing, sharding, resuming and rows, against independent references
//! (nested loops over the value lists; `downhill::minimize` run by run).

use std::collections::BTreeSet;
use std::sync::Mutex;

use downhill::optim::{self, BuildOptions};
use downhill::{minimize, objectives, RunOptions};
use downhill_runs::sweep::{Journal, Monitor, Plan, Row, Shard, Sweep, Table};

#[test]
fn every_configuration_is_indexed_once_in_cartesian_order() {
    let plan = Plan::new(&[
        "adam:lr=1e-3..1e-1:log:3,beta1=0.8|0.9,eps=1e-8",
        "lookahead(gd:lr=0.1|0.2):k=2|5|7",
        "momentum",
    ])
    .unwrap();
    // The product written out with nested loops, the last key fastest.
    let mut want = Vec::new();
    for lr in ["0.001", "0.01", "0.1"] {
        for b in ["0.8", "0.9"] {
            want.push(format!("adam:lr={lr},beta1={b},eps=1e-8"));
        }
    }
    for lr in ["0.1", "0.2"] {
        for k in ["2", "5", "7"] {
            want.push(format!("lookahead(gd:lr={lr}):k={k}"));
        }
    }
    want.push("momentum".into());
    let got: Vec<String> = (0..plan.len()).map(|i| plan.spec(i)).collect();
    assert_eq!(got, want);
    assert_eq!(plan.swept(), ["lr", "beta1", "lookahead.k"]);
    assert_eq!((plan.value(7, "lookahead.k"), plan.value(7, "beta1")), (Some("5"), None));
    // Each spec builds the optimizer it names.
    for (i, spec) in want.iter().enumerate() {
        let direct = optim::build::<f64>(spec, &BuildOptions::default()).unwrap();
        assert_eq!(plan.build::<f64>(i).unwrap().hyperparameters(), direct.hyperparameters(), "{spec}");
    }
}

#[test]
fn shards_partition_the_runs_and_come_from_slurm_or_kubernetes() {
    for total in [0usize, 1, 7, 100] {
        for n in 1..=6 {
            let mut seen = vec![0u32; total];
            for i in 0..n {
                let shard = Shard::new(i, n).unwrap();
                for r in shard.runs(total) {
                    assert!(shard.contains(r));
                    seen[r] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "total {total}, {n} shards: {seen:?}");
        }
    }
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    let slurm = vars(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "5")]);
    assert_eq!(Shard::from_vars(slurm, None).unwrap(), Some(Shard { index: 2, count: 5 }));
    let k8s = vars(&[("JOB_COMPLETION_INDEX", "3")]);
    assert_eq!(Shard::from_vars(k8s, Some(4)).unwrap(), Some(Shard { index: 3, count: 4 }));
    assert!(Shard::from_vars(k8s, None).unwrap_err().to_string().contains("number of shards"));
    assert!(Shard::from_vars(k8s, Some(3)).unwrap_err().to_string().contains("shard index"));
    assert_eq!(Shard::from_vars(vars(&[]), None).unwrap(), None);
    let bad = Shard::from_vars(vars(&[("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "2")]), None);
    assert_eq!(bad.unwrap_err().to_string(), "SLURM_ARRAY_TASK_ID: 'x' is not a whole number");
}

fn small_sweep() -> Sweep {
    // Batched kinds (adam, gd; gd at lr 0.3 diverges), one the batched engine declines (nadam)
    // and a wrapped one.
    let plan = Plan::new(&[
        "adam:lr=1e-3..1e-1:log:4",
        "gd:lr=0.001|0.3",
        "nadam:lr=0.01",
        "lookahead(adam:lr=0.05)",
    ])
    .unwrap();
    let starts = downhill_runs::sweep::grid_starts([-2.0, 2.0, -1.0, 3.0], 3, 2);
    Sweep::new(plan, starts, 80, 1e6).unwrap()
}

#[test]
fn rows_equal_minimize_runs_of_the_same_specs() {
    let sweep = small_sweep();
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let rows = sweep.run(f.as_ref(), &sweep.runs(), &f.minima(), &()).unwrap();
    assert_eq!(rows.len(), sweep.total());
    assert_eq!(rows.iter().map(|r| r.index).collect::<BTreeSet<_>>().len(), sweep.total());
    let mut stops = BTreeSet::new();
    for r in &rows {
        let spec = sweep.plan().spec(sweep.config_of(r.index));
        let mut o = optim::build::<f64>(&spec, &BuildOptions::default()).unwrap();
        let options = RunOptions { bound: Some(1e6), record_every: 0, ..RunOptions::steps(80) };
        let want = minimize(f.as_ref(), o.as_mut(), sweep.start_of(r.index), &options, None).unwrap();
        assert_eq!(
            (r.loss.to_bits(), &r.params, r.stop, r.steps, r.evaluations),
            (want.loss.to_bits(), &want.params, want.stop, want.steps, want.evaluations),
            "{spec} from {:?}",
            sweep.start_of(r.index)
        );
        let d = ((r.params[0] - 1.0).powi(2) + (r.params[1] - 1.0).powi(2)).sqrt();
        assert_eq!(r.distance, Some(d));
        stops.insert(r.stop.as_str());
    }
    assert!(stops.contains("diverged") || stops.contains("non_finite"), "{stops:?}");
}

#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);

impl Monitor for Warnings {
    fn warning(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

#[test]
fn a_journal_with_a_torn_last_line_resumes_to_the_uninterrupted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let sweep = small_sweep();
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let straight = sweep.execute(f.as_ref(), "rosenbrock", &f.minima(), None, &()).unwrap();
    assert!(straight.journal.is_none() && straight.resumed == 0);
    // A journaled run leaves its journal until `finish`: what a kill after the last chunk leaves.
    let full = sweep.execute(f.as_ref(), "rosenbrock", &f.minima(), Some((&out, 0.0)), &()).unwrap();
    assert_eq!(full.rows, straight.rows);
    let path = Journal::path_for(&out);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + sweep.total());
    // Keep the header and 20 runs, then half of the next line, as a kill mid-write leaves it.
    let torn = lines[21];
    let cut = format!("{}\n{}", lines[..21].join("\n"), &torn[..torn.len() / 2]);
    std::fs::write(&path, cut).unwrap();
    let warnings = Warnings::default();
    let resumed = sweep.execute(f.as_ref(), "rosenbrock", &f.minima(), Some((&out, 0.0)), &warnings).unwrap();
    assert_eq!(resumed.resumed, 20);
    assert_eq!(resumed.rows, straight.rows);
    assert!(warnings.0.lock().unwrap().is_empty());
    // A line whose content changed under its checksum: kept up to it, the rest run again.
    let mut damaged: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    damaged[11] = damaged[11].replacen("\"steps\":", "\"steps\":1", 1);
    std::fs::write(&path, damaged.join("\n") + "\n").unwrap();
    let again = sweep.execute(f.as_ref(), "rosenbrock", &f.minima(), Some((&out, 0.0)), &warnings).unwrap();
    assert_eq!((again.resumed, &again.rows), (10, &straight.rows));
    let w = warnings.0.lock().unwrap().clone();
    assert!(w.len() == 1 && w[0].contains("line 12: checksum mismatch"), "{w:?}");
    // Another sweep (other steps) does not take these runs.
    let other = Sweep::new(small_sweep().plan().clone(), sweep.starts().to_vec(), 81, 1e6).unwrap();
    let o = other.execute(f.as_ref(), "rosenbrock", &f.minima(), Some((&out, 0.0)), &()).unwrap();
    assert_eq!(o.resumed, 0);
    o.journal.unwrap().finish();
    assert!(!path.exists());
}

#[test]
fn the_csv_reads_back_as_the_rows() {
    let sweep = small_sweep().with_shard(Shard::new(1, 3).unwrap());
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    let mut rows: Vec<Row> = sweep.run(f.as_ref(), &sweep.runs(), &f.minima(), &()).unwrap();
    rows.sort_by_key(|r| r.index);
    let bytes: Vec<u8> = Table::new(&sweep).csv(&rows).unwrap().concat();
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        "run,total,optimizer,spec,lr,start_0,start_1,loss,distance,stop,steps,evaluations,final_0,final_1"
            .split(',')
            .collect::<Vec<_>>()
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows.len());
    for (rec, r) in records.iter().zip(&rows) {
        let c = sweep.config_of(r.index);
        assert_eq!(rec[0].parse::<usize>().unwrap(), r.index);
        assert_eq!(&rec[3], sweep.plan().spec(c));
        assert_eq!(rec[4].to_string(), sweep.plan().value(c, "lr").unwrap_or_default());
        assert_eq!(rec[7].parse::<f64>().unwrap().to_bits(), r.loss.to_bits());
        assert_eq!((&rec[9], rec[10].parse::<u64>().unwrap()), (r.stop.as_str(), r.steps));
        assert_eq!(rec[11].parse::<u64>().unwrap(), r.evaluations);
        assert_eq!(rec[13].parse::<f64>().unwrap().to_bits(), r.params[1].to_bits());
    }
}

#[test]
fn an_old_format_journal_is_named_and_its_runs_done_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let sweep = small_sweep();
    let f = objectives::build::<f64>("rosenbrock:a=1,b=10").unwrap();
    // A version-3 journal (FNV-1a lines, no evaluations), as an older downhill left it.
    let old = "downhill-sweep-journal-v3 0123456789abcdef\n0000000000000000 {\"index\":0,\"loss\":1.0,\"distance\":null,\"stop\":\"max_steps\",\"steps\":80,\"params\":[0.0,0.0]}\n";
    std::fs::write(Journal::path_for(&out), old).unwrap();
    let warnings = Warnings::default();
    let mut o = sweep.execute(f.as_ref(), "rosenbrock", &f.minima(), Some((&out, 0.0)), &warnings).unwrap();
    assert_eq!(o.resumed, 0);
    assert_eq!(o.rows, sweep.run_sorted(f.as_ref()));
    let w = warnings.0.lock().unwrap().clone();
    assert!(
        w.len() == 1 && w[0].contains("a journal of an older downhill (downhill-sweep-journal-v3)"),
        "{w:?}"
    );
    o.remove_journal();
    assert!(!Journal::path_for(&out).exists());
}

trait RunSorted {
    fn run_sorted(&self, f: &dyn downhill::DescribedObjective<f64>) -> Vec<Row>;
}

impl RunSorted for Sweep {
    fn run_sorted(&self, f: &dyn downhill::DescribedObjective<f64>) -> Vec<Row> {
        let mut rows = self.run(f, &self.runs(), &f.minima(), &()).unwrap();
        rows.sort_by_key(|r| r.index);
        rows
    }
}
