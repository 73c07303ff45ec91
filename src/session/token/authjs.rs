//! NextAuth.js v4 and Auth.js v5 session tokens (see the table in the
//! module above): one reader that derives every key once, per secret and
//! per cookie base name, and picks the key the way Auth.js's `decode` does.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit as _};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use super::{
    B64, CbcKey, Claims, Decoder, ENC_CBC, Enc, Secret, TokenError, V4_HEADER_B64, decode_fixed,
    decode_into, decoder, dir_segments, gcm_keys, hkdf_sha256, open_cbc, open_gcm,
    parse_header_json, thumbprint,
};

pub(super) const V4_INFO: &[u8] = b"NextAuth.js Generated Encryption Key";

/// Keys for one session cookie base name, one entry per secret (newest first).
pub(super) struct Family {
    pub(super) cbc: Vec<CbcKey>,
    /// v5 derivation with `enc` A256GCM (first 32 bytes of the 64-byte key).
    gcm: Vec<Aes256Gcm>,
    /// The `kid` of each `gcm` key (RFC 7638 thumbprint, SHA-256).
    pub(super) gcm_kids: Vec<String>,
}

/// Opens session tokens with keys derived once per secret and per cookie base name.
pub struct TokenReader {
    /// v4 keys, one per secret (v4 has no salt, so they serve every base name).
    v4: Vec<Aes256Gcm>,
    pub(super) families: Vec<Family>,
    base_names: Vec<String>,
    b64: Decoder,
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

struct Header {
    enc: Enc,
    kid: Option<String>,
    /// Index of the key whose exact header this is (fast path).
    known_key: Option<usize>,
}

impl TokenReader {
    /// Derives every key: per secret, the v4 key, and per base name the v5 keys.
    pub fn new(secrets: &[Secret], base_names: &[String]) -> TokenReader {
        let v4 = gcm_keys(secrets, b"", V4_INFO);
        let families = base_names
            .iter()
            .map(|base| {
                let info = format!("Auth.js Generated Encryption Key ({base})");
                let mut cbc = Vec::with_capacity(secrets.len());
                let mut gcm = Vec::with_capacity(secrets.len());
                let mut gcm_kids = Vec::with_capacity(secrets.len());
                for s in secrets {
                    let mut key = Zeroizing::new([0u8; 64]);
                    hkdf_sha256(
                        s.bytes(),
                        base.as_bytes(),
                        info.as_bytes(),
                        key.as_mut_slice(),
                    );
                    let kid = thumbprint::<Sha512>(key.as_slice());
                    let header = format!(r#"{{"alg":"dir","enc":"{ENC_CBC}","kid":"{kid}"}}"#);
                    cbc.push(CbcKey::new(&key, kid, B64.encode(header)));
                    let mac_key: &[u8; 32] = key.first_chunk().expect("64 > 32");
                    gcm.push(Aes256Gcm::new(mac_key.into()));
                    gcm_kids.push(thumbprint::<Sha256>(mac_key));
                }
                Family { cbc, gcm, gcm_kids }
            })
            .collect();
        TokenReader {
            v4,
            families,
            base_names: base_names.to_vec(),
            b64: decoder(),
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
        let [header_b64, iv_b64, ct_b64, tag_b64] = dir_segments(token)?;
        let b64 = &self.b64;
        let header = parse_header(b64, family, header_b64)?;

        let mut iv = [0u8; 24];
        let iv = decode_fixed(b64, iv_b64, &mut iv, "bad IV")?;
        let mut tag = [0u8; 48];
        let tag = decode_fixed(b64, tag_b64, &mut tag, "bad tag")?;
        let mut buf = Vec::new();
        decode_into(b64, ct_b64, &mut buf, "bad ciphertext")?;
        // AAD = the first segment exactly as sent.
        let aad = header_b64;

        let plaintext: &[u8] = match header.enc {
            Enc::Gcm => {
                // v5 keys as Auth.js picks them: the one `kid` names, or the
                // newest secret's when there is none. next-auth 4 has one
                // secret and no kid: every configured one is tried.
                let v5 = match header.kid.as_deref() {
                    Some(kid) => family
                        .gcm_kids
                        .iter()
                        .position(|k| k == kid)
                        .map(|i| &family.gcm[i]),
                    None => family.gcm.first(),
                };
                let v4 = if header.kid.is_none() {
                    &self.v4[..]
                } else {
                    &[]
                };
                open_gcm(v4.iter().chain(v5), aad, iv, tag, &mut buf)?;
                &buf
            }
            Enc::Cbc => {
                // The key Auth.js would pick: the one the header names (its
                // exact header, or its kid), or the newest secret's when the
                // header names none. A kid that names no configured key opens
                // nothing, as in Auth.js.
                let index = match (header.known_key, header.kid.as_deref()) {
                    (Some(i), _) => Some(i),
                    (None, Some(kid)) => family.cbc.iter().position(|k| k.kid == kid),
                    (None, None) => (!family.cbc.is_empty()).then_some(0),
                };
                let key = index
                    .map(|i| &family.cbc[i])
                    .ok_or(TokenError::NoSecretOpens)?;
                open_cbc(key, aad, iv, tag, &mut buf)?
            }
        };
        match serde_json::from_slice::<Value>(plaintext) {
            Ok(Value::Object(map)) => Ok(Claims(map)),
            _ => Err(TokenError::NotJsonObject),
        }
    }
}

/// Checks the protected header. The exact headers Auth.js and next-auth write
/// are recognised without JSON parsing; anything else is parsed and checked.
fn parse_header(engine: &Decoder, family: &Family, b64: &[u8]) -> Result<Header, TokenError> {
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
    let (enc, kid) = parse_header_json(engine, b64)?;
    Ok(Header {
        enc,
        kid,
        known_key: None,
    })
}
