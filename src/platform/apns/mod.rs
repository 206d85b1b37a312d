//! Push notifications to the iOS app through the Apple Push Notification service (APNS).
//!
//! Owns: the APNS configuration (the TypeScript server's `~/.tron/mods/apns/config.json`
//! and the `.p8` key it names, see [`config`]), provider tokens (ES256 JWTs signed with the
//! key, cached and renewed before Apple's one-hour limit, see [`token`]), the HTTP/2 request
//! per device and how its answer is read ([`client`]), and sending one notification to every
//! registered device while dropping the tokens APNS says are dead ([`notify`]). The device
//! tokens themselves live in the event database (`device_tokens`, see
//! [`crate::events::devices`]).
//!
//! Must not: speak the wire (rpc/handlers/device.rs and tools/notify_app.rs shape what
//! clients and models see), print, or let the key or a provider token reach an error
//! message, a log record or an event.

pub mod client;
pub mod config;
pub mod notify;
pub mod token;

pub use client::{ApnsClient, Notification, Priority, SendResult};
pub use config::{ApnsConfig, Environment};
pub use notify::{notify_devices, NotifyOutcome};
pub use token::ProviderToken;

use std::path::PathBuf;

/// What can go wrong setting up or using APNS; every message names the file or thing to
/// fix and never holds the key or a token.
#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    /// The config file exists but could not be read.
    #[error("cannot read the APNS config {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not the JSON object expected.
    #[error("{path} is not a valid APNS config: {detail} (expected {{\"keyId\", \"teamId\", \"bundleId\", \"keyPath\"?, \"environment\"?}})")]
    ConfigInvalid { path: PathBuf, detail: String },
    /// The `.p8` key could not be read.
    #[error("cannot read the APNS key {path}: {source} (put the .p8 key from Apple there, or set keyPath in {config})")]
    KeyRead {
        path: PathBuf,
        config: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key file is not a PKCS#8 PEM EC P-256 private key.
    #[error("{path} is not an APNS auth key (a PKCS#8 PEM P-256 private key, as Apple's AuthKey_<keyId>.p8): {detail}")]
    BadKey { path: PathBuf, detail: String },
    /// The base URL override is not an http(s) URL.
    #[error("bad APNS base URL {url:?}: {detail}")]
    BadBaseUrl { url: String, detail: String },
    /// The HTTP client could not be built.
    #[error("cannot set up the APNS HTTP/2 client: {0}")]
    Http(String),
}
