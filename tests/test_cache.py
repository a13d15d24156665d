"""speechlib.cache: decoded once, equal to direct decoding, rebuilt when the data changes,
never trusted half-built; ClipLoader batches, shuffling and rank sharding."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import write_tone_tree
from speechlib import SpeechCommands, pad_trim, read_clip
from speechlib.cache import MARKER, ClipLoader, cache_home, load_cache
from speechlib.data import REPO_DIR, DataError

WORDS = ["yes", "no", "up"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tree(tmp_path):
    # 40 clips per word, ~10% shorter than a second, 20 speakers hashed into the three splits
    return write_tone_tree(tmp_path / "sc", 120, WORDS, num_speakers=20)


@pytest.mark.parametrize("extension", [".wav", ".flac"])
def test_cache_equals_direct_decoding(extension, tmp_path, cache_dir):
    tree = write_tone_tree(tmp_path / "sc", 120, WORDS, num_speakers=20, extension=extension)
    cache = load_cache(tree, progress=False, verbose=False)
    dataset = SpeechCommands(tree, verbose=False)
    assert cache.files == dataset.files and cache.labels == dataset.labels == sorted(WORDS)
    assert cache.targets.tolist() == dataset.targets and cache.speakers == dataset.speakers
    assert cache.lengths.tolist() == dataset.clip_lengths().tolist()
    assert (cache.lengths < 16000).any() and cache.waveforms.shape == (120, 16000)
    waveforms, targets = cache.batch(np.arange(len(cache)))  # (120, 1, 16000)
    for i, relative_path in enumerate(dataset.files):
        assert torch.equal(waveforms[i], pad_trim(read_clip(tree / relative_path))), relative_path
    assert targets.tolist() == dataset.targets
    for subset in ("training", "validation", "testing"):
        expected = SpeechCommands(tree, subset=subset, verbose=False).files
        assert len(expected) > 0
        assert [cache.files[i] for i in cache.indices(subset)] == expected


def test_parallel_build_equals_serial(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "serial"))
    serial = load_cache(tree, workers=1, progress=False, verbose=False)
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "parallel"))
    parallel = load_cache(tree, workers=2, progress=False, verbose=False)
    assert np.array_equal(serial.waveforms, parallel.waveforms)
    assert np.array_equal(serial.lengths, parallel.lengths)


def test_warm_load_reuses_and_change_rebuilds(tree, cache_dir):
    first = load_cache(tree, progress=False, verbose=False)
    again = load_cache(tree, progress=False, verbose=False)
    assert again.directory == first.directory
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".building")]  # no leftovers

    changed = tree / first.files[0]
    sf.write(changed, np.full(16000, 1000, np.int16), 16000, subtype="PCM_16")
    os.utime(changed, ns=(1, 1))  # a different mtime even on coarse-clock filesystems
    rebuilt = load_cache(tree, progress=False, verbose=False)
    assert rebuilt.fingerprint != first.fingerprint
    assert (rebuilt.waveforms[0] == 1000).all()

    (tree / first.files[1]).unlink()  # a removed clip changes the key too
    smaller = load_cache(tree, progress=False, verbose=False)
    assert len(smaller) == len(first) - 1 and smaller.fingerprint not in (first.fingerprint, rebuilt.fingerprint)


def test_a_rebuild_removes_the_superseded_cache_only(tree, tmp_path, cache_dir):
    other_tree = write_tone_tree(tmp_path / "other", 30, WORDS, num_speakers=5)
    other = load_cache(other_tree, progress=False, verbose=False)
    first = load_cache(tree, progress=False, verbose=False)
    shorter = load_cache(tree, num_samples=8000, progress=False, verbose=False)  # another clip length: kept

    changed = tree / first.files[0]
    sf.write(changed, np.full(16000, 1000, np.int16), 16000, subtype="PCM_16")
    os.utime(changed, ns=(1, 1))
    rebuilt = load_cache(tree, progress=False, verbose=False)
    assert not first.directory.exists()  # built from data that no longer exists: 3.4 GB freed on the real set
    assert rebuilt.directory.is_dir() and other.directory.is_dir() and shorter.directory.is_dir()
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(c.fingerprint for c in (other, rebuilt, shorter))


@pytest.mark.parametrize("damage", ["no marker", "short array"])
def test_half_built_cache_is_not_trusted(tree, cache_dir, damage):
    good = load_cache(tree, progress=False, verbose=False)
    expected = np.array(good.waveforms)
    if damage == "no marker":  # as if the process died before the last write
        (good.directory / MARKER).unlink()
    else:  # an array of the wrong shape under a valid-looking marker
        np.save(good.directory / "waveforms.npy", np.zeros((3, 16000), np.int16))
    del good
    reloaded = load_cache(tree, progress=False, verbose=False)
    assert (reloaded.directory / MARKER).is_file()
    assert np.array_equal(reloaded.waveforms, expected)


def test_bad_clip_names_the_file_and_leaves_no_cache(tree, cache_dir):
    bad = tree / "yes" / "deadbeef_nohash_0.wav"
    sf.write(bad, np.zeros(16000, np.int16), 8000, subtype="PCM_16")  # wrong sample rate
    with pytest.raises(DataError, match="deadbeef_nohash_0.wav: sample rate is 8000 Hz"):
        load_cache(tree, workers=2, progress=False, verbose=False)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.delenv("SPEECHLIB_CACHE", raising=False)
    assert cache_home(REPO_DIR / "data" / "bundled") == REPO_DIR / "data" / "cache"
    assert cache_home(tmp_path) == Path.home() / ".cache" / "speechlib"
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "x"))
    assert cache_home(REPO_DIR / "data" / "bundled") == tmp_path / "x"


@pytest.fixture
def small_cache(tmp_path, cache_dir):
    tree = write_tone_tree(tmp_path / "sc", 100, WORDS, num_speakers=20)
    return load_cache(tree, progress=False, verbose=False)


def test_loader_covers_the_subset_once(small_cache):
    loader = ClipLoader(small_cache, "training", batch_size=16)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-len(small_cache.indices("training")) // 16)
    assert all(w.shape == (len(t), 1, 16000) and w.dtype == torch.float32 for w, t in batches)
    seen = torch.cat([t for _, t in batches])
    assert sorted(seen.tolist()) == sorted(small_cache.targets[small_cache.indices("training")].tolist())


def test_shuffle_depends_only_on_seed_and_epoch(small_cache):
    def epoch_targets(seed, epoch):
        loader = ClipLoader(small_cache, None, batch_size=8, shuffle=True, seed=seed)
        loader.set_epoch(epoch)
        return [w.sum().item() for w, _ in loader]

    assert epoch_targets(0, 3) == epoch_targets(0, 3)
    assert epoch_targets(0, 3) != epoch_targets(0, 4)
    assert epoch_targets(0, 3) != epoch_targets(1, 3)


def test_ranks_split_an_epoch_like_distributed_sampler(small_cache):
    rows = small_cache.indices(None)  # 100 clips over 3 ranks: 34 each, 2 repeated
    shares = []
    for rank in range(3):
        loader = ClipLoader(small_cache, None, batch_size=10, shuffle=True, seed=5, rank=rank, world_size=3)
        loader.set_epoch(2)
        shares.append(loader._my_rows())
        assert len(loader) == 4
    assert all(len(share) == 34 for share in shares)
    assert set(np.concatenate(shares)) == set(rows)
    sampler = torch.utils.data.DistributedSampler(range(100), num_replicas=3, rank=1, shuffle=True, seed=5)
    sampler.set_epoch(2)
    assert shares[1].tolist() == rows[list(sampler)].tolist()


def test_label_map(small_cache):
    loader = ClipLoader(small_cache, None, batch_size=200, label_map=np.array([10, 20, 30]))
    _, targets = next(iter(loader))
    assert set(targets.tolist()) == {10, 20, 30}
