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
//!   a packet capture) has control and bidi-override characters replaced and is truncated;
//!   XML escaping of `<`, `>`, `&`, `"`, `'` is done by plotters' SVG backend (checked by tests);
//! * large inputs are thinned to the pixel resolution of the chart (min/max per pixel column
//!   for lines, merged intervals per pixel column for time-sequence bars, coarser bins for
//!   bar charts, quantiles for CDFs, top-N for categories), so 100k points render quickly and
//!   the SVG stays small.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of every chart in pixels.
pub const WIDTH: u32 = 800;
/// Height of every chart in pixels.
pub const HEIGHT: u32 = 360;

/// Font family name under which the embedded font is registered. It is also what the SVG's
/// `font-family` attributes say, so browsers use their own sans-serif font.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// At most this many series are drawn (the palette has as many distinct colours).
const MAX_SERIES: usize = 10;
/// At most this many bars per series in a [`Chart::Bars`] chart; more bins are merged.
const MAX_BARS: usize = 400;
/// At most this many categories; the rest is summed into an "other" bar.
const MAX_CATEGORIES: usize = 15;
/// Series longer than this are thinned to min/max per pixel column.
const THIN_ABOVE: usize = 2000;
/// Columns used for thinning (about the pixel width of the plot area).
const THIN_COLUMNS: usize = 720;
/// Number of points kept for a thinned CDF curve.
const CDF_POINTS: usize = 1500;

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
    /// Cumulative distribution of values (sorted inside), x log-scaled when the positive values
    /// span more than 2 decades (values <= 0 then count towards the fraction but are not
    /// drawn). Only the first element of each point is used: `points: (value, ignored)`.
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

/// Replace control / bidi-override characters and truncate to `max` characters.
fn clean(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        let bad = c.is_control()
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
            || ('\u{200B}'..='\u{200F}').contains(&c)
            || c == '\u{FEFF}';
        out.push(if bad { '\u{FFFD}' } else { c });
    }
    out
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
    let title = clean(title, TITLE_MAX_CHARS);
    let tstyle = text_style(19.0).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw_text(&title, &tstyle, (WIDTH as i32 / 2, 8))?;
    let mut y = 34;
    if legend.len() > 1 {
        let lstyle = text_style(13.0).pos(Pos::new(HPos::Left, VPos::Center));
        let (x0, x_max) = (70, WIDTH as i32 - 20);
        let mut x = x0;
        let row_h = 18;
        for (name, c, swatch) in legend {
            let name = clean(name, NAME_MAX_CHARS);
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
        .x_desc(clean(x_label, LABEL_MAX_CHARS))
        .y_desc(clean(y_label, LABEL_MAX_CHARS))
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
            .x_desc(clean($x_label, LABEL_MAX_CHARS))
            .y_desc(clean($y_label, LABEL_MAX_CHARS))
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
// Chart kinds

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

fn lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Res {
    let series = &series[..series.len().min(MAX_SERIES)];
    let all = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let body = header(root, title, &legend_for(series, Swatch::Line))?;
    let (Some((x0, x1)), Some((y0, y1))) =
        (min_max(all().map(|p| p.0)), min_max(all().map(|p| p.1)))
    else {
        return no_data(&body, x_label, y_label);
    };
    let (x0, x1) = range(x0, x1, 0.0);
    let (y0, y1) = value_range(y0, y1);
    let mut chart = chart_on(&body, 70).build_cartesian_2d(x0..x1, y0..y1)?;
    mesh!(
        chart,
        x_label,
        y_label,
        &|v: &f64| fmt_num(*v),
        &|v: &f64| fmt_num(*v)
    );
    for (i, s) in series.iter().enumerate() {
        let p = thin_line(&s.points, x0, x1);
        let c = color(i);
        if p.len() <= 30 {
            chart.draw_series(p.iter().map(|&xy| Circle::new(xy, 3, c.filled())))?;
        }
        chart.draw_series(LineSeries::new(p, c.stroke_width(2)))?;
    }
    Ok(())
}

fn bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    bin_width: f64,
    series: &[Series],
) -> Res {
    let series = &series[..series.len().min(MAX_SERIES)];
    let body = header(root, title, &legend_for(series, Swatch::Box))?;
    let pts: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let Some((xmin, xmax)) = min_max(pts.iter().flatten().map(|p| p.0)) else {
        return no_data(&body, x_label, y_label);
    };
    // Bin width: given, else the smallest gap between distinct bin starts, else 1 s.
    let width = if bin_width.is_finite() && bin_width > 0.0 {
        bin_width
    } else {
        let mut xs: Vec<f64> = pts.iter().flatten().map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        xs.windows(2)
            .map(|w| w[1] - w[0])
            .filter(|d| *d > 0.0)
            .fold(f64::INFINITY, f64::min)
    };
    let width = if width.is_finite() && width > 0.0 {
        width
    } else {
        1.0
    };
    let span_bins = ((xmax - xmin) / width).floor() + 1.0;
    let merge = if span_bins > MAX_BARS as f64 {
        (span_bins / MAX_BARS as f64).ceil()
    } else {
        1.0
    };
    let w = width * merge;
    // key -> per-series value (max when several points fall into the same bar).
    let mut bins: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (si, p) in pts.iter().enumerate() {
        for &(x, y) in p {
            let k = ((x - xmin) / w + 1e-9).floor() as i64;
            let slot = bins
                .entry(k)
                .or_insert_with(|| vec![f64::NAN; series.len()]);
            slot[si] = if slot[si].is_nan() {
                y
            } else {
                slot[si].max(y)
            };
        }
    }
    let (mut lo, mut hi) = (0f64, 0f64);
    for v in bins.values() {
        let pos: f64 = v.iter().filter(|y| **y > 0.0).sum();
        let neg: f64 = v.iter().filter(|y| **y < 0.0).sum();
        hi = hi.max(pos);
        lo = lo.min(neg);
    }
    let (y0, y1) = value_range(lo, hi);
    let x_desc = if merge > 1.0 {
        format!(
            "{} — each bar: max of {} bins",
            clean(x_label, LABEL_MAX_CHARS),
            merge as u64
        )
    } else {
        x_label.to_string()
    };
    let (x0, x1) = (xmin, xmin + (((xmax - xmin) / w + 1e-9).floor() + 1.0) * w);
    let mut chart = chart_on(&body, 70).build_cartesian_2d(x0..x1, y0..y1)?;
    mesh!(
        chart,
        &x_desc,
        y_label,
        &|v: &f64| fmt_num(*v),
        &|v: &f64| fmt_num(*v)
    );
    let gap = if bins.len() <= 120 { w * 0.08 } else { 0.0 };
    let mut rects = Vec::new();
    for (&k, vals) in &bins {
        let xa = xmin + k as f64 * w + gap;
        let xb = xmin + (k + 1) as f64 * w - gap;
        let (mut up, mut down) = (0f64, 0f64);
        for (si, &y) in vals.iter().enumerate() {
            if y.is_nan() || y == 0.0 {
                continue;
            }
            let (a, b) = if y > 0.0 {
                up += y;
                (up - y, up)
            } else {
                down += y;
                (down - y, down)
            };
            rects.push(Rectangle::new([(xa, a), (xb, b)], color(si).filled()));
        }
    }
    chart.draw_series(rects)?;
    Ok(())
}

fn cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    series: &[Series],
) -> Res {
    let series = &series[..series.len().min(MAX_SERIES)];
    let body = header(root, title, &legend_for(series, Swatch::Line))?;
    let y_label = "fraction of values ≤ x";
    let vals: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            let mut v: Vec<f64> = s
                .points
                .iter()
                .map(|p| p.0)
                .filter(|v| v.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let Some((vmin, vmax)) = min_max(vals.iter().flatten().copied()) else {
        return no_data(&body, x_label, y_label);
    };
    let pos = min_max(vals.iter().flatten().copied().filter(|v| *v > 0.0));
    let log = matches!(pos, Some((a, b)) if b / a > 100.0);
    let tx = |v: f64| if log { v.log10() } else { v };
    let (x0, x1) = if log {
        let (a, b) = pos.unwrap();
        (a.log10().floor(), b.log10().ceil())
    } else {
        range(vmin, vmax, 0.0)
    };
    let x_desc = if log {
        format!("{} (log scale)", clean(x_label, LABEL_MAX_CHARS))
    } else {
        x_label.to_string()
    };
    // Curves: (value, fraction <= value), thinned by quantile.
    let curves: Vec<Vec<(f64, f64)>> = vals
        .iter()
        .map(|v| {
            let n = v.len();
            if n == 0 {
                return vec![];
            }
            let idx: Vec<usize> = if n <= CDF_POINTS {
                (0..n).collect()
            } else {
                let mut ix: Vec<usize> =
                    (0..=CDF_POINTS).map(|i| i * (n - 1) / CDF_POINTS).collect();
                ix.dedup();
                ix
            };
            let mut pts = Vec::with_capacity(idx.len() * 2 + 1);
            let mut prev_frac = None;
            for i in idx {
                if log && v[i] <= 0.0 {
                    prev_frac = Some((i + 1) as f64 / n as f64);
                    continue;
                }
                let x = tx(v[i]);
                let before = prev_frac.unwrap_or(i as f64 / n as f64);
                if pts.is_empty() {
                    pts.push((x, before));
                }
                // Step: horizontal to x at the previous fraction, then up.
                if let Some(&(_, fy)) = pts.last() {
                    pts.push((x, fy));
                }
                let f = (i + 1) as f64 / n as f64;
                pts.push((x, f));
                prev_frac = Some(f);
            }
            pts
        })
        .collect();
    let build = chart_on(&body, 70);
    if log {
        let decades: Vec<f64> = (x0 as i32..=x1 as i32).map(f64::from).collect();
        let step = decades.len().div_ceil(10).max(1);
        let keys: Vec<f64> = decades.iter().copied().step_by(step).collect();
        let minor: Vec<f64> = decades
            .iter()
            .flat_map(|d| (2..10).map(move |m| d + (m as f64).log10()))
            .filter(|v| *v < x1)
            .collect();
        let mut chart = { build }.build_cartesian_2d(
            Keyed {
                lo: x0,
                hi: x1,
                bold: keys,
                light: minor,
            },
            0f64..1.02,
        )?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_label)
            .axis_desc_style(text_style(14.0))
            .label_style(text_style(12.0))
            .y_labels(7)
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(RGBColor(242, 242, 242))
            .axis_style(RGBColor(90, 90, 90))
            .x_label_formatter(&|v: &f64| fmt_num(10f64.powf(*v)))
            .y_label_formatter(&|v: &f64| fmt_num(*v))
            .draw()?;
        for (i, c) in curves.into_iter().enumerate() {
            chart.draw_series(LineSeries::new(c, color(i).stroke_width(2)))?;
        }
    } else {
        let mut chart = { build }.build_cartesian_2d(x0..x1, 0f64..1.02)?;
        mesh!(
            chart,
            &x_desc,
            y_label,
            &|v: &f64| fmt_num(*v),
            &|v: &f64| fmt_num(*v)
        );
        for (i, c) in curves.into_iter().enumerate() {
            chart.draw_series(LineSeries::new(c, color(i).stroke_width(2)))?;
        }
    }
    Ok(())
}

fn histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    edges: &[f64],
    counts: &[u64],
) -> Res {
    let body = header(root, title, &[])?;
    let y_label = "count";
    let n = counts.len().min(edges.len().saturating_sub(1));
    if n == 0 {
        return no_data(&body, x_label, y_label);
    }
    // Too many buckets for the pixel width: merge adjacent buckets (counts add up).
    let merge = n.div_ceil(MAX_BARS).max(1);
    let (edges, counts): (Vec<f64>, Vec<u64>) = if merge > 1 {
        let e = (0..=n)
            .step_by(merge)
            .chain(std::iter::once(n))
            .map(|i| edges[i])
            .collect::<Vec<_>>();
        let mut e = e;
        if n % merge == 0 {
            e.pop(); // last edge was added twice
        }
        (
            e,
            counts[..n].chunks(merge).map(|c| c.iter().sum()).collect(),
        )
    } else {
        (edges[..=n].to_vec(), counts[..n].to_vec())
    };
    let n = counts.len();
    let x_desc = if merge > 1 {
        format!(
            "{} — each bar: {} buckets merged",
            clean(x_label, LABEL_MAX_CHARS),
            merge
        )
    } else {
        clean(x_label, LABEL_MAX_CHARS)
    };
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let (_, y1) = value_range(0.0, max);
    let step = (n + 1).div_ceil(12).max(1);
    let keys: Vec<f64> = (0..=n).step_by(step).map(|i| i as f64).collect();
    let edges_c = edges;
    let fmt = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < edges_c.len() {
            fmt_num(edges_c[i as usize])
        } else {
            String::new()
        }
    };
    let mut chart = chart_on(&body, 70).build_cartesian_2d(
        Keyed {
            lo: 0.0,
            hi: n as f64,
            bold: keys,
            light: vec![],
        },
        0f64..y1,
    )?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_label)
        .axis_desc_style(text_style(14.0))
        .label_style(text_style(12.0))
        .y_labels(7)
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(RGBColor(90, 90, 90))
        .x_label_formatter(&fmt)
        .y_label_formatter(&|v: &f64| fmt_num(*v))
        .draw()?;
    let gap = if n <= 60 { 0.06 } else { 0.0 };
    chart.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                Rectangle::new(
                    [(i as f64 + gap, 0.0), (i as f64 + 1.0 - gap, c as f64)],
                    color(0).filled(),
                )
            }),
    )?;
    Ok(())
}

fn categories<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    items: &[(String, f64)],
) -> Res {
    let body = header(root, title, &[])?;
    let mut it: Vec<(String, f64)> = items
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(n, v)| (clean(n, 24), *v))
        .collect();
    if it.is_empty() {
        return no_data(&body, x_label, "");
    }
    it.sort_by(|a, b| b.1.total_cmp(&a.1));
    if it.len() > MAX_CATEGORIES {
        let rest = it.split_off(MAX_CATEGORIES - 1);
        let sum: f64 = rest.iter().map(|r| r.1).sum();
        it.push((format!("other ({})", rest.len()), sum));
    }
    let n = it.len();
    let (lo, hi) = min_max(it.iter().map(|r| r.1)).unwrap_or((0.0, 1.0));
    let (x0, x1) = value_range(lo, hi);
    let x1 = x1 + (x1 - x0) * 0.08; // room for value labels
                                    // Category k (0 = largest) sits at y in [n-1-k, n-k], label at the centre.
    let keys: Vec<f64> = (0..n).map(|k| k as f64 + 0.5).collect();
    let names: Vec<String> = it.iter().map(|r| r.0.clone()).collect();
    let lstyle = text_style(12.0);
    let mut y_area = 40u32;
    for name in &names {
        y_area = y_area.max(body.estimate_text_size(name, &lstyle)?.0 + 16);
    }
    let fmt = move |v: &f64| {
        let k = n as f64 - 0.5 - v;
        let i = k.round();
        if (k - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            names[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = chart_on(&body, y_area.min(260)).build_cartesian_2d(
        x0..x1,
        Keyed {
            lo: 0.0,
            hi: n as f64,
            bold: keys,
            light: vec![],
        },
    )?;
    chart
        .configure_mesh()
        .x_desc(clean(x_label, LABEL_MAX_CHARS))
        .axis_desc_style(text_style(14.0))
        .label_style(lstyle)
        .x_labels(8)
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .disable_y_mesh()
        .axis_style(RGBColor(90, 90, 90))
        .x_label_formatter(&|v: &f64| fmt_num(*v))
        .y_label_formatter(&fmt)
        .draw()?;
    let bar_gap = if n > 10 { 0.1 } else { 0.2 };
    chart.draw_series(it.iter().enumerate().map(|(k, (_, v))| {
        let y = (n - 1 - k) as f64;
        Rectangle::new(
            [(0.0, y + bar_gap), (*v, y + 1.0 - bar_gap)],
            color(0).filled(),
        )
    }))?;
    let vstyle = text_style(11.0).pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(it.iter().enumerate().map(|(k, (_, v))| {
        let y = (n - 1 - k) as f64 + 0.5;
        Text::new(format!(" {}", fmt_num(*v)), (v.max(0.0), y), vstyle.clone())
    }))?;
    Ok(())
}

/// Thin vertical bars `(t, lo, hi)` at pixel resolution: per time column, quantise the
/// intervals to `rows` rows and merge overlapping / touching ones.
fn thin_vbars(
    segs: &[(f64, f64, f64)],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Vec<(f64, f64, f64)> {
    let valid = segs
        .iter()
        .filter(|(t, s, l)| t.is_finite() && s.is_finite() && l.is_finite());
    let raw: Vec<(f64, f64, f64)> = valid
        .map(|&(t, s, l)| (t, s.min(s + l), s.max(s + l)))
        .collect();
    if raw.len() <= THIN_ABOVE || x1 <= x0 || y1 <= y0 {
        return raw;
    }
    let rows = 1200.0;
    let col = |t: f64| {
        (((t - x0) / (x1 - x0)) * THIN_COLUMNS as f64)
            .floor()
            .max(0.0) as i64
    };
    let row = |v: f64| ((v - y0) / (y1 - y0) * rows).floor() as i64;
    // column -> (row lo, row hi, lo, hi, t)
    type Cell = (i64, i64, f64, f64, f64);
    let mut by_col: BTreeMap<i64, Vec<Cell>> = BTreeMap::new();
    for (t, lo, hi) in raw {
        by_col
            .entry(col(t))
            .or_default()
            .push((row(lo), row(hi), lo, hi, t));
    }
    let mut out = Vec::new();
    for (_, mut v) in by_col {
        v.sort_by_key(|e| e.0);
        let mut cur = v[0];
        for e in v.into_iter().skip(1) {
            if e.0 <= cur.1 + 1 {
                cur.1 = cur.1.max(e.1);
                cur.2 = cur.2.min(e.2);
                cur.3 = cur.3.max(e.3);
            } else {
                out.push((cur.4, cur.2, cur.3));
                cur = e;
            }
        }
        out.push((cur.4, cur.2, cur.3));
    }
    out
}

fn time_sequence<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    data: &[(f64, f64, f64)],
    retransmitted: &[(f64, f64, f64)],
    acks: &[(f64, f64)],
    window: &[(f64, f64)],
) -> Res {
    let (x_label, y_label) = (
        "time since capture start (s)",
        "relative sequence number (bytes)",
    );
    let c_data = RGBColor(31, 119, 180);
    let c_rtx = RGBColor(214, 39, 40);
    let c_ack = RGBColor(44, 160, 44);
    let c_win = RGBColor(200, 150, 0);
    let ok3 = |&&(t, s, l): &&(f64, f64, f64)| t.is_finite() && s.is_finite() && l.is_finite();
    let ok2 = |&&(t, a): &&(f64, f64)| t.is_finite() && a.is_finite();
    let mut legend = Vec::new();
    for (present, name, c, sw) in [
        (
            data.iter().any(|p| ok3(&p)),
            "data segments",
            c_data,
            Swatch::Line,
        ),
        (
            retransmitted.iter().any(|p| ok3(&p)),
            "retransmissions",
            c_rtx,
            Swatch::Line,
        ),
        (acks.iter().any(|p| ok2(&p)), "ACK", c_ack, Swatch::Line),
        (
            window.iter().any(|p| ok2(&p)),
            "receive window (ACK + window)",
            c_win,
            Swatch::Line,
        ),
    ] {
        if present {
            legend.push((name.to_string(), c, sw));
        }
    }
    let body = header(root, title, &legend)?;
    let xs = data
        .iter()
        .chain(retransmitted)
        .filter(ok3)
        .map(|p| p.0)
        .chain(acks.iter().chain(window).filter(ok2).map(|p| p.0));
    let Some((x0, x1)) = min_max(xs) else {
        return no_data(&body, x_label, y_label);
    };
    let ys = data
        .iter()
        .chain(retransmitted)
        .filter(ok3)
        .flat_map(|p| [p.1, p.1 + p.2])
        .chain(acks.iter().chain(window).filter(ok2).map(|p| p.1));
    let (y0, y1) = min_max(ys).unwrap_or((0.0, 1.0));
    let (x0, x1) = range(x0, x1, 0.0);
    let (y0, y1) = range(y0, y1, 0.03);
    let mut chart = chart_on(&body, 80).build_cartesian_2d(x0..x1, y0..y1)?;
    mesh!(
        chart,
        x_label,
        y_label,
        &|v: &f64| fmt_num(*v),
        &|v: &f64| fmt_num(*v)
    );
    for (pts, c) in [(window, c_win), (acks, c_ack)] {
        let p = steps(&thin_line(pts, x0, x1));
        if !p.is_empty() {
            chart.draw_series(LineSeries::new(p, c.stroke_width(1)))?;
        }
    }
    for (segs, c, w) in [(data, c_data, 1), (retransmitted, c_rtx, 3)] {
        let bars = thin_vbars(segs, (x0, x1), (y0, y1));
        chart.draw_series(
            bars.into_iter()
                .map(|(t, lo, hi)| PathElement::new(vec![(t, lo), (t, hi)], c.stroke_width(w))),
        )?;
        // Short horizontal ticks at the ends of retransmitted segments make them stand out.
        if w == 3 && segs.len() <= 500 {
            let dx = (x1 - x0) / 250.0;
            chart.draw_series(segs.iter().filter(ok3).flat_map(|&(t, s, l)| {
                [s, s + l]
                    .map(|y| PathElement::new(vec![(t - dx, y), (t + dx, y)], c.stroke_width(2)))
            }))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn samples() -> Vec<(&'static str, Chart)> {
        let t: Vec<f64> = (0..300).map(|i| i as f64 * 0.1).collect();
        let lines = Chart::Lines {
            title: "Throughput per direction".into(),
            x_label: "time since capture start (s)".into(),
            y_label: "throughput (Mbit/s)".into(),
            series: vec![
                Series::new(
                    "client → server",
                    t.iter()
                        .map(|&x| (x, 40.0 + 30.0 * (x / 3.0).sin()))
                        .collect(),
                ),
                Series::new(
                    "server → client",
                    t.iter()
                        .map(|&x| (x, 5.0 + 2.0 * (x / 2.0).cos()))
                        .collect(),
                ),
            ],
        };
        let bars = Chart::Bars {
            title: "Packets per second".into(),
            x_label: "time since capture start (s)".into(),
            y_label: "packets per 1 s bin".into(),
            bin_width: 1.0,
            series: vec![
                Series::new(
                    "TCP",
                    (0..30)
                        .map(|i| (i as f64, 100.0 + (i * 37 % 50) as f64))
                        .collect(),
                ),
                Series::new(
                    "UDP",
                    (0..30)
                        .map(|i| (i as f64, 20.0 + (i * 13 % 30) as f64))
                        .collect(),
                ),
                Series::new(
                    "ICMP",
                    (0..30)
                        .map(|i| (i as f64, if i % 7 == 0 { 15.0 } else { 0.0 }))
                        .collect(),
                ),
            ],
        };
        let rtts: Vec<(f64, f64)> = (1..2000)
            .map(|i| {
                (
                    0.05 * (1.0
                        + (i as f64 * 0.37).sin().abs() * 10f64.powf((i % 50) as f64 / 15.0)),
                    0.0,
                )
            })
            .collect();
        let cdf = Chart::Cdf {
            title: "Handshake RTT".into(),
            x_label: "RTT (ms)".into(),
            series: vec![
                Series::new("SYN → SYN-ACK", rtts.clone()),
                Series::new(
                    "SYN-ACK → ACK",
                    rtts.iter().map(|p| (p.0 * 3.0, 0.0)).collect(),
                ),
            ],
        };
        let hist = Chart::Histogram {
            title: "DNS response time".into(),
            x_label: "response time (ms)".into(),
            edges: vec![
                0.0,
                1.0,
                2.0,
                5.0,
                10.0,
                20.0,
                50.0,
                100.0,
                200.0,
                500.0,
                1000.0,
                f64::INFINITY,
            ],
            counts: vec![12, 140, 380, 220, 90, 40, 8, 3, 1, 0, 2],
        };
        let cats = Chart::Categories {
            title: "DNS response codes".into(),
            x_label: "responses (count)".into(),
            items: vec![
                ("NOERROR".into(), 1523.0),
                ("NXDOMAIN".into(), 312.0),
                ("SERVFAIL".into(), 41.0),
                ("REFUSED".into(), 3.0),
                ("timeout (no response)".into(), 57.0),
            ],
        };
        let mut data = vec![];
        let mut rtx = vec![];
        let mut acks = vec![];
        let mut win = vec![];
        let mut seq: f64 = 0.0;
        for i in 0..400 {
            let t = i as f64 * 0.005 + if i > 200 { 0.3 } else { 0.0 };
            data.push((t, seq, 1448.0));
            if i == 200 {
                rtx.push((t + 0.3, seq, 1448.0));
            }
            seq += 1448.0;
            let ack: f64 = if (150..=200).contains(&i) {
                150.0 * 1448.0
            } else {
                seq - 10.0 * 1448.0
            };
            acks.push((t + 0.02, ack.max(0.0)));
            win.push((t + 0.02, ack.max(0.0) + 65535.0 * 2.0));
        }
        let ts = Chart::TimeSequence {
            title: "TCP 10.0.0.1:443 → 10.0.0.2:51234".into(),
            data,
            retransmitted: rtx,
            acks,
            window: win,
        };
        vec![
            ("lines", lines),
            ("bars", bars),
            ("cdf", cdf),
            ("histogram", hist),
            ("categories", cats),
            ("timeseq", ts),
        ]
    }

    fn empties() -> Vec<Chart> {
        vec![
            Chart::Lines {
                title: "t".into(),
                x_label: "x (s)".into(),
                y_label: "y".into(),
                series: vec![],
            },
            Chart::Lines {
                title: "t".into(),
                x_label: "x (s)".into(),
                y_label: "y".into(),
                series: vec![
                    Series::new("a", vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)]),
                    Series::new("b", vec![]),
                ],
            },
            Chart::Bars {
                title: "t".into(),
                x_label: "x".into(),
                y_label: "y".into(),
                bin_width: f64::NAN,
                series: vec![],
            },
            Chart::Cdf {
                title: "t".into(),
                x_label: "x".into(),
                series: vec![Series::new("a", vec![])],
            },
            Chart::Histogram {
                title: "t".into(),
                x_label: "x".into(),
                edges: vec![],
                counts: vec![],
            },
            Chart::Histogram {
                title: "t".into(),
                x_label: "x".into(),
                edges: vec![1.0],
                counts: vec![5],
            },
            Chart::Categories {
                title: "t".into(),
                x_label: "x".into(),
                items: vec![],
            },
            Chart::TimeSequence {
                title: "t".into(),
                data: vec![],
                retransmitted: vec![],
                acks: vec![],
                window: vec![],
            },
        ]
    }

    fn check_svg(s: &str) {
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(100)]);
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("http").count(), 1, "only the xmlns may be a URL");
        assert!(s.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(!s.contains("<image"));
    }

    fn check_png(p: &[u8]) {
        assert!(p.starts_with(b"\x89PNG\r\n\x1a\n"));
        let dec = ::png::Decoder::new(std::io::Cursor::new(p));
        let reader = dec.read_info().expect("decodes");
        assert_eq!((reader.info().width, reader.info().height), (WIDTH, HEIGHT));
    }

    #[test]
    fn charts_every_kind_renders_svg_and_png() {
        let dir = std::path::Path::new("/tmp/charts");
        let _ = std::fs::create_dir_all(dir);
        for (name, c) in samples() {
            let s = svg(&c).unwrap();
            check_svg(&s);
            let p = png(&c).unwrap();
            check_png(&p);
            let _ = std::fs::write(dir.join(format!("{name}.png")), &p);
            let _ = std::fs::write(dir.join(format!("{name}.svg")), &s);
        }
    }

    #[test]
    fn charts_empty_inputs_say_no_data() {
        for c in empties() {
            let s = svg(&c).unwrap();
            check_svg(&s);
            assert!(s.contains("no data"), "{c:?}");
            check_png(&png(&c).unwrap());
        }
        let _ = std::fs::write("/tmp/charts/empty.png", png(&empties()[0]).unwrap());
    }

    #[test]
    fn charts_hostile_strings_are_escaped() {
        let evil = "<script>alert(1)</script>&\"'\u{202E}\u{0}\u{7}x";
        let s1 = vec![
            Series::new(evil, vec![(0.0, 1.0), (1.0, 2.0)]),
            Series::new(evil, vec![(0.0, 2.0)]),
        ];
        let charts = vec![
            Chart::Lines {
                title: evil.into(),
                x_label: evil.into(),
                y_label: evil.into(),
                series: s1.clone(),
            },
            Chart::Bars {
                title: evil.into(),
                x_label: evil.into(),
                y_label: evil.into(),
                bin_width: 1.0,
                series: s1.clone(),
            },
            Chart::Cdf {
                title: evil.into(),
                x_label: evil.into(),
                series: s1.clone(),
            },
            Chart::Histogram {
                title: evil.into(),
                x_label: evil.into(),
                edges: vec![0.0, 1.0],
                counts: vec![3],
            },
            Chart::Categories {
                title: evil.into(),
                x_label: evil.into(),
                items: vec![(evil.into(), 3.0), ("ok".into(), 1.0)],
            },
            Chart::TimeSequence {
                title: evil.into(),
                data: vec![(0.0, 0.0, 10.0)],
                retransmitted: vec![],
                acks: vec![],
                window: vec![],
            },
        ];
        for c in charts {
            let s = svg(&c).unwrap();
            check_svg(&s);
            assert!(!s.to_ascii_lowercase().contains("<script"), "{s}");
            assert!(s.contains("&lt;script&gt;"));
            assert!(s.contains("&amp;&quot;&apos;"));
            assert!(!s.contains('\u{202E}') && !s.contains('\u{0}') && !s.contains('\u{7}'));
            check_png(&png(&c).unwrap());
        }
    }

    #[test]
    fn charts_large_inputs_are_fast_and_small() {
        let n = 100_000;
        let big: Vec<(f64, f64)> = (0..n)
            .map(|i| (i as f64 * 0.001, ((i * 7919) % 1000) as f64))
            .collect();
        let segs: Vec<(f64, f64, f64)> = (0..n)
            .map(|i| (i as f64 * 0.001, i as f64 * 1448.0, 1448.0))
            .collect();
        let acks: Vec<(f64, f64)> = (0..n)
            .map(|i| (i as f64 * 0.001 + 0.01, i as f64 * 1448.0))
            .collect();
        let charts = vec![
            Chart::Lines {
                title: "big".into(),
                x_label: "t (s)".into(),
                y_label: "v".into(),
                series: vec![Series::new("a", big.clone()), Series::new("b", big.clone())],
            },
            Chart::Bars {
                title: "big".into(),
                x_label: "t (s)".into(),
                y_label: "v".into(),
                bin_width: 0.001,
                series: vec![Series::new("a", big.clone())],
            },
            Chart::Cdf {
                title: "big".into(),
                x_label: "v".into(),
                series: vec![Series::new("a", big.clone())],
            },
            Chart::Histogram {
                title: "big".into(),
                x_label: "v".into(),
                edges: (0..=n).map(|i| i as f64).collect(),
                counts: (0..n as u64).map(|i| i % 100).collect(),
            },
            Chart::Categories {
                title: "big".into(),
                x_label: "v".into(),
                items: (0..n).map(|i| (format!("c{i}"), i as f64)).collect(),
            },
            Chart::TimeSequence {
                title: "big".into(),
                data: segs.clone(),
                retransmitted: segs[..5000].to_vec(),
                acks: acks.clone(),
                window: acks,
            },
        ];
        for c in charts {
            let t = Instant::now();
            let s = svg(&c).unwrap();
            let ts = t.elapsed();
            let t = Instant::now();
            let p = png(&c).unwrap();
            let tp = t.elapsed();
            check_png(&p);
            if let Chart::TimeSequence { .. } = c {
                let _ = std::fs::create_dir_all("/tmp/charts");
                let _ = std::fs::write("/tmp/charts/timeseq_100k.png", &p);
            }
            assert!(s.len() < 2_000_000, "svg too big: {} bytes", s.len());
            eprintln!(
                "{:?}: svg {} bytes in {:?}, png in {:?}",
                std::mem::discriminant(&c),
                s.len(),
                ts,
                tp
            );
            // Generous bound for slow debug builds on a busy 2-core machine.
            assert!(
                ts.as_secs_f64() < 2.0 && tp.as_secs_f64() < 2.0,
                "svg {ts:?} png {tp:?}"
            );
        }
    }

    #[test]
    fn charts_number_format() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(1.5), "1.5");
        assert_eq!(fmt_num(0.05), "0.05");
        assert_eq!(fmt_num(1234.0), "1234");
        assert_eq!(fmt_num(12_500.0), "12.5k");
        assert_eq!(fmt_num(1_050_000.0), "1.05M");
        assert_eq!(fmt_num(-2e9), "-2G");
        assert_eq!(fmt_num(f64::INFINITY), "+∞");
    }
}
