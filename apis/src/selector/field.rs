//! Field selectors: [`FieldSelector`] and the `fields.ParseSelector` parser.

use std::fmt;

use super::SelectorError;

/// The operator of a field requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Eq,
    /// `field!=value`; a missing field counts as the empty string.
    NotEq,
}

/// One term of a field selector, its value unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field path, such as `metadata.name`.
    pub field: String,
    /// `=` or `!=`.
    pub op: FieldOperator,
    /// The value, with `\,`, `\=` and `\\` already unescaped.
    pub value: String,
}

impl fmt::Display for FieldRequirement {
    /// `field=value` or `field!=value`, the value escaped as `fields.EscapeValue`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOperator::Eq => "=",
            FieldOperator::NotEq => "!=",
        };
        let value = self.value.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=");
        write!(f, "{}{op}{value}", self.field)
    }
}

/// A field selector: terms that must all hold. The default selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `?fieldSelector=` syntax as `fields.ParseSelector`. Terms are kept sorted by their
    /// canonical spelling (upstream sorts the raw terms), so the selector prints back to itself.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, op, raw)) = split_term(term) else {
                return Err(SelectorError::Field(format!("invalid selector: '{selector}'; can't understand '{term}'")));
            };
            let value = unescape_value(raw)?;
            // As the identity Transform upstream applies: a term with neither field nor value selects all.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement { field: field.to_string(), op, value });
        }
        Ok(Self::sorted(requirements))
    }

    /// Terms sorted by how they print, the order `parse` and `map_values` both keep.
    fn sorted(mut requirements: Vec<FieldRequirement>) -> Self {
        requirements.sort_by_cached_key(|r| r.to_string());
        Self { requirements }
    }

    /// The terms.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// True when every term holds for the object whose fields `field` looks up; a missing field is "".
    pub fn matches<S: AsRef<str>>(&self, field: impl Fn(&str) -> Option<S>) -> bool {
        self.requirements.iter().all(|r| {
            let have = field(&r.field);
            let equal = have.as_ref().map_or("", |s| s.as_ref()) == r.value;
            equal == (r.op == FieldOperator::Eq)
        })
    }

    /// The same terms with values rewritten by `rewrite(field, value)`: how a selector on an application's
    /// name becomes one on the name of its backing object.
    pub fn map_values(&self, rewrite: impl Fn(&str, &str) -> String) -> Self {
        Self::sorted(self.requirements.iter().map(|r| FieldRequirement { value: rewrite(&r.field, &r.value), ..r.clone() }).collect())
    }

    /// The value of the first `field=value` term on `field` (`RequiresExactMatch`), to narrow a query.
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op == FieldOperator::Eq).map(|r| r.value.as_str())
    }

    /// Fails, as kube-apiserver does for custom resources, on the first field not in `supported`.
    pub fn check_supported(&self, supported: &[&str]) -> Result<(), SelectorError> {
        match self.requirements.iter().find(|r| !supported.contains(&r.field.as_str())) {
            Some(r) => Err(SelectorError::UnsupportedField(r.field.clone())),
            None => Ok(()),
        }
    }
}

// `Display` and `FromStr`, shared with `LabelSelector` (see `mod.rs`).
selector_text!(FieldSelector);

/// The comma-separated terms; a backslash protects the character after it (`splitTerms`).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let (mut start, mut in_slash) = (0, false);
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first operator, `!=` and `==` before `=` (`splitTerm`); the field is never unescaped.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [("!=", FieldOperator::NotEq), ("==", FieldOperator::Eq), ("=", FieldOperator::Eq)];
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        OPERATORS.iter().find(|(op, _)| rest.starts_with(op)).map(|(op, kind)| (&term[..i], *kind, &rest[op.len()..]))
    })
}

/// Undoes `fields.EscapeValue`: only `\\`, `\,` and `\=` are escapes, and `,` or `=` must be escaped.
fn unescape_value(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut in_slash = false;
    for c in raw.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::Field(format!("invalid field selector: invalid escape sequence: \\{c}")));
            }
            out.push(c);
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' || c == '=' {
            // Go prints the rune with %v, that is as its number.
            return Err(SelectorError::Field(format!("invalid field selector: unescaped character in value: {}", c as u32)));
        } else {
            out.push(c);
        }
    }
    if in_slash {
        return Err(SelectorError::Field("invalid field selector: invalid escape sequence: \\".into()));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "field_tests.rs"]
mod tests;
