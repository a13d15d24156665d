"""Shared test helpers: fake Speech Commands trees, free ports, and the maintainer scripts of tools/.

The scripts in tools/ (synth, benchmark, experiments) are not part of the package: tools/ is put on
``sys.path`` here so their tests can ``import synth``. Test files import helpers with
``from conftest import write_tone_tree, free_port`` (pytest puts tests/ on ``sys.path``).
"""

import socket
import sys
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS_DIR))

# A fake tree in the real layout, a tone per word: the benchmark's full-size tree, and the tests' small ones.
from benchmark import write_tone_tree  # after the sys.path line above

__all__ = ["TOOLS_DIR", "free_port", "write_tone_tree"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for torchrun, JupyterLab, HTTP servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
