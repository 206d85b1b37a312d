-- v2: task_backlog table (incomplete todos persisted across sessions) and its indexes.

CREATE TABLE IF NOT EXISTS task_backlog (
    id                     TEXT PRIMARY KEY,
    workspace_id           TEXT NOT NULL,
    source_session_id      TEXT NOT NULL,
    content                TEXT NOT NULL,
    active_form            TEXT NOT NULL,
    status                 TEXT NOT NULL,
    source                 TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    completed_at           TEXT,
    backlogged_at          TEXT NOT NULL,
    backlog_reason         TEXT NOT NULL,
    metadata               TEXT,
    restored_to_session_id TEXT,
    restored_at            TEXT,
    FOREIGN KEY (workspace_id) REFERENCES workspaces(id),
    FOREIGN KEY (source_session_id) REFERENCES sessions(id)
);
CREATE INDEX IF NOT EXISTS idx_backlog_workspace ON task_backlog(workspace_id, backlogged_at DESC);
CREATE INDEX IF NOT EXISTS idx_backlog_status    ON task_backlog(status, restored_to_session_id);
CREATE INDEX IF NOT EXISTS idx_backlog_session   ON task_backlog(source_session_id);
