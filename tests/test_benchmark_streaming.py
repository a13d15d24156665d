"""tools/benchmark_streaming.py: the generated word streams (words of one split at known times, noise at a given
SNR), the scorer on hand-made detections, the choice of settings, and a tiny end-to-end run (no timing asserted,
no Asterisk sounds or realdev needed: a fake prompt folder stands in)."""

import gzip
import json

import numpy as np
import pytest
import soundfile as sf

import benchmark_streaming as bs
from speechlib.listen import Detection

RATE = 16000
TONE = (0.25, 0.65)  # seconds of each fake clip that hold its tone
SPLITS = {"testing": ["yes", "no"], "validation": ["up"]}  # the words of each split's clips


def tone_clip(frequency: float, amplitude: float = 0.3) -> np.ndarray:
    """One second: silence, a tone over :data:`TONE`, silence."""
    time = np.arange(RATE) / RATE
    return amplitude * np.sin(2 * np.pi * frequency * time) * ((time >= TONE[0]) & (time < TONE[1]))


@pytest.fixture
def tree(tmp_path):
    """Word clips in the Speech Commands layout (3 testing clips of yes and no, 2 validation clips of up, training
    clips of every word) with two background noise recordings."""
    root = tmp_path / "words"
    lists = {"testing": [], "validation": []}
    for word, frequency in (("yes", 440), ("no", 660), ("up", 880)):
        (root / word).mkdir(parents=True)
        for n in range(5):
            name = f"{word}/{n:08x}_nohash_0.wav"
            sf.write(root / name, tone_clip(frequency, 0.1 + 0.05 * n), RATE, subtype="FLOAT")
            subset = next((s for s, words in SPLITS.items() if word in words), None)
            if subset and n < (3 if subset == "testing" else 2):
                lists[subset].append(name)
    for subset, names in lists.items():
        (root / f"{subset}_list.txt").write_text("".join(f"{name}\n" for name in names))
    noise = root / "_background_noise_"
    noise.mkdir()
    rng = np.random.default_rng(0)
    sf.write(noise / "white.wav", 0.1 * rng.standard_normal(3 * RATE), RATE, subtype="FLOAT")
    sf.write(noise / "hum.wav", 0.5 * np.sin(2 * np.pi * 50 * np.arange(2 * RATE) / RATE), RATE, subtype="FLOAT")
    return root


def test_speech_span_finds_the_tone():
    start, end = bs.speech_span(tone_clip(440))
    assert start == pytest.approx(TONE[0], abs=0.011) and end == pytest.approx(TONE[1], abs=0.011)
    quiet_tail = tone_clip(440) + 0.3 * 10 ** (-30 / 20) * np.sin(np.arange(RATE))  # 30 dB down: not speech
    assert bs.speech_span(quiet_tail) == pytest.approx((start, end), abs=0.011)
    assert bs.speech_span(np.zeros(RATE)) == (0.0, 0.0)


def test_word_stream_has_the_splits_words_at_their_times(tree):
    samples, truth = bs.make_word_stream(tree, "testing", seed=3)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert sorted(t["word"] for t in truth) == ["no"] * 3 + ["yes"] * 3  # each testing clip once, no validation
    starts = np.array([t["start"] for t in truth])
    clip_starts = starts - TONE[0]
    assert clip_starts[0] == pytest.approx(bs.LEAD_SECONDS, abs=0.011)
    assert np.all((np.diff(clip_starts) >= 1.5 - 0.02) & (np.diff(clip_starts) <= 3.0 + 0.02))
    for t in truth:
        assert t["end"] - t["start"] == pytest.approx(TONE[1] - TONE[0], abs=0.02)
        spectrum = np.abs(np.fft.rfft(samples[int(t["start"] * RATE) : int(t["start"] * RATE) + 3200]))
        assert spectrum.argmax() * RATE / 3200 == {"yes": 440, "no": 660}[t["word"]]  # the word said there
    outside = np.ones(len(samples), dtype=bool)
    for t in truth:
        outside[int(t["start"] * RATE) - 160 : int(t["end"] * RATE) + 160] = False
    assert np.abs(samples[outside]).max() == 0  # clean: nothing but the words

    _, again = bs.make_word_stream(tree, "testing", seed=3)
    _, other = bs.make_word_stream(tree, "testing", seed=4)
    assert again == truth and other != truth
    assert [t["word"] for t in bs.make_word_stream(tree, "testing", words=["no"], seed=3)[1]] == ["no"] * 3
    assert {t["word"] for t in bs.make_word_stream(tree, "validation", seed=3)[1]} == {"up"}


def test_word_stream_of_a_given_length_draws_clips_again(tree):
    samples, truth = bs.make_word_stream(tree, "validation", seconds=30.0, seed=0)
    assert len(samples) == 30 * RATE
    assert len(truth) > 2 and all(t["end"] <= 30.0 for t in truth)  # 2 clips, used again and again
    with pytest.raises(bs.DataError, match="no testing clips of up"):
        bs.make_word_stream(tree, "testing", words=["up"])


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0])
def test_noise_is_mixed_at_the_asked_snr(tree, snr):
    clean, truth = bs.make_word_stream(tree, "testing", seed=1)
    noisy, noisy_truth = bs.make_word_stream(tree, "testing", snr_db=snr, seed=1)
    assert noisy_truth == truth  # the same words at the same times at every SNR
    noise = noisy.astype(np.float64) - clean
    speech = np.concatenate([clean[round(t["start"] * RATE) : round(t["end"] * RATE)] for t in truth])
    measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise**2))
    assert measured == pytest.approx(snr, abs=0.05)
    quarters = np.array_split(noise, 4)  # noise everywhere, not only under the words
    assert all(np.sqrt(np.mean(q**2)) > 0.5 * np.sqrt(np.mean(noise**2)) for q in quarters)


def test_noise_track_has_unit_power_and_no_clicks():
    rng = np.random.default_rng(0)
    noises = [np.sin(2 * np.pi * 50 * np.arange(RATE) / RATE), 3 * rng.standard_normal(RATE // 2)]
    track = bs.noise_track(noises, 5 * RATE, np.random.default_rng(1))
    assert track.shape == (5 * RATE,)
    assert np.mean(track**2) == pytest.approx(1.0, rel=0.25)  # each piece at unit power before the joins
    hum_only = bs.noise_track(noises[:1], 4 * RATE, np.random.default_rng(2))
    assert np.abs(np.diff(hum_only)).max() < 0.1  # a 50 Hz tone joined by cross-fades: no step anywhere


TRUTH = [
    {"word": "yes", "start": 1.0, "end": 1.5},
    {"word": "no", "start": 3.0, "end": 3.4},
    {"word": "up", "start": 5.0, "end": 5.6},
    {"word": "down", "start": 7.0, "end": 7.5},
]


def test_scorer_counts_hits_wrong_words_and_false_accepts():
    detections = [
        Detection("yes", 0.5, 0.9),  # before any word: a false accept
        Detection("yes", 1.8, 0.9),  # hit, 0.3 s after the end
        Detection("yes", 2.0, 0.9),  # yes again: already matched, a false accept and a repeat
        Detection("off", 3.9, 0.9),  # within no's window: a wrong word
        Detection("up", 6.0, 0.9),  # hit, 0.4 s late
        Detection("down", 8.5, 0.9),  # 1.0 s after the end: too late, a false accept (down missed)
    ]
    result = bs.score(list(reversed(detections)), TRUTH, seconds=36.0)  # any order
    assert (result["words"], result["hits"], result["wrong"], result["false_accepts"]) == (4, 2, 1, 3)
    assert result["hit_rate"] == 0.5 and result["wrong_rate"] == 0.25
    assert result["repeats"] == 1 and result["repeat_rate"] == 0.25  # the early yes and the late down are not
    assert result["false_accepts_per_hour"] == pytest.approx(3 / 0.01)
    assert result["median_latency"] == pytest.approx(0.35)
    late = bs.score(detections, TRUTH, seconds=36.0, tolerance=1.5)
    assert (late["hits"], late["false_accepts"]) == (3, 2)  # down's detection now counts

    overlapping = [{"word": "yes", "start": 1.0, "end": 1.5}, {"word": "no", "start": 2.0, "end": 2.4}]
    right_one = bs.score([Detection("yes", 2.1, 0.9)], overlapping, 10.0)  # in both windows: yes is right
    assert (right_one["hits"], right_one["wrong"]) == (1, 0)
    neither = bs.score([Detection("up", 2.1, 0.9)], overlapping, 10.0)  # a wrong word for the word begun last
    assert neither["wrong"] == 1 and bs.score([Detection("no", 2.2, 0.9)], overlapping, 10.0)["hits"] == 1
    empty = bs.score([Detection("yes", 1.0, 0.9)], [], 3600.0)
    assert empty["hit_rate"] is None and empty["false_accepts_per_hour"] == 1.0 and empty["median_latency"] is None

    both = bs.pooled([result, empty])
    assert (both["words"], both["hits"], both["false_accepts"], both["repeats"]) == (4, 2, 4, 1)
    assert both["false_accepts_per_hour"] == pytest.approx(4 / 1.01)


def row(threshold, hit, wrong=0.0, false_per_hour=0.0, latency=0.4, repeat=0.0):
    return {
        "settings": {"threshold": threshold, "average_seconds": 0.24, "suppress_seconds": 1.0},
        "words": {"hit_rate": hit, "wrong_rate": wrong, "repeat_rate": repeat, "median_latency": latency},
        "quiet": {"false_accepts_per_hour": false_per_hour},
        "all": {"false_accepts_per_hour": 0.0},  # the word streams' unmatched detections: not a constraint
    }


def test_choose_takes_the_best_hit_rate_within_the_targets():
    rows = [
        row(0.3, 0.99, false_per_hour=40.0),  # too many false accepts
        row(0.4, 0.97, wrong=0.05),  # too many wrong words
        row(0.5, 0.93, latency=0.6),
        row(0.6, 0.93, latency=0.5),  # as many hits, sooner: chosen
        row(0.7, 0.80),
    ]
    assert bs.choose(rows)["threshold"] == 0.6
    assert bs.choose(rows[:2] + [row(0.8, 0.93, latency=0.5)] + rows[3:])["threshold"] == 0.8  # tie: higher one
    hopeless = [
        row(0.3, 0.95, false_per_hour=40.0),  # cost 0.05 + 0.40
        row(0.5, 0.85, false_per_hour=9.0),  # cost 0.15 + 0.09: chosen
        row(0.7, 0.6, false_per_hour=3.0),  # cost 0.40 + 0.03
        row(0.95, 0.0, false_per_hour=0.0),  # never fires, hears nothing: cost 1
        row(0.2, 0.99, wrong=0.2, false_per_hour=9.0),  # too many wrong words
        row(0.45, 0.9, repeat=0.1, false_per_hour=5.0),  # reports one word in ten twice
    ]
    assert bs.choose(hopeless)["threshold"] == 0.5  # none within the targets: the lowest cost
    assert bs.cost(hopeless[1]) == pytest.approx(0.24)


def test_talk_stream_leaves_out_clips_that_say_a_word(tmp_path):
    root = tmp_path / "unknown_speech"
    kept = {"phrase/aa_nohash_0.wav": "thank you mourning", "word/aa_nohash_1.wav": "squirrel"}
    left_out = {"phrase/aa_nohash_2.wav": "go home now", "near_miss/aa_nohash_3.wav": "bet"}
    for n, name in enumerate([*kept, *left_out]):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / name, np.full(RATE, 0.1 * (n + 1)), RATE, subtype="FLOAT")
    (root / "testing_list.txt").write_text("".join(f"{name}\n" for name in [*kept, *left_out]))
    rows = "".join(f"{name},{name.split('/')[0]},{text},voice\n" for name, text in {**kept, **left_out}.items())
    (root / "transcripts.csv").write_text("file,kind,text,voice\n" + rows)
    talk = bs.talk_stream(root, "testing", seed=0)
    assert sorted(np.unique(np.round(talk, 3))) == [0.0, 0.1, 0.2]  # the two kept clips and pauses
    pause = len(talk) - 2 * RATE - RATE  # one second of quiet at the end
    assert 2 * 0.2 * RATE <= pause <= 2 * 0.6 * RATE


@pytest.fixture
def asterisk(tmp_path):
    """A fake Asterisk folder: two 8 kHz "prompts" without a keyword, one with one (left out)."""
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    for name, seconds in (("hello", 2.0), ("goodbye", 3.0), ("yes-please", 5.0)):
        time = np.arange(int(seconds * 8000)) / 8000
        sf.write(sounds / f"{name}.wav", 0.3 * np.sin(2 * np.pi * 300 * time), 8000, subtype="PCM_16")
    transcripts = tmp_path / "core-sounds-en.txt.gz"
    with gzip.open(transcripts, "wt") as f:
        f.write("hello: Hello there.\ngoodbye: Goodbye now.\nyes-please: Yes, please.\n")
    return sounds, transcripts


@pytest.mark.slow  # the real model over a few minutes of streams
def test_end_to_end_sweep_report_and_json(asterisk, tmp_path, capsys):
    sounds, transcripts = asterisk
    out = tmp_path / "streaming.json"
    argv = ["models/transfer.pt", "--words", "yes,no", "--snrs", "clean,10", "--sweep", "--thresholds", "0.5,0.8"]
    argv += ["--sounds", str(sounds), "--transcripts", str(transcripts), "--realdev", "none", "--json", str(out)]
    bs.main(argv + ["--rtf-seconds", "5"])
    result = json.loads(out.read_text())["models"]["models/transfer.pt"]
    chosen = result["chosen_settings"]
    assert chosen["threshold"] in (0.5, 0.8) and chosen["average_seconds"] in bs.GRID["average_seconds"]
    assert len(result["validation_sweep"]) == 2 * 4 * 3
    assert result["validation_chosen"]["settings"] == chosen
    streams = result["testing"]["streams"]
    assert list(streams) == ["words clean", "words 10 dB", "talk", "asterisk"]
    assert streams["words clean"]["words"] == len([n for n in bs.read_split_list("data/bundled", "testing")
                                                   if n.split("/")[0] in ("yes", "no")])  # fmt: skip
    assert streams["asterisk"]["words"] == 0 and 5.0 / 3600 < streams["asterisk"]["hours"] < 7.0 / 3600
    words = streams["words clean"]
    assert words["hits"] + words["wrong"] <= words["words"]
    assert words["hit_rate"] >= 0.6, "the shipped model should find most clean yes/no words of new speakers"
    assert [r["settings"]["threshold"] for r in result["testing_threshold_curve"]] == [0.5, 0.8]
    assert result["real_time"]["rtf"] > 0 and result["real_time"]["audio_seconds"] == pytest.approx(5.0, abs=0.1)
    printed = capsys.readouterr().out
    assert "(chosen on the validation streams)" in printed and "| words clean |" in printed
    assert "| asterisk |" in printed and "real-time factor on one core" in printed
