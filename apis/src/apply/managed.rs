//! `metadata.managedFields`: the entries recording who owns which fields, and their wire form.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::fieldpath::{FieldSet, go_json};

/// How a manager last acted: by applying a configuration, or by any other write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// A server-side apply.
    Apply,
    /// A create, update or non-apply patch.
    Update,
}

impl Operation {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One manager's ownership record.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager's name.
    pub manager: String,
    /// Whether the fields were applied or written otherwise.
    pub operation: Operation,
    /// The API version the fields are expressed in.
    pub api_version: String,
    /// When the manager last changed the object (RFC 3339, whole seconds, UTC).
    pub time: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
    /// The subresource the manager wrote through (`status`), if any.
    pub subresource: Option<String>,
}

impl ManagedFieldsEntry {
    /// The identity under which entries are kept apart: Apply entries by manager and subresource,
    /// Update entries also by apiVersion. It is the JSON kube-apiserver uses, and sorts by.
    pub fn identifier(&self) -> String {
        let mut s = String::from("{\"manager\":");
        s.push_str(&go_json(&Value::String(self.manager.clone())));
        s.push_str(",\"operation\":\"");
        s.push_str(self.operation.as_str());
        s.push('"');
        if self.operation == Operation::Update && !self.api_version.is_empty() {
            s.push_str(",\"apiVersion\":");
            s.push_str(&go_json(&Value::String(self.api_version.clone())));
        }
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            s.push_str(",\"subresource\":");
            s.push_str(&go_json(&Value::String(sub.to_string())));
        }
        s.push('}');
        s
    }

    /// The entry's time in whole seconds since the epoch (0 when it has none).
    pub(crate) fn seconds(&self) -> i64 {
        self.time.as_deref().and_then(parse_seconds).unwrap_or(0)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.manager.is_empty() {
            m.insert("manager".into(), json!(self.manager));
        }
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            m.insert("subresource".into(), json!(s));
        }
        Value::Object(m)
    }
}

fn parse_seconds(t: &str) -> Option<i64> {
    t.parse::<jiff::Timestamp>().ok().map(|ts| ts.as_second())
}

/// An RFC 3339 time as metav1.Time writes it: UTC, whole seconds.
pub(crate) fn normalize_time(t: &str) -> Option<String> {
    let ts = t.parse::<jiff::Timestamp>().ok()?;
    let ts = jiff::Timestamp::from_second(ts.as_second()).ok()?;
    Some(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a str, String> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!("json: cannot unmarshal {} into Go struct field ManagedFieldsEntry.{k} of type string", crate::schema::gofmt::go_json_kind(v))),
    }
}

/// metadata.managedFields as sent or stored → entries; errors carry kube-apiserver's messages. Entries
/// sharing an identity collapse into the last of them.
pub fn decode_managed_fields(v: &Value) -> Result<Vec<ManagedFieldsEntry>, String> {
    let items = match v {
        Value::Null => return Ok(vec![]),
        Value::Array(a) => a,
        other => return Err(format!("json: cannot unmarshal {} into Go value of type []v1.ManagedFieldsEntry", crate::schema::gofmt::go_json_kind(other))),
    };
    let mut out: Vec<ManagedFieldsEntry> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(format!("json: cannot unmarshal {} into Go value of type v1.ManagedFieldsEntry", crate::schema::gofmt::go_json_kind(item)));
        };
        let operation = match str_field(m, "operation")? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".into()),
        };
        let api_version = str_field(m, "apiVersion")?;
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".into());
        }
        match str_field(m, "fieldsType")? {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => return Err(format!("invalid fieldsType {other:?} in managed fields entry {i}")),
        }
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(f) => {
                FieldSet::from_fields_v1(f).map_err(|e| format!("error decoding versioned set from managed fields entry {i}: error decoding set: {e}"))?
            }
        };
        let time = match str_field(m, "time")? {
            "" => None,
            t => Some(normalize_time(t).ok_or_else(|| format!("parsing time {t:?}: invalid RFC 3339 time"))?),
        };
        let subresource = Some(str_field(m, "subresource")?.to_string()).filter(|s| !s.is_empty());
        let entry =
            ManagedFieldsEntry { manager: str_field(m, "manager")?.to_string(), operation, api_version: api_version.to_string(), time, fields, subresource };
        let id = entry.identifier();
        out.retain(|e| e.identifier() != id);
        out.push(entry);
    }
    Ok(out)
}

/// The order kube-apiserver writes entries in: Apply before Update, then oldest first (whole
/// seconds, no time counting as 0), then manager, apiVersion and subresource.
pub(crate) fn entry_order(p: &ManagedFieldsEntry, q: &ManagedFieldsEntry) -> Ordering {
    p.operation
        .cmp(&q.operation)
        .then_with(|| p.seconds().cmp(&q.seconds()))
        .then_with(|| p.manager.as_bytes().cmp(q.manager.as_bytes()))
        .then_with(|| p.api_version.as_bytes().cmp(q.api_version.as_bytes()))
        .then_with(|| {
            let a = p.subresource.as_deref().unwrap_or("");
            let b = q.subresource.as_deref().unwrap_or("");
            a.as_bytes().cmp(b.as_bytes())
        })
}

/// Entries → the JSON list kube-apiserver writes: sorted, empty sets dropped; `None` when no entry
/// remains (the field is then omitted).
pub fn encode_managed_fields(entries: &[ManagedFieldsEntry]) -> Option<Value> {
    let mut kept: Vec<&ManagedFieldsEntry> = entries.iter().filter(|e| !e.fields.is_empty()).collect();
    if kept.is_empty() {
        return None;
    }
    kept.sort_by(|a, b| entry_order(a, b));
    Some(Value::Array(kept.into_iter().map(ManagedFieldsEntry::to_json).collect()))
}

fn is_zero_entry(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().all(|x| matches!(x, Value::Null) || x.as_str() == Some("")),
        _ => false,
    }
}

/// What a write request's metadata.managedFields means: `None` when absent, empty or undecodable (keep the
/// live entries), `Some(vec![])` for a reset (`[{}]`), otherwise the entries to start from. An empty list does
/// not reset a custom resource's managedFields: kube-apiserver reads it through unstructured metadata, where it
/// is the same as none (tests/tests/apply.rs compares).
pub fn requested_managed_fields(request_object: &Value) -> Option<Vec<ManagedFieldsEntry>> {
    let mf = request_object.get("metadata")?.get("managedFields")?;
    let Value::Array(items) = mf else {
        return None;
    };
    if items.is_empty() {
        return None;
    }
    if items.len() == 1 && is_zero_entry(&items[0]) {
        return Some(vec![]);
    }
    match decode_managed_fields(mf) {
        Ok(entries) if !entries.is_empty() => Some(entries),
        _ => None,
    }
}
