//! Query parameters of resource requests, parsed once into typed options (400 on nonsense).

use std::collections::HashMap;

use apis::selector::{FieldSelector, LabelSelector};
use apis::status::Status;
use storage::registry::{DeleteOptions, FieldValidation, ListOptions, WriteOptions};

/// The query string as a map (last value wins, as Go's url.Values.Get takes the first; duplicates are rare).
pub fn query_map(query: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(decode(k)).or_insert_with(|| decode(v));
    }
    out
}

/// A query component, percent- and plus-decoded as Go's url.ParseQuery does.
fn decode(s: &str) -> String {
    crate::request_info::unescape(s, true).0
}

fn boolean(q: &HashMap<String, String>, key: &str) -> Result<Option<bool>, Status> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(v) => Err(Status::bad_request(format!("invalid value {v:?} for {key}: must be true or false"))),
    }
}

fn integer(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, Status> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| Status::bad_request(format!("invalid value {v:?} for {key}: must be an integer"))),
    }
}

/// Options of list and watch.
pub fn list_options(q: &HashMap<String, String>) -> Result<ListOptions, Status> {
    let label_selector = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| Status::bad_request(format!("unable to parse requirement: {e}")))?;
    let field_selector = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(|e| Status::bad_request(format!("invalid field selector: {e}")))?;
    let resource_version_match = q.get("resourceVersionMatch").cloned().unwrap_or_default();
    let resource_version = q.get("resourceVersion").cloned().unwrap_or_default();
    match resource_version_match.as_str() {
        "" | "NotOlderThan" | "Exact" => {}
        other => return Err(Status::bad_request(format!("resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""))),
    }
    if !resource_version_match.is_empty() && resource_version.is_empty() && q.get("sendInitialEvents").is_none() {
        return Err(Status::bad_request("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"));
    }
    let limit = integer(q, "limit")?.unwrap_or(0);
    if limit < 0 {
        return Err(Status::bad_request("limit: Invalid value: must be non-negative"));
    }
    let timeout_seconds = integer(q, "timeoutSeconds")?.map(|t| t.max(0) as u64);
    Ok(ListOptions {
        label_selector,
        field_selector,
        resource_version,
        resource_version_match,
        limit,
        continue_token: q.get("continue").cloned().unwrap_or_default(),
        timeout_seconds,
        allow_watch_bookmarks: boolean(q, "allowWatchBookmarks")?.unwrap_or(false),
        send_initial_events: boolean(q, "sendInitialEvents")?,
    })
}

fn dry_run(values: &[String]) -> Result<bool, Status> {
    match values {
        [] => Ok(false),
        [v] if v == "All" => Ok(true),
        [v] if v.is_empty() => Ok(false),
        other => Err(Status::bad_request(format!("Invalid dryRun value {other:?}: only \"All\" is supported"))),
    }
}

/// All values of a repeated query key.
pub fn all_values(query: Option<&str>, key: &str) -> Vec<String> {
    query.unwrap_or("").split('&').filter_map(|p| p.split_once('=').filter(|(k, _)| decode(k) == key).map(|(_, v)| decode(v))).collect()
}

/// Options of create, update and patch.
pub fn write_options(q: &HashMap<String, String>, raw_query: Option<&str>) -> Result<WriteOptions, Status> {
    write_options_of("UpdateOptions", q, raw_query, false)
}

/// Options of a write whose options type (for errors) is `kind` (`CreateOptions`, `UpdateOptions`,
/// `PatchOptions`); `apply` for a server-side apply, which needs a fieldManager and may `force`.
pub fn write_options_of(kind: &str, q: &HashMap<String, String>, raw_query: Option<&str>, apply: bool) -> Result<WriteOptions, Status> {
    let field_manager = q.get("fieldManager").cloned().unwrap_or_default();
    let force = match q.get("force").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(Status::bad_request(format!("force: Invalid value: {other:?}: must be true or false"))),
    };
    let errors = apis::apply::validate_field_manager(q.get("fieldManager").map(String::as_str), apply, force);
    if !errors.is_empty() {
        return Err(Status::invalid("meta.k8s.io", kind, "", &errors));
    }
    let field_validation = match q.get("fieldValidation").map(String::as_str) {
        None | Some("") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(Status::bad_request(format!("fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\"")));
        }
    };
    Ok(WriteOptions { dry_run: dry_run(&all_values(raw_query, "dryRun"))?, field_manager, field_validation, force: force.unwrap_or(false) })
}

/// Options of delete: query parameters, overridden by a DeleteOptions body when one is sent.
pub fn delete_options(q: &HashMap<String, String>, raw_query: Option<&str>, body: &[u8]) -> Result<DeleteOptions, Status> {
    let mut opts = DeleteOptions {
        dry_run: dry_run(&all_values(raw_query, "dryRun"))?,
        propagation_policy: q.get("propagationPolicy").cloned().filter(|s| !s.is_empty()),
        grace_period_seconds: integer(q, "gracePeriodSeconds")?,
        ..Default::default()
    };
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: serde_json::Value = super::decode_body(body, "application/json")?;
        if let Some(d) = v.get("dryRun").and_then(|d| d.as_array()) {
            let values: Vec<String> = d.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
            opts.dry_run = dry_run(&values)?;
        }
        if let Some(p) = v.get("propagationPolicy").and_then(|p| p.as_str()) {
            opts.propagation_policy = Some(p.to_string());
        }
        if let Some(g) = v.get("gracePeriodSeconds").and_then(|g| g.as_i64()) {
            opts.grace_period_seconds = Some(g);
        }
        if let Some(p) = v.get("preconditions") {
            opts.precondition_uid = p.get("uid").and_then(|u| u.as_str()).map(str::to_string);
            opts.precondition_resource_version = p.get("resourceVersion").and_then(|u| u.as_str()).map(str::to_string);
        }
    }
    if let Some(p) = &opts.propagation_policy
        && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(Status::bad_request(format!("propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\"")));
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_options_parse_and_reject() {
        let q = query_map(Some("labelSelector=app%3Ddb&limit=5&continue=abc&resourceVersion=0&watch=1&allowWatchBookmarks=true"));
        let o = list_options(&q).unwrap();
        assert_eq!(o.limit, 5);
        assert_eq!(o.continue_token, "abc");
        assert!(o.allow_watch_bookmarks);
        assert_eq!(o.label_selector.to_string(), "app=db");
        for bad in ["limit=x", "labelSelector=a%20in%20", "resourceVersionMatch=Sometimes&resourceVersion=1", "allowWatchBookmarks=maybe"] {
            assert_eq!(list_options(&query_map(Some(bad))).unwrap_err().code, 400, "{bad}");
        }
    }

    #[test]
    fn write_options_parse_and_reject() {
        let raw = Some("dryRun=All&fieldManager=kubectl&fieldValidation=Strict");
        let o = write_options(&query_map(raw), raw).unwrap();
        assert!(o.dry_run);
        assert_eq!(o.field_validation, FieldValidation::Strict);
        for bad in ["dryRun=Some", "fieldValidation=Loose"] {
            assert_eq!(write_options(&query_map(Some(bad)), Some(bad)).unwrap_err().code, 400, "{bad}");
        }
    }

    #[test]
    fn delete_body_overrides_query() {
        let raw = Some("propagationPolicy=Orphan");
        let body = br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","preconditions":{"uid":"u1"},"dryRun":["All"]}"#;
        let o = delete_options(&query_map(raw), raw, body).unwrap();
        assert_eq!(o.propagation_policy.as_deref(), Some("Foreground"));
        assert_eq!(o.precondition_uid.as_deref(), Some("u1"));
        assert!(o.dry_run);
        assert_eq!(delete_options(&query_map(Some("propagationPolicy=Now")), None, b"").unwrap_err().code, 400);
    }
}
