//! Validation of an object's labels and annotations as kube-apiserver validates the metadata of every object
//! (a custom resource's too), messages included, so that a user hears about their own labels and annotations
//! before anything is written on their behalf.

use serde_json::Value;

use crate::names::{is_qualified_name, is_valid_label_value};
use crate::status::{FieldError, FieldErrorKind};

/// The largest total size of an object's annotations, keys and values together, in bytes.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const LABELS: &str = "metadata.labels";
const ANNOTATIONS: &str = "metadata.annotations";

/// Every problem with the labels and annotations of `obj`, at the fields kube-apiserver names
/// (`metadata.labels`, `metadata.annotations`), in key order.
pub fn validate_object_meta(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let strings = |field: &str| obj.pointer(&format!("/metadata/{field}")).and_then(Value::as_object).into_iter().flatten();
    for (key, value) in strings("labels") {
        errors.extend(is_qualified_name(key).into_iter().map(|m| FieldError::invalid(LABELS, key.as_str().into(), m)));
        if let Some(v) = value.as_str() {
            errors.extend(is_valid_label_value(v).into_iter().map(|m| FieldError::invalid(LABELS, v.into(), m)));
        }
    }
    let mut size = 0;
    for (key, value) in strings("annotations") {
        // Annotation keys are qualified names in any letter case.
        errors.extend(is_qualified_name(&key.to_lowercase()).into_iter().map(|m| FieldError::invalid(ANNOTATIONS, key.as_str().into(), m)));
        size += key.len() + value.as_str().map_or(0, str::len);
    }
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        errors.push(FieldError::new(FieldErrorKind::TooLong, ANNOTATIONS, format!("may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes")));
    }
    errors
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(obj: Value) -> Vec<String> {
        validate_object_meta(&obj).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn labels_and_annotations_are_checked_as_kube_apiserver_checks_them() {
        let long_key = "k".repeat(64);
        let rows: Vec<(&str, Value, Vec<String>)> = vec![
            ("no metadata", json!({}), vec![]),
            (
                "valid",
                json!({"metadata": {"labels": {"app": "db", "example.com/tier": ""}, "annotations": {"Example.com/Note": "any text at all"}}}),
                vec![],
            ),
            (
                "label key name part too long",
                json!({"metadata": {"labels": {&long_key: "x"}}}),
                vec![format!("metadata.labels: Invalid value: \"{long_key}\": name part must be no more than 63 bytes")],
            ),
            (
                "label value with a space",
                json!({"metadata": {"labels": {"a": "b c"}}}),
                vec!["metadata.labels: Invalid value: \"b c\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string()],
            ),
            (
                "annotation key with two slashes",
                json!({"metadata": {"annotations": {"a/b/c": "x"}}}),
                vec!["metadata.annotations: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()],
            ),
            (
                "annotations over the total size",
                json!({"metadata": {"annotations": {"big": "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT)}}}),
                vec!["metadata.annotations: Too long: may not be more than 262144 bytes".to_string()],
            ),
        ];
        for (what, obj, want) in rows {
            assert_eq!(messages(obj), want, "{what}");
        }
    }

    #[test]
    fn annotations_exactly_at_the_limit_pass() {
        let value = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT - 3);
        assert!(validate_object_meta(&json!({"metadata": {"annotations": {"big": value}}})).is_empty());
    }
}
