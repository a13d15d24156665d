"""Every "notebook NN" in speechlib's docstrings names a notebook that exists and uses what the
docstring describes: the function, class or method by name (in a code cell, or in `code` in a
markdown cell), or for a module's docstring one of the module's public names."""

import importlib
import inspect
import json
import pkgutil
import re

import pytest

import speechlib
from speechlib.paths import notebooks_dir

# "notebook 04", "Notebook 05.", "notebooks 04 (training) and 05 (evaluation)", "notebook 01 and notebook 02"
REFERENCE = re.compile(
    r"[Nn]otebooks?\s+(\d{2}(?:\s*\([^)]*\))?(?:(?:,\s*|\s+and\s+|\s+or\s+)(?:notebook\s+)?\d{2}(?:\s*\([^)]*\))?)*)"
)


def notebook_numbers(docstring: str | None) -> list[str]:
    """The notebook numbers a docstring refers to, in order (parenthesised titles are not numbers)."""
    numbers = []
    for match in REFERENCE.finditer(docstring or ""):
        numbers += re.findall(r"\d{2}", re.sub(r"\([^)]*\)", "", match.group(1)))
    return numbers


def notebook_sources() -> dict[str, str]:
    """``{"04": text}``: each notebook's code cells, and the `code` spans of its markdown cells."""
    sources = {}
    for path in sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb")):
        parts = []
        for cell in json.loads(path.read_text())["cells"]:
            text = "".join(cell["source"])
            parts += [text] if cell["cell_type"] == "code" else re.findall(r"`([^`]+)`", text)
        sources[path.name[:2]] = "\n".join(parts)
    return sources


def documented_objects():
    """``(where, docstring, names that count as using it)`` for every module of speechlib, and every
    public function, class and method defined in it."""
    for module_info in pkgutil.iter_modules(speechlib.__path__):
        if module_info.name == "__main__":  # importing it would run the command line
            continue
        module = importlib.import_module(f"speechlib.{module_info.name}")
        public = {
            name: value
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (inspect.isfunction(value) or inspect.isclass(value))
            and value.__module__ == module.__name__
        }
        module_names = {*public, f"speechlib.{module_info.name}", f"speechlib {module_info.name}"}
        yield module.__name__, module.__doc__, module_names
        for name, value in public.items():
            yield f"{module.__name__}.{name}", value.__doc__, {name}
            if inspect.isclass(value):
                for method_name, method in vars(value).items():
                    if not method_name.startswith("_") and (inspect.isfunction(method) or isinstance(method, property)):
                        yield f"{module.__name__}.{name}.{method_name}", method.__doc__, {method_name}


def uses(source: str, names: set[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(name)}\b", source) for name in names if " " not in name) or any(
        name in source for name in names if " " in name
    )


REFERENCES = [
    (where, number, names) for where, docstring, names in documented_objects() for number in notebook_numbers(docstring)
]


def test_the_reference_pattern_reads_the_forms_in_use():
    assert notebook_numbers("Taught in notebooks 04 (training) and 05 (evaluation).") == ["04", "05"]
    assert notebook_numbers("Taught in notebook 01 (loading the dataset) and 02 (refining lengths).") == ["01", "02"]
    assert notebook_numbers("the batches.  Notebook 05.") == ["05"]
    assert notebook_numbers("notebook 02 (refining lengths) and notebook\n    04 (batches)") == ["02", "04"]
    assert notebook_numbers("Executes ``notebooks/NN_*.ipynb`` (1, 16000) in 35 words") == []
    assert len(REFERENCES) > 30  # the package's docstrings do name their notebooks


@pytest.mark.parametrize(("where", "number", "names"), REFERENCES, ids=[f"{w}->{n}" for w, n, _ in REFERENCES])
def test_a_docstring_names_a_notebook_that_uses_it(where, number, names):
    sources = notebook_sources()
    if number not in sources:
        pytest.fail(f"{where}: notebook {number} does not exist (notebooks: {', '.join(sources)})")
    if not uses(sources[number], names):
        pytest.fail(f"{where}: notebook {number} never uses {' or '.join(sorted(names))}")
