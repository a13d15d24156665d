"""Writing files so that a crash never leaves a half-written one under the real name."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", permissions: int = 0o644, **open_args):
    """Open a temporary file beside ``path`` for writing; when the block ends without an error,
    flush it to disk and rename it to ``path`` (atomic on POSIX and Windows). On an error the
    temporary file is removed and ``path`` keeps its old content. Every file speechlib saves
    (models, checkpoints, metrics, the cache's index) goes through it.

    >>> with atomic_write("models/notes.txt", "w") as f:   # doctest: +SKIP
    ...     f.write("trained for 5 epochs")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, permissions)  # mkstemp makes private 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_marker(path: str | os.PathLike, content: dict) -> None:
    """Write ``content`` as JSON and force it to disk: the last file of a cache being built (decoded clips,
    embeddings), whose presence says the folder is complete once it is renamed into place."""
    with open(path, "w") as f:
        json.dump(content, f)
        f.flush()
        os.fsync(f.fileno())
