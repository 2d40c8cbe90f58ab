//! Stacked bars over time (events, drops per time bin).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    chart_label, chart_on, color, fmt_num, header, legend_for, min_max, no_data, text_style,
    value_range, Res, Series, Swatch, GRID, LABEL_MAX_CHARS, MAX_BARS, MAX_SERIES,
};

pub(super) fn bars<DB: DrawingBackend>(
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
            chart_label(x_label, LABEL_MAX_CHARS),
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
