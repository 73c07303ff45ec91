//! The pooled upstream client.
//!
//! Next.js (Node's HTTP server) closes idle keep-alive connections after 5 s;
//! the pool drops them sooner (`timeouts.pool_idle`, 4 s by default), and a
//! request that fails on a reused connection before it was written is retried
//! by hyper-util (`retry_canceled_requests`, on by default).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::config::Timeouts;

pub type UpstreamClient = Client<UpstreamConnector, Incoming>;

pub fn client(timeouts: &Timeouts) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(timeouts.connect));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(timeouts.pool_idle)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        // hyper's default 100 headers is tight for chunked session tokens sent twice.
        .http1_max_headers(1000)
        .build(UpstreamConnector(connector))
}

/// `HttpConnector` without the `HttpInfo` it attaches to every response's
/// extensions (two or three allocations per response that nothing here reads).
#[derive(Clone)]
pub struct UpstreamConnector(HttpConnector);

type ConnectFuture = Pin<
    Box<
        dyn Future<Output = Result<UpstreamConnection, Box<dyn std::error::Error + Send + Sync>>>
            + Send,
    >,
>;

impl tower_service::Service<Uri> for UpstreamConnector {
    type Response = UpstreamConnection;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { Ok(UpstreamConnection(connecting.await?)) })
    }
}

/// A TCP connection to the upstream.
pub struct UpstreamConnection(TokioIo<TcpStream>);

impl Connection for UpstreamConnection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for UpstreamConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl Write for UpstreamConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
}
