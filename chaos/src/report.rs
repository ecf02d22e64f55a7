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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place_or_appended() {
        let doc = "# T\n\n<!-- a:begin -->\nold\n<!-- a:end -->\n\ntail\n";
        assert_eq!(replace_section(doc, "a", "new\n"), "# T\n\n<!-- a:begin -->\nnew\n<!-- a:end -->\n\ntail\n");
        assert_eq!(replace_section("# T\n", "b", "x"), "# T\n\n<!-- b:begin -->\nx\n<!-- b:end -->\n");
    }
}
