//! Limits per connection against slow and hostile clients: how long an idle connection stays open, how long a
//! write may make no progress (a watcher that never reads), and how many connections are open at once.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers (HTTP/1.1; also bounds an idle keep-alive connection).
    pub header_timeout: Duration,
    /// Time a connection with no request in flight stays open without traffic.
    pub idle_timeout: Duration,
    /// Time a write to the client may make no progress before the connection is closed.
    pub write_timeout: Duration,
    /// Connections open at once; more are closed as they are accepted.
    pub max_connections: usize,
}

/// What a connection did last, shared between its I/O, its requests and its supervisor.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last: AtomicU64,
    /// Milliseconds since `start` (plus one) since when a write waits, or 0.
    stalled_since: AtomicU64,
    in_flight: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Self { start: Instant::now(), last: AtomicU64::new(0), stalled_since: AtomicU64::new(0), in_flight: AtomicUsize::new(0) }
    }
}

impl Activity {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    /// A request starts; the guard ends it when dropped (with the response body).
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        RequestGuard(self.clone())
    }

    /// Why the connection should be closed now, if it should.
    pub fn verdict(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        let now = self.now();
        let stalled = self.stalled_since.load(Ordering::Relaxed);
        if stalled != 0 && now.saturating_sub(stalled - 1) > limits.write_timeout.as_millis() as u64 {
            return Some("the client read nothing within the write timeout");
        }
        if self.in_flight.load(Ordering::Relaxed) == 0 && now.saturating_sub(self.last.load(Ordering::Relaxed)) > limits.idle_timeout.as_millis() as u64 {
            return Some("idle");
        }
        None
    }
}

/// Marks a request of a connection in flight until dropped.
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A connection's byte stream, recording its activity.
pub struct Tracked<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Tracked<IO> {
    /// Tracks `io` into `activity`.
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> Tracked<IO> {
    fn record<T>(&self, r: &Poll<std::io::Result<T>>) {
        match r {
            Poll::Pending => {
                let _ = self.activity.stalled_since.compare_exchange(0, self.activity.now() + 1, Ordering::Relaxed, Ordering::Relaxed);
            }
            Poll::Ready(_) => {
                self.activity.stalled_since.store(0, Ordering::Relaxed);
                self.activity.touch();
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, data);
        self.record(&r);
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.record(&r);
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
            max_connections: 1,
        }
    }

    #[test]
    fn an_idle_connection_is_closed_only_with_no_request_in_flight() {
        let activity = Arc::new(Activity::default());
        let tiny = ConnectionLimits { idle_timeout: Duration::ZERO, ..limits() };
        let guard = activity.request();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(activity.verdict(&tiny), None, "a request is in flight");
        drop(guard);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(activity.verdict(&tiny), Some("idle"));
        assert_eq!(activity.verdict(&limits()), None, "within the idle timeout");
    }

    #[tokio::test]
    async fn a_client_that_reads_nothing_stalls_the_writes_and_is_judged_so() {
        let (server, mut client) = tokio::io::duplex(1024);
        let activity = Arc::new(Activity::default());
        let mut tracked = Tracked::new(server, activity.clone());
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut buf = [0; 16];
        tracked.read_exact(&mut buf).await.unwrap();
        // The pipe holds 1 KiB; the client never reads, so the write waits.
        let write = tokio::time::timeout(Duration::from_millis(200), tracked.write_all(&[b'x'; 4096])).await;
        assert!(write.is_err(), "the write cannot finish");
        std::thread::sleep(Duration::from_millis(2));
        let tiny = ConnectionLimits { write_timeout: Duration::ZERO, ..limits() };
        assert_eq!(activity.verdict(&tiny), Some("the client read nothing within the write timeout"));
        // Once the client reads, the writes go on and the stall ends.
        let mut sink = vec![0; 4096];
        let _ = client.read(&mut sink).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), tracked.write_all(b"y")).await.unwrap().unwrap();
        assert_eq!(activity.verdict(&ConnectionLimits { idle_timeout: Duration::from_secs(60), ..tiny }), None);
    }
}
