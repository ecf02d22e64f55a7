//! Kubernetes `Status` objects (metav1.Status) and the field errors that build Invalid answers.
//!
//! Every error that reaches a client is built here, never as a string literal at the HTTP edge.

use serde::{Deserialize, Serialize};

/// A metav1.Status object, as written on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always "Status".
    pub kind: String,
    /// Always "v1".
    pub api_version: String,
    /// Always empty; present because clients expect the key.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// "Success" or "Failure".
    pub status: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Machine-readable reason (NotFound, AlreadyExists, Invalid, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What the error is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code.
    pub code: u16,
}

/// metav1.StatusDetails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// Name of the object concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Its kind or, for NotFound and friends, its resource (as k8s.io/apiserver does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Its UID, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// One cause per field error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds a client should wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// metav1.StatusCause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StatusCause {
    /// Machine-readable cause (FieldValueInvalid, FieldValueRequired, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// JSON path of the field, in the form `spec.replicas`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// The kinds of field error, as in k8s.io/apimachinery's field.ErrorType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// The field is required but absent.
    Required,
    /// The value is not valid.
    Invalid,
    /// The value is not one of the supported values.
    NotSupported,
    /// The field may not be set (or changed) here.
    Forbidden,
    /// The value is too long.
    TooLong,
    /// The collection has too many items.
    TooMany,
    /// The value appears twice.
    Duplicate,
    /// The field is not known to the schema.
    NotFound,
    /// The type of the value is wrong.
    TypeInvalid,
    /// An unexpected internal error while validating this field.
    Internal,
}

impl FieldErrorKind {
    /// The cause reason written into a Status (`FieldValueInvalid`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Duplicate => "FieldValueDuplicate",
            Self::NotFound => "FieldValueNotFound",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::Internal => "InternalError",
        }
    }

    /// The phrase k8s.io/apimachinery puts between the field and the detail.
    pub fn phrase(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Duplicate => "Duplicate value",
            Self::NotFound => "Not found",
            Self::TypeInvalid => "Invalid value",
            Self::Internal => "Internal error",
        }
    }
}

/// One validation error at one field, the unit an Invalid Status is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of problem it is.
    pub kind: FieldErrorKind,
    /// Path in the form `spec.backup.enabled` or `spec.items[0]`.
    pub field: String,
    /// The offending value, rendered as k8s.io/apimachinery does, when it is shown.
    pub bad_value: Option<serde_json::Value>,
    /// The detail.
    pub detail: String,
}

impl FieldError {
    /// A field error of the given kind.
    pub fn new(kind: FieldErrorKind, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind, field: field.into(), bad_value: None, detail: detail.into() }
    }

    /// The same error, showing the offending value.
    pub fn with_value(mut self, value: serde_json::Value) -> Self {
        self.bad_value = Some(value);
        self
    }

    /// `Required value` at `field`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, detail)
    }

    /// `Invalid value` at `field`, showing `value`.
    pub fn invalid(field: impl Into<String>, value: serde_json::Value, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Invalid, field, detail).with_value(value)
    }

    /// `Forbidden` at `field`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, detail)
    }

    /// The message without the field: `Invalid value: "x": detail`.
    pub fn body(&self) -> String {
        let mut s = self.kind.phrase().to_string();
        // As field.Error.ErrorBody: these kinds never show the value.
        let hides_value = matches!(self.kind, FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong | FieldErrorKind::Internal);
        if let (Some(v), false) = (&self.bad_value, hides_value) {
            s.push_str(": ");
            s.push_str(&render_value(v));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() { write!(f, "{}", self.body()) } else { write!(f, "{}: {}", self.field, self.body()) }
    }
}

/// Renders a bad value the way field.Error does: strings Go-quoted, numbers and booleans bare (floats in Go's
/// `%v` spelling), objects and arrays as JSON.
fn render_value(v: &serde_json::Value) -> String {
    use crate::schema::gofmt;
    match v {
        serde_json::Value::String(s) => gofmt::go_quote(s),
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Number(n) if n.is_f64() => n.as_f64().map(gofmt::go_float_v).unwrap_or_else(|| n.to_string()),
        serde_json::Value::Object(_) | serde_json::Value::Array(_) => gofmt::go_json(v),
        other => other.to_string(),
    }
}

/// Builds Status objects for the standard reasons.
impl Status {
    /// A Failure status with `code`, `reason` and `message`.
    pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            kind: "Status".into(),
            api_version: "v1".into(),
            metadata: Default::default(),
            status: "Failure".into(),
            message: message.into(),
            reason: reason.into(),
            details: None,
            code,
        }
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details = Some(StatusDetails { name: name.into(), group: group.into(), kind: kind.into(), ..Default::default() });
        self
    }

    /// A Success status (a delete that finished at once).
    pub fn success(group: &str, kind: &str, name: &str) -> Self {
        let mut s = Self::failure(200, "", "");
        s.status = "Success".into();
        s.with_details(group, kind, name)
    }

    /// 404: `<resource>.<group> "<name>" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::failure(404, "NotFound", format!("{} \"{name}\" not found", qualified(resource, group))).with_details(group, resource, name)
    }

    /// 404 for a path nothing is served at.
    pub fn not_found_path() -> Self {
        Self::failure(404, "NotFound", "the server could not find the requested resource")
    }

    /// 409: `<resource>.<group> "<name>" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::failure(409, "AlreadyExists", format!("{} \"{name}\" already exists", qualified(resource, group))).with_details(group, resource, name)
    }

    /// 409 Conflict: `Operation cannot be fulfilled on <resource>.<group> "<name>": <detail>`.
    pub fn conflict(group: &str, resource: &str, name: &str, detail: &str) -> Self {
        Self::failure(409, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": {detail}", qualified(resource, group)))
            .with_details(group, resource, name)
    }

    /// 422 Invalid, one cause per field error: `<Kind>.<group> "<name>" is invalid: [...]`.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let list = match errors {
            [one] => one.to_string(),
            many => format!("[{}]", many.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")),
        };
        let gk = qualified(kind, group);
        let mut s = Self::failure(422, "Invalid", format!("{gk} \"{name}\" is invalid: {list}")).with_details(group, kind, name);
        if let Some(d) = s.details.as_mut() {
            d.causes = errors.iter().map(|e| StatusCause { reason: e.kind.reason().into(), message: e.body(), field: e.field.clone() }).collect();
        }
        s
    }

    /// 400 BadRequest with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::failure(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::failure(401, "Unauthorized", message)
    }

    /// 403 Forbidden with the standard wording: `<resource>.<group> "<name>" is forbidden: <reason>`.
    pub fn forbidden(group: &str, resource: &str, name: &str, reason: &str) -> Self {
        let what = if name.is_empty() { qualified(resource, group) } else { format!("{} \"{name}\"", qualified(resource, group)) };
        Self::failure(403, "Forbidden", format!("{what} is forbidden: {reason}")).with_details(group, resource, name)
    }

    /// 403 Forbidden with a free-form message (non-resource requests).
    pub fn forbidden_message(message: impl Into<String>) -> Self {
        Self::failure(403, "Forbidden", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::failure(405, "MethodNotAllowed", message)
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::failure(406, "NotAcceptable", message)
    }

    /// 410 Gone with reason Expired (too old resourceVersion or continue token).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::failure(410, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::failure(413, "RequestEntityTooLarge", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::failure(415, "UnsupportedMediaType", message)
    }

    /// 429 TooManyRequests with a retry hint.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        let mut s = Self::failure(429, "TooManyRequests", message);
        s.details = Some(StatusDetails { retry_after_seconds: Some(retry_after_seconds), ..Default::default() });
        s
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::failure(500, "InternalError", format!("Internal error occurred: {message}"))
    }

    /// 503 ServiceUnavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::failure(503, "ServiceUnavailable", message)
    }

    /// 504 Timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::failure(504, "Timeout", message)
    }

    /// 410 Expired for a watch from resourceVersion `requested` older than the `oldest` one still served.
    pub fn too_old_resource_version(requested: u64, oldest: u64) -> Self {
        Self::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    /// 504 Timeout for a resourceVersion the server has not reached, as k8s.io/apiserver's
    /// `NewTooLargeResourceVersionError` (with NewTimeoutError's "Timeout: " prefix): clients retry after a second.
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        let mut s = Self::timeout(format!("Timeout: Too large resource version: {requested}, current: {current}"));
        let cause = StatusCause { reason: "ResourceVersionTooLarge".into(), message: "Too large resource version".into(), field: String::new() };
        s.details = Some(StatusDetails { causes: vec![cause], retry_after_seconds: Some(1), ..Default::default() });
        s
    }

    /// The object as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}"#.to_vec())
    }
}

/// `resource.group`, or `resource` for the core group.
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_version_errors_are_worded_as_kube_apiserver_words_them() {
        let gone = Status::too_old_resource_version(5, 10);
        assert_eq!((gone.code, gone.reason.as_str(), gone.message.as_str()), (410, "Expired", "too old resource version: 5 (10)"));
        let large = Status::too_large_resource_version(99, 12);
        assert_eq!((large.code, large.reason.as_str()), (504, "Timeout"));
        assert_eq!(large.message, "Timeout: Too large resource version: 99, current: 12");
        let details = large.details.unwrap();
        assert_eq!((details.causes[0].reason.as_str(), details.retry_after_seconds), ("ResourceVersionTooLarge", Some(1)));
    }

    #[test]
    fn invalid_message_matches_apimachinery() {
        let errs = [FieldError::invalid("spec.replicas", json!("x"), "must be an integer"), FieldError::required("spec.size", "")];
        let s = Status::invalid("apps.cozystack.io", "Postgres", "db", &errs);
        assert_eq!(s.code, 422);
        assert_eq!(
            s.message,
            "Postgres.apps.cozystack.io \"db\" is invalid: [spec.replicas: Invalid value: \"x\": must be an integer, spec.size: Required value]"
        );
        let causes = &s.details.as_ref().unwrap().causes;
        assert_eq!(causes[0].reason, "FieldValueInvalid");
        assert_eq!(causes[0].field, "spec.replicas");
        assert_eq!(causes[1].message, "Required value");
    }

    #[test]
    fn not_found_names_the_resource() {
        let s = Status::not_found("apps.cozystack.io", "postgreses", "db");
        assert_eq!(s.message, "postgreses.apps.cozystack.io \"db\" not found");
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["details"]["kind"], "postgreses");
        assert_eq!(v["code"], 404);
    }
}
