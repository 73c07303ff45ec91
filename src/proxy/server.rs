//! The listener: accepts connections, serves HTTP/1.1 and cleartext HTTP/2 on
//! one port ([`super::connection`]), and drains in-flight requests on shutdown.
//!
//! `run(listener, admin, config, shutdown)` takes bound listeners so tests
//! (and anyone embedding cookieguard) can serve on port 0.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{debug, info, warn};

use super::connection::{self, Settings};
use super::handler::Proxy;
use crate::config::Config;
use crate::ops::admin::{self, AdminState};
use crate::ops::metrics::Metrics;

/// Serves until `shutdown` resolves, then stops accepting and gives in-flight
/// requests `timeouts.shutdown_grace` to finish. The admin listener, if any,
/// answers until the drain is over, with `/readyz` failing during it.
///
/// Each configuration received on `reloads` replaces the running one
/// atomically: requests already under way finish with the configuration they
/// started with. The listen addresses, `max_connections` and the client
/// timeouts (`client_header`, `client_idle`) need a restart.
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
    let settings = Arc::new(Settings {
        client_header: config.timeouts.client_header,
        client_idle: config.timeouts.client_idle,
        metrics: Arc::clone(&metrics),
    });
    // Every connection holds a receiver: the drain signals it, and is over
    // when the last one is dropped.
    let (drain, drain_signal) = watch::channel(false);
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
        // The first request's head is due `client_header` after the accept.
        let first_deadline = Instant::now() + config.timeouts.client_header;
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "could not set TCP_NODELAY");
        }
        let open = metrics.connection_opened();
        tokio::spawn(connection::serve(
            stream,
            first_deadline,
            peer,
            Arc::clone(&current),
            Arc::clone(&settings),
            drain_signal.clone(),
            (open, slot),
        ));
    }

    drop(listener);
    drop(drain_signal);
    admin_state.draining.store(true, Ordering::Relaxed);
    let grace = config.timeouts.shutdown_grace;
    info!(grace = ?grace, "stopped accepting; draining in-flight requests");
    drain.send_replace(true);
    tokio::select! {
        () = drain.closed() => info!("all connections closed"),
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
            || config.timeouts.client_header != running.timeouts.client_header
            || config.timeouts.client_idle != running.timeouts.client_idle
        {
            warn!(
                "listen, admin_listen, max_connections, timeouts.client_header and timeouts.client_idle keep their running values until a restart"
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
