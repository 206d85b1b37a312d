//! Local text embeddings for memory search.
//!
//! Owns: finding the ONNX Runtime library and the model files ([`locate`]), running the
//! model (ONNX Runtime through `ort`, loaded at run time) and the tokenizer ([`model`]), the
//! pure vector math: pooling, Matryoshka truncation, L2 normalisation ([`pool`]), the text
//! embedded for a `memory.ledger` entry ([`text`]), and the `memory_vectors` table with its
//! nearest-neighbour search ([`store`]) plus the batch backfill of memory entries ([`index`]).
//!
//! Must not: download anything behind the user's back (the runtime and the model are files
//! the user installed, or fetched on request with `tron embed fetch` ([`fetch`]); a missing
//! one is an error that names what to install), invent a vector when the model cannot run,
//! or write any table but its own vector table.
//!
//! Cargo features: `embed` (ort + tokenizers) and `vector-search` (sqlite-vec), both on by
//! default. Without them the pure parts still build and [`EmbedError::NotBuilt`] says which
//! feature is missing.
//!
//! Facts from the TypeScript server: model `onnx-community/Qwen3-Embedding-0.6B-ONNX`, dtype
//! `q4`, cached under `~/.tron/mods/models` (settings `context.memory.embedding.*`);
//! last-token pooling, L2 normalisation, then truncation to 512 dimensions and normalisation
//! again; vectors in the sqlite-vec table `memory_vectors(event_id TEXT PRIMARY KEY,
//! workspace_id TEXT NOT NULL, embedding float[512])`.

mod error;
pub mod fetch;
pub mod locate;
pub mod pool;
pub mod text;

#[cfg(feature = "embed")]
pub mod model;

#[cfg(feature = "vector-search")]
pub mod store;

#[cfg(all(feature = "embed", feature = "vector-search"))]
pub mod index;

#[cfg(all(feature = "embed", feature = "vector-search"))]
pub mod live;

pub use error::{EmbedError, Result};
pub use locate::{ModelFiles, ModelSpec};
pub use pool::Pooling;
pub use text::build_embedding_text;

#[cfg(feature = "embed")]
pub use model::Embedder;

/// Whether this binary can run embedding models (the `embed` cargo feature).
pub const CAN_EMBED: bool = cfg!(feature = "embed");

/// Whether this binary can store and search vectors (the `vector-search` cargo feature).
pub const CAN_SEARCH: bool = cfg!(feature = "vector-search");
