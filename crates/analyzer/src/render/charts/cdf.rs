//! Cumulative distribution curves (RTT distribution).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    chart_label, chart_on, color, fmt_num, header, legend_for, min_max, no_data, range, text_style,
    thin_line, Keyed, Res, Series, Swatch, GRID, LABEL_MAX_CHARS, MAX_SERIES,
};

pub(super) fn cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    series: &[Series],
) -> Res {
    let series = &series[..series.len().min(MAX_SERIES)];
    let body = header(root, title, &legend_for(series, Swatch::Line))?;
    let y_label = "fraction of values ≤ x";
    let points = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let Some((vmin, vmax)) = min_max(points().map(|p| p.0)) else {
        return no_data(&body, x_label, y_label);
    };
    // Positive values over more than two decades: a log scale.
    let log_span =
        min_max(points().map(|p| p.0).filter(|v| *v > 0.0)).filter(|(a, b)| b / a > 100.0);
    let log = log_span.is_some();
    let (x0, x1) = match log_span {
        Some((a, b)) => (a.log10().floor(), b.log10().ceil()),
        None => range(vmin, vmax, 0.0),
    };
    let x_desc = if log {
        format!("{} (log scale)", chart_label(x_label, LABEL_MAX_CHARS))
    } else {
        x_label.to_string()
    };
    // Curves in chart coordinates, thinned to the pixel columns when long.
    let curves: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            let p: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|p| !log || p.0 > 0.0)
                .map(|&(v, f)| (if log { v.log10() } else { v }, f))
                .collect();
            thin_line(&p, x0, x1)
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
