//! Memory payloads: `memory.ledger` (structured summary of a response cycle, written by a
//! background summarizer) and `memory.loaded` (workspace memory injected at session start).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Written by the background ledger writer after a response cycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryLedgerPayload {
    /// Events the entry covers.
    pub event_range: LedgerEventRange,
    /// Turns the entry covers.
    pub turn_range: LedgerTurnRange,
    /// Short title.
    pub title: String,
    /// `feature`, `bugfix`, `refactor`, `docs`, `config`, `research` or `conversation`.
    pub entry_type: String,
    /// `completed`, `partial` or `in_progress`.
    pub status: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Summary of the user's request.
    pub input: String,
    /// Actions taken.
    pub actions: Vec<String>,
    /// Files touched.
    pub files: Vec<LedgerFile>,
    /// Decisions and their reasons.
    pub decisions: Vec<LedgerDecision>,
    /// Lessons for later.
    pub lessons: Vec<String>,
    /// Insights from thinking blocks.
    pub thinking_insights: Vec<String>,
    /// Token cost of the cycle.
    pub token_cost: LedgerTokenCost,
    /// Model used.
    pub model: String,
    /// Working directory at the time.
    pub working_directory: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `eventRange` of a ledger entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEventRange {
    /// First event covered.
    pub first_event_id: String,
    /// Last event covered.
    pub last_event_id: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `turnRange` of a ledger entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerTurnRange {
    /// First turn covered.
    pub first_turn: i64,
    /// Last turn covered.
    pub last_turn: i64,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One file of a ledger entry (`op`: `C`reated, `M`odified or `D`eleted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerFile {
    /// File path.
    pub path: String,
    /// `C`, `M` or `D`.
    pub op: String,
    /// Why it was touched.
    pub why: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One decision of a ledger entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerDecision {
    /// What was chosen.
    pub choice: String,
    /// Why.
    pub reason: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `tokenCost` of a ledger entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerTokenCost {
    /// Input tokens.
    pub input: i64,
    /// Output tokens.
    pub output: i64,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written after `session.start`/`rules.loaded` when workspace memory was auto-injected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryLoadedPayload {
    /// Ledger entries injected.
    pub count: i64,
    /// Estimated tokens of the injected text.
    pub tokens: i64,
    /// Workspace id (the TypeScript server writes an empty string).
    pub workspace_id: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
