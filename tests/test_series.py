"""speechlib run's machinery on two tiny notebooks: order, status, errors, and the stored files untouched."""

import io

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from speechlib.series import find_notebooks, run_series


def write(path, *sources):
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_find_notebooks_takes_numbered_ones_in_order(tmp_path):
    for name in ["02_b.ipynb", "01_a.ipynb", "notes.ipynb", "1_short.ipynb", "10_j.ipynb"]:
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_j.ipynb"]


def test_run_series_reports_each_notebook_and_keeps_going(tmp_path):
    good = write(tmp_path / "01_good.ipynb", "import os", "print(os.environ['SERIES_TEST'], os.getcwd())")
    bad = write(tmp_path / "02_bad.ipynb", "raise ValueError('broken on purpose')")
    stored = good.read_text()
    out = io.StringIO()

    runs = run_series([good, bad], env={"SERIES_TEST": "hello", "PATH": "/usr/bin:/bin"}, out=out)
    assert [run.ok for run in runs] == [True, False]
    assert runs[1].error == "ValueError: broken on purpose"
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("01_good.ipynb") and lines[0].endswith("ok")
    assert lines[1].startswith("02_bad.ipynb") and "FAILED (ValueError: broken on purpose)" in lines[1]
    assert good.read_text() == stored  # executed in memory only

    run_series([good], env={"SERIES_TEST": "hello", "PATH": "/usr/bin:/bin"}, write_outputs=True, out=out)
    cell = nbformat.read(good, as_version=4).cells[1]
    assert cell.outputs[0]["text"] == f"hello {tmp_path}\n"  # ran in the notebook's folder, with env
    assert cell.execution_count == 2


def test_cli_run_names_a_missing_notebook(capsys):
    from speechlib import cli

    assert cli.main(["run", "99"]) == 2
    assert "no notebook numbered 99" in capsys.readouterr().err


def test_saved_model_accuracy_evaluates_the_saved_model(tmp_path):
    import pytest
    import torch

    from speechlib import SimpleNet, SpeechCommands, make_collate, predict, save_model
    from speechlib.series import saved_model_accuracy
    from testkit import write_tone_tree

    root = write_tone_tree(tmp_path / "sc", 40, ["no", "yes"], num_speakers=10)
    torch.manual_seed(0)
    model = SimpleNet(num_classes=2)
    path = save_model(model, tmp_path / "simplenet.pt", ["no", "yes"], "simplenet")
    test_set = SpeechCommands(root, subset="testing", verbose=False)
    loader = torch.utils.data.DataLoader(test_set, batch_size=8, collate_fn=make_collate(["no", "yes"]))
    predictions, targets = predict(model, loader, torch.device("cpu"))
    assert saved_model_accuracy(path, root) == pytest.approx((predictions == targets).float().mean().item())

    other = save_model(model, tmp_path / "other.pt", ["left", "right"], "simplenet")
    with pytest.raises(ValueError, match="other.pt: trained on other words"):
        saved_model_accuracy(other, root)


def test_the_series_runs_in_teaching_order_with_one_notebook_per_number():
    names = [path.name for path in find_notebooks()]
    numbers = [name[:2] for name in names]
    assert numbers == sorted(set(numbers)), f"two notebooks share a number, or the order is wrong: {names}"
    # 09 (transfer learning) comes from another branch; the others are the series of issue 10
    assert {"01", "02", "03", "04", "05", "06", "07", "08", "10"} <= set(numbers), names
    assert "10_your_own_voice.ipynb" in names and "06_spectrograms.ipynb" in names


def test_keep_going_runs_the_cells_after_a_failing_one(tmp_path):
    marker = tmp_path / "after.txt"
    notebook = write(tmp_path / "01_bad.ipynb", "assert False, 'broken on purpose'", f"open({str(marker)!r}, 'w')")
    env = {"PATH": "/usr/bin:/bin"}

    runs = run_series([notebook], env=env, out=io.StringIO())
    assert not runs[0].ok and not marker.exists(), "without keep_going the run stops at the failing cell"

    out = io.StringIO()
    runs = run_series([notebook], env=env, out=out, keep_going=True, write_outputs=True)
    assert marker.exists(), "keep_going should run the cell after the failing one"
    assert not runs[0].ok and runs[0].error == "AssertionError: broken on purpose"
    assert "FAILED (AssertionError: broken on purpose)" in out.getvalue()
    assert nbformat.read(notebook, as_version=4).cells[0].outputs == [], "a failed run's outputs are not stored"
