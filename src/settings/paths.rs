//! The files tron reads and writes, resolved the way the TypeScript server resolves them.
//!
//! - data dir: `TRON_DATA_DIR`, else `~/.tron`;
//! - event database: `TRON_EVENT_STORE_DB` (a relative path resolves under the data dir),
//!   else `<data dir>/db/prod.db`;
//! - auth file `<data dir>/auth.json`, settings file `<data dir>/settings.json`.

use std::path::{Path, PathBuf};

/// Resolved locations of tron's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The data directory (`~/.tron` by default).
    pub data_dir: PathBuf,
    /// The SQLite event database.
    pub event_db: PathBuf,
}

impl Paths {
    /// Resolves from the process environment.
    pub fn from_env() -> Self {
        Self::resolve(|k| std::env::var_os(k).map(PathBuf::from), home_dir())
    }

    /// Resolves from a variable lookup and a home directory (pure, for tests).
    pub fn resolve(var: impl Fn(&str) -> Option<PathBuf>, home: Option<PathBuf>) -> Self {
        let non_empty = |k: &str| var(k).filter(|p| !p.as_os_str().is_empty());
        let data_dir = non_empty("TRON_DATA_DIR")
            .unwrap_or_else(|| home.unwrap_or_else(|| PathBuf::from(".")).join(".tron"));
        let event_db = match non_empty("TRON_EVENT_STORE_DB") {
            Some(p) if p.is_absolute() => p,
            Some(p) => data_dir.join(p),
            None => data_dir.join("db").join("prod.db"),
        };
        Self { data_dir, event_db }
    }

    /// `<data dir>/auth.json`.
    pub fn auth_file(&self) -> PathBuf {
        self.data_dir.join("auth.json")
    }

    /// `<data dir>/settings.json`.
    pub fn settings_file(&self) -> PathBuf {
        self.data_dir.join("settings.json")
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Expands a leading `~/` against `$HOME`.
pub fn expand_tilde(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<PathBuf> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| PathBuf::from(v))
    }

    #[test]
    fn defaults_to_home_dot_tron() {
        let p = Paths::resolve(env(&[]), Some("/home/u".into()));
        assert_eq!(p.event_db, PathBuf::from("/home/u/.tron/db/prod.db"));
        assert_eq!(p.auth_file(), PathBuf::from("/home/u/.tron/auth.json"));
    }

    #[test]
    fn env_overrides_and_relative_db_resolves_under_data_dir() {
        let p = Paths::resolve(env(&[("TRON_DATA_DIR", "/d"), ("TRON_EVENT_STORE_DB", "x/e.db")]), None);
        assert_eq!(p.event_db, PathBuf::from("/d/x/e.db"));
        let p = Paths::resolve(env(&[("TRON_EVENT_STORE_DB", "/abs.db")]), Some("/h".into()));
        assert_eq!(p.event_db, PathBuf::from("/abs.db"));
    }
}
