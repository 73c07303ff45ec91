//! One client connection's life, built so that an idle keep-alive connection
//! holds nothing but its socket and a small task.
//!
//! hyper keeps an 8 KiB read buffer, an 8 KiB write buffer and its connection
//! state for as long as an HTTP/1 connection lives, idle or not. So here a
//! connection alternates between two states:
//!
//! - **parked**: the bare `TcpStream`, waiting for readability with no
//!   buffer (`TcpStream::readable`), at most `timeouts.client_idle`
//!   (`client_header` before the first request, counted from the accept);
//! - **served**: bytes arrived, so a fresh hyper HTTP/1 connection
//!   (`serve_connection(..).with_upgrades()`, boxed) serves them. As soon as
//!   it is idle again (its last response written and flushed, hyper waiting
//!   for the next request head, no byte of it read, at least one request
//!   served in this burst) it is shut down with `graceful_shutdown` (which
//!   closes only an idle hyper connection), the socket is taken back with
//!   `into_parts`, and whatever hyper had read ahead (`read_buf`, say a
//!   pipelined request) is handed to the next burst in front of the socket
//!   ([`ClientIo`]'s rewind), which starts at once instead of parking.
//!
//! "hyper waits for a request head" is known exactly: hyper arms its header
//! read timer (`header_read_timeout`, our `client_header`) when, and only
//! when, it starts reading a request head, and calls the service as soon as
//! one is parsed; [`HeadTimer`] and [`Handler`] note both.
//!
//! Cleartext HTTP/2 (prior knowledge, told by the connection preface in the
//! first 24 bytes) is served by hyper's HTTP/2 connection for its whole life,
//! as before: h2 multiplexes and keeps its own state.
//!
//! On drain (SIGTERM), a parked connection closes at once; a served one gets
//! hyper's graceful shutdown (an idle one closes, a busy one finishes its
//! exchange) and is never parked again.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
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
use tracing::debug;

use super::handler::{Peer, Proxy, ResponseBody};
use crate::ops::metrics::Metrics;

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
    /// Idle: the socket and the bytes read ahead, for the next burst.
    Parked(TcpStream, Bytes),
    /// Closed, failed, upgraded, or drained: the connection is over.
    Over,
}

/// Serves one accepted client connection until it closes, times out, is
/// upgraded, or the drain closes it; `held` (the connection's slot and
/// metric) is dropped then.
pub(super) async fn serve<G: Send>(
    stream: TcpStream,
    accepted: Instant,
    peer: Peer,
    proxy: Arc<ArcSwap<Proxy>>,
    settings: Arc<Settings>,
    mut drain: watch::Receiver<bool>,
    held: G,
) {
    let _held = held;
    let client = Arc::new(Client::new(peer));
    let handler = Handler {
        proxy,
        client: Arc::clone(&client),
    };

    // The first request has `client_header` from the accept, as hyper's
    // header timer alone would give it, for the preface read and its head.
    let first_deadline = accepted + settings.client_header;
    let first = tokio::select! {
        read = tokio::time::timeout_at(first_deadline.into(), read_preface(&stream)) => read,
        _ = drain.changed() => return,
    };
    let (prefix, is_h2) = match first {
        Ok(Ok(Some(read))) => read,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            debug!(%error, "reading the first bytes failed");
            return;
        }
        Err(_) => {
            debug!("no request within the header timeout");
            return;
        }
    };
    if is_h2 {
        serve_h2(stream, prefix, handler, drain).await;
        return;
    }

    let mut builder = http1::Builder::new();
    builder
        .timer(HeadTimer(Arc::clone(&client)))
        // Keep 1000 headers (hyper's default is 100) so large cookie sets pass.
        .max_headers(1000)
        .header_read_timeout(
            first_deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
    let mut stream = stream;
    let mut rewind = prefix;
    // One timer for every idle wait, moved forward each time (cheap while
    // it has not fired).
    let mut idle_timer = pin!(tokio::time::sleep(settings.client_idle));
    loop {
        match burst(&builder, stream, rewind, &handler, &mut drain).await {
            Burst::Over => return,
            Burst::Parked(socket, read_ahead) => {
                stream = socket;
                rewind = read_ahead;
            }
        }
        builder.header_read_timeout(settings.client_header);
        if !rewind.is_empty() {
            // A request is already under way (pipelined): serve it at once.
            continue;
        }
        idle_timer
            .as_mut()
            .reset(tokio::time::Instant::now() + settings.client_idle);
        let _idle = settings.metrics.connection_idle();
        tokio::select! {
            biased;
            _ = drain.changed() => return,
            ready = stream.readable() => {
                if let Err(error) = ready {
                    debug!(%error, "idle connection failed");
                    return;
                }
            }
            () = idle_timer.as_mut() => {
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

/// Serves requests with one hyper HTTP/1 connection until it is idle (then
/// hands the socket back) or over.
async fn burst(
    builder: &http1::Builder,
    stream: TcpStream,
    rewind: Bytes,
    handler: &Handler,
    drain: &mut watch::Receiver<bool>,
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
        builder
            .serve_connection(TokioIo::new(io), handler.clone())
            .with_upgrades(),
    );
    let mut drained = pin!(drain.changed());
    let mut draining = false;
    let mut parking = false;
    let result = poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = Pin::new(&mut *connection).poll(cx) {
                return Poll::Ready(result);
            }
            if !draining && drained.as_mut().poll(cx).is_ready() {
                draining = true;
                if !parking {
                    Pin::new(&mut *connection).graceful_shutdown();
                    continue;
                }
            }
            if !draining && !parking && client.idle() {
                parking = true;
                client.parking.store(true, Relaxed);
                // hyper closes an idle connection at once, without a byte
                // written or read, and without shutting the socket down.
                Pin::new(&mut *connection).graceful_shutdown();
                continue;
            }
            return Poll::Pending;
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
    let read_ahead = if io.rewind.is_empty() {
        parts.read_buf
    } else if parts.read_buf.is_empty() {
        io.rewind
    } else {
        let mut joined = BytesMut::with_capacity(parts.read_buf.len() + io.rewind.len());
        joined.extend_from_slice(&parts.read_buf);
        joined.extend_from_slice(&io.rewind);
        joined.freeze()
    };
    Burst::Parked(io.stream, read_ahead)
}

/// Serves a cleartext HTTP/2 connection for its whole life.
async fn serve_h2(
    stream: TcpStream,
    prefix: Bytes,
    handler: Handler,
    mut drain: watch::Receiver<bool>,
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
        _ = drain.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        debug!(%error, "HTTP/2 connection ended with an error");
    }
}
