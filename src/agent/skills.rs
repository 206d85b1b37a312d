//! Skills: reusable instructions in `SKILL.md` files that a session activates.
//!
//! A skill is a folder holding a `SKILL.md` (optional frontmatter between `---` lines, then
//! Markdown). Skills are found in `<data dir>/skills/` (source `global`) and in the
//! project's `.claude/skills/` and `.tron/skills/` (source `project`, first found wins);
//! a project skill shadows a global one of the same name. The folder name is the name
//! (`@name` in a prompt); frontmatter may set `name` (display name), `description`,
//! `version`, `tags`, `autoInject`, `allowedTools`, `deniedTools`, `subagent`
//! (`no` | `ask` | `yes`) and `subagentModel`, as the TypeScript server reads them.
//!
//! Activation is per session and event-sourced: a skill named in `agent.prompt`'s `skills`
//! param (`addedVia: "explicit"`) or mentioned as `@name` in the prompt text
//! (`addedVia: "mention"`) is recorded with `skill.added`; `skill.remove` records
//! `skill.removed`; `context.cleared` and `compact.boundary` clear every skill. Active skills
//! (and `autoInject` ones) go into the system prompt as a `<skills>` block, and their
//! `deniedTools` are taken out of the run's tools. Differences from the TypeScript server:
//! the denials are enforced for every skill (it only enforced them for subagent skills);
//! a `subagent: yes` skill is offered to a session that can spawn subagents for delegation
//! (`SpawnSubagent` with `skills: [name]`, see [`subagent_skills_block`]) instead of being
//! split off by the server, and runs inline with its allow-list enforced where subagents
//! cannot be spawned (in a subagent); `deniedPatterns` is not read.
//!
//! Must not: persist events itself (see [`crate::context::prompt`]) or shape wire results
//! (rpc/handlers/skill.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::events::SessionEvent;

/// The file that makes a folder a skill.
pub const SKILL_FILE: &str = "SKILL.md";
/// Largest `SKILL.md` read (the TypeScript server's limit).
pub const MAX_SKILL_FILE_BYTES: u64 = 100 * 1024;
/// Project skill folders, first found wins.
pub const PROJECT_SKILL_DIRS: [&str; 2] = [".claude/skills", ".tron/skills"];

/// Where a skill was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkillSource {
    /// `<data dir>/skills/`.
    Global,
    /// The project's `.claude/skills/` or `.tron/skills/`.
    Project,
}

impl SkillSource {
    /// `global` or `project`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SkillSource::Global => "global",
            SkillSource::Project => "project",
        }
    }

    /// Parses `global` / `project`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "global" => Some(SkillSource::Global),
            "project" => Some(SkillSource::Project),
            _ => None,
        }
    }
}

/// How a skill runs (frontmatter `subagent`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubagentMode {
    /// In the session's agent (the default).
    #[default]
    No,
    /// The agent asks the user first.
    Ask,
    /// In a subagent with enforced tool limits (tron: in the session's agent, limits
    /// enforced).
    Yes,
}

/// The frontmatter fields tron reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontmatter {
    /// Display name.
    pub name: Option<String>,
    /// Short description.
    pub description: Option<String>,
    /// Version string.
    pub version: Option<String>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Always in the prompt, without activation (older TypeScript versions).
    pub auto_inject: bool,
    /// Tools the skill works with (allow-list).
    pub allowed_tools: Option<Vec<String>>,
    /// Tools the skill must not use.
    pub denied_tools: Option<Vec<String>>,
    /// How it runs.
    pub subagent: SubagentMode,
    /// Model for a subagent skill.
    pub subagent_model: Option<String>,
}

/// One skill found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    /// Folder name (the `@name`).
    pub name: String,
    /// Frontmatter `name`, else the folder name.
    pub display_name: String,
    /// Frontmatter `description`, else the first content line.
    pub description: String,
    /// `SKILL.md` after the frontmatter.
    pub content: String,
    /// Parsed frontmatter.
    pub frontmatter: Frontmatter,
    /// Where it was found.
    pub source: SkillSource,
    /// The skill folder.
    pub path: PathBuf,
    /// Other files in the folder (names, sorted).
    pub additional_files: Vec<String>,
}

impl Skill {
    /// `{name, displayName, description, source, autoInject, tags?}` (`skill.list`).
    pub fn info_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "displayName": self.display_name,
            "description": self.description,
            "source": self.source.as_str(),
            "autoInject": self.frontmatter.auto_inject,
        });
        if let Some(tags) = &self.frontmatter.tags {
            v["tags"] = json!(tags);
        }
        v
    }

    /// [`Skill::info_json`] plus `content`, `path`, `additionalFiles` (`skill.get`).
    pub fn metadata_json(&self) -> Value {
        let mut v = self.info_json();
        v["content"] = json!(self.content);
        v["path"] = json!(self.path.display().to_string());
        v["additionalFiles"] = json!(self.additional_files);
        v
    }
}

/// The skills visible from one working directory, by name.
#[derive(Debug, Clone, Default)]
pub struct SkillRegistry {
    skills: BTreeMap<String, Skill>,
    /// Skills that could not be read: (folder, why).
    pub errors: Vec<(PathBuf, String)>,
}

impl SkillRegistry {
    /// Scans `<data_dir>/skills` and, when given, the project skill folders of
    /// `project_dirs` (the working directory first, then e.g. the repository root).
    pub fn discover(data_dir: &Path, project_dirs: &[&Path]) -> Self {
        let mut reg = SkillRegistry::default();
        let mut seen_dirs = BTreeSet::new();
        for dir in project_dirs {
            for sub in PROJECT_SKILL_DIRS {
                let d = dir.join(sub);
                if seen_dirs.insert(d.clone()) {
                    reg.scan(&d, SkillSource::Project);
                }
            }
        }
        reg.scan(&data_dir.join("skills"), SkillSource::Global);
        reg
    }

    /// Adds the skills of one folder; names already present win.
    fn scan(&mut self, dir: &Path, source: SkillSource) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut folders: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        folders.sort();
        for folder in folders {
            let Some(name) = folder.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
            if self.skills.contains_key(&name) || !folder.join(SKILL_FILE).is_file() {
                continue;
            }
            match load_skill(&folder, &name, source) {
                Ok(skill) => {
                    self.skills.insert(name, skill);
                }
                Err(why) => {
                    tracing::warn!(path = %folder.display(), error = %why, "skill not loaded");
                    self.errors.push((folder, why));
                }
            }
        }
    }

    /// The skill called `name`.
    pub fn get(&self, name: &str) -> Option<&Skill> {
        self.skills.get(name)
    }

    /// Every skill, sorted by name, optionally of one source.
    pub fn list(&self, source: Option<SkillSource>) -> Vec<&Skill> {
        self.skills.values().filter(|s| source.is_none_or(|src| s.source == src)).collect()
    }

    /// The number of skills.
    pub fn len(&self) -> usize {
        self.skills.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.skills.is_empty()
    }

    /// The skill names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.skills.keys().map(String::as_str).collect()
    }
}

fn load_skill(folder: &Path, name: &str, source: SkillSource) -> Result<Skill, String> {
    let file = folder.join(SKILL_FILE);
    let meta = std::fs::metadata(&file).map_err(|e| e.to_string())?;
    if meta.len() > MAX_SKILL_FILE_BYTES {
        return Err(format!("{SKILL_FILE} is larger than {MAX_SKILL_FILE_BYTES} bytes"));
    }
    let raw = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    let (frontmatter, content) = parse_skill_md(&raw);
    let mut additional_files: Vec<String> = std::fs::read_dir(folder)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n != SKILL_FILE)
        .collect();
    additional_files.sort();
    Ok(Skill {
        name: name.to_owned(),
        display_name: frontmatter.name.clone().unwrap_or_else(|| name.to_owned()),
        description: frontmatter.description.clone().unwrap_or_else(|| first_line(&content)),
        content,
        frontmatter,
        source,
        path: folder.to_owned(),
        additional_files,
    })
}

/// Splits a `SKILL.md` into its frontmatter and the content after it. A file that does not
/// open with `---` (or never closes it) is all content.
pub fn parse_skill_md(raw: &str) -> (Frontmatter, String) {
    let trimmed = raw.trim();
    let Some(rest) = trimmed.strip_prefix("---") else { return (Frontmatter::default(), raw.to_owned()) };
    let Some(end) = rest.find("\n---") else { return (Frontmatter::default(), raw.to_owned()) };
    let yaml = &rest[..end];
    let body = rest[end + 4..].trim_start_matches('-').trim();
    (parse_frontmatter(yaml), body.to_owned())
}

/// The small YAML subset skill frontmatter uses: `key: value` (quoted or not), inline lists
/// `[a, b]`, block lists (`key:` then `- item` lines), block scalars (`key: |` or `>` then
/// indented lines), comments and blank lines. Unknown keys are ignored.
pub fn parse_frontmatter(yaml: &str) -> Frontmatter {
    let mut values: BTreeMap<String, Scalar> = BTreeMap::new();
    let lines: Vec<&str> = yaml.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || line.starts_with([' ', '\t']) && !t.contains(':') {
            continue;
        }
        let Some((key, raw)) = t.split_once(':') else { continue };
        let (key, raw) = (key.trim().to_owned(), strip_comment(raw.trim()));
        if raw.is_empty() {
            // A block list follows (or nothing).
            let mut items = Vec::new();
            while i < lines.len() {
                let item = lines[i].trim();
                if let Some(v) = item.strip_prefix('-') {
                    items.push(unquote(v.trim()).to_owned());
                    i += 1;
                } else if item.is_empty() || item.starts_with('#') {
                    i += 1;
                } else {
                    break;
                }
            }
            values.insert(key, Scalar::List(items));
        } else if matches!(raw, "|" | ">" | "|-" | ">-" | "|+" | ">+") {
            let mut block = Vec::new();
            while i < lines.len() && (lines[i].starts_with([' ', '\t']) || lines[i].trim().is_empty()) {
                block.push(lines[i].trim());
                i += 1;
            }
            let sep = if raw.starts_with('|') { "\n" } else { " " };
            values.insert(key, Scalar::Text(block.join(sep).trim().to_owned()));
        } else if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let items = inner.split(',').map(|s| unquote(s.trim()).to_owned()).filter(|s| !s.is_empty());
            values.insert(key, Scalar::List(items.collect()));
        } else {
            values.insert(key, Scalar::Text(unquote(raw).to_owned()));
        }
    }
    let text = |k: &str| match values.get(k) {
        Some(Scalar::Text(s)) => Some(s.clone()),
        _ => None,
    };
    let list = |k: &str| match values.get(k) {
        Some(Scalar::List(l)) => Some(l.clone()),
        Some(Scalar::Text(s)) => Some(vec![s.clone()]),
        None => None,
    };
    Frontmatter {
        name: text("name"),
        description: text("description"),
        version: text("version"),
        tags: list("tags"),
        auto_inject: text("autoInject").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        allowed_tools: list("allowedTools"),
        denied_tools: list("deniedTools"),
        subagent: match text("subagent").as_deref() {
            Some("ask") => SubagentMode::Ask,
            Some("yes") | Some("true") => SubagentMode::Yes,
            _ => SubagentMode::No,
        },
        subagent_model: text("subagentModel"),
    }
}

enum Scalar {
    Text(String),
    List(Vec<String>),
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Drops a trailing ` # comment` from an unquoted value.
fn strip_comment(s: &str) -> &str {
    if s.starts_with(['"', '\'']) {
        return s;
    }
    s.find(" #").map_or(s, |i| s[..i].trim_end())
}

/// The first line that is not blank, a heading, a rule or a code fence (at most 200
/// characters): the description of a skill whose frontmatter has none.
fn first_line(content: &str) -> String {
    content
        .lines()
        .map(str::trim)
        .find(|l| {
            let rule = l.len() >= 3 && l.chars().all(|c| matches!(c, '-' | '*' | '_'));
            !(l.is_empty() || rule || l.starts_with('#') || l.starts_with("```"))
        })
        .map(|l| l.chars().take(200).collect())
        .unwrap_or_default()
}

/// The `@name` references in a prompt, in order, without repeats: `@` not preceded by a
/// word character or a backtick, a letter, then letters, digits, `_` or `-`. References in
/// fenced code blocks or inline code are skipped.
pub fn mentions(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut fenced = false;
    for line in prompt.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut ticks = 0;
        for (i, &c) in chars.iter().enumerate() {
            if c == '`' {
                ticks += 1;
                continue;
            }
            if c != '@' || ticks % 2 == 1 {
                continue;
            }
            if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
                continue;
            }
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == '-')
                .collect();
            if name.starts_with(|c: char| c.is_ascii_alphabetic()) && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// A skill in a session's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSkill {
    /// Skill name.
    pub name: String,
    /// `global` or `project` (as recorded).
    pub source: String,
    /// `mention` or `explicit`.
    pub added_via: String,
    /// The `skill.added` event.
    pub event_id: String,
}

/// A session's skills, rebuilt from its events (`skill.added`, `skill.removed`,
/// `context.cleared` and `compact.boundary`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSkills {
    /// Active skills in the order they were added.
    pub active: Vec<ActiveSkill>,
    /// Skills removed since the last clear (the model is told to stop following them).
    pub removed: Vec<String>,
}

impl SessionSkills {
    /// Replays `events` (oldest first).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a SessionEvent>) -> Self {
        let mut s = SessionSkills::default();
        for e in events {
            let p = &e.payload;
            let name = p["skillName"].as_str().unwrap_or_default().to_owned();
            match e.event_type.as_str() {
                "skill.added" => {
                    s.active.retain(|a| a.name != name);
                    s.removed.retain(|r| *r != name);
                    s.active.push(ActiveSkill {
                        name,
                        source: p["source"].as_str().unwrap_or("global").to_owned(),
                        added_via: p["addedVia"].as_str().unwrap_or("explicit").to_owned(),
                        event_id: e.id.as_str().to_owned(),
                    });
                }
                "skill.removed" => {
                    s.active.retain(|a| a.name != name);
                    if !s.removed.contains(&name) {
                        s.removed.push(name);
                    }
                }
                "context.cleared" | "compact.boundary" => s = SessionSkills::default(),
                _ => {}
            }
        }
        s
    }

    /// Whether `name` is active.
    pub fn has(&self, name: &str) -> bool {
        self.active.iter().any(|a| a.name == name)
    }
}

/// The `<skills>` block for the system prompt: each skill's content, with its tool limits
/// and, for `subagent: ask`, the instruction to ask the user first. Empty without skills.
pub fn skills_block(skills: &[&Skill]) -> String {
    if skills.is_empty() {
        return String::new();
    }
    let mut out = String::from("<skills>\n");
    for s in skills {
        out.push_str(&format!("<skill name=\"{}\">\n", xml_escape(&s.name)));
        let fm = &s.frontmatter;
        if let Some(denied) = fm.denied_tools.as_ref().filter(|d| !d.is_empty()) {
            out.push_str(&format!(
                "<skill-tool-restrictions>While this skill is active these tools are not available: {}.</skill-tool-restrictions>\n",
                denied.join(", ")
            ));
        } else if let Some(allowed) = fm.allowed_tools.as_ref().filter(|a| !a.is_empty()) {
            let verb = if fm.subagent == SubagentMode::Yes {
                "Only these tools are available"
            } else {
                "Prefer these tools"
            };
            out.push_str(&format!(
                "<skill-tool-preferences>{verb} for this skill: {}.</skill-tool-preferences>\n",
                allowed.join(", ")
            ));
        }
        if fm.subagent == SubagentMode::Ask {
            out.push_str(&format!(
                "<skill-requires-confirmation>Before acting on this skill, ask the user (AskUserQuestion if available, \
                 otherwise in your reply) whether @{} should run, and follow it only if they agree.</skill-requires-confirmation>\n",
                s.name
            ));
        }
        out.push_str(s.content.trim());
        out.push_str("\n</skill>\n");
    }
    out.push_str("</skills>");
    out
}

/// The `subagent: yes` skills of a run that can spawn subagents: not followed by the
/// session's own agent but offered for delegation (`SpawnSubagent` with `skills: [name]`,
/// which runs the skill in a subagent with its tool limits and `subagentModel`). Empty
/// without such skills.
pub fn subagent_skills_block(skills: &[&Skill]) -> String {
    if skills.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<subagent-skills>\nThese skills run in a subagent: to use one, call SpawnSubagent with the task and \
         skills: [\"<name>\"] (its instructions, tool limits and model apply there).\n",
    );
    for s in skills {
        let description = s.frontmatter.description.as_deref().unwrap_or("").trim();
        out.push_str(&format!(
            "- @{}: {}\n",
            s.name,
            if description.is_empty() { "(no description)" } else { description }
        ));
    }
    out.push_str("</subagent-skills>");
    out
}

/// The notice for skills the user removed: stop following them.
pub fn removed_block(removed: &[String]) -> String {
    if removed.is_empty() {
        return String::new();
    }
    let names: Vec<String> = removed.iter().map(|n| format!("@{n}")).collect();
    format!(
        "<removed-skills>These skills were removed from this session: {}. Stop following their instructions, \
         style and tool limits from now on.</removed-skills>",
        names.join(", ")
    )
}

/// The tools the run must not offer because of `skills`: every `deniedTools` entry, and for
/// `subagent: yes` skills with an `allowedTools` list (and no `deniedTools`), every tool of
/// `available` outside that list.
pub fn denied_tools(skills: &[&Skill], available: &[String]) -> Vec<String> {
    let mut denied: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !denied.iter().any(|d| d == name) {
            denied.push(name.to_owned());
        }
    };
    for s in skills {
        let fm = &s.frontmatter;
        match (&fm.denied_tools, &fm.allowed_tools) {
            (Some(d), _) if !d.is_empty() => d.iter().for_each(|t| add(t)),
            (_, Some(a)) if !a.is_empty() && fm.subagent == SubagentMode::Yes => {
                available.iter().filter(|t| !a.contains(t)).for_each(|t| add(t))
            }
            _ => {}
        }
    }
    denied
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
