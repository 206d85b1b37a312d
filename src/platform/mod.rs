//! Platform services: things tron drives on the machine it runs on, outside the agent and
//! the event log.
//!
//! [`worktree`] (a git worktree per session, so that parallel sessions never trample each
//! other's files) and [`canvas`] (the canvases `RenderAppUI` renders, and their JSON,
//! Markdown and PDF export). Browser automation, push notifications and transcription come
//! here later. Must not: speak the wire (rpc/ shapes results) or print
//! (cmd/ does).

pub mod canvas;
pub mod worktree;
