//! One file per method family. Handlers take the shared state and the request's params and
//! answer a JSON result or an [`RpcError`](crate::core::errors::RpcError); the wire shapes
//! of their results are built here or in [`super::adapters`].

pub mod agent;
pub mod browser;
pub mod canvas;
pub mod communication;
pub mod context;
pub mod device;
pub mod events;
pub mod filesystem;
pub mod memory;
pub mod model;
pub mod plan;
pub mod session;
pub mod settings;
pub mod skill;
pub mod system;
pub mod task;
pub mod tool;
pub mod transcribe;
pub mod tree;
pub mod worktree;

use crate::core::errors::RpcError;
use crate::core::TronError;
use crate::events::StoreError;

/// A store error as the wire error (unknown sessions are `SESSION_NOT_FOUND`, ...).
pub(crate) fn store_error(e: StoreError) -> RpcError {
    TronError::from(e).to_rpc_error()
}
