"""tools/measure_unknown_words.py: what counts as rejected, and unknown words that are really known are refused."""

import sys

import pytest
import torch

from measure_unknown_words import main, rejected

LABELS = ["no", "yes", "_silence_"]


def test_rejected_means_silence_wins_or_the_best_guess_is_unsure():
    probabilities = torch.tensor(
        [
            [0.9, 0.05, 0.05],  # a confident word: kept
            [0.3, 0.3, 0.4],  # _silence_ wins: "I heard nothing"
            [0.25, 0.2, 0.55],  # _silence_ wins by far
            [0.45, 0.35, 0.2],  # a word, but under the threshold 0.5: "not one of the words"
        ]
    )
    assert rejected(probabilities, LABELS, threshold=0.5).tolist() == [False, True, True, True]
    assert rejected(probabilities, LABELS, threshold=0.1).tolist() == [False, True, True, False]
    # a model without a _silence_ class rejects by the threshold only
    assert rejected(probabilities[:, :2], LABELS[:2], threshold=0.4).tolist() == [False, True, True, False]


def test_words_the_model_knows_are_refused(monkeypatch, tmp_path):
    from speechlib.models import SimpleNet
    from speechlib.training import save_model

    model_path = save_model(SimpleNet(num_classes=2), tmp_path / "m.pt", ["no", "yes"], "simplenet")
    monkeypatch.setattr(sys, "argv", ["measure_unknown_words.py", str(model_path), "--words", "apple,yes"])
    with pytest.raises(SystemExit, match="yes are among the model's words"):
        main()
