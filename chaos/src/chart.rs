//! A small SVG line chart: one panel per series over time, as the soak run records them.

use std::fmt::Write;

/// One panel: a series of (minutes, value) points.
pub struct Panel {
    /// The title of the panel (what and its unit).
    pub title: String,
    /// The points, in time order.
    pub points: Vec<(f64, f64)>,
}

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

/// The chart: panels stacked vertically, a shared time axis in minutes, each value axis from zero.
pub fn render(title: &str, panels: &[Panel]) -> String {
    let total_h = 30.0 + H * panels.len() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total_h}" viewBox="0 0 {W} {total_h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{}" y="20" text-anchor="middle" font-size="15">{}</text>"#, W / 2.0, escape(title));
    let t_max = panels.iter().flat_map(|p| p.points.iter().map(|(t, _)| *t)).fold(0.0_f64, f64::max).max(1.0);
    for (i, p) in panels.iter().enumerate() {
        let oy = 30.0 + H * i as f64;
        let v_max = nice(p.points.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(1.0) * 1.1);
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let x = |t: f64| LEFT + t / t_max * pw;
        let y = |v: f64| oy + TOP + ph - v / v_max * ph;
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, LEFT + pw / 2.0, oy + 18.0, escape(&p.title));
        for k in 0..=4 {
            let v = v_max * k as f64 / 4.0;
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{4}</text>"##,
                y(v),
                LEFT + pw,
                LEFT - 6.0,
                y(v) + 4.0,
                trim(v)
            );
        }
        for k in 0..=6 {
            let t = t_max * k as f64 / 6.0;
            let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, x(t), oy + TOP + ph + 16.0, trim(t));
        }
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">minutes</text>"#, LEFT + pw / 2.0, oy + TOP + ph + 32.0);
        let path: Vec<String> = p.points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
        let _ = writeln!(s, r##"<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{}"/>"##, path.join(" "));
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2, 5 times a power of ten that is at least `v`.
fn nice(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(10.0 * p)
}

fn trim(v: f64) -> String {
    if v >= 10.0 || v == v.round() { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_one_line_per_panel_and_nice_axes() {
        let svg = render("t", &[Panel { title: "a".into(), points: vec![(0.0, 1.0), (2.0, 3.0)] }, Panel { title: "b".into(), points: vec![] }]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(nice(7.3), 10.0);
        assert_eq!(nice(130.0), 200.0);
    }
}
