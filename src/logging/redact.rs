//! Secret redaction: one function, [`redact`], applied to every log line and record before
//! it is written anywhere (terminal, JSON lines, SQLite).
//!
//! Masked (the value is replaced by `[REDACTED]`, the recognisable prefix is kept):
//! - Anthropic keys `sk-ant-…`, OpenAI keys `sk-…` (at least 6 key characters after `sk-`),
//!   Google keys `AIza…` (at least 10 after `AIza`);
//! - the credential (8 or more characters) after `Bearer ` (any case), wherever it appears;
//! - the value of credential-named fields in JSON, `Debug` output or `key=value` text:
//!   `accessToken`, `refreshToken`, `apiKey`, `access_token`, `refresh_token`, `api_key`,
//!   `idToken`, `id_token`, `clientSecret`, `client_secret`, `password`, `token`,
//!   `x-api-key`, `authorization` (names compared without regard to case).
//!
//! The scan is a single pass over the bytes without allocation when nothing matches.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Field names whose values are always masked (lower case).
const SECRET_KEYS: &[&str] = &[
    "accesstoken",
    "refreshtoken",
    "apikey",
    "api_key",
    "api-key",
    "access_token",
    "refresh_token",
    "idtoken",
    "id_token",
    "clientsecret",
    "client_secret",
    "password",
    "token",
    "x-api-key",
    "authorization",
];

/// `text` with every secret masked; borrowed when there was nothing to mask.
pub fn redact(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already handled (copied or masked)
    let mut i = 0;
    while i < b.len() {
        match find_secret(b, i) {
            Some((start, end)) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                o.push_str(&text[copied..start]);
                o.push_str(MASK);
                copied = end;
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// The byte range of a secret value that starts a pattern at `i`, if any.
fn find_secret(b: &[u8], i: usize) -> Option<(usize, usize)> {
    match b[i] {
        b's' if b[i..].starts_with(b"sk-") && at_word_start(b, i) => {
            let body = if b[i + 3..].starts_with(b"ant-") { i + 7 } else { i + 3 };
            let end = run(b, body, is_key_byte);
            let min = if body == i + 7 { 1 } else { 6 };
            (end - body >= min).then_some((body, end))
        }
        b'A' if b[i..].starts_with(b"AIza") => {
            let end = run(b, i + 4, is_key_byte);
            (end - (i + 4) >= 10).then_some((i + 4, end))
        }
        b'b' | b'B' if starts_with_ci(&b[i..], b"bearer") && at_word_start(b, i) => {
            let gap = run(b, i + 6, |c| c == b' ' || c == b'\t');
            if gap == i + 6 {
                return None;
            }
            // Short words after "bearer" are prose, not credentials.
            let end = run(b, gap, is_token_byte);
            (end - gap >= 8).then_some((gap, end))
        }
        c if is_key_first(c) && at_word_start(b, i) => keyed_value(b, i),
        _ => None,
    }
}

/// `name <sep> value` where name is one of [`SECRET_KEYS`]: the value's range.
fn keyed_value(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let key = SECRET_KEYS.iter().find(|k| starts_with_ci(&b[i..], k.as_bytes()))?;
    let mut j = i + key.len();
    // The closing quote of a quoted name: `"`, or `\"` inside an escaped string.
    j = skip_quote(b, j);
    j = run(b, j, |c| c == b' ' || c == b'\t');
    if j >= b.len() || !(b[j] == b':' || b[j] == b'=') {
        return None;
    }
    j = run(b, j + 1, |c| c == b' ' || c == b'\t');
    let opened = skip_quote(b, j);
    let quoted = opened != j;
    let end = if quoted {
        run(b, opened, |c| c != b'"' && c != b'\\')
    } else {
        let word = run(b, opened, |c| {
            !(c.is_ascii_whitespace() || matches!(c, b',' | b';' | b'}' | b')' | b'&' | b'"'))
        });
        // `Authorization: Bearer <token>`: the scheme and the credential go together.
        let scheme = &b[opened..word];
        let gap = run(b, word, |c| c == b' ' || c == b'\t');
        if (scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"basic")) && gap > word {
            run(b, gap, is_token_byte)
        } else {
            word
        }
    };
    let value = &b[opened..end];
    (!value.is_empty() && value != MASK.as_bytes()).then_some((opened, end))
}

/// Past a `"` or a `\"` at `j`, else `j`.
fn skip_quote(b: &[u8], j: usize) -> usize {
    if b[j..].starts_with(b"\\\"") {
        j + 2
    } else if b[j..].starts_with(b"\"") {
        j + 1
    } else {
        j
    }
}

/// The end of the run of bytes from `from` that satisfy `f`.
fn run(b: &[u8], from: usize, f: impl Fn(u8) -> bool) -> usize {
    let mut j = from.min(b.len());
    while j < b.len() && f(b[j]) {
        j += 1;
    }
    j
}

fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

/// Whether the byte before `i` does not continue a word (so `task-…` is not `sk-…`).
fn at_word_start(b: &[u8], i: usize) -> bool {
    i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn is_key_first(c: u8) -> bool {
    matches!(c.to_ascii_lowercase(), b'a' | b'r' | b'i' | b'c' | b'p' | b't' | b'x')
}

/// Characters of API keys.
fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// Characters of a bearer credential (RFC 6750 b64token).
fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys_are_masked() {
        assert_eq!(redact("key sk-ant-api03-AbC_dEf-123 end"), "key sk-ant-[REDACTED] end");
        assert_eq!(redact("openai=sk-proj-abcdef123456"), "openai=sk-[REDACTED]");
        assert_eq!(redact("g: AIzaSyD-0123456789abcdefXYZ"), "g: AIza[REDACTED]");
    }

    #[test]
    fn headers_and_json_fields_are_masked() {
        assert_eq!(redact("Authorization: Bearer eyJhbGci.x.y"), "Authorization: [REDACTED]");
        assert_eq!(redact("authorization=\"Bearer abc\""), "authorization=\"[REDACTED]\"");
        assert_eq!(redact("x-api-key: abc123"), "x-api-key: [REDACTED]");
        assert_eq!(redact(r#"{"x-api-key": "abc"}"#), r#"{"x-api-key": "[REDACTED]"}"#);
        assert_eq!(
            redact(r#"{"accessToken":"at-1","refreshToken" : "rt-2","expiresAt":5}"#),
            r#"{"accessToken":"[REDACTED]","refreshToken" : "[REDACTED]","expiresAt":5}"#
        );
        assert_eq!(redact(r#"data="{\"apiKey\":\"k-9\"}""#), r#"data="{\"apiKey\":\"[REDACTED]\"}""#);
        assert_eq!(
            redact("access_token=abc&refresh_token=def"),
            "access_token=[REDACTED]&refresh_token=[REDACTED]"
        );
        assert_eq!(redact("sent bearer   tok.en-1234"), "sent bearer   [REDACTED]");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for s in [
            "task-1234567 done",
            "max_tokens=4096 input_tokens: 5",
            "tokenUsage: {}",
            "sk-1",
            "the bearer of news",
            "AIza",
            "",
            "ünïcödé sk-ant- ✓",
        ] {
            assert!(matches!(redact(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        let once = redact("Bearer abc sk-ant-xyz apiKey=1 AIza0123456789abcdef").into_owned();
        assert_eq!(redact(&once), once);
    }
}
