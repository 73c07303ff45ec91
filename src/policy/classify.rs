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
//!   both copies of the old session, and it is no server action);
//! - in a library whose middleware rolls the session and whose only other
//!   writer is a change (Auth0), any response that writes the session twice
//!   with different values carries the app's own write.
//!
//! Each profile says which of the last two rules hold for it ([`ShapeRules`]).

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use crate::session::profile::{Opener, ShapeRules};
use crate::session::token::{Claims, TokenError};
use crate::session::{Exchange, SessionCookieNames, Token};

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
    /// The app wrote the session after the middleware's roll, in a library
    /// whose only second write is a change ([`ShapeRules::rewrite_is_change`]).
    SecondWrite,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Claims => "claims changed",
            Change::SignIn => "sign-in",
            Change::SignOut => "sign-out",
            Change::ActionWrite => "server action write",
            Change::SecondWrite => "second write",
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

/// The app's secret(s), ready to read tokens: an opener per profile that has
/// a secret, and the claims that change on every encode.
#[derive(Debug)]
pub struct SessionReading {
    /// Per profile (its index among the profiles in effect).
    profiles: Vec<ProfileReading>,
    /// Per cookie family: its profile's index and the family's index among
    /// that profile's names. Empty: one profile, families in its own order.
    families: Vec<(usize, usize)>,
    digests: ClaimsDigests,
}

/// A profile's opener (`None`: no secret for it) and its volatile claims.
pub type ProfileOpener = (Option<Box<dyn Opener>>, Vec<String>);

#[derive(Debug)]
struct ProfileReading {
    opener: Option<Box<dyn Opener>>,
    volatile_claims: Vec<String>,
}

impl SessionReading {
    /// One profile's opener (its families numbered as its names).
    pub fn new(opener: impl Opener + 'static, volatile_claims: Vec<String>) -> SessionReading {
        SessionReading {
            profiles: vec![ProfileReading {
                opener: Some(Box::new(opener)),
                volatile_claims,
            }],
            families: Vec::new(),
            digests: ClaimsDigests::default(),
        }
    }

    /// Openers for the profiles of `names`, in order (`None`: no secret for
    /// that profile), each with its volatile claims.
    pub fn for_profiles(
        names: &SessionCookieNames,
        profiles: Vec<ProfileOpener>,
    ) -> SessionReading {
        SessionReading {
            profiles: profiles
                .into_iter()
                .map(|(opener, volatile_claims)| ProfileReading {
                    opener,
                    volatile_claims,
                })
                .collect(),
            families: (0..names.names().len())
                .map(|family| (names.profile_of(family), names.cookie_of(family)))
                .collect(),
            digests: ClaimsDigests::default(),
        }
    }

    /// Forgets every remembered digest (benchmarks measure reads with it).
    pub fn forget(&self) {
        self.digests.lock().clear();
    }

    /// The profile reading and the cookie index of a token's family; `None`
    /// when no secret is known for its profile.
    fn reading(&self, token: &Token<'_>) -> Option<(&dyn Opener, &[String], usize)> {
        let (profile, cookie) = match self.families.get(token.base) {
            Some(&found) => found,
            None if self.families.is_empty() => (0, token.base),
            None => return None,
        };
        let reading = self.profiles.get(profile)?;
        Some((reading.opener.as_deref()?, &reading.volatile_claims, cookie))
    }

    /// Whether a secret is known for the profile of this token's family.
    fn can_read(&self, token: &Token<'_>) -> bool {
        self.reading(token).is_some()
    }

    /// A token's claims, opened with its profile's secret.
    fn open(&self, token: &Token<'_>) -> Result<Claims, TokenError> {
        let (opener, _, cookie) = self.reading(token).ok_or(TokenError::NoSecretOpens)?;
        opener.open(cookie, &token.value)
    }

    fn volatile_claims(&self, token: &Token<'_>) -> &[String] {
        self.reading(token).map_or(&[], |(_, volatile, _)| volatile)
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
        let claims = self.open(token)?;
        let volatile = self.volatile_claims(token);
        let mut hasher = blake3::Hasher::new();
        for (name, value) in claims.as_map() {
            if volatile.iter().any(|v| v == name) {
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
/// (`POST` with `Next-Action`); `rules`: the shapes of a change of the
/// profile whose session the exchange writes.
pub fn classify(
    exchange: &Exchange<'_>,
    action: bool,
    rules: ShapeRules,
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
                unreadable: reading.is_some_and(|r| r.can_read(before) && r.open(before).is_err()),
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
    if let Some(reading) = reading.filter(|r| r.can_read(after)) {
        match claims_changed(reading, before, after, exchange.compound) {
            Ok(changed) if changed.is_empty() => return by(None),
            Ok(changed) => {
                return Classified {
                    change: Some(Change::Claims),
                    changed_claims: changed,
                    unreadable: false,
                };
            }
            // Sealed, and no secret to open it: the shape decides.
            Err(TokenError::NeedsSecret) => {}
            Err(_) => unreadable = true,
        }
    }
    let change = match exchange.rewritten {
        false => None,
        true if rules.action_rewrite_is_change && action => Some(Change::ActionWrite),
        true if rules.rewrite_is_change => Some(Change::SecondWrite),
        true => None,
    };
    Classified {
        unreadable,
        ..by(change)
    }
}

/// The names of the claims that differ; empty for a refresh. Digests decide
/// the usual case (same claims); only a change reads both tokens whole.
/// `partial` (a session kept in several cookies, some of which the browser
/// may not hold): a claim on one side only is no change (a cache filled in).
fn claims_changed(
    reading: &SessionReading,
    before: &Token<'_>,
    after: &Token<'_>,
    partial: bool,
) -> Result<Vec<String>, TokenError> {
    if reading.digest(after)? == reading.digest(before)? {
        return Ok(Vec::new());
    }
    let after_claims = reading.open(after)?;
    let before_claims = reading.open(before)?;
    Ok(after_claims
        .changed(&before_claims, reading.volatile_claims(after))
        .into_iter()
        .filter(|name| {
            !partial || (after_claims.get(name).is_some() && before_claims.get(name).is_some())
        })
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::session::token::{Secret, TokenReader};

    /// Auth.js's shape rules: a server action's second write is a change.
    const AUTHJS: ShapeRules = ShapeRules {
        action_rewrite_is_change: true,
        rewrite_is_change: false,
    };

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
            family: 0,
            lines: 1,
            families: 1,
            rewritten,
            compound: false,
        }
    }

    fn change(
        exchange: &Exchange<'_>,
        action: bool,
        reading: Option<&SessionReading>,
    ) -> Option<Change> {
        classify(exchange, action, AUTHJS, reading).change
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
            let found = classify(&e, action, AUTHJS, None);
            assert!(!found.unreadable && found.changed_claims.is_empty());
        }
    }

    #[test]
    fn a_token_no_secret_opens_falls_back_to_the_shape_and_says_so() {
        let reading = wrong_secret();
        let refresh = classify(
            &exchange("OLD", "COPY", false),
            false,
            AUTHJS,
            Some(&reading),
        );
        assert_eq!(refresh.change, None);
        assert!(refresh.unreadable);
        let action = classify(&exchange("OLD", "NEW", true), true, AUTHJS, Some(&reading));
        assert_eq!(action.change, Some(Change::ActionWrite));
        assert!(action.unreadable);
        // Sign-in and sign-out need no token read at all.
        let sign_in = classify(&exchange("", "NEW", false), false, AUTHJS, Some(&reading));
        assert_eq!(
            (sign_in.change, sign_in.unreadable),
            (Some(Change::SignIn), false)
        );
        // Identical bytes are no write at all: nothing to read.
        let same = classify(
            &exchange("OLD", "OLD", false),
            false,
            AUTHJS,
            Some(&reading),
        );
        assert_eq!((same.change, same.unreadable), (None, false));
    }

    #[test]
    fn a_profile_without_the_action_rule_takes_a_rewrite_for_a_refresh() {
        let none = ShapeRules::default();
        let e = exchange("OLD", "NEW", true);
        assert_eq!(classify(&e, true, none, None).change, None);
        assert_eq!(
            classify(&e, true, AUTHJS, None).change,
            Some(Change::ActionWrite)
        );
        // A library whose only second write is a change (Auth0): any rewrite.
        let any = ShapeRules {
            action_rewrite_is_change: true,
            rewrite_is_change: true,
        };
        assert_eq!(
            classify(&e, false, any, None).change,
            Some(Change::SecondWrite)
        );
        assert_eq!(
            classify(&e, true, any, None).change,
            Some(Change::ActionWrite)
        );
        let one_write = exchange("OLD", "COPY", false);
        assert_eq!(classify(&one_write, false, any, None).change, None);
        // Sign-in and sign-out are every profile's.
        for (before, after, expected) in [("", "NEW", Change::SignIn), ("OLD", "", Change::SignOut)]
        {
            let e = exchange(before, after, false);
            assert_eq!(classify(&e, false, none, None).change, Some(expected));
        }
    }

    #[test]
    fn a_profile_without_a_secret_is_read_by_its_shape_even_when_another_has_one() {
        // Family 0 belongs to profile 0 (a secret), family 1 to profile 1 (none).
        let reading = SessionReading {
            profiles: vec![
                ProfileReading {
                    opener: Some(Box::new(TokenReader::new(
                        &[Secret::new("s")],
                        &["a".to_owned()],
                    ))),
                    volatile_claims: vec![],
                },
                ProfileReading {
                    opener: None,
                    volatile_claims: vec![],
                },
            ],
            families: vec![(0, 0), (1, 0)],
            digests: ClaimsDigests::default(),
        };
        let mut e = exchange("OLD", "COPY", false);
        for token in [&mut e.before, &mut e.after] {
            token.as_mut().unwrap().base = 1;
        }
        e.family = 1;
        let found = classify(&e, false, AUTHJS, Some(&reading));
        assert_eq!((found.change, found.unreadable), (None, false));
        // The same exchange in the family whose profile has a secret: unreadable.
        for token in [&mut e.before, &mut e.after] {
            token.as_mut().unwrap().base = 0;
        }
        e.family = 0;
        let found = classify(&e, false, AUTHJS, Some(&reading));
        assert_eq!((found.change, found.unreadable), (None, true));
    }
}
