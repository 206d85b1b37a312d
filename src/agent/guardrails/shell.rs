//! A small reader of shell commands for the guardrails: what a Bash command writes to and
//! whether it wipes the system. A heuristic over the common commands, not a sandbox.
//!
//! The command is split into simple commands at `;`, `&&`, `||`, `|`, `&`, newlines and
//! parentheses (here-document bodies are skipped, `$(...)`, backticks and `<(...)` are read
//! too, `bash -c` / `sh -c` / `eval` / `su -c` strings are read as commands). Words lose
//! their quotes; `~` (and `~me`), `$HOME` / `${HOME}`, `$PWD` and `$TRON_DATA_DIR` are
//! expanded, other variables and substitutions are unknown: a path below one (`$X/.ssh/k`),
//! or a relative path after `cd` to one, is compared by its known tail with the protected
//! places' paths in the home (the engine's part). Wrappers (`sudo` and `doas` with their options,
//! `env`, `nice`, `nohup`, `timeout`, `xargs`, `command`, `exec`, `time`, variable
//! assignments, `if`/`then`/...) are looked through; `/bin/rm` and `\rm` are `rm`.
//! Relative paths resolve against the session's working directory, followed through `cd`
//! and `pushd` (a subshell's `cd` ends with it).
//!
//! What counts as a write ([`Simple::writes`]): redirection targets (`>`, `>>`, `>|`, `&>`,
//! `<>`, `>&file`); `tee`; `cp`, `install`, `ln`, `rsync`, `scp` destinations (the last
//! operand, or `-t DIR`); `mv` sources and destination; `ln` sources that lead into a
//! protected place; `rm`, `rmdir`, `unlink`, `shred`, `trash`; `touch`, `truncate`, `mkdir`,
//! `mkfifo`; `chmod`, `chown`, `chgrp`, `chattr`, `setfacl` operands; `sed -i` and
//! `perl -i` files; `dd of=`; `curl -o`, `wget -O` / `-P`; `tar -x` / `unzip` targets;
//! `find ... -delete` / `-exec <writer>` start paths; files given to editors. A recursive
//! removal, a move or a `chmod -R` / `chown -R` also reaches what is inside its target
//! (`rm -r ~` reaches `~/.ssh`).
//!
//! Not seen: writes by programs (`python -c`, `node`, `git`, build tools) and paths built at
//! run time beyond the variables above. Symlinks are the engine's part: it resolves the
//! existing ones in the paths it compares, and an `ln` whose source leads into a protected
//! place counts as a write there.

use std::path::{Component, Path, PathBuf};

/// How deep `bash -c`, `eval` and substitutions are followed.
const MAX_DEPTH: usize = 4;

/// What the reader knows about the environment of the command.
#[derive(Debug, Clone, Copy)]
pub struct ShellEnv<'a> {
    /// `~` and `$HOME`.
    pub home: &'a Path,
    /// The session's working directory.
    pub cwd: &'a Path,
    /// `$TRON_DATA_DIR`, when known.
    pub data_dir: Option<&'a Path>,
}

/// Where a command writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    /// An absolute, lexically normalised path (it may hold glob characters).
    Path(PathBuf),
    /// A path below something unknown (`$X/.ssh/key`, or relative after `cd $X`): the
    /// known tail, relative.
    Below(PathBuf),
}

/// One written place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where.
    pub loc: Loc,
    /// Whether everything below it is affected too (`rm -r`, `mv`, `chmod -R`), or it is a
    /// link's source (a link to it, or to a parent of it, leads in).
    pub recursive: bool,
}

/// One simple command, as far as it could be read.
#[derive(Debug, Clone, Default)]
pub struct Simple {
    /// Its text as written (trimmed).
    pub text: String,
    /// The program after wrappers (`rm`), when known.
    pub program: Option<String>,
    /// What it writes to.
    pub writes: Vec<Target>,
    /// Why it would wipe the system (`rm -r` of `/`, the home, a system directory; any
    /// `--no-preserve-root`; `mkfs`; `dd` onto a disk), when it would.
    pub destructive: Option<String>,
}

/// Reads `command` (see the module doc).
pub fn analyze(command: &str, env: &ShellEnv<'_>) -> Vec<Simple> {
    let mut out = Vec::new();
    analyze_into(command, env, Some(env.cwd.to_owned()), 0, &mut out);
    out
}

fn analyze_into(
    command: &str,
    env: &ShellEnv<'_>,
    cwd: Option<PathBuf>,
    depth: usize,
    out: &mut Vec<Simple>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let segments = Lexer::new(command).segments();
    // A subshell's `cd` ends with it.
    let mut stack: Vec<Option<PathBuf>> = Vec::new();
    let mut cwd = cwd;
    for seg in segments {
        for _ in 0..seg.opens {
            stack.push(cwd.clone());
        }
        for nested in &seg.nested {
            analyze_into(nested, env, cwd.clone(), depth + 1, out);
        }
        let simple = read_simple(&seg, env, &mut cwd, depth, out);
        out.push(simple);
        for _ in 0..seg.closes {
            if let Some(outer) = stack.pop() {
                cwd = outer;
            }
        }
    }
}

// ----- lexing ---------------------------------------------------------------------------

/// A piece of a word.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// Text, quotes removed.
    Lit(String),
    /// `~` or `~name` at the start of an unquoted word.
    Tilde(String),
    /// `$NAME`, `${NAME}`.
    Var(String),
    /// A substitution or special parameter: unknown text.
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Word {
    pieces: Vec<Piece>,
}

impl Word {
    fn push_char(&mut self, c: char) {
        match self.pieces.last_mut() {
            Some(Piece::Lit(s)) => s.push(c),
            _ => self.pieces.push(Piece::Lit(c.to_string())),
        }
    }

    /// The text when the word is literal only.
    fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(t) => s.push_str(t),
                _ => return None,
            }
        }
        Some(s)
    }
}

/// A simple command's words and write redirections, with its source text.
#[derive(Debug, Default)]
struct Segment {
    text: String,
    words: Vec<Word>,
    redirect_writes: Vec<Word>,
    /// Commands inside `$(...)`, backticks, `<(...)`.
    nested: Vec<String>,
    /// Here-document bodies fed to it.
    heredocs: Vec<String>,
    /// Subshells opened before it / closed after it.
    opens: usize,
    closes: usize,
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer { src, chars: src.char_indices().collect(), i: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|c| c.1)
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).map(|c| c.1)
    }

    fn offset(&self) -> usize {
        self.chars.get(self.i).map_or(self.src.len(), |c| c.0)
    }

    fn segments(mut self) -> Vec<Segment> {
        let mut out: Vec<(Segment, usize, usize)> = Vec::new();
        let mut seg = Segment::default();
        let mut start = 0;
        let mut pending_heredocs: Vec<(String, bool)> = Vec::new();
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else {
                push(&mut out, &mut seg, start, self.src.len());
                break;
            };
            match c {
                '\n' => {
                    let end = self.offset();
                    self.i += 1;
                    push(&mut out, &mut seg, start, end);
                    let bodies = self.heredoc_bodies(&mut pending_heredocs);
                    if let Some(last) = out.last_mut() {
                        last.0.heredocs.extend(bodies);
                    }
                    start = self.offset();
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                '(' => {
                    let end = self.offset();
                    self.i += 1;
                    push(&mut out, &mut seg, start, end);
                    seg.opens += 1;
                    start = self.offset();
                }
                ')' => {
                    let end = self.offset();
                    self.i += 1;
                    seg.closes += 1;
                    push(&mut out, &mut seg, start, end);
                    start = self.offset();
                }
                '&' if self.peek_at(1) == Some('>') => {
                    self.i += 2;
                    if self.peek() == Some('>') {
                        self.i += 1;
                    }
                    self.redirect_target(&mut seg, true, false);
                }
                ';' | '&' | '|' => {
                    let end = self.offset();
                    self.i += 1;
                    while self.peek().is_some_and(|n| matches!(n, ';' | '&' | '|')) {
                        self.i += 1;
                    }
                    push(&mut out, &mut seg, start, end);
                    start = self.offset();
                }
                '<' | '>' if self.peek_at(1) == Some('(') => {
                    self.i += 2;
                    let inner = self.until_close_paren();
                    seg.nested.push(inner);
                    seg.words.push(Word { pieces: vec![Piece::Unknown] });
                }
                '<' | '>' => self.redirect(&mut seg, &mut pending_heredocs),
                d if d.is_ascii_digit() && self.digits_then_redirect() => {
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                    self.redirect(&mut seg, &mut pending_heredocs);
                }
                _ => {
                    let word = self.word(&mut seg.nested);
                    seg.words.push(word);
                }
            }
        }
        let src = self.src;
        out.into_iter()
            .map(|(mut seg, s, e)| {
                seg.text = src.get(s..e).unwrap_or_default().trim().to_owned();
                seg
            })
            .collect()
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => self.i += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.i += 2,
                _ => break,
            }
        }
    }

    fn digits_then_redirect(&self) -> bool {
        let mut n = 0;
        while self.peek_at(n).is_some_and(|c| c.is_ascii_digit()) {
            n += 1;
        }
        // Only at the start of a word (the caller is at one).
        matches!(self.peek_at(n), Some('<' | '>'))
    }

    /// At `<` or `>`: reads the operator and its target.
    fn redirect(&mut self, seg: &mut Segment, heredocs: &mut Vec<(String, bool)>) {
        let first = self.peek();
        self.i += 1;
        match (first, self.peek()) {
            (Some('>'), Some('>')) | (Some('>'), Some('|')) => {
                self.i += 1;
                self.redirect_target(seg, true, false);
            }
            (Some('>'), Some('&')) => {
                self.i += 1;
                self.redirect_target(seg, true, true);
            }
            (Some('>'), _) => self.redirect_target(seg, true, false),
            (Some('<'), Some('<')) => {
                self.i += 1;
                if self.peek() == Some('<') {
                    self.i += 1;
                    self.redirect_target(seg, false, false);
                    return;
                }
                let strip = self.peek() == Some('-');
                if strip {
                    self.i += 1;
                }
                self.skip_blanks();
                let delim = self.word(&mut seg.nested);
                let text: String = delim
                    .pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Lit(t) => t.clone(),
                        Piece::Var(v) => format!("${v}"),
                        Piece::Tilde(t) => format!("~{t}"),
                        Piece::Unknown => String::new(),
                    })
                    .collect();
                heredocs.push((text, strip));
            }
            (Some('<'), Some('>')) => {
                self.i += 1;
                self.redirect_target(seg, true, false);
            }
            (Some('<'), Some('&')) => {
                self.i += 1;
                self.redirect_target(seg, false, false);
            }
            _ => self.redirect_target(seg, false, false),
        }
    }

    /// Reads a redirection's target word; a write target is kept (`dup`: `>&N` and `>&-`
    /// duplicate a descriptor instead).
    fn redirect_target(&mut self, seg: &mut Segment, write: bool, dup: bool) {
        self.skip_blanks();
        if self.peek().is_none_or(|c| matches!(c, '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>')) {
            return;
        }
        let word = self.word(&mut seg.nested);
        if !write {
            return;
        }
        if dup && word.literal().is_some_and(|t| t == "-" || t.chars().all(|c| c.is_ascii_digit())) {
            return;
        }
        seg.redirect_writes.push(word);
    }

    /// After a newline: the bodies of the here-documents started on the line.
    fn heredoc_bodies(&mut self, pending: &mut Vec<(String, bool)>) -> Vec<String> {
        let mut bodies = Vec::new();
        for (delim, strip) in pending.drain(..) {
            let mut body = String::new();
            while self.peek().is_some() {
                let from = self.offset();
                while self.peek().is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                let line = &self.src[from..self.offset()];
                if self.peek() == Some('\n') {
                    self.i += 1;
                }
                let candidate = if strip { line.trim_start_matches('\t') } else { line };
                if candidate.trim_end_matches('\r') == delim {
                    break;
                }
                body.push_str(line);
                body.push('\n');
            }
            bodies.push(body);
        }
        bodies
    }

    /// After an opening `(`: the text up to the matching `)`, which is consumed.
    fn until_close_paren(&mut self) -> String {
        let from = self.offset();
        let mut depth = 1usize;
        while let Some(c) = self.peek() {
            match c {
                '\\' => self.i += 1,
                '\'' => {
                    self.i += 1;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.i += 1;
                    }
                }
                '"' => {
                    self.i += 1;
                    while let Some(c) = self.peek() {
                        if c == '\\' {
                            self.i += 1;
                        } else if c == '"' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        let inner = self.src[from..self.offset()].to_owned();
                        self.i += 1;
                        return inner;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        self.src[from..].to_owned()
    }

    /// One word (stops at blanks and operators).
    fn word(&mut self, nested: &mut Vec<String>) -> Word {
        let mut w = Word::default();
        let mut first = true;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some('\n') => self.i += 1,
                        Some(n) => {
                            w.push_char(n);
                            self.i += 1;
                        }
                        None => {}
                    }
                }
                '\'' => {
                    self.i += 1;
                    let mut lit = String::new();
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == '\'' {
                            break;
                        }
                        lit.push(c);
                    }
                    for ch in lit.chars() {
                        w.push_char(ch);
                    }
                    if lit.is_empty() {
                        w.pieces.push(Piece::Lit(String::new()));
                    }
                }
                '"' => {
                    self.i += 1;
                    self.double_quoted(&mut w, nested);
                }
                '$' => self.dollar(&mut w, nested),
                '`' => {
                    self.i += 1;
                    let from = self.offset();
                    while let Some(c) = self.peek() {
                        if c == '\\' {
                            self.i += 1;
                        } else if c == '`' {
                            break;
                        }
                        self.i += 1;
                    }
                    nested.push(self.src[from..self.offset()].to_owned());
                    self.i += 1;
                    w.pieces.push(Piece::Unknown);
                }
                '~' if first => {
                    self.i += 1;
                    let mut name = String::new();
                    while let Some(c) =
                        self.peek().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    {
                        name.push(c);
                        self.i += 1;
                    }
                    if self.peek().is_none_or(|c| c == '/' || is_word_end(c)) {
                        w.pieces.push(Piece::Tilde(name));
                    } else {
                        w.push_char('~');
                        for ch in name.chars() {
                            w.push_char(ch);
                        }
                    }
                }
                _ => {
                    w.push_char(c);
                    self.i += 1;
                }
            }
            first = false;
        }
        w
    }

    fn double_quoted(&mut self, w: &mut Word, nested: &mut Vec<String>) {
        let mut any = false;
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    self.i += 1;
                    break;
                }
                '\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some(n @ ('$' | '`' | '"' | '\\')) => {
                            w.push_char(n);
                            self.i += 1;
                        }
                        Some('\n') => self.i += 1,
                        _ => w.push_char('\\'),
                    }
                }
                '$' => self.dollar(w, nested),
                '`' => {
                    self.i += 1;
                    let from = self.offset();
                    while self.peek().is_some_and(|c| c != '`') {
                        self.i += 1;
                    }
                    nested.push(self.src[from..self.offset()].to_owned());
                    self.i += 1;
                    w.pieces.push(Piece::Unknown);
                }
                _ => {
                    w.push_char(c);
                    self.i += 1;
                }
            }
            any = true;
        }
        if !any {
            w.pieces.push(Piece::Lit(String::new()));
        }
    }

    /// At `$`.
    fn dollar(&mut self, w: &mut Word, nested: &mut Vec<String>) {
        self.i += 1;
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                self.i += 2;
                self.until_close_paren();
                if self.peek() == Some(')') {
                    self.i += 1;
                }
                w.pieces.push(Piece::Unknown);
            }
            Some('(') => {
                self.i += 1;
                nested.push(self.until_close_paren());
                w.pieces.push(Piece::Unknown);
            }
            Some('{') => {
                self.i += 1;
                let from = self.offset();
                let mut depth = 1;
                while let Some(c) = self.peek() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                let inner = self.src[from..self.offset()].to_owned();
                self.i += 1;
                let name: String =
                    inner.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let rest = &inner[name.len()..];
                let plain = rest.is_empty()
                    || [":-", "-", ":=", "=", ":?", "?"].iter().any(|op| rest.starts_with(op));
                if !name.is_empty() && plain && !name.starts_with(|c: char| c.is_ascii_digit()) {
                    w.pieces.push(Piece::Var(name));
                } else {
                    w.pieces.push(Piece::Unknown);
                }
            }
            Some('\'') => {
                // $'...': ANSI-C quoting, read as literal text.
                self.i += 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        '\'' => break,
                        '\\' => {
                            if let Some(n) = self.peek() {
                                w.push_char(n);
                                self.i += 1;
                            }
                        }
                        _ => w.push_char(c),
                    }
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = self.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    name.push(c);
                    self.i += 1;
                }
                w.pieces.push(Piece::Var(name));
            }
            Some(c) if c.is_ascii_digit() || matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!') => {
                self.i += 1;
                w.pieces.push(Piece::Unknown);
            }
            _ => w.push_char('$'),
        }
    }
}

/// Ends the segment `seg` (text `start..end`): kept when it has anything; an empty one
/// passes its subshell opens on to the next and its closes back to the last.
fn push(out: &mut Vec<(Segment, usize, usize)>, seg: &mut Segment, start: usize, end: usize) {
    let done = std::mem::take(seg);
    if done.words.is_empty() && done.redirect_writes.is_empty() && done.nested.is_empty() {
        seg.opens = done.opens;
        if let Some(last) = out.last_mut() {
            last.0.closes += done.closes;
        }
        return;
    }
    out.push((done, start, end));
}

fn is_word_end(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>')
}

// ----- words to paths -------------------------------------------------------------------

/// A word's value: known text, or the known tail after something unknown.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Known(String),
    After(String),
}

impl Value {
    fn known(&self) -> Option<&str> {
        match self {
            Value::Known(t) => Some(t),
            Value::After(_) => None,
        }
    }
}

fn expand(word: &Word, env: &ShellEnv<'_>, cwd: &Option<PathBuf>) -> Value {
    let mut text = String::new();
    let mut unknown = false;
    for (i, piece) in word.pieces.iter().enumerate() {
        let known: Option<String> = match piece {
            Piece::Lit(t) => Some(t.clone()),
            // `~` and `~me` (the home's own user).
            Piece::Tilde(name)
                if i == 0
                    && (name.is_empty() || env.home.file_name().is_some_and(|n| n == name.as_str())) =>
            {
                Some(env.home.display().to_string())
            }
            Piece::Tilde(_) => None,
            Piece::Var(v) if v == "HOME" => Some(env.home.display().to_string()),
            Piece::Var(v) if v == "PWD" => cwd.as_ref().map(|c| c.display().to_string()),
            Piece::Var(v) if v == "TRON_DATA_DIR" => env.data_dir.map(|d| d.display().to_string()),
            Piece::Var(_) | Piece::Unknown => None,
        };
        match known {
            Some(t) => text.push_str(&t),
            None => {
                unknown = true;
                text.clear();
            }
        }
    }
    if unknown {
        Value::After(text)
    } else {
        Value::Known(text)
    }
}

/// `p` with `.` and `..` resolved lexically (no filesystem access).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.file_name().is_some() {
                    out.pop();
                } else if !out.has_root() {
                    // Above a relative start: kept (`/..` is `/`).
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Where a value points, against `cwd`.
fn locate(value: &Value, cwd: &Option<PathBuf>) -> Option<Loc> {
    let below = |tail: &str| {
        let rel = normalize(Path::new(tail.trim_start_matches('/')));
        let bad = rel.as_os_str().is_empty() || rel.components().next() == Some(Component::ParentDir);
        (!bad).then_some(Loc::Below(rel))
    };
    match value {
        Value::Known(t) if t.is_empty() => None,
        Value::Known(t) if Path::new(t).is_absolute() => Some(Loc::Path(normalize(Path::new(t)))),
        Value::Known(t) => match cwd {
            Some(c) => Some(Loc::Path(normalize(&c.join(t)))),
            None => below(t),
        },
        Value::After(tail) => below(tail),
    }
}

// ----- simple commands ------------------------------------------------------------------

/// A word with its value.
struct Arg {
    value: Value,
}

impl Arg {
    fn text(&self) -> Option<&str> {
        self.value.known()
    }

    fn is_option(&self) -> bool {
        self.text().is_some_and(|t| t.len() > 1 && t.starts_with('-'))
    }
}

fn read_simple(
    seg: &Segment,
    env: &ShellEnv<'_>,
    cwd: &mut Option<PathBuf>,
    depth: usize,
    out: &mut Vec<Simple>,
) -> Simple {
    let mut simple = Simple { text: seg.text.clone(), ..Default::default() };
    for w in &seg.redirect_writes {
        if let Some(loc) = locate(&expand(w, env, cwd), cwd) {
            simple.writes.push(Target { loc, recursive: false });
        }
    }
    let args: Vec<Arg> = seg.words.iter().map(|w| Arg { value: expand(w, env, cwd) }).collect();
    let (at, nested) = unwrap(&args);
    for source in nested {
        analyze_into(&source, env, cwd.clone(), depth + 1, out);
    }
    let Some(program) = args.get(at).and_then(Arg::text) else { return simple };
    let name = program_name(program);
    let rest = &args[at + 1..];
    if ["bash", "sh", "zsh", "dash", "ksh"].contains(&name.as_str()) && rest.iter().all(Arg::is_option) {
        // `bash <<EOF ... EOF`: the document is the script.
        for body in &seg.heredocs {
            analyze_into(body, env, cwd.clone(), depth + 1, out);
        }
    }
    writes_of(&name, rest, cwd, &mut simple.writes);
    simple.destructive = destructive(&name, rest, env, cwd);
    match name.as_str() {
        "cd" | "pushd" => {
            let dir = rest.iter().find(|a| !a.is_option());
            *cwd = match dir {
                None => Some(env.home.to_owned()),
                Some(a) => match (&a.value, locate(&a.value, cwd)) {
                    (Value::Known(t), _) if t == "-" => None,
                    (_, Some(Loc::Path(p))) => Some(p),
                    _ => None,
                },
            };
        }
        "popd" => *cwd = None,
        _ => {}
    }
    simple.program = Some(name);
    simple
}

/// `rm` for `/bin/rm`, `grm` (GNU coreutils on macOS), `busybox rm` is handled by
/// [`unwrap`].
fn program_name(word: &str) -> String {
    let base = word.rsplit('/').next().unwrap_or(word);
    const GNU: &[&str] = &[
        "grm",
        "gmv",
        "gcp",
        "gln",
        "gtouch",
        "gtruncate",
        "gmkdir",
        "gchmod",
        "gchown",
        "gsed",
        "ginstall",
        "gdd",
        "gshred",
        "gtee",
        "gchgrp",
    ];
    if GNU.contains(&base) {
        return base[1..].to_owned();
    }
    base.to_owned()
}

/// Skips wrappers: the index of the real program, and command strings to read as commands
/// (`bash -c`, `eval`, `su -c`, `env -S`).
fn unwrap(args: &[Arg]) -> (usize, Vec<String>) {
    let mut i = 0;
    let mut nested = Vec::new();
    let assignment = |t: &str| {
        let name: String = t.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && t[name.len()..].starts_with('=')
    };
    // Options of each wrapper that take a value.
    let skip_options = |i: &mut usize, valued: &[&str]| {
        while let Some(t) = args.get(*i).filter(|a| a.is_option()).and_then(Arg::text) {
            *i += 1;
            if t == "--" {
                break;
            }
            if valued.contains(&t) {
                *i += 1;
            }
        }
    };
    while let Some(arg) = args.get(i) {
        let Some(t) = arg.text() else { break };
        if assignment(t) {
            i += 1;
            continue;
        }
        match program_name(t).as_str() {
            "{" | "}" | "!" | "if" | "then" | "elif" | "else" | "do" | "while" | "until" | "fi" | "done"
            | "nohup" | "builtin" | "noglob" | "busybox" | "unbuffer" => i += 1,
            "time" => {
                i += 1;
                skip_options(&mut i, &[]);
            }
            "command" => {
                i += 1;
                skip_options(&mut i, &[]);
            }
            "exec" => {
                i += 1;
                skip_options(&mut i, &["-a"]);
            }
            "sudo" => {
                i += 1;
                skip_options(
                    &mut i,
                    &[
                        "-u",
                        "-g",
                        "-C",
                        "-D",
                        "-h",
                        "-p",
                        "-r",
                        "-t",
                        "-U",
                        "-T",
                        "--user",
                        "--group",
                        "--chdir",
                        "--prompt",
                        "--role",
                        "--type",
                        "--other-user",
                        "--command-timeout",
                        "--close-from",
                        "--host",
                    ],
                );
            }
            "doas" => {
                i += 1;
                skip_options(&mut i, &["-u", "-C"]);
            }
            "env" => {
                i += 1;
                while let Some(t) = args.get(i).filter(|a| a.is_option()).and_then(Arg::text) {
                    i += 1;
                    if t == "--" {
                        break;
                    }
                    if ["-S", "--split-string"].contains(&t) {
                        if let Some(s) = args.get(i).and_then(Arg::text) {
                            let rest: Vec<&str> = args[i + 1..].iter().filter_map(Arg::text).collect();
                            nested.push(format!("{s} {}", rest.join(" ")));
                        }
                        return (args.len(), nested);
                    }
                    if ["-u", "-C", "--unset", "--chdir"].contains(&t) {
                        i += 1;
                    }
                }
            }
            "nice" => {
                i += 1;
                skip_options(&mut i, &["-n", "--adjustment"]);
            }
            "ionice" => {
                i += 1;
                skip_options(&mut i, &["-c", "-n", "-p", "-P", "-u", "--class", "--classdata"]);
            }
            "stdbuf" => {
                i += 1;
                skip_options(&mut i, &["-i", "-o", "-e"]);
            }
            "timeout" => {
                i += 1;
                skip_options(&mut i, &["-s", "-k", "--signal", "--kill-after"]);
                i += 1; // the duration
            }
            "xargs" => {
                i += 1;
                skip_options(
                    &mut i,
                    &[
                        "-I",
                        "-i",
                        "-n",
                        "-P",
                        "-L",
                        "-l",
                        "-d",
                        "-E",
                        "-e",
                        "-s",
                        "-a",
                        "--max-args",
                        "--max-procs",
                        "--delimiter",
                        "--arg-file",
                        "--replace",
                        "--max-lines",
                        "--max-chars",
                    ],
                );
            }
            "bash" | "sh" | "zsh" | "dash" | "ksh" | "fish" => {
                // `bash [-opts] -c STRING`: the string is the command.
                let mut j = i + 1;
                while let Some(t) = args.get(j).filter(|a| a.is_option()).and_then(Arg::text) {
                    j += 1;
                    let short_c = !t.starts_with("--") && t[1..].contains('c');
                    if short_c || t == "--command" {
                        if let Some(cmd) = args.get(j).and_then(Arg::text) {
                            nested.push(cmd.to_owned());
                        }
                        return (args.len(), nested);
                    }
                    if ["-o", "+o", "-O", "+O", "--rcfile", "--init-file"].contains(&t) {
                        j += 1;
                    }
                }
                break;
            }
            "su" => {
                let mut j = i + 1;
                while let Some(t) = args.get(j).and_then(Arg::text) {
                    j += 1;
                    if t == "-c" || t == "--command" {
                        if let Some(cmd) = args.get(j).and_then(Arg::text) {
                            nested.push(cmd.to_owned());
                        }
                        return (args.len(), nested);
                    }
                    if let Some(cmd) = t.strip_prefix("--command=") {
                        nested.push(cmd.to_owned());
                        return (args.len(), nested);
                    }
                }
                break;
            }
            "eval" => {
                let words: Vec<&str> = args[i + 1..].iter().filter_map(Arg::text).collect();
                nested.push(words.join(" "));
                return (args.len(), nested);
            }
            _ => break,
        }
    }
    (i, nested)
}

/// The operands of `args` (options skipped; `valued` options take the next word, whose
/// value is returned with the option's name), stopping option parsing at `--`.
fn operands<'a>(args: &'a [Arg], valued: &[&str]) -> (Vec<&'a Arg>, Vec<(&'a str, &'a Arg)>) {
    let mut ops = Vec::new();
    let mut values = Vec::new();
    let mut i = 0;
    let mut options_done = false;
    while let Some(arg) = args.get(i) {
        i += 1;
        if options_done || !arg.is_option() {
            ops.push(arg);
            continue;
        }
        let t = arg.text().unwrap_or_default();
        if t == "--" {
            options_done = true;
            continue;
        }
        if valued.contains(&t) {
            if let Some(v) = args.get(i) {
                values.push((t, v));
                i += 1;
            }
        }
    }
    (ops, values)
}

/// Whether a short-option cluster (`-rf`) or a long option in `args` is one of `short`
/// letters / `long` names.
fn has_flag(args: &[Arg], short: &[char], long: &[&str]) -> bool {
    args.iter().filter_map(Arg::text).take_while(|t| *t != "--").any(|t| {
        if let Some(name) = t.strip_prefix("--") {
            long.iter().any(|l| name == *l || name.starts_with(&format!("{l}=")))
        } else if let Some(cluster) = t.strip_prefix('-') {
            cluster.chars().all(|c| c.is_ascii_alphanumeric()) && cluster.chars().any(|c| short.contains(&c))
        } else {
            false
        }
    })
}

fn writes_of(name: &str, args: &[Arg], cwd: &Option<PathBuf>, out: &mut Vec<Target>) {
    macro_rules! add {
        ($arg:expr, $recursive:expr) => {
            if let Some(loc) = locate(&$arg.value, cwd) {
                out.push(Target { loc, recursive: $recursive });
            }
        };
    }
    match name {
        "rm" | "unlink" | "rmdir" | "shred" | "trash" | "trash-put" | "srm" => {
            let recursive = name != "unlink" && has_flag(args, &['r', 'R'], &["recursive"]);
            for a in operands(args, &[]).0 {
                add!(a, recursive);
            }
        }
        "mv" => {
            let (ops, values) = operands(args, &["-t", "--target-directory", "-S", "--suffix"]);
            for a in &ops {
                add!(a, true);
            }
            for (_, v) in values.iter().filter(|(o, _)| o.starts_with("-t") || o.starts_with("--target")) {
                add!(v, false);
            }
        }
        "cp" | "install" | "rsync" | "scp" | "ln" => {
            let valued: &[&str] = match name {
                "install" => {
                    &["-t", "--target-directory", "-m", "--mode", "-o", "--owner", "-g", "--group", "-S"]
                }
                "rsync" => &["-e", "--rsh", "--exclude", "--include", "--filter", "-f", "--files-from", "-T"],
                "scp" => &["-P", "-i", "-o", "-F", "-c", "-l", "-J", "-S"],
                _ => &["-t", "--target-directory", "-S", "--suffix"],
            };
            let (ops, values) = operands(args, valued);
            let target_dir: Vec<&Arg> = values
                .iter()
                .filter(|(o, _)| ["-t", "--target-directory"].contains(o))
                .map(|(_, v)| *v)
                .collect();
            let directories = name == "install" && has_flag(args, &['d'], &["directory"]);
            let delete =
                name == "rsync" && args.iter().filter_map(Arg::text).any(|t| t.starts_with("--delete"));
            if directories {
                ops.iter().for_each(|a| add!(a, false));
            } else if let Some(dir) = target_dir.first() {
                add!(dir, delete);
            } else if ops.len() >= 2 {
                add!(ops[ops.len() - 1], delete);
            } else if name == "ln" && ops.len() == 1 {
                // `ln -s /x`: the link is `./x`.
                if let (Some(text), Some(c)) = (ops[0].text(), cwd) {
                    if let Some(base) = Path::new(text).file_name() {
                        out.push(Target { loc: Loc::Path(c.join(base)), recursive: false });
                    }
                }
            }
            if name == "ln" {
                // A link to a protected place (or a parent of one) leads into it.
                let sources =
                    if target_dir.is_empty() { ops.len().saturating_sub(1).max(1) } else { ops.len() };
                for a in ops.iter().take(sources) {
                    add!(a, true);
                }
            }
        }
        "tee" => operands(args, &[]).0.into_iter().for_each(|a| add!(a, false)),
        "touch" => operands(args, &["-r", "-d", "-t", "--reference", "--date"])
            .0
            .into_iter()
            .for_each(|a| add!(a, false)),
        "truncate" => {
            operands(args, &["-s", "-r", "--size", "--reference"]).0.into_iter().for_each(|a| add!(a, false))
        }
        "mkdir" | "mkfifo" | "mknod" => {
            let ops = operands(args, &["-m", "--mode", "-Z", "--context"]).0;
            let ops = if name == "mknod" { &ops[..ops.len().min(1)] } else { &ops[..] };
            ops.iter().for_each(|a| add!(a, false));
        }
        "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" => {
            let recursive = has_flag(args, &['R'], &["recursive"]);
            let by_reference = args.iter().filter_map(Arg::text).any(|t| t.starts_with("--reference"));
            let valued: &[&str] =
                if name == "setfacl" { &["-m", "-x", "-M", "-X", "--modify", "--remove"] } else { &[] };
            let (ops, _) = operands(args, valued);
            let skip = usize::from(!by_reference && name != "setfacl");
            ops.into_iter().skip(skip).for_each(|a| add!(a, recursive));
        }
        "sed" | "perl" | "ruby" => {
            let in_place = args.iter().filter_map(Arg::text).any(|t| {
                t == "--in-place"
                    || t.starts_with("--in-place=")
                    || t.starts_with("-i")
                    || (t.starts_with('-')
                        && !t.starts_with("--")
                        && t[1..].chars().all(|c| c.is_ascii_alphabetic())
                        && t.contains('i'))
            });
            if !in_place {
                return;
            }
            let valued: &[&str] = match name {
                "sed" => &["-e", "-f", "--expression", "--file", "-l", "--line-length"],
                _ => &["-e", "-E", "-I", "-M", "-r"],
            };
            let (ops, values) = operands(args, valued);
            let has_script =
                values.iter().any(|(o, _)| ["-e", "-E", "-f", "--expression", "--file"].contains(o));
            ops.into_iter().skip(usize::from(!has_script)).for_each(|a| add!(a, false));
        }
        "dd" => {
            for path in args.iter().filter_map(Arg::text).filter_map(|t| t.strip_prefix("of=")) {
                if let Some(loc) = locate(&Value::Known(path.to_owned()), cwd) {
                    out.push(Target { loc, recursive: false });
                }
            }
        }
        "curl" | "wget" => {
            let valued: &[&str] = if name == "curl" {
                &["-o", "--output", "--output-dir"]
            } else {
                &[
                    "-O",
                    "--output-document",
                    "-P",
                    "--directory-prefix",
                    "-o",
                    "--output-file",
                    "-a",
                    "--append-output",
                ]
            };
            for (_, v) in operands(args, valued).1 {
                add!(v, false);
            }
            for t in args.iter().filter_map(Arg::text) {
                for prefix in ["--output=", "--output-dir=", "--output-document=", "--directory-prefix="] {
                    if let Some(p) = t.strip_prefix(prefix) {
                        if let Some(loc) = locate(&Value::Known(p.to_owned()), cwd) {
                            out.push(Target { loc, recursive: false });
                        }
                    }
                }
            }
        }
        "tar" | "bsdtar" | "gtar" => {
            let first = args.first().and_then(Arg::text).unwrap_or_default();
            let bundled = !first.starts_with('-') && first.chars().all(|c| c.is_ascii_alphabetic());
            let extract = (bundled && first.contains('x')) || has_flag(args, &['x'], &["extract", "get"]);
            let create = (bundled && (first.contains('c') || first.contains('r') || first.contains('u')))
                || has_flag(args, &['c', 'r', 'u'], &["create", "append", "update"]);
            let (_, values) = operands(args, &["-C", "--directory", "-f", "--file"]);
            let mut dir = false;
            for (o, v) in &values {
                if ["-C", "--directory"].contains(o) && extract {
                    add!(v, false);
                    dir = true;
                }
                if ["-f", "--file"].contains(o) && create {
                    add!(v, false);
                }
            }
            for t in args.iter().filter_map(Arg::text) {
                if let Some(d) = t.strip_prefix("--directory=") {
                    if extract {
                        if let Some(loc) = locate(&Value::Known(d.to_owned()), cwd) {
                            out.push(Target { loc, recursive: false });
                            dir = true;
                        }
                    }
                }
            }
            if extract && !dir {
                if let Some(c) = cwd {
                    out.push(Target { loc: Loc::Path(c.clone()), recursive: false });
                }
            }
        }
        "unzip" => {
            let (_, values) = operands(args, &["-d", "-x", "-P"]);
            match values.iter().find(|(o, _)| *o == "-d") {
                Some((_, v)) => add!(v, false),
                None => {
                    if let Some(c) = cwd {
                        out.push(Target { loc: Loc::Path(c.clone()), recursive: false });
                    }
                }
            }
        }
        "find" => {
            let texts: Vec<&str> = args.iter().filter_map(Arg::text).collect();
            let writer = |t: &str| {
                [
                    "rm", "mv", "shred", "unlink", "rmdir", "chmod", "chown", "chgrp", "truncate", "tee",
                    "sed", "perl", "cp", "ln", "touch",
                ]
                .contains(&program_name(t).as_str())
            };
            let deletes = texts.contains(&"-delete")
                || texts
                    .windows(2)
                    .any(|w| ["-exec", "-execdir", "-ok", "-okdir"].contains(&w[0]) && writer(w[1]));
            if deletes {
                for a in args
                    .iter()
                    .take_while(|a| a.text().is_none_or(|t| !(t.starts_with('-') || t == "(" || t == "!")))
                {
                    add!(a, true);
                }
            }
        }
        "ed" | "ex" | "vi" | "vim" | "nvim" | "nano" | "pico" | "emacs" | "micro" | "joe" => {
            operands(args, &["-c", "-S", "-u", "-i", "--cmd"])
                .0
                .into_iter()
                .filter(|a| a.text().is_none_or(|t| !t.starts_with('+')))
                .for_each(|a| add!(a, false));
        }
        _ => {}
    }
}

/// Top-level directories whose removal breaks the system.
const SYSTEM_DIRS: &[&str] = &[
    "bin",
    "boot",
    "dev",
    "etc",
    "home",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "opt",
    "proc",
    "root",
    "run",
    "sbin",
    "srv",
    "sys",
    "usr",
    "var",
    "Users",
    "System",
    "Library",
    "Applications",
    "private",
    "Volumes",
    "nix",
];

/// Whether wiping `p` (recursively) wipes the system or the user's home: `/`, `/*`, a
/// top-level system directory, the home, everything in it, or a parent of it.
fn catastrophic(p: &Path, home: &Path) -> bool {
    let comps: Vec<String> = names(p);
    let home_comps = names(home);
    if comps.is_empty() {
        return true;
    }
    if comps.len() == 1 && (SYSTEM_DIRS.contains(&comps[0].as_str()) || is_everything(&comps[0])) {
        return true;
    }
    if !home_comps.is_empty() && comps.len() <= home_comps.len() && home_comps.starts_with(&comps) {
        return true;
    }
    comps.len() == home_comps.len() + 1
        && !home_comps.is_empty()
        && comps.starts_with(&home_comps)
        && is_everything(&comps[comps.len() - 1])
}

/// `*`, `.*`, `*.*`: a glob that names everything in a directory.
fn is_everything(name: &str) -> bool {
    name.contains('*') && name.chars().all(|c| c == '*' || c == '.')
}

/// The normal components of `p`, as text.
pub(crate) fn names(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

fn destructive(name: &str, args: &[Arg], env: &ShellEnv<'_>, cwd: &Option<PathBuf>) -> Option<String> {
    let wiped = |ops: Vec<&Arg>| {
        ops.into_iter().find_map(|a| match locate(&a.value, cwd) {
            Some(Loc::Path(p)) if catastrophic(&p, env.home) => Some(p),
            _ => None,
        })
    };
    match name {
        "rm" => {
            if args.iter().filter_map(Arg::text).any(|t| t == "--no-preserve-root") {
                return Some("rm --no-preserve-root".into());
            }
            if !has_flag(args, &['r', 'R'], &["recursive"]) {
                return None;
            }
            wiped(operands(args, &[]).0).map(|p| format!("recursive rm of {}", p.display()))
        }
        "chmod" | "chown" | "chgrp" => {
            if !has_flag(args, &['R'], &["recursive"]) {
                return None;
            }
            let ops = operands(args, &[]).0;
            wiped(ops.into_iter().skip(1).collect()).map(|p| format!("recursive {name} of {}", p.display()))
        }
        "mv" => wiped(
            operands(args, &["-t", "--target-directory", "-S", "--suffix"])
                .0
                .into_iter()
                .rev()
                .skip(1)
                .collect(),
        )
        .map(|p| format!("mv of {}", p.display())),
        "find" => {
            let texts: Vec<&str> = args.iter().filter_map(Arg::text).collect();
            let deletes = texts.contains(&"-delete")
                || texts
                    .windows(2)
                    .any(|w| ["-exec", "-execdir"].contains(&w[0]) && program_name(w[1]) == "rm");
            if !deletes {
                return None;
            }
            let starts: Vec<&Arg> = args
                .iter()
                .take_while(|a| a.text().is_none_or(|t| !(t.starts_with('-') || t == "(" || t == "!")))
                .collect();
            wiped(starts).map(|p| format!("find -delete over {}", p.display()))
        }
        "dd" => args.iter().filter_map(Arg::text).find_map(|t| {
            let dev = t.strip_prefix("of=/dev/")?;
            ["sd", "hd", "nvme", "disk", "rdisk", "vd", "xvd", "mmcblk"]
                .iter()
                .any(|d| dev.starts_with(d))
                .then(|| format!("dd onto /dev/{dev}"))
        }),
        n if n.starts_with("mkfs") => Some(format!("{n} (formats a filesystem)")),
        _ => None,
    }
}
