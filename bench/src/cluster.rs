//! The control plane under test: its clients, the benchmark's names and objects, and one request of each kind
//! against each target.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use e2e::ControlPlane;
use etcd_client::{Compare, CompareOp, GetOptions, KvClient, Txn, TxnOp};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::measure::{Op, Target};

/// Our apps.
pub const APPS: &str = "/apis/apps.cozystack.io/v1alpha1";
/// The CRD holding the same objects.
pub const CRDS: &str = "/apis/bench.cozystack.io/v1alpha1";
/// The backing HelmReleases.
pub const HRS: &str = "/apis/helm.toolkit.fluxcd.io/v2";
/// Where kube-apiserver keeps HelmReleases in etcd.
pub const HR_KEYS: &str = "/registry/helm.toolkit.fluxcd.io/helmreleases/";
/// Where the etcd floor writes, outside kube-apiserver's prefix so nothing else sees it.
pub const FLOOR_KEYS: &str = "/bench.cozystack.io/";
/// The label on every namespace the benchmark makes.
pub const NS_LABEL: &str = "bench.cozystack.io/run";
/// The namespace of objects made while measuring create and watch, dropped after each N.
pub const SCRATCH: &str = "tenant-bench-scratch";

/// The control plane with every client the benchmark needs.
pub struct Cluster {
    /// The control plane.
    pub cp: ControlPlane,
    /// Admin client to kube-apiserver.
    pub admin: kube::Client,
    /// Admin client straight to cozystack-api.
    pub direct: kube::Client,
    /// etcd.
    pub etcd: etcd_client::Client,
    /// Apps per namespace.
    pub per_namespace: usize,
    /// The HelmRelease cozystack-api writes for an app, to write the same directly (learnt after the first load).
    hr_template: OnceLock<Value>,
}

/// The namespace of app number `j`.
pub fn namespace_of(j: usize, per_namespace: usize) -> String {
    format!("tenant-bench-{}", j / per_namespace)
}

/// The name of app number `j`.
pub fn app_name(j: usize) -> String {
    format!("app-{j}")
}

/// The spec every app gets.
fn spec() -> Value {
    json!({"replicas": 2, "size": "10Gi", "version": "v17", "resourcesPreset": "t1.small"})
}

impl Cluster {
    /// Connects to the control plane in `state`.
    pub async fn connect(state: &Path, per_namespace: usize) -> Result<Self> {
        let cp = ControlPlane::from_state(state.to_path_buf())?;
        let admin = cp.admin().await?;
        let direct = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await?;
        let env = std::fs::read_to_string(state.join("env"))?;
        let port = env.lines().find_map(|l| l.strip_prefix("ETCD_PORT=")).context("ETCD_PORT missing from the env file")?;
        let etcd = etcd_client::Client::connect([format!("http://127.0.0.1:{port}")], None).await.context("connecting to etcd")?;
        Ok(Self { cp, admin, direct, etcd, per_namespace, hr_template: OnceLock::new() })
    }

    /// A KV client that takes answers of any size (10,000 HelmReleases are well over gRPC's default 4 MiB).
    pub fn kv(&self) -> KvClient {
        self.etcd.kv_client().max_decoding_message_size(usize::MAX)
    }

    /// The HTTP client that reaches `target`.
    pub fn http(&self, target: Target) -> &kube::Client {
        if target == Target::Direct { &self.direct } else { &self.admin }
    }

    /// One read; returns the response size. `i` picks the namespace or object, `n` apps are loaded.
    pub async fn read(&self, target: Target, op: Op, i: u64, n: usize) -> Result<usize> {
        // Spread requests over the loaded objects with a stride prime to any N.
        let j = ((i.wrapping_mul(7919)) % n as u64) as usize;
        let ns = match op {
            Op::ListNamespace => {
                format!("tenant-bench-{}", i % n.div_ceil(self.per_namespace) as u64)
            }
            _ => namespace_of(j, self.per_namespace),
        };
        let name = app_name(j);
        if target == Target::Etcd {
            let (key, opts) = match op {
                Op::ListAll => (HR_KEYS.to_string(), Some(GetOptions::new().with_prefix())),
                Op::ListNamespace => (format!("{HR_KEYS}{ns}/"), Some(GetOptions::new().with_prefix())),
                _ => (format!("{HR_KEYS}{ns}/postgres-{name}"), None),
            };
            let resp = self.kv().get(key, opts).await?;
            if resp.kvs().is_empty() {
                bail!("etcd returned no keys");
            }
            return Ok(resp.kvs().iter().map(|kv| kv.key().len() + kv.value().len()).sum());
        }
        let (base, plural, prefix) = match target {
            Target::Crd => (CRDS, "postgreses", ""),
            Target::HelmRelease => (HRS, "helmreleases", "postgres-"),
            _ => (APPS, "postgreses", ""),
        };
        let path = match op {
            Op::ListAll => format!("{base}/{plural}"),
            Op::ListNamespace => format!("{base}/namespaces/{ns}/{plural}"),
            _ => format!("{base}/namespaces/{ns}/{plural}/{prefix}{name}"),
        };
        send(self.http(target), "GET", &path, None).await
    }

    /// Creates app `name` in namespace `ns` through `target`; returns the response size.
    pub async fn create(&self, target: Target, ns: &str, name: &str) -> Result<usize> {
        match target {
            Target::Aggregated | Target::Direct => {
                let body = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "namespace": ns}, "spec": spec()});
                send(self.http(target), "POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(body)).await
            }
            Target::Crd => {
                let body =
                    json!({"apiVersion": "bench.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "namespace": ns}, "spec": spec()});
                send(&self.admin, "POST", &format!("{CRDS}/namespaces/{ns}/postgreses"), Some(body)).await
            }
            Target::HelmRelease => send(&self.admin, "POST", &format!("{HRS}/namespaces/{ns}/helmreleases"), Some(self.helm_release(ns, name))).await,
            Target::Etcd => {
                // What kube-apiserver does for a create: put the object if its key does not exist yet.
                let key = format!("{FLOOR_KEYS}helmreleases/{ns}/postgres-{name}");
                let value = serde_json::to_vec(&self.helm_release(ns, name))?;
                let txn = Txn::new().when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)]).and_then([TxnOp::put(key, value, None)]);
                let resp = self.kv().txn(txn).await?;
                if !resp.succeeded() {
                    bail!("etcd key exists");
                }
                Ok(0)
            }
        }
    }

    /// Creates app `name` in namespace `ns` through `target` by server-side apply (field manager `bench`), as Flux
    /// creates objects; returns the response size. etcd has no apply: its put is the floor as for create.
    pub async fn apply(&self, target: Target, ns: &str, name: &str) -> Result<usize> {
        let (client, path, body) = match target {
            Target::Aggregated | Target::Direct => (
                self.http(target),
                format!("{APPS}/namespaces/{ns}/postgreses/{name}"),
                json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "namespace": ns}, "spec": spec()}),
            ),
            Target::Crd => (
                &self.admin,
                format!("{CRDS}/namespaces/{ns}/postgreses/{name}"),
                json!({"apiVersion": "bench.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "namespace": ns}, "spec": spec()}),
            ),
            Target::HelmRelease => (&self.admin, format!("{HRS}/namespaces/{ns}/helmreleases/postgres-{name}"), self.helm_release(ns, name)),
            Target::Etcd => return self.create(target, ns, name).await,
        };
        let bytes = serde_json::to_vec(&body)?;
        let req = http::Request::builder()
            .method("PATCH")
            .uri(format!("{path}?fieldManager=bench&force=true"))
            .header("Content-Type", "application/apply-patch+yaml")
            .body(kube::client::Body::from(bytes))?;
        let resp = client.send(req).await?;
        let code = resp.status().as_u16();
        let out = resp.into_body().collect().await?.to_bytes();
        if !(200..300).contains(&code) {
            return Err(bad_status("PATCH", &path, code, &out).into());
        }
        Ok(out.len())
    }

    /// The size of the managedFields app `name` in `ns` carries, as compact JSON.
    pub async fn managed_fields_bytes(&self, ns: &str, name: &str) -> Result<usize> {
        let app = get_json(self.http(Target::Direct), &format!("{APPS}/namespaces/{ns}/postgreses/{name}")).await?;
        Ok(serde_json::to_vec(&app["metadata"]["managedFields"])?.len())
    }

    /// The HelmRelease cozystack-api would write for app `name` in `ns`.
    pub fn helm_release(&self, ns: &str, name: &str) -> Value {
        let mut hr = self.hr_template.get().cloned().unwrap_or_default();
        hr["metadata"]["name"] = format!("postgres-{name}").into();
        hr["metadata"]["namespace"] = ns.into();
        hr["metadata"]["labels"]["apps.cozystack.io/application.name"] = name.into();
        hr
    }

    /// Takes the HelmRelease cozystack-api wrote for app 0 as the template of HelmReleases written directly.
    pub async fn learn_hr_template(&self) -> Result<()> {
        if self.hr_template.get().is_some() {
            return Ok(());
        }
        let path = format!("{HRS}/namespaces/{}/helmreleases/postgres-{}", namespace_of(0, self.per_namespace), app_name(0));
        let hr = get_json(&self.admin, &path).await?;
        let _ = self.hr_template.set(json!({
            "apiVersion": hr["apiVersion"], "kind": hr["kind"],
            "metadata": {"labels": hr["metadata"]["labels"], "annotations": hr["metadata"].get("annotations").cloned().unwrap_or(json!({}))},
            "spec": hr["spec"],
        }));
        Ok(())
    }

    /// How many objects a list of everything returns, per target.
    pub async fn count(&self, target: Target) -> Result<usize> {
        if target == Target::Etcd {
            let resp = self.kv().get(HR_KEYS, Some(GetOptions::new().with_prefix().with_count_only())).await?;
            return Ok(resp.count() as usize);
        }
        let path = match target {
            Target::Crd => format!("{CRDS}/postgreses"),
            Target::HelmRelease => format!("{HRS}/helmreleases"),
            _ => format!("{APPS}/postgreses"),
        };
        let list = get_json(self.http(target), &path).await?;
        Ok(list["items"].as_array().map_or(0, Vec::len))
    }
}

/// An answer other than 2xx.
#[derive(Debug)]
pub struct BadStatus {
    /// The HTTP status code.
    pub code: u16,
    /// The request and the start of the answer.
    pub message: String,
}

impl std::fmt::Display for BadStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for BadStatus {}

fn bad_status(method: &str, path: &str, code: u16, body: &[u8]) -> BadStatus {
    BadStatus { code, message: format!("{method} {path}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])) }
}

/// Sends a request and reads the whole answer; fails with [`BadStatus`] on anything but 2xx. Returns the
/// response size.
pub async fn send(client: &kube::Client, method: &str, path: &str, body: Option<Value>) -> Result<usize> {
    let (code, bytes) = send_raw(client, method, path, body).await?;
    if !(200..300).contains(&code) {
        return Err(bad_status(method, path, code, &bytes).into());
    }
    Ok(bytes.len())
}

/// Sends a request; returns the status code and body.
pub async fn send_raw(client: &kube::Client, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Vec<u8>)> {
    let body = body.map(|v| serde_json::to_vec(&v)).transpose()?.unwrap_or_default();
    let req = http::Request::builder().method(method).uri(path).header("Content-Type", "application/json").body(kube::client::Body::from(body))?;
    let resp = client.send(req).await?;
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((code, bytes.to_vec()))
}

/// GETs a JSON object.
pub async fn get_json(client: &kube::Client, path: &str) -> Result<Value> {
    let (code, bytes) = send_raw(client, "GET", path, None).await?;
    if code != 200 {
        return Err(bad_status("GET", path, code, &bytes).into());
    }
    Ok(serde_json::from_slice(&bytes)?)
}
