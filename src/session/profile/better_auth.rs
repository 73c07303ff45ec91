//! Better Auth (`better-auth` 1.x). Facts from the package's `dist/`
//! (1.7.29): `../shared/SESSION-LIBRARIES.md`, "Better Auth".
//!
//! - Cookies: `better-auth.session_token` (the session's token, signed:
//!   `token.signature`) and, with the cookie cache on, `better-auth
//!   .session_data` (the session and user, trusted by the server without the
//!   database until it expires); `__Secure-` on https; a large cache is
//!   chunked `.0`, `.1`. The two hold **one** session ([`Profile::compound`]):
//!   the browser may hold the token alone (the cache expired), and a cache
//!   filled for it is no change (claims on one side only are ignored).
//! - Values: readable without the secret, so cookieguard compares them with
//!   no configuration: the token as it is; the cache, `compact` (base64url
//!   JSON, the default) and `jwt` (HS256) strategies, by its user, session
//!   and version, less what every write renews (`updatedAt`, `expiresAt`,
//!   the session's own `expiresAt` and `updatedAt`, `iat`, `exp`). The `jwe`
//!   strategy is sealed (`dir` + `A256CBC-HS512`, key by HKDF-SHA256 from
//!   the secret, salt `better-auth-session`): opened with the secret, judged
//!   by shape without it.
//! - Routes under `/api/auth`: sign-in, sign-up, sign-out, `update-user`
//!   and the other endpoints that change the session; `get-session` only
//!   refreshes it (fills the cache, renews the token's expiry).

use http::Method;
use serde_json::{Map, Value};

use super::{ChunkScheme, CompoundValue, Opener, Profile, RouteSpec, ShapeRules};
use crate::session::token::{Claims, DirCbcReader, Secret, TokenError};

/// The Better Auth profile.
#[derive(Debug, Clone, Copy)]
pub struct BetterAuth;

const POST: Option<&[Method]> = Some(&[Method::POST]);

impl Profile for BetterAuth {
    fn id(&self) -> &'static str {
        "better-auth"
    }

    fn name(&self) -> &'static str {
        "Better Auth"
    }

    fn cookie_names(&self) -> &'static [&'static str] {
        &[
            "better-auth.session_token",
            "__Secure-better-auth.session_token",
            "better-auth.session_data",
            "__Secure-better-auth.session_data",
        ]
    }

    fn chunks(&self) -> ChunkScheme {
        ChunkScheme::DotIndex
    }

    fn base_paths(&self) -> &'static [&'static str] {
        &["/api/auth"]
    }

    fn routes(&self) -> &'static [RouteSpec] {
        &[
            RouteSpec {
                methods: POST,
                path: "/sign-in/**",
                purpose: "sign-in (email, social, anonymous, …)",
            },
            RouteSpec {
                methods: POST,
                path: "/sign-up/**",
                purpose: "sign-up (signs in)",
            },
            RouteSpec {
                methods: POST,
                path: "/sign-out",
                purpose: "sign-out",
            },
            RouteSpec {
                methods: POST,
                path: "/update-user",
                purpose: "update-user (a new cache)",
            },
            RouteSpec {
                methods: POST,
                path: "/change-email",
                purpose: "change-email",
            },
            RouteSpec {
                methods: POST,
                path: "/change-password",
                purpose: "change-password (may revoke other sessions)",
            },
            RouteSpec {
                methods: POST,
                path: "/revoke-session",
                purpose: "revoke-session",
            },
            RouteSpec {
                methods: POST,
                path: "/revoke-sessions",
                purpose: "revoke-sessions",
            },
            RouteSpec {
                methods: POST,
                path: "/revoke-other-sessions",
                purpose: "revoke-other-sessions",
            },
            RouteSpec {
                methods: POST,
                path: "/delete-user",
                purpose: "delete-user",
            },
            RouteSpec {
                methods: Some(&[Method::GET]),
                path: "/verify-email",
                purpose: "email verification (may sign in)",
            },
            RouteSpec {
                methods: POST,
                path: "/multi-session/**",
                purpose: "multi-session plugin: set-active, revoke",
            },
            RouteSpec {
                methods: POST,
                path: "/organization/set-active",
                purpose: "organization plugin: the active organization is in the session",
            },
            RouteSpec {
                methods: POST,
                path: "/two-factor/**",
                purpose: "two-factor plugin: verification signs in",
            },
        ]
    }

    fn sign_in_prefix(&self) -> &'static str {
        "/sign-in/"
    }

    fn secret_variables(&self) -> &'static [&'static str] {
        &["BETTER_AUTH_SECRET", "AUTH_SECRET"]
    }

    fn volatile_claims(&self) -> &'static [&'static str] {
        &["updatedAt", "expiresAt", "iat", "exp"]
    }

    fn opener(&self, secrets: &[Secret], _cookie_names: &[String]) -> Box<dyn Opener> {
        Box::new(BetterAuthReader {
            jwe: (!secrets.is_empty()).then(|| DirCbcReader::new(secrets, JWE_SALT, JWE_INFO)),
        })
    }

    fn shape_rules(&self) -> ShapeRules {
        ShapeRules {
            action_rewrite_is_change: false,
            rewrite_is_change: false,
        }
    }

    fn compound(&self) -> bool {
        true
    }

    fn reads_without_secret(&self) -> bool {
        true
    }
}

/// The `jwe` cache's key derivation (`crypto/jwt.mjs`,
/// `symmetricEncodeJWT(…, "better-auth-session")`).
const JWE_SALT: &[u8] = b"better-auth-session";
const JWE_INFO: &[u8] = b"BetterAuth.js Generated Encryption Key";

/// Reads a Better Auth session (its [`CompoundValue`]): the token and the
/// `compact` and `jwt` caches as they are, a `jwe` cache with the secret.
#[derive(Debug)]
struct BetterAuthReader {
    jwe: Option<DirCbcReader>,
}

impl Opener for BetterAuthReader {
    fn open(&self, _cookie: usize, value: &[u8]) -> Result<Claims, TokenError> {
        let mut claims = Map::new();
        let mut parts = 0;
        for (_, part) in CompoundValue::parts(value) {
            parts += 1;
            // The token is `token.signature` (two segments); the cache is one
            // (compact), three (jwt) or five (jwe).
            match part.iter().filter(|&&b| b == b'.').count() {
                1 => {
                    let token = part.split(|&b| b == b'.').next().unwrap_or_default();
                    claims.insert("token".into(), Value::String(lossy(token)));
                }
                0 => cache_claims(&decode_json(part)?, &mut claims)?,
                2 => {
                    let payload = part.split(|&b| b == b'.').nth(1).unwrap_or_default();
                    cache_claims(&decode_json(payload)?, &mut claims)?;
                }
                4 => match &self.jwe {
                    Some(reader) => cache_claims(&reader.read(part)?.into_map(), &mut claims)?,
                    None => return Err(TokenError::NeedsSecret),
                },
                _ => return Err(TokenError::Malformed("no Better Auth value")),
            }
        }
        if parts == 0 {
            return Err(TokenError::Malformed("no Better Auth value"));
        }
        Ok(Claims(claims))
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Base64url (padding optional) of a JSON object.
fn decode_json(b64: &[u8]) -> Result<Map<String, Value>, TokenError> {
    use base64::Engine as _;
    if b64.len() > crate::session::token::MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("token too long"));
    }
    let trimmed = b64
        .strip_suffix(b"==")
        .or(b64.strip_suffix(b"="))
        .unwrap_or(b64);
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|_| TokenError::Malformed("bad base64url"))?;
    match serde_json::from_slice(&json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::NotJsonObject),
    }
}

/// The lasting claims of a cookie cache: its user, its session less the
/// fields every refresh renews, and its version. `compact` wraps them as
/// `{session: {session, user, updatedAt, version}, expiresAt, signature}`,
/// `jwt` carries `{session, user, updatedAt, version, iat, exp}`.
fn cache_claims(
    payload: &Map<String, Value>,
    claims: &mut Map<String, Value>,
) -> Result<(), TokenError> {
    let data = match payload.get("signature") {
        Some(_) => payload
            .get("session")
            .and_then(Value::as_object)
            .ok_or(TokenError::Malformed("no session in the cache"))?,
        None => payload,
    };
    let mut session = data
        .get("session")
        .and_then(Value::as_object)
        .cloned()
        .ok_or(TokenError::Malformed("no session in the cache"))?;
    session.remove("expiresAt");
    session.remove("updatedAt");
    claims.insert("session".into(), Value::Object(session));
    for name in ["user", "version"] {
        if let Some(value) = data.get(name) {
            claims.insert(name.into(), value.clone());
        }
    }
    Ok(())
}
