"""tools/measure_asterisk.py on a fake Asterisk folder (8 kHz tones) and a stub model whose answer is set by
the tone's pitch: which prompts are kept, and the shares, examples and digit scores it reports."""

import gzip
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

import measure_asterisk
from measure_asterisk import main, measure, read_transcripts, select_prompts, spoken_words

LABELS = ["zero", "one", "yes", "no", "_silence_", "_unknown_"]
ANSWERS = {  # pitch (Hz) -> what the stub model says
    300: ("yes", 0.9),  # a word
    500: ("_unknown_", 0.8),  # not one of the words
    700: ("_silence_", 0.7),  # I heard nothing
    900: ("no", 0.3),  # below the threshold: not one of the words
    1100: ("zero", 0.95),
    1300: ("one", 0.6),
}
THRESHOLD = 0.5
TRANSCRIPTS = """; Core Asterisk Sounds in English (fake)

hello: Hello there.
goodbye: Goodbye, gone fishing.
stopwatch: The stopwatch is in the bedroom.
letters/at: at [@]
digits/10: ten
yes-please: Yes, please.
press-four: Press Four now.
press-5: Press 5.
ones-key: Press the one's key.
beep: [this is a simple beep tone]
silence/1: (1 second of silence)
pls-try-call-later: Please try your call later.
""" + "".join(f"digits/{digit}: {word}\n" for digit, word in enumerate(measure_asterisk.DIGIT_WORDS))
PITCHES = {  # file -> pitch of its tone
    "hello": 300, "goodbye": 900, "stopwatch": 1300, "letters/at": 500, "digits/10": 700,
    "yes-please": 300, "press-four": 300, "press-5": 300, "ones-key": 300, "beep": 300, "silence/1": 300,
    "no-transcript": 300,  # a file the transcripts do not mention
    "digits/0": 1100,  # zero: right
    "digits/1": 300,  # one, answered yes: wrong
    "digits/2": 500,  # two, a word the model does not know, rejected (_unknown_): right
    "digits/3": 300,  # three, not known, answered yes: wrong
    "digits/4": 900,  # four, not known, rejected (below the threshold): right
    **{f"digits/{digit}": 700 for digit in range(5, 10)},  # not known, rejected (_silence_): right
}  # fmt: skip
SELECTED = ["digits/10", "goodbye", "hello", "letters/at", "stopwatch"]


class PitchModel(nn.Module):
    """Log-probabilities set by the loudest frequency of each clip (:data:`ANSWERS`): the best guess gets the
    table's probability, the other classes share the rest. Has a ``reject_below`` as the transfer model does."""

    def __init__(self, labels=LABELS, answers=ANSWERS, reject_below=THRESHOLD):
        super().__init__()
        self.answers, self.labels, self.reject_below = answers, labels, reject_below
        self.anchor = nn.Parameter(torch.zeros(1))  # top_k looks up the model's device from its parameters

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(waveforms[:, 0]).abs()  # (batch, 8001): bin k is k Hz for one second at 16 kHz
        rows = []
        for peak in spectrum.argmax(dim=1).tolist():
            word, probability = self.answers[min(self.answers, key=lambda pitch: abs(pitch - peak))]
            row = torch.full((len(self.labels),), (1 - probability) / (len(self.labels) - 1))
            row[self.labels.index(word)] = probability
            rows.append(row)
        return torch.stack(rows).log()  # (batch, classes)


@pytest.fixture
def asterisk(tmp_path):
    """A fake sounds folder (0.6 s tones at 8 kHz, as the prompts' telephone rate) and its gzipped transcripts."""
    sounds = tmp_path / "sounds"
    for name, pitch in PITCHES.items():
        path = sounds / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        time = np.arange(4800) / 8000
        sf.write(path, 0.5 * np.sin(2 * np.pi * pitch * time), 8000, subtype="PCM_16")
    transcripts = tmp_path / "core-sounds-en.txt.gz"
    with gzip.open(transcripts, "wt") as f:
        f.write(TRANSCRIPTS)
    return sounds, transcripts


def names(prompts, sounds) -> list[str]:
    """The transcripts' names of ``prompts``: ``digits/10`` for ``sounds/digits/10.wav``."""
    return [path.relative_to(sounds).with_suffix("").as_posix() for path, _ in prompts]


def test_transcripts_and_which_prompts_are_kept(asterisk, tmp_path):
    sounds, transcripts = asterisk
    plain = tmp_path / "plain.txt"
    plain.write_text(TRANSCRIPTS)
    parsed = read_transcripts(transcripts)
    assert parsed == read_transcripts(plain)  # gzipped or not
    assert parsed["digits/0"] == "zero" and parsed["letters/at"] == "at [@]" and "; Core Asterisk Sounds" not in parsed
    assert spoken_words("Hello, party's Call-Forward!") == ["hello", "party", "s", "call", "forward"]
    assert spoken_words("[ascending tones]") is None and spoken_words("(1 second of silence)") is None
    assert spoken_words("Press 5.") is None and spoken_words("at [@]") == ["at"]

    kept = select_prompts(sounds, parsed)
    assert names(kept, sounds) == SELECTED
    assert [text for _, text in kept] == [parsed[name] for name in SELECTED]
    every_word = set(SELECTED) | {"yes-please", "press-four", "ones-key"} | {f"digits/{d}" for d in range(10)}
    assert set(names(select_prompts(sounds, parsed, words=["Hello"]), sounds)) == every_word - {"hello"}


def test_shares_examples_and_digits(asterisk):
    sounds, transcripts = asterisk
    prompts = select_prompts(sounds, read_transcripts(transcripts))
    result = measure(PitchModel(), LABELS, prompts, sounds, examples=1)
    assert result["reject_below"] == THRESHOLD and result["prompts"] == 5
    # hello -> yes, stopwatch -> one; digits/10 -> _silence_; goodbye -> no below 0.5, letters/at -> _unknown_
    assert result["answered_with_a_word"] == pytest.approx(2 / 5)
    assert result["heard_nothing"] == pytest.approx(1 / 5)
    assert result["not_a_word"] == pytest.approx(2 / 5)
    assert result["words_answered"] == {"yes": 1, "one": 1}
    assert result["examples"] == [
        {"file": "hello.wav", "transcript": "Hello there.", "word": "yes", "probability": pytest.approx(0.9)}
    ]
    digits = result["digits"]
    assert [clip["right"] for clip in digits["clips"]] == [True, False, True, False, True, True, True, True, True, True]
    assert (digits["right"], digits["known"], digits["known_right"], digits["unknown_rejected"]) == (8, 2, 1, 7)

    without_threshold = measure(PitchModel(reject_below=0.0), LABELS, prompts, sounds, examples=5)
    assert without_threshold["answered_with_a_word"] == pytest.approx(3 / 5)  # goodbye's "no" now counts
    assert [example["word"] for example in without_threshold["examples"]] == ["yes", "one", "no"]  # most sure first
    assert without_threshold["digits"]["unknown_rejected"] == 6  # digits/4's "no" is now an answer


def test_command_line_prints_and_writes_json(asterisk, tmp_path, monkeypatch, capsys):
    sounds, transcripts = asterisk
    monkeypatch.setattr(measure_asterisk, "load_model", lambda path: (PitchModel(), LABELS))
    out = tmp_path / "results" / "asterisk.json"
    argv = ["a.pt", "b.pt", "--sounds", sounds, "--transcripts", transcripts, "--json", out, "--examples", 2]
    main([str(argument) for argument in argv])
    printed, written = capsys.readouterr().out, json.loads(out.read_text())
    assert written["selected_prompts"] == 5 and list(written["models"]) == ["a.pt", "b.pt"]
    assert written["models"]["a.pt"]["answered_with_a_word"] == pytest.approx(2 / 5)
    assert len(written["models"]["a.pt"]["examples"]) == 2
    assert "5 prompts of" in printed and "answered with a word   0.4000" in printed
    assert "digits 0-9: 8 of 10 right" in printed and "hello.wav: yes 0.900 ('Hello there.')" in printed


def test_missing_package_says_what_to_install(tmp_path):
    with pytest.raises(SystemExit, match="nowhere: no Asterisk sounds folder .apt-get install asterisk-core-sounds"):
        main(["--sounds", str(tmp_path / "nowhere")])
