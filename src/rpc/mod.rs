//! The JSON-RPC layer the iOS app talks to: frames, the method registry, handlers and the
//! adapters that shape the wire.
//!
//! Owns: the TypeScript server's wire (request / response / event frames, error codes and
//! messages, every method's params and result shape, every pushed event's data), which
//! connection sees which event, and the runs started by `agent.prompt`. Canonical values
//! become wire shapes only in [`adapters`]. Must not: touch sockets or HTTP (server/), run
//! SQLite on the async runtime (everything goes through [`crate::events::StoreHandle`]), or
//! know a provider's format (llm/).
//!
//! Built: `system.ping|getInfo`, `session.create|resume|list|delete|archive|unarchive|fork`,
//! `agent.prompt|abort|getState`, `model.list|switch`, `events.getHistory|getSince|append`,
//! `tree.getAncestors`, `message.delete`, `settings.get|update`, `logs.export`,
//! `filesystem.listDir|getHome|createDir`, `file.read`,
//! `context.*` (snapshots, compaction, clear; see [`crate::context`]),
//! `skill.list|get|refresh|remove`, `tasks.*` / `projects.*` / `areas.*` (the task
//! manager, see [`crate::events::tasks`]), `worktree.getStatus|commit|merge|list|acquire|release`
//! and `git.clone` (see [`crate::platform::worktree`]),
//! `browser.startStream|stopStream|getStatus` with the `browser.frame` events (see
//! [`crate::platform::browser`]), `tool.result` (answers to `AskUserQuestion`),
//! `canvas.get|list|export` (see [`crate::platform::canvas`]),
//! `communication.send|receive|subscribe|unsubscribe` (see [`ui`]),
//! `device.register|unregister` (push notification tokens, see [`crate::platform::apns`]),
//! `transcribe.audio|listModels` and `voiceNotes.save|list|delete` (see
//! [`crate::platform::transcribe`]). An unknown method answers `METHOD_NOT_FOUND`.

pub mod adapters;
pub mod frames;
pub mod handlers;
pub mod params;
pub mod state;
pub mod ui;

use std::sync::Arc;

use serde_json::Value;

pub use frames::{Event, Request};
pub use state::{Outgoing, ServerState};

use crate::core::errors::RpcError;
use handlers::{
    agent, canvas, communication, context, events, filesystem, memory, model, plan, session, settings, skill,
    system, task, tool, transcribe, tree, worktree,
};

/// One client connection's own state.
#[derive(Debug, Default)]
pub struct Connection {
    /// `client_<12 hex>`, sent in `system.connected`.
    pub client_id: String,
    /// The session this client follows (set by `session.create` / `session.resume`); an
    /// unbound client sees every session's events.
    pub bound: Option<String>,
    /// The session a `session.create` / `session.resume` binds the client to once its
    /// answer is sent: as in the TypeScript gateway (`websocket.ts` binds after the handler
    /// returned), the events the request published (e.g. `session.created`) reach the
    /// client under its former binding.
    pub rebind: Option<String>,
    /// Per session, the last sequence this client already has from a history read
    /// (`events.getSince`, `events.getHistory`, a lag catch-up): `event.new` frames of
    /// events up to it that were still queued are not sent again.
    pub synced: std::collections::HashMap<String, i64>,
    /// Fired once the response to the current request has been sent: a run started by
    /// `agent.prompt` waits for it, so its acknowledgment always precedes its frames.
    pub after_response: Vec<tokio::sync::oneshot::Sender<()>>,
    /// The `communication.subscribe` ids this client made: they end with the connection.
    pub subscriptions: Vec<String>,
}

impl Connection {
    /// A new connection with a fresh client id.
    pub fn new() -> Self {
        Self {
            client_id: format!("client_{}", crate::core::ids::short_hex()),
            bound: None,
            rebind: None,
            synced: Default::default(),
            after_response: Vec::new(),
            subscriptions: Vec::new(),
        }
    }

    /// Tells whatever waits for the response just sent that it has gone out.
    pub fn response_sent(&mut self) {
        for tx in self.after_response.drain(..) {
            let _ = tx.send(());
        }
    }

    /// Records that the client has every event of `session` up to `sequence`.
    pub fn mark_synced(&mut self, session: &str, sequence: i64) {
        let last = self.synced.entry(session.to_owned()).or_insert(sequence);
        *last = (*last).max(sequence);
    }

    /// Whether the `event.new` of `session` at `sequence` would repeat what the client has.
    pub fn has(&self, session: &str, sequence: i64) -> bool {
        self.synced.get(session).is_some_and(|&last| sequence <= last)
    }

    /// Whether an event of `session` goes to this client: events without a session go to
    /// everyone; others to unbound clients and to clients bound to that session.
    pub fn wants(&self, session: Option<&str>) -> bool {
        match (session, &self.bound) {
            (Some(s), Some(b)) => s == b,
            _ => true,
        }
    }
}

/// Answers one request, inside a span that gives every log record of the request its id,
/// method and session (see logging/).
pub async fn dispatch(
    state: &Arc<ServerState>,
    conn: &mut Connection,
    req: &Request,
) -> Result<Value, RpcError> {
    let session = req.params.get("sessionId").and_then(Value::as_str).or(conn.bound.as_deref());
    let span = tracing::info_span!(
        "rpc",
        request_id = %req.id,
        method = %req.method,
        session_id = session
    );
    if tracing::enabled!(tracing::Level::TRACE) {
        // What the client sent (user text may hold secrets: logging/ redacts every line).
        let params = Value::Object(req.params.clone());
        span.in_scope(|| tracing::trace!(%params, "request"));
    }
    let result = tracing::Instrument::instrument(dispatch_method(state, conn, req), span.clone()).await;
    if let Err(e) = &result {
        span.in_scope(|| tracing::info!(code = ?e.code, error = %e.message, "request failed"));
    }
    result
}

/// Answers one request by its method.
async fn dispatch_method(
    state: &Arc<ServerState>,
    conn: &mut Connection,
    req: &Request,
) -> Result<Value, RpcError> {
    let p = &req.params;
    match req.method.as_str() {
        "system.ping" => Ok(system::ping()),
        "system.getInfo" => Ok(system::info(state)),
        "session.create" => session::create(state, conn, p).await,
        "session.resume" => session::resume(state, conn, p).await,
        "session.list" => session::list(state, p).await,
        "session.delete" => session::delete(state, p).await,
        "session.archive" => session::archive(state, p, true).await,
        "session.unarchive" => session::archive(state, p, false).await,
        "session.fork" => session::fork(state, p).await,
        "agent.prompt" | "agent.message" => agent::prompt(state, conn, p).await,
        "agent.abort" => agent::abort(state, p),
        "agent.getState" => agent::get_state(state, p).await,
        "model.list" => Ok(model::list()),
        "model.switch" => model::switch(state, p).await,
        "events.getHistory" => events::history(state, conn, p).await,
        "events.getSince" => events::since(state, conn, p).await,
        "events.append" => events::append(state, p).await,
        "tree.getAncestors" => events::ancestors(state, p).await,
        "tree.getVisualization" => tree::visualization(state, p).await,
        "tree.getBranches" => tree::branches(state, p).await,
        "tree.getSubtree" => tree::subtree(state, p).await,
        "search.content" | "search.events" => tree::search(state, p).await,
        "message.delete" => events::delete_message(state, p).await,
        "skill.list" => skill::list(state, p).await,
        "skill.get" => skill::get(state, p).await,
        "skill.refresh" => skill::refresh(state, p).await,
        "skill.remove" => skill::remove(state, p).await,
        "settings.get" => Ok(settings::get(state)),
        "settings.update" => settings::update(state, p).await,
        "logs.export" => settings::export_logs(state, p).await,
        "filesystem.listDir" => filesystem::list_dir(state, p).await,
        "filesystem.getHome" => filesystem::get_home(state).await,
        "filesystem.createDir" => filesystem::create_dir(state, p).await,
        "file.read" => filesystem::read_file(state, p).await,
        "plan.enter" => plan::enter(state, p).await,
        "plan.exit" => plan::exit(state, p).await,
        "plan.getState" => plan::get_state(state, p).await,
        "todo.list" => plan::todo_list(state, p).await,
        "todo.getSummary" => plan::todo_summary(state, p).await,
        "todo.getBacklog" => plan::backlog(state, p).await,
        "todo.getBacklogCount" => plan::backlog_count(state, p).await,
        "todo.restore" => plan::restore(state, p).await,
        "memory.getLedger" => memory::get_ledger(state, p).await,
        "memory.updateLedger" => memory::update_ledger(state, p).await,
        "memory.search" => memory::search(state, p).await,
        "context.getSnapshot" => context::snapshot(state, p).await,
        "context.getDetailedSnapshot" => context::detailed_snapshot(state, p).await,
        "context.shouldCompact" => context::should_compact(state, p).await,
        "context.previewCompaction" => context::preview_compaction(state, p).await,
        "context.confirmCompaction" | "context.compact" => context::confirm_compaction(state, p).await,
        "context.canAcceptTurn" => context::can_accept_turn(state, p).await,
        "context.clear" => context::clear(state, p).await,
        "worktree.getStatus" => worktree::get_status(state, p).await,
        "worktree.commit" => worktree::commit(state, p).await,
        "worktree.merge" => worktree::merge(state, p).await,
        "worktree.list" => worktree::list(state).await,
        "worktree.acquire" => worktree::acquire(state, p).await,
        "worktree.release" => worktree::release(state, p).await,
        "git.clone" => worktree::clone(state, p).await,
        "browser.startStream" => handlers::browser::start_stream(state, p).await,
        "browser.stopStream" => handlers::browser::stop_stream(state, p).await,
        "browser.getStatus" => handlers::browser::get_status(state, p).await,
        "tool.result" => tool::result(state, conn, p).await,
        "canvas.get" => canvas::get(state, p).await,
        "canvas.list" => canvas::list(state, p).await,
        "canvas.export" => canvas::export(state, p).await,
        "communication.send" => communication::send(state, p).await,
        "communication.receive" => communication::receive(state, p).await,
        "communication.subscribe" => communication::subscribe(state, conn, p).await,
        "communication.unsubscribe" => communication::unsubscribe(state, conn, p),
        "device.register" => handlers::device::register(state, p).await,
        "device.unregister" => handlers::device::unregister(state, p).await,
        "transcribe.audio" => transcribe::audio_method(state, p).await,
        "transcribe.listModels" => Ok(transcribe::list_models(state)),
        "voiceNotes.save" => transcribe::save_note(state, p).await,
        "voiceNotes.list" => transcribe::list_notes(state, p).await,
        "voiceNotes.delete" => transcribe::delete_note(state, p).await,
        m if m.starts_with("tasks.") || m.starts_with("projects.") || m.starts_with("areas.") => {
            task::dispatch(state, m, p).await.unwrap_or_else(|| Err(RpcError::method_not_found(m)))
        }
        method => Err(RpcError::method_not_found(method)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_clients_see_their_session_and_synced_events_are_not_repeated() {
        let mut c = Connection::new();
        assert!(c.wants(Some("sess_a")) && c.wants(None));
        c.bound = Some("sess_a".into());
        assert!(c.wants(Some("sess_a")) && !c.wants(Some("sess_b")) && c.wants(None));
        assert!(!c.has("sess_a", 0));
        c.mark_synced("sess_a", 7);
        c.mark_synced("sess_a", 3);
        assert!(c.has("sess_a", 7) && !c.has("sess_a", 8) && !c.has("sess_b", 1));
    }
}
