//! `tasks.*`, `projects.*`, `areas.*`: the task manager over RPC (the TypeScript server's
//! task handlers). Results are the camelCase domain objects of
//! [`crate::events::tasks`]; deletes answer `{success: true}` whether or not the id
//! existed; a `get` of an unknown id answers an empty result. Errors the TypeScript
//! service throws (`Task not found: <id>`, `Area title is required`, hierarchy errors,
//! SQLite's own messages) keep its `INTERNAL_ERROR` code and message; a missing required
//! param is `INVALID_PARAMS` `<name> is required`, a wrong type or unknown status value is
//! `INVALID_PARAMS` too.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::store_error;
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::events::tasks::{
    params as tp, AreaFilter, AreaUpdate, NewArea, NewProject, NewTask, ProjectFilter, ProjectUpdate,
    TaskError, TaskFilter, TaskResult, TaskUpdate,
};
use crate::events::EventStore;
use crate::rpc::params::{opt_usize, required_str, Params};
use crate::rpc::ServerState;

/// How many rows a list answers (the TypeScript repository's default; a `limit` param is
/// ignored by `*.list`, as upstream).
const LIST_LIMIT: usize = 50;

fn rpc_error(e: TaskError) -> RpcError {
    match e {
        TaskError::Invalid(m) => RpcError::invalid_params(m),
        TaskError::Rejected(m) | TaskError::Sql(m) => RpcError::new(RpcErrorCode::InternalError, m),
        TaskError::Store(e) => store_error(e),
    }
}

/// Runs `f` on the store thread and serializes its result.
async fn on_store<T, F>(state: &Arc<ServerState>, f: F) -> Result<Value, RpcError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&EventStore) -> TaskResult<T> + Send + 'static,
{
    let result = state.store.run(move |s| Ok(f(s))).await.map_err(store_error)?;
    let value = result.map_err(rpc_error)?;
    serde_json::to_value(value).map_err(|e| RpcError::internal(e.to_string()))
}

/// `{success: true}`.
fn done(_: bool) -> Value {
    json!({ "success": true })
}

/// Answers one `tasks.*` / `projects.*` / `areas.*` method; `None` for a method of those
/// families that does not exist.
pub async fn dispatch(state: &Arc<ServerState>, method: &str, p: &Params) -> Option<Result<Value, RpcError>> {
    Some(match method {
        "tasks.list" => list_tasks(state, p).await,
        "tasks.get" => {
            let id = match required_str(p, "taskId") {
                Ok(id) => id.to_owned(),
                Err(e) => return Some(Err(e)),
            };
            on_store(state, move |s| s.task_details(&id)).await
        }
        "tasks.create" => create_task(state, p).await,
        "tasks.update" => update_task(state, p).await,
        "tasks.delete" => with_id(state, p, "taskId", |s, id| s.delete_task(id).map(done)).await,
        "tasks.search" => {
            let (query, limit) = match (required_str(p, "query"), opt_usize(p, "limit")) {
                (Ok(q), Ok(l)) => (q.to_owned(), l.unwrap_or(20)),
                (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
            };
            on_store(state, move |s| s.search_tasks(&query, limit)).await
        }
        "tasks.getActivity" => {
            let limit = match opt_usize(p, "limit") {
                Ok(l) => l.unwrap_or(20),
                Err(e) => return Some(Err(e)),
            };
            with_id(state, p, "taskId", move |s, id| s.task_activity(id, limit)).await
        }
        "projects.list" => {
            let filter = match ProjectFilter::from_json(p) {
                Ok(f) => f,
                Err(e) => return Some(Err(rpc_error(e))),
            };
            on_store(state, move |s| s.list_projects(&filter, LIST_LIMIT, 0)).await
        }
        "projects.get" => with_id(state, p, "projectId", |s, id| s.project(id)).await,
        "projects.create" => create_project(state, p).await,
        "projects.update" => {
            let update = match ProjectUpdate::from_json(p) {
                Ok(u) => u,
                Err(e) => return Some(Err(rpc_error(e))),
            };
            with_id(state, p, "projectId", move |s, id| s.update_project(id, &update)).await
        }
        "projects.getDetails" => with_id(state, p, "projectId", |s, id| s.project_details(id)).await,
        "projects.delete" => with_id(state, p, "projectId", |s, id| s.delete_project(id).map(done)).await,
        "areas.list" => {
            let filter = match AreaFilter::from_json(p) {
                Ok(f) => f,
                Err(e) => return Some(Err(rpc_error(e))),
            };
            on_store(state, move |s| s.list_areas(&filter, LIST_LIMIT, 0)).await
        }
        "areas.get" => with_id(state, p, "areaId", |s, id| s.area_with_counts(id)).await,
        "areas.create" => create_area(state, p).await,
        "areas.update" => {
            let update = match AreaUpdate::from_json(p) {
                Ok(u) => u,
                Err(e) => return Some(Err(rpc_error(e))),
            };
            with_id(state, p, "areaId", move |s, id| s.update_area(id, &update)).await
        }
        "areas.delete" => with_id(state, p, "areaId", |s, id| s.delete_area(id).map(done)).await,
        _ => return None,
    })
}

/// A method taking one required id param.
async fn with_id<T, F>(state: &Arc<ServerState>, p: &Params, name: &str, f: F) -> Result<Value, RpcError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&EventStore, &str) -> TaskResult<T> + Send + 'static,
{
    let id = required_str(p, name)?.to_owned();
    on_store(state, move |s| f(s, &id)).await
}

/// `tasks.list {status?, priority?, tags?, projectId?, areaId?, workspaceId?, includeCompleted?,
/// includeBacklog?, includeDeferred?, ...}` -> `{tasks, total}` (at most 50).
async fn list_tasks(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let filter = TaskFilter::from_json(p).map_err(rpc_error)?;
    on_store(state, move |s| s.list_tasks(&filter, LIST_LIMIT, 0)).await
}

/// `tasks.create {title, ...}` -> the task.
async fn create_task(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    required_str(p, "title")?;
    let new = NewTask::from_json(p, "tags").map_err(rpc_error)?;
    on_store(state, move |s| s.create_task(&new)).await
}

/// `tasks.update {taskId, ...}` -> the task.
async fn update_task(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let id = required_str(p, "taskId")?.to_owned();
    let update = TaskUpdate::from_json(p).map_err(rpc_error)?;
    on_store(state, move |s| s.update_task(&id, &update)).await
}

/// `projects.create {projectTitle, title, ...}` -> the project. Upstream requires
/// `projectTitle` and stores `title`; tron requires `projectTitle` too and stores `title`,
/// falling back to `projectTitle` when `title` is absent.
async fn create_project(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let project_title = required_str(p, "projectTitle")?.to_owned();
    let new = (|| -> TaskResult<NewProject> {
        Ok(NewProject {
            title: tp::string(p, "title")?.unwrap_or(project_title),
            description: tp::string(p, "description")?,
            tags: tp::strings(p, "tags")?,
            workspace_id: tp::string(p, "workspaceId")?,
            area_id: tp::string(p, "areaId")?,
        })
    })()
    .map_err(rpc_error)?;
    on_store(state, move |s| s.create_project(&new)).await
}

/// `areas.create {title, description?, tags?, workspaceId?, metadata?}` -> the area.
async fn create_area(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    required_str(p, "title")?;
    let new = (|| -> TaskResult<NewArea> {
        Ok(NewArea {
            title: tp::string(p, "title")?.unwrap_or_default(),
            description: tp::string(p, "description")?,
            tags: tp::strings(p, "tags")?,
            workspace_id: tp::string(p, "workspaceId")?,
            metadata: p.get("metadata").filter(|m| !m.is_null()).cloned(),
        })
    })()
    .map_err(rpc_error)?;
    on_store(state, move |s| s.create_area(&new)).await
}
