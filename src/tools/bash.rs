//! `Bash`: runs `bash -c <command>` in the session's working directory.
//!
//! Output is stdout, then stderr after a newline (`(no output)` when both are empty); a
//! non-zero exit is an error result `Command failed with exit code N:\n<output>`; output
//! longer than `tools.bash.maxOutputLength` (40000) characters is cut with an
//! `... [Output truncated: …]` note. Commands matching `tools.bash.dangerousPatterns` are
//! refused before running. Chunks of output go
//! to [`ToolContext::on_output`] as they arrive. A timeout or an abort
//! ([`ToolContext::cancel`]) kills the command's whole process group.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::tool_support::{estimate_tokens, js_len, js_prefix, optional_number, thousands};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;
use crate::settings::{BashSettings, DangerousPatterns};

/// The exit code reported for a command killed because its run was aborted (the
/// TypeScript tool's `code ?? 130`, "terminated by Ctrl+C").
const INTERRUPTED_EXIT: i32 = 130;

/// The `Bash` tool.
#[derive(Debug, Clone, Default)]
pub struct BashTool {
    settings: BashSettings,
}

impl BashTool {
    /// The tool with the default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tool with `tools.bash` settings (limits and dangerous patterns).
    pub fn with_settings(settings: BashSettings) -> Self {
        Self { settings }
    }
}

impl Tool for BashTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The shell command to execute"},
                "timeout": {"type": "number", "description": format!("Timeout in milliseconds (max {})", self.settings.max_timeout_ms)},
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
        Box::pin(run(&self.settings, arguments, ctx))
    }
}

async fn run(settings: &BashSettings, args: &JsonObject, ctx: &ToolContext) -> ToolResult {
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
        Ok(t) => t.unwrap_or(settings.default_timeout_ms as f64).clamp(0.0, settings.max_timeout_ms as f64),
        Err(e) => return e,
    };
    if let Some(v) = args.get("description").filter(|v| !v.is_null() && !v.is_string()) {
        return super::tool_support::wrong_type("description", "a string", v);
    }

    if ctx.cancel.is_cancelled() {
        return ToolResult::error("Command execution was interrupted before it started")
            .with_details(json!({"command": command, "interrupted": true}));
    }
    if let Some(reason) = dangerous_reason(&settings.dangerous_patterns, &command) {
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

    if out.interrupted {
        return interrupted(&command, &out, duration_ms, settings.max_output_length);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut output = stdout.into_owned();
    if !stderr.is_empty() {
        if !output.is_empty() {
            output.push('\n');
        }
        output.push_str(&stderr);
    }

    let max_output = settings.max_output_length;
    let original_length = js_len(&output);
    let truncated = original_length > max_output;
    if truncated {
        let note = format!(
            "\n\n... [Output truncated: {} tokens exceeded {} token limit]",
            thousands(estimate_tokens(original_length)),
            thousands(estimate_tokens(max_output))
        );
        output = format!("{}{note}", js_prefix(&output, max_output));
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
        details["finalTokens"] = json!(estimate_tokens(max_output));
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

/// The result of a command killed because its run was aborted, as the TypeScript tool
/// gives it (`capabilities/tools/system/bash.ts` @22a5d11): `Command interrupted. Partial
/// output:\n<output>` (stdout, then stderr after a newline; cut at `maxOutputLength` with
/// `\n... [output truncated]`) or `Command interrupted (no output captured)`, an error with
/// details `{command, exitCode, durationMs, interrupted: true}`.
fn interrupted(command: &str, out: &Finished, duration_ms: u64, max_output: usize) -> ToolResult {
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.is_empty() {
        if !output.is_empty() {
            output.push('\n');
        }
        output.push_str(&stderr);
    }
    if js_len(&output) > max_output {
        output = format!("{}\n... [output truncated]", js_prefix(&output, max_output));
    }
    let text = if output.is_empty() {
        "Command interrupted (no output captured)".to_owned()
    } else {
        format!("Command interrupted. Partial output:\n{output}")
    };
    ToolResult::error(text).with_details(json!({
        "command": command,
        "exitCode": out.exit_code,
        "durationMs": duration_ms,
        "interrupted": true,
    }))
}

/// Where live output chunks go.
use super::OutputSink;

/// What a finished command produced.
struct Finished {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit_code: i32,
    /// Killed because the run was aborted (`exit_code` is then 130).
    interrupted: bool,
}

enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
}

/// Runs the command to completion (the process exited and its output pipes closed), or
/// kills its process group at the deadline (`Err("Command timed out after <ms>ms")`) or
/// when the run is aborted (within 20 ms; what it had written so far, `interrupted`).
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
            return Ok(Finished { stdout, stderr, exit_code: INTERRUPTED_EXIT, interrupted: true });
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
            return Ok(Finished { stdout, stderr, exit_code: st.code().unwrap_or(1), interrupted: false });
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

/// Why `command` is refused, when it matches one of `tools.bash.dangerousPatterns`.
pub fn dangerous_reason(patterns: &DangerousPatterns, command: &str) -> Option<&'static str> {
    patterns.is_match(command).then_some("Potentially destructive command pattern detected")
}

#[cfg(test)]
mod tests;
