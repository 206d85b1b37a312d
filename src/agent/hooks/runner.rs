//! Running one hook file as a subprocess.
//!
//! The hook gets its context (the TypeScript `HookContext`: `hookType`, `sessionId`,
//! `timestamp`, `data`, and the kind's fields, e.g. `toolName`, `toolArguments`,
//! `toolCallId` for `PreToolUse`) as JSON on stdin, and, as the TypeScript server gave it,
//! in the environment: `HOOK_CONTEXT` (the same JSON), `HOOK_TYPE`, `HOOK_SESSION_ID`. It
//! runs in the session's working directory, in its own process group. It answers on stdout
//! (see [`HookResult::parse`]). At the timeout the whole group is killed. A module hook's
//! own settings (`priority`, `timeout`, `mode`) are read the same way, without running it
//! ([`describe`]).
//!
//! Blocking code (threads and a polling wait, like the Bash tool): call it from
//! `spawn_blocking`.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::discovery::{DiscoveredHook, Launch};
use super::HookResult;

/// The bridge that runs a JavaScript/TypeScript hook module the way the TypeScript server
/// loaded one: import it, take the default export object, the `<Kind>Hook` export or a
/// `handler` function, skip it (`continue`) when its `filter` says no, else call the handler
/// with the context and print the result as JSON.
const MODULE_BRIDGE: &str = r#"
import { pathToFileURL } from 'node:url';
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const ctx = JSON.parse(Buffer.concat(chunks).toString() || '{}');
const m = await import(pathToFileURL(process.env.TRON_HOOK_MODULE).href);
let def = null;
if (m.default && typeof m.default === 'object') def = m.default;
else if (m[ctx.hookType + 'Hook'] && typeof m[ctx.hookType + 'Hook'] === 'object') def = m[ctx.hookType + 'Hook'];
else if (typeof m.handler === 'function') def = { handler: m.handler };
if (!def || typeof def.handler !== 'function') { console.error('no hook export (default, ' + ctx.hookType + 'Hook or handler)'); process.exit(3); }
if (typeof def.filter === 'function' && !(await def.filter(ctx))) { process.stdout.write('{"action":"continue"}'); process.exit(0); }
const result = await def.handler(ctx);
process.stdout.write(JSON.stringify(result ?? { action: 'continue' }));
"#;

/// The bridge that reads a hook module's own settings without running it: the
/// `priority`, `timeout` (ms) and `mode` of the export object the run bridge would take
/// (`{}` for a bare `handler` function).
const DESCRIBE_BRIDGE: &str = r#"
import { pathToFileURL } from 'node:url';
const m = await import(pathToFileURL(process.env.TRON_HOOK_MODULE).href);
const kind = process.env.TRON_HOOK_KIND;
let def = null;
if (m.default && typeof m.default === 'object') def = m.default;
else if (m[kind + 'Hook'] && typeof m[kind + 'Hook'] === 'object') def = m[kind + 'Hook'];
else if (typeof m.handler !== 'function') { console.error('no hook export (default, ' + kind + 'Hook or handler)'); process.exit(3); }
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const out = def ? { priority: num(def.priority), timeout: num(def.timeout), mode: typeof def.mode === 'string' ? def.mode : null } : {};
process.stdout.write(JSON.stringify(out));
"#;

/// The error of a hook stopped because its run was aborted.
pub const CANCELLED: &str = "stopped: the run was aborted";

/// `runtime` set up to run `bridge` on the module at `path`.
fn bridge_command(runtime: &Path, bridge: &str, path: &Path) -> Command {
    let mut c = Command::new(runtime);
    if runtime.file_name().is_some_and(|n| n == "bun") {
        c.arg("-e").arg(bridge);
    } else {
        c.arg("--input-type=module").arg("-e").arg(bridge);
    }
    c.env("TRON_HOOK_MODULE", path);
    c
}

/// Runs `hook` with `context` in `cwd`; `Err` says why it gave no answer (spawn failure,
/// non-zero exit, timeout, or [`CANCELLED`] when `cancel` fired: the hook's process group
/// is killed then, so an abort never waits for a slow hook).
pub fn run(
    hook: &DiscoveredHook,
    context: &Value,
    cwd: &Path,
    timeout: Duration,
    cancel: Option<&tokio_util::sync::CancellationToken>,
) -> Result<HookResult, String> {
    let json = context.to_string();
    let mut cmd = match &hook.launch {
        Launch::Direct => Command::new(&hook.path),
        Launch::Interpreter(program) => {
            let mut c = Command::new(program);
            c.arg(&hook.path);
            c
        }
        Launch::Module(runtime) => bridge_command(runtime, MODULE_BRIDGE, &hook.path),
    };
    let kind = context.get("hookType").and_then(Value::as_str).unwrap_or_default();
    let session = context.get("sessionId").and_then(Value::as_str).unwrap_or_default();
    cmd.current_dir(cwd).env("HOOK_CONTEXT", &json).env("HOOK_TYPE", kind).env("HOOK_SESSION_ID", session);
    let what = hook.path.display().to_string();
    let stdout = run_process(cmd, &what, json, timeout, cancel)?;
    Ok(HookResult::parse(&stdout))
}

/// The `priority`, `timeout` and `mode` a hook module declares for `kind` (see
/// [`DESCRIBE_BRIDGE`]), read under `runtime` within `timeout`.
pub fn describe(runtime: &Path, path: &Path, kind: &str, timeout: Duration) -> Result<Value, String> {
    let mut cmd = bridge_command(runtime, DESCRIBE_BRIDGE, path);
    cmd.env("TRON_HOOK_KIND", kind);
    if let Some(dir) = path.parent() {
        cmd.current_dir(dir);
    }
    let stdout = run_process(cmd, &path.display().to_string(), String::new(), timeout, None)?;
    serde_json::from_str(stdout.trim()).map_err(|e| format!("unreadable answer ({e}): {}", stdout.trim()))
}

/// Runs `cmd` (`what`, for errors) in its own process group with `input` on stdin: its
/// stdout when it exits 0 in time, else why not (see [`run`]).
fn run_process(
    mut cmd: Command,
    what: &str,
    input: String,
    timeout: Duration,
    cancel: Option<&tokio_util::sync::CancellationToken>,
) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not stall us.
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
    }
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    for (is_out, pipe) in [
        (true, child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
        (false, child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
    ] {
        if let Some(mut pipe) = pipe {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let _ = pipe.read_to_end(&mut all);
                let _ = tx.send((is_out, all));
            });
        }
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let (mut stdout, mut stderr, mut pipes) = (Vec::new(), Vec::new(), 2);
    let mut status = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            kill_group(&mut child);
            return Err(format!("timed out after {}ms", timeout.as_millis()));
        }
        if cancel.is_some_and(|c| c.is_cancelled()) {
            kill_group(&mut child);
            return Err(CANCELLED.to_owned());
        }
        if pipes > 0 {
            match rx.recv_timeout((deadline - now).min(Duration::from_millis(20))) {
                Ok((true, bytes)) => {
                    stdout = bytes;
                    pipes -= 1;
                }
                Ok((false, bytes)) => {
                    stderr = bytes;
                    pipes -= 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => pipes = 0,
            }
        } else {
            std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
        }
        if status.is_none() {
            status = child.try_wait().map_err(|e| e.to_string())?;
        }
        if let (Some(st), 0) = (status, pipes) {
            if !st.success() {
                let err = String::from_utf8_lossy(&stderr);
                return Err(format!("exited with {st}: {}", err.trim()));
            }
            return Ok(String::from_utf8_lossy(&stdout).into_owned());
        }
    }
}

/// Kills the hook's process group (children holding its pipes too) and reaps it.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}
