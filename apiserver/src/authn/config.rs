//! The authentication settings kube-apiserver publishes in kube-system/extension-apiserver-authentication,
//! watched so that a rotated CA or changed header name takes effect without a restart.

use std::sync::Arc;

use arc_swap::ArcSwap;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher;

use crate::tls::CaPool;

/// Namespace of the ConfigMap kube-apiserver writes.
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Name of the ConfigMap kube-apiserver writes.
pub const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

/// CA pools and header names used by the authenticators.
#[derive(Debug, Default)]
pub struct AuthenticationConfig {
    /// CAs of x509 client certificates (user = CN, groups = O).
    pub client_ca: CaPool,
    /// CAs of the front proxy (the aggregator).
    pub requestheader_ca: CaPool,
    /// CNs the front proxy may use; empty allows any certificate of `requestheader_ca`.
    pub allowed_names: Vec<String>,
    /// Headers naming the user.
    pub username_headers: Vec<String>,
    /// Headers naming the user's UID.
    pub uid_headers: Vec<String>,
    /// Headers naming groups.
    pub group_headers: Vec<String>,
    /// Prefixes of headers carrying extra attributes.
    pub extra_prefixes: Vec<String>,
}

impl AuthenticationConfig {
    /// Reads the ConfigMap's keys; the values of list keys are JSON arrays of strings.
    pub fn from_configmap(cm: &ConfigMap) -> Self {
        let data = cm.data.clone().unwrap_or_default();
        let list = |key: &str| -> Vec<String> { data.get(key).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default() };
        let pem = |key: &str| CaPool::from_pem(data.get(key).map(String::as_bytes).unwrap_or_default());
        Self {
            client_ca: pem("client-ca-file"),
            requestheader_ca: pem("requestheader-client-ca-file"),
            allowed_names: list("requestheader-allowed-names"),
            username_headers: list("requestheader-username-headers"),
            uid_headers: list("requestheader-uid-headers"),
            group_headers: list("requestheader-group-headers"),
            extra_prefixes: list("requestheader-extra-headers-prefix"),
        }
    }
}

/// Keeps `target` equal to the ConfigMap's current content; marks `ready` once it has been read.
pub async fn watch_authentication_config(client: kube::Client, target: Arc<ArcSwap<AuthenticationConfig>>, ready: Arc<tokio::sync::Notify>) {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, CONFIGMAP_NAMESPACE);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP_NAME}"));
    let mut stream = std::pin::pin!(watcher(api, cfg));
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                target.store(Arc::new(AuthenticationConfig::from_configmap(&cm)));
                tracing::info!("authentication configuration loaded from {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}");
                ready.notify_waiters();
                ready.notify_one();
            }
            Ok(watcher::Event::Delete(_)) => {
                tracing::warn!("{CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} was deleted; keeping the last configuration");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "watching the authentication ConfigMap failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
