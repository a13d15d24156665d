"""speechlib.enrol: a word enrolled into models/commands.pt from a few clips of the bundled testing speakers is
recognised in other speakers' clips, in single clips and in a stream, the model's own words keep their answers,
the enrolled model saves and loads, bad input gets a clear error, and ``speechlib enrol`` end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from speechlib import cli
from speechlib.data import BUNDLED_ROOT, DataError, SpeechCommands
from speechlib.enrol import (
    MIN_CLIPS,
    NEW_WORD_LOG_PRIOR,
    RAW_CHANNELS,
    enrol,
    is_widened,
    model_settings,
    save_enrolled,
    widened,
)
from speechlib.listen import detect, stream_posteriors
from speechlib.models import SimpleNet
from speechlib.paths import models_dir
from speechlib.training import load_model
from speechlib.transfer import rejected
from speechlib.transforms import pad_trim

WORD = "cat"  # not one of commands.pt's words (its _unknown_ class learnt it from other speakers)
SHOTS = 5


@pytest.fixture(scope="module")
def commands():
    torch.set_num_threads(1)
    return load_model(models_dir() / "commands.pt")


@pytest.fixture(scope="module")
def testing():
    """The bundled testing split: speakers the heads never heard."""
    return SpeechCommands(BUNDLED_ROOT, subset="testing", verbose=False)


def word_rows(testing, word: str) -> list[int]:
    return [i for i, target in enumerate(testing.targets) if testing.labels[target] == word]


@pytest.fixture(scope="module")
def split(testing):
    """``(enrolment rows: one clip of each of SHOTS speakers, rows of the word by the other speakers)``."""
    rows = word_rows(testing, WORD)
    enrolment, people = [], []
    for row in rows:
        if testing.speakers[row] not in people and len(enrolment) < SHOTS:
            enrolment.append(row)
            people.append(testing.speakers[row])
    others = [row for row in rows if testing.speakers[row] not in people]
    assert len(enrolment) == SHOTS and len(others) >= 5
    return enrolment, others


@pytest.fixture(scope="module")
def enrolled(commands, testing, split):
    model, labels = commands
    before = {name: value.clone() for name, value in model.state_dict().items()}
    new_model, new_labels = enrol(model, labels, WORD, [testing[row][:2] for row in split[0]])
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before), "enrol changed the model it was given"
    return new_model, new_labels


def clips_of(testing, rows) -> torch.Tensor:
    return torch.stack([pad_trim(testing[row][0]) for row in rows])  # (n, 1, 16000)


def test_the_new_model_has_one_more_class_and_keeps_the_rest(commands, enrolled):
    (model, labels), (new_model, new_labels) = commands, enrolled
    assert new_labels == labels + [WORD] and not new_model.training
    assert new_model.log_prior.tolist() == model.log_prior.tolist() + [NEW_WORD_LOG_PRIOR]
    assert float(new_model.reject_below) == float(model.reject_below)
    wide = widened(model)
    for old, new in zip([*wide.heads, *wide.inner_heads], [*new_model.heads, *new_model.inner_heads]):
        assert new.classifier.weight.shape == (len(labels) + 1, old.classifier.in_features)
        assert torch.equal(new.classifier.weight[:-1], old.classifier.weight)  # the old rows are kept as they are
        assert torch.equal(new.classifier.bias[:-1], old.classifier.bias)
        assert torch.equal(new.layers[0].weight, old.layers[0].weight)


def test_widened_heads_give_the_same_answers(commands, testing):
    model, _ = commands
    wide = widened(model)
    assert is_widened(wide) and not is_widened(model) and widened(wide) is wide
    assert wide.heads[0].classifier.in_features == model.heads[0].classifier.in_features + 2 * RAW_CHANNELS
    clips = clips_of(testing, range(0, len(testing), 40))
    with torch.no_grad():
        assert torch.allclose(wide(clips), model(clips), atol=1e-5)
    samples = torch.cat([clip[0] for clip in clips]).numpy()
    assert np.allclose(stream_posteriors(wide, samples)[1], stream_posteriors(model, samples)[1], atol=1e-5)


def test_other_speakers_saying_the_word_are_recognised(enrolled, testing, split):
    new_model, new_labels = enrolled
    with torch.no_grad():
        after = new_model(clips_of(testing, split[1])).exp()
    heard = (after.argmax(dim=1) == new_labels.index(WORD)) & (after.amax(dim=1) >= float(new_model.reject_below))
    assert heard.float().mean() >= 0.6, f"only {int(heard.sum())} of {len(heard)} clips of {WORD!r} recognised"


def test_the_models_own_words_keep_their_answers(commands, enrolled, testing):
    (model, labels), (new_model, new_labels) = commands, enrolled
    words = [testing.labels[target] for target in testing.targets]
    commands_rows = [i for i, word in enumerate(words) if word in labels]
    strangers = [i for i, word in enumerate(words) if word not in labels and word != WORD][::3]
    with torch.no_grad():
        known_before, known_after = (m(clips_of(testing, commands_rows)).argmax(dim=1) for m in (model, new_model))
        other_before = model(clips_of(testing, strangers)).exp()
        other_after = new_model(clips_of(testing, strangers)).exp()
    changed = (known_before != known_after).float().mean().item()
    assert changed <= 0.02, f"{changed:.1%} of the commands' clips changed their answer"
    still = rejected(other_after, new_labels, float(new_model.reject_below)).float().mean().item()
    was = rejected(other_before, labels, float(model.reject_below)).float().mean().item()
    assert still >= was - 0.05, f"other words rejected: {was:.1%} before, {still:.1%} after enrolling {WORD!r}"


def test_the_listener_hears_the_new_word_in_a_stream(enrolled, testing, split):
    new_model, new_labels = enrolled
    rng = np.random.default_rng(0)
    parts = []
    for row in split[1]:
        parts += [(0.003 * rng.standard_normal(24000)).astype(np.float32), testing[row][0][0].numpy()]
    parts.append((0.003 * rng.standard_normal(16000)).astype(np.float32))
    times, probabilities = stream_posteriors(new_model, np.concatenate(parts))
    assert probabilities.shape[1] == len(new_labels)
    heard = [detection.word for detection in detect(times, probabilities, new_labels)]
    assert heard.count(WORD) >= len(split[1]) // 2, f"heard {heard} in a stream of {len(split[1])} {WORD!r}s"
    assert len(heard) <= len(split[1])  # no word heard twice, nothing heard in the quiet between


def test_saved_and_loaded_it_answers_the_same(enrolled, testing, split, tmp_path):
    new_model, new_labels = enrolled
    path = save_enrolled(new_model, new_labels, tmp_path / "cat.pt", enrolled={"word": WORD})
    loaded, loaded_labels = load_model(path)
    assert loaded_labels == new_labels and not loaded.training
    assert model_settings(loaded) == model_settings(new_model)
    clips = clips_of(testing, split[1][:3])
    with torch.no_grad():
        assert torch.allclose(loaded(clips), new_model(clips))
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: nothing left beside it


def test_a_second_word_can_be_enrolled_on_top(enrolled, testing):
    new_model, new_labels = enrolled
    rows = word_rows(testing, "house")[:MIN_CLIPS]
    newer, newer_labels = enrol(new_model, new_labels, "house", [testing[row][:2] for row in rows], steps=20)
    assert newer_labels == new_labels + ["house"] and newer.log_prior.shape == (len(new_labels) + 1,)
    assert newer.heads[0].classifier.in_features == new_model.heads[0].classifier.in_features  # widened once only


def _tone(seconds: float, rate: int, level: float) -> tuple[torch.Tensor, int]:
    time = torch.arange(int(seconds * rate)) / rate
    return (level * torch.sin(2 * torch.pi * 440 * time))[None], rate  # (1, n)


@pytest.mark.parametrize(
    "word, recordings, message",
    [
        ("cat", [_tone(1, 16000, 0.3)] * 2, f"at least {MIN_CLIPS} recordings of the word, got 2"),
        ("cat", [_tone(1, 16000, 0.3), _tone(2, 44100, 1e-4), _tone(1, 16000, 0.3)], "recording 2 of 3: is silent"),
        ("cat", [_tone(1, 16000, 0.3), _tone(1, 16000, 0.0), _tone(1, 8000, 0.3)], "is silent (digital silence)"),
        ("yes", [_tone(1, 16000, 0.3)] * 3, "the model already knows 'yes'"),
        ("on/off", [_tone(1, 16000, 0.3)] * 3, "contains a slash"),
        ("  ", [_tone(1, 16000, 0.3)] * 3, "needs a name"),
        ("_mine_", [_tone(1, 16000, 0.3)] * 3, "starts with '_'"),
    ],
)
def test_bad_input_gets_a_clear_error(commands, word, recordings, message):
    model, labels = commands
    with pytest.raises(ValueError) as error:
        enrol(model, labels, word, recordings)
    assert message in str(error.value)


def test_a_silent_recording_is_named(commands):
    model, labels = commands
    recordings = [_tone(1, 16000, 0.3), _tone(1, 16000, 0.3), _tone(1, 16000, 0.0)]
    with pytest.raises(DataError, match="take_3.wav: is silent"):
        enrol(model, labels, "cat", recordings, names=["take_1.wav", "take_2.wav", "take_3.wav"])


def test_only_a_model_on_the_speech_embedding_can_learn_a_word():
    with pytest.raises(ValueError, match="needs a model built on the speech embedding .* not a SimpleNet"):
        enrol(SimpleNet(num_classes=2), ["no", "yes"], "cat", [_tone(1, 16000, 0.3)] * 3)


def speechlib(*argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.mark.slow  # enrols, then evaluates the bundled testing split and listens to a stream
def test_the_command_line_enrols_and_the_other_commands_use_the_word(testing, split, tmp_path, capsys):
    import torchaudio.functional as AF

    clips = []
    for number, row in enumerate(split[0]):  # as a user records them: 44.1 kHz stereo, with quiet around the word
        waveform = AF.resample(torch.nn.functional.pad(testing[row][0], (8000, 12000)), 16000, 44100)[0].numpy()
        path = tmp_path / f"take_{number + 1}.wav"
        sf.write(path, np.stack([waveform, 0.8 * waveform], axis=1), 44100)
        clips.append(path)
    out = tmp_path / "with_cat.pt"
    commands_model = models_dir() / "commands.pt"
    assert speechlib("enrol", WORD, *clips, "--model", commands_model, "--out", out) == 0
    printed = capsys.readouterr().out
    assert f"enrolled 'cat' from {SHOTS} clips: {clips[0]}" in printed and "(12 classes)" in printed
    assert f"-> {out} (13 classes)" in printed

    other = tmp_path / "other_cat.wav"
    sf.write(other, testing[split[1][0]][0][0].numpy(), 16000)
    assert speechlib("predict", out, other) == 0
    assert capsys.readouterr().out.startswith(f"{other}: cat ")

    result = tmp_path / "evaluate.json"
    assert speechlib("evaluate", out, "--data", "bundled", "--json", result, "--quiet") == 0
    scores = json.loads(result.read_text())
    assert WORD not in scores["unknown_words"] and "yes" in scores["per_class"]
    assert scores["per_class"][WORD] >= 0.5  # every testing clip of it, the enrolment speakers' included

    stream = tmp_path / "stream.wav"
    quiet = np.zeros(24000, dtype=np.float32)
    sf.write(stream, np.concatenate([np.concatenate([quiet, testing[row][0][0].numpy()]) for row in split[1]]), 16000)
    assert speechlib("listen", stream, out, "--quiet") == 0
    heard = re.findall(r"^ *[\d.]+ s  (\S+)  [\d.]+$", capsys.readouterr().out, flags=re.MULTILINE)
    assert heard.count(WORD) >= len(split[1]) // 2, heard

    assert speechlib("enrol", WORD, *clips[:2], "--model", commands_model, "--out", out) == 1
    assert "at least 3 recordings of the word, got 2" in capsys.readouterr().err
    assert speechlib("enrol", "yes", *clips, "--model", commands_model, "--out", out) == 2
    assert "speechlib enrol: the model already knows 'yes'" in capsys.readouterr().err
    assert speechlib("enrol", WORD, *clips, tmp_path / "missing.wav", "--out", out) == 2
    assert "missing.wav: no such audio file" in capsys.readouterr().err
