//! Readers for session tokens sealed as compact JWEs with `alg` `dir` (the
//! content key derived from the app's secret with HKDF-SHA256), one file per
//! kind of reader, and what they share (segments, headers, the two content
//! ciphers, errors, claims). Profiles pick their reader; expiry is not
//! checked here: the claims carry `exp` for the caller to judge.
//!
//! | reader | for | enc | key | HKDF salt | HKDF info |
//! |---|---|---|---|---|---|
//! | [`TokenReader`] (`authjs.rs`) | next-auth 4.24 | `A256GCM` | 32 B | empty | `NextAuth.js Generated Encryption Key` |
//! | | `@auth/core` 0.41 (v5) | `A256CBC-HS512` (+ `kid`) | 64 B | cookie base name | `Auth.js Generated Encryption Key (<salt>)` |
//! | [`DirGcmReader`] (`dir.rs`) | `@auth0/nextjs-auth0` 4 | `A256GCM` | 32 B | empty | `JWE CEK` |
//! | [`DirCbcReader`] (`dir.rs`) | Better Auth's `jwe` cache | `A256CBC-HS512` (+ `kid`) | 64 B | `better-auth-session` | `BetterAuth.js Generated Encryption Key` |
//!
//! v5's `decode` also accepts `A256GCM` with a 32-byte key from the v5 derivation;
//! HKDF output is a prefix stream, so that key is the first half of the 64-byte one.
//! The v5 salt is the session cookie's base name as configured, e.g.
//! `authjs.session-token` or `__Secure-authjs.session-token` (never a chunk name
//! such as `authjs.session-token.0`). Callers join chunked cookies first.
//!
//! Keys are derived once, when a reader is made; a read does one base64 pass per
//! segment, a MAC check (before any decryption) and one JSON parse.
//! [`is_dir_gcm_jwe`] tells a `dir` + `A256GCM` value from other libraries'
//! values under a shared cookie name, with no key.

use std::fmt;

use aes::Aes256Dec;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, InnerIvInit, KeyInit as _};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use serde_json::{Map, Value};
use sha2::{Sha256, Sha512};
use zeroize::{Zeroize as _, Zeroizing};

/// Longest token accepted (after the caller joined chunks). Node's default header
/// limit is 16 KiB, so a real session token is far below this.
pub const MAX_TOKEN_LEN: usize = 256 * 1024;

const ENC_GCM: &str = "A256GCM";
const ENC_CBC: &str = "A256CBC-HS512";
const GCM_IV: usize = 12;
const GCM_TAG: usize = 16;
const CBC_IV: usize = 16;
const CBC_TAG: usize = 32;

/// For encoding (kid, fixed headers) and as the portable decoder.
const B64: GeneralPurpose = URL_SAFE_NO_PAD;

/// The decoder for token segments: base64's SIMD engine (AVX2 / NEON, detected
/// once at run time, scalar fallback) where it exists; same rules as `B64`
/// (URL-safe alphabet, no padding, canonical trailing bits).
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
type Decoder = base64::engine::Simd;
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
)))]
type Decoder = GeneralPurpose;

#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
fn decoder() -> Decoder {
    base64::engine::Simd::url_safe(base64::engine::general_purpose::NO_PAD)
}
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
)))]
fn decoder() -> Decoder {
    B64
}

/// A session secret (`NEXTAUTH_SECRET` / `AUTH_SECRET`), as the bytes of the
/// configured string. Debug and Display print `***`; the bytes are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps the secret's bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(Zeroizing::new(bytes.into()))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a token could not be read. Messages never contain token bytes or secrets;
/// `alg`/`enc` are header values reduced to a short, safe form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWE of five base64url segments, bad header JSON, wrong IV or
    /// tag length, a non-empty encrypted key for `dir`, or longer than [`MAX_TOKEN_LEN`].
    #[error("malformed session token: {0}")]
    Malformed(&'static str),
    /// A well-formed JWE this reader does not handle.
    #[error("unsupported session token: alg {alg}, enc {enc}{}", match .feature {
        Some(f) => format!(", {f} header"),
        None => String::new(),
    })]
    Unsupported {
        /// The `alg` header (sanitised).
        alg: String,
        /// The `enc` header (sanitised).
        enc: String,
        /// A header parameter that is present and not supported (`zip`, `crit`).
        feature: Option<&'static str>,
    },
    /// The tag did not verify under any configured secret.
    #[error("no configured secret opens the session token")]
    NoSecretOpens,
    /// A value that only the secret opens, read without one (a profile whose
    /// other values are readable without it): the shape decides, and
    /// nothing is wrong with the value.
    #[error("the session value needs the secret to be read")]
    NeedsSecret,
    /// The decrypted payload is not a JSON object.
    #[error("session token payload is not a JSON object")]
    NotJsonObject,
    /// `base` is not an index into the reader's base names (a caller bug).
    #[error("unknown session cookie base index {0}")]
    UnknownBase(usize),
}

/// The decrypted claims of a session token (a JSON object).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// Names of the top-level claims whose values differ between `self` and
    /// `other` (a claim present in only one of them counts), skipping `volatile`
    /// names (typically `iat`, `exp`, `jti`), sorted.
    pub fn changed<'a, S: AsRef<str>>(&'a self, other: &'a Claims, volatile: &[S]) -> Vec<&'a str> {
        let is_volatile = |k: &str| volatile.iter().any(|v| v.as_ref() == k);
        let mut out: Vec<&'a str> = self
            .0
            .iter()
            .filter(|(k, v)| !is_volatile(k) && other.0.get(k.as_str()) != Some(*v))
            .map(|(k, _)| k.as_str())
            .collect();
        out.extend(
            other
                .0
                .keys()
                .filter(|k| !is_volatile(k) && !self.0.contains_key(k.as_str()))
                .map(String::as_str),
        );
        out.sort_unstable();
        out
    }

    /// One claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The `exp` claim (seconds since the epoch), if it is an integer.
    pub fn exp(&self) -> Option<i64> {
        self.0.get("exp").and_then(Value::as_i64)
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// All claims, owned.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// The `header_b64` a v4 token carries: `{"alg":"dir","enc":"A256GCM"}`.
pub(crate) const V4_HEADER_B64: &str = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0";

pub(crate) enum Enc {
    Gcm,
    Cbc,
}

/// An `A256CBC-HS512` key (Auth.js v5: one per secret and base name).
pub struct CbcKey {
    /// HMAC-SHA512 already keyed with MAC_KEY (first 32 bytes); cloned per read.
    mac: Hmac<Sha512>,
    /// AES-256 decryption schedule for ENC_KEY (last 32 bytes).
    dec: Aes256Dec,
    /// RFC 7638 thumbprint (SHA-512) as Auth.js puts it in `kid`.
    kid: String,
    /// The exact first JWE segment Auth.js writes for this key, for a JSON-free fast path.
    header_b64: String,
}

/// `A256CBC-HS512` (RFC 7518 §5.2): checks the tag with the key's MAC half,
/// then decrypts `buf` in place; the plaintext, unpadded.
fn open_cbc<'b>(
    key: &CbcKey,
    aad: &[u8],
    iv: &[u8],
    tag: &[u8],
    buf: &'b mut [u8],
) -> Result<&'b [u8], TokenError> {
    if iv.len() != CBC_IV || tag.len() != CBC_TAG {
        return Err(TokenError::Malformed(
            "bad IV or tag length for A256CBC-HS512",
        ));
    }
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(TokenError::Malformed("ciphertext not whole AES blocks"));
    }
    let al = (aad.len() as u64 * 8).to_be_bytes();
    let mut mac = key.mac.clone();
    mac.update(aad);
    mac.update(iv);
    mac.update(buf);
    mac.update(&al);
    if mac.verify_truncated_left(tag).is_err() {
        return Err(TokenError::NoSecretOpens);
    }
    let iv: &[u8; CBC_IV] = iv.try_into().expect("length checked above");
    cbc::Decryptor::<Aes256Dec>::inner_iv_init(key.dec.clone(), iv.into())
        .decrypt_padded::<Pkcs7>(buf)
        .map(|plain| -> &'b [u8] { plain })
        .map_err(|_| TokenError::Malformed("bad padding under a valid tag"))
}

impl CbcKey {
    /// The key from 64 bytes of HKDF output (MAC half, then encryption
    /// half) and its `kid`.
    fn new(key: &[u8; 64], kid: String, header_b64: String) -> CbcKey {
        let mac_key: &[u8; 32] = key.first_chunk().expect("64 > 32");
        let enc_key: &[u8; 32] = key.last_chunk().expect("64 > 32");
        CbcKey {
            mac: Hmac::<Sha512>::new_from_slice(mac_key).expect("HMAC takes keys of any length"),
            dec: Aes256Dec::new(enc_key.into()),
            kid,
            header_b64,
        }
    }
}

/// The RFC 7638 thumbprint of a symmetric key, as jose's
/// `calculateJwkThumbprint({kty: "oct", k}, digest)` gives it.
fn thumbprint<D: sha2::Digest>(key: &[u8]) -> String {
    let mut k_b64 = B64.encode(key);
    let jwk = Zeroizing::new(format!(r#"{{"k":"{k_b64}","kty":"oct"}}"#));
    k_b64.zeroize();
    B64.encode(D::digest(jwk.as_bytes()))
}

/// Decrypts `buf` in place with the first of `ciphers` whose tag verifies.
fn open_gcm<'k>(
    ciphers: impl IntoIterator<Item = &'k Aes256Gcm>,
    aad: &[u8],
    iv: &[u8],
    tag: &[u8],
    buf: &mut [u8],
) -> Result<(), TokenError> {
    let (Ok(iv), Ok(tag)) = (
        <&[u8; GCM_IV]>::try_from(iv),
        <&[u8; GCM_TAG]>::try_from(tag),
    ) else {
        return Err(TokenError::Malformed("bad IV or tag length for A256GCM"));
    };
    let nonce = Nonce::from(*iv);
    let tag = Tag::from(*tag);
    // aes-gcm checks the tag before it decrypts and leaves the buffer
    // untouched on failure, so the same buffer serves every try.
    let opened = ciphers.into_iter().any(|cipher| {
        cipher
            .decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
            .is_ok()
    });
    if opened {
        Ok(())
    } else {
        Err(TokenError::NoSecretOpens)
    }
}

/// One AES-256-GCM key per secret: HKDF-SHA256 with `salt` and `info`.
fn gcm_keys(secrets: &[Secret], salt: &[u8], info: &[u8]) -> Vec<Aes256Gcm> {
    secrets
        .iter()
        .map(|s| {
            let mut key = Zeroizing::new([0u8; 32]);
            hkdf_sha256(s.bytes(), salt, info, key.as_mut_slice());
            Aes256Gcm::new((&*key).into())
        })
        .collect()
}

fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], okm: &mut [u8]) {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .expect("32 and 64 bytes are valid HKDF-SHA256 lengths");
}

/// The segments of a compact JWE with `alg` `dir` (header, IV, ciphertext,
/// tag): five of them, the encrypted key empty, no longer than [`MAX_TOKEN_LEN`].
fn dir_segments(token: &[u8]) -> Result<[&[u8]; 4], TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("token too long"));
    }
    let [header, key, iv, ciphertext, tag] = split5(token)?;
    if !key.is_empty() {
        return Err(TokenError::Malformed("encrypted key present with alg dir"));
    }
    Ok([header, iv, ciphertext, tag])
}

/// Splits a compact JWE into its five segments.
fn split5(token: &[u8]) -> Result<[&[u8]; 5], TokenError> {
    let mut parts = token.split(|&b| b == b'.');
    let mut out: [&[u8]; 5] = [&[]; 5];
    for slot in &mut out {
        *slot = parts
            .next()
            .ok_or(TokenError::Malformed("not five segments"))?;
    }
    if parts.next().is_some() {
        return Err(TokenError::Malformed("not five segments"));
    }
    Ok(out)
}

/// Base64url (no padding, canonical) into `out`, replacing its contents.
fn decode_into(
    engine: &Decoder,
    b64: &[u8],
    out: &mut Vec<u8>,
    what: &'static str,
) -> Result<(), TokenError> {
    out.clear();
    engine
        .decode_vec(b64, out)
        .map_err(|_| TokenError::Malformed(what))
}

/// Base64url of a short segment into a stack buffer.
fn decode_fixed<'b>(
    engine: &Decoder,
    b64: &[u8],
    buf: &'b mut [u8],
    what: &'static str,
) -> Result<&'b [u8], TokenError> {
    if b64.len() > buf.len() * 4 / 3 {
        return Err(TokenError::Malformed(what));
    }
    let n = engine
        .decode_slice(b64, buf)
        .map_err(|_| TokenError::Malformed(what))?;
    Ok(&buf[..n])
}

/// A protected header that is not one of the exact ones recognised on sight:
/// decoded, parsed and checked (`dir` with `A256GCM` or `A256CBC-HS512`, no
/// `zip` or `crit`); its `enc` and `kid`.
fn parse_header_json(engine: &Decoder, b64: &[u8]) -> Result<(Enc, Option<String>), TokenError> {
    if b64.len() > 4096 {
        return Err(TokenError::Malformed("header too long"));
    }
    let mut json = Vec::new();
    decode_into(engine, b64, &mut json, "bad header base64")?;
    let Ok(Value::Object(mut h)) = serde_json::from_slice::<Value>(&json) else {
        return Err(TokenError::Malformed("header is not a JSON object"));
    };
    let alg = h.get("alg").and_then(Value::as_str);
    let enc = h.get("enc").and_then(Value::as_str);
    let unsupported = |feature| TokenError::Unsupported {
        alg: safe_name(alg),
        enc: safe_name(enc),
        feature,
    };
    if h.contains_key("zip") {
        return Err(unsupported(Some("zip")));
    }
    if h.contains_key("crit") {
        return Err(unsupported(Some("crit")));
    }
    let enc = match (alg, enc) {
        (Some("dir"), Some(ENC_GCM)) => Enc::Gcm,
        (Some("dir"), Some(ENC_CBC)) => Enc::Cbc,
        _ => return Err(unsupported(None)),
    };
    let kid = match h.remove("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid),
        Some(_) => return Err(TokenError::Malformed("kid is not a string")),
    };
    Ok((enc, kid))
}

/// A header value fit for an error message: short ASCII names as they are,
/// anything else replaced.
fn safe_name(v: Option<&str>) -> String {
    match v {
        None => "(none)".to_owned(),
        Some(s)
            if !s.is_empty()
                && s.len() <= 32
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-_.".contains(&b)) =>
        {
            s.to_owned()
        }
        Some(_) => "(other)".to_owned(),
    }
}

mod authjs;
mod dir;

pub use authjs::TokenReader;
pub use dir::{DirCbcReader, DirGcmReader, DirReader, is_dir_gcm_jwe};

#[cfg(test)]
mod tests;
