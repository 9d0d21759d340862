"""The Autoencoder and Latent representation pages in a real browser: train small models
through the UI, replay a run, move a latent slider and watch the decoding change; screenshots
in artifacts/screenshots/."""

from pathlib import Path
from urllib.parse import parse_qs, urlparse

from conftest import screenshot, wait_idle

TRAIN_TIMEOUT_MS = 240_000


def _wait_for(page, selector: str, timeout: float = TRAIN_TIMEOUT_MS):
    page.wait_for_selector(selector, timeout=timeout)
    wait_idle(page)


def _slider(page, label: str):
    return page.locator("[data-testid=stSlider]").filter(has_text=label).locator(
        "input[type=range]").first


def _no_exception(page):
    assert page.locator("[data-testid=stException]").count() == 0


def test_autoencoder_trains_through_the_ui_and_replays(server, page):
    page.goto(f"{server}/autoencoder?data=moons&latent=1&epochs=3&hidden=32")
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    _wait_for(page, ".ll-metric:has-text('Autoencoder, held-out error')")
    _no_exception(page)
    assert page.get_by_text("Reconstruction error while training").count() == 1
    screenshot(page, "ae-moons-trained")

    caption = page.get_by_text("Showing the model at step").first
    before = caption.inner_text()
    timeline = _slider(page, "Replay training")
    timeline.focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    wait_idle(page)
    assert page.get_by_text("Showing the model at step").first.inner_text() != before
    assert "t" in parse_qs(urlparse(page.url).query)
    _no_exception(page)
    # "Data and reconstructions": hundreds of points, drawn on a canvas (no SVG text to find)
    page.locator("[data-testid=stVegaLiteChart] canvas").first.scroll_into_view_if_needed()
    screenshot(page, "ae-moons-replay")


def _edited_src(page) -> str:
    img = page.locator("[data-testid=stImage]").filter(
        has_text="decoded from the edited code").locator("img").first
    return img.get_attribute("src")


def test_latent_slider_changes_the_decoding(server, page):
    page.goto(f"{server}/latent-representation?latent=2&index=42")
    wait_idle(page)
    button = page.get_by_role("button", name="Train the autoencoder")
    if button.count():  # the digits autoencoder with k = 2 ships pretrained
        button.click()
    _wait_for(page, "[data-testid=stSlider]:has-text('z₁')")
    _no_exception(page)
    screenshot(page, "latent-representation-trained")

    before = _edited_src(page)
    z1 = _slider(page, "z₁")
    value = z1.input_value()
    z1.focus()
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    wait_idle(page)
    assert z1.input_value() != value
    assert _edited_src(page) != before  # a new decoding on screen
    assert page.get_by_text("Changed: z₁").count() == 1
    assert "z1" in parse_qs(urlparse(page.url).query)  # the edit is part of the link
    _no_exception(page)
    z1.scroll_into_view_if_needed()
    screenshot(page, "latent-representation-slider-moved")

    page.reload()  # the link restores the edited code
    wait_idle(page)
    assert page.get_by_text("Changed: z₁").count() == 1


def test_an_upload_is_converted_and_a_bad_one_explained(server, page, tmp_path: Path):
    from PIL import Image, ImageDraw
    good = tmp_path / "seven.png"
    im = Image.new("RGB", (300, 300), (245, 245, 240))
    ImageDraw.Draw(im).line([(80, 70), (220, 70), (130, 250)], fill=(20, 20, 20), width=18)
    im.save(good)
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture at all\n" * 50)

    page.goto(f"{server}/latent-representation?pick=Upload")
    wait_idle(page)
    uploader = page.locator("[data-testid=stFileUploader] input[type=file]")
    uploader.set_input_files(str(good))
    _wait_for(page, "[data-testid=stImage]:has-text('What the models see')", 30_000)
    assert page.get_by_text("inverted to white on black").count() == 1
    _no_exception(page)
    screenshot(page, "latent-representation-upload")

    uploader.set_input_files(str(bad))
    _wait_for(page, "[data-testid=stAlert]:has-text('cannot be used')", 30_000)
    _no_exception(page)
    alert = page.locator("[data-testid=stAlert]").filter(has_text="cannot be used")
    alert.scroll_into_view_if_needed()
    screenshot(page, "latent-representation-bad-upload")
