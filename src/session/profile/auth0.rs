//! Auth0's Next.js SDK, `@auth0/nextjs-auth0` v4, with its default
//! stateless sessions. Facts from the package's `dist/server/` (4.30.0):
//! `../shared/SESSION-LIBRARIES.md`, "@auth0/nextjs-auth0 v4".
//!
//! - Cookie: `__session` (no prefix; `Secure` follows the app's base URL), a
//!   value over 3,500 bytes split as `__session__0`, `__session__1`, …; every
//!   write also deletes the unused parts (at least `__0` to `__4`).
//! - Value: a compact JWE, `dir` + `A256GCM`, header written `{enc, alg}`;
//!   key = HKDF-SHA256(`AUTH0_SECRET`, empty salt, info `JWE CEK`, 32 bytes).
//!   The payload is the whole session (`user`, `tokenSet`, `internal`) and
//!   `exp`; a rolling write changes `exp` only.
//! - The name is shared: Clerk's `__session` is a JWS (three segments) and
//!   React Router's is signed JSON (two): only a `dir` + `A256GCM` JWE is
//!   Auth0's, anything else under that name passes untouched.
//! - Writes: the middleware re-writes the session on every request that
//!   carries one and reaches no SDK route (rolling, the default); the SDK's
//!   routes under `/auth` sign in (`callback`), sign out (`logout`) and
//!   refresh the access token (`access-token`); `updateSession` and
//!   `getAccessToken` write wherever the app calls them, after the
//!   middleware's roll: the second, different write is the change.
//! - Not claimed: the v3 cookie `appSession` (v4 only reads it to migrate and
//!   deletes it on its first write) and the `__FC_N` connection token sets.

use http::Method;

use super::{ChunkScheme, Opener, Profile, RouteSpec, RouteVariable, ShapeRules};
use crate::session::token::{Claims, DirGcmReader, Secret, TokenError, is_dir_gcm_jwe};

/// The Auth0 profile.
#[derive(Debug, Clone, Copy)]
pub struct Auth0;

/// HKDF info of the session key (`server/cookies.js`, `ENCRYPTION_INFO`).
const KEY_INFO: &[u8] = b"JWE CEK";

const GET: Option<&[Method]> = Some(&[Method::GET]);
const POST: Option<&[Method]> = Some(&[Method::POST]);

impl Profile for Auth0 {
    fn id(&self) -> &'static str {
        "auth0"
    }

    fn name(&self) -> &'static str {
        "@auth0/nextjs-auth0 v4"
    }

    fn cookie_names(&self) -> &'static [&'static str] {
        &["__session"]
    }

    fn chunks(&self) -> ChunkScheme {
        ChunkScheme::DoubleUnderscoreIndex
    }

    fn recogniser(&self) -> Option<fn(&[u8]) -> bool> {
        Some(is_dir_gcm_jwe)
    }

    fn base_paths(&self) -> &'static [&'static str] {
        &["/auth"]
    }

    fn routes(&self) -> &'static [RouteSpec] {
        &[
            RouteSpec {
                methods: Some(&[Method::GET, Method::POST]),
                path: "/callback",
                purpose: "sign-in (the identity provider's redirect; POST for form_post)",
            },
            RouteSpec {
                methods: GET,
                path: "/logout",
                purpose: "sign-out",
            },
            RouteSpec {
                methods: POST,
                path: "/backchannel-logout",
                purpose: "sign-out sent by the identity provider",
            },
            RouteSpec {
                methods: GET,
                path: "/access-token",
                purpose: "access token refresh (a new token set is a change)",
            },
            RouteSpec {
                methods: GET,
                path: "/login",
                purpose: "sign-in start",
            },
            RouteSpec {
                methods: GET,
                path: "/profile",
                purpose: "the signed-in user",
            },
            RouteSpec {
                methods: None,
                path: "/connect",
                purpose: "connected accounts",
            },
            RouteSpec {
                methods: None,
                path: "/mfa/**",
                purpose: "multi-factor authentication",
            },
            RouteSpec {
                methods: POST,
                path: "/passwordless/**",
                purpose: "passwordless sign-in",
            },
            RouteSpec {
                methods: POST,
                path: "/passkey/**",
                purpose: "passkey sign-in and enrolment",
            },
        ]
    }

    fn route_variables(&self) -> &'static [RouteVariable] {
        // `server/client.js`, `this.routes`: the variables the SDK reads.
        // Logout and callback cannot be moved by a variable.
        const fn moved(variable: &'static str, route: &'static str) -> RouteVariable {
            RouteVariable { variable, route }
        }
        const MOVED: &[RouteVariable] = &[
            moved("NEXT_PUBLIC_ACCESS_TOKEN_ROUTE", "/access-token"),
            moved("NEXT_PUBLIC_PROFILE_ROUTE", "/profile"),
            moved("NEXT_PUBLIC_LOGIN_ROUTE", "/login"),
            moved("NEXT_PUBLIC_MFA_AUTHENTICATORS_ROUTE", "/mfa/**"),
            moved("NEXT_PUBLIC_MFA_CHALLENGE_ROUTE", "/mfa/**"),
            moved("NEXT_PUBLIC_MFA_VERIFY_ROUTE", "/mfa/**"),
            moved("NEXT_PUBLIC_MFA_ASSOCIATE_ROUTE", "/mfa/**"),
            moved("NEXT_PUBLIC_PASSWORDLESS_START_ROUTE", "/passwordless/**"),
            moved("NEXT_PUBLIC_PASSWORDLESS_VERIFY_ROUTE", "/passwordless/**"),
            moved(
                "NEXT_PUBLIC_PASSWORDLESS_DB_OTP_CHALLENGE_ROUTE",
                "/passwordless/**",
            ),
            moved(
                "NEXT_PUBLIC_PASSWORDLESS_DB_GET_TOKEN_ROUTE",
                "/passwordless/**",
            ),
            moved("NEXT_PUBLIC_PASSKEY_REGISTER_ROUTE", "/passkey/**"),
            moved("NEXT_PUBLIC_PASSKEY_CHALLENGE_ROUTE", "/passkey/**"),
            moved("NEXT_PUBLIC_PASSKEY_GET_TOKEN_ROUTE", "/passkey/**"),
            moved(
                "NEXT_PUBLIC_PASSKEY_ENROLLMENT_CHALLENGE_ROUTE",
                "/passkey/**",
            ),
            moved("NEXT_PUBLIC_PASSKEY_ENROLLMENT_VERIFY_ROUTE", "/passkey/**"),
        ];
        MOVED
    }

    fn sign_in_prefix(&self) -> &'static str {
        "/callback"
    }

    fn secret_variables(&self) -> &'static [&'static str] {
        &["AUTH0_SECRET"]
    }

    fn volatile_claims(&self) -> &'static [&'static str] {
        // jose sets no `iat` for this SDK; listed so that a version which
        // does is still read right.
        &["exp", "iat"]
    }

    fn opener(&self, secrets: &[Secret], _cookie_names: &[String]) -> Box<dyn Opener> {
        // No salt: one key per secret serves every cookie name.
        Box::new(Auth0Reader(DirGcmReader::new(secrets, b"", KEY_INFO)))
    }

    fn shape_rules(&self) -> ShapeRules {
        ShapeRules {
            action_rewrite_is_change: true,
            rewrite_is_change: true,
        }
    }
}

/// Opens Auth0 session values.
#[derive(Debug)]
struct Auth0Reader(DirGcmReader);

impl Opener for Auth0Reader {
    fn open(&self, _cookie: usize, value: &[u8]) -> Result<Claims, TokenError> {
        self.0.read(value)
    }
}
