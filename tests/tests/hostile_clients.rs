//! Slow and hostile clients against a running server with small connection limits: a thousand TCP connections
//! that never start TLS, connections that finish the handshake and send nothing, a watcher that never reads, a
//! request whose headers and one whose body come one byte a second. The server cuts each off within its limits
//! (each wait is a deadline of the limit plus a margin), while a normal client's gets and lists keep succeeding.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{APPS, ControlPlane, namespace, postgres, raw, req, wait_until};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

/// The limits the plane runs with (seconds).
const HEADER: u64 = 3;
const IDLE: u64 = 3;
const WRITE: u64 = 4;
const REQUEST: u64 = 5;
/// The TLS handshake's limit, fixed in the server.
const HANDSHAKE: u64 = 10;
/// What every deadline allows beyond its limit: the server checks a few times per limit, and the machine is busy.
const MARGIN: Duration = Duration::from_secs(10);
/// TCP connections that never start TLS (fewer if the open files limit is below some 1,350).
const PLAIN: usize = 1000;
/// Connections that finish the TLS handshake and send nothing.
const TLS_IDLE: usize = 50;
/// A normal request must complete within this.
const NORMAL: Duration = Duration::from_secs(5);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A private control plane with small connection limits, stopped when dropped.
struct Plane(ControlPlane);

impl Drop for Plane {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

/// TLS to cozystack-api with the admin client certificate, offering the protocols in `alpn` (none: HTTP/1.1).
fn connector(cp: &ControlPlane, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cp.cert("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cp.cert("admin.crt")).unwrap().map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_file(cp.cert("admin.key")).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls(connector: &TlsConnector, addr: SocketAddr, tcp: TcpStream) -> Tls {
    connector.connect(ServerName::IpAddress(addr.ip().into()), tcp).await.expect("TLS handshake")
}

/// Reads until the end of the stream (EOF or an error) and returns when it came, or None if it did not come by
/// `deadline`. `first` records when the first bytes arrived (an answer), if any did.
async fn end_of<R: AsyncRead + Unpin>(mut r: R, deadline: Instant, first: Option<&mut Option<(Instant, Vec<u8>)>>) -> Option<Instant> {
    let mut first = first;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout_at(deadline.into(), r.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
            Ok(Ok(n)) => {
                if let Some(f) = first.as_deref_mut()
                    && f.is_none()
                {
                    *f = Some((Instant::now(), buf[..n].to_vec()));
                }
            }
        }
    }
}

/// The server's side of the connection whose client end has local port `client_port`, while the server holds it
/// open (ESTABLISHED in the kernel's table): the bytes in its send queue the client has not taken. Seen from the
/// server's side, without reading from the client's.
fn server_side(api_port: u16, client_port: u16) -> Option<u64> {
    let port = |field: &str| field.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().filter_map(|f| std::fs::read_to_string(f).ok()).find_map(|table| {
        table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let open = f.len() > 4 && port(f[1]) == Some(api_port) && port(f[2]) == Some(client_port) && f[3] == "01";
            open.then(|| u64::from_str_radix(f[4].split(':').next().unwrap_or_default(), 16).unwrap_or_default())
        })
    })
}

/// Follows the server's side of a connection: whether it is still open, and since when its send queue is stuck
/// (not empty and unchanged since the last look: the client takes nothing).
struct ServerSide {
    ports: (u16, u16),
    last: Option<u64>,
    stuck_since: Option<Instant>,
}

impl ServerSide {
    fn open(&mut self) -> bool {
        let now = server_side(self.ports.0, self.ports.1);
        match now {
            Some(q) if q > 0 && self.last == Some(q) => {
                self.stuck_since.get_or_insert_with(Instant::now);
            }
            _ => {}
        }
        self.last = now;
        now.is_some()
    }
}

/// The server's apiserver_registered_watchers gauge for Postgres.
async fn postgres_watchers(client: &kube::Client) -> f64 {
    let (code, body) = raw(client, req("GET", "/metrics", None)).await.unwrap();
    assert_eq!(code, 200, "metrics");
    let text = body.as_str().unwrap_or_default().to_string();
    text.lines()
        .filter(|l| l.starts_with("apiserver_registered_watchers{") && l.contains("kind=\"Postgres\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Sorted durations summarised as "min / median / max".
fn summary(mut d: Vec<Duration>) -> String {
    d.sort();
    if d.is_empty() {
        return "none".into();
    }
    let s = |x: Duration| format!("{:.2}s", x.as_secs_f64());
    format!("min {} / median {} / p99 {} / max {} (n={})", s(d[0]), s(d[d.len() / 2]), s(d[(d.len() * 99 / 100).min(d.len() - 1)]), s(d[d.len() - 1]), d.len())
}

/// Sends `head`, then `trickle` one byte a second until the write fails or `stop` is set.
fn trickle<W: AsyncWrite + Unpin + Send + 'static>(mut w: W, head: Vec<u8>, trickle: Vec<u8>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        if w.write_all(&head).await.is_err() || w.flush().await.is_err() {
            return 0;
        }
        let mut sent = 0;
        for b in trickle.iter().cycle() {
            if stop.load(Ordering::Relaxed) || w.write_all(&[*b]).await.is_err() || w.flush().await.is_err() {
                break;
            }
            sent += 1;
            // The client's pace, not a wait for a condition.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        sent
    })
}

/// The HTTP status code of an answer's first bytes.
fn status_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).lines().next().unwrap_or_default().to_string()
}

/// The soft limit of open files of this process (and of the plane it starts, which inherits it).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits.lines().find(|l| l.starts_with("Max open files"))?.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_are_cut_off_within_the_limits_while_normal_clients_are_served() {
    // This process and the server each hold every connection: stay well below the open files limit.
    let plain_n = open_files_limit().map_or(PLAIN, |limit| PLAIN.min((limit as usize).saturating_sub(TLS_IDLE + 300)));
    assert!(plain_n >= 100, "ulimit -n is too small for this test: {:?}", open_files_limit());
    let dir = std::env::temp_dir().join(format!("cozy-e2e-hostile-{}", std::process::id()));
    let args = format!(
        "--idle-connection-timeout={IDLE}s --client-write-timeout={WRITE}s --request-timeout={REQUEST}s --request-header-timeout={HEADER}s --max-connections=2000"
    );
    let plane = Plane(ControlPlane::start(&dir, vec![("COZY_API_ARGS".into(), args)]).unwrap_or_else(|e| panic!("control plane: {e:#}")));
    let cp = &plane.0;
    let addr: SocketAddr = ([127, 0, 0, 1], cp.api_port).into();
    let (crt, key) = (cp.cert("admin.crt"), cp.cert("admin.key"));
    let direct = cp.direct(Some((&crt, &key))).await.unwrap();
    let connector = connector(cp, &[]);
    let ns = namespace(cp, "hostile");
    let apps = format!("{APPS}/namespaces/{ns}/postgreses");
    let (code, body) = raw(&direct, req("POST", &apps, Some(postgres(&ns, "probe", json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{body}");

    // A normal client: a list through a kept connection and a get through a new one, four times a second, from
    // before the hostile clients come until after they are gone.
    let stop = Arc::new(AtomicBool::new(false));
    let latencies: Arc<Mutex<Vec<Duration>>> = Default::default();
    let normal = {
        let (stop, latencies, direct, apps) = (stop.clone(), latencies.clone(), direct.clone(), apps.clone());
        let config = cp.direct_config(Some((&crt, &key))).await.unwrap();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                match tokio::time::timeout(NORMAL, raw(&direct, req("GET", &apps, None))).await {
                    Ok(Ok((200, _))) => latencies.lock().unwrap().push(start.elapsed()),
                    other => failures.push(format!("list: {other:?}")),
                }
                let start = Instant::now();
                let fresh = kube::Client::try_from(config.clone()).unwrap();
                match tokio::time::timeout(NORMAL, raw(&fresh, req("GET", &format!("{apps}/probe"), None))).await {
                    Ok(Ok((200, _))) => latencies.lock().unwrap().push(start.elapsed()),
                    other => failures.push(format!("get on a new connection: {other:?}")),
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            failures
        })
    };

    // 1. TCP connections that never start TLS: closed when the handshake's time is up.
    let plain = async {
        let mut conns = Vec::with_capacity(plain_n);
        for _ in 0..plain_n {
            conns.push((Instant::now(), TcpStream::connect(addr).await.expect("connect")));
        }
        let ends = futures::future::join_all(
            conns.into_iter().map(|(opened, tcp)| async move { end_of(tcp, opened + secs(HANDSHAKE) + MARGIN, None).await.map(|t| t - opened) }),
        )
        .await;
        let open = ends.iter().filter(|e| e.is_none()).count();
        assert_eq!(open, 0, "{open} of {plain_n} plain TCP connections still open {HANDSHAKE}s + {MARGIN:?} after they were opened");
        summary(ends.into_iter().flatten().collect())
    };

    // 2. Connections that finish the TLS handshake and send nothing: closed after the header or idle timeout.
    let tls_idle = async {
        let mut conns = Vec::with_capacity(TLS_IDLE);
        for _ in 0..TLS_IDLE {
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let s = tls(&connector, addr, tcp).await;
            conns.push((Instant::now(), s));
        }
        let ends = futures::future::join_all(
            conns.into_iter().map(|(opened, s)| async move { end_of(s, opened + secs(HEADER.max(IDLE)) + MARGIN, None).await.map(|t| t - opened) }),
        )
        .await;
        let open = ends.iter().filter(|e| e.is_none()).count();
        assert_eq!(open, 0, "{open} of {TLS_IDLE} idle TLS connections still open {}s + {MARGIN:?} after the handshake", HEADER.max(IDLE));
        summary(ends.into_iter().flatten().collect())
    };

    // 3. A watcher that never reads, with a small receive buffer, while large objects are created in its
    // namespace: the server's writes stall and it closes the connection after the write timeout.
    let never_reader = async {
        let before = postgres_watchers(&direct).await;
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.expect("connect");
        let client_port = tcp.local_addr().unwrap().port();
        let mut s = tls(&connector, addr, tcp).await;
        let head = format!("GET {apps}?watch=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/json\r\n\r\n", cp.api_port);
        s.write_all(head.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        wait_until("the never-reading watcher to be registered", secs(20), || async { postgres_watchers(&direct).await == before + 1.0 }).await.unwrap();
        let mut server = ServerSide { ports: (cp.api_port, client_port), last: None, stuck_since: None };
        assert!(server.open(), "the server holds the watcher's connection");
        // 200 KiB of annotation per object, until the server gives up on the watcher: some 50 objects fill the
        // socket buffers on loopback; 150 at most.
        let filler = "x".repeat(200 * 1024);
        let first = Instant::now();
        let mut created = 0;
        let mut last = first;
        for i in 0..150 {
            if !server.open() {
                break;
            }
            let mut app = postgres(&ns, &format!("big-{i}"), json!({}));
            app["metadata"]["annotations"] = json!({"filler": filler});
            let (code, body) = raw(&direct, req("POST", &apps, Some(app))).await.unwrap();
            assert_eq!(code, 201, "{body}");
            created += 1;
            last = Instant::now();
        }
        let deadline = last + secs(WRITE) + MARGIN;
        while server.open() {
            assert!(
                Instant::now() < deadline,
                "the server still holds the never-reading watcher's connection {WRITE}s + {MARGIN:?} after the last of {created} objects of 200 KiB"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let closed = Instant::now();
        wait_until("the watcher gauge to return to its value before", MARGIN, || async { postgres_watchers(&direct).await == before }).await.unwrap();
        // The client's side agrees: what the kernel holds for it, then the end.
        let end = end_of(s, Instant::now() + MARGIN, None).await;
        assert!(end.is_some(), "the watcher's connection reads to its end");
        let stuck = server.stuck_since.map(|t| format!("{:.1}s after its send queue to the watcher stopped moving, ", (closed - t).as_secs_f64()));
        format!(
            "{created} objects of 200 KiB created in {:.1}s; connection closed {}{:.1}s after the first object, {:.1}s after the last",
            (last - first).as_secs_f64(),
            stuck.unwrap_or_default(),
            (closed - first).as_secs_f64(),
            closed.saturating_duration_since(last).as_secs_f64()
        )
    };

    // 4. A request whose headers come one byte a second: the header timeout ends it.
    let slow_headers = async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let s = tls(&connector, addr, tcp).await;
        let (r, w) = tokio::io::split(s);
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Instant::now();
        let writer = trickle(w, b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec(), b"X-Slow: abcdefgh\r\n".to_vec(), stop.clone());
        let mut answer = None;
        let end = end_of(r, opened + secs(HEADER) + MARGIN, Some(&mut answer)).await;
        stop.store(true, Ordering::Relaxed);
        let sent = writer.await.unwrap();
        let end = end.unwrap_or_else(|| panic!("headers sent one byte a second: still open {HEADER}s + {MARGIN:?} later ({sent} bytes sent)"));
        let answered = answer.map(|(t, b)| format!("answered {:?} after {:.1}s, ", status_of(&b), (t - opened).as_secs_f64())).unwrap_or_default();
        format!("{answered}closed after {:.1}s ({sent} bytes trickled)", (end - opened).as_secs_f64())
    };

    // 5. A body one byte a second (Content-Length larger than what comes): answered or closed within the request
    // timeout, and the connection does not stay open for the trickle afterwards.
    let slow_body = async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let s = tls(&connector, addr, tcp).await;
        let (r, w) = tokio::io::split(s);
        let stop = Arc::new(AtomicBool::new(false));
        let head = format!("POST {apps} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{");
        let opened = Instant::now();
        let writer = trickle(w, head.into_bytes(), b" ".to_vec(), stop.clone());
        let mut answer = None;
        let end = end_of(r, opened + secs(REQUEST) + secs(IDLE) + MARGIN, Some(&mut answer)).await;
        stop.store(true, Ordering::Relaxed);
        let sent = writer.await.unwrap();
        let answered_at = answer.as_ref().map(|(t, _)| *t).or(end);
        let answered_at = answered_at.unwrap_or_else(|| panic!("a body one byte a second: no answer and not closed ({sent} bytes sent)"));
        assert!(answered_at - opened <= secs(REQUEST) + MARGIN, "a body one byte a second: answered or closed only after {:?}", answered_at - opened);
        let end = end.unwrap_or_else(|| panic!("a body one byte a second: answered, then kept open for the trickle ({sent} bytes sent)"));
        let answered = answer.map(|(t, b)| format!("answered {:?} after {:.1}s, ", status_of(&b), (t - opened).as_secs_f64())).unwrap_or_default();
        format!("{answered}closed after {:.1}s ({sent} bytes trickled)", (end - opened).as_secs_f64())
    };

    let started = Instant::now();
    let (plain, tls_idle, never_reader, slow_headers, slow_body) = tokio::join!(plain, tls_idle, never_reader, slow_headers, slow_body);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let failures = normal.await.unwrap();
    let latencies = latencies.lock().unwrap().clone();
    println!("hostile: {plain_n} plain TCP connections closed after {plain}");
    println!("hostile: {TLS_IDLE} idle TLS connections closed after {tls_idle}");
    println!("hostile: never-reading watcher: {never_reader}");
    println!("hostile: headers one byte a second: {slow_headers}");
    println!("hostile: body one byte a second: {slow_body}");
    println!("hostile: normal gets and lists over {:.0}s: {}", elapsed.as_secs_f64(), summary(latencies.clone()));
    assert!(failures.is_empty(), "normal requests failed or took over {NORMAL:?}: {failures:?}");
    assert!(latencies.len() >= 20, "the normal client was served throughout: {} requests", latencies.len());
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

/// Not yet so: over HTTP/2 a client reads the connection (its library answers pings and takes frames) but may
/// never read one stream. The server's write to that stream waits for flow-control credit, not for the socket, so
/// the connection's write timeout never sees it, and the watch stays registered until the client goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known gap: a never-read HTTP/2 stream is not cut off (docs/reliability.md, Slow and hostile clients)"]
async fn an_http2_watch_stream_that_is_never_read_is_cut_off() {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let dir = std::env::temp_dir().join(format!("cozy-e2e-hostile-h2-{}", std::process::id()));
    let args = format!("--idle-connection-timeout={IDLE}s --client-write-timeout={WRITE}s --request-timeout={REQUEST}s --request-header-timeout={HEADER}s");
    let plane = Plane(ControlPlane::start(&dir, vec![("COZY_API_ARGS".into(), args)]).unwrap_or_else(|e| panic!("control plane: {e:#}")));
    let cp = &plane.0;
    let addr: SocketAddr = ([127, 0, 0, 1], cp.api_port).into();
    let direct = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let ns = namespace(cp, "h2");
    let apps = format!("{APPS}/namespaces/{ns}/postgreses");
    let before = postgres_watchers(&direct).await;
    let s = tls(&connector(cp, &[b"h2"]), addr, TcpStream::connect(addr).await.unwrap()).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 agreed");
    // A 16 KiB window per stream: one 200 KiB event exhausts it.
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .initial_stream_window_size(16 * 1024)
        .handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = |path: String| http::Request::get(format!("https://127.0.0.1:{}{path}", cp.api_port)).body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let watch = sender.send_request(get(format!("{apps}?watch=1"))).await.unwrap();
    assert_eq!(watch.status(), 200);
    wait_until("the HTTP/2 watcher to be registered", secs(20), || async { postgres_watchers(&direct).await == before + 1.0 }).await.unwrap();
    let filler = "x".repeat(200 * 1024);
    for i in 0..5 {
        let mut app = postgres(&ns, &format!("big-{i}"), json!({}));
        app["metadata"]["annotations"] = json!({"filler": filler});
        let (code, body) = raw(&direct, req("POST", &apps, Some(app))).await.unwrap();
        assert_eq!(code, 201, "{body}");
    }
    wait_until("the never-read HTTP/2 watch to end", secs(WRITE) + MARGIN, || async { postgres_watchers(&direct).await == before }).await.unwrap();
    drop(watch);
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}
