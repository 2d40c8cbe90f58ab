//! Categories as horizontal bars, largest on top (DNS rcodes, drop reasons).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    chart_label, chart_on, color, fmt_num, header, min_max, no_data, text_style, value_range,
    Keyed, Res, GRID, LABEL_MAX_CHARS,
};

/// At most this many categories; the rest is summed into an "other" bar.
const MAX_CATEGORIES: usize = 15;

pub(super) fn categories<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    items: &[(String, f64)],
) -> Res {
    let body = header(root, title, &[])?;
    let mut it: Vec<(String, f64)> = items
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(n, v)| (chart_label(n, 24), *v))
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
        .x_desc(chart_label(x_label, LABEL_MAX_CHARS))
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
