-- v4: performance indexes (partial and covering) and the triggers that keep events_fts / logs_fts in sync on insert and delete.

CREATE INDEX IF NOT EXISTS idx_events_tool_call_id
    ON events(tool_call_id) WHERE tool_call_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS idx_blobs_ref_count
    ON blobs(ref_count) WHERE ref_count <= 0;

CREATE INDEX IF NOT EXISTS idx_sessions_created
    ON sessions(created_at DESC);

CREATE INDEX IF NOT EXISTS idx_events_message_preview
    ON events(session_id, type, sequence DESC)
    WHERE type IN ('message.user', 'message.assistant');

CREATE INDEX IF NOT EXISTS idx_events_session_covering
    ON events(session_id, sequence, type, timestamp, parent_id);

-- events_fts row per inserted event: content <- $.content, tool_name <- events.tool_name,
-- else $.toolName, else $.name, else ''. (Replaced by the memory.ledger-aware body in 009.)
CREATE TRIGGER IF NOT EXISTS events_fts_insert
AFTER INSERT ON events
BEGIN
    INSERT INTO events_fts (id, session_id, type, content, tool_name)
    VALUES (
        NEW.id,
        NEW.session_id,
        NEW.type,
        CASE WHEN json_valid(NEW.payload)
            THEN COALESCE(json_extract(NEW.payload, '$.content'), '')
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

CREATE TRIGGER IF NOT EXISTS events_fts_delete
AFTER DELETE ON events
BEGIN
    DELETE FROM events_fts WHERE id = OLD.id;
END;

CREATE TRIGGER IF NOT EXISTS logs_fts_insert
AFTER INSERT ON logs
BEGIN
    INSERT INTO logs_fts (log_id, session_id, component, message, error_message)
    VALUES (NEW.id, NEW.session_id, NEW.component, NEW.message, COALESCE(NEW.error_message, ''));
END;

CREATE TRIGGER IF NOT EXISTS logs_fts_delete
AFTER DELETE ON logs
BEGIN
    DELETE FROM logs_fts WHERE log_id = OLD.id;
END;
