//! Recording, replaying and comparing WebSocket sessions (`tron replay`).
//!
//! Owns: the recording format (`recordings/NAME.jsonl`: a header line, then one line per
//! frame sent or received), the normalisation rules that decide which differences are not
//! real (ids, times, durations, key order, interleaving across sessions), the differ that renders what
//! is left as a unified diff, and the replayer that plays a recording's client frames
//! against a server (tron's own, in process, on the mock LLM; or any running server) and
//! collects what it answers. The recorder proxy and the shadow mirror live in `proxy`.
//!
//! Must not: shape wire payloads or interpret methods (that is rpc/), reach a real model
//! provider (an in-process replay only ever talks to [`crate::testing::MockLlm`]), or
//! change the recording format without bumping [`format::FORMAT_VERSION`].
//!
//! - [`format`]: [`Recording`], [`Header`], [`Line`]; parse, write back, load, discover.
//! - [`normalize`]: the rules, in one place, each with a unit test.
//! - [`diff`]: [`diff::compare`] expected against actual frames -> ok or a unified diff, with
//!   the paths that differ.
//! - [`run`]: [`run::replay`] one recording and [`run::check`] it; `--update` support.
//! - [`proxy`]: the recorder proxy ([`proxy::record`]) and the shadow mirror ([`proxy::shadow`]).

pub mod diff;
pub mod format;
pub mod normalize;
pub mod proxy;
pub mod run;

pub use diff::{compare, compare_frames, Comparison};
pub use format::{Dir, Header, Line, Recording};
pub use normalize::{received, Received};
pub use run::{check, replay, Checked, ReplayOptions, Transcript};

use std::path::PathBuf;

/// Why a recording could not be loaded, replayed, recorded or mirrored.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A line of a recording is not valid (`path:line: message`).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The recording.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Any other I/O failure (sockets, temp dirs).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The server could not be reached or the WebSocket failed.
    #[error("websocket {url}: {message}")]
    WebSocket {
        /// The server's URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// tron's own server could not be started for an in-process replay.
    #[error("cannot start the server: {0}")]
    Server(String),
    /// The recorder proxy or the shadow mirror failed (used by `proxy`).
    #[error("{0}")]
    Proxy(String),
    /// `--update` was asked of a replay that did not complete.
    #[error(
        "not updated: the replay did not complete ({0}); fix the cause or raise --timeout, then update again"
    )]
    Incomplete(String),
}
