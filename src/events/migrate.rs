//! Schema migrations: `migrations/NNN_name.sql`, embedded at build time and applied in
//! order at startup.
//!
//! Versions are the TypeScript server's own `schema_version` numbers, so a database it wrote
//! at version N already counts as having run our migrations 1..=N. Migrations only add
//! (tables, columns, indexes, triggers); each file is idempotent. Three marker comments,
//! each on the line right above one statement, make a statement conditional:
//!
//! - `-- tron:if-column-missing TABLE COLUMN`: run only when the column does not exist yet;
//! - `-- tron:if-column-exists TABLE COLUMN`: run only when the column exists;
//! - `-- tron:requires-extension NAME`: run only when the SQLite module NAME is available.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::db::classify;
use super::error::{Result, StoreError};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version it brings the database to.
    pub version: i64,
    /// The description recorded in `schema_version` (the TypeScript server's wording).
    pub description: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal, $description:literal) => {
        Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../../migrations/", $file)),
        }
    };
}

/// Every migration, in order, with the description the TypeScript server records.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "001_initial.sql", "Initial schema with core tables"),
    migration!(2, "002_task_backlog.sql", "Add task backlog table for todo persistence"),
    migration!(3, "003_device_tokens.sql", "Add device_tokens table for push notifications"),
    migration!(4, "004_indexes_fts_triggers.sql", "Add performance indexes and FTS sync triggers"),
    migration!(5, "005_log_trace_columns.sql", "Add trace correlation columns to logs table"),
    migration!(
        6,
        "006_memory_vectors.sql",
        "Register memory_vectors schema version (table created at runtime after sqlite-vec load)"
    ),
    migration!(
        7,
        "007_tasks.sql",
        "Add persistent task management system (projects, tasks, dependencies, activity)"
    ),
    migration!(8, "008_areas.sql", "Add areas table and area_id to projects/tasks for PARA model support"),
    migration!(9, "009_archive_rename.sql", "Rename sessions ended_at to archived_at"),
];

/// The unique index on `(session_id, sequence)`. It is not part of the TypeScript schema
/// (whose store relies on its write transaction alone), so it is not a numbered migration:
/// tron creates it on every open when missing. A database that already holds duplicate
/// sequences (old TypeScript versions could write them) keeps working without it; appends
/// stay correct because each runs in one `BEGIN IMMEDIATE` transaction.
const UNIQUE_SEQUENCE_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS idx_events_session_sequence_unique \
     ON events(session_id, sequence)";

/// The newest schema version this tron knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database to the latest schema. Each pending migration runs in its own
/// transaction together with its `schema_version` row, so a crash leaves either all or
/// nothing of it.
pub fn run(conn: &Connection, path: &Path) -> Result<()> {
    migrate(conn, path)?;
    ensure_unique_sequence(conn).map_err(|e| classify(path, e))
}

fn ensure_unique_sequence(conn: &Connection) -> rusqlite::Result<()> {
    match conn.execute_batch(UNIQUE_SEQUENCE_INDEX) {
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            Ok(())
        }
        other => other,
    }
}

fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let current = current_version(conn).map_err(|e| classify(path, e))?;
    if current >= latest_version() {
        if current > latest_version() && newer_schema_is_unsafe(conn)? {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: current,
                known: latest_version(),
            });
        }
        return Ok(());
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        apply(conn, m).map_err(|e| match e {
            StoreError::Sqlite(inner) => match classify(path, inner) {
                StoreError::Sqlite(inner) => StoreError::Invalid(format!(
                    "migration {} ({}) failed on {}: {inner}",
                    m.version,
                    m.description,
                    path.display()
                )),
                other => other,
            },
            other => other,
        })?;
    }
    Ok(())
}

/// A database from a newer tron or TypeScript server is opened as long as the tables we
/// write to still exist; migrations only add, so this is the common case.
fn newer_schema_is_unsafe(conn: &Connection) -> Result<bool> {
    for table in ["sessions", "events", "workspaces"] {
        if !table_exists(conn, table)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    if !table_exists(conn, "schema_version").map_err(|_| rusqlite::Error::InvalidQuery)? {
        return Ok(0);
    }
    conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0))
}

fn table_exists(conn: &Connection, table: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?1",
            [table],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn column_exists(conn: &Connection, table: &str, column: &str) -> Result<bool> {
    let mut stmt = conn.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?;
    Ok(stmt.exists([table, column])?)
}

fn module_available(conn: &Connection, module: &str) -> Result<bool> {
    let mut stmt = conn.prepare("SELECT 1 FROM pragma_module_list WHERE name = ?1")?;
    Ok(stmt.exists([module])?)
}

fn apply(conn: &Connection, m: &Migration) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                applied_at TEXT NOT NULL,
                description TEXT
            )",
        )?;
        for stmt in statements(m.sql) {
            if should_run(conn, stmt.condition)? {
                conn.execute_batch(stmt.sql)?;
            }
        }
        conn.execute(
            "INSERT OR REPLACE INTO schema_version (version, applied_at, description) \
             VALUES (?1, datetime('now'), ?2)",
            rusqlite::params![m.version, m.description],
        )?;
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn should_run(conn: &Connection, condition: Option<Condition<'_>>) -> Result<bool> {
    Ok(match condition {
        None => true,
        Some(Condition::ColumnMissing(t, c)) => table_exists(conn, t)? && !column_exists(conn, t, c)?,
        Some(Condition::ColumnExists(t, c)) => column_exists(conn, t, c)?,
        Some(Condition::Extension(name)) => module_available(conn, name)?,
    })
}

/// A marker condition on one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition<'a> {
    ColumnMissing(&'a str, &'a str),
    ColumnExists(&'a str, &'a str),
    Extension(&'a str),
}

#[derive(Debug, PartialEq, Eq)]
struct Statement<'a> {
    condition: Option<Condition<'a>>,
    sql: &'a str,
}

fn parse_marker(line: &str) -> Option<Condition<'_>> {
    let rest = line.trim().strip_prefix("-- tron:")?;
    let mut words = rest.split_whitespace();
    match (words.next()?, words.next(), words.next()) {
        ("if-column-missing", Some(t), Some(c)) => Some(Condition::ColumnMissing(t, c)),
        ("if-column-exists", Some(t), Some(c)) => Some(Condition::ColumnExists(t, c)),
        ("requires-extension", Some(m), None) => Some(Condition::Extension(m)),
        _ => None,
    }
}

/// Splits a migration into complete statements (using SQLite's own notion of completeness,
/// so triggers with `BEGIN ... END;` stay whole), attaching each marker to the statement
/// that follows it.
fn statements(sql: &str) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    let mut pending: Option<Condition<'_>> = None;
    let mut start: Option<usize> = None;
    let mut offset = 0;
    for line in sql.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        if start.is_none() {
            if let Some(cond) = parse_marker(line) {
                pending = Some(cond);
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with("--") {
                continue;
            }
            start = Some(line_start);
        }
        let text = &sql[start.unwrap_or(line_start)..offset];
        if is_complete(text) {
            out.push(Statement { condition: pending.take(), sql: text.trim() });
            start = None;
        }
    }
    if let Some(s) = start {
        let text = sql[s..].trim();
        if !text.is_empty() {
            out.push(Statement { condition: pending.take(), sql: text });
        }
    }
    out
}

fn is_complete(sql: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(sql) else { return false };
    // SAFETY: sqlite3_complete only reads the NUL-terminated string we pass.
    unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_keeps_triggers_whole() {
        let sql = "-- header\nCREATE TABLE a (x);\n\n-- tron:if-column-missing a y\nALTER TABLE a ADD COLUMN y TEXT;\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO a VALUES (1);\nEND;\n";
        let stmts = statements(sql);
        assert_eq!(stmts.len(), 3);
        assert_eq!(stmts[0].condition, None);
        assert_eq!(stmts[1].condition, Some(Condition::ColumnMissing("a", "y")));
        assert!(stmts[2].sql.ends_with("END;"));
    }

    #[test]
    fn migrations_apply_twice_without_change() {
        let conn = Connection::open_in_memory().unwrap();
        let p = Path::new(":memory:");
        run(&conn, p).unwrap();
        let v1 = current_version(&conn).unwrap();
        assert_eq!(v1, latest_version());
        run(&conn, p).unwrap();
        let rows: i64 = conn.query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(rows as usize, MIGRATIONS.len());
    }

    #[test]
    fn versions_are_strictly_increasing() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
    }
}
