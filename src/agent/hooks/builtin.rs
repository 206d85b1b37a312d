//! The built-in hooks: in-process hooks that the engine runs beside the hook files, in one
//! priority order, reported by name in `hookNames` like any other hook.
//!
//! - `builtin:post-tool-use` (`PostToolUse`, priority 50, blocking; the TypeScript
//!   `post-tool-use.ts`): for the file tools (`write`, `edit`, `Write`, `Edit`: operation
//!   `modify`; `read`, `Read`: `read`) it answers `{action: "continue", modifications:
//!   {fileTracked, operation}}` with the path from the call's arguments (`file_path`,
//!   `filePath`, `path`, `file`, `target`), once per path in a run (at most 20 kept, as
//!   upstream). Upstream read the path from the context's `data`, which the agent always left
//!   empty, so it never tracked anything; tron reads the arguments (`toolArguments`), and the
//!   run uses the tracked paths to activate path-scoped rules before its next model call
//!   ([`crate::context::prompt::LiveSystem`]). It runs only for the calls it tracks (its
//!   filter), so other calls persist no hook events for it.
//! - `builtin:pre-compact` (`PreCompact`, priority 100; `pre-compact.ts`): when
//!   `currentTokens / targetTokens` reaches `checkpointThreshold` (0.8) it answers `{action:
//!   "continue", message, modifications: {checkpointCreated: true, continuationContext}}`;
//!   the compaction appends that text to the persisted `compact.summary`, so the model (and
//!   a session rebuilt after a restart) reads it.
//! - `builtin:memory-ledger` (`Stop`, background, priority 10; the TypeScript server's
//!   `wireMemoryLedger`): writes the run's memory ledger entry ([`crate::context::memory`]),
//!   except when the prompt was refused (`stopReason: "blocked"`). Registered only for runs
//!   that keep a ledger (not subagents; `context.memory.ledger.enabled`).
//!
//! The first two are on unless `hooks.builtin.postToolUse.enabled` /
//! `hooks.builtin.preCompact.enabled` is `false`. The TypeScript server had these two as
//! library functions only (`registerBuiltinHooks` was never called by the server).
//!
//! Modifications of a `continue` answer are not merged into the combined result (the
//! engine keeps only `modify` answers' changes, as upstream), so the callers read a
//! built-in's own answer ([`super::HookRun::answer`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{HookKind, HookResult, HookRun};
use crate::events::{SessionEvent, StoreHandle};
use crate::llm::models::ModelInfo;
use crate::settings::{EnvLookup, Settings};

/// The name of the file-tracking built-in.
pub const POST_TOOL_USE: &str = "builtin:post-tool-use";
/// The name of the compaction checkpoint built-in.
pub const PRE_COMPACT: &str = "builtin:pre-compact";
/// The name of the memory ledger built-in.
pub const MEMORY_LEDGER: &str = "builtin:memory-ledger";

/// A hook that runs in the server's process.
pub trait BuiltinHook: Send + Sync + std::fmt::Debug {
    /// `builtin:<name>`.
    fn name(&self) -> &'static str;
    /// When it runs.
    fn kind(&self) -> HookKind;
    /// Higher runs first (file hooks default to 0).
    fn priority(&self) -> i64;
    /// Whether it runs in the background.
    fn background(&self) -> bool {
        false
    }
    /// Its own time limit; `hooks.defaultTimeoutMs` when `None`.
    fn timeout(&self) -> Option<Duration> {
        None
    }
    /// Whether it runs for `context` (its filter); checked before `hook.triggered`.
    fn applies(&self, _context: &Value) -> bool {
        true
    }
    /// Runs it; `Err` counts as `continue` (fail-open), as for a hook file.
    fn run<'a>(&'a self, context: &'a Value) -> BoxFuture<'a, Result<HookResult, String>>;
}

/// Whether `hooks.builtin.<key>.enabled` is not `false` in the settings tree.
pub fn enabled(settings: &Value, key: &str) -> bool {
    settings.pointer(&format!("/hooks/builtin/{key}/enabled")).and_then(Value::as_bool) != Some(false)
}

/// Tools whose calls change a file (operation `modify`).
const MODIFYING_TOOLS: [&str; 4] = ["write", "edit", "Write", "Edit"];
/// Tools whose calls read a file (operation `read`).
const READING_TOOLS: [&str; 2] = ["read", "Read"];
/// Argument keys that hold a file path, in order.
const PATH_KEYS: [&str; 5] = ["file_path", "filePath", "path", "file", "target"];
/// Paths remembered per run (trimmed by this many once twice as many are held).
const MAX_TRACKED_FILES: usize = 20;

/// The file path in a call's `arguments`, as the model wrote it.
pub fn file_path(arguments: &Value) -> Option<&str> {
    PATH_KEYS.iter().find_map(|k| arguments.get(*k).and_then(Value::as_str).filter(|p| !p.is_empty()))
}

/// `modify` or `read` for a file tool, else `None`.
fn operation(tool: &str) -> Option<&'static str> {
    if MODIFYING_TOOLS.contains(&tool) {
        Some("modify")
    } else if READING_TOOLS.contains(&tool) {
        Some("read")
    } else {
        None
    }
}

/// `builtin:post-tool-use` (see the module doc).
#[derive(Debug, Default)]
pub struct PostToolUse {
    /// Paths tracked so far, oldest first.
    recent: Mutex<Vec<String>>,
}

impl BuiltinHook for PostToolUse {
    fn name(&self) -> &'static str {
        POST_TOOL_USE
    }
    fn kind(&self) -> HookKind {
        HookKind::PostToolUse
    }
    fn priority(&self) -> i64 {
        50
    }
    fn applies(&self, context: &Value) -> bool {
        let tool = context["toolName"].as_str().unwrap_or_default();
        operation(tool).is_some() && file_path(&context["toolArguments"]).is_some()
    }
    fn run<'a>(&'a self, context: &'a Value) -> BoxFuture<'a, Result<HookResult, String>> {
        Box::pin(async move {
            let tool = context["toolName"].as_str().unwrap_or_default();
            let (Some(op), Some(path)) = (operation(tool), file_path(&context["toolArguments"])) else {
                return Ok(HookResult::proceed());
            };
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.iter().any(|p| p == path) {
                return Ok(HookResult::proceed());
            }
            recent.push(path.to_owned());
            if recent.len() > MAX_TRACKED_FILES * 2 {
                recent.drain(..MAX_TRACKED_FILES);
            }
            let mut modifications = Map::new();
            modifications.insert("fileTracked".into(), json!(path));
            modifications.insert("operation".into(), json!(op));
            Ok(HookResult { modifications, ..HookResult::proceed() })
        })
    }
}

/// The path `builtin:post-tool-use` tracked in `run`, if it tracked one.
pub fn tracked_file(run: &HookRun) -> Option<String> {
    run.answer(POST_TOOL_USE)?.modifications.get("fileTracked")?.as_str().map(str::to_owned)
}

/// `builtin:pre-compact` (see the module doc).
#[derive(Debug)]
pub struct PreCompact {
    /// `currentTokens / targetTokens` from which a checkpoint is written (0.8).
    pub checkpoint_threshold: f64,
}

impl Default for PreCompact {
    fn default() -> Self {
        PreCompact { checkpoint_threshold: 0.8 }
    }
}

/// The text a checkpoint adds after a compaction (the TypeScript
/// `generateContinuationContext`).
pub fn continuation_context(tokens_at_compaction: u64) -> String {
    [
        "## Session Continuation (Post-Compaction)\n".to_owned(),
        format!("*Checkpoint at {tokens_at_compaction} tokens*\n"),
        "Session history is preserved in the event store.".to_owned(),
    ]
    .join("\n")
}

impl BuiltinHook for PreCompact {
    fn name(&self) -> &'static str {
        PRE_COMPACT
    }
    fn kind(&self) -> HookKind {
        HookKind::PreCompact
    }
    fn priority(&self) -> i64 {
        100
    }
    fn run<'a>(&'a self, context: &'a Value) -> BoxFuture<'a, Result<HookResult, String>> {
        Box::pin(async move {
            let current = context["currentTokens"].as_f64().unwrap_or(0.0);
            let target = context["targetTokens"].as_f64().unwrap_or(0.0);
            // Below the threshold (or without a target): nothing to record.
            if target <= 0.0 || current / target < self.checkpoint_threshold {
                return Ok(HookResult::proceed());
            }
            let text = continuation_context(current as u64);
            let mut modifications = Map::new();
            modifications.insert("checkpointCreated".into(), json!(true));
            modifications.insert("continuationContext".into(), json!(text));
            Ok(HookResult { message: Some(text), modifications, ..HookResult::proceed() })
        })
    }
}

/// The continuation text `builtin:pre-compact` asked for in `run`, if it made a checkpoint.
pub fn continuation(run: &HookRun) -> Option<String> {
    let m = &run.answer(PRE_COMPACT)?.modifications;
    if m.get("checkpointCreated").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    m.get("continuationContext").and_then(Value::as_str).map(str::to_owned)
}

/// Hears the events appended after a run's caller stopped listening (the memory ledger's
/// `memory.ledger`, `hook.background_completed`), once each has committed. Set it with
/// [`LateEvents::set`]; until then such events are only persisted.
#[derive(Clone, Default)]
pub struct LateEvents(Arc<Mutex<Option<EventSink>>>);

/// A function hearing committed events.
pub type EventSink = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

impl std::fmt::Debug for LateEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LateEvents")
    }
}

impl LateEvents {
    /// Sends every later event to `sink`.
    pub fn set(&self, sink: impl Fn(&SessionEvent) + Send + Sync + 'static) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(sink));
    }

    /// Tells the sink (if any) of `event`.
    pub fn emit(&self, event: &SessionEvent) {
        let sink = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(sink) = sink {
            sink(event);
        }
    }
}

/// `builtin:memory-ledger` (see the module doc): writes the ledger entry of the session's
/// latest cycle with [`crate::context::memory::write_with`].
pub struct MemoryLedger {
    /// The event store.
    pub store: StoreHandle,
    /// The session whose ledger it writes.
    pub session: String,
    /// The settings (`models.subagent`, retries).
    pub settings: Arc<Settings>,
    /// The session's model (the fallback ledger model, and `model` in the entry).
    pub model: &'static ModelInfo,
    /// The auth file.
    pub auth_file: PathBuf,
    /// Environment lookups (credentials, base URLs).
    pub env: EnvLookup,
    /// Where the written `memory.ledger` event goes (e.g. the server's clients).
    pub late: LateEvents,
    /// Turns `true` when the run and the compaction its trigger asked for are over (see
    /// [`crate::agent::runner::PreparedRun::run`]): the entry waits for it, so it comes after
    /// that compaction, as in the TypeScript server.
    pub after_run: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for MemoryLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLedger").field("session", &self.session).finish()
    }
}

/// How long the ledger hook may take: its model call is bounded at 30 s (the TypeScript
/// ledger subagent's timeout), plus reading and appending events.
pub const MEMORY_LEDGER_TIMEOUT: Duration = Duration::from_secs(40);

impl BuiltinHook for MemoryLedger {
    fn name(&self) -> &'static str {
        MEMORY_LEDGER
    }
    fn kind(&self) -> HookKind {
        HookKind::Stop
    }
    fn priority(&self) -> i64 {
        10
    }
    fn background(&self) -> bool {
        true
    }
    fn timeout(&self) -> Option<Duration> {
        Some(MEMORY_LEDGER_TIMEOUT)
    }
    fn run<'a>(&'a self, context: &'a Value) -> BoxFuture<'a, Result<HookResult, String>> {
        Box::pin(async move {
            // A refused prompt left nothing to remember.
            if context["stopReason"] == "blocked" {
                return Ok(HookResult::proceed());
            }
            // A closed channel (the run was dropped) means there is nothing more to wait for.
            let _ = self.after_run.clone().wait_for(|done| *done).await;
            let written = crate::context::memory::write_with(
                &self.store,
                &self.session,
                &self.settings,
                self.model,
                &self.auth_file,
                &self.env,
            )
            .await;
            if let Some(crate::context::memory::LedgerOutcome::Written { event, .. }) = written {
                self.late.emit(&event);
            }
            // Fail-silent: a skipped entry is not an error of the hook.
            Ok(HookResult::proceed())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn post_tool_use_tracks_file_tools_once_per_path_from_their_arguments() {
        let hook = PostToolUse::default();
        let ctx = |tool: &str, args: Value| json!({"toolName": tool, "toolArguments": args});
        assert!(
            !hook.applies(&ctx("Bash", json!({"command": "cat a.txt"}))),
            "upstream tracks file tools only"
        );
        assert!(!hook.applies(&ctx("Read", json!({}))));
        let read = ctx("Read", json!({"file_path": "src/a.rs"}));
        assert!(hook.applies(&read));
        let r = hook.run(&read).await.unwrap();
        assert_eq!(r.action, super::super::HookAction::Continue);
        assert_eq!(Value::Object(r.modifications), json!({"fileTracked": "src/a.rs", "operation": "read"}));
        assert_eq!(hook.run(&read).await.unwrap(), HookResult::proceed(), "a path is tracked once");
        let write = ctx("edit", json!({"target": "b.txt"}));
        let r = hook.run(&write).await.unwrap();
        assert_eq!(r.modifications["operation"], "modify");
        for i in 0..45 {
            hook.run(&ctx("Write", json!({"path": format!("f{i}")}))).await.unwrap();
        }
        assert!(hook.recent.lock().unwrap().len() <= MAX_TRACKED_FILES * 2);
    }

    #[tokio::test]
    async fn pre_compact_checkpoints_from_the_threshold_on() {
        let hook = PreCompact::default();
        let below = json!({"currentTokens": 79, "targetTokens": 100});
        assert_eq!(hook.run(&below).await.unwrap(), HookResult::proceed());
        let at = json!({"currentTokens": 150000, "targetTokens": 140000});
        let r = hook.run(&at).await.unwrap();
        let text = "## Session Continuation (Post-Compaction)\n\n*Checkpoint at 150000 tokens*\n\nSession history is preserved in the event store.";
        assert_eq!(r.message.as_deref(), Some(text));
        assert_eq!(r.modifications["checkpointCreated"], true);
        let run = HookRun { answers: vec![(PRE_COMPACT.into(), r)], ..Default::default() };
        assert_eq!(continuation(&run).as_deref(), Some(text));
        assert_eq!(continuation(&HookRun::default()), None);
    }

    #[tokio::test]
    async fn the_memory_ledger_skips_a_refused_prompt_and_tells_what_it_wrote() {
        use crate::events::{EventStore, NewSession};
        use crate::testing::{MockLlm, Script, ScriptedResponse};
        let entry = r#"{"title": "Did it", "entryType": "feature", "actions": ["did it"]}"#;
        let mock = MockLlm::start(Script::new([ScriptedResponse::text(entry)])).await.unwrap();
        let store = EventStore::open_in_memory().unwrap();
        let new = NewSession {
            working_directory: "/tmp".into(),
            model: "claude-sonnet-4-5".into(),
            ..Default::default()
        };
        let session = store.create_session(new).unwrap().0.id.into_string();
        let store = StoreHandle::spawn(store);
        store
            .append(&session, crate::events::NewEvent::raw("message.user", json!({"content": "do it"})))
            .await
            .unwrap();
        let base = mock.base_url();
        let env: EnvLookup = Arc::new(move |n: &str| match n {
            "ANTHROPIC_API_KEY" => Some("sk-ant-test".into()),
            "TRON_ANTHROPIC_BASE_URL" => Some(base.clone()),
            _ => None,
        });
        let told = Arc::new(Mutex::new(Vec::new()));
        let late = LateEvents::default();
        let seen = Arc::clone(&told);
        late.set(move |e: &SessionEvent| seen.lock().unwrap().push(e.payload["title"].clone()));
        let hook = MemoryLedger {
            store: store.clone(),
            session: session.clone(),
            settings: Arc::new(Settings::defaults()),
            model: crate::llm::models::lookup("claude-sonnet-4-5").unwrap(),
            auth_file: PathBuf::from("/nonexistent/auth.json"),
            env,
            after_run: tokio::sync::watch::channel(true).1,
            late,
        };
        assert_eq!(hook.run(&json!({"stopReason": "blocked"})).await.unwrap(), HookResult::proceed());
        assert!(mock.requests().is_empty(), "a refused prompt asks no ledger model");
        assert_eq!(hook.run(&json!({"stopReason": "interrupted"})).await.unwrap(), HookResult::proceed());
        assert_eq!(mock.requests().len(), 1);
        assert_eq!(*told.lock().unwrap(), [json!("Did it")]);
        let kinds: Vec<String> = store
            .run(move |s| s.events(&session))
            .await
            .unwrap()
            .iter()
            .map(|e| e.event_type.as_str().to_owned())
            .collect();
        assert_eq!(kinds.last().map(String::as_str), Some("memory.ledger"));
    }

    #[test]
    fn settings_turn_built_ins_off() {
        assert!(enabled(&json!({}), "postToolUse"));
        assert!(!enabled(&json!({"hooks": {"builtin": {"preCompact": {"enabled": false}}}}), "preCompact"));
    }
}
