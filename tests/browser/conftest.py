"""Browser tests: a real Streamlit server and Debian's Chromium driven by Playwright.

Outside CI a missing Chromium or Playwright skips these tests; in CI (CI=true) it fails them:
a skipped browser test would hide a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LATENT_LAB_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """A Streamlit server on a free port with its own run cache."""
    port = _free_port()
    cache = tempfile.mkdtemp(prefix="latent-lab-browser-cache-")
    env = {**os.environ, "LATENT_LAB_CACHE": cache, "PYTHONPATH": str(ROOT)}
    log = open(Path(cache) / "server.log", "w")  # a file: a pipe nobody reads could fill up
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("streamlit exited:\n" + (Path(cache) / "server.log").read_text())
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start in 60 s")
    yield url
    log.close()
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    pg = context.new_page()
    yield pg
    context.close()


IDLE_JS = """() => {
  const s = document.querySelector('[data-test-script-state]');
  return !!s && s.getAttribute('data-test-script-state') === 'notRunning'
      && !!document.querySelector('[data-testid=stMain] h1')
      && !document.querySelector('[data-testid=stSkeleton]');
}"""


def wait_idle(pg, timeout: float = 30_000) -> None:
    """Wait until the page has drawn and its script has finished running.

    Three conditions, each needed on a cold or loaded machine:
    - a title in the main area: "notRunning" is also the state before the first run;
    - the script state "notRunning";
    - no ``stSkeleton`` left: Streamlit's frontend loads each element's component (slider,
      Vega chart, ...) lazily and shows a skeleton until its code has arrived and parsed, so
      right after a cold load the script can have finished while the sliders are still
      skeletons (that made "every page has at least one slider" fail in CI).
    Checked twice, 250 ms apart, so that a rerun that starts a moment after an interaction
    is waited for too (a test that needs a specific change should still wait for it)."""
    pg.wait_for_function(IDLE_JS, timeout=timeout)
    pg.wait_for_timeout(250)
    pg.wait_for_function(IDLE_JS, timeout=timeout)


def wait_for_query(pg, key: str, timeout: float = 30_000) -> str:
    """The value of query parameter key once the URL has it (widgets write it asynchronously)."""
    pg.wait_for_function(
        "k => new URLSearchParams(window.location.search).has(k)", arg=key, timeout=timeout)
    return pg.evaluate("k => new URLSearchParams(window.location.search).get(k)", key)


def screenshot(pg, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
