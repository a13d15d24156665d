"""End-to-end tests of `speechlib download` against a local HTTP server (127.0.0.1 only).

The server serves a small Speech Commands look-alike archive built here, supports Range
requests, and can misbehave on demand: cut the connection, ignore Range, serve another file.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import speechlib
from speechlib import cli, download
from speechlib.data import DataError, real_root
from speechlib.download import DownloadError, download_speech_commands
from testkit import free_port

WORDS = ("yes", "no", "up")
SPEAKERS = ("0a7c2a8d", "1b2c3d4e", "9f8e7d6c")  # speaker i's clips: validation (0), testing (1), training (2)


# ---------------------------------------------------------------------------------------------
# A tiny archive in the official layout: ./yes/<speaker>_nohash_0.wav, split lists, noise.


def _wav_bytes(seed: int, num_samples: int = 1600) -> bytes:
    samples = np.random.default_rng(seed).uniform(-0.5, 0.5, num_samples).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, samples, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _build_archive(extra=None) -> bytes:
    """The .tar.gz bytes; ``extra(tar)`` may append more members (after the normal ones)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for w, word in enumerate(WORDS):
            for s, speaker in enumerate(SPEAKERS):
                _add_file(tar, f"./{word}/{speaker}_nohash_0.wav", _wav_bytes(10 * w + s))
        _add_file(tar, "./validation_list.txt", "".join(f"{w}/{SPEAKERS[0]}_nohash_0.wav\n" for w in WORDS).encode())
        _add_file(tar, "./testing_list.txt", "".join(f"{w}/{SPEAKERS[1]}_nohash_0.wav\n" for w in WORDS).encode())
        _add_file(tar, "./_background_noise_/white_noise.wav", _wav_bytes(99, num_samples=32000))
        if extra is not None:
            extra(tar)
    return buffer.getvalue()


ARCHIVE = _build_archive()
ARCHIVE_SHA256 = hashlib.sha256(ARCHIVE).hexdigest()


# ---------------------------------------------------------------------------------------------
# The server: records every request's Range header; `cut_after`, `ignore_range` misbehave.


class ArchiveServer:
    def __init__(self):
        self.payload = ARCHIVE
        self.ranges: list[str | None] = []  # the Range header of every request, in order
        self.cut_after: int | None = None  # first request only: send this many bytes, then hang up
        self.ignore_range = False  # answer 200 with the whole file even to a Range request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                payload, start = server.payload, 0
                if self.headers.get("Range") and not server.ignore_range:
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    if start >= len(payload):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(payload)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                else:
                    self.send_response(200)
                body = payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None and len(server.ranges) == 1:
                    body = body[: server.cut_after]  # promised more: the client sees a cut connection
                self.wfile.write(body)

            def log_message(self, *args):  # keep pytest output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/speech_commands_test.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")  # hermetic: never route 127.0.0.1 through a proxy
    archive_server = ArchiveServer()
    yield archive_server
    archive_server.close()


def _get(server, root, **kwargs):
    return download_speech_commands(
        "v0.02", root, url=server.url, sha256=kwargs.pop("sha256", ARCHIVE_SHA256), progress=False, **kwargs
    )


def _leftovers(root: Path) -> list[str]:
    """Everything under root, as relative paths: to check what a failed call left behind."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---------------------------------------------------------------------------------------------


def test_full_download_verifies_extracts_and_loads(server, tmp_path):
    path = _get(server, tmp_path)

    assert path == real_root("v0.02", tmp_path) == tmp_path / "SpeechCommands" / "speech_commands_v0.02"
    assert (path / download.MARKER).is_file()
    assert (tmp_path / "speech_commands_v0.02.tar.gz").read_bytes() == ARCHIVE  # kept, verified
    assert not (tmp_path / "speech_commands_v0.02.tar.gz.part").exists()
    assert server.ranges == [None]  # one plain request

    everything = speechlib.SpeechCommands(root=path, verbose=False)
    assert everything.labels == sorted(WORDS)
    assert len(everything) == 9
    for subset, speaker in (("validation", SPEAKERS[0]), ("testing", SPEAKERS[1]), ("training", SPEAKERS[2])):
        split = speechlib.SpeechCommands(root=path, subset=subset, verbose=False)
        assert len(split) == 3 and set(split.speakers) == {speaker}
    waveform, sample_rate, label, speaker_id, utterance = everything[everything.files.index("up/1b2c3d4e_nohash_0.wav")]
    expected, _ = sf.read(io.BytesIO(_wav_bytes(10 * 2 + 1)), dtype="float32")
    assert (sample_rate, label, speaker_id, utterance) == (16000, "up", "1b2c3d4e", 0)
    np.testing.assert_array_equal(waveform.numpy()[0], expected)
    assert [p.name for p in everything.noise_files()] == ["white_noise.wav"]


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    cut = len(ARCHIVE) // 3
    server.cut_after = cut
    part = tmp_path / "speech_commands_v0.02.tar.gz.part"

    with pytest.raises(DownloadError) as error:
        _get(server, tmp_path)
    message = str(error.value)
    assert server.url in message and f"after {cut} of {len(ARCHIVE)} bytes" in message and "resume" in message
    assert part.read_bytes() == ARCHIVE[:cut]  # kept for the next call
    assert not (tmp_path / "SpeechCommands").exists()

    path = _get(server, tmp_path)
    assert server.ranges == [None, f"bytes={cut}-"]
    assert (tmp_path / "speech_commands_v0.02.tar.gz").read_bytes() == ARCHIVE
    assert len(speechlib.SpeechCommands(root=path, verbose=False)) == 9


def test_wrong_checksum_is_refused_and_the_file_deleted(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(DataError) as error:
        _get(server, tmp_path, sha256=wrong)
    message = str(error.value)
    assert "speech_commands_v0.02.tar.gz" in message
    assert wrong in message and ARCHIVE_SHA256 in message
    assert _leftovers(tmp_path) == []  # bad file deleted, nothing extracted


def test_a_kept_archive_is_verified_again_before_extraction(server, tmp_path):
    archive = tmp_path / "speech_commands_v0.02.tar.gz"
    archive.write_bytes(ARCHIVE[:-1] + b"!")  # tampered with after download
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        _get(server, tmp_path)
    assert _leftovers(tmp_path) == []
    assert server.ranges == []  # refused without a download


def _dot_dot(tar, outside):
    _add_file(tar, "../evil.txt", b"pwned")


def _absolute(tar, outside):
    _add_file(tar, str(outside / "evil.txt"), b"pwned")


def _symlink_to_etc(tar, outside):
    link = tarfile.TarInfo("./yes/etc")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    tar.addfile(link)


def _link_escaping(tar, outside):
    link = tarfile.TarInfo("./no/escape")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../outside"
    tar.addfile(link)


def _device(tar, outside):
    device = tarfile.TarInfo("./yes/null")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    tar.addfile(device)


@pytest.mark.parametrize("add_evil", [_dot_dot, _absolute, _symlink_to_etc, _link_escaping, _device])
def test_malicious_archive_is_refused(server, tmp_path, add_evil):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    server.payload = _build_archive(lambda tar: add_evil(tar, outside))  # evil member comes last
    with pytest.raises(DataError) as error:
        _get(server, root, sha256=hashlib.sha256(server.payload).hexdigest())
    message = str(error.value)
    assert "speech_commands_v0.02.tar.gz" in message and "unsafe member" in message
    assert _leftovers(outside) == []
    assert not (tmp_path / "evil.txt").exists()
    # only the verified archive remains: no half-extracted tree, no staging folder
    assert _leftovers(root) == ["SpeechCommands", "speech_commands_v0.02.tar.gz"]


def test_second_call_makes_no_request(server, tmp_path):
    path = _get(server, tmp_path)
    assert _get(server, tmp_path) == path
    assert len(server.ranges) == 1

    # the tree gone but the verified archive kept: extract again, still no request
    shutil.rmtree(path)
    assert _get(server, tmp_path) == path
    assert len(server.ranges) == 1
    assert len(speechlib.SpeechCommands(root=path, verbose=False)) == 9


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    stale = b"stale bytes that must not stay in front"
    (tmp_path / "speech_commands_v0.02.tar.gz.part").write_bytes(stale)
    server.ignore_range = True
    path = _get(server, tmp_path)
    assert server.ranges == [f"bytes={len(stale)}-"]  # asked to resume, got 200 and the whole file
    assert (tmp_path / "speech_commands_v0.02.tar.gz").read_bytes() == ARCHIVE
    assert (path / download.MARKER).is_file()


def test_416_on_a_complete_part_goes_straight_to_verification(server, tmp_path):
    (tmp_path / "speech_commands_v0.02.tar.gz.part").write_bytes(ARCHIVE)
    path = _get(server, tmp_path)
    assert server.ranges == [f"bytes={len(ARCHIVE)}-"]
    assert (path / download.MARKER).is_file()


def test_416_on_a_too_long_part_restarts(server, tmp_path):
    (tmp_path / "speech_commands_v0.02.tar.gz.part").write_bytes(ARCHIVE + b"junk")
    path = _get(server, tmp_path)
    assert server.ranges == [f"bytes={len(ARCHIVE) + 4}-", None]
    assert (path / download.MARKER).is_file()


def test_unreachable_server_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    url = f"http://127.0.0.1:{free_port()}/speech_commands_v0.02.tar.gz"  # nothing listens there
    with pytest.raises(DownloadError) as error:
        download_speech_commands("v0.02", tmp_path, url=url, sha256=ARCHIVE_SHA256, progress=False)
    assert url in str(error.value) and "could not connect" in str(error.value)


def test_unknown_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match="v0.03"):
        download_speech_commands("v0.03", tmp_path)


def test_cli_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "speechlib", "download", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--version" in result.stdout and "--root" in result.stdout and "v0.01" in result.stdout


def test_cli_downloads_from_the_local_server(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(download.ARCHIVES, "v0.01", (server.url, ARCHIVE_SHA256))
    assert cli.main(["download", "--version", "v0.01", "--root", str(tmp_path)]) == 0
    path = real_root("v0.01", tmp_path)
    assert str(path) in capsys.readouterr().out
    assert len(speechlib.SpeechCommands(root=path, verbose=False)) == 9


def test_cli_reports_a_failure_without_a_traceback(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(download.ARCHIVES, "v0.02", (server.url, "f" * 64))
    assert cli.main(["download", "--root", str(tmp_path)]) == 1
    assert "SHA-256 mismatch" in capsys.readouterr().err


def test_a_tree_extracted_elsewhere_is_accepted_without_a_request(server, tmp_path):
    tree = real_root("v0.02", tmp_path)  # e.g. torchaudio's download: complete, but no marker of ours
    for i in range(30):
        (tree / f"word{i:02d}").mkdir(parents=True)
    (tree / "validation_list.txt").write_text("")
    (tree / "testing_list.txt").write_text("")
    assert _get(server, tmp_path) == tree
    assert server.ranges == []


def test_an_incomplete_tree_under_the_real_name_is_not_overwritten(server, tmp_path):
    tree = real_root("v0.02", tmp_path)
    (tree / "yes").mkdir(parents=True)
    with pytest.raises(DataError, match="not a complete Speech Commands tree"):
        _get(server, tmp_path)
    assert server.ranges == [] and _leftovers(tmp_path) == [
        "SpeechCommands",
        "SpeechCommands/speech_commands_v0.02",
        "SpeechCommands/speech_commands_v0.02/yes",
    ]


def test_a_staging_folder_left_by_a_crash_is_replaced(server, tmp_path):
    staging = tmp_path / "SpeechCommands" / "speech_commands_v0.02.extracting"
    (staging / "half").mkdir(parents=True)
    path = _get(server, tmp_path)
    assert not staging.exists() and not (path / "half").exists()
    assert len(speechlib.SpeechCommands(root=path, verbose=False)) == 9
