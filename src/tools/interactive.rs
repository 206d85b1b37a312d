//! The tools of an interactive session: `AskUserQuestion`, `RenderAppUI`, `send_message`
//! and `receive_messages`. `tron serve` offers them to its sessions' runs (a user in the
//! app answers questions and sees canvases; other sessions live in the same server); `tron
//! chat` and subagents do not (nobody could answer, and no other session is reachable), as
//! the TypeScript server offers them to the app's sessions.

use std::sync::Arc;

use super::messaging::MessageBus;
use super::Tool;
use crate::platform::canvas::CanvasStore;

/// What the interactive tools use, given by the server.
#[derive(Clone)]
pub struct Interactive {
    /// Where `RenderAppUI` saves canvases.
    pub canvases: CanvasStore,
    /// The message bus between sessions.
    pub messages: Arc<dyn MessageBus>,
}

impl std::fmt::Debug for Interactive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interactive").field("canvases", &self.canvases).finish_non_exhaustive()
    }
}

/// The tools' names.
pub const NAMES: [&str; 4] =
    [super::ask_user::NAME, super::render_ui::NAME, "send_message", "receive_messages"];

/// The interactive tools for `session`.
pub fn tools(services: &Interactive, session: &str) -> Vec<Arc<dyn Tool>> {
    let mut tools: Vec<Arc<dyn Tool>> = vec![
        Arc::new(super::ask_user::AskUserQuestionTool::new()),
        Arc::new(super::render_ui::RenderAppUITool::new(services.canvases.clone(), session)),
    ];
    tools.extend(super::messaging::tools(Arc::clone(&services.messages), session));
    tools
}
