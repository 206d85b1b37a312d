//! Core types shared by every other module: branded ids, messages, content blocks, tool
//! calls and results, errors, JSON-RPC error codes, stream events and retry/backoff.
//!
//! Owns: the canonical in-memory model and its JSON shape, which is exactly the TypeScript
//! server's JSON. Must not: touch the database, the network, the filesystem or the wire
//! adapters (iOS-specific shapes live in rpc/adapters).

pub mod wire;

pub mod content;
pub mod errors;
pub mod ids;
pub mod messages;
pub mod retry;
pub mod stream;
pub mod tools;

pub use content::{
    ArgumentsKey, ContentBlock, DocumentBlock, ImageBlock, ImageForm, MessageContent, TextBlock,
    ThinkingBlock, ToolResultBlock, ToolResultStyle, ToolUseBlock,
};
pub use errors::{ErrorCategory, RpcError, RpcErrorCode, TronError};
pub use ids::{EventId, SessionId, WorkspaceId};
pub use messages::{
    AssistantMessage, Cost, Message, ProviderType, StopReason, TokenUsage, ToolResultMessage, UserMessage,
};
pub use retry::{retry, retry_with, Backoff, Jitter, RetryDecision, RetryPolicy, Retryable};
pub use stream::{RetryErrorInfo, StreamError, StreamEvent};
pub use tools::{ToolCall, ToolDefinition, ToolResult};
pub use wire::JsonObject;
