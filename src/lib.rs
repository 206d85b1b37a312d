//! tron: a coding-agent server and CLI.
//!
//! The library holds everything; the `tron` binary (cmd/) only parses flags, calls into
//! these modules and prints. See `DESIGN.md`-style module docs at the top of each `mod.rs`.

/// mimalloc instead of the system allocator: the server and the reconstruction of long
/// sessions make many small, short-lived allocations, where it is markedly faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod agent;
pub mod auth;
pub mod context;
pub mod core;
pub mod embed;
pub mod events;
pub mod llm;
pub mod logging;
pub mod platform;
pub mod replay;
pub mod rpc;
pub mod server;
pub mod settings;
pub mod testing;
pub mod tools;
