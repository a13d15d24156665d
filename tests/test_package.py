"""The package's front door: every advertised name resolves, and light modules stay light."""

import subprocess
import sys
from pathlib import Path

import pytest

import speechlib
from testkit import TOOLS_DIR


@pytest.mark.parametrize("name", speechlib.__all__)
def test_every_advertised_name_resolves_to_its_module(name):
    value = getattr(speechlib, name)  # AttributeError if the table names the wrong module
    if callable(value):  # functions and classes: defined where the table says, not merely re-exported
        assert value.__module__ == f"speechlib.{speechlib._MODULE_OF[name]}"


def test_submodules_are_reachable_as_attributes_and_unknown_names_fail_clearly():
    assert speechlib.data.REPO_DIR.is_dir()  # the notebooks write speechlib.data.REPO_DIR after `import speechlib`
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        speechlib.__getattr__("no_such_name")  # what `speechlib.no_such_name` calls


def test_maintainer_tools_live_outside_the_package():
    # python tools/synth.py, tools/benchmark.py, tools/experiments.py: a learner's `import speechlib` never needs them
    package_dir = Path(speechlib.__file__).parent
    for name in ("synth", "benchmark", "experiments"):
        assert not (package_dir / f"{name}.py").exists(), name
        assert (TOOLS_DIR / f"{name}.py").is_file(), name


def test_the_words_are_the_35_of_speech_commands_sorted():
    assert len(speechlib.WORDS) == len(set(speechlib.WORDS)) == 35
    assert list(speechlib.WORDS) == sorted(speechlib.WORDS) and {"yes", "no", "marvin", "sheila"} <= set(
        speechlib.WORDS
    )


def test_the_cache_and_the_cli_do_not_import_plotting_or_widgets():
    # a warm start of `speechlib train` (BENCHMARKS.md) must not pay ~0.4 s for matplotlib
    code = (
        "import sys, speechlib.cache, speechlib.commands\n"
        "heavy = sorted(m for m in ('matplotlib', 'ipywidgets', 'anywidget') if m in sys.modules)\n"
        "assert not heavy, heavy"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
