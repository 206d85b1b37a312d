//! Reading stored logs back (`tron events logs`): filters by minimum level, session,
//! component, time and full-text search over `logs_fts`; newest last.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

use super::{Level, LogError};

/// Which logs to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only this level and more severe.
    pub min_level: Option<Level>,
    pub session_id: Option<String>,
    /// Only this component and the ones below it (`tron::guardrails`, `tron::agent`
    /// matches `tron::agent::x`).
    pub component: Option<String>,
    /// Only records at or after this ISO time (see [`parse_since`]).
    pub since: Option<String>,
    /// Words that must all appear in the message, component or error (FTS5).
    pub search: Option<String>,
    /// The newest this many (0: no limit).
    pub limit: usize,
}

/// One stored record, as `tron events logs --json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogRow {
    pub id: i64,
    pub timestamp: String,
    pub level: String,
    pub level_num: i64,
    pub component: String,
    pub message: String,
    pub session_id: Option<String>,
    pub workspace_id: Option<String>,
    pub event_id: Option<String>,
    pub turn: Option<i64>,
    pub trace_id: Option<String>,
    pub data: Option<Value>,
    pub error_message: Option<String>,
}

/// The matching records, oldest first (the newest `limit` of them).
pub fn query_logs(conn: &Connection, q: &LogQuery) -> Result<Vec<LogRow>, LogError> {
    let mut sql = String::from(
        "SELECT id, timestamp, level, level_num, component, message, session_id, workspace_id, \
         event_id, turn, trace_id, data, error_message FROM logs WHERE 1 = 1",
    );
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(level) = q.min_level {
        sql.push_str(" AND level_num >= ?");
        args.push(SqlValue::Integer(level.num()));
    }
    if let Some(s) = &q.session_id {
        sql.push_str(" AND session_id = ?");
        args.push(SqlValue::Text(s.clone()));
    }
    if let Some(c) = &q.component {
        sql.push_str(" AND (component = ? OR substr(component, 1, ?) = ?)");
        args.push(SqlValue::Text(c.clone()));
        let below = format!("{c}::");
        args.push(SqlValue::Integer(below.chars().count() as i64));
        args.push(SqlValue::Text(below));
    }
    if let Some(t) = &q.since {
        sql.push_str(" AND timestamp >= ?");
        args.push(SqlValue::Text(t.clone()));
    }
    if let Some(words) = &q.search {
        let fts =
            fts_query(words).ok_or_else(|| LogError::Invalid("--search needs at least one word".into()))?;
        sql.push_str(" AND id IN (SELECT CAST(log_id AS INTEGER) FROM logs_fts WHERE logs_fts MATCH ?)");
        args.push(SqlValue::Text(fts));
    }
    sql.push_str(" ORDER BY timestamp DESC, id DESC");
    if q.limit > 0 {
        sql.push_str(" LIMIT ?");
        args.push(SqlValue::Integer(q.limit as i64));
    }
    let mut stmt = conn.prepare(&sql)?;
    let mut rows: Vec<LogRow> = stmt
        .query_map(rusqlite::params_from_iter(args), |r| {
            let data: Option<String> = r.get(11)?;
            Ok(LogRow {
                id: r.get(0)?,
                timestamp: r.get(1)?,
                level: r.get(2)?,
                level_num: r.get(3)?,
                component: r.get(4)?,
                message: r.get(5)?,
                session_id: r.get(6)?,
                workspace_id: r.get(7)?,
                event_id: r.get(8)?,
                turn: r.get(9)?,
                trace_id: r.get(10)?,
                data: data.map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d))),
                error_message: r.get(12)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Plain words as an FTS5 query: each word quoted (a trailing `*` kept as a prefix), all
/// required. `None` when there is no word.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split_whitespace()
        .filter_map(|word| {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(w) => (w, true),
                None => (word, false),
            };
            let word = word.trim_matches('"');
            (!word.is_empty()).then(|| {
                let quoted = format!("\"{}\"", word.replace('"', "\"\""));
                if prefix {
                    quoted + "*"
                } else {
                    quoted
                }
            })
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// `--since`: a relative age (`30s`, `10m`, `2h`, `1d`, `1w`) or an ISO time
/// (`2026-01-02T03:04:05Z`, `2026-01-02T03:04:05`, `2026-01-02`, taken as UTC), as the
/// ISO UTC millisecond timestamp the `timestamp` column compares with.
pub fn parse_since(input: &str, now: DateTime<Utc>) -> Result<String, LogError> {
    let s = input.trim();
    let bad = || {
        LogError::Invalid(format!(
            "invalid --since {input:?}: expected an age like 30s, 10m, 2h, 1d, 1w or a time like 2026-01-02T03:04:05Z"
        ))
    };
    let at = if let Some((n, unit)) = s.char_indices().last().and_then(|(i, unit)| {
        let n: i64 = s[..i].parse().ok()?;
        Some((n, unit))
    }) {
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        if n < 0 {
            return Err(bad());
        }
        let age = chrono::Duration::try_seconds(n.checked_mul(secs).ok_or_else(bad)?).ok_or_else(bad)?;
        now.checked_sub_signed(age).ok_or_else(bad)?
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        t.and_utc()
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        t.and_utc()
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc()
    } else {
        return Err(bad());
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn since_takes_ages_and_times() {
        assert_eq!(parse_since("10m", now()).unwrap(), "2026-01-02T11:50:00.000Z");
        assert_eq!(parse_since("2h", now()).unwrap(), "2026-01-02T10:00:00.000Z");
        assert_eq!(parse_since("1d", now()).unwrap(), "2026-01-01T12:00:00.000Z");
        assert_eq!(parse_since("2026-01-01T01:02:03+01:00", now()).unwrap(), "2026-01-01T00:02:03.000Z");
        assert_eq!(parse_since("2026-01-01", now()).unwrap(), "2026-01-01T00:00:00.000Z");
        for bad in ["garbage", "10x", "-5m", "", "m", "99999999999999w"] {
            let e = parse_since(bad, now()).unwrap_err().to_string();
            assert!(e.contains("invalid --since"), "{bad}: {e}");
        }
    }

    #[test]
    fn search_words_are_quoted() {
        assert_eq!(fts_query("rate lim*").unwrap(), "\"rate\" \"lim\"*");
        assert_eq!(fts_query("say \"hi\" OR").unwrap(), "\"say\" \"hi\" \"OR\"");
        assert!(fts_query("  ").is_none());
    }
}
