//! Errors: the library-wide [`TronError`], the wire error codes ([`RpcErrorCode`]), the
//! wire error object ([`RpcError`]) and the provider error categories ([`ErrorCategory`]).
//!
//! On the wire an error is `{"code": "<STRING>", "message": "...", "details"?: any}`; codes
//! are strings, never numbers. A code this version does not know is kept as written.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::ids::SessionId;
use super::wire::{wire_enum, wire_enum_deserialize};

wire_enum! {
    /// A wire error code (the `error.code` string of a failed response or `system.error`).
    pub enum RpcErrorCode {
        /// A frame was not valid JSON (`system.error`; JSON-RPC -32700).
        ParseError => "PARSE_ERROR",
        /// Valid JSON but not a request: `id` and `method` must be strings (JSON-RPC -32600).
        InvalidFormat => "INVALID_FORMAT",
        /// No handler for the method (JSON-RPC -32601).
        MethodNotFound => "METHOD_NOT_FOUND",
        /// A required parameter is missing or invalid (JSON-RPC -32602).
        InvalidParams => "INVALID_PARAMS",
        /// A component the method needs is not running.
        NotAvailable => "NOT_AVAILABLE",
        /// Unexpected failure (JSON-RPC -32603).
        InternalError => "INTERNAL_ERROR",
        /// Something other than a session was not found.
        NotFound => "NOT_FOUND",
        /// The operation is not allowed in the current state.
        InvalidOperation => "INVALID_OPERATION",
        /// Missing or bad credentials.
        Unauthorized => "UNAUTHORIZED",
        /// No session with that id.
        SessionNotFound => "SESSION_NOT_FOUND",
        /// The session exists but is not loaded/active.
        SessionNotActive => "SESSION_NOT_ACTIVE",
        /// The session is already running a prompt.
        SessionBusy => "SESSION_BUSY",
        /// The session has ended.
        SessionEnded => "SESSION_ENDED",
        /// Too many concurrent sessions.
        MaxSessionsReached => "MAX_SESSIONS_REACHED",
        /// No agent run is in progress.
        AgentNotRunning => "AGENT_NOT_RUNNING",
        /// An agent run is already in progress.
        AgentAlreadyRunning => "AGENT_ALREADY_RUNNING",
        /// The agent run was aborted.
        AgentAborted => "AGENT_ABORTED",
        /// No tool with that name.
        ToolNotFound => "TOOL_NOT_FOUND",
        /// A tool failed.
        ToolExecutionFailed => "TOOL_EXECUTION_FAILED",
        /// A tool timed out.
        ToolTimeout => "TOOL_TIMEOUT",
        /// A pending tool call could not be resolved (`tool.result`).
        ToolResultFailed => "TOOL_RESULT_FAILED",
        /// The model provider failed.
        ProviderError => "PROVIDER_ERROR",
        /// The model provider rate-limited the request.
        RateLimited => "RATE_LIMITED",
        /// The conversation no longer fits the model's context window.
        ContextLengthExceeded => "CONTEXT_LENGTH_EXCEEDED",
        /// A network connection failed.
        ConnectionFailed => "CONNECTION_FAILED",
        /// An operation timed out.
        Timeout => "TIMEOUT",
        /// No file at that path.
        FileNotFound => "FILE_NOT_FOUND",
        /// A file operation failed.
        FileError => "FILE_ERROR",
        /// A filesystem operation failed.
        FilesystemError => "FILESYSTEM_ERROR",
        /// The target already exists.
        AlreadyExists => "ALREADY_EXISTS",
        /// The path is not acceptable.
        InvalidPath => "INVALID_PATH",
        /// Not permitted.
        PermissionDenied => "PERMISSION_DENIED",
        /// Browser automation failed.
        BrowserError => "BROWSER_ERROR",
        /// A skill operation failed.
        SkillError => "SKILL_ERROR",
        /// A canvas operation failed.
        CanvasError => "CANVAS_ERROR",
        /// Transcription failed.
        TranscriptionError => "TRANSCRIPTION_ERROR",
        /// A voice-note operation failed.
        VoiceNoteError => "VOICE_NOTE_ERROR",
        /// A message operation failed.
        MessageError => "MESSAGE_ERROR",
        /// A git operation failed.
        GitError => "GIT_ERROR",
        /// Device registration failed.
        RegistrationError => "REGISTRATION_ERROR",
        /// Generic handler error (the TypeScript `RpcHandlerError` default).
        RpcError => "RPC_ERROR",
        @unknown
        /// Any other code (handlers may pass through e.g. Node's `ENOENT`), kept as written.
        Unknown
    }
}

impl RpcErrorCode {
    /// The standard JSON-RPC 2.0 number for the codes that have one.
    pub fn json_rpc_code(&self) -> Option<i32> {
        match self {
            Self::ParseError => Some(-32700),
            Self::InvalidFormat => Some(-32600),
            Self::MethodNotFound => Some(-32601),
            Self::InvalidParams => Some(-32602),
            Self::InternalError => Some(-32603),
            _ => None,
        }
    }

    /// The string code for a JSON-RPC 2.0 number; other numbers are kept (as their decimal
    /// string) in [`RpcErrorCode::Unknown`].
    pub fn from_json_rpc_code(code: i64) -> Self {
        match code {
            -32700 => Self::ParseError,
            -32600 => Self::InvalidFormat,
            -32601 => Self::MethodNotFound,
            -32602 => Self::InvalidParams,
            -32603 => Self::InternalError,
            other => Self::Unknown(other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for RpcErrorCode {
    /// Reads the string code; a number is mapped with [`RpcErrorCode::from_json_rpc_code`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(Self::from(s)),
            Value::Number(n) if n.is_i64() => Ok(Self::from_json_rpc_code(n.as_i64().unwrap_or_default())),
            other => Err(serde::de::Error::custom(format!("invalid error code {other}"))),
        }
    }
}

/// The wire error object: `{"code", "message", "details"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    /// Machine-readable code.
    pub code: RpcErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Extra data; omitted from the JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: RpcErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None }
    }

    /// Attaches `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `PARSE_ERROR` for a frame that is not JSON (the TypeScript server's message).
    pub fn parse_error() -> Self {
        Self::new(RpcErrorCode::ParseError, "Failed to parse message as JSON")
    }

    /// `INVALID_FORMAT` for JSON that is not a request (the TypeScript server's message).
    pub fn invalid_format() -> Self {
        Self::new(RpcErrorCode::InvalidFormat, "Message must be a valid RPC request")
    }

    /// `METHOD_NOT_FOUND`: `Unknown method: <method>`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(RpcErrorCode::MethodNotFound, format!("Unknown method: {method}"))
    }

    /// `INVALID_PARAMS`: `<param> is required`.
    pub fn missing_param(param: &str) -> Self {
        Self::new(RpcErrorCode::InvalidParams, format!("{param} is required"))
    }

    /// `INVALID_PARAMS` with a message.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(RpcErrorCode::InvalidParams, message)
    }

    /// `NOT_AVAILABLE`: `<component> is not available`.
    pub fn not_available(component: &str) -> Self {
        Self::new(RpcErrorCode::NotAvailable, format!("{component} is not available"))
    }

    /// `SESSION_NOT_FOUND`: `Session not found: <id>`.
    pub fn session_not_found(session_id: &str) -> Self {
        Self::new(RpcErrorCode::SessionNotFound, format!("Session not found: {session_id}"))
    }

    /// `INTERNAL_ERROR` with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(RpcErrorCode::InternalError, message)
    }
}

wire_enum! {
    /// Category of a provider/API failure (the TypeScript `ErrorCategory`).
    pub enum ErrorCategory {
        /// Bad or missing credentials (401, invalid key/token).
        Authentication => "authentication",
        /// Credentials valid but not allowed (403).
        Authorization => "authorization",
        /// Rate limited (429); retryable.
        RateLimit => "rate_limit",
        /// Connection-level failure; retryable.
        Network => "network",
        /// Server-side failure (5xx, overloaded); retryable.
        Server => "server",
        /// The request itself is wrong (400).
        InvalidRequest => "invalid_request",
        /// Usage quota or credits exhausted.
        Quota => "quota",
        /// Not classified (the wire value `unknown`).
        Unknown => "unknown",
        @unknown
        /// Any other string, kept as written.
        Other
    }
}
wire_enum_deserialize!(ErrorCategory);

impl ErrorCategory {
    /// Whether failures of this category are worth retrying (rate limit, network, server).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimit | Self::Network | Self::Server)
    }

    /// The category for an HTTP status, as the TypeScript provider errors assign it.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            403 => Self::Authorization,
            429 => Self::RateLimit,
            400 => Self::InvalidRequest,
            s if s >= 500 => Self::Server,
            _ => Self::Unknown,
        }
    }
}

/// The library-wide error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TronError {
    /// A thing (`what`: "event", "workspace", "blob", ...) with this id does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// Kind of thing.
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// The thing already exists.
    #[error("{what} already exists: {id}")]
    AlreadyExists {
        /// Kind of thing.
        what: &'static str,
        /// Its id or name.
        id: String,
    },
    /// No session with this id.
    #[error("Session not found: {0}")]
    SessionNotFound(SessionId),
    /// The session exists but is not active.
    #[error("Session is not active: {0}")]
    SessionNotActive(SessionId),
    /// The session is already running a prompt; wait for it or abort it.
    #[error("Session is busy: {0}")]
    SessionBusy(SessionId),
    /// Bad input from the caller.
    #[error("{0}")]
    InvalidInput(String),
    /// A required parameter is missing.
    #[error("{0} is required")]
    MissingParam(String),
    /// Not allowed in the current state.
    #[error("{0}")]
    InvalidOperation(String),
    /// No RPC method with this name.
    #[error("Unknown method: {0}")]
    MethodNotFound(String),
    /// A component is not running/configured.
    #[error("{0} is not available")]
    NotAvailable(String),
    /// No tool with this name.
    #[error("Tool not found: {0}")]
    ToolNotFound(String),
    /// Missing or rejected credentials; log in again or fix the API key.
    #[error("{0}")]
    Unauthorized(String),
    /// Not permitted (filesystem or policy).
    #[error("{0}")]
    PermissionDenied(String),
    /// The operation was aborted by the user.
    #[error("Operation aborted")]
    Aborted,
    /// The operation timed out.
    #[error("Timed out: {0}")]
    Timeout(String),
    /// The model provider failed.
    #[error("{message}")]
    Provider {
        /// What went wrong.
        message: String,
        /// Classification (drives retrying).
        category: ErrorCategory,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// Server-requested wait before retrying (`retry-after`).
        retry_after: Option<Duration>,
    },
    /// A SQLite error.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// An I/O error on a known path.
    #[error("{}: {source}", path.display())]
    IoAt {
        /// The path being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Invalid JSON, or JSON of the wrong shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An error that already carries its wire code.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// An unexpected internal failure.
    #[error("{0}")]
    Internal(String),
}

/// Shorthand for results with [`TronError`].
pub type Result<T, E = TronError> = std::result::Result<T, E>;

impl TronError {
    /// [`TronError::NotFound`] with any displayable id.
    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound { what, id: id.to_string() }
    }

    /// [`TronError::Internal`] with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// [`TronError::InvalidInput`] with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// [`TronError::Provider`] for an HTTP failure; the category comes from the status.
    pub fn provider_http(status: u16, message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self::Provider {
            message: message.into(),
            category: ErrorCategory::from_http_status(status),
            status: Some(status),
            retry_after,
        }
    }

    /// [`TronError::IoAt`] for an error on `path`.
    pub fn io_at(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::IoAt { path: path.into(), source }
    }

    /// The wire code for this error.
    pub fn rpc_code(&self) -> RpcErrorCode {
        use std::io::ErrorKind;
        let io_code = |e: &std::io::Error| match e.kind() {
            ErrorKind::NotFound => RpcErrorCode::FileNotFound,
            ErrorKind::PermissionDenied => RpcErrorCode::PermissionDenied,
            ErrorKind::AlreadyExists => RpcErrorCode::AlreadyExists,
            _ => RpcErrorCode::InternalError,
        };
        match self {
            Self::NotFound { .. } => RpcErrorCode::NotFound,
            Self::AlreadyExists { .. } => RpcErrorCode::AlreadyExists,
            Self::SessionNotFound(_) => RpcErrorCode::SessionNotFound,
            Self::SessionNotActive(_) => RpcErrorCode::SessionNotActive,
            Self::SessionBusy(_) => RpcErrorCode::SessionBusy,
            Self::InvalidInput(_) | Self::MissingParam(_) | Self::Json(_) => RpcErrorCode::InvalidParams,
            Self::InvalidOperation(_) => RpcErrorCode::InvalidOperation,
            Self::MethodNotFound(_) => RpcErrorCode::MethodNotFound,
            Self::NotAvailable(_) => RpcErrorCode::NotAvailable,
            Self::ToolNotFound(_) => RpcErrorCode::ToolNotFound,
            Self::Unauthorized(_) => RpcErrorCode::Unauthorized,
            Self::PermissionDenied(_) => RpcErrorCode::PermissionDenied,
            Self::Aborted => RpcErrorCode::AgentAborted,
            Self::Timeout(_) => RpcErrorCode::Timeout,
            Self::Provider { category: ErrorCategory::RateLimit, .. } => RpcErrorCode::RateLimited,
            Self::Provider { category: ErrorCategory::Authentication, .. } => RpcErrorCode::Unauthorized,
            Self::Provider { .. } => RpcErrorCode::ProviderError,
            Self::Database(_) | Self::Internal(_) => RpcErrorCode::InternalError,
            Self::IoAt { source, .. } => io_code(source),
            Self::Io(e) => io_code(e),
            Self::Rpc(e) => e.code.clone(),
        }
    }

    /// The wire error object: [`TronError::rpc_code`] and the display message.
    pub fn to_rpc_error(&self) -> RpcError {
        match self {
            Self::Rpc(e) => e.clone(),
            other => RpcError::new(other.rpc_code(), other.to_string()),
        }
    }

    /// Whether retrying the same operation may succeed (transient provider, network and
    /// database-busy failures).
    pub fn is_retryable(&self) -> bool {
        use std::io::ErrorKind;
        let io_transient = |e: &std::io::Error| {
            matches!(
                e.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::TimedOut
                    | ErrorKind::Interrupted
                    | ErrorKind::WouldBlock
            )
        };
        match self {
            Self::Provider { category, .. } => category.is_retryable(),
            Self::Timeout(_) => true,
            Self::Database(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            Self::Io(e) | Self::IoAt { source: e, .. } => io_transient(e),
            _ => false,
        }
    }

    /// The server-requested wait before retrying, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Provider { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<TronError> for RpcError {
    fn from(e: TronError) -> Self {
        match e {
            TronError::Rpc(inner) => inner,
            other => other.to_rpc_error(),
        }
    }
}

#[cfg(test)]
mod tests;
