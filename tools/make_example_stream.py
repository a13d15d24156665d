"""Write ``data/examples/words.wav``: 20 s of words for ``speechlib listen`` to find (maintainer script).

    PYTHONPATH=$PWD .venv/bin/python tools/make_example_stream.py

Bundled clips of testing speakers (never trained on), a word starting every 1.5-3 s over the bundled background
noise at 30 dB (:func:`benchmark_streaming.make_word_stream`), 16 kHz mono. ``data/examples/words.json`` beside
it says which word is where (``{"words": [{"word", "start", "end"}], ...}``, seconds): the README's ``speechlib
listen`` example and a test of it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import soundfile as sf

from benchmark_streaming import make_word_stream
from speechlib import paths
from speechlib.data import SAMPLE_RATE
from speechlib.files import atomic_write

WORDS = ("yes", "no", "up", "down", "left", "right", "stop", "go")
SECONDS = 20.0
SNR_DB = 30.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=paths.data_dir() / "examples" / "words.wav")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    samples, truth = make_word_stream(
        paths.bundled_root(), "testing", WORDS, seconds=SECONDS, snr_db=SNR_DB, seed=args.seed
    )
    with atomic_write(args.out) as f:
        sf.write(f, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    described = {
        "source": "tools/make_example_stream.py",
        "seed": args.seed,
        "snr_db": SNR_DB,
        "words": [{key: round(t[key], 3) if key != "word" else t[key] for key in t} for t in truth],
    }
    with atomic_write(args.out.with_suffix(".json"), "w") as f:
        json.dump(described, f, indent=1)
    print(f"{args.out}: {len(samples) / SAMPLE_RATE:.1f} s, {' '.join(t['word'] for t in truth)}")


if __name__ == "__main__":
    main()
