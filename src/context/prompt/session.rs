//! One prompt's context: the session's rules and skills, the events that record them, the
//! system prompt and the tools skills deny. Used by `agent.prompt` and `tron chat` alike.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::memory::WorkspaceMemory;
use super::{find_override, provider_part, PromptParts, SystemPrompt, CORE_PROMPT};
use crate::agent::skills::{self, SessionSkills, Skill, SkillRegistry};
use crate::context::rules::{self, LoadedTracker, Rules, RulesOptions};
use crate::events::types::RulesLoadedPayload;
use crate::events::{NewEvent, SessionEvent, StoreError, StoreHandle};
use crate::llm::models::ProviderKind;

/// What a prompt is set up from.
#[derive(Debug, Clone)]
pub struct PromptSetup {
    /// The session's working directory.
    pub working_dir: PathBuf,
    /// The data dir (`~/.tron`): global rules, skills and `SYSTEM.md`.
    pub data_dir: PathBuf,
    /// The model's provider (picks the provider part).
    pub provider: ProviderKind,
    /// The prompt text (`@name` mentions of known skills activate them).
    pub prompt: String,
    /// Skills picked explicitly (`agent.prompt`'s `skills`): activated for the session.
    pub skills: Vec<String>,
    /// One-shot skills (`spells`): in this prompt only, not recorded.
    pub spells: Vec<String>,
    /// A prompt that replaces the core prompt and any `SYSTEM.md` (`tron chat --system`).
    pub system_override: Option<String>,
    /// `context.rules.discoverStandaloneFiles`.
    pub discover_standalone: bool,
    /// The tools the run would offer (for allow-list skills).
    pub available_tools: Vec<String>,
    /// `context.memory.autoInject`: how many workspace ledger entries a new session's
    /// prompt carries (see [`super::memory`]); `None` when off.
    pub memory: Option<usize>,
}

/// A prompt's context, ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The system prompt.
    pub system: String,
    /// Tools to take out of the run (skills' denials).
    pub denied_tools: Vec<String>,
    /// Events to persist before the run: `rules.loaded` (when the rules changed) and a
    /// `skill.added` per newly activated skill.
    pub events: Vec<NewEvent>,
    /// Names of the skills in the prompt.
    pub active_skills: Vec<String>,
    /// The parts of [`Prepared::system`] the context snapshot counts apart.
    pub parts: PromptParts,
    /// The rules files in the prompt (the `rules.loaded` payload, whether or not one is
    /// written for this prompt).
    pub rules: RulesLoadedPayload,
    /// The skills the session added (`skill.added`, this prompt's included) that are still
    /// active, in the order they were added.
    pub added_skills: Vec<AddedSkill>,
    fingerprint: u64,
    /// The parts [`Prepared::system`] was built from, the rules found and the paths the
    /// session touched (for [`super::LiveSystem`]).
    pub(super) source: SystemPrompt,
    pub(super) found_rules: Rules,
    pub(super) touched: Vec<String>,
}

/// A skill the session added (the iOS app's `AddedSkillInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddedSkill {
    /// The skill's name.
    pub name: String,
    /// `global` or `project`.
    pub source: String,
    /// `mention` or `explicit`.
    pub added_via: String,
    /// The `skill.added` event (empty for a pick of this prompt not yet persisted).
    pub event_id: String,
    /// Estimated tokens of the skill's content; absent when the skill is no longer on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

/// Why a prompt could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A skill asked for by name does not exist.
    #[error("unknown skill {name:?} ({})", available_list(.available))]
    UnknownSkill {
        /// The name asked for.
        name: String,
        /// The skills there are.
        available: Vec<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn available_list(names: &[String]) -> String {
    if names.is_empty() {
        "no skills are installed".to_owned()
    } else {
        format!("skills: {}", names.join(", "))
    }
}

/// Sets up one prompt of `session`: reads its events (skills, touched paths, the last
/// `rules.loaded`), finds rules and skills on disk, and builds the system prompt.
pub async fn prepare(
    store: &StoreHandle,
    session: &str,
    setup: PromptSetup,
) -> Result<Prepared, PrepareError> {
    let id = session.to_owned();
    let events = store.run(move |s| s.head_chain(&id)).await?;
    let opts =
        RulesOptions { data_dir: setup.data_dir.clone(), discover_standalone: setup.discover_standalone };
    let (wd, data) = (setup.working_dir.clone(), setup.data_dir.clone());
    let found = tokio::task::spawn_blocking(move || {
        let rules = rules::discover(&wd, &opts);
        let project: Vec<&std::path::Path> =
            if rules.root == wd { vec![wd.as_path()] } else { vec![wd.as_path(), rules.root.as_path()] };
        let registry = SkillRegistry::discover(&data, &project);
        let core = find_override(&project, &data).map(|(_, text)| text);
        (rules, registry, core)
    })
    .await;
    let (rules, registry, core) = match found {
        Ok(found) => found,
        Err(e) => return Err(StoreError::Invalid(format!("reading rules and skills failed: {e}")).into()),
    };
    // The open tasks, as the TypeScript server gave them to every run.
    let tasks = store.run(|s| Ok(crate::events::tasks::task_context(s))).await?;
    let memory = workspace_memory(store, session, &setup, &events).await?;
    let memory = memory.as_ref().map(|(m, new)| (m, *new));
    let mut prepared = build(session, &setup, &events, &rules, &registry, core, memory)?;
    if let Some(tasks) = tasks {
        prepared.source.tasks = tasks;
        (prepared.system, prepared.parts) = prepared.source.build_with_parts();
    }
    Ok(prepared)
}

/// The workspace memory `session`'s prompt carries (see [`super::memory`]), and whether it
/// is new (its `memory.loaded` is to be written): the entries its `memory.loaded` counted,
/// or on a session's first prompt the workspace's latest.
async fn workspace_memory(
    store: &StoreHandle,
    session: &str,
    setup: &PromptSetup,
    events: &[SessionEvent],
) -> Result<Option<(WorkspaceMemory, bool)>, StoreError> {
    let Some(count) = setup.memory else { return Ok(None) };
    if let Some(loaded) = events.iter().rev().find(|e| e.event_type.as_str() == "memory.loaded") {
        let count = loaded.payload["count"].as_u64().map_or(count, |c| c as usize);
        let until = Some(loaded.timestamp.clone());
        return Ok(super::memory::load(store, session, count, until).await?.map(|m| (m, false)));
    }
    if events.iter().any(|e| e.event_type.as_str() == "message.user") {
        return Ok(None);
    }
    Ok(super::memory::load(store, session, count, None).await?.map(|m| (m, true)))
}

/// [`prepare`] after the reading: pure, for tests.
fn build(
    session: &str,
    setup: &PromptSetup,
    events: &[SessionEvent],
    rules: &Rules,
    registry: &SkillRegistry,
    core_override: Option<String>,
    memory: Option<(&WorkspaceMemory, bool)>,
) -> Result<Prepared, PrepareError> {
    let unknown = |name: &str| PrepareError::UnknownSkill {
        name: name.to_owned(),
        available: registry.names().into_iter().map(str::to_owned).collect(),
    };
    for name in setup.skills.iter().chain(&setup.spells) {
        if registry.get(name).is_none() {
            return Err(unknown(name));
        }
    }
    let mut out = Vec::new();

    // Rules: always-on files plus the scoped ones the session's tool calls activated.
    let touched = rules.touched_paths(events);
    let activated = rules.activated(&touched);
    let payload = rules.loaded_payload(&activated);
    let fingerprint = rules.fingerprint(&activated);
    let last = events.iter().rev().find(|e| e.event_type.as_str() == "rules.loaded").map(|e| &e.payload);
    if LoadedTracker::global().needs_event(session, last, &payload, fingerprint) {
        let value = serde_json::to_value(&payload).unwrap_or(Value::Null);
        out.push(NewEvent::raw("rules.loaded", value));
    }
    // At the session's start: the project's rules index (when it has scoped rules) and the
    // workspace memory, after `rules.loaded` as the TypeScript server wrote them.
    let has = |kind: &str| events.iter().any(|e| e.event_type.as_str() == kind);
    if !has("message.user") && !has("rules.indexed") {
        let index = rules.indexed_payload();
        if index.scoped_rules > 0 {
            out.push(NewEvent::raw("rules.indexed", serde_json::to_value(&index).unwrap_or(Value::Null)));
        }
    }
    if let Some((memory, true)) = memory {
        out.push(NewEvent::raw("memory.loaded", memory.loaded_payload()));
    }

    // Skills: the session's, plus explicit picks and known @mentions (recorded), plus
    // auto-injected ones and spells (not recorded).
    let state = SessionSkills::from_events(events);
    let mut names: Vec<String> = state.active.iter().map(|a| a.name.clone()).collect();
    let tokens = |name: &str| registry.get(name).map(|s| crate::context::estimate_text_tokens(&s.content));
    let mut added_skills: Vec<AddedSkill> = state
        .active
        .iter()
        .map(|a| AddedSkill {
            name: a.name.clone(),
            source: a.source.clone(),
            added_via: a.added_via.clone(),
            event_id: a.event_id.clone(),
            tokens: tokens(&a.name),
        })
        .collect();
    let picks = setup.skills.iter().map(|n| (n.clone(), "explicit"));
    let mentioned = skills::mentions(&setup.prompt).into_iter().filter(|n| registry.get(n).is_some());
    for (name, via) in picks.chain(mentioned.map(|n| (n, "mention"))) {
        if names.contains(&name) {
            continue;
        }
        let source = registry.get(&name).map_or("global", |s| s.source.as_str());
        out.push(NewEvent::raw("skill.added", json!({"skillName": name, "source": source, "addedVia": via})));
        added_skills.push(AddedSkill {
            name: name.clone(),
            source: source.to_owned(),
            added_via: via.to_owned(),
            event_id: String::new(),
            tokens: tokens(&name),
        });
        names.push(name);
    }
    for skill in registry.list(None) {
        if skill.frontmatter.auto_inject && !names.contains(&skill.name) {
            names.push(skill.name.clone());
        }
    }
    for spell in &setup.spells {
        if !names.contains(spell) {
            names.push(spell.clone());
        }
    }
    // Plan mode (plan.enter): its planning skill joins the prompt and its tools go away.
    let plan = crate::agent::plan::PlanMode::from_events(events);
    if let Some(plan) = &plan {
        if registry.get(&plan.skill_name).is_some() && !names.contains(&plan.skill_name) {
            names.push(plan.skill_name.clone());
        }
    }
    let active: Vec<&Skill> = names.iter().filter_map(|n| registry.get(n)).collect();
    // `subagent: yes` skills, when the run can spawn subagents, are delegated rather than
    // followed: listed for SpawnSubagent, their tool limits left to the subagent.
    let delegates = setup.available_tools.iter().any(|t| t == "SpawnSubagent");
    let (delegated, active): (Vec<&Skill>, Vec<&Skill>) =
        active.into_iter().partition(|s| delegates && s.frontmatter.subagent == skills::SubagentMode::Yes);
    let removed: Vec<String> = state.removed.iter().filter(|r| !names.contains(r)).cloned().collect();

    let source = SystemPrompt {
        core: setup.system_override.clone().or(core_override).unwrap_or_else(|| CORE_PROMPT.to_owned()),
        provider: provider_part(setup.provider).to_owned(),
        working_dir: setup.working_dir.display().to_string(),
        rules: rules.text(&activated),
        memory: memory.map(|(m, _)| m.content.clone()).unwrap_or_default(),
        skills: [skills::skills_block(&active), skills::subagent_skills_block(&delegated)]
            .into_iter()
            .filter(|b| !b.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n"),
        removed_skills: skills::removed_block(&removed),
        tasks: String::new(),
    };
    let (system, parts) = source.build_with_parts();
    let mut denied_tools = skills::denied_tools(&active, &setup.available_tools);
    for tool in plan.iter().flat_map(|p| &p.blocked_tools) {
        if !denied_tools.contains(tool) {
            denied_tools.push(tool.clone());
        }
    }
    Ok(Prepared {
        system,
        denied_tools,
        events: out,
        active_skills: active.iter().chain(&delegated).map(|s| s.name.clone()).collect(),
        parts,
        rules: payload,
        added_skills,
        fingerprint,
        source,
        found_rules: rules.clone(),
        touched,
    })
}

impl Prepared {
    /// Persists [`Prepared::events`] (in one transaction) and returns them as committed.
    pub async fn persist(&self, store: &StoreHandle, session: &str) -> Result<Vec<SessionEvent>, StoreError> {
        let committed = if self.events.is_empty() {
            Vec::new()
        } else {
            store.append_batch(session, self.events.clone()).await?
        };
        LoadedTracker::global().remember(session, self.fingerprint);
        Ok(committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(dir: &std::path::Path) -> PromptSetup {
        PromptSetup {
            working_dir: dir.to_owned(),
            data_dir: dir.join("data"),
            provider: ProviderKind::Anthropic,
            prompt: "hi @helper and @nobody".into(),
            skills: vec![],
            spells: vec![],
            system_override: None,
            discover_standalone: true,
            available_tools: vec!["Read".into(), "Bash".into()],
            memory: None,
        }
    }

    #[test]
    fn mentions_activate_known_skills_and_unknown_picks_fail() {
        let tmp = tempfile::tempdir().unwrap();
        let skill = tmp.path().join("data/skills/helper");
        std::fs::create_dir_all(&skill).unwrap();
        std::fs::write(skill.join("SKILL.md"), "---\ndeniedTools: [Bash]\n---\nHelp well.").unwrap();
        std::fs::write(tmp.path().join("AGENTS.md"), "Use tabs.").unwrap();
        let s = setup(tmp.path());
        let rules = rules::discover(
            tmp.path(),
            &RulesOptions { data_dir: s.data_dir.clone(), discover_standalone: true },
        );
        let registry = SkillRegistry::discover(&s.data_dir, &[tmp.path()]);
        let p = build("sess_prep_1", &s, &[], &rules, &registry, None, None).unwrap();
        assert!(p.system.starts_with(CORE_PROMPT), "{}", p.system);
        assert!(p.system.contains("Use tabs.") && p.system.contains("<skill name=\"helper\">"));
        assert!(p.system.contains(&format!("Current working directory: {}", tmp.path().display())));
        assert_eq!(p.denied_tools, ["Bash"]);
        let kinds: Vec<&str> = p.events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(kinds, ["rules.loaded", "skill.added"]);
        assert_eq!(
            p.events[1].payload,
            json!({"skillName": "helper", "source": "global", "addedVia": "mention"})
        );

        let mut bad = s.clone();
        bad.skills = vec!["missing".into()];
        let err = build("sess_prep_1", &bad, &[], &rules, &registry, None, None).unwrap_err();
        assert_eq!(err.to_string(), "unknown skill \"missing\" (skills: helper)");

        let mut explicit = s;
        explicit.system_override = Some("Custom.".into());
        explicit.prompt = "no mentions".into();
        let p = build("sess_prep_2", &explicit, &[], &rules, &registry, Some("From SYSTEM.md".into()), None)
            .unwrap();
        assert!(p.system.starts_with("Custom.\n\n"), "{}", p.system);
        assert!(p.denied_tools.is_empty() && p.active_skills.is_empty());
    }
}
