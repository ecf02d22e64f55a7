//! Which requests a policy, binding or webhook applies to: rules (operations, groups, versions, resources with
//! subresources, scope, resourceNames), excludes, namespace and object selectors, as kube-apiserver's
//! `policy/matching` and `webhook/predicates` decide them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Attributes;
use crate::selector::{LabelOperator, LabelRequirement, LabelSelector};

/// A metav1.LabelSelector (`matchLabels`, `matchExpressions`) as a selector; an error names what is wrong.
pub fn label_selector(v: Option<&Value>) -> Result<LabelSelector, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(LabelSelector::default()) };
    let mut reqs = Vec::new();
    if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
        for (k, val) in m {
            let val = val.as_str().unwrap_or_default();
            reqs.push(LabelRequirement::new(k.clone(), LabelOperator::Equals, [val]).map_err(|e| e.to_string())?);
        }
    }
    for e in v.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<String> = e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect();
        let op = match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
            "In" => LabelOperator::In,
            "NotIn" => LabelOperator::NotIn,
            "Exists" => LabelOperator::Exists,
            "DoesNotExist" => LabelOperator::DoesNotExist,
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        };
        reqs.push(LabelRequirement::new(key, op, values).map_err(|e| e.to_string())?);
    }
    Ok(LabelSelector::from_requirements(reqs))
}

/// The labels of an object (empty when it has none).
pub fn labels_of(obj: Option<&Value>) -> BTreeMap<String, String> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

fn strings<'v>(rule: &'v Value, key: &str) -> impl Iterator<Item = &'v str> {
    rule.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

fn listed(rule: &Value, key: &str, wanted: &str) -> bool {
    strings(rule, key).any(|s| s == "*" || s == wanted)
}

/// True when `resources` of a rule (`r`, `r/s`, `*`, `*/*`, `r/*`, `*/s`) cover `resource`/`subresource`.
pub fn resource_listed(resources: impl IntoIterator<Item = impl AsRef<str>>, resource: &str, subresource: &str) -> bool {
    resources.into_iter().any(|r| {
        let r = r.as_ref();
        let (res, sub) = r.split_once('/').unwrap_or((r, ""));
        let sub_ok = if r.contains('/') { sub == "*" || sub == subresource } else { subresource.is_empty() };
        (res == "*" || res == resource) && sub_ok
    })
}

/// One RuleWithOperations (or NamedRuleWithOperations when `names` apply): operations, groups, versions,
/// resources, scope and, for policies, resourceNames.
pub fn rule_matches(rule: &Value, a: &Attributes<'_>, names: bool) -> bool {
    if !listed(rule, "operations", a.operation.as_str()) || !listed(rule, "apiGroups", a.group) || !listed(rule, "apiVersions", a.version) {
        return false;
    }
    if !resource_listed(strings(rule, "resources"), a.resource, a.subresource) {
        return false;
    }
    let scope_ok = match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Namespaced" => a.namespaced,
        "Cluster" => !a.namespaced,
        _ => true,
    };
    if !scope_ok {
        return false;
    }
    if names {
        let mut given = strings(rule, "resourceNames").peekable();
        if given.peek().is_some() && !given.any(|n| n == a.name) {
            return false;
        }
    }
    true
}

/// The namespace selector: cluster-scoped objects always match; otherwise the labels of the request's
/// namespace (None when it does not exist, an error for a non-empty selector).
pub fn namespace_matches(selector: &LabelSelector, a: &Attributes<'_>, ns_labels: Option<&BTreeMap<String, String>>) -> Result<bool, String> {
    if selector.is_empty() || !a.namespaced {
        return Ok(true);
    }
    match ns_labels {
        Some(l) => Ok(selector.matches(l)),
        None => Err(format!("namespaces \"{}\" not found", a.namespace)),
    }
}

/// The object selector: the new or the old object's labels match; a missing object never matches a non-empty one.
pub fn object_matches(selector: &LabelSelector, a: &Attributes<'_>) -> bool {
    if selector.is_empty() {
        return true;
    }
    [a.object, a.old_object].into_iter().flatten().any(|o| !o.is_null() && selector.matches(&labels_of(Some(o))))
}

/// MatchResources of a policy or binding: namespaceSelector, objectSelector, excludeResourceRules (winning),
/// resourceRules. `empty_rules_match` is true for a binding, whose empty resourceRules constrain nothing.
pub fn resources_match(m: Option<&Value>, a: &Attributes<'_>, ns_labels: Option<&BTreeMap<String, String>>, empty_rules_match: bool) -> Result<bool, String> {
    let Some(m) = m.filter(|m| !m.is_null()) else { return Ok(empty_rules_match) };
    if !namespace_matches(&label_selector(m.get("namespaceSelector"))?, a, ns_labels)? {
        return Ok(false);
    }
    if !object_matches(&label_selector(m.get("objectSelector"))?, a) {
        return Ok(false);
    }
    if m.get("excludeResourceRules").and_then(Value::as_array).into_iter().flatten().any(|r| rule_matches(r, a, true)) {
        return Ok(false);
    }
    match m.get("resourceRules").and_then(Value::as_array) {
        Some(rules) if !rules.is_empty() => Ok(rules.iter().any(|r| rule_matches(r, a, true))),
        _ => Ok(empty_rules_match),
    }
}
