//! `Bash`: runs `bash -c <command>` in the session's working directory.
//!
//! Output is stdout, then stderr after a newline (`(no output)` when both are empty); a
//! non-zero exit is an error result `Command failed with exit code N:\n<output>`; output
//! longer than 40000 characters is cut with an `... [Output truncated: …]` note. Commands
//! matching the default dangerous patterns are refused before running. Chunks of output go
//! to [`ToolContext::on_output`] as they arrive. A timeout or an abort
//! ([`ToolContext::cancel`]) kills the command's whole process group.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::tool_support::{estimate_tokens, js_len, js_prefix, js_space, optional_number, thousands};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// Timeout when the call gives none, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: f64 = 120_000.0;
/// Largest timeout a call may ask for, in milliseconds.
pub const MAX_TIMEOUT_MS: f64 = 600_000.0;
/// Output longer than this (in UTF-16 code units, as the TypeScript server counted) is cut.
pub const MAX_OUTPUT_LENGTH: usize = 40_000;
/// Why a command stopped when its run was aborted (its whole process group is killed).
const INTERRUPTED: &str = "Command interrupted: the run was aborted";

/// The `Bash` tool.
#[derive(Debug, Clone, Default)]
pub struct BashTool;

impl BashTool {
    /// The tool with the default settings.
    pub fn new() -> Self {
        Self
    }
}

impl Tool for BashTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The shell command to execute"},
                "timeout": {"type": "number", "description": "Timeout in milliseconds (max 600000)"},
                "description": {"type": "string", "description": "Brief description of what this command does"}
            },
            "required": ["command"]
        });
        ToolDefinition::new(
            "Bash",
            "Execute a shell command. Commands that are potentially destructive require confirmation.",
            parameters,
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(run(arguments, ctx))
    }
}

async fn run(args: &JsonObject, ctx: &ToolContext) -> ToolResult {
    let command = match args.get("command") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return ToolResult::error(
                "Missing required parameter: command. The tool call may have been truncated.",
            )
            .with_details(json!({ "command": other }));
        }
    };
    let timeout_ms = match optional_number(args, "timeout") {
        Ok(t) => t.unwrap_or(DEFAULT_TIMEOUT_MS).clamp(0.0, MAX_TIMEOUT_MS),
        Err(e) => return e,
    };
    if let Some(v) = args.get("description").filter(|v| !v.is_null() && !v.is_string()) {
        return super::tool_support::wrong_type("description", "a string", v);
    }

    if let Some(reason) = dangerous_reason(&command) {
        return ToolResult::error(format!("Command blocked for safety: {reason}"))
            .with_details(json!({"command": command, "blocked": true, "reason": reason}));
    }

    let start = Instant::now();
    let cwd = ctx.working_directory.clone();
    let on_output = ctx.on_output.clone();
    let cancel = ctx.cancel.clone();
    let cmd = command.clone();
    let outcome =
        tokio::task::spawn_blocking(move || run_blocking(&cmd, &cwd, timeout_ms, on_output, &cancel)).await;
    let duration_ms = start.elapsed().as_millis() as u64;

    let failure = |message: String| {
        ToolResult::error(format!("Command execution failed: {message}"))
            .with_details(json!({"command": command, "durationMs": duration_ms, "error": message}))
    };
    let out = match outcome {
        Ok(Ok(out)) => out,
        Ok(Err(message)) => return failure(message),
        Err(join) => return failure(join.to_string()),
    };

    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut output = stdout.into_owned();
    if !stderr.is_empty() {
        if !output.is_empty() {
            output.push('\n');
        }
        output.push_str(&stderr);
    }

    let original_length = js_len(&output);
    let truncated = original_length > MAX_OUTPUT_LENGTH;
    if truncated {
        let note = format!(
            "\n\n... [Output truncated: {} tokens exceeded {} token limit]",
            thousands(estimate_tokens(original_length)),
            thousands(estimate_tokens(MAX_OUTPUT_LENGTH))
        );
        output = format!("{}{note}", js_prefix(&output, MAX_OUTPUT_LENGTH));
    }

    let mut details = json!({
        "command": command,
        "exitCode": out.exit_code,
        "durationMs": duration_ms,
        "truncated": truncated,
    });
    if truncated {
        details["originalChars"] = json!(original_length);
        details["originalTokens"] = json!(estimate_tokens(original_length));
        details["finalTokens"] = json!(estimate_tokens(MAX_OUTPUT_LENGTH));
    }

    if out.exit_code != 0 {
        ToolResult::error(format!("Command failed with exit code {}:\n{output}", out.exit_code))
            .with_details(details)
    } else if output.is_empty() {
        ToolResult::text("(no output)").with_details(details)
    } else {
        ToolResult::text(output).with_details(details)
    }
}

/// Where live output chunks go.
use super::OutputSink;

/// What a finished command produced.
struct Finished {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit_code: i32,
}

enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
}

/// Runs the command to completion (the process exited and its output pipes closed), or
/// kills its process group at the deadline (`Err("Command timed out after <ms>ms")`) or
/// when the run is aborted (`Err("Command interrupted ...")`, within 20 ms).
fn run_blocking(
    command: &str,
    cwd: &std::path::Path,
    timeout_ms: f64,
    on_output: Option<OutputSink>,
    cancel: &CancellationToken,
) -> Result<Finished, String> {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawn bash: {e}"))?;

    let (tx, rx) = mpsc::channel::<Chunk>();
    if let Some(mut pipe) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || pump(&mut pipe, &tx, Chunk::Out));
    }
    if let Some(mut pipe) = child.stderr.take() {
        let tx = tx.clone();
        std::thread::spawn(move || pump(&mut pipe, &tx, Chunk::Err));
    }
    drop(tx);

    let deadline = Instant::now() + Duration::from_secs_f64(timeout_ms / 1000.0);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut status: Option<ExitStatus> = None;
    let mut pipes_open = true;
    loop {
        let now = Instant::now();
        if now >= deadline {
            kill_group(&mut child);
            return Err(format!("Command timed out after {}ms", format_ms(timeout_ms)));
        }
        if cancel.is_cancelled() {
            kill_group(&mut child);
            return Err(INTERRUPTED.to_owned());
        }
        let wait = (deadline - now).min(Duration::from_millis(20));
        if pipes_open {
            match rx.recv_timeout(wait) {
                Ok(chunk) => {
                    let bytes = match chunk {
                        Chunk::Out(b) => {
                            stdout.extend_from_slice(&b);
                            b
                        }
                        Chunk::Err(b) => {
                            stderr.extend_from_slice(&b);
                            b
                        }
                    };
                    if let Some(cb) = &on_output {
                        cb(&String::from_utf8_lossy(&bytes));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => pipes_open = false,
            }
        } else {
            std::thread::sleep(wait);
        }
        if status.is_none() {
            status = child.try_wait().map_err(|e| e.to_string())?;
        }
        if let (Some(st), false) = (status, pipes_open) {
            return Ok(Finished { stdout, stderr, exit_code: st.code().unwrap_or(1) });
        }
    }
}

fn pump(pipe: &mut impl Read, tx: &mpsc::Sender<Chunk>, wrap: fn(Vec<u8>) -> Chunk) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(wrap(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}

/// Kills the command's whole process group (so children holding the pipes die too), then
/// the shell itself, and reaps it.
fn kill_group(child: &mut Child) {
    let pgid = child.id();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// A millisecond count the way JavaScript prints a number (`300`, `1.5`).
fn format_ms(ms: f64) -> String {
    if ms.fract() == 0.0 && ms.abs() < 1e15 {
        format!("{}", ms as i64)
    } else {
        format!("{ms}")
    }
}

/// Why `command` is refused, when it matches one of the TypeScript server's default
/// `tools.bash.dangerousPatterns` (matched case-insensitively):
///
/// - `^rm\s+(-rf?|--force)\s+/\s*$`, `^rm\s+-rf?\s+/\s*$`, `rm\s+-rf?\s+/`
/// - `^sudo\s+`, `^chmod\s+777\s+/\s*$`, `^mkfs\.`, `^dd\s+if=.*of=/dev/`
/// - `>\s*/dev/sd[a-z]`, the fork bomb `^:\(\)\s*\{\s*:\|\s*:\s*&\s*\}\s*;\s*:`
pub fn dangerous_reason(command: &str) -> Option<&'static str> {
    let c = command.to_ascii_lowercase();
    let s = c.as_str();
    let hit = rm_force_root(s)
        || anywhere(s, rm_recursive_slash)
        || seq(s, &[Lit("sudo"), Ws1]).is_some()
        || seq(s, &[Lit("chmod"), Ws1, Lit("777"), Ws1, Lit("/"), Ws0, End]).is_some()
        || s.starts_with("mkfs.")
        || dd_to_device(s)
        || anywhere(s, redirect_to_disk)
        || seq(
            s,
            &[
                Lit(":()"),
                Ws0,
                Lit("{"),
                Ws0,
                Lit(":|"),
                Ws0,
                Lit(":"),
                Ws0,
                Lit("&"),
                Ws0,
                Lit("}"),
                Ws0,
                Lit(";"),
                Ws0,
                Lit(":"),
            ],
        )
        .is_some();
    hit.then_some("Potentially destructive command pattern detected")
}

#[derive(Clone, Copy)]
enum Pat {
    Lit(&'static str),
    /// One or more whitespace characters.
    Ws1,
    /// Zero or more whitespace characters.
    Ws0,
    /// End of input.
    End,
}
use Pat::{End, Lit, Ws0, Ws1};

/// Matches the patterns in order at the start of `s`, returning the rest.
fn seq<'s>(mut s: &'s str, pats: &[Pat]) -> Option<&'s str> {
    for p in pats {
        s = match *p {
            Lit(l) => s.strip_prefix(l)?,
            Ws1 => {
                let rest = s.trim_start_matches(js_space);
                if rest.len() == s.len() {
                    return None;
                }
                rest
            }
            Ws0 => s.trim_start_matches(js_space),
            End => {
                if !s.is_empty() {
                    return None;
                }
                s
            }
        };
    }
    Some(s)
}

/// Whether `f` matches at some character position of `s`.
fn anywhere(s: &str, f: fn(&str) -> bool) -> bool {
    s.char_indices().any(|(i, _)| f(&s[i..]))
}

/// `^rm\s+(-rf?|--force)\s+/\s*$` (and its narrower `^rm\s+-rf?\s+/\s*$`).
fn rm_force_root(s: &str) -> bool {
    ["-rf", "-r", "--force"]
        .iter()
        .any(|flag| seq(s, &[Lit("rm"), Ws1, Lit(flag), Ws1, Lit("/"), Ws0, End]).is_some())
}

/// `rm\s+-rf?\s+/` at the start of `s`.
fn rm_recursive_slash(s: &str) -> bool {
    ["-rf", "-r"].iter().any(|flag| seq(s, &[Lit("rm"), Ws1, Lit(flag), Ws1, Lit("/")]).is_some())
}

/// `^dd\s+if=.*of=/dev/` (`.` does not match line terminators).
fn dd_to_device(s: &str) -> bool {
    seq(s, &[Lit("dd"), Ws1, Lit("if=")])
        .map(|rest| {
            rest.split(['\n', '\r', '\u{2028}', '\u{2029}']).next().unwrap_or("").contains("of=/dev/")
        })
        .unwrap_or(false)
}

/// `>\s*/dev/sd[a-z]` at the start of `s`.
fn redirect_to_disk(s: &str) -> bool {
    seq(s, &[Lit(">"), Ws0, Lit("/dev/sd")])
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests;
