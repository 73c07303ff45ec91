//! One request's way through cookieguard: rewrite it for the upstream, forward
//! it with its body streaming, apply the decision to the response headers, and
//! turn upstream failures into short 502/504 answers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use tracing::{debug, info, warn};

use ipnet::IpNet;

use super::body::IdleTimeout;
use super::upstream::{UpstreamBody, UpstreamPool};
use super::{headers, upgrade};
use crate::config::Config;
use crate::guard::Decider;
use crate::ops::metrics::{Metrics, UpstreamFailure};
use crate::ops::sightings::Sightings;
use crate::policy::{Authority, Decision, Outcome, Route, StripReason};
use crate::session::set_cookie_name;
use prometheus_client::metrics::counter::Counter;

/// Upstream bodies stream through untouched (with an idle timeout); local
/// answers are small and whole.
pub type ResponseBody = Either<IdleTimeout<UpstreamBody>, Full<Bytes>>;

/// The client end of a connection, prepared once per connection rather than
/// per request.
#[derive(Debug)]
pub struct Peer {
    pub ip: IpAddr,
    /// The client's address as an `X-Forwarded-For` value.
    pub forwarded_for: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        Peer {
            ip: headers::canonical_ip(addr.ip()),
            forwarded_for: headers::forwarded_for(addr.ip()),
        }
    }
}

pub struct Proxy {
    decider: Decider,
    /// The upstream's authority as a `Host` value, for requests without one.
    upstream_host: HeaderValue,
    pool: Arc<UpstreamPool>,
    response_timeout: Duration,
    body_idle: Duration,
    access_log: bool,
    trusted_proxies: Vec<IpNet>,
    metrics: Arc<Metrics>,
    /// A token no secret opens is warned about once.
    warned_unreadable: AtomicBool,
    /// Each session library's first sight is logged once.
    sightings: Sightings,
    /// Per profile in effect (same index), its responses counter.
    profile_responses: Vec<Counter>,
}

impl Proxy {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Proxy {
        Proxy::replacing(None, config, metrics)
    }

    /// A proxy for a reloaded configuration. Guard memory carries over when
    /// both use it, so a reload does not forget which sessions are stale.
    pub fn replacing(previous: Option<&Proxy>, config: &Config, metrics: Arc<Metrics>) -> Proxy {
        let mut decider = config.decider();
        if let Some(kept) = previous.map(|p| &p.decider.store)
            && kept.same_place(&decider.store)
        {
            decider.store = Arc::clone(kept);
        }
        Proxy {
            decider,
            upstream_host: HeaderValue::from_str(config.upstream.authority().as_str())
                .expect("an authority is a valid header value"),
            pool: UpstreamPool::new(&config.upstream, &config.timeouts),
            response_timeout: config.timeouts.response,
            body_idle: config.timeouts.body_idle,
            access_log: config.access_log,
            trusted_proxies: config.trusted_proxies.clone(),
            warned_unreadable: AtomicBool::new(false),
            sightings: Sightings::new(config),
            profile_responses: config
                .profiles()
                .iter()
                .map(|p| metrics.profile_counter(p.profile.id()))
                .collect(),
            metrics,
        }
    }

    /// The name of the last session cookie a response writes.
    fn session_cookie_name(&self, headers: &http::HeaderMap) -> Option<String> {
        let names = &self.decider.policy.session;
        headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .rfind(|line| names.is_session_set_cookie(line))
            .map(|line| String::from_utf8_lossy(set_cookie_name(line.as_bytes())).into_owned())
    }

    /// Answers one client request: forwards it, counts it, logs it.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        client: &Peer,
    ) -> Response<ResponseBody> {
        // The clock is read only for the access log.
        let started = self.access_log.then(Instant::now);
        let method = request.method().clone();
        let uri = request.uri().clone();
        let (response, outcome) = self.forward(request, client, &method, &uri).await;
        let status = response.status();
        self.metrics.response(status);
        if let Some(started) = started {
            info!(
                target: "cookieguard::access",
                %method,
                path = uri.path(),
                status = status.as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                session = outcome.map_or("-", outcome_label),
                "request"
            );
        }
        response
    }

    /// The request's way to the upstream and back; the outcome is `None` for
    /// answers cookieguard made itself.
    async fn forward(
        &self,
        mut request: Request<Incoming>,
        client: &Peer,
        method: &Method,
        original_uri: &Uri,
    ) -> (Response<ResponseBody>, Option<Outcome>) {
        if request.method() == Method::CONNECT {
            return no_outcome(
                StatusCode::METHOD_NOT_ALLOWED,
                "CONNECT is not supported: cookieguard is a reverse proxy\n",
            );
        }
        let facts = self
            .decider
            .policy
            .inspect(request.method(), request.uri(), request.headers());
        let upgrade = headers::requested_upgrade(request.headers())
            .map(|protocol| (protocol, hyper::upgrade::on(&mut request)));

        // Edited in place: taking a request apart and putting it back
        // together moves a few hundred bytes each way.
        let client_version = request.version();
        let path_and_query = match request.uri().path_and_query() {
            Some(pq) if pq.as_str().starts_with('/') => pq.clone(),
            _ => {
                return no_outcome(
                    StatusCode::BAD_REQUEST,
                    "the request target must be a path\n",
                );
            }
        };
        // Only the path and query are taken from the client: an absolute-form
        // target names a host, but the request still goes to the upstream.
        let uri = Uri::from(path_and_query);
        let host = self.set_host(&mut request);
        headers::remove_hop_by_hop(request.headers_mut());
        if let Some((protocol, _)) = &upgrade {
            headers::set_upgrade(request.headers_mut(), protocol.clone());
        }
        let trusted = self
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&client.ip));
        headers::set_forwarded(
            request.headers_mut(),
            &client.forwarded_for,
            host.as_ref(),
            trusted,
        );
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;

        let forwarded_at = Instant::now();
        let sent = tokio::time::timeout(
            self.response_timeout,
            self.pool.send(request, upgrade.is_some()),
        );
        let mut response = match sent.await {
            Ok(Ok(response)) => {
                self.metrics.upstream_answered(forwarded_at.elapsed());
                response
            }
            Ok(Err(error)) => {
                let (reason, failure) = if error.is_connect() {
                    ("upstream unreachable", UpstreamFailure::Connect)
                } else {
                    ("upstream failed", UpstreamFailure::Other)
                };
                self.metrics.upstream_failed(failure);
                warn!(%method, path = original_uri.path(), error = %error_chain(&error), "{reason}");
                return no_outcome(
                    StatusCode::BAD_GATEWAY,
                    &format!("502 Bad Gateway: {reason}\n"),
                );
            }
            Err(_) => {
                self.metrics.upstream_failed(UpstreamFailure::Timeout);
                warn!(%method, path = original_uri.path(), timeout = ?self.response_timeout, "upstream sent no response headers in time");
                return no_outcome(
                    StatusCode::GATEWAY_TIMEOUT,
                    "504 Gateway Timeout: upstream did not answer in time\n",
                );
            }
        };

        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        let mut accepted_upgrade = None;
        if switching {
            match upgrade {
                Some((protocol, client_side))
                    if headers::upgrade_accepted(&protocol, response.headers()) =>
                {
                    let upstream_side = hyper::upgrade::on(&mut response);
                    tokio::spawn(upgrade::splice(client_side, upstream_side));
                    accepted_upgrade = Some(protocol);
                }
                _ => {
                    warn!(%method, path = original_uri.path(), "upstream switched protocols without a matching upgrade request");
                    return no_outcome(
                        StatusCode::BAD_GATEWAY,
                        "502 Bad Gateway: upstream switched protocols unexpectedly\n",
                    );
                }
            }
        }

        // Answer in the client's HTTP version, not the upstream's (an HTTP/1.0
        // upstream must not turn the client's connection into HTTP/1.0).
        *response.version_mut() = client_version;
        headers::remove_hop_by_hop(response.headers_mut());
        if let Some(protocol) = accepted_upgrade {
            headers::set_upgrade(response.headers_mut(), protocol);
        }
        let status = response.status();
        // Before the decision may remove it: the name of the session cookie
        // a profile not seen yet writes, for its first-sight log line.
        let first_cookie = self
            .sightings
            .unseen()
            .then(|| self.session_cookie_name(response.headers()))
            .flatten();
        let decision = self
            .decider
            .decide(&facts, status, response.headers_mut())
            .await;
        if let Some(profile) = decision.profile {
            if let Some(counter) = self.profile_responses.get(profile) {
                counter.inc();
            }
            if self.sightings.pending() {
                self.sightings
                    .saw(profile, facts.route.rule(), first_cookie.as_deref());
            }
        }
        if let Some(failure) = decision.store_failure {
            self.metrics.guard_store_failed(failure);
        }
        if decision.token_unreadable {
            self.metrics.token_unreadable();
            if !self.warned_unreadable.swap(true, Ordering::Relaxed) {
                warn!(
                    %method,
                    path = original_uri.path(),
                    "a session token that no configured secret opens (wrong secret, a custom jwt.encode, or a forged cookie): the secret-less rules decide for such tokens; counted in cookieguard_session_tokens_unreadable_total, warned once"
                );
            }
        }
        let outcome = decision.outcome;
        log_outcome(&decision, method, original_uri, facts.route);
        self.metrics.session_outcome(outcome, facts.route.rule());
        let body_idle = self.body_idle;
        (
            response.map(|body| Either::Left(IdleTimeout::new(body, body_idle))),
            Some(outcome),
        )
    }

    /// Gives the request the `Host` the client asked for and returns it: the
    /// URI authority of an HTTP/2 or absolute-form request (RFC 9112 §3.2.2
    /// says it overrides `Host`), else the client's `Host`, which stays where
    /// it is. Without either, the upstream's own authority.
    fn set_host(&self, request: &mut Request<Incoming>) -> Option<HeaderValue> {
        let host = match request.uri().authority() {
            Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
            None => match request.headers().get(HOST) {
                Some(host) => return Some(host.clone()),
                None => None,
            },
        };
        let value = host.clone().unwrap_or_else(|| self.upstream_host.clone());
        request.headers_mut().insert(HOST, value);
        host
    }
}

/// Logs what happened to a response's session cookies and the rule that
/// decided, with the names (never the values) of changed claims.
fn log_outcome(decision: &Decision, method: &Method, uri: &Uri, route: Route) {
    let path = uri.path();
    let rule = route.rule();
    match decision.outcome {
        Outcome::NoSessionCookie => {}
        Outcome::Allowed {
            by: by @ (Authority::Rule(_) | Authority::Marker),
            cookies,
        } => {
            debug!(%method, path, rule, cookies, decided_by = by.as_str(), "session cookies passed: authoritative write");
        }
        Outcome::Allowed {
            by: by @ Authority::Change(_),
            cookies,
        } => {
            let claims = decision.changed_claims.join(",");
            info!(%method, path, cookies, decided_by = by.as_str(), claims, "session cookies passed: the write changes the session");
        }
        Outcome::Allowed {
            by: by @ Authority::StaleChange(change),
            cookies,
        } => {
            let claims = decision.changed_claims.join(",");
            warn!(%method, path, cookies, decided_by = by.as_str(), change = change.as_str(), claims, "session cookies passed: a request that left before an update changed the session; its write wins and that update is lost (authentication first)");
        }
        Outcome::Refreshed { cookies } => {
            debug!(%method, path, cookies, "session cookies passed: refresh of a current session");
        }
        Outcome::Stripped { cookies, reason } => {
            debug!(%method, path, rule, cookies, reason = reason.as_str(), "session cookies removed");
        }
        Outcome::WouldStrip {
            cookies,
            strip,
            guard,
        } => {
            info!(
                %method,
                path,
                rule,
                cookies,
                strip = strip.map_or("pass", StripReason::as_str),
                guard = guard.map_or("pass", StripReason::as_str),
                "report mode: session cookies that strip or guard mode would remove"
            );
        }
    }
}

/// An error with its causes, e.g. `tcp connect error: Connection refused (os error 111)`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A short label for the access log.
fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NoSessionCookie => "-",
        Outcome::Allowed { .. } => "passed",
        Outcome::Refreshed { .. } => "refreshed",
        Outcome::Stripped { .. } => "stripped",
        Outcome::WouldStrip { .. } => "would-strip",
    }
}

fn no_outcome(status: StatusCode, text: &str) -> (Response<ResponseBody>, Option<Outcome>) {
    (local(status, text), None)
}

fn local(status: StatusCode, text: &str) -> Response<ResponseBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::copy_from_slice(
        text.as_bytes(),
    ))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreKind;
    use crate::guard::GuardStore;
    use crate::policy::Mode;

    fn same_store(a: &Proxy, b: &Proxy) -> bool {
        Arc::ptr_eq(&a.decider.store, &b.decider.store)
    }

    #[tokio::test]
    async fn a_reload_keeps_the_guard_store_while_it_is_the_same_place() {
        let metrics = Arc::new(Metrics::new());
        let mut config = Config {
            mode: Mode::Guard,
            ..Config::default()
        };
        let memory = Proxy::new(&config, Arc::clone(&metrics));
        let reloaded = Proxy::replacing(Some(&memory), &config, Arc::clone(&metrics));
        assert!(same_store(&memory, &reloaded), "memory stays memory");

        config.guard.store = StoreKind::Redis;
        // Nothing listens there: the store connects lazily, in the background.
        config.guard.redis_url = "redis://127.0.0.1:1/0".to_owned();
        let redis = Proxy::replacing(Some(&reloaded), &config, Arc::clone(&metrics));
        assert!(!same_store(&reloaded, &redis));
        assert!(matches!(*redis.decider.store, GuardStore::Redis(_)));
        let redis_again = Proxy::replacing(Some(&redis), &config, Arc::clone(&metrics));
        assert!(same_store(&redis, &redis_again), "same URL and prefix");

        config.guard.redis_prefix = "elsewhere".to_owned();
        let other_keys = Proxy::replacing(Some(&redis_again), &config, Arc::clone(&metrics));
        assert!(!same_store(&redis_again, &other_keys));
    }
}
