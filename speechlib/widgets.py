"""A small clip browser for Jupyter: choose a word and a clip, hear it, see its waveform.

Taught in notebook 01. Needs a running kernel (ipywidgets); a notebook saved without its
widget state shows only the browser's description until the cell is run again.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Audio, display

from .plots import plot_waveform


def clip_browser(dataset, word: str | None = None) -> widgets.VBox:
    """A word dropdown, a clip slider and an output area showing the chosen clip.

    ``dataset`` is a :class:`speechlib.SpeechCommands` (any object with ``labels``, ``targets``,
    ``files`` and ``__getitem__`` returning ``(waveform, sample_rate, label, speaker_id, n)``).
    """
    clips_of = {label: [] for label in dataset.labels}  # word -> dataset indices of its clips
    for index, target in enumerate(dataset.targets):
        clips_of[dataset.labels[target]].append(index)
    words = [label for label in dataset.labels if clips_of[label]]
    if not words:
        raise ValueError("clip_browser: the dataset has no clips")

    word_choice = widgets.Dropdown(options=words, value=word if word in words else words[0], description="word")
    clip_choice = widgets.IntSlider(min=0, max=len(clips_of[word_choice.value]) - 1, value=0, description="clip")
    shown = widgets.Output()

    def show(_change=None):
        index = clips_of[word_choice.value][clip_choice.value]
        waveform, sample_rate, label, speaker_id, utterance = dataset[index]
        shown.clear_output(wait=True)
        with shown:
            print(f"{dataset.files[index]}: speaker {speaker_id}, utterance {utterance}, {waveform.shape[-1]} samples")
            display(Audio(waveform.numpy()[0], rate=sample_rate))
            plot_waveform(waveform, sample_rate, title=f"'{label}'")
            plt.show()

    def new_word(_change):
        # Draw once: moving the slider back to clip 0 already redraws through its observer.
        last_clip = len(clips_of[word_choice.value]) - 1
        if clip_choice.value == 0:
            clip_choice.max = last_clip
            show()
        else:
            clip_choice.value = 0  # the old position may not exist for the new word
            clip_choice.max = last_clip

    word_choice.observe(new_word, names="value")
    clip_choice.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([word_choice, clip_choice]), shown])
