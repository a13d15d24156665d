"""speechlib.cache: decoded once, equal to direct decoding, rebuilt when the data changes,
never trusted half-built; CachedClips served by the stock DataLoader and DistributedSampler."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

import speechlib.cache as cache_module
from speechlib import SpeechCommands, pad_trim, read_clip
from speechlib.cache import MARKER, CachedClips, cache_home, load_cache
from speechlib.data import REPO_DIR, DataError
from testkit import write_tone_tree

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
    waveforms, targets = next(iter(DataLoader(CachedClips(cache), batch_size=len(cache))))  # (120, 1, 16000)
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


def test_two_processes_removing_the_same_superseded_cache(tree, cache_dir, monkeypatch):
    # Two processes that rebuilt the same cache both remove the old one: the second finds it gone.
    first = load_cache(tree, progress=False, verbose=False)
    changed = tree / first.files[0]
    sf.write(changed, np.full(16000, 1000, np.int16), 16000, subtype="PCM_16")
    os.utime(changed, ns=(1, 1))
    real_rmtree = cache_module.shutil.rmtree

    def removed_meanwhile(path, *args, **kwargs):
        real_rmtree(path, *args, **kwargs)
        if Path(path) == first.directory:  # the other process was quicker
            raise FileNotFoundError(2, "No such file or directory", str(Path(path) / MARKER))

    monkeypatch.setattr(cache_module.shutil, "rmtree", removed_meanwhile)
    rebuilt = load_cache(tree, progress=False, verbose=False)
    assert not first.directory.exists() and rebuilt.directory.is_dir()


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


def test_items_are_the_cached_clips_in_the_order_asked(small_cache):
    clips = CachedClips(small_cache, "testing")
    rows = small_cache.indices("testing")
    indices = [5, 0, 3, 3, 1]  # unsorted, one repeated: read in row order, returned as asked
    items = clips.__getitems__(indices)
    for index, (waveform, target) in zip(indices, items):
        assert waveform.shape == (1, 16000) and waveform.dtype == torch.float32
        assert torch.equal(waveform[0], torch.from_numpy(small_cache.waveforms[rows[index]] / 32768).float())
        assert target == small_cache.targets[rows[index]]
    single_waveform, single_target = clips[3]
    assert torch.equal(single_waveform, items[2][0]) and single_target == items[2][1]
    assert len(clips) == len(rows) > 0 and repr(clips) == f"CachedClips(clips={len(rows)}, labels=3)"


class CountingReads:
    """Stands in for the memory-mapped array and counts how often it is indexed."""

    def __init__(self, array):
        self.array, self.reads = array, 0

    def __getitem__(self, rows):
        self.reads += 1
        return self.array[rows]


def test_the_stock_loader_reads_each_batch_at_once_and_covers_the_subset_once(small_cache):
    clips = CachedClips(small_cache, "training")
    small_cache.waveforms = CountingReads(small_cache.waveforms)
    loader = DataLoader(clips, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert small_cache.waveforms.reads == len(batches) == len(loader) == -(-len(clips) // 16)
    assert all(w.shape == (len(t), 1, 16000) and w.dtype == torch.float32 for w, t in batches)
    assert all(t.dtype == torch.int64 for _, t in batches)
    seen = torch.cat([t for _, t in batches])
    assert sorted(seen.tolist()) == sorted(small_cache.targets[small_cache.indices("training")].tolist())
    first = torch.cat([w for w, _ in batches])
    assert sorted(first.sum(dim=(1, 2)).tolist()) == sorted(  # every clip once, whatever the order
        torch.from_numpy(small_cache.waveforms.array[clips.rows] / 32768).float().sum(dim=1).tolist()
    )


def test_distributed_sampler_shares_an_epoch_and_the_batches_follow_its_order(small_cache):
    clips = CachedClips(small_cache)  # 100 clips over 3 ranks: 34 each, 2 repeated
    shares = []
    for rank in range(3):
        sampler = torch.utils.data.DistributedSampler(clips, num_replicas=3, rank=rank, shuffle=True, seed=5)
        sampler.set_epoch(2)
        loader = DataLoader(clips, batch_size=10, sampler=sampler)
        targets = torch.cat([t for _, t in loader])
        assert len(loader) == 4 and targets.tolist() == clips.targets[list(sampler)].tolist()
        shares += list(sampler)
    assert len(shares) == 102 and set(shares) == set(range(100))


def test_rows_and_labels(small_cache):
    rows = np.array([7, 2, 50])
    clips = CachedClips(small_cache, rows=rows, labels=["zero", *sorted(WORDS, reverse=True)])
    assert clips.labels == ["zero", "yes", "up", "no"]
    for (_, target), row in zip((clips[i] for i in range(3)), rows):
        assert clips.labels[target] == small_cache.labels[small_cache.targets[row]]
    with pytest.raises(DataError, match="words not among the labels given: yes"):
        CachedClips(small_cache, labels=["no", "up"])
    with pytest.raises(ValueError, match="a subset or rows, not both"):
        CachedClips(small_cache, "training", rows=rows)
