//! A small PDF writer: US Letter pages of Helvetica text, enough for a canvas export that
//! any PDF reader (and `pdftotext`) reads back.
//!
//! Writes a real PDF 1.4 file: catalog, page tree, the two standard fonts (Helvetica and
//! Helvetica-Bold, WinAnsi encoding, so nothing is embedded), one content stream per page,
//! an info dictionary, and a cross-reference table with exact byte offsets. Long lines are
//! wrapped, and a new page starts when a page is full. Text outside Latin-1 becomes `?`
//! (the standard fonts have no other glyphs).

use std::fmt::Write as _;

/// How a line is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// 18 pt bold.
    Title,
    /// 14 pt bold.
    Heading,
    /// 11 pt regular.
    Body,
    /// 11 pt regular, indented (list items, nested content).
    Indented,
}

impl Style {
    fn size(self) -> f32 {
        match self {
            Style::Title => 18.0,
            Style::Heading => 14.0,
            Style::Body | Style::Indented => 11.0,
        }
    }

    fn font(self) -> &'static str {
        match self {
            Style::Title | Style::Heading => "F2",
            Style::Body | Style::Indented => "F1",
        }
    }

    fn indent(self) -> f32 {
        if self == Style::Indented {
            18.0
        } else {
            0.0
        }
    }
}

const PAGE_WIDTH: f32 = 612.0;
const PAGE_HEIGHT: f32 = 792.0;
const MARGIN: f32 = 54.0;

/// A document being built: a title (for the info dictionary) and lines of text.
#[derive(Debug, Clone, Default)]
pub struct Document {
    title: String,
    lines: Vec<(Style, String)>,
}

impl Document {
    /// An empty document titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), lines: Vec::new() }
    }

    /// Adds a line (wrapped when too wide); an empty line is a blank line.
    pub fn line(&mut self, style: Style, text: impl Into<String>) -> &mut Self {
        self.lines.push((style, text.into()));
        self
    }

    /// The lines as they will be set: wrapped to the page width, each with its style.
    fn wrapped(&self) -> Vec<(Style, String)> {
        let mut out = Vec::new();
        for (style, text) in &self.lines {
            // Helvetica's average glyph is about half the font size wide.
            let width = PAGE_WIDTH - 2.0 * MARGIN - style.indent();
            let max = ((width / (style.size() * 0.5)) as usize).max(10);
            if text.is_empty() {
                out.push((*style, String::new()));
                continue;
            }
            for raw in text.lines() {
                let mut current = String::new();
                for word in raw.split(' ') {
                    let mut word = word.to_owned();
                    // A word longer than the line is cut.
                    while word.chars().count() > max {
                        if !current.is_empty() {
                            out.push((*style, std::mem::take(&mut current)));
                        }
                        let head: String = word.chars().take(max).collect();
                        word = word.chars().skip(max).collect();
                        out.push((*style, head));
                    }
                    let needed =
                        current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
                    if needed > max && !current.is_empty() {
                        out.push((*style, std::mem::take(&mut current)));
                    }
                    if !current.is_empty() {
                        current.push(' ');
                    }
                    current.push_str(&word);
                }
                out.push((*style, current));
            }
        }
        out
    }

    /// The lines laid out on pages: per page, the content stream.
    fn pages(&self) -> Vec<String> {
        let mut pages = Vec::new();
        let mut content = String::new();
        let mut y = PAGE_HEIGHT - MARGIN;
        for (style, text) in self.wrapped() {
            let leading = style.size() * 1.35;
            if y - leading < MARGIN && !content.is_empty() {
                pages.push(std::mem::take(&mut content));
                y = PAGE_HEIGHT - MARGIN;
            }
            y -= leading;
            if !text.is_empty() {
                let _ = writeln!(
                    content,
                    "BT /{} {} Tf 1 0 0 1 {:.2} {:.2} Tm ({}) Tj ET",
                    style.font(),
                    style.size(),
                    MARGIN + style.indent(),
                    y,
                    escape(&text)
                );
            }
        }
        if !content.is_empty() || pages.is_empty() {
            pages.push(content);
        }
        pages
    }

    /// The PDF file.
    pub fn render(&self) -> Vec<u8> {
        let pages = self.pages();
        // Objects: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold, 5 info, then a
        // page and its content stream per page.
        let page_ids: Vec<usize> = (0..pages.len()).map(|i| 6 + 2 * i).collect();
        let mut objects: Vec<Vec<u8>> = Vec::new();
        objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
        let kids: Vec<String> = page_ids.iter().map(|id| format!("{id} 0 R")).collect();
        objects.push(
            format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()).into_bytes(),
        );
        for font in ["Helvetica", "Helvetica-Bold"] {
            objects.push(
                format!("<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>")
                    .into_bytes(),
            );
        }
        objects.push(format!("<< /Title ({}) /Producer (tron) >>", escape(&self.title)).into_bytes());
        for (i, content) in pages.iter().enumerate() {
            let contents = page_ids[i] + 1;
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
                     /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {contents} 0 R >>"
                )
                .into_bytes(),
            );
            let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
            stream.extend_from_slice(content.as_bytes());
            stream.extend_from_slice(b"\nendstream");
            objects.push(stream);
        }
        let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for offset in offsets {
            let _ = writeln!(table, "{offset:010} 00000 n ");
        }
        let _ = write!(
            table,
            "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        out.extend_from_slice(table.as_bytes());
        out
    }
}

/// `text` as the inside of a PDF literal string in WinAnsi: `\`, `(` and `)` escaped,
/// control characters dropped (tabs become spaces), Latin-1 beyond ASCII as octal escapes,
/// anything else as `?`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push(' '),
            c if (c as u32) < 0x20 => {}
            c if c.is_ascii() => out.push(c),
            c if (0xA0..=0xFF).contains(&(c as u32)) => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(escape(r"a (b) \c"), r"a \(b\) \\c");
        assert_eq!(escape("é\tx\u{1}y→"), "\\351 xy?");
    }

    fn find(hay: &[u8], needle: &str) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle.as_bytes())
    }

    #[test]
    fn the_cross_reference_table_points_at_every_object() {
        let mut doc = Document::new("T");
        doc.line(Style::Title, "Hello").line(Style::Body, "World");
        let pdf = doc.render();
        assert!(pdf.starts_with(b"%PDF-1.4\n") && pdf.ends_with(b"%%EOF\n"));
        let at = pdf.windows(10).rposition(|w| w == b"startxref\n").unwrap() + 10;
        let tail = std::str::from_utf8(&pdf[at..]).unwrap();
        let start: usize = tail.lines().next().unwrap().parse().unwrap();
        let table = std::str::from_utf8(&pdf[start..]).unwrap();
        assert!(table.starts_with("xref\n0 8\n"), "{table}");
        for (i, line) in table.lines().skip(3).take(7).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert_eq!(find(&pdf[offset..], &format!("{} 0 obj", i + 1)), Some(0), "object {}", i + 1);
        }
    }

    #[test]
    fn long_text_wraps_and_flows_onto_more_pages() {
        let mut doc = Document::new("Long");
        for i in 0..120 {
            doc.line(Style::Body, format!("line {i} {}", "word ".repeat(40)));
        }
        let pages = doc.pages();
        assert!(pages.len() > 3, "{} pages", pages.len());
        assert!(doc.wrapped().iter().all(|(_, l)| l.chars().count() <= 92));
        let pdf = String::from_utf8_lossy(&doc.render()).into_owned();
        assert!(pdf.contains(&format!("/Count {}", pages.len())));
    }
}
