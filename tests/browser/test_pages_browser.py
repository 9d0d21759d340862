"""Every page in a real browser: it loads, a slider moves, the URL records it, a reload
restores it, and a screenshot is saved (artifacts/screenshots/)."""

from urllib.parse import parse_qs, urlparse

import pytest

from conftest import screenshot, wait_idle
from dashboard.nav import existing_pages

PAGES = existing_pages()


def _main_sliders(pg):
    return pg.locator("[data-testid=stSlider] input[type=range]")


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_slider_moves_url_records_reload_restores(server, page, info):
    page.goto(f"{server}/{info.url_path}")
    wait_idle(page)
    assert page.locator("[data-testid=stException]").count() == 0
    sliders = _main_sliders(page)
    assert sliders.count() > 0, "every page has at least one slider"
    slider = sliders.first
    before = slider.input_value()
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_idle(page)
    after = slider.input_value()
    assert after != before
    query = parse_qs(urlparse(page.url).query)
    assert query, f"the URL did not record the change: {page.url}"
    page.reload()
    wait_idle(page)
    assert _main_sliders(page).first.input_value() == after
    assert page.locator("[data-testid=stException]").count() == 0
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


def test_a_bad_link_shows_a_friendly_notice(server, page):
    page.goto(f"{server}/?n=lots&bogus=1&noise=" + "9" * 300)
    wait_idle(page)
    alert = page.locator("[data-testid=stAlert]").filter(has_text="could not be used")
    assert alert.count() == 1
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, "bad-link-notice")
