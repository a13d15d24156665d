"""speechlib.data: finding the data, splits, labels, header-only lengths, and clear errors on bad input."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch

import speechlib
from speechlib import data as sdata
from speechlib.data import DataError, SpeechCommands

WORDS = ["yes", "no", "up"]
# speaker -> split it is listed in (None: training)
SPEAKERS = {"aaaa0001": None, "aaaa0002": None, "bbbb0001": "validation", "cccc0001": "testing"}


def write_tree(root, lengths=None, fmt="wav"):
    """A tiny tree in the official layout: 3 words x 4 speakers, one clip each."""
    rng = np.random.default_rng(0)
    lists = {"validation": [], "testing": []}
    for word in WORDS:
        (root / word).mkdir(parents=True)
        for speaker, split in SPEAKERS.items():
            relative = f"{word}/{speaker}_nohash_0.{fmt}"
            n = (lengths or {}).get(relative, 16000)
            samples = rng.integers(-16000, 16000, n, dtype=np.int16)  # int16: stored exactly in WAV and FLAC
            sf.write(root / relative, samples, 16000, subtype="PCM_16")
            if split:
                lists[split].append(relative)
    (root / "validation_list.txt").write_text("\n".join(lists["validation"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["testing"]) + "\n")
    (root / "_background_noise_").mkdir()
    sf.write(root / "_background_noise_" / "white.wav", np.zeros(32000, np.float32), 16000)
    return root


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "sc")


def test_items_are_torchaudio_style_tuples(tree):
    ds = SpeechCommands(tree, verbose=False)
    waveform, sample_rate, label, speaker_id, utterance = ds[0]
    assert waveform.dtype == torch.float32 and waveform.shape == (1, 16000)
    assert (sample_rate, label, speaker_id, utterance) == (16000, "no", "aaaa0001", 0)
    # the same samples soundfile reads: nothing rescaled or shifted
    expected, _ = sf.read(tree / "no/aaaa0001_nohash_0.wav", dtype="float32")
    assert torch.equal(waveform[0], torch.from_numpy(expected))


def test_labels_come_from_folders_sorted_and_skip_noise(tree):
    ds = SpeechCommands(tree, verbose=False)
    assert ds.labels == ["no", "up", "yes"]
    assert len(ds) == 12  # the noise file is not a clip
    assert all(not f.startswith("_") for f in ds.files)


def test_subsets_follow_the_lists_and_keep_speakers_apart(tree):
    sizes = {s: len(SpeechCommands(tree, subset=s, verbose=False)) for s in ("training", "validation", "testing")}
    assert sizes == {"training": 6, "validation": 3, "testing": 3}
    speakers = {s: set(SpeechCommands(tree, subset=s, verbose=False).speakers) for s in sizes}
    assert speakers["validation"] == {"bbbb0001"} and speakers["testing"] == {"cccc0001"}
    assert not speakers["training"] & (speakers["validation"] | speakers["testing"])


def test_flac_is_read_like_wav(tmp_path):
    wav = SpeechCommands(write_tree(tmp_path / "w"), verbose=False)
    flac = SpeechCommands(write_tree(tmp_path / "f", fmt="flac"), verbose=False)
    assert torch.equal(wav[5][0], flac[5][0])


def test_clip_lengths_come_from_headers(tree):
    short = {"yes/aaaa0002_nohash_0.wav": 12000, "up/cccc0001_nohash_0.wav": 8000}
    ds = SpeechCommands(write_tree(tree.parent / "short", lengths=short), verbose=False)
    lengths = dict(zip(ds.files, ds.clip_lengths()))
    assert lengths["yes/aaaa0002_nohash_0.wav"] == 12000
    assert lengths["up/cccc0001_nohash_0.wav"] == 8000
    assert sum(n != 16000 for n in lengths.values()) == 2


def test_targets_and_label_index_agree(tree):
    ds = SpeechCommands(tree, verbose=False)
    assert [ds.index_to_label(t) for t in ds.targets] == [ds[i][2] for i in range(len(ds))]


def test_find_root_order(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPEECHLIB_DATA", str(tree))
    assert speechlib.find_root() == tree  # the environment variable beats the defaults
    assert "SPEECHLIB_DATA" in capsys.readouterr().out
    other = write_tree(tmp_path / "other")
    assert speechlib.find_root(other) == other  # an explicit root beats the environment variable

    # without either, a complete real tree under data/ beats the bundled set
    monkeypatch.delenv("SPEECHLIB_DATA")
    monkeypatch.setenv("SPEECHLIB_HOME", str(tmp_path))  # the project whose data/ is looked at
    data_dir = tmp_path / "data"
    (data_dir / "bundled").mkdir(parents=True)
    assert speechlib.find_root() == data_dir / "bundled"
    real = sdata.real_root("v0.02", data_dir)
    real.mkdir(parents=True)
    (real / "validation_list.txt").write_text("")
    assert speechlib.find_root() == data_dir / "bundled"  # incomplete: not trusted
    (real / "testing_list.txt").write_text("")
    for i in range(35):
        (real / f"word{i}").mkdir()
    assert speechlib.find_root() == real
    assert "real Speech Commands v0.02" in capsys.readouterr().out


def test_missing_root_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: dataset root not found"):
        SpeechCommands(tmp_path / "nowhere")


def test_unknown_subset_lists_the_choices(tree):
    with pytest.raises(DataError, match="unknown subset 'train'.*training, validation, testing"):
        SpeechCommands(tree, subset="train")


def test_missing_split_list_names_the_file(tree):
    (tree / "testing_list.txt").unlink()
    assert len(SpeechCommands(tree, subset="validation", verbose=False)) == 3  # other lists still work
    for subset in ("testing", "training"):
        with pytest.raises(DataError, match=r"testing_list\.txt: split list missing"):
            SpeechCommands(tree, subset=subset, verbose=False)


def test_stray_file_name_is_reported(tree):
    sf.write(tree / "yes" / "recording.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(DataError, match=r"yes/recording\.wav: file name is not <speaker>_nohash_<n>"):
        SpeechCommands(tree, verbose=False)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: p.write_bytes(b""), "not a readable audio file"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage"), "not a readable audio file"),
        (lambda p: p.write_text("this is a text file, not audio\n" * 100), "not a readable audio file"),
        (lambda p: sf.write(p, np.zeros(16000, np.float32), 8000), "sample rate is 8000 Hz, expected 16000 Hz"),
        (lambda p: sf.write(p, np.zeros((16000, 2), np.float32), 16000), "has 2 channels, expected mono"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "contains no samples"),
        (
            lambda p: sf.write(p, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT"),
            "16,000 of 16,000 samples are NaN or infinite",
        ),
    ],
    ids=["empty", "corrupt", "text", "8kHz", "stereo", "no-samples", "nan"],
)
def test_bad_clip_gives_one_clear_error(tree, make, problem):
    bad = tree / "yes" / "aaaa0001_nohash_0.wav"
    make(bad)
    ds = SpeechCommands(tree, verbose=False)
    with pytest.raises(DataError) as info:
        ds[ds.files.index("yes/aaaa0001_nohash_0.wav")]
    assert str(bad) in str(info.value) and problem in str(info.value)


def test_corrupt_header_is_reported_by_clip_lengths(tree):
    (tree / "up" / "aaaa0002_nohash_0.wav").write_bytes(b"not audio")
    with pytest.raises(DataError, match=r"up/aaaa0002_nohash_0\.wav: not a readable audio file"):
        SpeechCommands(tree, verbose=False).clip_lengths()


def test_load_audio_converts_stereo_and_sample_rate(tmp_path):
    path = tmp_path / "mine.wav"
    t = np.arange(48000) / 48000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1).astype(np.float32), 48000)
    waveform = speechlib.load_audio(path)
    assert waveform.shape == (1, 16000)  # mono, 1 s at 16 kHz
    # the channels are averaged: amplitude halves; the tone survives resampling
    assert waveform.abs().max().item() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("bad_value, count", [(np.nan, 3), (np.inf, 1), (-np.inf, 2)], ids=["nan", "inf", "-inf"])
def test_load_audio_refuses_samples_that_are_not_numbers(tmp_path, bad_value, count):
    path = tmp_path / "broken.wav"
    samples = np.zeros((24000, 2), np.float32)  # stereo at 48 kHz: the check comes before any conversion
    samples[1000 : 1000 + count, 1] = bad_value
    sf.write(path, samples, 48000, subtype="FLOAT")  # a float WAV stores NaN and infinity as they are
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: {count} of 48,000 samples are NaN or infinite"):
        speechlib.load_audio(path)


def test_load_audio_names_a_directory_and_a_missing_file(tmp_path):
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path))}: is a directory, not an audio file$"):
        speechlib.load_audio(tmp_path)
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'gone.wav'))}: file not found$"):
        speechlib.load_audio(tmp_path / "gone.wav")


def test_noise_files_are_listed(tree):
    assert [p.name for p in SpeechCommands(tree, verbose=False).noise_files()] == ["white.wav"]


def test_sample_clips_keeps_small_sets_whole_and_samples_large_ones():
    dataset = torch.utils.data.TensorDataset(torch.arange(100))
    assert speechlib.sample_clips(dataset, None) is dataset
    assert speechlib.sample_clips(dataset, 100) is dataset
    sample = speechlib.sample_clips(dataset, 30, seed=1)
    assert len(sample) == 30
    assert sample.indices == sorted(set(sample.indices)), "indices should be distinct and in dataset order"
    assert speechlib.sample_clips(dataset, 30, seed=1).indices == sample.indices, "the same seed, the same clips"
    assert speechlib.sample_clips(dataset, 30, seed=2).indices != sample.indices, "another seed, other clips"
    assert [dataset[i][0].item() for i in sample.indices] == [item[0].item() for item in sample]
    with pytest.raises(ValueError, match="max_clips"):
        speechlib.sample_clips(dataset, 0)


def test_sample_of_cached_clips_is_read_in_batches(tree, tmp_path, monkeypatch):
    from speechlib.cache import CachedClips, load_cache

    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))
    clips = CachedClips(load_cache(tree, progress=False, verbose=False))
    sample = speechlib.sample_clips(clips, 3, seed=0)
    waveforms, targets = next(iter(torch.utils.data.DataLoader(sample, batch_size=3)))  # via __getitems__
    expected = torch.stack([clips[i][0] for i in sample.indices])
    assert torch.equal(waveforms, expected)
    assert targets.tolist() == [clips[i][1] for i in sample.indices]
