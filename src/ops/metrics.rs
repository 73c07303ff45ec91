//! Prometheus metrics, served as text on the admin listener's `/metrics`.
//!
//! Handles for the per-request counters are resolved once, so the hot path
//! costs a few atomic increments; labelled families are looked up only for
//! responses that carry a session cookie or fail.

use std::sync::Mutex;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use http::StatusCode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::policy::{Authority, Outcome, StoreFailure, StripReason};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    /// passed, refreshed, stripped, would_strip
    action: &'static str,
    reason: &'static str,
    rule: RuleLabel,
}

/// The allow rule's index, `marker`, or empty; no string is built per response.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum RuleLabel {
    None,
    Marker,
    Index(usize),
}

impl EncodeLabelValue for RuleLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write;
        match self {
            RuleLabel::None => Ok(()),
            RuleLabel::Marker => encoder.write_str("marker"),
            RuleLabel::Index(index) => write!(encoder, "{index}"),
        }
    }
}

impl From<Option<usize>> for RuleLabel {
    fn from(rule: Option<usize>) -> Self {
        rule.map_or(RuleLabel::None, RuleLabel::Index)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProfileLabels {
    /// The profile's id (`authjs`, …).
    profile: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorKindLabels {
    kind: &'static str,
}

/// Why a request to the upstream failed, for `upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    Connect,
    Timeout,
    Other,
}

pub struct Metrics {
    registry: Registry,
    requests: [Counter; 5],
    session_cookies: Family<SessionLabels, Counter>,
    /// The label sets seen so far with their counters, compared field by
    /// field: the family hashes every label string with SipHash on each
    /// lookup (about 500 instructions, more than the rest of the decision).
    session_counters: Mutex<Vec<(SessionLabels, Counter)>>,
    session_profiles: Family<ProfileLabels, Counter>,
    upstream_errors: Family<ErrorKindLabels, Counter>,
    active_connections: Gauge<i64, AtomicI64>,
    idle_connections: Gauge<i64, AtomicI64>,
    upstream_latency: Histogram,
    guard_store_errors: Family<ErrorKindLabels, Counter>,
    tokens_unreadable: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cookieguard");
        let requests_family = Family::<StatusLabels, Counter>::default();
        registry.register(
            "requests",
            "Responses sent to clients, by status class",
            requests_family.clone(),
        );
        let requests = CLASSES.map(|class| {
            requests_family
                .get_or_create(&StatusLabels { class })
                .clone()
        });
        let session_cookies = Family::<SessionLabels, Counter>::default();
        registry.register(
            "session_cookie_responses",
            "Responses carrying session Set-Cookie headers, by what cookieguard did, why, and the allow rule",
            session_cookies.clone(),
        );
        let session_profiles = Family::<ProfileLabels, Counter>::default();
        registry.register(
            "session_profile_responses",
            "Responses carrying session Set-Cookie headers, by the profile (session library) whose cookies they are",
            session_profiles.clone(),
        );
        let upstream_errors = Family::<ErrorKindLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Requests the upstream did not answer: connect (502), timeout (504), other (502)",
            upstream_errors.clone(),
        );
        let active_connections = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "active_connections",
            "Open client connections",
            active_connections.clone(),
        );
        let idle_connections = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "idle_connections",
            "Open client connections waiting for their next request, with no buffer held (part of active_connections)",
            idle_connections.clone(),
        );
        let upstream_latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "upstream_response_seconds",
            "Time from forwarding a request to the upstream's response headers",
            upstream_latency.clone(),
        );
        let guard_store_errors = Family::<ErrorKindLabels, Counter>::default();
        registry.register(
            "guard_store_errors",
            "Responses whose guard verdict the shared store (Redis) did not give: timeout or error",
            guard_store_errors.clone(),
        );
        let tokens_unreadable = Counter::default();
        registry.register(
            "session_tokens_unreadable",
            "Responses whose session tokens no configured secret opened (wrong secret, custom jwt.encode, forged cookie): the secret-less rules decided",
            tokens_unreadable.clone(),
        );
        Metrics {
            guard_store_errors,
            tokens_unreadable,
            session_counters: Mutex::new(Vec::new()),
            session_profiles,
            registry,
            requests,
            session_cookies,
            upstream_errors,
            active_connections,
            idle_connections,
            upstream_latency,
        }
    }

    pub fn response(&self, status: StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.requests[class].inc();
    }

    pub fn upstream_answered(&self, elapsed: Duration) {
        self.upstream_latency.observe(elapsed.as_secs_f64());
    }

    pub fn upstream_failed(&self, failure: UpstreamFailure) {
        let kind = match failure {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Other => "other",
        };
        self.upstream_errors
            .get_or_create(&ErrorKindLabels { kind })
            .inc();
    }

    /// A secret is configured but opened none of an exchange's tokens.
    pub fn token_unreadable(&self) {
        self.tokens_unreadable.inc();
    }

    pub fn guard_store_failed(&self, failure: StoreFailure) {
        let kind = match failure {
            StoreFailure::Timeout => "timeout",
            StoreFailure::Error => "error",
        };
        self.guard_store_errors
            .get_or_create(&ErrorKindLabels { kind })
            .inc();
    }

    pub fn session_outcome(&self, outcome: Outcome, rule: Option<usize>) {
        let labels = match outcome {
            Outcome::NoSessionCookie => return,
            Outcome::Allowed { by, .. } => SessionLabels {
                action: "passed",
                reason: by.as_str(),
                rule: match by {
                    Authority::Rule(index) => RuleLabel::Index(index),
                    Authority::Marker => RuleLabel::Marker,
                    Authority::Change(_) | Authority::StaleChange(_) => RuleLabel::None,
                },
            },
            Outcome::Refreshed { .. } => SessionLabels {
                action: "refreshed",
                reason: "current session",
                rule: RuleLabel::None,
            },
            Outcome::Stripped { reason, .. } => SessionLabels {
                action: "stripped",
                reason: reason_label(reason),
                rule: rule.into(),
            },
            Outcome::WouldStrip { strip, guard, .. } => SessionLabels {
                action: "would_strip",
                reason: match (strip, guard) {
                    (Some(_), Some(_)) => "strip and guard",
                    (Some(_), None) => "strip only",
                    (None, _) => "guard only",
                },
                rule: rule.into(),
            },
        };
        let mut known = self
            .session_counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match known.iter().find(|(seen, _)| *seen == labels) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                let counter = self.session_cookies.get_or_create(&labels).clone();
                counter.inc();
                known.push((labels, counter));
            }
        }
    }

    /// The counter of responses writing the session cookies of the profile
    /// with this id: resolved once per configuration, so a response costs
    /// one atomic increment.
    pub fn profile_counter(&self, profile: &'static str) -> Counter {
        self.session_profiles
            .get_or_create(&ProfileLabels { profile })
            .clone()
    }

    /// Counts an open client connection until the returned guard is dropped.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.active_connections.inc();
        ConnectionGuard(self.active_connections.clone())
    }

    /// Counts a client connection as idle (parked) until the returned guard
    /// is dropped.
    pub fn connection_idle(&self) -> ConnectionGuard {
        self.idle_connections.inc();
        ConnectionGuard(self.idle_connections.clone())
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

fn reason_label(reason: StripReason) -> &'static str {
    match reason {
        StripReason::RouteNotAllowed => "route not allowed",
        StripReason::ErrorStatus { .. } => "error status",
        StripReason::Stale => "stale",
        StripReason::SignedOut => "signed out",
        StripReason::StoreUnavailable => "store unavailable",
        StripReason::UnreadableToken => "unreadable token",
    }
}

/// Decrements `active_connections` (or `idle_connections`) when the
/// connection ends (or stops idling).
pub struct ConnectionGuard(Gauge<i64, AtomicI64>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
