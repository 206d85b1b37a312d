//! Platform services: things tron drives on the machine it runs on, outside the agent and
//! the event log.
//!
//! [`worktree`] (a git worktree per session, so that parallel sessions never trample each
//! other's files) and [`browser`] (a headless Chromium driven over the DevTools Protocol).
//! Push notifications, transcription and canvas export come here too. Must not: speak the wire (rpc/ shapes results) or print
//! (cmd/ does).

pub mod browser;
pub mod worktree;
