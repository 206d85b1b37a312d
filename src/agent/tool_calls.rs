//! Running the tool calls of one response: order, concurrency, result limits, persistence.
//!
//! Calls run in the order the model made them, except that a run of consecutive read-only
//! calls (see [`crate::tools::Tool::read_only`]) runs at the same time. Every call is
//! persisted as `tool.call` before it starts and `tool.result` after it ends, always in the
//! model's order, so the log reads the same whatever finished first.
//!
//! Result limits: a result above [`BLOB_STORAGE_THRESHOLD`] bytes is also stored whole as a
//! blob (`blobId`), as the TypeScript server does; a result above [`MAX_RESULT_TOKENS`]
//! estimated tokens is cut, with a notice naming the blob. The persisted `content` is
//! exactly what the model is sent, so a session reconstructed later gives the model what it
//! saw live (the TypeScript server sends the uncut text live and keeps 10 KiB).

use std::time::Instant;

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::turn::{persist, Agent, AgentEvent};
use crate::core::content::ToolUseBlock;
use crate::core::tools::ToolResult;
use crate::events::types::{ToolCallPayload, ToolResultPayload};
use crate::events::{EventPayload, NewEvent, StoreError};

/// Results larger than this many bytes are kept whole in the blob store (the TypeScript
/// server's `BLOB_STORAGE_THRESHOLD`, 2 KiB).
pub const BLOB_STORAGE_THRESHOLD: usize = 2 * 1024;

/// Most estimated tokens (4 characters each) of one tool result that the model is sent. Above
/// the core tools' own caps (Bash cuts at 40,000 characters), so their output is never cut
/// twice; this catches tools without a cap.
pub const MAX_RESULT_TOKENS: usize = 12_500;

/// What became of the calls.
pub(crate) struct Ran {
    /// How many calls ran (or were refused by their tool).
    pub count: usize,
    /// Whether the run was aborted before every call had run.
    pub aborted: bool,
}

/// Runs `calls` (from the assistant message of `turn`), persisting each call and result.
pub(crate) async fn run_calls(
    agent: Agent<'_>,
    session: &str,
    turn: i64,
    calls: &[ToolUseBlock],
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<Ran, StoreError> {
    let cancel = &agent.ctx.cancel;
    let mut ran = Ran { count: 0, aborted: false };
    let mut rest = calls;
    while !rest.is_empty() {
        if cancel.is_cancelled() {
            ran.aborted = true;
            for call in rest {
                persist_call(agent, session, turn, call, on_event).await?;
                let result = ToolResult::error("Not run: the run was aborted before this tool call started");
                persist_result(agent, session, call, &result, 0, true, on_event).await?;
            }
            break;
        }
        let batch = batch_len(agent, rest);
        let (batch, later) = rest.split_at(batch);
        rest = later;
        for call in batch {
            persist_call(agent, session, turn, call, on_event).await?;
        }
        let results = join_all(batch.iter().map(|call| execute(agent, call))).await;
        for (call, (result, duration_ms)) in batch.iter().zip(results) {
            ran.count += 1;
            let interrupted = cancel.is_cancelled();
            persist_result(agent, session, call, &result, duration_ms, interrupted, on_event).await?;
        }
    }
    ran.aborted |= cancel.is_cancelled();
    Ok(ran)
}

/// How many calls at the front of `calls` run together: all the leading read-only ones,
/// or just the first.
fn batch_len(agent: Agent<'_>, calls: &[ToolUseBlock]) -> usize {
    let read_only = |c: &ToolUseBlock| agent.tools.get(&c.name).is_some_and(|t| t.read_only());
    calls.iter().take_while(|c| read_only(c)).count().max(1)
}

async fn execute(agent: Agent<'_>, call: &ToolUseBlock) -> (ToolResult, u64) {
    let started = Instant::now();
    let result = match agent.tools.get(&call.name) {
        Some(tool) => tool.execute(&call.arguments, agent.ctx).await,
        None => ToolResult::error(format!(
            "Tool not found: {} (available: {})",
            call.name,
            agent.tools.names().join(", ")
        )),
    };
    (result, started.elapsed().as_millis() as u64)
}

async fn persist_call(
    agent: Agent<'_>,
    session: &str,
    turn: i64,
    call: &ToolUseBlock,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(), StoreError> {
    let arguments = Value::Object(call.arguments.clone());
    let payload = ToolCallPayload {
        tool_call_id: call.id.clone(),
        name: call.name.clone(),
        arguments: arguments.clone(),
        turn,
        run_id: None,
        extra: Default::default(),
    };
    persist(agent, session, NewEvent::new(EventPayload::from(payload)), on_event).await?;
    on_event(AgentEvent::ToolStart { id: &call.id, name: &call.name, arguments: &arguments });
    Ok(())
}

async fn persist_result(
    agent: Agent<'_>,
    session: &str,
    call: &ToolUseBlock,
    result: &ToolResult,
    duration_ms: u64,
    interrupted: bool,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(), StoreError> {
    let full = result.text_content();
    let (content, truncated) = limit(&full);
    let mut payload = ToolResultPayload {
        tool_call_id: call.id.clone(),
        content,
        is_error: result.is_error.unwrap_or(false),
        duration: Some(duration_ms as i64),
        affected_files: None,
        truncated: truncated.then_some(true),
        blob_id: None,
        run_id: None,
        extra: Default::default(),
    };
    if interrupted {
        payload.extra.insert("interrupted".into(), json!(true));
    }
    let session = session.to_owned();
    let event = agent
        .store
        .run(move |store| {
            if full.len() > BLOB_STORAGE_THRESHOLD {
                let blob = store.store_blob(full.as_bytes(), "text/plain")?;
                if truncated {
                    payload.content.push_str(&format!(" (full output: {blob})"));
                }
                payload.blob_id = Some(blob);
            }
            store.append(&session, NewEvent::new(EventPayload::from(payload)))
        })
        .await?;
    on_event(AgentEvent::Persisted(&event));
    on_event(AgentEvent::ToolEnd { id: &call.id, name: &call.name, result, duration_ms });
    Ok(())
}

/// The text the model is sent: `full`, or its first [`MAX_RESULT_TOKENS`] estimated tokens
/// and a notice (`true` when cut). The blob id is appended by the caller.
fn limit(full: &str) -> (String, bool) {
    let max_chars = MAX_RESULT_TOKENS * 4;
    match full.char_indices().nth(max_chars) {
        None => (full.to_owned(), false),
        Some((cut, _)) => {
            let rest = full[cut..].chars().count();
            let notice = format!(
                "\n\n... [truncated: {rest} more characters (~{} tokens) over the {MAX_RESULT_TOKENS}-token limit for one tool result]",
                rest.div_ceil(4)
            );
            (format!("{}{notice}", &full[..cut]), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::agent::TurnSettings;
    use crate::core::content::ArgumentsKey;
    use crate::core::tools::ToolDefinition;
    use crate::core::wire::JsonObject;
    use crate::events::{EventStore, NewSession, StoreHandle};
    use crate::llm::anthropic::{AnthropicAuth, AnthropicProvider};
    use crate::tools::{Tool, ToolContext, ToolFuture, ToolRegistry};

    /// A tool that records how many of its calls were running at once.
    struct Counting {
        name: &'static str,
        read_only: bool,
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl Tool for Counting {
        fn definition(&self) -> ToolDefinition {
            ToolDefinition {
                name: self.name.into(),
                description: String::new(),
                parameters: JsonObject::new(),
            }
        }
        fn execute<'a>(&'a self, _: &'a JsonObject, _: &'a ToolContext) -> ToolFuture<'a> {
            Box::pin(async move {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                self.running.fetch_sub(1, Ordering::SeqCst);
                ToolResult::text("done")
            })
        }
        fn read_only(&self) -> bool {
            self.read_only
        }
    }

    fn call(id: &str, name: &str) -> ToolUseBlock {
        ToolUseBlock {
            id: id.into(),
            name: name.into(),
            arguments: JsonObject::new(),
            arguments_key: ArgumentsKey::Input,
            thought_signature: None,
            extra: JsonObject::new(),
        }
    }

    /// Runs `Look`, `Look`, `Change`, `Look` and gives the most calls that ran at once.
    async fn most_at_once(change_read_only: bool) -> usize {
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tools = ToolRegistry::new();
        let tool =
            |name, read_only| Counting { name, read_only, running: running.clone(), most: most.clone() };
        tools.register(Arc::new(tool("Look", true)));
        tools.register(Arc::new(tool("Change", change_read_only)));
        let store = EventStore::open_in_memory().unwrap();
        let new = NewSession { working_directory: "/tmp".into(), model: "m".into(), ..Default::default() };
        let session = store.create_session(new).unwrap().0.id.into_string();
        let store = StoreHandle::spawn(store);
        let provider = AnthropicProvider::new("http://127.0.0.1:9", AnthropicAuth::ApiKey("k".into()));
        let settings = TurnSettings {
            model: crate::llm::models::lookup("claude-sonnet-4-5").unwrap(),
            max_tokens: None,
            thinking_budget: None,
            system: None,
            max_turns: 1,
        };
        let ctx = ToolContext::new("/tmp");
        let agent =
            Agent { store: &store, provider: &provider, tools: &tools, ctx: &ctx, settings: &settings };
        let calls = [call("1", "Look"), call("2", "Look"), call("3", "Change"), call("4", "Look")];
        let ran = run_calls(agent, &session, 1, &calls, &mut |_| {}).await.unwrap();
        assert_eq!(ran.count, 4);
        let events = store.run(move |s| s.events(&session)).await.unwrap();
        let order: Vec<String> = events
            .iter()
            .filter(|e| e.event_type.as_str().starts_with("tool."))
            .map(|e| format!("{} {}", e.event_type.as_str(), e.payload["toolCallId"].as_str().unwrap()))
            .collect();
        assert_eq!(order.iter().filter(|o| o.starts_with("tool.result")).count(), 4);
        let results: Vec<&String> = order.iter().filter(|o| o.starts_with("tool.result")).collect();
        assert_eq!(results, ["tool.result 1", "tool.result 2", "tool.result 3", "tool.result 4"]);
        most.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn read_only_calls_run_at_the_same_time_and_others_alone() {
        assert_eq!(most_at_once(false).await, 2);
        assert_eq!(most_at_once(true).await, 4);
    }
    #[test]
    fn short_results_are_untouched_and_long_ones_cut_at_the_token_limit() {
        assert_eq!(limit("héllo"), ("héllo".to_owned(), false));
        let long = "é".repeat(MAX_RESULT_TOKENS * 4 + 10);
        let (cut, truncated) = limit(&long);
        assert!(truncated);
        assert!(cut.starts_with(&"é".repeat(MAX_RESULT_TOKENS * 4)));
        assert!(cut.contains("truncated: 10 more characters (~3 tokens)"), "{cut}");
    }
}
