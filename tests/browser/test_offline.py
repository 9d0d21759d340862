"""Latent Lab needs no network: every page loads, and the browser asks for nothing beyond the
app's own server. External hosts are unreachable in this test (Chromium resolves every name
but localhost to nothing), so a page that needed a CDN would fail here."""

from urllib.parse import urlparse

import pytest

from conftest import wait_idle
from dashboard.nav import existing_pages

PAGES = existing_pages()


@pytest.fixture
def offline_page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    requested = []
    host = urlparse(server).hostname

    def route(r):
        u = urlparse(r.request.url)
        if u.scheme in ("data", "blob") or u.hostname in (host, "localhost", "127.0.0.1"):
            r.continue_()
        else:
            requested.append(r.request.url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    pg = context.new_page()
    yield pg, requested
    context.close()


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_every_page_works_without_network(server, offline_page, info):
    pg, requested = offline_page
    pg.goto(f"{server}/{info.url_path}")
    wait_idle(pg)
    assert pg.locator("[data-testid=stException]").count() == 0
    assert pg.locator("[data-testid=stMain] h1").count() >= 1
    assert requested == [], f"the page asked the network for {requested[:5]}"
