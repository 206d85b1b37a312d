//! The canvas store: the UI canvases `RenderAppUI` rendered, kept on disk so that a client
//! can fetch one later (`canvas.get`) and so that they can be exported.
//!
//! Owns: the file layout (as the TypeScript server keeps it: one pretty-printed JSON file per
//! canvas, `<data dir>/artifacts/canvases/<canvasId>.json`, holding `{canvasId, sessionId,
//! title?, ui, state?, savedAt}`), canvas id checks (an id never escapes the folder), and the
//! exports in [`export`] (JSON, Markdown) and [`pdf`] (a small PDF writer of our own).
//! Must not: speak the wire (rpc/ shapes results) or run on the async runtime: every method
//! here does blocking file work, callers use `spawn_blocking`.

pub mod export;
pub mod pdf;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One rendered canvas, as persisted (the TypeScript server's `CanvasArtifact`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanvasArtifact {
    /// The canvas id (also the file name).
    pub canvas_id: String,
    /// The session whose `RenderAppUI` call rendered it.
    pub session_id: String,
    /// The sheet title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The component tree (`{$tag, $props?, $children?}`).
    pub ui: Map<String, Value>,
    /// Initial values of bound controls, by binding id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Map<String, Value>>,
    /// When it was saved (ISO 8601).
    pub saved_at: String,
}

/// Why a canvas could not be saved, read or deleted.
#[derive(Debug, thiserror::Error)]
pub enum CanvasError {
    /// The id is empty, too long, or has characters other than letters, digits, `-`, `_`
    /// and `.` (or starts with `.`).
    #[error("invalid canvas id {0:?}: use 1-128 letters, digits, '-', '_' or '.', not starting with '.'")]
    InvalidId(String),
    /// The file system refused.
    #[error("canvas file {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A canvas file is not a canvas.
    #[error("canvas file {path} is not a valid canvas ({message}); fix or delete it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Whether `id` may name a canvas file.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The canvases folder of a data dir.
#[derive(Debug, Clone)]
pub struct CanvasStore {
    dir: PathBuf,
}

impl CanvasStore {
    /// The store of `data_dir` (`<data_dir>/artifacts/canvases`; created on the first save).
    pub fn new(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("artifacts").join("canvases") }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> Result<PathBuf, CanvasError> {
        if !valid_id(id) {
            return Err(CanvasError::InvalidId(id.to_owned()));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }

    /// Saves `canvas` (replacing an earlier canvas with its id), atomically: a reader never
    /// sees half a file.
    pub fn save(&self, canvas: &CanvasArtifact) -> Result<(), CanvasError> {
        let path = self.path(&canvas.canvas_id)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CanvasError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let text = serde_json::to_string_pretty(canvas).expect("a canvas serializes");
        let tmp = self.dir.join(format!(".{}.{}.tmp", canvas.canvas_id, std::process::id()));
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CanvasError::Io { path: path.clone(), source: e }
        })
    }

    /// The canvas `id`; `None` when there is none.
    pub fn load(&self, id: &str) -> Result<Option<CanvasArtifact>, CanvasError> {
        let path = self.path(id)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CanvasError::Io { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| CanvasError::Corrupt { path, message: e.to_string() })
    }

    /// Every saved canvas id, sorted.
    pub fn list(&self) -> Result<Vec<String>, CanvasError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(CanvasError::Io { path: self.dir.clone(), source }),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(str::to_owned))
            .filter(|id| valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Deletes the canvas `id`; whether there was one.
    pub fn delete(&self, id: &str) -> Result<bool, CanvasError> {
        let path = self.path(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(CanvasError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canvas(id: &str) -> CanvasArtifact {
        CanvasArtifact {
            canvas_id: id.into(),
            session_id: "sess_1".into(),
            title: Some("Settings".into()),
            ui: json!({"$tag": "Text", "$children": "hi"}).as_object().unwrap().clone(),
            state: None,
            saved_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn saves_loads_lists_and_deletes_in_the_typescript_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = CanvasStore::new(dir.path());
        assert_eq!(store.load("a").unwrap(), None);
        assert!(store.list().unwrap().is_empty());
        store.save(&canvas("b-1")).unwrap();
        store.save(&canvas("a")).unwrap();
        let file = dir.path().join("artifacts/canvases/a.json");
        let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(on_disk["canvasId"], "a");
        assert_eq!(on_disk["savedAt"], "2026-01-01T00:00:00.000Z");
        assert!(on_disk.get("state").is_none());
        assert_eq!(store.load("a").unwrap(), Some(canvas("a")));
        assert_eq!(store.list().unwrap(), ["a", "b-1"]);
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());
    }

    #[test]
    fn ids_that_could_escape_the_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = CanvasStore::new(dir.path());
        for bad in ["", "../x", "a/b", ".hidden", "a b", &"x".repeat(129)] {
            assert!(matches!(store.load(bad), Err(CanvasError::InvalidId(_))), "{bad}");
            assert!(matches!(store.save(&canvas(bad)), Err(CanvasError::InvalidId(_))), "{bad}");
        }
        assert!(!dir.path().join("artifacts").exists());
    }

    #[test]
    fn a_corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = CanvasStore::new(dir.path());
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(store.dir().join("bad.json"), "{not json").unwrap();
        let e = store.load("bad").unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains("not a valid canvas"), "{e}");
    }
}
