//! The recording format: `recordings/NAME.jsonl`, JSON Lines.
//!
//! Line 1 is the header:
//!
//! ```text
//! {"tronRecording":1,"recordedAgainst":"tron 0.1.0","description":"...",
//!  "script":{"responses":[...]},"settings":{}}
//! ```
//!
//! `script` (the [`Script`] the mock LLM plays, default empty) and `settings` (default `{}`)
//! are optional; header keys this version does not know are kept and written back.
//!
//! `script` entries are [`crate::testing::ScriptedResponse`]s: hand-written streams, HTTP
//! errors, or provider answers the recorder proxy kept verbatim
//! ([`crate::testing::ScriptedResponse::Verbatim`]).
//!
//! Every other line is one frame: `{"dir":"send"|"recv","t_ms":MS,"frame":FRAME}`. `t_ms` has
//! one meaning everywhere (the recorder proxy, the replayer's transcripts, `--update`):
//! milliseconds since the client began opening its first connection of the recording,
//! counted across reconnects, so it never goes back within a recording. It is informational:
//! the replayer orders and waits by frames, never by time. A `send` line whose `frame` is a
//! JSON string and that has `"raw":true` is sent verbatim as a text frame (to record
//! malformed input such as `{not json`); any other `frame` is sent as its JSON text.
//! A line may name the client connection it belongs to with `"conn":"NAME"` (default
//! `main`): at the first line of another connection the client closes its connection and
//! opens a new one (a reconnect), so a recording can show what a returning client catches up
//! on. Blank lines are ignored. Writing back gives the header keys in the order above and one
//! line per frame, with each frame's own key order kept.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ReplayError;
use crate::testing::Script;

/// The value of the header's `tronRecording` key this version reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// What produced the recv frames, e.g. `typescript@df15517` or `tron 0.1.0`.
    pub recorded_against: String,
    /// What the recording exercises.
    pub description: String,
    /// What the mock LLM answers, one response per provider request.
    pub script: Script,
    /// Settings for the server under test (written to its `settings.json`).
    pub settings: Value,
    /// Header keys this version does not know, kept in order.
    pub extra: Map<String, Value>,
}

impl Default for Header {
    fn default() -> Self {
        Self {
            recorded_against: String::new(),
            description: String::new(),
            script: Script::default(),
            settings: Value::Object(Map::new()),
            extra: Map::new(),
        }
    }
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    Send,
    /// Server to client.
    Recv,
}

impl Dir {
    /// `send` or `recv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Send => "send",
            Dir::Recv => "recv",
        }
    }
}

/// One frame of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Which way it went.
    pub dir: Dir,
    /// Milliseconds since the client began opening the recording's first connection
    /// (across reconnects; see the module docs).
    pub t_ms: u64,
    /// The frame (a JSON value; for `raw` lines a string sent verbatim).
    pub frame: Value,
    /// Send `frame` (a string) verbatim instead of as JSON.
    pub raw: bool,
    /// Line keys this version does not know, kept in order.
    pub extra: Map<String, Value>,
}

impl Line {
    /// A JSON frame.
    pub fn new(dir: Dir, t_ms: u64, frame: Value) -> Self {
        Self { dir, t_ms, frame, raw: false, extra: Map::new() }
    }

    /// The client connection the line belongs to: its `"conn"` key, `"main"` when absent.
    /// A recording switches connection (the client reconnects) at the first line naming
    /// another one.
    pub fn conn(&self) -> &str {
        self.extra.get("conn").and_then(Value::as_str).unwrap_or("main")
    }

    /// The text sent for a `send` line: the string itself when raw, else the frame's JSON.
    pub fn text(&self) -> String {
        match (&self.frame, self.raw) {
            (Value::String(s), true) => s.clone(),
            (frame, _) => frame.to_string(),
        }
    }
}

/// A whole recording.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recording {
    /// The header line.
    pub header: Header,
    /// The frames in the order they were sent or received.
    pub lines: Vec<Line>,
}

/// A line that is not valid: its 1-based number and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Recording {
    /// Parses a recording's text.
    pub fn parse(text: &str) -> Result<Recording, FormatError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let Some((n, first)) = lines.next() else {
            return Err(FormatError { line: 1, message: "empty file: expected a header line".into() });
        };
        let header = parse_header(first).map_err(|message| FormatError { line: n + 1, message })?;
        let lines = lines
            .map(|(n, l)| parse_line(l).map_err(|message| FormatError { line: n + 1, message }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Recording { header, lines })
    }

    /// Reads and parses the recording at `path`.
    pub fn load(path: &Path) -> Result<Recording, ReplayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ReplayError::File { path: path.to_owned(), source })?;
        Recording::parse(&text).map_err(|e| ReplayError::Parse {
            path: path.to_owned(),
            line: e.line,
            message: e.message,
        })
    }

    /// The recording as JSON Lines (header first, one line per frame, trailing newline).
    pub fn to_jsonl(&self) -> String {
        let mut out = Value::Object(header_map(&self.header)).to_string();
        out.push('\n');
        for line in &self.lines {
            let mut m = Map::new();
            m.insert("dir".into(), Value::String(line.dir.as_str().into()));
            m.insert("t_ms".into(), Value::from(line.t_ms));
            m.insert("frame".into(), line.frame.clone());
            if line.raw {
                m.insert("raw".into(), Value::Bool(true));
            }
            for (k, v) in &line.extra {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.push_str(&Value::Object(m).to_string());
            out.push('\n');
        }
        out
    }

    /// Writes the recording to `path` (through a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), ReplayError> {
        crate::settings::files::write_atomic(path, self.to_jsonl().as_bytes(), None)
            .map_err(|source| ReplayError::File { path: path.to_owned(), source })
    }

    /// The recv frames, in order.
    pub fn received(&self) -> Vec<Value> {
        self.lines.iter().filter(|l| l.dir == Dir::Recv).map(|l| l.frame.clone()).collect()
    }
}

fn header_map(h: &Header) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("tronRecording".into(), Value::from(FORMAT_VERSION));
    m.insert("recordedAgainst".into(), Value::String(h.recorded_against.clone()));
    m.insert("description".into(), Value::String(h.description.clone()));
    m.insert("script".into(), serde_json::to_value(&h.script).unwrap_or(Value::Null));
    m.insert("settings".into(), h.settings.clone());
    for (k, v) in &h.extra {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

fn parse_header(text: &str) -> Result<Header, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("header is not JSON: {e}"))?;
    let Value::Object(mut m) = value else { return Err("header is not a JSON object".into()) };
    match m.remove("tronRecording") {
        Some(v) if v.as_u64() == Some(FORMAT_VERSION) => {}
        Some(v) => return Err(format!("unsupported tronRecording version {v} (this tron reads 1)")),
        None => return Err("not a tron recording: the header has no \"tronRecording\" key".into()),
    }
    let string = |m: &mut Map<String, Value>, key: &str| match m.remove(key) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("header \"{key}\" must be a string, not {other}")),
    };
    let recorded_against = string(&mut m, "recordedAgainst")?;
    let description = string(&mut m, "description")?;
    let script = match m.remove("script") {
        None | Some(Value::Null) => Script::default(),
        Some(v) => serde_json::from_value(v).map_err(|e| format!("header \"script\": {e}"))?,
    };
    let settings = match m.remove("settings") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v,
        Some(other) => return Err(format!("header \"settings\" must be an object, not {other}")),
    };
    Ok(Header { recorded_against, description, script, settings, extra: m })
}

fn parse_line(text: &str) -> Result<Line, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut m) = value else { return Err("a frame line must be a JSON object".into()) };
    let dir = match m.remove("dir") {
        Some(Value::String(s)) if s == "send" => Dir::Send,
        Some(Value::String(s)) if s == "recv" => Dir::Recv,
        Some(other) => return Err(format!("\"dir\" must be \"send\" or \"recv\", not {other}")),
        None => return Err("missing \"dir\"".into()),
    };
    let t_ms = match m.remove("t_ms") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| format!("\"t_ms\" must be a whole number of ms, not {v}"))?,
    };
    let frame = m.remove("frame").ok_or("missing \"frame\"")?;
    let raw = match m.remove("raw") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) if frame.is_string() => true,
        Some(Value::Bool(true)) => return Err("\"raw\":true needs a string \"frame\"".into()),
        Some(other) => return Err(format!("\"raw\" must be true or false, not {other}")),
    };
    Ok(Line { dir, t_ms, frame, raw, extra: m })
}

/// The recordings under `paths`: files as given, folders searched recursively for
/// `*.jsonl`. Sorted by path, without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReplayError> {
    let mut found = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|source| ReplayError::File { path: path.clone(), source })?;
        if meta.is_dir() {
            walk(path, &mut found)?;
        } else {
            found.push(path.clone());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), ReplayError> {
    let entries =
        std::fs::read_dir(dir).map_err(|source| ReplayError::File { path: dir.to_owned(), source })?;
    for entry in entries {
        let path = entry.map_err(|source| ReplayError::File { path: dir.to_owned(), source })?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = r#"{"tronRecording":1,"recordedAgainst":"tron 0.1.0","description":"ping","future":[1]}
{"dir":"recv","t_ms":0,"frame":{"type":"system.connected","data":{"clientId":"client_1"}}}

{"dir":"send","t_ms":5,"frame":{"id":"1","method":"system.ping"}}
{"dir":"send","t_ms":6,"frame":"{not json","raw":true}
"#;

    #[test]
    fn parses_and_defaults() {
        let r = Recording::parse(SAMPLE).unwrap();
        assert_eq!(r.header.recorded_against, "tron 0.1.0");
        assert!(r.header.script.responses.is_empty());
        assert_eq!(r.header.settings, json!({}));
        assert_eq!(r.header.extra["future"], json!([1]));
        assert_eq!(r.lines.len(), 3);
        assert_eq!(r.lines[1].dir, Dir::Send);
        assert_eq!(r.lines[1].text(), r#"{"id":"1","method":"system.ping"}"#);
        assert!(r.lines[2].raw);
        assert_eq!(r.lines[2].text(), "{not json");
        assert_eq!(r.received().len(), 1);
    }

    #[test]
    fn lines_name_their_connection() {
        let text = "{\"tronRecording\":1}\n{\"dir\":\"send\",\"t_ms\":0,\"frame\":{}}\n{\"dir\":\"recv\",\"t_ms\":1,\"conn\":\"b\",\"frame\":{}}\n";
        let r = Recording::parse(text).unwrap();
        assert_eq!(r.lines[0].conn(), "main");
        assert_eq!(r.lines[1].conn(), "b");
        assert_eq!(Recording::parse(&r.to_jsonl()).unwrap().lines[1].conn(), "b");
    }

    #[test]
    fn writes_back_stably() {
        let r = Recording::parse(SAMPLE).unwrap();
        let text = r.to_jsonl();
        assert!(text.starts_with(
            r#"{"tronRecording":1,"recordedAgainst":"tron 0.1.0","description":"ping","script":{"responses":[]},"settings":{},"future":[1]}"#
        ));
        assert_eq!(text.lines().count(), 4);
        assert_eq!(Recording::parse(&text).unwrap(), r);
        assert_eq!(Recording::parse(&text).unwrap().to_jsonl(), text);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = "{\"tronRecording\":1}\n{\"dir\":\"send\",\"t_ms\":0}\n";
        assert_eq!(
            Recording::parse(bad).unwrap_err(),
            FormatError { line: 2, message: "missing \"frame\"".into() }
        );
        let e = Recording::parse("{\"tronRecording\":1}\n\n{\"dir\":\"up\",\"frame\":1}").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("\"up\""));
        assert!(Recording::parse("{\"x\":1}").unwrap_err().message.contains("not a tron recording"));
        assert!(Recording::parse("{\"tronRecording\":2}").unwrap_err().message.contains("version 2"));
        assert_eq!(Recording::parse("").unwrap_err().line, 1);
        let e = Recording::parse("{\"tronRecording\":1}\n{\"dir\":\"send\",\"frame\":{},\"raw\":true}")
            .unwrap_err();
        assert!(e.message.contains("raw"));
    }

    #[test]
    fn discovers_jsonl_sorted() {
        let dir = std::env::temp_dir().join(format!("tron-format-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in ["b.jsonl", "a.jsonl", "notes.md", "sub/c.jsonl"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let found = discover(&[dir.clone(), dir.join("a.jsonl")]).unwrap();
        let names: Vec<String> =
            found.iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.jsonl", "b.jsonl", "sub/c.jsonl"]);
        assert!(matches!(discover(&[dir.join("missing")]), Err(ReplayError::File { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
