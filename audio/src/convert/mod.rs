//! Converts CTranslate2 Whisper models to whisper.cpp's ggml format.
//!
//! The only Whisper weights this project can reach come as a CTranslate2
//! model (a `model.bin`, `vocabulary.txt` and `config.json`, as
//! faster-whisper uses them); whisper.cpp, which whisper-rs wraps, reads its
//! own ggml files. This module turns one into the other:
//! [`convert_ct2_to_ggml`].
//!
//! The two file formats are described in [`ct2`] and [`ggml`]. The mapping,
//! for a model with `S` = state size and `L` layers (CTranslate2 name →
//! whisper.cpp name; `w`/`b` = `weight`/`bias`, layer norms `gamma`/`beta` →
//! `weight`/`bias`):
//!
//! | CTranslate2 (`WhisperSpec` rev. 3) | whisper.cpp | type |
//! |---|---|---|
//! | `encoder/conv{1,2}/weight` `[S, in, 3]` | `encoder.conv{1,2}.weight`, ne `[3, in, S]` | f16 |
//! | `encoder/conv{1,2}/bias` `[S]` | `encoder.conv{1,2}.bias`, ne `[1, S]` | f32 |
//! | `encoder/position_encodings/encodings` `[1500, S]` | `encoder.positional_embedding` | f32 |
//! | `encoder/layer_norm/{gamma,beta}` | `encoder.ln_post.{weight,bias}` | f32 |
//! | `{enc,dec}oder/layer_i/self_attention/layer_norm` | `…blocks.i.attn_ln` | f32 |
//! | `…/self_attention/linear_0/w` `[3S, S]` (q, k, v stacked) | `…attn.{query,key,value}.weight` | f16 |
//! | `…/self_attention/linear_0/b` `[3S]` | `…attn.{query,value}.bias` (key bias dropped) | f32 |
//! | `…/self_attention/linear_1` | `…attn.out` | f16 / f32 |
//! | `decoder/layer_i/attention/layer_norm` | `decoder.blocks.i.cross_attn_ln` | f32 |
//! | `…/attention/linear_0` | `…cross_attn.query` | f16 / f32 |
//! | `…/attention/linear_1/w` `[2S, S]` (k, v stacked) | `…cross_attn.{key,value}.weight` | f16 |
//! | `…/attention/linear_1/b` `[2S]` | `…cross_attn.value.bias` (key bias dropped) | f32 |
//! | `…/attention/linear_2` | `…cross_attn.out` | f16 / f32 |
//! | `…/ffn/layer_norm`, `…/ffn/linear_0`, `…/ffn/linear_1` | `…mlp_ln`, `…mlp.0`, `…mlp.2` | |
//! | `decoder/embeddings/weight` `[n_vocab, S]` | `decoder.token_embedding.weight` | f16 |
//! | `decoder/position_encodings/encodings` `[448, S]` | `decoder.positional_embedding` | f32 |
//! | `decoder/layer_norm` | `decoder.ln` | f32 |
//!
//! Both sides store matrices row-major as `[out, in]` (PyTorch's layout), so
//! nothing is transposed: ggml's `ne` is the shape reversed. CTranslate2
//! does not pre-scale the queries (it scales at run time, as whisper.cpp
//! does). Its key biases are zeros (Whisper's key projections have no bias);
//! dropping them is exact whatever their value, since `q·b_k` is the same
//! for every key of a query and softmax ignores a constant shift. The
//! report still gives the largest one seen. `decoder/projection/weight` is
//! an alias of the token embedding, which whisper.cpp ties as well.
//!
//! CTranslate2 files do not carry the mel filterbank; it is computed
//! ([`mel`]). The vocabulary's byte-level strings are decoded to the raw
//! bytes whisper.cpp stores ([`vocab`]).
//!
//! Weights in f16, f32 or bf16 are accepted (converted per tensor kind as
//! above; f32 → f16 rounds to nearest even). Quantized (int8/int16)
//! CTranslate2 models are refused.

pub mod ct2;
pub mod ggml;
pub mod mel;
pub mod vocab;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use half::{bf16, f16};

use self::ct2::{Ct2Dtype, Ct2Error, Ct2Model};
pub use self::ggml::WhisperHparams;
use self::ggml::{GgmlError, GgmlType, GgmlWriter};
use self::vocab::{VocabError, Vocabulary};

/// The only CTranslate2 spec this converter understands.
pub const WHISPER_SPEC: &str = "WhisperSpec";
/// Spec revisions whose layout is the one mapped above.
pub const SUPPORTED_SPEC_REVISIONS: std::ops::RangeInclusive<u32> = 1..=3;

/// Whisper's audio: 16 kHz, 400-sample FFT windows.
const SAMPLE_RATE: u32 = 16_000;
const N_FFT: usize = 400;
/// 30 s of audio is 3000 mel frames, 1500 after the stride-2 convolution.
const N_AUDIO_CTX: usize = 1500;

/// CTranslate2's `ActivationType::GELU`.
const CT2_GELU: i64 = 3;

/// What went wrong in a conversion.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model.bin: {0}")]
    Ct2(#[from] Ct2Error),
    #[error("vocabulary.txt: {0}")]
    Vocab(#[from] VocabError),
    #[error("config.json: {0}")]
    Config(String),
    #[error("output: {0}")]
    Ggml(#[from] GgmlError),
    #[error("not a Whisper model this converter supports: {0}")]
    Unsupported(String),
    #[error("variable {name:?} has shape {found:?}, expected {expected:?}")]
    Shape { name: String, found: Vec<usize>, expected: Vec<usize> },
    #[error("variable {name:?} is {dtype}: quantized CTranslate2 models are not supported (convert with float16)")]
    Quantized { name: String, dtype: Ct2Dtype },
    #[error("variable {name:?} holds a NaN or an infinity (or overflows float16)")]
    NonFinite { name: String },
    #[error("model.bin has variables this converter does not know: {}", .0.join(", "))]
    UnexpectedVariables(Vec<String>),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConvertError + '_ {
    move |source| ConvertError::Io { path: path.to_owned(), source }
}

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertReport {
    pub hparams: WhisperHparams,
    /// Tensors written (whisper.cpp's tiny model has 167).
    pub tensors: usize,
    pub bytes_written: u64,
    /// Ordinary tokens written (50256 for English-only models).
    pub vocab_tokens: usize,
    /// The largest |key bias| dropped (0 for every CTranslate2 Whisper).
    pub max_abs_key_bias: f32,
    /// `suppress_ids` in config.json, if it had them (informational: whisper.cpp
    /// derives its own list).
    pub suppress_ids: Option<usize>,
    pub source_binary_version: u32,
    pub source_spec_revision: u32,
}

/// Which part of a (possibly fused) source matrix a tensor takes.
#[derive(Debug, Clone, Copy)]
enum Part {
    All,
    /// Rows `k*S .. (k+1)*S` of a `[n*S, ...]` matrix or `[n*S]` vector.
    Chunk {
        index: usize,
        of: usize,
    },
}

/// One tensor to write.
#[derive(Debug, Clone)]
struct Planned {
    ggml_name: String,
    source: String,
    /// The shape the source variable must have.
    source_shape: Vec<usize>,
    part: Part,
    /// ggml `ne` of the output.
    ne: Vec<usize>,
    ty: GgmlType,
}

impl Planned {
    fn out_bytes(&self) -> u64 {
        self.ne.iter().product::<usize>() as u64 * self.ty.size() as u64
    }
}

struct Plan {
    tensors: Vec<Planned>,
    /// Key-bias slices that are dropped (source name, chunk index, chunk count).
    key_biases: Vec<(String, usize, usize)>,
}

fn check_shape(model: &Ct2Model<File>, name: &str, expected: &[usize]) -> Result<(), ConvertError> {
    let var = model.require(name)?;
    if var.shape != expected {
        return Err(ConvertError::Shape {
            name: name.to_owned(),
            found: var.shape.clone(),
            expected: expected.to_vec(),
        });
    }
    Ok(())
}

fn dims2(model: &Ct2Model<File>, name: &str) -> Result<(usize, usize), ConvertError> {
    let var = model.require(name)?;
    match var.shape[..] {
        [a, b] => Ok((a, b)),
        _ => Err(ConvertError::Unsupported(format!("{name} should be a matrix, has shape {:?}", var.shape))),
    }
}

fn positive_i32(v: usize, what: &str) -> Result<i32, ConvertError> {
    i32::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| ConvertError::Unsupported(format!("{what} = {v} is out of range")))
}

/// Counts `prefix/layer_{i}` scopes, checking they are numbered 0..n with no gap.
fn count_layers(model: &Ct2Model<File>, prefix: &str) -> Result<usize, ConvertError> {
    let scope = format!("{prefix}/layer_");
    let mut seen = HashSet::new();
    for v in &model.variables {
        // `encoder/layer_3/...` is layer 3; `encoder/layer_norm/...` is not a layer.
        let Some(rest) = v.name.strip_prefix(&scope) else { continue };
        let segment = rest.split('/').next().unwrap_or("");
        if !segment.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let idx =
            segment.parse::<usize>().ok().filter(|_| rest.contains('/')).ok_or_else(|| {
                ConvertError::Unsupported(format!("variable {:?} has an unreadable layer index", v.name))
            })?;
        seen.insert(idx);
    }
    let n = seen.len();
    if (0..n).any(|i| !seen.contains(&i)) {
        return Err(ConvertError::Unsupported(format!("{prefix} layers are not numbered 0..{n}")));
    }
    Ok(n)
}

/// Reads the hyper-parameters off the variables and checks the options
/// whisper.cpp hard-codes.
fn derive_hparams(model: &mut Ct2Model<File>) -> Result<WhisperHparams, ConvertError> {
    if model.spec_name != WHISPER_SPEC {
        return Err(ConvertError::Unsupported(format!("spec is {:?}, not {WHISPER_SPEC}", model.spec_name)));
    }
    if !SUPPORTED_SPEC_REVISIONS.contains(&model.spec_revision) {
        return Err(ConvertError::Unsupported(format!("{WHISPER_SPEC} revision {} is unknown", model.spec_revision)));
    }
    let (n_vocab, n_text_state) = dims2(model, "decoder/embeddings/weight")?;
    let (n_audio_ctx, n_audio_state) = dims2(model, "encoder/position_encodings/encodings")?;
    let (n_text_ctx, dec_pe_state) = dims2(model, "decoder/position_encodings/encodings")?;
    let conv1 = model.require("encoder/conv1/weight")?.shape.clone();
    let n_mels = match conv1[..] {
        [_, n_mels, 3] => n_mels,
        _ => return Err(ConvertError::Unsupported(format!("encoder/conv1/weight has shape {conv1:?}"))),
    };
    if n_text_state != n_audio_state || dec_pe_state != n_text_state {
        return Err(ConvertError::Unsupported(format!(
            "encoder state {n_audio_state} and decoder state {n_text_state} differ (whisper.cpp needs them equal)"
        )));
    }
    if n_audio_ctx != N_AUDIO_CTX {
        return Err(ConvertError::Unsupported(format!("audio context {n_audio_ctx}, Whisper's is {N_AUDIO_CTX}")));
    }
    if n_mels != 80 && n_mels != 128 {
        return Err(ConvertError::Unsupported(format!("{n_mels} mel bands (Whisper uses 80 or 128)")));
    }
    let mut heads = |name: &str| -> Result<usize, ConvertError> {
        let h = model.scalar_int(name)?.ok_or_else(|| Ct2Error::MissingVariable(name.to_owned()))?;
        usize::try_from(h)
            .ok()
            .filter(|&h| h > 0 && n_audio_state % h == 0)
            .ok_or_else(|| ConvertError::Unsupported(format!("{name} = {h} does not divide the state size")))
    };
    let n_audio_head = heads("encoder/num_heads")?;
    let n_text_head = heads("decoder/num_heads")?;

    // Options whisper.cpp's graph hard-codes: pre-norm blocks, exact GELU,
    // unscaled embeddings, learned positions, no ALiBi.
    let expect = [
        ("decoder/pre_norm", 1),
        ("decoder/activation", CT2_GELU),
        ("decoder/scale_embeddings", 0),
        ("decoder/alibi", 0),
        ("decoder/start_from_zero_embedding", 0),
        ("encoder/pre_norm", 1),
        ("encoder/activation", CT2_GELU),
    ];
    for (name, want) in expect {
        if let Some(v) = model.scalar_int(name)?
            && v != want
        {
            return Err(ConvertError::Unsupported(format!("{name} = {v} (whisper.cpp implements only {want})")));
        }
    }

    let n_audio_layer = count_layers(model, "encoder")?;
    let n_text_layer = count_layers(model, "decoder")?;
    Ok(WhisperHparams {
        n_vocab: positive_i32(n_vocab, "n_vocab")?,
        n_audio_ctx: positive_i32(n_audio_ctx, "n_audio_ctx")?,
        n_audio_state: positive_i32(n_audio_state, "n_audio_state")?,
        n_audio_head: positive_i32(n_audio_head, "n_audio_head")?,
        n_audio_layer: positive_i32(n_audio_layer, "n_audio_layer")?,
        n_text_ctx: positive_i32(n_text_ctx, "n_text_ctx")?,
        n_text_state: positive_i32(n_text_state, "n_text_state")?,
        n_text_head: positive_i32(n_text_head, "n_text_head")?,
        n_text_layer: positive_i32(n_text_layer, "n_text_layer")?,
        n_mels: positive_i32(n_mels, "n_mels")?,
        ftype: 1,
    })
}

/// Builds the list of tensors whisper.cpp expects, with where each comes
/// from and how it is stored.
struct Planner {
    /// The state size.
    s: usize,
    tensors: Vec<Planned>,
    key_biases: Vec<(String, usize, usize)>,
}

impl Planner {
    fn add(&mut self, ggml: &str, source: &str, source_shape: Vec<usize>, part: Part, ne: Vec<usize>, ty: GgmlType) {
        let (ggml_name, source) = (ggml.to_owned(), source.to_owned());
        self.tensors.push(Planned { ggml_name, source, source_shape, part, ne, ty });
    }

    /// A `[S]` vector, stored f32.
    fn vector(&mut self, ggml: &str, source: &str) {
        self.add(ggml, source, vec![self.s], Part::All, vec![self.s], GgmlType::F32);
    }

    fn norm(&mut self, ggml: &str, source: &str) {
        self.vector(&format!("{ggml}.weight"), &format!("{source}/gamma"));
        self.vector(&format!("{ggml}.bias"), &format!("{source}/beta"));
    }

    /// A dense layer: `[out, in]` f16 weight, `[out]` f32 bias.
    fn linear(&mut self, ggml: &str, source: &str, out: usize, inp: usize) {
        let (w, b) = (format!("{source}/weight"), format!("{source}/bias"));
        self.add(&format!("{ggml}.weight"), &w, vec![out, inp], Part::All, vec![inp, out], GgmlType::F16);
        self.add(&format!("{ggml}.bias"), &b, vec![out], Part::All, vec![out], GgmlType::F32);
    }

    /// Chunk `index` of `of` stacked `[S, S]` matrices in `source/weight`.
    fn chunk_weight(&mut self, ggml: &str, source: &str, index: usize, of: usize) {
        let s = self.s;
        let src = format!("{source}/weight");
        self.add(ggml, &src, vec![of * s, s], Part::Chunk { index, of }, vec![s, s], GgmlType::F16);
    }

    /// Chunk `index` of `of` stacked `[S]` biases in `source/bias`.
    fn chunk_bias(&mut self, ggml: &str, source: &str, index: usize, of: usize) {
        let s = self.s;
        self.add(ggml, &format!("{source}/bias"), vec![of * s], Part::Chunk { index, of }, vec![s], GgmlType::F32);
    }

    fn self_attention(&mut self, ggml: &str, source: &str) {
        let sa = format!("{source}/self_attention");
        self.norm(&format!("{ggml}.attn_ln"), &format!("{sa}/layer_norm"));
        let qkv = format!("{sa}/linear_0");
        self.chunk_weight(&format!("{ggml}.attn.query.weight"), &qkv, 0, 3);
        self.chunk_bias(&format!("{ggml}.attn.query.bias"), &qkv, 0, 3);
        self.chunk_weight(&format!("{ggml}.attn.key.weight"), &qkv, 1, 3);
        self.key_biases.push((format!("{qkv}/bias"), 1, 3));
        self.chunk_weight(&format!("{ggml}.attn.value.weight"), &qkv, 2, 3);
        self.chunk_bias(&format!("{ggml}.attn.value.bias"), &qkv, 2, 3);
        self.linear(&format!("{ggml}.attn.out"), &format!("{sa}/linear_1"), self.s, self.s);
    }

    fn cross_attention(&mut self, ggml: &str, source: &str) {
        let ca = format!("{source}/attention");
        self.norm(&format!("{ggml}.cross_attn_ln"), &format!("{ca}/layer_norm"));
        self.linear(&format!("{ggml}.cross_attn.query"), &format!("{ca}/linear_0"), self.s, self.s);
        let kv = format!("{ca}/linear_1");
        self.chunk_weight(&format!("{ggml}.cross_attn.key.weight"), &kv, 0, 2);
        self.key_biases.push((format!("{kv}/bias"), 0, 2));
        self.chunk_weight(&format!("{ggml}.cross_attn.value.weight"), &kv, 1, 2);
        self.chunk_bias(&format!("{ggml}.cross_attn.value.bias"), &kv, 1, 2);
        self.linear(&format!("{ggml}.cross_attn.out"), &format!("{ca}/linear_2"), self.s, self.s);
    }

    fn ffn(&mut self, ggml: &str, source: &str) {
        let s = self.s;
        self.norm(&format!("{ggml}.mlp_ln"), &format!("{source}/ffn/layer_norm"));
        self.linear(&format!("{ggml}.mlp.0"), &format!("{source}/ffn/linear_0"), 4 * s, s);
        self.linear(&format!("{ggml}.mlp.2"), &format!("{source}/ffn/linear_1"), s, 4 * s);
    }
}

fn plan(hp: &WhisperHparams) -> Plan {
    let s = hp.n_audio_state as usize;
    let mut p = Planner { s, tensors: Vec::new(), key_biases: Vec::new() };

    // Encoder.
    let pe = "encoder/position_encodings/encodings";
    p.add("encoder.positional_embedding", pe, vec![N_AUDIO_CTX, s], Part::All, vec![s, N_AUDIO_CTX], GgmlType::F32);
    for (i, inp) in [(1, hp.n_mels as usize), (2, s)] {
        let (g, c) = (format!("encoder.conv{i}"), format!("encoder/conv{i}"));
        let (gw, cw) = (format!("{g}.weight"), format!("{c}/weight"));
        p.add(&gw, &cw, vec![s, inp, 3], Part::All, vec![3, inp, s], GgmlType::F16);
        p.add(&format!("{g}.bias"), &format!("{c}/bias"), vec![s], Part::All, vec![1, s], GgmlType::F32);
    }
    p.norm("encoder.ln_post", "encoder/layer_norm");
    for i in 0..hp.n_audio_layer as usize {
        let (g, c) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        p.self_attention(&g, &c);
        p.ffn(&g, &c);
    }

    // Decoder.
    let (n_vocab, n_text_ctx) = (hp.n_vocab as usize, hp.n_text_ctx as usize);
    let pe = "decoder/position_encodings/encodings";
    p.add("decoder.positional_embedding", pe, vec![n_text_ctx, s], Part::All, vec![s, n_text_ctx], GgmlType::F32);
    let emb = "decoder/embeddings/weight";
    p.add("decoder.token_embedding.weight", emb, vec![n_vocab, s], Part::All, vec![s, n_vocab], GgmlType::F16);
    p.norm("decoder.ln", "decoder/layer_norm");
    for i in 0..hp.n_text_layer as usize {
        let (g, c) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        p.self_attention(&g, &c);
        p.cross_attention(&g, &c);
        p.ffn(&g, &c);
    }
    Plan { tensors: p.tensors, key_biases: p.key_biases }
}

/// Variables that carry options, not weights, and are read (or safely
/// ignored) elsewhere.
fn is_option_variable(name: &str) -> bool {
    matches!(
        name,
        "encoder/num_heads"
            | "decoder/num_heads"
            | "encoder/pre_norm"
            | "decoder/pre_norm"
            | "encoder/activation"
            | "decoder/activation"
            | "decoder/scale_embeddings"
            | "decoder/alibi"
            | "decoder/start_from_zero_embedding"
            // Cross-attention heads used for word timestamps: whisper.cpp
            // has its own table (DTW presets), not stored in the file.
            | "decoder/alignment_heads"
            | "decoder/alignment_layer"
    )
}

/// Decodes little-endian floats of any supported CTranslate2 type.
fn floats(name: &str, dtype: Ct2Dtype, bytes: &[u8]) -> Result<Vec<f32>, ConvertError> {
    let pairs = || bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    let out: Vec<f32> = match dtype {
        Ct2Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Ct2Dtype::F16 => pairs().map(|b| f16::from_bits(b).to_f32()).collect(),
        Ct2Dtype::Bf16 => pairs().map(|b| bf16::from_bits(b).to_f32()).collect(),
        other => return Err(ConvertError::Quantized { name: name.to_owned(), dtype: other }),
    };
    if out.iter().any(|v| !v.is_finite()) {
        return Err(ConvertError::NonFinite { name: name.to_owned() });
    }
    Ok(out)
}

/// Encodes a slice of source data as the output type.
fn encode(name: &str, dtype: Ct2Dtype, bytes: &[u8], ty: GgmlType) -> Result<Vec<u8>, ConvertError> {
    match (dtype, ty) {
        // Same representation: copy, but still refuse NaN/inf.
        (Ct2Dtype::F16, GgmlType::F16) => {
            let non_finite = bytes.chunks_exact(2).any(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7c00 == 0x7c00);
            if non_finite {
                return Err(ConvertError::NonFinite { name: name.to_owned() });
            }
            Ok(bytes.to_vec())
        }
        (_, GgmlType::F32) => Ok(floats(name, dtype, bytes)?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        (_, GgmlType::F16) => {
            let values = floats(name, dtype, bytes)?;
            let mut out = Vec::with_capacity(values.len() * 2);
            for v in values {
                let h = f16::from_f32(v);
                if !h.is_finite() {
                    return Err(ConvertError::NonFinite { name: name.to_owned() });
                }
                out.extend_from_slice(&h.to_le_bytes());
            }
            Ok(out)
        }
    }
}

/// The byte range of `part` in a variable of `total` bytes.
fn part_range(part: Part, total: usize) -> std::ops::Range<usize> {
    match part {
        Part::All => 0..total,
        Part::Chunk { index, of } => {
            let len = total / of;
            index * len..(index + 1) * len
        }
    }
}

/// Reads config.json (optional: CTranslate2 writes it, but whisper.cpp needs
/// nothing from it). Returns the number of `suppress_ids` after checking
/// they are token ids of this model.
fn read_config(model_dir: &Path, n_vocab: usize) -> Result<Option<usize>, ConvertError> {
    let path = model_dir.join("config.json");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| ConvertError::Config(e.to_string()))?;
    let obj = json.as_object().ok_or_else(|| ConvertError::Config("not a JSON object".into()))?;
    let Some(ids) = obj.get("suppress_ids") else { return Ok(None) };
    let ids = ids.as_array().ok_or_else(|| ConvertError::Config("suppress_ids is not a list".into()))?;
    for id in ids {
        let ok = id.as_u64().is_some_and(|v| v < n_vocab as u64);
        if !ok {
            return Err(ConvertError::Config(format!("suppress_ids holds {id}, not a token id")));
        }
    }
    Ok(Some(ids.len()))
}

/// Removes a temporary file unless disarmed.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Converts the CTranslate2 Whisper model in `model_dir` (`model.bin`,
/// `vocabulary.txt`, optionally `config.json`) to a whisper.cpp model at
/// `out`, with f16 matrices.
///
/// Everything is checked before the first byte is written; the file is
/// written to a temporary name beside `out` and renamed into place, so `out`
/// is either the complete new model or untouched. `progress(done, total)`
/// is called with output bytes as tensors are written.
pub fn convert_ct2_to_ggml(
    model_dir: &Path,
    out: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<ConvertReport, ConvertError> {
    let bin_path = model_dir.join("model.bin");
    let file = File::open(&bin_path).map_err(io_err(&bin_path))?;
    let mut model = Ct2Model::parse(file)?;
    let hp = derive_hparams(&mut model)?;
    let n_vocab = hp.n_vocab as usize;

    let vocab_path = model_dir.join("vocabulary.txt");
    let vocab_text = fs::read_to_string(&vocab_path).map_err(io_err(&vocab_path))?;
    let vocab = Vocabulary::parse(&vocab_text)?;
    vocab.check_special_layout(n_vocab)?;
    let tokens = vocab.ordinary_token_bytes()?;
    let suppress_ids = read_config(model_dir, n_vocab)?;

    let filters = mel::slaney_filterbank(SAMPLE_RATE, N_FFT, hp.n_mels as usize)
        .ok_or_else(|| ConvertError::Unsupported("no mel filterbank for these sizes".into()))?;

    // Check every source before writing anything.
    let plan = plan(&hp);
    let mut used: HashSet<String> = HashSet::new();
    for t in &plan.tensors {
        check_shape(&model, &t.source, &t.source_shape)?;
        let var = model.require(&t.source)?;
        if !var.dtype.is_float() {
            return Err(ConvertError::Quantized { name: t.source.clone(), dtype: var.dtype });
        }
        used.insert(var.name.clone());
    }
    let mut unknown: Vec<String> = model
        .variables
        .iter()
        .map(|v| v.name.clone())
        .filter(|n| !used.contains(n) && !is_option_variable(n))
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        return Err(ConvertError::UnexpectedVariables(unknown));
    }
    for (alias, target) in &model.aliases {
        if alias != "decoder/projection/weight" || target != "decoder/embeddings/weight" {
            return Err(ConvertError::UnexpectedVariables(vec![format!("{alias} (alias of {target})")]));
        }
    }

    let mut max_abs_key_bias = 0f32;
    for (name, index, of) in &plan.key_biases {
        let (var, data) = model.read(name)?;
        let range = part_range(Part::Chunk { index: *index, of: *of }, data.len());
        for v in floats(name, var.dtype, &data[range])? {
            max_abs_key_bias = max_abs_key_bias.max(v.abs());
        }
    }

    // Write.
    let file_name = out
        .file_name()
        .ok_or_else(|| ConvertError::Io { path: out.to_owned(), source: std::io::ErrorKind::InvalidInput.into() })?;
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp_name = format!(".{}.tmp-{}-{nanos}", file_name.to_string_lossy(), std::process::id());
    let tmp_path = out.with_file_name(tmp_name);
    let tmp_file = File::create(&tmp_path).map_err(io_err(&tmp_path))?;
    let mut guard = TempFile { path: tmp_path.clone(), armed: true };
    let mut writer = GgmlWriter::new(BufWriter::with_capacity(1 << 20, tmp_file));
    let total: u64 = plan.tensors.iter().map(Planned::out_bytes).sum();
    let mut done = 0u64;
    progress(0, total);

    writer.header(&hp)?;
    writer.mel_filters(&filters)?;
    writer.vocabulary(&tokens)?;
    for t in &plan.tensors {
        // A fused matrix is read once per chunk: at most 3·S² values, cheap
        // next to keeping chunks around.
        let (var, data) = model.read(&t.source)?;
        let range = part_range(t.part, data.len());
        let bytes = encode(&t.source, var.dtype, &data[range], t.ty)?;
        writer.tensor(&t.ggml_name, &t.ne, t.ty, &bytes)?;
        done += t.out_bytes();
        progress(done, total);
    }

    let bytes_written = writer.bytes_written();
    let tensors = writer.tensors_written();
    let buf = writer.into_inner();
    let file = buf.into_inner().map_err(|e| io_err(&tmp_path)(e.into_error()))?;
    file.sync_all().map_err(io_err(&tmp_path))?;
    drop(file);
    fs::rename(&tmp_path, out).map_err(io_err(out))?;
    guard.armed = false;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        // Make the rename durable; not every platform allows it.
        let _ = d.sync_all();
    }

    Ok(ConvertReport {
        hparams: hp,
        tensors,
        bytes_written,
        vocab_tokens: tokens.len(),
        max_abs_key_bias,
        suppress_ids,
        source_binary_version: model.binary_version,
        source_spec_revision: model.spec_revision,
    })
}

#[cfg(test)]
mod tests;
