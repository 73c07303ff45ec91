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

fn claims_changed(
    reading: &SessionReading,
    before: &Token<'_>,
    after: &Token<'_>,
) -> Result<Vec<String>, TokenError> {
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
        SessionReading {
            reader: TokenReader::new(
                &[Secret::new("not the app's")],
                &["authjs.session-token".to_owned()],
            ),
            volatile_claims: vec!["iat".into(), "exp".into(), "jti".into()],
        }
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
