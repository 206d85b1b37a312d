//! The typed model of persisted session events: the event envelope ([`SessionEvent`]), the
//! type discriminator ([`EventType`]) and one payload struct per event type, gathered in
//! the typed view [`EventPayload`]. The JSON is exactly what the TypeScript server writes
//! into the `events.payload` column (camelCase keys, optional keys omitted).
//!
//! Owns: the event type strings, the envelope's field names and order, and every payload's
//! field names, optionality and JSON types. Must not: touch the database, the network or
//! the wire; depend on `crate::core` beyond ids (content blocks stay raw JSON here); drop or
//! rewrite anything it reads. [`SessionEvent::payload`] keeps the stored JSON verbatim,
//! every payload struct keeps unknown keys in `extra`, and an unknown event type is kept
//! as [`EventType::Unknown`] / [`EventPayload::Unknown`].
//!
//! Files: `session` (session.*), `message` (message.*), `tool` (tool.*), `stream`
//! (stream.*), `config` (config.*), `compact` (compact.*, context.cleared), `notification`
//! (notification.*), `context` (skill.*, rules.*, metadata.*), `workspace` (file.*,
//! worktree.*), `error` (error.*, turn.failed), `subagent` (subagent.*), `task`
//! (todo.write, task.*, project.*, area.*), `hook` (hook.*), `memory` (memory.*), `plan`
//! (plan.*), `common` (token usage, timestamp), `macros` (the table machinery),
//! `event_type` (string/serde impls of [`EventType`]).

use serde::{Deserialize, Serialize};

use crate::core::{EventId, SessionId, WorkspaceId};

#[macro_use]
mod macros;

mod common;
mod compact;
mod config;
mod context;
mod error;
mod event_type;
mod hook;
mod memory;
mod message;
mod notification;
mod plan;
mod session;
mod stream;
mod subagent;
mod task;
mod tool;
mod workspace;

#[cfg(test)]
mod tests;

pub use common::{now_timestamp, TokenUsage};
pub use compact::{CompactBoundaryPayload, CompactRange, CompactSummaryPayload, ContextClearedPayload};
pub use config::{ConfigModelSwitchPayload, ConfigPromptUpdatePayload, ConfigReasoningLevelPayload};
pub use context::{
    MetadataTagPayload, MetadataUpdatePayload, RulesFileInfo, RulesIndexedFile, RulesIndexedPayload,
    RulesLoadedPayload, SkillAddedPayload, SkillRemovedPayload,
};
pub use error::{ErrorAgentPayload, ErrorProviderPayload, ErrorToolPayload, TurnFailedPayload};
pub use hook::{
    HookBackgroundCompletedPayload, HookBackgroundStartedPayload, HookCompletedPayload, HookTriggeredPayload,
};
pub use memory::{
    LedgerDecision, LedgerEventRange, LedgerFile, LedgerTokenCost, LedgerTurnRange, MemoryLedgerPayload,
    MemoryLoadedPayload,
};
pub use message::{
    MessageAssistantPayload, MessageDeletedPayload, MessageSystemPayload, MessageUserPayload, SkillRef,
};
pub use notification::{NotificationInterruptedPayload, NotificationSubagentResultPayload};
pub use plan::{PlanCreatedPayload, PlanModeEnteredPayload, PlanModeExitedPayload};
pub use session::{ForkedFrom, SessionEndPayload, SessionForkPayload, SessionStartPayload};
pub use stream::{
    StreamTextDeltaPayload, StreamThinkingDeltaPayload, StreamTurnEndPayload, StreamTurnStartPayload,
};
pub use subagent::{
    SubagentCompletedPayload, SubagentFailedPayload, SubagentSpawnedPayload, SubagentStatusUpdatePayload,
};
pub use task::{
    AreaCreatedPayload, AreaDeletedPayload, AreaUpdatedPayload, ProjectCreatedPayload, ProjectDeletedPayload,
    ProjectUpdatedPayload, TaskCreatedPayload, TaskDeletedPayload, TaskUpdatedPayload, TodoItem,
    TodoWritePayload,
};
pub use tool::{ToolCallPayload, ToolResultPayload};
pub use workspace::{
    FileEditPayload, FileReadPayload, FileWritePayload, LineRange, WorktreeAcquiredPayload,
    WorktreeCommitPayload, WorktreeForkedFrom, WorktreeMergedPayload, WorktreeReleasedPayload,
};

// The table: variant => type string => payload struct, in the TypeScript union's order.
// The 44 types of `types/base.ts` @ 0b37067, plus the later additions of `base.ts` @ 66d8632
// (rules.indexed, task.*, project.updated, memory.loaded), `task.ts` @ 723bb39
// (project.created/deleted, area.*) and `plan.ts` (plan.*).
event_table! {
    SessionStart => "session.start" => SessionStartPayload,
    SessionEnd => "session.end" => SessionEndPayload,
    SessionFork => "session.fork" => SessionForkPayload,
    MessageUser => "message.user" => MessageUserPayload,
    MessageAssistant => "message.assistant" => MessageAssistantPayload,
    MessageSystem => "message.system" => MessageSystemPayload,
    ToolCall => "tool.call" => ToolCallPayload,
    ToolResult => "tool.result" => ToolResultPayload,
    StreamTextDelta => "stream.text_delta" => StreamTextDeltaPayload,
    StreamThinkingDelta => "stream.thinking_delta" => StreamThinkingDeltaPayload,
    StreamTurnStart => "stream.turn_start" => StreamTurnStartPayload,
    StreamTurnEnd => "stream.turn_end" => StreamTurnEndPayload,
    ConfigModelSwitch => "config.model_switch" => ConfigModelSwitchPayload,
    ConfigPromptUpdate => "config.prompt_update" => ConfigPromptUpdatePayload,
    ConfigReasoningLevel => "config.reasoning_level" => ConfigReasoningLevelPayload,
    MessageDeleted => "message.deleted" => MessageDeletedPayload,
    NotificationInterrupted => "notification.interrupted" => NotificationInterruptedPayload,
    NotificationSubagentResult => "notification.subagent_result" => NotificationSubagentResultPayload,
    CompactBoundary => "compact.boundary" => CompactBoundaryPayload,
    CompactSummary => "compact.summary" => CompactSummaryPayload,
    ContextCleared => "context.cleared" => ContextClearedPayload,
    SkillAdded => "skill.added" => SkillAddedPayload,
    SkillRemoved => "skill.removed" => SkillRemovedPayload,
    RulesLoaded => "rules.loaded" => RulesLoadedPayload,
    RulesIndexed => "rules.indexed" => RulesIndexedPayload,
    MetadataUpdate => "metadata.update" => MetadataUpdatePayload,
    MetadataTag => "metadata.tag" => MetadataTagPayload,
    FileRead => "file.read" => FileReadPayload,
    FileWrite => "file.write" => FileWritePayload,
    FileEdit => "file.edit" => FileEditPayload,
    WorktreeAcquired => "worktree.acquired" => WorktreeAcquiredPayload,
    WorktreeCommit => "worktree.commit" => WorktreeCommitPayload,
    WorktreeReleased => "worktree.released" => WorktreeReleasedPayload,
    WorktreeMerged => "worktree.merged" => WorktreeMergedPayload,
    ErrorAgent => "error.agent" => ErrorAgentPayload,
    ErrorTool => "error.tool" => ErrorToolPayload,
    ErrorProvider => "error.provider" => ErrorProviderPayload,
    SubagentSpawned => "subagent.spawned" => SubagentSpawnedPayload,
    SubagentStatusUpdate => "subagent.status_update" => SubagentStatusUpdatePayload,
    SubagentCompleted => "subagent.completed" => SubagentCompletedPayload,
    SubagentFailed => "subagent.failed" => SubagentFailedPayload,
    TodoWrite => "todo.write" => TodoWritePayload,
    TaskCreated => "task.created" => TaskCreatedPayload,
    TaskUpdated => "task.updated" => TaskUpdatedPayload,
    TaskDeleted => "task.deleted" => TaskDeletedPayload,
    ProjectCreated => "project.created" => ProjectCreatedPayload,
    ProjectUpdated => "project.updated" => ProjectUpdatedPayload,
    ProjectDeleted => "project.deleted" => ProjectDeletedPayload,
    AreaCreated => "area.created" => AreaCreatedPayload,
    AreaUpdated => "area.updated" => AreaUpdatedPayload,
    AreaDeleted => "area.deleted" => AreaDeletedPayload,
    TurnFailed => "turn.failed" => TurnFailedPayload,
    HookTriggered => "hook.triggered" => HookTriggeredPayload,
    HookCompleted => "hook.completed" => HookCompletedPayload,
    HookBackgroundStarted => "hook.background_started" => HookBackgroundStartedPayload,
    HookBackgroundCompleted => "hook.background_completed" => HookBackgroundCompletedPayload,
    MemoryLedger => "memory.ledger" => MemoryLedgerPayload,
    MemoryLoaded => "memory.loaded" => MemoryLoadedPayload,
    PlanModeEntered => "plan.mode_entered" => PlanModeEnteredPayload,
    PlanModeExited => "plan.mode_exited" => PlanModeExitedPayload,
    PlanCreated => "plan.created" => PlanCreatedPayload,
}

/// Serializes a payload struct to its JSON. These structs only have string keys, so this
/// cannot fail; `Null` is returned rather than panicking if it ever did.
pub(crate) fn payload_json<T: Serialize>(payload: &T) -> serde_json::Value {
    serde_json::to_value(payload).unwrap_or(serde_json::Value::Null)
}

/// One persisted event: the base fields of the TypeScript `BaseEvent`, in its order, plus
/// the payload kept verbatim. This is the JSON of an event on the wire (`event.new`,
/// `events.getHistory`) and in exports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvent {
    /// Event id (UUID v7 in ids tron creates; other shapes are accepted as read).
    pub id: EventId,
    /// Parent event; `null` only at a session's root. Always serialized.
    pub parent_id: Option<EventId>,
    /// Session the event belongs to.
    pub session_id: SessionId,
    /// Workspace the session belongs to.
    pub workspace_id: WorkspaceId,
    /// ISO 8601 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`
    /// (see [`now_timestamp`]).
    pub timestamp: String,
    /// Event type discriminator.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Position in the session, monotonic (the root is 0).
    pub sequence: i64,
    /// Integrity hash of (parentId + payload), when the writer computed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The payload JSON exactly as stored; never dropped or rewritten.
    pub payload: serde_json::Value,
}

impl SessionEvent {
    /// The typed view of this event's payload. Errors only when a known type's payload
    /// does not have that type's shape; unknown types give [`EventPayload::Unknown`].
    pub fn typed(&self) -> Result<EventPayload, serde_json::Error> {
        EventPayload::from_parts(&self.event_type, self.payload.clone())
    }
}
