//! The hooks of a session, in priority order, and how a kind's hooks run.
//!
//! Blocking hooks run one after the other (highest priority first, ties in discovery
//! order: project before user): the first `block` ends the chain with its reason;
//! `modify` results are merged (later keys win); messages are joined with newlines.
//! Background hooks run in a task of their own, all of them, and are counted until they
//! end ([`HookEngine::wait_background`] drains them, e.g. before `tron chat` exits).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use serde_json::Value;
use tokio::sync::Notify;

use super::discovery::{discover, DiscoveredHook};
use super::{runner, HookAction, HookKind, HookResult};

/// Pending background executions.
#[derive(Debug, Default)]
struct Tracker {
    pending: AtomicUsize,
    changed: Notify,
    counter: AtomicU64,
}

/// The hooks of a session.
#[derive(Debug, Clone)]
pub struct HookEngine {
    hooks: Vec<DiscoveredHook>,
    timeout: Duration,
    tracker: Arc<Tracker>,
}

impl HookEngine {
    /// An engine running `hooks` (sorted here by priority), each with `timeout`.
    pub fn new(mut hooks: Vec<DiscoveredHook>, timeout: Duration) -> Self {
        hooks.sort_by_key(|h| std::cmp::Reverse(h.priority));
        HookEngine { hooks, timeout, tracker: Arc::default() }
    }

    /// The hooks discovered for `working_dir` (see [`discover`]), with
    /// `hooks.defaultTimeoutMs` from `settings`; and the discovery warnings.
    pub fn from_settings(working_dir: &Path, home: Option<&Path>, settings: &Value) -> (Self, Vec<String>) {
        let (hooks, warnings) = discover(working_dir, home, settings);
        let ms = settings.pointer("/hooks/defaultTimeoutMs").and_then(Value::as_u64).unwrap_or(5000);
        (Self::new(hooks, Duration::from_millis(ms)), warnings)
    }

    /// Every hook, in the order they run.
    pub fn hooks(&self) -> &[DiscoveredHook] {
        &self.hooks
    }

    /// The blocking and the background hooks of `kind`, each in order.
    pub fn of_kind(&self, kind: HookKind) -> (Vec<DiscoveredHook>, Vec<DiscoveredHook>) {
        self.hooks.iter().filter(|h| h.kind == kind).cloned().partition(|h| !h.background)
    }

    /// Runs blocking `hooks` in order with `context` in `cwd` and combines their results.
    /// A hook that fails or times out counts as `continue` (logged).
    pub async fn run_blocking(
        &self,
        hooks: &[DiscoveredHook],
        context: &Value,
        cwd: &Path,
        cancel: &CancellationToken,
    ) -> HookResult {
        let mut modifications = serde_json::Map::new();
        let mut messages: Vec<String> = Vec::new();
        for hook in hooks {
            let result = match self.run_one(hook, context, cwd, Some(cancel)).await {
                Ok(r) => r,
                // An aborted run goes no further than its hooks: nothing they guard runs.
                Err(why) if why == runner::CANCELLED || cancel.is_cancelled() => {
                    return HookResult {
                        action: HookAction::Block,
                        reason: Some("The run was aborted".into()),
                        message: None,
                        modifications: Default::default(),
                    };
                }
                Err(why) => {
                    tracing::warn!(target: "tron::hooks", hook = %hook.name, "hook failed (treated as continue): {why}");
                    continue;
                }
            };
            messages.extend(result.message.clone());
            match result.action {
                HookAction::Block => {
                    tracing::info!(target: "tron::hooks", hook = %hook.name, reason = ?result.reason, "hook blocked");
                    return HookResult {
                        action: HookAction::Block,
                        reason: result.reason,
                        message: Some(messages.join("\n")),
                        modifications: Default::default(),
                    };
                }
                HookAction::Modify => modifications.extend(result.modifications),
                HookAction::Continue => {}
            }
        }
        let message = (!messages.is_empty()).then(|| messages.join("\n"));
        let action = if modifications.is_empty() { HookAction::Continue } else { HookAction::Modify };
        HookResult { action, reason: None, message, modifications }
    }

    /// Runs background `hooks` in order (all of them); the last error, if any failed.
    pub async fn run_background(
        &self,
        hooks: &[DiscoveredHook],
        context: &Value,
        cwd: &Path,
    ) -> Result<(), String> {
        let mut error = None;
        for hook in hooks {
            if let Err(why) = self.run_one(hook, context, cwd, None).await {
                tracing::warn!(target: "tron::hooks", hook = %hook.name, "background hook failed: {why}");
                error = Some(format!("{}: {why}", hook.name));
            }
        }
        error.map_or(Ok(()), Err)
    }

    async fn run_one(
        &self,
        hook: &DiscoveredHook,
        context: &Value,
        cwd: &Path,
        cancel: Option<&CancellationToken>,
    ) -> Result<HookResult, String> {
        let (hook, context, cwd, timeout) = (hook.clone(), context.clone(), PathBuf::from(cwd), self.timeout);
        let cancel = cancel.cloned();
        tokio::task::spawn_blocking(move || runner::run(&hook, &context, &cwd, timeout, cancel.as_ref()))
            .await
            .map_err(|e| format!("the hook's thread failed: {e}"))?
    }

    /// A new background execution id (`bg_<n>_<unix ms>`, as upstream), counted as pending
    /// until [`HookEngine::background_done`].
    pub(crate) fn background_started(&self) -> String {
        let n = self.tracker.counter.fetch_add(1, Ordering::Relaxed) + 1;
        self.tracker.pending.fetch_add(1, Ordering::SeqCst);
        format!("bg_{n}_{}", chrono::Utc::now().timestamp_millis())
    }

    /// One background execution ended.
    pub(crate) fn background_done(&self) {
        self.tracker.pending.fetch_sub(1, Ordering::SeqCst);
        self.tracker.changed.notify_waiters();
    }

    /// Background executions still running.
    pub fn pending_background(&self) -> usize {
        self.tracker.pending.load(Ordering::SeqCst)
    }

    /// Waits until no background execution is running, or `timeout` passed; whether all
    /// ended.
    pub async fn wait_background(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.tracker.changed.notified();
                if self.pending_background() == 0 {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}
