-- v9: rename sessions.ended_at to archived_at (only when ended_at exists) and fix the archived/spawning indexes; also carries the TypeScript server's unversioned open-time repairs (missing sessions columns, idx_sessions_spawning, memory.ledger-aware events_fts_insert trigger).

-- Rename branch: runs only on databases that still have sessions.ended_at.
-- The index drops come first because after the rename ended_at no longer exists.
-- tron:if-column-exists sessions ended_at
DROP INDEX IF EXISTS idx_sessions_ended;
-- tron:if-column-exists sessions ended_at
DROP INDEX IF EXISTS idx_sessions_archived;
-- tron:if-column-exists sessions ended_at
DROP INDEX IF EXISTS idx_sessions_spawning;
-- tron:if-column-exists sessions ended_at
ALTER TABLE sessions RENAME COLUMN ended_at TO archived_at;

-- Both branches.
CREATE INDEX IF NOT EXISTS idx_sessions_archived ON sessions(archived_at);

-- Open-time repairs the TypeScript server applies on every start (not versioned there).
-- On a database created by the current v001 every one of these is a no-op.
-- tron:if-column-missing sessions total_cost
ALTER TABLE sessions ADD COLUMN total_cost REAL DEFAULT 0;
-- tron:if-column-missing sessions last_turn_input_tokens
ALTER TABLE sessions ADD COLUMN last_turn_input_tokens INTEGER DEFAULT 0;
-- tron:if-column-missing sessions total_cache_read_tokens
ALTER TABLE sessions ADD COLUMN total_cache_read_tokens INTEGER DEFAULT 0;
-- tron:if-column-missing sessions total_cache_creation_tokens
ALTER TABLE sessions ADD COLUMN total_cache_creation_tokens INTEGER DEFAULT 0;
-- tron:if-column-missing sessions spawning_session_id
ALTER TABLE sessions ADD COLUMN spawning_session_id TEXT;
-- tron:if-column-missing sessions spawn_type
ALTER TABLE sessions ADD COLUMN spawn_type TEXT;
-- tron:if-column-missing sessions spawn_task
ALTER TABLE sessions ADD COLUMN spawn_task TEXT;

-- A fresh v001 database already has idx_sessions_spawning(spawning_session_id); this only
-- creates the two-column form where the index is missing (e.g. dropped by the rename branch).
CREATE INDEX IF NOT EXISTS idx_sessions_spawning ON sessions(spawning_session_id, archived_at);

-- events_fts_insert, memory.ledger-aware form: for type 'memory.ledger' the content column is
-- $.title, $.input, $.entryType, $.status (each '' when absent) joined by single spaces.
DROP TRIGGER IF EXISTS events_fts_insert;
CREATE TRIGGER events_fts_insert
AFTER INSERT ON events
BEGIN
    INSERT INTO events_fts (id, session_id, type, content, tool_name)
    VALUES (
        NEW.id,
        NEW.session_id,
        NEW.type,
        CASE
            WHEN NEW.type = 'memory.ledger' AND json_valid(NEW.payload) THEN
                COALESCE(json_extract(NEW.payload, '$.title'), '') || ' ' ||
                COALESCE(json_extract(NEW.payload, '$.input'), '') || ' ' ||
                COALESCE(json_extract(NEW.payload, '$.entryType'), '') || ' ' ||
                COALESCE(json_extract(NEW.payload, '$.status'), '')
            WHEN json_valid(NEW.payload) THEN
                COALESCE(json_extract(NEW.payload, '$.content'), '')
            ELSE ''
        END,
        COALESCE(
            NEW.tool_name,
            CASE WHEN json_valid(NEW.payload)
                THEN COALESCE(json_extract(NEW.payload, '$.toolName'),
                              json_extract(NEW.payload, '$.name'))
                ELSE NULL
            END,
            ''
        )
    );
END;
