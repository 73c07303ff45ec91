//! Is a response's session write a change of the session, or a refresh of the
//! one the request carried? A change (sign-in, update, sign-out, however the
//! app performs it) must reach the browser in every mode; a refresh is what a
//! request that left before an update writes back, and what strip and guard
//! mode hold back.
//!
//! With the app's secret the tokens are read and their claims compared, less
//! the volatile ones (`iat`, `exp`, `jti`: new on every encode). Without it,
//! or when no secret opens a token, the shape of the exchange decides, and the
//! rules only ever err towards passing a write:
//! - a session created for a request that carried none is a sign-in;
//! - a response that leaves the browser with no session is a sign-out;
//! - a server action (`POST` with `Next-Action`) whose response writes the
//!   session twice with different values is the action's own write after the
//!   middleware's copy (a route wrapped in `auth()` also writes twice, but
//!   both copies of the old session, and it is no server action).

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use crate::session::token::{TokenError, TokenReader};
use crate::session::{Exchange, Token};

/// Why a session write counts as a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The app's secret opened both tokens and their claims differ.
    Claims,
    /// The request carried no session; the response creates one.
    SignIn,
    /// The browser holds no session after the response.
    SignOut,
    /// A server action wrote the session after the middleware's copy.
    ActionWrite,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Claims => "claims changed",
            Change::SignIn => "sign-in",
            Change::SignOut => "sign-out",
            Change::ActionWrite => "server action write",
        }
    }
}

/// What the secret-aware reading of an exchange found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// `Some`: a change; `None`: a refresh.
    pub change: Option<Change>,
    /// The names (never the values) of the claims that changed.
    pub changed_claims: Vec<String>,
    /// A secret was given but did not open the exchange's tokens: the shape
    /// rules decided, and guard memory keeps nothing of them.
    pub unreadable: bool,
}

/// The app's secret(s), ready to read tokens, and the claims that change on
/// every encode.
#[derive(Debug)]
pub struct SessionReading {
    pub reader: TokenReader,
    pub volatile_claims: Vec<String>,
    digests: ClaimsDigests,
}

impl SessionReading {
    pub fn new(reader: TokenReader, volatile_claims: Vec<String>) -> SessionReading {
        SessionReading {
            reader,
            volatile_claims,
            digests: ClaimsDigests::default(),
        }
    }

    /// Forgets every remembered digest (benchmarks measure reads with it).
    pub fn forget(&self) {
        self.digests.lock().clear();
    }

    /// The digest of a token's lasting claims (volatile ones left out),
    /// remembered for tokens read lately: the token a response writes is the
    /// one the browser sends next, so each token is read once, not twice.
    /// Only tokens a secret opens are remembered.
    fn digest(&self, token: &Token<'_>) -> Result<Digest, TokenError> {
        let key = self.digests.key(token);
        if let Some(digest) = self.digests.get(key) {
            return Ok(digest);
        }
        let claims = self.reader.read(token.base, &token.value)?;
        let mut hasher = blake3::Hasher::new();
        for (name, value) in claims.as_map() {
            if self.volatile_claims.iter().any(|v| v == name) {
                continue;
            }
            hasher.update(name.as_bytes());
            hasher.update(&[0]);
            // A Value always serialises, and the hasher is the sink.
            let _ = serde_json::to_writer(&mut hasher, value);
            hasher.update(&[0]);
        }
        let mut digest = [0; 16];
        digest.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        self.digests.put(key, digest);
        Ok(digest)
    }
}

type Digest = [u8; 16];

/// Lately read tokens' claim digests, keyed by a keyed hash of the token
/// (random per-process keys: nobody can aim a token at another's entry).
/// Bounded: about 100 bytes an entry, 400 KiB when full.
struct ClaimsDigests {
    hasher: ahash::RandomState,
    entries: Mutex<LruCache<u64, Digest>>,
}

const CLAIMS_DIGESTS: usize = 4096;

impl Default for ClaimsDigests {
    fn default() -> Self {
        ClaimsDigests {
            hasher: ahash::RandomState::new(),
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(CLAIMS_DIGESTS).expect("not zero"),
            )),
        }
    }
}

impl std::fmt::Debug for ClaimsDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimsDigests")
    }
}

impl ClaimsDigests {
    fn key(&self, token: &Token<'_>) -> u64 {
        self.hasher.hash_one((token.base, &*token.value))
    }

    fn get(&self, key: u64) -> Option<Digest> {
        self.lock().get(&key).copied()
    }

    fn put(&self, key: u64, digest: Digest) {
        self.lock().put(key, digest);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<u64, Digest>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Classifies an exchange. `action`: the request was a server action
/// (`POST` with `Next-Action`).
pub fn classify(
    exchange: &Exchange<'_>,
    action: bool,
    reading: Option<&SessionReading>,
) -> Classified {
    let by = |change: Option<Change>| Classified {
        change,
        changed_claims: Vec::new(),
        unreadable: false,
    };
    let (before, after) = match (&exchange.before, &exchange.after) {
        // A sign-out passes whatever it deletes; with the secret, whether the
        // deleted token opens decides whether guard memory may keep it.
        (Some(before), None) => {
            return Classified {
                unreadable: reading
                    .is_some_and(|r| r.reader.read(before.base, &before.value).is_err()),
                ..by(Some(Change::SignOut))
            };
        }
        (None, None) => return by(Some(Change::SignOut)),
        (None, Some(_)) => return by(Some(Change::SignIn)),
        (Some(before), Some(after)) => (before, after),
    };
    if before == after {
        return by(None);
    }
    let mut unreadable = false;
    if let Some(reading) = reading {
        match claims_changed(reading, before, after) {
            Ok(changed) if changed.is_empty() => return by(None),
            Ok(changed) => {
                return Classified {
                    change: Some(Change::Claims),
                    changed_claims: changed,
                    unreadable: false,
                };
            }
            Err(_) => unreadable = true,
        }
    }
    Classified {
        unreadable,
        ..by((action && exchange.rewritten).then_some(Change::ActionWrite))
    }
}

/// The names of the claims that differ; empty for a refresh. Digests decide
/// the usual case (same claims); only a change reads both tokens whole.
fn claims_changed(
    reading: &SessionReading,
    before: &Token<'_>,
    after: &Token<'_>,
) -> Result<Vec<String>, TokenError> {
    if reading.digest(after)? == reading.digest(before)? {
        return Ok(Vec::new());
    }
    let after_claims = reading.reader.read(after.base, &after.value)?;
    let before_claims = reading.reader.read(before.base, &before.value)?;
    Ok(after_claims
        .changed(&before_claims, &reading.volatile_claims)
        .into_iter()
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::session::token::Secret;

    fn token(value: &str) -> Option<Token<'_>> {
        Some(Token {
            base: 0,
            value: Cow::Borrowed(value.as_bytes()),
        })
    }

    fn exchange<'a>(before: &'a str, after: &'a str, rewritten: bool) -> Exchange<'a> {
        Exchange {
            before: (!before.is_empty()).then(|| token(before)).flatten(),
            after: (!after.is_empty()).then(|| token(after)).flatten(),
            rewritten,
        }
    }

    fn change(
        exchange: &Exchange<'_>,
        action: bool,
        reading: Option<&SessionReading>,
    ) -> Option<Change> {
        classify(exchange, action, reading).change
    }

    /// A secret that opens none of these made-up tokens.
    fn wrong_secret() -> SessionReading {
        SessionReading::new(
            TokenReader::new(
                &[Secret::new("not the app's")],
                &["authjs.session-token".to_owned()],
            ),
            vec!["iat".into(), "exp".into(), "jti".into()],
        )
    }

    #[test]
    fn shape_rules_without_a_secret() {
        let cases: &[(&str, &str, bool, bool, Option<Change>)] = &[
            // before, after, rewritten, server action: expected
            ("", "NEW", false, false, Some(Change::SignIn)),
            ("", "NEW", false, true, Some(Change::SignIn)),
            ("OLD", "", false, false, Some(Change::SignOut)),
            ("OLD", "", true, true, Some(Change::SignOut)),
            ("", "", false, false, Some(Change::SignOut)),
            ("OLD", "COPY", false, false, None),
            ("OLD", "COPY", false, true, None),
            ("OLD", "COPY", true, false, None),
            ("OLD", "NEW", true, true, Some(Change::ActionWrite)),
            ("OLD", "OLD", true, true, None),
            ("OLD", "OLD", false, false, None),
        ];
        for &(before, after, rewritten, action, expected) in cases {
            let e = exchange(before, after, rewritten);
            assert_eq!(
                change(&e, action, None),
                expected,
                "{before:?} -> {after:?}, rewritten {rewritten}, action {action}"
            );
            let found = classify(&e, action, None);
            assert!(!found.unreadable && found.changed_claims.is_empty());
        }
    }

    #[test]
    fn a_token_no_secret_opens_falls_back_to_the_shape_and_says_so() {
        let reading = wrong_secret();
        let refresh = classify(&exchange("OLD", "COPY", false), false, Some(&reading));
        assert_eq!(refresh.change, None);
        assert!(refresh.unreadable);
        let action = classify(&exchange("OLD", "NEW", true), true, Some(&reading));
        assert_eq!(action.change, Some(Change::ActionWrite));
        assert!(action.unreadable);
        // Sign-in and sign-out need no token read at all.
        let sign_in = classify(&exchange("", "NEW", false), false, Some(&reading));
        assert_eq!(
            (sign_in.change, sign_in.unreadable),
            (Some(Change::SignIn), false)
        );
        // Identical bytes are no write at all: nothing to read.
        let same = classify(&exchange("OLD", "OLD", false), false, Some(&reading));
        assert_eq!((same.change, same.unreadable), (None, false));
    }
}
