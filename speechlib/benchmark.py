"""How much faster is the cache? A reproducible benchmark on a full-size synthetic tree.

    python -m speechlib.benchmark --tree /tmp/sc_full            # 105,829 clips, about 3.4 GB of WAV

The tree has the real v0.02 layout (35 word folders, split lists, ~10% clips shorter than 1 s);
its audio is synthetic (a tone per word plus noise), which decodes exactly as fast as speech.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from .data import CLIP_SAMPLES, SAMPLE_RATE

WORDS = ("backward bed bird cat dog down eight five follow forward four go happy house learn left marvin "
         "nine no off on one right seven sheila six stop three tree two up visual wow yes zero").split()
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
    frequency = 200.0 * 1.1 ** word_index  # a different pitch per word
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


def write_tone_tree(root: Path | str, clips: int, words: list[str] = WORDS, num_speakers: int | None = None,
                    seed: int = 0, extension: str = ".wav", workers: int = 1) -> Path:
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
