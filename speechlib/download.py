"""Getting the real Speech Commands set: a resumable, checksummed download and a safe extraction.

Taught in notebook 01. The steps, each its own small function::

    archive.part  --(_fetch: stream + resume + hash)-->  checksum ok?  --(os.replace)-->  archive
    archive       --(_extract: safe members, temporary folder, marker, os.replace)-->  tree

The tree lands where :func:`speechlib.data.find_root` looks for it (torchaudio's layout)::

    ROOT/speech_commands_v0.02.tar.gz                     # kept: re-extracting needs no download
    ROOT/SpeechCommands/speech_commands_v0.02/yes/...     # the dataset
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .data import DataError, looks_complete, real_root
from .paths import data_dir

# The official archives and their SHA-256 digests: version -> (url, sha256).
ARCHIVES = {
    "v0.02": (
        "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    ),
    "v0.01": (
        "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
        "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
    ),
}
CHUNK_BYTES = 1 << 20  # stream 1 MiB at a time: the 2.3 GB archive never sits in memory
TIMEOUT_S = 60  # give up on a silent connection after this long (the .part is kept)
MARKER = ".speechlib-complete"  # written inside the tree before it gets its real name


class DownloadError(OSError):
    """The network failed. The message names the URL and what happened; the partial file is kept."""


def download_speech_commands(
    version: str = "v0.02",
    root: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Download, verify and extract Speech Commands ``version`` under ``root``; return the tree's path.

    What ``speechlib download`` runs. ``root`` defaults to the project's data/ folder (speechlib.paths), where
    ``SpeechCommands()`` finds the tree by itself. Safe to interrupt and run again: a partial
    download resumes, a finished tree returns at once without touching the network, and a kept
    archive is re-verified and extracted without downloading it again. ``url`` and ``sha256``
    override the official archive (tests use a local server).
    """
    if version not in ARCHIVES:
        raise ValueError(f"unknown Speech Commands version {version!r}: choose one of {', '.join(ARCHIVES)}")
    official_url, official_sha256 = ARCHIVES[version]
    url, sha256 = url or official_url, (sha256 or official_sha256).lower()
    root = Path(root) if root is not None else data_dir()
    target = real_root(version, root)

    if (target / MARKER).is_file() or (target.is_dir() and looks_complete(target)):
        return target  # already there (ours, or extracted by torchaudio): no network at all
    if target.exists():
        raise DataError(
            f"{target}: exists but is not a complete Speech Commands tree; move it away or delete it, then run again"
        )

    archive = root / f"speech_commands_{version}.tar.gz"
    if archive.is_file():
        _check_sha256(archive, _sha256_of_file(archive), sha256)  # never trust a file we did not just verify
    else:
        part = archive.with_name(archive.name + ".part")
        actual = _fetch(url, part, progress)
        _check_sha256(part, actual, sha256)
        os.replace(part, archive)  # the final name only ever holds a verified archive
    _extract(archive, target, progress)
    return target


def _sha256_of_file(path: Path, hasher=None) -> str:
    """Hash a file in chunks (or feed it into ``hasher``, to continue with more bytes later)."""
    hasher = hasher or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _check_sha256(path: Path, actual: str, expected: str) -> None:
    """A file whose digest is wrong is deleted, so the next run starts afresh instead of trusting it."""
    if actual != expected:
        path.unlink()
        raise DataError(
            f"{path}: SHA-256 mismatch, expected {expected}, got {actual}; "
            "the file was deleted and nothing was extracted, run again to download it afresh"
        )


def _parse_content_range(header: str | None) -> tuple[int | None, int | None]:
    """``'bytes 100-199/200'`` -> ``(100, 200)``; ``'bytes */200'`` -> ``(None, 200)``."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (header or "").strip())
    if match is None:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _fetch(url: str, part: Path, progress: bool) -> str:
    """Stream ``url`` into ``part``, resuming what is there with a Range request. Returns the
    SHA-256 of the whole file. On a network error the bytes received so far stay in ``part``."""
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not have:
            raise DownloadError(f"{url}: the server answered HTTP {error.code} {error.reason}") from error
        # 416 Range Not Satisfiable: we asked for bytes past the end of the file.
        _, total = _parse_content_range(error.headers.get("Content-Range"))
        if total is None or total == have:
            return _sha256_of_file(part)  # the .part is whole already: the checksum decides
        part.unlink()  # longer than the file on the server: start again
        return _fetch(url, part, progress)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: could not connect ({reason})") from error

    with response:
        hasher = hashlib.sha256()
        if response.status == 206:  # Partial Content: the server resumes where we stopped
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise DownloadError(
                    f"{url}: asked for bytes {have}- but the server sent {start}-; "
                    f"deleted {part}, run again to download from the start"
                )
            _sha256_of_file(part, hasher)  # the digest covers the resumed prefix too
            mode = "ab"
        else:  # 200: the server ignored the Range header and sends the whole file
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
            have, mode = 0, "wb"
        with (
            open(part, mode) as f,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name,
                disable=not progress,
            ) as bar,
        ):
            try:
                while chunk := response.read(CHUNK_BYTES):
                    f.write(chunk)
                    hasher.update(chunk)
                    have += len(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as error:
                raise DownloadError(
                    f"{url}: transfer failed after {have} bytes ({error!r}); kept {part}, run again to resume"
                ) from error
    if total is not None and have < total:  # http.client reports a cut connection as a short read
        raise DownloadError(f"{url}: connection closed after {have} of {total} bytes; kept {part}, run again to resume")
    return hasher.hexdigest()


def _refuse_unsafe(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo:
    """Python's ``"data"`` filter (no ``..``, no links or devices escaping, no special files),
    plus one rule it lacks: it strips a leading ``/`` where we refuse the archive outright."""
    if member.name.startswith(("/", os.sep)):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, destination)


def _extract(archive: Path, target: Path, progress: bool) -> None:
    """Extract into a temporary folder beside ``target``, mark it complete, then rename it:
    a crash never leaves a half-extracted tree under the real name."""
    if not hasattr(tarfile, "data_filter"):
        raise RuntimeError("safe extraction needs Python >= 3.10.12 or >= 3.11.4 (tarfile filters)")
    staging = target.with_name(target.name + ".extracting")
    if staging.exists():
        shutil.rmtree(staging)  # left over from a run that crashed mid-extraction
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tqdm(tar, unit=" files", desc=f"extracting {archive.name}", disable=not progress)
            tar.extractall(staging, members=members, filter=_refuse_unsafe)
        (staging / MARKER).write_text(f"extracted from {archive.name}\n")
        os.replace(staging, target)
    except tarfile.FilterError as error:
        shutil.rmtree(staging)
        raise DataError(
            f"{archive}: refusing unsafe member {error.tarinfo.name!r} ({error}); nothing was extracted"
        ) from error
    except (tarfile.TarError, EOFError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{archive}: extraction failed ({error}); nothing was extracted") from error
