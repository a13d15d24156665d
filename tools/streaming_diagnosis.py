"""Why does the listener miss real voices? The shipped model's probabilities in a stream (maintainer script).

    PYTHONPATH=$PWD .venv/bin/python tools/streaming_diagnosis.py [MODEL]

On the word stream of ``../shared/realdev`` (clean, :func:`benchmark_streaming.make_word_stream`): for each word,
the peak of its own probability from its start to 1.5 s after its end, and whether it is the most probable class
there. Then two ways of reshaping the probabilities before the detector, each as a threshold sweep (averaging 0.24 s,
suppression 1 s): a temperature (``p ** T``, renormalised) and a bias on ``_unknown_`` (``p_unknown * e ** b``),
scored on realdev and the bundled validation words (clean and 10 dB), with the false accepts per hour of the real
Asterisk prompts and the validation talk. Measures only; BENCHMARKS.md ("listening continuously") quotes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import benchmark_streaming as bs
import measure_asterisk
from speechlib import listen, paths
from speechlib.training import load_model
from speechlib.transfer import DEFAULT_MODEL, UNKNOWN_LABEL


def reshaped(probabilities: np.ndarray, temperature: float, unknown_bias: float, unknown: int) -> np.ndarray:
    q = probabilities**temperature
    q[:, unknown] *= np.exp(unknown_bias)
    return q / q.sum(axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, nargs="?", default=DEFAULT_MODEL)
    parser.add_argument("--realdev", type=Path, default=bs.REALDEV)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, labels = load_model(args.model)
    words = [label for label in labels if not label.startswith("_")]
    bundled, unknown_speech = paths.bundled_root(), paths.data_dir() / "unknown_speech"
    streams = {}
    for name, root, subset, snr in [
        ("realdev", args.realdev, "testing", None),
        ("validation clean", bundled, "validation", None),
        ("validation 10 dB", bundled, "validation", 10.0),
    ]:
        samples, truth = bs.make_word_stream(root, subset, words, snr_db=snr, seed=0, noise_root=bundled)
        streams[name] = (*listen.stream_posteriors(model, samples), truth, len(samples) / 16000)
    for name, samples in [
        ("asterisk", bs.asterisk_stream(measure_asterisk.SOUNDS, measure_asterisk.TRANSCRIPTS, 0)),
        ("validation talk", bs.talk_stream(unknown_speech, "validation", 0)),
    ]:
        streams[name] = (*listen.stream_posteriors(model, samples), None, len(samples) / 16000)

    times, probabilities, truth, _ = streams["realdev"]
    peaks, best = [], []
    for word in truth:
        inside = (times >= word["start"]) & (times <= word["end"] + bs.LATE_TOLERANCE)
        rows, column = probabilities[inside], labels.index(word["word"])
        peak = rows[:, column].argmax()
        peaks.append(rows[peak, column])
        best.append(rows[peak].argmax() == column)
    peaks = np.array(peaks)
    print(
        f"realdev stream, {len(truth)} words: the word is the most probable class at its peak for {np.mean(best):.1%}; "
        f"its peak probability: median {np.median(peaks):.2f}, >= 0.5 for {np.mean(peaks >= 0.5):.1%}, "
        f">= 0.3 for {np.mean(peaks >= 0.3):.1%}"
    )
    unknown = labels.index(UNKNOWN_LABEL)
    for temperature, bias in [(1, 0), (2, 0), (3, 0), (1, 1), (1, 2), (1, 3)]:
        print(f"\ntemperature {temperature}, _unknown_ bias {bias} nats")
        for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            cells = []
            for name, (times, probabilities, truth, seconds) in streams.items():
                shaped = reshaped(probabilities, temperature, bias, unknown)
                found = listen.detect(
                    times, shaped, labels, threshold=threshold, average_seconds=0.24, suppress_seconds=1.0
                )
                if truth is None:
                    cells.append(f"{name} {len(found) / seconds * 3600:6.1f}/h")
                else:
                    s = bs.score(found, truth, seconds)
                    cells.append(f"{name} {s['hit_rate']:4.0%} (wrong {s['wrong_rate']:3.0%})")
            print(f"  {threshold:.1f}: " + " | ".join(cells))


if __name__ == "__main__":
    main()
