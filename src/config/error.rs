//! Located errors: a bad file is reported with its path, line, column and
//! the dotted key (`timeouts.connect`, `allow[1].path`), before anything
//! listens.

use std::path::{Path, PathBuf};

use super::schema::FileConfig;

pub(super) fn parse_file(source: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(source).map_err(|error| ConfigError::at(path, source, &error))
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] super::secrets::SecretError),
    /// Settings that do not fit together, not all from the file.
    #[error("{0}")]
    Setting(String),
    #[error("{}:{line}:{column}: {}{message}", path.display(), key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Dotted key path, e.g. `timeouts.connect` or `allow[1].path`.
        key: Option<String>,
        message: String,
    },
}

impl ConfigError {
    fn at(path: &Path, source: &str, error: &toml::de::Error) -> ConfigError {
        let offset = error.span().map_or(0, |span| span.start).min(source.len());
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            column,
            key: key_at(source, offset),
            message: error.message().trim_end().to_owned(),
        }
    }
}

/// Where `key` is set inside `[table]`: its line and column.
pub(super) fn locate_key(source: &str, table: &str, key: &str) -> Option<(usize, usize)> {
    let mut current = String::new();
    for (index, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            current = trimmed
                .trim_matches(|c| c == '[' || c == ']' || c == ' ')
                .to_owned();
        } else if current == table
            && let Some((name, _)) = trimmed.split_once('=')
            && name.trim() == key
        {
            return Some((index + 1, line.len() - trimmed.len() + 1));
        }
    }
    None
}

/// The dotted key whose line holds `offset`: the nearest `key =` at or above
/// it inside the current table, prefixed with the table (`allow[N]` for the
/// N-th array-of-tables entry).
fn key_at(source: &str, offset: usize) -> Option<String> {
    let mut table: Option<String> = None;
    let mut array_counts: Vec<(String, usize)> = Vec::new();
    let mut key: Option<String> = None;
    let mut line_start = 0;
    for line in source.split_inclusive('\n') {
        if line_start > offset {
            break;
        }
        line_start += line.len();
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
        {
            let name = name.trim().to_owned();
            let index = match array_counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    array_counts.push((name.clone(), 1));
                    0
                }
            };
            table = Some(format!("{name}[{index}]"));
            key = None;
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = Some(name.trim().to_owned());
            key = None;
        } else if let Some((name, _)) = trimmed.split_once('=') {
            let name = name.trim();
            let bare = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'));
            if bare && !name.is_empty() {
                key = Some(name.trim_matches('"').to_owned());
            }
        }
    }
    match (table, key) {
        (Some(table), Some(key)) => Some(format!("{table}.{key}")),
        (table, key) => key.or(table),
    }
}
