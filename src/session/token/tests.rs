//! The token reader's unit tests: real tokens, hand-sealed ones, and every
//! way a token can be malformed or tampered with.

use super::authjs::V4_INFO;
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
    seal_gcm(key, header, payload)
}

/// Seals `payload` with A256GCM and the v5 key derivation (32 bytes), which
/// @auth/core's `decode` accepts.
fn seal_v5_gcm(secret: &str, salt: &str, header: &str, payload: &[u8]) -> String {
    let mut key = [0u8; 32];
    hkdf_sha256(
        secret.as_bytes(),
        salt.as_bytes(),
        format!("Auth.js Generated Encryption Key ({salt})").as_bytes(),
        &mut key,
    );
    seal_gcm(key, header, payload)
}

fn seal_gcm(key: [u8; 32], header: &str, payload: &[u8]) -> String {
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

/// The header Auth.js writes for `secret`'s key: with its `kid`.
fn kid_header(secret: &str) -> String {
    let kid = &reader(&[secret]).families[0].cbc[0].kid;
    format!(r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{kid}"}}"#)
}
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
    let v5 = seal_v5(V5_SECRET, V5_BASE, &kid_header(V5_SECRET), br#"{"a":1}"#);
    assert_eq!(
        r.read(0, v5.as_bytes()).unwrap(),
        claims(serde_json::json!({"a": 1}))
    );
    // Reordered keys: the JSON path, the kid picks the key.
    let kid = &r.families[0].cbc[1].kid;
    let h = format!(r#"{{"enc":"A256CBC-HS512","kid":"{kid}","alg":"dir"}}"#);
    let v5 = seal_v5(V5_SECRET, V5_BASE, &h, br#"{"a":2}"#);
    assert_eq!(
        r.read(0, v5.as_bytes()).unwrap().get("a"),
        Some(&Value::from(2))
    );
    // As Auth.js: a kid that names no configured key opens nothing, and a
    // kid that names another key than the one that sealed it neither.
    let h = r#"{"enc":"A256CBC-HS512","kid":"nope","alg":"dir"}"#;
    let v5 = seal_v5(V5_SECRET, V5_BASE, h, br#"{"a":2}"#);
    assert_eq!(r.read(0, v5.as_bytes()), Err(TokenError::NoSecretOpens));
    let r2 = reader(&["other-secret", V5_SECRET]);
    let other_kid = &r2.families[0].cbc[0].kid;
    let h2 = format!(r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{other_kid}"}}"#);
    let v5 = seal_v5(V5_SECRET, V5_BASE, &h2, b"{}");
    assert_eq!(r2.read(0, v5.as_bytes()), Err(TokenError::NoSecretOpens));
    // Without a kid Auth.js tries the newest secret only.
    let h3 = r#"{"alg":"dir","enc":"A256CBC-HS512"}"#;
    let v5 = seal_v5(V5_SECRET, V5_BASE, h3, b"{}");
    assert!(reader(&[V5_SECRET, "older"]).read(0, v5.as_bytes()).is_ok());
    assert_eq!(
        reader(&["newer", V5_SECRET]).read(0, v5.as_bytes()),
        Err(TokenError::NoSecretOpens)
    );
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
fn v5_gcm_keys_are_picked_by_kid_as_auth_js_does() {
    let r = reader(&["newer", V5_SECRET]);
    let kid = &r.families[0].gcm_kids[1];
    let named = format!(r#"{{"alg":"dir","enc":"A256GCM","kid":"{kid}"}}"#);
    let token = seal_v5_gcm(V5_SECRET, V5_BASE, &named, br#"{"g":1}"#);
    assert_eq!(
        r.read(0, token.as_bytes()).unwrap().get("g"),
        Some(&Value::from(1))
    );
    // Named by another key's kid, or by none with the sealing secret not the
    // newest: Auth.js opens neither.
    let other = &r.families[0].gcm_kids[0];
    let wrong = format!(r#"{{"alg":"dir","enc":"A256GCM","kid":"{other}"}}"#);
    let token = seal_v5_gcm(V5_SECRET, V5_BASE, &wrong, b"{}");
    assert_eq!(r.read(0, token.as_bytes()), Err(TokenError::NoSecretOpens));
    let token = seal_v5_gcm(
        V5_SECRET,
        V5_BASE,
        r#"{"enc":"A256GCM","alg":"dir"}"#,
        b"{}",
    );
    assert_eq!(r.read(0, token.as_bytes()), Err(TokenError::NoSecretOpens));
    assert!(
        reader(&[V5_SECRET, "older"])
            .read(0, token.as_bytes())
            .is_ok()
    );
}

#[test]
fn rotation_tries_every_secret() {
    let old = seal_v5(
        "old-secret",
        V5_BASE,
        &kid_header("old-secret"),
        br#"{"v":"old"}"#,
    );
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

/// The SIMD decoder keeps the scalar engine's rules: same output, same rejections.
#[test]
fn decoder_agrees_with_the_scalar_engine() {
    let engine = decoder();
    let data: Vec<u8> = (0..300u32).map(|i| (i * 151 + 7) as u8).collect();
    for len in 0..data.len() {
        let enc = B64.encode(&data[..len]);
        let mut out = Vec::new();
        decode_into(&engine, enc.as_bytes(), &mut out, "x").unwrap();
        assert_eq!(out, &data[..len]);
        let mut variants = vec![format!("{enc}="), format!("={enc}"), format!("{enc}A")];
        for (i, bad) in [(0, '+'), (len / 2, '/'), (len, '*'), (len / 3, '\n')] {
            let mut v = enc.clone().into_bytes();
            if let Some(b) = v.get_mut(i) {
                *b = bad as u8;
                variants.push(String::from_utf8(v).unwrap());
            }
        }
        if let Some(last) = enc.chars().last() {
            // A different last character: non-canonical trailing bits (or other data).
            let alt = if last == 'B' { 'C' } else { 'B' };
            variants.push(format!("{}{alt}", &enc[..enc.len() - 1]));
        }
        for v in variants {
            let mut out = Vec::new();
            let simd = decode_into(&engine, v.as_bytes(), &mut out, "x").map(|()| out);
            let scalar = B64.decode(&v).map_err(|_| TokenError::Malformed("x"));
            assert_eq!(simd, scalar, "{v:?}");
        }
    }
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
