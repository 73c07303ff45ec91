//! The decision: which `Set-Cookie` headers of a response survive.
//!
//! Synchronous and free of I/O. The proxy asks [`Policy::inspect`] about the
//! request before forwarding it (the request is consumed by then) and
//! [`Policy::examine`] and [`Policy::finish`] about the response headers,
//! with guard memory's [`Verdict`] in between when there is one (the guard
//! layer asks it; this module never names a store). A response's session cookies
//! are one family: all of them pass or all of them go, because NextAuth
//! writes a chunked token together with `Max-Age=0` deletes of unused
//! chunks, and a partial strip would leave the browser with a broken session.
//!
//! Responses of allowed routes (and responses the upstream marks with the
//! update header) are authoritative writes. Strip mode removes every other
//! session write; guard mode removes only stale ones (see [`crate::guard`]).
//! In every mode, a write that would set a session for a request whose
//! session a sign-out has ended since is removed, however authoritative:
//! guard memory's [`Verdict::SignedOut`] (strip mode keeps only authoritative
//! writes in it, so it knows every sign-out).

use std::hash::BuildHasher;
use std::time::SystemTime;

use http::header::{Entry, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde::{Deserialize, Serialize};

use super::classify::{SessionReading, classify};
use super::outcome::{Authority, Outcome, StripReason, Verdict};
use super::routes::AllowRule;
use crate::session::{
    self, RequestCookies, SessionCookieNames, SessionHash, SessionWrite, read_exchange,
};

/// The header a Next.js server action request carries (its action id).
const NEXT_ACTION: HeaderName = HeaderName::from_static("next-action");

/// What to do with session cookies on responses of routes that are not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Remove refreshes of the session outside the allowed routes; changes (sign-in, update, sign-out) pass
    #[default]
    Strip,
    /// Remove only stale refreshes: those of requests that left before an update; other refreshes pass, so expiry slides
    Guard,
    /// Remove nothing; log what strip and guard would remove
    Report,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strip => "strip",
            Mode::Guard => "guard",
            Mode::Report => "report",
        }
    }
}

/// The whole decision: session names, allow rules and mode.
#[derive(Debug)]
pub struct Policy {
    /// The session cookie families of the profiles in effect.
    pub session: SessionCookieNames,
    pub allow: Vec<AllowRule>,
    /// Per allow rule (same index), the profile (index into
    /// `session.profiles()`) whose own route it is: it makes only that
    /// profile's session writes authoritative. `None`, or a rule past the end
    /// of this list: a rule of the configuration, for every profile.
    pub allow_profiles: Vec<Option<usize>>,
    pub mode: Mode,
    /// A response header by which the upstream marks a response as an
    /// authoritative session write; removed before the response goes out.
    pub update_header: Option<HeaderName>,
    /// The app's secret(s), when configured: tokens are read and a write
    /// whose claims differ from the request's is a change.
    pub reading: Option<SessionReading>,
}

/// A response's decision between [`Policy::examine`] and [`Policy::finish`]:
/// what the decision already knows before guard memory has its say.
#[derive(Debug, Clone)]
pub struct Examined {
    cookies: usize,
    /// The profile (index into `session.profiles()`) whose session the
    /// response writes; the last one written when several are.
    profile: usize,
    authority: Option<Authority>,
    strip_reason: Option<StripReason>,
    changed_claims: Vec<String>,
    token_unreadable: bool,
    /// With guard memory's hasher: the request's session and the write.
    hashes: Option<(Option<SessionHash>, SessionWrite)>,
    /// With guard memory's hasher, for a sign-out of a session kept in
    /// several cookies: its first cookie alone ([`crate::session::Exchange::anchor_hash`]).
    anchor: Option<SessionHash>,
    /// The browser holds no session after the response.
    deletes: bool,
}

impl Examined {
    /// Whether the session write is authoritative (an update, sign-in or
    /// sign-out, by route or by what it does): guard memory records it
    /// rather than judging it.
    pub fn authoritative(&self) -> bool {
        self.authority.is_some()
    }

    /// The names of the claims a change changed (read with the secret).
    pub fn changed_claims(&self) -> &[String] {
        &self.changed_claims
    }

    /// A secret is configured but opened none of the exchange's tokens.
    pub fn token_unreadable(&self) -> bool {
        self.token_unreadable
    }

    /// The profile (index into the policy's `session.profiles()`) whose
    /// session the response writes.
    pub fn profile(&self) -> usize {
        self.profile
    }

    /// The request's session and what the response writes, hashed with the
    /// hasher given to [`Policy::examine_hashed`].
    pub fn hashes(&self) -> Option<(Option<SessionHash>, SessionWrite)> {
        self.hashes
    }

    /// For a sign-out of a session kept in several cookies: the session as a
    /// request that carried only its first cookie holds it, which guard
    /// memory ends as well.
    pub fn anchor(&self) -> Option<SessionHash> {
        self.anchor
    }
}

/// Which allow rule (by index) a request matched, if any. Cheap to carry from
/// the request to its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(Option<usize>);

impl Route {
    pub const NOT_ALLOWED: Route = Route(None);

    pub fn rule(self) -> Option<usize> {
        self.0
    }
}

/// What the response's decision needs to know about its request.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub route: Route,
    /// The request's `Cookie` headers (reference-counted clones): the
    /// session the response's write is compared with.
    pub cookies: RequestCookies,
    /// A server action: `POST` with a `Next-Action` header.
    pub action: bool,
}

impl From<Route> for RequestFacts {
    fn from(route: Route) -> Self {
        RequestFacts {
            route,
            cookies: RequestCookies::default(),
            action: false,
        }
    }
}

impl Policy {
    /// Classifies a request; call before the request is forwarded.
    pub fn route(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Route {
        Route(
            self.allow
                .iter()
                .position(|rule| rule.matches(method, uri, headers)),
        )
    }

    /// Everything the response's decision needs from the request.
    pub fn inspect(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> RequestFacts {
        RequestFacts {
            route: self.route(method, uri, headers),
            cookies: RequestCookies::from_headers(headers),
            action: method == Method::POST && headers.contains_key(NEXT_ACTION),
        }
    }

    /// The first half of a response's decision: removes the update marker,
    /// reads the session lines and tells a change from a refresh. `None`:
    /// the response sets no session cookie. Pass the result to
    /// [`Policy::finish`] with guard memory's verdict, if there is guard
    /// memory. `now` dates `Expires` attributes.
    pub fn examine(
        &self,
        request: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
        now: SystemTime,
    ) -> Option<Examined> {
        self.examine_hashed(
            request,
            status,
            headers,
            now,
            None::<&std::hash::RandomState>,
        )
    }

    /// [`Policy::examine`], and with `hasher` (guard memory's) the request's
    /// session and the response's write hashed from the same reading of the
    /// session lines ([`Examined::hashes`]).
    pub fn examine_hashed<H: BuildHasher>(
        &self,
        request: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
        now: SystemTime,
        hasher: Option<&H>,
    ) -> Option<Examined> {
        let marked = self
            .update_header
            .as_ref()
            .is_some_and(|name| headers.remove(name).is_some());
        // One reading of the session lines serves the count, the profiles
        // written, the classification and guard memory's hashes.
        let exchange = read_exchange(&self.session, &request.cookies, headers, now)?;
        let profile = self.session.profile_of(exchange.family);
        let mut written = 0u64;
        let mut families = exchange.families;
        while families != 0 {
            let family = families.trailing_zeros() as usize;
            written |= 1 << self.session.profile_of(family).min(63);
            families &= families - 1;
        }
        let success = status.is_success() || status.is_redirection();
        // A profile's own route speaks for that profile's session only.
        let rule = request.route.0.filter(|&rule| {
            match self.allow_profiles.get(rule).copied().flatten() {
                Some(owner) => written & (1 << owner.min(63)) != 0,
                None => true,
            }
        });
        let mut authority = match rule {
            _ if !success => None,
            _ if marked => Some(Authority::Marker),
            rule => rule.map(Authority::Rule),
        };
        // Not allowed by route or marker: what the write does decides,
        // whatever the status (a sign-out answered with an error still
        // signs out).
        let mut changed_claims = Vec::new();
        let mut token_unreadable = false;
        if authority.is_none() {
            let rules = self
                .session
                .profiles()
                .get(profile)
                .map(|p| p.shape_rules())
                .unwrap_or_default();
            let found = classify(&exchange, request.action, rules, self.reading.as_ref());
            authority = found.change.map(Authority::Change);
            changed_claims = found.changed_claims;
            token_unreadable = found.unreadable;
        }
        let strip_reason = match (authority, rule) {
            (Some(_), _) => None,
            (None, Some(rule)) => Some(StripReason::ErrorStatus { rule }),
            (None, None) => Some(StripReason::RouteNotAllowed),
        };
        Some(Examined {
            cookies: exchange.lines,
            profile,
            authority,
            strip_reason,
            changed_claims,
            token_unreadable,
            // Strip mode keeps only authoritative writes in guard memory
            // (a refresh is stripped without asking it).
            hashes: hasher
                .filter(|_| self.mode != Mode::Strip || authority.is_some())
                .map(|hasher| exchange.hashes(hasher)),
            anchor: hasher.and_then(|hasher| exchange.anchor_hash(hasher)),
            deletes: exchange.after.is_none(),
        })
    }

    /// The second half: decides the fate of the session cookies from guard
    /// memory's verdict (`None` without guard memory) and,
    /// unless in report mode, applies it. Other headers, and `Set-Cookie`
    /// lines for other cookies, keep their values and their order. In strip
    /// mode nothing is allocated unless something is removed.
    pub fn finish(
        &self,
        examined: Examined,
        verdict: Option<Verdict>,
        headers: &mut HeaderMap,
    ) -> Outcome {
        let Examined {
            cookies,
            mut authority,
            mut strip_reason,
            token_unreadable: examined_unreadable,
            deletes,
            ..
        } = examined;
        // Never signed back in: a write that sets a session for a request
        // whose session a sign-out ended since it left is stripped, however
        // authoritative (a slow update, a sign-in callback, a stale change).
        // A delete still passes: the user stays signed out.
        let signed_out = verdict == Some(Verdict::SignedOut) && !deletes;
        if signed_out {
            authority = None;
            strip_reason = Some(StripReason::SignedOut);
        }
        // A change from a request whose session an update had superseded (a
        // `jwt` callback that refreshed an OAuth token, say): it passes, so
        // nobody is left with a token the provider no longer accepts, and it
        // supersedes that update in turn (the later write wins, on every
        // replica alike). The update is lost; the outcome says so.
        if let (Some(Authority::Change(change)), Some(Verdict::Stale)) = (authority, verdict) {
            authority = Some(Authority::StaleChange(change));
        }
        let guard_reason = match verdict {
            // With the secret, a token that opens with none is never judged
            // by (or kept in) guard memory.
            _ if examined_unreadable && authority.is_none() => Some(StripReason::UnreadableToken),
            None | Some(Verdict::Pass) => None,
            _ if signed_out => Some(StripReason::SignedOut),
            // An authoritative write always passes; the store only records it.
            Some(_) if authority.is_some() => None,
            Some(Verdict::Stale | Verdict::SignedOut) => Some(StripReason::Stale),
            Some(Verdict::Unavailable(_)) => Some(StripReason::StoreUnavailable),
        };
        match (self.mode, authority) {
            (Mode::Report, Some(by)) => Outcome::Allowed { by, cookies },
            (Mode::Report, None) => Outcome::WouldStrip {
                cookies,
                strip: strip_reason,
                guard: guard_reason,
            },
            (Mode::Strip, Some(by)) => Outcome::Allowed { by, cookies },
            (Mode::Guard, Some(by)) => {
                self.collapse_if_repeated(cookies, headers);
                Outcome::Allowed { by, cookies }
            }
            (Mode::Strip | Mode::Guard, None) => {
                let reason = if self.mode == Mode::Strip {
                    strip_reason
                } else {
                    guard_reason
                };
                match reason {
                    Some(reason) => {
                        self.strip(headers);
                        Outcome::Stripped { cookies, reason }
                    }
                    None => {
                        self.collapse_if_repeated(cookies, headers);
                        Outcome::Refreshed { cookies }
                    }
                }
            }
        }
    }

    /// The whole decision in one call, without guard memory (strip mode,
    /// and report mode's strip half), dated now.
    pub fn apply(
        &self,
        request: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
    ) -> Outcome {
        match self.examine(request, status, headers, SystemTime::now()) {
            Some(examined) => self.finish(examined, None, headers),
            None => Outcome::NoSessionCookie,
        }
    }

    /// One session line (the usual refresh) cannot repeat a name: skip the
    /// scan and its allocations.
    fn collapse_if_repeated(&self, cookies: usize, headers: &mut HeaderMap) {
        if cookies > 1 {
            session::collapse_duplicates(&self.session, headers);
        }
    }

    fn strip(&self, headers: &mut HeaderMap) {
        const INLINE: usize = 8;
        let Entry::Occupied(mut entry) = headers.entry(SET_COOKIE) else {
            return;
        };
        // The lines to keep, in order. Cloning a HeaderValue is a reference
        // count increment; the first INLINE stay on the stack.
        let mut inline: [Option<HeaderValue>; INLINE] = [const { None }; INLINE];
        let mut spill = Vec::new();
        let kept = entry
            .iter()
            .filter(|value| !self.session.is_session_set_cookie(value));
        for (i, value) in kept.enumerate() {
            match inline.get_mut(i) {
                Some(slot) => *slot = Some(value.clone()),
                None => spill.push(value.clone()),
            }
        }
        let mut kept = inline.into_iter().flatten().chain(spill);
        match kept.next() {
            // `insert` drops every old value in place (no allocation, and the
            // header keeps its position); `append` adds the rest in order.
            Some(first) => {
                entry.insert(first);
                for value in kept {
                    entry.append(value);
                }
            }
            None => {
                entry.remove();
            }
        }
    }
}
