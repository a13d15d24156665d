"""How often a model says "not one of the words" to words it was never taught (maintainer script).

    PYTHONPATH=$PWD python tools/measure_unknown_words.py                       # models/transfer.pt
    PYTHONPATH=$PWD python tools/measure_unknown_words.py MODEL --known DIR     # and the cost on DIR's test split

The synthetic speakers of ``tools/synth.py`` (a seed the bundled set does not use, so new voices) say
``--words``, none of them one of the 35. For each threshold, the script reports the share of those clips the
model rejects (its ``_silence_`` class wins, or the top probability is below the threshold: what
:func:`speechlib.verdict` calls "I heard nothing" and "not one of the words"). With ``--known``, it also reports
the cost: the share of that set's ``--subset`` clips rejected, and their accuracy when a rejection counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from speechlib.data import SpeechCommands, read_clip
from speechlib.files import atomic_write
from speechlib.training import load_model
from speechlib.transfer import DEFAULT_MODEL, rejected
from speechlib.transforms import make_collate, pad_trim
from synth import make_speakers, render_speaker

UNKNOWN_WORDS = (
    "apple", "table", "water", "green", "hello", "music", "window", "coffee", "paper", "orange",
    "thanks", "maybe", "later", "people", "world", "purple", "kitchen", "morning", "river", "pencil",
)  # fmt: skip
SPEAKER_SEED = 424242  # not the bundled set's seed: voices the model never heard


def speak_unknown_words(words: list[str], num_speakers: int, out_dir: Path) -> torch.Tensor:
    """Clips ``(n, 1, 16000)`` of ``num_speakers`` new synthetic speakers saying ``words``."""
    for word in words:
        (out_dir / word).mkdir(parents=True, exist_ok=True)
    for speaker in make_speakers(num_speakers, seed=SPEAKER_SEED):
        render_speaker(speaker, words, out_dir, seed=SPEAKER_SEED)
    files = sorted(out_dir.rglob("*.flac"))
    return torch.stack([pad_trim(read_clip(path)) for path in files])  # (n, 1, 16000)


@torch.inference_mode()
def probabilities_of(model: torch.nn.Module, waveforms: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Class probabilities ``(n, classes)`` of clips ``(n, 1, 16000)``."""
    return torch.cat([model(waveforms[i : i + batch_size]).exp() for i in range(0, len(waveforms), batch_size)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, nargs="?", default=DEFAULT_MODEL, help="default: models/transfer.pt")
    parser.add_argument("--speakers", type=int, default=12, help="new synthetic speakers (default: 12)")
    parser.add_argument("--words", default=",".join(UNKNOWN_WORDS), help="comma-separated words outside the 35")
    parser.add_argument("--thresholds", default="0.1,0.2,0.3,0.4,0.5", help="top-probability thresholds to try")
    parser.add_argument("--known", type=Path, default=None, help="a Speech Commands tree: the cost on its words")
    parser.add_argument("--subset", default="testing", help="split of --known (default: testing)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    model, labels = load_model(args.model)
    model.eval()
    words = args.words.split(",")
    taught = sorted(set(words) & set(labels))
    if taught:
        raise SystemExit(f"--words: {', '.join(taught)} are among the model's words")
    with tempfile.TemporaryDirectory(prefix="speechlib-unknown-") as folder:
        unknown = speak_unknown_words(words, args.speakers, Path(folder))
    unknown_probabilities = probabilities_of(model, unknown)
    known = None
    if args.known is not None:
        known_set = SpeechCommands(args.known, subset=args.subset, verbose=False)
        known_waveforms, known_targets = make_collate(labels)([known_set[i] for i in range(len(known_set))])
        known = (probabilities_of(model, known_waveforms), known_targets)

    rows = []
    for threshold in (float(t) for t in args.thresholds.split(",")):
        unknown_rejected = rejected(unknown_probabilities, labels, threshold).float().mean().item()
        row = {"threshold": threshold, "unknown_rejected": unknown_rejected}
        if known is not None:
            probabilities, targets = known
            refused = rejected(probabilities, labels, threshold)
            correct = (probabilities.argmax(dim=1) == targets) & ~refused
            per_word = [correct[targets == c].float().mean().item() for c in targets.unique()]
            row |= {"known_rejected": refused.float().mean().item(), "known_accuracy": correct.float().mean().item(),
                    "known_macro_accuracy": float(np.mean(per_word))}  # fmt: skip
        rows.append(row)
        print("  ".join(f"{key} {value:.3f}" for key, value in row.items()), flush=True)
    results = {"model": str(args.model), "unknown_clips": len(unknown), "words": words, "speakers": args.speakers,
               "speaker_seed": SPEAKER_SEED, "known": str(args.known), "subset": args.subset, "rows": rows}  # fmt: skip
    print(f"{len(unknown)} clips of {len(words)} unknown words from {args.speakers} new synthetic speakers")
    if args.json is not None:
        with atomic_write(args.json, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
