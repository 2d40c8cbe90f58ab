//! Histograms with given bucket edges (DNS latency).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    chart_label, chart_on, color, fmt_num, header, no_data, text_style, value_range, Keyed, Res,
    GRID, LABEL_MAX_CHARS, MAX_BARS,
};

pub(super) fn histogram<DB: DrawingBackend>(
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
            chart_label(x_label, LABEL_MAX_CHARS),
            merge
        )
    } else {
        chart_label(x_label, LABEL_MAX_CHARS)
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
