//! The app's session secret(s), with which cookieguard reads session tokens
//! and tells a change of the session from a refresh. The first source that
//! gives one wins:
//! 1. `--session-secret-file` (or `COOKIEGUARD_SESSION_SECRET_FILE`);
//! 2. `COOKIEGUARD_SESSION_SECRET`;
//! 3. `[session] secret_file` in the config file;
//! 4. the app's own variables, each profile its library's (Auth.js:
//!    `AUTH_SECRET`, `AUTH_SECRET_1`…`_3` and `NEXTAUTH_SECRET`), so a
//!    container that shares the app's env file needs nothing more.
//!
//! The first three are cookieguard's own and serve every profile in effect;
//! the fourth serves only the profile whose variable it is. A file holds one
//! secret per line, newest first (rotation: every secret is tried). A secret
//! is never logged or printed: `check` shows `***` and where it came from.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::session::profile::Profile;
use crate::session::token::Secret;

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

/// The secrets of each profile in effect, in the profiles' order.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ProfileSecrets {
    pub profiles: Vec<(&'static str, SessionSecrets)>,
}

impl ProfileSecrets {
    /// No profile has a secret.
    pub fn is_empty(&self) -> bool {
        self.profiles.iter().all(|(_, secrets)| secrets.is_empty())
    }

    /// The secrets of the profile with this id (empty when it has none).
    pub fn of(&self, id: &str) -> &SessionSecrets {
        static NONE: SessionSecrets = SessionSecrets {
            secrets: Vec::new(),
            source: String::new(),
        };
        self.profiles
            .iter()
            .find(|(profile, _)| *profile == id)
            .map_or(&NONE, |(_, secrets)| secrets)
    }

    /// What `check` and the start-up log print: per profile, `***` per secret
    /// and the source.
    pub fn describe(&self) -> String {
        match self.profiles.as_slice() {
            [(_, only)] => only.describe(),
            many => many
                .iter()
                .map(|(id, secrets)| format!("{id}: {}", secrets.describe()))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

impl fmt::Debug for ProfileSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Finds the secrets of each profile. `flag_file`: the command line's (or
/// its variable's) file; `config_file`: `[session] secret_file`; `variable`:
/// the process environment, passed in so tests need not touch it.
pub fn resolve_profiles(
    flag_file: Option<&Path>,
    config_file: Option<&Path>,
    profiles: &[&'static dyn Profile],
    variable: impl Fn(&str) -> Option<String>,
) -> Result<ProfileSecrets, SecretError> {
    let own = own_secrets(flag_file, config_file, &variable)?;
    Ok(ProfileSecrets {
        profiles: profiles
            .iter()
            .map(|profile| {
                let secrets = match &own {
                    Some(own) => own.clone(),
                    None => from_variables(profile.secret_variables(), &variable),
                };
                (profile.id(), secrets)
            })
            .collect(),
    })
}

/// cookieguard's own sources, which serve every profile: the flag's file,
/// `COOKIEGUARD_SESSION_SECRET`, then `[session] secret_file`.
fn own_secrets(
    flag_file: Option<&Path>,
    config_file: Option<&Path>,
    variable: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SessionSecrets>, SecretError> {
    if let Some(path) = flag_file {
        return from_file(path).map(Some);
    }
    if let Some(secret) = variable("COOKIEGUARD_SESSION_SECRET").filter(|s| !s.is_empty()) {
        return Ok(Some(SessionSecrets {
            secrets: vec![Secret::new(secret)],
            source: "COOKIEGUARD_SESSION_SECRET".to_owned(),
        }));
    }
    config_file.map(from_file).transpose()
}

/// A library's own variables, every one that is set, duplicates once.
fn from_variables(
    variables: &[&str],
    variable: &impl Fn(&str) -> Option<String>,
) -> SessionSecrets {
    let mut found = SessionSecrets::default();
    let mut names = Vec::new();
    for &name in variables {
        if let Some(secret) = variable(name).filter(|s| !s.is_empty()) {
            let secret = Secret::new(secret);
            if !found.secrets.contains(&secret) {
                found.secrets.push(secret);
            }
            names.push(name);
        }
    }
    found.source = names.join(", ");
    found
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

    /// The secrets of the Auth.js profile alone.
    fn resolve(
        flag_file: Option<&Path>,
        config_file: Option<&Path>,
        variable: impl Fn(&str) -> Option<String>,
    ) -> Result<SessionSecrets, SecretError> {
        let profile = crate::session::profile::renamable();
        Ok(match own_secrets(flag_file, config_file, &variable)? {
            Some(own) => own,
            None => from_variables(profile.secret_variables(), &variable),
        })
    }

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
    fn cookieguards_own_sources_serve_every_profile_the_apps_variables_only_their_own() {
        #[derive(Debug)]
        struct Other;
        impl Profile for Other {
            fn id(&self) -> &'static str {
                "other"
            }
            fn name(&self) -> &'static str {
                "Other"
            }
            fn cookie_names(&self) -> &'static [&'static str] {
                &["other"]
            }
            fn chunks(&self) -> crate::session::profile::ChunkScheme {
                crate::session::profile::ChunkScheme::DotIndex
            }
            fn base_paths(&self) -> &'static [&'static str] {
                &[]
            }
            fn routes(&self) -> &'static [crate::session::profile::RouteSpec] {
                &[]
            }
            fn sign_in_prefix(&self) -> &'static str {
                "/"
            }
            fn secret_variables(&self) -> &'static [&'static str] {
                &["OTHER_SECRET"]
            }
            fn volatile_claims(&self) -> &'static [&'static str] {
                &[]
            }
            fn opener(
                &self,
                _: &[Secret],
                _: &[String],
            ) -> Box<dyn crate::session::profile::Opener> {
                unreachable!()
            }
            fn shape_rules(&self) -> crate::session::profile::ShapeRules {
                Default::default()
            }
        }
        let profiles: [&'static dyn Profile; 2] = [crate::session::profile::renamable(), &Other];
        let app = env(&[("AUTH_SECRET", "a"), ("OTHER_SECRET", "o")]);
        let found = resolve_profiles(None, None, &profiles, &app).unwrap();
        assert_eq!(found.of("authjs").secrets, [Secret::new("a")]);
        assert_eq!(found.of("other").secrets, [Secret::new("o")]);
        assert_eq!(
            found.describe(),
            "authjs: *** (from AUTH_SECRET); other: *** (from OTHER_SECRET)"
        );
        let own = env(&[("COOKIEGUARD_SESSION_SECRET", "c"), ("AUTH_SECRET", "a")]);
        let found = resolve_profiles(None, None, &profiles, &own).unwrap();
        for id in ["authjs", "other"] {
            assert_eq!(found.of(id).secrets, [Secret::new("c")], "{id}");
        }
        assert!(found.of("missing").is_empty());
        let none = resolve_profiles(None, None, &profiles, env(&[])).unwrap();
        assert!(none.is_empty());
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
