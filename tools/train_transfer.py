"""Train the shipped transfer model ``models/transfer.pt`` from the repository alone (maintainer script).

    PYTHONPATH=$PWD python tools/train_transfer.py                          # models/transfer.pt + .json
    PYTHONPATH=$PWD python tools/train_transfer.py --hold-out flite --out /tmp/no_flite.pt
    PYTHONPATH=$PWD python tools/train_transfer.py --commands yes,no,up,down,left,right,on,off,stop,go \
        --unknown-log-prior -1.5 --out models/commands.pt                   # the 12-class model

The frozen speech embedding (``models/speech_embedding.pt``) embeds every clip of ``data/bundled`` once (cached
by :func:`speechlib.embedding.embedding_cache`, the embeddings and the output of the inner layer ``pool3``); then
``--heads`` small heads are trained on the embeddings and ``--inner-heads`` on the ``pool3`` features of the
training and validation clips and of every clip of ``--extra`` (default ``data/extra_voices``: two more TTS engine
families), each from its own seed, with label smoothing and a little Gaussian noise on
their input (``--heads 5 --inner-heads 0`` is the recipe shipped before the ``pool3`` heads). An extra class,
``_silence_``, learns what is not speech: one-second stretches of the bundled
``_background_noise_`` recordings at random levels and generated silence, hiss, noise, tones, chirps, chords,
buzz and beeps (:func:`speechlib.transfer.non_speech_clips`, seed ``--seed + 1``). Another, ``_unknown_``, learns
speech that is none of the model's words: the training and validation clips of ``--unknown`` (default
``data/unknown_speech``: other words, near misses, phrases and other languages, ``tools/synth_unknown.py``) and,
with ``--commands``, the clips of every word that is not a command (Google's 12-class task: 10 commands,
``_silence_`` and ``_unknown_``). At the end it measures the bundled test split (a word the model does not know
counts as ``_unknown_``), the share of the unknown speech's testing speakers and of a separate set of generated
non-speech clips (another seed) that the model rejects, and, with ``--hold-out ENGINE``, every clip of the
held-out engine's speakers, then saves the model and a JSON of settings, history and accuracies beside it (both
written atomically). Deterministic: seeded, CPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Collection
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from speechlib.cache import ClipCache, load_cache
from speechlib.data import CLIP_SAMPLES, REPO_DIR, noise_files, read_clip
from speechlib.embedding import embedding_cache
from speechlib.files import atomic_write
from speechlib.training import load_model, save_model
from speechlib.transfer import (
    DEFAULT_MODEL,
    NON_SPEECH_KINDS,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    EmbeddingClassifier,
    EmbeddingHead,
    non_speech_clips,
    rejected,
)

BUNDLED = REPO_DIR / "data" / "bundled"
EXTRA_VOICES = REPO_DIR / "data" / "extra_voices"  # two more engine families, every clip trained on (data/README.md)
UNKNOWN_SPEECH = REPO_DIR / "data" / "unknown_speech"  # speech that is none of the 35 words (tools/synth_unknown.py)
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")  # Google's 10 commands
EVALUATION_SEED = 20261125  # the generated non-speech clips the rejection is measured on; never trained on
RECIPE = {  # how each head is trained, and the model around it (tools/compare_heads.py trains heads the same way)
    "num_epochs": 60, "batch_size": 128, "lr": 2e-3, "weight_decay": 1e-2, "label_smoothing": 0.1, "embedding_noise": 0.3,
    "background_clips": 200, "generated_clips_per_kind": 40, "silence_log_prior": -2.0, "unknown_log_prior": -1.25,
    "reject_below": 0.1,
    "pad_samples": 4000, "width": 256, "dropout": 0.3,
}  # fmt: skip


def background_clips(root: Path, num_clips: int, seed: int) -> torch.Tensor:
    """``num_clips`` one-second stretches of the ``_background_noise_`` recordings, peaks at -60 to -3 dBFS."""
    rng = np.random.default_rng(seed)
    recordings = [read_clip(path)[0] for path in noise_files(root)]  # each (n,)
    clips = []
    for i in range(num_clips):
        recording = recordings[i % len(recordings)]
        start = int(rng.integers(0, len(recording) - CLIP_SAMPLES))
        clip = recording[start : start + CLIP_SAMPLES]
        clips.append(clip / (clip.abs().max() + 1e-9) * 10 ** (rng.uniform(-60, -3) / 20))
    return torch.stack(clips).unsqueeze(1)  # (num_clips, 1, 16000)


def non_speech_training_clips(settings: dict, seed: int) -> torch.Tensor:
    """The ``_silence_`` class's training clips ``(n, 1, 16000)``: background noise stretches, then generated sounds."""
    return torch.cat(
        [
            background_clips(BUNDLED, settings["background_clips"], seed),
            non_speech_clips(settings["generated_clips_per_kind"], seed=seed)[0],
        ]
    )


@torch.inference_mode()
def embed_all(model: EmbeddingClassifier, waveforms: torch.Tensor, batch_size: int = 64) -> list[torch.Tensor]:
    """``[embeddings (n, windows, 96), pool3 features (n, steps, 192) if the model has pool3 heads]`` of clips
    ``(n, 1, 16000)``, in batches."""
    batches = [model.embed_all(waveforms[i : i + batch_size]) for i in range(0, len(waveforms), batch_size)]
    return [torch.cat(parts) for parts in zip(*batches) if parts[0] is not None]


def train_head(
    head: EmbeddingHead, embeddings: torch.Tensor, targets: torch.Tensor, settings: dict, seed: int
) -> list[float]:
    """Train one head on cached embeddings; returns its mean training loss per epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    batch_size, num_epochs = settings["batch_size"], settings["num_epochs"]
    steps_per_epoch = (len(embeddings) + batch_size - 1) // batch_size
    # one cycle: warm up for 30% of the steps, then anneal; robust for short runs
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings["lr"], total_steps=num_epochs * steps_per_epoch)
    epoch_losses = []
    head.train()
    for _ in range(num_epochs):
        order = torch.randperm(len(embeddings), generator=generator)
        losses = []
        for start in range(0, len(embeddings), batch_size):
            rows = order[start : start + batch_size]
            batch = embeddings[rows]  # (batch, windows, 96)
            # why: the head should not rely on exact embedding values that a real voice would not reproduce
            batch = batch + settings["embedding_noise"] * batch.std() * torch.randn(batch.shape, generator=generator)
            loss = F.cross_entropy(head(batch), targets[rows], label_smoothing=settings["label_smoothing"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        epoch_losses.append(float(np.mean(losses)))
    head.eval()
    return epoch_losses


def accuracies(log_probs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """``(accuracy, macro accuracy)`` of the most probable class; macro: the mean over the classes in ``targets``."""
    predictions = log_probs.argmax(dim=1)
    per_class = [(predictions[targets == c] == c).float().mean().item() for c in targets.unique()]
    return (predictions == targets).float().mean().item(), float(np.mean(per_class))


@torch.inference_mode()
def accuracy(model: EmbeddingClassifier, features: list[torch.Tensor], targets: torch.Tensor) -> dict:
    """Plain and macro accuracy (:func:`accuracies`) of the whole model on cached features."""
    plain, macro = accuracies(model.classify_embeddings(*features), targets)
    return {"clips": len(targets), "accuracy": plain, "macro_accuracy": macro}


def relative_name(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (settings stay the same on every machine)."""
    path = Path(path).resolve()
    return path.relative_to(REPO_DIR).as_posix() if path.is_relative_to(REPO_DIR) else str(path)


def engine_speakers(engines: Collection[str], root: Path = BUNDLED) -> set[str]:
    """The speakers of some text-to-speech engines, from ``root``'s ``speakers.csv`` (default: the bundled set's)."""
    with open(Path(root) / "speakers.csv", newline="") as f:
        speakers = {row["speaker_id"] for row in csv.DictReader(f) if row["engine"] in engines}
    if not speakers:
        raise SystemExit(f"{root}: no speakers of {', '.join(engines)} (see its speakers.csv)")
    return speakers


def load_extra_tree(tree: Path, labels: list[str]) -> ClipCache:
    """An ``--extra`` tree's clips, refused by name unless its words are ``labels`` (the bundled set's)."""
    clips = load_cache(tree, verbose=False)
    if clips.labels != list(labels):
        raise SystemExit(f"{tree}: its words ({', '.join(clips.labels)}) are not those of data/bundled")
    return clips


def model_labels(words: list[str], commands: list[str] | None, unknown: bool) -> list[str]:
    """The model's classes: ``commands`` (or all ``words``), ``_silence_``, and ``_unknown_`` when the model has
    unknown speech or other words to learn it from. A command that is none of ``words`` is refused by name."""
    strangers = [word for word in commands or [] if word not in words]
    if strangers:
        raise SystemExit(f"--commands: {', '.join(strangers)} not among the words of data/bundled")
    unknown = unknown or (commands is not None and len(commands) < len(words))
    return list(commands or words) + [SILENCE_LABEL] + ([UNKNOWN_LABEL] if unknown else [])


def relabel(targets: torch.Tensor, words: list[str], labels: list[str]) -> torch.Tensor:
    """Targets numbered by ``words`` (a tree's) -> numbered by ``labels``; a word that is no label is _unknown_."""
    unknown = labels.index(UNKNOWN_LABEL) if UNKNOWN_LABEL in labels else -1
    lookup = torch.tensor([labels.index(word) if word in labels else unknown for word in words])
    mapped = lookup[targets]
    if (mapped < 0).any():
        raise ValueError("a word outside the labels, and no _unknown_ class to put it in")
    return mapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="model file (default: models/transfer.pt)")
    parser.add_argument("--heads", type=int, default=3, help="heads on the embeddings, each its own seed (default: 3)")
    parser.add_argument("--inner-heads", type=int, default=3, help="heads on the pool3 features (default: 3)")
    parser.add_argument("--epochs", type=int, default=RECIPE["num_epochs"], help="epochs per head (default: 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of heads and generated clips (default: 0)")
    parser.add_argument(
        "--extra",
        nargs="*",
        type=Path,
        default=[EXTRA_VOICES],
        help="more Speech Commands trees of the 35 words, every clip trained on (default: data/extra_voices; "
        "--extra alone: none, the recipe before the extra voices)",
    )
    parser.add_argument(
        "--unknown",
        nargs="*",
        type=Path,
        default=[UNKNOWN_SPEECH],
        help="trees of speech that is none of the words, for the _unknown_ class (training and validation clips; "
        "default: data/unknown_speech; --unknown alone: none)",
    )
    parser.add_argument(
        "--commands",
        type=lambda text: text.split(","),
        default=None,
        help="the model's words, comma-separated (e.g. " + ",".join(COMMANDS) + "): the other words become "
        "_unknown_ (default: all 35)",
    )
    parser.add_argument(
        "--unknown-log-prior",
        type=float,
        default=RECIPE["unknown_log_prior"],
        help="offset of _unknown_'s log-probability (default: %(default)s; chosen on realdev: the lower, the fewer "
        "real words are rejected and the more unknown speech gets a word)",
    )
    parser.add_argument(
        "--heads-from",
        type=Path,
        default=None,
        help="a model this script made with the same data and classes: keep its trained heads instead of training "
        "(to try other offsets, e.g. --unknown-log-prior, in seconds)",
    )
    parser.add_argument(
        "--hold-out",
        choices=["espeak-ng", "flite", "festival"],
        default=None,
        help="train without this engine's speakers and measure all of its clips",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # small steps: a second thread only waits (8x slower on a busy 2-core machine)
    started = time.perf_counter()
    settings = {
        **RECIPE, "num_epochs": args.epochs, "num_heads": args.heads,
        "inner_layer": "pool3" if args.inner_heads else None, "num_inner_heads": args.inner_heads, "seed": args.seed, "hold_out": args.hold_out,
        "data": "data/bundled (training + validation splits)",
        "extra": [relative_name(tree) for tree in args.extra],
        "unknown": [relative_name(tree) for tree in args.unknown], "commands": args.commands,
        "unknown_log_prior": args.unknown_log_prior,
    }  # fmt: skip

    torch.manual_seed(args.seed)  # the heads' initial weights
    clips = load_cache(BUNDLED, verbose=False)
    labels = model_labels(list(clips.labels), args.commands, bool(args.unknown))
    silence = labels.index(SILENCE_LABEL)
    model = EmbeddingClassifier(
        num_classes=len(labels), num_heads=args.heads, pad_samples=settings["pad_samples"], width=settings["width"],
        dropout=settings["dropout"], inner_layer=settings["inner_layer"], num_inner_heads=args.inner_heads,
    )  # fmt: skip
    layers = [layer for layer in ("output", settings["inner_layer"]) if layer]
    caches = [  # (clips, 9, 96) embeddings, then (clips, 27, 192) pool3 features
        embedding_cache(clips, model.embedding, settings["pad_samples"], layer=layer, verbose=False) for layer in layers
    ]
    cached = caches[0]
    held_out = engine_speakers({args.hold_out}) if args.hold_out else set()
    speakers = np.array(cached.speakers)
    is_held_out = np.isin(speakers, list(held_out))
    train_rows = np.setdiff1d(np.concatenate([cached.indices("training"), cached.indices("validation")]),
                              np.flatnonzero(is_held_out))  # fmt: skip
    test_rows = np.setdiff1d(cached.indices("testing"), np.flatnonzero(is_held_out))

    non_speech = non_speech_training_clips(settings, seed=args.seed + 1)  # (n, 1, 16000)
    inputs = [  # (n, 9, 96), then (n, 27, 192)
        torch.cat([cache.embeddings[train_rows], part]) for cache, part in zip(caches, embed_all(model, non_speech))
    ]
    word_targets = relabel(cached.targets, clips.labels, labels)  # (clips,): the model's class of every clip
    targets = torch.cat([word_targets[train_rows], torch.full((len(non_speech),), silence)])

    def embedded(tree_clips: ClipCache) -> list:
        return [embedding_cache(tree_clips, model.embedding, settings["pad_samples"], layer=layer, verbose=False)
                for layer in layers]  # fmt: skip

    for tree in args.extra:
        extra = embedded(load_extra_tree(tree, clips.labels))
        inputs = [torch.cat([part, cache.embeddings]) for part, cache in zip(inputs, extra)]
        targets = torch.cat([targets, relabel(extra[0].targets, clips.labels, labels)])
        print(f"{tree}: {len(extra[0].targets):,} more word clips", flush=True)
    unknown_tests = []  # the testing speakers of each unknown tree: never trained on, measured at the end
    for tree in args.unknown:
        unknown = embedded(load_cache(tree, verbose=False))
        rows = np.concatenate([unknown[0].indices("training"), unknown[0].indices("validation")])
        inputs = [torch.cat([part, cache.embeddings[rows]]) for part, cache in zip(inputs, unknown)]
        targets = torch.cat([targets, torch.full((len(rows),), labels.index(UNKNOWN_LABEL))])
        unknown_tests.append((tree, [cache.embeddings[unknown[0].indices("testing")] for cache in unknown]))
        print(f"{tree}: {len(rows):,} clips of unknown speech", flush=True)
    heads = [(head, inputs[0]) for head in model.heads] + [(head, inputs[-1]) for head in model.inner_heads]
    print(
        f"{len(targets) - len(non_speech):,} speech clips + {len(non_speech)} non-speech clips; {len(heads)} heads",
        flush=True,
    )

    history = {"train_loss": []}
    if args.heads_from:  # the heads of an earlier run of the same command: only the offsets and the results change
        trained, trained_labels = load_model(args.heads_from)
        if trained_labels != labels:
            raise SystemExit(f"{args.heads_from}: its classes are not {', '.join(labels)}")
        model.load_state_dict(trained.state_dict())
        history = torch.load(args.heads_from, weights_only=True)["history"]
        settings["heads_from"] = relative_name(args.heads_from)
    for number, (head, head_inputs) in enumerate([] if args.heads_from else heads):
        history["train_loss"].append(train_head(head, head_inputs, targets, settings, seed=args.seed * 1000 + number))
        print(f"head {number + 1}/{len(heads)}: last epoch loss {history['train_loss'][-1][-1]:.3f}", flush=True)
    model.log_prior[silence] = settings["silence_log_prior"]
    if UNKNOWN_LABEL in labels:
        model.log_prior[labels.index(UNKNOWN_LABEL)] = settings["unknown_log_prior"]
    model.reject_below.fill_(settings["reject_below"])
    model.eval()

    features = [cache.embeddings for cache in caches]
    results = {"testing": accuracy(model, [part[test_rows] for part in features], word_targets[test_rows])}
    if args.hold_out:
        results[f"held_out_{args.hold_out}"] = accuracy(model, [part[is_held_out] for part in features],
                                                        word_targets[is_held_out])  # fmt: skip
    for tree, test_features in unknown_tests:
        with torch.inference_mode():
            probabilities = model.classify_embeddings(*test_features).exp()
        results[f"rejected_{tree.name}_testing"] = {
            "clips": len(probabilities), "rejected": float(rejected(probabilities, labels, settings["reject_below"]).float().mean()),
        }  # fmt: skip
    evaluation, kinds = non_speech_clips(50, seed=EVALUATION_SEED)
    with torch.inference_mode():
        probabilities = model(evaluation).exp()  # (clips, classes)
    heard_nothing = (probabilities.argmax(dim=1) == silence).numpy()
    # what verdict() calls "I heard nothing" or "not one of the words"
    is_rejected = rejected(probabilities, labels, settings["reject_below"]).numpy()
    kinds = np.array(kinds)
    results["non_speech_rejected"] = {
        "clips": len(kinds),
        "seed": EVALUATION_SEED,
        "rejected": float(is_rejected.mean()),
        "heard_nothing": float(heard_nothing.mean()),
        "per_kind": {kind: float(is_rejected[kinds == kind].mean()) for kind in NON_SPEECH_KINDS},
    }
    settings["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=1))

    save_model(model, args.out, labels, "transfer", settings=settings, history=history)
    with atomic_write(args.out.with_suffix(".json"), "w") as f:
        json.dump({"labels": labels, "settings": settings, "results": results, "history": history}, f, indent=1)
        f.write("\n")
    print(f"model saved to {args.out} ({settings['seconds']} s)")


if __name__ == "__main__":
    main()
