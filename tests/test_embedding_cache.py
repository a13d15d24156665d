"""speechlib.embedding.embedding_cache: every clip embedded once, reused, rebuilt when anything it depends on
changes, never trusted half-written (notebook 09)."""

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

import speechlib.embedding
from speechlib.cache import CachedClips, load_cache
from speechlib.embedding import EMBEDDING_MARKER, embedding_cache, load_speech_embedding

WORDS = ("yes", "no", "up")


def write_tree(root, clips_per_word=4):
    """A tiny Speech Commands tree: tone bursts in noise, one speaker per utterance, one per split list."""
    rng = np.random.default_rng(0)
    for word_index, word in enumerate(WORDS):
        (root / word).mkdir(parents=True)
        for n in range(clips_per_word):
            seconds = np.arange(rng.integers(13000, 16001)) / 16000  # some clips shorter than one second
            tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * word_index) * seconds) + 0.01 * rng.standard_normal(
                len(seconds)
            )
            sf.write(root / word / f"speaker{n}_nohash_0.wav", tone.astype(np.float32), 16000, subtype="PCM_16")
    (root / "validation_list.txt").write_text("".join(f"{word}/speaker1_nohash_0.wav\n" for word in WORDS))
    (root / "testing_list.txt").write_text("".join(f"{word}/speaker2_nohash_0.wav\n" for word in WORDS))
    return root


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))
    return write_tree(tmp_path / "sc")


@pytest.fixture(scope="module")
def embedder():
    return load_speech_embedding()


def test_cache_equals_direct_computation(tree, embedder):
    cached = embedding_cache(tree, embedder, batch_size=5, progress=False, verbose=False)  # batches of 5, 5, 2
    clips = load_cache(tree, progress=False, verbose=False)
    waveforms, targets = next(iter(DataLoader(CachedClips(clips), batch_size=len(clips))))  # (12, 1, 16000)
    with torch.no_grad():
        expected = embedder(waveforms)  # (12, 3, 96)
    assert cached.embeddings.shape == (12, 3, 96) and len(cached) == 12
    torch.testing.assert_close(cached.embeddings, expected, rtol=0, atol=1e-4)
    assert torch.equal(cached.targets, targets) and cached.labels == sorted(WORDS)
    train_embeddings, train_targets = cached.subset("training")
    assert train_embeddings.shape == (6, 3, 96) and train_targets.tolist() == [0, 0, 1, 1, 2, 2]
    assert [cached.files[i] for i in cached.indices("testing")] == [f"{w}/speaker2_nohash_0.wav" for w in sorted(WORDS)]


def test_an_inner_layer_has_its_own_cache(tree, embedder):
    embeddings = embedding_cache(tree, embedder, pad_samples=4000, progress=False, verbose=False)
    inner = embedding_cache(tree, embedder, pad_samples=4000, layer="pool3", progress=False, verbose=False)
    clips = load_cache(tree, progress=False, verbose=False)
    waveforms, _ = next(iter(DataLoader(CachedClips(clips), batch_size=len(clips))))  # (12, 1, 16000)
    with torch.no_grad():
        expected = embedder(torch.nn.functional.pad(waveforms, (4000, 4000)), "pool3")  # (12, 27, 192)
    assert inner.embeddings.shape == (12, 27, 192) and embeddings.embeddings.shape == (12, 9, 96)
    torch.testing.assert_close(inner.embeddings, expected, rtol=0, atol=1e-4)
    assert inner.directory != embeddings.directory and inner.settings["layer"] == "pool3"


def test_warm_call_loads_without_computing(tree, embedder, monkeypatch):
    first = embedding_cache(tree, embedder, progress=False, verbose=False)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a warm call embedded the clips again")

    monkeypatch.setattr(speechlib.embedding, "_build_embeddings", must_not_run)
    second = embedding_cache(tree, embedder, progress=False, verbose=False)
    assert second.directory == first.directory and torch.equal(second.embeddings, first.embeddings)


def test_settings_and_weights_get_their_own_cache(tree, embedder):
    plain = embedding_cache(tree, embedder, progress=False, verbose=False)
    padded = embedding_cache(tree, embedder, pad_samples=1600, progress=False, verbose=False)
    assert padded.directory != plain.directory and padded.embeddings.shape == (12, 6, 96)  # 20 frames more
    hop4 = embedding_cache(tree, load_speech_embedding(hop_frames=4), progress=False, verbose=False)
    assert hop4.directory != plain.directory and hop4.embeddings.shape == (12, 6, 96)
    tuned = load_speech_embedding()
    with torch.no_grad():
        tuned.network.layers.output.weight.mul_(2)  # as if fine-tuned
    doubled = embedding_cache(tree, tuned, progress=False, verbose=False)
    assert doubled.directory != plain.directory
    torch.testing.assert_close(doubled.embeddings, 2 * plain.embeddings, rtol=1e-5, atol=1e-4)
    assert plain.directory.is_dir() and padded.directory.is_dir()  # other settings are not superseded


def test_half_written_cache_is_rebuilt(tree, embedder):
    first = embedding_cache(tree, embedder, progress=False, verbose=False)
    (first.directory / EMBEDDING_MARKER).unlink()  # as if the process died before the marker
    np.save(first.directory / "embeddings.npy", np.zeros((12, 3, 96), dtype=np.float32))
    again = embedding_cache(tree, embedder, progress=False, verbose=False)
    assert again.directory == first.directory and (again.directory / EMBEDDING_MARKER).is_file()
    torch.testing.assert_close(again.embeddings, first.embeddings, rtol=0, atol=0)


def test_crash_while_building_leaves_nothing_trusted(tree):
    class Failing(torch.nn.Module):
        hop_frames = 8
        calls = 0

        def __init__(self):
            super().__init__()
            self.inner = load_speech_embedding()

        def output_shape(self, num_samples, layer="output"):
            return self.inner.output_shape(num_samples, layer)

        def forward(self, waveforms, layer="output"):
            Failing.calls += 1
            if Failing.calls == 2:
                raise RuntimeError("simulated crash")
            return self.inner(waveforms, layer)

    with pytest.raises(RuntimeError, match="simulated crash"):
        embedding_cache(tree, Failing(), batch_size=4, progress=False, verbose=False)
    folder = tree.parent / "cache" / "embeddings"
    assert list(folder.iterdir()) == []  # no cache, and no .building folder left behind


def test_changed_data_rebuilds_and_deletes_the_superseded_cache(tree, embedder):
    old = embedding_cache(tree, embedder, progress=False, verbose=False)
    sf.write(tree / "up" / "speaker9_nohash_0.wav", np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    new = embedding_cache(tree, embedder, progress=False, verbose=False)
    assert new.directory != old.directory and len(new) == 13
    assert not old.directory.exists()
