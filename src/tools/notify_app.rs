//! `NotifyApp`: a push notification to the Tron iOS app, offered only when APNS is
//! configured (see [`crate::platform::apns`]), as in the TypeScript server.
//!
//! The title is cut to 50 and the body to 200 UTF-16 units (47 / 197 and `...`); `data`
//! (string values) is sent as custom keys with the session id and the call id; `sheetContent`
//! is not sent (the app shows it from the call's arguments). The result text and details
//! (`{successCount, failureCount, errors?}`) are the TypeScript tool's.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::tool_support::{js_len, js_prefix};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;
use crate::events::StoreHandle;
use crate::platform::apns::{notify_devices, ApnsClient, Notification, NotifyOutcome, Priority};

/// The tool's name.
pub const NAME: &str = "NotifyApp";

const DESCRIPTION: &str = "Send a push notification to the Tron iOS app.

## When to Use
- Long-running task has completed and the user should know
- Important results are ready that need user attention
- User input is required and the app may be backgrounded
- Agent wants to prompt user to return to the conversation

## When NOT to Use
- For routine progress updates (use text output instead)
- When the user is actively engaged in the conversation
- For trivial or unimportant information

## Guidelines
- Keep titles concise (max 50 chars)
- Keep body text brief (max 200 chars)
- Use high priority sparingly (only for urgent notifications)
- Include relevant context in the body to help user understand why they're being notified";

/// The `NotifyApp` tool of one session.
#[derive(Debug, Clone)]
pub struct NotifyAppTool {
    client: Arc<ApnsClient>,
    store: StoreHandle,
    session: String,
}

impl NotifyAppTool {
    /// The tool for `session`, sending through `client` to the devices in `store`.
    pub fn new(client: Arc<ApnsClient>, store: StoreHandle, session: impl Into<String>) -> Self {
        Self { client, store, session: session.into() }
    }
}

impl Tool for NotifyAppTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "title": {"type": "string", "description": "Notification title (max 50 chars recommended)", "maxLength": 50},
                "body": {"type": "string", "description": "Notification body (max 200 chars recommended)", "maxLength": 200},
                "sheetContent": {
                    "type": "string",
                    "description": "Markdown-formatted rich content for the detail sheet. Shown when user taps notification chip in chat. Use for detailed info that does not fit in push notification."
                },
                "data": {
                    "type": "object",
                    "description": "Optional custom data to include (key-value string pairs)",
                    "additionalProperties": {"type": "string"}
                },
                "priority": {
                    "type": "string",
                    "enum": ["high", "normal"],
                    "description": "Notification priority (default: normal)",
                    "default": "normal"
                },
                "sound": {"type": "string", "description": "Sound name (default: \"default\")", "default": "default"},
                "badge": {"type": "number", "description": "Badge count to display on app icon"}
            },
            "required": ["title", "body"]
        });
        ToolDefinition::new(NAME, DESCRIPTION, parameters)
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let notification = match parse(arguments) {
                Ok(n) => n,
                Err(message) => return ToolResult::error(message),
            };
            let call_id = ctx.tool_call_id.clone().unwrap_or_default();
            match notify_devices(&self.store, &self.client, &self.session, &call_id, notification).await {
                Ok(outcome) => outcome_result(&outcome),
                Err(e) => {
                    ToolResult::error(format!("Failed to send notification: {e}")).with_details(json!({
                        "successCount": 0, "failureCount": 0, "errors": [e.to_string()]
                    }))
                }
            }
        })
    }
}

/// The tool for `session` when `<data_dir>/mods/apns/config.json` sets APNS up; `None`
/// (the tool is not offered) when there is no config, or when it is wrong: that is logged
/// as a warning naming the file to fix, and the run goes on without the tool.
pub async fn for_session(
    store: &StoreHandle,
    data_dir: &std::path::Path,
    env: &crate::settings::EnvLookup,
    session: &str,
) -> Option<Arc<dyn Tool>> {
    let (dir, env2) = (data_dir.to_owned(), env.clone());
    let client =
        tokio::task::spawn_blocking(move || crate::platform::apns::client::shared(&dir, &env2)).await;
    match client {
        Ok(Ok(Some(client))) => Some(Arc::new(NotifyAppTool::new(client, store.clone(), session))),
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "push notifications are off (NotifyApp not offered)");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "loading the APNS config failed");
            None
        }
    }
}

/// Checks and shapes the arguments (the TypeScript tool's messages).
fn parse(args: &JsonObject) -> Result<Notification, String> {
    let text = |name: &str| match args.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
        _ => Err(format!("Error: {name} parameter is required and must be a string")),
    };
    let (title, body) = (text("title")?, text("body")?);
    let cut = |s: &str, max: usize| match js_len(s) > max {
        true => format!("{}...", js_prefix(s, max - 3)),
        false => s.to_owned(),
    };
    let mut data = Map::new();
    match args.get("data") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                if !v.is_string() {
                    return Err(format!("Error: data[\"{k}\"] must be a string"));
                }
                data.insert(k.clone(), v.clone());
            }
        }
        Some(_) => return Err("Error: data must be an object with string values".into()),
    }
    let priority = match args.get("priority") {
        None | Some(Value::Null) => Priority::Normal,
        Some(Value::String(p)) if p.is_empty() || p == "normal" => Priority::Normal,
        Some(Value::String(p)) if p == "high" => Priority::High,
        Some(_) => return Err("Error: priority must be \"high\" or \"normal\"".into()),
    };
    let sound = match args.get("sound") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let badge = match args.get("badge") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Some(n as u64),
            _ => return Err("Error: badge must be a non-negative number".into()),
        },
    };
    Ok(Notification {
        title: cut(title, 50),
        body: cut(body, 200),
        data,
        priority,
        sound,
        badge,
        thread_id: None,
    })
}

/// The TypeScript tool's result text for an outcome.
fn outcome_result(o: &NotifyOutcome) -> ToolResult {
    let devices = |n: usize| format!("{n} device{}", if n > 1 { "s" } else { "" });
    let errors = match o.errors.is_empty() {
        true => String::new(),
        false => format!(" Errors: {}", o.errors.join(", ")),
    };
    let (text, failed) = match (o.success_count, o.failure_count) {
        (0, 0) => ("No devices registered to receive notifications.".to_owned(), false),
        (ok, 0) => (format!("Notification sent successfully to {}.", devices(ok)), false),
        (0, bad) => (format!("Failed to send notification to {}.{errors}", devices(bad)), true),
        (ok, bad) => (format!("Notification sent to {}, failed for {bad}.{errors}", devices(ok)), false),
    };
    let mut details = json!({"successCount": o.success_count, "failureCount": o.failure_count});
    if !o.errors.is_empty() {
        details["errors"] = json!(o.errors);
    }
    let result = if failed { ToolResult::error(text) } else { ToolResult::text(text) };
    result.with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn long_texts_are_cut_and_bad_arguments_named() {
        let n = parse(&args(
            json!({"title": "t".repeat(60), "body": "b".repeat(250), "priority": "high", "badge": 3}),
        ))
        .unwrap();
        assert_eq!(n.title, format!("{}...", "t".repeat(47)));
        assert_eq!(n.body.len(), 200);
        assert_eq!((n.priority, n.badge), (Priority::High, Some(3)));
        let e = |v: Value| parse(&args(v)).unwrap_err();
        assert_eq!(e(json!({"body": "b"})), "Error: title parameter is required and must be a string");
        assert_eq!(e(json!({"title": "t"})), "Error: body parameter is required and must be a string");
        assert_eq!(
            e(json!({"title": "t", "body": "b", "data": {"k": 1}})),
            "Error: data[\"k\"] must be a string"
        );
        assert_eq!(
            e(json!({"title": "t", "body": "b", "data": [1]})),
            "Error: data must be an object with string values"
        );
        assert_eq!(
            e(json!({"title": "t", "body": "b", "priority": "urgent"})),
            "Error: priority must be \"high\" or \"normal\""
        );
        assert_eq!(
            e(json!({"title": "t", "body": "b", "badge": -1})),
            "Error: badge must be a non-negative number"
        );
    }

    #[test]
    fn result_texts_are_the_typescript_tools() {
        let text = |ok, bad, errors: &[&str]| {
            let r = outcome_result(&NotifyOutcome {
                success_count: ok,
                failure_count: bad,
                errors: errors.iter().map(|e| (*e).to_owned()).collect(),
                deactivated: vec![],
            });
            (r.content.text(), r.failed())
        };
        assert_eq!(text(0, 0, &[]), ("No devices registered to receive notifications.".into(), false));
        assert_eq!(text(1, 0, &[]), ("Notification sent successfully to 1 device.".into(), false));
        assert_eq!(text(2, 0, &[]), ("Notification sent successfully to 2 devices.".into(), false));
        assert_eq!(
            text(0, 1, &["APNS error: Unregistered"]),
            ("Failed to send notification to 1 device. Errors: APNS error: Unregistered".into(), true)
        );
        assert_eq!(
            text(1, 2, &["a", "b"]),
            ("Notification sent to 1 device, failed for 2. Errors: a, b".into(), false)
        );
    }
}
