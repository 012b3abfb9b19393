//! Writer (and header reader) for whisper.cpp's legacy `ggml` model files.
//!
//! The layout whisper.cpp 1.8.3 reads in `whisper_model_load`
//! (`src/whisper.cpp`), as written by its `models/convert-pt-to-ggml.py`,
//! all integers little-endian `i32` unless noted:
//!
//! ```text
//! u32 magic = 0x67676d6c ("ggml")
//! hparams: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
//!          n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype
//!          (ftype 1 = the big matrices are f16; 0 = all f32)
//! mel filters: n_mel, n_fft (= 201 bins), then n_mel*n_fft f32, row-major
//! vocabulary: n_tokens, then n_tokens times { len, raw token bytes }
//!          (ordinary tokens only; whisper.cpp names the special ones)
//! tensors, until end of file, each:
//!     n_dims, name_len, type (0 f32, 1 f16)
//!     ne[n_dims]            ggml order: innermost (fastest) dimension first,
//!                           i.e. a numpy/PyTorch shape reversed
//!     name bytes (no NUL), then the data, row-major, no padding
//! ```
//!
//! whisper.cpp looks tensors up by name, checks each one's element count,
//! its `ne` and its byte size against the type it expects, and fails if any
//! of its tensors is missing. With ftype 1 it expects f16 for the weight
//! matrices, the token embedding and the two conv kernels, and f32 for
//! biases, layer norms and both positional embeddings; the conv biases are
//! 2-D, `ne = [1, n_audio_state]`.

use std::io::{self, Read, Write};

use super::mel::MelFilterbank;

/// `GGML_FILE_MAGIC` from ggml.h.
pub const GGML_FILE_MAGIC: u32 = 0x6767_6d6c;

/// Most dimensions whisper.cpp's loader reads for one tensor.
const MAX_DIMS: usize = 4;

/// The hyper-parameters at the head of a whisper.cpp model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperHparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    /// 1: f16 matrices (what the converter writes), 0: all f32.
    pub ftype: i32,
}

impl WhisperHparams {
    fn fields(&self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    /// whisper.cpp's model size name for this layer count.
    pub fn size_name(&self) -> &'static str {
        match self.n_audio_layer {
            4 => "tiny",
            6 => "base",
            12 => "small",
            24 => "medium",
            32 => "large",
            _ => "unknown",
        }
    }
}

/// ggml tensor types used in Whisper files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
}

impl GgmlType {
    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GgmlError {
    #[error("writing the model: {0}")]
    Io(#[from] io::Error),
    #[error("tensor {name:?}: {reason}")]
    BadTensor { name: String, reason: String },
    #[error("{0} does not fit in the format's 32-bit fields")]
    TooLarge(&'static str),
    #[error("not a whisper.cpp ggml file (magic {0:#010x})")]
    BadMagic(u32),
}

fn i32_of(v: usize, what: &'static str) -> Result<i32, GgmlError> {
    i32::try_from(v).map_err(|_| GgmlError::TooLarge(what))
}

/// Streams a whisper.cpp model file: [`Self::header`], [`Self::mel_filters`],
/// [`Self::vocabulary`], then any number of [`Self::tensor`]s.
pub struct GgmlWriter<W: Write> {
    out: W,
    written: u64,
    tensors: usize,
}

impl<W: Write> GgmlWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out, written: 0, tensors: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), GgmlError> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn put_i32(&mut self, v: i32) -> Result<(), GgmlError> {
        self.put(&v.to_le_bytes())
    }

    pub fn header(&mut self, hp: &WhisperHparams) -> Result<(), GgmlError> {
        self.put(&GGML_FILE_MAGIC.to_le_bytes())?;
        for v in hp.fields() {
            self.put_i32(v)?;
        }
        Ok(())
    }

    pub fn mel_filters(&mut self, fb: &MelFilterbank) -> Result<(), GgmlError> {
        if fb.weights.len() != fb.n_mels * fb.n_freqs {
            return Err(GgmlError::BadTensor { name: "mel filters".into(), reason: "size mismatch".into() });
        }
        self.put_i32(i32_of(fb.n_mels, "the mel band count")?)?;
        self.put_i32(i32_of(fb.n_freqs, "the mel filter length")?)?;
        let bytes: Vec<u8> = fb.weights.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.put(&bytes)
    }

    pub fn vocabulary(&mut self, tokens: &[Vec<u8>]) -> Result<(), GgmlError> {
        self.put_i32(i32_of(tokens.len(), "the vocabulary size")?)?;
        for t in tokens {
            self.put_i32(i32_of(t.len(), "a token length")?)?;
            self.put(t)?;
        }
        Ok(())
    }

    /// Writes one tensor. `ne` is in ggml order (innermost first); `data`
    /// holds `product(ne)` little-endian values of `ty`.
    pub fn tensor(&mut self, name: &str, ne: &[usize], ty: GgmlType, data: &[u8]) -> Result<(), GgmlError> {
        let bad = |reason: String| GgmlError::BadTensor { name: name.to_owned(), reason };
        if ne.is_empty() || ne.len() > MAX_DIMS {
            return Err(bad(format!("{} dimensions (1 to {MAX_DIMS} allowed)", ne.len())));
        }
        if name.is_empty() {
            return Err(bad("empty name".into()));
        }
        // whisper.cpp counts elements in an i32.
        let elements = ne.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).filter(|&n| n <= i32::MAX as usize);
        let Some(elements) = elements else { return Err(bad(format!("shape {ne:?} is too large"))) };
        if elements * ty.size() != data.len() {
            return Err(bad(format!(
                "shape {ne:?} of {ty:?} needs {} bytes, got {}",
                elements * ty.size(),
                data.len()
            )));
        }
        self.put_i32(ne.len() as i32)?;
        self.put_i32(i32_of(name.len(), "a tensor name length")?)?;
        self.put_i32(ty as i32)?;
        for &d in ne {
            self.put_i32(i32_of(d, "a tensor dimension")?)?;
        }
        self.put(name.as_bytes())?;
        self.put(data)?;
        self.tensors += 1;
        Ok(())
    }

    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    pub fn tensors_written(&self) -> usize {
        self.tensors
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Reads the magic and hyper-parameters at the start of a ggml file.
pub fn read_hparams(mut r: impl Read) -> Result<WhisperHparams, GgmlError> {
    let mut word = [0u8; 4];
    r.read_exact(&mut word)?;
    let magic = u32::from_le_bytes(word);
    if magic != GGML_FILE_MAGIC {
        return Err(GgmlError::BadMagic(magic));
    }
    let mut f = [0i32; 11];
    for v in &mut f {
        r.read_exact(&mut word)?;
        *v = i32::from_le_bytes(word);
    }
    Ok(WhisperHparams {
        n_vocab: f[0],
        n_audio_ctx: f[1],
        n_audio_state: f[2],
        n_audio_head: f[3],
        n_audio_layer: f[4],
        n_text_ctx: f[5],
        n_text_state: f[6],
        n_text_head: f[7],
        n_text_layer: f[8],
        n_mels: f[9],
        ftype: f[10],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp() -> WhisperHparams {
        WhisperHparams {
            n_vocab: 51864,
            n_audio_ctx: 1500,
            n_audio_state: 384,
            n_audio_head: 6,
            n_audio_layer: 4,
            n_text_ctx: 448,
            n_text_state: 384,
            n_text_head: 6,
            n_text_layer: 4,
            n_mels: 80,
            ftype: 1,
        }
    }

    #[test]
    fn header_round_trips() {
        let mut w = GgmlWriter::new(Vec::new());
        w.header(&hp()).unwrap();
        assert_eq!(w.bytes_written(), 48);
        let bytes = w.into_inner();
        assert_eq!(&bytes[..4], b"lmgg");
        assert_eq!(read_hparams(&bytes[..]).unwrap(), hp());
        assert_eq!(hp().size_name(), "tiny");
        assert!(matches!(read_hparams(&b"GGUF\0\0\0\0"[..]), Err(GgmlError::BadMagic(_))));
        assert!(matches!(read_hparams(&bytes[..20]), Err(GgmlError::Io(_))));
    }

    #[test]
    fn tensor_records_are_laid_out_as_whisper_cpp_reads_them() {
        let mut w = GgmlWriter::new(Vec::new());
        let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        w.tensor("encoder.conv1.bias", &[1, 2], GgmlType::F32, &data).unwrap();
        let b = w.into_inner();
        let i = |k: usize| i32::from_le_bytes(b[4 * k..4 * k + 4].try_into().unwrap());
        assert_eq!((i(0), i(1), i(2), i(3), i(4)), (2, 18, 0, 1, 2));
        assert_eq!(&b[20..38], b"encoder.conv1.bias");
        assert_eq!(&b[38..], &data[..]);
    }

    #[test]
    fn inconsistent_tensors_are_refused() {
        let mut w = GgmlWriter::new(Vec::new());
        assert!(w.tensor("a", &[3], GgmlType::F16, &[0; 4]).is_err());
        assert!(w.tensor("a", &[], GgmlType::F16, &[]).is_err());
        assert!(w.tensor("a", &[1, 1, 1, 1, 1], GgmlType::F16, &[0; 2]).is_err());
        assert!(w.tensor("", &[1], GgmlType::F16, &[0; 2]).is_err());
        assert!(w.tensor("a", &[usize::MAX, 2], GgmlType::F16, &[]).is_err());
        assert_eq!(w.tensors_written(), 0);
        assert_eq!(w.bytes_written(), 0);
    }

    #[test]
    fn vocabulary_and_filters() {
        let mut w = GgmlWriter::new(Vec::new());
        w.vocabulary(&[b"a".to_vec(), b" b".to_vec()]).unwrap();
        let fb = MelFilterbank { n_mels: 1, n_freqs: 2, weights: vec![0.5, 0.25] };
        w.mel_filters(&fb).unwrap();
        let b = w.into_inner();
        assert_eq!(&b[..4], &2i32.to_le_bytes());
        assert_eq!(&b[4..9], &[1, 0, 0, 0, b'a']);
        assert_eq!(&b[9..15], &[2, 0, 0, 0, b' ', b'b']);
        assert_eq!(&b[15..23], &[1, 0, 0, 0, 2, 0, 0, 0]);
        let bad = MelFilterbank { n_mels: 2, n_freqs: 2, weights: vec![0.0] };
        assert!(GgmlWriter::new(Vec::new()).mel_filters(&bad).is_err());
    }
}
