"""The VAE and Latent distribution pages in a real browser: train small VAEs through the UI,
look at the results, move β and the input slider; screenshots in artifacts/screenshots/."""

from urllib.parse import parse_qs, urlparse

from conftest import screenshot, wait_idle

TRAIN_TIMEOUT = 300_000  # ms: the machine is shared, training may queue


def _tall_screenshot(page, name):
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport."""
    page.set_viewport_size({"width": 1400, "height": 3200})
    wait_idle(page)
    screenshot(page, name)
    page.set_viewport_size({"width": 1400, "height": 950})


def _slider(page, label):
    return page.locator("[data-testid=stSlider]").filter(has_text=label).first


def _train(page):
    """Click Train (unless an earlier test trained the same settings) and wait for the run.
    The page may still be drawing when the script state first reads "notRunning": wait for
    the run panel's Train button or its "Trained" notice before deciding."""
    trained = page.locator("[data-testid=stAlert]").filter(has_text="Trained").first
    button = page.get_by_role("button", name="Train", exact=True)
    button.or_(trained).first.wait_for(timeout=60_000)
    if button.count() and not trained.count():
        button.click()
    trained.wait_for(timeout=TRAIN_TIMEOUT)
    wait_idle(page)
    assert page.locator("[data-testid=stException]").count() == 0


def test_train_a_small_vae_then_move_beta(server, page):
    page.goto(f"{server}/vae?data=moons&latent=2&epochs=3&lr=0.01")
    wait_idle(page)
    _train(page)
    # metrics, the two training charts, reconstructions and samples over the data, KL bars
    assert page.locator(".ll-metric").count() >= 4
    assert page.locator("[data-testid=stVegaLiteChart]").count() >= 6
    assert page.get_by_text("−log p(x), IWAE K=64 (nats)").count() == 1
    _tall_screenshot(page, "vae-trained-moons")
    beta = _slider(page, "β (weight")
    before = beta.locator("input[type=range]").input_value()
    beta.locator("input[type=range]").focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    wait_idle(page)
    after = beta.locator("input[type=range]").input_value()
    assert after != before
    assert "beta" in parse_qs(urlparse(page.url).query)
    # another β is another model: not trained yet, so the Train button is back (ten key
    # presses queue several reruns: wait for the last one's button)
    page.get_by_role("button", name="Train", exact=True).wait_for(timeout=30_000)
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, "vae-beta-moved")


def test_uniform_prior_is_explained_not_trained(server, page):
    page.goto(f"{server}/vae?prior=Uniform")
    wait_idle(page)
    page.locator("[data-testid=stAlert]").filter(has_text="infinite").first.wait_for()
    wait_idle(page)
    assert page.get_by_role("button", name="Train", exact=True).count() == 0
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, "vae-uniform-prior")


def test_latent_distribution_trains_and_the_input_slider_repaints(server, page):
    page.goto(f"{server}/latent-distribution?data=moons&epochs=2&lr=0.01")
    wait_idle(page)
    _train(page)
    # the density maps are images inside charts: their marks must have loaded
    assert page.locator("[data-testid=stVegaLiteChart]").count() >= 6
    _tall_screenshot(page, "latent-distribution-trained-moons")
    box = _slider(page, "Input (held-out").locator("input[type=range]")
    for _ in range(5):  # one step at a time: each is a rerun that redraws the page
        box.focus()
        page.keyboard.press("ArrowRight")
        wait_idle(page)
    assert box.input_value() == "5"
    page.get_by_text("The input #5").first.wait_for(timeout=30_000)
    assert parse_qs(urlparse(page.url).query).get("input") == ["5"]
    assert page.locator("[data-testid=stException]").count() == 0
    _tall_screenshot(page, "latent-distribution-input-5")


def _chart_axis_titles(page) -> list[str]:
    """The axis titles of every Vega chart on the page (SVG text of role axis-title)."""
    return page.locator("[data-testid=stVegaLiteChart] g.role-axis-title text").evaluate_all(
        "els => els.map(e => e.textContent)")


def test_latent_distribution_maps_follow_the_dimensions_chosen_in_the_fragment(server, page):
    # four latent dimensions: the plane of q(z|x) is chosen with two selectboxes that live in
    # the inputs' fragment, while the maps of p(z) and q(z) below are drawn by the page
    page.goto(f"{server}/latent-distribution?latent=4&epochs=3")
    wait_idle(page)
    _train(page)
    box = page.locator("[data-testid=stSelectbox]").filter(has_text="Horizontal dimension")
    box.first.wait_for(timeout=60_000)
    target = "z₃" if "z₃" not in box.first.inner_text() else "z₂"
    box.first.scroll_into_view_if_needed()
    box.first.locator("input").click()
    page.keyboard.type(target)
    page.keyboard.press("Enter")
    wait_idle(page)
    page.wait_for_timeout(500)
    wait_idle(page)
    assert page.locator("[data-testid=stException]").count() == 0
    assert parse_qs(urlparse(page.url).query).get("dx") == [target]
    # the maps (prior, aggregate posterior, difference) now have the new dimension on x
    titles = _chart_axis_titles(page)
    assert titles.count(target) >= 4, titles  # the ellipses' plane and the three maps
    _tall_screenshot(page, "latent-distribution-dimensions")
