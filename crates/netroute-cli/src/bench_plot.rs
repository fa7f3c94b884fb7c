//! The `--plot` figure of `netroute bench`: lookups/s per structure and family (bars),
//! and the reader's lookups/s across the update replay (a line, the replay shaded).
#![forbid(unsafe_code)]

use std::path::Path;

use plotters::prelude::*;

use crate::bench::Report;

/// Writes the SVG.
pub(crate) fn draw(path: &Path, r: &Report) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(520);

    // Bars: every lookups/s row of the fib groups.
    let bars: Vec<(String, f64)> = r
        .rows
        .iter()
        .filter(|x| x.group.starts_with("fib-") && x.unit == "lookups/s")
        .map(|x| {
            let g = x.group.trim_start_matches("fib-");
            (format!("{g} {}", x.name), x.value / 1e6)
        })
        .collect();
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.1;
    let mut c = ChartBuilder::on(&top)
        .caption("FIB lookups (M/s): ours vs prefix-trie", ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(230)
        .build_cartesian_2d(0.0..max, 0..bars.len())
        .map_err(|e| err(&e))?;
    c.configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|i| bars.get(*i).map(|b| b.0.clone()).unwrap_or_default())
        .x_desc("million lookups per second")
        .draw()
        .map_err(|e| err(&e))?;
    c.draw_series(bars.iter().enumerate().map(|(i, (name, v))| {
        let color = if name.contains("prefix-trie") {
            RGBColor(200, 120, 60)
        } else {
            RGBColor(60, 110, 190)
        };
        Rectangle::new([(0.0, i), (*v, i + 1)], color.filled())
    }))
    .map_err(|e| err(&e))?;

    // Line: the reader during the replay.
    let t = &r.replay_timeline;
    let ymax = t.rates.iter().copied().fold(1.0, f64::max) / 1e6 * 1.1;
    let n = t.rates.len().max(2);
    let mut c = ChartBuilder::on(&bottom)
        .caption(
            "IPv4 reader (M lookups/s, 10 ms windows) before, during (shaded) and after the update replay",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..n, 0.0..ymax)
        .map_err(|e| err(&e))?;
    c.configure_mesh()
        .x_desc("window (10 ms)")
        .draw()
        .map_err(|e| err(&e))?;
    c.draw_series(std::iter::once(Rectangle::new(
        [(t.start, 0.0), (t.end, ymax)],
        RGBColor(230, 230, 230).filled(),
    )))
    .map_err(|e| err(&e))?;
    c.draw_series(LineSeries::new(
        t.rates.iter().enumerate().map(|(i, v)| (i, v / 1e6)),
        &RGBColor(60, 110, 190),
    ))
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
