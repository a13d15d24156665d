"""tools/compare_heads.py (and train_transfer.accuracies, which it reports with): macro accuracy weighs every word
the same; a tree of other words is refused by name; extra trees can be cut down to some engines' speakers."""

import csv
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from compare_heads import accuracies, extra_rows, main
from speechlib.cache import load_cache
from testkit import write_tone_tree


def test_macro_accuracy_weighs_every_word_the_same():
    targets = torch.tensor([0, 0, 0, 1])  # three clips of word 0, one of word 1
    log_probs = torch.log(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]]))  # predicts 0, 0, 1, 1
    plain, macro = accuracies(log_probs, targets)
    assert plain == pytest.approx(3 / 4) and macro == pytest.approx((2 / 3 + 1) / 2)


def test_a_tree_of_other_words_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))
    for word in ("no", "yes"):
        (tmp_path / "sc" / word).mkdir(parents=True)
        sf.write(tmp_path / "sc" / word / "a_nohash_0.wav", np.zeros(16000, np.int16), 16000, subtype="PCM_16")
    monkeypatch.setattr(sys, "argv", ["compare_heads.py", "--real", str(tmp_path / "sc")])
    with pytest.raises(SystemExit, match=r"sc: its words \(no, yes\) are not the 35"):
        main()


def test_extra_rows_keep_the_speakers_of_the_engines_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLIB_CACHE", str(tmp_path / "cache"))
    tree = write_tone_tree(tmp_path / "extra", 60, ["no", "yes"], num_speakers=6)
    clips = load_cache(tree, progress=False, verbose=False)
    speakers = sorted(set(clips.speakers))
    engine_of = {speaker: ("pico" if i % 3 == 0 else "mbrola") for i, speaker in enumerate(speakers)}
    with open(tree / "speakers.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([("speaker_id", "engine"), *engine_of.items()])

    assert list(extra_rows(clips, None)) == list(range(len(clips)))
    pico = extra_rows(clips, ["pico"])
    assert {clips.speakers[i] for i in pico} == {s for s, e in engine_of.items() if e == "pico"}
    assert sorted([*pico, *extra_rows(clips, ["mbrola"])]) == list(range(len(clips)))
    with pytest.raises(SystemExit, match="extra: no speakers of festival"):
        extra_rows(clips, ["festival"])
