//! The system prompt: a core prompt, a part for the model's provider, the working
//! directory, the rules files, the workspace memory ([`memory`], when
//! `context.memory.autoInject` is on), and the session's active skills.
//!
//! The core prompt is tron's own ([`CORE_PROMPT`]); a `SYSTEM.md` replaces it, looked up as
//! the TypeScript server documents: the project's `.claude/SYSTEM.md` or `.tron/SYSTEM.md`
//! (the working directory, then the repository root), else the global
//! `<data dir>/SYSTEM.md` (or `<data dir>/rules/SYSTEM.md`); files over 100 KiB are
//! ignored. An explicit prompt (`tron chat --system`) replaces both. The provider part,
//! the working directory, rules, memory and skills are always added.
//!
//! [`session::prepare`] does this for one prompt of a session, the same way for
//! `tron serve` and `tron chat`; [`live::LiveSystem`] keeps it up to date while the prompt
//! runs (path-scoped rules the run activates join it before the next model call).
//!
//! Must not: persist events itself (it returns them; the caller appends), or know the wire.

pub mod live;
pub mod memory;
pub mod session;

use std::path::{Path, PathBuf};

use crate::llm::models::ProviderKind;

pub use live::LiveSystem;
pub use session::{prepare, AddedSkill, PrepareError, Prepared, PromptSetup};

/// tron's core prompt.
pub const CORE_PROMPT: &str = "\
You are Tron, a coding agent working in the user's project through the tools you are given.

How you work:
- Understand before you change: read the relevant files and search the code first.
- Make the smallest change that does the job, in the style of the code around it.
- Check your work when you can: build, run the tests, or re-read what you edited.
- Prefer the dedicated file tools over shell commands for reading, searching and editing.
- Never run destructive commands (deleting data, force-pushing, rewriting history) unless the user asked for exactly that.

How you answer:
- Be brief and concrete; say what you changed and what you could not do.
- Quote paths, commands and errors exactly.
- When something is ambiguous or risky, ask before acting.";

/// Largest `SYSTEM.md` used.
pub const MAX_OVERRIDE_BYTES: u64 = 100 * 1024;

/// The part of the prompt for models of `provider`.
pub fn provider_part(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Anthropic => {
            "When several tool calls do not depend on each other, make them in the same response."
        }
        ProviderKind::OpenAi | ProviderKind::OpenAiCodex => {
            "Only the tools defined in this request exist (there is no separate shell or apply_patch tool): \
             run commands with Bash and change files with Edit or Write."
        }
        ProviderKind::Google => {
            "Call tools through function calls with exactly the parameters their schemas define; \
             do not describe a tool call in text instead of making it."
        }
    }
}

/// The `SYSTEM.md` that replaces the core prompt, if any: project files first (in `dirs`,
/// e.g. the working directory then the repository root), then the global ones.
pub fn find_override(dirs: &[&Path], data_dir: &Path) -> Option<(PathBuf, String)> {
    let project = dirs.iter().flat_map(|d| [d.join(".claude/SYSTEM.md"), d.join(".tron/SYSTEM.md")]);
    let global = [data_dir.join("SYSTEM.md"), data_dir.join("rules/SYSTEM.md")];
    project.chain(global).find_map(|p| {
        let meta = std::fs::metadata(&p).ok().filter(|m| m.is_file())?;
        if meta.len() > MAX_OVERRIDE_BYTES {
            tracing::warn!(path = %p.display(), "SYSTEM.md is larger than 100 KiB; using the core prompt");
            return None;
        }
        std::fs::read_to_string(&p).ok().map(|text| (p, text))
    })
}

/// The pieces of a system prompt.
#[derive(Debug, Clone, Default)]
pub struct SystemPrompt {
    /// The core prompt, or what replaces it.
    pub core: String,
    /// The provider part.
    pub provider: String,
    /// The working directory.
    pub working_dir: String,
    /// The rules text (see [`super::rules::Rules::text`]).
    pub rules: String,
    /// The workspace memory (`context.memory.autoInject`, see [`session`]); empty when off.
    pub memory: String,
    /// The `<skills>` block.
    pub skills: String,
    /// The removed-skills notice.
    pub removed_skills: String,
    /// The persistent task summary (see [`crate::events::tasks::task_context`]); empty when
    /// there are no open tasks.
    pub tasks: String,
}

/// The parts of a built system prompt that the context snapshot counts on their own
/// (`breakdown.rules`, `memory`, `skillContext`, `skillRemoval`): each is the text exactly
/// as it appears in the prompt, separators included, so the rest of the prompt is what
/// `breakdown.systemPrompt` counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptParts {
    /// The rules section (its heading and the rules files).
    pub rules: String,
    /// The workspace memory section.
    pub memory: String,
    /// The active skills' blocks.
    pub skills: String,
    /// The removed-skills notice.
    pub removed_skills: String,
}

impl SystemPrompt {
    /// The prompt text: core, provider part, working directory, then rules, memory and
    /// skills when there are any.
    pub fn build(&self) -> String {
        self.build_with_parts().0
    }

    /// [`SystemPrompt::build`] and the parts of it the snapshot counts apart.
    pub fn build_with_parts(&self) -> (String, PromptParts) {
        let mut out = self.core.trim().to_owned();
        for part in [self.provider.trim(), &format!("Current working directory: {}", self.working_dir)] {
            if !part.is_empty() {
                out.push_str("\n\n");
                out.push_str(part);
            }
        }
        let mut parts = PromptParts::default();
        if !self.rules.trim().is_empty() {
            parts.rules = format!(
                "\n\n# Project rules\n\nThese instructions come from the project's AGENTS.md / CLAUDE.md files; \
                 follow them.\n\n{}",
                self.rules.trim()
            );
            out.push_str(&parts.rules);
        }
        for (text, part) in [
            (&self.memory, &mut parts.memory),
            (&self.skills, &mut parts.skills),
            (&self.removed_skills, &mut parts.removed_skills),
        ] {
            if !text.trim().is_empty() {
                *part = format!("\n\n{}", text.trim());
                out.push_str(part);
            }
        }
        (Self::with_tasks(out, &self.tasks), parts)
    }

    /// `prompt` with the task summary as its last section (nothing when `tasks` is empty).
    pub fn with_tasks(mut prompt: String, tasks: &str) -> String {
        if !tasks.trim().is_empty() {
            prompt.push_str("\n\n# Tasks\n\nThe persistent task list (the TaskManager tool changes it):\n\n");
            prompt.push_str(tasks.trim());
        }
        prompt
    }
}

#[cfg(test)]
mod tests;
