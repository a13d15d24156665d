"""How well few-shot enrolment (``speechlib.enrol``) teaches a model new words, and what it costs (maintainer script).

    PYTHONPATH=$PWD python tools/measure_enrolment.py                                   # bundled test split
    PYTHONPATH=$PWD python tools/measure_enrolment.py --real ../shared/realdev --json /tmp/enrolment.json

Issue 19's protocol. Start from ``--model`` (default ``models/commands.pt``: 10 commands, ``_silence_``,
``_unknown_``); for each word of a tree that the model does not know, and each number of shots N (``--shots``),
enrol it from N clips of N different speakers (drawn at random, ``--draws`` times), then measure on the same tree:

- **recall**: the share of that word's clips by the *other* speakers that the new model answers with the word
  (best class, and not under the model's "not one of the words" threshold);
- **others rejected**: the share of the clips of the other words the model does not know that it still rejects
  (:func:`speechlib.transfer.rejected`: neither the new word nor a command), and how many the new word takes;
- **command drop**: how many points the accuracy on the model's own words' clips falls (argmax, as
  ``speechlib evaluate`` scores them).

Trees: the bundled test split (speakers no head was trained on) and, with ``--real``, every clip of a real tree
such as ``../shared/realdev`` (what a user does with their own voice; nothing enrolled is saved). A (word, N)
whose word has fewer than ``--min-test`` clips of other speakers left is skipped. The table averages over draws,
then over words (each word counts the same). Enrolment times are each call of :func:`speechlib.enrol.enrol_clips`
on one thread: the first also reads and embeds the counter-examples (once per process), which every
``speechlib enrol`` run pays.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from speechlib.commands import write_json
from speechlib.data import DataError, SpeechCommands
from speechlib.enrol import (
    METHODS,
    NEW_WORD_LOG_PRIOR,
    embed_clips,
    enrol_clips,
    pooled_features,
    prepare_clips,
    widened,
)
from speechlib.paths import bundled_root, models_dir
from speechlib.training import load_model
from speechlib.transfer import rejected
from speechlib.transforms import pad_trim


def load_tree(root: Path, subset: str | None) -> dict:
    """A tree's clips: raw ``waveforms`` (as read, for enrolment), ``clips`` ``(n, 1, 16000)`` (padded or trimmed at
    the end, as ``speechlib evaluate`` reads them), ``words`` and ``speakers`` ``(n,)``."""
    dataset = SpeechCommands(root, subset=subset, verbose=False)
    waveforms = [dataset[i][0] for i in range(len(dataset))]
    return {
        "root": str(root),
        "waveforms": waveforms,
        "clips": torch.stack([pad_trim(waveform) for waveform in waveforms]),
        "words": np.array([dataset.labels[target] for target in dataset.targets]),
        "speakers": np.array(dataset.speakers),
    }


def heads_view(model, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pooled features (heads, n, 2 width), logits of the old classes (heads, n, classes))``: what an enrolled
    model's heads compute for ``clips`` apart from the new row (the heads' convolutions and old rows do not change)."""
    features = pooled_features(model, embed_clips(model, clips))
    classifiers = [*model.heads, *model.inner_heads]
    with torch.no_grad():
        logits = torch.stack([head.classifier(x) for head, x in zip(classifiers, features)])
    return features, logits


def probabilities(new_model, features: torch.Tensor, old_logits: torch.Tensor) -> torch.Tensor:
    """The enrolled model's class probabilities ``(n, classes + 1)`` from :func:`heads_view` of the base model: the
    same numbers as ``new_model(clips).exp()``, without running the embedding again."""
    rows = [head.classifier for head in [*new_model.heads, *new_model.inner_heads]]
    weight = torch.stack([row.weight[-1] for row in rows])  # (heads, 2 width)
    bias = torch.stack([row.bias[-1] for row in rows])  # (heads,)
    with torch.no_grad():
        new = torch.einsum("hnd,hd->hn", features, weight) + bias[:, None]
        log_probs = F.log_softmax(torch.cat([old_logits, new[..., None]], dim=2), dim=2).mean(dim=0)
        return F.softmax(log_probs + new_model.log_prior, dim=1)  # (n, classes + 1)


def base_probabilities(model, old_logits: torch.Tensor) -> torch.Tensor:
    """The base model's probabilities ``(n, classes)`` from its heads' logits."""
    with torch.no_grad():
        return F.softmax(F.log_softmax(old_logits, dim=2).mean(dim=0) + model.log_prior, dim=1)


def measure_tree(model, labels: list[str], tree: dict, args) -> list[dict]:
    """Every (word, shots, draw) enrolment on one tree, as records."""
    threshold = float(model.reject_below)
    words, speakers = tree["words"], tree["speakers"]
    reader = model if args.no_widen else widened(model)  # the heads the new row reads, as enrol_clips widens them
    key = ("features", args.no_widen)
    if key not in tree:  # embedded once, however many settings are measured on it
        tree[key] = heads_view(reader, tree["clips"])
    features, old_logits = tree[key]
    before = base_probabilities(model, old_logits)
    known = np.isin(words, labels)
    targets = torch.tensor([labels.index(word) if word in labels else -1 for word in words])
    command_rows = torch.from_numpy(known)
    accuracy_before = (before.argmax(dim=1) == targets)[command_rows].float().mean().item()
    candidates = [word for word in sorted(set(words)) if word not in labels]
    chosen = args.words.split(",") if args.words else candidates
    records = []
    for word_number, word in enumerate(chosen):
        if word not in candidates:
            raise SystemExit(f"--words: {word!r} is not a word of {tree['root']} that the model does not know")
        rows = np.flatnonzero(words == word)
        others = ~known & (words != word)  # the other words the model does not know
        baseline_rejected = rejected(before[others], labels, threshold).float().mean().item()
        for shots in args.shots:
            for draw in range(args.draws):
                rng = np.random.default_rng([args.seed, word_number, shots, draw])
                people = rng.permutation(sorted(set(speakers[rows])))[:shots]
                if len(people) < shots:
                    continue
                enrolled = [int(rng.choice(rows[speakers[rows] == person])) for person in people]
                test = rows[~np.isin(speakers[rows], people)]  # the word said by everyone else
                if len(test) < args.min_test:
                    continue
                try:
                    clips = prepare_clips([(tree["waveforms"][i], 16000) for i in enrolled], min_clips=1)
                except DataError as error:  # a clip enrol would refuse (silent): so would a user's
                    print(f"{word} {shots}-shot draw {draw}: skipped, {error}", flush=True)
                    continue
                started, cpu = time.perf_counter(), time.process_time()
                new_model, new_labels = enrol_clips(
                    model,
                    labels,
                    word,
                    clips,
                    method=args.method,
                    steps=args.steps,
                    pull=args.pull,
                    copies=args.copies,
                    scramble=not args.no_scramble,
                    prior=args.prior,
                    widen=not args.no_widen,
                )
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                after = probabilities(new_model, features, old_logits)
                answered = after.argmax(dim=1) == len(labels)  # the new word is the best class
                heard = answered & (after.amax(dim=1) >= threshold)
                records.append(
                    {
                        "tree": tree["root"],
                        "word": word,
                        "shots": shots,
                        "draw": draw,
                        "test_clips": len(test),
                        "recall": heard[test].float().mean().item(),
                        "others_rejected": rejected(after[others], new_labels, threshold).float().mean().item(),
                        "others_rejected_before": baseline_rejected,
                        "others_taken": answered[others].float().mean().item(),
                        "command_accuracy_before": accuracy_before,
                        "command_accuracy": (after.argmax(dim=1) == targets)[command_rows].float().mean().item(),
                        "seconds": seconds,
                        "cpu_seconds": cpu,
                    }
                )
                print(
                    f"{Path(tree['root']).name} {word:>9} {shots:>2}-shot draw {draw}: recall {records[-1]['recall']:.2f} "
                    f"({len(test)} clips), others rejected {records[-1]['others_rejected']:.3f}, "
                    f"{seconds:.1f} s ({cpu:.1f} s CPU)",
                    flush=True,
                )
    return records


def summarise(records: list[dict]) -> list[dict]:
    """One row per (tree, shots): means over draws, then over words."""
    rows = []
    for tree in dict.fromkeys(record["tree"] for record in records):
        for shots in sorted({record["shots"] for record in records if record["tree"] == tree}):
            mine = [record for record in records if record["tree"] == tree and record["shots"] == shots]
            words = sorted({record["word"] for record in mine})

            def mean(key: str, mine=mine, words=words) -> float:
                return float(np.mean([np.mean([r[key] for r in mine if r["word"] == word]) for word in words]))

            rows.append(
                {
                    "tree": tree,
                    "shots": shots,
                    "words": len(words),
                    "enrolments": len(mine),
                    "recall": mean("recall"),
                    "worst_word_recall": min(np.mean([r["recall"] for r in mine if r["word"] == w]) for w in words),
                    "others_rejected": mean("others_rejected"),
                    "others_rejected_before": mean("others_rejected_before"),
                    "others_taken": mean("others_taken"),
                    "command_drop_points": 100 * (mean("command_accuracy_before") - mean("command_accuracy")),
                    "worst_command_drop_points": 100
                    * max(r["command_accuracy_before"] - r["command_accuracy"] for r in mine),
                    "median_seconds": float(np.median([r["seconds"] for r in mine])),
                    "max_seconds": float(max(r["seconds"] for r in mine)),
                    "median_cpu_seconds": float(np.median([r.get("cpu_seconds", np.nan) for r in mine])),
                }
            )
    return rows


def print_table(rows: list[dict], first_seconds: float) -> None:
    print(
        "\n| tree | shots | words (enrolments) | recall (worst word) | others rejected (before) | taken by the new word "
        "| command drop, points (worst) | seconds: median (max), CPU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {Path(row['tree']).name} | {row['shots']} | {row['words']} ({row['enrolments']}) "
            f"| {row['recall']:.1%} ({row['worst_word_recall']:.0%}) "
            f"| {row['others_rejected']:.1%} ({row['others_rejected_before']:.1%}) | {row['others_taken']:.1%} "
            f"| {row['command_drop_points']:.2f} ({row['worst_command_drop_points']:.1f}) "
            f"| {row['median_seconds']:.2f} ({row['max_seconds']:.2f}), {row['median_cpu_seconds']:.2f} |"
        )
    print(f"\nfirst enrolment, counter-examples read and embedded: {first_seconds:.1f} s")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=models_dir() / "commands.pt", help="default: models/commands.pt")
    parser.add_argument("--real", type=Path, default=None, help="also a real tree, all clips (../shared/realdev)")
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled test split")
    parser.add_argument("--words", default=None, help="comma-separated words to enrol (default: every unknown word)")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5, 10], help="default: 1 3 5 10")
    parser.add_argument("--draws", type=int, default=2, help="random choices of speakers per word and N (default: 2)")
    parser.add_argument("--min-test", type=int, default=3, help="fewest clips of other speakers to measure recall on")
    parser.add_argument("--method", choices=METHODS, default=METHODS[0], help="default: prototype")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--pull", type=float, default=1e-3)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--prior", type=float, default=NEW_WORD_LOG_PRIOR, help="the new word's log prior")
    parser.add_argument("--no-widen", action="store_true", help="the new row reads the heads' features only")
    parser.add_argument("--no-scramble", action="store_true", help="without the scrambled clips as counter-examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the table and every enrolment here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the 10 s target is for one core

    model, labels = load_model(args.model)
    trees = [] if args.no_bundled else [(bundled_root(), "testing")]
    trees += [(args.real, None)] if args.real else []
    if not trees:
        raise SystemExit("nothing to measure: --no-bundled and no --real")
    started = time.perf_counter()
    enrol_clips(model, labels, "_warm_", prepare_clips([(torch.ones(1, 16000) * 0.1, 16000)], min_clips=1), steps=1)
    first_seconds = time.perf_counter() - started
    records = []
    for root, subset in trees:
        records += measure_tree(model, labels, load_tree(root, subset), args)
    rows = summarise(records)
    print_table(rows, first_seconds)
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    result = {"settings": settings, "first_seconds": first_seconds, "table": rows, "enrolments": records}
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
