//! Auth.js / NextAuth (v4 `next-auth`, v5 `next-auth` beta and `@auth/core`
//! on SvelteKit, Express, Qwik…), JWT sessions. Facts from the packages'
//! sources: `../shared/NEXTAUTH-FACTS.md`.
//!
//! - Cookies: `next-auth.session-token` (v4) and `authjs.session-token` (v5),
//!   `__Secure-` on https; a token over ~3.9 KB is split as `name.0`, `name.1`.
//! - Values: compact JWE, `dir` + `A256GCM` (v4) or `A256CBC-HS512` (v5),
//!   read by [`crate::session::token`] with `AUTH_SECRET` / `NEXTAUTH_SECRET`.
//! - Routes: `/api/auth` (Next.js) or `/auth` (SvelteKit, Express, Qwik, and
//!   Next apps that set `basePath`, like the official example): both are
//!   recognised with no configuration. Sign-in at `callback/*`, update at
//!   `POST session`, sign-out at `POST signout`.
//! - Shape: v5 middleware copies the old session onto a server action's
//!   response before the action's own write.

use http::Method;

use super::{ChunkScheme, Opener, Profile, RouteSpec, ShapeRules};
use crate::session::token::{Claims, Secret, TokenError, TokenReader};

/// The Auth.js profile.
#[derive(Debug, Clone, Copy)]
pub struct AuthJs;

impl Profile for AuthJs {
    fn id(&self) -> &'static str {
        "authjs"
    }

    fn name(&self) -> &'static str {
        "Auth.js / NextAuth"
    }

    fn cookie_names(&self) -> &'static [&'static str] {
        &[
            "next-auth.session-token",
            "__Secure-next-auth.session-token",
            "authjs.session-token",
            "__Secure-authjs.session-token",
        ]
    }

    fn chunks(&self) -> ChunkScheme {
        ChunkScheme::DotIndex
    }

    fn base_paths(&self) -> &'static [&'static str] {
        &["/api/auth", "/auth"]
    }

    fn routes(&self) -> &'static [RouteSpec] {
        &[
            RouteSpec {
                methods: Some(&[Method::POST]),
                path: "/session",
                purpose: "update()",
            },
            RouteSpec {
                methods: Some(&[Method::GET, Method::POST]),
                path: "/callback/*",
                purpose: "sign-in callbacks: credentials (POST), OAuth and email (GET), form_post and WebAuthn (POST)",
            },
            RouteSpec {
                methods: Some(&[Method::POST]),
                path: "/signout",
                purpose: "sign-out",
            },
        ]
    }

    fn sign_in_prefix(&self) -> &'static str {
        "/callback/"
    }

    fn secret_variables(&self) -> &'static [&'static str] {
        &[
            "AUTH_SECRET",
            "AUTH_SECRET_1",
            "AUTH_SECRET_2",
            "AUTH_SECRET_3",
            "NEXTAUTH_SECRET",
        ]
    }

    fn volatile_claims(&self) -> &'static [&'static str] {
        &["iat", "exp", "jti"]
    }

    fn opener(&self, secrets: &[Secret], cookie_names: &[String]) -> Box<dyn Opener> {
        Box::new(TokenReader::new(secrets, cookie_names))
    }

    fn shape_rules(&self) -> ShapeRules {
        ShapeRules {
            action_rewrite_is_change: true,
            rewrite_is_change: false,
        }
    }
}

impl Opener for TokenReader {
    fn open(&self, cookie: usize, value: &[u8]) -> Result<Claims, TokenError> {
        self.read(cookie, value)
    }
}
