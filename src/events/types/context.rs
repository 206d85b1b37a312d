//! Context-source payloads: `skill.added`, `skill.removed`, `rules.loaded`,
//! `rules.indexed`, `metadata.update`, `metadata.tag`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::present;

/// Written when a skill is added to the session context (`@mention` or explicit pick).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillAddedPayload {
    /// Skill name.
    pub skill_name: String,
    /// `global` or `project`.
    pub source: String,
    /// `mention` or `explicit`.
    pub added_via: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a skill is removed from the session context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillRemovedPayload {
    /// Skill name.
    pub skill_name: String,
    /// `manual`, `clear` or `compact`.
    pub removed_via: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written right after `session.start` when rules files (AGENTS.md, CLAUDE.md, ...) were
/// found for the working directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesLoadedPayload {
    /// The loaded files.
    pub files: Vec<RulesFileInfo>,
    /// Number of files.
    pub total_files: i64,
    /// Estimated tokens of the merged rules text.
    pub merged_tokens: i64,
    /// Number of additional dynamic (subfolder) rules discovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_rules_count: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One file in `rules.loaded`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesFileInfo {
    /// Absolute path.
    pub path: String,
    /// Path relative to the working directory (absolute when outside it).
    pub relative_path: String,
    /// `global`, `project` or `directory`.
    pub level: String,
    /// Depth from the project root (0 = root, -1 = global).
    pub depth: i64,
    /// File size in bytes.
    pub size_bytes: i64,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written at session start after scoped rules files were discovered and indexed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesIndexedPayload {
    /// All rules files.
    pub total_rules: i64,
    /// Global ones.
    pub global_rules: i64,
    /// Directory-scoped ones.
    pub scoped_rules: i64,
    /// The files.
    pub files: Vec<RulesIndexedFile>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One file in `rules.indexed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesIndexedFile {
    /// Path relative to the working directory.
    pub relative_path: String,
    /// Whether it applies everywhere.
    pub is_global: bool,
    /// Directory it is scoped to.
    pub scope_dir: String,
    /// File size in bytes.
    pub size_bytes: i64,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a session metadata key changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataUpdatePayload {
    /// The metadata key.
    pub key: String,
    /// Previous value (any JSON; an explicit `null` is kept).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub previous_value: Option<Value>,
    /// New value (any JSON).
    pub new_value: Value,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a session tag is added or removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataTagPayload {
    /// `add` or `remove`.
    pub action: String,
    /// The tag.
    pub tag: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
