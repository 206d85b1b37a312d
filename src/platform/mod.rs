//! Platform services: things tron drives on the machine it runs on, outside the agent and
//! the event log.
//!
//! [`worktree`] (a git worktree per session, so that parallel sessions never trample each
//! other's files) and [`apns`] (push notifications to the iOS app). Browser automation,
//! transcription and canvas export come here later. Must not: speak the wire (rpc/ shapes
//! results) or print (cmd/ does).

pub mod apns;
pub mod worktree;
