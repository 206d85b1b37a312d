//! Where the model files and the ONNX Runtime library are. Filesystem lookups only.
//!
//! Model directory: `--model-dir`, else `TRON_EMBEDDING_MODEL_DIR`, else
//! `<context.memory.embedding.cacheDir>/<context.memory.embedding.model>` (default
//! `~/.tron/mods/models/onnx-community/Qwen3-Embedding-0.6B-ONNX`, the layout the TypeScript
//! server's transformers.js cache uses). Inside it: the ONNX file for the dtype
//! (`onnx/model_q4.onnx` for `q4`, transformers.js naming; `model.onnx` as the fallback),
//! `tokenizer.json`, and optionally `1_Pooling/config.json` (sentence-transformers) naming the
//! pooling; without it, last-token pooling (Qwen3-Embedding's).
//!
//! ONNX Runtime: `--runtime`, else `TRON_ONNXRUNTIME_PATH`, else `ORT_DYLIB_PATH`, else the
//! first `libonnxruntime` in: the model directory, `<data dir>/mods/onnxruntime`, the Python
//! site-packages of an installed `onnxruntime` wheel (`pip install onnxruntime`), the system
//! library directories.

use std::path::{Path, PathBuf};

use super::error::{EmbedError, Result};
use super::pool::Pooling;
use crate::settings::paths::expand_tilde;
use crate::settings::Settings;

/// The settings key prefix of the embedding settings (shared with the TypeScript server).
pub const SETTINGS_KEY: &str = "context.memory.embedding";

/// Which model to load, before looking at the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The model directory.
    pub dir: PathBuf,
    /// The ONNX dtype (`q4`, `q8`, `fp32`, ...), which picks the file.
    pub dtype: String,
    /// Forced pooling; `None` reads `1_Pooling/config.json` (else last-token).
    pub pooling: Option<Pooling>,
}

/// The model's files, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The model directory.
    pub dir: PathBuf,
    /// The `.onnx` file.
    pub model: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// The pooling the model wants.
    pub pooling: Pooling,
}

impl ModelSpec {
    /// The model the settings name: `<cacheDir>/<model>` with `dtype`.
    pub fn from_settings(settings: &Settings) -> Self {
        let get = |k: &str| {
            settings.get(&format!("{SETTINGS_KEY}.{k}")).and_then(|v| v.as_str()).map(str::to_owned)
        };
        let cache = get("cacheDir").unwrap_or_else(|| "~/.tron/mods/models".into());
        let model = get("model").unwrap_or_else(|| "onnx-community/Qwen3-Embedding-0.6B-ONNX".into());
        Self {
            dir: expand_tilde(Path::new(&cache)).join(model),
            dtype: get("dtype").unwrap_or_else(|| "q4".into()),
            pooling: None,
        }
    }

    /// Finds the files on disk.
    pub fn resolve(&self) -> Result<ModelFiles> {
        let hint = "place the ONNX export there (e.g. onnx/model_q4.onnx and tokenizer.json from \
                    huggingface.co/onnx-community/Qwen3-Embedding-0.6B-ONNX) or pass --model-dir";
        if !self.dir.is_dir() {
            return Err(EmbedError::ModelMissing {
                dir: self.dir.clone(),
                what: "the directory does not exist".into(),
                hint: hint.into(),
            });
        }
        let file = onnx_file_name(&self.dtype);
        let candidates =
            [self.dir.join("onnx").join(&file), self.dir.join(&file), self.dir.join("model.onnx")];
        let model =
            candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| EmbedError::ModelMissing {
                dir: self.dir.clone(),
                what: format!("onnx/{file} (or {file}, model.onnx) is missing"),
                hint: hint.into(),
            })?;
        let tokenizer = self.dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(EmbedError::ModelMissing {
                dir: self.dir.clone(),
                what: "tokenizer.json is missing".into(),
                hint: hint.into(),
            });
        }
        let pooling = match self.pooling {
            Some(p) => p,
            None => pooling_config(&self.dir)?.unwrap_or(Pooling::LastToken),
        };
        Ok(ModelFiles { dir: self.dir.clone(), model, tokenizer, pooling })
    }
}

/// The ONNX file transformers.js loads for a dtype (`q4` -> `model_q4.onnx`).
pub fn onnx_file_name(dtype: &str) -> String {
    let suffix = match dtype {
        "fp32" | "" => "",
        "q8" => "_quantized",
        other => return format!("model_{other}.onnx"),
    };
    format!("model{suffix}.onnx")
}

/// The pooling named by `1_Pooling/config.json`, if the file exists.
fn pooling_config(dir: &Path) -> Result<Option<Pooling>> {
    let path = dir.join("1_Pooling").join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EmbedError::Invalid(format!("cannot read {}: {e}", path.display()))),
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| EmbedError::Invalid(format!("{} is not valid JSON: {e}", path.display())))?;
    let on = |k: &str| v.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
    Ok(if on("pooling_mode_lasttoken") {
        Some(Pooling::LastToken)
    } else if on("pooling_mode_mean_tokens") {
        Some(Pooling::Mean)
    } else if on("pooling_mode_cls_token") {
        Some(Pooling::Cls)
    } else {
        return Err(EmbedError::Invalid(format!(
            "{} names no pooling tron supports (lasttoken, mean_tokens, cls_token); pass --pooling",
            path.display()
        )));
    })
}

/// Finds the ONNX Runtime library. `explicit` is a path given by a flag or variable, with
/// the name of that source; `env` reads environment variables; `dirs` are searched first
/// (the model directory, the data dir's `mods/onnxruntime`).
pub fn find_runtime(
    explicit: Option<(PathBuf, String)>,
    env: &dyn Fn(&str) -> Option<String>,
    dirs: &[PathBuf],
) -> Result<PathBuf> {
    let from_env = ["TRON_ONNXRUNTIME_PATH", "ORT_DYLIB_PATH"]
        .iter()
        .find_map(|k| env(k).filter(|v| !v.is_empty()).map(|v| (PathBuf::from(v), (*k).to_owned())));
    if let Some((path, source_name)) = explicit.or(from_env) {
        return if path.is_file() { Ok(path) } else { Err(EmbedError::RuntimeMissing { path, source_name }) };
    }
    let searched = search_dirs(env, dirs);
    for dir in &searched {
        if let Some(lib) = runtime_in(dir) {
            return Ok(lib);
        }
    }
    Err(EmbedError::RuntimeNotFound { searched })
}

/// Every directory searched for the runtime, in order.
fn search_dirs(env: &dyn Fn(&str) -> Option<String>, first: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = first.to_vec();
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    // Python prefixes whose site-packages may hold the onnxruntime wheel.
    let mut prefixes: Vec<PathBuf> =
        ["VIRTUAL_ENV", "CONDA_PREFIX"].iter().filter_map(|k| env(k).map(PathBuf::from)).collect();
    if let Some(h) = &home {
        prefixes.push(h.join(".local"));
        prefixes.extend(subdirs(&h.join(".pyenv").join("versions")));
    }
    prefixes.extend(["/usr/local", "/usr", "/opt/homebrew"].map(PathBuf::from));
    for prefix in &prefixes {
        for lib in subdirs(&prefix.join("lib")).into_iter().filter(|d| file_name_starts(d, "python3")) {
            for packages in ["site-packages", "dist-packages"] {
                let capi = lib.join(packages).join("onnxruntime").join("capi");
                if capi.is_dir() {
                    out.push(capi);
                }
            }
        }
    }
    out.push(PathBuf::from("/usr/lib/python3/dist-packages/onnxruntime/capi"));
    out.extend(
        [
            "/usr/local/lib",
            "/usr/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/opt/homebrew/lib",
        ]
        .map(PathBuf::from),
    );
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    v.sort();
    v.reverse(); // newest Python first
    v
}

fn file_name_starts(p: &Path, prefix: &str) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix))
}

/// The ONNX Runtime library in `dir`: `libonnxruntime.so*` / `libonnxruntime*.dylib`, never
/// the provider plug-ins; the longest (most specific version) name wins.
pub fn runtime_in(dir: &Path) -> Option<PathBuf> {
    let mut libs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let so = name.starts_with("libonnxruntime.so");
            let dylib = name.starts_with("libonnxruntime.") && name.ends_with(".dylib");
            (so || dylib) && p.is_file()
        })
        .collect();
    libs.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    libs.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn dtype_file_names_follow_transformers_js() {
        assert_eq!(onnx_file_name("q4"), "model_q4.onnx");
        assert_eq!(onnx_file_name("q8"), "model_quantized.onnx");
        assert_eq!(onnx_file_name("fp32"), "model.onnx");
        assert_eq!(onnx_file_name("fp16"), "model_fp16.onnx");
    }

    #[test]
    fn missing_model_dir_names_the_dir() {
        let spec = ModelSpec { dir: "/nonexistent/model".into(), dtype: "q4".into(), pooling: None };
        let e = spec.resolve().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/model") && e.contains("--model-dir"), "{e}");
    }

    #[test]
    fn model_files_and_pooling_config_are_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("onnx")).unwrap();
        std::fs::write(dir.path().join("onnx/model_q4.onnx"), b"x").unwrap();
        let spec = ModelSpec { dir: dir.path().into(), dtype: "q4".into(), pooling: None };
        assert!(spec.resolve().unwrap_err().to_string().contains("tokenizer.json"));
        std::fs::write(dir.path().join("tokenizer.json"), b"{}").unwrap();
        let files = spec.resolve().unwrap();
        assert_eq!(files.model, dir.path().join("onnx/model_q4.onnx"));
        assert_eq!(files.pooling, Pooling::LastToken);
        std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(dir.path().join("1_Pooling/config.json"), br#"{"pooling_mode_mean_tokens": true}"#)
            .unwrap();
        assert_eq!(spec.resolve().unwrap().pooling, Pooling::Mean);
    }

    #[test]
    fn explicit_runtime_path_must_exist() {
        let e = find_runtime(Some(("/no/libonnxruntime.so".into(), "--runtime".into())), &no_env, &[])
            .unwrap_err();
        assert!(e.to_string().contains("--runtime"), "{e}");
        let env = |k: &str| (k == "TRON_ONNXRUNTIME_PATH").then(|| "/no/lib.so".to_string());
        assert!(find_runtime(None, &env, &[]).unwrap_err().to_string().contains("TRON_ONNXRUNTIME_PATH"));
    }

    #[test]
    fn runtime_is_found_in_a_search_dir_but_not_the_provider_plugins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libonnxruntime_providers_shared.so"), b"x").unwrap();
        assert_eq!(runtime_in(dir.path()), None);
        std::fs::write(dir.path().join("libonnxruntime.so.1.32.0"), b"x").unwrap();
        let found = find_runtime(None, &no_env, &[dir.path().into()]).unwrap();
        assert_eq!(found, dir.path().join("libonnxruntime.so.1.32.0"));
    }
}
