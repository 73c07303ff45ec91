//! The app's session secret(s), with which cookieguard reads session tokens
//! and tells a change of the session from a refresh. The first source that
//! gives one wins:
//! 1. `--session-secret-file` (or `COOKIEGUARD_SESSION_SECRET_FILE`);
//! 2. `COOKIEGUARD_SESSION_SECRET`;
//! 3. `[session] secret_file` in the config file;
//! 4. the app's own variables: `AUTH_SECRET`, `AUTH_SECRET_1`…`_3` (Auth.js
//!    rotation) and `NEXTAUTH_SECRET`, so a container that shares the app's
//!    env file needs nothing more.
//!
//! A file holds one secret per line, newest first (rotation: every secret is
//! tried). A secret is never logged or printed: `check` shows `***` and where
//! it came from.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::session::token::Secret;

/// The app's variables that hold its secret, in the order they are tried.
pub const APP_SECRET_VARIABLES: [&str; 5] = [
    "AUTH_SECRET",
    "AUTH_SECRET_1",
    "AUTH_SECRET_2",
    "AUTH_SECRET_3",
    "NEXTAUTH_SECRET",
];

/// The secrets found and where they came from (a path or variable names,
/// never a value).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SessionSecrets {
    pub secrets: Vec<Secret>,
    pub source: String,
}

impl SessionSecrets {
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// What `check` prints: `***` per secret and the source.
    pub fn describe(&self) -> String {
        if self.secrets.is_empty() {
            return "none (tokens are not read: the secret-less rules decide)".to_owned();
        }
        let stars = vec!["***"; self.secrets.len()].join(", ");
        format!("{stars} (from {})", self.source)
    }
}

impl fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Serialize for SessionSecrets {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.describe())
    }
}

/// Why no secret could be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the session secret file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the session secret file {} holds no secret (one per line, newest first)", path.display())]
    Empty { path: PathBuf },
}

/// Finds the secrets. `flag_file`: the command line's (or its variable's)
/// file; `config_file`: `[session] secret_file`; `variable`: the process
/// environment, passed in so tests need not touch it.
pub fn resolve(
    flag_file: Option<&Path>,
    config_file: Option<&Path>,
    variable: impl Fn(&str) -> Option<String>,
) -> Result<SessionSecrets, SecretError> {
    if let Some(path) = flag_file {
        return from_file(path);
    }
    if let Some(secret) = variable("COOKIEGUARD_SESSION_SECRET").filter(|s| !s.is_empty()) {
        return Ok(SessionSecrets {
            secrets: vec![Secret::new(secret)],
            source: "COOKIEGUARD_SESSION_SECRET".to_owned(),
        });
    }
    if let Some(path) = config_file {
        return from_file(path);
    }
    let mut found = SessionSecrets::default();
    let mut names = Vec::new();
    for name in APP_SECRET_VARIABLES {
        if let Some(secret) = variable(name).filter(|s| !s.is_empty()) {
            let secret = Secret::new(secret);
            if !found.secrets.contains(&secret) {
                found.secrets.push(secret);
            }
            names.push(name);
        }
    }
    found.source = names.join(", ");
    Ok(found)
}

fn from_file(path: &Path) -> Result<SessionSecrets, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        path: path.to_owned(),
        source,
    })?;
    let secrets: Vec<Secret> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(Secret::new)
        .collect();
    if secrets.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(SessionSecrets {
        secrets,
        source: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("cookieguard-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_first_source_that_gives_a_secret_wins() {
        let file = temp_file("flag", "new\n\nold\n");
        let both = env(&[("COOKIEGUARD_SESSION_SECRET", "e"), ("AUTH_SECRET", "a")]);
        let from_flag = resolve(Some(&file), Some(Path::new("/nonexistent")), &both).unwrap();
        assert_eq!(from_flag.secrets, [Secret::new("new"), Secret::new("old")]);
        assert_eq!(from_flag.source, file.display().to_string());

        let from_env = resolve(None, Some(Path::new("/nonexistent")), &both).unwrap();
        assert_eq!(from_env.secrets, [Secret::new("e")]);
        assert_eq!(from_env.source, "COOKIEGUARD_SESSION_SECRET");

        let from_config = resolve(None, Some(&file), env(&[("AUTH_SECRET", "a")])).unwrap();
        assert_eq!(from_config.secrets.len(), 2);

        let app = env(&[
            ("AUTH_SECRET", "a"),
            ("AUTH_SECRET_1", "a1"),
            ("NEXTAUTH_SECRET", "a"),
            ("AUTH_SECRET_3", ""),
        ]);
        let from_app = resolve(None, None, app).unwrap();
        assert_eq!(from_app.secrets, [Secret::new("a"), Secret::new("a1")]);
        assert_eq!(
            from_app.source,
            "AUTH_SECRET, AUTH_SECRET_1, NEXTAUTH_SECRET"
        );

        let none = resolve(None, None, env(&[])).unwrap();
        assert!(none.is_empty());
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn secrets_are_never_shown() {
        let secrets = resolve(None, None, env(&[("AUTH_SECRET", "hunter2-very-secret")])).unwrap();
        let shown = format!(
            "{secrets:?} {} {}",
            secrets.describe(),
            toml::Value::try_from(&secrets).unwrap()
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("*** (from AUTH_SECRET)"), "{shown}");
    }

    #[test]
    fn bad_files_are_named() {
        let missing = resolve(Some(Path::new("/nonexistent/secret")), None, env(&[]));
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .starts_with("cannot read the session secret file /nonexistent/secret:")
        );
        let empty = temp_file("empty", "\n  \n");
        let error = resolve(Some(&empty), None, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("holds no secret"), "{error}");
        std::fs::remove_file(empty).unwrap();
    }
}
