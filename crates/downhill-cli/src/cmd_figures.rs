//! `downhill figures`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::figures;
use crate::output::write_atomic;
use crate::plot;

#[derive(Args, Debug)]
#[command(
    after_help = "Writes gd_learning_rate, optimizer_comparison and lr_schedules as .png, .svg and .json\n\
    (the data behind each figure), the file names the seed's code saves.\n\nExample:\n  downhill figures --out figures/"
)]
pub struct FiguresArgs {
    /// Directory to write into (created if missing).
    #[arg(long, default_value = "figures")]
    pub out: PathBuf,
}

/// Each figure's name with its notes.
pub type Notes = Vec<(String, Vec<String>)>;

/// Writes the three figures into `dir`; returns the paths written and the notes.
pub fn write_all(dir: &Path) -> Result<(Vec<PathBuf>, Notes)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let mut notes = Vec::new();
    for f in figures::all()? {
        for ext in ["png", "svg"] {
            let path = dir.join(format!("{}.{ext}", f.name));
            plot::save(&f.figure, &path)?;
            written.push(path);
        }
        let path = dir.join(format!("{}.json", f.name));
        write_atomic(&path, (serde_json::to_string_pretty(&f.data)? + "\n").as_bytes())?;
        written.push(path);
        notes.push((f.name.to_string(), f.notes));
    }
    Ok((written, notes))
}

pub fn run(args: &FiguresArgs) -> Result<String> {
    let (written, notes) = write_all(&args.out)?;
    let mut s = String::from("The seed article's figures, from downhill's runs:\n");
    for p in &written {
        s.push_str(&format!("  {}\n", p.display()));
    }
    s.push_str("\nWhat the data say:\n");
    for (name, ns) in notes {
        s.push_str(&format!("  {name}\n"));
        for n in ns {
            s.push_str(&format!("    - {n}\n"));
        }
    }
    Ok(s)
}
