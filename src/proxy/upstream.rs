//! The upstream connections: HTTP/1.1 over TCP, driven by hyper's
//! connection-level client (`hyper::client::conn::http1`).
//!
//! A request takes the most recently parked connection ([`UpstreamPool`]:
//! last in, first out, so few connections stay warm and the oldest idle ones
//! expire), or opens one; the connection is parked again when the response
//! body has been read to its end ([`UpstreamBody`]), the moment it can carry
//! the next request. No task is spawned per request: one task drives each
//! connection. An upgraded connection becomes the tunnel and is not reused.
//!
//! Next.js (Node's HTTP server) closes idle keep-alive connections after 5 s;
//! a connection idle for `timeouts.pool_idle` (4 s by default) is not reused,
//! and a request that fails on a reused connection before any of it was
//! written is sent again once on a fresh connection.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::debug;

use crate::config::{Timeouts, Upstream};

/// Connections parked beyond this many are closed instead.
const MAX_PARKED: usize = 1024;

/// Why a request got no response from the upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("tcp connect error")]
    Connect(#[source] std::io::Error),
    #[error("tcp connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("HTTP/1.1 handshake failed")]
    Handshake(#[source] hyper::Error),
    #[error("request failed")]
    Request(#[source] hyper::Error),
}

impl UpstreamError {
    /// No connection could be made (the upstream is down or unreachable).
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect(_) | UpstreamError::ConnectTimeout(_)
        )
    }
}

struct Parked {
    sender: SendRequest<Incoming>,
    /// When its last response ended: Node's idle timer starts there too.
    since: Instant,
}

/// Upstream connections waiting for a request, and how to open new ones.
pub struct UpstreamPool {
    host: String,
    port: u16,
    connect_timeout: Duration,
    idle_timeout: Duration,
    builder: Builder,
    /// Oldest at the front, most recently parked at the back.
    parked: Mutex<VecDeque<Parked>>,
}

impl std::fmt::Debug for UpstreamPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamPool")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl UpstreamPool {
    pub fn new(upstream: &Upstream, timeouts: &Timeouts) -> Arc<UpstreamPool> {
        let authority = upstream.authority();
        let mut builder = Builder::new();
        // hyper's default 100 headers is tight for chunked session tokens sent twice.
        builder.max_headers(1000);
        Arc::new(UpstreamPool {
            host: authority.host().to_owned(),
            port: authority.port_u16().unwrap_or(80),
            connect_timeout: timeouts.connect,
            idle_timeout: timeouts.pool_idle,
            builder,
            parked: Mutex::new(VecDeque::new()),
        })
    }

    /// Sends a request (origin-form URI, `Host` set) and returns the response
    /// headers; the body streams from the connection, which returns to the
    /// pool at its end. An upgrade's connection is never returned.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Incoming>,
        upgrade: bool,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let mut reused = self.checkout().await;
        loop {
            let fresh = reused.is_none();
            let mut sender = match reused.take() {
                Some(sender) => sender,
                // Boxed: connecting is rare, and its state (address
                // resolution, handshake) would otherwise be carried by every
                // request's future, which hyper keeps per idle connection.
                None => Box::pin(self.connect()).await?,
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let returns_to = (!upgrade).then(|| (Arc::clone(self), sender));
                    return Ok(response.map(|body| UpstreamBody {
                        inner: body,
                        returns_to,
                    }));
                }
                Err(mut error) => match error.take_message() {
                    // Nothing was written: the connection closed under us
                    // (an idle timeout on the upstream's side). Once more on
                    // a new connection.
                    Some(unsent) if !fresh => {
                        debug!(error = %error.error(), "reused upstream connection was closed; retrying on a new one");
                        request = unsent;
                    }
                    _ => return Err(UpstreamError::Request(error.into_error())),
                },
            }
        }
    }

    /// The most recently parked connection that is still open and not idle
    /// for too long; `None` means open a new one.
    async fn checkout(&self) -> Option<SendRequest<Incoming>> {
        loop {
            let parked = {
                let mut parked = self.lock();
                // The oldest are at the front: drop those Node may be closing.
                while parked
                    .front()
                    .is_some_and(|p| p.since.elapsed() >= self.idle_timeout)
                {
                    parked.pop_front();
                }
                parked.pop_back()?
            };
            let mut sender = parked.sender;
            // Ready at once unless the connection is just finishing the body
            // that parked it; an error means it closed.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn park(&self, sender: SendRequest<Incoming>) {
        if sender.is_closed() {
            return;
        }
        let mut parked = self.lock();
        if parked.len() < MAX_PARKED {
            parked.push_back(Parked {
                sender,
                since: Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Parked>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self) -> Result<SendRequest<Incoming>, UpstreamError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| UpstreamError::ConnectTimeout(self.connect_timeout))?
        .map_err(UpstreamError::Connect)?;
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "could not set TCP_NODELAY on an upstream connection");
        }
        let (sender, connection) = self
            .builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Handshake)?;
        // One task per upstream connection (not per request) drives it.
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                debug!(%error, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// An upstream response body that parks its connection in the pool once it
/// has been read to the end. A body dropped before its end closes the
/// connection instead (hyper cannot reuse it with bytes unread).
pub struct UpstreamBody {
    inner: Incoming,
    returns_to: Option<(Arc<UpstreamPool>, SendRequest<Incoming>)>,
}

impl UpstreamBody {
    fn finished(&mut self) {
        if let Some((pool, sender)) = self.returns_to.take() {
            pool.park(sender);
        }
    }
}

impl Body for UpstreamBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.finished();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // Empty bodies (HEAD, 204, 304) and bodies whose end the server did
        // not poll for are complete too.
        if self.inner.is_end_stream() {
            self.finished();
        }
    }
}
