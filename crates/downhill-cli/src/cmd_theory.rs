//! `downhill theory`: the seeds' claims, checked by experiment.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use downhill_theory::{self as theory, Check, Effort, Verdict};

use crate::output::write_atomic;
use crate::plot::{self, Figure, LinePanel, Panel, Series};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  downhill theory\n  downhill theory --check saddle-fraction --check momentum-window --format json\n  \
    downhill theory --check edge-of-stability --report theory-report/\n  downhill theory --quick --format csv"
)]
pub struct TheoryArgs {
    /// Run only these checks (repeatable); default: all.
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,
    /// Output format: table, csv, json or markdown.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Run the checks on trained networks (edge-of-stability, adaptive-edge-of-stability,
    /// warmup-stabilizes-adam) at reduced size: fewer rates, seeds and steps.
    #[arg(long)]
    pub quick: bool,
    /// Write a markdown and HTML report with a plot per check into this directory.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if line.len() + word.len() + 1 > width && !line.is_empty() {
            out.push_str(&format!("{indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}{line}\n"));
    }
    out
}

fn num(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(v) if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e4) => format!("{v:.3e}"),
        Some(v) => format!("{:.4}", v),
    }
}

pub fn summary(checks: &[Check]) -> String {
    let count = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
    format!(
        "{} checks: {} hold, {} hold with a caveat, {} fail",
        checks.len(),
        count(Verdict::Holds),
        count(Verdict::HoldsWithCaveat),
        count(Verdict::Fails)
    )
}

pub fn table(checks: &[Check]) -> String {
    let mut s = String::new();
    let idw = checks.iter().map(|c| c.id.len()).max().unwrap_or(10);
    s.push_str(&format!("{:idw$}  {:17}  {:>11}  {:>11}\n", "check", "verdict", "predicted", "measured"));
    for c in checks {
        s.push_str(&format!(
            "{:idw$}  {:17}  {:>11}  {:>11}\n",
            c.id,
            c.verdict.as_str(),
            num(c.predicted),
            num(c.measured)
        ));
        s.push_str(&wrap(&format!("predicted, measured: {}.", c.quantity), 100, "    "));
        s.push_str(&wrap(&c.details, 100, "    "));
    }
    s.push_str(&format!("\n{}\n", summary(checks)));
    s
}

fn markdown(checks: &[Check], with_images: bool) -> String {
    let mut s = String::from("# downhill theory: the seeds' claims, checked\n\n");
    s.push_str(&format!(
        "{}.\n\n| check | verdict | predicted | measured | what they are |\n|---|---|---|---|---|\n",
        summary(checks)
    ));
    let cell = |t: &str| t.replace('|', "\\|");
    for c in checks {
        s.push_str(&format!(
            "| [{0}](#{0}) | {1} | {2} | {3} | {4} |\n",
            c.id,
            c.verdict.as_str(),
            num(c.predicted),
            num(c.measured),
            cell(c.quantity)
        ));
    }
    for c in checks {
        s.push_str(&format!(
            "\n## {}\n\n**Claim** ({}): {}\n\n**Predicted {}, measured {}**: {}.\n\n**Verdict: {}.** {}\n",
            c.id,
            c.source,
            c.claim,
            num(c.predicted),
            num(c.measured),
            c.quantity,
            c.verdict.as_str(),
            c.details
        ));
        if with_images && c.chart.is_some() {
            s.push_str(&format!("\n![{0}]({0}.png)\n", c.id));
        }
    }
    s
}

fn html(md_checks: &[Check]) -> String {
    let esc = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>downhill theory</title><style>\
         body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;line-height:1.5;color:#222}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}\
         .holds{color:#176117}.holds-with-caveat{color:#8a5a00}.fails{color:#a11}img{max-width:100%}</style></head><body>",
    );
    s.push_str(&format!("<h1>downhill theory: the seeds' claims, checked</h1><p>{}.</p><table><tr><th>check</th><th>verdict</th><th>predicted</th><th>measured</th><th>what they are</th></tr>", summary(md_checks)));
    for c in md_checks {
        s.push_str(&format!(
            "<tr><td><a href=\"#{0}\">{0}</a></td><td class=\"{1}\">{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            c.id,
            c.verdict.as_str(),
            num(c.predicted),
            num(c.measured),
            esc(c.quantity)
        ));
    }
    s.push_str("</table>");
    for c in md_checks {
        s.push_str(&format!(
            "<h2 id=\"{0}\">{0}</h2><p><b>Claim</b> ({1}): {2}</p><p><b>Predicted {5}, measured {6}</b>: {7}.</p>\
             <p><b class=\"{3}\">Verdict: {3}.</b> {4}</p>",
            c.id,
            esc(&c.source),
            esc(c.claim),
            c.verdict.as_str(),
            esc(&c.details),
            num(c.predicted),
            num(c.measured),
            esc(c.quantity)
        ));
        if c.chart.is_some() {
            s.push_str(&format!("<img src=\"{0}.png\" alt=\"{0}\">", c.id));
        }
    }
    s.push_str("</body></html>\n");
    s
}

fn chart_figure(c: &Check) -> Option<Figure> {
    let chart = c.chart.as_ref()?;
    let mut fig = Figure::inches(9.0, 5.5);
    let mut series = Vec::new();
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (k, curve) in chart.curves.iter().enumerate() {
        let pts: Vec<(f64, f64)> = curve
            .x
            .iter()
            .zip(&curve.y)
            .map(|(&x, &y)| (if chart.log_x { x.max(1e-300) } else { x }, y))
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!chart.log_y || *y > 0.0))
            .map(|(x, y)| (if chart.log_x { x.log10() } else { x }, y))
            .collect();
        for &(x, y) in &pts {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        let mut s = Series::line(curve.label.clone(), pts, plot::TAB10[curve.color.unwrap_or(k) % 10]);
        s.dashed = curve.predicted;
        s.marker = if curve.x.len() <= 30 { 4 } else { 0 };
        series.push(s);
    }
    if !(x1 > x0 && y1 >= y0) {
        return None;
    }
    let (y0, y1) = if chart.log_y {
        (y0 / 2.0, y1 * 2.0)
    } else {
        let pad = 0.05 * (y1 - y0).max(1e-12);
        (y0 - pad, y1 + pad)
    };
    let pad = 0.03 * (x1 - x0);
    fig.panels.push(Panel::Lines(LinePanel {
        title: c.id.to_string(),
        xlabel: if chart.log_x { format!("log10 {}", chart.xlabel) } else { chart.xlabel.clone() },
        ylabel: chart.ylabel.clone(),
        x: (x0 - pad, x1 + pad),
        y: (y0, y1),
        log_y: chart.log_y,
        series,
        vlines: Vec::new(),
        grid: true,
    }));
    Some(fig)
}

/// Writes report.md, report.html and one PNG per check with a chart; returns the files.
pub fn write_report(checks: &[Check], dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    for c in checks {
        if let Some(fig) = chart_figure(c) {
            let path = dir.join(format!("{}.png", c.id));
            plot::save(&fig, &path)?;
            files.push(path);
        }
    }
    let md = dir.join("report.md");
    write_atomic(&md, markdown(checks, true).as_bytes())?;
    let page = dir.join("report.html");
    write_atomic(&page, html(checks).as_bytes())?;
    files.push(md);
    files.push(page);
    Ok(files)
}

/// One row per check: id, verdict, quantity, predicted, measured, claim, source, details.
pub fn csv(checks: &[Check]) -> String {
    let field = |t: &str| {
        if t.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", t.replace('"', "\"\""))
        } else {
            t.to_string()
        }
    };
    let value = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
    let mut s = String::from("id,verdict,quantity,predicted,measured,claim,source,details\n");
    for c in checks {
        let row = [
            c.id.to_string(),
            c.verdict.as_str().to_string(),
            field(c.quantity),
            value(c.predicted),
            value(c.measured),
            field(c.claim),
            field(&c.source),
            field(&c.details),
        ];
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

pub fn run(args: &TheoryArgs) -> Result<String> {
    const FORMATS: &[&str] = &["table", "csv", "json", "markdown"];
    let format = match args.format.as_str() {
        "md" => "markdown",
        f if FORMATS.contains(&f) => f,
        other => return Err(downhill::Error::unknown("format", other, FORMATS).into()),
    };
    if let Some(dir) = &args.report {
        crate::output::check_output_dir("--report", dir)?;
    }
    let effort = if args.quick { Effort::Quick } else { Effort::Full };
    let checks = theory::run_checks(&args.checks, effort)?;
    let mut out = match format {
        "json" => serde_json::to_string_pretty(&json!({ "checks": checks }))? + "\n",
        "markdown" => markdown(&checks, false),
        "csv" => csv(&checks),
        _ => table(&checks),
    };
    if let Some(dir) = &args.report {
        let files = write_report(&checks, dir)?;
        if format == "table" {
            out.push_str(&format!("report: {} ({} files)\n", dir.join("report.html").display(), files.len()));
        }
    }
    Ok(out)
}
