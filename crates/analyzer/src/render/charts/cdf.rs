//! Cumulative distribution curves (RTT distribution).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    chart_label, chart_on, color, fmt_num, header, legend_for, min_max, no_data, range, text_style,
    Keyed, Res, Series, Swatch, GRID, LABEL_MAX_CHARS, MAX_SERIES,
};

/// Number of points kept for a thinned CDF curve.
const CDF_POINTS: usize = 1500;

pub(super) fn cdf<DB: DrawingBackend>(
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
        format!("{} (log scale)", chart_label(x_label, LABEL_MAX_CHARS))
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
