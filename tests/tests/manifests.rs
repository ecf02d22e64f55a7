//! The deployment manifests (`manifests/`) are accepted by kube-apiserver as they are: applied with
//! `kubectl apply -k`, first as a server-side dry run, then for real. The control plane here runs the server
//! from the same base (hack/local-manifests.sh), so applying it changes nothing the other tests rely on; the
//! local additions are applied again at the end all the same.

use std::path::Path;
use std::time::Duration;

use e2e::{ControlPlane, repo_root, run_ok, wait_until};
use serde_json::Value;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn get_json(cp: &ControlPlane, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&cp.kubectl_ok(&all).unwrap()).unwrap()
}

#[tokio::test]
async fn the_manifests_apply_as_they_are_with_a_dry_run_and_for_real() {
    let cp = ControlPlane::shared();
    // A copy, so the overlay's certificate files (which the overlay expects beside it) stay out of the tree.
    let work = cp.state.join("manifests-test");
    let _ = std::fs::remove_dir_all(&work);
    copy_tree(&repo_root().join("manifests"), &work.join("manifests"));
    let overlay = work.join("manifests/overlays/secret");
    for (from, to) in [("cozystack-api.crt", "tls.crt"), ("cozystack-api.key", "tls.key"), ("ca.crt", "ca.crt")] {
        std::fs::copy(cp.cert(from), overlay.join(to)).unwrap();
    }
    let overlay = overlay.to_str().unwrap();

    let kinds = [
        "namespace/cozy-system",
        "serviceaccount/cozystack-api",
        "clusterrole.rbac.authorization.k8s.io/cozystack-api",
        "clusterrolebinding.rbac.authorization.k8s.io/cozystack:system:auth-delegator",
        "rolebinding.rbac.authorization.k8s.io/cozystack-api:extension-apiserver-authentication-reader",
        "clusterrole.rbac.authorization.k8s.io/tenantnamespaces-read",
        "secret/cozystack-api-cert",
        "service/cozystack-api",
        "deployment.apps/cozystack-api",
        "poddisruptionbudget.policy/cozystack-api",
        "apiservice.apiregistration.k8s.io/v1alpha1.apps.cozystack.io",
        "apiservice.apiregistration.k8s.io/v1alpha1.core.cozystack.io",
        "apiservice.apiregistration.k8s.io/v1alpha1.sdn.cozystack.io",
    ];
    let dry = cp.kubectl_ok(&["apply", "-k", overlay, "--dry-run=server"]).unwrap();
    for k in kinds {
        assert!(dry.lines().any(|l| l.starts_with(k) && l.ends_with("(server dry run)")), "{k} in the dry run: {dry}");
    }
    let real = cp.kubectl_ok(&["apply", "-k", overlay]).unwrap();
    for k in kinds {
        assert!(real.lines().any(|l| l.starts_with(k)), "{k} applied: {real}");
    }

    let deployment = get_json(cp, &["deployment", "-n", "cozy-system", "cozystack-api"]);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "cozystack-api");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let container = &pod["containers"][0]["securityContext"];
    assert_eq!((container["readOnlyRootFilesystem"].as_bool(), container["allowPrivilegeEscalation"].as_bool()), (Some(true), Some(false)));
    assert_eq!(container["capabilities"]["drop"], serde_json::json!(["ALL"]));
    // The progress marker lives in the server's own namespace, wherever the manifests put it.
    let server = &pod["containers"][0];
    assert!(server["args"].as_array().unwrap().iter().any(|a| a == "--progress-marker-namespace=$(POD_NAMESPACE)"), "{server}");
    assert_eq!(server["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace");
    // The allocator returns freed pages at once, in the Deployment and in the local control plane alike.
    let purge = server["env"].as_array().unwrap().iter().find(|e| e["name"] == "MIMALLOC_PURGE_DELAY");
    assert_eq!(purge.map(|e| &e["value"]), Some(&serde_json::json!("0")), "{server}");
    let pid = std::fs::read_to_string(cp.state.join("pids/cozystack-api.pid")).unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", pid.trim())).unwrap();
    assert!(environ.split(|b| *b == 0).any(|v| v == b"MIMALLOC_PURGE_DELAY=0"), "the local server runs without MIMALLOC_PURGE_DELAY=0");
    let pods = get_json(cp, &["pods", "-n", "cozy-system"]);
    assert_eq!(pods["items"].as_array().unwrap().len(), 0, "no nodes, so no pods");

    // The overlay put the CA of the serving certificate into every APIService.
    let ca = std::fs::read(cp.cert("ca.crt")).unwrap();
    for name in ["v1alpha1.apps.cozystack.io", "v1alpha1.core.cozystack.io", "v1alpha1.sdn.cozystack.io"] {
        let service = get_json(cp, &["apiservice", name]);
        let bundle = service["spec"]["caBundle"].as_str().unwrap();
        use base64::Engine;
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(bundle).unwrap(), ca, "{name}");
    }

    // The cert-manager overlay builds, with its certificates and the CA injection on every APIService (its
    // kinds need cert-manager's CRDs, which this control plane does not have).
    let built = run_ok(cp.kubectl().args(["kustomize", work.join("manifests/overlays/cert-manager").to_str().unwrap()])).unwrap();
    assert_eq!(built.matches("cert-manager.io/inject-ca-from: cozy-system/cozystack-api").count(), 3, "{built}");
    assert!(built.contains("kind: Certificate") && built.contains("secretName: cozystack-api-cert"), "{built}");

    cp.kubectl_ok(&["apply", "-k", cp.state.join("manifests").to_str().unwrap()]).unwrap();
    wait_until("the APIServices are Available again", Duration::from_secs(60), || async {
        cp.kubectl_ok(&[
            "wait",
            "--for=condition=Available",
            "--timeout=2s",
            "apiservice/v1alpha1.apps.cozystack.io",
            "apiservice/v1alpha1.core.cozystack.io",
            "apiservice/v1alpha1.sdn.cozystack.io",
        ])
        .is_ok()
    })
    .await
    .unwrap();
    cp.kubectl_ok(&["get", "postgreses", "-n", "tenant-root"]).unwrap();
}
