//! `downhill optimizers` and `downhill objectives`.

use anyhow::Result;
use clap::Args;

use downhill::{objectives, optim};

use crate::output::Format;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format (csv is treated as table).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The `--optimizer` help: `what`, then every optimizer and wrapper the registry knows, so that
/// the list cannot drift from it.
pub fn optimizer_help(what: &str) -> String {
    let names: Vec<&str> = optim::REGISTRY.iter().map(|e| e.name).collect();
    let wrappers: Vec<String> = optim::WRAPPERS.iter().map(|w| format!("{}(SPEC)", w.name)).collect();
    format!(
        "{what}: NAME:key=value,... with NAME one of {}; or a wrapper {}. Keys and defaults (PyTorch's \
         unless noted): `downhill optimizers`",
        names.join(", "),
        wrappers.join(", ")
    )
}

pub fn optimizers(args: &ListArgs) -> Result<String> {
    let entries = optim::REGISTRY;
    if args.format == Format::Json {
        return Ok(serde_json::to_string_pretty(&downhill::report::optimizer_listing())? + "\n");
    }
    let mut s = String::from(
        "Optimizers (defaults follow PyTorch; every optimizer also takes clip_norm= and clip_value=):\n\n",
    );
    for e in entries {
        let aliases =
            if e.aliases.is_empty() { String::new() } else { format!(" (also {})", e.aliases.join(", ")) };
        s.push_str(&format!("  {}{}\n      {}\n", e.name, aliases, e.summary()));
    }
    s.push_str(
        "\nWrappers, around any optimizer: WRAPPER(SPEC):key=value,... and nested, e.g.\n  \
         lookahead(adam:lr=0.01):k=5,alpha=0.5    ema(lookahead(sgd:lr=0.1)):decay=0.99\n\n",
    );
    for w in optim::WRAPPERS {
        let aliases =
            if w.aliases.is_empty() { String::new() } else { format!(" (also {})", w.aliases.join(", ")) };
        s.push_str(&format!("  {}{}\n      {}\n", w.name, aliases, w.summary()));
    }
    Ok(s)
}

pub fn objectives(args: &ListArgs) -> Result<String> {
    let entries = objectives::catalogue();
    let built: Vec<_> = entries
        .iter()
        .map(|e| objectives::build::<f64>(e.name).expect("catalogue names build with defaults"))
        .collect();
    if args.format == Format::Json {
        return Ok(serde_json::to_string_pretty(&downhill::report::objective_listing()?)? + "\n");
    }
    let mut s =
        String::from("Objectives (spec name, keys with defaults; minima shown for the defaults):\n\n");
    for (e, o) in entries.iter().zip(&built) {
        let keys = if e.keys.is_empty() { String::new() } else { format!("  ({})", e.keys) };
        s.push_str(&format!("  {}{}\n      {}\n", e.name, keys, e.description));
        let minima: Vec<String> = o
            .minima()
            .iter()
            .map(|m| {
                let p: Vec<String> = m.point.iter().map(|x| format!("{x:.6}")).collect();
                format!("f({}) = {}", p.join(", "), m.value)
            })
            .collect();
        if !minima.is_empty() {
            s.push_str(&format!("      minima: {}\n", minima.join("; ")));
        }
    }
    s.push_str("\nOr give your own formula: --expr '(1-x)^2 + 10*(y-x^2)^2'\n");
    Ok(s)
}
