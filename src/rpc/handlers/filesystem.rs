//! `filesystem.listDir`, `filesystem.getHome`, `filesystem.createDir` and `file.read`: what
//! the iOS app uses to pick a working directory and to show a file. Disk work runs on the
//! blocking pool.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::core::errors::{RpcError, RpcErrorCode};
use crate::rpc::params::{opt_bool, opt_str, required_str, Params};
use crate::rpc::ServerState;

/// Folders under home the app offers as starting points (when they exist), as the
/// TypeScript server offers them.
const SUGGESTED: &[(&str, &str)] = &[
    ("Desktop", "Desktop"),
    ("Documents", "Documents"),
    ("Downloads", "Downloads"),
    ("Projects", "projects"),
    ("Code", "code"),
    ("Development", "Development"),
    ("dev", "dev"),
    ("src", "src"),
    ("workspace", "workspace"),
    ("work", "work"),
];

fn home(state: &ServerState) -> PathBuf {
    (state.env)("HOME").filter(|h| !h.is_empty()).map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| RpcError::internal(e.to_string()))?
}

/// `/a/./b/../c` -> `/a/c`, without touching the disk; relative paths resolve against `base`.
fn normalize(base: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `filesystem.listDir {path?, showHidden?}` -> `{path, parent, entries: [{name, path,
/// isDirectory, isSymlink, size?, modifiedAt?}]}`: directories first, then by name
/// (case-insensitive); hidden entries only with `showHidden`; `path` defaults to home.
pub async fn list_dir(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let home = home(state);
    let target = match opt_str(p, "path")?.filter(|s| !s.is_empty()) {
        Some(path) => normalize(&home, Path::new(path)),
        None => home,
    };
    let show_hidden = opt_bool(p, "showHidden")?.unwrap_or(false);
    blocking(move || {
        let fs_error = |e: std::io::Error| {
            RpcError::new(RpcErrorCode::FilesystemError, format!("{}: {e}", target.display()))
        };
        let mut entries = Vec::new();
        for dirent in std::fs::read_dir(&target).map_err(fs_error)? {
            let Ok(dirent) = dirent else { continue };
            let name = dirent.file_name().to_string_lossy().into_owned();
            if !show_hidden && name.starts_with('.') {
                continue;
            }
            let path = target.join(&name);
            let kind = dirent.file_type().ok();
            let is_symlink = kind.is_some_and(|k| k.is_symlink());
            let is_directory =
                std::fs::metadata(&path).map_or(kind.is_some_and(|k| k.is_dir()), |m| m.is_dir());
            let mut entry = json!({
                "name": name,
                "path": path.display().to_string(),
                "isDirectory": is_directory,
                "isSymlink": is_symlink,
            });
            if !is_directory {
                if let Ok(meta) = std::fs::metadata(&path) {
                    entry["size"] = json!(meta.len());
                    if let Ok(modified) = meta.modified() {
                        let at: chrono::DateTime<chrono::Utc> = modified.into();
                        entry["modifiedAt"] = json!(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
                    }
                }
            }
            entries.push(entry);
        }
        entries.sort_by_cached_key(|e| {
            (!e["isDirectory"].as_bool().unwrap_or(false), e["name"].as_str().unwrap_or("").to_lowercase())
        });
        let parent = target.parent().map(|p| p.display().to_string());
        Ok(json!({ "path": target.display().to_string(), "parent": parent, "entries": entries }))
    })
    .await
}

/// `filesystem.getHome` -> `{homePath, suggestedPaths: [{name, path, exists}]}`: home first,
/// then the usual project folders that exist.
pub async fn get_home(state: &Arc<ServerState>) -> Result<Value, RpcError> {
    let home = home(state);
    blocking(move || {
        let mut suggested =
            vec![json!({"name": "Home", "path": home.display().to_string(), "exists": home.is_dir()})];
        for (name, dir) in SUGGESTED {
            let path = home.join(dir);
            if path.is_dir() {
                suggested.push(json!({"name": name, "path": path.display().to_string(), "exists": true}));
            }
        }
        Ok(json!({ "homePath": home.display().to_string(), "suggestedPaths": suggested }))
    })
    .await
}

/// `filesystem.createDir {path, recursive?}` -> `{created: true, path}`. Refused: `..` in
/// the path, a hidden or empty folder name, reserved characters; an existing path is
/// `ALREADY_EXISTS` (a directory) or `INVALID_PATH` (something else); a missing parent
/// without `recursive` is `FILE_NOT_FOUND`.
pub async fn create_dir(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let input = required_str(p, "path")?.trim().to_owned();
    let recursive = opt_bool(p, "recursive")?.unwrap_or(false);
    if input.is_empty() {
        return Err(RpcError::invalid_params("path is required"));
    }
    if input.contains("..") {
        return Err(RpcError::invalid_params("Path traversal not allowed"));
    }
    let path = normalize(&home(state), Path::new(&input));
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(RpcError::invalid_params("Invalid folder name"));
    };
    if name.starts_with('.') {
        return Err(RpcError::invalid_params("Hidden folders not allowed"));
    }
    if name.chars().any(|c| "<>:\"|?*".contains(c) || (c as u32) < 0x20) {
        return Err(RpcError::invalid_params("Folder name contains invalid characters"));
    }
    blocking(move || {
        if let Ok(meta) = std::fs::metadata(&path) {
            return Err(match meta.is_dir() {
                true => RpcError::new(RpcErrorCode::AlreadyExists, "Directory already exists"),
                false => RpcError::new(RpcErrorCode::InvalidPath, "Path exists but is not a directory"),
            });
        }
        let made = if recursive { std::fs::create_dir_all(&path) } else { std::fs::create_dir(&path) };
        made.map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                RpcError::new(RpcErrorCode::PermissionDenied, "Permission denied")
            }
            std::io::ErrorKind::NotFound => {
                RpcError::new(RpcErrorCode::FileNotFound, "Parent directory does not exist")
            }
            std::io::ErrorKind::AlreadyExists => {
                RpcError::new(RpcErrorCode::AlreadyExists, "Directory already exists")
            }
            _ => RpcError::new(RpcErrorCode::FilesystemError, e.to_string()),
        })?;
        Ok(json!({ "created": true, "path": path.display().to_string() }))
    })
    .await
}

/// `file.read {path}` -> `{content}` (UTF-8 text), for files inside the home directory only
/// (checked on the resolved path, so `..` and symlinks cannot leave it).
pub async fn read_file(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let requested = PathBuf::from(required_str(p, "path")?);
    let home = home(state);
    blocking(move || {
        let denied =
            || RpcError::new(RpcErrorCode::PermissionDenied, "Can only read files within home directory");
        let lexical = normalize(&home, &requested);
        if !lexical.starts_with(&home) {
            return Err(denied());
        }
        let resolved = match lexical.canonicalize() {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RpcError::new(
                    RpcErrorCode::FileNotFound,
                    format!("File not found: {}", lexical.display()),
                ));
            }
            Err(e) => return Err(RpcError::new(RpcErrorCode::FileError, e.to_string())),
        };
        if !resolved.starts_with(home.canonicalize().unwrap_or(home)) {
            return Err(denied());
        }
        let content = std::fs::read_to_string(&resolved)
            .map_err(|e| RpcError::new(RpcErrorCode::FileError, format!("{}: {e}", resolved.display())))?;
        Ok(json!({ "content": content }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::{Path, PathBuf};

    #[test]
    fn normalizing_resolves_dots_without_the_disk() {
        let home = Path::new("/home/u");
        assert_eq!(normalize(home, Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(home, Path::new("src")), PathBuf::from("/home/u/src"));
        assert_eq!(normalize(home, Path::new("/../..")), PathBuf::from("/"));
        assert!(!normalize(home, Path::new("/home/u/../u2/x")).starts_with(home));
    }
}
