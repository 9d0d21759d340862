"""The GAN page in a real browser: a short ring8 run trained through the UI while the live view
redraws, its replay (step, start, play), the mode-collapse preset, the digits GAN with its
inversion panel, and presenter mode; screenshots in artifacts/screenshots/.

LATENT_LAB_TEST_URL=http://localhost:PORT runs these against a server already running (with
its own cache) instead of starting one."""

import os
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import screenshot, wait_idle

TRAIN_TIMEOUT = 300_000  # ms: the machine is shared, training may queue
DIGITS_TIMEOUT = 600_000  # the digits GAN trains for about a minute on an idle core
LIVE_SECONDS = 5.0  # how long the redraw rate is measured while the run trains
MIN_REDRAWS_PER_SECOND = 1.0  # the target is 2 (0.4 s polls make 2.5 the most);
#                               a loaded machine gets less: benchmarks/browser_latency.py
#                               --during-training measures it


@pytest.fixture(scope="module")
def base(request):
    url = os.environ.get("LATENT_LAB_TEST_URL")
    return url.rstrip("/") if url else request.getfixturevalue("server")


def _tall_screenshot(page, name, height=3400):
    page.set_viewport_size({"width": 1400, "height": height})
    wait_idle(page)
    page.wait_for_timeout(500)
    screenshot(page, name)
    page.set_viewport_size({"width": 1400, "height": 950})


def _no_exception(page):
    assert page.locator("[data-testid=stException]").count() == 0


def _shown_step(page) -> int:
    text = page.get_by_text(re.compile(r"^Showing the model at step")).inner_text()
    return int(re.search(r"step ([\d,]+)", text).group(1).replace(",", ""))


WATCH = """() => { window.__steps = []; window.__timer = setInterval(() => {
    const p = document.querySelector('[data-testid=stProgress]');
    const m = p && p.innerText.match(/step ([\\d,]+)/);
    const s = window.__steps;
    if (m && (s.length === 0 || s[s.length - 1][1] !== m[1])) s.push([performance.now(), m[1]]);
  }, 20); }"""


def test_train_ring8_watch_it_live_then_replay(base, page):
    page.goto(f"{base}/gan?steps=5000&seed=31")
    wait_idle(page)
    _no_exception(page)
    button = page.get_by_role("button", name="Train", exact=True)
    if button.count():  # not trained yet (a shared server may have it cached)
        page.evaluate(WATCH)
        button.click()
        page.locator("[data-testid=stProgress]").first.wait_for(timeout=TRAIN_TIMEOUT)
        page.get_by_text(re.compile(r"^Snapshot at step")).first.wait_for(timeout=60_000)
        page.wait_for_timeout(LIVE_SECONDS * 1000)
        steps = page.evaluate("window.__steps")
        screenshot(page, "gan-live-training")
        if page.locator("[data-testid=stProgress]").count():  # still training
            span = (steps[-1][0] - steps[0][0]) / 1000
            rate = (len(steps) - 1) / span if span > 0 else 0.0
            print(f"live view: {len(steps)} distinct steps shown, {rate:.2f} redraws/s")
            assert rate >= MIN_REDRAWS_PER_SECOND, steps
            # the two lab panels, the losses and the mode coverage are drawn live
            assert page.locator("[data-testid=stVegaLiteChart]").count() >= 3
    page.get_by_text("Replay training").wait_for(timeout=TRAIN_TIMEOUT)
    wait_idle(page)
    _no_exception(page)
    assert _shown_step(page) == 5000
    assert page.locator("[data-testid=stMetric]").filter(has_text="Modes covered") \
        .inner_text().endswith("of 8")
    _tall_screenshot(page, "gan-ring8-trained")

    page.get_by_role("button", name="Start").click()
    wait_idle(page)
    assert _shown_step(page) == 0
    assert parse_qs(urlparse(page.url).query).get("t") == ["0"]
    page.get_by_role("button", name="Step", exact=True).click()
    wait_idle(page)
    assert _shown_step(page) > 0
    screenshot(page, "gan-ring8-replay-step")
    # play: the replay advances on its own, a snapshot every 0.6 s, without a click
    page.get_by_text("Play the replay").click()
    page.wait_for_timeout(300)
    seen = set()
    end = time.time() + 6
    while time.time() < end and len(seen) < 4:
        seen.add(_shown_step(page))
        page.wait_for_timeout(150)
    assert len(seen) >= 3, seen
    page.get_by_role("button", name="Step back").click()  # pauses
    wait_idle(page)
    paused = _shown_step(page)
    page.wait_for_timeout(1500)
    assert _shown_step(page) == paused
    _no_exception(page)


def test_the_collapse_preset_switches_every_control(base, page):
    page.goto(f"{base}/gan")
    wait_idle(page)
    page.locator("[data-testid=stSidebar]").get_by_text("Mode collapse").click()
    wait_idle(page)
    query = parse_qs(urlparse(page.url).query)
    assert query.get("preset") == ["Mode collapse"]
    alert = page.locator("[data-testid=stAlert]").filter(has_text="Preset: Mode collapse")
    assert alert.count() == 1 and "20 times faster" in alert.inner_text()
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("Training", exact=True).click()
    wait_idle(page)
    d_lr = sidebar.locator("[data-testid=stSlider]").filter(has_text="Discriminator learning")
    assert "0.01" in d_lr.inner_text()
    _no_exception(page)
    screenshot(page, "gan-collapse-preset")


def test_digits_gan_samples_interpolation_and_inversion(base, page):
    page.goto(f"{base}/gan?digit=230")
    wait_idle(page)
    button = page.get_by_role("button", name="Train the digits GAN", exact=True)
    if button.count():
        button.click()
    page.get_by_text(re.compile(r"^Found in .* s of optimisation")).wait_for(
        timeout=DIGITS_TIMEOUT)
    wait_idle(page)
    _no_exception(page)
    assert page.get_by_text("Digit #230: a 4.").count() == 1
    metrics = page.locator("[data-testid=stMetric]")
    error = metrics.filter(has_text="Squared error").inner_text()
    assert re.search(r"\d+\.\d", error)
    # the position slider moves the enlarged frame along the path
    pos = page.locator("[data-testid=stSlider]").filter(has_text="Position along the path")
    pos.locator("input[type=range]").focus()
    page.keyboard.press("ArrowRight")
    wait_idle(page)
    assert page.get_by_text(re.compile(r"^t = 0\.55, ‖z‖")).count() == 1
    _tall_screenshot(page, "gan-digits", height=4200)
    _no_exception(page)


def test_presenter_mode(base, page):
    page.goto(f"{base}/gan?presenter=true")
    wait_idle(page)
    _no_exception(page)
    _tall_screenshot(page, "gan-presenter")
