"""Notebook 09's own head on real voices: run the notebook's code, then measure its final head (maintainer script).

    PYTHONPATH=$PWD .venv/bin/python tools/measure_notebook_09.py [--real ../shared/realdev]

Executes the code cells of ``notebooks/09_transfer_learning.ipynb`` in order, on the bundled set as the stored
outputs are (``notebooks/conftest.py``), up to the cell that trains the final head, then classifies every clip of a
real tree (default ``../shared/realdev``: measured, never trained on) with that head: macro accuracy over the words
(each word counts the same) and plain accuracy. The notebook itself never reads realdev.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import matplotlib

import speechlib
from speechlib import paths

matplotlib.use("Agg")  # the notebook's figures are drawn, never shown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdev")
    args = parser.parse_args(argv)
    real = args.real.resolve()
    os.environ["SPEECHLIB_DATA"] = str(paths.bundled_root())  # as notebooks/conftest.py does
    notebook = paths.notebooks_dir() / "09_transfer_learning.ipynb"
    os.chdir(notebook.parent)
    namespace = {"display": lambda *args, **kwargs: None}
    started = time.perf_counter()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        exec(compile(source, str(notebook), "exec"), namespace)  # noqa: S102 (the project's own notebook)
        if "final_seconds = " in source:
            break
    else:
        raise SystemExit(f"{notebook}: no cell sets final_seconds (the final head's training)")
    ns = namespace
    print(
        f"notebook code ran in {time.perf_counter() - started:.0f} s; final head trained in {ns['final_seconds']:.1f} s"
    )
    clips = speechlib.load_cache(real, progress=False, verbose=False)
    if clips.labels != ns["labels"]:
        raise SystemExit(f"{real}: its words are not notebook 09's 35 words")
    cached = speechlib.embedding_cache(
        clips, ns["embedder"], pad_samples=ns["PAD_SAMPLES"], progress=False, verbose=False
    )
    predictions = ns["predictions_of"](ns["final_head"], cached.embeddings, ns["device"])
    plain = (predictions == cached.targets).float().mean().item()
    macro = ns["macro_accuracy"](predictions, cached.targets)
    print(f"{real} ({len(cached.targets)} clips): macro {macro:.1%}, plain {plain:.1%}")


if __name__ == "__main__":
    main()
