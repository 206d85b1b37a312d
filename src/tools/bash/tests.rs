use std::sync::Arc;
use std::sync::Mutex;

use serde_json::json;

use super::*;

fn args(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        _ => panic!("not an object"),
    }
}

async fn bash(v: Value, dir: &std::path::Path) -> ToolResult {
    BashTool::new().execute(&args(v), &ToolContext::new(dir)).await
}

#[test]
fn definition_matches_typescript() {
    let d = BashTool::new().definition();
    assert_eq!(d.name, "Bash");
    assert_eq!(d.parameters["required"], json!(["command"]));
    assert_eq!(d.parameters["properties"]["timeout"]["type"], "number");
}

#[tokio::test]
async fn runs_command_and_reports_details() {
    let dir = tempfile::tempdir().unwrap();
    let r = bash(json!({"command": "echo hello"}), dir.path()).await;
    assert!(!r.failed());
    assert_eq!(r.text_content(), "hello\n");
    let d = r.details.unwrap();
    assert_eq!(d["command"], "echo hello");
    assert_eq!(d["exitCode"], 0);
    assert_eq!(d["truncated"], false);
    assert!(d["durationMs"].is_u64());
}

#[tokio::test]
async fn empty_output_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let r = bash(json!({"command": "true"}), dir.path()).await;
    assert_eq!(r.text_content(), "(no output)");
    let r = bash(json!({"command": "echo out; echo err >&2"}), dir.path()).await;
    assert!(!r.failed());
    assert_eq!(r.text_content(), "out\n\nerr\n");
    let r = bash(json!({"command": "echo err >&2"}), dir.path()).await;
    assert_eq!(r.text_content(), "err\n");
}

#[tokio::test]
async fn non_zero_exit_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = bash(json!({"command": "echo oops; exit 3"}), dir.path()).await;
    assert!(r.failed());
    assert_eq!(r.text_content(), "Command failed with exit code 3:\noops\n");
    assert_eq!(r.details.unwrap()["exitCode"], 3);
}

#[tokio::test]
async fn timeout_kills_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let r = bash(json!({"command": "sleep 5", "timeout": 300}), dir.path()).await;
    assert!(r.failed());
    assert_eq!(r.text_content(), "Command execution failed: Command timed out after 300ms");
}

#[tokio::test]
async fn long_output_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let r = bash(json!({"command": "head -c 50000 /dev/zero | tr '\\0' a"}), dir.path()).await;
    assert!(!r.failed());
    let text = r.text_content();
    assert!(text.starts_with(&"a".repeat(40_000)));
    assert!(text.ends_with("\n\n... [Output truncated: 12,500 tokens exceeded 10,000 token limit]"));
    let d = r.details.unwrap();
    assert_eq!(d["truncated"], true);
    assert_eq!(d["originalChars"], 50_000);
}

#[tokio::test]
async fn dangerous_commands_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in
        ["rm -rf /", "sudo ls", "RM -RF /tmp/x", "echo x > /dev/sda", "mkfs.ext4 /dev/x", ":(){ :|:& };:"]
    {
        let r = bash(json!({"command": cmd}), dir.path()).await;
        assert!(r.failed(), "{cmd}");
        assert_eq!(
            r.text_content(),
            "Command blocked for safety: Potentially destructive command pattern detected"
        );
        assert_eq!(r.details.unwrap()["blocked"], true);
    }
    let defaults = BashSettings::default().dangerous_patterns;
    assert!(dangerous_reason(&defaults, "dd if=/dev/zero of=/dev/sdb").is_some());
    assert!(dangerous_reason(&defaults, "chmod 777 /").is_some());
    assert!(dangerous_reason(&defaults, "rm --force /").is_some());
    assert!(dangerous_reason(&defaults, "rm -rf build").is_none());
    assert!(dangerous_reason(&defaults, "echo sudo").is_none());
    assert!(dangerous_reason(&defaults, "chmod 777 /tmp").is_none());
}

#[tokio::test]
async fn runs_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker.txt"), "x").unwrap();
    let r = bash(json!({"command": "ls"}), dir.path()).await;
    assert_eq!(r.text_content(), "marker.txt\n");
}

#[tokio::test]
async fn streams_output_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    let mut ctx = ToolContext::new(dir.path());
    ctx.on_output = Some(Arc::new(move |s: &str| sink.lock().unwrap().push_str(s)));
    let r = BashTool::new().execute(&args(json!({"command": "echo one; echo two"})), &ctx).await;
    assert!(!r.failed());
    assert_eq!(*seen.lock().unwrap(), "one\ntwo\n");
}

#[tokio::test]
async fn bad_arguments_name_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    for v in [json!({}), json!({"command": 5}), json!({"command": ""})] {
        let r = bash(v, dir.path()).await;
        assert!(r.failed());
        assert_eq!(
            r.text_content(),
            "Missing required parameter: command. The tool call may have been truncated."
        );
    }
    let r = bash(json!({"command": "true", "timeout": "soon"}), dir.path()).await;
    assert!(r.failed());
    assert!(r.text_content().contains("timeout"));
}

#[tokio::test]
async fn settings_set_the_patterns_and_the_output_limit() {
    let dir = tempfile::tempdir().unwrap();
    let settings = BashSettings {
        max_output_length: 10,
        dangerous_patterns: DangerousPatterns::new(vec!["^shutdown".into()]).unwrap(),
        ..BashSettings::default()
    };
    let tool = BashTool::with_settings(settings);
    let ctx = ToolContext::new(dir.path());
    let r = tool.execute(&args(json!({"command": "shutdown now"})), &ctx).await;
    assert!(r.failed());
    assert_eq!(r.details.unwrap()["blocked"], true);
    let r = tool
        .execute(&args(json!({"command": "sudo -n true 2>/dev/null; printf 0123456789abcdef"})), &ctx)
        .await;
    assert!(r.text_content().starts_with("0123456789\n\n... [Output truncated"), "{}", r.text_content());
}

#[tokio::test]
async fn an_aborted_command_reports_what_it_had_written() {
    let dir = tempfile::tempdir().unwrap();
    // The run is aborted once the command has written its first line.
    let mut ctx = ToolContext::new(dir.path());
    let cancel = ctx.cancel.clone();
    ctx.on_output = Some(Arc::new(move |_: &str| cancel.cancel()));
    let r = BashTool::new().execute(&args(json!({"command": "echo partial; sleep 30"})), &ctx).await;
    assert!(r.failed());
    assert_eq!(r.text_content(), "Command interrupted. Partial output:\npartial\n");
    let d = r.details.unwrap();
    assert_eq!((d["interrupted"].as_bool(), d["exitCode"].as_i64()), (Some(true), Some(130)));
    assert_eq!(d["command"], "echo partial; sleep 30");

    // Aborted once it started, before it wrote anything.
    let ctx = ToolContext::new(dir.path());
    let (cancel, started) = (ctx.cancel.clone(), dir.path().join("started"));
    tokio::spawn(async move {
        while !started.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        cancel.cancel();
    });
    let r = BashTool::new().execute(&args(json!({"command": "touch started; sleep 30"})), &ctx).await;
    assert_eq!(r.text_content(), "Command interrupted (no output captured)");

    // Aborted before it started.
    let ctx = ToolContext::new(dir.path());
    ctx.cancel.cancel();
    let r = BashTool::new().execute(&args(json!({"command": "sleep 30"})), &ctx).await;
    assert_eq!(r.text_content(), "Command execution was interrupted before it started");
    assert_eq!(r.details.unwrap(), json!({"command": "sleep 30", "interrupted": true}));
}
