"""tools/measure_unknown_words.py: unknown words that are really known are refused (what counts as rejected:
speechlib.transfer.rejected, tested in test_transfer.py)."""

import sys

import pytest

from measure_unknown_words import main


def test_words_the_model_knows_are_refused(monkeypatch, tmp_path):
    from speechlib.models import SimpleNet
    from speechlib.training import save_model

    model_path = save_model(SimpleNet(num_classes=2), tmp_path / "m.pt", ["no", "yes"], "simplenet")
    monkeypatch.setattr(sys, "argv", ["measure_unknown_words.py", str(model_path), "--words", "apple,yes"])
    with pytest.raises(SystemExit, match="yes are among the model's words"):
        main()
