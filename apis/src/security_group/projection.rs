//! SecurityGroup ⇄ CiliumNetworkPolicy.
//!
//! Written: the user's labels with [`MARKER_LABEL`] forced; the user's annotations with
//! [`ATTACHMENTS_ANNOTATION`] forced from `spec.attachments` (or removed); owner references and finalizers as
//! sent, [`MEMBERSHIP_FINALIZER`] kept from the live policy; `spec.endpointSelector` the group's own membership
//! label; each peer an endpoint selector (an application by its three lineage labels, a group by its
//! membership label); protocols upper-cased (the policy CRD's enum is); `spec.ingress` always present (the CRD
//! requires one of its rule lists), `spec.egress` only when there are egress rules.
//!
//! Read: the reverse, where endpoint selectors of any other shape are left out, so that a policy edited by
//! hand still reads; a policy without `spec` reads with an empty spec.

use serde_json::{Map, Value, json};

use super::types::{ApplicationReference, EgressRule, FqdnSelector, IngressRule, PortRule, SecurityGroupSpec};
use super::{
    APP_GROUP_LABEL, APP_KIND_LABEL, APP_NAME_LABEL, ATTACHMENTS_ANNOTATION, DEFAULT_APP_GROUP, KIND, MARKER_LABEL, MEMBERSHIP_FINALIZER, MEMBERSHIP_PREFIX,
    POLICY_API_VERSION, POLICY_KIND, membership_key,
};

/// The metadata of a SecurityGroup, copied from its policy as they are.
const SHOWN_METADATA: &[&str] = &["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"];

/// Whether a CiliumNetworkPolicy is a SecurityGroup's.
pub fn is_marked(policy: &Value) -> bool {
    policy.pointer("/metadata/labels").and_then(|l| l.get(MARKER_LABEL)).and_then(Value::as_str) == Some("true")
}

/// The CiliumNetworkPolicy of a SecurityGroup. `live` is the current policy on update: what the SecurityGroup
/// does not show of it (uid, creationTimestamp, ...) stays, and so does its membership finalizer. The spec is
/// written whole: policy fields a SecurityGroup cannot express do not survive an update.
pub fn to_policy(group: &Value, live: Option<&Value>) -> Result<Value, serde_json::Error> {
    let spec = SecurityGroupSpec::of(group)?;
    let src = group.get("metadata");
    let text = |k: &str| src.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default();
    let name = text("name");
    let mut meta = live.and_then(|l| l.get("metadata")).and_then(Value::as_object).cloned().unwrap_or_default();
    // The backend keeps its managed fields when an update sends none.
    for k in ["labels", "annotations", "ownerReferences", "finalizers", "resourceVersion", "managedFields", "generateName"] {
        meta.remove(k);
    }
    meta.insert("name".into(), name.into());
    for k in ["namespace", "resourceVersion"] {
        if !text(k).is_empty() {
            meta.insert(k.into(), text(k).into());
        }
    }

    let mut labels = string_map(src.and_then(|m| m.get("labels")));
    labels.insert(MARKER_LABEL.into(), "true".into());
    meta.insert("labels".into(), Value::Object(labels));

    let mut annotations = string_map(src.and_then(|m| m.get("annotations")));
    match encode_attachments(&spec.attachments) {
        Some(a) => annotations.insert(ATTACHMENTS_ANNOTATION.into(), a.into()),
        None => annotations.remove(ATTACHMENTS_ANNOTATION),
    };
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }

    if let Some(refs) = src.and_then(|m| m.get("ownerReferences")).filter(|r| r.as_array().is_some_and(|a| !a.is_empty())) {
        meta.insert("ownerReferences".into(), refs.clone());
    }
    let mut finalizers: Vec<Value> = src.and_then(|m| m.get("finalizers")).and_then(Value::as_array).cloned().unwrap_or_default();
    let live_has_membership =
        live.and_then(|l| l.pointer("/metadata/finalizers")).and_then(Value::as_array).is_some_and(|f| f.iter().any(|x| x == MEMBERSHIP_FINALIZER));
    // Only the securitygroup-controller removes it, once member pods are unlabelled.
    if live_has_membership && !finalizers.iter().any(|x| x == MEMBERSHIP_FINALIZER) {
        finalizers.push(MEMBERSHIP_FINALIZER.into());
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }

    let mut policy_spec = Map::new();
    policy_spec.insert("endpointSelector".into(), json!({"matchLabels": {membership_key(name): ""}}));
    policy_spec.insert("ingress".into(), Value::Array(spec.ingress.iter().map(policy_ingress).collect()));
    if !spec.egress.is_empty() {
        policy_spec.insert("egress".into(), Value::Array(spec.egress.iter().map(policy_egress).collect()));
    }
    Ok(json!({"apiVersion": POLICY_API_VERSION, "kind": POLICY_KIND, "metadata": meta, "spec": policy_spec}))
}

/// The SecurityGroup of a CiliumNetworkPolicy, or None for a policy without [`MARKER_LABEL`].
pub fn from_policy(policy: &Value) -> Option<Value> {
    if !is_marked(policy) {
        return None;
    }
    let src = policy.get("metadata");
    let mut meta = Map::new();
    for k in SHOWN_METADATA {
        if let Some(v) = src.and_then(|m| m.get(*k)).filter(|v| !v.is_null()) {
            meta.insert((*k).into(), v.clone());
        }
    }
    for (field, hidden) in [("labels", MARKER_LABEL), ("annotations", ATTACHMENTS_ANNOTATION)] {
        let mut m = string_map(src.and_then(|m| m.get(field)));
        m.remove(hidden);
        if !m.is_empty() {
            meta.insert(field.into(), Value::Object(m));
        }
    }
    for field in ["ownerReferences", "finalizers"] {
        if let Some(v) = src.and_then(|m| m.get(field)).filter(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
            meta.insert(field.into(), v.clone());
        }
    }
    let mut spec = SecurityGroupSpec::default();
    if let Some(policy_spec) = policy.get("spec").filter(|s| s.is_object()) {
        let annotation = src.and_then(|m| m.pointer(&format!("/annotations/{}", ATTACHMENTS_ANNOTATION.replace('/', "~1"))));
        spec.attachments = annotation.and_then(Value::as_str).and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default();
        spec.ingress = objects(policy_spec.get("ingress")).map(group_ingress).collect();
        spec.egress = objects(policy_spec.get("egress")).map(group_egress).collect();
    }
    Some(json!({"apiVersion": super::api_version(), "kind": KIND, "metadata": meta, "spec": spec.to_value()}))
}

/// The attachments annotation: compact JSON, every empty group written as apps.cozystack.io; None when there
/// are no attachments.
fn encode_attachments(refs: &[ApplicationReference]) -> Option<String> {
    if refs.is_empty() {
        return None;
    }
    let canonical: Vec<ApplicationReference> = refs.iter().map(|r| ApplicationReference { api_group: app_group(r).into(), ..r.clone() }).collect();
    serde_json::to_string(&canonical).ok()
}

fn app_group(r: &ApplicationReference) -> &str {
    if r.api_group.is_empty() { DEFAULT_APP_GROUP } else { &r.api_group }
}

fn app_selector(r: &ApplicationReference) -> Value {
    json!({"matchLabels": {APP_GROUP_LABEL: app_group(r), APP_KIND_LABEL: r.kind, APP_NAME_LABEL: r.name}})
}

fn group_selector(name: &str) -> Value {
    json!({"matchLabels": {membership_key(name): ""}})
}

/// The endpoint selectors of a rule's peers: applications first, then groups.
fn selectors(apps: &[ApplicationReference], groups: &[String]) -> Vec<Value> {
    apps.iter().map(app_selector).chain(groups.iter().map(|g| group_selector(g))).collect()
}

/// Ports as the policy CRD takes them: protocols upper-case.
fn policy_ports(rules: &[PortRule]) -> Value {
    let mut rules = rules.to_vec();
    for p in rules.iter_mut().flat_map(|r| r.ports.iter_mut()) {
        p.protocol = p.protocol.to_uppercase();
    }
    serde_json::to_value(rules).unwrap_or_default()
}

fn policy_ingress(rule: &IngressRule) -> Value {
    let mut out = Map::new();
    let endpoints = selectors(&rule.from_app, &rule.from_sg);
    if !endpoints.is_empty() {
        out.insert("fromEndpoints".into(), Value::Array(endpoints));
    }
    if !rule.from_cidr.is_empty() {
        out.insert("fromCIDR".into(), json!(rule.from_cidr));
    }
    if !rule.to_ports.is_empty() {
        out.insert("toPorts".into(), policy_ports(&rule.to_ports));
    }
    Value::Object(out)
}

fn policy_egress(rule: &EgressRule) -> Value {
    let mut out = Map::new();
    let endpoints = selectors(&rule.to_app, &rule.to_sg);
    if !endpoints.is_empty() {
        out.insert("toEndpoints".into(), Value::Array(endpoints));
    }
    if !rule.to_cidr.is_empty() {
        out.insert("toCIDR".into(), json!(rule.to_cidr));
    }
    if !rule.to_fqdns.is_empty() {
        out.insert("toFQDNs".into(), serde_json::to_value(&rule.to_fqdns).unwrap_or_default());
    }
    if !rule.to_ports.is_empty() {
        out.insert("toPorts".into(), policy_ports(&rule.to_ports));
    }
    Value::Object(out)
}

/// A peer an endpoint selector stands for.
enum Peer {
    App(ApplicationReference),
    Group(String),
}

/// The peer of an endpoint selector of one of the two shapes written; None for any other.
fn peer(selector: &Value) -> Option<Peer> {
    let labels = selector.get("matchLabels")?.as_object()?;
    let get = |k: &str| labels.get(k).and_then(Value::as_str).map(str::to_string);
    match labels.len() {
        3 => Some(Peer::App(ApplicationReference { api_group: get(APP_GROUP_LABEL)?, kind: get(APP_KIND_LABEL)?, name: get(APP_NAME_LABEL)? })),
        1 => labels.keys().next()?.strip_prefix(MEMBERSHIP_PREFIX).map(|n| Peer::Group(n.to_string())),
        _ => None,
    }
}

fn peers(selectors: Option<&Value>) -> (Vec<ApplicationReference>, Vec<String>) {
    let (mut apps, mut groups) = (Vec::new(), Vec::new());
    for p in objects(selectors).filter_map(peer) {
        match p {
            Peer::App(a) => apps.push(a),
            Peer::Group(g) => groups.push(g),
        }
    }
    (apps, groups)
}

fn group_ingress(rule: &Value) -> IngressRule {
    let (from_app, from_sg) = peers(rule.get("fromEndpoints"));
    IngressRule { from_app, from_sg, from_cidr: strings(rule.get("fromCIDR")), to_ports: decoded(rule.get("toPorts")) }
}

fn group_egress(rule: &Value) -> EgressRule {
    let (to_app, to_sg) = peers(rule.get("toEndpoints"));
    EgressRule {
        to_app,
        to_sg,
        to_cidr: strings(rule.get("toCIDR")),
        to_fqdns: decoded::<FqdnSelector>(rule.get("toFQDNs")),
        to_ports: decoded(rule.get("toPorts")),
    }
}

/// The objects of a JSON array (anything else is empty).
fn objects(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten().filter(|o| o.is_object())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// The items of a JSON array that decode as `T`; the others are left out.
fn decoded<T: serde::de::DeserializeOwned>(v: Option<&Value>) -> Vec<T> {
    objects(v).filter_map(|o| serde_json::from_value(o.clone()).ok()).collect()
}

/// A map of strings (labels, annotations); entries of other types are left out.
fn string_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).into_iter().flatten().filter(|(_, v)| v.is_string()).map(|(k, v)| (k.clone(), v.clone())).collect()
}
