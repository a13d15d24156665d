"""Run the notebook series headless: the main job, ``speechlib run``.

Executes ``notebooks/NN_*.ipynb`` in order, each in a fresh kernel, exactly as "Restart kernel and run all
cells" would in JupyterLab. The notebooks are executed in memory: the stored files are left as they are
(``--write-outputs`` is for maintainers who changed a notebook and want its stored outputs refreshed).
At the end it evaluates models/simplenet.pt (saved by the training notebook) and the shipped
models/cnn.pt on the test split.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_write
from .paths import notebooks_dir

SIMPLENET_FILE = "simplenet.pt"  # in models/
SIMPLENET_NOTEBOOK = "04"  # the notebook that trains and saves it
CNN_FILE = "cnn.pt"  # in models/: shipped with the repository, used by notebook 10
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@dataclass
class NotebookRun:
    path: Path
    ok: bool
    seconds: float
    error: str = ""


def find_notebooks(folder: Path | str | None = None) -> list[Path]:
    """The series in order: every ``NN_name.ipynb`` in ``folder`` (default: the project's notebooks/), sorted by number."""
    return sorted(Path(folder if folder is not None else notebooks_dir()).glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(path: Path | str, env: dict | None = None, timeout: int = 600, keep_going: bool = False):
    """Run every cell of the notebook at ``path`` in a fresh kernel started in the notebook's folder.

    Returns the executed notebook (an ``nbformat.NotebookNode``) without widget state, which is large and
    only meaningful in the browser that made it (widget outputs keep their text form), and without
    timestamps, so running an unchanged notebook twice gives the same file. Raises ``nbclient.exceptions.CellExecutionError`` if a
    cell fails; with ``keep_going``, the cells after a failing one run too and the errors stay in the outputs
    (:func:`first_error` finds them).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps of an earlier run
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no timestamps in the cells: a rerun changes nothing
        coalesce_streams=True,  # one stdout block per cell, however the kernel flushed it
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],  # no kernel chatter on stderr
        allow_errors=keep_going,
    )
    client.execute(env=dict(os.environ) if env is None else env)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:  # without the state a widget view cannot be drawn: keep its text instead
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
    return notebook


def first_error(notebook) -> str:
    """``"Name: message"`` of the first error output in an executed notebook, or ``""`` if none."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output['ename']}: {output['evalue']}"
    return ""


def write_notebook(notebook, path: Path | str) -> None:
    """Write ``notebook`` atomically (temporary file, then rename)."""
    import nbformat

    path = Path(path)
    permissions = path.stat().st_mode & 0o777 if path.exists() else 0o644
    with atomic_write(path, "w", permissions, encoding="utf-8") as f:
        nbformat.write(notebook, f)


def run_series(
    notebooks: list[Path] | None = None,
    env: dict | None = None,
    write_outputs: bool = False,
    out=sys.stdout,
    keep_going: bool = False,
) -> list[NotebookRun]:
    """Execute ``notebooks`` (default: the whole series) one after the other, printing name, status and
    seconds for each. Returns one :class:`NotebookRun` per notebook; a failure does not stop the rest.
    With ``keep_going``, a failing cell does not stop its notebook either (the run still counts as failed)."""
    from nbclient.exceptions import CellExecutionError

    runs = []
    for path in find_notebooks() if notebooks is None else notebooks:
        start = time.perf_counter()
        try:
            executed = execute_notebook(path, env=env, keep_going=keep_going)
        except CellExecutionError as error:
            run = NotebookRun(path, False, time.perf_counter() - start, f"{error.ename}: {error.evalue}")
        else:
            error = first_error(executed)
            run = NotebookRun(path, not error, time.perf_counter() - start, error)
            if write_outputs and run.ok:
                write_notebook(executed, path)
        runs.append(run)
        status = "ok" if run.ok else f"FAILED ({run.error})"
        print(f"{path.name:<36} {run.seconds:6.1f} s  {status}", file=out, flush=True)
    return runs


def saved_model_accuracy(model_path: Path | str, root=None) -> float:
    """Accuracy of a saved model on the test split of ``root`` (default: as the notebooks choose)."""
    import torch

    from .data import DataError, SpeechCommands
    from .device import pick_device
    from .training import evaluate, load_model
    from .transforms import make_collate

    model, labels = load_model(model_path)
    test_set = SpeechCommands(root, subset="testing", verbose=False)
    if test_set.labels != labels:
        raise DataError(f"{model_path}: trained on other words than {test_set.root} has")
    loader = torch.utils.data.DataLoader(test_set, batch_size=256, collate_fn=make_collate(labels))
    return evaluate(model, loader, pick_device(), labels)["accuracy"]
