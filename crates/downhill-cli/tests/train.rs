//! `downhill train` end to end: data loaders on files the test writes, clear errors on bad data,
//! logs, comparisons, and checkpoints that resume exactly even after SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn downhill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_downhill")).args(args).output().expect("binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn fails_with(args: &[&str], needle: &str) {
    let out = downhill(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected '{needle}' in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn iris_trains_to_high_accuracy_and_logs_every_epoch() {
    let dir = scratch("iris");
    let log = dir.join("run.jsonl");
    let out =
        downhill(&["train", "--data", "iris", "--epochs", "60", "--quiet", "--log", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 60);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], i as u64 + 1);
        assert_eq!(l["step"], 4 * (i as u64 + 1), "120 training samples / batch 32 = 4 steps per epoch");
        for key in ["train_loss", "val_loss", "val_accuracy", "lr"] {
            assert!(l[key].is_number(), "{key} in {l}");
        }
    }
    let last = lines.last().unwrap();
    assert!(last["val_accuracy"].as_f64().unwrap() >= 0.9, "{last}");
    assert!(last["train_loss"].as_f64().unwrap() < lines[0]["train_loss"].as_f64().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_files_train_and_bad_csv_is_a_one_line_error() {
    let dir = scratch("csv");
    // y = class of the sign of x0 + x1, with a header and text labels.
    let mut text = String::from("x0,x1,label\n");
    let mut rng = downhill::rng::Rng::new(5);
    for _ in 0..200 {
        let (a, b) = (rng.normal(), rng.normal());
        text.push_str(&format!("{a},{b},{}\n", if a + b > 0.0 { "up" } else { "down" }));
    }
    let good = dir.join("good.csv");
    std::fs::write(&good, text).unwrap();
    let log = dir.join("log.jsonl");
    let out = downhill(&[
        "train",
        "--csv",
        good.to_str().unwrap(),
        "--target",
        "label",
        "--model",
        "logistic",
        "--optimizer",
        "adam:lr=0.05",
        "--epochs",
        "30",
        "--quiet",
        "--log",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(log_lines(&log).last().unwrap()["val_accuracy"].as_f64().unwrap() > 0.9);
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "a,b,c\n1,2,3\n4,5\n").unwrap();
    fails_with(&["train", "--csv", ragged.to_str().unwrap()], "ragged.csv line 3: expected 3 cells");
    let text_cell = dir.join("cell.csv");
    std::fs::write(&text_cell, "a,b,c\n1,2,3\n4,five,6\n").unwrap();
    fails_with(&["train", "--csv", text_cell.to_str().unwrap()], "line 3, column 'b': cannot read 'five'");
    fails_with(&["train", "--csv", dir.join("missing.csv").to_str().unwrap()], "missing.csv: cannot read");
    fails_with(&["train", "--csv", good.to_str().unwrap(), "--target", "lable"], "did you mean 'label'");
    fails_with(&["train", "--data", "irsi"], "did you mean 'iris'");
    fails_with(&["train", "--batch", "0"], "--batch: 0 is not in");
    fails_with(&["train", "--model", "mlp:hidden=0"], "model.hidden: 0 is not in");
    fails_with(&["train", "--data", "diabetes", "--model", "softmax"], "needs class labels");
    let _ = std::fs::remove_dir_all(&dir);
}

fn idx(kind: u8, shape: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, kind, shape.len() as u8];
    for s in shape {
        b.extend(s.to_be_bytes());
    }
    b.extend(data);
    b
}

#[test]
fn idx_files_train_and_a_wrong_magic_is_refused() {
    let dir = scratch("idx");
    // 4x4 "images": class 0 lights the left half, class 1 the right half, with noise.
    let n = 120u32;
    let mut rng = downhill::rng::Rng::new(8);
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let c = (i % 2) as u8;
        for p in 0..16 {
            let lit = (p % 4 < 2) == (c == 0);
            pixels.push(if lit { 200 + rng.below(55) as u8 } else { rng.below(60) as u8 });
        }
        labels.push(c);
    }
    let images = dir.join("images-idx3-ubyte");
    let labels_path = dir.join("labels-idx1-ubyte");
    std::fs::write(&images, idx(0x08, &[n, 4, 4], &pixels)).unwrap();
    std::fs::write(&labels_path, idx(0x08, &[n], &labels)).unwrap();
    let log = dir.join("log.jsonl");
    let out = downhill(&[
        "train",
        "--idx",
        images.to_str().unwrap(),
        "--idx-labels",
        labels_path.to_str().unwrap(),
        "--model",
        "softmax",
        "--optimizer",
        "adam:lr=0.05",
        "--epochs",
        "10",
        "--quiet",
        "--log",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(log_lines(&log).last().unwrap()["val_accuracy"], 1.0);
    let bad = dir.join("bad-idx3-ubyte");
    std::fs::write(&bad, [0x50, 0x4b, 3, 4, 0, 0]).unwrap();
    fails_with(
        &["train", "--idx", bad.to_str().unwrap(), "--idx-labels", labels_path.to_str().unwrap()],
        "bad IDX magic 50 4b 03 04",
    );
    let short = dir.join("short-idx3-ubyte");
    std::fs::write(&short, idx(0x08, &[n, 4, 4], &pixels[..100])).unwrap();
    fails_with(
        &["train", "--idx", short.to_str().unwrap(), "--idx-labels", labels_path.to_str().unwrap()],
        "truncated",
    );
    let few = dir.join("few-idx1-ubyte");
    std::fs::write(&few, idx(0x08, &[3], &[0, 1, 0])).unwrap();
    fails_with(
        &["train", "--idx", images.to_str().unwrap(), "--idx-labels", few.to_str().unwrap()],
        "expected 120 labels",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn final_params(dir: &Path) -> Value {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let bytes = std::fs::read(files.last().unwrap()).unwrap();
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    let v: Value = serde_json::from_slice(&bytes[nl + 1..]).unwrap();
    v["snapshot"]["params"].clone()
}

#[test]
fn resume_after_sigkill_equals_training_straight_through() {
    let dir = scratch("resume");
    let common = |ck: &Path, log: &Path, epochs: &str| -> Vec<String> {
        [
            "train",
            "--data",
            "winequality",
            "--model",
            "mlp:hidden=32",
            "--optimizer",
            "adamw",
            "--schedule",
            "warmup-cosine:max=2e-3,min=1e-5,warmup=40,total=auto",
            "--epochs",
            epochs,
            "--batch",
            "16",
            "--quiet",
            "--checkpoint",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([ck.display().to_string(), "--log".into(), log.display().to_string()])
        .collect()
    };
    let (ref_ck, ref_log) = (dir.join("ref"), dir.join("ref.jsonl"));
    let out = downhill(&common(&ref_ck, &ref_log, "120").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (ck, log) = (dir.join("ck"), dir.join("run.jsonl"));
    let args = common(&ck, &log, "120");
    let mut rng = downhill::rng::Rng::new(77);
    let mut epochs_seen = Vec::new();
    for attempt in 0..3 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_downhill"));
        cmd.args(&args);
        if attempt > 0 {
            cmd.arg("--resume").arg(&ck);
        }
        let mut child =
            cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.range(100.0, 400.0) as u64));
        let _ = child.kill();
        let _ = child.wait();
        if ck.exists() {
            let names = std::fs::read_dir(&ck)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
            epochs_seen.push(names.max().unwrap_or_default());
        }
    }
    eprintln!("latest checkpoint after each kill: {epochs_seen:?}");
    let mut finish: Vec<String> = args.clone();
    if ck.exists() {
        finish.extend(["--resume".to_string(), ck.display().to_string()]);
    }
    let out = downhill(&finish.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        final_params(&ck),
        final_params(&ref_ck),
        "resumed weights differ (checkpoints after kills: {epochs_seen:?})"
    );
    let strip = |p: &Path| -> Vec<(Value, Value, Value)> {
        log_lines(p)
            .into_iter()
            .map(|l| (l["epoch"].clone(), l["train_loss"].clone(), l["val_loss"].clone()))
            .collect()
    };
    assert_eq!(strip(&log), strip(&ref_log), "the log continues the same epochs");
    // A damaged checkpoint is refused with a clear error, not loaded.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ck).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let last = files.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(last, &bytes).unwrap();
    let mut again = args.clone();
    let at = again.iter().position(|a| a == "120").unwrap();
    again[at] = "121".into();
    again.extend(["--resume".to_string(), ck.display().to_string()]);
    fails_with(&again.iter().map(String::as_str).collect::<Vec<_>>(), "corrupted: checksum mismatch");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn comparisons_share_data_and_initialization() {
    let dir = scratch("compare");
    let log = dir.join("cmp.jsonl");
    let plot = dir.join("cmp.png");
    let out = downhill(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "3",
        "-o",
        "adam:lr=0.01",
        "-o",
        "gd:lr=0",
        "-o",
        "gd:lr=0.1",
        "--quiet",
        "--log",
        log.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    // gd:lr=0 is rejected by the optimizer's own range check.
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gd.lr: 0 is not in (0, inf)"));
    let out = downhill(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "3",
        "-o",
        "adam:lr=0.01",
        "-o",
        "gd:lr=1e-9",
        "--quiet",
        "--log",
        log.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["optimizer"], "adam:lr=0.01");
    assert_eq!(lines[3]["optimizer"], "gd:lr=1e-9");
    // With a negligible rate, gd's validation loss is the shared initial model's, which Adam's
    // first epoch must have improved on.
    assert!(lines[0]["val_loss"].as_f64().unwrap() < lines[3]["val_loss"].as_f64().unwrap());
    assert!(std::fs::metadata(&plot).unwrap().len() > 10_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn full_batch_lbfgs_trains_one_iteration_per_epoch() {
    let dir = scratch("lbfgs-full");
    let log = dir.join("run.jsonl");
    let args =
        ["train", "--data", "iris", "--model", "softmax", "-o", "lbfgs", "--batch", "full", "--epochs", "15"];
    let out = downhill(
        &args.iter().copied().chain(["--quiet", "--log", log.to_str().unwrap()]).collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = log_lines(&log);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["step"], i as u64 + 1, "one L-BFGS iteration on the whole training set per epoch");
    }
    // Softmax regression is convex: each line-search step decreases the full-batch loss.
    let losses: Vec<f64> = lines.iter().map(|l| l["train_loss"].as_f64().unwrap()).collect();
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    assert!(losses[14] < 0.1 * losses[0], "{losses:?}");
    let bad = downhill(&["train", "--data", "iris", "--batch", "most"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'most' is not a whole number or 'full'"));
}

#[test]
fn track_sharpness_logs_and_plots_the_top_hessian_eigenvalue() {
    use downhill_train::{self as train, LanczosOptions, Model, Trainer};
    let dir = scratch("sharpness");
    let (log, plot) = (dir.join("run.jsonl"), dir.join("run.png"));
    // Full batch (120 training samples): one update per epoch, measured before updates 0, 2 and 4.
    let args = [
        "train",
        "--data",
        "iris",
        "--model",
        "mlp:hidden=8,act=tanh",
        "--optimizer",
        "gd:lr=0.5",
        "--batch",
        "120",
        "--epochs",
        "6",
        "--track-sharpness",
        "2",
        "--quiet",
        "--log",
        log.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ];
    let out = downhill(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = log_lines(&log);
    let points: Vec<&Value> =
        lines.iter().flat_map(|l| l["sharpness"].as_array().into_iter().flatten()).collect();
    assert_eq!(points.iter().map(|p| p["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 2, 4]);
    assert!(lines[1].get("sharpness").is_none(), "no measurement in epoch 2: {}", lines[1]);
    // The first value is the library's estimate at the same initialization (seed 1, f32).
    let data = train::builtin("iris").unwrap();
    let (train_set, val_set) = data.split(0.2, 1).unwrap();
    let model = Model::parse("mlp:hidden=8,act=tanh", data.dim, &data.target).unwrap();
    let opt = train::build_optimizer::<f32>("gd:lr=0.5", &Default::default(), &model, true).unwrap();
    let trainer = Trainer::new(&train_set, &val_set, model, opt, 120, 1).unwrap();
    let want = trainer.sharpness(&LanczosOptions { seed: 1, ..Default::default() }).unwrap().value;
    assert_eq!(points[0]["value"].as_f64().unwrap(), want);
    assert!(points.iter().all(|p| p["value"].as_f64().unwrap() > 0.0 && p["lr"] == 0.5));
    assert!(std::fs::metadata(&plot).unwrap().len() > 20_000);
    fails_with(&["train", "--data", "iris", "--track-sharpness", "0"], "--track-sharpness: 0 is not in 1..");
    let _ = std::fs::remove_dir_all(&dir);
}
