//! The container image's rules, checked on the Dockerfile itself (no Docker
//! engine is needed; `scripts/dockerfile-build.sh` runs its build stage and
//! `.ci/run` lints it with hadolint).

const DOCKERFILE: &str = include_str!("../Dockerfile");
const DOCKERIGNORE: &str = include_str!("../.dockerignore");

/// Instructions with continuation lines joined, comments dropped.
fn instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in DOCKERFILE.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head.trim());
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

fn stages() -> Vec<Vec<String>> {
    let mut stages: Vec<Vec<String>> = Vec::new();
    for instruction in instructions() {
        if instruction.starts_with("FROM ") {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("starts with FROM")
            .push(instruction);
    }
    stages
}

#[test]
fn multi_stage_build_with_the_locked_release_command() {
    let stages = stages();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    assert!(stages[0][0].starts_with("FROM rust:") && stages[0][0].ends_with(" AS build"));
    assert!(
        stages[0]
            .iter()
            .any(|i| i.starts_with("RUN cargo build --release --locked")),
        "{:?}",
        stages[0]
    );
}

#[test]
fn runtime_stage_is_minimal_non_root_and_configured() {
    let runtime = &stages()[1];
    let from = &runtime[0];
    assert!(
        from.contains("distroless") || from.contains("-slim"),
        "minimal base image: {from}"
    );
    let user = runtime
        .iter()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("USER");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "runs as {user}");
    assert!(runtime.contains(&"EXPOSE 8080".to_owned()));
    let env = runtime.iter().find(|i| i.starts_with("ENV ")).expect("ENV");
    for setting in [
        "COOKIEGUARD_LISTEN=0.0.0.0:8080",
        "COOKIEGUARD_UPSTREAM=http://app:3000",
        "COOKIEGUARD_CONFIG=/etc/cookieguard/cookieguard.toml",
    ] {
        assert!(
            env.split_whitespace().any(|w| w == setting),
            "{setting} in {env}"
        );
    }
    assert!(
        runtime
            .contains(&"COPY config/cookieguard.toml /etc/cookieguard/cookieguard.toml".to_owned())
    );
    let healthcheck = runtime
        .iter()
        .find(|i| i.starts_with("HEALTHCHECK "))
        .expect("HEALTHCHECK");
    assert!(
        healthcheck.ends_with(r#"CMD ["/usr/local/bin/cookieguard", "healthcheck"]"#),
        "{healthcheck}"
    );
    assert!(
        runtime
            .last()
            .unwrap()
            .starts_with(r#"ENTRYPOINT ["/usr/local/bin/cookieguard"]"#)
    );
}

#[test]
fn the_image_config_turns_on_the_admin_listener_the_healthcheck_probes() {
    let config = cookieguard::config::Config::from_toml(
        include_str!("../config/cookieguard.toml"),
        std::path::Path::new("config/cookieguard.toml"),
    )
    .unwrap();
    assert_eq!(config.admin_listen, Some("127.0.0.1:9901".parse().unwrap()));
}

#[test]
fn dockerignore_keeps_build_outputs_and_dependencies_out() {
    for pattern in ["target/", "**/node_modules/", ".git/"] {
        assert!(
            DOCKERIGNORE.lines().any(|l| l.trim() == pattern),
            "{pattern}"
        );
    }
}
