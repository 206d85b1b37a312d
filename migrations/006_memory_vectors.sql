-- v6: memory_vectors, a sqlite-vec (vec0) table of 512-dim event embeddings; only created when the vec0 module is loaded.

-- The TypeScript migration itself is a no-op; its server creates this table at startup,
-- after loading sqlite-vec, with exactly this statement (dimensions 512).
-- tron:requires-extension vec0
CREATE VIRTUAL TABLE IF NOT EXISTS memory_vectors USING vec0(
    event_id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    embedding float[512]
);
