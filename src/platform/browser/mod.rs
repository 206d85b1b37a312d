//! A real headless Chromium driven over the Chrome DevTools Protocol (CDP), for the
//! `BrowseTheWeb` tool and the `browser.*` RPC methods.
//!
//! Owns: finding the browser binary ([`launch::locate`]), launching it headless in a fresh
//! profile (or attaching to a running one by its DevTools WebSocket URL), the CDP connection
//! ([`cdp`]), tabs, navigation and load waits, DOM queries, clicks and typing, page text,
//! PNG screenshots, screencast frames ([`Browser`]), one browser per tron session
//! ([`BrowserService`]) and the `BrowseTheWeb` actions ([`actions`]). A browser that crashed
//! is relaunched on the next call; every launched browser's process group is killed and
//! reaped when it closes, restarts or is dropped (never a zombie, never a stray renderer).
//!
//! Must not: speak the wire (rpc/ turns [`BrowserFrame`]s into `browser.frame` events),
//! format tool results (tools/browser.rs does), or print.

pub mod actions;
pub mod cdp;
mod dom;
pub mod launch;
mod page;
mod service;
mod tab;

use std::path::PathBuf;

pub use page::{Browser, ScreencastFrame, ScreencastOptions, TabInfo};
pub use service::{
    ActionResult, BrowserEvent, BrowserFrame, BrowserService, BrowserStatus, FrameMetadata, FrameSink,
};

/// The viewport every page gets (the TypeScript server's 1280x800).
pub const VIEWPORT: (u32, u32) = (1280, 800);

/// How a browser is started.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// The browser binary; found by [`launch::locate`] when `None`.
    pub executable: Option<PathBuf>,
    /// Attach to this DevTools WebSocket URL (`ws://HOST:PORT/devtools/browser/ID`) instead
    /// of launching a browser.
    pub attach: Option<String>,
    /// Longest wait for one CDP command, and for a page load.
    pub timeout: std::time::Duration,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        Self { executable: None, attach: None, timeout: std::time::Duration::from_secs(30) }
    }
}

impl BrowserConfig {
    /// The configuration the environment asks for: `TRON_BROWSER` (else `CHROME_PATH`) names
    /// the binary, `TRON_BROWSER_WS` a running browser to attach to.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let var = |n: &str| env(n).filter(|v| !v.trim().is_empty());
        Self {
            executable: var("TRON_BROWSER").or_else(|| var("CHROME_PATH")).map(PathBuf::from),
            attach: var("TRON_BROWSER_WS"),
            ..Self::default()
        }
    }
}

/// Why a browser operation failed; each message says what to do or what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No browser binary was found.
    #[error(
        "no Chromium browser found (looked for {looked}); install the Debian package `chromium` \
         (apt-get install chromium) or set TRON_BROWSER to the browser's path"
    )]
    NotFound {
        /// Where it looked.
        looked: String,
    },
    /// The browser could not be started.
    #[error("could not start the browser {path}: {reason}")]
    Launch {
        /// The binary.
        path: String,
        /// What went wrong (with the end of its log when it exited).
        reason: String,
    },
    /// The DevTools connection failed or closed.
    #[error("browser connection failed: {0}")]
    Connection(String),
    /// A CDP command answered an error.
    #[error("browser command {method} failed: {message}")]
    Protocol {
        /// The CDP method.
        method: String,
        /// The browser's message.
        message: String,
    },
    /// Something took longer than allowed.
    #[error("{0} timed out after {1} ms")]
    Timeout(String, u128),
    /// A navigation failed (bad URL, refused connection, ...).
    #[error("navigation to {url} failed: {reason}")]
    Navigation {
        /// The URL.
        url: String,
        /// Chromium's error text (e.g. `net::ERR_CONNECTION_REFUSED`).
        reason: String,
    },
    /// No element matches a selector.
    #[error("no element matches the selector {0}")]
    NoElement(String),
    /// A bad argument (unknown tab, invalid selector, unknown key, ...).
    #[error("{0}")]
    Invalid(String),
    /// The page's script threw.
    #[error("page script failed: {0}")]
    Script(String),
}

/// Results of browser operations.
pub type Result<T, E = BrowserError> = std::result::Result<T, E>;
