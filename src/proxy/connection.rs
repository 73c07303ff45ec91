//! One client connection's life, built so that an idle keep-alive connection
//! holds nothing but its socket and a small task.
//!
//! hyper keeps an 8 KiB read buffer, an 8 KiB write buffer and its connection
//! state for as long as an HTTP/1 connection lives, idle or not. So here a
//! connection alternates between two states:
//!
//! - **parked**: the bare `TcpStream`, waiting for readability with no
//!   buffer (`TcpStream::readable`), until `timeouts.client_idle` after the
//!   end of the previous response (for the first request: `client_header`
//!   after the accept);
//! - **served**: bytes arrived, so a fresh hyper HTTP/1 connection
//!   (`serve_connection(..).with_upgrades()`, boxed) serves them, with its
//!   header read timeout (`client_header`) running from that first byte.
//!   Once it has been idle for [`PARK_AFTER`] (its last response written and
//!   flushed, hyper waiting for the next request head with no byte of it
//!   read, at least one request served) it is shut down with
//!   `graceful_shutdown` (which closes an idle hyper connection at once,
//!   without a byte), the socket is taken back with `into_parts`, and
//!   whatever hyper had read ahead (`read_buf`: a pipelined request, say) is
//!   put in front of the socket for the next burst ([`ClientIo`]), which then
//!   starts at once instead of parking.
//!
//! "hyper waits for a request head" is known exactly, not guessed: hyper
//! arms its header read timer when, and only when, it starts reading a
//! request head, and calls the service as soon as one is parsed;
//! [`HeadTimer`] and [`Handler`] note both. A connection in the middle of a
//! request body is never idle, so the rest of a body can never be read as a
//! new request.
//!
//! Cleartext HTTP/2 (prior knowledge, told by the connection preface in the
//! first 24 bytes, as hyper-util's auto builder does) is served by one hyper
//! HTTP/2 connection for its whole life, as before.
//!
//! On drain (SIGTERM), a parked connection closes at once; a served one gets
//! hyper's graceful shutdown (an idle one closes, a busy one finishes its
//! exchange and closes) and is never parked again.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::rt::{Sleep, Timer};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant as TokioInstant;
use tracing::debug;

use super::handler::{Peer, Proxy, ResponseBody};
use crate::ops::metrics::Metrics;

/// How long a hyper connection stays idle before it is shut down and the
/// socket parked. A connection whose next request comes sooner (a busy
/// client, a pool in front under load) keeps its hyper connection, buffers
/// and cached header map; creating them again costs about 7,000
/// instructions, a sixth of a request (`bench/instructions.sh`).
const PARK_AFTER: Duration = Duration::from_millis(10);

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What every connection of a listener shares.
pub(super) struct Settings {
    /// Time a client has to send a request head: from the accept for the
    /// first request, from its first byte for later ones.
    pub client_header: Duration,
    /// How long a keep-alive connection may wait for its next request, from
    /// the end of the previous response.
    pub client_idle: Duration,
    /// For `idle_connections`.
    pub metrics: Arc<Metrics>,
}

/// What the parts of one connection (its IO, hyper's header timer, the
/// service) tell each other. All of them run inside the connection's own
/// task, one at a time: relaxed atomics are only there to be `Sync`.
struct Client {
    peer: Peer,
    /// hyper is reading a request head (its header timer is armed and the
    /// service has not been called since).
    awaiting_head: AtomicBool,
    /// Bytes were read from the socket since hyper began that head.
    head_bytes: AtomicBool,
    /// At least one request was parsed by the current hyper connection.
    served: AtomicBool,
    /// Request heads parsed on this connection (wrapping).
    heads: AtomicU32,
    /// The last read from the socket would have blocked.
    read_blocked: AtomicBool,
    /// The last write to the socket would have blocked: hyper still holds
    /// bytes of a response.
    write_blocked: AtomicBool,
    /// The current hyper connection is being shut down to park the socket:
    /// its shutdown must not reach the socket.
    parking: AtomicBool,
}

impl Client {
    fn new(peer: Peer) -> Client {
        Client {
            peer,
            awaiting_head: AtomicBool::new(false),
            head_bytes: AtomicBool::new(false),
            served: AtomicBool::new(false),
            heads: AtomicU32::new(0),
            read_blocked: AtomicBool::new(false),
            write_blocked: AtomicBool::new(false),
            parking: AtomicBool::new(false),
        }
    }

    /// A fresh hyper connection is about to serve this socket.
    fn begin_burst(&self) {
        self.awaiting_head.store(false, Relaxed);
        self.head_bytes.store(false, Relaxed);
        self.served.store(false, Relaxed);
        self.read_blocked.store(false, Relaxed);
        self.write_blocked.store(false, Relaxed);
        self.parking.store(false, Relaxed);
    }

    /// hyper armed its header read timer: it starts reading a request head.
    fn head_begun(&self) {
        self.awaiting_head.store(true, Relaxed);
        self.head_bytes.store(false, Relaxed);
    }

    /// hyper parsed a request head and calls the service.
    fn head_parsed(&self) {
        self.awaiting_head.store(false, Relaxed);
        self.served.store(true, Relaxed);
        self.heads
            .store(self.heads.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Whether the hyper connection can be shut down and the socket parked
    /// without losing or cutting anything: it served a request, wrote all of
    /// its answer, and waits for the next head with no byte of it read.
    fn idle(&self) -> bool {
        self.served.load(Relaxed)
            && self.awaiting_head.load(Relaxed)
            && !self.head_bytes.load(Relaxed)
            && self.read_blocked.load(Relaxed)
            && !self.write_blocked.load(Relaxed)
    }
}

/// The service of one connection: every request goes to the current proxy
/// (so a reload reaches keep-alive connections too).
#[derive(Clone)]
struct Handler {
    proxy: Arc<ArcSwap<Proxy>>,
    client: Arc<Client>,
}

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    // Boxed: hyper keeps room for one request future in every connection;
    // a box keeps that room at a pointer for one allocation per request.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.client.head_parsed();
        let proxy = self.proxy.load_full();
        let client = Arc::clone(&self.client);
        Box::pin(async move { Ok(proxy.handle(request, &client.peer).await) })
    }
}

/// hyper's header read timer (tokio's), telling [`Client`] when hyper starts
/// reading a request head: hyper arms it exactly then.
struct HeadTimer(Arc<Client>);

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        TokioTimer::new().sleep(duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.0.head_begun();
        TokioTimer::new().sleep_until(deadline)
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        self.0.head_begun();
        TokioTimer::new().reset(sleep, new_deadline);
    }

    fn now(&self) -> Instant {
        TokioTimer::new().now()
    }
}

/// The socket as one hyper connection sees it: bytes read ahead by an
/// earlier one come first, reads and writes are watched for [`Client::idle`],
/// and a shutdown while parking is not passed on.
struct ClientIo {
    stream: TcpStream,
    rewind: Bytes,
    client: Arc<Client>,
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.rewind.is_empty() {
            let n = this.rewind.len().min(buf.remaining());
            buf.put_slice(&this.rewind.split_to(n));
            this.client.head_bytes.store(true, Relaxed);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.client.read_blocked.store(polled.is_pending(), Relaxed);
        if buf.filled().len() > before {
            this.client.head_bytes.store(true, Relaxed);
        }
        polled
    }
}

impl ClientIo {
    fn watch_write<T>(&self, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.client
            .write_blocked
            .store(polled.is_pending(), Relaxed);
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch_write(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.client.parking.load(Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How a burst (one hyper HTTP/1 connection) ended.
enum Burst {
    /// Idle since the instant given: the socket and the bytes read ahead,
    /// for the next burst.
    Parked(TcpStream, Bytes, TokioInstant),
    /// Closed, failed, upgraded, or drained: the connection is over.
    Over,
}

/// Serves one accepted client connection until it closes, times out, is
/// upgraded, or the drain closes it; `held` (the connection's slot and
/// metric) is dropped then. `first_deadline`: the accept plus
/// `client_header`.
///
/// A parked connection's task holds this future's state: what lives across
/// its waits is kept small (the hyper connection and its builder are made
/// per burst, the HTTP/2 path is boxed).
pub(super) async fn serve<G: Send>(
    mut stream: TcpStream,
    first_deadline: Instant,
    peer: SocketAddr,
    proxy: Arc<ArcSwap<Proxy>>,
    settings: Arc<Settings>,
    mut drain: watch::Receiver<bool>,
    held: G,
) {
    let _held = held;
    let client = Arc::new(Client::new(Peer::new(peer)));
    let handler = Handler {
        proxy,
        client: Arc::clone(&client),
    };
    // Made once and polled wherever the connection waits: a new one per
    // wait costs a registration each time.
    let mut drained = pin!(drain.changed());

    // One timer per connection: first the first request's `client_header`
    // (from the accept, as hyper's header timer alone would give it); while
    // served, when to park an idle hyper connection; while parked, when
    // `client_idle` is over. Moving it later is an atomic store while it has
    // not fired.
    let mut timer = pin!(tokio::time::sleep_until(first_deadline.into()));
    let first = tokio::select! {
        read = read_preface(&stream) => read,
        () = timer.as_mut() => {
            debug!("no request within the header timeout");
            return;
        }
        _ = drained.as_mut() => return,
    };
    let (prefix, is_h2) = match first {
        Ok(Some(read)) => read,
        Ok(None) => return,
        Err(error) => {
            debug!(%error, "reading the first bytes failed");
            return;
        }
    };
    if is_h2 {
        // Boxed: its state would otherwise widen every connection's task.
        Box::pin(serve_h2(stream, prefix, handler, drained)).await;
        return;
    }

    let mut header_timeout = first_deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let mut rewind = prefix;
    loop {
        let idle_since = match burst(
            header_timeout,
            stream,
            rewind,
            &handler,
            timer.as_mut(),
            drained.as_mut(),
        )
        .await
        {
            Burst::Over => return,
            Burst::Parked(socket, read_ahead, idle_since) => {
                stream = socket;
                rewind = read_ahead;
                idle_since
            }
        };
        header_timeout = settings.client_header;
        if !rewind.is_empty() {
            // A request is already under way (pipelined): serve it at once.
            continue;
        }
        timer.as_mut().reset(idle_since + settings.client_idle);
        let _idle = settings.metrics.connection_idle();
        tokio::select! {
            biased;
            _ = drained.as_mut() => return,
            ready = stream.readable() => {
                if let Err(error) = ready {
                    debug!(%error, "idle connection failed");
                    return;
                }
            }
            () = timer.as_mut() => {
                debug!("idle connection closed after client_idle");
                return;
            }
        }
    }
}

/// Reads the first bytes, up to the length of the HTTP/2 preface, and tells
/// whether they are that preface. `None`: the client closed without a byte.
async fn read_preface(stream: &TcpStream) -> io::Result<Option<(Bytes, bool)>> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut filled = 0;
    loop {
        stream.readable().await?;
        let n = match stream.try_read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(error),
        };
        if n == 0 {
            // Closed: before any byte, or inside what looked like a preface.
            return Ok((filled > 0).then(|| (Bytes::copy_from_slice(&buf[..filled]), false)));
        }
        filled += n;
        if buf[..filled] != H2_PREFACE[..filled] {
            return Ok(Some((Bytes::copy_from_slice(&buf[..filled]), false)));
        }
        if filled == H2_PREFACE.len() {
            return Ok(Some((Bytes::copy_from_slice(&buf[..filled]), true)));
        }
    }
}

/// Serves requests with one hyper HTTP/1 connection until it has been idle
/// for [`PARK_AFTER`] (then hands the socket back) or is over.
async fn burst(
    header_timeout: Duration,
    stream: TcpStream,
    rewind: Bytes,
    handler: &Handler,
    mut timer: Pin<&mut tokio::time::Sleep>,
    mut drained: Pin<&mut impl Future>,
) -> Burst {
    let client = &handler.client;
    client.begin_burst();
    let io = ClientIo {
        stream,
        rewind,
        client: Arc::clone(client),
    };
    // Boxed, so a parked connection's task does not keep its room.
    let mut connection = Box::new(
        http1::Builder::new()
            .timer(HeadTimer(Arc::clone(client)))
            .header_read_timeout(header_timeout)
            // Keep 1000 headers (hyper's default is 100) so large cookie sets pass.
            .max_headers(1000)
            .serve_connection(TokioIo::new(io), handler.clone())
            .with_upgrades(),
    );
    let mut draining = false;
    let mut parking = false;
    // The idle period the timer is armed for, by the count of request heads
    // before it.
    let mut armed_after: Option<u32> = None;
    let mut idle_since = TokioInstant::now();
    let result = poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = Pin::new(&mut *connection).poll(cx) {
                return Poll::Ready(result);
            }
            if draining || parking {
                return Poll::Pending;
            }
            if drained.as_mut().poll(cx).is_ready() {
                draining = true;
                Pin::new(&mut *connection).graceful_shutdown();
                continue;
            }
            if !client.idle() {
                return Poll::Pending;
            }
            let heads = client.heads.load(Relaxed);
            if armed_after != Some(heads) {
                armed_after = Some(heads);
                idle_since = TokioInstant::now();
                timer.as_mut().reset(idle_since + PARK_AFTER);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            parking = true;
            client.parking.store(true, Relaxed);
            // hyper closes an idle connection at once, without a byte
            // written or read, and without shutting the socket down.
            Pin::new(&mut *connection).graceful_shutdown();
        }
    })
    .await;
    if let Err(error) = result {
        debug!(%error, "connection ended with an error");
        return Burst::Over;
    }
    if !parking || draining {
        return Burst::Over;
    }
    let Some(parts) = connection.into_parts() else {
        return Burst::Over;
    };
    let io = parts.io.into_inner();
    // Copied, even when empty: `read_buf` is a view into hyper's whole read
    // buffer (8 KiB or more), which it would keep alive.
    let read_ahead = if parts.read_buf.is_empty() && io.rewind.is_empty() {
        Bytes::new()
    } else {
        let mut joined = BytesMut::with_capacity(parts.read_buf.len() + io.rewind.len());
        joined.extend_from_slice(&parts.read_buf);
        joined.extend_from_slice(&io.rewind);
        joined.freeze()
    };
    Burst::Parked(io.stream, read_ahead, idle_since)
}

/// Serves a cleartext HTTP/2 connection for its whole life.
async fn serve_h2(
    stream: TcpStream,
    prefix: Bytes,
    handler: Handler,
    drained: Pin<&mut impl Future>,
) {
    let client = Arc::clone(&handler.client);
    let io = ClientIo {
        stream,
        rewind: prefix,
        client,
    };
    let mut connection = Box::pin(
        http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(io), handler),
    );
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = drained => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        debug!(%error, "HTTP/2 connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A parked connection costs its task: the future's state, whatever
    /// lives across its waits. Nothing large may creep into it.
    #[tokio::test]
    async fn a_connections_task_stays_under_a_kibibyte() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let metrics = Arc::new(Metrics::new());
        let proxy = Proxy::new(&Config::default(), Arc::clone(&metrics));
        let settings = Settings {
            client_header: Duration::from_secs(1),
            client_idle: Duration::from_secs(1),
            metrics,
        };
        let (_drain, drain_signal) = watch::channel(false);
        let task = serve(
            stream,
            Instant::now(),
            peer,
            Arc::new(ArcSwap::from_pointee(proxy)),
            Arc::new(settings),
            drain_signal,
            (),
        );
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1024, "{size} bytes");
    }
}
