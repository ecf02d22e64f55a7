//! Errors of the storage layer. Each maps to exactly one Kubernetes Status at the HTTP edge, and every backend
//! failure becomes one here, in one place: [`StorageError::about`] for an answer about a served object (named
//! for it, in the user's terms), `From<BackendError>` for the others.

use apis::status::{Status, StatusCause, StatusDetails, qualified};

use crate::backend::BackendError;
use crate::projection::Projection;

/// The detail of a 409 Conflict for a write against a version that is no longer the object's.
pub(crate) const MODIFIED: &str = "the object has been modified; please apply your changes to the latest version and try again";

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A client-visible API error (not found, conflict, invalid, ...), already phrased for the served resource.
    #[error("{}", .0.message)]
    Api(Box<Status>),
    /// The backend could not be reached or failed; answered as 503 or 500.
    #[error("backend: {0}")]
    Backend(String),
    /// A fault of this server.
    #[error("internal: {0}")]
    Internal(String),
}

impl StorageError {
    /// The Status a client receives.
    pub fn to_status(&self) -> Status {
        match self {
            Self::Api(s) => (**s).clone(),
            Self::Backend(m) => Status::unavailable(format!("the backend is unavailable: {m}")),
            Self::Internal(m) => Status::internal(m.clone()),
        }
    }

    /// A backend failure while serving the object `name` through `projection`, as the client should read it:
    /// about the served object, never the backing one (its kind, group and name, and label keys and field paths
    /// as the user wrote them). Reasons and codes are kept; failures that are not about the object (the
    /// backend down or failing) are [`StorageError::Backend`].
    pub fn about(e: BackendError, projection: &dyn Projection, name: &str) -> Self {
        let i = projection.info();
        let BackendError::Status(s) = &e else { return e.into() };
        match (s.code, s.reason.as_str()) {
            (404, _) => Status::not_found(&i.group, &i.plural, name).into(),
            (409, "AlreadyExists") => Status::already_exists(&i.group, &i.plural, name).into(),
            (409, _) => {
                let detail = if s.message.contains("Precondition failed") {
                    s.message.split_once(": ").map(|(_, d)| d.to_string()).unwrap_or_else(|| s.message.clone())
                } else {
                    MODIFIED.to_string()
                };
                Status::conflict(&i.group, &i.plural, name, &detail).into()
            }
            (400 | 422, _) => in_user_terms(s, projection, name).into(),
            // The object is too large once translated and stored: the client's to shrink, not the backend down.
            (413, _) => Status::too_large(format!("{} \"{name}\" is too large to store: {}", qualified(&i.kind, &i.group), s.message)).into(),
            (401 | 403 | 429, _) => Status { code: s.code, reason: s.reason.clone(), message: s.message.clone(), ..Status::bad_request("") }.into(),
            _ => e.into(),
        }
    }
}

/// A backend failure not about a served object: an expired resourceVersion stays 410 (clients relist);
/// anything else means the backend cannot serve us.
impl From<BackendError> for StorageError {
    fn from(e: BackendError) -> Self {
        match e.code() {
            Some(410) => Status::expired(e.to_string()).into(),
            _ => Self::Backend(e.to_string()),
        }
    }
}

impl From<Status> for StorageError {
    fn from(s: Status) -> Self {
        Self::Api(Box::new(s))
    }
}

/// A 400 or 422 about a backing object, rewritten about the served object `name`: the served kind, group and
/// name; causes with the user's field paths and keys; the message rebuilt from them as kube-apiserver builds it.
fn in_user_terms(s: &kube::core::Status, projection: &dyn Projection, name: &str) -> Status {
    let i = projection.info();
    let causes: Vec<StatusCause> = s
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .map(|c| StatusCause { reason: c.reason.clone(), message: user_text(&c.message, projection), field: user_field(&c.field, projection) })
        .collect();
    // What follows `<Kind>.<group> "<backing name>" is invalid: ` (or the whole message of another shape).
    let rest = s.message.split_once(" is invalid: ").map(|(_, r)| r).unwrap_or(&s.message);
    let clause = |c: &StatusCause| if c.field.is_empty() { c.message.clone() } else { format!("{}: {}", c.field, c.message) };
    let detail = match causes.as_slice() {
        [] => user_text(rest, projection),
        [one] => clause(one),
        many => format!("[{}]", many.iter().map(clause).collect::<Vec<_>>().join(", ")),
    };
    let message =
        if s.code == 422 || s.message.contains(" is invalid: ") { format!("{} \"{name}\" is invalid: {detail}", qualified(&i.kind, &i.group)) } else { detail };
    let details = StatusDetails { name: name.into(), group: i.group.clone(), kind: i.kind.clone(), causes, ..Default::default() };
    Status { code: s.code, reason: s.reason.clone(), message, details: Some(details), ..Status::bad_request("") }
}

/// `text` with every quoted backing label or annotation key replaced by the user's.
fn user_text(text: &str, projection: &dyn Projection) -> String {
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('"');
    out.push_str(parts.next().unwrap_or_default());
    // Odd parts are inside quotes.
    for (n, part) in parts.enumerate() {
        out.push('"');
        match projection.user_key(part) {
            Some(key) if n % 2 == 0 => out.push_str(&key),
            _ => out.push_str(part),
        }
    }
    out
}

/// A backing field path as the user's: the projection's mapping, then keys in brackets (`metadata.labels[k]`).
fn user_field(field: &str, projection: &dyn Projection) -> String {
    let field = projection.user_field(field);
    let Some((head, tail)) = field.split_once('[') else { return field };
    match tail.split_once(']') {
        Some((key, after)) => {
            let key = projection.user_key(key).unwrap_or_else(|| key.to_string());
            format!("{head}[{key}]{after}")
        }
        None => field,
    }
}
