//! Field paths as k8s.io/apimachinery's field.Path prints them: `spec.users[alice].roles[0]`.

use std::fmt;

/// A field path; the empty path is the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    /// A path starting at `root` (`spec`, or empty for the root itself).
    pub(crate) fn new(root: &str) -> Path {
        Path(root.to_string())
    }

    /// `parent.name`, or `name` at the root.
    pub(crate) fn child(&self, name: &str) -> Path {
        if self.0.is_empty() { Path(name.to_string()) } else { Path(format!("{}.{name}", self.0)) }
    }

    /// `parent[key]`: a map key.
    pub(crate) fn key(&self, key: &str) -> Path {
        Path(format!("{}[{key}]", self.0))
    }

    /// `parent[i]`: a list index.
    pub(crate) fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    /// The path, or `<root>` when empty (for messages about the schema itself).
    pub(crate) fn or_root(&self) -> &str {
        if self.0.is_empty() { "<root>" } else { &self.0 }
    }

    /// The path as text; field.Path prints a nil path as `<nil>`, which callers choose explicitly.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
