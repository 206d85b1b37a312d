//! Full-text search over events (FTS5 table `events_fts`, filled by the schema's insert
//! trigger from each payload's `content` and tool name).
//!
//! Differences from the TypeScript server, all in the user's favour: the query is plain
//! words by default (each word is quoted, so `foo-bar` or `a.b` cannot raise an FTS syntax
//! error; `word*` keeps prefix search; `raw` passes FTS5 syntax through); words are matched
//! against content and tool names only (the TypeScript server also matches the indexed
//! `type` column, so searching "user" hits every user message); tool-call arguments are
//! indexed too; and an event indexed twice (the TypeScript server inserts an FTS row from
//! its trigger and another by hand) is reported once.

use rusqlite::{Connection, OptionalExtension, ToSql};
use serde::Serialize;
use serde_json::Value;

use super::error::{Result, StoreError};
use super::types::SessionEvent;

/// Filters for a search.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// Only events of this session.
    pub session_id: Option<String>,
    /// Only events of this workspace.
    pub workspace_id: Option<String>,
    /// Only events of these types (empty: all).
    pub types: Vec<String>,
    /// At most this many hits (None: all).
    pub limit: Option<usize>,
    /// Pass the query to FTS5 unchanged (its operators: AND, OR, NOT, NEAR, "phrases", col:).
    pub raw: bool,
}

/// One search hit, best first. `snippet` marks matches with `<mark>`…`</mark>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub event_id: String,
    pub session_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: String,
    pub snippet: String,
    /// Relevance (absolute bm25; higher is better).
    pub score: f64,
}

/// Turns plain words into an FTS5 query: every word quoted (a trailing `*` kept as a prefix
/// search), all words required, matched in content and tool names.
pub fn plain_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split_whitespace()
        .filter_map(|word| {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(w) => (w, true),
                None => (word, false),
            };
            let word = word.trim_matches('"');
            if word.is_empty() {
                return None;
            }
            let quoted = format!("\"{}\"", word.replace('"', "\"\""));
            Some(if prefix { format!("{quoted}*") } else { quoted })
        })
        .collect();
    if terms.is_empty() {
        None
    } else {
        Some(format!("{{content tool_name}} : ({})", terms.join(" ")))
    }
}

pub(crate) fn search(conn: &Connection, query: &str, opts: &SearchOptions) -> Result<Vec<SearchHit>> {
    let fts_query = if opts.raw {
        query.trim().to_owned()
    } else {
        plain_query(query).ok_or_else(|| StoreError::Invalid("the search query has no words".into()))?
    };
    if fts_query.is_empty() {
        return Err(StoreError::Invalid("the search query is empty".into()));
    }
    let mut filters = String::new();
    let mut args: Vec<&dyn ToSql> = vec![&fts_query];
    if let Some(s) = &opts.session_id {
        filters.push_str(" AND f.session_id = ?");
        args.push(s);
    }
    if let Some(w) = &opts.workspace_id {
        filters.push_str(" AND e.workspace_id = ?");
        args.push(w);
    }
    if !opts.types.is_empty() {
        filters.push_str(&format!(" AND f.type IN ({})", vec!["?"; opts.types.len()].join(",")));
        for t in &opts.types {
            args.push(t);
        }
    }
    let limit = opts.limit.map_or(-1, |l| l as i64);
    args.push(&limit);
    // A JOIN with events is needed only to filter by workspace; the timestamp is read
    // afterwards for the hits that survive the limit.
    let join = if opts.workspace_id.is_some() { "JOIN events e ON e.id = f.id" } else { "" };
    // Rank every match without building snippets (they are the expensive part), keep the
    // best row per event, then make snippets for the hits that survive the limit only.
    let sql = format!(
        "WITH h AS MATERIALIZED (
             SELECT f.rowid AS rid, f.id AS id, f.session_id AS session_id, f.type AS type,
                    bm25(events_fts) AS score
             FROM events_fts f {join}
             WHERE events_fts MATCH ?{filters})
         SELECT h.rid, h.id, h.session_id, h.type, MIN(h.score) AS best, COALESCE(ev.timestamp, '')
         FROM h LEFT JOIN events ev ON ev.id = h.id
         GROUP BY h.id ORDER BY best, h.id LIMIT ?"
    );
    let ranked = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    SearchHit {
                        event_id: r.get(1)?,
                        session_id: r.get(2)?,
                        event_type: r.get(3)?,
                        snippet: String::new(),
                        score: r.get::<_, f64>(4)?.abs(),
                        timestamp: r.get(5)?,
                    },
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(_, Some(msg))
                if msg.contains("fts5") || msg.contains("syntax") =>
            {
                StoreError::Invalid(format!("bad search query {query:?}: {msg}"))
            }
            other => StoreError::Sqlite(other),
        })?;
    let mut snippet = conn.prepare_cached(
        "SELECT snippet(events_fts, 3, '<mark>', '</mark>', '...', 64) FROM events_fts
         WHERE events_fts MATCH ?1 AND rowid = ?2",
    )?;
    let mut hits = Vec::with_capacity(ranked.len());
    for (rid, mut hit) in ranked {
        hit.snippet = snippet
            .query_row(rusqlite::params![fts_query, rid], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten()
            .unwrap_or_default();
        hits.push(hit);
    }
    Ok(hits)
}

/// Indexes what the schema's trigger leaves out: the arguments of a `tool.call` (their
/// string values, so `tron events search Cargo.toml` finds the Read call that opened it).
pub(crate) fn index_extra(conn: &Connection, e: &SessionEvent) -> Result<()> {
    if e.event_type.as_str() != "tool.call" {
        return Ok(());
    }
    let Some(args) = e.payload.get("arguments") else { return Ok(()) };
    let mut text = String::new();
    collect_strings(args, &mut text);
    if text.is_empty() {
        return Ok(());
    }
    let tool = e.payload.get("name").and_then(Value::as_str).unwrap_or_default();
    conn.prepare_cached(
        "INSERT INTO events_fts (id, session_id, type, content, tool_name) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(rusqlite::params![e.id, e.session_id, e.event_type.as_str(), text, tool])?;
    Ok(())
}

fn collect_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
        Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

impl super::EventStore {
    /// Full-text search; best hits first.
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<SearchHit>> {
        search(self.connection(), query, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_are_quoted_and_cannot_break_fts_syntax() {
        assert_eq!(plain_query("foo-bar a.b").unwrap(), "{content tool_name} : (\"foo-bar\" \"a.b\")");
        assert_eq!(plain_query("auth*").unwrap(), "{content tool_name} : (\"auth\"*)");
        assert_eq!(plain_query("say \"hi").unwrap(), "{content tool_name} : (\"say\" \"hi\")");
        assert_eq!(plain_query("   "), None);
    }
}
