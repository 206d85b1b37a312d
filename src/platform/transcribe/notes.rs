//! Voice notes, stored as upstream stores them: one Markdown file per note in
//! `<data dir>/notes`, named `YYYY-MM-DD-HHMMSS-voice-note.md`, with a front matter
//! (`type: voice-note`, `created`, `duration`, `language`, `model`), a `# Voice Note - <date>
//! at <time>` heading and the transcript. (Upstream keeps the transcript, not the audio.)
//! Listing reads them newest first; deleting takes a bare file name inside that directory.
//! Files are written whole (temporary file, then rename), so a note is never half there.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Transcript;

/// The notes directory under the data dir.
pub fn notes_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("notes")
}

/// A note as `voiceNotes.list` reports it (upstream's `VoiceNoteMetadata`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteMetadata {
    pub filename: String,
    pub filepath: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub preview: String,
    pub transcript: String,
}

/// Why a note could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// Not a bare file name (a path, `..`, empty).
    #[error("Invalid filename")]
    Invalid,
    /// No such note.
    #[error("Voice note not found: {0}")]
    NotFound(String),
    /// The filesystem refused.
    #[error("deleting voice note {path} failed: {source}")]
    Io { path: String, source: io::Error },
}

/// Saves a note for `t`; returns (file name, full path).
pub fn save(dir: &Path, t: &Transcript) -> io::Result<(String, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let now_utc = chrono::Utc::now();
    let local = now_utc.with_timezone(&chrono::Local);
    let stem = local.format("%Y-%m-%d-%H%M%S").to_string();
    let mut filename = format!("{stem}-voice-note.md");
    let mut n = 2;
    while dir.join(&filename).exists() {
        filename = format!("{stem}-voice-note-{n}.md");
        n += 1;
    }
    let content = format!(
        "---\ntype: voice-note\ncreated: {}\nduration: {}\nlanguage: {}\nmodel: {}\n---\n\n# Voice Note - {} at {}\n\n{}\n",
        now_utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.duration_seconds,
        t.language,
        t.model,
        local.format("%B %-d, %Y"),
        local.format("%-I:%M %p"),
        t.text
    );
    let path = dir.join(&filename);
    let tmp = dir.join(format!(".{filename}.tmp"));
    std::fs::write(&tmp, content)?;
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok((filename, path))
}

/// The notes, newest first: `limit` of them from `offset`, the total, and whether more follow.
/// A missing directory holds none; unreadable files are skipped.
pub fn list(dir: &Path, limit: usize, offset: usize) -> io::Result<(Vec<NoteMetadata>, usize, bool)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0, false)),
        Err(e) => return Err(e),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".md") && !n.starts_with('.'))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let total = names.len();
    let notes = names
        .iter()
        .skip(offset)
        .take(limit)
        .filter_map(|name| {
            let path = dir.join(name);
            let content = std::fs::read_to_string(&path).ok()?;
            Some(parse(name, &path.display().to_string(), &content))
        })
        .collect();
    Ok((notes, total, offset.saturating_add(limit) < total))
}

/// Reads a note's front matter and transcript (upstream's parser: the transcript is every
/// non-empty line outside the front matter that is not a heading).
pub fn parse(filename: &str, filepath: &str, content: &str) -> NoteMetadata {
    let mut created_at = String::new();
    let mut duration_seconds = None;
    let mut language = None;
    if let Some(front) =
        content.strip_prefix("---\n").and_then(|rest| rest.split_once("\n---").map(|(f, _)| f))
    {
        for line in front.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match key.trim() {
                "created" => created_at = value.to_owned(),
                "duration" => duration_seconds = value.parse::<f64>().ok(),
                "language" => {
                    let word: String =
                        value.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    language = (!word.is_empty()).then_some(word);
                }
                _ => {}
            }
        }
    }
    let mut in_front = false;
    let mut lines = Vec::new();
    for line in content.split('\n') {
        if line == "---" {
            in_front = !in_front;
            continue;
        }
        if in_front || line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        lines.push(line.trim());
    }
    let transcript = lines.join("\n");
    let preview = transcript.chars().take(100).collect();
    NoteMetadata {
        filename: filename.to_owned(),
        filepath: filepath.to_owned(),
        created_at,
        duration_seconds,
        language,
        preview,
        transcript,
    }
}

/// Deletes the note `filename` (a bare file name in `dir`).
pub fn delete(dir: &Path, filename: &str) -> Result<PathBuf, DeleteError> {
    let bare = !filename.is_empty()
        && filename != "."
        && filename != ".."
        && !filename.contains(['/', '\\', '\0'])
        && Path::new(filename).file_name().is_some_and(|n| n == filename);
    if !bare {
        return Err(DeleteError::Invalid);
    }
    let path = dir.join(filename);
    if !path.is_file() {
        return Err(DeleteError::NotFound(filename.to_owned()));
    }
    std::fs::remove_file(&path)
        .map_err(|source| DeleteError::Io { path: path.display().to_string(), source })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(text: &str) -> Transcript {
        Transcript {
            text: text.into(),
            raw_text: text.into(),
            language: "en".into(),
            duration_seconds: 12.5,
            processing_time_ms: 10,
            model: "m".into(),
            device: "cpu".into(),
            compute_type: "int8".into(),
            cleanup_mode: "basic".into(),
        }
    }

    #[test]
    fn saved_notes_list_newest_first_and_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = notes_dir(dir.path());
        assert_eq!(list(&d, 50, 0).unwrap().1, 0);
        let (a, _) = save(&d, &transcript("first note")).unwrap();
        let (b, path) = save(&d, &transcript("second note")).unwrap();
        assert_ne!(a, b);
        assert!(path.is_file());
        let (notes, total, more) = list(&d, 1, 0).unwrap();
        assert_eq!((total, more), (2, true));
        assert_eq!(notes[0].filename, std::cmp::max(a.clone(), b.clone()));
        let all = list(&d, 50, 0).unwrap().0;
        let first = all.iter().find(|n| n.filename == a).unwrap();
        assert_eq!(first.transcript, "first note");
        assert_eq!((first.duration_seconds, first.language.as_deref()), (Some(12.5), Some("en")));
        assert!(first.created_at.ends_with('Z'));
    }

    #[test]
    fn deleting_refuses_paths_and_missing_notes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.md"), "x").unwrap();
        let notes = dir.path().join("notes");
        std::fs::create_dir(&notes).unwrap();
        for bad in ["../keep.md", "", "..", "a/b.md"] {
            assert!(matches!(delete(&notes, bad), Err(DeleteError::Invalid)), "{bad}");
        }
        assert!(matches!(delete(&notes, "none.md"), Err(DeleteError::NotFound(_))));
        assert!(dir.path().join("keep.md").exists());
    }
}
