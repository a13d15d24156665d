"""Heads on different layers of the speech embedding, alone and averaged, measured on real voices (maintainer script).

    PYTHONPATH=$PWD python tools/compare_heads.py --real ../shared/realdev --layers output pool3 --seeds 10 11 12
    PYTHONPATH=$PWD python tools/compare_heads.py --real ../shared/realdev --layers output --extra   # no extra voices

How the third and fourth rounds of "What was tried" in ``models/README.md`` were measured. One head per layer and
seed, trained as ``tools/train_transfer.py`` trains the shipped model's heads (same recipe: the training and
validation clips of ``data/bundled``, every clip of ``--extra``, default ``data/extra_voices``, and the 520
non-speech clips; ``--extra`` alone: no extra tree; ``--extra-engines pico`` keeps one engine's speakers of it),
then measured on the bundled test split and on ``--real``, a Speech Commands tree of the same 35 words that is only
measured, never trained on. Rows: every head, the average of each layer's heads, and the averages that mix the first
layer's heads with another layer's (averaged as :class:`speechlib.EmbeddingClassifier` does: mean
log-probabilities, then the -2 offset on ``_silence_``). Accuracy counts the most probable class (``_silence_`` is
wrong); macro is the mean of the per-word accuracies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from speechlib.cache import ClipCache, load_cache
from speechlib.data import WORDS
from speechlib.embedding import embedding_cache, load_speech_embedding
from speechlib.transfer import EmbeddingHead
from train_transfer import (
    BUNDLED,
    EXTRA_VOICES,
    RECIPE,
    accuracies,
    engine_speakers,
    load_extra_tree,
    non_speech_training_clips,
    train_head,
)


def extra_rows(clips: ClipCache, engines: list[str] | None) -> np.ndarray:
    """Rows of an extra tree's cache to train on: all, or those of the speakers of ``engines`` (its ``speakers.csv``)."""
    if engines is None:
        return np.arange(len(clips))
    return np.flatnonzero(np.isin(np.array(clips.speakers), list(engine_speakers(engines, root=clips.root))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", required=True, help="Speech Commands tree to measure on (all of its clips)")
    parser.add_argument("--layers", nargs="+", default=["output", "pool3"], help="layers (default: output pool3)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[10, 11, 12], help="one head per seed and layer")
    parser.add_argument(
        "--extra",
        nargs="*",
        type=Path,
        default=[EXTRA_VOICES],
        help="more trees trained on, every clip, as tools/train_transfer.py (default: data/extra_voices; "
        "--extra alone: none)",
    )
    parser.add_argument(
        "--extra-engines", nargs="+", default=None, help="keep only these engines' speakers of --extra (speakers.csv)"
    )
    parser.add_argument("--epochs", type=int, default=RECIPE["num_epochs"], help="epochs per head (default: 60)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as tools/train_transfer.py: small steps, one thread
    real = load_cache(args.real, verbose=False)
    if real.labels != list(WORDS):
        raise SystemExit(f"{args.real}: its words ({', '.join(real.labels)}) are not the 35 of the bundled set")
    clips = load_cache(BUNDLED, verbose=False)  # its labels are WORDS too (tests/test_bundled_data.py)
    embedder = load_speech_embedding()
    pad = RECIPE["pad_samples"]
    non_speech = F.pad(non_speech_training_clips(RECIPE, seed=1), (pad, pad))  # (520, 1, 24000), as shipped
    with torch.inference_mode():
        batches = [
            embedder.layer_outputs(non_speech[i : i + 64], tuple(args.layers)) for i in range(0, len(non_speech), 64)
        ]
    silence = len(clips.labels)
    log_prior = torch.zeros(silence + 1)
    log_prior[silence] = RECIPE["silence_log_prior"]
    train_rows = np.concatenate([clips.indices("training"), clips.indices("validation")])
    extra_clips = [load_extra_tree(tree, clips.labels) for tree in args.extra]
    extra_trees = [(extra, extra_rows(extra, args.extra_engines)) for extra in extra_clips]
    test_rows = clips.indices("testing")
    test_targets = torch.from_numpy(np.asarray(clips.targets, dtype=np.int64)[test_rows])
    real_targets = torch.from_numpy(np.asarray(real.targets, dtype=np.int64))

    heads_log_probs = {}  # (layer, seed) -> (test, real) log-probabilities of one head, before the offset
    for layer in args.layers:
        # (clips, steps, dim) for the bundled clips and for the real ones
        cached = embedding_cache(clips, embedder, pad, layer=layer, progress=False, verbose=False)
        real_features = embedding_cache(real, embedder, pad, layer=layer, progress=False, verbose=False).embeddings
        extra = [(embedding_cache(tree, embedder, pad, layer=layer, progress=False, verbose=False), rows)
                 for tree, rows in extra_trees]  # fmt: skip
        features = torch.cat([cached.embeddings[train_rows], *[e.embeddings[rows] for e, rows in extra],
                              torch.cat([b[layer] for b in batches])])  # fmt: skip
        targets = torch.cat([cached.targets[train_rows], *[e.targets[rows] for e, rows in extra],
                             torch.full((len(non_speech),), silence)])  # fmt: skip
        for seed in args.seeds:
            torch.manual_seed(seed)  # the head's initial weights
            head = EmbeddingHead(silence + 1, features.shape[2], RECIPE["width"], RECIPE["dropout"])
            train_head(head, features, targets, {**RECIPE, "num_epochs": args.epochs}, seed)
            with torch.inference_mode():
                heads_log_probs[layer, seed] = [
                    F.log_softmax(head(x), dim=1) for x in (cached.embeddings[test_rows], real_features)
                ]

    print(f"{'heads':<40} {'bundled test':>12} {'real plain':>10} {'real macro':>10}")

    def report(name: str, keys: list) -> None:
        test, real_ = (F.log_softmax(torch.stack(parts).mean(dim=0) + log_prior, dim=1)
                       for parts in zip(*(heads_log_probs[key] for key in keys)))  # fmt: skip
        (test_accuracy, _), (plain, macro) = accuracies(test, test_targets), accuracies(real_, real_targets)
        print(f"{name:<40} {test_accuracy:>12.1%} {plain:>10.1%} {macro:>10.1%}", flush=True)

    for key in heads_log_probs:
        report(f"{key[0]}, seed {key[1]}", [key])
    for layer in args.layers:
        report(f"{layer}: {len(args.seeds)} heads averaged", [(layer, seed) for seed in args.seeds])
    first = args.layers[0]
    for other in args.layers[1:]:
        report(
            f"{first} + {other}: {2 * len(args.seeds)} heads", [k for k in heads_log_probs if k[0] in (first, other)]
        )
    if len(args.layers) > 2:
        report(f"all: {len(heads_log_probs)} heads", list(heads_log_probs))


if __name__ == "__main__":
    main()
