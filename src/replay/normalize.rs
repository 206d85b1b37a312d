//! The normalisation rules: what may legitimately differ between a recording and a replay.
//! Every rule is here and nowhere else; everything they do not cover is a real difference.
//!
//! 1. **Ids** ([`id_kind`]). A *token* is a maximal run of `[A-Za-z0-9_-]` inside any string
//!    (or object key). A token is an id when it is
//!    - `<prefix>_<rest>` with `prefix` one of [`ID_PREFIXES`] (`sess`, `evt`, `ws`,
//!      `client`, `blob`, `toolu`, `run`, `msg`, `call`, ...) and `rest` at least 6 characters
//!      holding at least one digit (so `tool_use` or `read_file` are not ids), kind = prefix;
//!    - or a UUID (`8-4-4-4-12` hex digits, e.g. an `agent.prompt` `runId`), kind = `id`.
//!
//!    Event ids are one kind whatever their spelling: the TypeScript server writes UUID v7,
//!    tron `evt_<uuid v7>`, so an `evt_` id is kind `id` too.
//!
//!    Each id becomes `<KIND_N>` (`<sess_1>`, `<evt_3>`, `<id_2>`): the same id gets the same
//!    placeholder everywhere in one side of a comparison, numbered per kind in order of first
//!    appearance: sessions first, in an order that does not depend on how frames of different
//!    sessions interleave ([`session_order`]), then the ids in the session groups' frames,
//!    then in the sessionless frames (see [`normalize`]). Ids inside text are replaced too, so an
//!    error message `Session sess_0a1b2c3d4e5f not found` compares equal across runs. The
//!    replayer uses the same tokens to learn which actual id stands for which recorded one
//!    ([`learn_ids`]) and to rewrite later client frames ([`substitute`]).
//! 2. **Times** ([`is_time_key`], [`is_iso_datetime`], [`is_duration_key`]). A string or
//!    number under a time key (`timestamp`, `createdAt`, `lastActivity`, `startedAt`, any
//!    camelCase key ending in `At`, ...) and any string that parses as an ISO-8601 date-time
//!    become `<time>`; a number under a duration key (containing `duration`, `latency`,
//!    `elapsed`, `uptime`, or ending in `Ms`, e.g. `agent.tool_end` `duration`,
//!    `system.getInfo` `uptime`) becomes `<ms>`. `null` stays `null`: a time that is missing
//!    on one side is a real difference. In text, the measured durations the subagent tools
//!    write (`**Duration**: 1.2s`) become `<ms>` too ([`mask_text_durations`]).
//! 3. **Grouping** ([`group`]). Frames are compared per session ([`session_of`]: `sessionId`
//!    at the top level, or in `data` or `result`; for a response without one, the
//!    `params.sessionId` of the request it answers, see [`received`]), in order within each
//!    session, so a response is ordered against its session's events (an `agent.prompt` ack
//!    before the run's `agent.*` frames, an `agent.abort` answer against its
//!    `agent.complete`). How frames of different sessions interleave is not compared. Frames
//!    without a session form one more group, compared in order. Groups come sessionless
//!    first, then in [`session_order`]. `event.new` frames are ordered like any other: the
//!    TypeScript server sends them only from `events.append` and `message.delete`, inside
//!    the handler before its response, so their place is deterministic.
//!
//!    The connection a frame arrived on is part of its label (`-- event agent.ready
//!    (conn b)`; the first connection, `main`, is not named), so a frame that comes on
//!    another connection after a reconnect is a difference.
//! 4. **Numbers** (`number`). Compared as JavaScript holds them: `0.0` is `0`, and floats
//!    agree to 12 significant digits (the same cost summed in another order).
//! 5. **Key order** ([`Normalizer::value`]). JSON objects are unordered (the iOS decoders and
//!    the TypeScript client read keys by name), so object keys are sorted. Keys that are ids
//!    sort by their kind and keep their relative order, so placeholders are numbered the
//!    same way whatever order a server wrote the keys in.
//!
//! Nondeterminism of tron these rules cover (each checked by a test below): the
//! `system.connected` `clientId` (rule 1, `client_`), session, workspace and event ids
//! (rule 1), the `runId` uuid of `agent.prompt` (rule 1), event and response `timestamp`s
//! and `tokenRecord.source.timestamp` (rule 2), `createdAt` / `lastActivity` of sessions
//! (rule 2), tool `duration` and server `uptime` (rule 2), and the order in which events of
//! concurrent sessions arrive (rule 3), and the order in which a server writes object keys
//! (rule 5).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::format::{Dir, Line};

/// Prefixes of the ids servers mint (`<prefix>_<rest>`), see rule 1.
pub const ID_PREFIXES: &[&str] = &[
    "sess", "evt", "ws", "client", "blob", "toolu", "run", "msg", "call", "fc", "resp", "req", "chatcmpl",
    "wt", "sub", "subagent", "task", "mem", "att", "turn",
];

/// Keys whose string or number value is a point in time (rule 2), besides any camelCase
/// key ending in `At`.
pub const TIME_KEYS: &[&str] = &["timestamp", "lastActivity", "time", "date", "ts", "lastSeen"];

/// Placeholder for a point in time.
pub const TIME: &str = "<time>";
/// Placeholder for a duration.
pub const MS: &str = "<ms>";

/// The kind of id `token` is (`"sess"`, `"evt"`, ..., `"id"` for a UUID), or `None` (rule 1).
pub fn id_kind(token: &str) -> Option<&'static str> {
    if is_uuid(token) {
        return Some("id");
    }
    let (prefix, rest) = token.split_once('_')?;
    let kind = ID_PREFIXES.iter().find(|p| **p == prefix)?;
    let ok = rest.len() >= 6
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && rest.bytes().any(|b| b.is_ascii_digit());
    ok.then_some(if *kind == "evt" { "id" } else { kind })
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `key` names a point in time (rule 2).
pub fn is_time_key(key: &str) -> bool {
    TIME_KEYS.contains(&key)
        || key
            .strip_suffix("At")
            .is_some_and(|head| head.chars().last().is_some_and(|c| c.is_ascii_lowercase()))
}

/// Whether `key` names a duration (rule 2).
pub fn is_duration_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    ["duration", "latency", "elapsed", "uptime"].iter().any(|w| lower.contains(w))
        || key.strip_suffix("Ms").is_some_and(|head| !head.is_empty())
}

/// Whether `s` parses as an ISO-8601 date-time (RFC 3339, or without an offset; `T` or a
/// space between date and time).
pub fn is_iso_datetime(s: &str) -> bool {
    let s = s.trim();
    if s.len() < 16 || !s.as_bytes()[0].is_ascii_digit() {
        return false;
    }
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
            .iter()
            .any(|f| chrono::NaiveDateTime::parse_from_str(s, f).is_ok())
}

/// Rewrites each token of `text` (rule 1) for which `f` answers `Some`.
pub fn replace_tokens(text: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = None;
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    for (i, c) in text.char_indices() {
        match (start, is_word(c)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let token = &text[s..i];
                out.push_str(&f(token).unwrap_or_else(|| token.to_owned()));
                out.push(c);
                start = None;
            }
            (None, false) => out.push(c),
            (Some(_), true) => {}
        }
    }
    if let Some(s) = start {
        let token = &text[s..];
        out.push_str(&f(token).unwrap_or_else(|| token.to_owned()));
    }
    out
}

fn id_tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Turns ids into placeholders (rule 1) and times into `<time>` / `<ms>` (rule 2). One
/// normaliser per side of a comparison, fed the frames in grouped order, so placeholders
/// are numbered the same way on both sides.
#[derive(Debug, Default, Clone)]
pub struct Normalizer {
    ids: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
}

impl Normalizer {
    /// A normaliser that has seen no id yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholder of `id` (a token of kind `kind`), assigning the next one if new.
    fn placeholder(&mut self, id: &str, kind: &'static str) -> String {
        if let Some(p) = self.ids.get(id) {
            return p.clone();
        }
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        let p = format!("<{kind}_{n}>");
        self.ids.insert(id.to_owned(), p.clone());
        p
    }

    /// `text` with every id replaced by its placeholder (and measured durations masked).
    pub fn text(&mut self, text: &str) -> String {
        mask_text_durations(&replace_tokens(text, |t| id_kind(t).map(|kind| self.placeholder(t, kind))))
    }

    /// The normalised copy of `value`.
    pub fn value(&mut self, value: &Value) -> Value {
        self.walk(None, value)
    }

    fn walk(&mut self, key: Option<&str>, value: &Value) -> Value {
        match value {
            Value::String(_) | Value::Number(_) if key.is_some_and(is_time_key) => Value::String(TIME.into()),
            Value::Number(_) if key.is_some_and(is_duration_key) => Value::String(MS.into()),
            Value::String(s) if is_iso_datetime(s) => Value::String(TIME.into()),
            Value::String(s) => Value::String(self.text(s)),
            Value::Number(n) => number(n),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.walk(None, v)).collect()),
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by_cached_key(|(k, _)| sort_key(k));
                let mut out = Map::new();
                for (k, v) in entries {
                    let v = self.walk(Some(k), v);
                    out.insert(self.text(k), v);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

/// Rule 5: where `key` sorts: the key with each id in it replaced by its kind (`<sess>`),
/// so ids of one kind tie and keep their order (the sort is stable).
fn sort_key(key: &str) -> String {
    replace_tokens(key, |t| id_kind(t).map(|kind| format!("<{kind}>")))
}

/// Rule 2 in text: a measured duration the subagent tools write into their results
/// (`**Duration**: 1.2s`, `| **Duration** | 1.2s |`) becomes `<ms>`.
pub fn mask_text_durations(text: &str) -> String {
    static DURATION: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    if !text.contains("**Duration**") {
        return text.to_owned();
    }
    let re = DURATION.get_or_init(|| {
        regex::Regex::new(r"(\*\*Duration\*\*(?::| \|) )\d+(?:\.\d+)?s").expect("a valid pattern")
    });
    re.replace_all(text, "${1}<ms>").into_owned()
}

/// Rule 4: a number as JavaScript holds it. The TypeScript server has one number type, so
/// `0` and `0.0` are the same value there (a float with no fraction becomes the integer),
/// and the same sum may be computed in another order (floats compare to 12 significant
/// digits, e.g. a cost `0.00021` and `0.00020999999999999998`).
fn number(n: &serde_json::Number) -> Value {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.007e15 => Value::from(f as i64),
        Some(f) if n.is_f64() && f != 0.0 => {
            let rounded: f64 = format!("{f:.11e}").parse().unwrap_or(f);
            serde_json::Number::from_f64(rounded).map_or(Value::Number(n.clone()), Value::Number)
        }
        _ => Value::Number(n.clone()),
    }
}

/// A received frame as the comparison sees it (rule 3): the frame, the connection it
/// arrived on, and for a response the session its request named.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The frame.
    pub frame: Value,
    /// The client connection it arrived on (`main` for the first).
    pub conn: String,
    /// The `params.sessionId` of the request this frame answers (same `id`, sent earlier on
    /// the same connection), if any.
    pub request_session: Option<String>,
}

impl Received {
    /// A frame on the `main` connection that answers no known request.
    pub fn new(frame: Value) -> Self {
        Self { frame, conn: "main".to_owned(), request_session: None }
    }
}

/// The recv frames of `lines` (a recording's or a replay's), each with its connection and,
/// for a response, the `params.sessionId` of the latest request with its `id` sent before it
/// on the same connection.
pub fn received(lines: &[Line]) -> Vec<Received> {
    let mut requests: HashMap<(String, String), Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for line in lines {
        let conn = line.conn().to_owned();
        match line.dir {
            Dir::Send => {
                let frame = match (&line.frame, line.raw) {
                    (Value::String(s), true) => serde_json::from_str(s).unwrap_or(Value::Null),
                    (f, _) => f.clone(),
                };
                if let Some(id) = request_id(&frame) {
                    let session = frame["params"]["sessionId"].as_str().map(str::to_owned);
                    requests.insert((conn, id), session);
                }
            }
            Dir::Recv => {
                let request_session = request_id(&line.frame)
                    .filter(|_| line.frame.get("type").is_none())
                    .and_then(|id| requests.get(&(conn.clone(), id)).cloned().flatten());
                out.push(Received { frame: line.frame.clone(), conn, request_session });
            }
        }
    }
    out
}

/// A request's or response's `id` as text (`"c1"`, `7`), `None` when absent or null.
fn request_id(frame: &Value) -> Option<String> {
    match frame.get("id")? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The session a frame belongs to (rule 3): `sessionId` at the top level, or in `data` or
/// `result`; for a response without one, its request's session.
pub fn session_of(r: &Received) -> Option<&str> {
    let f = &r.frame;
    [&f["sessionId"], &f["data"]["sessionId"], &f["result"]["sessionId"]]
        .into_iter()
        .find_map(Value::as_str)
        .or(r.request_session.as_deref())
}

/// What a frame is, as its heading in a diff: `event TYPE`, `response ID`, or `frame`,
/// followed by `(conn NAME)` when it came on another connection than `main` (rule 3).
pub fn label(frame: &Value, conn: &str) -> String {
    let what = if let Some(t) = frame["type"].as_str() {
        format!("event {t}")
    } else if let Some(id) = frame.get("id").filter(|id| !id.is_null()) {
        format!("response {id}")
    } else {
        "frame".to_owned()
    };
    if conn == "main" {
        what
    } else {
        format!("{what} (conn {conn})")
    }
}

/// Frames of one session (or of none), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The session's id as received (`None`: frames without a session).
    pub session: Option<String>,
    /// The frames, in the order they were received.
    pub frames: Vec<Received>,
}

/// Splits frames into groups (rule 3): the sessionless group first (when there is any),
/// then one per session in order of first appearance.
pub fn group(frames: &[Received]) -> Vec<Group> {
    let mut groups: Vec<Group> = vec![Group { session: None, frames: Vec::new() }];
    for r in frames {
        let session = session_of(r).map(str::to_owned);
        match groups.iter_mut().find(|g| g.session == session) {
            Some(g) => g.frames.push(r.clone()),
            None => groups.push(Group { session, frames: vec![r.clone()] }),
        }
    }
    if groups[0].frames.is_empty() {
        groups.remove(0);
    }
    groups
}

/// A frame after normalisation: its [`label`] and normalised value.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedFrame {
    /// What the frame is (see [`label`]).
    pub label: String,
    /// The normalised frame.
    pub value: Value,
}

/// A group after normalisation: its heading (`no session` or `session <sess_1>`) and frames.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedGroup {
    /// `no session` or `session <sess_N>`.
    pub heading: String,
    /// The normalised frames, in order.
    pub frames: Vec<NormalizedFrame>,
}

/// Whether `frame` is a response (an `id`, no `type`).
fn is_response(frame: &Value) -> bool {
    frame.get("type").is_none() && frame.get("id").is_some_and(|id| !id.is_null())
}

/// Appends to `order` the session ids (rule 1 kind `sess`) `v` mentions that it lacks, keys
/// and values, in sorted-key order (rule 5), so the order does not depend on key order.
fn note_sessions(v: &Value, order: &mut Vec<String>) {
    fn note(text: &str, order: &mut Vec<String>) {
        replace_tokens(text, |t| {
            if id_kind(t) == Some("sess") && !order.iter().any(|o| o == t) {
                order.push(t.to_owned());
            }
            None
        });
    }
    match v {
        Value::String(s) => note(s, order),
        Value::Array(items) => items.iter().for_each(|x| note_sessions(x, order)),
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by_cached_key(|(k, _)| sort_key(k));
            for (k, x) in entries {
                note(k, order);
                note_sessions(x, order);
            }
        }
        _ => {}
    }
}

/// The order sessions are numbered in (rule 1) and their groups listed in (rule 3), chosen
/// so that it does not depend on how frames of different sessions interleave: first the
/// sessions the responses name, in the order the responses came (a client's requests are
/// answered in the order it sent them); then, breadth first, the sessions each numbered
/// session's own frames name (a subagent in its parent's events); then those the sessionless
/// frames name; then any other session with frames, in order of first appearance.
pub fn session_order(frames: &[Received], groups: &[Group]) -> Vec<String> {
    let mut order = Vec::new();
    let mut expanded = 0;
    let expand = |order: &mut Vec<String>, expanded: &mut usize| {
        while *expanded < order.len() {
            let session = order[*expanded].clone();
            *expanded += 1;
            if let Some(g) = groups.iter().find(|g| g.session.as_deref() == Some(session.as_str())) {
                g.frames.iter().for_each(|r| note_sessions(&r.frame, order));
            }
        }
    };
    frames.iter().filter(|r| is_response(&r.frame)).for_each(|r| note_sessions(&r.frame, &mut order));
    expand(&mut order, &mut expanded);
    for g in groups.iter().filter(|g| g.session.is_none()) {
        g.frames.iter().for_each(|r| note_sessions(&r.frame, &mut order));
    }
    expand(&mut order, &mut expanded);
    for s in groups.iter().filter_map(|g| g.session.as_deref()) {
        if !order.iter().any(|o| o == s) {
            order.push(s.to_owned());
            expand(&mut order, &mut expanded);
        }
    }
    order
}

/// All the rules: groups `frames` and normalises them with one fresh [`Normalizer`].
///
/// Numbering order (rule 1): first the sessions, in [`session_order`]; then the ids in the
/// frames of the session groups, in that order; then in the sessionless frames. So neither
/// the interleaving of sessions nor a sessionless frame that mentions sessions (a
/// `session.list` result, a fork's answer) can shift the numbering of the sessions.
pub fn normalize(frames: &[Received]) -> Vec<NormalizedGroup> {
    let mut groups = group(frames);
    let order = session_order(frames, &groups);
    let rank = |g: &Group| g.session.as_ref().map(|s| order.iter().position(|o| o == s));
    groups.sort_by_key(|g| rank(g).map(|r| r.unwrap_or(usize::MAX)));
    let mut n = Normalizer::new();
    for s in &order {
        n.text(s);
    }
    let normalized = |g: &Group, n: &mut Normalizer| {
        let heading = match &g.session {
            Some(s) => format!("session {}", n.text(s)),
            None => "no session".to_owned(),
        };
        let frames = g
            .frames
            .iter()
            .map(|r| NormalizedFrame { label: label(&r.frame, &r.conn), value: n.value(&r.frame) })
            .collect();
        NormalizedGroup { heading, frames }
    };
    let mut sessions: Vec<NormalizedGroup> =
        groups.iter().filter(|g| g.session.is_some()).map(|g| normalized(g, &mut n)).collect();
    let mut out: Vec<NormalizedGroup> =
        groups.iter().filter(|g| g.session.is_none()).map(|g| normalized(g, &mut n)).collect();
    out.append(&mut sessions);
    out
}

/// Learns which actual ids stand for which recorded ones: walks `recorded` and `actual` in
/// parallel (same keys, same array positions) and, where two strings differ, pairs their
/// tokens that are ids of the same kind (rule 1). A recorded id already mapped keeps its
/// first mapping.
pub fn learn_ids(recorded: &Value, actual: &Value, map: &mut HashMap<String, String>) {
    match (recorded, actual) {
        (Value::String(r), Value::String(a)) if r != a => {
            let (rt, at) = (id_tokens(r), id_tokens(a));
            if rt.len() != at.len() {
                return;
            }
            for (r, a) in rt.into_iter().zip(at) {
                if r != a && id_kind(r).is_some() && id_kind(r) == id_kind(a) {
                    map.entry(r.to_owned()).or_insert_with(|| a.to_owned());
                }
            }
        }
        (Value::Array(r), Value::Array(a)) => r.iter().zip(a).for_each(|(r, a)| learn_ids(r, a, map)),
        (Value::Object(r), Value::Object(a)) => {
            for (k, rv) in r {
                if let Some(av) = a.get(k) {
                    learn_ids(rv, av, map);
                }
            }
        }
        _ => {}
    }
}

/// `text` with every recorded id in `map` replaced by the actual one.
pub fn substitute_text(text: &str, map: &HashMap<String, String>) -> String {
    replace_tokens(text, |t| map.get(t).cloned())
}

/// `value` with every recorded id in `map` (in strings and keys) replaced by the actual one.
pub fn substitute(value: &Value, map: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(substitute_text(s, map)),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, map)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (substitute_text(k, map), substitute(v, map))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rule1_ids_by_prefix_and_uuid() {
        assert_eq!(id_kind("sess_0a1b2c3d4e5f"), Some("sess"));
        assert_eq!(id_kind("evt_0192f3a4b5c67d8e9f0a1b2c3d4e5f60"), Some("id"), "event ids are one kind");
        assert_eq!(id_kind("client_9f8e7d6c5b4a"), Some("client"));
        assert_eq!(id_kind("toolu_01ABCdef234"), Some("toolu"));
        assert_eq!(id_kind("3f2b8c1e-9d4a-4e7b-8c6d-1a2b3c4d5e6f"), Some("id"));
        for not_id in ["tool_use", "read_file", "rate_limit_error", "sess_1", "toolu_1", "<sess_1>", "hello"]
        {
            assert_eq!(id_kind(not_id), None, "{not_id}");
        }
    }

    #[test]
    fn rule1_placeholders_keep_identity_and_order_per_kind() {
        let mut n = Normalizer::new();
        let v = n.value(&json!({
            "a": "sess_aaaaaa1", "b": ["evt_bbbbbb1", "sess_cccccc2", "evt_bbbbbb1"],
            "msg": "Session sess_cccccc2 not found", "runId": "3f2b8c1e-9d4a-4e7b-8c6d-1a2b3c4d5e6f"
        }));
        assert_eq!(
            v,
            json!({"a": "<sess_1>", "b": ["<id_1>", "<sess_2>", "<id_1>"],
                   "msg": "Session <sess_2> not found", "runId": "<id_2>"})
        );
        assert_eq!(n.text("sess_aaaaaa1"), "<sess_1>", "same id, same placeholder later on");
        assert_eq!(n.value(&v), v, "normalising is idempotent");
    }

    #[test]
    fn rule2_times_and_durations() {
        assert!(is_iso_datetime("2025-01-02T03:04:05.678Z"));
        assert!(is_iso_datetime("2025-01-02T03:04:05+02:00"));
        assert!(is_iso_datetime("2025-01-02 03:04:05"));
        assert!(!is_iso_datetime("2025-01-02"));
        assert!(!is_iso_datetime("not a date at all"));
        let mut n = Normalizer::new();
        let v = n.value(&json!({
            "timestamp": "2025-01-02T03:04:05Z", "createdAt": 1735787045000u64, "lastActivity": "x",
            "archivedAt": null, "note": "2025-01-02T03:04:05.1Z", "data": {"duration": 12, "durationMs": 3,
            "uptime": 999, "latency": 5, "retryAfterMs": 2000, "count": 3, "format": "at"},
            "tokenRecord": {"source": {"timestamp": "2025-01-02T03:04:05Z"}}
        }));
        assert_eq!(
            v,
            json!({"timestamp": "<time>", "createdAt": "<time>", "lastActivity": "<time>", "archivedAt": null,
                   "note": "<time>", "data": {"duration": "<ms>", "durationMs": "<ms>", "uptime": "<ms>",
                   "latency": "<ms>", "retryAfterMs": "<ms>", "count": 3, "format": "at"},
                   "tokenRecord": {"source": {"timestamp": "<time>"}}})
        );
        assert!(!is_time_key("format") && !is_time_key("At") && is_time_key("startedAt"));
    }

    #[test]
    fn rule2_durations_in_subagent_result_texts() {
        assert_eq!(
            mask_text_durations("**Turns**: 1\n**Duration**: 12.3s\n"),
            "**Turns**: 1\n**Duration**: <ms>\n"
        );
        assert_eq!(mask_text_durations("| **Duration** | 0.1s |"), "| **Duration** | <ms> |");
        assert_eq!(mask_text_durations("Agent timed out after 30s."), "Agent timed out after 30s.");
    }

    fn wrap(frames: &[Value]) -> Vec<Received> {
        frames.iter().cloned().map(Received::new).collect()
    }

    #[test]
    fn rule2_time_keys_mask_any_string_or_number_and_whole_string_dates_anywhere() {
        let mut n = Normalizer::new();
        let v = n.value(&json!({
            "time": 1735787045, "date": "yesterday", "ts": "12:00", "lastSeen": 5, "endedAt": "later",
            "time_": 3, "dates": "x", "Date": "y",
            "output": "2025-01-02T03:04:05.678Z", "lines": ["2025-01-02 03:04:05", "ran at 2025-01-02T03:04:05Z"],
            "nested": {"deep": [{"when": "2025-01-02T03:04:05+02:00"}]}
        }));
        assert_eq!(
            v,
            json!({
                "time": "<time>", "date": "<time>", "ts": "<time>", "lastSeen": "<time>", "endedAt": "<time>",
                "time_": 3, "dates": "x", "Date": "y",
                "output": "<time>", "lines": ["<time>", "ran at 2025-01-02T03:04:05Z"],
                "nested": {"deep": [{"when": "<time>"}]}
            }),
            "time keys mask strings and numbers; a date is masked only as a whole string"
        );
        assert_eq!(n.value(&json!({"time": true, "date": null})), json!({"time": true, "date": null}));
    }

    #[test]
    fn rule3_grouping_per_session() {
        let frames = [
            json!({"type": "system.connected", "data": {"clientId": "client_aaaaaa1"}}),
            json!({"id": "1", "success": true, "result": {"sessionId": "sess_bbbbbb2"}}),
            json!({"type": "agent.turn_start", "sessionId": "sess_cccccc3"}),
            json!({"id": "2", "success": true, "result": {"pong": true}}),
            json!({"type": "session.created", "data": {"sessionId": "sess_bbbbbb2"}}),
        ];
        let groups = group(&wrap(&frames));
        let sessions: Vec<Option<&str>> = groups.iter().map(|g| g.session.as_deref()).collect();
        assert_eq!(sessions, [None, Some("sess_bbbbbb2"), Some("sess_cccccc3")]);
        assert_eq!(groups[0].frames.len(), 2);
        assert_eq!(groups[1].frames.len(), 2);
        let normalized = normalize(&wrap(&frames));
        let headings: Vec<&str> = normalized.iter().map(|g| g.heading.as_str()).collect();
        assert_eq!(headings, ["no session", "session <sess_1>", "session <sess_2>"]);
        // Interleaving across sessions is not compared.
        let swapped =
            [frames[0].clone(), frames[2].clone(), frames[1].clone(), frames[3].clone(), frames[4].clone()];
        assert_eq!(normalize(&wrap(&swapped)), normalized);
        // Order within a session is.
        let reordered =
            [frames[0].clone(), frames[4].clone(), frames[2].clone(), frames[3].clone(), frames[1].clone()];
        assert_ne!(normalize(&wrap(&reordered)), normalized);
        assert!(group(&[]).is_empty());
    }

    #[test]
    fn rule3_event_new_is_ordered_with_its_sessions_other_frames() {
        let s = "sess_aaaaaa111111";
        let append = Line::new(
            Dir::Send,
            0,
            json!({"id": "e1", "method": "events.append", "params": {"sessionId": s}}),
        );
        let appended = Line::new(
            Dir::Recv,
            0,
            json!({"type": "event.new", "sessionId": s, "data": {"event": {"type": "x"}}}),
        );
        let answer = Line::new(Dir::Recv, 0, json!({"id": "e1", "success": true, "result": {"event": {}}}));
        let lines = [append.clone(), appended.clone(), answer.clone()];
        let groups = group(&received(&lines));
        assert_eq!(groups.len(), 1, "the broadcast and the answer are the session's: {groups:?}");
        let swapped = normalize(&received(&[append, answer, appended]));
        assert_ne!(
            normalize(&received(&lines)),
            swapped,
            "event.new before or after the answer is a difference"
        );
    }

    #[test]
    fn rule3_responses_take_their_requests_session_and_frames_their_connection() {
        let line = |dir: Dir, conn: &str, frame: Value| {
            let mut l = Line::new(dir, 0, frame);
            if conn != "main" {
                l.extra.insert("conn".into(), json!(conn));
            }
            l
        };
        let s = "sess_aaaaaa111111";
        let lines = [
            line(
                Dir::Send,
                "main",
                json!({"id": "p1", "method": "agent.prompt", "params": {"sessionId": s}}),
            ),
            line(Dir::Recv, "main", json!({"id": "p1", "success": true, "result": {"acknowledged": true}})),
            line(Dir::Send, "main", json!({"id": 7, "method": "system.ping"})),
            line(Dir::Recv, "main", json!({"id": 7, "success": true, "result": {"pong": true}})),
            // The same id on another connection is another request.
            line(Dir::Recv, "b", json!({"id": "p1", "success": false, "error": {"code": "X"}})),
            line(
                Dir::Send,
                "b",
                json!(r#"{"id":"r1","method":"session.resume","params":{"sessionId":"sess_bbbbbb222222"}}"#),
            ),
            line(Dir::Recv, "b", json!({"id": "r1", "success": true, "result": {}})),
            // An event's own session wins; an event is never a response.
            line(Dir::Recv, "b", json!({"type": "agent.ready", "id": "r1", "sessionId": s})),
        ];
        let mut raw = lines[5].clone();
        raw.raw = true;
        let mut lines = lines.to_vec();
        lines[5] = raw;
        let got = received(&lines);
        let sessions: Vec<Option<&str>> = got.iter().map(session_of).collect();
        assert_eq!(sessions, [Some(s), None, None, Some("sess_bbbbbb222222"), Some(s)]);
        let conns: Vec<&str> = got.iter().map(|r| r.conn.as_str()).collect();
        assert_eq!(conns, ["main", "main", "b", "b", "b"]);
        assert_eq!(got[4].request_session, None);
        assert_eq!(label(&got[0].frame, &got[0].conn), "response \"p1\"");
        assert_eq!(label(&got[3].frame, &got[3].conn), "response \"r1\" (conn b)");
        assert_eq!(label(&json!({"type": "agent.ready"}), "main"), "event agent.ready");
        assert_eq!(label(&json!({"x": 1}), "main"), "frame");
    }

    #[test]
    fn rule3_sessionless_frames_do_not_renumber_sessions() {
        let a = json!({"id": "c1", "result": {"sessionId": "sess_aaaaaa1"}});
        let b = json!({"id": "r1", "result": {"sessionId": "sess_bbbbbb2"}});
        let fork = json!({"id": "f1", "result": {"from": "sess_aaaaaa1", "new": "sess_bbbbbb2"}});
        let one = normalize(&wrap(&[a.clone(), fork, b.clone()]));
        assert_eq!(one[0].frames[0].value["result"]["from"], "<sess_1>");
        assert_eq!(one[0].frames[0].value["result"]["new"], "<sess_2>");
        assert_eq!(one[1].heading, "session <sess_1>");
        assert_eq!(one[2].heading, "session <sess_2>");
    }

    #[test]
    fn rule5_keys_are_sorted_and_id_keys_keep_their_order() {
        let mut n = Normalizer::new();
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"z": 1, "y": 2}, "sess_zzzzzz9": 1, "sess_aaaaaa1": 2}"#)
                .unwrap();
        let v = n.value(&a);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["<sess_1>", "<sess_2>", "a", "b"], "ids sort as <sess> and keep their order");
        assert_eq!(v["<sess_1>"], 1, "the first id key met is the first placeholder");
        let inner: Vec<&str> = v["a"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(inner, ["y", "z"]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"<sess_1>":1,"<sess_2>":2,"a":{"y":2,"z":1},"b":1}"#
        );
    }

    #[test]
    fn learns_and_substitutes_ids() {
        let mut map = HashMap::new();
        learn_ids(
            &json!({"id": "1", "result": {"sessionId": "sess_aaaaaa1", "msg": "Session sess_aaaaaa1 busy"}}),
            &json!({"id": "1", "result": {"sessionId": "sess_zzzzzz9", "msg": "Session sess_zzzzzz9 busy"}}),
            &mut map,
        );
        learn_ids(&json!({"x": "hello"}), &json!({"x": "world"}), &mut map);
        learn_ids(&json!("evt_aaaaaa1"), &json!("sess_bbbbbb1"), &mut map);
        assert_eq!(map.len(), 1);
        let sent = substitute(&json!({"params": {"sessionId": "sess_aaaaaa1", "sess_aaaaaa1": 1}}), &map);
        assert_eq!(sent, json!({"params": {"sessionId": "sess_zzzzzz9", "sess_zzzzzz9": 1}}));
        assert_eq!(substitute_text("{\"s\":\"sess_aaaaaa1\"", &map), "{\"s\":\"sess_zzzzzz9\"");
    }
}

#[cfg(test)]
mod number_tests {
    use serde_json::json;

    use super::Normalizer;

    #[test]
    fn numbers_compare_as_javascript_holds_them() {
        let mut n = Normalizer::new();
        assert_eq!(n.value(&json!({"cost": 0.0})), n.value(&json!({"cost": 0})));
        assert_eq!(n.value(&json!({"cost": 0.00020999999999999998})), n.value(&json!({"cost": 0.00021})));
        assert_ne!(n.value(&json!({"cost": 0.0002})), n.value(&json!({"cost": 0.00021})));
        assert_ne!(n.value(&json!({"n": 1})), n.value(&json!({"n": 2})));
    }
}
