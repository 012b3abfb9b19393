//! Conversion tests on a tiny synthetic Whisper (state 8, one layer each
//! side, the real vocabulary layout), written in CTranslate2's format here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use half::{bf16, f16};

use super::ct2::write_test_model;
use super::vocab::english_test_vocabulary;
use super::*;

const S: usize = 8;
const N_VOCAB: usize = 51864;
const N_TEXT_CTX: usize = 16;

/// A scratch directory removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(tag: &str) -> Self {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let p = std::env::temp_dir().join(format!("voxbook-convert-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A variable before encoding: name, shape, values (f32).
struct Var {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
    /// Overrides the float encoding (e.g. int8).
    raw: Option<(u8, Vec<u8>)>,
}

fn var(name: &str, shape: &[usize], f: impl Fn(usize) -> f32) -> Var {
    let n: usize = shape.iter().product();
    Var { name: name.to_owned(), shape: shape.to_vec(), values: (0..n).map(f).collect(), raw: None }
}

fn scalar(name: &str, dtype: u8, bytes: &[u8]) -> Var {
    Var { name: name.to_owned(), shape: vec![], values: vec![], raw: Some((dtype, bytes.to_vec())) }
}

/// Values exactly representable in f16 and bf16: multiples of 1/64 in [-1, 1).
fn pattern(seed: usize) -> impl Fn(usize) -> f32 {
    move |i| ((i * 7 + seed * 13) % 128) as f32 / 64.0 - 1.0
}

/// Row `r` of a stacked matrix holds `r` everywhere.
fn row_index(cols: usize) -> impl Fn(usize) -> f32 {
    move |i| (i / cols) as f32
}

fn layer_vars(vars: &mut Vec<Var>, prefix: &str, cross: bool) {
    let sa = format!("{prefix}/self_attention");
    vars.push(var(&format!("{sa}/layer_norm/gamma"), &[S], pattern(1)));
    vars.push(var(&format!("{sa}/layer_norm/beta"), &[S], pattern(2)));
    vars.push(var(&format!("{sa}/linear_0/weight"), &[3 * S, S], row_index(S)));
    // Zero key biases, like CTranslate2 writes them.
    vars.push(var(&format!("{sa}/linear_0/bias"), &[3 * S], |i| if (S..2 * S).contains(&i) { 0.0 } else { i as f32 }));
    vars.push(var(&format!("{sa}/linear_1/weight"), &[S, S], pattern(3)));
    vars.push(var(&format!("{sa}/linear_1/bias"), &[S], pattern(4)));
    if cross {
        let ca = format!("{prefix}/attention");
        vars.push(var(&format!("{ca}/layer_norm/gamma"), &[S], pattern(5)));
        vars.push(var(&format!("{ca}/layer_norm/beta"), &[S], pattern(6)));
        vars.push(var(&format!("{ca}/linear_0/weight"), &[S, S], pattern(7)));
        vars.push(var(&format!("{ca}/linear_0/bias"), &[S], pattern(8)));
        vars.push(var(&format!("{ca}/linear_1/weight"), &[2 * S, S], row_index(S)));
        vars.push(var(&format!("{ca}/linear_1/bias"), &[2 * S], |i| if i < S { 0.0 } else { i as f32 }));
        vars.push(var(&format!("{ca}/linear_2/weight"), &[S, S], pattern(9)));
        vars.push(var(&format!("{ca}/linear_2/bias"), &[S], pattern(10)));
    }
    let ffn = format!("{prefix}/ffn");
    vars.push(var(&format!("{ffn}/layer_norm/gamma"), &[S], pattern(11)));
    vars.push(var(&format!("{ffn}/layer_norm/beta"), &[S], pattern(12)));
    vars.push(var(&format!("{ffn}/linear_0/weight"), &[4 * S, S], pattern(13)));
    vars.push(var(&format!("{ffn}/linear_0/bias"), &[4 * S], pattern(14)));
    vars.push(var(&format!("{ffn}/linear_1/weight"), &[S, 4 * S], pattern(15)));
    vars.push(var(&format!("{ffn}/linear_1/bias"), &[S], pattern(16)));
}

fn tiny_whisper() -> Vec<Var> {
    let mut v = vec![
        var("encoder/conv1/weight", &[S, 80, 3], pattern(20)),
        var("encoder/conv1/bias", &[S], pattern(21)),
        var("encoder/conv2/weight", &[S, S, 3], pattern(22)),
        var("encoder/conv2/bias", &[S], pattern(23)),
        var("encoder/position_encodings/encodings", &[1500, S], pattern(24)),
        var("encoder/layer_norm/gamma", &[S], pattern(25)),
        var("encoder/layer_norm/beta", &[S], pattern(26)),
        scalar("encoder/num_heads", 2, &2i16.to_le_bytes()),
        var("decoder/embeddings/weight", &[N_VOCAB, S], pattern(27)),
        var("decoder/position_encodings/encodings", &[N_TEXT_CTX, S], pattern(28)),
        var("decoder/layer_norm/gamma", &[S], pattern(29)),
        var("decoder/layer_norm/beta", &[S], pattern(30)),
        scalar("decoder/num_heads", 2, &2i16.to_le_bytes()),
        scalar("decoder/activation", 1, &[3]),
        scalar("decoder/pre_norm", 1, &[1]),
        scalar("decoder/scale_embeddings", 1, &[0]),
        scalar("decoder/alibi", 1, &[0]),
        scalar("decoder/start_from_zero_embedding", 1, &[0]),
        scalar("decoder/alignment_heads", 2, &1i16.to_le_bytes()),
        scalar("decoder/alignment_layer", 2, &(-1i16).to_le_bytes()),
    ];
    layer_vars(&mut v, "encoder/layer_0", false);
    layer_vars(&mut v, "decoder/layer_0", true);
    v
}

/// CTranslate2 dtype ids.
const F32: u8 = 0;
const F16: u8 = 4;
const BF16: u8 = 5;

fn encode_values(values: &[f32], dtype: u8) -> Vec<u8> {
    match dtype {
        F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        F16 => values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
        BF16 => values.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect(),
        _ => unreachable!("test dtype"),
    }
}

fn model_bin(vars: &[Var], dtype: u8, spec: &str) -> Vec<u8> {
    let encoded: Vec<(&str, Vec<usize>, u8, Vec<u8>)> = vars
        .iter()
        .map(|v| match &v.raw {
            Some((t, bytes)) => (v.name.as_str(), v.shape.clone(), *t, bytes.clone()),
            None => (v.name.as_str(), v.shape.clone(), dtype, encode_values(&v.values, dtype)),
        })
        .collect();
    write_test_model(spec, 3, &encoded, &[("decoder/projection/weight", "decoder/embeddings/weight")])
}

fn write_model_dir(dir: &Path, bin: &[u8]) {
    fs::write(dir.join("model.bin"), bin).unwrap();
    fs::write(dir.join("vocabulary.txt"), english_test_vocabulary()).unwrap();
    fs::write(dir.join("config.json"), r#"{"suppress_ids": [1, 2, 7], "lang_ids": []}"#).unwrap();
}

/// A parsed output file.
struct Parsed {
    hparams: WhisperHparams,
    n_mel: i32,
    n_fft: i32,
    filters: Vec<f32>,
    tokens: Vec<Vec<u8>>,
    /// name → (ne, type, data)
    tensors: HashMap<String, (Vec<i32>, i32, Vec<u8>)>,
    order: Vec<String>,
}

fn parse_ggml(bytes: &[u8]) -> Parsed {
    let mut pos = 0usize;
    let i32_at = |pos: &mut usize| {
        let v = i32::from_le_bytes(bytes[*pos..*pos + 4].try_into().unwrap());
        *pos += 4;
        v
    };
    let hparams = ggml::read_hparams(bytes).unwrap();
    pos += 48;
    let n_mel = i32_at(&mut pos);
    let n_fft = i32_at(&mut pos);
    let n = (n_mel * n_fft) as usize;
    let filters = bytes[pos..pos + 4 * n].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    pos += 4 * n;
    let n_tokens = i32_at(&mut pos);
    let mut tokens = Vec::new();
    for _ in 0..n_tokens {
        let len = i32_at(&mut pos) as usize;
        tokens.push(bytes[pos..pos + len].to_vec());
        pos += len;
    }
    let mut tensors = HashMap::new();
    let mut order = Vec::new();
    while pos < bytes.len() {
        let n_dims = i32_at(&mut pos);
        let name_len = i32_at(&mut pos) as usize;
        let ty = i32_at(&mut pos);
        let ne: Vec<i32> = (0..n_dims).map(|_| i32_at(&mut pos)).collect();
        let name = String::from_utf8(bytes[pos..pos + name_len].to_vec()).unwrap();
        pos += name_len;
        let size = ne.iter().product::<i32>() as usize * if ty == 0 { 4 } else { 2 };
        tensors.insert(name.clone(), (ne, ty, bytes[pos..pos + size].to_vec()));
        order.push(name);
        pos += size;
    }
    assert_eq!(pos, bytes.len());
    Parsed { hparams, n_mel, n_fft, filters, tokens, tensors, order }
}

fn f16s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
}

fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn convert_dir(dir: &TestDir) -> (Result<ConvertReport, ConvertError>, PathBuf) {
    let out = dir.path().join("out.bin");
    (convert_ct2_to_ggml(dir.path(), &out, &|_, _| {}), out)
}

#[test]
fn converts_a_synthetic_whisper() {
    let dir = TestDir::new("ok");
    write_model_dir(dir.path(), &model_bin(&tiny_whisper(), F16, "WhisperSpec"));
    let out = dir.path().join("out.bin");
    let calls = std::cell::RefCell::new(Vec::new());
    let report = convert_ct2_to_ggml(dir.path(), &out, &|d, t| calls.borrow_mut().push((d, t))).unwrap();

    let expected_hp = WhisperHparams {
        n_vocab: N_VOCAB as i32,
        n_audio_ctx: 1500,
        n_audio_state: S as i32,
        n_audio_head: 2,
        n_audio_layer: 1,
        n_text_ctx: N_TEXT_CTX as i32,
        n_text_state: S as i32,
        n_text_head: 2,
        n_text_layer: 1,
        n_mels: 80,
        ftype: 1,
    };
    assert_eq!(report.hparams, expected_hp);
    // whisper.cpp: 7 encoder stem + 15 per encoder layer + 4 decoder stem + 24 per decoder layer.
    assert_eq!(report.tensors, 7 + 15 + 4 + 24);
    assert_eq!(report.vocab_tokens, 50256);
    assert_eq!(report.max_abs_key_bias, 0.0);
    assert_eq!(report.suppress_ids, Some(3));
    let bytes = fs::read(&out).unwrap();
    assert_eq!(report.bytes_written, bytes.len() as u64);
    assert_eq!(dir.entries(), ["config.json", "model.bin", "out.bin", "vocabulary.txt"]);

    let calls = calls.into_inner();
    let (last_done, total) = *calls.last().unwrap();
    assert_eq!(last_done, total);
    assert_eq!(calls.len(), report.tensors + 1);
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

    let p = parse_ggml(&bytes);
    assert_eq!(p.hparams, expected_hp);
    assert_eq!((p.n_mel, p.n_fft), (80, 201));
    assert!((p.filters[1] - 0.024_862_594).abs() < 1e-8);
    assert_eq!(p.tokens.len(), 50256);
    assert_eq!(p.tokens[0], b"t0");
    assert_eq!(p.tokens[50255], b"t50255");
    assert_eq!(p.order.len(), report.tensors);

    // The fused q/k/v rows land in the right tensors.
    for (name, first_row) in [
        ("encoder.blocks.0.attn.query.weight", 0.0),
        ("encoder.blocks.0.attn.key.weight", 8.0),
        ("encoder.blocks.0.attn.value.weight", 16.0),
        ("decoder.blocks.0.cross_attn.key.weight", 0.0),
        ("decoder.blocks.0.cross_attn.value.weight", 8.0),
    ] {
        let (ne, ty, data) = &p.tensors[name];
        assert_eq!((ne.as_slice(), *ty), (&[S as i32, S as i32][..], 1), "{name}");
        let v = f16s(data);
        assert_eq!(v[0], first_row, "{name}");
        assert_eq!(v[S * S - 1], first_row + 7.0, "{name}");
    }
    let bias = |n: &str| f32s(&p.tensors[n].2);
    assert_eq!(bias("encoder.blocks.0.attn.query.bias"), (0..8).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(bias("encoder.blocks.0.attn.value.bias"), (16..24).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(bias("decoder.blocks.0.cross_attn.value.bias"), (8..16).map(|i| i as f32).collect::<Vec<_>>());
    assert!(!p.tensors.contains_key("encoder.blocks.0.attn.key.bias"));

    // Types and shapes whisper.cpp checks.
    let (ne, ty, _) = &p.tensors["encoder.conv1.weight"];
    assert_eq!((ne.as_slice(), *ty), (&[3, 80, S as i32][..], 1));
    let (ne, ty, _) = &p.tensors["encoder.conv2.bias"];
    assert_eq!((ne.as_slice(), *ty), (&[1, S as i32][..], 0));
    let (ne, ty, _) = &p.tensors["encoder.positional_embedding"];
    assert_eq!((ne.as_slice(), *ty), (&[S as i32, 1500][..], 0));
    let (ne, ty, _) = &p.tensors["decoder.token_embedding.weight"];
    assert_eq!((ne.as_slice(), *ty), (&[S as i32, N_VOCAB as i32][..], 1));
    let (ne, ty, _) = &p.tensors["decoder.blocks.0.mlp.0.weight"];
    assert_eq!((ne.as_slice(), *ty), (&[S as i32, 4 * S as i32][..], 1));
    let (ne, ty, _) = &p.tensors["decoder.blocks.0.cross_attn_ln.bias"];
    assert_eq!((ne.as_slice(), *ty), (&[S as i32][..], 0));
    // Values survive (f16 in, f16 or f32 out).
    let expected: Vec<f32> = (0..S * 80 * 3).map(pattern(20)).collect();
    assert_eq!(f16s(&p.tensors["encoder.conv1.weight"].2), expected);
    let expected: Vec<f32> = (0..S).map(pattern(6)).collect();
    assert_eq!(f32s(&p.tensors["decoder.blocks.0.cross_attn_ln.bias"].2), expected);
}

#[test]
fn f32_and_bf16_sources_give_the_same_file() {
    let outputs: Vec<Vec<u8>> = [F16, F32, BF16]
        .into_iter()
        .map(|dtype| {
            let dir = TestDir::new("dtype");
            write_model_dir(dir.path(), &model_bin(&tiny_whisper(), dtype, "WhisperSpec"));
            let (r, out) = convert_dir(&dir);
            r.unwrap();
            fs::read(out).unwrap()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

#[test]
fn nonzero_key_biases_are_reported_and_dropped() {
    let dir = TestDir::new("kbias");
    let mut vars = tiny_whisper();
    let b = vars.iter_mut().find(|v| v.name == "decoder/layer_0/attention/linear_1/bias").unwrap();
    b.values[3] = -0.5;
    write_model_dir(dir.path(), &model_bin(&vars, F16, "WhisperSpec"));
    let (r, _) = convert_dir(&dir);
    assert_eq!(r.unwrap().max_abs_key_bias, 0.5);
}

/// Converts a broken model; checks the error and that nothing was left behind.
fn expect_failure(tag: &str, bin: Vec<u8>, check: impl Fn(&ConvertError) -> bool) {
    let dir = TestDir::new(tag);
    write_model_dir(dir.path(), &bin);
    let out = dir.path().join("out.bin");
    fs::write(&out, b"previous model").unwrap();
    let err = convert_ct2_to_ggml(dir.path(), &out, &|_, _| {}).unwrap_err();
    assert!(check(&err), "{tag}: unexpected error {err}");
    assert_eq!(fs::read(&out).unwrap(), b"previous model", "{tag}: output touched");
    assert_eq!(dir.entries(), ["config.json", "model.bin", "out.bin", "vocabulary.txt"], "{tag}: leftovers");
}

#[test]
fn broken_models_fail_cleanly() {
    let without = |name: &str| {
        let mut v = tiny_whisper();
        v.retain(|x| x.name != name);
        model_bin(&v, F16, "WhisperSpec")
    };
    expect_failure(
        "missing",
        without("decoder/layer_0/attention/linear_2/bias"),
        |e| matches!(e, ConvertError::Ct2(Ct2Error::MissingVariable(n)) if n == "decoder/layer_0/attention/linear_2/bias"),
    );
    expect_failure("heads", without("encoder/num_heads"), |e| matches!(e, ConvertError::Ct2(_)));

    let mut v = tiny_whisper();
    v.iter_mut().find(|x| x.name == "encoder/layer_0/ffn/linear_1/weight").unwrap().shape = vec![4 * S, S];
    expect_failure("shape", model_bin(&v, F16, "WhisperSpec"), |e| matches!(e, ConvertError::Shape { .. }));

    let mut v = tiny_whisper();
    v.iter_mut().find(|x| x.name == "encoder/layer_0/ffn/linear_1/weight").unwrap().raw = Some((1, vec![0; 4 * S * S]));
    expect_failure("int8", model_bin(&v, F16, "WhisperSpec"), |e| matches!(e, ConvertError::Quantized { .. }));

    let mut v = tiny_whisper();
    v.iter_mut().find(|x| x.name == "decoder/layer_0/ffn/linear_0/bias").unwrap().values[5] = f32::NAN;
    expect_failure("nan", model_bin(&v, F16, "WhisperSpec"), |e| matches!(e, ConvertError::NonFinite { .. }));

    let mut v = tiny_whisper();
    // 1e6 is fine in f32 but overflows the f16 the kernel is stored as.
    v.iter_mut().find(|x| x.name == "encoder/conv1/weight").unwrap().values[0] = 1e6;
    expect_failure("overflow", model_bin(&v, F32, "WhisperSpec"), |e| matches!(e, ConvertError::NonFinite { .. }));

    let mut v = tiny_whisper();
    v.push(var("encoder/layer_0/self_attention/relative_position_keys", &[4, S], pattern(0)));
    expect_failure("unknown", model_bin(&v, F16, "WhisperSpec"), |e| matches!(e, ConvertError::UnexpectedVariables(_)));

    let mut v = tiny_whisper();
    v.iter_mut().find(|x| x.name == "decoder/activation").unwrap().raw = Some((1, vec![1]));
    expect_failure("activation", model_bin(&v, F16, "WhisperSpec"), |e| matches!(e, ConvertError::Unsupported(_)));

    expect_failure("spec", model_bin(&tiny_whisper(), F16, "TransformerSpec"), |e| {
        matches!(e, ConvertError::Unsupported(_))
    });

    let full = model_bin(&tiny_whisper(), F16, "WhisperSpec");
    for cut in [0, 3, 40, full.len() / 2, full.len() - 1] {
        expect_failure("truncated", full[..cut].to_vec(), |e| matches!(e, ConvertError::Ct2(_)));
    }
}

#[test]
fn a_vocabulary_that_does_not_fit_is_refused() {
    let dir = TestDir::new("vocab");
    write_model_dir(dir.path(), &model_bin(&tiny_whisper(), F16, "WhisperSpec"));
    fs::write(dir.path().join("vocabulary.txt"), "a\nb\n<|endoftext|>\n").unwrap();
    let (r, out) = convert_dir(&dir);
    assert!(matches!(r, Err(ConvertError::Vocab(VocabError::SizeMismatch { .. }))));
    assert!(!out.exists());

    fs::remove_file(dir.path().join("vocabulary.txt")).unwrap();
    let (r, _) = convert_dir(&dir);
    assert!(matches!(r, Err(ConvertError::Io { .. })));
}

#[test]
fn a_bad_config_is_refused_and_a_missing_one_tolerated() {
    let dir = TestDir::new("config");
    write_model_dir(dir.path(), &model_bin(&tiny_whisper(), F16, "WhisperSpec"));
    fs::write(dir.path().join("config.json"), r#"{"suppress_ids": [99999999]}"#).unwrap();
    assert!(matches!(convert_dir(&dir).0, Err(ConvertError::Config(_))));
    fs::write(dir.path().join("config.json"), "{not json").unwrap();
    assert!(matches!(convert_dir(&dir).0, Err(ConvertError::Config(_))));
    fs::remove_file(dir.path().join("config.json")).unwrap();
    assert_eq!(convert_dir(&dir).0.unwrap().suppress_ids, None);
}
