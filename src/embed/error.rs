//! Errors of the embedding module; each names the file or package and what to do.

use std::path::PathBuf;

/// Result of embedding operations.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// What went wrong while finding, loading or running an embedding model or its vectors.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The binary was built without a cargo feature this needs.
    #[error("this tron was built without the `{feature}` cargo feature; rebuild with `cargo build --features {feature}` (it is on by default)")]
    NotBuilt {
        /// The missing feature.
        feature: &'static str,
    },
    /// No ONNX Runtime shared library was found.
    #[error(
        "ONNX Runtime not found (looked for libonnxruntime in: {}). Install it from the Python package registry with `pip install onnxruntime` (tron finds it in site-packages), or set TRON_ONNXRUNTIME_PATH to the libonnxruntime shared library",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    RuntimeNotFound {
        /// Where tron looked.
        searched: Vec<PathBuf>,
    },
    /// A runtime path was given but there is no file.
    #[error("the ONNX Runtime library {} (from {source_name}) does not exist; fix the path or unset it", path.display())]
    RuntimeMissing {
        /// The configured path.
        path: PathBuf,
        /// Which setting gave it (flag or variable name).
        source_name: String,
    },
    /// The runtime library exists but could not be loaded.
    #[error("cannot load the ONNX Runtime library {}: {detail} (tron needs ONNX Runtime 1.22 or newer: `pip install -U onnxruntime`)", path.display())]
    RuntimeLoad {
        /// The library.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The model directory lacks a file.
    #[error("embedding model not found in {}: {what} ({hint})", dir.display())]
    ModelMissing {
        /// The model directory.
        dir: PathBuf,
        /// What is missing.
        what: String,
        /// What to do.
        hint: String,
    },
    /// The tokenizer file could not be read.
    #[error("cannot load the tokenizer {}: {detail}", path.display())]
    Tokenizer {
        /// tokenizer.json
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The model file could not be loaded, or has inputs/outputs tron cannot drive.
    #[error("cannot use the embedding model {}: {detail}", path.display())]
    Model {
        /// The .onnx file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Running the model failed.
    #[error("embedding failed: {0}")]
    Inference(String),
    /// Asked for more dimensions than the model gives (or zero).
    #[error("the model gives {model}-dimensional vectors, so it cannot be truncated to {requested}; choose 1..={model} (--dimensions)")]
    Dimensions {
        /// Requested output dimensions.
        requested: usize,
        /// The model's hidden size.
        model: usize,
    },
    /// The vector table holds vectors of another size than the model gives.
    #[error("the vector table {table} holds {table_dims}-dimensional vectors, but the model gives {dims}; re-index with `tron embed index --rebuild` or use --dimensions {table_dims}")]
    TableDimensions {
        /// Table name.
        table: String,
        /// Its dimensions.
        table_dims: usize,
        /// The vectors offered.
        dims: usize,
    },
    /// A download of `tron embed fetch` failed (nothing was kept).
    #[error("cannot fetch {url}: {detail}")]
    Fetch {
        /// What was asked for.
        url: String,
        /// Why it failed.
        detail: String,
    },
    /// Bad input (empty query, zero limit, ...).
    #[error("{0}")]
    Invalid(String),
    /// The event database.
    #[error(transparent)]
    Store(#[from] crate::events::StoreError),
    /// SQLite, on the vector table.
    #[error("vector table: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
