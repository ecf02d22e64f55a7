//! The local control plane and the aggregation path: kubectl → kube-apiserver → aggregator → cozystack-api.

use std::process::{Command, Stdio};

use e2e::{ControlPlane, repo_root};

#[test]
fn apiservices_are_available_and_listed() {
    let cp = ControlPlane::shared();
    for name in ["v1alpha1.apps.cozystack.io", "v1alpha1.core.cozystack.io", "v1alpha1.sdn.cozystack.io"] {
        let out = cp.kubectl_ok(&["get", "apiservice", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Available\")].status}"]).unwrap();
        assert_eq!(out.trim(), "True", "{name} is not Available");
    }
    let versions = cp.kubectl_ok(&["api-versions"]).unwrap();
    assert!(versions.lines().any(|l| l == "apps.cozystack.io/v1alpha1"), "api-versions lacks our group:\n{versions}");
    assert!(versions.lines().any(|l| l == "core.cozystack.io/v1alpha1"));
    assert!(versions.lines().any(|l| l == "sdn.cozystack.io/v1alpha1"));
}

#[test]
fn discovery_round_trips_through_the_aggregator() {
    let cp = ControlPlane::shared();
    let out = cp.kubectl_ok(&["get", "--raw", "/apis/apps.cozystack.io/v1alpha1"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "APIResourceList");
    assert_eq!(v["groupVersion"], "apps.cozystack.io/v1alpha1");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// True while the process exists and is not a zombie.
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))).unwrap_or(false)
}

#[test]
fn a_port_in_use_is_reported_clearly() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let state = std::env::temp_dir().join(format!("cozy-port-{}", std::process::id()));
    let out = Command::new(repo_root().join("hack/up.sh"))
        .env("COZY_STATE_DIR", &state)
        .env("COZY_ETCD_PORT", free_port().to_string())
        .env("COZY_ETCD_PEER_PORT", free_port().to_string())
        .env("COZY_APISERVER_PORT", port.to_string())
        .env("COZY_API_PORT", free_port().to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("port {port} on 127.0.0.1 is already in use")), "{stderr}");
    let _ = std::fs::remove_dir_all(state);
}

#[test]
fn up_twice_reuses_and_down_leaves_no_process() {
    let state = std::env::temp_dir().join(format!("cozy-updown-{}", std::process::id()));
    let _ = ControlPlane::shared();
    let cp = ControlPlane::start(&state, vec![]).unwrap();
    let pids = cp.pids();
    assert_eq!(pids.len(), 4, "etcd, kube-apiserver, kube-controller-manager and cozystack-api");
    // A second up reports the running setup and starts nothing new.
    let again = Command::new(repo_root().join("hack/up.sh"))
        .env("COZY_STATE_DIR", &state)
        .env("COZY_APISERVER_PORT", cp.apiserver_port.to_string())
        .env("COZY_API_PORT", cp.api_port.to_string())
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"));
    assert!(String::from_utf8_lossy(&again.stdout).trim_end().ends_with(&format!("export KUBECONFIG={}", cp.kubeconfig().display())));
    assert_eq!(cp.pids(), pids);
    cp.stop().unwrap();
    for pid in pids {
        assert!(!process_alive(pid), "process {pid} is still running after hack/down.sh");
    }
    assert!(!state.join("pids").exists());
}
