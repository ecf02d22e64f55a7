//! docs/reliability.md: each tool writes its own section, between markers, and leaves the rest as it is.

use std::path::Path;

use anyhow::{Context, Result};

/// Replaces the section `name` of the document at `path` (between `<!-- name:begin -->` and `<!-- name:end -->`)
/// with `body`; appends the section when the markers are missing.
pub fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, replace_section(&doc, name, body)).with_context(|| format!("writing {}", path.display()))
}

/// The document with section `name` replaced by (or extended with) `body`.
pub fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let (begin, end) = (format!("<!-- {name}:begin -->"), format!("<!-- {name}:end -->"));
    let block = format!("{begin}\n{}\n{end}", body.trim_end());
    match (doc.find(&begin), doc.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &doc[..b], &doc[e + end.len()..]),
        _ => format!("{}{}{block}\n", doc, if doc.is_empty() || doc.ends_with("\n\n") { "" } else { "\n" }),
    }
}

/// A byte count as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The middle value of `values` (the upper one of an even count), 0 for none.
pub fn median(values: impl IntoIterator<Item = u64>) -> u64 {
    let mut v: Vec<u64> = values.into_iter().collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The least-squares slope of `points` (minutes, value), per hour; 0 for fewer than two distinct times.
pub fn slope_per_hour(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mt, mv) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (t, v)| (num + (t - mt) * (v - mv), den + (t - mt) * (t - mt)));
    if den == 0.0 { 0.0 } else { num / den * 60.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_slopes() {
        assert_eq!(median([5, 1, 3]), 3);
        assert_eq!(median([4, 1, 3, 2]), 3);
        assert_eq!(median([]), 0);
        let flat: Vec<(f64, f64)> = (0..60).map(|m| (m as f64, 100.0 + if m % 2 == 0 { 3.0 } else { -3.0 })).collect();
        assert!(slope_per_hour(&flat).abs() < 0.5, "{}", slope_per_hour(&flat));
        let rising: Vec<(f64, f64)> = (0..60).map(|m| (m as f64, 100.0 + m as f64 / 2.0)).collect();
        assert!((slope_per_hour(&rising) - 30.0).abs() < 1e-9);
        assert_eq!(slope_per_hour(&[(1.0, 5.0)]), 0.0);
    }

    #[test]
    fn sections_are_replaced_in_place_or_appended() {
        let doc = "# T\n\n<!-- a:begin -->\nold\n<!-- a:end -->\n\ntail\n";
        assert_eq!(replace_section(doc, "a", "new\n"), "# T\n\n<!-- a:begin -->\nnew\n<!-- a:end -->\n\ntail\n");
        assert_eq!(replace_section("# T\n", "b", "x"), "# T\n\n<!-- b:begin -->\nx\n<!-- b:end -->\n");
    }
}
