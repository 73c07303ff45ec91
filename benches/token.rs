//! Cost of one `TokenReader::read` with keys already derived, on the ~4 KiB
//! (one full cookie) tokens of tests/fixtures/tokens, and of one
//! `DirGcmReader::read` on Auth0's 4 KiB session (tests/fixtures/auth0), of
//! Better Auth's session token and cookie cache as its reader opens them
//! (tests/fixtures/better-auth; ~1 KiB: its sessions are small), plus
//! the parts a read is made of, to see where the time goes.
//!
//! Run: `cargo bench --bench token` (add `-- read/` to filter).
//! Fixtures: tests/fixtures/tokens/tokens.json.

use std::hint::black_box;
use std::path::PathBuf;

use base64::Engine as _;
use cookieguard::session::profile::better_auth::BetterAuth;
use cookieguard::session::profile::{CompoundValue, Profile as _};
use cookieguard::session::token::{DirGcmReader, Secret, TokenReader};
use criterion::{Criterion, Throughput};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::Value;
use sha2::Sha512;

/// A fixture file under tests/fixtures, parsed.
fn fixture(path: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Fastest of 3000 batches of 10 calls, in ns per call: a figure that holds up
/// on a busy machine, where Criterion's mean wanders. Printed before Criterion runs.
fn min_ns(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3000 {
        let t = std::time::Instant::now();
        for _ in 0..10 {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / 10.0);
    }
    best
}

fn main() {
    let doc = fixture("tokens/tokens.json");
    let cases = doc["cases"].as_array().expect("cases");
    let case = |id: &str| {
        cases
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    let s = |v: &Value| v.as_str().expect("string").to_owned();

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("read");
    for id in [
        "v5-large",
        "v4-large",
        "v5-small",
        "v4-small",
        "v5-rotated-old-secret",
        "v4-rotated-old-secret",
    ] {
        let case = case(id);
        let token = s(&case["token"]).into_bytes();
        let secrets: Vec<Secret> = case["open_with"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Secret::new(s(v)))
            .collect();
        // Two families, as a deployment has (plain and __Secure-).
        let base = s(&case["base_name"]);
        let reader = TokenReader::new(&secrets, &[base, "__Secure-other".to_owned()]);
        assert!(reader.read(0, &token).is_ok(), "{id}");
        let min = min_ns(|| {
            black_box(reader.read(0, black_box(&token)).unwrap());
        });
        println!("min {id:<24} {:>5} B  {:>8.0} ns/read", token.len(), min);
        group.throughput(Throughput::Bytes(token.len() as u64));
        group.bench_function(format!("{id}/{}B", token.len()), |b| {
            b.iter(|| reader.read(0, black_box(&token)).unwrap())
        });
    }
    // Auth0: a 4 KiB session minted by the SDK (tests/fixtures/auth0), one
    // key per secret whatever the cookie name.
    let auth0 = fixture("auth0/auth0.json");
    let token = auth0["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "large-4k")
        .map(|c| s(&c["token"]).into_bytes())
        .expect("large-4k");
    let reader = DirGcmReader::new(&[Secret::new(s(&auth0["secret"]))], b"", b"JWE CEK");
    assert!(reader.read(&token).is_ok(), "auth0-large-4k");
    let min = min_ns(|| {
        black_box(reader.read(black_box(&token)).unwrap());
    });
    println!(
        "min {:<24} {:>5} B  {:>8.0} ns/read",
        "auth0-large-4k",
        token.len(),
        min
    );
    group.throughput(Throughput::Bytes(token.len() as u64));
    group.bench_function(format!("auth0-large-4k/{}B", token.len()), |b| {
        b.iter(|| reader.read(black_box(&token)).unwrap())
    });

    // Better Auth: its cookie cache as a real betterAuth() wrote it at
    // sign-up (tests/fixtures/better-auth), with the session token: compact
    // and jwt read without the secret, jwe opened with it.
    let better = fixture("better-auth/better-auth.json");
    let secret = Secret::new(s(&better["secret"]));
    let names: Vec<String> = BetterAuth
        .cookie_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    for strategy in ["compact", "jwt", "jwe"] {
        let lines = better["strategies"][strategy]["exchanges"][0]["set_cookie"]
            .as_array()
            .unwrap();
        let value = |name: &str| {
            lines
                .iter()
                .map(|l| l.as_str().unwrap())
                .find_map(|l| l.strip_prefix(name))
                .map(|l| l[..l.find(';').unwrap()].to_owned())
                .unwrap()
        };
        let mut compound = CompoundValue::default();
        compound.push(0, value("better-auth.session_token=").into_bytes());
        compound.push(2, value("better-auth.session_data=").into_bytes());
        let compound = compound.into_bytes();
        let opener = BetterAuth.opener(std::slice::from_ref(&secret), &names);
        assert!(opener.open(0, &compound).is_ok(), "{strategy}");
        let id = format!("better-auth-{strategy}");
        let min = min_ns(|| {
            black_box(opener.open(0, black_box(&compound)).unwrap());
        });
        println!("min {id:<24} {:>5} B  {:>8.0} ns/read", compound.len(), min);
        group.throughput(Throughput::Bytes(compound.len() as u64));
        group.bench_function(format!("{id}/{}B", compound.len()), |b| {
            b.iter(|| opener.open(0, black_box(&compound)).unwrap())
        });
    }

    // A forged token of the same size: the cost of a failure with 2 secrets.
    let big = case("v5-large");
    let wrong = TokenReader::new(
        &[Secret::new("wrong-1"), Secret::new("wrong-2")],
        &[s(&big["base_name"])],
    );
    let token = s(&big["token"]).into_bytes();
    group.bench_function("v5-large/no-secret-opens-2-secrets", |b| {
        b.iter(|| wrong.read(0, black_box(&token)).unwrap_err())
    });
    group.finish();

    // The parts of a v5-large read.
    let mut group = c.benchmark_group("parts");
    let segs: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    let ct = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segs[3])
        .unwrap();
    group.bench_function(format!("base64-decode/{}B", segs[3].len()), |b| {
        let mut out = Vec::with_capacity(ct.len() + 3);
        b.iter(|| {
            out.clear();
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode_vec(black_box(segs[3]), &mut out)
                .unwrap();
        })
    });
    group.bench_function(format!("base64-decode-simd/{}B", segs[3].len()), |b| {
        let engine = base64::engine::Simd::url_safe(base64::engine::general_purpose::NO_PAD);
        let mut out = Vec::with_capacity(ct.len() + 3);
        b.iter(|| {
            out.clear();
            engine.decode_vec(black_box(segs[3]), &mut out).unwrap();
        })
    });
    group.bench_function(format!("hmac-sha512/{}B", ct.len()), |b| {
        let mac = Hmac::<Sha512>::new_from_slice(&[1; 32]).unwrap();
        b.iter(|| {
            let mut m = mac.clone();
            m.update(black_box(&ct));
            m.finalize()
        })
    });
    group.bench_function(format!("aes256gcm-decrypt/{}B", ct.len()), |b| {
        use aes_gcm::aead::AeadInOut;
        use aes_gcm::{Aes256Gcm, KeyInit as _};
        let cipher = Aes256Gcm::new(&[3u8; 32].into());
        let nonce = aes_gcm::Nonce::from([0u8; 12]);
        let mut buf = ct.clone();
        let tag = cipher
            .encrypt_inout_detached(&nonce, b"aad", buf.as_mut_slice().into())
            .unwrap();
        b.iter(|| {
            let mut work = buf.clone();
            cipher
                .decrypt_inout_detached(&nonce, b"aad", work.as_mut_slice().into(), &tag)
                .unwrap();
            work
        })
    });
    group.bench_function(format!("aes256cbc-decrypt/{}B", ct.len()), |b| {
        use aes::cipher::{BlockModeDecrypt, InnerIvInit, KeyInit as _, block_padding::NoPadding};
        let dec = aes::Aes256Dec::new(&[3u8; 32].into());
        let iv = [0u8; 16];
        b.iter(|| {
            let mut work = ct.clone();
            cbc::Decryptor::<aes::Aes256Dec>::inner_iv_init(dec.clone(), (&iv).into())
                .decrypt_padded::<NoPadding>(&mut work)
                .unwrap();
            work
        })
    });
    let claims = serde_json::to_vec(&big["claims"]).unwrap();
    group.bench_function(format!("json-parse/{}B", claims.len()), |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&claims)).unwrap())
    });
    type Part<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let parts: [Part; 6] = [
        (
            "base64 scalar",
            Box::new(|| {
                black_box(
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(black_box(segs[3]))
                        .unwrap(),
                );
            }),
        ),
        (
            "base64 simd",
            Box::new(|| {
                let e = base64::engine::Simd::url_safe(base64::engine::general_purpose::NO_PAD);
                black_box(e.decode(black_box(segs[3])).unwrap());
            }),
        ),
        (
            "hmac-sha512",
            Box::new(|| {
                let mut m = Hmac::<Sha512>::new_from_slice(&[1; 32]).unwrap();
                m.update(black_box(&ct));
                black_box(m.finalize());
            }),
        ),
        (
            "json Value",
            Box::new(|| {
                black_box(serde_json::from_slice::<Value>(black_box(&claims)).unwrap());
            }),
        ),
        (
            "json Map",
            Box::new(|| {
                black_box(
                    serde_json::from_slice::<serde_json::Map<String, Value>>(black_box(&claims))
                        .unwrap(),
                );
            }),
        ),
        (
            "alloc+free ct-sized Vec",
            Box::new(|| {
                black_box(Vec::<u8>::with_capacity(black_box(ct.len())));
            }),
        ),
    ];
    for (name, f) in parts {
        println!("min part {name:<24} {:>8.0} ns (v5-large)", min_ns(f));
    }
    group.finish();
    bench_classify(
        &mut c,
        &s(&case("v5-refresh-a")["token"]),
        &s(&case("v5-refresh-b")["token"]),
        &s(&case("v5-role-changed")["token"]),
    );
    c.final_summary();
}

/// The whole decision on a response that writes the session (strip mode,
/// `Policy::apply`), with the secret and without: a v5 refresh (both tokens
/// read, stripped), a change (both read, passes), and the secret-less shape.
fn bench_classify(c: &mut Criterion, request: &str, refresh: &str, change: &str) {
    use cookieguard::config::Config;
    use cookieguard::policy::SessionReading;
    use cookieguard::session::profile::Profile as _;
    use cookieguard::session::profile::authjs::AuthJs;
    use http::header::{COOKIE, SET_COOKIE};
    use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

    let without = Config::default().policy();
    let mut with = Config::default().policy();
    with.reading = Some(SessionReading::new(
        TokenReader::new(
            &[Secret::new("test-secret-v5-do-not-use")],
            &AuthJs
                .cookie_names()
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
        ),
        vec!["iat".into(), "exp".into(), "jti".into()],
    ));
    let mut request_headers = HeaderMap::new();
    request_headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("theme=dark; authjs.session-token={request}")).unwrap(),
    );
    let uri: Uri = "/dashboard".parse().unwrap();
    let response = |token: &str| {
        let mut map = HeaderMap::new();
        map.append(SET_COOKIE, HeaderValue::from_static("theme=dark; Path=/"));
        map.append(SET_COOKIE, HeaderValue::from_str(&format!("authjs.session-token={token}; Path=/; Expires=Tue, 21 Oct 2036 07:28:00 GMT; HttpOnly; SameSite=Lax")).unwrap());
        map
    };
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(1));
    // With the secret: "cold" reads both tokens (nothing remembered), "warm"
    // finds both digests remembered. In traffic the request's token is
    // remembered (it was the previous response's) and the response's is new:
    // one read per response, between the two.
    for (name, policy, token, cold) in [
        ("refresh/with-secret-cold", &with, refresh, true),
        ("refresh/with-secret-warm", &with, refresh, false),
        ("change/with-secret-cold", &with, change, true),
        ("refresh/without-secret", &without, refresh, false),
    ] {
        let forget = || {
            if let (true, Some(reading)) = (cold, policy.reading.as_ref()) {
                reading.forget();
            }
        };
        let facts = policy.inspect(&Method::GET, &uri, &request_headers);
        let headers = response(token);
        let mut check = headers.clone();
        println!(
            "classify/{name}: {:?}",
            policy.apply(&facts, StatusCode::OK, &mut check)
        );
        println!(
            "min classify {name:<24} {:>8.0} ns",
            min_ns(|| {
                forget();
                let mut map = headers.clone();
                black_box(policy.apply(black_box(&facts), StatusCode::OK, &mut map));
            })
        );
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    forget();
                    headers.clone()
                },
                |map| policy.apply(black_box(&facts), black_box(StatusCode::OK), map),
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}
