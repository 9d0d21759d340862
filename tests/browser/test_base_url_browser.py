"""The page's hint of where the server is (dashboard/base_url.py), in Chromium."""

from __future__ import annotations

import pytest

from conftest import wait_idle
from dashboard import base_url

PAGES = ["autoencoder", "latent-space"]


def test_a_page_connects_to_the_server_at_once(server, page):
    """/autoencoder asks /_stcore/health directly, not /autoencoder/_stcore/health first."""
    page.goto(f"{server}/autoencoder")
    wait_idle(page)
    assert page.evaluate("window.__streamlit.BACKEND_BASE_URL") == server + "/"
    asked = page.evaluate("performance.getEntriesByType('resource').map(r => r.name)")
    assert f"{server}/_stcore/health" in asked
    assert not [u for u in asked if "/autoencoder/_stcore/" in u]
    assert page.locator("[data-testid=stMain] h1").first.inner_text().startswith("Autoencoder")


def test_the_home_page_is_left_to_streamlit(server, page):
    page.goto(server)
    wait_idle(page)
    assert page.evaluate("window.__streamlit") is None


@pytest.mark.parametrize("path, expected", [
    ("/autoencoder", "https://lab.example/"),
    ("/autoencoder/", "https://lab.example/"),
    ("/course/lab/latent-space", "https://lab.example/course/lab/"),  # served under a prefix
    ("/", None),  # the home page: Streamlit's own guess is already right
    ("/course/lab", None),
    ("/not-a-page", None),  # not ours to guess
    ("/autoencoder/extra", None),
])
def test_the_script_finds_the_base_from_the_address(page, path, expected):
    body = base_url.script(PAGES).removeprefix("<script>").removesuffix("</script>")
    found = page.evaluate("""([body, path]) => {
        const win = {};
        new Function('location', 'window', body)(
            {origin: 'https://lab.example', pathname: path}, win);
        return win.__streamlit ? win.__streamlit.BACKEND_BASE_URL : null;
    }""", [body, path])
    assert found == expected


def test_a_host_that_sets_the_base_keeps_it(page):
    body = base_url.script(PAGES).removeprefix("<script>").removesuffix("</script>")
    found = page.evaluate("""(body) => {
        const win = {__streamlit: {BACKEND_BASE_URL: 'https://host.example/app', OTHER: 1}};
        new Function('location', 'window', body)(
            {origin: 'https://lab.example', pathname: '/autoencoder'}, win);
        return win.__streamlit;
    }""", body)
    assert found == {"BACKEND_BASE_URL": "https://host.example/app", "OTHER": 1}
