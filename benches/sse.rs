//! SSE decoding throughput: a multi-megabyte Anthropic Messages stream decoded through the
//! real path a response body takes (the SSE layer of `tron::llm::sse` and the Anthropic
//! decoder, driven by `tron::llm::anthropic::decode_body`), reported in bytes per second.
//!
//! The body is what the API sends for a long answer: `message_start`, a thinking block,
//! a text block of thousands of `content_block_delta` frames (a few words each, as the real
//! API streams them), a tool call whose input arrives as `input_json_delta` fragments, then
//! `message_delta` and `message_stop`, with a `ping` now and then. It is fed in 16 KiB chunks
//! that ignore frame boundaries, as a TCP read would hand them over.
//!
//! Run: `cargo bench --bench sse` (the target is at least 100 MB/s).

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tron::core::stream::StreamEvent;

/// Size of the chunks the body is fed in.
const CHUNK: usize = 16 * 1024;

/// Words the generated text is made of (with punctuation, quotes, newlines and non-ASCII,
/// so that JSON escaping and UTF-8 handling are exercised).
const WORDS: &[&str] = &[
    "The",
    "parser",
    "fails",
    "because",
    "the",
    "tokenizer",
    "drops",
    "the",
    "last",
    "byte",
    "of",
    "a",
    "multi-byte",
    "sequence",
    "when",
    "the",
    "buffer",
    "boundary",
    "falls",
    "inside",
    "it.",
    "Let's",
    "look",
    "at",
    "`src/lexer.rs`:",
    "the",
    "loop",
    "reads",
    "\"chunk\"",
    "by",
    "chunk,",
    "and",
    "über-long",
    "identifiers",
    "(like",
    "naïve_café_handler)",
    "are",
    "split.\n\n",
    "```rust\nfn",
    "next(&mut",
    "self)",
    "->",
    "Option<Token>",
    "{\n",
    "}\n```\n",
    "—",
    "done.",
];

fn frame(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn delta(index: usize, delta: Value) -> String {
    frame("content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": delta}))
}

/// A Messages API stream body of about `target` bytes; also returns how many text deltas it
/// holds.
fn anthropic_body(target: usize) -> (Vec<u8>, usize) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut words = move |n: usize| -> String {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(WORDS[rng.usize(..WORDS.len())]);
            if !s.ends_with('\n') {
                s.push(' ');
            }
        }
        s
    };
    let mut body = frame(
        "message_start",
        &json!({"type": "message_start", "message": {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message",
            "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 2679, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 14075, "output_tokens": 1}}}),
    );
    body.push_str(&frame(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
    ));
    body.push_str(&frame("ping", &json!({"type": "ping"})));
    for _ in 0..200 {
        body.push_str(&delta(0, json!({"type": "thinking_delta", "thinking": words(6)})));
    }
    body.push_str(&delta(0, json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM".repeat(30)})));
    body.push_str(&frame("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    body.push_str(&frame(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    ));
    let mut text_deltas = 0;
    while body.len() < target {
        let n = 1 + text_deltas % 5;
        body.push_str(&delta(1, json!({"type": "text_delta", "text": words(n)})));
        text_deltas += 1;
        if text_deltas % 1000 == 0 {
            body.push_str(&frame("ping", &json!({"type": "ping"})));
        }
    }
    body.push_str(&frame("content_block_stop", &json!({"type": "content_block_stop", "index": 1})));
    body.push_str(&frame(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 2, "content_block":
            {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "Edit", "input": {}}}),
    ));
    let input = json!({"file_path": "/repo/src/lexer.rs", "old_string": words(40), "new_string": words(45)})
        .to_string();
    body.push_str(&delta(2, json!({"type": "input_json_delta", "partial_json": ""})));
    let mut rest = input.as_str();
    while !rest.is_empty() {
        let mut at = rest.len().min(24);
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        let (piece, tail) = rest.split_at(at);
        body.push_str(&delta(2, json!({"type": "input_json_delta", "partial_json": piece})));
        rest = tail;
    }
    body.push_str(&frame("content_block_stop", &json!({"type": "content_block_stop", "index": 2})));
    body.push_str(&frame(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"output_tokens": 50_000}}),
    ));
    body.push_str(&frame("message_stop", &json!({"type": "message_stop"})));
    (body.into_bytes(), text_deltas)
}

/// Decodes `body` (fed in [`CHUNK`]-byte chunks) and returns (text bytes, events).
async fn decode(body: &'static [u8]) -> (usize, usize) {
    let chunks = futures_util::stream::iter(body.chunks(CHUNK).map(Ok::<_, Infallible>));
    let mut events = tron::llm::anthropic::decode_body(chunks);
    let (mut text, mut count) = (0, 0);
    let mut done = false;
    while let Some(event) = events.next().await {
        match event.expect("the generated stream decodes") {
            StreamEvent::TextDelta { delta } => text += delta.len(),
            StreamEvent::Done { message, .. } => {
                done = true;
                black_box(message);
            }
            other => {
                black_box(other);
            }
        }
        count += 1;
    }
    assert!(done, "the stream ended without its done event");
    (text, count)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (body, text_deltas) = anthropic_body(4 * 1024 * 1024);
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    let (text, events) = rt.block_on(decode(body));
    eprintln!(
        "anthropic body: {:.1} MiB, {text_deltas} text deltas, {events} stream events, {:.1} MiB of text",
        body.len() as f64 / (1024.0 * 1024.0),
        text as f64 / (1024.0 * 1024.0)
    );

    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    group.bench_function("anthropic_decode_4MiB", |b| b.iter(|| black_box(rt.block_on(decode(body)))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
