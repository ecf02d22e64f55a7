//! Validating- and MutatingWebhookConfigurations, watched live, and their webhooks called over HTTPS with
//! AdmissionReview v1, as kube-apiserver calls them: validating webhooks in parallel (the first refusal
//! answered), mutating ones in order with their JSONPatches applied, each call bounded by its timeout, a failed
//! call following its failurePolicy.
//!
//! A `service` clientConfig is reached the way the generic apiserver's default resolver does, by DNS at
//! `<name>.<namespace>.svc:<port>` with that name as the TLS server name: the server runs in the cluster, so
//! the cluster's DNS answers, and the webhook's own certificate is verified against its caBundle, which a
//! detour through kube-apiserver's service proxy would not do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apis::admission::cel::Activation;
use apis::admission::webhook::{self, Webhook};
use apis::admission::{Attributes, matching};
use apis::status::Status;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use storage::StorageError;
use storage::admission::policies::{NAMESPACES, namespace_object};
use storage::admission::{AdmissionPlugin, AdmissionRequest, MutatingPlugin, Reinvocation};
use storage::backend::{Backend, BackingResource};
use storage::watch_cache::WatchCache;

/// admissionregistration.k8s.io/v1 MutatingWebhookConfigurations.
pub const MUTATING_WEBHOOKS: BackingResource =
    BackingResource { group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingwebhookconfigurations", namespaced: false };
/// admissionregistration.k8s.io/v1 ValidatingWebhookConfigurations.
pub const VALIDATING_WEBHOOKS: BackingResource =
    BackingResource { group: "admissionregistration.k8s.io", version: "v1", plural: "validatingwebhookconfigurations", namespaced: false };

/// What one call did, for metrics: webhook, rejected, HTTP code (0 when none), seconds, failed open.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// The webhook's name.
    pub name: String,
    /// `validating` or `admit`.
    pub kind: &'static str,
    /// The operation.
    pub operation: &'static str,
    /// True when it refused the request (or failed closed).
    pub rejected: bool,
    /// The HTTP status of its answer, 0 when there was none.
    pub code: u16,
    /// Seconds spent.
    pub seconds: f64,
    /// True when a failed call was ignored (failurePolicy Ignore).
    pub failed_open: bool,
    /// True when the call failed (network, timeout, invalid response).
    pub call_failed: bool,
    /// The code of a refusal.
    pub rejection_code: u16,
}

/// Receives a record of every webhook call.
pub type CallObserver = Arc<dyn Fn(&CallRecord) + Send + Sync>;

/// The validating webhook plugin.
pub struct ValidatingWebhooks {
    configs: Arc<WatchCache>,
    namespaces: Arc<WatchCache>,
    observer: Option<CallObserver>,
}

impl ValidatingWebhooks {
    /// Watches the ValidatingWebhookConfigurations of the cluster behind `backend`.
    pub fn new(backend: &Backend, observer: Option<CallObserver>) -> Self {
        Self { configs: backend.watch_cache(&VALIDATING_WEBHOOKS, ""), namespaces: backend.watch_cache_of_whole_objects(&NAMESPACES, ""), observer }
    }

    /// Returns once the configurations are listed.
    pub async fn synced(&self) {
        self.configs.synced().await;
    }

    /// Every webhook, configurations sorted by name.
    fn webhooks(&self) -> Vec<Webhook> {
        let (mut entries, _) = self.configs.objects();
        entries.sort_by_key(|e| e.key().1);
        entries.iter().flat_map(|e| webhook::webhooks_of(&e.object(), false)).collect()
    }
}

/// Why a webhook is skipped or refuses before it is called.
enum Gate {
    Call,
    Skip,
    Refuse(Box<Status>),
}

/// Selectors, rules and matchConditions of `w` on the request.
fn gate(w: &Webhook, a: &Attributes<'_>, ns: Option<&Value>) -> Gate {
    let labels: Option<BTreeMap<String, String>> = ns.map(|n| matching::labels_of(Some(n)));
    match w.matches(a, labels.as_ref()) {
        Ok(true) => {}
        Ok(false) => return Gate::Skip,
        Err(_) => return Gate::Refuse(Box::new(Status::not_found("", "namespaces", a.namespace))),
    }
    if w.match_conditions.is_empty() {
        return Gate::Call;
    }
    let act = Activation::new(a, None, ns, &[], None);
    match apis::admission::cel::match_conditions(&act, &w.match_conditions) {
        Ok(true) => Gate::Call,
        Err(e) if w.fail_closed => Gate::Refuse(Box::new(Status::forbidden(a.group, a.resource, a.name, &e))),
        Ok(false) | Err(_) => Gate::Skip,
    }
}

/// The TLS settings of a webhook: its caBundle, else the system's roots.
fn tls_config(w: &Webhook) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &w.ca_bundle {
        Some(pem) => {
            for der in CertificateDer::pem_slice_iter(pem).filter_map(Result::ok) {
                roots.add(der).map_err(|e| format!("invalid caBundle: {e}"))?;
            }
        }
        None => {
            for der in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(der);
            }
        }
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Ok(Arc::new(config))
}

/// Posts `review` to the webhook; the answer's status code and body, or why there is none.
async fn post(w: &Webhook, url: &str, review: &Value) -> Result<(u16, Value), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("parse {url:?}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("unsupported scheme {:?}", uri.scheme_str().unwrap_or_default()));
    }
    let host = uri.host().ok_or("no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
    let name = ServerName::try_from(w.server_name()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(tls_config(w)?).connect(name, tcp).await.map_err(|e| format!("tls: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let body = serde_json::to_vec(review).map_err(|e| e.to_string())?;
    let req = http::Request::post(path)
        .header(http::header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or_default())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    if !(200..300).contains(&code) {
        return Err(format!("an error on the server ({:?}) has prevented the request from succeeding", String::from_utf8_lossy(&bytes)));
    }
    let v = serde_json::from_slice(&bytes).map_err(|e| format!("received invalid webhook response: {e}"))?;
    Ok((code, v))
}

/// Calls one webhook: its patch (mutating webhooks) when it admits, else the Status to answer.
async fn call(w: &Webhook, a: &Attributes<'_>, warnings: &storage::admission::Warnings, observer: Option<&CallObserver>) -> Result<Option<Value>, Status> {
    let started = Instant::now();
    let uid = uuid::Uuid::new_v4().to_string();
    let review = webhook::review(&uid, a);
    let url = w.url();
    let answer = match tokio::time::timeout(Duration::from_secs(w.timeout_seconds), post(w, &url, &review)).await {
        Err(_) => Err((0, format!("failed to call webhook: Post \"{url}\": context deadline exceeded"))),
        Ok(Err(e)) if e.starts_with("received invalid webhook response") => Err((200, e)),
        Ok(Err(e)) => Err((0, format!("failed to call webhook: Post \"{url}\": {e}"))),
        Ok(Ok((code, body))) => webhook::read_reply(w, &uid, &body).map(|r| (code, r)).map_err(|e| (code, e)),
    };
    let mut record = CallRecord {
        name: w.name.clone(),
        kind: if w.mutating { "admit" } else { "validating" },
        operation: a.operation.as_str(),
        rejected: false,
        code: 0,
        seconds: 0.0,
        failed_open: false,
        call_failed: false,
        rejection_code: 0,
    };
    let outcome = match answer {
        Ok((code, reply)) => {
            record.code = code;
            for warning in reply.warnings {
                warnings.push(warning);
            }
            record.rejected = reply.denial.is_some();
            record.rejection_code = reply.denial.as_ref().map(|d| d.code).unwrap_or_default();
            match reply.denial {
                Some(status) => Err(status),
                None => Ok(reply.patch),
            }
        }
        Err((code, e)) => {
            record.code = code;
            record.call_failed = true;
            tracing::warn!(webhook = %w.name, error = %e, "admission webhook call failed");
            if w.fail_closed {
                record.rejected = true;
                Err(webhook::call_failed(w, &e))
            } else {
                record.failed_open = true;
                Ok(None)
            }
        }
    };
    record.seconds = started.elapsed().as_secs_f64();
    if let Some(observe) = observer {
        observe(&record);
    }
    outcome
}

impl AdmissionPlugin for ValidatingWebhooks {
    fn name(&self) -> &'static str {
        "ValidatingAdmissionWebhook"
    }

    fn validate<'a>(&'a self, request: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if !self.configs.is_synced() && tokio::time::timeout(Duration::from_secs(5), self.configs.synced()).await.is_err() {
                let r = request.resource;
                return Err(Status::forbidden(&r.group, &r.plural, request.name, "not yet ready to handle request").into());
            }
            let webhooks = self.webhooks();
            if webhooks.is_empty() {
                return Ok(());
            }
            let a = request.attributes();
            let ns = if a.namespaced { namespace_object(&self.namespaces, a.namespace).await } else { None };
            let mut calls = Vec::new();
            for w in &webhooks {
                match gate(w, &a, ns.as_ref()) {
                    Gate::Skip => continue,
                    Gate::Refuse(s) => return Err((*s).into()),
                    Gate::Call => {}
                }
                if a.dry_run && !w.supports_dry_run() {
                    return Err(webhook::no_dry_run(w).into());
                }
                calls.push(call(w, &a, request.warnings, self.observer.as_ref()));
            }
            let mut pending: futures::stream::FuturesUnordered<_> = calls.into_iter().collect();
            use futures::StreamExt;
            // The first refusal to arrive is answered, as kube-apiserver's parallel dispatch does.
            while let Some(outcome) = pending.next().await {
                outcome?;
            }
            Ok(())
        })
    }
}

/// The mutating webhook plugin.
pub struct MutatingWebhooks {
    configs: Arc<WatchCache>,
    namespaces: Arc<WatchCache>,
    observer: Option<CallObserver>,
}

impl MutatingWebhooks {
    /// Watches the MutatingWebhookConfigurations of the cluster behind `backend`.
    pub fn new(backend: &Backend, observer: Option<CallObserver>) -> Self {
        Self { configs: backend.watch_cache(&MUTATING_WEBHOOKS, ""), namespaces: backend.watch_cache_of_whole_objects(&NAMESPACES, ""), observer }
    }

    /// Returns once the configurations are listed.
    pub async fn synced(&self) {
        self.configs.synced().await;
    }
}

/// Applies a webhook's JSONPatch to `object`.
fn apply_patch(w: &Webhook, object: &mut Option<Value>, patch: Value) -> Result<(), Status> {
    let Some(obj) = object.as_mut() else {
        return Err(webhook::internal(&format!("admission webhook \"{}\" attempted to modify the object, which is not supported for this operation", w.name)));
    };
    let patch: json_patch::Patch = serde_json::from_value(patch).map_err(|e| webhook::internal(&format!("JSON Patch: {e}")))?;
    *obj = apis::json_patches::patched(obj, &patch).map_err(|e| webhook::internal(&format!("JSON Patch: {e}")))?;
    Ok(())
}

impl MutatingPlugin for MutatingWebhooks {
    fn name(&self) -> &'static str {
        "MutatingAdmissionWebhook"
    }

    fn admit<'a>(
        &'a self,
        request: &'a AdmissionRequest<'a>,
        object: &'a mut Option<Value>,
        reinvocation: &'a mut Reinvocation,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if !self.configs.is_synced() && tokio::time::timeout(Duration::from_secs(5), self.configs.synced()).await.is_err() {
                let r = request.resource;
                return Err(Status::forbidden(&r.group, &r.plural, request.name, "not yet ready to handle request").into());
            }
            let (mut entries, _) = self.configs.objects();
            entries.sort_by_key(|e| e.key().1);
            let webhooks: Vec<Webhook> = entries.iter().flat_map(|e| webhook::webhooks_of(&e.object(), true)).collect();
            if webhooks.is_empty() {
                return Ok(());
            }
            let ns = if request.resource.namespaced { namespace_object(&self.namespaces, request.namespace).await } else { None };
            for w in &webhooks {
                let key = format!("webhook/{}/{}", w.configuration, w.name);
                if !reinvocation.should_call(&key) {
                    continue;
                }
                let current = object.clone();
                let mut a = request.attributes();
                a.object = current.as_ref();
                match gate(w, &a, ns.as_ref()) {
                    Gate::Skip => continue,
                    Gate::Refuse(s) => return Err((*s).into()),
                    Gate::Call => {}
                }
                if a.dry_run && !w.supports_dry_run() {
                    return Err(webhook::no_dry_run(w).into());
                }
                let patch = call(w, &a, request.warnings, self.observer.as_ref()).await?;
                let before = object.clone();
                if let Some(p) = patch {
                    apply_patch(w, object, p)?;
                }
                reinvocation.ran(&key, w.reinvoke_if_needed, *object != before);
            }
            Ok(())
        })
    }
}
