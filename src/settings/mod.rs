//! Settings and well-known paths.
//!
//! Owns: where tron keeps its files ([`Paths`]), how it writes them ([`files`]), and the
//! layered settings: compiled defaults (the TypeScript server's `DEFAULT_SETTINGS`, in
//! `defaults.json`) -> `~/.tron/settings.json` (partial, deep-merged) -> `TRON_*`
//! environment variables -> command-line flags ([`load`]); the shape check that names the
//! key and line of a bad value ([`check`], [`locate`]); typed views of what tron reads
//! ([`view`]); and the live settings of a running server: `settings.update` and hot reload
//! of the file ([`live`]).
//!
//! Must not: open databases or read secrets (callers do that with the paths it returns), or
//! shape the wire (`settings.get`'s result is built in rpc/).
//!
//! Deliberate differences from the TypeScript server: `server.host` defaults to loopback
//! (tron refuses other addresses without a token); values are type-checked, and a file that
//! does not load is an error at startup and is ignored (the last good settings stay) at
//! reload, never silently replaced by defaults; environment variables apply everywhere, not
//! only at server startup.

pub mod check;
pub mod files;
pub mod live;
pub mod load;
pub mod locate;
pub mod paths;
pub mod view;

pub use live::{SettingsHandle, SettingsWatcher, UpdateError};
pub use load::{deep_merge, defaults, EnvLookup, Settings, SettingsError, Sources};
pub use paths::Paths;
pub use view::{BashSettings, DangerousPatterns};

#[cfg(test)]
mod tests;
