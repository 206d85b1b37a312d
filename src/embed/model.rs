//! Running an embedding model: ONNX Runtime (loaded from its shared library at run time) and
//! the model's `tokenizer.json`. Texts are tokenised, padded into one batch, run, pooled,
//! normalised and truncated ([`super::pool`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Tensor, ValueType};
use tokenizers::{Tokenizer, TruncationParams};

use super::error::{EmbedError, Result};
use super::locate::ModelFiles;
use super::pool::{self, Pooling};

/// Default largest number of tokens per text (longer texts are truncated).
pub const DEFAULT_MAX_TOKENS: usize = 512;

/// Options of [`Embedder::load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The ONNX Runtime shared library ([`super::locate::find_runtime`]).
    pub runtime: PathBuf,
    /// Output dimensions (Matryoshka truncation); `None` keeps the model's full size.
    pub dimensions: Option<usize>,
    /// Texts longer than this many tokens are truncated.
    pub max_tokens: usize,
}

/// A loaded embedding model. `embed` may be called from several threads; runs are serialised.
pub struct Embedder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    files: ModelFiles,
    runtime: PathBuf,
    inputs: Inputs,
    output: String,
    hidden: usize,
    dimensions: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &self.files.model)
            .field("pooling", &self.files.pooling)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

/// Which of the inputs tron knows the model takes.
#[derive(Debug, Clone, Default)]
struct Inputs {
    attention_mask: bool,
    token_type_ids: bool,
    position_ids: bool,
}

/// The process's ONNX Runtime (one library per process: ONNX Runtime cannot be unloaded).
static RUNTIME: OnceLock<(PathBuf, ort::environment::Environment)> = OnceLock::new();
static RUNTIME_INIT: Mutex<()> = Mutex::new(());

fn environment(lib: &Path) -> Result<ort::environment::Environment> {
    let _guard = RUNTIME_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((loaded, env)) = RUNTIME.get() {
        if loaded != lib {
            return Err(EmbedError::RuntimeLoad {
                path: lib.to_path_buf(),
                detail: format!("this process already loaded ONNX Runtime from {}", loaded.display()),
            });
        }
        return Ok(env.clone());
    }
    let load_err = |detail: String| EmbedError::RuntimeLoad { path: lib.to_path_buf(), detail };
    let env = ort::init_from(lib)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("tron")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    let _ = RUNTIME.set((lib.to_path_buf(), env.clone()));
    Ok(env)
}

impl Embedder {
    /// Loads the runtime (once per process), the model and its tokenizer.
    pub fn load(files: &ModelFiles, opts: &LoadOptions) -> Result<Self> {
        let env = environment(&opts.runtime)?;
        let model_err = |detail: String| EmbedError::Model { path: files.model.clone(), detail };
        let session = Session::builder(&env)
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
            .and_then(|mut b| b.commit_from_file(&files.model))
            .map_err(|e| model_err(e.to_string()))?;

        let mut inputs = Inputs::default();
        let mut has_ids = false;
        for input in session.inputs() {
            match input.name() {
                "input_ids" => has_ids = true,
                "attention_mask" => inputs.attention_mask = true,
                "token_type_ids" => inputs.token_type_ids = true,
                "position_ids" => inputs.position_ids = true,
                other => {
                    return Err(model_err(format!(
                        "it takes an input `{other}` tron does not provide (known: input_ids, attention_mask, token_type_ids, position_ids); use a feature-extraction export"
                    )))
                }
            }
        }
        if !has_ids {
            return Err(model_err("it has no `input_ids` input".into()));
        }
        let outlet = session
            .outputs()
            .iter()
            .find(|o| matches!(o.name(), "last_hidden_state" | "token_embeddings"))
            .or_else(|| session.outputs().first())
            .ok_or_else(|| model_err("it has no outputs".into()))?;
        let output = outlet.name().to_owned();
        let hidden = match outlet.dtype() {
            ValueType::Tensor { shape, .. } if shape.len() == 3 => shape[2],
            ValueType::Tensor { shape, .. } => {
                return Err(model_err(format!(
                    "its output `{output}` has rank {}, expected [batch, tokens, hidden]",
                    shape.len()
                )))
            }
            other => return Err(model_err(format!("its output `{output}` is not a tensor ({other:?})"))),
        };

        let mut tokenizer = Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| EmbedError::Tokenizer { path: files.tokenizer.clone(), detail: e.to_string() })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: opts.max_tokens.max(1),
                ..Default::default()
            }))
            .map_err(|e| EmbedError::Tokenizer { path: files.tokenizer.clone(), detail: e.to_string() })?;

        let mut embedder = Self {
            session: Mutex::new(session),
            tokenizer,
            files: files.clone(),
            runtime: opts.runtime.clone(),
            inputs,
            output,
            hidden: usize::try_from(hidden).unwrap_or(0),
            dimensions: 0,
        };
        if embedder.hidden == 0 {
            // A symbolic hidden size: learn it from one run.
            embedder.hidden = embedder.run(&["probe"])?.first().map_or(0, Vec::len);
        }
        embedder.dimensions = match opts.dimensions {
            None => embedder.hidden,
            Some(d) if d == 0 || d > embedder.hidden => {
                return Err(EmbedError::Dimensions { requested: d, model: embedder.hidden })
            }
            Some(d) => d,
        };
        Ok(embedder)
    }

    /// The model's files.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// The ONNX Runtime library in use.
    pub fn runtime(&self) -> &Path {
        &self.runtime
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.files.pooling
    }

    /// The model's full output size.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The size of the vectors [`Embedder::embed`] returns.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Unit-length vectors of [`Embedder::dimensions`] values, one per text, from one
    /// forward pass over all of them (callers choose the batch size).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.run(texts)?.into_iter().map(|v| pool::finish(v, self.dimensions)).collect())
    }

    /// [`Embedder::embed`] of one text.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text])?.pop().ok_or_else(|| EmbedError::Inference("the model returned no vector".into()))
    }

    /// Tokenises, runs and pools; the pooled vectors are not normalised yet.
    fn run(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Inference(format!("tokenizing: {e}")))?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        // Right padding; the attention mask hides the padding from the model and the pooling.
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        let mut types = vec![0i64; batch * seq];
        let mut positions = vec![0i64; batch * seq];
        for (row, enc) in encodings.iter().enumerate() {
            for (col, ((&id, &m), &t)) in
                enc.get_ids().iter().zip(enc.get_attention_mask()).zip(enc.get_type_ids()).enumerate()
            {
                let at = row * seq + col;
                ids[at] = i64::from(id);
                mask[at] = i64::from(m);
                types[at] = i64::from(t);
                positions[at] = col as i64;
            }
        }
        let shape = [batch as i64, seq as i64];
        let tensor = |data: Vec<i64>| {
            Tensor::from_array((shape, data))
                .map_err(|e| EmbedError::Inference(format!("building inputs: {e}")))
        };
        let mut feed: Vec<(&str, Tensor<i64>)> = vec![("input_ids", tensor(ids)?)];
        if self.inputs.attention_mask {
            feed.push(("attention_mask", tensor(mask.clone())?));
        }
        if self.inputs.token_type_ids {
            feed.push(("token_type_ids", tensor(types)?));
        }
        if self.inputs.position_ids {
            feed.push(("position_ids", tensor(positions)?));
        }
        let feed: Vec<(std::borrow::Cow<'_, str>, ort::session::SessionInputValue<'_>)> =
            feed.into_iter().map(|(n, t)| (n.into(), t.into())).collect();

        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session.run(feed).map_err(|e| EmbedError::Inference(e.to_string()))?;
        let value = outputs
            .get(&self.output)
            .ok_or_else(|| EmbedError::Inference(format!("the model returned no `{}`", self.output)))?;
        let (out_shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| EmbedError::Inference(format!("reading `{}`: {e}", self.output)))?;
        if out_shape.len() != 3 || out_shape[0] as usize != batch || out_shape[1] as usize != seq {
            return Err(EmbedError::Inference(format!(
                "`{}` has shape {:?}, expected [{batch}, {seq}, hidden]",
                self.output,
                &out_shape[..]
            )));
        }
        let dim = out_shape[2] as usize;
        Ok((0..batch)
            .map(|row| {
                let hidden = &data[row * seq * dim..(row + 1) * seq * dim];
                pool::pool(self.files.pooling, hidden, &mask[row * seq..(row + 1) * seq], dim)
            })
            .collect())
    }
}

/// What a caller may override when loading the configured model (`tron embed` flags).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The model directory.
    pub model_dir: Option<PathBuf>,
    /// The ONNX dtype.
    pub dtype: Option<String>,
    /// The ONNX Runtime library, with the name of the flag that gave it.
    pub runtime: Option<(PathBuf, String)>,
    /// Output dimensions.
    pub dimensions: Option<usize>,
    /// Pooling.
    pub pooling: Option<super::Pooling>,
    /// Longest text in tokens (512 when not given).
    pub max_tokens: Option<usize>,
}

/// Loads the model the settings name (`context.memory.embedding.*`), as `tron embed` and
/// `tron serve` do: the model directory from `over`, else `TRON_EMBEDDING_MODEL_DIR`, else
/// `<cacheDir>/<model>`; the runtime from `over`, the environment, the model directory,
/// `<data_dir>/mods/onnxruntime`, else the usual places; dimensions from `over`, else the
/// settings, else 512.
pub fn load_configured(
    settings: &crate::settings::Settings,
    env: &dyn Fn(&str) -> Option<String>,
    data_dir: &std::path::Path,
    over: Overrides,
) -> Result<Embedder> {
    let mut spec = super::ModelSpec::from_settings(settings);
    let env_dir = env("TRON_EMBEDDING_MODEL_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
    if let Some(dir) = over.model_dir.or(env_dir) {
        spec.dir = dir;
    }
    if let Some(dtype) = over.dtype {
        spec.dtype = dtype;
    }
    spec.pooling = over.pooling;
    let files = spec.resolve()?;
    let runtime = super::locate::find_runtime(
        over.runtime,
        env,
        &[files.dir.clone(), data_dir.join("mods").join("onnxruntime")],
    )?;
    let dimensions = over.dimensions.unwrap_or_else(|| {
        settings
            .get(&format!("{}.dimensions", super::locate::SETTINGS_KEY))
            .and_then(|v| v.as_u64())
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(512)
    });
    let opts =
        LoadOptions { runtime, dimensions: Some(dimensions), max_tokens: over.max_tokens.unwrap_or(512) };
    Embedder::load(&files, &opts)
}
