//! The model directory's own description, `embedder.json`: which ONNX file to run, how to
//! pool and normalize its output, its dimension and maximum sequence length, the optional
//! query/document prompt prefixes, and the Matryoshka dimensions it may be truncated to.
//!
//! This module only reads and validates that file; it does not touch the ONNX graph or the
//! tokenizer (see `model`), nor the server's own settings (see `main`'s command line).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Name of our configuration file inside a model directory.
pub const CONFIG_FILE: &str = "embedder.json";

/// Name of the tokenizer file inside a model directory (Hugging Face `tokenizers` format).
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Average of the token vectors under the attention mask.
    Mean,
    /// The first token's vector (BERT's `[CLS]`).
    Cls,
    /// The last non-padding token's vector (decoder-style embedders).
    LastToken,
    /// The graph already outputs one vector per sentence (`[batch, dims]`).
    None,
}

/// Which prompt prefix a caller asks for (`input_type` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    Query,
    Document,
}

/// Prompt prefixes prepended to the text before tokenization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prefixes {
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub document: String,
}

/// The parsed and validated `embedder.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model's name as the API reports it (`model` in responses, `/v1/models`).
    pub id: String,
    /// Other names a request's `model` field may use for this model.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Free text for people reading the file; ignored.
    #[serde(default)]
    pub description: String,
    /// The ONNX file, relative to the model directory.
    #[serde(default = "default_onnx_file")]
    pub onnx_file: String,
    pub pooling: Pooling,
    /// L2-normalize the pooled vector (and again after Matryoshka truncation).
    pub normalize: bool,
    /// Width of the pooled vector.
    pub dims: usize,
    /// Dimensions a request may truncate to; empty means any width from 1 to `dims`.
    #[serde(default)]
    pub matryoshka_dims: Vec<usize>,
    /// Tokens per text, special tokens included; longer texts are truncated.
    pub max_seq_len: usize,
    #[serde(default)]
    pub prefixes: Prefixes,
    /// This graph is known to give the same embeddings (cosine >= 0.999) with its matrix
    /// products in bf16 on AMX tiles, so `--matmul auto` may use them. Set by
    /// scripts/embedder/install-model.sh for MiniLM (checked by tests/accuracy.rs); absent
    /// (false) for other graphs: tract's AMX kernel gave NaN on the Gemma 3 test graph.
    #[serde(default)]
    pub amx_bf16: bool,
}

fn default_onnx_file() -> String {
    "model.onnx".to_string()
}

/// Why a model directory cannot be used; every message names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("model directory {0} does not exist or is not a directory")]
    MissingDir(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid embedder config: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl ModelConfig {
    /// Reads `embedder.json` from `dir` and checks it for internal consistency.
    pub fn load(dir: &Path) -> Result<ModelConfig, ConfigError> {
        if !dir.is_dir() {
            return Err(ConfigError::MissingDir(dir.to_path_buf()));
        }
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ParseError::Json(source) => ConfigError::Parse {
                path: path.clone(),
                source,
            },
            ParseError::Invalid(reason) => ConfigError::Invalid {
                path: path.clone(),
                reason,
            },
        })
    }

    /// Parses and validates the JSON text of a config file.
    pub fn parse(text: &str) -> Result<ModelConfig, ParseError> {
        let config: ModelConfig = serde_json::from_str(text).map_err(ParseError::Json)?;
        config.validate().map_err(ParseError::Invalid)?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("\"id\" must not be empty".into());
        }
        if self.dims == 0 {
            return Err("\"dims\" must be at least 1".into());
        }
        if self.max_seq_len < 2 {
            return Err("\"max_seq_len\" must be at least 2".into());
        }
        if let Some(bad) = self
            .matryoshka_dims
            .iter()
            .find(|&&d| d == 0 || d > self.dims)
        {
            return Err(format!(
                "\"matryoshka_dims\" entry {bad} is outside 1..={}",
                self.dims
            ));
        }
        if self.onnx_file.is_empty() || Path::new(&self.onnx_file).is_absolute() {
            return Err("\"onnx_file\" must be a file name relative to the model directory".into());
        }
        Ok(())
    }

    /// Whether a request's `model` field names this model.
    pub fn answers_to(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }

    /// Whether a request may ask for `dims` output dimensions.
    pub fn allows_dimensions(&self, dims: usize) -> bool {
        if dims == self.dims {
            return true;
        }
        if self.matryoshka_dims.is_empty() {
            (1..=self.dims).contains(&dims)
        } else {
            self.matryoshka_dims.contains(&dims)
        }
    }

    /// The prefix to prepend for an input type (`None`: the text is used as given).
    pub fn prefix(&self, input_type: Option<InputType>) -> &str {
        match input_type {
            None => "",
            Some(InputType::Query) => &self.prefixes.query,
            Some(InputType::Document) => &self.prefixes.document,
        }
    }
}

/// Why the text of a config file was rejected (without the file's path, see `ConfigError`).
#[derive(Debug)]
pub enum ParseError {
    Json(serde_json::Error),
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = r#"{
        "id": "all-MiniLM-L6-v2",
        "pooling": "mean",
        "normalize": true,
        "dims": 384,
        "max_seq_len": 256
    }"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = ModelConfig::parse(MINILM).unwrap();
        assert_eq!(c.onnx_file, "model.onnx");
        assert_eq!(c.pooling, Pooling::Mean);
        assert_eq!(c.prefix(Some(InputType::Query)), "");
        assert!(c.allows_dimensions(384));
        assert!(c.allows_dimensions(1));
        assert!(!c.allows_dimensions(385));
        assert!(!c.allows_dimensions(0));
    }

    #[test]
    fn embeddinggemma_config_in_repo_parses_with_prefixes_and_truncations() {
        let text = include_str!("../models/embeddinggemma-300m/embedder.json");
        let c = ModelConfig::parse(text).unwrap();
        assert_eq!(c.dims, 768);
        assert_eq!(c.pooling, Pooling::None);
        assert_eq!(
            c.prefix(Some(InputType::Query)),
            "task: search result | query: "
        );
        assert_eq!(c.prefix(Some(InputType::Document)), "title: none | text: ");
        assert_eq!(c.prefix(None), "");
        for d in [768, 512, 256, 128] {
            assert!(c.allows_dimensions(d), "{d}");
        }
        assert!(!c.allows_dimensions(300));
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let text = MINILM.replace("\"dims\"", "\"dimz\": 1, \"dims\"");
        let err = ModelConfig::parse(&text).unwrap_err();
        assert!(matches!(err, ParseError::Json(e) if e.to_string().contains("dimz")));
    }

    #[test]
    fn matryoshka_dims_beyond_model_width_are_rejected() {
        let text = MINILM.replace("\"dims\": 384", "\"dims\": 384, \"matryoshka_dims\": [512]");
        assert!(matches!(
            ModelConfig::parse(&text),
            Err(ParseError::Invalid(r)) if r.contains("512")
        ));
    }

    #[test]
    fn missing_config_file_error_names_the_file() {
        let dir = std::env::temp_dir().join(format!("embedder-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = ModelConfig::load(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("embedder.json"), "{err}");
    }

    #[test]
    fn missing_model_directory_is_reported_as_such() {
        let err = ModelConfig::load(Path::new("/nonexistent/model/dir"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/model/dir"), "{err}");
    }

    #[test]
    fn aliases_are_accepted_as_model_names() {
        let text = MINILM.replace("\"pooling\"", "\"aliases\": [\"default\"], \"pooling\"");
        let c = ModelConfig::parse(&text).unwrap();
        assert!(c.answers_to("default"));
        assert!(c.answers_to("all-MiniLM-L6-v2"));
        assert!(!c.answers_to("text-embedding-3-small"));
    }
}
