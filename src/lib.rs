//! cookieguard: a reverse proxy for Next.js apps with NextAuth / Auth.js JWT
//! sessions that removes session `Set-Cookie` headers from every response
//! except those of the routes allowed to change the session, so a request
//! that started before a session update can no longer write the old session
//! back into the browser.
//!
//! # Layout
//! - [`decision`]: which `Set-Cookie` headers survive a response (pure, no I/O).
//! - [`routes`]: allow rules and path normalisation (pure).
//! - [`session`]: session values from `Cookie`/`Set-Cookie`, canonical and hashed (pure).
//! - [`guard`]: guard mode's generation memory (pure; time is an argument).
//! - [`guard_store`]: where that memory lives: this process or Redis.
//! - [`guard_redis`]: the Redis store, shared by replicas; bounded waits.
//! - [`config`]: the TOML schema, embedded defaults, layering and validation.
//! - [`server`]: the listener, HTTP/1.1 + HTTP/2, graceful drain.
//! - [`proxy`]: one request's way to the upstream and back; 502/504.
//! - [`upstream`]: the pooled upstream client.
//! - [`body`]: the idle timeout on upstream response bodies.
//! - [`headers`]: hop-by-hop and forwarding headers.
//! - [`upgrade`]: WebSocket and other HTTP/1.1 upgrades.
//! - [`admin`], [`metrics`]: health, readiness and Prometheus metrics.
//! - [`cli`], [`logging`], [`signals`]: the binary's command line, logs and signals.
//! - [`explain`]: what `cookieguard explain` prints about a request.

pub mod admin;
pub mod body;
pub mod cli;
pub mod config;
pub mod decision;
pub mod explain;
pub mod guard;
pub mod guard_redis;
pub mod guard_store;
pub mod headers;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod routes;
pub mod server;
pub mod session;
pub mod signals;
pub mod upgrade;
pub mod upstream;
