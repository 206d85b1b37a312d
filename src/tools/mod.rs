//! The agent's tools: one file per tool, and the registry that offers them to the model.
//!
//! Owns: each tool's name, description and JSON-schema parameters (the TypeScript server's,
//! so models see the same tools), argument validation, running the tool in the session's
//! working directory, and the result text the model sees (with output limits). Must not:
//! persist events or talk to providers (the agent does both) or print anything.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// Receives a tool's output as it is produced (e.g. Bash stdout chunks), for live display.
pub type OutputSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where and how a tool call runs.
#[derive(Clone)]
pub struct ToolContext {
    /// The session's working directory; relative paths resolve against it.
    pub working_directory: PathBuf,
    /// Receives output as it is produced, for live display.
    pub on_output: Option<OutputSink>,
    /// Cancelled when the run is aborted: a long-running tool stops (Bash kills its process
    /// group) and returns an error result saying so.
    pub cancel: CancellationToken,
    /// The id of the call being run (set by the agent for each call).
    pub tool_call_id: Option<String>,
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext").field("working_directory", &self.working_directory).finish()
    }
}

impl ToolContext {
    /// A context for `dir` with no live output.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            working_directory: dir.into(),
            on_output: None,
            cancel: CancellationToken::new(),
            tool_call_id: None,
        }
    }
}

/// The future a tool returns.
pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = ToolResult> + Send + 'a>>;

/// One tool the model can call. Failures are results with `isError: true` (the model reads
/// them and can react), never panics or `Err`s.
pub trait Tool: Send + Sync {
    /// The definition sent to the model (name, description, JSON-schema parameters).
    fn definition(&self) -> ToolDefinition;

    /// Runs one call with the model's arguments.
    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a>;

    /// Whether the tool only reads (files, the network) and changes nothing, so that several
    /// calls of it may run at the same time. Defaults to `false`: calls run one at a time.
    fn read_only(&self) -> bool {
        false
    }
}

/// The tools offered to the model, by name.
#[derive(Default, Clone)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn Tool>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.iter().map(|t| t.definition().name)).finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool (a later tool with the same name replaces the earlier one).
    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        let name = tool.definition().name;
        self.tools.retain(|t| t.definition().name != name);
        self.tools.push(tool);
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.tools.iter().find(|t| t.definition().name == name).cloned()
    }

    /// Every definition, in registration order.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.tools.iter().map(|t| t.definition()).collect()
    }

    /// Keeps only the tools for which `keep(name)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.tools.retain(|t| keep(&t.definition().name));
    }

    /// The registered tool names, in order.
    pub fn names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.definition().name).collect()
    }

    /// Whether no tools are registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

pub mod ask_user;
pub mod bash;
pub mod browser;
pub mod edit;
pub mod find;
pub mod grep;
pub mod interactive;
pub mod messaging;
pub mod notify_app;
pub mod read;
pub mod render_ui;
pub mod subagent;
pub mod task_manager;
mod tool_support;
pub mod web;
pub mod write;

/// The core tools (`Read`, `Write`, `Edit`, `Bash`, `Find`, `Grep`) in a fresh registry,
/// configured by `settings` (`tools.bash`).
pub fn core_tools(settings: &crate::settings::Settings) -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry.register(Arc::new(read::ReadTool::new()));
    registry.register(Arc::new(write::WriteTool::new()));
    registry.register(Arc::new(edit::EditTool::new()));
    registry.register(Arc::new(bash::BashTool::with_settings(settings.bash.clone())));
    registry.register(Arc::new(find::FindTool::new()));
    registry.register(Arc::new(grep::GrepTool::new()));
    registry
}
