//! Provider faults through the real binary (`tron chat`) against the scripted mock LLM
//! server, for Anthropic, OpenAI Chat Completions and Gemini:
//!
//! - a 429 (with `retry-after: 1`) or a 500 before the answer is retried, announced on
//!   stderr (`retrying (1/5) in … s: …`), and the answer of the next attempt is printed and
//!   persisted (exit 0, no `error.provider`);
//! - a 500 on every attempt gives up after the policy's 5 retries: exit 1, one `error: …`
//!   line on stderr, `error.provider` persisted;
//! - a connection cut after some text was shown is not retried: the text stays on stdout,
//!   exit 1, one `error: …` line; what was shown is persisted as a `message.assistant` with
//!   `stopReason: "error"`, then `error.provider` (code `connection_error`, not retryable);
//! - a frame whose data is not JSON ends the run the same way with a clear "malformed
//!   stream" error quoting the bad data;
//! - a slow stream (every frame paced) still completes.
//!
//! Retries use a 20 ms base (`TRON_RETRY_BASE_MS`); a `retry-after` of 1 s is still waited
//! out.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{json, Value};
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// One provider under test: the model that selects it and its shapes.
#[derive(Clone, Copy)]
struct Provider {
    /// The `--model` passed.
    model: &'static str,
    /// The provider name in `error.provider`.
    name: &'static str,
    /// The request path its requests go to (prefix).
    path: &'static str,
}

const ANTHROPIC: Provider = Provider { model: "claude-sonnet-4-5", name: "anthropic", path: "/v1/messages" };
const OPENAI: Provider = Provider { model: "gpt-4o", name: "openai", path: "/v1/chat/completions" };
const GEMINI: Provider = Provider {
    model: "gemini-2.5-flash",
    name: "google",
    path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
};
const ALL: [Provider; 3] = [ANTHROPIC, OPENAI, GEMINI];

impl Provider {
    /// An HTTP error in this provider's error shape.
    fn http_error(self, status: u16, message: &str, retry_after: Option<u64>) -> ScriptedResponse {
        match self.name {
            "anthropic" => {
                let kind = if status == 429 { "rate_limit_error" } else { "api_error" };
                ScriptedResponse::anthropic_error(status, kind, message, retry_after)
            }
            "openai" => {
                let kind = if status == 429 { "rate_limit_exceeded" } else { "server_error" };
                ScriptedResponse::openai_error(status, kind, message, retry_after)
            }
            _ => {
                let kind = if status == 429 { "RESOURCE_EXHAUSTED" } else { "INTERNAL" };
                ScriptedResponse::google_error(status, kind, message, retry_after)
            }
        }
    }
}

fn text_reply(text: &str) -> ScriptedResponse {
    ScriptedResponse::stream([
        Step::Text { text: text.into() },
        Step::Usage { input_tokens: 10, output_tokens: 5, cache_read_tokens: 0, cache_creation_tokens: 0 },
        Step::Stop { reason: "end_turn".into() },
    ])
}

fn chat(mock: &MockLlm, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::from_std(common::chat_command(mock, db));
    cmd.args(args).timeout(Duration::from_secs(120));
    cmd
}

/// What one `tron chat` run left behind.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The session's events as (type, payload).
    events: Vec<(String, Value)>,
    /// The paths of the requests the mock received.
    paths: Vec<String>,
    elapsed: Duration,
}

impl Run {
    fn types(&self) -> Vec<&str> {
        self.events.iter().map(|(t, _)| t.as_str()).collect()
    }

    /// The payload of the first event of type `kind`.
    fn payload(&self, kind: &str) -> &Value {
        &self
            .events
            .iter()
            .find(|(t, _)| t == kind)
            .unwrap_or_else(|| panic!("no {kind}: {:?}", self.types()))
            .1
    }

    /// The stderr lines other than retry notices.
    fn error_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.starts_with("retrying (")).collect()
    }

    fn retry_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with("retrying (")).collect()
    }

    /// Asserts a failed run: exit 1 and exactly one `error: ` line (besides retry notices)
    /// containing every `needle`; returns the `error.provider` payload, which must be the
    /// last event.
    fn failed(&self, provider: Provider, needles: &[&str]) -> &Value {
        assert_eq!(self.code, Some(1), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        let lines = self.error_lines();
        assert_eq!(lines.len(), 1, "one error line expected: {:?}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{:?}", lines[0]);
        for needle in needles {
            assert!(lines[0].contains(needle), "{needle:?} not in {:?}", lines[0]);
        }
        let (kind, payload) = self.events.last().unwrap();
        assert_eq!(kind, "error.provider", "{:?}", self.types());
        assert_eq!(payload["provider"], provider.name);
        payload
    }

    /// Asserts a run that answered `text`: exit 0, the text on stdout, the turn persisted.
    fn answered(&self, text: &str) {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        assert_eq!(self.stdout, format!("{text}\n"));
        assert_eq!(
            self.types(),
            ["session.start", "message.user", "stream.turn_start", "message.assistant", "stream.turn_end"]
        );
        assert_eq!(self.events[3].1["content"], json!([{"type": "text", "text": text}]));
    }
}

/// Runs `tron chat hi --model …` against a mock serving `responses`.
fn run(provider: Provider, responses: Vec<ScriptedResponse>) -> Run {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start(Script { responses })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let cwd = dir.path().to_str().unwrap();
    let started = Instant::now();
    let out =
        chat(&mock, &db, &["hi", "--model", provider.model, "--cwd", cwd, "--no-tools"]).output().unwrap();
    let elapsed = started.elapsed();
    let (_, events) = common::only_session_events(&db);
    let paths: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().all(|p| p.starts_with(provider.path)), "{paths:?}");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        events,
        paths,
        elapsed,
    }
}

#[test]
fn a_429_with_retry_after_is_retried_and_the_answer_printed() {
    for provider in [ANTHROPIC, OPENAI] {
        let r = run(
            provider,
            vec![provider.http_error(429, "Rate limited, slow down", Some(1)), text_reply("recovered")],
        );
        r.answered("recovered");
        assert_eq!(r.paths.len(), 2);
        let retries = r.retry_lines();
        assert_eq!(retries.len(), 1, "{}", r.stderr);
        assert!(retries[0].starts_with("retrying (1/5) in "), "{}", retries[0]);
        assert!(
            retries[0].contains("429") && retries[0].contains("Rate limited, slow down"),
            "{}",
            retries[0]
        );
        assert!(r.elapsed >= Duration::from_secs(1), "retry-after: 1 is honoured: {:?}", r.elapsed);
    }
}

#[test]
fn a_500_then_success_is_retried() {
    for provider in ALL {
        let r = run(
            provider,
            vec![provider.http_error(500, "Internal server error", None), text_reply("second try")],
        );
        r.answered("second try");
        assert_eq!(r.paths.len(), 2);
        assert_eq!(r.retry_lines().len(), 1, "{}", r.stderr);
        assert!(r.retry_lines()[0].contains("500"), "{}", r.stderr);
    }
}

#[test]
fn a_500_every_time_gives_up_after_the_retries() {
    let provider = ANTHROPIC;
    let responses = (0..6).map(|_| provider.http_error(500, "Internal server error", None)).collect();
    let r = run(provider, responses);
    let payload = r.failed(provider, &["500", "Internal server error"]);
    assert_eq!(payload["code"], "500");
    assert_eq!(payload["retryable"], true);
    assert_eq!(r.paths.len(), 6, "the first attempt and 5 retries");
    assert_eq!(r.retry_lines().len(), 5, "{}", r.stderr);
    assert!(!r.types().contains(&"message.assistant"));
}

#[test]
fn a_connection_cut_after_text_is_not_retried_and_the_error_is_persisted() {
    for provider in ALL {
        let r = run(
            provider,
            vec![
                ScriptedResponse::stream([Step::Text { text: "The first half of".into() }, Step::Cut]),
                text_reply("never sent"),
            ],
        );
        assert!(r.stdout.starts_with("The first half of"), "what was streamed was shown: {:?}", r.stdout);
        let payload = r.failed(provider, &["connection"]);
        assert_eq!(payload["code"], "connection_error", "{payload}");
        assert_eq!(payload["retryable"], false);
        assert_eq!(r.paths.len(), 1, "no retry once text was shown");
        // What was shown is persisted (stopReason "error"), then the error.
        assert_eq!(
            r.types(),
            ["session.start", "message.user", "stream.turn_start", "message.assistant", "error.provider"]
        );
        let partial = r.payload("message.assistant");
        assert_eq!(partial["stopReason"], "error");
        assert_eq!(partial["content"][0]["text"], "The first half of");
    }
}

#[test]
fn a_malformed_frame_is_a_clear_error() {
    for provider in ALL {
        let r = run(
            provider,
            vec![
                ScriptedResponse::stream([
                    Step::Text { text: "Before the bad frame".into() },
                    Step::Malformed { data: "data: {not json\n\n".into() },
                    Step::Text { text: "after".into() },
                ]),
                text_reply("never sent"),
            ],
        );
        let payload = r.failed(provider, &["malformed stream", "{not json"]);
        assert_eq!(payload["retryable"], false);
        assert!(payload["error"].as_str().unwrap().contains("{not json"), "{payload}");
        assert!(r.stdout.starts_with("Before the bad frame"), "{:?}", r.stdout);
        assert!(!r.stdout.contains("after"), "{:?}", r.stdout);
        assert_eq!(r.paths.len(), 1, "a malformed stream is not retried");
        assert_eq!(r.payload("message.assistant")["content"][0]["text"], "Before the bad frame");
    }
}

#[test]
fn a_malformed_first_frame_is_not_retried() {
    let r = run(
        ANTHROPIC,
        vec![ScriptedResponse::stream([Step::Malformed { data: "data: <html>bad gateway\n\n".into() }])],
    );
    r.failed(ANTHROPIC, &["malformed stream", "<html>bad gateway"]);
    assert_eq!(r.paths.len(), 1);
    assert!(r.retry_lines().is_empty(), "{}", r.stderr);
}

#[test]
fn a_slow_stream_still_completes() {
    let text = "Slowly but surely the whole answer arrives.";
    for provider in [ANTHROPIC, GEMINI] {
        let r = run(
            provider,
            vec![ScriptedResponse::stream([
                Step::Pace { ms: 30 },
                Step::Text { text: text.into() },
                Step::Usage {
                    input_tokens: 10,
                    output_tokens: 5,
                    cache_read_tokens: 0,
                    cache_creation_tokens: 0,
                },
                Step::Stop { reason: "end_turn".into() },
            ])],
        );
        r.answered(text);
        // 7 words, each its own paced frame.
        assert!(r.elapsed >= Duration::from_millis(7 * 30), "{:?}", r.elapsed);
    }
}
