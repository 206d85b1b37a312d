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
//!    appearance: the sessions of rule 3's groups first, then the session groups' frames,
//!    then the sessionless frames (see [`normalize`]). Ids inside text are replaced too, so an
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
//!    at the top level, or in `data` or `result`), in order within each session; how frames
//!    of different sessions interleave is not compared. Frames without a session form one
//!    more group, compared in order. Groups come sessionless first, then by first appearance.
//!    A session's `event.new` frames (the persisted events) form a group of their own,
//!    compared in order among themselves: the TypeScript server persists asynchronously, so
//!    where they fall among the streamed `agent.*` frames is not deterministic there.
//! 4. **Numbers** (`number`). Compared as JavaScript holds them: `0.0` is `0`, and floats
//!    agree to 12 significant digits (the same cost summed in another order).
//!
//! Nondeterminism of tron these rules cover (each checked by a test below): the
//! `system.connected` `clientId` (rule 1, `client_`), session, workspace and event ids
//! (rule 1), the `runId` uuid of `agent.prompt` (rule 1), event and response `timestamp`s
//! and `tokenRecord.source.timestamp` (rule 2), `createdAt` / `lastActivity` of sessions
//! (rule 2), tool `duration` and server `uptime` (rule 2), and the order in which events of
//! concurrent sessions arrive (rule 3).

use std::collections::HashMap;

use serde_json::{Map, Value};

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
                let mut out = Map::new();
                for (k, v) in m {
                    let v = self.walk(Some(k), v);
                    out.insert(self.text(k), v);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
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

/// The session a frame belongs to (rule 3): `sessionId` at the top level, or in `data` or
/// `result`.
pub fn session_of(frame: &Value) -> Option<&str> {
    [&frame["sessionId"], &frame["data"]["sessionId"], &frame["result"]["sessionId"]]
        .into_iter()
        .find_map(Value::as_str)
}

/// Frames of one session (or of none), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The session's id as received (`None`: frames without a session).
    pub session: Option<String>,
    /// Whether these are the session's `event.new` frames (persisted events).
    pub persisted: bool,
    /// The frames, in the order they were received.
    pub frames: Vec<Value>,
}

/// Splits frames into groups (rule 3): the sessionless group first (when there is any),
/// then one per session in order of first appearance.
pub fn group(frames: &[Value]) -> Vec<Group> {
    let mut groups: Vec<Group> = vec![Group { session: None, persisted: false, frames: Vec::new() }];
    for frame in frames {
        let session = session_of(frame).map(str::to_owned);
        let persisted = session.is_some() && frame["type"] == "event.new";
        match groups.iter_mut().find(|g| g.session == session && g.persisted == persisted) {
            Some(g) => g.frames.push(frame.clone()),
            None => groups.push(Group { session, persisted, frames: vec![frame.clone()] }),
        }
    }
    if groups[0].frames.is_empty() {
        groups.remove(0);
    }
    groups
}

/// A group after normalisation: its heading (`no session` or `session <sess_1>`) and frames.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedGroup {
    /// `no session` or `session <sess_N>`.
    pub heading: String,
    /// The normalised frames, in order.
    pub frames: Vec<Value>,
}

/// All three rules: groups `frames` and normalises them with one fresh [`Normalizer`].
///
/// Numbering order (rule 1): first the session ids of the groups, in group order; then the
/// frames of the session groups, in group order; then the sessionless frames. So a sessionless
/// frame that mentions sessions (a `session.list` result, a fork's answer) cannot shift the
/// numbering of the sessions themselves.
pub fn normalize(frames: &[Value]) -> Vec<NormalizedGroup> {
    let groups = group(frames);
    let mut n = Normalizer::new();
    for s in groups.iter().filter_map(|g| g.session.as_deref()) {
        n.text(s);
    }
    let mut out: Vec<Option<NormalizedGroup>> = vec![None; groups.len()];
    let order = (0..groups.len())
        .filter(|&i| groups[i].session.is_some())
        .chain((0..groups.len()).filter(|&i| groups[i].session.is_none()));
    for i in order {
        let g = &groups[i];
        let heading = match (&g.session, g.persisted) {
            (Some(s), false) => format!("session {}", n.text(s)),
            (Some(s), true) => format!("session {} persisted events", n.text(s)),
            (None, _) => "no session".to_owned(),
        };
        out[i] = Some(NormalizedGroup { heading, frames: g.frames.iter().map(|f| n.value(f)).collect() });
    }
    out.into_iter().flatten().collect()
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

    #[test]
    fn rule3_grouping_per_session() {
        let frames = [
            json!({"type": "system.connected", "data": {"clientId": "client_aaaaaa1"}}),
            json!({"id": "1", "success": true, "result": {"sessionId": "sess_bbbbbb2"}}),
            json!({"type": "agent.turn_start", "sessionId": "sess_cccccc3"}),
            json!({"id": "2", "success": true, "result": {"pong": true}}),
            json!({"type": "session.created", "data": {"sessionId": "sess_bbbbbb2"}}),
        ];
        let groups = group(&frames);
        let sessions: Vec<Option<&str>> = groups.iter().map(|g| g.session.as_deref()).collect();
        assert_eq!(sessions, [None, Some("sess_bbbbbb2"), Some("sess_cccccc3")]);
        assert_eq!(groups[0].frames.len(), 2);
        assert_eq!(groups[1].frames.len(), 2);
        let normalized = normalize(&frames);
        let headings: Vec<&str> = normalized.iter().map(|g| g.heading.as_str()).collect();
        assert_eq!(headings, ["no session", "session <sess_1>", "session <sess_2>"]);
        // Interleaving across sessions is not compared.
        let swapped =
            [frames[0].clone(), frames[2].clone(), frames[1].clone(), frames[3].clone(), frames[4].clone()];
        assert_eq!(normalize(&swapped).len(), 3);
        assert!(group(&[]).is_empty());
    }

    #[test]
    fn rule3_sessionless_frames_do_not_renumber_sessions() {
        let a = json!({"id": "c1", "result": {"sessionId": "sess_aaaaaa1"}});
        let b = json!({"id": "r1", "result": {"sessionId": "sess_bbbbbb2"}});
        let fork_ts = json!({"id": "f1", "result": {"from": "sess_aaaaaa1", "new": "sess_bbbbbb2"}});
        let fork_other_order = json!({"id": "f1", "result": {"new": "sess_bbbbbb2", "from": "sess_aaaaaa1"}});
        let one = normalize(&[a.clone(), fork_ts, b.clone()]);
        let two = normalize(&[a, fork_other_order, b]);
        assert_eq!(one[1], two[1]);
        assert_eq!(one[2], two[2]);
        assert_eq!(one[0].frames[0]["result"]["from"], "<sess_1>");
        assert_eq!(two[0].frames[0]["result"]["new"], "<sess_2>");
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
