"""tools/train_transfer.py: the classes of a model with an _unknown_ class, and the targets of every clip."""

import pytest
import torch

from speechlib.transfer import SILENCE_LABEL, UNKNOWN_LABEL
from train_transfer import COMMANDS, model_labels, relabel

WORDS = ["down", "go", "no", "up", "yes"]


def test_model_labels_add_unknown_when_there_is_something_to_learn_it_from():
    assert model_labels(WORDS, None, unknown=False) == [*WORDS, SILENCE_LABEL]
    assert model_labels(WORDS, None, unknown=True) == [*WORDS, SILENCE_LABEL, UNKNOWN_LABEL]
    # the other words alone are enough unknown speech
    assert model_labels(WORDS, ["yes", "no"], unknown=False) == ["yes", "no", SILENCE_LABEL, UNKNOWN_LABEL]
    with pytest.raises(SystemExit, match="--commands: sheila, wow not among the words"):
        model_labels(WORDS, ["yes", "sheila", "wow"], unknown=True)
    assert len(COMMANDS) == 10 and len(set(COMMANDS)) == 10


def test_relabel_puts_the_other_words_into_unknown():
    labels = model_labels(WORDS, ["yes", "no"], unknown=True)  # yes, no, _silence_, _unknown_
    targets = torch.tensor([0, 1, 2, 3, 4, 4])  # down go no up yes yes
    assert relabel(targets, WORDS, labels).tolist() == [3, 3, 1, 3, 0, 0]
    every_word = model_labels(WORDS, None, unknown=True)
    assert relabel(targets, WORDS, every_word).tolist() == targets.tolist()  # the same numbers when all are known
    with pytest.raises(ValueError, match="no _unknown_ class"):
        relabel(targets, WORDS, ["yes", "no", SILENCE_LABEL])
