"""Where the project is: the clone of the repository that holds data/, models/ and notebooks/.

The package does not assume it sits inside that clone (after ``pip install .`` it lives in
site-packages). :func:`project_home` looks, in this order, at

1. ``$SPEECHLIB_HOME``, when set;
2. the folder above the imported package, when it is a clone (``pip install -e .``, or Python
   started in the clone);
3. the current directory and its parents, when one is a clone (``pip install .``, then work inside
   the clone: its notebooks/ folder included).

A folder counts as a clone when it has ``data/bundled/`` and ``notebooks/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataError

HOME_VARIABLE = "SPEECHLIB_HOME"
PACKAGE_PARENT = Path(__file__).resolve().parent.parent  # the clone for an editable install; else site-packages
MARKERS = ("data/bundled", "notebooks")  # what a clone has


def is_project(folder: Path | str) -> bool:
    """True when ``folder`` has ``data/bundled/`` and ``notebooks/``."""
    return all((Path(folder) / marker).is_dir() for marker in MARKERS)


def find_project_home() -> Path | None:
    """The project folder (see the module's docstring), or None where there is none."""
    if os.environ.get(HOME_VARIABLE):
        return _home_from_variable()
    if is_project(PACKAGE_PARENT):
        return PACKAGE_PARENT
    cwd = Path.cwd().resolve()
    return next((folder for folder in (cwd, *cwd.parents) if is_project(folder)), None)


def project_home() -> Path:
    """The project folder, or a :class:`DataError` that says where it was looked for."""
    home = find_project_home()
    if home is None:
        cwd = Path.cwd().resolve()
        raise DataError(
            f"no speechlib project found: looked for a folder with {' and '.join(m + '/' for m in MARKERS)} "
            f"beside the installed package ({PACKAGE_PARENT}) and in {cwd} and its parents; "
            f"run inside a clone of the repository or set ${HOME_VARIABLE} to one"
        )
    return home


def _home_from_variable() -> Path:
    home = Path(os.environ[HOME_VARIABLE]).expanduser().resolve()
    if not home.is_dir():
        raise DataError(f"${HOME_VARIABLE}={os.environ[HOME_VARIABLE]}: no such folder")
    return home


def data_dir() -> Path:
    """``data/`` of the project: the bundled set, downloads and caches."""
    return project_home() / "data"


def bundled_root() -> Path:
    """``data/bundled/``: the synthetic set shipped with the repository."""
    return data_dir() / "bundled"


def models_dir() -> Path:
    """``models/``: the shipped CNN; the notebooks save theirs here."""
    return project_home() / "models"


def notebooks_dir() -> Path:
    """``notebooks/``: the series."""
    return project_home() / "notebooks"
