//! `downhill`: run, inspect and compare gradient-based optimizers from the command line.

mod checkpoint;
mod cmd_analyze;
mod cmd_bench;
mod cmd_compare;
mod cmd_figures;
mod cmd_list;
mod cmd_plot;
mod cmd_run;
mod cmd_schedule;
mod cmd_serve;
mod cmd_sweep;
mod cmd_theory;
mod cmd_tour;
mod cmd_train;
mod objective_args;
mod record;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
// The figures, plotting and output helpers live in the library part, which the Python package uses too.
use downhill_cli::{figures, output, plot, BadInput};

/// Exit status for input the user can fix (as clap uses for usage errors).
const EXIT_BAD_INPUT: u8 = 2;
/// Exit status for everything else that failed.
const EXIT_FAILURE: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "downhill",
    version,
    about = "Walk down a hill, exactly: gradient-based optimizers, schedules and objectives.",
    long_about = "Walk down a hill, exactly: gradient-based optimizers, schedules and objectives.\n\n\
        Optimizer, objective and schedule specs are written name:key=value,key=value, e.g.\n  \
        --optimizer adam:lr=0.1,beta1=0.9   --objective rosenbrock:a=1,b=10\n\
        Hyperparameter defaults follow PyTorch (see `downhill optimizers`).\n\n\
        Exit codes: 0 ok, 2 bad input, 1 other failure."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The seeds in one command: the article's figures, its optimizers on its landscapes, the theory lab, training.
    Tour(cmd_tour::TourArgs),
    /// Run one optimizer on an objective and print its trajectory.
    Run(cmd_run::RunCommand),
    /// Run several optimizers from one start and compare them (table, and a plot with --plot).
    Compare(cmd_compare::CompareArgs),
    /// Reproduce the seed article's three figures (PNG, SVG and their data as JSON).
    Figures(cmd_figures::FiguresArgs),
    /// What the landscape's geometry means for an optimizer: Hessian, classification, step sizes.
    Analyze(cmd_analyze::AnalyzeArgs),
    /// Check every claim of the seed documents by experiment: verdicts, numbers, a report.
    Theory(cmd_theory::TheoryArgs),
    Train(cmd_train::TrainArgs),
    Serve(cmd_serve::ServeArgs),
    /// Run the cartesian product of hyperparameter ranges and start points, in parallel.
    Sweep(cmd_sweep::SweepArgs),
    /// Join the CSV shards of one sweep, checking that no run is missing or repeated.
    Merge(cmd_sweep::MergeArgs),
    /// Draw a saved run (`downhill run --format json`) as a contour map and loss curve.
    Plot(cmd_plot::PlotArgs),
    /// Print a learning-rate schedule, step by step.
    Schedule(cmd_schedule::ScheduleArgs),
    /// List the optimizers with their keys and defaults.
    Optimizers(cmd_list::ListArgs),
    /// List the built-in objectives.
    Objectives(cmd_list::ListArgs),
    /// Measure speed: optimizer steps against memory bandwidth, small problems, sweeps.
    Bench(cmd_bench::BenchArgs),
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<downhill::Error>().is_some()
        || e.downcast_ref::<BadInput>().is_some()
        || e.downcast_ref::<downhill_plot::Error>().is_some_and(downhill_plot::Error::is_bad_input)
        || e.downcast_ref::<downhill_runs::Error>().is_some_and(downhill_runs::Error::is_bad_input)
    {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILURE
    }
}

/// clap's usage error as one line: the message, any tip, and where to find help (clap prints a
/// paragraph with the usage; the README promises one line).
fn usage_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut paragraphs = text.split("\n\n").map(|p| p.lines().map(str::trim).collect::<Vec<_>>().join(" "));
    let mut line = paragraphs.next().unwrap_or_default();
    let mut command = "downhill".to_string();
    for p in paragraphs {
        if let Some(tip) = p.strip_prefix("tip: ") {
            line.push_str(&format!(" ({tip})"));
        } else if let Some(usage) = p.strip_prefix("Usage: ") {
            command = usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['-', '<', '[']))
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    if !line.starts_with("error:") {
        line = format!("error: {line}");
    }
    format!("{line}; see '{command} --help'")
}

/// Whether an error is a write to a closed pipe (`downhill ... | head`), which is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            eprintln!("{}", usage_error_line(&e));
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let result = match cli.command {
        Command::Tour(args) => cmd_tour::run(&args),
        Command::Theory(args) => cmd_theory::run(&args),
        Command::Bench(args) => cmd_bench::run(&args),
        Command::Run(args) => cmd_run::run(&args),
        Command::Analyze(args) => cmd_analyze::run(&args),
        Command::Train(args) => cmd_train::run(&args),
        Command::Serve(args) => cmd_serve::run(&args),
        Command::Sweep(args) => cmd_sweep::run(&args),
        Command::Merge(args) => cmd_sweep::merge(&args),
        Command::Compare(args) => cmd_compare::run(&args),
        Command::Figures(args) => cmd_figures::run(&args),
        Command::Plot(args) => cmd_plot::run(&args),
        Command::Schedule(args) => cmd_schedule::run(&args),
        Command::Optimizers(args) => cmd_list::optimizers(&args),
        Command::Objectives(args) => cmd_list::objectives(&args),
    };
    match result {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                // A closed pipe (`downhill ... | head`) is not a failure.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: writing output: {e}");
                    ExitCode::from(EXIT_FAILURE)
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` keeps the context chain on one line: "--optimizer: adam.lr: 0 is not in (0, inf)".
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}
