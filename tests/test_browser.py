"""Notebooks 07 and 01 in a real browser: JupyterLab driven through Playwright in Debian's Chromium.

Chromium's fake microphone plays a WAV of a spoken word (a bundled *test* clip, never trained on), the
recorder widget of notebook 07 records it, and the word must be among the model's top 3 in the page.
Screenshots go to tests/artifacts/browser/. Needs `apt-get install chromium`; never downloads a browser.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

import speechlib
from speechlib.data import BUNDLED_ROOT, REPO_DIR

CHROMIUM = Path("/usr/bin/chromium")
MODEL_PATH = speechlib.DEFAULT_MODEL  # the shipped transfer model: what the Recorder and "your own voice" use
ARTIFACTS = REPO_DIR / "tests" / "artifacts" / "browser"
NOTEBOOK_07 = "07_your_own_voice.ipynb"
NOTEBOOK_01 = "01_loading_the_dataset.ipynb"
WORD = "no"  # the fake microphone says it: another word than notebook 07's example ("yes")
FAKE_MIC_RATE = 48000  # what most sound cards record at; Chromium converts it to its own rate
CHROMIUM_ARGS = [
    # root, no network, no GPU: only what a test needs
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # a fake microphone that plays a file (in a loop), and no permission prompt
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
# JupyterLab settings for a clean, quiet session: start the kernel without asking, no news pop-up,
# and never save the (copied) notebooks.
LAB_SETTINGS = {
    "notebook-extension/tracker": {"autoStartDefaultKernel": True},
    "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "docmanager-extension/plugin": {"autosave": False},
}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium`"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_test_clip(word: str) -> Path:
    """The first clip of ``word`` in the bundled testing list: a voice no model here was trained on."""
    test_list = (BUNDLED_ROOT / "testing_list.txt").read_text().split()
    return BUNDLED_ROOT / min(name for name in test_list if name.startswith(word + "/"))


def make_fake_microphone_wav(clip_path: Path, path: Path) -> Path:
    """The clip (up to 1 s) at 48 kHz with 0.25 s of silence before and 1.25 s after, as 16-bit WAV.

    Each getUserMedia call restarts the file, so the widget's 1.5 s recording holds the whole clip.
    """
    clip = AF.resample(speechlib.read_clip(clip_path), speechlib.SAMPLE_RATE, FAKE_MIC_RATE)  # (1, <= 48000)
    silence_before = torch.zeros(1, FAKE_MIC_RATE // 4)
    silence_after = torch.zeros(1, FAKE_MIC_RATE * 5 // 4)
    recording = torch.cat([silence_before, clip, silence_after], dim=1)  # (1, n): at most 2.5 s
    sf.write(path, recording[0].numpy(), FAKE_MIC_RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def fake_microphone_wav(tmp_path_factory) -> Path:
    wav = make_fake_microphone_wav(first_test_clip(WORD), tmp_path_factory.mktemp("microphone") / f"{WORD}.wav")
    # The widget can only be as right as the model: check the model on the file first, without a browser.
    model, labels = speechlib.load_model(MODEL_PATH)
    top3 = [word for word, _ in speechlib.classify_file(wav, model, labels)]
    assert WORD in top3, f"the model itself does not hear {WORD!r} in {wav} (top 3: {top3}): not a browser problem"
    return wav


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving copies of notebooks 01 and 07; yields (base_url, token)."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    for name in (NOTEBOOK_01, NOTEBOOK_07):  # copies: the stored notebooks are never touched
        shutil.copy(REPO_DIR / "notebooks" / name, root / name)
    for name, values in LAB_SETTINGS.items():
        settings_file = home / "settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        SPEECHLIB_DATA=str(BUNDLED_ROOT),  # the set the stored outputs were made with
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI often run as root
    log_path = home / "jupyterlab.log"
    with open(log_path, "w") as log:
        lab = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/api/status?token={token}", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if lab.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; its log:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base_url, token
    finally:
        lab.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()


@pytest.fixture(scope="module")
def browser(fake_microphone_wav):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS + [f"--use-file-for-fake-audio-capture={fake_microphone_wav}"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def open_and_run_all(page, jupyter_lab, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab, wait for its kernel, and click Run > Run All Cells."""
    base_url, token = jupyter_lab
    page.goto(f"{base_url}/lab/tree/{notebook}?reset&token={token}")  # reset: only this notebook open
    page.get_by_text(re.compile(r"\| Idle$")).wait_for(timeout=60_000)  # status bar: the kernel is ready
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator('li[data-command="runmenu:run-all"]').click()


def wait_until_done(page, notebook: str, timeout_ms: int = 90_000) -> None:
    """Wait until no cell is running or queued (`[*]`); fail on an error output or a cell left unrun."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prompts = ".jp-CodeCell .jp-InputArea-prompt"
    try:
        page.wait_for_function(
            f"""() => {{
                const prompts = [...document.querySelectorAll('{prompts}')].map(p => p.textContent);
                return prompts.length > 0 && /\\d/.test(prompts[0]) && !prompts.some(p => p.includes('*'));
            }}""",
            timeout=timeout_ms,
        )
    finally:
        page.screenshot(path=ARTIFACTS / f"{Path(notebook).stem}_after_run.png")
    # JupyterLab renders an exception as stderr text with a traceback
    errors = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').filter(has_text="Traceback")
    assert errors.count() == 0, f"{notebook} raised an error in the browser:\n{errors.first.inner_text()}"
    texts = page.locator(prompts).evaluate_all("prompts => prompts.map(p => p.textContent)")  # also off-screen ones
    unrun = [text for text in texts if not re.search(r"\d", text)]
    assert not unrun, f"{len(unrun)} cells of {notebook} did not run"


def test_recorder_hears_the_fake_microphone(page, jupyter_lab):
    open_and_run_all(page, jupyter_lab, NOTEBOOK_07)
    wait_until_done(page, NOTEBOOK_07)
    recorder = page.locator(".speechlib-recorder")
    status = recorder.locator(".speechlib-status")
    assert status.inner_text().startswith("yes_48k.wav:")  # the notebook showed its example first

    recorder.locator(".speechlib-record").click()
    status.filter(has_text=re.compile(r"^recording: ")).wait_for(timeout=30_000)
    recorder.locator("img.speechlib-plot").wait_for()
    recorder.scroll_into_view_if_needed()
    recorder.screenshot(path=ARTIFACTS / "07_recorder.png")
    page.screenshot(path=ARTIFACTS / "07_window.png")

    assert recorder.locator(".speechlib-error").count() == 0
    top3 = recorder.locator(".speechlib-top3 li").all_inner_texts()  # e.g. ["no 91.0%", "go 3.2%", "down 1.1%"]
    assert len(top3) == 3, top3
    assert WORD in [line.split()[0] for line in top3], f"{WORD!r} is not in the widget's top 3: {top3}"
    assert recorder.locator("audio.speechlib-playback").get_attribute("src").startswith("blob:")


def test_recorder_explains_a_denied_or_missing_microphone_and_takes_a_file(page, jupyter_lab, fake_microphone_wav):
    open_and_run_all(page, jupyter_lab, NOTEBOOK_07)
    wait_until_done(page, NOTEBOOK_07)
    recorder = page.locator(".speechlib-recorder")
    error = recorder.locator(".speechlib-error")
    # What the browser does when the user blocks the microphone, or there is none
    simulated = [("NotAllowedError", "Microphone access was denied"), ("NotFoundError", "No microphone found")]
    for name, message in simulated:
        page.evaluate(
            "name => { navigator.mediaDevices.getUserMedia = () => "
            "Promise.reject(new DOMException('simulated by the test', name)); }",
            name,
        )
        recorder.locator(".speechlib-record").click()
        error.filter(has_text=message).wait_for(timeout=10_000)
        assert recorder.locator(".speechlib-top3 li").count() == 0  # no stale guesses next to an error
        assert recorder.locator("img.speechlib-plot").is_hidden() and recorder.locator("audio").is_hidden()
    recorder.screenshot(path=ARTIFACTS / "07_recorder_no_microphone.png")

    recorder.locator("input[type=file]").set_input_files(fake_microphone_wav)  # "or classify a file"
    uploaded = re.compile(rf"^{re.escape(fake_microphone_wav.name)}: [\d.]+ s at {FAKE_MIC_RATE} Hz")
    recorder.locator(".speechlib-status").filter(has_text=uploaded).wait_for()
    recorder.screenshot(path=ARTIFACTS / "07_recorder_file.png")
    assert error.count() == 0
    top3 = recorder.locator(".speechlib-top3 li").all_inner_texts()
    assert WORD in [line.split()[0] for line in top3], f"{WORD!r} is not in the widget's top 3: {top3}"


def test_notebook_01_renders_audio_and_the_clip_browser(page, jupyter_lab):
    open_and_run_all(page, jupyter_lab, NOTEBOOK_01)
    wait_until_done(page, NOTEBOOK_01)
    notebook = page.locator(".jp-Notebook")
    assert notebook.locator(".jp-OutputArea-output audio").count() > 0  # IPython.display.Audio players

    # The clip browser (speechlib.clip_browser): a word dropdown, a clip slider, and a player in its output.
    clip_browser = notebook.locator(".widget-vbox").filter(has=page.locator(".widget-dropdown")).last
    clip_browser.scroll_into_view_if_needed()
    dropdown = clip_browser.locator(".widget-dropdown select")
    assert dropdown.input_value() == "yes"
    assert clip_browser.locator(".widget-slider").count() == 1
    clip_browser.locator("audio").wait_for()
    dropdown.select_option("no")  # the widget talks to the kernel: choosing a word shows one of its clips
    clip_browser.locator(".widget-output").filter(has_text=re.compile(r"\bno/")).wait_for(timeout=15_000)
    plot = clip_browser.locator(".widget-output img")  # its waveform plot, drawn last
    plot.wait_for(timeout=15_000)
    plot.evaluate("img => img.decode()")  # painted, not just in the page
    clip_browser.screenshot(path=ARTIFACTS / "01_clip_browser.png")
    page.screenshot(path=ARTIFACTS / "01_window.png")
