"""``speechlib train``, ``speechlib evaluate`` and ``speechlib predict``: the notebooks' loop as
commands. Taught in notebook 04 (training), 05 (evaluation) and 07 (your own recordings).

    speechlib train --model cnn --data bundled --epochs 5          # -> models/cnn.pt, models/cnn.json
    speechlib evaluate models/cnn.pt --subset testing --json results.json
    speechlib predict models/cnn.pt my_yes.wav my_no.flac

Training reads clips from the decoded cache (``speechlib.cache``), writes an atomic checkpoint
after every epoch and, with ``--resume``, continues from it exactly where it stopped: the shuffle
order depends only on (seed, epoch), and the optimizer state is saved with the weights, so the
final weights are bit-identical to an uninterrupted run. Under ``torchrun`` it trains with
DistributedDataParallel (see ``speechlib.distributed``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import distributed
from .augment import WaveformAugment, load_noise
from .cache import ClipLoader, load_cache
from .data import BUNDLED_ROOT, DataError, find_real_root, find_root, real_root
from .device import pick_device
from .files import atomic_write
from .models import MODELS, build_model
from .training import evaluate, load_checkpoint, load_model, save_model, train_one_epoch

# Settings that must match for --resume to continue the same run.
RESUME_KEYS = ("model", "batch_size", "lr", "seed", "augment", "schedule")


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def resolve_data(choice: str | None, verbose: bool = True) -> Path:
    """``"bundled"``, ``"real"`` (downloaded v0.02), ``"auto"``/None (:func:`find_root`'s choice) or a folder."""
    if choice in (None, "auto"):
        return find_root(None, verbose=verbose)
    if choice == "bundled":
        if not BUNDLED_ROOT.is_dir():
            raise DataError(
                f"{BUNDLED_ROOT}: the bundled set is missing (regenerate it: python -m speechlib.synth "
                "--out data/bundled)"
            )
        return find_root(BUNDLED_ROOT, verbose=verbose)
    if choice == "real":
        real = find_real_root()
        if real is not None:
            return find_root(real, verbose=verbose)
        raise DataError(
            f"the real Speech Commands set is not downloaded (looked in {real_root('v0.02')}): "
            "run `speechlib download` first"
        )
    return find_root(choice, verbose=verbose)


def write_json(content: dict, path: Path | str) -> Path:
    """Write ``content`` as JSON atomically (temporary file, then rename)."""
    with atomic_write(path, "w") as f:
        json.dump(content, f, indent=2)
        f.write("\n")
    return Path(path)


def _report_errors(command: str, function, args) -> int:
    """Run a command; a known problem becomes one line on stderr and exit status 1."""
    try:
        return function(args)
    except (DataError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"speechlib {command}: {error}", file=sys.stderr)
        return 1


# ---------------------------------------------------------------------------------------------
# speechlib train
# ---------------------------------------------------------------------------------------------


def checkpoint_path(out: Path) -> Path:
    """The per-epoch checkpoint that sits beside the final model: ``models/cnn.pt.ckpt``."""
    return out.with_name(out.name + ".ckpt")


def _resume_state(path: Path, settings: dict, labels: list[str], fingerprint: str) -> dict:
    """Load the checkpoint at ``path`` and check it belongs to the same run."""
    checkpoint = load_checkpoint(path)
    saved = checkpoint.get("settings", {})
    for key in RESUME_KEYS:
        if saved.get(key) != settings[key]:
            raise ValueError(
                f"{path}: was trained with {key}={saved.get(key)!r}, not {settings[key]!r}; "
                "resume with the same settings or drop --resume"
            )
    if checkpoint["labels"] != labels or checkpoint.get("data_fingerprint") != fingerprint:
        raise ValueError(f"{path}: was trained on different data; drop --resume to start afresh")
    return checkpoint


def _accuracy_report(model, cache, subset: str, device, labels: list[str]) -> dict | None:
    """Accuracy and per-word accuracy on ``subset``, or None when the tree has no such clips."""
    loader = ClipLoader(cache, subset, batch_size=512)
    if len(loader.rows) == 0:
        return None
    result = evaluate(model, loader, device, labels)
    return {"accuracy": result["accuracy"], "clips": len(loader.rows), "per_class": result["per_class"]}


def _background_noise(root: Path, verbose: bool) -> torch.Tensor | None:
    """The tree's ``_background_noise_`` recordings for augmentation, or None (and a note) if it has none."""
    try:
        return load_noise(root)
    except DataError as error:
        if verbose:
            print(f"augmenting without background noise: {error}")
        return None


def epoch_learning_rate(lr: float, epoch: int, epochs: int, schedule: str) -> float:
    """``constant``: ``lr`` throughout. ``cosine``: from ``lr`` down to near 0 along half a cosine, large
    steps first and small ones at the end (notebook 06)."""
    if schedule == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    return lr


def train_command(args) -> int:
    context = distributed.setup(args.device)
    try:
        return _train(args, context)
    finally:
        distributed.teardown(context)


def _train(args, context: distributed.Context) -> int:
    main = context.is_main
    root = resolve_data(args.data, verbose=main)
    first_on_machine = context.local_rank == 0
    if first_on_machine:  # one process per machine decodes (once); the others wait, then open its cache
        cache = load_cache(root, workers=args.workers, progress=main and not args.quiet, verbose=False)
    distributed.barrier(context)
    if not first_on_machine:
        cache = load_cache(root, progress=False, verbose=False)
    labels, device = cache.labels, context.device
    out = Path(args.out or f"models/{args.model}.pt")
    augment = args.model == "cnn" if args.augment is None else args.augment  # on by default for the CNN
    settings = {
        "model": args.model,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "epochs": args.epochs,
        "data": str(root),
        "world_size": context.world_size,
        "augment": augment,
        "schedule": args.schedule,
    }

    torch.manual_seed(args.seed)  # same initial weights in every process and every run
    model = build_model(args.model, num_classes=len(labels)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history = {"epoch_loss": [], "train_accuracy": [], "validation_accuracy": [], "epoch_seconds": []}
    start_epoch = 0
    if args.resume and checkpoint_path(out).is_file():
        checkpoint = _resume_state(checkpoint_path(out), settings, labels, cache.fingerprint)
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["rng_state"])
        start_epoch, history = checkpoint["epoch"], checkpoint["history"]
        if main:
            print(f"resuming from {checkpoint_path(out)} after epoch {start_epoch}")
    elif args.resume and main:
        print(f"no checkpoint at {checkpoint_path(out)}: starting from epoch 1")

    # Augmentation (notebook 06) runs in front of the model in training mode only; it has no weights.
    augmented = (
        torch.nn.Sequential(WaveformAugment(noise=_background_noise(root, main)), model).to(device)
        if augment
        else model
    )
    # DDP averages gradients across processes after every backward pass.
    train_model = (
        torch.nn.parallel.DistributedDataParallel(
            augmented, device_ids=[device.index] if device.type == "cuda" else None
        )
        if context.world_size > 1
        else augmented
    )
    train_loader = ClipLoader(
        cache,
        "training",
        args.batch_size,
        shuffle=True,
        seed=args.seed,
        rank=context.rank,
        world_size=context.world_size,
    )
    if len(train_loader.rows) == 0:
        raise DataError(f"{root}: no training clips (every clip is in validation_list.txt or testing_list.txt)")
    if main:
        print(
            f"training {args.model} on {len(train_loader.rows):,} clips, {len(labels)} words, device {device}"
            + (f", {context.world_size} processes" if context.world_size > 1 else "")
        )

    for epoch in range(start_epoch, args.epochs):
        train_loader.set_epoch(epoch)  # the shuffle order depends on (seed, epoch) only
        for group in optimizer.param_groups:  # from (epoch, epochs) only, so --resume continues it exactly
            group["lr"] = epoch_learning_rate(args.lr, epoch, args.epochs, args.schedule)
        started = time.perf_counter()
        batch_losses, accuracy = train_one_epoch(
            train_model,
            train_loader,
            optimizer,
            device,
            progress=main and not args.quiet,
            description=f"epoch {epoch + 1}/{args.epochs}",
        )
        epoch_loss, accuracy = distributed.average([sum(batch_losses) / len(batch_losses), accuracy], context)
        distributed.average_buffers(model, context)  # so every process ends the epoch with the same model
        history["epoch_loss"].append(epoch_loss)
        history["train_accuracy"].append(accuracy)
        history["epoch_seconds"].append(time.perf_counter() - started)
        if main:
            validation = _accuracy_report(model, cache, "validation", device, labels)
            history["validation_accuracy"].append(validation["accuracy"] if validation else None)
            save_model(
                model,
                checkpoint_path(out),
                labels,
                args.model,
                optimizer=optimizer.state_dict(),
                epoch=epoch + 1,
                history=history,
                settings=settings,
                rng_state=torch.get_rng_state(),
                data_fingerprint=cache.fingerprint,
            )
            shown = f"{validation['accuracy']:.3f}" if validation else "n/a"
            print(
                f"epoch {epoch + 1}/{args.epochs}: loss {epoch_loss:.4f}, train accuracy {accuracy:.3f}, "
                f"validation accuracy {shown} ({history['epoch_seconds'][-1]:.1f} s)"
            )
        distributed.barrier(context)

    if args.save_all_ranks:  # test hook: every process saves its copy, to check they are identical
        save_model(model, out.with_name(f"{out.name}.rank{context.rank}"), labels, args.model)
    if main:
        _finish(model, cache, out, labels, settings, history, device, context)
    return 0


def _finish(model, cache, out: Path, labels, settings: dict, history: dict, device, context) -> None:
    """Save the final model, measure it on the validation and test clips, write the metrics JSON."""
    save_model(model, out, labels, settings["model"], history=history, settings=settings)
    metrics = {**settings, "device": str(device), "history": history, "train_seconds": sum(history["epoch_seconds"])}
    for subset in ("validation", "testing"):
        report = _accuracy_report(model, cache, subset, device, labels)
        metrics[subset] = report
        if report:
            print(f"{subset} accuracy: {report['accuracy']:.3f} ({report['clips']:,} clips)")
    metrics_path = write_json(metrics, out.with_suffix(".json"))
    print(f"model saved to {out}, metrics to {metrics_path}")


# ---------------------------------------------------------------------------------------------
# speechlib evaluate
# ---------------------------------------------------------------------------------------------


def evaluate_command(args) -> int:
    model, model_labels = load_model(args.model)
    device = pick_device(args.device)
    root = resolve_data(args.data)
    cache = load_cache(root, progress=not args.quiet, verbose=False)
    unknown = [word for word in cache.labels if word not in model_labels]
    if unknown:
        raise DataError(
            f"{root}: words unknown to {args.model}: {', '.join(unknown)} "
            f"(it knows {len(model_labels)} words: {', '.join(model_labels)})"
        )
    # the tree's class numbers -> the model's class numbers
    label_map = np.array([model_labels.index(word) for word in cache.labels])
    loader = ClipLoader(cache, args.subset, batch_size=512, label_map=label_map)
    if len(loader.rows) == 0:
        raise DataError(f"{root}: no {args.subset} clips")
    result = evaluate(model, loader, device, model_labels)
    per_class = {word: result["per_class"][word] for word in cache.labels}  # the tree's words only
    # macro accuracy: every word counts the same, however many clips it has. A prediction of a class the
    # tree does not have (the transfer model's _silence_) is simply wrong.
    measured = [accuracy for accuracy in per_class.values() if accuracy is not None]
    macro_accuracy = sum(measured) / len(measured) if measured else 0.0
    counts = result["confusion"].sum(dim=1)
    print(f"accuracy {result['accuracy']:.4f} on {len(loader.rows):,} {args.subset} clips of {root}")
    print(f"macro accuracy {macro_accuracy:.4f} (the mean of the {len(measured)} per-word accuracies)")
    for word in cache.labels:
        accuracy = per_class[word]
        shown = "   n/a" if accuracy is None else f"{accuracy:.4f}"
        print(f"  {word:<10} {shown}  ({counts[model_labels.index(word)].item()} clips)")
    if args.json:
        write_json(
            {
                "model": str(args.model),
                "data": str(root),
                "subset": args.subset,
                "clips": len(loader.rows),
                "accuracy": result["accuracy"],
                "macro_accuracy": macro_accuracy,
                "per_class": per_class,
            },
            args.json,
        )
        print(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# speechlib predict
# ---------------------------------------------------------------------------------------------


def predict_command(args) -> int:
    # notebook 10's classify_file: mono, 16 kHz, the second around the loudest part (a recording of
    # any length). Imported here: it brings matplotlib, which train and evaluate do not need.
    from .recorder import classify_file
    from .transfer import DEFAULT_MODEL, model_threshold, verdict

    paths = list(args.paths)
    # `speechlib predict MODEL FILE...` names a model file first; `speechlib predict FILE...` uses the default
    model_path = Path(paths.pop(0)) if len(paths) > 1 and paths[0].endswith(".pt") else DEFAULT_MODEL
    model, labels = load_model(model_path)
    threshold = model_threshold(model)
    for path in paths:
        best = classify_file(path, model, labels)
        guesses = ", ".join(f"{word} {probability:.3f}" for word, probability in best)
        meaning = verdict(best, threshold)
        print(f"{path}: {meaning} ({guesses})" if meaning else f"{path}: {guesses}")
    return 0


# ---------------------------------------------------------------------------------------------
# Wiring into `speechlib`
# ---------------------------------------------------------------------------------------------

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")  # what speechlib.pick_device accepts
DEVICE_HELP = "where to run (default: auto = CUDA, then MPS, then CPU)"
DATA_HELP = (
    "bundled (the synthetic set in data/bundled), real (the downloaded v0.02 set), auto (real if "
    "downloaded, else bundled; the default) or PATH to any folder in the Speech Commands layout"
)


def register(commands) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to the ``speechlib`` argument parser."""
    train = commands.add_parser(
        "train",
        help="train a model, checkpointing every epoch (resumable; works under torchrun)",
        description="Train SimpleNet or the CNN on the training clips. The first run decodes every clip "
        "once into a cache (progress bar, all cores); later runs skip decoding (BENCHMARKS.md). After every "
        "epoch an atomic checkpoint OUT.ckpt is written; --resume continues from it with the same result "
        "as an uninterrupted run. At the end OUT holds the model and OUT with .json its metrics "
        "(validation/test accuracy, per-word accuracy, history). Under `torchrun --nproc_per_node=N -m "
        "speechlib train ...` it trains with DistributedDataParallel.",
    )
    train.add_argument(
        "--model", default="simplenet", choices=sorted(MODELS), help="which network (default: simplenet)"
    )
    train.add_argument("--data", default="auto", help=DATA_HELP)
    train.add_argument("--epochs", type=int, default=5, help="number of passes over the training clips (default: 5)")
    train.add_argument("--batch-size", type=int, default=256, help="clips per step, per process (default: 256)")
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 0.001)")
    train.add_argument("--seed", type=int, default=0, help="seed of the initial weights and shuffling (default: 0)")
    train.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    train.add_argument("--out", default=None, help="model file (default: models/MODEL.pt)")
    train.add_argument("--resume", action="store_true", help="continue from OUT.ckpt if it exists")
    train.add_argument(
        "--schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="learning rate per epoch: constant, or cosine decay from --lr towards 0 (default: constant)",
    )
    train.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="augment every training batch: speed, reverb, time shift, noise from the data's "
        "_background_noise_ (notebook 06; default: on for cnn, off for simplenet)",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes decoding clips when the cache is built (default: all cores)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument("--save-all-ranks", action="store_true", help=argparse.SUPPRESS)  # for the DDP test
    train.set_defaults(func=lambda args: _report_errors("train", train_command, args))

    evaluate_parser = commands.add_parser(
        "evaluate",
        help="accuracy and per-word accuracy of a saved model",
        description="Measure a model written by `speechlib train` (or the notebooks) on any tree in the "
        "Speech Commands layout whose words the model knows. Prints the accuracy and per-word accuracy; "
        '--json writes them as {"accuracy": ..., "macro_accuracy": ..., "per_class": {word: accuracy}}; '
        "macro accuracy is the mean of the per-word accuracies. A model may know more classes than the tree "
        "(the transfer model's _silence_): predicting one of them counts as wrong.",
    )
    evaluate_parser.add_argument("model", help="model file, e.g. models/cnn.pt")
    evaluate_parser.add_argument("--data", default="auto", help=DATA_HELP)
    evaluate_parser.add_argument(
        "--subset",
        default="testing",
        choices=["testing", "validation", "training"],
        help="which clips (default: testing)",
    )
    evaluate_parser.add_argument("--json", default=None, metavar="FILE", help="also write the results to FILE")
    evaluate_parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help=DEVICE_HELP)
    evaluate_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate_parser.set_defaults(func=lambda args: _report_errors("evaluate", evaluate_command, args))

    predict_parser = commands.add_parser(
        "predict",
        help="the 3 most likely words for audio files",
        usage="speechlib predict [-h] [MODEL] FILE [FILE ...]",
        description="Read each FILE (any format soundfile reads, any length; converted to mono 16 kHz and cut to "
        "the second around its loudest part, or padded to one second, as notebook 10 does) and print the "
        "model's top-3 words with their probabilities. MODEL (a .pt file, e.g. models/cnn.pt) is optional: "
        'without it the shipped transfer model models/transfer.pt answers, which also says "I heard nothing" '
        "for silence, noise and tones (models/README.md).",
    )
    predict_parser.add_argument(
        "paths", nargs="+", metavar="[MODEL] FILE", help="a model file ending in .pt (optional), then audio files"
    )
    predict_parser.set_defaults(func=lambda args: _report_errors("predict", predict_command, args))
