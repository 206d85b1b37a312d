//! HTML to readable text (light Markdown): headings as `#`, list items as `-`, links as
//! `[text](href)`, paragraphs and line breaks kept, entities decoded; scripts, styles,
//! templates, SVG, forms, navigation, headers, footers and asides left out.
//!
//! A small scanner rather than a DOM crate: readable text needs tags, attributes and
//! entities, not a spec-complete tree, and the html5ever-based converters bring a large
//! dependency tree for a tool that only feeds a model. Malformed markup never fails: an
//! unclosed tag ends the text, unknown entities stay as written.

/// A page as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The `<title>` (entities decoded, whitespace collapsed); empty when none.
    pub title: String,
    /// The readable text.
    pub text: String,
}

/// Elements whose whole content is left out.
const SKIPPED: &[&str] =
    &["script", "style", "noscript", "template", "svg", "nav", "footer", "aside", "form", "iframe", "button"];

/// Elements that start and end a block (a line of their own).
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "ul",
    "ol",
    "table",
    "tr",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "dl",
    "dt",
    "dd",
    "address",
    "details",
    "summary",
    "hr",
    "body",
    "html",
];

/// Converts `html` to readable text.
pub fn to_text(html: &str) -> Page {
    let mut out = Writer::default();
    let mut title = String::new();
    let mut skip: Option<(String, usize)> = None; // (element, nesting depth)
    let mut in_title = false;
    let mut pre = 0usize;
    let mut links: Vec<Option<String>> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skip.is_none() {
                text_into(&mut out, &mut title, in_title, pre > 0, rest);
            }
            break;
        };
        if lt > 0 && skip.is_none() {
            text_into(&mut out, &mut title, in_title, pre > 0, &rest[..lt]);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
            continue;
        }
        let Some(tag) = Tag::parse(rest) else {
            // A lone `<` is text.
            if skip.is_none() {
                text_into(&mut out, &mut title, in_title, pre > 0, "<");
            }
            rest = &rest[1..];
            continue;
        };
        rest = &rest[tag.len..];
        let name = tag.name.as_str();
        if let Some((skipped, depth)) = &mut skip {
            if name == skipped {
                if tag.closing {
                    *depth -= 1;
                    if *depth == 0 {
                        skip = None;
                    }
                } else if !tag.self_closing {
                    *depth += 1;
                }
            }
            continue;
        }
        if name == "title" {
            in_title = !tag.closing;
            continue;
        }
        if SKIPPED.contains(&name) && !tag.closing && !tag.self_closing {
            // Raw-text elements end only at their own closing tag: jump there.
            if matches!(name, "script" | "style") {
                let close = format!("</{name}");
                rest = find_ci(rest, &close).map_or("", |at| {
                    let after = &rest[at..];
                    after.find('>').map_or("", |end| &after[end + 1..])
                });
            } else {
                skip = Some((name.to_owned(), 1));
            }
            continue;
        }
        match (name, tag.closing) {
            ("br", _) => out.newline(),
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => {
                out.block();
                let level = name[1..].parse::<usize>().unwrap_or(1);
                out.raw(&format!("{} ", "#".repeat(level)));
            }
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", true) => out.block(),
            ("li", false) => {
                out.newline();
                out.raw("- ");
            }
            ("li", true) => out.newline(),
            ("td" | "th", false) => out.space(),
            ("pre", false) => {
                out.block();
                pre += 1;
            }
            ("pre", true) => {
                pre = pre.saturating_sub(1);
                out.block();
            }
            ("a", false) => {
                let href = tag.attr("href").filter(|h| h.starts_with("http://") || h.starts_with("https://"));
                if href.is_some() {
                    out.raw("[");
                }
                links.push(href);
            }
            ("a", true) => {
                if let Some(Some(href)) = links.pop() {
                    out.trim_trailing_space();
                    out.raw(&format!("]({href})"));
                }
            }
            ("img", _) => {
                if let Some(alt) = tag.attr("alt").filter(|a| !a.trim().is_empty()) {
                    out.text(&format!("[image: {}]", alt.trim()), false);
                }
            }
            (n, _) if BLOCKS.contains(&n) => out.block(),
            _ => {}
        }
    }
    Page { title: collapse(&decode_entities(&title)), text: out.finish() }
}

fn text_into(out: &mut Writer, title: &mut String, in_title: bool, pre: bool, raw: &str) {
    if in_title {
        title.push_str(raw);
    } else {
        out.text(&decode_entities(raw), pre);
    }
}

/// Byte offset of `needle` (ASCII) in `hay`, ignoring ASCII case.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().saturating_sub(n.len() - 1)).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One start or end tag.
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: String,
    /// Bytes the tag takes in the input.
    len: usize,
}

impl Tag {
    fn parse(s: &str) -> Option<Tag> {
        let bytes = s.as_bytes();
        let mut i = 1;
        let closing = bytes.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-' || bytes[i] == b':') {
            i += 1;
        }
        if i == start || !bytes[start].is_ascii_alphabetic() {
            return None;
        }
        let name = s[start..i].to_ascii_lowercase();
        // The end of the tag: the first `>` outside quotes.
        let mut quote: Option<u8> = None;
        let mut end = None;
        for (j, &b) in bytes.iter().enumerate().skip(i) {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'\'' => quote = Some(b),
                None if b == b'>' => {
                    end = Some(j);
                    break;
                }
                None => {}
            }
        }
        let end = end?;
        let attrs = s[i..end].to_owned();
        let self_closing = attrs.trim_end().ends_with('/');
        Some(Tag { name, closing, self_closing, attrs, len: end + 1 })
    }

    /// The value of attribute `name` (entities decoded).
    fn attr(&self, name: &str) -> Option<String> {
        let a = self.attrs.as_str();
        let mut search = 0;
        while let Some(found) = find_ci(&a[search..], name) {
            let at = search + found;
            search = at + name.len();
            let before_ok = at == 0 || a.as_bytes()[at - 1].is_ascii_whitespace();
            let after = a[search..].trim_start();
            if !before_ok || !after.starts_with('=') {
                continue;
            }
            let value = after[1..].trim_start();
            let v = match value.chars().next() {
                Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
                _ => value.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or(""),
            };
            return Some(decode_entities(v));
        }
        None
    }
}

/// Accumulates text with collapsed whitespace and at most one blank line between blocks.
#[derive(Default)]
struct Writer {
    out: String,
    /// Whitespace seen since the last word (emitted as one space before the next word).
    pending_space: bool,
}

impl Writer {
    fn text(&mut self, s: &str, pre: bool) {
        if pre {
            self.out.push_str(s);
            self.pending_space = false;
            return;
        }
        for (i, word) in s.split_whitespace().enumerate() {
            if (i > 0 || self.pending_space || s.starts_with(char::is_whitespace)) && !self.at_line_start() {
                self.out.push(' ');
            }
            self.out.push_str(word);
            self.pending_space = false;
        }
        if s.ends_with(char::is_whitespace) {
            self.pending_space = true;
        }
    }

    fn raw(&mut self, s: &str) {
        if self.pending_space && !self.at_line_start() {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.out.push_str(s);
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty()
            || self.out.ends_with('\n')
            || self.out.ends_with("# ")
            || self.out.ends_with("- ")
            || self.out.ends_with('[')
    }

    fn trim_trailing_space(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.pending_space = false;
    }

    fn newline(&mut self) {
        self.trim_trailing_space();
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn block(&mut self) {
        self.newline();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn finish(self) -> String {
        let lines: Vec<&str> = self.out.lines().map(str::trim_end).collect();
        let mut text = String::new();
        let mut blank = 0;
        for line in lines {
            // Drop list markers and headings that ended up empty.
            if line.trim().is_empty() || matches!(line.trim(), "-" | "#" | "##" | "###") {
                blank += 1;
                continue;
            }
            if !text.is_empty() {
                text.push_str(if blank > 0 { "\n\n" } else { "\n" });
            }
            blank = 0;
            text.push_str(line);
        }
        text
    }
}

/// Decodes character references: numeric (`&#39;`, `&#x27;`) and the common named ones.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '#')).map(|e| e + 1);
        let (name, consumed) = match end {
            Some(e) if rest[e..].starts_with(';') => (&rest[1..e], e + 1),
            Some(e) => (&rest[1..e], e),
            None => (&rest[1..], rest.len()),
        };
        match entity(name) {
            Some(c) => {
                out.push(c);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "middot" => '·',
        "bull" => '•',
        "deg" => '°',
        "euro" => '€',
        "pound" => '£',
        "times" => '×',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_text_keeps_structure_and_drops_noise() {
        let html = r#"<!DOCTYPE html><html><head><title>The  Title &amp; more</title>
            <style>body { color: red }</style><script>var x = "<p>no</p>";</script></head>
            <body><nav><a href="/">Home</a></nav>
            <h1>Heading</h1><p>First <b>bold</b> paragraph.<br>Second line.</p>
            <ul><li>one</li><li>two &lt;3</li></ul>
            <p>See <a href="https://example.com/doc">the docs</a> now.</p>
            <!-- a comment <p>hidden</p> -->
            <footer>Footer text</footer></body></html>"#;
        let page = to_text(html);
        assert_eq!(page.title, "The Title & more");
        assert_eq!(
            page.text,
            "# Heading\n\nFirst bold paragraph.\nSecond line.\n\n- one\n- two <3\n\nSee [the docs](https://example.com/doc) now."
        );
    }

    #[test]
    fn entities_decode_and_unknown_ones_stay() {
        assert_eq!(decode_entities("a&#39;b&#x41;&nbsp;&bogus; & c"), "a'bA &bogus; & c");
    }

    #[test]
    fn malformed_markup_never_panics() {
        for html in
            ["<", "<p", "<a href='x", "</", "<<>>", "<script>never closed", "&#xFFFFFFFF;", "<div<p>x"]
        {
            let _ = to_text(html);
        }
        assert_eq!(to_text("a < b").text, "a < b");
    }

    proptest::proptest! {
        #[test]
        fn any_input_converts(s in ".{0,300}") {
            let _ = to_text(&s);
        }
    }
}
