//! The settings in force for a running process, and the two ways they change: an update
//! (the `settings.update` RPC method) and an edit of the file on disk (hot reload).
//!
//! Readers take a snapshot with [`SettingsHandle::current`] when they start a unit of work
//! (a prompt, a connection), so every prompt runs on one consistent version and the next
//! prompt sees the new one. A change that does not load (bad JSON, a wrong type) is reported
//! and the last good settings stay in force; the file is never rewritten to "fix" it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::check::first_mismatch;
use super::files::write_atomic;
use super::load::{deep_merge, defaults, read_file, Settings, SettingsError, Sources};

/// How long the file must stay quiet after a change before it is read (editors write a
/// file in several steps).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Why `settings.update` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The patch is not a JSON object.
    #[error("settings must be an object")]
    NotAnObject,
    /// The patch, merged into the file, would not load.
    #[error("{0}")]
    Invalid(SettingsError),
    /// The file on disk is unreadable or broken; it is left for the user to fix.
    #[error("{0}")]
    File(SettingsError),
    /// Writing the file failed.
    #[error("cannot write the settings file {}: {source}", file.display())]
    Write {
        /// The settings file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The live settings of one process.
pub struct SettingsHandle {
    sources: Sources,
    current: watch::Sender<Arc<Settings>>,
    /// Serialises updates and reloads, so two updates never merge into the same old file.
    writing: Mutex<()>,
}

impl std::fmt::Debug for SettingsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsHandle").field("sources", &self.sources).finish_non_exhaustive()
    }
}

impl SettingsHandle {
    /// Loads the settings; a broken file is an error here (there is nothing to fall back on
    /// but silence, and silently ignoring a user's settings is worse than saying so).
    pub fn load(sources: Sources) -> Result<Arc<Self>, SettingsError> {
        let settings = Settings::load(&sources)?;
        Ok(Self::with(sources, settings))
    }

    /// A handle over settings already loaded from `sources`.
    pub fn with(sources: Sources, settings: Settings) -> Arc<Self> {
        let (current, _) = watch::channel(Arc::new(settings));
        Arc::new(Self { sources, current, writing: Mutex::new(()) })
    }

    /// The compiled defaults, with no file behind them (tests, tools used as a library).
    pub fn defaults() -> Arc<Self> {
        Self::with(Sources::file_only(PathBuf::new()), Settings::defaults())
    }

    /// The settings in force now.
    pub fn current(&self) -> Arc<Settings> {
        Arc::clone(&self.current.borrow())
    }

    /// Notified whenever the settings in force change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Settings>> {
        self.current.subscribe()
    }

    /// The settings file.
    pub fn file(&self) -> &std::path::Path {
        &self.sources.file
    }

    /// Reads every layer again. Returns whether anything changed; on error the settings in
    /// force stay as they were.
    pub fn reload(&self) -> Result<bool, SettingsError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let settings = Settings::load(&self.sources)?;
        Ok(self.current.send_if_modified(|current| {
            let changed = **current != settings;
            if changed {
                *current = Arc::new(settings);
            }
            changed
        }))
    }

    /// Deep-merges `patch` into the settings file (keys this version does not know are
    /// kept), checks the result, writes it atomically and puts it in force. Nothing is
    /// written when any step fails.
    pub fn update(&self, patch: &Value) -> Result<Arc<Settings>, UpdateError> {
        if !patch.is_object() {
            return Err(UpdateError::NotAnObject);
        }
        if let Some(mismatch) = first_mismatch(defaults(), patch) {
            let origin = "settings.update".to_owned();
            return Err(UpdateError::Invalid(SettingsError::Type { origin, line: None, mismatch }));
        }
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let file = &self.sources.file;
        let mut merged = match read_file(file).map_err(UpdateError::File)? {
            Some((value, _)) => value,
            None => Value::Object(Map::new()),
        };
        deep_merge(&mut merged, patch);
        let text = format!("{}\n", serde_json::to_string_pretty(&merged).expect("JSON values serialise"));
        let settings =
            Settings::merge(&self.sources, Some((&merged, text.as_str()))).map_err(UpdateError::Invalid)?;
        write_atomic(file, text.as_bytes(), None)
            .map_err(|source| UpdateError::Write { file: file.clone(), source })?;
        let settings = Arc::new(settings);
        self.current.send_replace(Arc::clone(&settings));
        Ok(settings)
    }

    /// Watches the settings file: a change (an edit, a new file, a rename over it) is read
    /// after [`DEBOUNCE`] of quiet and, when it loads, put in force. Stops when the returned
    /// watcher is dropped.
    pub fn watch(self: &Arc<Self>) -> Result<SettingsWatcher, notify::Error> {
        use notify::{RecursiveMode, Watcher};
        let file = self.sources.file.clone();
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = file.file_name().map(|n| n.to_owned());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.paths.iter().any(|p| p.file_name() == name.as_deref()) {
                let _ = tx.send(());
            }
        })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let handle = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("tron-settings-watch".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    while rx.recv_timeout(DEBOUNCE).is_ok() {}
                    let Some(handle) = handle.upgrade() else { return };
                    match handle.reload() {
                        Ok(true) => tracing::info!(
                            component = "settings",
                            "settings reloaded from {}",
                            file.display()
                        ),
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(component = "settings", "{e}; the previous settings stay in force")
                        }
                    }
                }
            })
            .map_err(notify::Error::io)?;
        Ok(SettingsWatcher { _watcher: watcher })
    }
}

/// Keeps the file watch of [`SettingsHandle::watch`] alive.
pub struct SettingsWatcher {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for SettingsWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettingsWatcher")
    }
}
