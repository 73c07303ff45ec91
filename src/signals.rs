//! Shutdown signals: SIGTERM (what container runtimes send) and SIGINT (Ctrl-C).

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
