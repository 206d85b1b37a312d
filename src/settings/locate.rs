//! Finds the line of a key in a JSON text, so that a settings error can say where to look.
//!
//! serde_json reports lines for syntax errors only; a value of the wrong type parses fine
//! and is caught later by path (`server.wsPort`). [`line_of`] walks the text once, tracking
//! the object keys it is inside, and returns the line where that path's key is written.

/// The 1-based line where the key at dotted `path` is written in `text`, if it is there.
/// Array elements are not addressed: a path that goes through an array finds nothing.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let want: Vec<&str> = path.split('.').collect();
    // One entry per open container: `Some(key)` for the key being read in an object,
    // `None` for an array (or an object before its first key).
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut in_object: Vec<bool> = Vec::new();
    let mut expect_key = false;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '{' => {
                stack.push(None);
                in_object.push(true);
                expect_key = true;
            }
            '[' => {
                stack.push(None);
                in_object.push(false);
                expect_key = false;
            }
            '}' | ']' => {
                stack.pop();
                in_object.pop();
                expect_key = false;
            }
            ',' => expect_key = in_object.last().copied().unwrap_or(false),
            '"' => {
                let start_line = line;
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                s.push(e);
                            }
                        }
                        '\n' => {
                            line += 1;
                            s.push(c);
                        }
                        _ => s.push(c),
                    }
                }
                if expect_key {
                    expect_key = false;
                    if let Some(top) = stack.last_mut() {
                        *top = Some(s);
                    }
                    let inside_arrays = in_object.iter().any(|o| !o);
                    if !inside_arrays
                        && stack.len() == want.len()
                        && stack.iter().zip(&want).all(|(k, w)| k.as_deref() == Some(*w))
                    {
                        return Some(start_line);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = r#"{
  "server": {
    "wsPort": "x",
    "list": [{"wsPort": 1}],
    "quote\"d": 1
  },
  "wsPort": 2
}"#;

    #[test]
    fn finds_nested_and_top_level_keys() {
        assert_eq!(line_of(TEXT, "server"), Some(2));
        assert_eq!(line_of(TEXT, "server.wsPort"), Some(3));
        assert_eq!(line_of(TEXT, "server.quote\"d"), Some(5));
        assert_eq!(line_of(TEXT, "wsPort"), Some(7));
    }

    #[test]
    fn values_and_array_members_are_not_keys() {
        assert_eq!(line_of(r#"{"a": "server", "b": {"server": 1}}"#, "server"), None);
        assert_eq!(line_of(TEXT, "server.list.wsPort"), None);
        assert_eq!(line_of(TEXT, "missing"), None);
    }

    #[test]
    fn never_panics_on_broken_text() {
        for text in ["", "{", "}", "\"", "{\"a\":", "]]]{", "{\"a\\"] {
            let _ = line_of(text, "a");
        }
    }
}
