//! The listener: accepts connections, serves HTTP/1.1 and cleartext HTTP/2 on
//! one port, and drains in-flight requests on shutdown.
//!
//! `run(listener, admin, config, shutdown)` takes bound listeners so tests
//! (and anyone embedding cookieguard) can serve on port 0.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, info, warn};

use super::handler::{Peer, Proxy};
use crate::config::Config;
use crate::ops::admin::{self, AdminState};
use crate::ops::metrics::Metrics;

/// Serves until `shutdown` resolves, then stops accepting and gives in-flight
/// requests `timeouts.shutdown_grace` to finish. The admin listener, if any,
/// answers until the drain is over, with `/readyz` failing during it.
///
/// Each configuration received on `reloads` replaces the running one
/// atomically: requests already under way finish with the configuration they
/// started with. The listen addresses and `max_connections` need a restart.
pub async fn run(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
    reloads: mpsc::Receiver<Config>,
    shutdown: impl Future<Output = ()>,
) {
    let metrics = Arc::new(Metrics::new());
    let admin_state = Arc::new(AdminState {
        metrics: Arc::clone(&metrics),
        draining: AtomicBool::new(false),
        upstream: config.upstream.clone(),
    });
    let admin_task =
        admin.map(|listener| tokio::spawn(admin::serve(listener, Arc::clone(&admin_state))));
    let current = Arc::new(ArcSwap::from_pointee(Proxy::new(
        &config,
        Arc::clone(&metrics),
    )));
    let reloader = tokio::spawn(apply_reloads(
        reloads,
        Arc::clone(&current),
        Arc::clone(&metrics),
        config.clone(),
    ));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.timeouts.client_header)
        // Keep 1000 headers (hyper's default is 100) so large cookie sets pass.
        .max_headers(1000);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    let connection_slots = Arc::new(Semaphore::new(config.max_connections));
    loop {
        // At the limit, stop accepting: new connections wait in the backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&connection_slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "could not set TCP_NODELAY");
        }
        let open = metrics.connection_opened();
        let current = Arc::clone(&current);
        let client = Arc::new(Peer::new(peer));
        let service = service_fn(move |request| {
            // Per request, so a reload reaches keep-alive connections too.
            let proxy = current.load_full();
            let client = Arc::clone(&client);
            // Boxed: hyper keeps room for one request future in every
            // connection for its whole life, idle or not; a box keeps that
            // room at a pointer (2.5 KiB less per idle connection) for one
            // allocation per request.
            Box::pin(async move { Ok::<_, Infallible>(proxy.handle(request, &client).await) })
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%peer, %error, "connection ended with an error");
            }
            drop(open);
            drop(slot);
        });
    }

    drop(listener);
    admin_state.draining.store(true, Ordering::Relaxed);
    let grace = config.timeouts.shutdown_grace;
    info!(grace = ?grace, "stopped accepting; draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => info!("all connections closed"),
        () = tokio::time::sleep(grace) => warn!(grace = ?grace, "grace period over; closing remaining connections"),
    }
    reloader.abort();
    if let Some(task) = admin_task {
        task.abort();
    }
}

async fn apply_reloads(
    mut reloads: mpsc::Receiver<Config>,
    current: Arc<ArcSwap<Proxy>>,
    metrics: Arc<Metrics>,
    mut running: Config,
) {
    while let Some(config) = reloads.recv().await {
        if config.listen != running.listen
            || config.admin_listen != running.admin_listen
            || config.max_connections != running.max_connections
        {
            warn!(
                "listen, admin_listen and max_connections keep their running values until a restart"
            );
        }
        let previous = current.load_full();
        current.store(Arc::new(Proxy::replacing(
            Some(&previous),
            &config,
            Arc::clone(&metrics),
        )));
        info!(mode = %config.mode.as_str(), allow_rules = config.allow_rules().0.len(), "configuration reloaded");
        running = config;
    }
}
