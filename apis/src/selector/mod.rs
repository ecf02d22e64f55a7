//! Label and field selectors (`?labelSelector=`, `?fieldSelector=`): parsing, matching, rewriting.
//!
//! Both parsers follow k8s.io/apimachinery v0.37 (`pkg/labels/selector.go`, `pkg/fields/selector.go`) down to
//! their error messages and quirks, so a client gets the answers kube-apiserver would give.

/// Why a selector was rejected; the message is the one kube-apiserver gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector that `labels.Parse` rejects, or a requirement `labels.NewRequirement` rejects.
    #[error("{0}")]
    Label(String),
    /// A field selector that `fields.ParseSelector` rejects.
    #[error("{0}")]
    Field(String),
    /// A field selector names a field the resource does not serve (the wording of CRDs).
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// `Display` and `FromStr` of a selector type with `requirements()` and `parse`: both kinds print and parse
/// their text the same way. Defined before the submodules so that they can use it.
macro_rules! selector_text {
    ($selector:ty) => {
        impl ::std::fmt::Display for $selector {
            /// Comma-separated requirements, a string that parses back to the same selector.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                for (i, r) in self.requirements().iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{r}")?;
                }
                Ok(())
            }
        }

        impl ::std::str::FromStr for $selector {
            type Err = $crate::selector::SelectorError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

mod field;
mod label;
mod lexer;

pub use field::{FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelOperator, LabelRequirement, LabelSelector};
