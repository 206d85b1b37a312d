//! Settings and well-known paths.
//!
//! Owns: where tron keeps its files (data dir, event database, auth file, settings file) and,
//! later, the layered settings (defaults -> ~/.tron/settings.json -> TRON_* env -> flags).
//! Must not: open databases or read secrets; callers do that with the paths it returns.

pub mod paths;

pub use paths::Paths;
