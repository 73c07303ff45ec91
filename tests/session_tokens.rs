//! Every token in tests/fixtures/tokens/tokens.json (minted by next-auth 4 and
//! @auth/core with their own `encode`) opens with the recorded claims, under the
//! recorded secrets only.

use std::path::PathBuf;

use cookieguard::session::token::{Claims, Secret, TokenError, TokenReader};
use serde_json::Value;

fn fixtures_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokens/tokens.json"
    ))
}

struct Fixtures {
    doc: Value,
}

impl Fixtures {
    fn load() -> Fixtures {
        let path = fixtures_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Fixtures {
            doc: serde_json::from_str(&text).expect("tokens.json is JSON"),
        }
    }

    fn cases(&self) -> &[Value] {
        self.doc["cases"].as_array().expect("cases")
    }

    fn case(&self, id: &str) -> &Value {
        self.cases()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no case {id}"))
    }

    /// Every base name the fixtures use, so a reader built once covers them all.
    fn base_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cases()
            .iter()
            .map(|c| str_of(&c["base_name"]).to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().expect("a string")
}

fn secrets(v: &Value) -> Vec<Secret> {
    v.as_array()
        .expect("a list of secrets")
        .iter()
        .map(|s| Secret::new(str_of(s)))
        .collect()
}

fn read(fx: &Fixtures, case: &Value, secrets: &[Secret]) -> Result<Claims, TokenError> {
    let bases = fx.base_names();
    let reader = TokenReader::new(secrets, &bases);
    let base = bases
        .iter()
        .position(|b| b == str_of(&case["base_name"]))
        .unwrap();
    reader.read(base, str_of(&case["token"]).as_bytes())
}

#[test]
fn every_fixture_opens_with_the_recorded_claims() {
    let fx = Fixtures::load();
    assert!(fx.cases().len() >= 12, "fixtures look truncated");
    for case in fx.cases() {
        let id = str_of(&case["id"]);
        let claims =
            read(&fx, case, &secrets(&case["open_with"])).unwrap_or_else(|e| panic!("{id}: {e}"));
        let expected = case["claims"].as_object().expect("claims object");
        assert_eq!(claims.as_map(), expected, "{id}");
        for name in ["iat", "exp", "jti", "sub", "email"] {
            assert!(claims.get(name).is_some(), "{id} lacks {name}");
        }
    }
}

#[test]
fn wrong_or_missing_secrets_fail_with_no_secret_opens() {
    let fx = Fixtures::load();
    for case in fx.cases() {
        let id = str_of(&case["id"]);
        for set in case["fail_with"].as_array().expect("fail_with") {
            assert_eq!(
                read(&fx, case, &secrets(set)),
                Err(TokenError::NoSecretOpens),
                "{id}"
            );
        }
        assert_eq!(read(&fx, case, &[]), Err(TokenError::NoSecretOpens), "{id}");
    }
}

#[test]
fn rotation_opens_tokens_of_the_old_secret() {
    let fx = Fixtures::load();
    for id in ["v5-rotated-old-secret", "v4-rotated-old-secret"] {
        let case = fx.case(id);
        let open_with = secrets(&case["open_with"]);
        assert_eq!(open_with.len(), 2, "{id}: [new, old]");
        let claims = read(&fx, case, &open_with).unwrap();
        assert_eq!(claims.as_map(), case["claims"].as_object().unwrap(), "{id}");
        // The new secret alone, and the old one alone.
        assert_eq!(
            read(&fx, case, &open_with[..1]),
            Err(TokenError::NoSecretOpens),
            "{id}"
        );
        assert!(read(&fx, case, &open_with[1..]).is_ok(), "{id}");
    }
}

#[test]
fn v5_salt_is_the_base_name() {
    let fx = Fixtures::load();
    let plain = fx.case("v5-small");
    let secure = fx.case("v5-secure-name");
    assert_eq!(
        str_of(&secure["base_name"]),
        "__Secure-authjs.session-token"
    );
    let s = secrets(&plain["open_with"]);
    for (case, wrong_base) in [
        (plain, "__Secure-authjs.session-token"),
        (secure, "authjs.session-token"),
    ] {
        let reader = TokenReader::new(
            &s,
            &[
                wrong_base.to_owned(),
                format!("{}.0", str_of(&case["base_name"])),
            ],
        );
        for base in 0..2 {
            assert_eq!(
                reader.read(base, str_of(&case["token"]).as_bytes()),
                Err(TokenError::NoSecretOpens),
                "{} under {:?}",
                str_of(&case["id"]),
                reader.base_names()[base]
            );
        }
    }
    // v4 has no salt: the __Secure- token opens under any base name.
    let v4 = fx.case("v4-secure-name");
    let reader = TokenReader::new(&secrets(&v4["open_with"]), &["anything".to_owned()]);
    assert!(reader.read(0, str_of(&v4["token"]).as_bytes()).is_ok());
}

#[test]
fn headers_are_as_recorded() {
    let fx = Fixtures::load();
    for case in fx.cases() {
        let id = str_of(&case["id"]);
        let header = case["header"].as_object().unwrap();
        assert_eq!(header["alg"], "dir", "{id}");
        match case["version"].as_u64() {
            Some(4) => assert_eq!(
                Value::Object(header.clone()),
                serde_json::json!({"alg": "dir", "enc": "A256GCM"})
            ),
            Some(5) if id == "v5-a256gcm" => assert_eq!(header["enc"], "A256GCM"),
            Some(5) => {
                assert_eq!(header["enc"], "A256CBC-HS512", "{id}");
                assert!(
                    header["kid"].as_str().is_some_and(|k| k.len() == 86),
                    "{id}: SHA-512 thumbprint"
                );
            }
            v => panic!("{id}: version {v:?}"),
        }
    }
}

#[test]
fn comparisons() {
    let fx = Fixtures::load();
    let comparisons = fx.doc["comparisons"].as_array().expect("comparisons");
    assert!(comparisons.len() >= 4);
    for cmp in comparisons {
        let (a, b) = (fx.case(str_of(&cmp["a"])), fx.case(str_of(&cmp["b"])));
        assert_ne!(a["token"], b["token"], "different bytes");
        let ca = read(&fx, a, &secrets(&a["open_with"])).unwrap();
        let cb = read(&fx, b, &secrets(&b["open_with"])).unwrap();
        let volatile: Vec<String> = cmp["volatile"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| str_of(v).to_owned())
            .collect();
        let expected: Vec<&str> = cmp["changed"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect();
        assert_eq!(
            ca.changed(&cb, &volatile),
            expected,
            "{} vs {}",
            cmp["a"],
            cmp["b"]
        );
        assert_eq!(
            cb.changed(&ca, &volatile),
            expected,
            "{} vs {}",
            cmp["b"],
            cmp["a"]
        );
        // Without the volatile list at least jti differs (fresh per encode).
        let none: [&str; 0] = [];
        assert!(ca.changed(&cb, &none).contains(&"jti"));
    }
}

#[test]
fn large_tokens_are_about_4_kib() {
    let fx = Fixtures::load();
    for id in ["v4-large", "v5-large"] {
        let len = str_of(&fx.case(id)["token"]).len();
        assert!((4000..4300).contains(&len), "{id}: {len} bytes");
    }
}
