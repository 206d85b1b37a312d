//! Platform services: things tron drives on the machine it runs on, outside the agent and
//! the event log.
//!
//! [`worktree`] (a git worktree per session, so that parallel sessions never trample each
//! other's files), [`browser`] (a headless Chromium driven over the DevTools Protocol),
//! [`canvas`] (the canvases `RenderAppUI` renders, and their JSON, Markdown and PDF export),
//! [`apns`] (push notifications to the iOS app) and [`transcribe`] (the audio transcription
//! sidecar and voice notes). Must not: speak the wire (rpc/ shapes results) or print (cmd/
//! does).

pub mod apns;
pub mod browser;
pub mod canvas;
pub mod transcribe;
pub mod worktree;
