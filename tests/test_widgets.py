"""The clip browser of notebook 01, driven without a browser."""

import matplotlib

matplotlib.use("Agg")

import pytest

from speechlib import SpeechCommands, clip_browser
from testkit import write_tone_tree


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = write_tone_tree(tmp_path_factory.mktemp("sc"), 7, ["no", "up", "yes"], num_speakers=3)
    return SpeechCommands(root, verbose=False)


def test_browser_offers_the_words_and_their_clips(dataset, capsys):
    browser = clip_browser(dataset, word="up")
    word, clip = browser.children[0].children
    assert list(word.options) == ["no", "up", "yes"] and word.value == "up"
    assert clip.max == dataset.targets.count(1) - 1
    assert "up/" in capsys.readouterr().out  # the first 'up' clip was shown

    clip.value = clip.max
    word.value = "no"  # a new word starts at its first clip
    assert clip.value == 0 and clip.max == dataset.targets.count(0) - 1
    shown = capsys.readouterr().out
    assert "no/" in shown and "up/" in shown.split("no/")[0]
    assert shown.count("no/") == 1  # drawn once, not once per changed control

    word.value = "yes"  # the slider is at 0 already: the word change alone redraws
    assert capsys.readouterr().out.count("yes/") == 1


def test_browser_names_an_empty_dataset(dataset):
    class Empty:
        labels, targets, files = ["yes"], [], []

    with pytest.raises(ValueError, match="no clips"):
        clip_browser(Empty())
