"""The command line reports what it means to (a problem with the data: exit 1; with the arguments:
exit 2; one line each) and lets every other exception, a bug, keep its traceback."""

import subprocess
import sys

import pytest
import torch

from speechlib import SimpleNet, cli, commands, save_model


@pytest.fixture
def model_file(tmp_path):
    return save_model(SimpleNet(num_classes=2), tmp_path / "m.pt", ["no", "yes"], "simplenet")


def test_a_missing_model_file_is_an_argument_error(tmp_path, capsys):
    assert cli.main(["predict", str(tmp_path / "missing.pt"), str(tmp_path / "a.wav")]) == 2
    assert capsys.readouterr().err == f"speechlib predict: {tmp_path / 'missing.pt'}: no such model file\n"


def test_a_device_that_is_not_there_is_an_argument_error(model_file, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["evaluate", str(model_file), "--device", "cuda"]) == 2
    assert capsys.readouterr().err == (
        "speechlib evaluate: device 'cuda' was asked for but is not available on this machine\n"
    )


def test_a_file_that_is_not_a_model_is_a_data_error(tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model")
    assert cli.main(["predict", str(garbage), str(tmp_path / "a.wav")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"speechlib predict: {garbage}: not a readable speechlib model") and error.count("\n") == 1


@pytest.mark.parametrize("bug", [ValueError, RuntimeError, KeyError, FileNotFoundError])
def test_anything_else_is_a_bug_and_keeps_its_traceback(bug, model_file, monkeypatch):
    def broken(path):
        raise bug("a bug in speechlib")

    monkeypatch.setattr(commands, "load_model", broken)
    with pytest.raises(bug, match="a bug in speechlib"):
        cli.main(["predict", str(model_file), "a.wav"])


def test_one_line_from_a_real_process_and_no_traceback(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "speechlib", "evaluate", str(tmp_path / "missing.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 2
    assert finished.stderr == f"speechlib evaluate: {tmp_path / 'missing.pt'}: no such model file\n"
