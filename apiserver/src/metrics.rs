//! Prometheus metrics under the names kube-apiserver uses, so existing dashboards work.
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::request_info::RequestInfo;

/// Labels of request counters and durations.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
    component: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    request_kind: String,
}

/// Labels of the watcher gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatcherLabels {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind watched.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DefinitionLabels {
    definition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    name: String,
    r#type: String,
    operation: String,
    rejected: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookRequestLabels {
    name: String,
    r#type: String,
    operation: String,
    code: String,
    rejected: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookRejectionLabels {
    name: String,
    r#type: String,
    operation: String,
    error_type: String,
    rejection_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailOpenLabels {
    name: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyCheckLabels {
    policy: String,
    policy_binding: String,
    error_type: String,
    enforcement_action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MutationCheckLabels {
    policy: String,
    policy_binding: String,
    error_type: String,
}

/// The admission metrics kube-apiserver publishes for webhooks, Validating- and MutatingAdmissionPolicies.
pub struct AdmissionMetrics {
    webhook_durations: Family<WebhookLabels, Histogram>,
    webhook_requests: Family<WebhookRequestLabels, Counter>,
    webhook_rejections: Family<WebhookRejectionLabels, Gauge>,
    webhook_fail_open: Family<FailOpenLabels, Gauge>,
    policy_checks: Family<PolicyCheckLabels, Counter>,
    policy_durations: Family<PolicyCheckLabels, Histogram>,
    mutation_checks: Family<MutationCheckLabels, Counter>,
    mutation_durations: Family<MutationCheckLabels, Histogram>,
}

impl AdmissionMetrics {
    /// Records one webhook call.
    pub fn webhook_call(&self, r: &crate::admission::webhooks::CallRecord) {
        let rejected = r.rejected.to_string();
        let labels = WebhookLabels { name: r.name.clone(), r#type: r.kind.into(), operation: r.operation.into(), rejected: rejected.clone() };
        self.webhook_durations.get_or_create(&labels).observe(r.seconds);
        self.webhook_requests
            .get_or_create(&WebhookRequestLabels {
                name: r.name.clone(),
                r#type: r.kind.into(),
                operation: r.operation.into(),
                code: r.code.to_string(),
                rejected: rejected.clone(),
            })
            .inc();
        if r.rejected {
            let (error_type, code) = if r.call_failed { ("calling_webhook_error", 0) } else { ("no_error", r.rejection_code) };
            self.webhook_rejections
                .get_or_create(&WebhookRejectionLabels {
                    name: r.name.clone(),
                    r#type: r.kind.into(),
                    operation: r.operation.into(),
                    error_type: error_type.into(),
                    rejection_code: code.to_string(),
                })
                .inc();
        }
        if r.failed_open {
            self.webhook_fail_open.get_or_create(&FailOpenLabels { name: r.name.clone(), r#type: r.kind.into() }).inc();
        }
    }

    /// Records each mutation of MutatingAdmissionPolicies a request ran.
    pub fn mutation_checks(&self, checks: &[apis::admission::mutating::Check]) {
        for c in checks {
            let labels = MutationCheckLabels { policy: c.policy.clone(), policy_binding: c.binding.clone(), error_type: c.error_type.into() };
            self.mutation_checks.get_or_create(&labels).inc();
            self.mutation_durations.get_or_create(&labels).observe(c.seconds);
        }
    }

    /// Records the (policy, binding) pairs a request evaluated.
    pub fn policy_checks(&self, checks: &[apis::admission::validating::Check]) {
        for c in checks {
            let labels = PolicyCheckLabels {
                policy: c.policy.clone(),
                policy_binding: c.binding.clone(),
                error_type: c.error_type.into(),
                enforcement_action: c.enforcement_action.clone(),
            };
            self.policy_checks.get_or_create(&labels).inc();
            self.policy_durations.get_or_create(&labels).observe(c.seconds);
        }
    }
}

/// The server's metrics.
pub struct Metrics {
    /// Admission's metrics, shared with the admission plugins.
    pub admission: Arc<AdmissionMetrics>,
    registry: Registry,
    requests: Family<CodeLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    inflight: Family<KindLabels, Gauge>,
    /// apiserver_registered_watchers.
    pub watchers: Family<WatcherLabels, Gauge>,
    broken_definitions: Family<DefinitionLabels, Gauge<i64, AtomicI64>>,
    broken_names: std::sync::Mutex<Vec<String>>,
    caches: std::sync::OnceLock<storage::backend::Backend>,
}

/// Decrements the in-flight gauge when dropped.
pub struct InflightGuard(Gauge);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<CodeLabels, Counter>::default();
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
            ])
        });
        let inflight = Family::<KindLabels, Gauge>::default();
        let watchers = Family::<WatcherLabels, Gauge>::default();
        let broken_definitions = Family::<DefinitionLabels, Gauge<i64, AtomicI64>>::default();
        registry.register("apiserver_request", "Counter of apiserver requests broken out by verb, resource and code", requests.clone());
        registry.register("apiserver_request_duration_seconds", "Response latency distribution in seconds", durations.clone());
        registry.register("apiserver_current_inflight_requests", "Requests in flight by kind (readOnly, mutating)", inflight.clone());
        registry.register("apiserver_registered_watchers", "Number of currently registered watchers by kind", watchers.clone());
        registry.register(
            "cozystack_api_broken_application_definitions",
            "ApplicationDefinitions that cannot be served (1 per broken definition)",
            broken_definitions.clone(),
        );
        let buckets = || Histogram::new([0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 25.0]);
        let admission = Arc::new(AdmissionMetrics {
            webhook_durations: Family::new_with_constructor(buckets),
            webhook_requests: Family::default(),
            webhook_rejections: Family::default(),
            webhook_fail_open: Family::default(),
            policy_checks: Family::default(),
            policy_durations: Family::new_with_constructor(|| Histogram::new([0.0000005, 0.001, 0.01, 0.1, 1.0])),
            mutation_checks: Family::default(),
            mutation_durations: Family::new_with_constructor(|| Histogram::new([0.0000005, 0.001, 0.01, 0.1, 1.0])),
        });
        registry.register(
            "apiserver_admission_webhook_admission_duration_seconds",
            "Admission webhook latency histogram in seconds, identified by name and broken out for each operation and API resource and type (validate or admit).",
            admission.webhook_durations.clone(),
        );
        registry.register(
            "apiserver_admission_webhook_request",
            "Admission webhook request total, identified by name and broken out for each admission type (validating or mutating) and operation.",
            admission.webhook_requests.clone(),
        );
        // kube-apiserver's names end in _count; prometheus-client would add _total to a counter, so these are gauges
        // that only go up.
        registry.register(
            "apiserver_admission_webhook_rejection_count",
            "Admission webhook rejection count, identified by name and broken out for each admission type and operation.",
            admission.webhook_rejections.clone(),
        );
        registry.register(
            "apiserver_admission_webhook_fail_open_count",
            "Admission webhook fail open count, identified by name and broken out for each admission type.",
            admission.webhook_fail_open.clone(),
        );
        registry.register(
            "apiserver_validating_admission_policy_check",
            "Validation admission policy check total, labeled by policy and further identified by binding and enforcement action taken.",
            admission.policy_checks.clone(),
        );
        registry.register(
            "apiserver_validating_admission_policy_check_duration_seconds",
            "Validation admission latency for individual validation expressions in seconds, labeled by policy and further including binding and enforcement action taken.",
            admission.policy_durations.clone(),
        );
        registry.register(
            "apiserver_mutating_admission_policy_check",
            "Mutation admission policy check total, labeled by policy and further identified by binding.",
            admission.mutation_checks.clone(),
        );
        registry.register(
            "apiserver_mutating_admission_policy_check_duration_seconds",
            "Mutation admission latency for individual mutation expressions in seconds, labeled by policy and binding.",
            admission.mutation_durations.clone(),
        );
        Self { admission, registry, requests, durations, inflight, watchers, broken_definitions, broken_names: Default::default(), caches: Default::default() }
    }
}

fn scope(info: &RequestInfo) -> &'static str {
    if !info.name.is_empty() {
        "resource"
    } else if !info.namespace.is_empty() {
        "namespace"
    } else {
        "cluster"
    }
}

impl Metrics {
    fn labels(info: &RequestInfo) -> RequestLabels {
        RequestLabels {
            verb: info.verb.to_uppercase(),
            group: info.api_group.clone(),
            version: info.api_version.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            scope: if info.is_resource_request { scope(info).into() } else { String::new() },
            component: "apiserver".into(),
        }
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn start(&self, info: &RequestInfo) -> InflightGuard {
        let kind = if matches!(info.verb.as_str(), "create" | "update" | "patch" | "delete" | "deletecollection") { "mutating" } else { "readOnly" };
        let g = self.inflight.get_or_create(&KindLabels { request_kind: kind.into() }).clone();
        g.inc();
        InflightGuard(g)
    }

    /// Records a finished request.
    pub fn finish(&self, info: &RequestInfo, code: u16, elapsed: Duration) {
        let l = Self::labels(info);
        self.durations.get_or_create(&l).observe(elapsed.as_secs_f64());
        let c = CodeLabels {
            verb: l.verb,
            group: l.group,
            version: l.version,
            resource: l.resource,
            subresource: l.subresource,
            scope: l.scope,
            component: l.component,
            code: code.to_string(),
        };
        self.requests.get_or_create(&c).inc();
    }

    /// Records which definitions are broken now: 1 for each, 0 for those that were broken before and are not.
    pub fn set_broken_definitions<'a>(&self, broken: impl Iterator<Item = &'a str>) {
        let now: std::collections::BTreeSet<&str> = broken.collect();
        for name in self.broken_names.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if !now.contains(name.as_str()) {
                self.broken_definitions.get_or_create(&DefinitionLabels { definition: name.clone() }).set(0);
            }
        }
        for name in &now {
            self.broken_definitions.get_or_create(&DefinitionLabels { definition: name.to_string() }).set(1);
        }
        *self.broken_names.lock().unwrap_or_else(|e| e.into_inner()) = now.iter().map(|s| s.to_string()).collect();
    }

    /// Reports the watch caches of `backend` (objects and history per backing resource).
    pub fn observe_caches(&self, backend: storage::backend::Backend) {
        let _ = self.caches.set(backend);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        if let Some(backend) = self.caches.get() {
            // Before the registry's "# EOF" line, which ends the exposition.
            let eof = out.rfind("# EOF").unwrap_or(out.len());
            let caches = cache_lines(&backend.watch_cache_stats());
            out.insert_str(eof, &caches);
        }
        out
    }
}

/// Shared handle.
pub type SharedMetrics = Arc<Metrics>;

/// The watch caches' gauges under kube-apiserver's names (`apiserver_storage_objects`,
/// `apiserver_watch_cache_capacity`) and the events each keeps, summed per backing resource.
fn cache_lines(stats: &[storage::watch_cache::CacheStats]) -> String {
    let mut per: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
    for s in stats {
        // "/apis/helm.toolkit.fluxcd.io/v2/helmreleases" is resource "helmreleases.helm.toolkit.fluxcd.io".
        let parts: Vec<&str> = s.path.trim_start_matches('/').split('/').collect();
        let resource = match parts.as_slice() {
            ["apis", group, _, plural] => format!("{plural}.{group}"),
            [.., plural] => plural.to_string(),
            [] => continue,
        };
        let e = per.entry(resource).or_default();
        e.0 += s.objects;
        e.1 += s.history;
        e.2 += s.capacity;
    }
    let mut out = String::new();
    let mut family = |name: &str, help: &str, value: fn(&(usize, usize, usize)) -> usize| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (resource, v) in &per {
            out.push_str(&format!("{name}{{resource=\"{resource}\"}} {}\n", value(v)));
        }
    };
    family("apiserver_storage_objects", "Number of stored objects at the time of last check split by kind.", |v| v.0);
    family("cozystack_watch_cache_history_events", "Events the watch caches keep in their history, by backing resource.", |v| v.1);
    family("apiserver_watch_cache_capacity", "Total capacity of watch cache broken by resource type.", |v| v.2);
    out
}

#[cfg(test)]
mod tests {
    use storage::watch_cache::CacheStats;

    #[test]
    fn watch_caches_are_reported_per_backing_resource_before_the_end_of_the_exposition() {
        let stats = |path: &str, objects, history| CacheStats { path: path.into(), objects, history, capacity: 100 };
        let lines = super::cache_lines(&[
            stats("/apis/helm.toolkit.fluxcd.io/v2/helmreleases", 7, 3),
            stats("/apis/helm.toolkit.fluxcd.io/v2/helmreleases", 2, 1),
            stats("/api/v1/namespaces", 4, 0),
        ]);
        assert!(lines.contains("apiserver_storage_objects{resource=\"helmreleases.helm.toolkit.fluxcd.io\"} 9\n"), "{lines}");
        assert!(lines.contains("apiserver_storage_objects{resource=\"namespaces\"} 4\n"), "{lines}");
        assert!(lines.contains("cozystack_watch_cache_history_events{resource=\"helmreleases.helm.toolkit.fluxcd.io\"} 4\n"), "{lines}");
        assert!(lines.contains("apiserver_watch_cache_capacity{resource=\"namespaces\"} 100\n"), "{lines}");

        let metrics = super::Metrics::default();
        let fake = storage::backend::testing::FakeBackend::new();
        metrics.observe_caches(fake.backend());
        let text = metrics.encode();
        assert!(text.contains("# TYPE apiserver_storage_objects gauge") && text.trim_end().ends_with("# EOF"), "{text}");
    }
}
