-- v5: trace correlation columns on logs (trace_id, parent_trace_id, depth) and their indexes.

-- tron:if-column-missing logs trace_id
ALTER TABLE logs ADD COLUMN trace_id TEXT;

-- tron:if-column-missing logs parent_trace_id
ALTER TABLE logs ADD COLUMN parent_trace_id TEXT;

-- tron:if-column-missing logs depth
ALTER TABLE logs ADD COLUMN depth INTEGER DEFAULT 0;

CREATE INDEX IF NOT EXISTS idx_logs_trace_id     ON logs(trace_id);
CREATE INDEX IF NOT EXISTS idx_logs_parent_trace ON logs(parent_trace_id);
