//! The system prompt of a running prompt ([`LiveSystem`]): it starts as [`Prepared::system`]
//! and grows when the run touches a path that activates a path-scoped rule (the TypeScript
//! `RulesTracker.touchPath`, fed by the `PostToolUse` file tracking), so the model call right
//! after the tool call already carries the rule. A compaction in the middle of the run
//! clears the activated rules, as the next prompt would see them (upstream's
//! `clearDynamicState` at a compaction boundary).
//!
//! Must not: persist (it returns the `rules.loaded` event to append) or read files (the
//! rules were read when the prompt was prepared).

use std::sync::Mutex;

use super::session::Prepared;
use super::SystemPrompt;
use crate::context::rules::{LoadedTracker, Rules};
use crate::events::NewEvent;

/// The system prompt of a running prompt (see the module doc).
#[derive(Debug)]
pub struct LiveSystem {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    parts: SystemPrompt,
    rules: Rules,
    /// Paths touched since the last compaction or clear, from the root, in order.
    touched: Vec<String>,
    /// How many scoped rules the prompt holds.
    activated: usize,
    system: String,
}

impl LiveSystem {
    /// The prompt `prepared` built, ready to grow.
    pub fn new(prepared: &Prepared) -> Self {
        let activated = prepared.found_rules.activated(&prepared.touched).len();
        LiveSystem {
            state: Mutex::new(State {
                parts: prepared.source.clone(),
                rules: prepared.found_rules.clone(),
                touched: prepared.touched.clone(),
                activated,
                system: prepared.system.clone(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The prompt for the next model call.
    pub fn current(&self) -> String {
        self.lock().system.clone()
    }

    /// Records `paths` (as the tool calls named them); when they activate scoped rules the
    /// prompt does not hold yet, rebuilds it and returns the `rules.loaded` to persist for
    /// `session`.
    pub fn touch(&self, session: &str, paths: &[String]) -> Option<NewEvent> {
        let mut state = self.lock();
        for raw in paths {
            if let Some(rel) = state.rules.touched_path(raw) {
                if !state.touched.contains(&rel) {
                    state.touched.push(rel);
                }
            }
        }
        state.rebuild(session)
    }

    /// After a compaction in the run: the path-scoped rules start over. The `rules.loaded`
    /// to persist when that changed the prompt.
    pub fn compacted(&self, session: &str) -> Option<NewEvent> {
        let mut state = self.lock();
        state.touched.clear();
        state.rebuild(session)
    }
}

impl State {
    /// Rebuilds the prompt when the number of activated scoped rules changed (touched paths
    /// only grow between compactions, so the activated rules do too).
    fn rebuild(&mut self, session: &str) -> Option<NewEvent> {
        let activated = self.rules.activated(&self.touched);
        if activated.len() == self.activated {
            return None;
        }
        self.activated = activated.len();
        self.parts.rules = self.rules.text(&activated);
        let payload = self.rules.loaded_payload(&activated);
        LoadedTracker::global().remember(session, self.rules.fingerprint(&activated));
        self.system = self.parts.build();
        Some(NewEvent::raw("rules.loaded", serde_json::to_value(&payload).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::prompt::{prepare, PromptSetup};
    use crate::events::{EventStore, NewSession, OpenMode, StoreHandle};
    use crate::llm::models::ProviderKind;

    #[tokio::test]
    async fn touching_a_scoped_path_adds_its_rule_and_a_compaction_clears_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("AGENTS.md"), "ROOT-RULE").unwrap();
        std::fs::create_dir_all(root.join("inner")).unwrap();
        std::fs::write(root.join("inner/AGENTS.md"), "INNER-RULE").unwrap();
        let store = EventStore::open(root.join("db"), OpenMode::Create).unwrap();
        let new = NewSession { working_directory: root.display().to_string(), ..Default::default() };
        let session = store.create_session(new).unwrap().0.id.into_string();
        let store = StoreHandle::spawn(store);
        let setup = PromptSetup {
            working_dir: root.to_owned(),
            data_dir: root.join("data"),
            provider: ProviderKind::Anthropic,
            prompt: "go".into(),
            skills: vec![],
            spells: vec![],
            system_override: None,
            discover_standalone: true,
            available_tools: vec![],
            memory: None,
        };
        let prepared = prepare(&store, &session, setup).await.unwrap();
        let live = LiveSystem::new(&prepared);
        assert_eq!(live.current(), prepared.system);
        assert!(!live.current().contains("INNER-RULE"));
        assert!(live.touch(&session, &["elsewhere.txt".into()]).is_none(), "no scoped rule there");
        let event = live.touch(&session, &["inner/x.txt".into()]).expect("a rules.loaded");
        assert_eq!(event.event_type.as_str(), "rules.loaded");
        assert_eq!(event.payload["totalFiles"], 2);
        assert!(live.current().contains("INNER-RULE") && live.current().contains("ROOT-RULE"));
        assert!(live.touch(&session, &[root.join("inner/y.txt").display().to_string()]).is_none());
        let cleared = live.compacted(&session).expect("the scoped rule leaves");
        assert_eq!(cleared.payload["totalFiles"], 1);
        assert_eq!(live.current(), prepared.system);
    }
}
