"""The generator of the bundled set, with an in-process tone-burst "engine": no TTS programs needed."""

import hashlib
import json
import os
import re
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import synth
from speechlib import SpeechCommands
from speechlib.augment import change_speed


def tone_engine(recipe, requests, workdir):
    """A fake TTS engine: each word is a tone burst (pitch from the text) between bits of silence, at 22.05 kHz."""
    rate = 22050
    outputs = []
    for text, rate_scale in requests:
        frequency = 200 + int(hashlib.sha1(text.encode()).hexdigest()[:4], 16) % 600
        t = np.arange(int(0.08 * len(text) * rate_scale * rate)) / rate
        burst = 0.5 * np.sin(2 * np.pi * frequency * t) * np.hanning(len(t))
        silence = np.zeros(rate // 10)
        outputs.append((np.concatenate([silence, burst, silence]).astype(np.float32), rate))
    return outputs


TONE_ENGINES = {engine: tone_engine for engine in synth.ENGINES}
SMALL_WORDS = ["yes", "no", "backward"]


def reference_which_set(filename, validation_percentage, testing_percentage):
    """The function from the real set's README, word for word (tensorflow's as_bytes -> str.encode)."""
    base_name = os.path.basename(filename)
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage_hash = (int(hash_name_hashed, 16) % (synth.MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / synth.MAX_NUM_WAVS_PER_CLASS
    )
    if percentage_hash < validation_percentage:
        result = "validation"
    elif percentage_hash < (testing_percentage + validation_percentage):
        result = "testing"
    else:
        result = "training"
    return result


def test_which_set_matches_the_readme_rule_and_shares():
    rng = np.random.default_rng(0)
    speakers = [f"{value:08x}" for value in rng.integers(0, 2**32, size=20000)]
    splits = [synth.which_set(f"yes/{s}_nohash_0.flac") for s in speakers]
    assert splits == [reference_which_set(f"{s}_nohash_3.wav", 10, 10) for s in speakers]
    shares = {name: splits.count(name) / len(splits) for name in ("training", "validation", "testing")}
    assert abs(shares["validation"] - 0.1) < 0.01 and abs(shares["testing"] - 0.1) < 0.01


def test_speaker_id_is_8_hex_and_depends_on_the_recipe():
    recipe = {"engine": "flite", "voice": "slt", "pitch": 120}
    assert re.fullmatch(r"[0-9a-f]{8}", synth.speaker_id(recipe))
    assert synth.speaker_id(recipe) == synth.speaker_id(dict(reversed(list(recipe.items()))))
    assert synth.speaker_id(recipe) != synth.speaker_id({**recipe, "pitch": 121})


@pytest.mark.parametrize("word_samples", [400, 8000, synth.MAX_WORD_SAMPLES])
def test_place_word_keeps_the_whole_word_inside(word_samples):
    word = torch.rand(1, word_samples) + 0.5  # no zeros, so its position can be found
    for seed in range(200):
        rng = np.random.default_rng(seed)
        num_samples = synth.clip_length(word_samples, rng, short_share=0.5)
        clip = synth.place_word(word, num_samples, rng)
        assert clip.shape == (1, num_samples) and clip.dtype == torch.float32
        start = int(clip[0].nonzero()[0])
        assert torch.equal(clip[:, start : start + word_samples], word)
        assert clip.abs().sum() == pytest.approx(word.abs().sum().item(), rel=1e-5)


def test_place_word_jitter_moves_the_word_around_the_middle():
    word = torch.ones(1, 6000)
    starts = [int(synth.place_word(word, 16000, np.random.default_rng(s))[0].nonzero()[0]) for s in range(300)]
    assert abs(np.mean(starts) - 5000) < 300  # centred on average
    assert np.std(starts) > 500  # but not always at the same place


def test_place_word_refuses_a_word_longer_than_the_clip():
    with pytest.raises(ValueError, match="does not fit"):
        synth.place_word(torch.ones(1, 9000), 8000, np.random.default_rng(0))


def test_short_clip_lengths_share_and_range():
    rng = np.random.default_rng(1)
    lengths = np.array([synth.clip_length(8000, rng) for _ in range(4000)])
    short = lengths[lengths < synth.CLIP_SAMPLES]
    assert set(lengths[lengths >= synth.CLIP_SAMPLES]) == {synth.CLIP_SAMPLES}
    assert 0.08 < len(short) / len(lengths) < 0.12
    low, high = (int(s * synth.SAMPLE_RATE) for s in synth.SHORT_CLIP_RANGE)
    assert short.min() >= low and short.max() <= high
    assert short.min() >= 8000 + 2 * synth.WORD_MARGIN  # never cuts the word


def test_long_words_are_sped_up_to_fit():
    long_word = torch.rand(1, 20000) - 0.5
    fitted = synth.fit_word(long_word)
    assert fitted.shape[0] == 1 and fitted.shape[1] <= synth.MAX_WORD_SAMPLES
    short_word = torch.rand(1, 5000)
    assert synth.fit_word(short_word) is short_word


@pytest.mark.parametrize("seed", range(6))
def test_effects_keep_shape_dtype_and_range(seed):
    rng = np.random.default_rng(seed)
    effects = synth.random_effects(rng)
    t = torch.arange(8000) / synth.SAMPLE_RATE
    waveform = (0.9 * torch.sin(2 * torch.pi * 440 * t)).unsqueeze(0)  # (1, 8000)
    out = synth.apply_effects(waveform, effects, rng)
    assert out.dtype == torch.float32 and out.ndim == 2 and out.shape[0] == 1
    speed = round(160 * effects["speed"]) / 160  # change_speed rounds the rate to 100 Hz steps
    expected = 8000 / speed + (synth.SAMPLE_RATE // 20 if effects["reverb_decay_ms"] else 0)
    assert abs(out.shape[1] - expected) <= 2
    assert out.abs().max().item() == pytest.approx(10 ** (effects["peak_db"] / 20), rel=1e-4)  # peak as asked, < 1
    assert torch.isfinite(out).all()


def test_speed_change_shifts_pitch():
    t = torch.arange(16000) / synth.SAMPLE_RATE
    waveform = torch.sin(2 * torch.pi * 500 * t).unsqueeze(0)
    faster = change_speed(waveform, 1.1)
    peak_hz = torch.fft.rfft(faster[0]).abs().argmax().item() * synth.SAMPLE_RATE / faster.shape[1]
    assert abs(peak_hz - 550) < 5


@pytest.mark.parametrize("kind", synth.NOISE_KINDS)
def test_noise_is_unit_rms_and_coloured(kind):
    noise = synth.make_noise(kind, 16000, np.random.default_rng(0))
    assert noise.shape == (16000,) and noise.dtype == np.float32
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-3)
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    low, high = spectrum[20:1000].mean(), spectrum[4000:7000].mean()  # 20-1000 Hz vs 4-7 kHz
    assert (low > 10 * high) if kind in ("pink", "brown", "hum") else (0.5 < low / high < 2)


def test_engine_errors_name_the_command():
    with pytest.raises(RuntimeError, match="false"):
        synth._run(["false"])


def _generate(out, seed=3):
    return synth.generate(
        out, seed=seed, num_speakers=12, words=SMALL_WORDS, workers=1, engines=TONE_ENGINES, progress=False
    )


def test_generate_writes_the_real_layout(tmp_path):
    stats = _generate(tmp_path / "set")
    root = tmp_path / "set"
    assert not (tmp_path / "set.partial").exists()
    clips = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*_nohash_*.flac"))
    assert len(clips) == stats["clips"] > 0 and stats["speakers"] == 12
    assert {c.split("/")[0] for c in clips} == set(SMALL_WORDS)
    for name in clips:
        assert re.fullmatch(r"[a-z]+/[0-9a-f]{8}_nohash_\d+\.flac", name)
        info = sf.info(root / name)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "FLAC", "PCM_16")
        assert info.frames <= 16000
    noise = sorted(p.name for p in (root / "_background_noise_").iterdir())
    assert {"white_noise.flac", "pink_noise.flac", "brown_noise.flac", "running_tap.flac", "hum.flac"} <= set(noise)

    lists = {s: (root / f"{s}_list.txt").read_text().split() for s in ("validation", "testing")}
    for subset, names in lists.items():
        assert set(names) <= set(clips)
        assert all(synth.which_set(n) == subset for n in names)
    training = [c for c in clips if c not in lists["validation"] + lists["testing"]]
    assert all(synth.which_set(n) == "training" for n in training)
    speakers = {s: {n.split("/")[1][:8] for n in names} for s, names in [("training", training), *lists.items()]}
    assert not (
        speakers["training"] & speakers["validation"]
        or speakers["training"] & speakers["testing"]
        or speakers["validation"] & speakers["testing"]
    )

    manifest = synth.read_manifest(root)
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    assert set(manifest) == files
    header = (root / "speakers.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["speaker_id", "engine", "voice", "variant", "pitch", "rate"] and "split" in header

    total = sum(len(SpeechCommands(root=root, subset=s, verbose=False)) for s in ("training", "validation", "testing"))
    assert total == len(clips)


def test_every_clip_holds_its_word(tmp_path):
    _generate(tmp_path / "set")
    for path in (tmp_path / "set").glob("*/*_nohash_*.flac"):
        samples, _ = sf.read(path, dtype="float32")
        assert np.abs(samples).max() > 10 ** (-27 / 20)  # the word's peak, far above the noise floor (< -70 dBFS)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    _generate(tmp_path / "a", seed=3)
    _generate(tmp_path / "b", seed=3)
    _generate(tmp_path / "c", seed=4)
    assert (tmp_path / "a" / "SHA256SUMS").read_bytes() == (tmp_path / "b" / "SHA256SUMS").read_bytes()
    assert (tmp_path / "a" / "SHA256SUMS").read_bytes() != (tmp_path / "c" / "SHA256SUMS").read_bytes()
    for relative, digest in synth.read_manifest(tmp_path / "b").items():  # the manifest tells the truth
        assert hashlib.sha256((tmp_path / "b" / relative).read_bytes()).hexdigest() == digest


def test_generate_replaces_an_old_set_only_when_done(tmp_path):
    root = tmp_path / "set"
    root.mkdir()
    (root / "stale.txt").write_text("from an older run")
    _generate(root)
    assert not (root / "stale.txt").exists() and (root / "SHA256SUMS").is_file()


def test_generating_leaves_the_callers_torch_threads_alone(tmp_path):
    # render_speaker runs with one thread (workers side by side), then gives the caller back its setting
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _generate(tmp_path / "set")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


FAKE_TTS = """#!{python}
# a stand-in TTS program: logs its arguments, writes 0.1 s of tone to the file after -w
import json, sys
import numpy as np, soundfile as sf
with open({log!r}, "a") as f:
    f.write(json.dumps(sys.argv) + "\\n")
path = sys.argv[sys.argv.index("-w") + 1]
sf.write(path, 0.5 * np.sin(np.arange(1600) * 0.1), 16000)
"""


@pytest.fixture
def fake_tts(tmp_path, monkeypatch):
    """pico2wave and espeak-ng replaced by a logging stand-in; returns a function that reads the calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    for program in ("pico2wave", "espeak-ng"):
        path = bin_dir / program
        path.write_text(FAKE_TTS.format(python=sys.executable, log=str(log)))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


def test_pico_sets_voice_pitch_and_speed_by_markup(fake_tts, tmp_path):
    recipe = {"voice": "en-GB", "pitch": 120, "rate": 1.1}
    (samples, rate), *_ = synth.pico_engine(recipe, [("yes", 1.0), ("no", 0.5)], tmp_path)
    assert rate == 16000 and samples.shape == (1600,)
    calls = fake_tts()
    assert [call[0].rsplit("/", 1)[1] for call in calls] == ["pico2wave", "pico2wave"]
    assert calls[0][1:3] == ["-l", "en-GB"]
    # rate 1.1 stretches durations: speed 100/1.1 = 91%; rate_scale 0.5 (faster) doubles that
    assert calls[0][-1] == "<pitch level='120'><speed level='91'>yes</speed></pitch>"
    assert calls[1][-1] == "<pitch level='120'><speed level='182'>no</speed></pitch>"


def test_mbrola_speaks_through_espeak_ng_with_an_mbrola_voice(fake_tts, tmp_path):
    recipe = {"voice": "mb-us2", "pitch": 40, "rate": 150}
    synth.mbrola_engine(recipe, [("stop", 1.25)], tmp_path)
    (call,) = fake_tts()
    assert call[0].endswith("espeak-ng") and call[-1] == "stop"
    assert call[1:7] == ["-v", "mb-us2", "-p", "40", "-s", "120"]  # 150 words/min slowed by 1.25


def test_extra_voices_speakers_come_from_the_extra_engines_only():
    speakers = synth.make_speakers(80, seed=2, engine_shares=synth.EXTRA_ENGINE_SHARES)
    engines = [s["engine"] for s in speakers]
    assert engines.count("pico") == 32 and engines.count("mbrola") == 48
    assert {s["voice"] for s in speakers if s["engine"] == "pico"} <= set(synth.PICO_VOICES)
    assert {s["voice"] for s in speakers if s["engine"] == "mbrola"} == set(synth.MBROLA_VOICES)
    assert len({s["speaker_id"] for s in speakers}) == 80


def test_engine_shares_are_parsed_and_bad_ones_named():
    assert synth.parse_shares("pico=0.4,mbrola=0.6") == synth.EXTRA_ENGINE_SHARES
    with pytest.raises(ValueError, match="unknown engine 'espeak'"):
        synth.parse_shares("espeak=1")
    with pytest.raises(ValueError, match="'pico=lots': write ENGINE=SHARE"):
        synth.parse_shares("pico=lots")
