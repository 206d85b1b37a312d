//! The SQLite event log: every persisted session event, the sessions and workspaces they
//! belong to, content-addressed blobs and full-text search.
//!
//! Owns: the database file (opening it with the TypeScript server's pragmas, migrations),
//! the event model (`types`), appending (ids, sequence, parent chain), reading, fork,
//! rewind, search, message reconstruction and export/import. Must not: talk to the network,
//! know about the wire (rpc/) or run the agent. [`EventStore`] is synchronous; async callers
//! use [`StoreHandle`], which owns the store on a dedicated thread (the single writer).
//!
//! The schema is the TypeScript server's (see `migrations/`), so a database it wrote opens
//! here unchanged and keeps working there after tron wrote to it. Where tron deliberately
//! differs from the TypeScript store, the item that differs says so.

pub mod blobs;
mod chain;
pub mod db;
pub mod devices;
pub mod error;
pub mod migrate;
pub mod reconstruct;
mod rows;
pub mod search;
pub mod sessions;
pub mod store;
pub mod tasks;
pub mod transfer;
pub mod tree;
pub mod types;
pub mod writer;

pub use db::OpenMode;
pub use error::{Result, StoreError};
pub use reconstruct::{Reconstructed, TokenTotals};
pub use search::{SearchHit, SearchOptions};
pub use sessions::{ListOptions, SessionRow, Workspace};
pub use store::{EventStore, ForkResult, NewEvent, NewSession};
pub use tree::{Branch, Branches, TreeNode, TreeVisualization};
pub use types::{EventPayload, EventType, SessionEvent};
pub use writer::StoreHandle;

/// The current time as the TypeScript server writes it: UTC ISO 8601 with milliseconds
/// (`2026-01-02T03:04:05.678Z`).
pub fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
