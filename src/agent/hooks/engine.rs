//! The hooks of a session, in priority order, and how a kind's hooks run.
//!
//! A hook is a file ([`DiscoveredHook`]) or a built-in ([`BuiltinHook`]); both sort into one
//! order (highest priority first; ties in registration order: project files, user files,
//! then built-ins) and both count as `hookNames`. A built-in's filter is checked before the
//! hooks of a point are reported, so a built-in that does not apply is not named.
//!
//! Blocking hooks run one after the other: the first `block` ends the chain with its reason;
//! `modify` results are merged (later keys win); messages are joined with newlines; each
//! hook's own answer is kept too ([`HookRun::answers`]). Background hooks run in a task of
//! their own, all of them, and are counted per session until they end
//! ([`wait_background`] drains them: before a session's next run, and before `tron chat`
//! exits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use serde_json::Value;
use tokio::sync::Notify;

use super::builtin::BuiltinHook;
use super::discovery::{discover, DiscoveredHook};
use super::{runner, HookAction, HookKind, HookResult};

/// How long a session's next run waits at most for the background hooks of its earlier
/// runs (the memory ledger is bounded at 40 s, hook files at `hooks.defaultTimeoutMs`).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(45);

/// One hook of a session.
#[derive(Debug, Clone)]
pub enum Hook {
    /// A hook file.
    File(DiscoveredHook),
    /// A built-in hook.
    Builtin(Arc<dyn BuiltinHook>),
}

impl Hook {
    /// `<source>:<name>` or `builtin:<name>`.
    pub fn name(&self) -> &str {
        match self {
            Hook::File(h) => &h.name,
            Hook::Builtin(b) => b.name(),
        }
    }

    /// When it runs.
    pub fn kind(&self) -> HookKind {
        match self {
            Hook::File(h) => h.kind,
            Hook::Builtin(b) => b.kind(),
        }
    }

    /// Higher runs first.
    pub fn priority(&self) -> i64 {
        match self {
            Hook::File(h) => h.priority,
            Hook::Builtin(b) => b.priority(),
        }
    }

    /// Whether it runs in the background (never for the kinds that must block).
    pub fn background(&self) -> bool {
        let background = match self {
            Hook::File(h) => h.background,
            Hook::Builtin(b) => b.background(),
        };
        background && !self.kind().forced_blocking()
    }

    /// Whether it runs for `context` (a built-in's filter; a file decides for itself).
    fn applies(&self, context: &Value) -> bool {
        match self {
            Hook::File(_) => true,
            Hook::Builtin(b) => b.applies(context),
        }
    }
}

/// What the blocking hooks of one point answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookRun {
    /// The combined result (see the module doc).
    pub result: HookResult,
    /// Each hook's own answer, in the order they ran (hooks that failed are left out).
    pub answers: Vec<(String, HookResult)>,
}

impl HookRun {
    /// The answer of the hook named `name`, if it ran and answered.
    pub fn answer(&self, name: &str) -> Option<&HookResult> {
        self.answers.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

/// The hooks of a session.
#[derive(Debug, Clone)]
pub struct HookEngine {
    hooks: Vec<Hook>,
    timeout: Duration,
}

impl HookEngine {
    /// An engine running `hooks` (sorted here by priority), each with `timeout` unless it
    /// sets its own.
    pub fn new(hooks: Vec<DiscoveredHook>, timeout: Duration) -> Self {
        let mut engine = HookEngine { hooks: hooks.into_iter().map(Hook::File).collect(), timeout };
        engine.sort();
        engine
    }

    /// The hooks discovered for `working_dir` (see [`discover`]), with
    /// `hooks.defaultTimeoutMs` from `settings`; and the discovery warnings.
    pub fn from_settings(working_dir: &Path, home: Option<&Path>, settings: &Value) -> (Self, Vec<String>) {
        let (hooks, warnings) = discover(working_dir, home, settings);
        let ms = settings.pointer("/hooks/defaultTimeoutMs").and_then(Value::as_u64).unwrap_or(5000);
        (Self::new(hooks, Duration::from_millis(ms)), warnings)
    }

    fn sort(&mut self) {
        self.hooks.sort_by_key(|h| std::cmp::Reverse(h.priority()));
    }

    /// Adds a built-in hook (one with the same name is replaced, as upstream's registry
    /// does).
    pub fn register(&mut self, hook: Arc<dyn BuiltinHook>) {
        self.hooks.retain(|h| h.name() != hook.name());
        self.hooks.push(Hook::Builtin(hook));
        self.sort();
    }

    /// Every hook, in the order they run.
    pub fn hooks(&self) -> &[Hook] {
        &self.hooks
    }

    /// The blocking and the background hooks of `kind`, each in order.
    pub fn of_kind(&self, kind: HookKind) -> (Vec<Hook>, Vec<Hook>) {
        self.hooks.iter().filter(|h| h.kind() == kind).cloned().partition(|h| !h.background())
    }

    /// [`HookEngine::of_kind`] without the built-ins that do not apply to `context`.
    pub fn for_context(&self, kind: HookKind, context: &Value) -> (Vec<Hook>, Vec<Hook>) {
        let (blocking, background) = self.of_kind(kind);
        let keep = |list: Vec<Hook>| list.into_iter().filter(|h| h.applies(context)).collect();
        (keep(blocking), keep(background))
    }

    /// Runs blocking `hooks` in order with `context` in `cwd` and combines their results.
    /// A hook that fails or times out counts as `continue` (logged). When `cancel` fires,
    /// a hook file is stopped and the result is a block ("The run was aborted"): nothing
    /// the hooks guard runs.
    pub async fn run_blocking(
        &self,
        hooks: &[Hook],
        context: &Value,
        cwd: &Path,
        cancel: &CancellationToken,
    ) -> HookRun {
        let mut modifications = serde_json::Map::new();
        let mut messages: Vec<String> = Vec::new();
        let mut answers = Vec::with_capacity(hooks.len());
        for hook in hooks {
            let result = match self.run_one(hook, context, cwd, Some(cancel)).await {
                Ok(r) => r,
                Err(why) if why == runner::CANCELLED || cancel.is_cancelled() => {
                    let result = HookResult {
                        action: HookAction::Block,
                        reason: Some("The run was aborted".into()),
                        ..HookResult::default()
                    };
                    return HookRun { result, answers };
                }
                Err(why) => {
                    tracing::warn!(target: "tron::hooks", hook = %hook.name(), "hook failed (treated as continue): {why}");
                    continue;
                }
            };
            answers.push((hook.name().to_owned(), result.clone()));
            messages.extend(result.message.clone());
            match result.action {
                HookAction::Block => {
                    tracing::info!(target: "tron::hooks", hook = %hook.name(), reason = ?result.reason, "hook blocked");
                    let result = HookResult {
                        action: HookAction::Block,
                        reason: result.reason,
                        message: Some(messages.join("\n")),
                        modifications: Default::default(),
                    };
                    return HookRun { result, answers };
                }
                HookAction::Modify => modifications.extend(result.modifications),
                HookAction::Continue => {}
            }
        }
        let message = (!messages.is_empty()).then(|| messages.join("\n"));
        let action = if modifications.is_empty() { HookAction::Continue } else { HookAction::Modify };
        HookRun { result: HookResult { action, reason: None, message, modifications }, answers }
    }

    /// Runs background `hooks` in order (all of them); the last error, if any failed.
    pub async fn run_background(&self, hooks: &[Hook], context: &Value, cwd: &Path) -> Result<(), String> {
        let mut error = None;
        for hook in hooks {
            if let Err(why) = self.run_one(hook, context, cwd, None).await {
                tracing::warn!(target: "tron::hooks", hook = %hook.name(), "background hook failed: {why}");
                error = Some(format!("{}: {why}", hook.name()));
            }
        }
        error.map_or(Ok(()), Err)
    }

    async fn run_one(
        &self,
        hook: &Hook,
        context: &Value,
        cwd: &Path,
        cancel: Option<&CancellationToken>,
    ) -> Result<HookResult, String> {
        match hook {
            Hook::File(file) => {
                let timeout = file.timeout.unwrap_or(self.timeout);
                let (file, context, cwd) = (file.clone(), context.clone(), PathBuf::from(cwd));
                let cancel = cancel.cloned();
                tokio::task::spawn_blocking(move || {
                    runner::run(&file, &context, &cwd, timeout, cancel.as_ref())
                })
                .await
                .map_err(|e| format!("the hook's thread failed: {e}"))?
            }
            Hook::Builtin(builtin) => {
                let timeout = builtin.timeout().unwrap_or(self.timeout);
                tokio::time::timeout(timeout, builtin.run(context))
                    .await
                    .map_err(|_| format!("timed out after {}ms", timeout.as_millis()))?
            }
        }
    }
}

/// The background executions of one session.
#[derive(Debug, Default)]
struct Tracker {
    pending: AtomicUsize,
    changed: Notify,
    counter: AtomicU64,
}

/// The trackers of the sessions with background hooks running (dropped when none run).
fn trackers() -> &'static Mutex<HashMap<String, Weak<Tracker>>> {
    static TRACKERS: OnceLock<Mutex<HashMap<String, Weak<Tracker>>>> = OnceLock::new();
    TRACKERS.get_or_init(Default::default)
}

fn live_tracker(session: &str) -> Option<Arc<Tracker>> {
    trackers().lock().unwrap_or_else(|e| e.into_inner()).get(session).and_then(Weak::upgrade)
}

/// A background execution of a session's hooks, counted as pending until dropped.
#[derive(Debug)]
pub(crate) struct Pending {
    tracker: Arc<Tracker>,
    /// `bg_<n>_<unix ms>`, as upstream.
    pub(crate) execution_id: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.tracker.pending.fetch_sub(1, Ordering::SeqCst);
        self.tracker.changed.notify_waiters();
    }
}

/// Starts counting a background execution of `session`'s hooks.
pub(crate) fn background_started(session: &str) -> Pending {
    let tracker = {
        let mut map = trackers().lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, t| t.strong_count() > 0);
        match map.get(session).and_then(Weak::upgrade) {
            Some(t) => t,
            None => {
                let t = Arc::new(Tracker::default());
                map.insert(session.to_owned(), Arc::downgrade(&t));
                t
            }
        }
    };
    tracker.pending.fetch_add(1, Ordering::SeqCst);
    let n = tracker.counter.fetch_add(1, Ordering::Relaxed) + 1;
    let execution_id = format!("bg_{n}_{}", chrono::Utc::now().timestamp_millis());
    Pending { tracker, execution_id }
}

/// Background executions of `session`'s hooks still running.
pub fn pending_background(session: &str) -> usize {
    live_tracker(session).map_or(0, |t| t.pending.load(Ordering::SeqCst))
}

/// Waits until no background execution of `session`'s hooks is running, or `timeout`
/// passed; whether all ended.
pub async fn wait_background(session: &str, timeout: Duration) -> bool {
    let Some(tracker) = live_tracker(session) else { return true };
    let wait = async {
        loop {
            let changed = tracker.changed.notified();
            if tracker.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            changed.await;
        }
    };
    tokio::time::timeout(timeout, wait).await.is_ok()
}
