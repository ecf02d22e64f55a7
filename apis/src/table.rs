//! meta.k8s.io/v1 Table and PartialObjectMetadata shapes, the application columns, and kubectl's AGE.
//!
//! Shapes follow the Go structs field for field, including what they always write: every column field
//! (`format: ""`, `priority: 0`), `rows: []`, `columnDefinitions: null` without headers, and a row's
//! `object: null` for includeObject=None, so clients see what kube-apiserver sends.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::application::{Application, Condition, ready_status, version_column};

/// `apiVersion` of Table and PartialObjectMetadata(List).
pub const META_API_VERSION: &str = "meta.k8s.io/v1";

/// A meta.k8s.io/v1 Table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// Always [`META_API_VERSION`].
    pub api_version: String,
    /// Always `Table`.
    pub kind: String,
    /// resourceVersion and continue of the list (or of the single object).
    #[serde(default)]
    pub metadata: ListMeta,
    /// The columns; None (`null`) when the client asked for no headers.
    pub column_definitions: Option<Vec<TableColumnDefinition>>,
    /// One row per object.
    #[serde(default)]
    pub rows: Vec<TableRow>,
}

/// One column of a Table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TableColumnDefinition {
    /// Header, e.g. `NAME`.
    pub name: String,
    /// OpenAPI type of the cells: `string`, `integer`, `number`, `boolean`, `date`.
    #[serde(rename = "type")]
    pub type_: String,
    /// OpenAPI format, e.g. `name`; usually empty.
    #[serde(default)]
    pub format: String,
    /// What the column shows.
    #[serde(default)]
    pub description: String,
    /// 0 for default output, higher for `-o wide` only.
    #[serde(default)]
    pub priority: i32,
}

impl TableColumnDefinition {
    /// A priority-0 column without format.
    pub fn new(name: &str, type_: &str, description: &str) -> Self {
        Self { name: name.into(), type_: type_.into(), format: String::new(), description: description.into(), priority: 0 }
    }

    /// The same column shown only by `-o wide`.
    pub fn wide(mut self) -> Self {
        self.priority = 1;
        self
    }
}

/// One row of a Table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// One value per column.
    pub cells: Vec<Value>,
    /// The object (full, PartialObjectMetadata, or `null`), see [`IncludeObject`].
    #[serde(default)]
    pub object: Option<Value>,
}

/// The `includeObject` table option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object in rows.
    None,
    /// PartialObjectMetadata in rows (the default).
    #[default]
    Metadata,
    /// The full object in rows.
    Object,
}

impl IncludeObject {
    /// Parses the query value; empty means the default. Unknown values are None (a 400 for the caller).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "" | "Metadata" => Some(Self::Metadata),
            "None" => Some(Self::None),
            "Object" => Some(Self::Object),
            _ => None,
        }
    }
}

/// A meta.k8s.io/v1 PartialObjectMetadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadata {
    /// Always [`META_API_VERSION`].
    pub api_version: String,
    /// Always `PartialObjectMetadata`.
    pub kind: String,
    /// The object's full metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

impl PartialObjectMetadata {
    /// The metadata of `object` (a served object as JSON); an object without readable metadata gets an
    /// empty one.
    pub fn of(object: &Value) -> Self {
        let metadata = object.get("metadata").and_then(|m| serde_json::from_value(m.clone()).ok()).unwrap_or_default();
        Self { api_version: META_API_VERSION.into(), kind: "PartialObjectMetadata".into(), metadata }
    }
}

/// A meta.k8s.io/v1 PartialObjectMetadataList.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadataList {
    /// Always [`META_API_VERSION`].
    pub api_version: String,
    /// Always `PartialObjectMetadataList`.
    pub kind: String,
    /// resourceVersion and continue of the list.
    #[serde(default)]
    pub metadata: ListMeta,
    /// One entry per object.
    #[serde(default)]
    pub items: Vec<PartialObjectMetadata>,
}

impl PartialObjectMetadataList {
    /// The metadata of each object, with the list's resourceVersion and continue token.
    pub fn of(objects: &[Value], metadata: ListMeta) -> Self {
        Self {
            api_version: META_API_VERSION.into(),
            kind: "PartialObjectMetadataList".into(),
            metadata,
            items: objects.iter().map(PartialObjectMetadata::of).collect(),
        }
    }
}

/// A row for `object`, embedding it as `include` says.
pub fn row(cells: Vec<Value>, object: &Value, include: IncludeObject) -> TableRow {
    let object = match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => serde_json::to_value(PartialObjectMetadata::of(object)).ok(),
        IncludeObject::Object => Some(object.clone()),
    };
    TableRow { cells, object }
}

/// A Table of `rows` under `columns`; `no_headers` drops the column definitions, as `noHeaders=true`
/// asks.
pub fn table(columns: Vec<TableColumnDefinition>, rows: Vec<TableRow>, metadata: ListMeta, no_headers: bool) -> Table {
    Table { api_version: META_API_VERSION.into(), kind: "Table".into(), metadata, column_definitions: (!no_headers).then_some(columns), rows }
}

/// NAME, READY, AGE, VERSION, described for `noun` (`Application` for apps.cozystack.io kinds,
/// `TenantModule` for tenant modules), all strings as upstream declares them. `wide` adds the Ready
/// condition's REASON and MESSAGE at priority 1 (shown by `-o wide`); upstream has no such columns, so
/// it is off for strict parity.
pub fn ready_columns(noun: &str, wide: bool) -> Vec<TableColumnDefinition> {
    let mut cols = vec![
        TableColumnDefinition::new("NAME", "string", &format!("Name of the {noun}")),
        TableColumnDefinition::new("READY", "string", &format!("Ready status of the {noun}")),
        TableColumnDefinition::new("AGE", "string", &format!("Age of the {noun}")),
        TableColumnDefinition::new("VERSION", "string", &format!("Version of the {noun}")),
    ];
    if wide {
        cols.push(TableColumnDefinition::new("REASON", "string", "Reason of the Ready condition").wide());
        cols.push(TableColumnDefinition::new("MESSAGE", "string", "Message of the Ready condition").wide());
    }
    cols
}

/// The cells of [`ready_columns`] for an object as JSON (an Application or a TenantModule): name, Ready
/// status, age at `now`, version column, then REASON and MESSAGE when `wide`. Unreadable parts show as
/// upstream's defaults (`Unknown`, `<unknown>`).
pub fn ready_cells(object: &Value, now: Timestamp, wide: bool) -> Vec<Value> {
    let str_at = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let conditions: Vec<Condition> = object.pointer("/status/conditions").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
    let created: Option<Time> = object.pointer("/metadata/creationTimestamp").and_then(|t| serde_json::from_value(t.clone()).ok());
    let mut cells = vec![
        Value::from(str_at("/metadata/name")),
        Value::from(ready_status(&conditions)),
        Value::from(age(created.as_ref(), now)),
        Value::from(version_column(str_at("/status/version"))),
    ];
    if wide {
        let ready = conditions.iter().find(|c| c.type_ == crate::application::CONDITION_READY);
        cells.push(Value::from(ready.map(|c| c.reason.as_str()).unwrap_or_default()));
        cells.push(Value::from(ready.map(|c| c.message.as_str()).unwrap_or_default()));
    }
    cells
}

/// The columns of every apps.cozystack.io kind: [`ready_columns`] for `Application`, upstream's set.
pub fn application_columns() -> Vec<TableColumnDefinition> {
    ready_columns("Application", false)
}

/// The cells of [`application_columns`] for an Application as JSON, aged against the clock now (the
/// one clock read in this crate; tests use [`ready_cells`] with a fixed time).
pub fn application_cells(object: &Value) -> Vec<Value> {
    ready_cells(object, Timestamp::now(), false)
}

/// [`ready_cells`] of a typed Application.
pub fn typed_application_cells(app: &Application, now: Timestamp, wide: bool) -> Vec<Value> {
    ready_cells(&serde_json::to_value(app).unwrap_or_default(), now, wide)
}

/// The AGE cell: [`human_duration`] from `created` to `now`, `<unknown>` without a creation time
/// (upstream would print the age of Go's zero time, `292y`).
pub fn age(created: Option<&Time>, now: Timestamp) -> String {
    let Some(created) = created else {
        return "<unknown>".into();
    };
    // Whole seconds, truncated toward zero like Go's int(d.Seconds()).
    let nanos = now.as_nanosecond() - created.0.as_nanosecond();
    human_duration((nanos / 1_000_000_000) as i64)
}

/// k8s.io/apimachinery/pkg/util/duration.HumanDuration for whole seconds: about two significant figures
/// (`59s`, `119s`, `5m10s`, `3h`, `2d3h`, `8d`, `2y100d`, `10y`); `0s` for up to a second in the future
/// (clock skew), `<invalid>` beyond.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn human_durations_match_apimachinery() {
        let (m, h, d, y) = (60, 3600, 86400, 365 * 86400);
        let cases: &[(i64, &str)] = &[
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (59, "59s"),
            (119, "119s"),
            (2 * m, "2m"),
            (5 * m + 10, "5m10s"),
            (9 * m + 59, "9m59s"),
            (10 * m + 30, "10m"),
            (179 * m, "179m"),
            (3 * h, "3h"),
            (3 * h + 30 * m, "3h30m"),
            (7 * h + 59 * m, "7h59m"),
            (8 * h + 30 * m, "8h"),
            (47 * h, "47h"),
            (2 * d, "2d"),
            (2 * d + 3 * h, "2d3h"),
            (7 * d + 23 * h, "7d23h"),
            (8 * d, "8d"),
            (729 * d, "729d"),
            (2 * y, "2y"),
            (2 * y + 100 * d, "2y100d"),
            (7 * y + 364 * d, "7y364d"),
            (8 * y, "8y"),
            (10 * y + 5 * d, "10y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(*secs), *want, "{secs}s");
        }
    }

    #[test]
    fn age_truncates_to_whole_seconds() {
        let created = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let now: Timestamp = "2026-01-01T00:05:10.900Z".parse().unwrap();
        assert_eq!(age(Some(&created), now), "5m10s");
        let skewed: Timestamp = "2025-12-31T23:59:59.500Z".parse().unwrap();
        assert_eq!(age(Some(&created), skewed), "0s");
        assert_eq!(age(None, now), "<unknown>");
    }

    fn postgres(name: &str, ready: &str, version: &str) -> Value {
        json!({
            "apiVersion": "apps.cozystack.io/v1alpha1",
            "kind": "Postgres",
            "metadata": {"name": name, "namespace": "tenant-root", "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 2},
            "status": {"version": version, "conditions": [
                {"type": "Ready", "status": ready, "reason": "InstallSucceeded", "message": "done", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]}
        })
    }

    #[test]
    fn application_table_matches_kube_apiserver_shape() {
        let now: Timestamp = "2026-01-03T03:00:00Z".parse().unwrap();
        let objects = [postgres("a", "True", "0.1.4+abc"), postgres("b", "False", "")];
        let rows = objects.iter().map(|o| row(ready_cells(o, now, false), o, IncludeObject::Metadata)).collect();
        let meta = ListMeta { resource_version: Some("7".into()), ..Default::default() };
        let t = table(ready_columns("Application", false), rows, meta, false);
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({
                "apiVersion": "meta.k8s.io/v1",
                "kind": "Table",
                "metadata": {"resourceVersion": "7"},
                "columnDefinitions": [
                    {"name": "NAME", "type": "string", "format": "", "description": "Name of the Application", "priority": 0},
                    {"name": "READY", "type": "string", "format": "", "description": "Ready status of the Application", "priority": 0},
                    {"name": "AGE", "type": "string", "format": "", "description": "Age of the Application", "priority": 0},
                    {"name": "VERSION", "type": "string", "format": "", "description": "Version of the Application", "priority": 0}
                ],
                "rows": [
                    {"cells": ["a", "True", "2d3h", "abc"], "object": {
                        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                        "metadata": {"name": "a", "namespace": "tenant-root", "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z"}
                    }},
                    {"cells": ["b", "False", "2d3h", "<unknown>"], "object": {
                        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                        "metadata": {"name": "b", "namespace": "tenant-root", "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z"}
                    }}
                ]
            })
        );
    }

    #[test]
    fn table_options() {
        let now: Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
        let obj = postgres("a", "True", "1.0");
        let none = serde_json::to_value(row(vec![], &obj, IncludeObject::None)).unwrap();
        assert_eq!(none, json!({"cells": [], "object": null}));
        assert_eq!(row(vec![], &obj, IncludeObject::Object).object, Some(obj.clone()));
        let t = serde_json::to_value(table(ready_columns("Application", false), vec![], ListMeta::default(), true)).unwrap();
        assert_eq!(t, json!({"apiVersion": "meta.k8s.io/v1", "kind": "Table", "metadata": {}, "columnDefinitions": null, "rows": []}));
        assert_eq!(ready_cells(&obj, now, true), vec![json!("a"), json!("True"), json!("30s"), json!("1.0"), json!("InstallSucceeded"), json!("done")]);
        let wide = ready_columns("TenantModule", true);
        assert_eq!(wide[0].description, "Name of the TenantModule");
        assert_eq!((wide[4].name.as_str(), wide[4].priority), ("REASON", 1));
        assert_eq!(ready_cells(&json!({}), now, false), vec![json!(""), json!("Unknown"), json!("<unknown>"), json!("<unknown>")]);
        let cases = [("", Some(IncludeObject::Metadata)), ("None", Some(IncludeObject::None)), ("Object", Some(IncludeObject::Object)), ("x", None)];
        for (input, want) in cases {
            assert_eq!(IncludeObject::parse(input), want, "{input:?}");
        }
    }

    #[test]
    fn partial_object_metadata_list() {
        let list = PartialObjectMetadataList::of(
            &[postgres("a", "True", "")],
            ListMeta { resource_version: Some("9".into()), continue_: Some("tok".into()), ..Default::default() },
        );
        let v = serde_json::to_value(&list).unwrap();
        assert_eq!(v["kind"], "PartialObjectMetadataList");
        assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(v["metadata"], json!({"resourceVersion": "9", "continue": "tok"}));
        assert_eq!(v["items"][0]["kind"], "PartialObjectMetadata");
        assert_eq!(v["items"][0]["metadata"]["name"], "a");
        assert!(v["items"][0].get("spec").is_none());
    }

    #[test]
    fn application_cells_typed_and_untyped() {
        let app: Application = serde_json::from_value(postgres("a", "False", "2+x")).unwrap();
        let now: Timestamp = "2026-01-01T00:02:00Z".parse().unwrap();
        assert_eq!(typed_application_cells(&app, now, false), vec![json!("a"), json!("False"), json!("2m"), json!("x")]);
        assert_eq!(application_columns(), ready_columns("Application", false));
        assert_eq!(application_cells(&postgres("a", "True", ""))[1], json!("True"));
    }
}
