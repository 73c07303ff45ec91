//! HTTP/1.1 upgrades (WebSocket, Next.js dev HMR): once both sides have
//! switched protocols, copy bytes both ways until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tracing::debug;

/// Joins the client's and the upstream's upgraded connections. Runs as its own
/// task: the HTTP exchange that set it up has already answered `101`.
pub async fn splice(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            debug!(%error, "upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((to_upstream, to_client)) => {
            debug!(to_upstream, to_client, "upgraded connection closed")
        }
        Err(error) => debug!(%error, "upgraded connection ended with an error"),
    }
}
