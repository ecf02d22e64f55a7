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

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<CodeLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    inflight: Family<KindLabels, Gauge>,
    /// apiserver_registered_watchers.
    pub watchers: Family<WatcherLabels, Gauge>,
    broken_definitions: Family<DefinitionLabels, Gauge<i64, AtomicI64>>,
    broken_names: std::sync::Mutex<Vec<String>>,
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
        Self { registry, requests, durations, inflight, watchers, broken_definitions, broken_names: Default::default() }
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

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Shared handle.
pub type SharedMetrics = Arc<Metrics>;
