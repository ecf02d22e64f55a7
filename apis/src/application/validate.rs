//! Create-time checks of an Application: its name (§2.3) and the reserved `_` values keys.
//!
//! Names are checked on create only: they are immutable, and a name admitted before a rule changed must
//! stay updatable.

use serde_json::Value;

use super::TENANT_KIND;
use super::kind::AppKind;
use crate::status::FieldError;

/// Helm's release name limit; it leaves room for the suffixes charts append within 63 characters.
const MAX_RELEASE_NAME: usize = 53;
/// Namespace names are DNS-1123 labels.
const MAX_NAMESPACE_NAME: usize = 63;
const NAME_FIELD: &str = "metadata.name";
const DNS1035_MAX: usize = 63;
const DNS1035_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_ERR: &str =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const TENANT_NAME_ERR: &str = "tenant names must start with a lowercase letter and contain only lowercase letters and digits; dashes are not allowed";

/// Checks an Application name on create, in upstream's order; each stage that fails ends the check, so
/// the errors returned all come from one stage: format, then length against the release prefix, then
/// (Tenant only) the length of the namespace the tenant would own. Every error is at `metadata.name`.
pub fn validate_name(name: &str, kind: &AppKind, namespace: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(NAME_FIELD, "name is required")];
    }
    let invalid = |detail: String| FieldError::invalid(NAME_FIELD, Value::from(name), detail);

    // Tenant names become namespace segments joined by dashes, so a dash would make the hierarchy
    // ambiguous; that rule is checked first so its message is the one shown. A valid tenant name still
    // goes through the DNS check, which can then only complain about length.
    if kind.kind == TENANT_KIND && !is_tenant_name(name) {
        return vec![invalid(TENANT_NAME_ERR.into())];
    }
    let format: Vec<FieldError> = dns1035_label_errors(name).into_iter().map(invalid).collect();
    if !format.is_empty() {
        return format;
    }

    let Some(max) = MAX_RELEASE_NAME.checked_sub(kind.prefix.len()).filter(|m| *m > 0) else {
        let detail = format!("configuration error: no valid name length possible (release prefix {:?})", kind.prefix);
        return vec![invalid(detail)];
    };
    if name.len() > max {
        return vec![invalid(format!("must be no more than {max} characters (release prefix {:?})", kind.prefix))];
    }

    if kind.kind == TENANT_KIND {
        let ns = crate::tenant::tenant_namespace(namespace, name);
        if ns.len() > MAX_NAMESPACE_NAME {
            return vec![invalid(format!(
                "computed tenant namespace {ns:?} would be {} characters, which exceeds the {MAX_NAMESPACE_NAME}-character Kubernetes namespace limit; shorten the tenant name or reduce ancestor nesting depth",
                ns.len()
            ))];
        }
    }
    Vec::new()
}

/// The message for the first top-level values key starting with `_` (in key order), if any. Those keys
/// (`_cluster`, `_namespace`) come from the tenant's values Secret and must not be overridden.
pub fn reserved_keys(spec: &Value) -> Option<String> {
    let key = spec.as_object()?.keys().find(|k| k.starts_with('_'))?;
    Some(format!("values key {key:?} is reserved (keys starting with '_' are not allowed)"))
}

/// The legacy `resourcesPreset` names and the instance types that replaced them.
pub const LEGACY_PRESETS: &[(&str, &str)] = &[
    ("nano", "t1.nano"),
    ("micro", "t1.micro"),
    ("small", "t1.small"),
    ("medium", "c1.small"),
    ("large", "c1.medium"),
    ("xlarge", "c1.large"),
    ("2xlarge", "c1.xlarge"),
];

/// Every `resourcesPreset` anywhere in `spec` naming a legacy preset: (its path, the preset, what replaces it).
/// Such a spec is accepted; the server logs a warning for operators, as upstream does.
pub fn legacy_presets(spec: &Value) -> Vec<(String, &'static str, &'static str)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, &'static str, &'static str)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let here = format!("{path}.{k}");
                    if k == "resourcesPreset"
                        && let Some(&(old, new)) = x.as_str().and_then(|p| LEGACY_PRESETS.iter().find(|(old, _)| *old == p))
                    {
                        out.push((here.clone(), old, new));
                    }
                    walk(x, &here, out);
                }
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{path}[{i}]"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(spec, "spec", &mut out);
    out
}

fn is_tenant_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// k8s.io/apimachinery's IsDNS1035Label, messages included (names.rs has the shared copy; this stays
/// private so the two modules can change independently).
fn dns1035_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_MAX {
        errs.push(format!("must be no more than {DNS1035_MAX} characters"));
    }
    let b = value.as_bytes();
    let ok = b.first().is_some_and(u8::is_ascii_lowercase)
        && b.last().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if !ok {
        // The doubled space after "'my-name'," is apimachinery's own.
        errs.push(format!("{DNS1035_ERR} (e.g. 'my-name',  or 'abc-123', regex used for validation is '{DNS1035_FMT}')"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::FieldErrorKind;
    use serde_json::json;

    fn kind(kind: &str, prefix: &str) -> AppKind {
        AppKind { kind: kind.into(), prefix: prefix.into(), ..Default::default() }
    }

    const DNS_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    #[test]
    fn names_are_checked_stage_by_stage() {
        let long = "a".repeat(64);
        let cases: Vec<(&str, AppKind, &str, &str, Vec<String>)> = vec![
            ("valid", kind("Postgres", "postgres-"), "db", "tenant-root", vec![]),
            ("empty", kind("Postgres", "postgres-"), "", "ns", vec!["metadata.name: Required value: name is required".into()]),
            ("upper case", kind("Postgres", "postgres-"), "Db", "ns", vec![format!("metadata.name: Invalid value: \"Db\": {DNS_MSG}")]),
            ("leading digit", kind("Redis", "redis-"), "1db", "ns", vec![format!("metadata.name: Invalid value: \"1db\": {DNS_MSG}")]),
            (
                "too long for DNS",
                kind("Etcd", ""),
                &long,
                "ns",
                vec![format!("metadata.name: Invalid value: \"{long}\": must be no more than 63 characters")],
            ),
            (
                "too long for the prefix",
                kind("Postgres", "postgres-"),
                "abcdefghijabcdefghijabcdefghijabcdefghijabcde",
                "ns",
                vec!["metadata.name: Invalid value: \"abcdefghijabcdefghijabcdefghijabcdefghijabcde\": must be no more than 44 characters (release prefix \"postgres-\")".into()],
            ),
            (
                "prefix leaves no room",
                kind("Odd", &"p".repeat(53)),
                "x",
                "ns",
                vec![format!("metadata.name: Invalid value: \"x\": configuration error: no valid name length possible (release prefix \"{}\")", "p".repeat(53))],
            ),
            ("tenant", kind("Tenant", "tenant-"), "foo1", "tenant-root", vec![]),
            (
                "tenant too long for DNS",
                kind("Tenant", "tenant-"),
                &long,
                "tenant-root",
                vec![format!("metadata.name: Invalid value: \"{long}\": must be no more than 63 characters")],
            ),
            (
                "tenant with dash",
                kind("Tenant", "tenant-"),
                "foo-bar",
                "tenant-root",
                vec![format!("metadata.name: Invalid value: \"foo-bar\": {TENANT_NAME_ERR}")],
            ),
            (
                "tenant namespace too long",
                kind("Tenant", "tenant-"),
                "abcdefghijabcdefghijabcdefghij",
                "tenant-abcdefghijabcdefghijabcdef",
                vec!["metadata.name: Invalid value: \"abcdefghijabcdefghijabcdefghij\": computed tenant namespace \"tenant-abcdefghijabcdefghijabcdef-abcdefghijabcdefghijabcdefghij\" would be 64 characters, which exceeds the 63-character Kubernetes namespace limit; shorten the tenant name or reduce ancestor nesting depth".into()],
            ),
        ];
        for (what, k, name, ns, want) in cases {
            let got: Vec<String> = validate_name(name, &k, ns).iter().map(ToString::to_string).collect();
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn dns_length_and_format_errors_come_together() {
        let name = format!("{}-", "a".repeat(63));
        let errs = validate_name(&name, &kind("Etcd", ""), "ns");
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.kind == FieldErrorKind::Invalid && e.field == "metadata.name"));
    }

    #[test]
    fn reserved_keys_are_top_level_underscores() {
        let cases = [
            ("none", json!({"a": 1, "b": {"_c": 1}}), None),
            ("null spec", Value::Null, None),
            ("one", json!({"a": 1, "_cluster": {}}), Some("values key \"_cluster\" is reserved (keys starting with '_' are not allowed)")),
            ("first in key order", json!({"_z": 1, "_namespace": 1}), Some("values key \"_namespace\" is reserved (keys starting with '_' are not allowed)")),
        ];
        for (what, spec, want) in cases {
            assert_eq!(reserved_keys(&spec).as_deref(), want, "{what}");
        }
    }

    #[test]
    fn legacy_presets_are_found_anywhere_with_their_replacements() {
        let spec = json!({
            "resourcesPreset": "nano",
            "nodeGroups": {"md0": {"resourcesPreset": "2xlarge"}},
            "addons": [{"resourcesPreset": "medium"}, {"resourcesPreset": "u1.large"}],
            "other": "small"
        });
        let found = legacy_presets(&spec);
        let want = [
            ("spec.addons[0].resourcesPreset", "medium", "c1.small"),
            ("spec.nodeGroups.md0.resourcesPreset", "2xlarge", "c1.xlarge"),
            ("spec.resourcesPreset", "nano", "t1.nano"),
        ];
        assert_eq!(found, want.map(|(p, o, n)| (p.to_string(), o, n)));
        assert!(legacy_presets(&json!({"resourcesPreset": "t1.nano"})).is_empty());
    }
}
