//! The control plane the tools drive (started by hack/up.sh): clients, etcd, and its processes by name.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use e2e::ControlPlane;

/// Where kube-apiserver keeps HelmReleases in etcd.
pub const HR_KEYS: &str = "/registry/helm.toolkit.fluxcd.io/helmreleases/";

/// A running control plane and the clients of it.
pub struct Plane {
    /// The control plane.
    pub cp: ControlPlane,
    /// Its state folder.
    pub state: PathBuf,
    /// Admin client through the aggregator (kube-apiserver).
    pub aggregated: kube::Client,
    /// Admin client straight to cozystack-api.
    pub direct: kube::Client,
    /// etcd's client URL.
    pub etcd_url: String,
}

impl Plane {
    /// Connects to the control plane in `state`.
    pub async fn connect(state: &Path) -> Result<Self> {
        let cp = ControlPlane::from_state(state.to_path_buf())?;
        let aggregated = once(cp.config_from(&cp.kubeconfig()).await?)?;
        let direct = once(cp.direct_config(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await?)?;
        let env = std::fs::read_to_string(state.join("env"))?;
        let port = env.lines().find_map(|l| l.strip_prefix("ETCD_PORT=")).context("ETCD_PORT missing from the env file")?;
        Ok(Self { cp, state: state.to_path_buf(), aggregated, direct, etcd_url: format!("http://127.0.0.1:{port}") })
    }

    /// A new etcd client (etcd may have restarted since the last).
    pub async fn etcd(&self) -> Result<etcd_client::Client> {
        let opts = etcd_client::ConnectOptions::new().with_connect_timeout(std::time::Duration::from_secs(2)).with_timeout(std::time::Duration::from_secs(10));
        etcd_client::Client::connect([self.etcd_url.as_str()], Some(opts)).await.context("connecting to etcd")
    }

    /// The PID of a component hack/up.sh or hack/restart.sh started.
    pub fn pid(&self, component: &str) -> Result<u32> {
        let f = self.state.join("pids").join(format!("{component}.pid"));
        std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?.trim().parse().context("a PID")
    }

    /// SIGKILLs a component, then restarts it with hack/restart.sh (which waits until it serves again).
    pub fn kill_and_restart(&self, component: &str) -> Result<()> {
        let pid = self.pid(component)?;
        let st = Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
        if !st.success() {
            bail!("kill -KILL {pid} ({component}) failed");
        }
        // A killed process's threads release its sockets only once all have exited, after the main thread shows
        // as a zombie; restarting before that finds the port still bound.
        let gone = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            if std::time::Instant::now() > gone {
                bail!("{component} (PID {pid}) still exists 30 s after SIGKILL");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = Command::new(e2e::repo_root().join("hack/restart.sh"))
            .arg(component)
            .env("COZY_STATE_DIR", &self.state)
            .output()
            .context("running hack/restart.sh")?;
        if !out.status.success() {
            bail!("hack/restart.sh {component} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Resident memory (bytes) and open file descriptors of a component.
    pub fn usage(&self, component: &str) -> Result<(u64, u64)> {
        process_usage(self.pid(component)?)
    }
}

/// A client that sends each request once: kube's default retries writes after 503 and 504, when their outcome
/// is unknown, and a retried create then reports 409 for a write that happened.
pub fn once(mut config: kube::Config) -> Result<kube::Client> {
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}

/// Resident memory (bytes) and open file descriptors of a process.
pub fn process_usage(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid} is gone"))?;
    let rss_kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).context("VmRSS missing")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
    Ok((rss_kib * 1024, fds))
}

/// Sends a request and returns its status code and body, or the transport error as text. `timeout` bounds it.
pub async fn send(client: &kube::Client, req: http::Request<Vec<u8>>, timeout: std::time::Duration) -> Result<(u16, Vec<u8>), String> {
    let fut = async {
        let resp = client.send(req.map(kube::client::Body::from)).await.map_err(|e| e.to_string())?;
        let code = resp.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.map_err(|e| e.to_string())?.to_bytes();
        Ok((code, bytes.to_vec()))
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// Creates a namespace as admin (applications live only in tenant-* namespaces).
pub fn create_namespace(cp: &ControlPlane, ns: &str) -> Result<()> {
    e2e::run_ok(cp.kubectl().args(["create", "namespace", ns]))?;
    Ok(())
}
