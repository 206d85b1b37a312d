//! Talking to language models: providers (Anthropic, OpenAI, OpenAI Codex, Google Gemini),
//! decoding their server-sent-event streams into [`crate::core::StreamEvent`]s, the model
//! registry, and token usage and cost.
//!
//! Owns: what a model is (id, provider, limits, capabilities, prices), how a provider's
//! request and response map onto the core message types, and what a response cost.
//! Must not: touch the database (callers persist what this module returns) or the
//! WebSocket wire (rpc/ shapes what the app sees). It holds no session state either: a
//! session's running cost is a value the caller keeps ([`SessionCost`]).
//!
//! - [`models`]: the model registry ([`lookup`], [`all`]) and cost ([`cost`], [`SessionCost`]).
//! - [`sse`]: server-sent events over HTTP; [`request`]: sending a request and streaming its
//!   answer with retries, shared by the providers.

pub mod anthropic;
pub mod google;
pub mod models;
pub mod openai;
pub mod provider;
pub mod request;
pub mod sse;

pub use models::{all, cost, lookup, ModelInfo, PriceTier, Pricing, ProviderKind, SessionCost, UnknownModel};
pub use provider::{EventStream, LlmError, Provider, Request};
