//! tcptrace-style time-sequence graph of one TCP flow direction.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    chart_label, chart_on, fmt_num, header, min_max, no_data, range, steps, text_style, thin_line,
    Res, Swatch, GRID, LABEL_MAX_CHARS, THIN_ABOVE, THIN_COLUMNS,
};

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

pub(super) fn time_sequence<DB: DrawingBackend>(
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
