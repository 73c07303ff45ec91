//! `cookieguard explain`: which allow rule a request matches, and what each
//! mode would do with a session cookie in its response. The tool to reach
//! for when a route misbehaves.

use std::fmt::Write;

use http::{HeaderMap, Method, Uri};

use crate::config::Config;
use crate::policy::{Mismatch, Mode, normalise_path};

/// The explanation, as printed. `headers` are the request header names present.
pub fn explain(config: &Config, method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "request: {method} {uri}");
    let normalised = normalise_path(uri.path());
    if normalised.as_ref() != uri.path().as_bytes() {
        let _ = writeln!(
            out,
            "normalised path: {}",
            String::from_utf8_lossy(&normalised)
        );
    }
    let _ = writeln!(out, "mode: {}", config.mode.as_str());
    let _ = writeln!(
        out,
        "profiles: {}",
        config
            .profiles()
            .iter()
            .map(|p| format!("{} ({})", p.profile.id(), p.profile.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out);

    let mut matched = None;
    let (rules, owners) = config.allow_rules();
    let profiles = config.profiles();
    for (index, rule) in rules.iter().enumerate() {
        let methods = rule.methods_text();
        let verdict = match rule.first_mismatch(method, uri, headers) {
            None => {
                matched.get_or_insert(index);
                "MATCHES".to_owned()
            }
            Some(Mismatch::Method) => format!("no: method {method} is not {methods}"),
            Some(Mismatch::Path) => "no: path differs".to_owned(),
            Some(Mismatch::MissingQuery(name)) => format!("no: query parameter `{name}` missing"),
            Some(Mismatch::MissingHeader(name)) => format!("no: request header `{name}` missing"),
        };
        let owner = match owners.get(index).copied().flatten() {
            Some(owner) => format!(" ({})", profiles[owner].profile.id()),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "allow rule #{index}{owner}: {methods} {}  -> {verdict}",
            rule.path
        );
    }
    if rules.is_empty() {
        let _ = writeln!(out, "no allow rules are configured");
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "a session Set-Cookie in the response to this request:");
    match matched {
        Some(index) => {
            let whose = match owners.get(index).copied().flatten() {
                Some(owner) => format!(
                    " the session cookie of {} ({})",
                    profiles[owner].profile.id(),
                    profiles[owner].profile.name()
                ),
                None => " any session cookie".to_owned(),
            };
            let _ = writeln!(
                out,
                "  2xx/3xx answer:{whose} passes in every mode (rule #{index}: an authoritative write; in guard mode it supersedes the session the request carried)"
            );
            let _ = writeln!(
                out,
                "  4xx/5xx answer: treated like a route that is not allowed, as below"
            );
            let _ = writeln!(out);
            let _ = writeln!(out, "  if it were not allowed:");
            write_not_allowed(&mut out, config, method, headers);
        }
        None => write_not_allowed(&mut out, config, method, headers),
    }
    if !config.guard.update_header.is_empty() {
        let _ = writeln!(
            out,
            "\nany route: a 2xx/3xx response carrying `{}` counts as an authoritative write (the header is removed)",
            config.guard.update_header
        );
    }
    out
}

fn write_not_allowed(out: &mut String, config: &Config, method: &Method, headers: &HeaderMap) {
    let action = method == Method::POST && headers.contains_key("next-action");
    let profiles = config.profiles();
    let _ = writeln!(
        out,
        "  a change of the session passes in every mode, on any route and status:"
    );
    let _ = writeln!(
        out,
        "    sign-in:  the request carries no session and the response creates one"
    );
    let _ = writeln!(
        out,
        "    sign-out: the response leaves the browser without a session"
    );
    let _ = writeln!(
        out,
        "    server action write: {}",
        if action {
            "this request is a server action: the response writes the session twice with different values (middleware copy, then the action's)"
        } else {
            "not this request (only POST with Next-Action)"
        }
    );
    for profile in &profiles {
        let id = profile.profile.id();
        let text = if profile.secrets.is_empty() {
            format!(
                "needs the app's secret ({}, COOKIEGUARD_SESSION_SECRET or --session-secret-file): none configured",
                profile.profile.secret_variables().join(", ")
            )
        } else {
            format!(
                "the token's claims differ from the request's ({} aside); secret {}",
                profile.volatile_claims.join(", "),
                profile.secrets.describe()
            )
        };
        let _ = writeln!(out, "    claims changed ({id}): {text}");
    }
    let _ = writeln!(out, "  a refresh (the request's session written back):");
    let mode = config.mode;
    let lines = [
        (
            Mode::Strip,
            "strip:  removed (the whole session family; other cookies pass)",
        ),
        (
            Mode::Guard,
            "guard:  passes when the request's session is current (expiry slides); removed when an update superseded it",
        ),
        (
            Mode::Report,
            "report: nothing removed; logged with what strip and guard would do",
        ),
    ];
    for (line_mode, text) in lines {
        let marker = if line_mode == mode { "*" } else { " " };
        let _ = writeln!(out, "    {marker} {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: &str, uri: &str, headers: &[&str]) -> String {
        let mut map = HeaderMap::new();
        for name in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "1".parse().unwrap(),
            );
        }
        explain(
            &Config::default(),
            &method.parse().unwrap(),
            &uri.parse().unwrap(),
            &map,
        )
    }

    #[test]
    fn an_allowed_route() {
        let text = run("POST", "/api/auth/session", &[]);
        assert!(
            text.starts_with(
                "request: POST /api/auth/session\nmode: strip\nprofiles: authjs (Auth.js / NextAuth), auth0 (@auth0/nextjs-auth0 v4), better-auth (Better Auth)\n\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("allow rule #0 (authjs): POST /api/auth/session  -> MATCHES\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "allow rule #1 (authjs): GET|POST /api/auth/callback/*  -> no: path differs\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  2xx/3xx answer: the session cookie of authjs (Auth.js / NextAuth) passes in every mode (rule #0"),
            "{text}"
        );
    }

    #[test]
    fn authjs_at_slash_auth_needs_no_configuration() {
        let text = run("POST", "/auth/session", &[]);
        assert!(
            text.contains("allow rule #3 (authjs): POST /auth/session  -> MATCHES\n"),
            "{text}"
        );
        assert!(text.contains("(rule #3: an authoritative write"), "{text}");
    }

    #[test]
    fn a_route_that_is_not_allowed() {
        let text = run("GET", "/api/auth/session", &[]);
        assert!(
            text.contains(
                "allow rule #0 (authjs): POST /api/auth/session  -> no: method GET is not POST\n"
            ),
            "{text}"
        );
        assert!(!text.contains("MATCHES"), "{text}");
        assert!(text.contains("  * strip:  removed"), "{text}");
        assert!(text.contains("    guard:  passes when"), "{text}");
    }

    #[test]
    fn shows_the_normalised_path() {
        let text = run("POST", "/api/auth/session/../csrf", &[]);
        assert!(text.contains("normalised path: /api/auth/csrf\n"), "{text}");
        assert!(!text.contains("MATCHES"), "{text}");
    }
}
