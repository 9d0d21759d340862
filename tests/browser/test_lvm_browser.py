"""The "Latent variable models" page in a real browser: moving the x₀ slider changes the printed
log p(x₀) and ELBO, the URL records x₀, the charts are drawn, and a screenshot is saved."""

import time
from urllib.parse import parse_qs, urlparse

from conftest import screenshot, wait_idle

URL = "latent-variable-models"


def metric(pg, label: str) -> str:
    box = pg.locator(".ll-metric").filter(
        has=pg.locator(".ll-metric-label", has_text=label))
    return box.first.locator(".ll-metric-value").inner_text()


def changed(pg, before: tuple[str, str], timeout: float = 30.0) -> tuple[str, str]:
    """The printed (log p(x₀), ELBO) once they differ from before: on a loaded machine the
    rerun can start after wait_idle has already seen an idle page."""
    deadline = time.monotonic() + timeout
    while True:
        now = metric(pg, "log p(x₀)"), metric(pg, "ELBO")
        if now != before or time.monotonic() > deadline:
            return now
        pg.wait_for_timeout(200)


CHARTS = 2  # the joint with its marginals, Bayes' rule with q over the exact posterior


def bar_edges(pg) -> list[tuple[float, float]]:
    """The drawn ELBO bars (log p(x₀), ELBO, gap) as (left, right) pixels."""
    return [(b["x"], b["x"] + b["width"]) for b in
            (el.bounding_box() for el in pg.locator(".ll-bars .ll-bar").all())]


def charts_drawn(pg) -> int:
    pg.wait_for_function(
        "() => document.querySelectorAll('.vega-embed svg, .vega-embed canvas').length >= "
        f"{CHARTS}", timeout=30_000)
    return pg.locator(".vega-embed svg, .vega-embed canvas").count()


def test_moving_x0_updates_the_numbers_and_the_url(server, page):
    page.goto(f"{server}/{URL}")
    wait_idle(page)
    assert charts_drawn(page) == CHARTS  # waits for the first run to draw the page
    assert page.locator("[data-testid=stException]").count() == 0
    before = metric(page, "log p(x₀)"), metric(page, "ELBO")
    slider = page.locator("[data-testid=stSlider]").filter(has_text="Observed x₀") \
        .locator("input[type=range]")
    start = float(slider.input_value())
    slider.focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    wait_idle(page)
    moved = float(slider.input_value())
    assert moved > start
    after = changed(page, before)
    wait_idle(page)
    assert after[0] != before[0] and after[1] != before[1], (before, after)
    assert float(after[1]) <= float(after[0]) + 1e-4  # ELBO <= log p(x0)
    query = parse_qs(urlparse(page.url).query)
    assert float(query["x0"][0]) == moved, page.url
    assert page.locator("[data-testid=stException]").count() == 0
    assert charts_drawn(page) == CHARTS
    # the ELBO's bar and the gap's, end to end, reach exactly as far as log p(x₀)'s
    (ev_lo, ev_hi), (elbo_lo, elbo_hi), (gap_lo, gap_hi) = bar_edges(page)
    assert ev_hi - ev_lo > 100 and elbo_lo == ev_lo
    assert abs(gap_lo - elbo_hi) < 0.5 and abs(gap_hi - ev_hi) < 0.5
    screenshot(page, "lvm-x0-moved")


def test_two_dimensional_latent_from_a_link(server, page):
    page.goto(f"{server}/{URL}?dim=2&samples=true&presenter=true")
    wait_idle(page)
    assert charts_drawn(page) == CHARTS
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.locator("[data-testid=stSlider]").filter(has_text="z₀ along z₂").count() == 1
    screenshot(page, "lvm-2d-presenter")
