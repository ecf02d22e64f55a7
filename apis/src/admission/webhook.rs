//! Admission webhooks of Validating- and MutatingWebhookConfigurations: their settings with the v1 defaults,
//! which requests they apply to, the AdmissionReview v1 request, and the reading of the response into a
//! decision with kube-apiserver's messages.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use super::Attributes;
use super::cel::Expr;
use super::matching::{self, label_selector};
use crate::status::{Status, StatusCause, StatusDetails};

/// Where a webhook is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// clientConfig.url.
    Url(String),
    /// clientConfig.service.
    Service {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Path ("" for none).
        path: String,
        /// Port (443 by default).
        port: u16,
    },
}

/// One webhook of a configuration.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Its name (`webhooks[].name`).
    pub name: String,
    /// The configuration's name.
    pub configuration: String,
    /// True for a mutating webhook.
    pub mutating: bool,
    /// Where to send reviews.
    pub endpoint: Endpoint,
    /// clientConfig.caBundle (PEM), when given.
    pub ca_bundle: Option<Vec<u8>>,
    /// rules.
    pub rules: Vec<Value>,
    /// namespaceSelector.
    pub namespace_selector: Option<Value>,
    /// objectSelector.
    pub object_selector: Option<Value>,
    /// matchConditions.
    pub match_conditions: Vec<(String, Expr)>,
    /// timeoutSeconds (10 by default).
    pub timeout_seconds: u64,
    /// failurePolicy Fail (the default).
    pub fail_closed: bool,
    /// sideEffects.
    pub side_effects: String,
    /// reinvocationPolicy IfNeeded (mutating only).
    pub reinvoke_if_needed: bool,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The webhooks of a Validating- or MutatingWebhookConfiguration, with the v1 defaults.
pub fn webhooks_of(config: &Value, mutating: bool) -> Vec<Webhook> {
    let configuration = config.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    config
        .get("webhooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| {
            let cc = w.get("clientConfig").cloned().unwrap_or_default();
            let endpoint = match cc.get("service").filter(|s| !s.is_null()) {
                Some(s) => Endpoint::Service {
                    namespace: text(s, "namespace"),
                    name: text(s, "name"),
                    path: text(s, "path"),
                    port: s.get("port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()).unwrap_or(443),
                },
                None => Endpoint::Url(text(&cc, "url")),
            };
            let ca_bundle = cc.get("caBundle").and_then(Value::as_str).and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
            Webhook {
                name: text(w, "name"),
                configuration: configuration.clone(),
                mutating,
                endpoint,
                ca_bundle,
                rules: w.get("rules").and_then(Value::as_array).cloned().unwrap_or_default(),
                namespace_selector: w.get("namespaceSelector").cloned(),
                object_selector: w.get("objectSelector").cloned(),
                match_conditions: w
                    .get("matchConditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| (text(c, "name"), Expr::compile(&text(c, "expression"))))
                    .collect(),
                timeout_seconds: w.get("timeoutSeconds").and_then(Value::as_u64).unwrap_or(10).clamp(1, 30),
                fail_closed: w.get("failurePolicy").and_then(Value::as_str) != Some("Ignore"),
                side_effects: text(w, "sideEffects"),
                reinvoke_if_needed: w.get("reinvocationPolicy").and_then(Value::as_str) == Some("IfNeeded"),
            }
        })
        .collect()
}

impl Webhook {
    /// Whether the webhook applies to the request by its selectors and rules (matchConditions are evaluated
    /// by the caller); an error for a selector that cannot be read or a namespace that does not exist.
    pub fn matches(&self, a: &Attributes<'_>, ns_labels: Option<&BTreeMap<String, String>>) -> Result<bool, String> {
        if !matching::namespace_matches(&label_selector(self.namespace_selector.as_ref())?, a, ns_labels)? {
            return Ok(false);
        }
        if !matching::object_matches(&label_selector(self.object_selector.as_ref())?, a) {
            return Ok(false);
        }
        Ok(self.rules.iter().any(|r| matching::rule_matches(r, a, false)))
    }

    /// True when the webhook may be called for a dry-run request.
    pub fn supports_dry_run(&self) -> bool {
        matches!(self.side_effects.as_str(), "None" | "NoneOnDryRun")
    }

    /// The URL reviews are posted to, with kube-apiserver's `?timeout=` parameter; a service is reached at
    /// `<name>.<namespace>.svc:<port>`.
    pub fn url(&self) -> String {
        let base = match &self.endpoint {
            Endpoint::Url(u) => u.clone(),
            Endpoint::Service { namespace, name, path, port } => {
                let port = if *port == 443 { String::new() } else { format!(":{port}") };
                format!("https://{name}.{namespace}.svc{port}{path}")
            }
        };
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}timeout={}s", self.timeout_seconds)
    }

    /// The TLS server name: the URL's host, or `<name>.<namespace>.svc` for a service.
    pub fn server_name(&self) -> String {
        match &self.endpoint {
            Endpoint::Service { namespace, name, .. } => format!("{name}.{namespace}.svc"),
            Endpoint::Url(u) => {
                let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
                let authority = rest.split(['/', '?']).next().unwrap_or_default();
                let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
                if let Some(v6) = host.strip_prefix('[') {
                    v6.split(']').next().unwrap_or_default().to_string()
                } else {
                    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host).to_string()
                }
            }
        }
    }
}

/// The AdmissionReview v1 request kube-apiserver sends.
pub fn review(uid: &str, a: &Attributes<'_>) -> Value {
    let mut user = json!({"username": a.user.name});
    if !a.user.uid.is_empty() {
        user["uid"] = a.user.uid.clone().into();
    }
    if !a.user.groups.is_empty() {
        user["groups"] = json!(a.user.groups);
    }
    if !a.user.extra.is_empty() {
        user["extra"] = json!(a.user.extra);
    }
    let kind = json!({"group": a.group, "version": a.version, "kind": a.kind});
    let resource = json!({"group": a.group, "version": a.version, "resource": a.resource});
    let mut request = json!({
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": a.name,
        "operation": a.operation.as_str(),
        "userInfo": user,
        "object": a.object.cloned().unwrap_or(Value::Null),
        "oldObject": a.old_object.cloned().unwrap_or(Value::Null),
        "dryRun": a.dry_run,
        "options": a.options.cloned().unwrap_or(Value::Null),
    });
    if !a.subresource.is_empty() {
        request["subResource"] = a.subresource.into();
        request["requestSubResource"] = a.subresource.into();
    }
    if !a.namespace.is_empty() {
        request["namespace"] = a.namespace.into();
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

/// What a webhook answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// None when allowed, else the Status of the refusal.
    pub denial: Option<Status>,
    /// Its warnings.
    pub warnings: Vec<String>,
    /// Its audit annotations.
    pub audit_annotations: BTreeMap<String, String>,
    /// The JSONPatch of a mutating webhook.
    pub patch: Option<Value>,
}

/// Reads an AdmissionReview response; an error is an invalid response (a call failure).
pub fn read_reply(w: &Webhook, uid: &str, body: &Value) -> Result<Reply, String> {
    let invalid = |m: &str| format!("received invalid webhook response: {m}");
    if body.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1") || body.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return Err(invalid(&format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {}, Kind={}",
            text(body, "apiVersion"),
            text(body, "kind")
        )));
    }
    let Some(r) = body.get("response").filter(|r| r.is_object()) else { return Err(invalid("response was absent")) };
    if text(r, "uid") != uid {
        return Err(invalid(&format!("expected response.uid=\"{uid}\", got \"{}\"", text(r, "uid"))));
    }
    let patch = match (r.get("patch").and_then(Value::as_str), r.get("patchType").and_then(Value::as_str)) {
        (None, None) => None,
        (Some(_), _) if !w.mutating => return Err(invalid("validating webhook may not return a patch")),
        (Some(_), None) => return Err(invalid("webhook returned response.patch but not response.patchType")),
        (None, Some(_)) => return Err(invalid("webhook returned response.patchType but not response.patch")),
        (Some(_), Some(t)) if t != "JSONPatch" => return Err(invalid(&format!("webhook returned invalid response.patchType of \"{t}\""))),
        (Some(p), Some(_)) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(p).map_err(|e| invalid(&e.to_string()))?;
            Some(serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("cannot decode the patch of webhook {:?}: {e}", w.name))?)
        }
    };
    let warnings = r.get("warnings").and_then(Value::as_array).into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect();
    let audit_annotations = r
        .get("auditAnnotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (format!("{}/{k}", w.name), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let denial = (r.get("allowed").and_then(Value::as_bool) != Some(true)).then(|| denied(&w.name, r.get("status")));
    Ok(Reply { denial, warnings, audit_annotations, patch: if w.mutating { patch } else { None } })
}

/// The refusal of webhook `name` with the response's status: code at least 400, its message prefixed.
pub fn denied(name: &str, status: Option<&Value>) -> Status {
    let s = status.cloned().unwrap_or_default();
    let code = s.get("code").and_then(Value::as_u64).map(|c| c as u16).filter(|c| *c >= 400).unwrap_or(400);
    let (msg, reason) = (text(&s, "message"), text(&s, "reason"));
    let by = format!("admission webhook \"{name}\" denied the request");
    let message = if !msg.is_empty() {
        format!("{by}: {msg}")
    } else if !reason.is_empty() {
        format!("{by}: {reason}")
    } else {
        format!("{by} without explanation")
    };
    let mut out = Status::failure(code, &reason, message);
    out.details = s.get("details").and_then(|d| serde_json::from_value::<StatusDetails>(d.clone()).ok());
    out
}

/// The 500 of a failed call under failurePolicy Fail.
pub fn call_failed(w: &Webhook, error: &str) -> Status {
    let cause = format!("failed calling webhook \"{}\": {error}", w.name);
    internal(&cause)
}

/// kube-apiserver's InternalError Status.
pub fn internal(cause: &str) -> Status {
    let mut s = Status::failure(500, "InternalError", format!("Internal error occurred: {cause}"));
    s.details = Some(StatusDetails { causes: vec![StatusCause { message: cause.into(), ..Default::default() }], ..Default::default() });
    s
}

/// The 400 of a dry-run request that a webhook with side effects would see.
pub fn no_dry_run(w: &Webhook) -> Status {
    Status::bad_request(format!("admission webhook \"{}\" does not support dry run", w.name))
}
