-- v3: device_tokens table (push-notification device tokens) and its partial indexes.

CREATE TABLE IF NOT EXISTS device_tokens (
    id           TEXT PRIMARY KEY,
    device_token TEXT NOT NULL,
    session_id   TEXT REFERENCES sessions(id),
    workspace_id TEXT REFERENCES workspaces(id),
    platform     TEXT NOT NULL DEFAULT 'ios',
    environment  TEXT NOT NULL DEFAULT 'production',
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    is_active    INTEGER DEFAULT 1,
    UNIQUE(device_token, platform)
);
CREATE INDEX IF NOT EXISTS idx_device_tokens_session   ON device_tokens(session_id) WHERE is_active = 1;
CREATE INDEX IF NOT EXISTS idx_device_tokens_workspace ON device_tokens(workspace_id) WHERE is_active = 1;
CREATE INDEX IF NOT EXISTS idx_device_tokens_token     ON device_tokens(device_token);
