//! Compares the frames a recording received with the frames a replay received.
//!
//! Both sides are grouped and normalised by [`super::normalize::normalize`], then rendered as
//! text: one `== session <sess_1> ==` heading per group and one pretty-printed JSON block per
//! frame, headed `-- <type or response id>`. Equal texts pass; otherwise the result holds a
//! unified diff (`similar`) per group that differs, under the group's heading, and one line
//! per differing frame naming the first JSON path that differs.

use serde::Serialize;
use serde_json::Value;
use similar::TextDiff;

use super::normalize::{normalize, NormalizedGroup};

/// The result of comparing expected (recorded) with actual (replayed) frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Whether the normalised frames are equal.
    pub ok: bool,
    /// A unified diff of the normalised frames (`-` recorded, `+` replayed); empty when ok.
    pub diff: String,
    /// One line per differing frame: group, position, frame, first differing path.
    pub differences: Vec<String>,
}

/// Compares `expected` with `actual` after normalisation.
pub fn compare(expected: &[Value], actual: &[Value]) -> Comparison {
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
    Comparison { ok: false, diff, differences: differences(&exp, &act) }
}

/// The text a side is compared as: each group's heading, then its frames.
pub fn render(groups: &[NormalizedGroup]) -> String {
    groups.iter().map(|g| format!("== {} ==\n{}", g.heading, render_frames(g))).collect()
}

/// A group's frames: `-- LABEL` and the pretty JSON of each.
fn render_frames(g: &NormalizedGroup) -> String {
    let mut out = String::new();
    for frame in &g.frames {
        out.push_str(&format!("-- {}\n", label(frame)));
        out.push_str(&serde_json::to_string_pretty(frame).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// What a frame is: `event TYPE`, `response ID`, or `frame`.
fn label(frame: &Value) -> String {
    if let Some(t) = frame["type"].as_str() {
        format!("event {t}")
    } else if let Some(id) = frame.get("id").filter(|id| !id.is_null()) {
        format!("response {id}")
    } else {
        "frame".to_owned()
    }
}

fn differences(exp: &[NormalizedGroup], act: &[NormalizedGroup]) -> Vec<String> {
    let mut out = Vec::new();
    for g in exp {
        let Some(a) = act.iter().find(|a| a.heading == g.heading) else {
            out.push(format!("{}: missing from the replay ({} frames)", g.heading, g.frames.len()));
            continue;
        };
        for i in 0..g.frames.len().max(a.frames.len()) {
            match (g.frames.get(i), a.frames.get(i)) {
                (Some(e), Some(x)) if label(e) != label(x) => out.push(format!(
                    "{} frame {}: recorded {}, replayed {}",
                    g.heading,
                    i + 1,
                    label(e),
                    label(x)
                )),
                (Some(e), Some(x)) if e != x => {
                    let path = first_difference(e, x, String::new()).unwrap_or_default();
                    out.push(format!("{} frame {} ({}): {}", g.heading, i + 1, label(e), path));
                }
                (Some(e), None) => out.push(format!("{} frame {} ({}): missing", g.heading, i + 1, label(e))),
                (None, Some(x)) => out.push(format!("{} frame {} ({}): extra", g.heading, i + 1, label(x))),
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
        (Value::Array(ea), Value::Array(xa)) if ea.len() == xa.len() => ea
            .iter()
            .zip(xa)
            .enumerate()
            .find_map(|(i, (ev, xv))| first_difference(ev, xv, format!("{path}[{i}]"))),
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
        let c = compare(&frames(), &other);
        assert!(c.ok, "{}", c.diff);
        assert!(c.diff.is_empty() && c.differences.is_empty());
    }

    #[test]
    fn a_real_difference_is_a_unified_diff_naming_it() {
        let mut other = frames();
        other[2]["result"]["model"] = json!("other");
        let c = compare(&frames(), &other);
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
        let c = compare(&frames(), &frames()[..2]);
        assert!(!c.ok);
        assert_eq!(c.differences, ["session <sess_1>: missing from the replay (1 frames)"]);
        let mut more = frames();
        more.push(json!({"type": "system.error"}));
        let c = compare(&frames(), &more);
        assert_eq!(c.differences, ["no session frame 3 (event system.error): extra"]);
        let mut keys = frames();
        keys[1]["result"]["extra"] = json!(1);
        assert_eq!(
            compare(&frames(), &keys).differences[0],
            "no session frame 2 (response \"1\"): result.extra: not in the recording"
        );
    }
}

/// Property tests of the normaliser and the differ together.
#[cfg(test)]
mod props {
    use super::*;
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

    proptest! {
        #[test]
        fn a_recording_matches_itself(f in frames()) {
            let c = compare(&f, &f);
            prop_assert!(c.ok, "{}", c.diff);
        }

        #[test]
        fn placeholders_are_stable_under_consistent_renaming(f in frames()) {
            let renamed = rename(&f);
            prop_assert_eq!(normalize(&f), normalize(&renamed));
            prop_assert!(compare(&f, &renamed).ok);
        }

        #[test]
        fn one_changed_field_fails_naming_it(f in frames(), pick in any::<prop::sample::Index>(), v in any::<i64>()) {
            let i = pick.index(f.len());
            let mut changed = f.clone();
            let before = changed[i]["data"].get("changedField").cloned();
            changed[i]["data"]["changedField"] = json!(v);
            prop_assume!(before != Some(json!(v)));
            let c = compare(&f, &changed);
            prop_assert!(!c.ok);
            prop_assert!(c.diff.contains("\"changedField\""), "{}", c.diff);
            prop_assert!(c.differences.iter().any(|d| d.contains("data.changedField")), "{:?}", c.differences);
            let mut times = f.clone();
            times[i]["timestamp"] = json!("2031-12-31T23:59:59.999Z");
            prop_assert!(compare(&f, &times).ok, "a changed time is not a difference");
        }
    }
}
