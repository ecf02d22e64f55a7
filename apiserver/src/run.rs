//! Start-up: flags to a running server, and the order things start in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use apis::application::ReleaseSettings;
use arc_swap::ArcSwap;
use storage::backend::Backend;

use crate::authn::{AuthenticationConfig, Authenticator, TokenReviewer, watch_authentication_config};
use crate::authz::Authorizer;
use crate::filters::{HttpService, Limits, build_handler_chain};
use crate::flags::Flags;
use crate::server::{ServerState, bind, serve};

/// Builds a backend client from a kubeconfig file, or from the environment (KUBECONFIG, in-cluster).
pub async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| anyhow::anyhow!("reading kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await.map_err(|e| anyhow::anyhow!("no --kubeconfig and no in-cluster configuration: {e}"))?,
    };
    backend_client(config)
}

/// A client that sends each request once. kube's default retries 503 and 504 for every verb, but after a 504
/// or 503 a write may have happened: retrying a create then answers 409 AlreadyExists (and an update 409
/// Conflict) for a write that did happen. Clients retry, knowing the outcome was unknown; the fault harness
/// found this.
pub fn backend_client(mut config: kube::Config) -> anyhow::Result<kube::Client> {
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(flags: Flags) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let backend = client(flags.kubeconfig.as_deref()).await?;
    let authn_client = match &flags.authentication_kubeconfig {
        Some(p) => client(Some(p)).await?,
        None => backend.clone(),
    };
    let authz_client = match &flags.authorization_kubeconfig {
        Some(p) => client(Some(p)).await?,
        None => backend.clone(),
    };

    let cert = crate::tls::ReloadingCert::new(flags.tls_cert_file.clone(), flags.tls_private_key_file.clone())?;
    tokio::spawn(cert.clone().watch(Duration::from_secs(5)));
    let tls = crate::tls::server_config(cert);

    let auth_config = Arc::new(ArcSwap::from_pointee(AuthenticationConfig::default()));
    let auth_loaded = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(watch_authentication_config(authn_client.clone(), auth_config.clone(), auth_loaded.clone()));

    // One backend for every registry, so that all application kinds share one HelmRelease watch cache.
    let watch_caches = storage::watch_cache::WatchCacheConfig {
        history_size: flags.watch_cache_history_size,
        bookmark_interval: flags.watch_bookmark_interval,
        consistent_read_wait: flags.watch_cache_consistent_read_wait,
        progress_marker_namespace: Some(flags.progress_marker_namespace.clone()).filter(|ns| !ns.is_empty()),
        ..Default::default()
    };
    let store_backend = Backend::with_watch_caches(backend.clone(), watch_caches);

    // Admission in kube-apiserver's order for a custom resource: mutating policies and webhooks, then (in the store) the
    // kind's defaulting, pruning and validation, then the built-in tenant rules, the cluster's
    // ValidatingAdmissionPolicies and validating webhooks.
    let mut admission = crate::admission::built_in_plugins(crate::admission::AdmissionConfig {
        cluster_admin_groups: flags.admission_cluster_admin_groups.clone(),
        app_namespace_exceptions: flags.admission_app_namespace_exceptions.iter().filter(|s| !s.is_empty()).cloned().collect(),
        reserved_prefixes: flags.admission_reserved_prefixes.iter().filter(|s| !s.is_empty()).cloned().collect(),
    });
    let metrics = crate::metrics::Metrics::default();
    let policy_metrics = metrics.admission.clone();
    let cel_authorizer = Arc::new(Authorizer::new(
        Some(authz_client.clone()),
        Vec::new(),
        flags.authorization_webhook_cache_authorized_ttl,
        flags.authorization_webhook_cache_unauthorized_ttl,
    ));
    let policies = Arc::new(storage::admission::policies::ValidatingPolicies::new(
        store_backend.clone(),
        Arc::new(crate::admission::policies::Discovery(backend.clone())),
        Some(Arc::new(crate::admission::policies::SarAuthorizers(cel_authorizer.clone()))),
        Some(Arc::new(move |checks: &[apis::admission::validating::Check]| policy_metrics.policy_checks(checks))),
    ));
    admission.push(policies.clone());
    let observe_calls: crate::admission::webhooks::CallObserver = {
        let m = metrics.admission.clone();
        Arc::new(move |r: &crate::admission::webhooks::CallRecord| m.webhook_call(r))
    };
    let webhooks = Arc::new(crate::admission::webhooks::ValidatingWebhooks::new(&store_backend, Some(observe_calls.clone())));
    admission.push(webhooks.clone());
    let mutating_webhooks = Arc::new(crate::admission::webhooks::MutatingWebhooks::new(&store_backend, Some(observe_calls)));
    let mutation_metrics = metrics.admission.clone();
    let mutating_policies = Arc::new(storage::admission::mutating_policies::MutatingPolicies::new(
        store_backend.clone(),
        Arc::new(crate::admission::policies::Discovery(backend.clone())),
        Some(Arc::new(crate::admission::policies::SarAuthorizers(cel_authorizer.clone()))),
        Some(Arc::new(move |checks: &[apis::admission::mutating::Check]| mutation_metrics.mutation_checks(checks))),
    ));

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let catalog = Arc::new(storage::catalog::Catalog::new(vec![apis::APPS_GROUP.into(), apis::CORE_GROUP.into(), apis::SDN_GROUP.into()]));
    let state = Arc::new(ServerState {
        authenticator: Authenticator::new(auth_config, flags.authentication_token_webhook.then(|| TokenReviewer::new(authn_client)), flags.anonymous_auth),
        authorizer: Authorizer::new(
            Some(authz_client),
            flags.authorization_always_allow_paths.clone(),
            flags.authorization_webhook_cache_authorized_ttl,
            flags.authorization_webhook_cache_unauthorized_ttl,
        ),
        admission: Arc::new(storage::admission::AdmissionChain::new(admission).with_mutating(vec![mutating_policies.clone(), mutating_webhooks.clone()])),
        limits: Limits::new(flags.max_requests_inflight, flags.max_mutating_requests_inflight, flags.request_timeout, flags.max_request_body_bytes),
        metrics,
        catalog,
        discovery: Default::default(),
        openapi: Default::default(),
        shutdown: shutdown_rx.clone(),
        ready: Default::default(),
        access_log: flags.access_log,
    });

    let handler_state = state.clone();
    let handler = HttpService::new(tower::service_fn(move |req| {
        let state = handler_state.clone();
        async move { Ok::<_, std::convert::Infallible>(crate::handlers::route(state, req).await) }
    }));
    let service = build_handler_chain(state.clone(), handler);

    let listener = bind(SocketAddr::new(flags.bind_address, flags.secure_port)).await?;
    tracing::info!(address = %listener.local_addr()?, "serving");

    let settings = ReleaseSettings {
        interval: flags.helmrelease_interval,
        retry_interval: flags.helmrelease_retry_interval,
        install_timeout: flags.helmrelease_install_timeout,
        upgrade_timeout: flags.helmrelease_upgrade_timeout,
        max_history: flags.helmrelease_max_history,
    };
    let definitions_synced = Arc::new(tokio::sync::Notify::new());
    let metrics_state = state.clone();
    let on_change = Arc::new(move |broken: &[storage::definitions::Broken]| {
        metrics_state.metrics.set_broken_definitions(broken.iter().map(|b| b.name.as_str()));
    });
    // The tenant resources of core.cozystack.io, served whatever the definitions say; TenantNamespace answers
    // from the authorization index, fed by its own watches.
    let rbac_index = storage::rbac_index::RbacIndex::new();
    tokio::spawn(storage::rbac_index::watch::run(rbac_index.clone(), backend.clone()));
    state.metrics.observe_caches(store_backend.clone());
    let apps_cache = store_backend.watch_cache(&storage::backend::HELM_RELEASES, &storage::resources::application::cache_selector());
    let core = storage::resources::core_registries(&store_backend, rbac_index.clone());
    // WorkloadsReady and a Tenant's external IP count, recorded on the HelmReleases from monitors and Services.
    tokio::spawn(storage::app_status::run(store_backend.clone()));
    tokio::spawn(storage::definitions::watch_definitions(store_backend, settings, state.catalog.clone(), core, on_change, definitions_synced.clone()));

    // Ready once the authentication settings, the definitions, the authorization index, the applications'
    // watch cache and the admission configuration are known: before that, front-proxy requests would fail, kinds would be missing and tenant
    // namespaces incomplete.
    let ready_state = state.clone();
    tokio::spawn(async move {
        tokio::join!(
            auth_loaded.notified(),
            definitions_synced.notified(),
            rbac_index.synced(),
            apps_cache.synced(),
            policies.synced(),
            webhooks.synced(),
            mutating_webhooks.synced(),
            mutating_policies.synced()
        );
        ready_state.ready.store(true, Ordering::Relaxed);
        tracing::info!("ready");
    });

    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received");
        let _ = shutdown_tx.send(true);
    });
    let connection_limits = crate::connection::ConnectionLimits {
        header_timeout: flags.request_header_timeout,
        idle_timeout: flags.idle_connection_timeout,
        write_timeout: flags.client_write_timeout,
        max_connections: flags.max_connections,
    };
    serve(listener, tls, service, shutdown_rx, flags.shutdown_grace_period, connection_limits).await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A write the backend answers 504 reaches it once.
    #[tokio::test]
    async fn the_backend_client_never_resends_a_write() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 65536];
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        if buf[..n].starts_with(b"POST") {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Timeout","code":504,"message":"timeout"}"#;
                        let resp = format!("HTTP/1.1 504 Gateway Timeout\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        if conn.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let client = super::backend_client(kube::Config::new(url.parse().unwrap())).unwrap();
        let req = http::Request::post("/apis/helm.toolkit.fluxcd.io/v2/namespaces/a/helmreleases").body(b"{}".to_vec()).unwrap();
        let err = client.request::<serde_json::Value>(req).await.unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}
