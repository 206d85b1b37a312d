//! Sending one notification to every registered device, as the TypeScript server's
//! notification controller does: every active token (notifications are global, any session
//! may send), the session id and tool call id added to the custom data (the app deep-links
//! to the session and scrolls to the tool call), the session id as the thread id, and the
//! tokens APNS calls dead made inactive.

use serde_json::json;

use super::{ApnsClient, Notification};
use crate::events::{StoreError, StoreHandle};

/// How a notification went (the `NotifyApp` tool's details).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyOutcome {
    /// Devices APNS accepted it for.
    pub success_count: usize,
    /// Devices it failed for.
    pub failure_count: usize,
    /// The failures' messages.
    pub errors: Vec<String>,
    /// Tokens made inactive because APNS said they are dead.
    pub deactivated: Vec<String>,
}

/// Sends `notification` from `session` (tool call `tool_call_id`) to every active device.
pub async fn notify_devices(
    store: &StoreHandle,
    client: &ApnsClient,
    session: &str,
    tool_call_id: &str,
    mut notification: Notification,
) -> Result<NotifyOutcome, StoreError> {
    let tokens: Vec<String> =
        store.run(|s| s.active_devices()).await?.into_iter().map(|d| d.device_token).collect();
    if tokens.is_empty() {
        tracing::debug!("no device tokens registered");
        return Ok(NotifyOutcome::default());
    }
    notification.data.insert("sessionId".into(), json!(session));
    notification.data.insert("toolCallId".into(), json!(tool_call_id));
    notification.thread_id = Some(session.to_owned());
    let results = client.send_to_many(&tokens, &notification).await;
    let dead: Vec<String> =
        results.iter().filter(|r| r.token_is_dead()).map(|r| r.device_token.clone()).collect();
    if !dead.is_empty() {
        let tokens = dead.clone();
        store
            .run(move |s| {
                for t in &tokens {
                    s.unregister_device(t)?;
                }
                Ok(())
            })
            .await?;
        tracing::info!(count = dead.len(), "made device tokens APNS called dead inactive");
    }
    let success_count = results.iter().filter(|r| r.success).count();
    Ok(NotifyOutcome {
        success_count,
        failure_count: results.len() - success_count,
        errors: results.iter().filter(|r| !r.success).filter_map(|r| r.error.clone()).collect(),
        deactivated: dead,
    })
}
