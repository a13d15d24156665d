"""tools/compare_heads.py (and train_transfer.accuracies, which it reports with): macro accuracy weighs every word
the same; a tree of other words is refused by name."""

import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from compare_heads import accuracies, main


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
