//! Admission as kube-apiserver runs it for a custom resource, without I/O: which requests a policy or webhook
//! applies to ([`matching`]), the CEL environment of policies ([`cel`], [`authorizer`]), the evaluation of
//! ValidatingAdmissionPolicies ([`validating`]), MutatingAdmissionPolicies ([`mutating`]) and the AdmissionReview
//! exchange of webhooks ([`webhook`]).

pub mod authorizer;
pub mod cel;
pub mod matching;
pub mod mutating;
pub mod validating;
pub mod webhook;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::user::UserInfo;

/// The operation being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to an existing object.
    Update,
    /// A deletion.
    Delete,
}

impl Operation {
    /// The name policies and webhooks see: CREATE, UPDATE, DELETE.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }
}

/// Everything admission looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// The operation.
    pub operation: Operation,
    /// API group of the resource.
    pub group: &'a str,
    /// API version of the resource.
    pub version: &'a str,
    /// Resource plural.
    pub resource: &'a str,
    /// Subresource ("" for the main resource).
    pub subresource: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// True when the resource is namespaced.
    pub namespaced: bool,
    /// Namespace ("" for cluster-scoped resources).
    pub namespace: &'a str,
    /// The name ("" on a create with generateName before the name is generated, and for each item of a
    /// deletecollection).
    pub name: &'a str,
    /// The object as it would be written (None on delete).
    pub object: Option<&'a Value>,
    /// The object as it is (None on create).
    pub old_object: Option<&'a Value>,
    /// The caller.
    pub user: &'a UserInfo,
    /// True for dry-run requests.
    pub dry_run: bool,
    /// The options object of the request: CreateOptions, UpdateOptions or DeleteOptions.
    pub options: Option<&'a Value>,
}
