"""The Latent space page in a real browser: train a tiny model, click a point of the latent map
(a real click on one of the chart's SVG marks), move the interpolation slider; screenshots in
artifacts/screenshots/."""

import re
from urllib.parse import parse_qs, urlparse

from conftest import screenshot, wait_idle

# The index of a point whose mark is the topmost element at its own centre (so a click there
# lands on it, not on a neighbour or the path drawn over it), skipping the selected point.
CLICKABLE = """(group, skip) => {
  const paths = Array.from(group.querySelectorAll('path'));
  for (let k = 0; k < paths.length; k += 3) {
    const label = paths[k].getAttribute('aria-label') || '';
    if (label.endsWith('i: ' + skip)) continue;
    const r = paths[k].getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    if (document.elementFromPoint(x, y) === paths[k]) return k;
  }
  return -1;
}"""


def _query(page) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def _wait_for_text(page, pattern, timeout_s: float = 300) -> None:
    page.get_by_text(pattern).first.wait_for(timeout=timeout_s * 1000)
    wait_idle(page)


def test_click_a_latent_point_and_move_the_interpolation_slider(server, page):
    page.goto(f"{server}/latent-space?epochs=1")  # one epoch: a real model in seconds
    wait_idle(page)
    assert page.locator("[data-testid=stException]").count() == 0
    train = page.locator("[data-testid=stMain] button").filter(has_text=re.compile(r"^Train$"))
    if train.count():
        train.first.click()
    _wait_for_text(page, re.compile(r"^Input #183"))
    screenshot(page, "latent-space-trained")

    # the latent map: an SVG chart (under 2,000 marks), each held-out input a clickable mark
    chart = page.locator("[data-testid=stVegaLiteChart]").first
    assert chart.locator("svg").count() == 1 and chart.locator("canvas").count() == 0
    chart.evaluate("e => e.scrollIntoView({block: 'center'})")
    group = chart.locator("g.mark-symbol.role-mark").first  # the first symbol layer: points
    points = group.locator("path")
    assert points.count() == 500
    k = group.evaluate(CLICKABLE, "183")
    assert k >= 0, "some point is clickable"
    mark = points.nth(k)
    i = int(re.search(r"\bi: (\d+)", mark.get_attribute("aria-label")).group(1))
    mark.click()
    _wait_for_text(page, re.compile(rf"^Input #{i}\b"))
    assert _query(page).get("point") == str(i), page.url  # the click went into the link
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, "latent-space-clicked-point")

    # the interpolation slider
    slider = page.locator("[data-testid=stSlider]").filter(has_text="Interpolation position")
    box = slider.locator("input[type=range]")
    box.evaluate("e => e.scrollIntoView({block: 'center'})")
    box.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _wait_for_text(page, "Decoded at t = 0.60")
    assert _query(page).get("pos") == "0.6", page.url
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, "latent-space-interpolation")

    # a reload restores both from the link
    page.reload()
    wait_idle(page)
    _wait_for_text(page, re.compile(rf"^Input #{i}\b"))
    assert page.get_by_text("Decoded at t = 0.60").count() == 1


def test_the_comparison_opens_into_the_link_and_a_reload_keeps_it(server, page):
    page.goto(f"{server}/latent-space?cmp_data=ring8")
    wait_idle(page)  # a link to the comparison's settings opens it
    assert page.get_by_text("2-D data set").count() == 1
    page.goto(f"{server}/latent-space")
    wait_idle(page)
    assert page.get_by_text("2-D data set").count() == 0  # closed: not drawn
    assert "compare" not in _query(page)
    page.locator("[data-testid=stExpander]").filter(
        has_text="Show the three models on the same data").locator("summary").click()
    _wait_for_text(page, "2-D data set")
    assert _query(page).get("compare") == "true", page.url
    assert page.locator("[data-testid=stException]").count() == 0
    page.reload()
    wait_idle(page)
    assert page.get_by_text("2-D data set").count() == 1
    screenshot(page, "latent-space-comparison-open")
