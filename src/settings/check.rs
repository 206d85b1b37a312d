//! Checks a partial settings document against the shape of the compiled defaults.
//!
//! The TypeScript server merged whatever the file held and failed later, somewhere else. Here
//! a value must have the type its default has (a number where the default is a number, a
//! whole number where it is whole, a list of strings where it is a list of strings, one of
//! the allowed words where the field is an enumeration). Keys the defaults do not have are
//! kept as they are: they may belong to a newer version, or to the iOS app.

use serde_json::Value;

/// Fields whose value must be one of a few words (from the TypeScript settings types).
const ENUMS: &[(&str, &[&str])] = &[
    ("logging.dbLogLevel", &["trace", "debug", "info", "warn", "error", "fatal"]),
    ("server.transcription.cleanupMode", &["none", "basic", "llm"]),
    ("api.openaiCodex.defaultReasoningEffort", &["low", "medium", "high", "xhigh"]),
    ("api.google.defaultEndpoint", &["cloud-code-assist", "antigravity"]),
];

/// A value of the wrong type: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Dotted path of the offending key (`server.wsPort`).
    pub key: String,
    /// What the value should be, e.g. `a whole number`.
    pub expected: String,
    /// What it is, e.g. `a string ("abc")`.
    pub found: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.as_str() {
            "" => write!(f, "the settings must be {}, found {}", self.expected, self.found),
            key => write!(f, "`{key}` must be {}, found {}", self.expected, self.found),
        }
    }
}

/// The first value in `partial` whose type differs from its default in `defaults`.
pub fn first_mismatch(defaults: &Value, partial: &Value) -> Option<Mismatch> {
    walk(defaults, partial, &mut String::new())
}

fn walk(default: &Value, value: &Value, path: &mut String) -> Option<Mismatch> {
    let mismatch = |expected: &str| {
        Some(Mismatch { key: path.clone(), expected: expected.to_owned(), found: describe(value) })
    };
    match (default, value) {
        (Value::Object(d), Value::Object(v)) => {
            for (key, child) in v {
                let Some(dchild) = d.get(key) else { continue };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let found = walk(dchild, child, path);
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        (Value::Object(_), _) if path.is_empty() => mismatch("a JSON object"),
        (Value::Object(_), _) => mismatch("an object"),
        (Value::Array(d), Value::Array(v)) => {
            let first = d.first()?;
            v.iter().enumerate().find_map(|(i, item)| {
                (kind(item) != kind(first)).then(|| Mismatch {
                    key: format!("{path}[{i}]"),
                    expected: article(kind(first)),
                    found: describe(item),
                })
            })
        }
        (Value::Array(d), _) => match d.first() {
            Some(first) => mismatch(&format!("a list of {}s", kind(first))),
            None => mismatch("a list"),
        },
        (Value::Number(d), Value::Number(v)) => {
            let whole = |n: &serde_json::Number| n.is_i64() || n.is_u64();
            if whole(d) && !whole(v) {
                return mismatch("a whole number");
            }
            if d.as_f64().is_some_and(|d| d >= 0.0) && v.as_f64().is_some_and(|v| v < 0.0) {
                return mismatch("zero or more");
            }
            None
        }
        (Value::Number(d), _) if d.is_i64() || d.is_u64() => mismatch("a whole number"),
        (Value::Number(_), _) => mismatch("a number"),
        (Value::String(_), Value::String(s)) => match ENUMS.iter().find(|(p, _)| p == path) {
            Some((_, words)) if !words.contains(&s.as_str()) => mismatch(&format!(
                "one of {}",
                words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(", ")
            )),
            _ => None,
        },
        (Value::String(_), _) => mismatch("a string"),
        (Value::Bool(_), Value::Bool(_)) => None,
        (Value::Bool(_), _) => mismatch("true or false"),
        (Value::Null, _) => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn article(kind: &str) -> String {
    match kind {
        "object" => "an object".into(),
        "null" => "null".into(),
        k => format!("a {k}"),
    }
}

/// `a string ("abc")`, `a number (80.5)`, `a list`, `null`.
fn describe(v: &Value) -> String {
    let mut shown = v.to_string();
    if shown.chars().count() > 40 {
        shown = format!("{}…", shown.chars().take(40).collect::<String>());
    }
    match v {
        Value::Null => "null".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
        v => format!("{} ({shown})", article(kind(v))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn defaults() -> Value {
        json!({
            "server": {"wsPort": 8080, "host": "127.0.0.1"},
            "context": {"compactor": {"compactionThreshold": 0.85}},
            "tools": {"bash": {"dangerousPatterns": ["^sudo"]}},
            "logging": {"dbLogLevel": "info"},
            "flags": {"on": true},
            "optional": null
        })
    }

    fn check(partial: Value) -> Option<String> {
        first_mismatch(&defaults(), &partial).map(|m| m.to_string())
    }

    #[test]
    fn matching_partials_and_unknown_keys_pass() {
        assert_eq!(check(json!({})), None);
        assert_eq!(check(json!({"server": {"wsPort": 9000}, "newThing": {"x": [1, "a"]}})), None);
        assert_eq!(check(json!({"context": {"compactor": {"compactionThreshold": 1}}})), None);
        assert_eq!(check(json!({"optional": {"anything": 1}, "server": {"extra": "kept"}})), None);
        assert_eq!(check(json!({"tools": {"bash": {"dangerousPatterns": []}}})), None);
    }

    #[test]
    fn wrong_types_name_the_key() {
        assert_eq!(
            check(json!({"server": {"wsPort": "80"}})).unwrap(),
            "`server.wsPort` must be a whole number, found a string (\"80\")"
        );
        assert_eq!(
            check(json!({"server": {"wsPort": 80.5}})).unwrap(),
            "`server.wsPort` must be a whole number, found a number (80.5)"
        );
        assert_eq!(
            check(json!({"server": {"wsPort": -1}})).unwrap(),
            "`server.wsPort` must be zero or more, found a number (-1)"
        );
        assert_eq!(check(json!({"server": 1})).unwrap(), "`server` must be an object, found a number (1)");
        assert_eq!(
            check(json!({"tools": {"bash": {"dangerousPatterns": ["a", 2]}}})).unwrap(),
            "`tools.bash.dangerousPatterns[1]` must be a string, found a number (2)"
        );
        assert_eq!(
            check(json!({"flags": {"on": "yes"}})).unwrap(),
            "`flags.on` must be true or false, found a string (\"yes\")"
        );
        assert_eq!(
            check(json!({"logging": {"dbLogLevel": "loud"}})).unwrap(),
            "`logging.dbLogLevel` must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"fatal\", found a string (\"loud\")"
        );
        assert_eq!(check(json!([1])).unwrap(), "the settings must be a JSON object, found a list");
    }
}
