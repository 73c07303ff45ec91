//! Reader for the encrypted session tokens of NextAuth.js v4 and Auth.js v5.
//!
//! Both write the session as a compact JWE with `"alg":"dir"` (the content key is
//! derived from the app's secret with HKDF-SHA256):
//!
//! | | enc | key | HKDF salt | HKDF info |
//! |---|---|---|---|---|
//! | v4 (`next-auth` 4.24) | `A256GCM` | 32 B | empty | `NextAuth.js Generated Encryption Key` |
//! | v5 (`@auth/core` 0.41) | `A256CBC-HS512` (+ `kid`) | 64 B | cookie base name | `Auth.js Generated Encryption Key (<salt>)` |
//!
//! v5's `decode` also accepts `A256GCM` with a 32-byte key from the v5 derivation;
//! HKDF output is a prefix stream, so that key is the first half of the 64-byte one.
//!
//! The v5 salt is the session cookie's base name as configured, e.g.
//! `authjs.session-token` or `__Secure-authjs.session-token` (never a chunk name
//! such as `authjs.session-token.0`). The caller joins chunked cookies before
//! calling [`TokenReader::read`].
//!
//! Keys are derived once, in [`TokenReader::new`]; a read does one base64 pass per
//! segment, a MAC check (before any decryption) and one JSON parse. Expiry is not
//! checked here: the claims carry `exp` for the caller to judge.

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
use sha2::{Digest as _, Sha256, Sha512};
use zeroize::{Zeroize as _, Zeroizing};

/// Longest token accepted (after the caller joined chunks). Node's default header
/// limit is 16 KiB, so a real session token is far below this.
pub const MAX_TOKEN_LEN: usize = 256 * 1024;

const V4_INFO: &[u8] = b"NextAuth.js Generated Encryption Key";
const ENC_GCM: &str = "A256GCM";
const ENC_CBC: &str = "A256CBC-HS512";
const GCM_IV: usize = 12;
const GCM_TAG: usize = 16;
const CBC_IV: usize = 16;
const CBC_TAG: usize = 32;

const B64: GeneralPurpose = URL_SAFE_NO_PAD;

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

/// v5 `A256CBC-HS512` key for one (secret, base name).
struct CbcKey {
    /// HMAC-SHA512 already keyed with MAC_KEY (first 32 bytes); cloned per read.
    mac: Hmac<Sha512>,
    /// AES-256 decryption schedule for ENC_KEY (last 32 bytes).
    dec: Aes256Dec,
    /// RFC 7638 thumbprint (SHA-512) as Auth.js puts it in `kid`.
    kid: String,
    /// The exact first JWE segment Auth.js writes for this key, for a JSON-free fast path.
    header_b64: String,
}

/// Keys for one session cookie base name, one entry per secret (newest first).
struct Family {
    cbc: Vec<CbcKey>,
    /// v5 derivation with `enc` A256GCM (first 32 bytes of the 64-byte key).
    gcm: Vec<Aes256Gcm>,
}

/// Opens session tokens with keys derived once per secret and per cookie base name.
pub struct TokenReader {
    /// v4 keys, one per secret (v4 has no salt, so they serve every base name).
    v4: Vec<Aes256Gcm>,
    families: Vec<Family>,
    base_names: Vec<String>,
}

impl fmt::Debug for TokenReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenReader")
            .field("secrets", &self.v4.len())
            .field("base_names", &self.base_names)
            .field("keys", &"***")
            .finish()
    }
}

/// The `header_b64` a v4 token carries: `{"alg":"dir","enc":"A256GCM"}`.
const V4_HEADER_B64: &str = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0";

enum Enc {
    Gcm,
    Cbc,
}

struct Header {
    enc: Enc,
    kid: Option<String>,
    /// Index of the key whose exact header this is (fast path).
    known_key: Option<usize>,
}

impl TokenReader {
    /// Derives every key: per secret, the v4 key, and per base name the v5 keys.
    pub fn new(secrets: &[Secret], base_names: &[String]) -> TokenReader {
        let v4 = secrets
            .iter()
            .map(|s| {
                let mut key = Zeroizing::new([0u8; 32]);
                hkdf_sha256(s.bytes(), b"", V4_INFO, key.as_mut_slice());
                Aes256Gcm::new((&*key).into())
            })
            .collect();
        let families = base_names
            .iter()
            .map(|base| {
                let info = format!("Auth.js Generated Encryption Key ({base})");
                let mut cbc = Vec::with_capacity(secrets.len());
                let mut gcm = Vec::with_capacity(secrets.len());
                for s in secrets {
                    let mut key = Zeroizing::new([0u8; 64]);
                    hkdf_sha256(
                        s.bytes(),
                        base.as_bytes(),
                        info.as_bytes(),
                        key.as_mut_slice(),
                    );
                    let mac_key: &[u8; 32] = key.first_chunk().expect("64 > 32");
                    let enc_key: &[u8; 32] = key.last_chunk().expect("64 > 32");
                    let mut k_b64 = B64.encode(key.as_slice());
                    let jwk = Zeroizing::new(format!(r#"{{"k":"{k_b64}","kty":"oct"}}"#));
                    k_b64.zeroize();
                    let kid = B64.encode(Sha512::digest(jwk.as_bytes()));
                    let header = format!(r#"{{"alg":"dir","enc":"{ENC_CBC}","kid":"{kid}"}}"#);
                    cbc.push(CbcKey {
                        mac: Hmac::<Sha512>::new_from_slice(mac_key)
                            .expect("HMAC takes keys of any length"),
                        dec: Aes256Dec::new(enc_key.into()),
                        header_b64: B64.encode(header),
                        kid,
                    });
                    gcm.push(Aes256Gcm::new(mac_key.into()));
                }
                Family { cbc, gcm }
            })
            .collect();
        TokenReader {
            v4,
            families,
            base_names: base_names.to_vec(),
        }
    }

    /// The configured base names, in the order `read` indexes them.
    pub fn base_names(&self) -> &[String] {
        &self.base_names
    }

    /// Opens `token` (the compact JWE; chunks already joined) that came in a
    /// cookie of the family `base_names[base]`, trying every secret.
    pub fn read(&self, base: usize, token: &[u8]) -> Result<Claims, TokenError> {
        let family = self
            .families
            .get(base)
            .ok_or(TokenError::UnknownBase(base))?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token too long"));
        }
        let [header_b64, key_b64, iv_b64, ct_b64, tag_b64] = split5(token)?;
        if !key_b64.is_empty() {
            return Err(TokenError::Malformed("encrypted key present with alg dir"));
        }
        let header = parse_header(family, header_b64)?;

        let mut iv = [0u8; 24];
        let iv = decode_fixed(iv_b64, &mut iv, "bad IV")?;
        let mut tag = [0u8; 48];
        let tag = decode_fixed(tag_b64, &mut tag, "bad tag")?;
        let mut buf = Vec::new();
        decode_into(ct_b64, &mut buf, "bad ciphertext")?;
        // AAD = the first segment exactly as sent.
        let aad = header_b64;

        let plaintext: &[u8] = match header.enc {
            Enc::Gcm => {
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
                let opened = self.v4.iter().chain(&family.gcm).any(|cipher| {
                    cipher
                        .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
                        .is_ok()
                });
                if !opened {
                    return Err(TokenError::NoSecretOpens);
                }
                &buf
            }
            Enc::Cbc => {
                if iv.len() != CBC_IV || tag.len() != CBC_TAG {
                    return Err(TokenError::Malformed(
                        "bad IV or tag length for A256CBC-HS512",
                    ));
                }
                if buf.is_empty() || buf.len() % 16 != 0 {
                    return Err(TokenError::Malformed("ciphertext not whole AES blocks"));
                }
                let al = (aad.len() as u64 * 8).to_be_bytes();
                let verifies = |k: &CbcKey| {
                    let mut mac = k.mac.clone();
                    mac.update(aad);
                    mac.update(iv);
                    mac.update(&buf);
                    mac.update(&al);
                    mac.verify_truncated_left(tag).is_ok()
                };
                // The key named by the header (exact header or kid) first, then all.
                let hinted = header.known_key.or_else(|| {
                    let kid = header.kid.as_deref()?;
                    family.cbc.iter().position(|k| k.kid == kid)
                });
                let key = hinted
                    .map(|i| &family.cbc[i])
                    .filter(|k| verifies(k))
                    .or_else(|| {
                        family
                            .cbc
                            .iter()
                            .enumerate()
                            .filter(|&(i, _)| Some(i) != hinted)
                            .map(|(_, k)| k)
                            .find(|k| verifies(k))
                    })
                    .ok_or(TokenError::NoSecretOpens)?;
                let iv: &[u8; CBC_IV] = iv.try_into().expect("length checked above");
                cbc::Decryptor::<Aes256Dec>::inner_iv_init(key.dec.clone(), iv.into())
                    .decrypt_padded::<Pkcs7>(&mut buf)
                    .map_err(|_| TokenError::Malformed("bad padding under a valid tag"))?
            }
        };
        match serde_json::from_slice::<Value>(plaintext) {
            Ok(Value::Object(map)) => Ok(Claims(map)),
            _ => Err(TokenError::NotJsonObject),
        }
    }
}

fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], okm: &mut [u8]) {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .expect("32 and 64 bytes are valid HKDF-SHA256 lengths");
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
fn decode_into(b64: &[u8], out: &mut Vec<u8>, what: &'static str) -> Result<(), TokenError> {
    out.clear();
    B64.decode_vec(b64, out)
        .map_err(|_| TokenError::Malformed(what))
}

/// Base64url of a short segment into a stack buffer.
fn decode_fixed<'b>(
    b64: &[u8],
    buf: &'b mut [u8],
    what: &'static str,
) -> Result<&'b [u8], TokenError> {
    if b64.len() > buf.len() * 4 / 3 {
        return Err(TokenError::Malformed(what));
    }
    let n = B64
        .decode_slice(b64, buf)
        .map_err(|_| TokenError::Malformed(what))?;
    Ok(&buf[..n])
}

/// Checks the protected header. The exact headers Auth.js and next-auth write
/// are recognised without JSON parsing; anything else is parsed and checked.
fn parse_header(family: &Family, b64: &[u8]) -> Result<Header, TokenError> {
    if b64 == V4_HEADER_B64.as_bytes() {
        return Ok(Header {
            enc: Enc::Gcm,
            kid: None,
            known_key: None,
        });
    }
    if let Some(i) = family
        .cbc
        .iter()
        .position(|k| k.header_b64.as_bytes() == b64)
    {
        return Ok(Header {
            enc: Enc::Cbc,
            kid: None,
            known_key: Some(i),
        });
    }
    if b64.len() > 4096 {
        return Err(TokenError::Malformed("header too long"));
    }
    let mut json = Vec::new();
    decode_into(b64, &mut json, "bad header base64")?;
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
    Ok(Header {
        enc,
        kid,
        known_key: None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockModeEncrypt;
    use aes::cipher::KeyIvInit;

    const V4_SECRET: &str = "test-secret-v4-do-not-use";
    const V5_SECRET: &str = "test-secret-v5-do-not-use";
    const V5_BASE: &str = "authjs.session-token";

    // Minted by next-auth 4.24.15 / @auth/core 0.41.3 (tests/fixtures/tokens).
    const REAL_V4: &str = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..V4AjKWHP2qRQ-Jsw.2CNakBM67IdKopk2gtSviAC61GCZJmRVx4zlG8WqfE7K5Yv5aXfHaNMAaUxwq71_Siiu-M261w9YRCPVJTJf_K0divF3H0MtbWWYuJiIvTQw2TkF6aMhNnUDqjpEdve_pqgotpmcxO3yaG8xliaFsX2C7tDOtmgJY-qtCwGgtJVqArpwjj7s52vBuWv5-HFUGmMeIEtHMvpcK5ANgmbeuO4K5r5t3UYjbmfjnIGxHfVNJ0PVY011zYJdk1nRdDKG9KGSkahtvYbA0kLjVoGt7RGpw4ylolIGAAv3d8PssnLRlpsJdmGmrhOWToq_MYnTDu_diFiLsiAYleJovn84Excbc3pBwZAgAoeMi64Kr9jmjjChWUC-8YFDJ74Johz-TCcVnoEZwuZglKqqA_o.HMu_P3nwIb8KQp_Andhc0g";
    const REAL_V5: &str = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiUHVMM1Fkc2VZQ09YU0ZLYUJncUh0RlBPd2VRYkdlWkpFbzFtN2NGeEluY1h0LUlBdXBhakZUYzE0SlAxSHhUczF3T3hfTWtiTkJGZDBPTkFxT1ZtUUEifQ..UHO5K5vbbZSPYrcxEItsIQ.ufjccOrvVkRRFlA98f1ISe3vyCRWqV5pKFxPBNZfLcjORGdRSd8gnqS3wgpX_OaIhR3s0i4mLsFBC2dh7wy8yAFRtGDV4mcTRIwvlAo30PmppeJ9YHx1EDS9Q-FViWfBjQBiKyaGHL2VH_nKpEmL3F7eyVOjMC7Ewr53kJE3vlWXSlDZ7-OXAbkxjJJT7INXtoDDnw2clk9w6w8aT0NQixdCa9ci5W5i-eV0l6oO7EUMz4hVTbd4CarI1Onz7j6-sPOrrPM0_TBSKqe6K0UoBaac0n3_Jm8h2WaT4bbS6jEcPNmYjG69M6h0hpoe8AELUFfZG3QZC5Y2nPxONhMwp-4I8XOf_KHOaK_DlDXZ2UG0nOKV2hElPan50u8AH3br1SR2uF8R0zHIsa4uhwVIfg.U56B-TzvVMlbdyZyINSQauHDDD58BxaoD8uNveUtNkY";
    /// The kid @auth/core computed for (V5_SECRET, V5_BASE).
    const REAL_V5_KID: &str =
        "PuL3QdseYCOXSFKaBgqHtFPOweQbGeZJEo1m7cFxIncXt-IAupajFTc14JP1HxTs1wOx_MkbNBFd0ONAqOVmQA";

    fn reader(secrets: &[&str]) -> TokenReader {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        TokenReader::new(
            &secrets,
            &[V5_BASE.to_owned(), "next-auth.session-token".to_owned()],
        )
    }

    fn claims(v: Value) -> Claims {
        match v {
            Value::Object(m) => Claims(m),
            _ => panic!("not an object"),
        }
    }

    /// Seals `payload` the way Auth.js does, with any header JSON.
    fn seal_v5(secret: &str, salt: &str, header: &str, payload: &[u8]) -> String {
        let mut key = [0u8; 64];
        hkdf_sha256(
            secret.as_bytes(),
            salt.as_bytes(),
            format!("Auth.js Generated Encryption Key ({salt})").as_bytes(),
            &mut key,
        );
        let iv = [7u8; 16];
        let enc_key: &[u8; 32] = key.last_chunk().unwrap();
        let mut ct = payload.to_vec();
        ct.extend_from_slice(&[0; 16]);
        let n = cbc::Encryptor::<aes::Aes256>::new(enc_key.into(), (&iv).into())
            .encrypt_padded::<Pkcs7>(&mut ct, payload.len())
            .unwrap()
            .len();
        ct.truncate(n);
        let h = B64.encode(header);
        let mut mac = Hmac::<Sha512>::new_from_slice(&key[..32]).unwrap();
        mac.update(h.as_bytes());
        mac.update(&iv);
        mac.update(&ct);
        mac.update(&(h.len() as u64 * 8).to_be_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{h}..{}.{}.{}",
            B64.encode(iv),
            B64.encode(ct),
            B64.encode(&tag[..32])
        )
    }

    /// Seals `payload` the way next-auth v4 does, with any header JSON.
    fn seal_v4(secret: &str, header: &str, payload: &[u8]) -> String {
        let mut key = [0u8; 32];
        hkdf_sha256(secret.as_bytes(), b"", V4_INFO, &mut key);
        let h = B64.encode(header);
        let iv = [9u8; 12];
        let mut buf = payload.to_vec();
        let tag = Aes256Gcm::new((&key).into())
            .encrypt_inout_detached(&Nonce::from(iv), h.as_bytes(), buf.as_mut_slice().into())
            .unwrap();
        format!(
            "{h}..{}.{}.{}",
            B64.encode(iv),
            B64.encode(buf),
            B64.encode(tag)
        )
    }

    const V5_HEADER: &str = r#"{"alg":"dir","enc":"A256CBC-HS512"}"#;
    const V4_HEADER: &str = r#"{"alg":"dir","enc":"A256GCM"}"#;

    #[test]
    fn reads_real_tokens() {
        let r = reader(&[V5_SECRET, V4_SECRET]);
        let v5 = r.read(0, REAL_V5.as_bytes()).unwrap();
        assert_eq!(v5.get("email"), Some(&Value::from("ada@example.test")));
        assert_eq!(v5.exp(), Some(1_798_607_431));
        let v4 = r.read(0, REAL_V4.as_bytes()).unwrap();
        assert_eq!(v4.get("sub"), Some(&Value::from("user-0001")));
        // v4 needs no particular base; v5 does (the salt).
        assert!(r.read(1, REAL_V4.as_bytes()).is_ok());
        assert_eq!(
            r.read(1, REAL_V5.as_bytes()),
            Err(TokenError::NoSecretOpens)
        );
        assert_eq!(
            r.read(2, REAL_V5.as_bytes()),
            Err(TokenError::UnknownBase(2))
        );
    }

    #[test]
    fn kid_matches_auth_js() {
        let r = reader(&[V5_SECRET]);
        assert_eq!(r.families[0].cbc[0].kid, REAL_V5_KID);
        assert!(REAL_V5.starts_with(&r.families[0].cbc[0].header_b64));
    }

    #[test]
    fn handmade_tokens_open_through_the_json_header_path() {
        let r = reader(&[V4_SECRET, V5_SECRET]);
        let v5 = seal_v5(V5_SECRET, V5_BASE, V5_HEADER, br#"{"a":1}"#);
        assert_eq!(
            r.read(0, v5.as_bytes()).unwrap(),
            claims(serde_json::json!({"a": 1}))
        );
        // Reordered keys and a kid that names no key: fall back to trying all.
        let h = r#"{"enc":"A256CBC-HS512","kid":"nope","alg":"dir"}"#;
        let v5 = seal_v5(V5_SECRET, V5_BASE, h, br#"{"a":2}"#);
        assert_eq!(
            r.read(0, v5.as_bytes()).unwrap().get("a"),
            Some(&Value::from(2))
        );
        // A stale kid (names the old key) while the current key opens it.
        let old_kid = reader(&[V5_SECRET]).families[0].cbc[0].kid.clone();
        let h = format!(r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{old_kid}"}}"#);
        let r2 = reader(&["other-secret", V5_SECRET]);
        let other_kid = &r2.families[0].cbc[0].kid;
        let h2 = format!(r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{other_kid}"}}"#);
        let v5 = seal_v5(V5_SECRET, V5_BASE, &h2, b"{}");
        assert!(
            r2.read(0, v5.as_bytes()).is_ok(),
            "kid hint wrong, fallback opens"
        );
        let v5 = seal_v5(V5_SECRET, V5_BASE, &h, b"{}");
        assert!(r2.read(0, v5.as_bytes()).is_ok());
        let v4 = seal_v4(
            V4_SECRET,
            r#"{"enc":"A256GCM","alg":"dir"}"#,
            br#"{"b":true}"#,
        );
        assert_eq!(
            r.read(0, v4.as_bytes()).unwrap().get("b"),
            Some(&Value::Bool(true))
        );
    }

    /// Replaces one segment of a compact token.
    fn with_segment(token: &str, i: usize, f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut segs: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut raw = B64.decode(&segs[i]).unwrap();
        f(&mut raw);
        segs[i] = B64.encode(raw);
        segs.join(".")
    }

    #[test]
    fn tampering_is_rejected() {
        let r = reader(&[V5_SECRET, V4_SECRET]);
        for (name, token) in [("v5", REAL_V5), ("v4", REAL_V4)] {
            let flip_tag = with_segment(token, 4, |t| t[0] ^= 1);
            let flip_last_tag = with_segment(token, 4, |t| *t.last_mut().unwrap() ^= 0x80);
            let flip_ct = with_segment(token, 3, |c| c[5] ^= 1);
            let flip_last_ct = with_segment(token, 3, |c| *c.last_mut().unwrap() ^= 1);
            let flip_iv = with_segment(token, 2, |iv| iv[0] ^= 1);
            // Same claims, different header bytes: the AAD no longer matches.
            let other_header = with_segment(token, 0, |h| h.push(b' '));
            for bad in [
                flip_tag,
                flip_last_tag,
                flip_ct,
                flip_last_ct,
                flip_iv,
                other_header,
            ] {
                assert_eq!(
                    r.read(0, bad.as_bytes()),
                    Err(TokenError::NoSecretOpens),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn malformed_is_rejected() {
        let r = reader(&[V5_SECRET, V4_SECRET]);
        let segs: Vec<&str> = REAL_V5.split('.').collect();
        let four = segs[..4].join(".");
        let six = format!("{REAL_V5}.AA");
        let bad_b64 = REAL_V5.replacen('-', "*", 1);
        let padded = format!("{}..{}=.{}.{}", segs[0], segs[2], segs[3], segs[4]);
        let with_key = format!("{}.AAAA.{}.{}.{}", segs[0], segs[2], segs[3], segs[4]);
        let short_iv = format!("{}..AAAA.{}.{}", segs[0], segs[3], segs[4]);
        let short_tag = format!("{}..{}.{}.AAAA", segs[0], segs[2], segs[3]);
        let no_ct = format!("{}..{}..{}", segs[0], segs[2], segs[4]);
        let odd_ct = with_segment(REAL_V5, 3, |c| c.truncate(c.len() - 1));
        let header_not_json = format!(
            "{}..{}.{}.{}",
            B64.encode("{nope"),
            segs[2],
            segs[3],
            segs[4]
        );
        let header_array = format!("{}..{}.{}.{}", B64.encode("[1]"), segs[2], segs[3], segs[4]);
        let huge = "A".repeat(MAX_TOKEN_LEN + 1);
        for bad in [
            "",
            "....",
            ".....",
            four.as_str(),
            six.as_str(),
            bad_b64.as_str(),
            padded.as_str(),
            with_key.as_str(),
            short_iv.as_str(),
            short_tag.as_str(),
            no_ct.as_str(),
            odd_ct.as_str(),
            header_not_json.as_str(),
            header_array.as_str(),
            huge.as_str(),
        ] {
            let err = r.read(0, bad.as_bytes()).unwrap_err();
            assert!(
                matches!(err, TokenError::Malformed(_)),
                "{err:?} for {:.60}",
                bad
            );
        }
        // Non-UTF-8 and non-ASCII bytes never panic.
        for bad in [&b"\xff\xfe.\x00.\x80.\xc3\x28.\x01"[..], b"\xe2\x82..a.b.c"] {
            assert!(matches!(r.read(0, bad), Err(TokenError::Malformed(_))));
        }
    }

    #[test]
    fn unsupported_headers() {
        let r = reader(&[V5_SECRET]);
        let zip = seal_v5(
            V5_SECRET,
            V5_BASE,
            r#"{"alg":"dir","enc":"A256CBC-HS512","zip":"DEF"}"#,
            b"{}",
        );
        assert_eq!(
            r.read(0, zip.as_bytes()),
            Err(TokenError::Unsupported {
                alg: "dir".into(),
                enc: "A256CBC-HS512".into(),
                feature: Some("zip")
            })
        );
        let crit = seal_v5(
            V5_SECRET,
            V5_BASE,
            r#"{"alg":"dir","enc":"A256CBC-HS512","crit":["x"],"x":1}"#,
            b"{}",
        );
        assert!(matches!(
            r.read(0, crit.as_bytes()),
            Err(TokenError::Unsupported {
                feature: Some("crit"),
                ..
            })
        ));
        for (h, alg, enc) in [
            (r#"{"alg":"dir","enc":"A128GCM"}"#, "dir", "A128GCM"),
            (
                r#"{"alg":"dir","enc":"A128CBC-HS256"}"#,
                "dir",
                "A128CBC-HS256",
            ),
            (r#"{"alg":"A256KW","enc":"A256GCM"}"#, "A256KW", "A256GCM"),
            (r#"{"alg":"dir"}"#, "dir", "(none)"),
            (r#"{"alg":"dir","enc":7}"#, "dir", "(none)"),
            (
                r#"{"alg":"dir\n<script>","enc":"A256GCM"}"#,
                "(other)",
                "A256GCM",
            ),
        ] {
            let t = seal_v5(V5_SECRET, V5_BASE, h, b"{}");
            let err = r.read(0, t.as_bytes()).unwrap_err();
            assert_eq!(
                err,
                TokenError::Unsupported {
                    alg: alg.into(),
                    enc: enc.into(),
                    feature: None
                },
                "{h}"
            );
        }
    }

    #[test]
    fn payload_must_be_a_json_object() {
        let r = reader(&[V5_SECRET, V4_SECRET]);
        for payload in [
            &b"[1,2]"[..],
            b"\"s\"",
            b"null",
            b"{",
            b"",
            b"\xff{}",
            b"{} x",
        ] {
            let t = seal_v5(V5_SECRET, V5_BASE, V5_HEADER, payload);
            assert_eq!(r.read(0, t.as_bytes()), Err(TokenError::NotJsonObject));
            let t = seal_v4(V4_SECRET, V4_HEADER, payload);
            assert_eq!(r.read(0, t.as_bytes()), Err(TokenError::NotJsonObject));
        }
    }

    #[test]
    fn errors_and_debug_leak_nothing() {
        let secret = Secret::new("super-secret-value");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        let r = TokenReader::new(&[secret], &[V5_BASE.to_owned()]);
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("super") && dbg.contains(V5_BASE), "{dbg}");
        let tok = REAL_V5;
        for t in [
            tok.to_owned(),
            tok.replacen('-', "*", 1),
            format!("{tok}.x"),
        ] {
            let msg = r.read(0, t.as_bytes()).unwrap_err().to_string();
            for seg in tok.split('.').filter(|s| s.len() > 3) {
                assert!(!msg.contains(seg), "{msg}");
            }
            assert!(!msg.contains("super"), "{msg}");
        }
        let zip = seal_v5(
            "k",
            V5_BASE,
            r#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#,
            b"{}",
        );
        let msg = r.read(0, zip.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            msg,
            "unsupported session token: alg dir, enc A256GCM, zip header"
        );
    }

    #[test]
    fn rotation_tries_every_secret() {
        let old = seal_v5("old-secret", V5_BASE, V5_HEADER, br#"{"v":"old"}"#);
        assert!(
            reader(&["new-secret", "old-secret"])
                .read(0, old.as_bytes())
                .is_ok()
        );
        assert_eq!(
            reader(&["new-secret"]).read(0, old.as_bytes()),
            Err(TokenError::NoSecretOpens)
        );
        let old = seal_v4("old-secret", V4_HEADER, br#"{"v":"old"}"#);
        assert!(
            reader(&["new-secret", "old-secret"])
                .read(1, old.as_bytes())
                .is_ok()
        );
        assert_eq!(
            reader(&["new-secret"]).read(1, old.as_bytes()),
            Err(TokenError::NoSecretOpens)
        );
        assert_eq!(
            reader(&[]).read(0, REAL_V5.as_bytes()),
            Err(TokenError::NoSecretOpens)
        );
    }

    #[test]
    fn changed_semantics() {
        let a = claims(serde_json::json!({
            "name": "Ada", "role": "member", "iat": 1, "exp": 2, "jti": "x",
            "prefs": {"theme": "dark"}, "only_a": null, "n": 1
        }));
        let b = claims(serde_json::json!({
            "name": "Ada", "role": "admin", "iat": 5, "exp": 6, "jti": "y",
            "prefs": {"theme": "light"}, "only_b": 0, "n": 1.0
        }));
        let volatile = ["iat".to_owned(), "exp".to_owned(), "jti".to_owned()];
        // A key with a null value still counts as present; 1 and 1.0 differ as JSON.
        let expected = ["n", "only_a", "only_b", "prefs", "role"];
        assert_eq!(a.changed(&b, &volatile), expected);
        assert_eq!(b.changed(&a, &volatile), expected);
        assert_eq!(a.changed(&a.clone(), &volatile), Vec::<&str>::new());
        let none: [&str; 0] = [];
        assert_eq!(
            a.changed(&b, &none),
            [
                "exp", "iat", "jti", "n", "only_a", "only_b", "prefs", "role"
            ]
        );
        assert_eq!(
            Claims::default().changed(&Claims::default(), &none),
            Vec::<&str>::new()
        );
    }
}
