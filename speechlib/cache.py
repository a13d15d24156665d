"""Decode every clip once, keep it on disk, feed the model from memory. Taught in notebook 07,
which trains the CNN with it; `speechlib train` uses it too.

Decoding 105,829 audio files takes minutes; reading them again every epoch wastes those minutes
each time. So the first run decodes every clip (on all cores, with a progress bar), pads/trims it
to one second and stores it in one big ``int16`` array ``(clips, 16000)`` on disk. Later runs
*memory-map* that array: nothing is read until a batch needs it, and the operating system keeps
the hot pages in RAM. 105,829 clips x 16000 samples x 2 bytes = 3.4 GB.

The cache folder is named after a *fingerprint* of the dataset (every clip's path, size and
modification time, and the split lists), so changing, adding or removing a file gives a new
fingerprint and a fresh build (and the superseded cache of that tree is deleted). It is built in a
temporary folder and renamed into place only when complete, with a ``complete.json`` marker written
last: a crash mid-build never leaves a cache that a later run trusts.

    >>> cache = load_cache("data/bundled")                     # doctest: +SKIP
    >>> loader = DataLoader(CachedClips(cache, "training"), batch_size=256, shuffle=True)
    >>> waveforms, targets = next(iter(loader))                # (256, 1, 16000), (256,)

The stock ``DataLoader`` (and, for several processes, ``DistributedSampler``) serves it; a whole
batch is one read of the memory-mapped array (:meth:`CachedClips.__getitems__`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import (
    CLIP_SAMPLES,
    SUBSETS,
    DataError,
    SpeechCommands,
    find_root,
    read_samples,
    read_split_list,
    scan_clips,
)
from .files import write_marker
from .paths import find_project_home

CACHE_FORMAT = 1  # bump when the layout below changes: old caches then get a new fingerprint
MARKER = "complete.json"


# ---------------------------------------------------------------------------------------------
# Where a cache lives, and what it is keyed by
# ---------------------------------------------------------------------------------------------


def cache_home(root: Path | str) -> Path:
    """Folder holding the caches of ``root``: ``$SPEECHLIB_CACHE`` if set; ``data/cache/`` for a
    dataset inside the project (git-ignored; see speechlib.paths); else ``~/.cache/speechlib``."""
    if os.environ.get("SPEECHLIB_CACHE"):
        return Path(os.environ["SPEECHLIB_CACHE"])
    home = find_project_home()
    if home is not None and Path(root).resolve().is_relative_to(home):
        return home / "data" / "cache"
    return Path.home() / ".cache" / "speechlib"


def clip_stats(root: Path | str) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime in ns)`` of every clip, sorted: the files of :class:`SpeechCommands`
    (:func:`speechlib.data.scan_clips`) and one ``stat`` per clip, no decoding. Most of a warm start's
    work (0.4-0.55 s for 105,829 clips, profiled in BENCHMARKS.md). One thread: a pool of threads
    measured twice as slow, since each ``stat`` is too short to win back the hand-over of Python's lock."""
    clips = []
    for relative_path, entry in scan_clips(root):
        status = entry.stat()
        clips.append((relative_path, status.st_size, status.st_mtime_ns))
    clips.sort()
    return clips


def fingerprint(root: Path | str, clips: list[tuple[str, int, int]], num_samples: int = CLIP_SAMPLES) -> str:
    """A short hash of every clip's relative path, size and modification time (see :func:`clip_stats`)
    and of the split lists: any change to the data gives a different fingerprint, hence a rebuilt cache."""
    digest = hashlib.sha256(f"speechlib-cache {CACHE_FORMAT} {num_samples}\n".encode())
    for name in ("validation_list.txt", "testing_list.txt"):
        split_list = Path(root) / name
        status = split_list.stat() if split_list.is_file() else None
        digest.update(f"{name} {status and (status.st_size, status.st_mtime_ns)}\n".encode())
    digest.update("\n".join(f"{name} {size} {mtime}" for name, size, mtime in clips).encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Building: decode every clip once, in parallel, straight into the on-disk array
# ---------------------------------------------------------------------------------------------


def _decode_chunk(job: tuple[str, str, int, list[str], int]) -> tuple[int, np.ndarray]:
    """Worker: decode ``files`` and write them into rows ``start...`` of the array file.
    Each worker writes its own rows, so nothing big travels between processes."""
    array_path, root, start, files, num_samples = job
    waveforms = np.load(array_path, mmap_mode="r+")  # (clips, num_samples) int16, shared on disk
    lengths = np.empty(len(files), dtype=np.int64)
    for offset, relative_path in enumerate(files):
        samples = read_samples(Path(root) / relative_path, dtype="int16")  # (n,) as stored: no rounding anywhere
        lengths[offset] = len(samples)
        kept = samples[:num_samples]  # pad_trim: cut the end ...
        waveforms[start + offset, : len(kept)] = kept
        waveforms[start + offset, len(kept) :] = 0  # ... or zero-pad at the end
    waveforms.flush()
    return start, lengths


def _subset_codes(root: Path, files: list[str]) -> np.ndarray:
    """0 = training, 1 = validation, 2 = testing (the index into ``SUBSETS``) for every clip."""
    codes = np.zeros(len(files), dtype=np.int8)
    for code, subset in ((1, "validation"), (2, "testing")):
        listed = read_split_list(root, subset, required=False)  # a tree without lists: all training
        codes[[i for i, name in enumerate(files) if name in listed]] = code
    return codes


def build_cache(
    dataset: SpeechCommands,
    directory: Path,
    num_samples: int = CLIP_SAMPLES,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Decode every clip of ``dataset`` into ``directory`` (which must not exist yet); :func:`load_cache` calls it.

    Everything is written into a temporary sibling folder and renamed into place at the end, the
    ``complete.json`` marker last; if another process finished the same cache first, theirs is kept.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    files = dataset.files
    workers = workers or os.cpu_count() or 1
    building = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".building"))
    try:
        array_path = building / "waveforms.npy"
        np.lib.format.open_memmap(array_path, mode="w+", dtype=np.int16, shape=(len(files), num_samples)).flush()
        chunk = max(1, min(512, len(files) // (workers * 8) or 1))  # many small jobs keep the bar moving
        jobs = [
            (str(array_path), str(dataset.root), start, files[start : start + chunk], num_samples)
            for start in range(0, len(files), chunk)
        ]
        lengths = np.empty(len(files), dtype=np.int64)
        bar = tqdm(total=len(files), desc="decoding clips (once)", unit="clip", disable=not progress)
        if workers > 1 and len(jobs) > 1:
            # a worker that dies makes the pool raise BrokenProcessPool, never hang
            with ProcessPoolExecutor(workers, mp_context=_process_context()) as pool:
                for start, chunk_lengths in pool.map(_decode_chunk, jobs):
                    lengths[start : start + len(chunk_lengths)] = chunk_lengths
                    bar.update(len(chunk_lengths))
        else:
            for job in jobs:
                start, chunk_lengths = _decode_chunk(job)
                lengths[start : start + len(chunk_lengths)] = chunk_lengths
                bar.update(len(chunk_lengths))
        bar.close()

        np.savez(
            building / "index.npz",
            targets=np.asarray(dataset.targets, dtype=np.int64),
            lengths=lengths,
            subsets=_subset_codes(dataset.root, files),
            speakers=np.asarray(dataset.speakers, dtype=str),
            files=np.asarray(files, dtype=str),
            labels=np.asarray(dataset.labels, dtype=str),
        )
        write_marker(
            building / MARKER,
            {
                "clips": len(files),
                "num_samples": num_samples,
                "root": str(Path(dataset.root).resolve()),
                "format": CACHE_FORMAT,
            },
        )
        try:
            os.rename(building, directory)  # atomic: the cache appears complete or not at all
        except OSError:
            if not _is_complete(directory, len(files), num_samples):
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)  # left over only if the rename did not happen
    return directory


def _process_context():
    """fork on Linux: works from notebooks and scripts without a ``__main__`` guard, and the workers
    use only numpy and soundfile (never torch's thread pools). Elsewhere, the platform's safe default."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)


def _is_complete(directory: Path, clips: int, num_samples: int) -> bool:
    """Trust a cache only if its marker is there and the array has exactly the expected shape."""
    try:
        with open(directory / MARKER) as f:
            marker = json.load(f)
        waveforms = np.load(directory / "waveforms.npy", mmap_mode="r")
    except (OSError, ValueError):
        return False
    return (
        marker.get("clips") == clips
        and marker.get("num_samples") == num_samples
        and waveforms.shape == (clips, num_samples)
        and waveforms.dtype == np.int16
        and (directory / "index.npz").is_file()
    )


# ---------------------------------------------------------------------------------------------
# Using it
# ---------------------------------------------------------------------------------------------


class ClipCache:
    """A decoded dataset: every clip padded/trimmed to ``num_samples``, memory-mapped: what :func:`load_cache` returns.

    ``waveforms`` is an ``int16`` array ``(clips, num_samples)`` (divide by 32768 for [-1, 1]);
    ``targets``, ``lengths`` (original samples), ``speakers``, ``files`` and ``subsets`` have one
    entry per clip; ``labels`` are the words, ``targets`` index into them.
    """

    def __init__(self, directory: Path | str, root: Path | str, fingerprint: str):
        self.directory, self.root, self.fingerprint = Path(directory), Path(root), fingerprint
        self.waveforms = np.load(self.directory / "waveforms.npy", mmap_mode="r")  # (clips, num_samples)
        with np.load(self.directory / "index.npz") as index:
            self.targets = index["targets"]
            self.lengths = index["lengths"]
            self.subsets = index["subsets"]
            self.speakers = index["speakers"].tolist()
            self.files = index["files"].tolist()
            self.labels = index["labels"].tolist()

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return f"ClipCache(clips={len(self)}, labels={len(self.labels)}, directory={str(self.directory)!r})"

    @property
    def num_samples(self) -> int:
        return self.waveforms.shape[1]

    def indices(self, subset: str | None = None) -> np.ndarray:
        """Row numbers of the clips in ``subset`` ("training", "validation", "testing", or None for all)."""
        if subset is None:
            return np.arange(len(self))
        if subset not in SUBSETS:
            raise DataError(f"unknown subset {subset!r}: choose one of {', '.join(SUBSETS)} or None")
        return np.flatnonzero(self.subsets == SUBSETS.index(subset))


class CachedClips(torch.utils.data.Dataset):
    """Clips of a :class:`ClipCache` as a torch ``Dataset``: a ``subset`` ("training", "validation",
    "testing"; None: all) or any ``rows`` of the cache. Taught in notebook 07.

    Items are ``(waveform (1, num_samples) float32 in [-1, 1), target)``. Serve it with the stock
    ``DataLoader(clips, batch_size, shuffle=True)`` or ``sampler=DistributedSampler(clips, ...)``: the
    loader hands :meth:`__getitems__` a whole batch of indices, read in one go. With ``labels`` (e.g.
    a model's words), targets index into ``labels`` instead of ``cache.labels``.
    """

    def __init__(
        self,
        cache: ClipCache,
        subset: str | None = None,
        rows: np.ndarray | None = None,
        labels: list[str] | None = None,
    ):
        if subset is not None and rows is not None:
            raise ValueError("give a subset or rows, not both")
        self.cache = cache
        self.rows = cache.indices(subset) if rows is None else np.asarray(rows, dtype=np.int64)
        self.labels = list(cache.labels if labels is None else labels)
        unknown = [word for word in cache.labels if word not in self.labels]
        if unknown:
            raise DataError(f"{cache.root}: words not among the labels given: {', '.join(unknown)}")
        target_of = np.array([self.labels.index(word) for word in cache.labels], dtype=np.int64)
        self.targets = target_of[cache.targets[self.rows]]  # (clips,) into self.labels

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"CachedClips(clips={len(self)}, labels={len(self.labels)})"

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        """The clips at ``indices``, read with one fancy index of the memory-mapped array, rows in
        ascending order (sequential on disk), scaled to float in the same pass; returned in the order asked."""
        rows = self.rows[indices]
        order = np.argsort(rows, kind="stable")
        samples = self.cache.waveforms[rows[order]]  # (batch, num_samples) int16, one read
        waveforms = torch.from_numpy(np.multiply(samples, 1 / 32768, dtype=np.float32)).unsqueeze(1)  # (batch, 1, n)
        position = np.empty_like(order)
        position[order] = np.arange(len(order))  # where each asked-for index sits among the sorted rows
        return [(waveforms[p], target) for p, target in zip(position.tolist(), self.targets[indices].tolist())]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([index])[0]


def load_cache(
    root: str | os.PathLike | SpeechCommands | None = None,
    num_samples: int = CLIP_SAMPLES,
    workers: int | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> ClipCache:
    """The decoded cache of a Speech Commands tree, built on first use. Taught in notebook 07.

    ``root`` is a folder (or ``None`` for :func:`speechlib.find_root`'s choice) or a
    :class:`SpeechCommands` dataset. Listing and fingerprinting the tree (one ``stat`` per clip) is
    the only work of a warm start (timed in BENCHMARKS.md); clips are decoded only the first time
    and when the data changed, on ``workers`` processes (default: all cores).
    """
    root = root.root if isinstance(root, SpeechCommands) else find_root(root, verbose=verbose)
    clips = clip_stats(root)
    key = fingerprint(root, clips, num_samples)
    directory = cache_home(root) / key
    if not _is_complete(directory, len(clips), num_samples):
        if directory.exists():  # half-written or damaged: never trusted, rebuilt
            shutil.rmtree(directory)
        dataset = SpeechCommands(root, verbose=False)  # labels, speakers, splits; the same files as `clips`
        if dataset.files != [name for name, _, _ in clips]:
            raise DataError(f"{root}: files changed while the cache was being prepared; run again")
        build_cache(dataset, directory, num_samples, workers, progress)
        remove_superseded(directory, root, num_samples)
    return ClipCache(directory, root, key)


def remove_superseded(directory: Path, root: Path | str, num_samples: int = CLIP_SAMPLES) -> list[Path]:
    """Delete the other caches of ``root`` beside ``directory``: they were built from data that has
    since changed, so nothing will use them again, and each is 3.4 GB for the real set. Caches of
    other trees, or of other clip lengths, are kept. Returns the folders removed."""
    directory, root, removed = Path(directory), Path(root).resolve(), []
    for other in directory.parent.iterdir():
        if other == directory or other.name.startswith("."):  # ".building" folders may be in use
            continue
        try:
            with open(other / MARKER) as f:
                marker = json.load(f)
        except (OSError, ValueError):  # not a finished cache: not ours to judge
            continue
        if marker.get("root") and Path(marker["root"]).resolve() == root and marker.get("num_samples") == num_samples:
            try:
                shutil.rmtree(other)  # a process still reading it keeps its open memory map (POSIX)
            except FileNotFoundError:  # another process that built the same cache removed it first
                continue
            removed.append(other)
    return removed
