//! Platform services: things tron drives on the machine it runs on, outside the agent and
//! the event log.
//!
//! [`worktree`] (a git worktree per session, so that parallel sessions never trample each
//! other's files) and [`transcribe`] (the audio transcription sidecar and voice notes).
//! Browser automation, push notifications and canvas export come here too. Must not: speak
//! the wire (rpc/ shapes results) or print (cmd/ does).

pub mod transcribe;
pub mod worktree;
