//! Figures for people: contour maps with trajectories and line charts, saved as PNG or SVG.
//!
//! A [`Figure`] is a row of [`Panel`]s described as data; [`save`] renders it with plotters. PNGs
//! use the bundled DejaVu Sans, so they look the same on a machine with no fonts installed. Files
//! are written to a temporary name and renamed, so a failure never leaves half a picture.

pub mod contour;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

pub use contour::{clip, logspace, nice_levels, Grid};

use crate::{Error, Result};

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is known to parse; if it ever did not, text would be skipped, not crash.
        let _ = register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// matplotlib's default color cycle (tab10), so figures read like the seed's.
pub const TAB10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
/// matplotlib's 'r', 'b', 'g', 'k'.
pub const RED: RGBColor = RGBColor(255, 0, 0);
/// matplotlib's 'b'.
pub const BLUE: RGBColor = RGBColor(0, 0, 255);
/// matplotlib's 'g'.
pub const GREEN: RGBColor = RGBColor(0, 128, 0);
/// matplotlib's 'k' (named with a trailing underscore beside plotters' `BLACK`).
pub const BLACK_: RGBColor = RGBColor(0, 0, 0);

/// A line with optional point markers.
#[derive(Clone)]
pub struct Series {
    /// Legend text (none: not in the legend).
    pub label: Option<String>,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Color.
    pub color: RGBColor,
    /// Marker radius in pixels (0: none).
    pub marker: u32,
    /// Line width in pixels (0: markers only).
    pub width: u32,
    /// Opacity in `[0, 1]`.
    pub alpha: f64,
    /// Draw dashed (a prediction rather than a measurement).
    pub dashed: bool,
}

impl Series {
    /// A solid, labelled, 2-pixel line without markers.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Series {
        Series { label: Some(label.into()), points, color, marker: 0, width: 2, alpha: 1.0, dashed: false }
    }
}

/// Marker shapes.
#[derive(Clone, Copy, PartialEq)]
pub enum Shape {
    /// A filled circle.
    Circle,
    /// A five-pointed star (the optimum, as in the seed).
    Star,
}

/// A single labelled point (start, optimum).
#[derive(Clone)]
pub struct Marker {
    /// Legend text (none: not in the legend).
    pub label: Option<String>,
    /// Where, in data coordinates.
    pub at: (f64, f64),
    /// Its shape.
    pub shape: Shape,
    /// Color.
    pub color: RGBColor,
    /// Size in pixels.
    pub size: u32,
}

/// A contour map with trajectories.
pub struct ContourPanel {
    /// Panel title.
    pub title: String,
    /// x-axis label.
    pub xlabel: String,
    /// y-axis label.
    pub ylabel: String,
    /// `[xmin, xmax, ymin, ymax]` in data coordinates.
    pub bounds: [f64; 4],
    /// The sampled objective the contour lines are drawn from.
    pub grid: Grid,
    /// Contour levels, ascending.
    pub levels: Vec<f64>,
    /// Color levels by log10 (for log-spaced levels).
    pub log_colors: bool,
    /// Opacity of the contour lines.
    pub contour_alpha: f64,
    /// Lines drawn over the panel (trajectories, curves).
    pub series: Vec<Series>,
    /// Labelled points (start, optimum).
    pub markers: Vec<Marker>,
    /// One unit on x is as long as one unit on y.
    pub equal_aspect: bool,
}

/// A line chart.
pub struct LinePanel {
    /// Panel title.
    pub title: String,
    /// x-axis label.
    pub xlabel: String,
    /// y-axis label.
    pub ylabel: String,
    /// x-axis range.
    pub x: (f64, f64),
    /// y-axis range (positive for a log axis).
    pub y: (f64, f64),
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Lines drawn over the panel (trajectories, curves).
    pub series: Vec<Series>,
    /// Vertical lines: x, color, label.
    pub vlines: Vec<(f64, RGBColor, String)>,
    /// Draw a light grid.
    pub grid: bool,
}

/// One panel of a [`Figure`].
pub enum Panel {
    /// A contour map with trajectories.
    Contour(ContourPanel),
    /// A line chart.
    Lines(LinePanel),
}

/// A row of panels under an optional title.
pub struct Figure {
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Title above all panels.
    pub title: Option<String>,
    /// The panels, left to right.
    pub panels: Vec<Panel>,
    /// Pixels per typographic point (150 dpi / 72, as the seed's `savefig(dpi=150)`).
    pub scale: f64,
}

impl Figure {
    /// A figure of `width x height` inches at 150 dpi, like matplotlib's `figsize`.
    pub fn inches(w: f64, h: f64) -> Figure {
        Figure {
            size: ((w * 150.0) as u32, (h * 150.0) as u32),
            title: None,
            panels: Vec::new(),
            scale: 150.0 / 72.0,
        }
    }

    fn pt(&self, points: f64) -> u32 {
        (points * self.scale).round() as u32
    }
}

/// Anything that draws itself on a drawing area of a fixed size: a [`Figure`] or a [`Heatmap`].
pub trait Picture {
    /// Size in pixels.
    fn size(&self) -> (u32, u32);
    /// What to call it in error messages (`plot`, `heatmap`).
    fn kind(&self) -> &'static str;
    /// Draws onto `root`.
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

impl Picture for Figure {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn kind(&self) -> &'static str {
        "plot"
    }
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        draw(self, root)
    }
}

/// Checks that `path` ends in `.png` or `.svg` (call it before long work whose result will be drawn).
pub fn check_extension(path: &Path, kind: &str) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png" | "svg") => Ok(()),
        _ => Err(Error::BadInput(format!(
            "{kind}: {}: the file name must end in .png or .svg",
            path.display()
        ))),
    }
}

/// Renders `figure` to `path`; the extension (`.png` or `.svg`) picks the format. The file is
/// written through a temporary file and renamed, so a failure never leaves half a picture.
pub fn save(figure: &impl Picture, path: &Path) -> Result<()> {
    check_extension(path, figure.kind())?;
    ensure_font();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Render(format!("{}: not a file name", path.display())))?;
    match ext.as_deref() {
        Some("svg") => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
                figure.draw_on(&root)?;
                root.present().map_err(|e| Error::Render(format!("rendering {}: {e}", path.display())))?;
            }
            crate::write_atomic(path, svg.as_bytes())?;
        }
        // check_extension let only .png and .svg through. Drawn in memory, encoded, and written
        // through a unique temporary file (no fixed temporary name to plant a symlink at).
        _ => {
            let (w, h) = figure.size();
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
                figure.draw_on(&root)?;
                root.present().map_err(|e| Error::Render(format!("rendering {}: {e}", path.display())))?;
            }
            let mut png = Vec::new();
            image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut png),
                &rgb,
                w,
                h,
                image::ColorType::Rgb8,
            )
            .map_err(|e| Error::Render(format!("encoding {}: {e}", path.display())))?;
            crate::write_atomic(path, &png)?;
        }
    }
    Ok(())
}

/// A tick label: no trailing zeros, no "-0".
fn tick(v: &f64) -> String {
    let s = format!("{:.3}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn font(size: u32) -> FontDesc<'static> {
    (FAMILY, size as f64).into_font()
}

fn draw<DB: DrawingBackend>(figure: &Figure, root: &DrawingArea<DB, Shift>) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::Render(format!("drawing: {e:?}"));
    root.fill(&WHITE).map_err(err)?;
    let body = match &figure.title {
        Some(t) => {
            let (w, _) = figure.size;
            let size = figure.pt(14.0);
            root.draw(&Text::new(
                t.clone(),
                ((w / 2) as i32, (size / 2) as i32),
                TextStyle::from(font(size)).pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
            root.margin(size * 2, 0, 0, 0)
        }
        None => root.clone(),
    };
    let n = figure.panels.len().max(1);
    let areas = body.split_evenly((1, n));
    for (panel, area) in figure.panels.iter().zip(areas) {
        match panel {
            Panel::Contour(p) => draw_contour(figure, p, &area)?,
            Panel::Lines(p) => draw_lines(figure, p, &area)?,
        }
    }
    Ok(())
}

fn level_color(levels: &[f64], i: usize, log: bool) -> RGBColor {
    let n = levels.len().max(2);
    let t = if log && levels.iter().all(|&l| l > 0.0) {
        let (a, b) = (levels[0].log10(), levels[levels.len() - 1].log10());
        if b > a {
            (levels[i].log10() - a) / (b - a)
        } else {
            0.0
        }
    } else {
        i as f64 / (n - 1) as f64
    };
    ViridisRGB::get_color(t.clamp(0.0, 1.0))
}

fn star(r: f64) -> Vec<(i32, i32)> {
    (0..10)
        .map(|k| {
            let radius = if k % 2 == 0 { r } else { r * 0.42 };
            let a = std::f64::consts::PI / 2.0 + k as f64 * std::f64::consts::PI / 5.0;
            ((radius * a.cos()).round() as i32, (-radius * a.sin()).round() as i32)
        })
        .collect()
}

fn draw_contour<DB: DrawingBackend>(
    fig: &Figure,
    p: &ContourPanel,
    area: &DrawingArea<DB, Shift>,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::Render(format!("drawing: {e:?}"));
    let [x0, x1, y0, y1] = p.bounds;
    let label_area = fig.pt(30.0);
    let mut area = area.clone();
    if p.equal_aspect {
        // Make the plotting rectangle's pixel aspect match the data's.
        let (w, h) = area.dim_in_pixel();
        let (pw, ph) =
            (w.saturating_sub(label_area + fig.pt(12.0)), h.saturating_sub(label_area + fig.pt(30.0)));
        let want = (x1 - x0) / (y1 - y0);
        if (pw as f64) / (ph as f64) > want {
            let target = (ph as f64 * want) as u32;
            let extra = (pw - target) / 2;
            area = area.margin(0, 0, extra, extra);
        } else {
            let target = (pw as f64 / want) as u32;
            let extra = (ph - target) / 2;
            area = area.margin(extra, extra, 0, 0);
        }
    }
    let mut chart = ChartBuilder::on(&area)
        .caption(&p.title, font(fig.pt(12.0)))
        .margin(fig.pt(8.0))
        .x_label_area_size(label_area)
        .y_label_area_size(label_area)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&p.xlabel)
        .y_desc(&p.ylabel)
        .axis_desc_style(font(fig.pt(10.0)))
        .label_style(font(fig.pt(9.0)))
        .x_labels(9)
        .y_labels(9)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .draw()
        .map_err(err)?;
    for (i, &level) in p.levels.iter().enumerate() {
        let color = level_color(&p.levels, i, p.log_colors).mix(p.contour_alpha);
        for line in p.grid.isolines(level) {
            chart.draw_series(std::iter::once(PathElement::new(line, color.stroke_width(2)))).map_err(err)?;
        }
    }
    draw_series(fig, &mut chart, &p.series, p.bounds)?;
    for m in &p.markers {
        let style = m.color.filled();
        let size = m.size as i32;
        let anno = match m.shape {
            Shape::Circle => {
                chart.draw_series(std::iter::once(Circle::new(m.at, size, style))).map_err(err)?
            }
            Shape::Star => chart
                .draw_series(std::iter::once(
                    EmptyElement::at(m.at) + Polygon::new(star(size as f64 * 1.3), style),
                ))
                .map_err(err)?,
        };
        if let Some(label) = &m.label {
            let color = m.color;
            let anno = anno.label(label.clone());
            match m.shape {
                Shape::Circle => {
                    anno.legend(move |(x, y)| Circle::new((x + 10, y), 6, color.filled()));
                }
                Shape::Star => {
                    anno.legend(move |(x, y)| {
                        EmptyElement::at((x + 10, y)) + Polygon::new(star(9.0), color.filled())
                    });
                }
            }
        }
    }
    legend(fig, &mut chart, best_corner(&p.series, &p.markers, p.bounds, false))?;
    Ok(())
}

fn draw_series<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    fig: &Figure,
    chart: &mut ChartContext<'a, DB, CT>,
    series: &[Series],
    bounds: [f64; 4],
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::Render(format!("drawing: {e:?}"));
    let _ = fig;
    for s in series {
        let color = s.color.mix(s.alpha);
        let style = color.stroke_width(s.width);
        let mut first = true;
        for piece in clip(&s.points, bounds) {
            let anno = if s.dashed {
                chart.draw_series(DashedLineSeries::new(piece.clone(), 12, 8, style)).map_err(err)?
            } else {
                chart.draw_series(LineSeries::new(piece.clone(), style)).map_err(err)?
            };
            if first {
                if let Some(label) = &s.label {
                    let (c, w) = (color, s.width.max(2));
                    anno.label(label.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(w)));
                }
                first = false;
            }
        }
        if first {
            // Entirely outside the axes: still list it in the legend.
            if let Some(label) = &s.label {
                let c = color;
                chart
                    .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                    .map_err(err)?
                    .label(label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            }
        }
        if s.marker > 0 {
            let inside = s
                .points
                .iter()
                .copied()
                .filter(|&(x, y)| x >= bounds[0] && x <= bounds[1] && y >= bounds[2] && y <= bounds[3]);
            chart
                .draw_series(inside.map(|pt| Circle::new(pt, s.marker as i32, color.filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// The corner whose region (a third of the width, a quarter of the height) holds the fewest
/// data points, as matplotlib's `loc='best'` would choose.
fn best_corner(series: &[Series], markers: &[Marker], bounds: [f64; 4], log_y: bool) -> SeriesLabelPosition {
    let [x0, x1, y0, y1] = bounds;
    let ty = |y: f64| if log_y { y.max(1e-300).log10() } else { y };
    let (ly0, ly1) = (ty(y0), ty(y1));
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let points = series.iter().flat_map(|s| s.points.iter().copied()).chain(markers.iter().map(|m| m.at));
    let mut counts = [0usize; 4];
    for (x, y) in points {
        let fx = (x - x0) / (x1 - x0);
        let fy = (ty(y) - ly0) / (ly1 - ly0);
        for (k, &(_, right, top)) in corners.iter().enumerate() {
            let in_x = if right { fx >= 0.62 } else { fx <= 0.38 };
            let in_y = if top { fy >= 0.70 } else { fy <= 0.30 };
            if in_x && in_y && (0.0..=1.0).contains(&fx) && (0.0..=1.0).contains(&fy) {
                counts[k] += 1;
            }
        }
    }
    let best = (0..4).min_by_key(|&k| (counts[k], k)).unwrap_or(0);
    corners[best].0.clone()
}

fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    fig: &Figure,
    chart: &mut ChartContext<'a, DB, CT>,
    corner: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(font(fig.pt(8.5)))
        .margin(fig.pt(5.0))
        .draw()
        .map_err(|e| Error::Render(format!("drawing legend: {e:?}")))
}

fn draw_lines<DB: DrawingBackend>(fig: &Figure, p: &LinePanel, area: &DrawingArea<DB, Shift>) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::Render(format!("drawing: {e:?}"));
    let (x0, x1) = p.x;
    let (y0, y1) = p.y;
    if !(x1 > x0 && y1 > y0) || (p.log_y && y0 <= 0.0) {
        return Err(Error::Render(format!("plot '{}': empty or invalid axis range", p.title)));
    }
    let label_area = fig.pt(34.0);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&p.title, font(fig.pt(12.0)))
        .margin(fig.pt(8.0))
        .x_label_area_size(label_area)
        .y_label_area_size(label_area);
    let bounds = [x0, x1, y0, y1];
    if p.log_y {
        let mut chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(err)?;
        let mut mesh = chart.configure_mesh();
        if !p.grid {
            mesh.disable_mesh();
        }
        mesh.x_desc(&p.xlabel)
            .y_desc(&p.ylabel)
            .axis_desc_style(font(fig.pt(10.0)))
            .label_style(font(fig.pt(9.0)))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .x_label_formatter(&tick)
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        series_lines_legend(fig, &mut chart, p, bounds, true)?;
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
        let mut mesh = chart.configure_mesh();
        if !p.grid {
            mesh.disable_mesh();
        }
        mesh.x_desc(&p.xlabel)
            .y_desc(&p.ylabel)
            .axis_desc_style(font(fig.pt(10.0)))
            .label_style(font(fig.pt(9.0)))
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        series_lines_legend(fig, &mut chart, p, bounds, false)?;
    }
    Ok(())
}

/// What a line panel draws on its axes, linear or logarithmic: the series, dashed vertical lines,
/// and the legend in the emptiest corner.
fn series_lines_legend<
    'a,
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate<From = (f64, f64)>,
>(
    fig: &Figure,
    chart: &mut ChartContext<'a, DB, CT>,
    p: &LinePanel,
    bounds: [f64; 4],
    log_y: bool,
) -> Result<()> {
    draw_series(fig, chart, &p.series, bounds)?;
    for (x, c, label) in &p.vlines {
        let c = *c;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(*x, bounds[2]), (*x, bounds[3])],
                10,
                6,
                c.stroke_width(2),
            ))
            .map_err(|e| Error::Render(format!("drawing: {e:?}")))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    legend(fig, chart, best_corner(&p.series, &[], bounds, log_y))
}

/// A heatmap of `values[j * xs.len() + i]` (log10 color scale; non-finite cells grey) with a
/// colorbar; save it with [`save`].
pub struct Heatmap<'a> {
    /// Title.
    pub title: &'a str,
    /// x-axis label (the first swept hyperparameter).
    pub xlabel: &'a str,
    /// y-axis label (the second).
    pub ylabel: &'a str,
    /// Column values (log-spaced axes are detected and drawn as such).
    pub xs: &'a [f64],
    /// Row values.
    pub ys: &'a [f64],
    /// Cell values, row-major: `values[j * xs.len() + i]`.
    pub values: &'a [f64],
}

impl Picture for Heatmap<'_> {
    fn size(&self) -> (u32, u32) {
        (1500, 1050)
    }
    fn kind(&self) -> &'static str {
        "heatmap"
    }
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_heatmap(root, self.title, self.xlabel, self.ylabel, self.xs, self.ys, self.values)
    }
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    xs: &[f64],
    ys: &[f64],
    values: &[f64],
) -> Result<()> {
    use plotters::coord::ranged1d::SegmentValue;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::Render(format!("drawing: {e:?}"));
    root.fill(&WHITE).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(w - 170);
    let positive = |v: &f64| v.is_finite() && *v > 0.0;
    let mut logs: Vec<f64> = values.iter().map(|v| if positive(v) { v.log10() } else { f64::NAN }).collect();
    let (lo, hi) = logs
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, if hi > lo { hi } else { lo + 1.0 }) } else { (0.0, 1.0) };
    // An exact zero (or negative) loss is at least as good as the best positive one.
    for (l, v) in logs.iter_mut().zip(values) {
        if v.is_finite() && *v <= 0.0 {
            *l = lo;
        }
    }
    let color = |l: f64| {
        if l.is_finite() {
            ViridisRGB::get_color((l - lo) / (hi - lo))
        } else {
            RGBColor(190, 190, 190)
        }
    };
    let fmt = |v: f64| {
        if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
            format!("{v:.2e}")
        } else {
            format!("{}", (v * 1e4).round() / 1e4)
        }
    };
    let (nx, ny) = (xs.len() as i32, ys.len() as i32);
    let mut chart = ChartBuilder::on(&main)
        .caption(title, font(28))
        .margin(20)
        .x_label_area_size(80)
        .y_label_area_size(110)
        .build_cartesian_2d((0..(nx - 1).max(0)).into_segmented(), (0..(ny - 1).max(0)).into_segmented())
        .map_err(err)?;
    let xf = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) if (*i as usize) < xs.len() => fmt(xs[*i as usize]),
        _ => String::new(),
    };
    let yf = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) if (*i as usize) < ys.len() => fmt(ys[*i as usize]),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(xlabel)
        .y_desc(ylabel)
        .axis_desc_style(font(24))
        .label_style(font(17))
        .x_labels(xs.len())
        .y_labels(ys.len())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .draw()
        .map_err(err)?;
    let annotate = xs.len() * ys.len() <= 225;
    for j in 0..ny {
        for i in 0..nx {
            let l = logs[(j * nx + i) as usize];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(i), SegmentValue::Exact(j)),
                        (SegmentValue::Exact(i + 1), SegmentValue::Exact(j + 1)),
                    ],
                    color(l).filled(),
                )))
                .map_err(err)?;
            if annotate {
                let v = values[(j * nx + i) as usize];
                let text = if v.is_finite() { format!("{v:.1e}") } else { "div".into() };
                let ink = if l.is_finite() && (l - lo) / (hi - lo) > 0.6 { BLACK } else { WHITE };
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (SegmentValue::CenterOf(i), SegmentValue::CenterOf(j)),
                        TextStyle::from(font(14)).color(&ink).pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(err)?;
            }
        }
    }
    // Colorbar: log10 of the value, its label above it (in the area outside the bar's margins,
    // where nothing else is drawn).
    bar.draw(&Text::new("final loss", (10, 40), font(18))).map_err(err)?;
    let bar = bar.margin(90, 100, 20, 60);
    let (bw, bh) = bar.dim_in_pixel();
    for k in 0..bh {
        let t = 1.0 - k as f64 / bh as f64;
        bar.draw(&Rectangle::new(
            [(0, k as i32), (bw as i32 / 2, k as i32 + 1)],
            ViridisRGB::get_color(t).filled(),
        ))
        .map_err(err)?;
    }
    for (t, v) in [(0.0, hi), (0.5, 0.5 * (lo + hi)), (1.0, lo)] {
        let y = (t * bh as f64) as i32;
        bar.draw(&Text::new(format!("{:.0e}", 10f64.powf(v)), (bw as i32 / 2 + 6, y - 8), font(16)))
            .map_err(err)?;
    }
    Ok(())
}
