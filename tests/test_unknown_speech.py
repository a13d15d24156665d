"""The committed data/unknown_speech (tools/synth_unknown.py): intact, none of its clips says one of the 35 words,
its speakers are new, and it is split by speaker like the real set."""

import csv
import hashlib
import re

import pytest
import soundfile as sf

from speechlib.data import REPO_DIR, WORDS
from synth import read_manifest, speaker_of, which_set
from synth_unknown import EXCLUDED, KINDS, NEAR_MISSES, near_misses

ROOT = REPO_DIR / "data" / "unknown_speech"


@pytest.fixture(scope="module")
def transcripts():
    with open(ROOT / "transcripts.csv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def test_manifest_matches_every_file():
    manifest = read_manifest(ROOT)
    files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    assert set(manifest) == files
    for relative, digest in manifest.items():
        assert hashlib.sha256((ROOT / relative).read_bytes()).hexdigest() == digest, relative


def test_every_clip_has_a_transcript_of_no_keyword(transcripts):
    clips = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/*.flac"))
    assert clips == sorted(transcripts) and len(clips) >= 2000
    assert sorted(p.name for p in ROOT.iterdir() if p.is_dir()) == sorted(KINDS)
    for name, row in transcripts.items():
        assert name.startswith(f"{row['kind']}/") and re.fullmatch(r"[a-z_]+/[0-9a-f]{8}_nohash_\d+\.flac", name)
        said = set(row["text"].split())
        assert not said & EXCLUDED, f"{name} says {said & EXCLUDED}"


def test_clips_are_16k_mono_flac_of_one_second_at_most():
    for path in sorted(ROOT.glob("*/*.flac"))[::7]:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16") and info.frames <= 16000, path


def test_speakers_are_new_and_split_like_the_real_set(transcripts):
    speakers = {speaker_of(name) for name in transcripts}
    for tree in ("bundled", "extra_voices"):
        with open(REPO_DIR / "data" / tree / "speakers.csv", newline="") as f:
            assert not speakers & {row["speaker_id"] for row in csv.DictReader(f)}, f"speakers shared with {tree}"
    listed = set()
    for subset in ("validation", "testing"):
        names = (ROOT / f"{subset}_list.txt").read_text().split()
        assert names and all(which_set(name) == subset for name in names)
        listed |= set(names)
    assert all(which_set(name) == "training" for name in set(transcripts) - listed)


def test_near_misses_are_no_keywords():
    assert set(NEAR_MISSES) == set(WORDS)
    assert not set(near_misses()) & EXCLUDED
