//! Chart primitives for incident reports: plain data in, SVG text or PNG bytes out.
//!
//! Every chart is 800x360 px, has a title, axis descriptions (callers put the unit in the
//! label, e.g. `"throughput (Mbit/s)"`), and a legend row under the title when it shows more
//! than one series. Rendering is done with `plotters`:
//!
//! * [`svg`] returns a self-contained SVG document (no external fonts, images or links; the
//!   only URL in it is the `xmlns` namespace) suitable for inlining into an HTML page.
//! * [`png`] returns PNG bytes; text is rasterised with the DejaVu Sans font embedded in the
//!   binary (`assets/DejaVuSans.ttf`, licence in `assets/DejaVuSans-LICENSE.txt`).
//!
//! Robustness rules shared by all chart kinds:
//! * empty input (or input whose values are all NaN/inf) renders a valid chart saying
//!   "no data" instead of failing;
//! * NaN and infinite values are skipped;
//! * every caller string (titles, axis labels, series and category names, which may come from
//!   a packet capture) goes through [`chart_label`] (the one definition of dangerous
//!   characters, in `render/escape.rs`): those are replaced and the label is truncated;
//!   XML escaping of `<`, `>`, `&`, `"`, `'` is done by plotters' SVG backend (checked by tests);
//! * large inputs are thinned to the pixel resolution of the chart (min/max per pixel column
//!   for lines, merged intervals per pixel column for time-sequence bars, coarser bins for
//!   bar charts and CDF curves, top-N for categories), so 100k points render quickly and
//!   the SVG stays small.
//!
//! Layout: this file holds the [`Chart`] description, the [`svg`] and [`png`] entry points
//! and what every kind shares (title and legend, axes and mesh, colours, number format,
//! thinning of long series); each chart kind is drawn in its own file (`lines.rs`, `bars.rs`,
//! `cdf.rs`, `histogram.rs`, `categories.rs`, `time_sequence.rs`).

use std::sync::OnceLock;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::escape::chart_label;

/// Width of every chart in pixels.
pub const WIDTH: u32 = 800;

/// Height of every chart in pixels.
pub const HEIGHT: u32 = 360;

/// Font family name under which the embedded font is registered. It is also what the SVG's
/// `font-family` attributes say, so browsers use their own sans-serif font.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// At most this many series are drawn (the palette has as many distinct colours).
const MAX_SERIES: usize = 10;

/// At most this many bars per series in a [`Chart::Bars`] chart; more bins are merged.
const MAX_BARS: usize = 400;

/// Series longer than this are thinned to min/max per pixel column.
const THIN_ABOVE: usize = 2000;

/// Columns used for thinning (about the pixel width of the plot area).
const THIN_COLUMNS: usize = 720;

const TITLE_MAX_CHARS: usize = 90;
const LABEL_MAX_CHARS: usize = 60;
const NAME_MAX_CHARS: usize = 32;

/// A named series of `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Shown in the legend (when the chart has more than one series).
    pub name: String,
    /// Data points; NaN/inf coordinates are skipped. Meaning of x and y depends on the chart.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// Convenience constructor.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A chart description. Render it with [`svg`] or [`png`].
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Lines over time: x in seconds since capture start. Points are sorted by x.
    Lines {
        title: String,
        x_label: String,
        y_label: String,
        series: Vec<Series>,
    },
    /// Bars over time: x = bin start in seconds, y = value of the bin. Series are stacked
    /// (positive values upwards, negative downwards) in the given order. When the data spans
    /// more than 400 bins, adjacent bins are merged, each merged bar showing the maximum of the
    /// bins it covers (the x label says so). A non-finite or non-positive `bin_width` is
    /// replaced by the smallest gap between bin starts.
    Bars {
        title: String,
        x_label: String,
        y_label: String,
        bin_width: f64,
        series: Vec<Series>,
    },
    /// Cumulative distributions as the analysis computed them (e.g. `LogHistogram::cdf`):
    /// `points: (value, fraction of values ≤ value)`, joined by lines in order of value: the
    /// chart computes no statistic. x is log-scaled when the positive values span more than
    /// 2 decades (points at values <= 0 are then not drawn).
    Cdf {
        title: String,
        x_label: String,
        series: Vec<Series>,
    },
    /// Histogram of values with given bucket edges: bucket `i` is `[edges[i], edges[i+1])`
    /// with `counts[i]` values; `edges.len()` should be `counts.len() + 1` (extra entries of
    /// either are ignored). Buckets are drawn with equal widths and labelled with their edges,
    /// so non-uniform (e.g. exponential) buckets and infinite outer edges read well.
    Histogram {
        title: String,
        x_label: String,
        edges: Vec<f64>,
        counts: Vec<u64>,
    },
    /// Categories with values (e.g. DNS rcodes), horizontal bars sorted by value, largest on
    /// top; beyond 15 categories the rest is summed into one "other (N)" bar.
    Categories {
        title: String,
        x_label: String,
        items: Vec<(String, f64)>,
    },
    /// tcptrace-style time-sequence graph of one TCP flow direction. `data` and
    /// `retransmitted` are `(time s, seq, len)`: each segment is a short vertical bar from `seq`
    /// to `seq + len` at time `t` (retransmissions in red, drawn on top). `acks` are
    /// `(time s, ack)` drawn as a step line, `window` are `(time s, ack + window)` drawn as a
    /// step line. Sequence numbers should be relative (offset from the ISN) and unwrapped.
    TimeSequence {
        title: String,
        data: Vec<(f64, f64, f64)>,
        retransmitted: Vec<(f64, f64, f64)>,
        acks: Vec<(f64, f64)>,
        window: Vec<(f64, f64)>,
    },
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The embedded font could not be parsed (should not happen).
    #[error("embedded chart font is invalid")]
    Font,
    /// plotters failed while drawing.
    #[error("chart drawing failed: {0}")]
    Draw(String),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] ::png::EncodingError),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError::Draw(e.to_string())
    }
}

/// Render `chart` as a standalone SVG document (800x360), safe to inline into HTML.
pub fn svg(chart: &Chart) -> Result<String, ChartError> {
    register_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart)?;
        root.present()?;
    }
    Ok(out)
}

/// Render `chart` as an 800x360 RGB PNG image.
pub fn png(chart: &Chart) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart)?;
        root.present()?;
    }
    let mut out = Vec::with_capacity(64 * 1024);
    {
        let mut enc = ::png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
        enc.set_compression(::png::Compression::Fast);
        let mut w = enc.write_header()?;
        w.write_image_data(&pixels)?;
        w.finish()?;
    }
    Ok(out)
}

fn register_font() -> Result<(), ChartError> {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok = *OK.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

type Res = Result<(), ChartError>;

/// Tableau-10-like palette: distinct, colour-blind friendlier than pure primaries.
const PALETTE: [RGBColor; 10] = [
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
const TEXT: RGBColor = RGBColor(30, 30, 30);
const GRID: RGBColor = RGBColor(225, 225, 225);

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Compact number for tick and value labels: 3 significant digits, k/M/G suffixes.
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "?".into()
        } else if v > 0.0 {
            "+∞".into()
        } else {
            "−∞".into()
        };
    }
    let a = v.abs();
    let (s, suffix) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let sa = s.abs();
    let decimals = if sa == 0.0 {
        0
    } else {
        (2 - sa.log10().floor() as i32).clamp(0, 9) as usize
    };
    let mut t = format!("{:.*}", decimals, s);
    if t.contains('.') {
        while t.ends_with('0') {
            t.pop();
        }
        if t.ends_with('.') {
            t.pop();
        }
    }
    if t == "-0" {
        t = "0".into();
    }
    t.push_str(suffix);
    t
}

fn text_style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&TEXT)
}

/// Finite (min, max) of an iterator; None when empty.
fn min_max(it: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let mut r: Option<(f64, f64)> = None;
    for v in it.filter(|v| v.is_finite()) {
        r = Some(match r {
            None => (v, v),
            Some((a, b)) => (a.min(v), b.max(v)),
        });
    }
    r
}

/// Make a non-degenerate range, optionally padded by `pad` of its span on the top.
fn range(lo: f64, hi: f64, pad_top: f64) -> (f64, f64) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    };
    (lo, hi + (hi - lo) * pad_top)
}

/// y range for value charts: include 0, pad 5 % on top.
fn value_range(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if hi == lo {
        (0.0, 1.0)
    } else {
        range(lo, hi, 0.05)
    }
}

#[derive(Clone, Copy)]
enum Swatch {
    Line,
    Box,
}

/// Draw the title and, if more than one entry, a legend row (wrapping); return the area left
/// for the plot.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[(String, RGBColor, Swatch)],
) -> Result<DrawingArea<DB, Shift>, ChartError> {
    root.fill(&WHITE)?;
    let title = chart_label(title, TITLE_MAX_CHARS);
    let tstyle = text_style(19.0).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw_text(&title, &tstyle, (WIDTH as i32 / 2, 8))?;
    let mut y = 34;
    if legend.len() > 1 {
        let lstyle = text_style(13.0).pos(Pos::new(HPos::Left, VPos::Center));
        let (x0, x_max) = (70, WIDTH as i32 - 20);
        let mut x = x0;
        let row_h = 18;
        for (name, c, swatch) in legend {
            let name = chart_label(name, NAME_MAX_CHARS);
            let (tw, _) = root.estimate_text_size(&name, &lstyle)?;
            let w = 22 + tw as i32 + 16;
            if x + w > x_max && x > x0 {
                x = x0;
                y += row_h;
            }
            let cy = y + row_h / 2;
            match swatch {
                Swatch::Line => root.draw(&PathElement::new(
                    vec![(x, cy), (x + 16, cy)],
                    c.stroke_width(3),
                ))?,
                Swatch::Box => root.draw(&Rectangle::new(
                    [(x + 2, cy - 6), (x + 14, cy + 6)],
                    c.filled(),
                ))?,
            }
            root.draw_text(&name, &lstyle, (x + 22, cy))?;
            x += w;
        }
        y += row_h + 4;
    }
    Ok(root.clone().split_vertically(y).1)
}

/// Axis-less frame saying "no data", with the axis descriptions still shown.
fn no_data<DB: DrawingBackend>(body: &DrawingArea<DB, Shift>, x_label: &str, y_label: &str) -> Res {
    let mut chart = ChartBuilder::on(body)
        .margin_right(20)
        .margin_left(14)
        .margin_bottom(8)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_desc(chart_label(x_label, LABEL_MAX_CHARS))
        .y_desc(chart_label(y_label, LABEL_MAX_CHARS))
        .axis_desc_style(text_style(14.0))
        .draw()?;
    chart.plotting_area().draw(&Text::new(
        "no data",
        (0.5, 0.5),
        text_style(18.0)
            .color(&RGBColor(120, 120, 120))
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// Standard mesh: light grid, labelled axes, compact numbers.
macro_rules! mesh {
    ($chart:expr, $x_label:expr, $y_label:expr, $xfmt:expr, $yfmt:expr) => {
        $chart
            .configure_mesh()
            .x_desc(chart_label($x_label, LABEL_MAX_CHARS))
            .y_desc(chart_label($y_label, LABEL_MAX_CHARS))
            .axis_desc_style(text_style(14.0))
            .label_style(text_style(12.0))
            .x_labels(10)
            .y_labels(7)
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .axis_style(RGBColor(90, 90, 90))
            .x_label_formatter($xfmt)
            .y_label_formatter($yfmt)
            .draw()?
    };
}

fn chart_on<'a, 'b, DB: DrawingBackend>(
    body: &'a DrawingArea<DB, Shift>,
    y_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(body);
    b.margin_right(20)
        .margin_left(14)
        .margin_bottom(8)
        .margin_top(4)
        .x_label_area_size(40)
        .y_label_area_size(y_area);
    b
}

/// Sort by x and, when long, keep first/min/max/last point of each of `THIN_COLUMNS`
/// columns across `[x0, x1]`. Non-finite points are dropped.
fn thin_line(points: &[(f64, f64)], x0: f64, x1: f64) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    if p.len() <= THIN_ABOVE || x1 <= x0 {
        return p;
    }
    let col = |x: f64| {
        (((x - x0) / (x1 - x0)) * THIN_COLUMNS as f64)
            .floor()
            .max(0.0) as usize
    };
    let mut out = Vec::with_capacity(THIN_COLUMNS * 4);
    let mut i = 0;
    while i < p.len() {
        let c = col(p[i].0);
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < p.len() && col(p[j].0) == c {
            if p[j].1 < p[lo].1 {
                lo = j;
            }
            if p[j].1 > p[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let mut keep = [i, lo, hi, j - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for k in keep {
            if k != last {
                out.push(p[k]);
                last = k;
            }
        }
        i = j;
    }
    out
}

/// Turn sorted points into a step line (value holds until the next point).
fn steps(p: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(p.len() * 2);
    for (i, &(x, y)) in p.iter().enumerate() {
        if i > 0 {
            out.push((x, p[i - 1].1));
        }
        out.push((x, y));
    }
    out
}

/// Linear f64 axis with explicit tick positions (bold) and optional minor grid positions.
/// (plotters' `with_key_points` on an f64 range loses the default label formatting.)
#[derive(Clone)]
struct Keyed {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Keyed {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

// ---------------------------------------------------------------------------------------------
// Chart kinds, one file each (declared below `mesh!`: a macro is in scope only after it)

mod bars;
mod categories;
mod cdf;
mod histogram;
mod lines;
mod time_sequence;

use bars::bars;
use categories::categories;
use cdf::cdf;
use histogram::histogram;
use lines::lines;
use time_sequence::time_sequence;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Res {
    match chart {
        Chart::Lines {
            title,
            x_label,
            y_label,
            series,
        } => lines(root, title, x_label, y_label, series),
        Chart::Bars {
            title,
            x_label,
            y_label,
            bin_width,
            series,
        } => bars(root, title, x_label, y_label, *bin_width, series),
        Chart::Cdf {
            title,
            x_label,
            series,
        } => cdf(root, title, x_label, series),
        Chart::Histogram {
            title,
            x_label,
            edges,
            counts,
        } => histogram(root, title, x_label, edges, counts),
        Chart::Categories {
            title,
            x_label,
            items,
        } => categories(root, title, x_label, items),
        Chart::TimeSequence {
            title,
            data,
            retransmitted,
            acks,
            window,
        } => time_sequence(root, title, data, retransmitted, acks, window),
    }
}

/// Legend entries for the first MAX_SERIES series plus a note for the rest.
fn legend_for(series: &[Series], swatch: Swatch) -> Vec<(String, RGBColor, Swatch)> {
    let mut l: Vec<_> = series
        .iter()
        .take(MAX_SERIES)
        .enumerate()
        .map(|(i, s)| (s.name.clone(), color(i), swatch))
        .collect();
    if series.len() > MAX_SERIES {
        l.push((
            format!("+{} more not shown", series.len() - MAX_SERIES),
            WHITE,
            swatch,
        ));
    }
    l
}

#[cfg(test)]
mod tests;
