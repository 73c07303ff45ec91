//! What the decision says about a response's session cookies, and what guard
//! memory tells it: plain data that crosses the layers (the proxy logs and
//! counts outcomes; a guard store answers with a verdict) without any of them
//! knowing the others.

use super::classify::Change;

/// A response's decision, with what the logs and metrics say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The profile (index into the policy's `session.profiles()`) whose
    /// session the response writes; `None` when it writes none.
    pub profile: Option<usize>,
    /// The names (never the values) of the claims a change changed.
    pub changed_claims: Vec<String>,
    /// A secret is configured but opened none of the exchange's tokens.
    pub token_unreadable: bool,
    /// Guard memory gave no verdict.
    pub store_failure: Option<StoreFailure>,
}

impl Decision {
    pub const NO_SESSION_COOKIE: Decision = Decision {
        outcome: Outcome::NoSessionCookie,
        profile: None,
        changed_claims: Vec::new(),
        token_unreadable: false,
        store_failure: None,
    };
}

/// What made a session write authoritative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// The request matched this allow rule (by index).
    Rule(usize),
    /// The upstream marked the response with the update header.
    Marker,
    /// The write changes the session (see [`crate::policy::classify`]).
    Change(Change),
    /// Guard mode: a change from a request whose session an update had
    /// superseded. It passed, and the update before it is lost.
    StaleChange(Change),
}

impl Authority {
    /// The rule that decided, for logs, metrics and `explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Authority::Rule(_) => "allowed route",
            Authority::Marker => "update marker",
            Authority::Change(change) => change.as_str(),
            Authority::StaleChange(_) => "stale change",
        }
    }
}

/// What happened to a response's session cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response sets no session cookie.
    NoSessionCookie,
    /// An authoritative write passed.
    Allowed { by: Authority, cookies: usize },
    /// Guard mode: a refresh of a current session passed (expiry slides).
    Refreshed { cookies: usize },
    /// Session cookies were removed.
    Stripped { cookies: usize, reason: StripReason },
    /// Report mode: nothing was removed; what strip and guard mode would have
    /// removed, and why (`None`: that mode would have let them pass).
    WouldStrip {
        cookies: usize,
        strip: Option<StripReason>,
        guard: Option<StripReason>,
    },
}

/// Why session cookies were (or would have been) removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripReason {
    /// No allow rule matches the request.
    RouteNotAllowed,
    /// The route is allowed, but the response is an error (4xx/5xx): Auth.js
    /// middleware puts the old token even on a rejected update.
    ErrorStatus { rule: usize },
    /// Guard: the request's session was superseded by an update.
    Stale,
    /// Guard: the request's session was signed out since it left: a write
    /// that sets a session now, even an authoritative one, would sign the
    /// user back in.
    SignedOut,
    /// Guard: the shared store did not answer in time. Stripping is the safe
    /// side: the user loses one expiry extension, never an update.
    StoreUnavailable,
    /// Guard, with the app's secret: the exchange's token opens with no
    /// secret (forged, or the secret is wrong). Guard memory never keeps such
    /// a value, so its refresh is stripped: the safe side, as in strip mode.
    UnreadableToken,
}

impl StripReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StripReason::RouteNotAllowed => {
                "a refresh on a route not allowed to change the session"
            }
            StripReason::ErrorStatus { .. } => "allowed route answered with an error status",
            StripReason::Stale => "stale: the request's session was superseded by an update",
            StripReason::SignedOut => {
                "signed out: the request's session was signed out since it left; this write would sign the user back in"
            }
            StripReason::StoreUnavailable => "guard store unavailable: treated as stale",
            StripReason::UnreadableToken => "no configured secret opens the session token",
        }
    }
}

/// A refresh's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The request's session is current: the refresh passes (expiry slides).
    Pass,
    /// The request's session was superseded by an update: a stale write.
    Stale,
    /// A sign-out ended the request's session (or the updates it led to)
    /// since the request left: a write that sets a session would sign the
    /// user back in.
    SignedOut,
    /// A shared store did not answer (in time): nothing is known.
    Unavailable(StoreFailure),
}

/// Why a shared store gave no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// No answer within the configured wait.
    Timeout,
    /// An error: connection refused or lost, or an error reply.
    Error,
}
