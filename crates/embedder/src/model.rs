//! The embedding model: a tokenizer (`tokenizer.json`) and an ONNX graph run by tract, plus
//! the pooling and normalization that `embedder.json` asks for.
//!
//! `Model::load` checks a model directory and fails with a message naming the file at fault.
//! `Model::encode` turns text into token ids (cheap, done on the request path so that
//! batching can sort by length and `usage` can count tokens); `Model::embed` runs a batch
//! through the graph, text by text on a plan compiled for batch 1 (the default, faster in
//! tract) or padded (expensive, done on the inference threads). Scheduling is not
//! this module's business: see `batcher`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::runtime::RunOptions;
use tract_onnx::tract_hir::infer::Factoid;

use crate::config::{CONFIG_FILE, ModelConfig, Pooling, TOKENIZER_FILE};

/// How the graph is compiled; one per process.
#[derive(Debug, Clone, Copy)]
pub struct ModelOptions {
    /// Threads tract may use inside one run (its matrix-multiply executor); 1 = the calling
    /// thread only.
    pub intra_threads: usize,
    /// Compile the graph with its batch dimension fixed to 1 and run each text alone, instead
    /// of padded batches on the graph with a symbolic batch. tract picks much better kernels
    /// for batch 1 (MiniLM on one core, 51 tokens: 103 texts/s alone vs 78 in symbolic
    /// batches of 1 and 81 of 8; 150 tokens: 36 vs 20), and nothing is padded.
    pub per_text: bool,
    /// Let tract run f32 matrix products as bf16 on Intel AMX tiles where the CPU has them
    /// (`TDPBF16PS`: operands rounded to bf16, sums in f32). Several times faster on such
    /// CPUs, within 0.999 cosine of exact f32 on MiniLM (tests/accuracy.rs); ignored on
    /// CPUs without AMX-BF16. See `Model::matmul` and `ModelConfig::amx_bf16`.
    pub bf16: bool,
    /// Threads a text may spread over when it runs alone (`Model::embed_alone`: nothing else
    /// to do, every inference thread idle); 1 = never spread.
    pub lone_text_threads: usize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            intra_threads: 1,
            per_text: true,
            bf16: false,
            lone_text_threads: 1,
        }
    }
}

/// How the graph's matrix products run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matmul {
    /// f32 kernels (AVX-512 / AVX2 + FMA / generic, whatever the CPU has).
    F32,
    /// bf16 products with f32 sums on Intel AMX tiles.
    AmxBf16,
}

impl Matmul {
    pub fn name(self) -> &'static str {
        match self {
            Matmul::F32 => "f32",
            Matmul::AmxBf16 => "amx-bf16",
        }
    }
}

/// Whether this CPU (and this build of tract) can run f32 matrix products on AMX bf16 tiles.
pub fn amx_bf16_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        tract_linalg::isa::native().has(tract_linalg::isa::Isa::X86_64AmxBf16)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One AMX bf16 step consumes 32 values along the inner dimension. tract's AMX kernel does
/// not clear the tail of a step when that dimension is only known at run time (the sequence,
/// in attention-weights x values), which leaves garbage (NaN, seen here) in the sums; so with
/// AMX every run is padded (masked) to a multiple of this many tokens. The tiles are 16 rows
/// tall, so the matrix products do no more work for it; the padded rows only cost the
/// element-wise operators.
const AMX_SEQUENCE_STEP: usize = 32;

/// tract reads its AMX switch (a process-wide knob) while it picks kernels, during
/// `into_optimized`; models compiled with different settings take turns.
static KERNEL_CHOICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One text, tokenized and truncated to the model's maximum length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<i64>,
    pub type_ids: Vec<i64>,
    /// The text had more tokens than `max_seq_len` and was cut.
    pub truncated: bool,
}

impl From<&tokenizers::Encoding> for Encoded {
    fn from(encoding: &tokenizers::Encoding) -> Encoded {
        Encoded {
            ids: encoding.get_ids().iter().map(|&i| i64::from(i)).collect(),
            type_ids: encoding
                .get_type_ids()
                .iter()
                .map(|&i| i64::from(i))
                .collect(),
            truncated: !encoding.get_overflowing().is_empty(),
        }
    }
}

impl Encoded {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What a graph input is fed with, recognised by the input's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GraphInput {
    InputIds,
    AttentionMask,
    TokenTypeIds,
    PositionIds,
}

impl GraphInput {
    fn from_name(name: &str) -> Option<GraphInput> {
        match name {
            "input_ids" => Some(GraphInput::InputIds),
            "attention_mask" => Some(GraphInput::AttentionMask),
            "token_type_ids" => Some(GraphInput::TokenTypeIds),
            "position_ids" => Some(GraphInput::PositionIds),
            _ => None,
        }
    }
}

type Plan = Arc<TypedSimplePlan>;

/// A loaded model, shared by all inference threads (`embed` takes `&self`).
pub struct Model {
    config: ModelConfig,
    tokenizer: Tokenizer,
    plan: Plan,
    /// `plan` has batch = 1: texts run one by one (`ModelOptions::per_text`).
    per_text: bool,
    inputs: Vec<(GraphInput, DatumType)>,
    /// The graph's output is already one vector per text (`[batch, dims]`).
    output_is_pooled: bool,
    pad_id: i64,
    matmul: Matmul,
    /// tract's multithreaded executor for `embed_alone`, when `lone_text_threads` > 1.
    lone_executor: Option<tract_linalg::multithread::Executor>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.config.id)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads `embedder.json`, `tokenizer.json` and the ONNX file from `dir`, and compiles the
    /// graph. Every error names the file it is about.
    pub fn load(dir: &Path, options: ModelOptions) -> Result<Model> {
        let config = ModelConfig::load(dir)?;
        Self::load_with_config(dir, config, options)
    }

    /// Like `load`, with the config given instead of read from `dir` (tests use it to run
    /// another ONNX file of the same directory).
    pub fn load_with_config(
        dir: &Path,
        config: ModelConfig,
        options: ModelOptions,
    ) -> Result<Model> {
        let tokenizer = load_tokenizer(&dir.join(TOKENIZER_FILE), config.max_seq_len)?;
        let onnx_path = dir.join(&config.onnx_file);
        let graph = load_graph(&onnx_path, &config, options).with_context(|| {
            format!(
                "cannot load ONNX graph {} (named by {} \"onnx_file\")",
                onnx_path.display(),
                dir.join(CONFIG_FILE).display()
            )
        })?;
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id as i64)
            .or_else(|| tokenizer.token_to_id("[PAD]").map(i64::from))
            .or_else(|| tokenizer.token_to_id("<pad>").map(i64::from))
            .unwrap_or(0);
        Ok(Model {
            config,
            tokenizer,
            plan: graph.plan,
            per_text: graph.per_text,
            inputs: graph.inputs,
            output_is_pooled: graph.output_is_pooled,
            pad_id,
            matmul: graph.matmul,
            lone_executor: (options.lone_text_threads > 1 && options.intra_threads == 1).then(
                || {
                    tract_linalg::multithread::Executor::multithread_with_name(
                        options.lone_text_threads,
                        "embedder-lone",
                    )
                },
            ),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Tokenizes `text` (prefix already applied), truncating at `max_seq_len` tokens.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| anyhow::anyhow!("tokenizer failed: {e}"))?;
        Ok(Encoded::from(&encoding))
    }

    /// Tokenizes a (query, document) pair for a cross-encoder with the tokenizer's pair
    /// template (`[CLS] query [SEP] document [SEP]`, segment ids 0 then 1). Together they are
    /// cut to `max_seq_len` tokens, the longer of the two first.
    pub fn encode_pair(&self, query: &str, document: &str) -> Result<Encoded> {
        let encoding = self
            .tokenizer
            .encode((query, document), true)
            .map_err(|e| anyhow::anyhow!("tokenizer failed: {e}"))?;
        Ok(Encoded::from(&encoding))
    }

    /// A cross-encoder's relevance logit per encoded pair, in order: the graph's one output
    /// value per text (`dims` 1, a `[batch, 1]` output).
    pub fn score(&self, pairs: &[&Encoded]) -> Result<Vec<f32>> {
        if self.config.dims != 1 || !self.output_is_pooled {
            bail!(
                "model {} is not a cross-encoder: its graph gives {} values per text, not one score",
                self.config.id,
                self.config.dims
            );
        }
        Ok(self.embed(pairs)?.into_iter().map(|v| v[0]).collect())
    }

    /// How the matrix products run (`ModelOptions::bf16` and what the CPU has).
    pub fn matmul(&self) -> Matmul {
        self.matmul
    }

    /// Whether texts run one at a time (the plan has batch = 1).
    pub fn runs_per_text(&self) -> bool {
        self.per_text
    }

    /// Returns one pooled (and, if configured, normalized) vector of `dims` floats per text,
    /// in the order given: each text alone when `runs_per_text`, else one run padded to the
    /// longest text (so callers should group texts of similar length).
    pub fn embed(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>> {
        if self.per_text {
            let mut vectors = Vec::with_capacity(batch.len());
            for text in batch {
                vectors.extend(self.run(&[text])?);
            }
            return Ok(vectors);
        }
        self.run(batch)
    }

    /// Whether `embed_alone` spreads a text over several threads.
    pub fn spreads_lone_texts(&self) -> bool {
        self.lone_executor.is_some()
    }

    /// `embed` with tract's matrix products split over `lone_text_threads` threads: for a
    /// text that has the machine to itself (a chat message when nothing else is queued).
    pub fn embed_alone(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>> {
        match &self.lone_executor {
            Some(executor) => {
                tract_linalg::multithread::multithread_tract_scope(executor.clone(), || {
                    self.embed(batch)
                })
            }
            None => self.embed(batch),
        }
    }

    /// One graph run over `batch` (a single text when `per_text`).
    fn run(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let rows = batch.len();
        let mut cols = batch.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        if self.matmul == Matmul::AmxBf16 {
            cols = cols.next_multiple_of(AMX_SEQUENCE_STEP);
        }
        let mut ids = vec![self.pad_id; rows * cols];
        let mut mask = vec![0i64; rows * cols];
        let mut types = vec![0i64; rows * cols];
        for (r, e) in batch.iter().enumerate() {
            let row = r * cols;
            ids[row..row + e.len()].copy_from_slice(&e.ids);
            types[row..row + e.len()].copy_from_slice(&e.type_ids);
            mask[row..row + e.len()].fill(1);
        }
        let positions: Vec<i64> = (0..rows).flat_map(|_| 0..cols as i64).collect::<Vec<_>>();
        let mut inputs: TVec<TValue> = tvec![];
        for &(input, dt) in &self.inputs {
            let data = match input {
                GraphInput::InputIds => &ids,
                GraphInput::AttentionMask => &mask,
                GraphInput::TokenTypeIds => &types,
                GraphInput::PositionIds => &positions,
            };
            let tensor = Tensor::from_shape(&[rows, cols], data)?;
            inputs.push(tensor.cast_to_dt(dt)?.into_owned().into_tvalue());
        }
        let outputs = self.plan.run(inputs).context("inference failed")?;
        let output = outputs[0].cast_to::<f32>()?;
        let output = output.to_plain_array_view::<f32>()?;
        let dims = self.config.dims;
        let mut vectors = Vec::with_capacity(rows);
        if self.output_is_pooled {
            let view = output.into_dimensionality::<tract_ndarray::Ix2>()?;
            for r in 0..rows {
                vectors.push(view.row(r).iter().take(dims).copied().collect());
            }
        } else {
            let view = output.into_dimensionality::<tract_ndarray::Ix3>()?;
            if view.shape()[2] != dims {
                bail!(
                    "graph output width {} differs from \"dims\" {} in {CONFIG_FILE}",
                    view.shape()[2],
                    dims
                );
            }
            for (r, e) in batch.iter().enumerate() {
                let tokens = view.index_axis(tract_ndarray::Axis(0), r);
                let len = e.len().max(1);
                let v: Vec<f32> = match self.config.pooling {
                    Pooling::Cls => tokens.row(0).to_vec(),
                    Pooling::LastToken => tokens.row(len - 1).to_vec(),
                    Pooling::Mean | Pooling::None => {
                        let mut sum = vec![0f32; dims];
                        for t in 0..len {
                            for (s, x) in sum.iter_mut().zip(tokens.row(t)) {
                                *s += x;
                            }
                        }
                        sum.iter().map(|s| s / len as f32).collect()
                    }
                };
                vectors.push(v);
            }
        }
        if vectors.iter().flatten().any(|x| !x.is_finite()) {
            bail!("the graph produced non-finite values (NaN or infinity)");
        }
        if self.config.normalize {
            vectors.iter_mut().for_each(|v| l2_normalize(v));
        }
        Ok(vectors)
    }
}

fn run_options(options: ModelOptions) -> RunOptions {
    RunOptions {
        executor: (options.intra_threads > 1)
            .then(|| tract_linalg::multithread::Executor::multithread(options.intra_threads)),
        ..Default::default()
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two vectors of the same length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

fn load_tokenizer(path: &PathBuf, max_seq_len: usize) -> Result<Tokenizer> {
    if !path.is_file() {
        bail!("tokenizer file {} is missing", path.display());
    }
    let mut tokenizer = Tokenizer::from_file(path)
        .map_err(|e| anyhow::anyhow!("cannot load tokenizer {}: {e}", path.display()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_seq_len,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| anyhow::anyhow!("cannot set truncation on {}: {e}", path.display()))?;
    Ok(tokenizer)
}

struct Graph {
    plan: Plan,
    per_text: bool,
    matmul: Matmul,
    inputs: Vec<(GraphInput, DatumType)>,
    /// The graph's output is already one vector per text (`[batch, dims]`).
    output_is_pooled: bool,
}

fn load_graph(path: &Path, config: &ModelConfig, options: ModelOptions) -> Result<Graph> {
    if !path.is_file() {
        bail!("the file is missing");
    }
    let mut model = tract_onnx::onnx().model_for_path(path)?;
    // Symbolic dims keep the names the exporter gave them: parts of the graph refer to them.
    let batch = model.symbols.sym("batch");
    let sequence = model.symbols.sym("sequence");
    let mut inputs = Vec::new();
    for ix in 0..model.inputs.len() {
        let name = model.node(model.inputs[ix].node).name.clone();
        let Some(input) = GraphInput::from_name(&name) else {
            bail!(
                "graph input {name:?} is not one of input_ids, attention_mask, token_type_ids, position_ids"
            );
        };
        let fact = model.input_fact(ix)?.clone();
        let dt = fact.datum_type.concretize().unwrap_or(i64::datum_type());
        let declared: Vec<Option<TDim>> = fact.shape.dims().map(|d| d.concretize()).collect();
        let dims: TVec<TDim> = if declared.len() == 2 {
            tvec![
                declared[0].clone().unwrap_or_else(|| batch.clone().into()),
                declared[1]
                    .clone()
                    .unwrap_or_else(|| sequence.clone().into()),
            ]
        } else {
            tvec![batch.clone().into(), sequence.clone().into()]
        };
        model.set_input_fact(ix, InferenceFact::dt_shape(dt, dims))?;
        inputs.push((input, dt));
    }
    if !inputs.iter().any(|(i, _)| *i == GraphInput::InputIds) {
        bail!("graph has no input_ids input");
    }
    let typed = model.into_typed()?.into_decluttered()?;
    let output_rank = typed.output_fact(0)?.rank();
    let output_is_pooled = match (output_rank, config.pooling) {
        (2, _) => true,
        (3, Pooling::None) => {
            bail!("graph outputs token vectors but {CONFIG_FILE} says \"pooling\": \"none\"")
        }
        (3, _) => false,
        (r, _) => bail!("graph output has rank {r}, expected 2 or 3"),
    };
    let run = run_options(options);
    let matmul = if options.bf16 && amx_bf16_available() {
        Matmul::AmxBf16
    } else {
        Matmul::F32
    };
    let _choosing = KERNEL_CHOICE.lock().unwrap_or_else(|e| e.into_inner());
    tract_linalg::knobs::TRACT_AMX_BF16.set(matmul == Matmul::AmxBf16);
    // A graph whose batch dimension cannot be fixed runs padded batches instead.
    let single = options
        .per_text
        .then(|| batch_of_one(&typed, &batch))
        .and_then(|fixed| match fixed.and_then(|m| m.into_optimized()) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot fix the batch to 1; running padded batches");
                None
            }
        });
    let per_text = single.is_some();
    let optimized = match single {
        Some(m) => m,
        None => typed.into_optimized()?,
    };
    let plan = TypedSimplePlan::new_with_options(optimized, &run)?;
    Ok(Graph {
        plan,
        per_text,
        matmul,
        inputs,
        output_is_pooled,
    })
}

/// The decluttered graph with its batch dimension fixed to 1 (the sequence stays symbolic).
fn batch_of_one(typed: &TypedModel, batch: &Symbol) -> TractResult<TypedModel> {
    let mut subs = std::collections::HashMap::new();
    subs.insert(batch.clone(), TDim::from(1i64));
    typed.set_symbols(&subs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_normalize_gives_unit_length_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn cosine_of_parallel_and_orthogonal_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    fn graph_inputs_are_recognised_by_name_only() {
        assert_eq!(
            GraphInput::from_name("attention_mask"),
            Some(GraphInput::AttentionMask)
        );
        assert_eq!(GraphInput::from_name("pixel_values"), None);
    }
}
