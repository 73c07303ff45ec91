//! The pooled upstream client.
//!
//! Next.js (Node's HTTP server) closes idle keep-alive connections after 5 s;
//! the pool drops them sooner (`timeouts.pool_idle`, 4 s by default), and a
//! request that fails on a reused connection before it was written is retried
//! by hyper-util (`retry_canceled_requests`, on by default).

use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::Timeouts;

pub type UpstreamClient = Client<HttpConnector, Incoming>;

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
        .build(connector)
}
