"""How much faster is the cache? A reproducible benchmark on a full-size synthetic tree.

    python tools/benchmark.py --tree /tmp/sc_full            # 105,829 clips, 3.2 GiB of WAV

The tree has the real v0.02 layout (35 word folders, split lists, ~10% clips shorter than 1 s);
its audio is synthetic (a tone per word plus noise): a 16-bit WAV costs the same to decode
whatever it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from speechlib.data import CLIP_SAMPLES, SAMPLE_RATE, WORDS

REAL_CLIPS = 105_829  # Speech Commands v0.02
SHORT_SHARE = 0.10  # share of clips shorter than one second


def _split_of(speaker: str) -> str:
    """All clips of one speaker land in one split (like the real set): ~10% validation, ~10% testing."""
    bucket = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 100
    return "validation" if bucket < 10 else "testing" if bucket < 20 else "training"


def tone_clip(word_index: int, rng: np.random.Generator, short_share: float = SHORT_SHARE) -> np.ndarray:
    """A learnable stand-in for a spoken word: a tone burst whose pitch says the word, plus noise.
    ``int16 (n,)``, one second long or (with probability ``short_share``) 0.5-0.95 s."""
    num_samples = CLIP_SAMPLES if rng.random() >= short_share else int(rng.integers(8000, 15200))
    time = np.arange(num_samples) / SAMPLE_RATE
    frequency = 200.0 * 1.1**word_index  # a different pitch per word
    start = rng.uniform(0.0, 0.3) * num_samples / SAMPLE_RATE
    envelope = ((time > start) & (time < start + 0.4)).astype(np.float64)
    signal = 0.4 * envelope * np.sin(2 * np.pi * frequency * time) + 0.02 * rng.standard_normal(num_samples)
    return np.clip(np.round(signal * 32767), -32768, 32767).astype(np.int16)


def _write_word(job: tuple[str, str, int, int, int, int, str]) -> list[tuple[str, str]]:
    """Worker: write the clips of one word; returns ``(relative path, split)`` pairs."""
    root, word, word_index, count, num_speakers, seed, extension = job
    rng = np.random.default_rng([seed, word_index])
    (Path(root) / word).mkdir(parents=True, exist_ok=True)
    written = []
    for n in range(count):
        speaker = f"{(n % num_speakers) * 2654435761 % 2**32:08x}"  # spread-out 8-hex ids
        relative = f"{word}/{speaker}_nohash_{n // num_speakers}{extension}"
        sf.write(Path(root) / relative, tone_clip(word_index, rng), SAMPLE_RATE, subtype="PCM_16")
        written.append((relative, _split_of(speaker)))
    return written


def write_tone_tree(
    root: Path | str,
    clips: int,
    words: Sequence[str] = WORDS,
    num_speakers: int | None = None,
    seed: int = 0,
    extension: str = ".wav",
    workers: int = 1,
) -> Path:
    """Write ``clips`` synthetic clips in the Speech Commands layout under ``root`` (spread evenly over
    ``words``) with ``validation_list.txt`` and ``testing_list.txt``. Used by the benchmark and tests."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = [clips // len(words) + (i < clips % len(words)) for i in range(len(words))]
    num_speakers = num_speakers or max(1, min(2600, max(counts) // 4))
    jobs = [(str(root), word, i, counts[i], num_speakers, seed, extension) for i, word in enumerate(words)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            written = [pair for pairs in pool.map(_write_word, jobs) for pair in pairs]
    else:
        written = [pair for job in jobs for pair in _write_word(job)]
    for subset in ("validation", "testing"):
        listed = sorted(relative for relative, split in written if split == subset)
        (root / f"{subset}_list.txt").write_text("".join(f"{name}\n" for name in listed))
    return root


# ---------------------------------------------------------------------------------------------
# The reference: what the seed notebooks and the PyTorch tutorial do
# ---------------------------------------------------------------------------------------------


def reference_dataset(tree: Path, subset: str = "training"):
    """torchaudio's ``SPEECHCOMMANDS`` (its file walk and split lists), decoding each file in
    ``__getitem__`` as it does, with soundfile in place of ``torchaudio.load``."""
    import torch
    from torchaudio.datasets import SPEECHCOMMANDS

    class SoundfileSpeechCommands(SPEECHCOMMANDS):
        def __getitem__(self, n):
            path, sample_rate, label, speaker_id, utterance_number = self.get_metadata(n)
            samples, sample_rate = sf.read(os.path.join(self._archive, path), dtype="float32")
            return torch.from_numpy(samples).unsqueeze(0), sample_rate, label, speaker_id, utterance_number

    # torchaudio looks for ROOT/SpeechCommands/speech_commands_v0.02: a symlink gives it that layout
    link_root = tree.parent / f"{tree.name}.torchaudio"
    link = link_root / "SpeechCommands" / "speech_commands_v0.02"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(tree.resolve(), target_is_directory=True)
    return SoundfileSpeechCommands(link_root, subset=subset)


def reference_loader(dataset, kept: list[int], batch_size: int = 256, seed: int = 0):
    """The tutorial's loader: batch 256, shuffled, a padding collate, num_workers=0 on CPU."""
    import torch

    from speechlib.transforms import make_collate

    labels = sorted(WORDS)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, kept),
        batch_size=batch_size,
        shuffle=True,
        collate_fn=make_collate(labels),
        num_workers=0,
        generator=generator,
    )


def refine(dataset) -> list[int]:
    """The seed's refine pass: load every clip and keep those exactly one second long."""
    return [i for i in range(len(dataset)) if dataset[i][0].shape[-1] == CLIP_SAMPLES]


# ---------------------------------------------------------------------------------------------
# Measurements: each runs in its own fresh process, so cold/warm and peak memory are honest
# ---------------------------------------------------------------------------------------------

MEASUREMENTS = (
    "first_batch_cold",
    "first_batch_warm",
    "data_epoch",
    "simplenet_epoch",
    "cnn_epoch",
    "cnn_epoch_in_memory",
)
SPEECHLIB_ONLY = ("cnn_epoch_in_memory",)  # no reference side: it measures speechlib's own pipeline overhead


def _peak_rss_gb() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; includes mapped cache pages
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest decoding worker
    return (own + workers) / 2**20


def speechlib_loader(tree: Path, batch_size: int, progress: bool = False):
    """speechlib's side: the decoded cache's training clips in the stock ``DataLoader``, shuffled."""
    import torch

    from speechlib.cache import CachedClips, load_cache

    clips = CachedClips(load_cache(tree, verbose=False, progress=progress), "training")
    return torch.utils.data.DataLoader(clips, batch_size=batch_size, shuffle=True)


def _first_batch(side: str, tree: Path, workdir: Path, batch_size: int) -> dict:
    import time

    started = time.perf_counter()
    if side == "reference":
        dataset = reference_dataset(tree)
        kept = refine(dataset)  # loads every clip
        (workdir / "reference_kept.json").write_text(json.dumps(kept))
        waveforms, targets = next(iter(reference_loader(dataset, kept, batch_size)))
    else:
        waveforms, targets = next(iter(speechlib_loader(tree, batch_size, progress=True)))
    assert waveforms.shape == (batch_size, 1, CLIP_SAMPLES) and targets.shape == (batch_size,)
    return {"seconds": time.perf_counter() - started}


class InMemoryBatches:
    """The batches of ``loader`` (same count, same sizes) as random clips already in memory: a pool of
    ``pool`` distinct batches, made before timing and used in turn (a CNN's work does not depend on
    what the samples are; a whole epoch of them would take 5.4 GB on the full tree)."""

    def __init__(self, loader, num_classes: int, pool: int = 8):
        import torch

        generator = torch.Generator().manual_seed(0)
        num_clips, batch_size = len(loader.dataset), loader.batch_size
        self.sizes = [batch_size] * (num_clips // batch_size) + (
            [num_clips % batch_size] if num_clips % batch_size else []
        )
        self.pool = [
            (
                torch.randn(batch_size, 1, CLIP_SAMPLES, generator=generator) * 0.1,  # (batch, 1, 16000)
                torch.randint(num_classes, (batch_size,), generator=generator),
            )
            for _ in range(pool)
        ]
        self.dataset = loader.dataset

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self):
        for step, size in enumerate(self.sizes):
            waveforms, targets = self.pool[step % len(self.pool)]
            yield waveforms[:size], targets[:size]


def _epoch(side: str, model_name: str | None, tree: Path, workdir: Path, batch_size: int) -> dict:
    """One epoch over the training clips (``model_name`` None: only fetch the batches)."""
    import time

    import torch

    from speechlib.models import build_model
    from speechlib.training import train_one_epoch

    if side == "reference":
        kept = json.loads((workdir / "reference_kept.json").read_text())
        loader = reference_loader(reference_dataset(tree), kept, batch_size)
    else:
        loader = speechlib_loader(tree, batch_size)
    started = time.perf_counter()
    if model_name is None:
        clips = sum(len(targets) for _, targets in loader)
    else:
        torch.manual_seed(0)
        model = build_model(model_name, num_classes=len(WORDS))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # as `speechlib train`
        train_one_epoch(model, loader, optimizer, torch.device("cpu"), progress=False)
        clips = len(loader.dataset)
    return {"seconds": time.perf_counter() - started, "clips": clips}


def _pipeline_overhead(tree: Path, batch_size: int, repeats: int = 2) -> dict:
    """CNN epochs fed by speechlib's pipeline and by :class:`InMemoryBatches` (no pipeline) in this one
    process, each from the same initial weights, in the order cache, memory, memory, cache, ... (so
    a machine getting busier or quieter weighs on both alike): the ratio of their sums is the
    pipeline's overhead. Wall time, and the process's CPU time (which other processes' load does not
    inflate)."""
    import itertools
    import time

    import torch

    from speechlib.models import build_model
    from speechlib.training import train_one_epoch

    def epoch_seconds(batches) -> tuple[float, float]:
        torch.manual_seed(0)
        model = build_model("cnn", num_classes=len(WORDS))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # as `speechlib train`
        started, cpu_started = time.perf_counter(), time.process_time()
        train_one_epoch(model, batches, optimizer, torch.device("cpu"), progress=False)
        return time.perf_counter() - started, time.process_time() - cpu_started

    loader = speechlib_loader(tree, batch_size)
    in_memory = InMemoryBatches(loader, num_classes=len(WORDS))
    epoch_seconds(list(itertools.islice(in_memory, 2)))  # warm-up, untimed: first-call costs of the kernels
    times = {"cache": [], "memory": []}
    for turn in range(repeats):
        for source in ("cache", "memory") if turn % 2 == 0 else ("memory", "cache"):
            times[source].append(epoch_seconds(loader if source == "cache" else in_memory))
    wall = {source: sum(wall for wall, _ in runs) for source, runs in times.items()}
    cpu = {source: sum(cpu for _, cpu in runs) for source, runs in times.items()}
    return {
        "seconds": wall["cache"] / repeats,
        "in_memory_seconds": wall["memory"] / repeats,
        "ratio": wall["cache"] / wall["memory"],
        "cpu_ratio": cpu["cache"] / cpu["memory"],
        "epochs_each": repeats,
        "clips": len(loader.dataset),
    }


def prepare(side: str, tree: Path, workdir: Path) -> dict:
    """What a warm measurement expects to find, made untimed: speechlib's decoded cache (built if it
    is missing or stale), the reference's list of one-second clips (its refine pass)."""
    if side == "reference":
        kept = refine(reference_dataset(tree))
        (workdir / "reference_kept.json").write_text(json.dumps(kept))
        return {}
    from speechlib.cache import load_cache

    load_cache(tree, verbose=False, progress=False)
    return {}


def measure(side: str, what: str, tree: Path, workdir: Path, batch_size: int = 256) -> dict:
    """Run one measurement in this process and return its figures (used by the child processes)."""
    if what == "prepare":
        return prepare(side, tree, workdir)
    if what == "cnn_epoch_in_memory":
        result = _pipeline_overhead(tree, batch_size)
    elif what.startswith("first_batch"):
        result = _first_batch(side, tree, workdir, batch_size)
    else:
        model_name = None if what == "data_epoch" else what.split("_")[0]
        result = _epoch(side, model_name, tree, workdir, batch_size)
    return {**result, "peak_rss_gb": _peak_rss_gb()}


# ---------------------------------------------------------------------------------------------
# The driver: build the tree once, run every measurement in a fresh process, print the table
# ---------------------------------------------------------------------------------------------


def _drop_page_cache() -> bool:
    """Empty the OS file cache (needs root), so "cold" really reads from disk. False if not allowed."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def _run_child(side: str, what: str, tree: Path, workdir: Path, batch_size: int) -> dict:
    import subprocess
    import sys
    import time

    env = {**os.environ, "SPEECHLIB_CACHE": str(workdir / "cache")}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--tree",
        str(tree),
        "--workdir",
        str(workdir),
        "--batch-size",
        str(batch_size),
        "--child",
        side,
        what,
    ]
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{finished.stderr[-3000:]}")
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started  # including Python start and imports
    return result


def _read_through(folder: Path) -> None:
    """Read every file under ``folder`` once, so the OS page cache holds it."""
    for path in folder.rglob("*.npy"):
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def run_all(tree: Path, workdir: Path, batch_size: int, only: list[str], drop_caches: bool) -> dict:
    import shutil

    results_path = workdir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for what in only:
        for side in ("speechlib",) if what in SPEECHLIB_ONLY else ("speechlib", "reference"):
            if what == "first_batch_cold":
                if side == "speechlib":
                    shutil.rmtree(workdir / "cache", ignore_errors=True)  # no decoded cache yet
                if drop_caches and not _drop_page_cache():
                    print("could not drop the OS page cache (needs root): 'cold' means no speechlib cache only")
            else:  # a warm start finds what an earlier run left: make it first, untimed
                if side == "speechlib":
                    print(f"{side:>9} decoded cache: build if missing (not timed) ...", flush=True)
                    _run_child(side, "prepare", tree, workdir, batch_size)
                    _read_through(workdir / "cache")  # as warm as the reference's tree, which its last run read
                elif not (workdir / "reference_kept.json").is_file():
                    print(f"{side:>9} refine pass (not timed) ...", flush=True)
                    _run_child(side, "prepare", tree, workdir, batch_size)
            print(f"{side:>9} {what} ...", flush=True)
            load = os.getloadavg()[0]
            results[f"{side}/{what}"] = {**_run_child(side, what, tree, workdir, batch_size), "load_before": load}
            print(f"          {results[f'{side}/{what}']}", flush=True)
            results_path.write_text(json.dumps(results, indent=2))  # partial results survive an interruption
    return results


TARGETS = {"first_batch_warm": 50, "data_epoch": None, "simplenet_epoch": 5, "cnn_epoch": 5, "first_batch_cold": None}
OVERHEAD_TARGET = 1.05  # a CNN epoch from the cache may take at most 5% longer than on tensors in memory
ROW_NAMES = {
    "first_batch_cold": "time to first batch, cold",
    "first_batch_warm": "time to first batch, warm",
    "data_epoch": "one epoch, data only (no model)",
    "simplenet_epoch": "one SimpleNet epoch",
    "cnn_epoch": "one CNN epoch",
    "cnn_epoch_in_memory": "one CNN epoch vs the same model on random tensors already in memory",
}


def table(results: dict) -> str:
    """The results as a markdown table: absolute figures and reference/speechlib ratios."""
    lines = [
        "| measurement | reference | speechlib | speed-up (reference / speechlib) | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for what in MEASUREMENTS:
        if what in SPEECHLIB_ONLY:
            continue
        reference, ours = results.get(f"reference/{what}"), results.get(f"speechlib/{what}")
        if not reference or not ours:
            continue
        ratio = reference["seconds"] / ours["seconds"]
        target = TARGETS[what]
        goal, met = (f">= {target}x", "yes" if ratio >= target else "**no**") if target else ("", "")
        if what == "first_batch_warm":  # two targets: say which one is met
            goal += ", <= 2 s"
            met = (
                f"{target}x: {'yes' if ratio >= target else '**no**'}; "
                f"<= 2 s: {'yes' if ours['seconds'] <= 2 else '**no**'}"
            )
        clips, per_clip = "", ""
        if "clips" in ours:  # the reference drops short clips, speechlib pads them: compare per clip too
            clips = f" ({reference['clips']:,} / {ours['clips']:,} clips)"
            per_clip = f" ({ratio * ours['clips'] / reference['clips']:.1f}x per clip)"
        lines.append(
            f"| {ROW_NAMES[what]}{clips} | {reference['seconds']:.2f} s | {ours['seconds']:.2f} s "
            f"| {ratio:.1f}x{per_clip} | {goal} | {met} |"
        )
        if what.startswith("first_batch"):
            lines.append(
                f"| {ROW_NAMES[what]}, incl. Python start and imports | {reference['process_seconds']:.2f} s "
                f"| {ours['process_seconds']:.2f} s | {reference['process_seconds'] / ours['process_seconds']:.1f}x | | |"
            )
    overhead = results.get("speechlib/cnn_epoch_in_memory")
    if overhead:  # the pipeline's cost: speechlib's CNN epoch against no pipeline at all, in one process
        lines.append(
            f"| {ROW_NAMES['cnn_epoch_in_memory']} ({overhead['clips']:,} clips, mean of {overhead['epochs_each']} "
            f"each) | | {overhead['seconds']:.2f} s / {overhead['in_memory_seconds']:.2f} s "
            f"| {overhead['ratio']:.3f} (cache / in memory; CPU time {overhead['cpu_ratio']:.3f}) | <= {OVERHEAD_TARGET} | "
            f"{'yes' if overhead['ratio'] <= OVERHEAD_TARGET else '**no**'} |"
        )
    # the overhead row's pool of random batches is not the pipeline's memory
    compared = {key: r for key, r in results.items() if key.split("/")[1] not in SPEECHLIB_ONLY}
    peaks = {
        side: max((r["peak_rss_gb"] for key, r in compared.items() if key.startswith(side)), default=0.0)
        for side in ("reference", "speechlib")
    }
    lines.append(
        f"| peak RSS (largest of all runs) | {peaks['reference']:.2f} GB | {peaks['speechlib']:.2f} GB | "
        f"| <= 6 GB | {'yes' if peaks['speechlib'] <= 6 else '**no**'} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python tools/benchmark.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=Path("/tmp/sc_full"),
        help="the full-size tree (built there if missing; reused if present)",
    )
    parser.add_argument("--clips", type=int, default=REAL_CLIPS, help="clips in a newly built tree")
    parser.add_argument("--batch-size", type=int, default=256, help="as in the PyTorch tutorial (default 256)")
    parser.add_argument(
        "--only", default=",".join(MEASUREMENTS), help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}"
    )
    parser.add_argument(
        "--drop-caches", action="store_true", help="empty the OS page cache before each cold measurement (needs root)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="decoded cache and results.json (default: TREE.bench beside the tree)",
    )
    parser.add_argument("--table", action="store_true", help="only print the table of the saved results")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "WHAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workdir = args.workdir or args.tree.parent / f"{args.tree.name}.bench"
    if args.child:
        print(json.dumps(measure(*args.child, tree=args.tree, workdir=workdir, batch_size=args.batch_size)))
        return
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.table:
        if not (args.tree / "testing_list.txt").is_file():
            building = args.tree.with_name(args.tree.name + ".building")
            print(f"writing {args.clips:,} clips to {args.tree} (once) ...", flush=True)
            write_tone_tree(building, args.clips, workers=os.cpu_count() or 1)
            building.rename(args.tree)
        unknown = set(args.only.split(",")) - set(MEASUREMENTS)
        if unknown:
            parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")
        run_all(args.tree, workdir, args.batch_size, args.only.split(","), args.drop_caches)
    print(table(json.loads((workdir / "results.json").read_text())))


if __name__ == "__main__":
    main()
