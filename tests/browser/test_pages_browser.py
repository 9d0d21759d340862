"""Every page in a real browser: it loads, a slider moves, the URL records it, a reload
restores it, and a screenshot is saved (artifacts/screenshots/)."""

import math
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import screenshot, wait_for_query, wait_idle
from dashboard.nav import existing_pages

PAGES = existing_pages()
SLIDER = "[data-testid=stSlider] input[type=range]"


def _key_of(slider) -> str:
    """The widget key of a slider, from its container's class st-key-<key> (every control is
    drawn with a key, which is also its URL name)."""
    box = slider.locator("xpath=ancestor::*[@data-testid='stElementContainer'][1]")
    keys = [c[len("st-key-"):] for c in (box.get_attribute("class") or "").split()
            if c.startswith("st-key-")]
    assert keys, "a slider without a key cannot be in the URL"
    return keys[0]


def _shown(pg, key: str) -> str:
    """What the slider with this key shows on its thumb (a select slider shows a label)."""
    return pg.locator(f".st-key-{key} [data-testid=stSliderThumbValue]").first.inner_text()


def _same_value(url_value: str, slider_value: str, shown: str) -> bool:
    """A number slider's URL value is its value; a select slider's is the label on its thumb
    (its range input holds the option's index)."""
    if url_value == shown:
        return True
    try:
        return math.isclose(float(url_value), float(slider_value), rel_tol=1e-9, abs_tol=1e-9)
    except ValueError:
        return False


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_slider_moves_url_records_reload_restores(server, page, info):
    page.goto(f"{server}/{info.url_path}")
    wait_idle(page)
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.locator(SLIDER).count() > 0, "every page has at least one slider"
    key = _key_of(page.locator(SLIDER).first)
    slider = page.locator(f".st-key-{key} input[type=range]")
    before = slider.input_value()
    at_end = float(before) >= float(slider.get_attribute("max"))
    slider.focus()
    for _ in range(2):  # a slider already at its end moves the other way
        page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
    after = slider.input_value()
    assert after != before
    recorded = wait_for_query(page, key)  # the moved slider's own key, not just any query
    wait_idle(page)
    shown = _shown(page, key)
    assert _same_value(recorded, after, shown), (key, recorded, after, shown, page.url)
    page.reload()
    wait_idle(page)
    restored = page.locator(f".st-key-{key} input[type=range]")
    assert restored.input_value() == after, f"the reload did not restore {key}={recorded}"
    assert _shown(page, key) == shown
    assert parse_qs(urlparse(page.url).query).get(key) == [recorded]
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.locator("[data-testid=stAlert]").filter(has_text="could not be used").count() == 0
    screenshot(page, f"page-{info.url_path or 'home'}")


def test_presenter_mode_survives_a_page_change(server, page):
    page.goto(f"{server}/?presenter=true")
    wait_idle(page)
    links = page.locator("[data-testid=stSidebarNavLink]")
    if links.count() >= 2:
        links.nth(1).click()
    else:  # a single page: a reload must keep it
        page.reload()
    wait_idle(page)
    assert "presenter=true" in page.url
    assert page.locator("[data-testid=stCheckbox]").filter(has_text="Presenter mode") \
        .locator("input").is_checked()
    screenshot(page, "presenter-second-page")


OVERFLOW = """() => {
  const main = document.querySelector('[data-testid=stMainBlockContainer]')
                       .getBoundingClientRect();
  const figures = '.vega-embed canvas, .vega-embed svg, [data-testid=stHtml] img';
  return [...document.querySelectorAll(figures)]
    .map(e => e.getBoundingClientRect())
    .filter(r => r.width > 0 && r.right > main.right + 2)
    .map(r => Math.round(r.right - main.right));
}"""


@pytest.mark.parametrize("info", PAGES, ids=lambda p: p.url_path or "home")
def test_presenter_mode_fits_a_1400_pixel_projector(server, page, info):
    """Presenter mode enlarges every figure; on a 1400-pixel-wide screen with the sidebar open
    the wider ones (the GAN lab's two panels) are scaled down to the column, not cut off."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{server}/{info.url_path}?presenter=true")
    wait_idle(page)
    page.wait_for_timeout(500)  # Vega draws after the script run
    assert page.locator(".vega-embed").count() > 0
    assert page.evaluate(OVERFLOW) == [], info.url_path


def test_a_bad_link_shows_a_friendly_notice(server, page):
    page.goto(f"{server}/?n=lots&bogus=1&noise=" + "9" * 300)
    wait_idle(page)
    alert = page.locator("[data-testid=stAlert]").filter(has_text="could not be used")
    assert alert.count() == 1
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, "bad-link-notice")
