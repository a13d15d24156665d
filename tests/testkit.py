"""Shared test helpers: fake Speech Commands trees, free ports, and the maintainer scripts of tools/.

Test files ``from testkit import write_tone_tree, free_port``: a module of its own, because notebooks/
has a conftest.py too, and ``from conftest import ...`` finds whichever conftest was imported first.
The scripts in tools/ (synth, benchmark, experiments) are not part of the package: tools/ is put on
``sys.path`` here (tests/conftest.py imports this module first) so their tests can ``import synth``.
"""

import socket
import sys
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
if str(TOOLS_DIR) not in sys.path:
    sys.path.insert(0, str(TOOLS_DIR))

# A fake tree in the real layout, a tone per word: the benchmark's full-size tree, and the tests' small ones.
from benchmark import write_tone_tree

__all__ = ["TOOLS_DIR", "free_port", "write_tone_tree"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for torchrun, JupyterLab, HTTP servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
