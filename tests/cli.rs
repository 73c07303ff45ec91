//! The real binary: configuration errors, `check`, precedence of flags,
//! environment and file, signals, and what reaches the logs.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use http::{Request, Response};

const BIN: &str = env!("CARGO_BIN_EXE_cookieguard");

/// The binary with a clean environment: no COOKIEGUARD_* or RUST_LOG leaks in.
fn cookieguard() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("COOKIEGUARD_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run cookieguard")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cookieguard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bad_configs_exit_non_zero_with_file_line_and_key_before_listening() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown-key.toml",
            "listen = \"127.0.0.1:0\"\nupstrem = \"http://127.0.0.1:3000\"\n",
            ":2:1: `upstrem`: unknown field `upstrem`, expected one of `listen`, `upstream`, `mode`, `base_path`, `log_format`, `access_log`, `admin_listen`, `max_connections`, `threads`, `trusted_proxies`, `session`, `timeouts`, `guard`, `allow`\n",
        ),
        (
            "bad-type.toml",
            "listen = \"127.0.0.1:0\"\n[timeouts]\nconnect = 5\n",
            ":3:11: `timeouts.connect`: invalid type: integer `5`, expected a string\n",
        ),
        (
            "bad-pattern.toml",
            "listen = \"127.0.0.1:0\"\n[[allow]]\npath = \"/ok\"\n[[allow]]\nmethods = [\"POST\"]\npath = \"/api/**/x\"\n",
            ":6:8: `allow[1].path`: path pattern `/api/**/x`: `**` may only be the last segment\n",
        ),
        (
            "bad-address.toml",
            "listen = \"localhost\"\n",
            ":1:10: `listen`: invalid socket address syntax\n",
        ),
        (
            "bad-url.toml",
            "listen = \"127.0.0.1:0\"\nupstream = \"https://app:3000\"\n",
            ":2:12: `upstream`: `https://app:3000`: only http:// upstreams are supported (end TLS in front of cookieguard, not behind it)\n",
        ),
        (
            "bad-syntax.toml",
            "listen = \"127.0.0.1:0\"\n[session\ncookies = []\n",
            ":2:9: `session`: ",
        ),
    ];
    for (name, text, expected) in cases {
        let path = write_config(name, text);
        let output = run(cookieguard().arg("--config").arg(&path));
        assert_eq!(output.status.code(), Some(1), "{name}");
        let message = stderr(&output);
        let want = format!("cookieguard: error: {}{expected}", path.display());
        assert!(
            message.starts_with(&want),
            "{name}\n got: {message}\nwant: {want}"
        );
        assert!(!message.contains("listening"), "{name} started listening");
        // `check` reports the same error.
        let checked = run(cookieguard().arg("check").arg("--config").arg(&path));
        assert_eq!(checked.status.code(), Some(1), "check {name}");
        assert!(stderr(&checked).starts_with(&want), "check {name}");
    }
}

#[test]
fn missing_config_file_is_named() {
    let output = run(cookieguard().args(["check", "--config", "/nonexistent/cookieguard.toml"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(
            "cookieguard: error: cannot read config file /nonexistent/cookieguard.toml: No such file or directory"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_prints_the_shipped_defaults_without_a_config() {
    // The shipped file differs from the embedded defaults only in turning on
    // the admin listener.
    let output = run(cookieguard().args(["check", "--admin-listen", "127.0.0.1:9901"]));
    assert!(output.status.success());
    let printed: toml::Table = toml::from_str(&stdout(&output)).unwrap();
    let shipped: toml::Table = toml::from_str(include_str!("../config/cookieguard.toml")).unwrap();
    assert_eq!(printed, shipped);
}

#[test]
fn a_route_the_app_moved_by_its_environment_is_recognised_and_a_bad_one_refused() {
    let output = run(cookieguard()
        .args(["check"])
        .env("NEXT_PUBLIC_ACCESS_TOKEN_ROUTE", "/api/token"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(
            "#   route: GET /api/token\n#     (moved there by NEXT_PUBLIC_ACCESS_TOKEN_ROUTE)\n"
        ),
        "{text}"
    );
    let output = run(cookieguard()
        .args(["check"])
        .env("NEXT_PUBLIC_ACCESS_TOKEN_ROUTE", "api/token"));
    assert!(!output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "environment variable NEXT_PUBLIC_ACCESS_TOKEN_ROUTE: `api/token` is not a path"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn flags_win_over_environment_which_wins_over_the_file() {
    let path = write_config(
        "layers.toml",
        "listen = \"127.0.0.1:1001\"\nupstream = \"http://127.0.0.1:2001\"\nmode = \"report\"\nlog_format = \"json\"\n",
    );
    let effective = |command: &mut Command| -> toml::Table {
        let output = run(command);
        assert!(output.status.success(), "{}", stderr(&output));
        toml::from_str(&stdout(&output)).unwrap()
    };
    let file_only = effective(cookieguard().arg("check").arg("-c").arg(&path));
    assert_eq!(file_only["listen"].as_str(), Some("127.0.0.1:1001"));
    assert_eq!(file_only["mode"].as_str(), Some("report"));

    let env = effective(
        cookieguard()
            .arg("check")
            .env("COOKIEGUARD_CONFIG", &path)
            .env("COOKIEGUARD_LISTEN", "127.0.0.1:1002")
            .env("COOKIEGUARD_MODE", "strip")
            .env("COOKIEGUARD_LOG_FORMAT", "text"),
    );
    assert_eq!(env["listen"].as_str(), Some("127.0.0.1:1002"));
    assert_eq!(env["upstream"].as_str(), Some("http://127.0.0.1:2001"));
    assert_eq!(env["mode"].as_str(), Some("strip"));
    assert_eq!(env["log_format"].as_str(), Some("text"));

    let flags = effective(
        cookieguard()
            .args([
                "check",
                "--listen",
                "127.0.0.1:1003",
                "--upstream",
                "http://127.0.0.1:2003",
            ])
            .env("COOKIEGUARD_CONFIG", &path)
            .env("COOKIEGUARD_LISTEN", "127.0.0.1:1002")
            .env("COOKIEGUARD_UPSTREAM", "http://127.0.0.1:2002"),
    );
    assert_eq!(flags["listen"].as_str(), Some("127.0.0.1:1003"));
    assert_eq!(flags["upstream"].as_str(), Some("http://127.0.0.1:2003"));
    assert_eq!(flags["mode"].as_str(), Some("report"));
}

#[test]
fn bad_flag_values_are_rejected_clearly() {
    let output = run(cookieguard().args(["check", "--upstream", "ftp://x"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with(
            "error: invalid value 'ftp://x' for '--upstream <URL>': `ftp://x`: only http:// upstreams are supported"
        ),
        "{}",
        stderr(&output)
    );
    let output = run(cookieguard()
        .args(["check"])
        .env("COOKIEGUARD_MODE", "sometimes"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid value 'sometimes'"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn help_explains_the_tool() {
    let output = run(cookieguard().arg("--help"));
    assert!(output.status.success());
    let help = stdout(&output);
    for needle in [
        "Reverse proxy for Next.js and other Node apps",
        "--config <FILE>",
        "[env: COOKIEGUARD_CONFIG=]",
        "--upstream <URL>",
        "[env: COOKIEGUARD_UPSTREAM=]",
        "--mode <MODE>",
        "--log-format <LOG_FORMAT>",
        "check",
        "Examples:",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

/// A running cookieguard process whose stderr is collected line by line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(command: &mut Command) -> Running {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no log line with {needle:?}; saw {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn terminate(self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        self.terminate_after_signal()
    }

    /// Waits for the exit a signal already asked for, and collects the log.
    fn terminate_after_signal(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        let mut seen = std::mem::take(&mut self.seen);
        seen.extend(self.lines.iter());
        (status, seen)
    }
}

/// A failing test must not leave its cookieguard running.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listen_port(line: &str) -> u16 {
    let start = line.find("127.0.0.1:").expect("listen address in log line") + "127.0.0.1:".len();
    line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

const SECRETS: [&str; 4] = [
    "SESSION-SECRET-1",
    "CSRF-SECRET-2",
    "AUTH-SECRET-3",
    "REQUEST-COOKIE-SECRET-4",
];

async fn secret_setting_upstream() -> std::net::SocketAddr {
    start_upstream(|_| async {
        Response::builder()
            .header(
                "set-cookie",
                "next-auth.session-token=SESSION-SECRET-1; Path=/; HttpOnly",
            )
            .header("set-cookie", "next-auth.csrf-token=CSRF-SECRET-2; Path=/")
            .body(full("ok"))
            .unwrap()
    })
    .await
}

async fn send_secret_requests(port: u16) {
    for (method, path) in [
        ("GET", "/"),
        ("POST", "/api/auth/session"),
        ("GET", "/api/auth/session"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{port}{path}"))
            .header("cookie", "next-auth.session-token=REQUEST-COOKIE-SECRET-4")
            .header("authorization", "Bearer AUTH-SECRET-3")
            .body(full(""))
            .unwrap();
        let response = within("request", client().request(request)).await.unwrap();
        assert_eq!(body_text(response).await, "ok");
    }
}

#[tokio::test]
async fn no_cookie_value_or_credential_reaches_the_logs_at_trace_level() {
    for (mode, format) in [("strip", "text"), ("guard", "text"), ("report", "json")] {
        let upstream = secret_setting_upstream().await;
        let mut process = Running::start(
            cookieguard()
                .args([
                    "--listen",
                    "127.0.0.1:0",
                    "--mode",
                    mode,
                    "--log-format",
                    format,
                ])
                .arg("--upstream")
                .arg(format!("http://{upstream}"))
                .arg("--config")
                .arg(write_config("access-log.toml", "access_log = true\n"))
                .env("RUST_LOG", "trace"),
        );
        let port = listen_port(&process.wait_for("cookieguard listening"));
        send_secret_requests(port).await;
        let access = process.wait_for("cookieguard::access");
        assert!(
            access.contains("status") && access.contains("200"),
            "{access}"
        );
        if mode == "report" {
            process.wait_for("report mode: session cookies that strip or guard mode would remove");
        }
        let (status, lines) = process.terminate();
        assert!(
            status.success(),
            "exit after SIGTERM: {status:?}\n{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.contains("stopped")), "{lines:#?}");
        let log = lines.join("\n");
        for secret in SECRETS {
            assert!(
                !log.contains(secret),
                "{secret} leaked into the {format} log:\n{log}"
            );
        }
        if format == "json" {
            for line in &lines {
                let parsed: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(parsed["message"].is_string(), "no message: {line}");
            }
        }
    }
}

#[tokio::test]
async fn sigterm_under_load_finishes_every_accepted_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const REQUESTS: usize = 40;
    let arrived = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&arrived);
    let upstream = start_upstream(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Response::new(full("done"))
        }
    })
    .await;
    let mut process = Running::start(
        cookieguard()
            .args(["--listen", "127.0.0.1:0", "--upstream"])
            .arg(format!("http://{upstream}")),
    );
    let port = listen_port(&process.wait_for("cookieguard listening"));
    let client = client();
    let requests: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let client = client.clone();
            let url = format!("http://127.0.0.1:{port}/work/{i}");
            tokio::spawn(async move {
                let response = client.get(url.parse().unwrap()).await.unwrap();
                (response.status(), body_text(response).await)
            })
        })
        .collect();
    within("all requests at the upstream", async {
        while arrived.load(Ordering::SeqCst) < REQUESTS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    let pid = process.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    for request in requests {
        let (status, body) = within("request during drain", request).await.unwrap();
        assert_eq!((status.as_u16(), body.as_str()), (200, "done"));
    }
    let (status, lines) = tokio::task::spawn_blocking(move || process.terminate_after_signal())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        lines.iter().any(|l| l.contains("all connections closed")),
        "{lines:#?}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after SIGTERM"
    );
}

#[tokio::test]
async fn sighup_reloads_atomically_and_rejects_a_bad_config() {
    let upstream = start_upstream(|request| async move {
        if request.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
        Response::builder()
            .header("set-cookie", "next-auth.session-token=S; Path=/")
            .header("set-cookie", "theme=dark")
            .body(full("ok"))
            .unwrap()
    })
    .await;
    let path = write_config(
        "reload.toml",
        &format!("upstream = \"http://{upstream}\"\nmode = \"strip\"\n"),
    );
    let mut process = Running::start(
        cookieguard()
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&path),
    );
    let port = listen_port(&process.wait_for("cookieguard listening"));
    // The request carries a session, so the response's copy is a refresh.
    let session_cookies = |path: &'static str| async move {
        let request = Request::get(format!("http://127.0.0.1:{port}{path}"))
            .header("cookie", "next-auth.session-token=OLD")
            .body(full(""))
            .unwrap();
        let response = within("request", client().request(request)).await.unwrap();
        let count = set_cookies(response.headers())
            .iter()
            .filter(|c| c.starts_with("next-auth.session-token="))
            .count();
        body_text(response).await;
        count
    };
    assert_eq!(session_cookies("/").await, 0, "strip mode");

    // A request under way when the configuration changes keeps the old one.
    let in_flight = tokio::spawn(session_cookies("/slow"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::write(
        &path,
        format!("upstream = \"http://{upstream}\"\nmode = \"report\"\n"),
    )
    .unwrap();
    let pid = process.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    process.wait_for("configuration reloaded");
    assert_eq!(
        session_cookies("/").await,
        1,
        "report mode after the reload"
    );
    assert_eq!(
        within("in flight", in_flight).await.unwrap(),
        0,
        "the old config for the request under way"
    );

    // A bad file is rejected with its error; the running configuration stays.
    std::fs::write(&path, "mode = \"sometimes\"\n").unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let rejected = process.wait_for("configuration reload rejected");
    assert!(rejected.contains("reload.toml:1:8"), "{rejected}");
    assert_eq!(session_cookies("/").await, 1, "still report mode");
    let (status, _) = process.terminate();
    assert!(status.success());
}

#[tokio::test]
async fn the_first_sight_of_a_library_and_its_base_path_are_logged_once() {
    let upstream = start_upstream(|_| async {
        Response::builder()
            .header(
                "set-cookie",
                "authjs.session-token=SESSION-SECRET-1; Path=/; HttpOnly",
            )
            .body(full("ok"))
            .unwrap()
    })
    .await;
    let mut process = Running::start(
        cookieguard()
            .args(["--listen", "127.0.0.1:0", "--upstream"])
            .arg(format!("http://{upstream}"))
            .env_remove("COOKIEGUARD_CONFIG")
            .env("RUST_LOG", "info"),
    );
    let port = listen_port(&process.wait_for("cookieguard listening"));
    // A refresh on a page, then a sign-in at Auth.js's /auth base path (as
    // SvelteKit and Express mount it), then the same again.
    for _ in 0..2 {
        for (method, path) in [("GET", "/page"), ("POST", "/auth/callback/credentials")] {
            let request = Request::builder()
                .method(method)
                .uri(format!("http://127.0.0.1:{port}{path}"))
                .header("cookie", "authjs.session-token=REQUEST-COOKIE-SECRET-4")
                .body(full(""))
                .unwrap();
            let response = within("request", client().request(request)).await.unwrap();
            assert_eq!(body_text(response).await, "ok");
        }
    }
    let seen = process.wait_for("session library recognised");
    assert!(seen.contains("profile=\"authjs\""), "{seen}");
    assert!(seen.contains("cookie=\"authjs.session-token\""), "{seen}");
    let base = process.wait_for("the app's session routes are at this base path");
    assert!(base.contains("base_path=/auth"), "{base}");
    let (_, lines) = process.terminate();
    let log = lines.join("\n");
    // Once each, though the library and its routes were seen twice.
    assert_eq!(
        log.matches("session library recognised").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("at this base path").count(), 1, "{log}");
    for value in ["SESSION-SECRET-1", "REQUEST-COOKIE-SECRET-4"] {
        assert!(!log.contains(value), "{log}");
    }
}
