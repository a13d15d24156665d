"""Does the CNN recognise voices it never heard? Measured by holding out whole TTS engines of the
bundled set. Reproduces the generalisation table of models/README.md. Its results are shown in notebook 09 (against the transfer head).

    python tools/experiments.py --epochs 12 --json models/experiments.json

For each held-out engine (its speakers are in ``data/bundled/speakers.csv``) and each
configuration in :data:`CONFIGS`, a fresh CNN is trained on the *training* clips of the other
engines, then evaluated on every clip of the held-out engine (all three splits: none of them was
seen), and on the *testing* clips of the engines it was trained on, for comparison.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from speechlib.augment import WaveformAugment, load_noise
from speechlib.cache import CachedClips, ClipCache, load_cache
from speechlib.commands import write_json
from speechlib.data import BUNDLED_ROOT, DataError, find_root
from speechlib.device import pick_device
from speechlib.models import CNN
from speechlib.training import TrainConfig, evaluate, fit

# What was tried, as switches of the CNN and the training loop.
CONFIGS = {
    "plain": {"normalize": True, "spec_augment": False, "waveform_augment": False},
    "no per-clip normalisation": {"normalize": False, "spec_augment": False, "waveform_augment": False},
    "SpecAugment only": {"normalize": True, "spec_augment": True, "waveform_augment": False},
    "waveform augmentation only": {"normalize": True, "spec_augment": False, "waveform_augment": True},
    "all augmentation": {"normalize": True, "spec_augment": True, "waveform_augment": True},
}
HELD_OUT_ENGINES = ("flite", "festival")  # espeak-ng has 65% of the speakers: holding it out leaves too little


def speaker_engines(root: Path | str) -> dict[str, str]:
    """``{speaker_id: engine}`` from ``root/speakers.csv`` (written by ``python tools/synth.py``)."""
    path = Path(root) / "speakers.csv"
    if not path.is_file():
        raise DataError(f"{path}: not found (only the bundled synthetic set says which engine spoke each clip)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"speaker_id", "engine"} <= set(rows[0]):
        raise DataError(f"{path}: needs the columns speaker_id and engine")
    return {row["speaker_id"]: row["engine"] for row in rows}


def select_rows(
    cache: ClipCache,
    engines: dict[str, str],
    subset: str | None = None,
    keep: set[str] | None = None,
    drop: set[str] | None = None,
) -> np.ndarray:
    """Rows of ``cache`` in ``subset`` (None: all) whose speaker's engine is in ``keep`` / not in ``drop``."""
    rows = cache.indices(subset)
    engine_of = np.array([engines.get(s, "") for s in cache.speakers])[rows]
    if keep is not None:
        rows = rows[np.isin(engine_of, list(keep))]
    if drop is not None:
        rows = rows[~np.isin(engine_of, list(drop))]
    return rows


def rows_loader(
    cache: ClipCache, rows: np.ndarray, batch_size: int = 64, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """A ``DataLoader`` over any chosen ``rows`` of the cache (not only a whole split); shuffled from
    (seed, epoch) by a one-process ``DistributedSampler``, which :func:`speechlib.fit` tells the epoch."""
    clips = CachedClips(cache, rows=rows)
    sampler = DistributedSampler(clips, num_replicas=1, rank=0, shuffle=True, seed=seed) if shuffle else None
    return DataLoader(clips, batch_size=batch_size, sampler=sampler)


def run_held_out(
    cache: ClipCache,
    engines: dict[str, str],
    held_out: str,
    config: dict,
    noise: torch.Tensor,
    num_epochs: int,
    device,
    seed: int = 0,
) -> dict:
    """Train on the other engines' training clips; accuracy on the held-out engine and on the seen engines' test clips."""
    torch.manual_seed(seed)
    model = CNN(num_classes=len(cache.labels), spec_augment=config["spec_augment"], normalize=config["normalize"])
    augment = WaveformAugment(noise=noise) if config["waveform_augment"] else None
    train_rows = select_rows(cache, engines, "training", drop={held_out})
    # AdamW and a cosine decay of the learning rate over the run
    config = TrainConfig(
        num_epochs=num_epochs,
        batch_size=64,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=1e-2,
        schedule="cosine",
        augment=augment,
        seed=seed,
    )
    history = fit(
        model,
        rows_loader(cache, train_rows, config.batch_size, shuffle=True, seed=seed),
        config,
        device,
        progress=False,
    )
    unseen = evaluate(
        model, rows_loader(cache, select_rows(cache, engines, None, keep={held_out})), device, cache.labels
    )
    seen = evaluate(
        model, rows_loader(cache, select_rows(cache, engines, "testing", drop={held_out})), device, cache.labels
    )
    return {
        "held_out": held_out,
        "train_clips": len(train_rows),
        "held_out_accuracy": unseen["accuracy"],
        "held_out_clips": len(unseen["targets"]),
        "seen_test_accuracy": seen["accuracy"],
        "seen_test_clips": len(seen["targets"]),
        "seconds_per_epoch": float(np.mean(history["epoch_seconds"])),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python tools/experiments.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset root with speakers.csv (default: data/bundled)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs per training run (default 12)")
    parser.add_argument(
        "--configs",
        nargs="*",
        default=list(CONFIGS),
        choices=list(CONFIGS),
        metavar="NAME",
        help=f"configurations to run (default: all of {', '.join(CONFIGS)})",
    )
    parser.add_argument("--engines", nargs="*", default=list(HELD_OUT_ENGINES), help="engines to hold out in turn")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    root = find_root(args.data if args.data else BUNDLED_ROOT)
    engines = speaker_engines(root)
    cache = load_cache(root, verbose=False)
    noise = load_noise(root)
    device = pick_device(args.device)
    results = []
    print(
        "| configuration | held-out engine | accuracy on held-out engine | accuracy on seen engines' test clips | s/epoch |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in args.configs:
        for held_out in args.engines:
            result = {
                "configuration": name,
                **run_held_out(cache, engines, held_out, CONFIGS[name], noise, args.epochs, device, args.seed),
            }
            results.append(result)
            print(
                f"| {name} | {held_out} ({result['held_out_clips']} clips) | {result['held_out_accuracy']:.1%} | "
                f"{result['seen_test_accuracy']:.1%} | {result['seconds_per_epoch']:.1f} |",
                flush=True,
            )
            if args.json:  # after every run, so a long sweep that is stopped keeps what it measured
                write_json({"epochs": args.epochs, "seed": args.seed, "results": results}, args.json)


if __name__ == "__main__":
    main()
