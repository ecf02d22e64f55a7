//! docs/benchmarks-latency.svg: p50 latency against N, one panel per operation, one line per target, log-log.

use std::fmt::Write;

use crate::measure::{Op, Target};
use crate::report::{Run, ms, thousands};

const PANEL_W: f64 = 440.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 44.0;
const LEGEND: f64 = 56.0;

fn color(t: Target) -> &'static str {
    match t {
        Target::Aggregated => "#d62728",
        Target::Direct => "#ff7f0e",
        Target::Crd => "#1f77b4",
        Target::HelmRelease => "#2ca02c",
        Target::Etcd => "#7f7f7f",
    }
}

/// Renders the chart for `clients` concurrent clients.
pub fn render(runs: &[Run], clients: usize) -> String {
    let panels = [Op::ListAll, Op::ListNamespace, Op::Get, Op::Create];
    let (w, h) = (2.0 * PANEL_W, LEGEND + 2.0 * PANEL_H);
    let mut s = String::new();
    let _ = writeln!(s, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#);
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="15">p50 latency (ms) against apps loaded, {clients} client{}, log-log</text>"#,
        w / 2.0,
        if clients == 1 { "" } else { "s" }
    );
    let mut x = 20.0;
    for t in Target::ALL {
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="38" x2="{}" y2="38" stroke="{}" stroke-width="3"/><text x="{}" y="42">{}</text>"#,
            x + 22.0,
            color(t),
            x + 28.0,
            t.label()
        );
        // About 7 px per character at 12 px.
        x += 28.0 + 6.5 * t.label().len() as f64 + 28.0;
    }
    for (p, op) in panels.into_iter().enumerate() {
        let (ox, oy) = ((p % 2) as f64 * PANEL_W, LEGEND + (p / 2) as f64 * PANEL_H);
        panel(&mut s, runs, clients, op, ox, oy);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, runs: &[Run], clients: usize, op: Op, ox: f64, oy: f64) {
    let (x0, x1, y0, y1) = (ox + LEFT, ox + PANEL_W - RIGHT, oy + TOP, oy + PANEL_H - BOTTOM);
    let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#, (x0 + x1) / 2.0, oy + 20.0, op.label());
    let points = |t: Target| -> Vec<(usize, f64)> {
        runs.iter().filter_map(|r| r.cells.get(&(op, clients, t)).filter(|x| x.count > 0 && x.p50_ms > 0.0).map(|x| (r.n, x.p50_ms))).collect()
    };
    let all: Vec<f64> = Target::ALL.into_iter().flat_map(points).map(|(_, v)| v).collect();
    let _ = writeln!(s, r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="#999"/>"##, x1 - x0, y1 - y0);
    if all.is_empty() || runs.is_empty() {
        let _ = writeln!(s, r##"<text x="{}" y="{}" text-anchor="middle" fill="#999">no data</text>"##, (x0 + x1) / 2.0, (y0 + y1) / 2.0);
        return;
    }
    // y: whole decades around the data; x: log N between the smallest and largest N.
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).log10().floor();
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max).log10().ceil().max(lo + 1.0);
    let y = |v: f64| y1 - (v.log10() - lo) / (hi - lo) * (y1 - y0);
    let ns: Vec<f64> = runs.iter().map(|r| (r.n as f64).log10()).collect();
    let (nlo, nhi) = (ns.iter().copied().fold(f64::INFINITY, f64::min), ns.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let pad = 24.0;
    let x = |n: usize| {
        if nhi > nlo { x0 + pad + ((n as f64).log10() - nlo) / (nhi - nlo) * (x1 - x0 - 2.0 * pad) } else { (x0 + x1) / 2.0 }
    };
    let mut d = lo;
    while d <= hi {
        let yy = y(10f64.powf(d));
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{yy:.1}" x2="{x1}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            yy + 4.0,
            tick(d)
        );
        d += 1.0;
    }
    for r in runs {
        let xx = x(r.n);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{y0}" x2="{xx:.1}" y2="{y1}" stroke="#eee"/><text x="{xx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            y1 + 16.0,
            thousands(r.n)
        );
    }
    let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">apps</text>"#, (x0 + x1) / 2.0, y1 + 34.0);
    for t in Target::ALL {
        let pts = points(t);
        if pts.is_empty() {
            continue;
        }
        let line: Vec<String> = pts.iter().map(|&(n, v)| format!("{:.1},{:.1}", x(n), y(v))).collect();
        let _ = writeln!(s, r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#, line.join(" "), color(t));
        for &(n, v) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"><title>{}: {} ms at {}</title></circle>"#,
                x(n),
                y(v),
                color(t),
                t.label(),
                ms(v),
                thousands(n)
            );
        }
    }
}

/// The label of the decade 10^d: 0.01, 0.1, 1, 10, 100 ...
fn tick(d: f64) -> String {
    if d >= 0.0 { format!("{}", 10f64.powf(d).round()) } else { format!("{:.*}", (-d) as usize, 10f64.powf(d)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Stats;

    #[test]
    fn the_chart_is_one_svg_with_a_point_per_measurement() {
        let mut runs = Vec::new();
        for (n, v) in [(1000, 2.0), (10000, 20.0)] {
            let mut r = Run { n, ..Default::default() };
            r.cells.insert((Op::ListAll, 1, Target::Crd), Stats { count: 5, p50_ms: v, ..Default::default() });
            runs.push(r);
        }
        let svg = render(&runs, 1);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("no data").count(), 3, "three panels without data");
    }
}
