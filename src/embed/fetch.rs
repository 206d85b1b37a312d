//! `tron embed fetch`: the one place tron downloads a model, and only when the user asks.
//!
//! Files come from a Hugging Face hub (`https://huggingface.co`, or the `HF_ENDPOINT` /
//! `--endpoint` mirror) at `<endpoint>/<model>/resolve/<revision>/<path>`, into the layout
//! [`super::locate::ModelSpec::resolve`] reads: `tokenizer.json`, `onnx/model_<dtype>.onnx`
//! (with its `_data` file when the export has one), plus `config.json` and the
//! sentence-transformers pooling config when present.
//!
//! Each file is streamed to `<name>.part` and renamed into place only once complete; when
//! the hub names the file's SHA-256 (the `X-Linked-Etag` of a large file, or an `ETag` of 64
//! hex digits) the bytes are checked against it first. A failed or refused download leaves
//! no file behind, and a file already in place is kept unless forced.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::locate::onnx_file_name;
use super::{EmbedError, Result};
use crate::llm::sse::error_chain;

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// One file of a model repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Its path in the repository (and under the model directory).
    pub path: String,
    /// Whether the model cannot run without it (a missing optional file is skipped).
    pub required: bool,
}

/// The files to fetch for a model exported as `dtype`.
pub fn files_for(dtype: &str) -> Vec<RemoteFile> {
    let onnx = format!("onnx/{}", onnx_file_name(dtype));
    let file = |path: &str, required| RemoteFile { path: path.to_owned(), required };
    vec![
        file("tokenizer.json", true),
        file("config.json", false),
        file("1_Pooling/config.json", false),
        file(&onnx, true),
        file(&format!("{onnx}_data"), false),
    ]
}

/// Where to fetch from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The hub (no trailing `/`).
    pub endpoint: String,
    /// The model repository, e.g. `onnx-community/Qwen3-Embedding-0.6B-ONNX`.
    pub model: String,
    /// A branch, tag or commit.
    pub revision: String,
}

impl Source {
    /// The download URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}/resolve/{}/{path}", self.endpoint.trim_end_matches('/'), self.model, self.revision)
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fetched {
    /// The repository path.
    pub path: String,
    /// `downloaded`, `present` (kept as it was) or `absent` (an optional file the model
    /// does not have).
    pub status: &'static str,
    /// Bytes written.
    pub bytes: u64,
    /// The SHA-256 the hub named and the download matched, if it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Hears a download's progress: the file, bytes so far, and the size when known.
pub type Progress<'a> = dyn FnMut(&str, u64, Option<u64>) + Send + 'a;

/// Fetches `files` of `source` into `dir` (created when missing). Files already there are
/// kept unless `force`. Stops at the first failure, naming the file, the URL and why.
pub async fn fetch(
    source: &Source,
    files: &[RemoteFile],
    dir: &Path,
    force: bool,
    progress: &mut Progress<'_>,
) -> Result<Vec<Fetched>> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(20))
        .user_agent(concat!("tron/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EmbedError::Fetch { url: source.endpoint.clone(), detail: e.to_string() })?;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let dest = dir.join(&file.path);
        if dest.is_file() && !force {
            let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
            out.push(Fetched { path: file.path.clone(), status: "present", bytes, sha256: None });
            continue;
        }
        out.push(fetch_one(&client, source, file, &dest, progress).await?);
    }
    Ok(out)
}

async fn fetch_one(
    client: &reqwest::Client,
    source: &Source,
    file: &RemoteFile,
    dest: &Path,
    progress: &mut Progress<'_>,
) -> Result<Fetched> {
    let first = source.url(&file.path);
    let fail = |url: &str, detail: String| EmbedError::Fetch { url: url.to_owned(), detail };
    // Follow redirects by hand: the hub names a large file's SHA-256 on the redirect, not on
    // the CDN's answer.
    let mut url = first.clone();
    let mut sha: Option<String> = None;
    let mut hops = 0;
    let resp = loop {
        let resp = client.get(&url).send().await.map_err(|e| fail(&url, error_chain(&e)))?;
        sha = sha.or_else(|| sha256_header(resp.headers()));
        if !resp.status().is_redirection() {
            break resp;
        }
        hops += 1;
        let location = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok());
        let next = location.and_then(|l| reqwest::Url::parse(&url).ok()?.join(l).ok());
        match next {
            Some(next) if hops <= 5 => url = next.to_string(),
            _ => return Err(fail(&url, format!("redirected without a usable Location (hop {hops})"))),
        }
    };
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND && !file.required {
        return Ok(Fetched { path: file.path.clone(), status: "absent", bytes: 0, sha256: None });
    }
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => " (the hub wants a sign-in: is the model name right?)",
            404 => " (no such file: check the model name, --dtype and --revision)",
            _ => "",
        };
        return Err(fail(&url, format!("HTTP {status}{hint}")));
    }
    let total = resp.content_length();
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(&first, format!("cannot create {}: {e}", parent.display())))?;
    }
    let part = part_path(dest);
    let written = stream_to(resp, &part, &file.path, total, progress).await;
    let (bytes, digest) = match written {
        Ok(w) => w,
        Err(detail) => {
            let _ = std::fs::remove_file(&part);
            return Err(fail(&url, detail));
        }
    };
    if let Some(want) = &sha {
        if *want != digest {
            let _ = std::fs::remove_file(&part);
            return Err(fail(
                &url,
                format!("the download's SHA-256 is {digest}, but the hub names {want}; nothing was kept"),
            ));
        }
    }
    std::fs::rename(&part, dest).map_err(|e| {
        let _ = std::fs::remove_file(&part);
        fail(&first, format!("cannot move the download to {}: {e}", dest.display()))
    })?;
    Ok(Fetched { path: file.path.clone(), status: "downloaded", bytes, sha256: sha })
}

/// Writes the body to `part`; the byte count and the SHA-256 (hex) of what was written.
async fn stream_to(
    mut resp: reqwest::Response,
    part: &Path,
    name: &str,
    total: Option<u64>,
    progress: &mut Progress<'_>,
) -> std::result::Result<(u64, String), String> {
    use std::io::Write;
    let file = std::fs::File::create(part).map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    progress(name, 0, total);
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(60), resp.chunk())
            .await
            .map_err(|_| "no data for 60 s; try again".to_owned())?
            .map_err(|e| format!("the download broke off: {}", error_chain(&e)))?;
        let Some(chunk) = chunk else { break };
        hasher.update(&chunk);
        out.write_all(&chunk).map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        bytes += chunk.len() as u64;
        progress(name, bytes, total);
    }
    if let Some(t) = total.filter(|t| *t != bytes) {
        return Err(format!("the download ended after {bytes} of {t} bytes; try again"));
    }
    let file = out.into_inner().map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    file.sync_all().map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, digest))
}

/// The SHA-256 a hub response names for its file: `X-Linked-Etag` (large files), else an
/// `ETag` that is 64 hex digits (a small file's ETag is its git blob id, not a SHA-256).
fn sha256_header(headers: &reqwest::header::HeaderMap) -> Option<String> {
    ["x-linked-etag", "etag"].iter().find_map(|h| {
        let v = headers.get(*h)?.to_str().ok()?;
        let v = v.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
        (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then_some(v)
    })
}

/// `<file>.part` beside `dest`.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_follow_the_transformers_js_layout() {
        let paths: Vec<String> = files_for("q4").into_iter().filter(|f| f.required).map(|f| f.path).collect();
        assert_eq!(paths, ["tokenizer.json", "onnx/model_q4.onnx"]);
        assert!(files_for("q8").iter().any(|f| f.path == "onnx/model_quantized.onnx"));
        let s = Source { endpoint: "http://h/".into(), model: "o/m".into(), revision: "main".into() };
        assert_eq!(s.url("onnx/model.onnx"), "http://h/o/m/resolve/main/onnx/model.onnx");
        assert_eq!(part_path(Path::new("/d/onnx/model.onnx")), Path::new("/d/onnx/model.onnx.part"));
    }

    #[test]
    fn only_a_sha256_etag_is_trusted_as_one() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("etag", "\"0123456789abcdef0123456789abcdef01234567\"".parse().unwrap());
        assert_eq!(sha256_header(&h), None, "a git blob id");
        let sha = "ab".repeat(32);
        h.insert("x-linked-etag", format!("\"{}\"", sha.to_uppercase()).parse().unwrap());
        assert_eq!(sha256_header(&h), Some(sha));
    }
}
