"""Speech Commands on disk: finding it, listing it, reading its clips.

Taught in notebook 01 (loading the dataset) and 02 (refining lengths).

The layout is the official one (and torchaudio's ``SPEECHCOMMANDS``)::

    root/
      <word>/<speaker>_nohash_<n>.wav      # or .flac: soundfile reads both
      validation_list.txt                  # "<word>/<file>" per line
      testing_list.txt
      _background_noise_/*.wav             # long noise recordings, not clips
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from . import paths
from .errors import DataError

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000  # one second at 16 kHz
AUDIO_EXTENSIONS = (".wav", ".flac")
NOISE_FOLDER = "_background_noise_"
SUBSETS = ("training", "validation", "testing")
# The 35 words of Speech Commands v0.02 (v0.01 has 30 of them), sorted: the bundled set says all of them.
WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
    "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
    "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)  # fmt: skip

# Where `speechlib download` puts the real set: torchaudio's layout, so either tool finds it.
REAL_VERSIONS = ("v0.02", "v0.01")
# Folders of the project (speechlib.paths finds it), looked up when read: `speechlib.data.REPO_DIR`.
_PROJECT_FOLDERS = {"REPO_DIR": paths.project_home, "DATA_DIR": paths.data_dir, "BUNDLED_ROOT": paths.bundled_root}


def __getattr__(name: str) -> Path:
    """``REPO_DIR``, ``DATA_DIR`` and ``BUNDLED_ROOT``: found when read, from the working directory too (PEP 562)."""
    if name in _PROJECT_FOLDERS:
        return _PROJECT_FOLDERS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def real_root(version: str = "v0.02", data_dir: Path | str | None = None) -> Path:
    """Where the real Speech Commands ``version`` lives once downloaded into ``data_dir`` (default: data/)."""
    return (
        Path(data_dir if data_dir is not None else paths.data_dir()) / "SpeechCommands" / f"speech_commands_{version}"
    )


def looks_complete(root: Path) -> bool:
    """A real tree counts only when both split lists and at least 30 word folders are there."""
    if not (root / "validation_list.txt").is_file() or not (root / "testing_list.txt").is_file():
        return False
    words = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
    return len(words) >= 30


def find_real_root() -> Path | None:
    """A complete real v0.02 tree under data/ (torchaudio's layout, or extracted by hand), or None."""
    data_dir = paths.data_dir()
    for candidate in (real_root("v0.02", data_dir), data_dir / "speech_commands_v0.02"):
        if candidate.is_dir() and looks_complete(candidate):
            return candidate
    return None


def find_root(root: str | os.PathLike | None = None, verbose: bool = True) -> Path:
    """Pick the dataset folder: ``root``; else ``$SPEECHLIB_DATA``; else a downloaded real
    v0.02 tree under data/; else the bundled synthetic set. Says which in one line."""
    if root is not None:
        chosen, why = Path(root), "given root"
    elif os.environ.get("SPEECHLIB_DATA"):
        chosen, why = Path(os.environ["SPEECHLIB_DATA"]), "from $SPEECHLIB_DATA"
    else:
        real = find_real_root()
        if real is not None:
            chosen, why = real, "real Speech Commands v0.02"
        else:
            chosen, why = paths.bundled_root(), "bundled synthetic set; `speechlib download` gets the real one"
    if not chosen.is_dir():
        raise DataError(f"{chosen}: dataset root not found ({why})")
    if verbose:
        print(f"speechlib: using {_display(chosen)} ({why})")
    return chosen


def _display(path: Path) -> str:
    """Paths inside the project are shown relative to it, so outputs match on every machine."""
    home = paths.find_project_home()
    try:
        return str(path.resolve().relative_to(home)) if home is not None else str(path)
    except ValueError:
        return str(path)


def list_labels(root: Path | str) -> list[str]:
    """The words: the sub-folders of ``root``, sorted (folders starting with _ or . are not words)."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def read_split_list(root: Path | str, subset: str, required: bool = True) -> set[str]:
    """The clips listed in ``root/<subset>_list.txt`` ("validation" or "testing"), as relative paths.

    A missing list raises :class:`DataError` naming it; with ``required=False`` it counts as empty.
    """
    path = Path(root) / f"{subset}_list.txt"
    if not path.is_file():
        if not required:
            return set()
        raise DataError(f"{path}: split list missing (needed for the {subset} subset)")
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def scan_clips(root: Path | str) -> Iterator[tuple[str, os.DirEntry]]:
    """Yield ``(relative path, directory entry)`` for every clip of every word, unsorted: one directory
    read per word and no decoding. ``entry.stat()`` gives size and modification time (the cache's
    fingerprint); :class:`SpeechCommands` needs only the paths. A generator, so no entry outlives its
    use (a list of 105,829 entries made Python's garbage collector sweep the whole heap)."""
    for label in list_labels(root):
        with os.scandir(os.path.join(root, label)) as entries:
            for entry in entries:
                if entry.name.lower().endswith(AUDIO_EXTENSIONS):
                    yield f"{label}/{entry.name}", entry


def parse_filename(relative_path: str) -> tuple[str, str, int]:
    """``'yes/0a7c2a8d_nohash_1.wav'`` -> ``('yes', '0a7c2a8d', 1)``: label, speaker, utterance."""
    label, name = relative_path.split("/")
    stem = name.rsplit(".", 1)[0]
    speaker_id, sep, utterance = stem.partition("_nohash_")
    if not sep or not utterance.isdigit():
        raise DataError(f"{relative_path}: file name is not <speaker>_nohash_<n>.<ext>")
    return label, speaker_id, int(utterance)


def check_file(path: Path | str) -> None:
    """Raise :class:`DataError` naming ``path`` unless it is an existing file: "file not found", "is a directory"."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not an audio file")
    if not path.exists():
        raise DataError(f"{path}: file not found")


def check_samples(samples: np.ndarray, name) -> None:
    """Raise :class:`DataError` naming ``name`` when decoded ``samples`` are empty or not all finite numbers
    (a float WAV can hold NaN or infinity; a model would turn them into NaN probabilities)."""
    if samples.size == 0:
        raise DataError(f"{name}: contains no samples")
    if samples.dtype.kind == "f" and not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise DataError(f"{name}: {bad:,} of {samples.size:,} samples are NaN or infinite, not sound")


def read_audio(source, name: str | None = None) -> tuple[torch.Tensor, int]:
    """Decode an audio file (a path, or a file object such as ``io.BytesIO`` of uploaded bytes) as it
    is: ``(waveform (channels, n) float32, sample_rate)``. Errors name ``name`` (default: the path): a missing
    file, a directory, an unreadable file, no samples, NaN or infinite samples (:func:`check_samples`)."""
    name = str(source) if name is None else name
    if isinstance(source, (str, os.PathLike)):
        check_file(source)
    try:
        samples, sample_rate = sf.read(source, dtype="float32", always_2d=True)  # (n, channels)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        reason = getattr(error, "error_string", error)  # libsndfile's words, without a file object's repr
        raise DataError(f"{name}: not a readable audio file ({reason})") from error
    check_samples(samples, name)
    return torch.from_numpy(np.ascontiguousarray(samples.T)), sample_rate


def read_samples(path: Path | str, sample_rate: int = SAMPLE_RATE, dtype: str = "float32") -> np.ndarray:
    """The strict decoder of every dataset clip: one mono clip as samples ``(n,)`` of ``dtype``
    ("float32" in [-1, 1], or "int16" as stored, which the cache keeps).

    An unreadable file, a directory, a wrong sample rate, more than one channel, no samples at all or NaN or
    infinite samples raise :class:`DataError` naming the file; rate and channels are checked from the header,
    before decoding.
    """
    check_file(path)
    try:
        with sf.SoundFile(path) as audio:
            if audio.samplerate != sample_rate:
                raise DataError(f"{path}: sample rate is {audio.samplerate} Hz, expected {sample_rate} Hz")
            if audio.channels != 1:
                raise DataError(f"{path}: has {audio.channels} channels, expected mono")
            samples = audio.read(dtype=dtype)  # (n,)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        reason = getattr(error, "error_string", error)  # libsndfile's words
        raise DataError(f"{path}: not a readable audio file ({reason})") from error
    check_samples(samples, path)
    return samples


def read_clip(path: Path | str, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read one mono clip as a float32 tensor of shape ``(1, n)`` in [-1, 1].

    Strict, as a dataset should be: an unreadable file, a wrong sample rate or more than one
    channel raises :class:`DataError` naming the file (:func:`read_samples`). (``load_audio`` converts instead.)
    """
    return torch.from_numpy(read_samples(path, sample_rate)).unsqueeze(0)  # (1, n)


def to_mono(waveform: torch.Tensor, file_rate: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """``(channels, n)`` at ``file_rate`` -> ``(1, m)`` at ``sample_rate``: channels averaged, rate converted."""
    import torchaudio.functional as AF  # only needed here; keeps `import speechlib.data` light

    mono = waveform.mean(dim=0, keepdim=True)  # (1, n)
    if file_rate != sample_rate:
        mono = AF.resample(mono, file_rate, sample_rate)  # (1, n * sample_rate / file_rate)
    return mono


def load_audio(path: Path | str, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read any audio file soundfile understands and convert it: channels averaged to mono,
    resampled to ``sample_rate``. Returns ``(1, n)`` float32. For your own recordings (notebook 10)."""
    return to_mono(*read_audio(path), sample_rate)


def noise_files(root: Path | str) -> list[Path]:
    """The audio files in ``root/_background_noise_``, sorted (none if the folder is missing)."""
    folder = Path(root) / NOISE_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)


class SpeechCommands(torch.utils.data.Dataset):
    """Google's Speech Commands (or any folder in its layout), like torchaudio's ``SPEECHCOMMANDS``.

    Taught in notebook 01. Items are ``(waveform (1, n) float32, sample_rate, label, speaker_id,
    utterance_number)``. ``subset`` is ``"training"`` (in neither split list), ``"validation"``,
    ``"testing"`` or ``None`` for all clips. Labels come from folder names, never from decoding.

    >>> ds = SpeechCommands(subset="testing")          # doctest: +SKIP
    >>> waveform, sample_rate, label, speaker_id, n = ds[0]
    """

    def __init__(self, root: str | os.PathLike | None = None, subset: str | None = None, verbose: bool = True):
        if subset is not None and subset not in SUBSETS:
            raise DataError(f"unknown subset {subset!r}: choose one of {', '.join(SUBSETS)} or None")
        self.root = find_root(root, verbose=verbose)
        self.subset = subset
        self.labels = list_labels(self.root)
        if not self.labels:
            raise DataError(f"{self.root}: no word folders found")
        self._label_index = {label: i for i, label in enumerate(self.labels)}

        files = sorted(relative_path for relative_path, _ in scan_clips(self.root))
        if subset in ("validation", "testing"):
            wanted = read_split_list(self.root, subset)
            files = [f for f in files if f in wanted]
        elif subset == "training":
            held_out = read_split_list(self.root, "validation") | read_split_list(self.root, "testing")
            files = [f for f in files if f not in held_out]
        self.files = files
        self._parsed = [parse_filename(f) for f in files]  # fail early on a stray file name

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        label, speaker_id, utterance = self._parsed[index]
        waveform = read_clip(self.root / self.files[index])
        return waveform, SAMPLE_RATE, label, speaker_id, utterance

    def __repr__(self) -> str:
        return f"SpeechCommands(root={_display(self.root)!r}, subset={self.subset!r}, clips={len(self)}, labels={len(self.labels)})"

    def label_to_index(self, label: str) -> int:
        return self._label_index[label]

    def index_to_label(self, index: int) -> str:
        return self.labels[index]

    @property
    def targets(self) -> list[int]:
        """The label index of every clip, from file names alone (no decoding)."""
        return [self._label_index[label] for label, _, _ in self._parsed]

    @property
    def speakers(self) -> list[str]:
        return [speaker for _, speaker, _ in self._parsed]

    def clip_lengths(self) -> np.ndarray:
        """Samples in every clip, read from the file headers only (no decoding). Notebook 02."""
        lengths = np.empty(len(self.files), dtype=np.int64)
        for i, f in enumerate(self.files):
            try:
                lengths[i] = sf.info(self.root / f).frames
            except (sf.LibsndfileError, RuntimeError) as error:
                raise DataError(f"{self.root / f}: not a readable audio file ({error})") from error
        return lengths

    def noise_files(self) -> list[Path]:
        """The long recordings in ``_background_noise_`` (the noise that ``speechlib.augment`` mixes into training clips)."""
        return noise_files(self.root)


def sample_clips(dataset: torch.utils.data.Dataset, max_clips: int | None, seed: int = 0) -> torch.utils.data.Dataset:
    """At most ``max_clips`` clips of ``dataset``: the dataset itself if it is no larger (or ``max_clips`` is
    None), else a ``torch.utils.data.Subset`` of ``max_clips`` clips drawn at random with ``seed``. Notebook 04.

    Why: the bundled set trains in seconds, but an epoch over the full set's tens of thousands of training clips
    takes minutes on a CPU. The clips keep their dataset order (sequential reads); the ``DataLoader`` shuffles them.
    """
    if max_clips is None or len(dataset) <= max_clips:
        return dataset
    if max_clips < 1:
        raise ValueError(f"max_clips must be at least 1 or None, not {max_clips}")
    chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:max_clips]
    return torch.utils.data.Subset(dataset, chosen.sort().values.tolist())
