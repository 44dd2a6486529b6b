//! `downhill optimizers` and `downhill objectives`.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use downhill::{objectives, optim};

use crate::output::Format;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format (csv is treated as table).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn optimizers(args: &ListArgs) -> Result<String> {
    let entries = optim::REGISTRY;
    if args.format == Format::Json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| json!({"name": e.name, "aliases": e.aliases, "keys": e.summary}))
            .collect();
        return Ok(serde_json::to_string_pretty(&list)? + "\n");
    }
    let mut s = String::from(
        "Optimizers (defaults follow PyTorch; every optimizer also takes clip_norm= and clip_value=):\n\n",
    );
    for e in entries {
        let aliases =
            if e.aliases.is_empty() { String::new() } else { format!(" (also {})", e.aliases.join(", ")) };
        s.push_str(&format!("  {}{}\n      {}\n", e.name, aliases, e.summary));
    }
    Ok(s)
}

pub fn objectives(args: &ListArgs) -> Result<String> {
    if args.format == Format::Json {
        let list: Vec<_> = objectives::CATALOGUE
            .iter()
            .map(|(name, keys, about)| json!({"name": name, "keys": keys, "description": about}))
            .collect();
        return Ok(serde_json::to_string_pretty(&list)? + "\n");
    }
    let mut s = String::from("Objectives:\n\n");
    for (name, keys, about) in objectives::CATALOGUE {
        s.push_str(&format!("  {name}  ({keys})\n      {about}\n"));
    }
    Ok(s)
}
