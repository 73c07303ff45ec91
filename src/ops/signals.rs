//! Signals: SIGTERM (what container runtimes send) and SIGINT (Ctrl-C) shut
//! down gracefully; SIGHUP reloads the configuration.

use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown() {
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops cookieguard");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
    }
}

/// Calls `reload` on every SIGHUP, the conventional "re-read your config".
pub async fn on_hangup(mut reload: impl FnMut()) {
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; configuration reload is off");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        info!("SIGHUP received: reloading the configuration");
        reload();
    }
}
