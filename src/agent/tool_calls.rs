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
//!
//! Live output: while a batch runs, each call's [`ToolContext::on_output`] is a sink that
//! tags the chunk with the call and puts it on one bounded channel (tokio mpsc, at most
//! [`OUTPUT_QUEUE`] chunks) that the agent drains while it awaits the calls, forwarding each
//! chunk as [`AgentEvent::ToolOutput`]. Every chunk reaches the caller in order and before
//! the call's `ToolEnd`. Memory stays bounded whatever a tool prints: when the queue is full
//! (the agent task is not keeping up), the chunk is dropped and counted, and the next chunk
//! that fits (or, at the latest, the end of the call) is preceded by one notice saying how
//! many bytes were not shown. Nothing is lost from the result: the tool's own result text is
//! what is persisted and sent in `ToolEnd`. A sink the caller set on the context still gets
//! every chunk, unbounded, as before.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::turn::{persist, Agent, AgentEvent};
use crate::core::content::ToolUseBlock;
use crate::core::tools::ToolResult;
use crate::events::types::{ToolCallPayload, ToolResultPayload};
use crate::events::{EventPayload, NewEvent, StoreError};
use crate::tools::{OutputSink, ToolContext};

/// Results larger than this many bytes are kept whole in the blob store (the TypeScript
/// server's `BLOB_STORAGE_THRESHOLD`, 2 KiB).
pub const BLOB_STORAGE_THRESHOLD: usize = 2 * 1024;

/// Most estimated tokens (4 characters each) of one tool result that the model is sent. Above
/// the core tools' own caps (Bash cuts at 40,000 characters), so their output is never cut
/// twice; this catches tools without a cap.
pub const MAX_RESULT_TOKENS: usize = 12_500;

/// Most live output chunks waiting for the agent at once, over all the calls of a batch
/// (Bash chunks are at most 8 KiB, so at most about 2 MiB). Chunks beyond it are dropped and
/// counted (see the module documentation).
pub const OUTPUT_QUEUE: usize = 256;

/// A live output chunk of the call at `.0` (its index in the batch).
type Chunk = (usize, String);

/// The notice that stands for `bytes` bytes of live output that were dropped.
fn dropped_notice(bytes: u64) -> String {
    format!(
        "\n[... {bytes} bytes of output not shown live (the display fell behind); the result has them ...]\n"
    )
}

/// One call's live output sink: tags chunks with the call, counts what the full queue
/// refused.
struct CallOutput {
    index: usize,
    tx: mpsc::Sender<Chunk>,
    /// Bytes dropped since the last notice.
    dropped: Mutex<u64>,
    /// The caller's own sink, if it set one.
    outer: Option<OutputSink>,
}

impl CallOutput {
    fn push(&self, chunk: &str) {
        if let Some(outer) = &self.outer {
            outer(chunk);
        }
        if chunk.is_empty() {
            return;
        }
        let mut dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        if *dropped > 0 {
            match self.tx.try_send((self.index, dropped_notice(*dropped))) {
                Ok(()) => *dropped = 0,
                Err(_) => {
                    *dropped += chunk.len() as u64;
                    return;
                }
            }
        }
        if self.tx.try_send((self.index, chunk.to_owned())).is_err() {
            *dropped += chunk.len() as u64;
        }
    }

    /// Bytes dropped and not yet announced, now announced.
    fn take_dropped(&self) -> u64 {
        std::mem::take(&mut *self.dropped.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What became of the calls.
pub(crate) struct Ran {
    /// How many calls ran (or were refused by their tool).
    pub count: usize,
    /// Whether the run was aborted before every call had run.
    pub aborted: bool,
    /// Whether a tool asked to end the run after this round of calls (`stopTurn`: the
    /// tools that wait for the user, e.g. `AskUserQuestion`).
    pub stop: bool,
    /// The files the calls touched, as `builtin:post-tool-use` tracked them (as the calls
    /// named them), in order.
    pub touched: Vec<String>,
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
    let mut ran = Ran { count: 0, aborted: false, stop: false, touched: Vec::new() };
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
        // Guardrails and hooks (src/agent/hooks/gate.rs) see each call first: a refused call
        // does not run and gets its refusal as result; a hook may change the arguments.
        let (mut calls, mut refusals) = (Vec::with_capacity(batch.len()), Vec::with_capacity(batch.len()));
        for call in batch {
            let (call, refusal) = super::hooks::gate::before_tool(agent, session, call, on_event).await?;
            persist_call(agent, session, turn, &call, on_event).await?;
            calls.push(call);
            refusals.push(refusal);
        }
        let results = run_batch(agent, &calls, &refusals, on_event).await;
        for ((call, (result, duration_ms)), refusal) in calls.iter().zip(results).zip(&refusals) {
            ran.count += 1;
            ran.stop |= result.stop_turn == Some(true);
            let interrupted = cancel.is_cancelled();
            persist_result(agent, session, call, &result, duration_ms, interrupted, on_event).await?;
            if refusal.is_none() {
                // Hooks: `PostToolUse`, for calls that ran.
                let tracked =
                    super::hooks::gate::after_tool(agent, session, call, &result, duration_ms, on_event)
                        .await?;
                ran.touched.extend(tracked);
            }
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

/// Runs `batch` at the same time, forwarding their live output as it comes, and gives their
/// results in order once every call has ended and all its output was forwarded.
async fn run_batch(
    agent: Agent<'_>,
    batch: &[ToolUseBlock],
    refusals: &[Option<ToolResult>],
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Vec<(ToolResult, u64)> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(OUTPUT_QUEUE);
    let sinks: Vec<Arc<CallOutput>> = (0..batch.len())
        .map(|index| {
            Arc::new(CallOutput {
                index,
                tx: tx.clone(),
                dropped: Mutex::new(0),
                outer: agent.ctx.on_output.clone(),
            })
        })
        .collect();
    drop(tx);
    let contexts: Vec<ToolContext> = sinks
        .iter()
        .zip(batch)
        .map(|(sink, call)| {
            let mut ctx = agent.ctx.clone();
            ctx.tool_call_id = Some(call.id.clone());
            let sink = Arc::clone(sink);
            ctx.on_output = Some(Arc::new(move |chunk: &str| sink.push(chunk)));
            ctx
        })
        .collect();
    let all = join_all(
        batch
            .iter()
            .zip(&contexts)
            .zip(refusals)
            .map(|((call, ctx), no)| execute(agent, call, ctx, no.as_ref())),
    );
    tokio::pin!(all);
    let forward = |on_event: &mut dyn FnMut(AgentEvent<'_>), (index, chunk): Chunk| {
        on_event(AgentEvent::ToolOutput { id: &batch[index].id, chunk: &chunk });
    };
    let results = loop {
        tokio::select! {
            biased;
            Some(chunk) = rx.recv() => forward(on_event, chunk),
            results = &mut all => break results,
        }
    };
    // Every call has ended: what it printed is queued (or counted as dropped) by now.
    while let Ok(chunk) = rx.try_recv() {
        forward(on_event, chunk);
    }
    for (index, sink) in sinks.iter().enumerate() {
        let dropped = sink.take_dropped();
        if dropped > 0 {
            forward(on_event, (index, dropped_notice(dropped)));
        }
    }
    results
}

async fn execute(
    agent: Agent<'_>,
    call: &ToolUseBlock,
    ctx: &ToolContext,
    refusal: Option<&ToolResult>,
) -> (ToolResult, u64) {
    let started = Instant::now();
    if let Some(refused) = refusal {
        return (refused.clone(), 0);
    }
    let result = match agent.tools.get(&call.name) {
        Some(tool) => tool.execute(&call.arguments, ctx).await,
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
        truncated: Some(truncated),
        blob_id: None,
        run_id: agent.settings.run_id.clone(),
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

    /// A tool that prints `count` chunks `<prefix><i>` through its sink, pausing `pause_ms`
    /// after each (0: without yielding, as a flood would).
    struct Printing {
        name: &'static str,
        count: usize,
        pause_ms: u64,
    }

    impl Tool for Printing {
        fn definition(&self) -> ToolDefinition {
            ToolDefinition {
                name: self.name.into(),
                description: String::new(),
                parameters: JsonObject::new(),
            }
        }
        fn execute<'a>(&'a self, _: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
            Box::pin(async move {
                let sink = ctx.on_output.clone().expect("the agent sets a sink");
                for i in 0..self.count {
                    sink(&format!("{}{i};", self.name));
                    if self.pause_ms > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(self.pause_ms)).await;
                    }
                }
                ToolResult::text("printed")
            })
        }
        fn read_only(&self) -> bool {
            true
        }
    }

    /// Runs `calls` with `tools` in a fresh session; gives the events seen, as text lines.
    async fn run_with(tools: ToolRegistry, calls: &[ToolUseBlock]) -> Vec<String> {
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
            run_id: None,
            model_name: None,
            user_fields: Default::default(),
            compaction: None,
            failures: Default::default(),
        };
        let ctx = ToolContext::new("/tmp");
        let agent = Agent {
            store: &store,
            provider: &provider,
            tools: &tools,
            ctx: &ctx,
            settings: &settings,
            gate: None,
            live: None,
        };
        let mut seen = Vec::new();
        run_calls(agent, &session, 1, calls, &mut |e| match e {
            AgentEvent::ToolStart { id, .. } => seen.push(format!("start {id}")),
            AgentEvent::ToolOutput { id, chunk } => seen.push(format!("output {id} {chunk}")),
            AgentEvent::ToolEnd { id, .. } => seen.push(format!("end {id}")),
            AgentEvent::Persisted(e) => seen.push(format!(
                "persisted {} {}",
                e.event_type.as_str(),
                e.payload["toolCallId"].as_str().unwrap()
            )),
            _ => {}
        })
        .await
        .unwrap();
        seen
    }

    #[tokio::test]
    async fn live_output_is_forwarded_per_call_in_order_before_each_end() {
        let mut tools = ToolRegistry::new();
        tools.register(Arc::new(Printing { name: "P", count: 3, pause_ms: 5 }));
        tools.register(Arc::new(Printing { name: "Q", count: 2, pause_ms: 7 }));
        let seen = run_with(tools, &[call("1", "P"), call("2", "Q")]).await;
        let of = |id: &str| -> Vec<String> {
            seen.iter().filter(|l| l.starts_with(&format!("output {id} "))).cloned().collect()
        };
        assert_eq!(of("1"), ["output 1 P0;", "output 1 P1;", "output 1 P2;"]);
        assert_eq!(of("2"), ["output 2 Q0;", "output 2 Q1;"]);
        let at = |line: &str| seen.iter().position(|l| l == line).unwrap();
        for (id, first, last) in
            [("1", "output 1 P0;", "output 1 P2;"), ("2", "output 2 Q0;", "output 2 Q1;")]
        {
            assert!(at(&format!("start {id}")) < at(first), "{seen:?}");
            assert!(at(last) < at(&format!("end {id}")), "{seen:?}");
        }
    }

    #[tokio::test]
    async fn a_flood_of_output_is_bounded_and_the_dropped_bytes_are_counted() {
        let mut tools = ToolRegistry::new();
        let count = OUTPUT_QUEUE * 4;
        tools.register(Arc::new(Printing { name: "F", count, pause_ms: 0 }));
        let seen = run_with(tools, &[call("1", "F")]).await;
        let outputs: Vec<&str> = seen.iter().filter_map(|l| l.strip_prefix("output 1 ")).collect();
        assert_eq!(outputs.len(), OUTPUT_QUEUE + 1, "the queue's worth, then one notice");
        let shown: String = outputs[..OUTPUT_QUEUE].concat();
        let expected: String = (0..OUTPUT_QUEUE).map(|i| format!("F{i};")).collect();
        assert_eq!(shown, expected, "the first chunks, in order");
        let dropped: u64 = (OUTPUT_QUEUE..count).map(|i| format!("F{i};").len() as u64).sum();
        assert_eq!(outputs[OUTPUT_QUEUE], dropped_notice(dropped));
        assert_eq!(seen.last().unwrap(), "end 1");
    }

    /// Runs `Look`, `Look`, `Change`, `Look` and gives the most calls that ran at once.
    async fn most_at_once(change_read_only: bool) -> usize {
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tools = ToolRegistry::new();
        let tool =
            |name, read_only| Counting { name, read_only, running: running.clone(), most: most.clone() };
        tools.register(Arc::new(tool("Look", true)));
        tools.register(Arc::new(tool("Change", change_read_only)));
        let calls = [call("1", "Look"), call("2", "Look"), call("3", "Change"), call("4", "Look")];
        let seen = run_with(tools, &calls).await;
        let results: Vec<&String> = seen.iter().filter(|l| l.starts_with("persisted tool.result")).collect();
        assert_eq!(
            results,
            [
                "persisted tool.result 1",
                "persisted tool.result 2",
                "persisted tool.result 3",
                "persisted tool.result 4"
            ],
            "results are persisted in the model's order"
        );
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
