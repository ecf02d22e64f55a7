//! Command-line flags, named as k8s.io/apiserver names them so that operators can reuse what they know.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

fn duration(s: &str) -> Result<Duration, String> {
    apis::definition::parse_go_duration(s).ok_or_else(|| format!("invalid duration {s:?} (examples: 30s, 5m, 1h30m)"))
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() { Err(format!("must be > 0 (got {s})")) } else { Ok(d) }
}

/// Flags of `cozystack-api`.
#[derive(Debug, Clone, Parser)]
#[command(name = "cozystack-api", version, about = "Cozystack aggregated API server")]
pub struct Flags {
    /// Port to serve HTTPS on.
    #[arg(long, default_value_t = 443)]
    pub secure_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// Serving certificate (PEM); reloaded when the file changes.
    #[arg(long)]
    pub tls_cert_file: PathBuf,
    /// Serving key (PEM).
    #[arg(long)]
    pub tls_private_key_file: PathBuf,
    /// Kubeconfig of the backend cluster; in-cluster configuration when absent.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig for TokenReviews and the authentication ConfigMap; defaults to --kubeconfig.
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// Kubeconfig for SubjectAccessReviews; defaults to --kubeconfig.
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// Paths served without authorization (a trailing * matches a prefix).
    #[arg(long, value_delimiter = ',', default_value = "/healthz,/readyz,/livez")]
    pub authorization_always_allow_paths: Vec<String>,
    /// How long allowed authorization answers are cached.
    #[arg(long, value_parser = duration, default_value = "10s")]
    pub authorization_webhook_cache_authorized_ttl: Duration,
    /// How long denied authorization answers are cached.
    #[arg(long, value_parser = duration, default_value = "10s")]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,
    /// Serve unauthenticated requests as system:anonymous.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub anonymous_auth: bool,
    /// Accept bearer tokens (checked with TokenReview).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub authentication_token_webhook: bool,
    /// Non-mutating requests in flight at most (watches excluded).
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// Mutating requests in flight at most.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
    /// Time a request other than a watch may take.
    #[arg(long, value_parser = positive_duration, default_value = "60s")]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    pub max_request_body_bytes: usize,
    /// Time a client has to send a request's headers (HTTP/1.1); it also closes a keep-alive connection idle
    /// that long.
    #[arg(long, value_parser = positive_duration, default_value = "30s")]
    pub request_header_timeout: Duration,
    /// Time a connection with no request in flight stays open without traffic.
    #[arg(long, value_parser = positive_duration, default_value = "120s")]
    pub idle_connection_timeout: Duration,
    /// Time a write to a client may make no progress (a watcher that never reads) before its connection is closed.
    #[arg(long, value_parser = positive_duration, default_value = "60s")]
    pub client_write_timeout: Duration,
    /// Connections open at once; further ones are closed as they are accepted.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Time in-flight requests get to finish on shutdown.
    #[arg(long, value_parser = duration, default_value = "30s")]
    pub shutdown_grace_period: Duration,
    /// Log format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log every request at info level (target `request`); without it the per-request line is a debug event,
    /// as kube-apiserver logs requests only at higher verbosity.
    #[arg(long)]
    pub access_log: bool,
    /// Groups treated as cluster admins by admission (reserved label and annotation keys).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "system:masters,system:serviceaccounts:cozy-system,system:serviceaccounts:cozy-cert-manager,system:serviceaccounts:cozy-fluxcd,system:serviceaccounts:kube-system"
    )]
    pub admission_cluster_admin_groups: Vec<String>,
    /// Namespaces outside tenant-* where applications may be created.
    #[arg(long, value_delimiter = ',', default_value = "")]
    pub admission_app_namespace_exceptions: Vec<String>,
    /// Label and annotation prefixes only cluster admins may set, change or remove.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "apps.cozystack.io/,internal.cozystack.io/,platform.cozystack.io/,tenant.cozystack.io/,namespace.cozystack.io/,helm.toolkit.fluxcd.io/,sharding.fluxcd.io/"
    )]
    pub admission_reserved_prefixes: Vec<String>,
    /// HelmRelease spec.interval.
    #[arg(long, value_parser = positive_duration, default_value = "5m")]
    pub helmrelease_interval: Duration,
    /// HelmRelease install/upgrade strategy retryInterval.
    #[arg(long, value_parser = positive_duration, default_value = "30s")]
    pub helmrelease_retry_interval: Duration,
    /// HelmRelease install timeout.
    #[arg(long, value_parser = positive_duration, default_value = "10m")]
    pub helmrelease_install_timeout: Duration,
    /// HelmRelease upgrade timeout.
    #[arg(long, value_parser = positive_duration, default_value = "10m")]
    pub helmrelease_upgrade_timeout: Duration,
    /// HelmRelease maxHistory (0 = unlimited).
    #[arg(long, default_value_t = 5)]
    pub helmrelease_max_history: u32,
    /// Events kept per watch cache: a watch may resume from any resourceVersion they cover; older ones get 410
    /// Gone, and so does a watcher that falls that far behind.
    #[arg(long, default_value_t = 10_000)]
    pub watch_cache_history_size: usize,
    /// Time between BOOKMARK events on watches that allow them.
    #[arg(long, value_parser = positive_duration, default_value = "1m")]
    pub watch_bookmark_interval: Duration,
    /// Without a progress marker: how long a consistent list or watch waits for the watch cache to catch up with
    /// the backend while events flow, before the backend answers it instead (0s: never wait).
    #[arg(long, value_parser = duration, default_value = "100ms")]
    pub watch_cache_consistent_read_wait: Duration,
    /// Namespace of the HelmRelease `cozystack-api-progress` (suspended, of no chart), whose annotation the server
    /// changes to learn that its watch cache is current, so that consistent lists of an idle cache are answered
    /// from the cache. Empty: no marker; such lists are answered by kube-apiserver.
    #[arg(long, default_value = "cozy-system")]
    pub progress_marker_namespace: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let f = Flags::try_parse_from(["cozystack-api", "--tls-cert-file=c", "--tls-private-key-file=k"]).unwrap();
        assert_eq!(f.secure_port, 443);
        assert_eq!(f.helmrelease_interval, Duration::from_secs(300));
        assert_eq!(f.authorization_always_allow_paths, vec!["/healthz", "/readyz", "/livez"]);
        assert!(!f.access_log);
        let f = Flags::try_parse_from(["cozystack-api", "--tls-cert-file=c", "--tls-private-key-file=k", "--access-log"]).unwrap();
        assert!(f.access_log);
        let bad = Flags::try_parse_from(["cozystack-api", "--tls-cert-file=c", "--tls-private-key-file=k", "--helmrelease-interval=0s"]);
        assert!(bad.unwrap_err().to_string().contains("must be > 0"));
        let bad = Flags::try_parse_from(["cozystack-api", "--tls-cert-file=c", "--tls-private-key-file=k", "--request-timeout=soon"]);
        assert!(bad.unwrap_err().to_string().contains("invalid duration"));
    }
}
