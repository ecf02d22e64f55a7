//! Preparing and clearing the control plane: the CRD, the tenant namespaces, loading apps, removing it all again,
//! and the resident memory of the servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use etcd_client::DeleteOptions;
use serde_json::{Value, json};

use crate::cluster::{self, APPS, BadStatus, Cluster, FLOOR_KEYS, NS_LABEL, get_json, send_raw};
use crate::measure::Target;
use crate::progress::Progress;

/// Installs `postgreses.bench.cozystack.io` with the Postgres ApplicationDefinition's schema, if it is missing.
pub async fn install_crd(c: &Cluster) -> Result<()> {
    let def = get_json(&c.admin, "/apis/cozystack.io/v1alpha1/applicationdefinitions/postgres").await.context("reading the postgres ApplicationDefinition")?;
    let schema: Value = serde_json::from_str(def["spec"]["application"]["openAPISchema"].as_str().context("no openAPISchema")?)?;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "postgreses.bench.cozystack.io"},
        "spec": {
            "group": "bench.cozystack.io", "scope": "Namespaced",
            "names": {"kind": "Postgres", "plural": "postgreses", "singular": "postgres", "listKind": "PostgresList"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": crd_schema(schema), "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }}}],
        },
    });
    let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (code, body) = send_raw(&c.admin, "POST", path, Some(crd)).await?;
    if code != 201 && code != 409 {
        bail!("creating the CRD: {code} {}", String::from_utf8_lossy(&body));
    }
    e2e::wait_until("the CRD to be served", Duration::from_secs(60), || async {
        send_raw(&c.admin, "GET", &format!("{}/postgreses", cluster::CRDS), None).await.map(|(code, _)| code == 200).unwrap_or(false)
    })
    .await
}

/// Turns an application schema into a CRD schema: drops extensions kube-apiserver does not know (x-cozystack-*),
/// and `required` fields an object's own default lacks, which kube-apiserver rejects as an invalid default.
pub fn crd_schema(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut m: serde_json::Map<String, Value> =
                m.into_iter().filter(|(k, _)| !k.starts_with("x-") || k.starts_with("x-kubernetes-")).map(|(k, v)| (k, crd_schema(v))).collect();
            if let (Some(Value::Object(default)), Some(Value::Array(required))) = (m.get("default"), m.get("required")) {
                let kept: Vec<Value> = required.iter().filter(|r| r.as_str().is_some_and(|r| default.contains_key(r))).cloned().collect();
                if kept.is_empty() {
                    m.remove("required");
                } else {
                    m.insert("required".into(), kept.into());
                }
            }
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(crd_schema).collect()),
        v => v,
    }
}

/// Creates namespace `name` with the benchmark's label, if it is missing.
pub async fn ensure_namespace(c: &Cluster, name: &str) -> Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {NS_LABEL: "true"}}});
    let (code, body) = send_raw(&c.admin, "POST", "/api/v1/namespaces", Some(body)).await?;
    if code != 201 && code != 409 {
        bail!("creating namespace {name}: {code} {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// Creates apps `from..to` through `target` (cozystack-api via the aggregator, or the CRD) with `concurrency`
/// workers, showing progress; returns how long it took.
pub async fn load(c: &Arc<Cluster>, target: Target, from: usize, to: usize, concurrency: usize) -> Result<Duration> {
    for ns in (from / c.per_namespace)..to.div_ceil(c.per_namespace) {
        ensure_namespace(c, &format!("tenant-bench-{ns}")).await?;
    }
    let progress = Progress::start(format!("loading {} apps through {}", to - from, target.label()), to - from);
    let next = Arc::new(AtomicUsize::new(from));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (c, next, done) = (c.clone(), next.clone(), progress.counter());
            tokio::spawn(async move {
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    if j >= to {
                        return Ok::<_, anyhow::Error>(());
                    }
                    create_with_retries(&c, target, &cluster::namespace_of(j, c.per_namespace), &cluster::app_name(j)).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in futures::future::join_all(workers).await {
        w??;
    }
    Ok(progress.finish())
}

/// Creates an object, retrying what a busy server may answer (429, 5xx, timeouts); an existing object is fine.
async fn create_with_retries(c: &Cluster, target: Target, ns: &str, name: &str) -> Result<()> {
    let mut last = None;
    for attempt in 0..5 {
        match c.create(target, ns, name).await {
            Ok(_) => return Ok(()),
            Err(e) if e.downcast_ref::<BadStatus>().is_some_and(|s| s.code == 409) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
    Err(last.expect("an error after failed attempts")).with_context(|| format!("creating {ns}/{name} through {}", target.label()))
}

/// Waits until a list of everything through `target` returns at least `want` objects.
pub async fn wait_for_count(c: &Cluster, target: Target, want: usize) -> Result<usize> {
    let start = Instant::now();
    loop {
        let got = c.count(target).await?;
        if got >= want {
            return Ok(got);
        }
        // Large N (30,000) take longer to settle on a busy machine: 10 ms per object, 2 minutes at least.
        if start.elapsed() > Duration::from_secs(120).max(Duration::from_millis(want as u64 * 10)) {
            bail!("{} lists {got} objects, expected {want}", target.label());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes the namespaces named `only` (or every namespace the benchmark made) and waits until they are gone;
/// also removes the etcd floor's keys.
pub async fn delete_namespaces(c: &Cluster, only: Option<&str>) -> Result<()> {
    c.kv().delete(FLOOR_KEYS, Some(DeleteOptions::new().with_prefix())).await?;
    let listed = || async {
        let list = get_json(&c.admin, &format!("/api/v1/namespaces?labelSelector={NS_LABEL}%3Dtrue")).await?;
        let names: Vec<String> = list["items"].as_array().into_iter().flatten().filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string)).collect();
        Ok::<_, anyhow::Error>(names.into_iter().filter(|n| only.is_none_or(|o| o == n)).collect::<Vec<_>>())
    };
    let names = listed().await?;
    if names.is_empty() {
        return Ok(());
    }
    for n in &names {
        send_raw(&c.admin, "DELETE", &format!("/api/v1/namespaces/{n}"), None).await?;
    }
    let progress = Progress::start(format!("deleting {} benchmark namespaces", names.len()), names.len());
    let start = Instant::now();
    loop {
        let left = listed().await?.len();
        progress.counter().store(names.len() - left, Ordering::Relaxed);
        if left == 0 {
            progress.finish();
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(900) {
            bail!("{left} benchmark namespaces are still there after 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Resident memory of a process, from /proc/<pid>/status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// VmRSS in KiB: resident now.
    pub rss_kib: u64,
    /// VmHWM in KiB: the most it was ever resident.
    pub peak_kib: u64,
}

/// The resident memory of the control plane component `name` (cozystack-api, kube-apiserver, etcd).
pub fn memory(c: &Cluster, name: &str) -> Result<Memory> {
    let pid = std::fs::read_to_string(c.cp.state.join("pids").join(format!("{name}.pid")))?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim()))?;
    let field = |key: &str| -> u64 {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok(Memory { rss_kib: field("VmRSS:"), peak_kib: field("VmHWM:") })
}

/// Which build of cozystack-api runs (the folder of its binary: release or debug).
pub fn server_build(c: &Cluster) -> String {
    let pid = std::fs::read_to_string(c.cp.state.join("pids/cozystack-api.pid")).unwrap_or_default();
    let exe = std::fs::read_link(format!("/proc/{}/exe", pid.trim())).map(|p| p.display().to_string()).unwrap_or_default();
    if exe.contains("/release/") {
        "release".into()
    } else if exe.contains("/debug/") {
        "debug".into()
    } else {
        format!("unknown ({exe})")
    }
}

/// kube-apiserver's version, from the folder hack/install.sh built it in (its own gitVersion is empty when built
/// from Go modules).
pub fn kube_version(c: &Cluster) -> String {
    let pid = std::fs::read_to_string(c.cp.state.join("pids/kube-apiserver.pid")).unwrap_or_default();
    let exe = std::fs::read_link(format!("/proc/{}/exe", pid.trim())).map(|p| p.display().to_string()).unwrap_or_default();
    exe.split('/').find_map(|part| part.strip_prefix("kubernetes-")).unwrap_or("(version unknown)").to_string()
}

/// Lists our apps through the aggregator once, to make sure the API is there before measuring.
pub async fn check_served(c: &Cluster) -> Result<()> {
    get_json(&c.admin, &format!("{APPS}/postgreses?limit=1")).await.map(|_| ()).context("cozystack-api does not serve postgreses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_schema_keeps_kubernetes_extensions_and_drops_others() {
        let rows = [
            ("x-cozystack options go", json!({"type": "string", "x-cozystack-options": {"a": 1}}), json!({"type": "string"})),
            ("x-kubernetes stays", json!({"x-kubernetes-int-or-string": true}), json!({"x-kubernetes-int-or-string": true})),
            ("nested", json!({"properties": {"a": {"x-foo": 1, "type": "integer"}}}), json!({"properties": {"a": {"type": "integer"}}})),
            ("required missing from the default goes", json!({"type": "object", "default": {}, "required": ["a"]}), json!({"type": "object", "default": {}})),
            ("required present in the default stays", json!({"default": {"a": 1}, "required": ["a", "b"]}), json!({"default": {"a": 1}, "required": ["a"]})),
            ("required without a default stays", json!({"required": ["a"]}), json!({"required": ["a"]})),
        ];
        for (what, input, want) in rows {
            assert_eq!(crd_schema(input), want, "{what}");
        }
    }
}
