//! The shared harness of the end-to-end tests: a real control plane (etcd, kube-apiserver,
//! kube-controller-manager) with cozystack-api registered behind the aggregator, started once per test binary
//! through `hack/up.sh`, or reused when `COZY_E2E_STATE_DIR` names a running one (as `hack/test.sh` does).
//!
//! Tests get an admin client, clients and kubeconfigs for any user and groups (client certificates signed by
//! the cluster CA, so RBAC decisions are real), kubectl, and a client that talks to cozystack-api directly.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod twins;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    /// Its state folder (certs, kubeconfigs, logs, PID files).
    pub state: PathBuf,
    /// kube-apiserver's port on 127.0.0.1.
    pub apiserver_port: u16,
    /// cozystack-api's port on 127.0.0.1.
    pub api_port: u16,
    /// The kubectl binary to use.
    pub kubectl: PathBuf,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the test crate lives in the repository").to_path_buf()
}

/// A port free now, picked at random below the kernel's ephemeral range (32768 and up): the kernel never hands
/// such a port to another plane's `bind(0)` or to an outgoing connection while this plane starts.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let port = 10_000 + (random % 22_000) as u16;
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

/// The first of `n` consecutive free ports (hack/up.sh gives replica i the port of the first plus i-1).
fn free_ports(n: u16) -> u16 {
    loop {
        let first = free_port();
        if first.checked_add(n).is_some() && (first..first + n).all(|p| std::net::TcpListener::bind(("0.0.0.0", p)).is_ok()) {
            return first;
        }
    }
}

/// How many times a plane is started when another took one of its ports first.
const START_ATTEMPTS: usize = 3;

/// The ports of one plane, no two the same.
struct PlanePorts {
    etcd: u16,
    etcd_peer: u16,
    apiserver: u16,
    /// The first replica's; replica i listens on this plus i-1.
    api: u16,
    charts: u16,
}

fn plane_ports(replicas: u16) -> PlanePorts {
    let api = free_ports(replicas);
    let mut taken: Vec<u16> = (api..api + replicas).collect();
    let mut another = || loop {
        let p = free_port();
        if !taken.contains(&p) {
            taken.push(p);
            return p;
        }
    };
    PlanePorts { etcd: another(), etcd_peer: another(), apiserver: another(), api, charts: another() }
}

/// Whether a server of the plane in `state` failed because its port was already in use.
fn a_port_was_taken(state: &Path) -> bool {
    let Ok(logs) = std::fs::read_dir(state.join("logs")) else { return false };
    logs.flatten().any(|log| std::fs::read_to_string(log.path()).is_ok_and(|text| text.to_lowercase().contains("address already in use")))
}

/// Waits for `cond` to hold, checking every `every`, failing after `deadline`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut cond: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return Ok(());
        }
        if start.elapsed() > deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl ControlPlane {
    /// The control plane of this test binary, started on first use.
    pub fn shared() -> &'static ControlPlane {
        static CP: OnceLock<ControlPlane> = OnceLock::new();
        CP.get_or_init(|| Self::start_or_reuse().unwrap_or_else(|e| panic!("control plane: {e:#}")))
    }

    fn start_or_reuse() -> Result<Self> {
        if let Ok(dir) = std::env::var("COZY_E2E_STATE_DIR") {
            return Self::from_state(PathBuf::from(dir));
        }
        let state = std::env::temp_dir().join(format!("cozy-e2e-{}", std::process::id()));
        let cp = Self::start(&state, Default::default())?;
        // Stop it when this test process exits, however it exits.
        Command::new("setsid")
            .args(["bash", "-c", "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; COZY_STATE_DIR=\"$2\" \"$3\" >/dev/null 2>&1", "reaper"])
            .arg(std::process::id().to_string())
            .arg(&state)
            .arg(repo_root().join("hack/down.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the reaper")?;
        Ok(cp)
    }

    /// Starts a new control plane in `state` with free ports; extra environment for hack/up.sh in `env`.
    pub fn start(state: &Path, env: Vec<(String, String)>) -> Result<Self> {
        let replicas = env.iter().find(|(k, _)| k == "COZY_API_REPLICAS").map(|(_, v)| v.clone()).or_else(|| std::env::var("COZY_API_REPLICAS").ok());
        let replicas = replicas.and_then(|r| r.parse().ok()).unwrap_or(1);
        // A port found free is not held until its server binds it: a plane starting beside this one may take it
        // first. Such a start is tried again with other ports; any other failure is the test's.
        for attempt in 1..=START_ATTEMPTS {
            match Self::start_once(state, &env, replicas) {
                Err(e) if attempt < START_ATTEMPTS && a_port_was_taken(state) => {
                    eprintln!("control plane in {}: a port was taken before its server bound it ({e}); starting again with other ports", state.display());
                }
                result => return result,
            }
        }
        unreachable!("the last attempt returns")
    }

    fn start_once(state: &Path, env: &[(String, String)], replicas: u16) -> Result<Self> {
        let ports = plane_ports(replicas);
        let mut cmd = Command::new(repo_root().join("hack/up.sh"));
        cmd.env("COZY_STATE_DIR", state)
            .env("COZY_ETCD_PORT", ports.etcd.to_string())
            .env("COZY_ETCD_PEER_PORT", ports.etcd_peer.to_string())
            .env("COZY_APISERVER_PORT", ports.apiserver.to_string())
            .env("COZY_API_PORT", ports.api.to_string())
            .env("COZY_CHARTS_PORT", ports.charts.to_string())
            // A plane of its own runs no helm-controller unless asked: its tests count HelmRelease events exactly.
            .env("COZY_HELM_CONTROLLER", "0")
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if std::env::var_os("COZY_API_BIN").is_none() {
            let bin = repo_root().join("target/debug/cozystack-api");
            if bin.exists() {
                cmd.env("COZY_API_BIN", bin);
            }
        }
        let out = cmd.output().context("running hack/up.sh")?;
        if !out.status.success() {
            // Stop what it did start, so a failed start leaves no process behind.
            let _ = Command::new(repo_root().join("hack/down.sh")).env("COZY_STATE_DIR", state).status();
            bail!("hack/up.sh failed ({})", out.status);
        }
        Self::from_state(state.to_path_buf())
    }

    /// Describes the control plane whose state folder is `state` (ports are read from its kubeconfig and env file).
    pub fn from_state(state: PathBuf) -> Result<Self> {
        let env = std::fs::read_to_string(state.join("env")).with_context(|| format!("{} is not a running control plane", state.display()))?;
        let get = |key: &str| -> Result<String> {
            env.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_string).with_context(|| format!("{key} missing"))
        };
        Ok(Self { apiserver_port: get("APISERVER_PORT")?.parse()?, api_port: get("API_PORT")?.parse()?, kubectl: PathBuf::from(get("KUBECTL")?), state })
    }

    /// Stops it with hack/down.sh.
    pub fn stop(&self) -> Result<()> {
        let st = Command::new(repo_root().join("hack/down.sh")).env("COZY_STATE_DIR", &self.state).stdout(Stdio::null()).status()?;
        if !st.success() {
            bail!("hack/down.sh failed");
        }
        Ok(())
    }

    /// The PIDs hack/up.sh recorded.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_dir(self.state.join("pids"))
            .map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()?.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }

    /// A certificate file of the control plane (ca.crt, front-proxy-client.key, ...).
    pub fn cert(&self, name: &str) -> PathBuf {
        self.state.join("certs").join(name)
    }

    /// kubectl with the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        self.kubectl_as(&self.kubeconfig())
    }

    /// kubectl with the given kubeconfig.
    pub fn kubectl_as(&self, kubeconfig: &Path) -> Command {
        let mut c = Command::new(&self.kubectl);
        c.arg("--kubeconfig").arg(kubeconfig);
        c
    }

    /// Runs kubectl as admin, failing with its stderr when it fails; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        run_ok(self.kubectl().args(args))
    }

    /// A client certificate and key for `user` in `groups`, signed by the cluster CA.
    pub fn user_cert(&self, user: &str, groups: &[&str]) -> Result<(PathBuf, PathBuf)> {
        let dir = self.state.join("users");
        std::fs::create_dir_all(&dir)?;
        let mut slug: String = format!("{user}-{}", groups.join("-")).chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        if slug.len() > 120 {
            // Hundreds of groups would make a file name too long; the hash keeps one file per identity.
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (user, groups).hash(&mut h);
            slug = format!("{}-{}-groups-{:016x}", &slug[..40.min(slug.len())], groups.len(), h.finish());
        }
        let (key, crt) = (dir.join(format!("{slug}.key")), dir.join(format!("{slug}.crt")));
        if !crt.exists() {
            let mut subj: String = groups.iter().map(|g| format!("/O={g}")).collect();
            subj.push_str(&format!("/CN={user}"));
            let csr = dir.join(format!("{slug}.csr"));
            run_ok(
                Command::new("openssl")
                    .args(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout"])
                    .arg(&key)
                    .arg("-out")
                    .arg(&csr)
                    .args(["-subj", &subj]),
            )?;
            let tmp = dir.join(format!("{slug}.crt.tmp"));
            let ext = dir.join(format!("{slug}.ext"));
            std::fs::write(&ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n")?;
            run_ok(
                Command::new("openssl")
                    .args(["x509", "-req", "-days", "30", "-in"])
                    .arg(&csr)
                    .arg("-CA")
                    .arg(self.cert("ca.crt"))
                    .arg("-CAkey")
                    .arg(self.cert("ca.key"))
                    .arg("-set_serial")
                    .arg(format!("{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() % 1_000_000_000_000))
                    .arg("-extfile")
                    .arg(&ext)
                    .arg("-out")
                    .arg(&tmp),
            )?;
            std::fs::rename(&tmp, &crt)?;
        }
        Ok((crt, key))
    }

    /// A kubeconfig for `user` in `groups`, authenticated by a client certificate signed by the cluster CA.
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> Result<PathBuf> {
        let (crt, key) = self.user_cert(user, groups)?;
        let kc = crt.with_extension("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: local, cluster: {{server: \"https://127.0.0.1:{}\", certificate-authority: \"{}\"}}}}]\nusers: [{{name: u, user: {{client-certificate: \"{}\", client-key: \"{}\"}}}}]\ncontexts: [{{name: local, context: {{cluster: local, user: u}}}}]\ncurrent-context: local\n",
            self.apiserver_port,
            self.cert("ca.crt").display(),
            crt.display(),
            key.display()
        );
        std::fs::write(&kc, text)?;
        Ok(kc)
    }

    /// A kube client from a kubeconfig file.
    pub async fn client_from(&self, kubeconfig: &Path) -> Result<kube::Client> {
        Ok(kube::Client::try_from(self.config_from(kubeconfig).await?)?)
    }

    /// The client configuration of a kubeconfig file.
    pub async fn config_from(&self, kubeconfig: &Path) -> Result<kube::Config> {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
        Ok(kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?)
    }

    /// The admin client.
    pub async fn admin(&self) -> Result<kube::Client> {
        self.client_from(&self.kubeconfig()).await
    }

    /// A client for `user` in `groups`.
    pub async fn user(&self, user: &str, groups: &[&str]) -> Result<kube::Client> {
        let kc = self.user_kubeconfig(user, groups)?;
        self.client_from(&kc).await
    }

    /// A client that talks to cozystack-api directly (not through the aggregator), presenting the given client
    /// certificate files, if any.
    pub async fn direct(&self, client_cert: Option<(&Path, &Path)>) -> Result<kube::Client> {
        Ok(kube::Client::try_from(self.direct_config(client_cert).await?)?)
    }

    /// The client configuration of [`ControlPlane::direct`].
    pub async fn direct_config(&self, client_cert: Option<(&Path, &Path)>) -> Result<kube::Config> {
        let mut text = format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: d, cluster: {{server: \"https://127.0.0.1:{}\", certificate-authority: \"{}\"}}}}]\ncontexts: [{{name: d, context: {{cluster: d, user: u}}}}]\ncurrent-context: d\n",
            self.api_port,
            self.cert("ca.crt").display()
        );
        match client_cert {
            Some((crt, key)) => {
                text.push_str(&format!("users: [{{name: u, user: {{client-certificate: \"{}\", client-key: \"{}\"}}}}]\n", crt.display(), key.display()))
            }
            None => text.push_str("users: [{name: u, user: {}}]\n"),
        }
        let kc: kube::config::Kubeconfig = serde_norway::from_str(&text)?;
        Ok(kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?)
    }
}

/// Runs a command, failing with its output when it fails; returns stdout.
pub fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed ({}): {}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sends a raw request and returns status code and body.
pub async fn raw(client: &kube::Client, req: http::Request<Vec<u8>>) -> Result<(u16, Value)> {
    let resp = client.send(req.map(kube::client::Body::from)).await?;
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await?.to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((code, value))
}

/// A name unique to this test process: `<prefix>-<pid>-<n>`, so reruns against a reused control plane and
/// tests running side by side never collide.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Path of the application kinds' group version.
pub const APPS: &str = "/apis/apps.cozystack.io/v1alpha1";
/// Path of the core.cozystack.io group version (TenantNamespace, TenantModule, TenantSecret).
pub const CORE: &str = "/apis/core.cozystack.io/v1alpha1";
/// Path of the SecurityGroup group version.
pub const SDN: &str = "/apis/sdn.cozystack.io/v1alpha1";
/// Path of Flux HelmReleases, the backing of every application.
pub const HRS: &str = "/apis/helm.toolkit.fluxcd.io/v2";

/// A request with a JSON body (a JSON merge patch for PATCH), or none.
pub fn req(method: &str, path: &str, body: Option<Value>) -> http::Request<Vec<u8>> {
    let content_type = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
    with_type(method, path, content_type, &body.map(|v| serde_json::to_vec(&v).expect("JSON encodes")).unwrap_or_default())
}

/// A request with the given content type and body bytes.
pub fn with_type(method: &str, path: &str, content_type: &str, body: &[u8]) -> http::Request<Vec<u8>> {
    http::Request::builder().method(method).uri(path).header("Content-Type", content_type).body(body.to_vec()).expect("a valid request")
}

/// A tenant namespace of its own for one test (applications live only in tenant namespaces), created as admin.
pub fn namespace(cp: &ControlPlane, prefix: &str) -> String {
    let ns = unique(&format!("tenant-{prefix}"));
    cp.kubectl_ok(&["create", "namespace", &ns]).expect("namespace created");
    ns
}

/// A Postgres application object.
pub fn postgres(ns: &str, name: &str, spec: Value) -> Value {
    serde_json::json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// The Accept header of a Table answer.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// A GET asking for a Table.
pub fn table_req(path: &str) -> http::Request<Vec<u8>> {
    http::Request::builder().uri(path).header("Accept", TABLE).body(Vec::new()).expect("a valid request")
}

/// A set of names.
pub fn set(names: &[&str]) -> std::collections::BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// An open watch whose events a background task collects.
pub struct Watch {
    events: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// Opens a watch at `path` (a URL with `watch=1`), asserting a 200 answer.
    pub async fn open(client: &kube::Client, path: &str) -> Watch {
        let resp = client.send(req("GET", path, None).map(kube::client::Body::from)).await.unwrap();
        assert_eq!(resp.status(), 200, "watch {path}");
        let events: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>> = Default::default();
        let sink = events.clone();
        let task = tokio::spawn(async move {
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            while let Some(Ok(frame)) = http_body_util::BodyExt::frame(&mut body).await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let e: Value = serde_json::from_slice(&line).unwrap();
                    sink.lock().unwrap().push((e["type"].as_str().unwrap().to_string(), e["object"].clone()));
                }
            }
        });
        Watch { events, task }
    }

    /// The names the client holds after the events so far.
    pub fn held(&self) -> std::collections::BTreeSet<String> {
        let mut held = std::collections::BTreeSet::new();
        for (t, o) in self.events.lock().unwrap().iter() {
            let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
            match t.as_str() {
                "ADDED" | "MODIFIED" => {
                    held.insert(name);
                }
                "DELETED" => {
                    held.remove(&name);
                }
                _ => {}
            }
        }
        held
    }

    /// The events so far (type, object), in order.
    pub fn events(&self) -> Vec<(String, Value)> {
        self.events.lock().expect("the event log").clone()
    }

    /// The event types so far, in order.
    pub fn types(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|(t, _)| t.clone()).collect()
    }

    /// Waits (20 s at most) until the watch holds exactly `want`.
    pub async fn wait_for(&self, what: &str, want: &std::collections::BTreeSet<String>) {
        self.wait_longer_for(what, want, Duration::from_secs(20)).await
    }

    /// Waits (`deadline` at most) until the watch holds exactly `want`.
    pub async fn wait_longer_for(&self, what: &str, want: &std::collections::BTreeSet<String>, deadline: Duration) {
        let ok = wait_until(what, deadline, || async { self.held() == *want }).await;
        assert!(ok.is_ok(), "{what}: the watch holds {:?}, events {:?}", self.held(), self.events.lock().unwrap());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_is_tried_again_only_when_a_log_says_a_port_was_taken() {
        let state = std::env::temp_dir().join(unique("port-taken"));
        assert!(!a_port_was_taken(&state), "no logs yet");
        std::fs::create_dir_all(state.join("logs")).unwrap();
        std::fs::write(state.join("logs/etcd.log"), "serving\n").unwrap();
        std::fs::write(state.join("logs/cozystack-api.log"), "error: the definitions did not load\n").unwrap();
        assert!(!a_port_was_taken(&state), "another failure is the test's own");
        std::fs::write(state.join("logs/cozystack-api-2.log"), "cannot listen on 0.0.0.0:30212: Address already in use (os error 98)\n").unwrap();
        assert!(a_port_was_taken(&state));
        let _ = std::fs::remove_dir_all(&state);
    }

    #[test]
    fn the_ports_of_a_plane_are_all_different() {
        for replicas in [1, 3] {
            let p = plane_ports(replicas);
            let mut all: Vec<u16> = vec![p.etcd, p.etcd_peer, p.apiserver, p.charts];
            all.extend(p.api..p.api + replicas);
            let count = all.len();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), count);
        }
    }
}
