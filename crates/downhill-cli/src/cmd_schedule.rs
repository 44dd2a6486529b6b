//! `downhill schedule`.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use downhill::schedule::MAX_STEPS;
use downhill::Schedule;

use crate::output::{column, rows_from_columns, sample_rows, table, Format};

#[derive(Args, Debug)]
#[command(after_help = "Schedules (steps count from 0):\n  \
    constant:lr=                       warmup:max=,warmup=\n  \
    cosine:max=,min=0,total=           warmup-cosine:max=,min=0,warmup=,total=   (the seed's)\n  \
    step:lr=,gamma=0.1,every=          exponential:lr=,gamma=\n  \
    inv-sqrt:lr=,offset=1              polynomial:lr=,end=0,power=1,total=\n  \
    one-cycle:max=,total=,pct_start=0.3,div=25,final_div=1e4\n  \
    cosine-restarts:max=,min=0,period=,mult=1     (PyTorch's CosineAnnealingWarmRestarts)\n  \
    cyclic:base=,max=,up=,down=up,mode=triangular|triangular2|exp_range,gamma=1   (CyclicLR)\n  \
    linear:lr=,start_factor=1/3,end_factor=1,total=   (LinearLR)\n  \
    piecewise:lr=,boundaries=100,200,factors=0.1,0.1  (optax piecewise_constant_schedule; or 100/200)\n  \
    join pieces with ';' and 'until STEP':  'warmup:max=0.1,warmup=100 until 100; cosine:max=0.1,total=900'\n\n\
    Example:\n  downhill schedule warmup-cosine:max=1e-3,min=1e-5,warmup=1000,total=10000 --steps 10000 --format csv")]
pub struct ScheduleArgs {
    /// Schedule spec.
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// Number of steps to print (0..N-1).
    #[arg(long)]
    pub steps: u64,
    /// Output format. Table shows about 20 rows; csv and json have every step.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also draw the schedule to this .png or .svg file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<std::path::PathBuf>,
}

/// The most rows the command prints (a schedule can be evaluated further from the library).
const MAX_PRINTED: u64 = 10_000_000;

pub fn run(args: &ScheduleArgs) -> Result<String> {
    let schedule = Schedule::parse(&args.spec).context("schedule")?;
    if args.steps == 0 || args.steps > MAX_PRINTED.min(MAX_STEPS) {
        return Err(downhill::Error::out_of_range("steps", args.steps, &format!("[1, {MAX_PRINTED}]")).into());
    }
    let values: Vec<f64> = (0..args.steps).map(|t| schedule.value(t)).collect();
    if let Some(path) = &args.plot {
        let top = values.iter().copied().fold(0.0f64, f64::max).max(1e-300);
        let mut fig = crate::plot::Figure::inches(9.0, 5.0);
        let mut line = crate::plot::Series::line(
            "",
            values.iter().enumerate().map(|(t, v)| (t as f64, *v)).collect(),
            crate::plot::BLUE,
        );
        line.label = None;
        fig.panels.push(crate::plot::Panel::Lines(crate::plot::LinePanel {
            title: args.spec.clone(),
            xlabel: "Step".into(),
            ylabel: "Learning rate".into(),
            x: (0.0, (args.steps.max(2) - 1) as f64),
            y: (-0.05 * top, 1.05 * top),
            log_y: false,
            series: vec![line],
            vlines: Vec::new(),
            grid: true,
        }));
        crate::plot::save(&fig, path)?;
    }
    Ok(match args.format {
        Format::Csv => {
            let mut s = String::from("step,lr\n");
            for (t, v) in values.iter().enumerate() {
                s.push_str(&format!("{t},{v}\n"));
            }
            s
        }
        Format::Json => {
            serde_json::to_string_pretty(&json!({"schedule": schedule, "steps": args.steps, "lr": values}))?
                + "\n"
        }
        Format::Table => {
            let picked = sample_rows(values.len(), 20);
            let steps: Vec<String> = picked.iter().map(|t| t.to_string()).collect();
            let lrs = column(&picked.iter().map(|&t| values[t]).collect::<Vec<_>>());
            table(&["step".into(), "lr".into()], &rows_from_columns(&[steps, lrs]))
        }
    })
}
