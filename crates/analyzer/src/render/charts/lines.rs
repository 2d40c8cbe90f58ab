//! Lines over time (throughput, RTT over time).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    chart_label, chart_on, color, fmt_num, header, legend_for, min_max, no_data, range, text_style,
    thin_line, value_range, Res, Series, Swatch, GRID, LABEL_MAX_CHARS, MAX_SERIES,
};

pub(super) fn lines<DB: DrawingBackend>(
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
