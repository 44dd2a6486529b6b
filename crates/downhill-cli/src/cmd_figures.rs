//! `downhill figures`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

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

pub use crate::figures::write_all;

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
