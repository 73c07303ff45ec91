//! Readers for a session sealed with one HKDF-derived key per secret and a
//! fixed salt and info: `dir` + `A256GCM` (Auth0), `dir` + `A256CBC-HS512`
//! (Better Auth's `jwe` cookie cache), and the shape check that tells a
//! `dir` + `A256GCM` value from other libraries' values under a shared name.

use std::fmt;

use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{
    CbcKey, Claims, Decoder, ENC_CBC, ENC_GCM, Enc, Secret, TokenError, V4_HEADER_B64,
    decode_fixed, decode_into, decoder, dir_segments, gcm_keys, hkdf_sha256, open_cbc, open_gcm,
    parse_header_json, split5, thumbprint,
};
use aes_gcm::Aes256Gcm;

/// Opens compact JWEs with `alg` `dir` and `enc` `A256CBC-HS512` whose
/// 64-byte key is HKDF-SHA256 of the app's secret with a fixed salt and
/// info, and whose `kid` is the key's SHA-256 thumbprint (Better Auth's
/// `symmetricEncodeJWT`). One key per secret; the `kid` picks it, the
/// newest secret's without one.
pub type DirCbcReader = DirReader<CbcKey>;

/// One key per secret, derived once, and the segment decoder: the state of
/// both kinds of `dir` reader.
pub struct DirReader<K> {
    keys: Vec<K>,
    b64: Decoder,
}

impl<K> fmt::Debug for DirReader<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirReader")
            .field("secrets", &self.keys.len())
            .field("keys", &"***")
            .finish()
    }
}

impl DirReader<CbcKey> {
    /// Derives one key per secret.
    pub fn new(secrets: &[Secret], salt: &[u8], info: &[u8]) -> DirCbcReader {
        let keys = secrets
            .iter()
            .map(|s| {
                let mut key = Zeroizing::new([0u8; 64]);
                hkdf_sha256(s.bytes(), salt, info, key.as_mut_slice());
                CbcKey::new(&key, thumbprint::<Sha256>(key.as_slice()), String::new())
            })
            .collect();
        DirCbcReader {
            keys,
            b64: decoder(),
        }
    }

    /// The claims of `token` (chunks already joined).
    pub fn read(&self, token: &[u8]) -> Result<Claims, TokenError> {
        let [header_b64, iv_b64, ct_b64, tag_b64] = dir_segments(token)?;
        let b64 = &self.b64;
        let kid = match parse_header_json(b64, header_b64)? {
            (Enc::Cbc, kid) => kid,
            (Enc::Gcm, _) => {
                return Err(TokenError::Unsupported {
                    alg: "dir".to_owned(),
                    enc: ENC_GCM.to_owned(),
                    feature: None,
                });
            }
        };
        let key = match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid == kid),
            None => self.keys.first(),
        }
        .ok_or(TokenError::NoSecretOpens)?;
        let mut iv = [0u8; 24];
        let iv = decode_fixed(b64, iv_b64, &mut iv, "bad IV")?;
        let mut tag = [0u8; 48];
        let tag = decode_fixed(b64, tag_b64, &mut tag, "bad tag")?;
        let mut buf = Vec::new();
        decode_into(b64, ct_b64, &mut buf, "bad ciphertext")?;
        let plaintext = open_cbc(key, header_b64, iv, tag, &mut buf)?;
        match serde_json::from_slice::<Value>(plaintext) {
            Ok(Value::Object(map)) => Ok(Claims(map)),
            _ => Err(TokenError::NotJsonObject),
        }
    }
}

/// Opens compact JWEs with `alg` `dir` and `enc` `A256GCM` whose key is
/// HKDF-SHA256 of the app's secret with a fixed salt and info, 32 bytes (as
/// `@auth0/nextjs-auth0` v4 seals its session: empty salt, info `JWE CEK`).
/// One key per secret, derived once; every one is tried, newest first.
pub type DirGcmReader = DirReader<Aes256Gcm>;

impl DirReader<Aes256Gcm> {
    /// Derives one key per secret.
    pub fn new(secrets: &[Secret], salt: &[u8], info: &[u8]) -> DirGcmReader {
        DirGcmReader {
            keys: gcm_keys(secrets, salt, info),
            b64: decoder(),
        }
    }

    /// The claims of `token` (chunks already joined).
    pub fn read(&self, token: &[u8]) -> Result<Claims, TokenError> {
        let [header_b64, iv_b64, ct_b64, tag_b64] = dir_segments(token)?;
        let b64 = &self.b64;
        if !DIR_GCM_HEADERS_B64.contains(&header_b64) {
            match parse_header_json(b64, header_b64)? {
                (Enc::Gcm, _) => {}
                (Enc::Cbc, _) => {
                    return Err(TokenError::Unsupported {
                        alg: "dir".to_owned(),
                        enc: ENC_CBC.to_owned(),
                        feature: None,
                    });
                }
            }
        }
        let mut iv = [0u8; 24];
        let iv = decode_fixed(b64, iv_b64, &mut iv, "bad IV")?;
        let mut tag = [0u8; 48];
        let tag = decode_fixed(b64, tag_b64, &mut tag, "bad tag")?;
        let mut buf = Vec::new();
        decode_into(b64, ct_b64, &mut buf, "bad ciphertext")?;
        open_gcm(&self.keys, header_b64, iv, tag, &mut buf)?;
        match serde_json::from_slice::<Value>(&buf) {
            Ok(Value::Object(map)) => Ok(Claims(map)),
            _ => Err(TokenError::NotJsonObject),
        }
    }
}

/// The first segment of a `dir` + `A256GCM` JWE as jose writes it for
/// `{enc, alg}` (Auth0) and `{alg, enc}` (next-auth 4).
const DIR_GCM_HEADERS_B64: [&[u8]; 2] = [
    b"eyJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiZGlyIn0",
    V4_HEADER_B64.as_bytes(),
];

/// Whether a value has the shape of a compact JWE with `alg` `dir` and `enc`
/// `A256GCM` (five segments, no encrypted key, that header), without any
/// key: how a cookie name several libraries use is told apart by value.
pub fn is_dir_gcm_jwe(value: &[u8]) -> bool {
    let Ok([header, key, iv, ciphertext, tag]) = split5(value) else {
        return false;
    };
    if !key.is_empty() || iv.is_empty() || ciphertext.is_empty() || tag.is_empty() {
        return false;
    }
    DIR_GCM_HEADERS_B64.contains(&header)
        || matches!(parse_header_json(&decoder(), header), Ok((Enc::Gcm, _)))
}
