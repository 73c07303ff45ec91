//! Configuration tests: the shipped file, layering, located errors,
//! redaction, and the settings that must fit together.

use super::*;

const SHIPPED: &str = include_str!("../../config/cookieguard.toml");

fn parse(source: &str) -> Result<Config, String> {
    Config::from_toml(source, Path::new("test.toml")).map_err(|e| e.to_string())
}

/// The admin port is the one place the shipped file (and the container
/// image, which uses it) differs from the embedded defaults: off by
/// default so several instances on one host never fight over a port.
fn shipped_defaults() -> Config {
    Config {
        admin_listen: Some("127.0.0.1:9901".parse().unwrap()),
        ..Config::default()
    }
}

#[test]
fn shipped_file_equals_compiled_in_defaults() {
    assert_eq!(parse(SHIPPED).unwrap(), shipped_defaults());
}

#[test]
fn shipped_file_sets_every_key() {
    let shipped: toml::Table = toml::from_str(SHIPPED).unwrap();
    let effective: toml::Table = toml::from_str(&shipped_defaults().to_toml()).unwrap();
    assert_eq!(shipped, effective);
}

#[test]
fn empty_file_is_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn effective_config_round_trips() {
    let config = parse(
        r#"
        listen = "0.0.0.0:9000"
        upstream = "http://app:3000"
        mode = "report"
        [[allow]]
        path = "/x/**"
        query = ["q"]
        headers = ["Next-Action"]
        "#,
    )
    .unwrap();
    assert_eq!(parse(&config.to_toml()).unwrap(), config);
    assert!(config.to_toml().contains("headers = [\"next-action\"]"));
}

fn rule_paths(config: &Config) -> Vec<String> {
    let (rules, _) = config.allow_rules();
    rules.iter().map(|r| r.path.as_str().to_owned()).collect()
}

#[test]
fn without_configuration_authjs_routes_are_at_both_of_its_base_paths() {
    let (rules, owners) = Config::default().allow_rules();
    let paths: Vec<&str> = rules.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/auth/session",
            "/api/auth/callback/*",
            "/api/auth/signout",
            "/auth/session",
            "/auth/callback/*",
            "/auth/signout",
            "/auth/callback",
            "/auth/logout",
            "/auth/backchannel-logout",
            "/auth/access-token",
            "/auth/login",
            "/auth/profile",
            "/auth/connect",
            "/auth/mfa/**",
            "/auth/passwordless/**",
            "/auth/passkey/**",
            "/api/auth/sign-in/**",
            "/api/auth/sign-up/**",
            "/api/auth/sign-out",
            "/api/auth/update-user",
            "/api/auth/change-email",
            "/api/auth/change-password",
            "/api/auth/revoke-session",
            "/api/auth/revoke-sessions",
            "/api/auth/revoke-other-sessions",
            "/api/auth/delete-user",
            "/api/auth/verify-email",
            "/api/auth/multi-session/**",
            "/api/auth/organization/set-active",
            "/api/auth/two-factor/**",
        ]
    );
    // Each is its profile's own (Auth.js's six, Auth0's ten, Better Auth's
    // fourteen): it speaks for that profile's cookies only.
    assert_eq!(owners[..6], [Some(0); 6]);
    assert_eq!(owners[6..16], [Some(1); 10]);
    assert_eq!(owners[16..], [Some(2); 14]);
}

#[test]
fn base_path_pins_the_profiles_routes() {
    let config = parse("base_path = \"/auth/\"\n[session]\nprofiles = [\"authjs\"]\n").unwrap();
    assert_eq!(
        rule_paths(&config),
        ["/auth/session", "/auth/callback/*", "/auth/signout"]
    );
    assert_eq!(config.base_path.map(String::from).as_deref(), Some("/auth"));
    let root = parse("base_path = \"/\"\n[session]\nprofiles = [\"authjs\"]\n").unwrap();
    assert_eq!(rule_paths(&root), ["/session", "/callback/*", "/signout"]);
    // Every profile's routes move there.
    let both = parse("base_path = \"/api/v1/auth\"").unwrap();
    assert!(rule_paths(&both).contains(&"/api/v1/auth/logout".to_owned()));
}

#[test]
fn allow_list_in_file_replaces_the_defaults() {
    let config = parse("[[allow]]\npath = \"/only\"\n").unwrap();
    let (rules, owners) = config.allow_rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].methods, None);
    // A rule of the file speaks for every profile's cookies.
    assert!(owners.iter().all(Option::is_none));
}

#[test]
fn profiles_pin_the_set_and_unknown_ones_are_named() {
    let config = parse("[session]\nprofiles = [\"authjs\"]\n").unwrap();
    assert_eq!(config.session.profiles, ["authjs"]);
    assert_eq!(config.profiles().len(), 1);
    for (source, message) in [
        (
            "[session]\nprofiles = [\"clerk\"]\n",
            "test.toml:2:12: `session.profiles`: unknown profile `clerk`; shipped: authjs",
        ),
        (
            "[session]\nprofiles = []\n",
            "test.toml:2:12: `session.profiles`: name at least one profile",
        ),
        (
            "[session]\nprofiles = [\"authjs\", \"authjs\"]\n",
            "test.toml:2:12: `session.profiles`: profile `authjs` is named twice",
        ),
    ] {
        let error = parse(source).unwrap_err();
        assert!(error.starts_with(message), "{error}");
    }
}

#[test]
fn any_profiles_cookies_can_be_renamed_by_its_id() {
    let config = parse("[session.profile_cookies]\nauth0 = [\"app_session\"]\n").unwrap();
    let cookies: Vec<(&str, Vec<String>)> = config
        .profiles()
        .iter()
        .map(|p| (p.profile.id(), p.cookies.clone()))
        .collect();
    assert_eq!(cookies[1], ("auth0", vec!["app_session".to_owned()]));
    assert_eq!(
        cookies[0].1[0], "next-auth.session-token",
        "Auth.js keeps its own"
    );
    assert!(config.session_cookie_names().matches(b"app_session__1"));
    assert!(!config.session_cookie_names().matches(b"__session"));
    assert_eq!(parse(&config.to_toml()).unwrap(), config, "round trip");
    for (source, message) in [
        (
            "[session.profile_cookies]\nclerk = [\"__session\"]\n",
            "test.toml:1:1: `session.profile_cookies`: unknown profile `clerk`",
        ),
        (
            "[session.profile_cookies]\nauth0 = []\n",
            "test.toml:1:1: `session.profile_cookies`: `auth0`: name at least one session cookie",
        ),
        (
            "[session.profile_cookies]\nauth0 = [\"a b\"]\n",
            "test.toml:1:1: `session.profile_cookies`: `auth0`: `a b` is not a valid cookie name",
        ),
        (
            "[session]\ncookies = [\"x\"]\n[session.profile_cookies]\nauthjs = [\"y\"]\n",
            "`session.cookies` and `session.profile_cookies.authjs` both name the Auth.js / NextAuth cookies: keep one",
        ),
    ] {
        let error = parse(source).unwrap_err();
        assert!(error.starts_with(message), "{error}");
    }
}

#[test]
fn renamed_cookies_are_the_authjs_profiles() {
    let config = parse("[session]\ncookies = [\"my.session\"]\n").unwrap();
    let profiles = config.profiles();
    assert_eq!(profiles[0].cookies, ["my.session"]);
    let names = config.session_cookie_names();
    assert!(names.matches(b"my.session.2"));
    assert!(!names.matches(b"authjs.session-token"));
}

#[test]
fn overrides_win() {
    let mut config = parse("listen = \"127.0.0.1:1\"\nmode = \"report\"").unwrap();
    config.apply(&Overrides {
        listen: Some("127.0.0.1:2".parse().unwrap()),
        upstream: Some("http://10.0.0.1:80".parse().unwrap()),
        mode: Some(Mode::Strip),
        log_format: Some(LogFormat::Json),
        admin_listen: Some("127.0.0.1:3".parse().unwrap()),
        threads: Some(0),
        ..Overrides::default()
    });
    assert_eq!(config.threads, 0);
    assert_eq!(config.admin_listen.unwrap().port(), 3);
    assert_eq!(config.listen.port(), 2);
    assert_eq!(config.upstream.to_string(), "http://10.0.0.1:80");
    assert_eq!(config.mode, Mode::Strip);
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn errors_name_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "lisen = \"x\"",
            "test.toml:1:1: `lisen`: unknown field `lisen`",
        ),
        (
            "listen = \"nope\"",
            "test.toml:1:10: `listen`: invalid socket address syntax",
        ),
        (
            "\nupstream = \"https://a:1\"",
            "test.toml:2:12: `upstream`: `https://a:1`: only http:// upstreams are supported",
        ),
        (
            "upstream = \"http://a:1/app\"",
            "test.toml:1:12: `upstream`: `http://a:1/app`: the upstream is an origin",
        ),
        (
            "mode = \"guardx\"",
            "test.toml:1:8: `mode`: unknown variant `guardx`, expected one of `strip`, `guard`, `report`",
        ),
        (
            "[guard]\nupdate_header = \"a b\"",
            "test.toml:2:17: `guard.update_header`: `a b` is not a valid header name",
        ),
        (
            "[guard]\nmax_entries = -1",
            "test.toml:2:15: `guard.max_entries`: invalid value: integer `-1`",
        ),
        (
            "[session]\ncookies = []",
            "test.toml:2:11: `session.cookies`: name at least one session cookie",
        ),
        (
            "[session]\ncookies = [\n  \"ok\",\n  \"bad;name\"\n]",
            "test.toml:2:11: `session.cookies`: `bad;name` is not a valid cookie name",
        ),
        (
            "[session]\ncookie = [\"a\"]",
            "test.toml:2:1: `session.cookie`: unknown field `cookie`",
        ),
        (
            "[timeouts]\nconnect = \"0s\"",
            "test.toml:2:11: `timeouts.connect`: must be longer than zero",
        ),
        (
            "[timeouts]\nresponse = \"soon\"",
            "test.toml:2:12: `timeouts.response`: `soon` is not a duration",
        ),
        (
            "[timeouts]\nresponse = 5",
            "test.toml:2:12: `timeouts.response`: invalid type: integer `5`, expected a string",
        ),
        (
            "[[allow]]\npath = \"/a\"\n[[allow]]\npath = \"/b/**/c\"",
            "test.toml:4:8: `allow[1].path`: path pattern `/b/**/c`: `**` may only be the last segment",
        ),
        (
            "[[allow]]\npath = \"/a\"\nmethods = [\"post\"]",
            "test.toml:3:11: `allow[0].methods`: method `post`: HTTP methods are case-sensitive; write `POST`",
        ),
        (
            "[[allow]]\nmethods = [\"POST\"]",
            "test.toml:1:1: `allow[0]`: missing field `path`",
        ),
        (
            "[[allow]]\npath = \"/a\"\nheaders = [\"bad header\"]",
            "test.toml:3:11: `allow[0].headers`: `bad header` is not a valid header name",
        ),
        (
            "[[allow]]\npath = \"/a\"\nmethod = [\"POST\"]",
            "test.toml:3:1: `allow[0].method`: unknown field `method`",
        ),
        (
            "max_connections = 0",
            "test.toml:1:19: `max_connections`: must be at least 1",
        ),
        (
            "trusted_proxies = [\"10.0.0.0/33\"]",
            "test.toml:1:20: `trusted_proxies`: invalid IP address syntax",
        ),
        (
            "base_path = \"api/auth\"",
            "test.toml:1:13: `base_path`: base path `api/auth` must start with `/`",
        ),
        ("listen = ", "test.toml:1:10: `listen`: "),
        (
            "[guard]\nstore = \"disk\"",
            "test.toml:2:9: `guard.store`: unknown variant `disk`, expected `memory` or `redis`",
        ),
        (
            "mode = \"guard\"\n[guard]\n  store = \"redis\"",
            "test.toml:3:3: `guard.store`: `store = \"redis\"` needs `guard.redis_url`",
        ),
        (
            "[guard]\nredis_url = \"http://r:6379\"",
            "test.toml:2:13: `guard.redis_url`: not a Redis URL",
        ),
        (
            "[guard]\nredis_url = \"rediss://r:6379\"\nredis_ca_file = \"/nonexistent/ca.pem\"",
            "test.toml:3:1: `guard.redis_ca_file`: cannot read /nonexistent/ca.pem",
        ),
        (
            "[guard]\nredis_url = \"redis://r:6379\"\nredis_ca_file = \"Cargo.toml\"",
            "test.toml:3:1: `guard.redis_ca_file`: only used with rediss://",
        ),
        (
            "[guard]\nredis_url = \"rediss://r:6379\"\nredis_ca_file = \"Cargo.toml\"",
            "test.toml:3:1: `guard.redis_ca_file`: Cargo.toml is not a PEM file",
        ),
        (
            "[guard]\nredis_mode = \"shard\"",
            "test.toml:2:14: `guard.redis_mode`: unknown variant `shard`, expected one of `single`, `cluster`, `sentinel`",
        ),
        (
            "[guard]\nredis_url = \"redis://a:1,redis://b:2\"",
            "test.toml:2:1: `guard.redis_url`: one Redis URL in `redis_mode = \"single\"`",
        ),
        (
            "[guard]\nredis_mode = \"cluster\"\nredis_url = \"redis://a:1,http://b:2\"",
            "test.toml:3:13: `guard.redis_url`: not a Redis URL",
        ),
        (
            "[guard]\nstore = \"redis\"\nredis_mode = \"sentinel\"\nsentinel = [\"s1\"]\nsentinel_master = \"m\"",
            "test.toml:4:1: `guard.sentinel`: `s1` is not a sentinel address",
        ),
        (
            "[guard]\nstore = \"redis\"\nredis_mode = \"sentinel\"\nredis_url = \"redis+sentinel://:pw@s1:26379,s2:26379\"",
            "test.toml:4:13: `guard.redis_url`: name the primary",
        ),
        (
            "[guard]\nsentinel_master = \"m\"",
            "test.toml:2:1: `guard.sentinel_master`: only used with `redis_mode = \"sentinel\"`",
        ),
        (
            "[guard]\nredis_timeout = \"0ms\"",
            "test.toml:2:17: `guard.redis_timeout`: must be longer than zero",
        ),
    ];
    for (source, expected) in cases {
        let error = parse(source).unwrap_err();
        assert!(
            error.starts_with(expected),
            "for {source:?}\n got: {error}\nwant: {expected}"
        );
    }
}

#[test]
fn redis_store_from_file_or_environment() {
    let config =
        parse("[guard]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6390/2\"").unwrap();
    assert_eq!(config.guard.store, StoreKind::Redis);
    assert_eq!(config.guard.redis_url, "redis://127.0.0.1:6390/2");
    let from_flags = Config::load(
        None,
        &Overrides {
            guard_store: Some(StoreKind::Redis),
            redis_url: Some("redis://:pw@r:6379".to_owned()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(from_flags.guard.redis_url, "redis://:pw@r:6379");
    let missing = Config::load(
        None,
        &Overrides {
            guard_store: Some(StoreKind::Redis),
            ..Overrides::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        missing.starts_with("`store = \"redis\"` needs `guard.redis_url`"),
        "{missing}"
    );
}

#[test]
fn redis_tls_cluster_and_sentinel_settings() {
    let tls = parse("[guard]\nstore = \"redis\"\nredis_url = \"rediss://u:pw@r:6380/0\"").unwrap();
    assert_eq!(tls.guard.redis_url, "rediss://u:pw@r:6380/0");
    let cluster = parse(
        "[guard]\nstore = \"redis\"\nredis_mode = \"cluster\"\nredis_url = \"redis://a:7000, redis://b:7001\"",
    )
    .unwrap();
    assert_eq!(cluster.guard.redis_mode, RedisMode::Cluster);
    let by_url = parse(
        "[guard]\nstore = \"redis\"\nredis_mode = \"sentinel\"\nredis_url = \"redis+sentinel://:pw@s1:26379,s2:26379/main/2\"",
    )
    .unwrap();
    let target = crate::guard::redis::sentinel_target(&by_url.guard.redis_url, &[], "").unwrap();
    assert_eq!(target.sentinels, ["s1:26379", "s2:26379"]);
    assert_eq!((target.master.as_str(), target.db), ("main", 2));
    assert_eq!(target.password.as_deref(), Some("pw"));
    let by_keys = parse(
        "[guard]\nstore = \"redis\"\nredis_mode = \"sentinel\"\nsentinel = [\"s1:26379\"]\nsentinel_master = \"main\"",
    )
    .unwrap();
    assert_eq!(by_keys.guard.sentinel, ["s1:26379"]);
    let flags = Config::load(
        None,
        &Overrides {
            guard_store: Some(StoreKind::Redis),
            redis_url: Some("rediss://r:6380".to_owned()),
            redis_mode: Some(RedisMode::Single),
            redis_cert_file: Some("Cargo.toml".into()),
            ..Overrides::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        flags.starts_with("`guard.redis_cert_file`: Cargo.toml is not a PEM file"),
        "{flags}"
    );
}

#[test]
fn printed_config_hides_redis_passwords() {
    for (url, shown) in [
        ("redis://r:6379/0", "redis://r:6379/0"),
        ("redis://:s3cret@r:6379/0", "redis://:***@r:6379/0"),
        ("redis://user:s3cret@r:6379", "redis://user:***@r:6379"),
        ("redis://user@r:6379", "redis://user:***@r:6379"),
        (
            "redis+unix:///run/redis.sock?db=1&pass=s3cret",
            "redis+unix:///run/redis.sock?db=1&pass=***",
        ),
        ("rediss://u:s3cret@r:6380", "rediss://u:***@r:6380"),
        (
            "redis://:s3cret@a:1,redis://:s3cret@b:2",
            "redis://:***@a:1,redis://:***@b:2",
        ),
        (
            "redis+sentinel://:s3cret@s1:26379,s2:26379/main/1",
            "redis+sentinel://:***@s1:26379,s2:26379/main/1",
        ),
    ] {
        assert_eq!(redact_redis_url(url), shown);
    }
    let config = parse("[guard]\nredis_url = \"redis://:s3cret@r:6379\"").unwrap();
    let printed = config.to_toml();
    assert!(
        printed.contains("redis_url = \"redis://:***@r:6379\""),
        "{printed}"
    );
    assert!(!printed.contains("s3cret"));
}

#[test]
fn unreadable_file_is_named() {
    let error = Config::load(
        Some(Path::new("/nonexistent/cg.toml")),
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("cannot read config file /nonexistent/cg.toml: "),
        "{error}"
    );
}

#[test]
fn upstream_urls() {
    for good in [
        "http://127.0.0.1:3000",
        "http://app:3000/",
        "http://[::1]:3000",
        "http://app",
    ] {
        assert!(good.parse::<Upstream>().is_ok(), "{good}");
    }
    for bad in [
        "127.0.0.1:3000",
        "ftp://a",
        "http://a/b",
        "http://a?x",
        "http://u@a",
        "",
        "http://",
    ] {
        assert!(bad.parse::<Upstream>().is_err(), "{bad}");
    }
    let upstream: Upstream = "http://app:3000/".parse().unwrap();
    assert_eq!(upstream.to_string(), "http://app:3000");
    assert_eq!(upstream.authority().port_u16(), Some(3000));
}
