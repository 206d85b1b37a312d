//! `skill.list`, `skill.get`, `skill.refresh`, `skill.remove`, and the skill and rules
//! setup of an `agent.prompt` (its `skills` / `spells` params).
//!
//! Shapes (the TypeScript server's, as the iOS app decodes them):
//! - `skill.list {sessionId?, source?, includeContent?}` -> `{skills: [{name, displayName,
//!   description, source, autoInject, tags?}], totalCount, autoInjectCount}` (with
//!   `includeContent`, each skill also has `content`, `path`, `additionalFiles`); without a
//!   session only global skills are listed;
//! - `skill.get {name, sessionId?}` -> `{skill: {...with content, path, additionalFiles} |
//!   null, found}`;
//! - `skill.refresh {sessionId?}` -> `{success: true, skillCount}`;
//! - `skill.remove {sessionId, skillName}` -> `{success: true}` after persisting
//!   `skill.removed {skillName, removedVia: "manual"}` and pushing `agent.skill_removed
//!   {skillName}` (no `event.new`: the TypeScript server broadcasts persisted events only
//!   for `events.append` and `message.delete`), or `{success: false, error}` when the skill
//!   is not in the session's context.
//!
//! Skills are read from disk on every call, so there is no cache to go stale (`refresh`
//! only counts them).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::agent::skills::{SessionSkills, SkillRegistry, SkillSource};
use crate::context::rules::repo_root;
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::events::NewEvent;
use crate::rpc::frames::Event;
use crate::rpc::params::{opt_bool, opt_str, required_str, Params};
use crate::rpc::ServerState;

/// The skills visible to `session` (its working directory's project skills and the global
/// ones), or only the global ones without a session.
async fn registry(state: &Arc<ServerState>, session: Option<&str>) -> Result<SkillRegistry, RpcError> {
    let wd = match session {
        Some(id) => {
            let id = id.to_owned();
            let row = state.store.run(move |s| s.session(&id)).await.map_err(store_error)?;
            Some(PathBuf::from(row.working_directory))
        }
        None => None,
    };
    let data = state.paths.data_dir.clone();
    tokio::task::spawn_blocking(move || match wd {
        Some(wd) => {
            let root = repo_root(&wd);
            SkillRegistry::discover(&data, &[wd.as_path(), root.as_path()])
        }
        None => SkillRegistry::discover(&data, &[]),
    })
    .await
    .map_err(|e| RpcError::new(RpcErrorCode::InternalError, format!("reading skills failed: {e}")))
}

/// `skill.list`.
pub async fn list(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = opt_str(p, "sessionId")?;
    let source = match opt_str(p, "source")? {
        None => None,
        Some(s) => Some(SkillSource::parse(s).ok_or_else(|| {
            RpcError::invalid_params(format!("source must be \"global\" or \"project\", not {s:?}"))
        })?),
    };
    let content = opt_bool(p, "includeContent")?.unwrap_or(false);
    let reg = registry(state, session).await?;
    let source = if session.is_none() { Some(SkillSource::Global) } else { source };
    let skills = reg.list(source);
    let auto = skills.iter().filter(|s| s.frontmatter.auto_inject).count();
    let listed: Vec<Value> =
        skills.iter().map(|s| if content { s.metadata_json() } else { s.info_json() }).collect();
    Ok(json!({ "skills": listed, "totalCount": skills.len(), "autoInjectCount": auto }))
}

/// `skill.get`.
pub async fn get(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let name = required_str(p, "name")?;
    let reg = registry(state, opt_str(p, "sessionId")?).await?;
    Ok(match reg.get(name) {
        Some(skill) => json!({ "skill": skill.metadata_json(), "found": true }),
        None => json!({ "skill": null, "found": false }),
    })
}

/// `skill.refresh`.
pub async fn refresh(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let reg = registry(state, opt_str(p, "sessionId")?).await?;
    Ok(json!({ "success": true, "skillCount": reg.len() }))
}

/// `skill.remove`.
pub async fn remove(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let name = required_str(p, "skillName")?.to_owned();
    let (id, skill) = (session.clone(), name);
    let removed = state
        .store
        .run(move |s| {
            let events = s.head_chain(&id)?;
            if !SessionSkills::from_events(&events).has(&skill) {
                return Ok(None);
            }
            let payload = json!({ "skillName": skill, "removedVia": "manual" });
            s.append(&id, NewEvent::raw("skill.removed", payload)).map(Some)
        })
        .await
        .map_err(store_error)?;
    match removed {
        Some(event) => {
            let skill_name = event.payload["skillName"].clone();
            state.publish(&Event::new(
                "agent.skill_removed",
                Some(&session),
                json!({ "skillName": skill_name }),
            ));
            Ok(json!({ "success": true }))
        }
        None => Ok(json!({ "success": false, "error": "Skill not in session context" })),
    }
}

/// The names in `agent.prompt`'s `skills` / `spells` param: a list of `{name, source?}`
/// objects (the iOS app's shape) or of names.
pub(crate) fn skill_names(p: &Params, key: &str) -> Result<Vec<String>, RpcError> {
    let bad = || RpcError::invalid_params(format!("{key} must be a list of {{name, source}} objects"));
    match p.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(name) if !name.is_empty() => Ok(name.clone()),
                Value::Object(o) => o
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(bad),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}
