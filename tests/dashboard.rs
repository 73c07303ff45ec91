//! The Grafana dashboard (`examples/grafana/cookieguard.json`) against the real
//! `/metrics`: every metric its queries name is exported, with every label they
//! select or group by, and every literal label value they match on.
//!
//! The proxies run the modes and faults that make each labelled family appear
//! (a family with no sample is not printed at all), and the checker is run on
//! a broken copy of the dashboard too, so the test can fail.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use cookieguard::config::{Config, StoreKind};
use cookieguard::policy::Mode;
use http::{Method, Request, Response, StatusCode};

const DASHBOARD: &str = include_str!("../examples/grafana/cookieguard.json");

/// Labels Prometheus adds to every series it scrapes: not in `/metrics`.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// Series name -> label name -> the values seen, over every scrape.
type Exported = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[tokio::test]
async fn every_dashboard_query_names_exported_metrics_labels_and_values() {
    let upstream = start_upstream(|request| async move {
        if request.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Response::builder()
            .header("set-cookie", "next-auth.session-token=NEW; Path=/")
            .body(full("ok"))
            .unwrap()
    })
    .await;

    // Guard mode on a Redis that refuses connections: store errors, and
    // refreshes stripped as "store unavailable"; a short response timeout for
    // upstream errors.
    let closed = closed_port().await;
    let mut config = with_admin(config_for(upstream));
    config.mode = Mode::Guard;
    config.guard.store = StoreKind::Redis;
    config.guard.redis_url = format!("redis://{closed}/0");
    config.timeouts.response = Duration::from_millis(300);
    let guard = start_proxy(config).await;
    send(
        &guard.url("/"),
        Method::GET,
        Some("next-auth.session-token=OLD"),
    )
    .await;
    send(&guard.url("/welcome"), Method::GET, None).await; // sign-in
    send(
        &guard.url("/api/auth/session"),
        Method::POST,
        Some("next-auth.session-token=OLD"),
    )
    .await; // allowed route, rule 0
    let status = send(&guard.url("/slow"), Method::GET, None).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);

    // Report mode: would_strip.
    let mut config = with_admin(config_for(upstream));
    config.mode = Mode::Report;
    let report = start_proxy(config).await;
    send(
        &report.url("/"),
        Method::GET,
        Some("next-auth.session-token=OLD"),
    )
    .await;

    let mut exported = Exported::new();
    for proxy in [&guard, &report] {
        add_scrape(&mut exported, &scrape(proxy.admin.unwrap()).await);
    }
    // What the traffic above must have produced, so a check below cannot pass
    // because the scrape was empty.
    for name in [
        "cookieguard_requests_total",
        "cookieguard_session_cookie_responses_total",
        "cookieguard_session_tokens_unreadable_total",
        "cookieguard_upstream_errors_total",
        "cookieguard_guard_store_errors_total",
        "cookieguard_active_connections",
        "cookieguard_upstream_response_seconds_bucket",
    ] {
        assert!(exported.contains_key(name), "{name} not in the scrape");
    }

    let problems = check_dashboard(DASHBOARD, &exported);
    assert!(
        problems.is_empty(),
        "examples/grafana/cookieguard.json:\n  {}",
        problems.join("\n  ")
    );

    // The checker finds what it is for: a misspelt metric, label, value.
    for (right, wrong, expected) in [
        (
            "cookieguard_requests_total",
            "cookieguard_request_total",
            "cookieguard_request_total: not exported",
        ),
        ("sum by (class)", "sum by (status)", "grouping by `status`"),
        ("{class=", "{klass=", "no label `klass`"),
        (
            "action=\\\"stripped\\\"",
            "action=\\\"removed\\\"",
            "never has the value \"removed\"",
        ),
        (
            "stripped|would_strip",
            "stripped|would-strip",
            "never has the value \"would-strip\"",
        ),
        ("_bucket{", "_buckets{", "_buckets: not exported"),
    ] {
        assert!(
            DASHBOARD.contains(right),
            "the dashboard no longer has {right}"
        );
        let problems = check_dashboard(&DASHBOARD.replacen(right, wrong, 1), &exported);
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "replacing {right} by {wrong}: expected {expected:?}, got {problems:?}"
        );
    }
}

fn with_admin(mut config: Config) -> Config {
    config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

async fn closed_port() -> SocketAddr {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn send(url: &str, method: Method, cookie: Option<&str>) -> StatusCode {
    let mut request = Request::builder().method(method).uri(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = within("request", client().request(request.body(full("")).unwrap()))
        .await
        .unwrap();
    let status = response.status();
    body_text(response).await;
    status
}

async fn scrape(admin: SocketAddr) -> String {
    let url = format!("http://{admin}/metrics").parse().unwrap();
    let response = within("scrape", client().get(url)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    body_text(response).await
}

/// Adds a Prometheus text scrape's series, their labels and label values.
/// A family announced by `# TYPE` without samples counts as its series names.
fn add_scrape(exported: &mut Exported, text: &str) {
    for line in text.lines() {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let mut words = declaration.split_whitespace();
            let (Some(family), Some(kind)) = (words.next(), words.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            for suffix in suffixes {
                exported.entry(format!("{family}{suffix}")).or_default();
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = exported.entry(line[..end].to_owned()).or_default();
        if line[end..].starts_with('{') {
            let chars: Vec<char> = line[end + 1..].chars().collect();
            let mut at = 0;
            while let Some((name, _, value)) = matcher(&chars, &mut at) {
                labels.entry(name).or_default().insert(value);
            }
        }
    }
}

/// One `name op "value"` of a selector or a sample's label set, then the
/// `,` after it; `None` at the closing `}`.
fn matcher(chars: &[char], at: &mut usize) -> Option<(String, String, String)> {
    skip_spaces(chars, at);
    let name = identifier(chars, at);
    if name.is_empty() {
        return None;
    }
    skip_spaces(chars, at);
    let mut op = String::new();
    while *at < chars.len() && "=!~".contains(chars[*at]) {
        op.push(chars[*at]);
        *at += 1;
    }
    skip_spaces(chars, at);
    let value = quoted(chars, at);
    skip_spaces(chars, at);
    if chars.get(*at) == Some(&',') {
        *at += 1;
    }
    Some((name, op, value))
}

fn identifier(chars: &[char], at: &mut usize) -> String {
    let start = *at;
    while *at < chars.len() && (chars[*at].is_ascii_alphanumeric() || "_:".contains(chars[*at])) {
        *at += 1;
    }
    chars[start..*at].iter().collect()
}

/// A `"…"` or `'…'` string at `at` (escapes kept undone: none are needed).
fn quoted(chars: &[char], at: &mut usize) -> String {
    let Some(&quote) = chars.get(*at).filter(|c| **c == '"' || **c == '\'') else {
        return String::new();
    };
    *at += 1;
    let mut value = String::new();
    while *at < chars.len() && chars[*at] != quote {
        if chars[*at] == '\\' {
            *at += 1;
        }
        if let Some(&c) = chars.get(*at) {
            value.push(c);
        }
        *at += 1;
    }
    *at += 1;
    value
}

fn skip_spaces(chars: &[char], at: &mut usize) {
    while *at < chars.len() && chars[*at].is_whitespace() {
        *at += 1;
    }
}

/// A selector of a cookieguard metric: its name and matchers.
struct Selector {
    metric: String,
    matchers: Vec<(String, String, String)>,
}

/// The cookieguard selectors of a PromQL expression and the labels of its
/// `by (…)` / `without (…)` clauses. Strings (label values, Grafana
/// variables) are skipped, so only real metric names count.
fn parse_promql(expr: &str) -> (Vec<Selector>, Vec<String>) {
    let chars: Vec<char> = expr.chars().collect();
    let (mut selectors, mut grouping) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c == '"' || c == '\'' {
            quoted(&chars, &mut at);
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let word = identifier(&chars, &mut at);
            let mut next = at;
            skip_spaces(&chars, &mut next);
            if (word == "by" || word == "without") && chars.get(next) == Some(&'(') {
                at = next + 1;
                loop {
                    skip_spaces(&chars, &mut at);
                    let label = identifier(&chars, &mut at);
                    skip_spaces(&chars, &mut at);
                    if label.is_empty() {
                        break;
                    }
                    grouping.push(label);
                    if chars.get(at) == Some(&',') {
                        at += 1;
                    }
                }
            } else if word.starts_with("cookieguard_") {
                let mut matchers = Vec::new();
                if chars.get(next) == Some(&'{') {
                    at = next + 1;
                    while let Some(m) = matcher(&chars, &mut at) {
                        matchers.push(m);
                    }
                }
                selectors.push(Selector {
                    metric: word,
                    matchers,
                });
            }
        } else {
            at += 1;
        }
    }
    (selectors, grouping)
}

/// Every PromQL string of the dashboard: panel targets (`expr`) and template
/// variable queries (`query`, `definition`).
fn queries(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(text)
                        if ["expr", "query", "definition"].contains(&key.as_str()) =>
                    {
                        found.push(text.clone());
                    }
                    _ => queries(value, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| queries(item, found)),
        _ => {}
    }
}

/// What the dashboard asks of `/metrics` that `/metrics` does not have.
fn check_dashboard(dashboard: &str, exported: &Exported) -> Vec<String> {
    let json: serde_json::Value = match serde_json::from_str(dashboard) {
        Ok(json) => json,
        Err(error) => return vec![format!("not JSON: {error}")],
    };
    let mut all = Vec::new();
    queries(&json, &mut all);
    let mut problems = Vec::new();
    let mut metrics = BTreeSet::new();
    for expr in all.iter().filter(|q| q.contains("cookieguard_")) {
        let (selectors, grouping) = parse_promql(expr);
        let mut expr_labels: BTreeSet<&str> = TARGET_LABELS.into_iter().collect();
        for selector in &selectors {
            metrics.insert(selector.metric.clone());
            let Some(labels) = exported.get(&selector.metric) else {
                problems.push(format!("{}: not exported, in {expr}", selector.metric));
                continue;
            };
            expr_labels.extend(labels.keys().map(String::as_str));
            for (label, op, value) in &selector.matchers {
                if TARGET_LABELS.contains(&label.as_str()) {
                    continue;
                }
                let Some(seen) = labels.get(label) else {
                    problems.push(format!("{}: no label `{label}`", selector.metric));
                    continue;
                };
                // Literal values only: alternatives of a plain regex, or an
                // exact match; no Grafana variables, no negations.
                let literal = !value.contains('$')
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || " _-|".contains(c));
                if (op == "=" || op == "=~") && literal {
                    let alternatives: Vec<&str> = match op.as_str() {
                        "=~" => value.split('|').collect(),
                        _ => vec![value.as_str()],
                    };
                    for alternative in alternatives {
                        if !seen.contains(alternative) {
                            problems.push(format!(
                                "{}: `{label}` never has the value {alternative:?} (seen: {seen:?})",
                                selector.metric
                            ));
                        }
                    }
                }
            }
        }
        for label in &grouping {
            if !expr_labels.contains(label.as_str()) {
                problems.push(format!(
                    "grouping by `{label}`, a label none of its metrics has, in {expr}"
                ));
            }
        }
    }
    // Too few queries means the dashboard's layout changed under this test.
    if all.len() < 10 || metrics.len() < 7 {
        problems.push(format!(
            "found only {} queries naming {} metrics: {metrics:?}",
            all.len(),
            metrics.len()
        ));
    }
    problems
}
