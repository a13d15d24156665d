"""``speechlib train``, ``speechlib evaluate`` and ``speechlib predict``: what the notebooks do step
by step (training, evaluation, classifying your own recordings), as commands.

    speechlib train --model cnn --data bundled --epochs 5          # -> models/cnn.pt, models/cnn.json
    speechlib evaluate models/cnn.pt --subset testing --json results.json
    speechlib predict models/cnn.pt my_yes.wav my_no.flac

``speechlib train`` turns its options into a :class:`speechlib.TrainConfig` and calls
:func:`speechlib.fit` (the notebooks' loop) on the decoded cache (``speechlib.cache``): an atomic
checkpoint after every epoch and, with ``--resume``, a continuation that ends with the weights of an
uninterrupted run, bit for bit. Under ``torchrun`` fit trains with DistributedDataParallel (see
``speechlib.distributed``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from . import distributed
from .augment import WaveformAugment, load_noise
from .cache import CachedClips, load_cache
from .data import DataError, find_real_root, find_root, real_root
from .device import DeviceUnavailableError, pick_device
from .files import atomic_write
from .models import MODELS, build_model
from .paths import bundled_root
from .training import TrainConfig, evaluate, fit, load_model, save_model

# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def resolve_data(choice: str | None, verbose: bool = True) -> Path:
    """``"bundled"``, ``"real"`` (downloaded v0.02), ``"auto"``/None (:func:`find_root`'s choice) or a folder."""
    if choice in (None, "auto"):
        return find_root(None, verbose=verbose)
    if choice == "bundled":
        bundled = bundled_root()
        if not bundled.is_dir():
            raise DataError(
                f"{bundled}: the bundled set is missing (regenerate it: python tools/synth.py --out {bundled})"
            )
        return find_root(bundled, verbose=verbose)
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


class CommandLineError(Exception):
    """The command line asks for something that cannot be done, such as a model file that is not there."""


def existing_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path, or a :class:`CommandLineError` naming it when there is no such file."""
    if not Path(path).is_file():
        raise CommandLineError(f"{path}: no such {what}")
    return Path(path)


def report_errors(command: str, function, args) -> int:
    """Run a command. A problem with the data (:class:`DataError`, exit status 1) or with the
    arguments (:class:`CommandLineError`, a device that is not there: exit status 2, as argparse's
    own errors) becomes one line on stderr. Anything else is a bug and keeps its traceback."""
    try:
        return function(args)
    except DataError as error:
        print(f"speechlib {command}: {error}", file=sys.stderr)
        return 1
    except (CommandLineError, DeviceUnavailableError) as error:
        print(f"speechlib {command}: {error}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------------
# speechlib train
# ---------------------------------------------------------------------------------------------


def checkpoint_path(out: Path) -> Path:
    """The per-epoch checkpoint that sits beside the final model: ``models/cnn.pt.ckpt``."""
    return out.with_name(out.name + ".ckpt")


def _accuracy_report(model, cache, subset: str, device, labels: list[str]) -> dict | None:
    """Accuracy and per-word accuracy on ``subset``, or None when the tree has no such clips."""
    clips = CachedClips(cache, subset)
    if len(clips) == 0:
        return None
    result = evaluate(model, DataLoader(clips, batch_size=512), device, labels)
    return {"accuracy": result["accuracy"], "clips": len(clips), "per_class": result["per_class"]}


def _background_noise(root: Path, verbose: bool) -> torch.Tensor | None:
    """The tree's ``_background_noise_`` recordings for augmentation, or None (and a note) if it has none."""
    try:
        return load_noise(root)
    except DataError as error:
        if verbose:
            print(f"augmenting without background noise: {error}")
        return None


def train_command(args) -> int:
    context = distributed.setup(args.device)
    try:
        return _train(args, context)
    finally:
        distributed.teardown(context)


def _train(args, context: distributed.Context) -> int:
    """The command line's settings -> :func:`speechlib.fit` on the decoded cache."""
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
    train_clips = CachedClips(cache, "training")
    if len(train_clips) == 0:
        raise DataError(f"{root}: no training clips (every clip is in validation_list.txt or testing_list.txt)")
    # each process its share of every epoch, shuffled from (seed, epoch) only, so --resume continues it exactly
    sampler = DistributedSampler(train_clips, context.world_size, context.rank, shuffle=True, seed=args.seed)
    train_loader = DataLoader(train_clips, batch_size=args.batch_size, sampler=sampler)
    val_clips = CachedClips(cache, "validation")
    val_loader = DataLoader(val_clips, batch_size=512) if len(val_clips) else None
    config = TrainConfig(
        num_epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="adam",
        lr=args.lr,
        schedule=args.schedule,
        augment=WaveformAugment(noise=_background_noise(root, main)) if augment else None,
        seed=args.seed,
    )
    torch.manual_seed(args.seed)  # the same initial weights in every run (DDP copies rank 0's to the others)
    model = build_model(args.model, num_classes=len(labels))
    if main:
        print(
            f"training {args.model} on {len(train_clips):,} clips, {len(labels)} words, device {device}"
            + (f", {context.world_size} processes" if context.world_size > 1 else "")
        )
        if args.resume and not checkpoint_path(out).is_file():
            print(f"no checkpoint at {checkpoint_path(out)}: starting from epoch 1")

    def report(epoch: int, history: dict) -> None:
        if main:
            shown = f"{history['val_accuracy'][-1]:.3f}" if val_loader else "n/a"
            print(
                f"epoch {epoch + 1}/{args.epochs}: loss {history['train_loss'][-1]:.4f}, train accuracy "
                f"{history['train_accuracy'][-1]:.3f}, validation accuracy {shown} ({history['epoch_seconds'][-1]:.1f} s)"
            )

    history = fit(
        model,
        train_loader,
        config,
        device,
        val_loader,
        progress=not args.quiet,
        checkpoint=checkpoint_path(out),
        resume=args.resume,
        # saved in the checkpoint: it loads with load_model, and --resume checks it is the same model and data
        checkpoint_info={"model_name": args.model, "labels": labels, "data_fingerprint": cache.fingerprint},
        context=context,
        on_epoch_end=report,
    )
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


@torch.no_grad()  # no graph is kept: faster, and less memory
def _log_probabilities(model, loader, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities ``(clips, classes)`` and targets ``(clips,)`` of every clip in ``loader``:
    :func:`speechlib.training.predict`, keeping the whole answer (a rejection needs the top probability)."""
    model.eval()
    model.to(device)
    outputs, targets = [], []
    for waveforms, batch_targets in loader:
        outputs.append(model(waveforms.to(device)).cpu())
        targets.append(batch_targets)
    return torch.cat(outputs), torch.cat(targets)


def score_clips(log_probs: torch.Tensor, targets: torch.Tensor, model_labels: list[str], reject_below: float):
    """``(clips,)`` bool: each clip right or wrong. ``targets`` index into ``model_labels`` followed by the
    words the model does not know: a clip of a known word is right when the model's best guess is that word,
    a clip of an unknown word when the model rejects it (:func:`speechlib.transfer.rejected`)."""
    from .transfer import rejected  # lazily: transfer brings torchaudio, which `speechlib train` does not need

    known = targets < len(model_labels)
    guessed = log_probs.argmax(dim=1) == targets
    refused = rejected(log_probs.exp(), model_labels, reject_below)
    return torch.where(known, guessed, refused)


def _share(right: torch.Tensor) -> float | None:
    """The share of True in ``right`` (None when empty), in integers as :func:`speechlib.training.evaluate`."""
    return right.sum().item() / len(right) if len(right) else None


def tree_scores(right: torch.Tensor, targets: torch.Tensor, labels: list[str], words: list[str], num_known: int):
    """Accuracy, macro accuracy and per-class accuracy of the clips scored ``right``, whose ``targets`` index into
    ``labels`` (the model's ``num_known`` classes, then the unknown words); ``words``: the tree's words."""
    from .transfer import UNKNOWN_LABEL

    unknown_words = [word for word in words if labels.index(word) >= num_known]
    clips_per_word = {word: (targets == labels.index(word)).sum().item() for word in words}
    per_class = {word: _share(right[targets == labels.index(word)]) for word in words}
    unknown_rejected = _share(right[targets >= num_known])  # None without unknown clips
    # macro accuracy: every class counts the same, however many clips it has; the unknown words are pooled
    # into one class, _unknown_ (Google's 12-class scoring). A known word's clip predicted as a class the tree
    # does not have (the transfer model's _silence_) is simply wrong.
    pooled = [per_class[word] for word in words if word not in unknown_words]
    pooled += [unknown_rejected] if unknown_words else []
    measured = [accuracy for accuracy in pooled if accuracy is not None]
    if unknown_words:
        per_class[UNKNOWN_LABEL] = unknown_rejected
    return {
        "accuracy": right.float().mean().item(),
        "macro_accuracy": sum(measured) / len(measured) if measured else 0.0,
        "classes_measured": len(measured),
        "per_class": per_class,
        "clips_per_word": clips_per_word,
        "unknown_rejected": unknown_rejected,
        "unknown_words": unknown_words,
    }


def _print_scores(scores: dict, clips: int, subset: str, root: Path) -> None:
    """What ``speechlib evaluate`` prints: the accuracies, then one line per word of the tree."""
    unknown_words, per_class = scores["unknown_words"], scores["per_class"]
    print(f"accuracy {scores['accuracy']:.4f} on {clips:,} {subset} clips of {root}")
    macro = f"macro accuracy {scores['macro_accuracy']:.4f} (the mean of the {scores['classes_measured']} per-"
    if unknown_words:
        print(f"{macro}class accuracies, the unknown words pooled into one class, _unknown_)")
        print(f"scored as unknown (right when rejected): {', '.join(unknown_words)}")
    else:
        print(f"{macro}word accuracies)")
    for word, count in scores["clips_per_word"].items():
        shown = "   n/a" if per_class[word] is None else f"{per_class[word]:.4f}"
        print(f"  {word:<10} {shown}  ({count} clips{', scored as unknown' if word in unknown_words else ''})")
    if unknown_words:
        rejected = scores["unknown_rejected"]
        count = sum(scores["clips_per_word"][word] for word in unknown_words)
        print(f"unknown words rejected {'n/a' if rejected is None else f'{rejected:.4f}'} ({count} clips)")


def evaluate_command(args) -> int:
    from .transfer import model_threshold

    model, model_labels = load_model(existing_file(args.model, "model file"))
    device = pick_device(args.device)
    root = resolve_data(args.data)
    cache = load_cache(root, progress=not args.quiet, verbose=False)
    unknown_words = [word for word in cache.labels if word not in model_labels]
    if len(unknown_words) == len(cache.labels):
        raise DataError(
            f"{root}: none of its words ({', '.join(cache.labels)}) is known to {args.model} "
            f"(it knows {len(model_labels)} words: {', '.join(model_labels)})"
        )
    # the words the model lacks get class numbers after the model's own, so their clips can be told apart
    clips = CachedClips(cache, args.subset, labels=model_labels + unknown_words)
    if len(clips) == 0:
        raise DataError(f"{root}: no {args.subset} clips")
    log_probs, targets = _log_probabilities(model, DataLoader(clips, batch_size=512), device)
    right = score_clips(log_probs, targets, model_labels, model_threshold(model))
    scores = tree_scores(right, targets, clips.labels, cache.labels, len(model_labels))
    _print_scores(scores, len(clips), args.subset, root)
    if args.json:
        summary = {"model": str(args.model), "data": str(root), "subset": args.subset, "clips": len(clips)}
        kept = ("accuracy", "macro_accuracy", "per_class", "unknown_rejected", "unknown_words")
        write_json(summary | {key: scores[key] for key in kept}, args.json)
        print(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# speechlib predict
# ---------------------------------------------------------------------------------------------


def predict_command(args) -> int:
    # notebook 10's classify_file: mono, 16 kHz, the second around the loudest part (a recording of
    # any length). Imported here: it brings matplotlib, which train and evaluate do not need.
    from .recorder import classify_file
    from .transfer import default_model_path, model_threshold, verdict

    arguments = list(args.paths)
    # `speechlib predict MODEL FILE...` names a model file first; `speechlib predict FILE...` uses the default
    model_path = Path(arguments.pop(0)) if len(arguments) > 1 and arguments[0].endswith(".pt") else default_model_path()
    model, labels = load_model(existing_file(str(model_path), "model file"))
    threshold = model_threshold(model)
    for path in arguments:
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
        "_background_noise_ (notebook 08; default: on for cnn, off for simplenet)",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes decoding clips when the cache is built (default: all cores)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument("--save-all-ranks", action="store_true", help=argparse.SUPPRESS)  # for the DDP test
    train.set_defaults(func=lambda args: report_errors("train", train_command, args))

    evaluate_parser = commands.add_parser(
        "evaluate",
        help="accuracy and per-word accuracy of a saved model",
        description="Measure a model written by `speechlib train` (or the notebooks) on any tree in the "
        "Speech Commands layout. Prints the accuracy and per-word accuracy; --json writes them as "
        '{"accuracy": ..., "macro_accuracy": ..., "per_class": {word: accuracy}, "unknown_rejected": ..., '
        '"unknown_words": [...]}. A clip of a word the model knows is right when the model names that word; '
        "predicting another class (such as the transfer model's _silence_) counts as wrong. Words of the tree "
        "that the model does not know are scored as unknown, as in Google's 12-class scoring: such a clip is "
        "right when the model rejects it (its best guess is _silence_ or _unknown_, or below the model's "
        '"not one of the words" threshold); their share rejected is unknown_rejected, also per_class\'s '
        "_unknown_. Macro accuracy is the mean of the per-class accuracies, the unknown words pooled into one "
        "class, _unknown_. The model must know at least one word of the tree.",
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
    evaluate_parser.set_defaults(func=lambda args: report_errors("evaluate", evaluate_command, args))

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
    predict_parser.set_defaults(func=lambda args: report_errors("predict", predict_command, args))
