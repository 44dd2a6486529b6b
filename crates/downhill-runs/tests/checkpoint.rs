//! Checkpoints from code: the checksum against its published check value, damage refused, and a
//! run interrupted part-way resuming to the uninterrupted one bit for bit.

use std::ops::ControlFlow;

use downhill::{objectives, optim, Point, RunOptions};
use downhill_runs::checkpoint::{
    minimize_checkpointed, read_framed, write_framed, Checkpointing, KeepEvery, Recording, RunIdentity,
};

#[test]
fn the_checksum_is_crc32_ieee() {
    // The CRC-32 check value of the CRC catalogue (the same as zlib.crc32(b"123456789")).
    assert_eq!(downhill_runs::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(downhill_runs::crc32(b""), 0);
}

#[test]
fn framed_files_refuse_damage_and_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.ck");
    write_framed(&path, "train", &vec![1.5f64, -2.0]).unwrap();
    let good = std::fs::read(&path).unwrap();
    assert_eq!(read_framed::<Vec<f64>>(&path, "train").unwrap(), [1.5, -2.0]);
    let text = String::from_utf8(good.clone()).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        format!("DOWNHILL-CHECKPOINT 2 train crc32={:08x} bytes=10", crc32fast::hash(b"[1.5,-2.0]"))
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (text.replacen("1.5", "1.6", 1).into_bytes(), "corrupted: checksum mismatch"),
        (good[..good.len() - 1].to_vec(), "truncated or padded: 9 of 10 payload bytes"),
        (
            text.replacen(" 2 train crc32=", " 1 train fnv1a64=", 1).into_bytes(),
            "checkpoint format version 1",
        ),
        (text.replacen(" 2 train", " 2 run", 1).into_bytes(), "a 'run' checkpoint, not a train checkpoint"),
        (b"hello\n".to_vec(), "not a downhill checkpoint"),
    ];
    for (bytes, needle) in cases {
        std::fs::write(&path, bytes).unwrap();
        let e = read_framed::<Vec<f64>>(&path, "train").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains(needle), "{needle}: {e}");
    }
}

/// Keeps every point, and panics (as a kill would stop the process) when offered step `kill_at`.
struct Killed {
    inner: KeepEvery<f64>,
    kill_at: u64,
}

impl Recording<f64> for Killed {
    fn restore(&mut self, points: Vec<Point<f64>>, every: u64) {
        self.inner.restore(points, every)
    }
    fn offer(&mut self, point: &Point<f64>, offset: u64) -> ControlFlow<()> {
        assert!(point.step + offset != self.kill_at, "killed");
        self.inner.offer(point, offset)
    }
    fn finish(&mut self, point: &Point<f64>, offset: u64) -> ControlFlow<()> {
        self.inner.finish(point, offset)
    }
    fn points(&self) -> &[Point<f64>] {
        self.inner.points()
    }
    fn take_points(&mut self) -> Vec<Point<f64>> {
        self.inner.take_points()
    }
    fn every(&self) -> u64 {
        Recording::<f64>::every(&self.inner)
    }
}

#[test]
fn a_run_killed_part_way_resumes_to_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ck");
    let f = objectives::build::<f64>("rosenbrock").unwrap();
    let id = RunIdentity::new("rosenbrock", "adam:lr=0.01");
    let options = RunOptions { record_every: 0, ..RunOptions::steps(2000) };
    let adam = || optim::build::<f64>("adam:lr=0.01", &Default::default()).unwrap();
    let start = [-1.5, 2.0];
    let straight = downhill::minimize(f.as_ref(), adam().as_mut(), &start, &options, None).unwrap();
    // Segments of 300 steps with a checkpoint after each; killed at step 1000 (after the
    // checkpoint at 900).
    let ck = Checkpointing { save: Some(&path), every: Some(300), ..Checkpointing::default() };
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut rec = Killed { inner: KeepEvery::new(100), kill_at: 1000 };
        minimize_checkpointed(&id, f.as_ref(), adam().as_mut(), &start, &options, &ck, &mut rec)
    }));
    assert!(killed.is_err());
    let resume = Checkpointing { resume: Some(&path), ..ck };
    let mut rec = KeepEvery::new(100);
    let r =
        minimize_checkpointed(&id, f.as_ref(), adam().as_mut(), &start, &options, &resume, &mut rec).unwrap();
    assert_eq!(
        (r.loss.to_bits(), &r.params, r.steps, r.stop, r.evaluations),
        (straight.loss.to_bits(), &straight.params, straight.steps, straight.stop, straight.evaluations)
    );
    // The points kept: every 100th step from 0, before and after the kill.
    assert_eq!(
        r.trajectory.iter().map(|p| p.step).collect::<Vec<_>>(),
        (0..=2000).step_by(100).collect::<Vec<_>>()
    );
    // Another run's checkpoint is refused, naming the difference.
    let other = RunIdentity::new("rosenbrock", "adam:lr=0.02");
    let e = minimize_checkpointed(&other, f.as_ref(), adam().as_mut(), &start, &options, &resume, &mut rec)
        .unwrap_err();
    assert!(e.to_string().contains("written by a different run (rosenbrock with adam:lr=0.01"), "{e}");
}
