//! Compares the frames a recording received with the frames a replay received.
//!
//! Both sides are grouped and normalised by [`super::normalize::normalize`], then rendered as
//! text: one `== session <sess_1> ==` heading per group and one pretty-printed JSON block per
//! frame (keys sorted, rule 5), headed `-- <label>` ([`super::normalize::label`]: the type or
//! response id, and the connection when not `main`). Equal texts pass; otherwise the result
//! holds a unified diff (`similar`) per group that differs, under the group's heading, and
//! at least one line naming what differs: per differing frame the first JSON path that
//! differs (`data.delta: "a" != "b"`), or a frame or group missing or extra.

use serde::Serialize;
use serde_json::Value;
use similar::TextDiff;

use super::normalize::{normalize, NormalizedFrame, NormalizedGroup, Received};

/// The result of comparing expected (recorded) with actual (replayed) frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Whether the normalised frames are equal.
    pub ok: bool,
    /// A unified diff of the normalised frames (`-` recorded, `+` replayed); empty when ok.
    pub diff: String,
    /// What differs, one line per differing frame (group, position, label, first differing
    /// path), missing or extra group, or group order; never empty when not ok.
    pub differences: Vec<String>,
}

/// Compares `expected` with `actual` after normalisation.
pub fn compare(expected: &[Received], actual: &[Received]) -> Comparison {
    let (exp, act) = (normalize(expected), normalize(actual));
    let (exp_text, act_text) = (render(&exp), render(&act));
    if exp_text == act_text {
        return Comparison { ok: true, diff: String::new(), differences: Vec::new() };
    }
    let mut headings: Vec<&str> = exp.iter().map(|g| g.heading.as_str()).collect();
    headings.extend(act.iter().map(|g| g.heading.as_str()).filter(|h| !exp.iter().any(|g| g.heading == *h)));
    let mut diff = String::from("--- recorded\n+++ replayed\n");
    for heading in headings {
        let side = |groups: &[NormalizedGroup]| {
            groups.iter().find(|g| g.heading == heading).map(render_frames).unwrap_or_default()
        };
        let (e, a) = (side(&exp), side(&act));
        if e != a {
            diff.push_str(&format!("== {heading} ==\n"));
            for hunk in TextDiff::from_lines(&e, &a).unified_diff().context_radius(4).iter_hunks() {
                diff.push_str(&hunk.to_string());
            }
        }
    }
    let mut differences = differences(&exp, &act);
    if differences.is_empty() {
        // Groups come in one canonical order and each equals its namesake, so this cannot
        // happen; say so rather than fail without a reason.
        differences.push("the rendered frames differ, though no group or frame does (see the diff)".into());
    }
    Comparison { ok: false, diff, differences }
}

/// Compares plain frames (all on the `main` connection, answering no known request).
pub fn compare_frames(expected: &[Value], actual: &[Value]) -> Comparison {
    let wrap = |frames: &[Value]| frames.iter().cloned().map(Received::new).collect::<Vec<_>>();
    compare(&wrap(expected), &wrap(actual))
}

/// The text a side is compared as: each group's heading, then its frames.
pub fn render(groups: &[NormalizedGroup]) -> String {
    groups.iter().map(|g| format!("== {} ==\n{}", g.heading, render_frames(g))).collect()
}

/// A group's frames: `-- LABEL` and the pretty JSON of each.
fn render_frames(g: &NormalizedGroup) -> String {
    let mut out = String::new();
    for f in &g.frames {
        out.push_str(&format!("-- {}\n", f.label));
        out.push_str(&serde_json::to_string_pretty(&f.value).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn differences(exp: &[NormalizedGroup], act: &[NormalizedGroup]) -> Vec<String> {
    let mut out = Vec::new();
    for g in exp {
        let Some(a) = act.iter().find(|a| a.heading == g.heading) else {
            out.push(format!("{}: missing from the replay ({} frames)", g.heading, g.frames.len()));
            continue;
        };
        for i in 0..g.frames.len().max(a.frames.len()) {
            let at = |f: &NormalizedFrame| format!("{} frame {} ({})", g.heading, i + 1, f.label);
            match (g.frames.get(i), a.frames.get(i)) {
                (Some(e), Some(x)) if e != x => {
                    let path = first_difference(&e.value, &x.value, String::new());
                    let line = match (e.label == x.label, path) {
                        (true, Some(path)) => format!("{}: {path}", at(e)),
                        (false, Some(path)) => format!("{}: replayed {}: {path}", at(e), x.label),
                        (false, None) => format!("{}: replayed {}", at(e), x.label),
                        (true, None) => format!("{}: differs", at(e)),
                    };
                    out.push(line);
                }
                (Some(e), None) => out.push(format!("{}: missing", at(e))),
                (None, Some(x)) => out.push(format!("{}: extra", at(x))),
                _ => {}
            }
        }
    }
    for a in act.iter().filter(|a| !exp.iter().any(|g| g.heading == a.heading)) {
        out.push(format!("{}: not in the recording ({} frames)", a.heading, a.frames.len()));
    }
    out
}

/// The first path at which `e` and `x` differ, with both values (`data.text: "a" != "b"`).
fn first_difference(e: &Value, x: &Value, path: String) -> Option<String> {
    let at = |p: &str| if p.is_empty() { "(whole frame)".to_owned() } else { p.to_owned() };
    match (e, x) {
        _ if e == x => None,
        (Value::Object(em), Value::Object(xm)) => {
            for (k, ev) in em {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match xm.get(k) {
                    None => return Some(format!("{p}: missing from the replay")),
                    Some(xv) => {
                        if let Some(d) = first_difference(ev, xv, p) {
                            return Some(d);
                        }
                    }
                }
            }
            let extra = xm.keys().find(|k| !em.contains_key(*k))?;
            let p = if path.is_empty() { extra.clone() } else { format!("{path}.{extra}") };
            Some(format!("{p}: not in the recording"))
        }
        (Value::Array(ea), Value::Array(xa)) => {
            let first = ea
                .iter()
                .zip(xa)
                .enumerate()
                .find_map(|(i, (ev, xv))| first_difference(ev, xv, format!("{path}[{i}]")));
            first.or_else(|| match ea.len().cmp(&xa.len()) {
                std::cmp::Ordering::Greater => Some(format!("{path}[{}]: missing from the replay", xa.len())),
                _ => Some(format!("{path}[{}]: not in the recording", ea.len())),
            })
        }
        _ => Some(format!("{}: {} != {}", at(&path), short(e), short(x))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames() -> Vec<Value> {
        vec![
            json!({"type": "system.connected", "timestamp": "2025-01-01T00:00:00Z", "data": {"clientId": "client_aaaaaa1"}}),
            json!({"id": "1", "success": true, "result": {"pong": true, "timestamp": "2025-01-01T00:00:00Z"}}),
            json!({"id": "2", "success": true, "result": {"sessionId": "sess_bbbbbb2", "model": "m"}}),
        ]
    }

    #[test]
    fn equal_modulo_ids_and_times() {
        let mut other = frames();
        other[0]["data"]["clientId"] = json!("client_zzzzzz9");
        other[1]["result"]["timestamp"] = json!("2030-06-06T06:06:06.123Z");
        other[2]["result"]["sessionId"] = json!("sess_yyyyyy8");
        let c = compare_frames(&frames(), &other);
        assert!(c.ok, "{}", c.diff);
        assert!(c.diff.is_empty() && c.differences.is_empty());
    }

    #[test]
    fn a_real_difference_is_a_unified_diff_naming_it() {
        let mut other = frames();
        other[2]["result"]["model"] = json!("other");
        let c = compare_frames(&frames(), &other);
        assert!(!c.ok);
        assert!(c.diff.contains("--- recorded") && c.diff.contains("+++ replayed"), "{}", c.diff);
        assert!(
            c.diff.contains("-    \"model\": \"m\"") && c.diff.contains("+    \"model\": \"other\""),
            "{}",
            c.diff
        );
        assert!(c.diff.contains("== session <sess_1> =="), "{}", c.diff);
        assert_eq!(
            c.differences,
            ["session <sess_1> frame 1 (response \"2\"): result.model: \"m\" != \"other\""]
        );
    }

    #[test]
    fn missing_and_extra_frames() {
        let c = compare_frames(&frames(), &frames()[..2]);
        assert!(!c.ok);
        assert_eq!(c.differences, ["session <sess_1>: missing from the replay (1 frames)"]);
        let mut more = frames();
        more.push(json!({"type": "system.error"}));
        let c = compare_frames(&frames(), &more);
        assert_eq!(c.differences, ["no session frame 3 (event system.error): extra"]);
        let mut keys = frames();
        keys[1]["result"]["extra"] = json!(1);
        assert_eq!(
            compare_frames(&frames(), &keys).differences[0],
            "no session frame 2 (response \"1\"): result.extra: not in the recording"
        );
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;
    use crate::replay::format::{Dir, Line};
    use crate::replay::normalize::received;
    use serde_json::json;

    fn send(id: &str, method: &str, session: &str) -> Line {
        Line::new(Dir::Send, 0, json!({"id": id, "method": method, "params": {"sessionId": session}}))
    }

    fn recv(frame: Value) -> Line {
        Line::new(Dir::Recv, 0, frame)
    }

    fn event(kind: &str, session: &str) -> Line {
        recv(json!({"type": kind, "sessionId": session, "data": {}}))
    }

    fn ack(id: &str) -> Line {
        recv(json!({"id": id, "success": true, "result": {"acknowledged": true}}))
    }

    #[test]
    fn key_order_does_not_matter() {
        let a = json!({"type": "agent.turn_end", "data": {"turn": 1, "duration": 5, "cost": 0.1}});
        let b: Value = serde_json::from_str(
            r#"{"data": {"cost": 0.1, "duration": 9, "turn": 1}, "type": "agent.turn_end"}"#,
        )
        .unwrap();
        let c = compare_frames(std::slice::from_ref(&a), &[b]);
        assert!(c.ok, "{}", c.diff);
        // Keys that are ids keep their relative order, so placeholders match whatever order
        // the other keys came in.
        let x = json!({"z": 1, "sess_aaaaaa1": {"n": 1}, "a": 2, "sess_bbbbbb2": {"n": 2}});
        let y: Value =
            serde_json::from_str(r#"{"sess_cccccc3": {"n": 1}, "a": 2, "sess_dddddd4": {"n": 2}, "z": 1}"#)
                .unwrap();
        assert!(compare_frames(std::slice::from_ref(&x), &[y]).ok);
        let swapped = json!({"sess_bbbbbb2": {"n": 2}, "sess_aaaaaa1": {"n": 1}, "a": 2, "z": 1});
        assert!(!compare_frames(&[x], &[swapped]).ok, "which id holds which value still counts");
        let mut other = a.clone();
        other["data"]["turn"] = json!(2);
        assert_eq!(
            compare_frames(&[a], &[other]).differences,
            ["no session frame 1 (event agent.turn_end): data.turn: 1 != 2"]
        );
    }

    #[test]
    fn a_failure_always_names_something() {
        // A label that differs names the path too.
        let c = compare_frames(&[json!({"type": "a"})], &[json!({"type": "b"})]);
        assert_eq!(c.differences, ["no session frame 1 (event a): replayed event b: type: \"a\" != \"b\""]);
        // Arrays of another length name the element.
        let c = compare_frames(&[json!({"id": "1", "r": [1, 2]})], &[json!({"id": "1", "r": [1]})]);
        assert_eq!(c.differences, ["no session frame 1 (response \"1\"): r[1]: missing from the replay"]);
    }

    #[test]
    fn responses_are_ordered_against_their_requests_session() {
        let s = "sess_aaaaaa111111";
        // The prompt's ack comes before the run's events.
        let acked_first = vec![
            send("p1", "agent.prompt", s),
            ack("p1"),
            event("agent.turn_start", s),
            event("agent.ready", s),
        ];
        let acked_late = vec![
            send("p1", "agent.prompt", s),
            event("agent.turn_start", s),
            ack("p1"),
            event("agent.ready", s),
        ];
        let groups = crate::replay::normalize::normalize(&received(&acked_first));
        assert_eq!(groups.len(), 1, "the ack is in the session's group: {groups:?}");
        let c = compare(&received(&acked_first), &received(&acked_late));
        assert!(!c.ok);
        assert_eq!(
            c.differences[0],
            "session <sess_1> frame 1 (response \"p1\"): replayed event agent.turn_start: id: missing from the replay"
        );
        // The abort's answer against the run's agent.complete.
        let abort = |complete_first: bool| {
            let mut lines = vec![send("a1", "agent.abort", s)];
            let (answer, complete) = (
                recv(json!({"id": "a1", "success": true, "result": {"aborted": true}})),
                event("agent.complete", s),
            );
            if complete_first {
                lines.extend([complete, answer]);
            } else {
                lines.extend([answer, complete]);
            }
            lines
        };
        assert!(compare(&received(&abort(true)), &received(&abort(true))).ok);
        let c = compare(&received(&abort(true)), &received(&abort(false)));
        assert!(!c.ok, "the abort answer's place is compared");
        assert!(
            c.differences[0]
                .starts_with("session <sess_1> frame 1 (event agent.complete): replayed response"),
            "{:?}",
            c.differences
        );
        // Interleaving with another session's frames is still not compared.
        let t = "sess_bbbbbb222222";
        let mut mixed = acked_first.clone();
        mixed.insert(2, event("agent.turn_start", t));
        let mut mixed2 = acked_first.clone();
        mixed2.push(event("agent.turn_start", t));
        assert!(compare(&received(&mixed), &received(&mixed2)).ok);
    }

    #[test]
    fn interleaving_across_sessions_is_not_compared() {
        let (a, b, sub) = ("sess_aaaaaa111111", "sess_bbbbbb222222", "sess_cccccc333333");
        let created =
            |id: &str, s: &str| recv(json!({"id": id, "success": true, "result": {"sessionId": s}}));
        let spawned = recv(
            json!({"type": "agent.subagent_spawned", "sessionId": a, "data": {"subagentSessionId": sub}}),
        );
        let sub_event =
            |d: &str| recv(json!({"type": "agent.text_delta", "sessionId": sub, "data": {"delta": d}}));
        let one = vec![
            created("c1", a),
            created("c2", b),
            event("agent.turn_start", a),
            spawned.clone(),
            event("agent.turn_start", b),
            sub_event("x"),
            event("agent.ready", a),
        ];
        // The other session's run and the subagent's frames come first here.
        let two = vec![
            created("c1", a),
            created("c2", b),
            sub_event("x"),
            event("agent.turn_start", b),
            event("agent.turn_start", a),
            spawned,
            event("agent.ready", a),
        ];
        let c = compare(&received(&one), &received(&two));
        assert!(c.ok, "{:?}\n{}", c.differences, c.diff);
        // Each session's own content still counts.
        let mut three = two.clone();
        three[2] = sub_event("y");
        let c = compare(&received(&one), &received(&three));
        assert_eq!(
            c.differences,
            ["session <sess_3> frame 1 (event agent.text_delta): data.delta: \"x\" != \"y\""]
        );
    }

    #[test]
    fn the_connection_a_frame_came_on_is_compared() {
        let on = |conn: &str| {
            let mut l = recv(json!({"type": "agent.ready", "sessionId": "sess_aaaaaa1"}));
            if conn != "main" {
                l.extra.insert("conn".into(), json!(conn));
            }
            vec![l]
        };
        assert!(compare(&received(&on("b")), &received(&on("b"))).ok);
        let c = compare(&received(&on("main")), &received(&on("b")));
        assert!(!c.ok);
        assert!(c.diff.contains("-- event agent.ready (conn b)"), "{}", c.diff);
        assert_eq!(
            c.differences,
            ["session <sess_1> frame 1 (event agent.ready): replayed event agent.ready (conn b)"]
        );
    }
}

/// Property tests of the normaliser and the differ together.
#[cfg(test)]
mod props {
    use super::*;
    use crate::replay::format::Recording;
    use crate::replay::normalize::{
        id_kind, is_duration_key, is_iso_datetime, is_time_key, received, replace_tokens,
    };
    use proptest::prelude::*;
    use serde_json::{json, Map};

    const SESSIONS: [&str; 3] = ["sess_0a1b2c3d4e5f", "sess_9f8e7d6c5b4a", "sess_123456abcdef"];
    const EVENTS: [&str; 3] =
        ["evt_0192f3a4b5c6", "evt_77aa88bb99cc", "3f2b8c1e-9d4a-4e7b-8c6d-1a2b3c4d5e6f"];
    const KEYS: [&str; 5] = ["text", "count", "name", "ok", "model"];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            "[a-z ]{0,12}".prop_map(Value::from),
            (0..3usize).prop_map(|i| json!(EVENTS[i])),
            (0..3usize).prop_map(|i| json!(format!("Session {} not found", SESSIONS[i]))),
            (0u32..59).prop_map(|s| json!(format!("2025-01-01T00:00:{s:02}Z"))),
        ]
    }

    fn frame() -> impl Strategy<Value = Value> {
        (
            prop_oneof![Just("agent.text_delta"), Just("event.new"), Just("agent.ready")],
            proptest::option::of(0..3usize),
            proptest::collection::vec((0..5usize, leaf()), 0..5),
        )
            .prop_map(|(ty, session, fields)| {
                let mut data = Map::new();
                for (k, v) in fields {
                    data.insert(KEYS[k].to_owned(), v);
                }
                let mut f = json!({"type": ty, "timestamp": "2025-01-01T00:00:00Z", "data": data});
                if let Some(s) = session {
                    f["sessionId"] = json!(SESSIONS[s]);
                }
                f
            })
    }

    fn frames() -> impl Strategy<Value = Vec<Value>> {
        proptest::collection::vec(frame(), 1..12)
    }

    /// Renames every id consistently (same prefix, another suffix).
    fn rename(frames: &[Value]) -> Vec<Value> {
        let mut text = serde_json::to_string(frames).unwrap();
        for (i, id) in SESSIONS.iter().chain(EVENTS.iter()).enumerate() {
            let new = if id.contains('-') {
                format!("00000000-0000-4000-8000-00000000000{i}")
            } else {
                format!("{}_renamed{i:06}", id.split('_').next().unwrap())
            };
            text = text.replace(id, &new);
        }
        serde_json::from_str(&text).unwrap()
    }

    /// The recordings shipped in `recordings/`, read when the tests run.
    fn shipped() -> &'static [(String, Recording)] {
        static SHIPPED: std::sync::OnceLock<Vec<(String, Recording)>> = std::sync::OnceLock::new();
        SHIPPED.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings");
            let paths = crate::replay::format::discover(&[dir]).unwrap();
            assert!(!paths.is_empty(), "no shipped recordings");
            paths.iter().map(|p| (p.display().to_string(), Recording::load(p).unwrap())).collect()
        })
    }

    /// One step of a path into a frame.
    #[derive(Debug, Clone)]
    enum Seg {
        Key(String),
        Index(usize),
    }

    /// The path as the differences name it: `data.messages[0].text`.
    fn path_text(path: &[Seg]) -> String {
        let mut out = String::new();
        for seg in path {
            match seg {
                Seg::Key(k) if out.is_empty() => out.push_str(k),
                Seg::Key(k) => out.push_str(&format!(".{k}")),
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    fn has_id(text: &str) -> bool {
        let mut found = false;
        replace_tokens(text, |t| {
            found |= id_kind(t).is_some();
            None
        });
        found
    }

    /// Whether a rule masks the leaf `value` under `key` (ids, times, durations), or the
    /// leaf decides which group or request the frame belongs to (a top-level `id`, a
    /// `sessionId`): such leaves are left alone.
    fn exempt(path: &[Seg], value: &Value) -> bool {
        let key = match path.last() {
            Some(Seg::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let keys_with_ids = path.iter().any(|s| matches!(s, Seg::Key(k) if has_id(k)));
        let top = path.len() == 1;
        let grouping = (top && key == Some("id")) || key == Some("sessionId");
        let masked = match value {
            Value::String(s) => {
                key.is_some_and(is_time_key) || is_iso_datetime(s) || has_id(s) || s.contains("**Duration**")
            }
            Value::Number(_) => key.is_some_and(|k| is_time_key(k) || is_duration_key(k)),
            _ => false,
        };
        keys_with_ids || grouping || masked
    }

    /// Every leaf (not an object or array) of `v`, with its path.
    fn leaves(v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    path.push(Seg::Key(k.clone()));
                    leaves(x, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    leaves(x, path, out);
                    path.pop();
                }
            }
            leaf => {
                if !path.is_empty() && !exempt(path, leaf) {
                    out.push(path.clone());
                }
            }
        }
    }

    /// Changes the leaf at `path` to another value of its kind, or deletes it when it is an
    /// object member and `delete` is set; returns whether it deleted.
    fn mutate(v: &mut Value, path: &[Seg], delete: bool) -> bool {
        let (last, parents) = path.split_last().unwrap();
        let mut parent = v;
        for seg in parents {
            parent = match seg {
                Seg::Key(k) => &mut parent[k.as_str()],
                Seg::Index(i) => &mut parent[*i],
            };
        }
        if let (true, Seg::Key(k), Value::Object(m)) = (delete, last, &mut *parent) {
            m.shift_remove(k.as_str());
            return true;
        }
        let leaf = match last {
            Seg::Key(k) => &mut parent[k.as_str()],
            Seg::Index(i) => &mut parent[*i],
        };
        *leaf = match &*leaf {
            Value::Bool(b) => json!(!b),
            Value::Null => json!(0),
            // A prefix outside the id alphabet keeps every token, so nothing becomes an id.
            Value::String(s) => json!(format!("~{s}")),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) if i < i64::MAX => json!(i + 1),
                (_, Some(f)) if f.abs() < 1e12 => json!(f + 1.0),
                (_, Some(f)) => json!(f * 2.0),
                _ => json!(0),
            },
            other => unreachable!("not a leaf: {other}"),
        };
        false
    }

    proptest! {
        #[test]
        fn a_recording_matches_itself(f in frames()) {
            let c = compare_frames(&f, &f);
            prop_assert!(c.ok, "{}", c.diff);
        }

        #[test]
        fn placeholders_are_stable_under_consistent_renaming(f in frames()) {
            let renamed = rename(&f);
            let wrap = |f: &[Value]| f.iter().cloned().map(Received::new).collect::<Vec<_>>();
            prop_assert_eq!(normalize(&wrap(&f)), normalize(&wrap(&renamed)));
            prop_assert!(compare_frames(&f, &renamed).ok);
        }

        /// Over the frames of the shipped recordings: one leaf that no rule masks, changed
        /// (numbers, strings, bools, nulls, nested, array elements, `type`) or deleted, fails
        /// the comparison with exactly one difference, naming exactly that path.
        #[test]
        fn one_changed_or_deleted_leaf_of_a_shipped_recording_fails_naming_it(
            which in any::<prop::sample::Index>(),
            line in any::<prop::sample::Index>(),
            leaf in any::<prop::sample::Index>(),
            delete in any::<bool>(),
        ) {
            let (name, recording) = &shipped()[which.index(shipped().len())];
            let recv: Vec<usize> = recording.lines.iter().enumerate()
                .filter(|(_, l)| l.dir == crate::replay::Dir::Recv).map(|(i, _)| i).collect();
            let i = recv[line.index(recv.len())];
            let mut paths = Vec::new();
            leaves(&recording.lines[i].frame, &mut Vec::new(), &mut paths);
            prop_assume!(!paths.is_empty());
            let path = &paths[leaf.index(paths.len())];
            let mut changed = recording.lines.clone();
            let deleted = mutate(&mut changed[i].frame, path, delete);
            let c = compare(&received(&recording.lines), &received(&changed));
            let what = if deleted { "deleting" } else { "changing" };
            let path = path_text(path);
            prop_assert!(!c.ok, "{} {} of {} line {} passed", what, path, name, i + 2);
            prop_assert_eq!(c.differences.len(), 1, "{} {}: {:?}", what, path, c.differences);
            let named = format!(": {path}: ");
            prop_assert!(c.differences[0].contains(&named), "{} {} of {}: {:?}", what, path, name, c.differences);
            prop_assert!(!c.diff.is_empty());
        }

        #[test]
        fn a_changed_time_is_not_a_difference(f in frames(), pick in any::<prop::sample::Index>()) {
            let i = pick.index(f.len());
            let mut times = f.clone();
            times[i]["timestamp"] = json!("2031-12-31T23:59:59.999Z");
            prop_assert!(compare_frames(&f, &times).ok);
        }
    }
}
