"""The committed synthetic sets, data/bundled and data/extra_voices: intact, in the real layout, split like the real
set, each from the engines it says."""

import csv
import hashlib
import re

import numpy as np
import pytest
import soundfile as sf

from speechlib import SpeechCommands
from speechlib.data import BUNDLED_ROOT, REPO_DIR, WORDS
from synth import ENGINE_SHARES, EXTRA_ENGINE_SHARES, read_manifest, speaker_of, which_set

# each tree, the engines its speakers come from, and the fewest clips of a word it has
TREES = {
    "bundled": (BUNDLED_ROOT, set(ENGINE_SHARES), 100),
    "extra_voices": (REPO_DIR / "data" / "extra_voices", set(EXTRA_ENGINE_SHARES), 50),
}


@pytest.fixture(scope="module", params=list(TREES))
def tree(request):
    return TREES[request.param]


@pytest.fixture(scope="module")
def root(tree):
    return tree[0]


@pytest.fixture(scope="module")
def clips(root):
    """Relative paths of all clips, e.g. 'yes/1a2b3c4d_nohash_0.flac'."""
    return sorted(p.relative_to(root).as_posix() for p in root.glob("*/*_nohash_*.flac"))


@pytest.fixture(scope="module")
def infos(clips, root):
    return {name: sf.info(root / name) for name in clips}


def test_manifest_matches_every_file(root):
    manifest = read_manifest(root)
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    assert set(manifest) == files
    for relative, digest in manifest.items():
        assert hashlib.sha256((root / relative).read_bytes()).hexdigest() == digest, relative


def test_all_35_words_with_many_clips_each(clips, root, tree):
    per_word = {word: sum(name.startswith(f"{word}/") for name in clips) for word in WORDS}
    assert len(WORDS) == 35 and sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != "_") == list(WORDS)
    assert min(per_word.values()) >= tree[2]


def test_clips_are_16k_mono_flac_at_most_one_second(infos):
    for name, info in infos.items():
        assert re.fullmatch(r"[a-z]+/[0-9a-f]{8}_nohash_\d+\.flac", name)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), name
        assert 0 < info.frames <= 16000, name


def test_about_ten_percent_of_clips_are_short(infos):
    frames = np.array([info.frames for info in infos.values()])
    assert 0.05 <= (frames < 16000).mean() <= 0.15
    assert frames.min() >= 8000  # short clips are 0.5-0.95 s


def test_sampled_clips_hold_a_word_above_the_noise(clips, root):
    for name in clips[::10]:
        samples, _ = sf.read(root / name, dtype="float32")
        peak = np.abs(samples).max()
        quiet = np.sort(np.abs(samples))[len(samples) // 10]  # the quietest tenth: noise floor
        assert peak > 0.03 and quiet < peak / 100, name


def test_split_lists_exist_follow_the_hash_rule_and_are_speaker_disjoint(clips, root):
    lists = {s: (root / f"{s}_list.txt").read_text().split() for s in ("validation", "testing")}
    training = sorted(set(clips) - set(lists["validation"]) - set(lists["testing"]))
    speakers = {}
    for subset, names in [("training", training), *lists.items()]:
        assert names and set(names) <= set(clips)
        assert all(which_set(name) == subset for name in names)
        speakers[subset] = {speaker_of(name) for name in names}
    assert not speakers["training"] & speakers["validation"]
    assert not speakers["training"] & speakers["testing"]
    assert not speakers["validation"] & speakers["testing"]


def test_speakers_csv_describes_every_speaker(clips, root, tree):
    with open(root / "speakers.csv") as f:
        rows = {row["speaker_id"]: row for row in csv.DictReader(f)}
    assert {speaker_of(name) for name in clips} == set(rows)
    assert len(rows) >= 40
    assert {row["engine"] for row in rows.values()} == tree[1]
    for sid, row in rows.items():
        assert sum(speaker_of(name) == sid for name in clips) == int(row["clips"])
        assert row["split"] == which_set(f"{sid}_nohash_0")


def test_background_noise_files(clips, root):
    noise = sorted((root / "_background_noise_").glob("*.flac"))
    assert len(noise) >= 5
    for path in noise:
        info = sf.info(path)
        assert (info.samplerate, info.channels) == (16000, 1) and info.frames >= 5 * 16000


@pytest.mark.parametrize("subset", ["training", "validation", "testing"])
def test_speechcommands_loads_each_subset(subset, clips, root):
    dataset = SpeechCommands(root=root, subset=subset, verbose=False)
    assert len(dataset) > 0 and dataset.labels == list(WORDS)
    waveform, sample_rate, label, speaker_id, utterance = dataset[len(dataset) // 2]
    assert waveform.shape[0] == 1 and waveform.shape[1] <= 16000 and sample_rate == 16000
    assert label in WORDS and re.fullmatch(r"[0-9a-f]{8}", speaker_id) and utterance >= 0
    sizes = [len(SpeechCommands(root=root, subset=s, verbose=False)) for s in ("training", "validation", "testing")]
    assert sum(sizes) == len(clips)
