"""speechlib.paths: the project (data/, models/, notebooks/) is found from $SPEECHLIB_HOME, from an
editable install, or from the working directory of a clone; otherwise the error says where it looked."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import speechlib
from speechlib import paths
from speechlib.cache import cache_home
from speechlib.data import DataError, find_root


def make_clone(folder: Path) -> Path:
    """The parts of a clone that make it one: data/bundled/ and notebooks/."""
    (folder / "data" / "bundled").mkdir(parents=True)
    (folder / "notebooks").mkdir()
    return folder


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """As after `pip install .`: the package's parent is site-packages, not a clone."""
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    monkeypatch.setattr(paths, "PACKAGE_PARENT", site_packages)
    monkeypatch.delenv(paths.HOME_VARIABLE, raising=False)
    monkeypatch.delenv("SPEECHLIB_DATA", raising=False)  # notebooks/conftest.py sets it when both folders are tested
    return site_packages


def test_this_checkout_is_a_project_and_found_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.HOME_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)  # outside the clone: the editable install still knows where it is
    assert paths.is_project(paths.PACKAGE_PARENT) and paths.project_home() == paths.PACKAGE_PARENT
    assert speechlib.data.REPO_DIR == paths.PACKAGE_PARENT  # the name the notebooks use
    assert speechlib.data.BUNDLED_ROOT == paths.PACKAGE_PARENT / "data" / "bundled"


def test_speechlib_home_comes_first(tmp_path, monkeypatch):
    clone = make_clone(tmp_path / "elsewhere")
    monkeypatch.setenv(paths.HOME_VARIABLE, str(clone))
    assert paths.project_home() == clone
    assert paths.bundled_root() == clone / "data" / "bundled" and paths.models_dir() == clone / "models"
    monkeypatch.setenv(paths.HOME_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"\$SPEECHLIB_HOME=.*missing: no such folder"):
        paths.project_home()


def test_installed_package_finds_the_clone_it_runs_in(installed, tmp_path, monkeypatch):
    clone = make_clone(tmp_path / "clone")
    for cwd in (clone, clone / "notebooks"):  # the clone, or a folder inside it (kernels start in notebooks/)
        monkeypatch.chdir(cwd)
        assert paths.project_home() == clone
        assert find_root(verbose=False) == clone / "data" / "bundled"


def test_installed_package_outside_a_clone_says_where_it_looked(installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.find_project_home() is None
    with pytest.raises(DataError) as error:
        paths.project_home()
    message = str(error.value)
    for looked_at in ("data/bundled/", "notebooks/", str(installed), str(tmp_path), "SPEECHLIB_HOME"):
        assert looked_at in message
    with pytest.raises(DataError, match="no speechlib project found"):
        find_root()  # the default dataset needs a project; an explicit root does not
    assert cache_home(tmp_path / "tree") == Path.home() / ".cache" / "speechlib"  # no project: the user cache


def test_a_folder_needs_both_markers(tmp_path):
    (tmp_path / "notebooks").mkdir()
    assert not paths.is_project(tmp_path)
    (tmp_path / "data" / "bundled").mkdir(parents=True)
    assert paths.is_project(tmp_path)


def test_a_copy_of_the_package_outside_the_repository(tmp_path):
    """A real process with the package copied elsewhere (a non-editable install), run inside and outside a clone."""
    site = tmp_path / "site"
    shutil.copytree(
        paths.PACKAGE_PARENT / "speechlib", site / "speechlib", ignore=shutil.ignore_patterns("__pycache__")
    )
    clone = make_clone(tmp_path / "clone")
    env = {key: value for key, value in os.environ.items() if key not in (paths.HOME_VARIABLE, "SPEECHLIB_DATA")}
    env["PYTHONPATH"] = str(site)

    def speechlib_run(cwd):
        return subprocess.run(
            [sys.executable, "-m", "speechlib", "run", "99"], cwd=cwd, env=env, capture_output=True, text=True
        )

    inside = speechlib_run(clone / "notebooks")  # the project is found: only notebook 99 is missing
    assert inside.returncode == 2 and inside.stderr == "speechlib run: no notebook numbered 99 in notebooks/\n"
    outside = speechlib_run(tmp_path)
    assert outside.returncode == 1 and outside.stderr.count("\n") == 1
    assert outside.stderr.startswith("speechlib run: no speechlib project found")
    assert str(site) in outside.stderr and str(tmp_path) in outside.stderr
