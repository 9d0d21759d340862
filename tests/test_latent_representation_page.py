"""The Latent representation page under AppTest: defaults, two tiny models trained through
the UI, latent sliders that change the decoding and follow the image, bad and odd uploads."""

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from apptest_util import buttons as _button
from apptest_util import errors, from_cache, metrics, open_page, widget
from apptest_util import run_until as _poll
from dashboard import views_representation as views
from models import datasets
from models.presets import PAGE_DEFAULTS
from models.train import AEConfig, VAEConfig

PAGE = "app_pages/latent_representation.py"


@pytest.fixture
def tiny_models(monkeypatch):
    """The page's models, trained for one epoch so that a test trains them in seconds."""
    monkeypatch.setattr(views, "DEFAULT_AE", replace(views.DEFAULT_AE, epochs=1, hidden=64))
    monkeypatch.setattr(views, "DEFAULT_VAE", replace(views.DEFAULT_VAE, epochs=1, hidden=64))




def _trained(at) -> bool:
    return any(s.key == "z1" for s in at.slider)


def _train_both(at):
    """Click each model's Train button (a model trained by an earlier test is cached)."""
    for label in ("Train the autoencoder", "Train the VAE"):
        for b in _button(at, label):
            b.click().run()
    assert _poll(at, lambda a: _trained(a) and "Its code, read by each model" in
                 [s.value for s in a.subheader] and len(a.get("vega_lite_chart")) >= 3)


def _image_ids(at) -> list[str]:
    return [el.proto.imgs[0].url for el in at.get("image")]


def test_presets_and_configs():
    ae, vae = PAGE_DEFAULTS["latent-representation"]
    assert ae == AEConfig(latent_dim=8) and vae == VAEConfig(latent_dim=8)
    a, v = views.model_configs("sprites", 4)
    assert (a.dataset, a.latent_dim, v.dataset, v.latent_dim) == ("sprites", 4, "sprites", 4)


def test_slider_ranges_are_round_and_hold_the_code():
    assert views._nice_step(3.7) == pytest.approx(0.05)
    assert views._nice_step(100) == 1.0
    params = views.slider_params([(-2.0, 2.0, 0.05), (-1.0, 1.0, 0.02)], np.array([5.0, -0.3]))
    assert params[0].default == 2.0  # clipped into the range
    assert params[1].default == pytest.approx(-0.3)
    assert [p.key for p in params] == ["z1", "z2"] and params[0].label == "z₁"


def test_defaults_open_trained_and_other_settings_offer_training():
    at = open_page(PAGE)  # both default runs ship pretrained
    assert not errors(at), errors(at)
    assert not _button(at, "Train the autoencoder") and not _button(at, "Train the VAE")
    assert from_cache(at) == 2
    assert [s.key for s in at.slider if s.key.startswith("z")] == [f"z{j}" for j in range(1, 9)]
    at = open_page(PAGE, {"data": "sprites"})
    assert not errors(at), errors(at)
    assert _button(at, "Train the autoencoder") and _button(at, "Train the VAE")
    assert len(at.get("image")) == 1  # the picked image is shown before any training
    assert any("Train the models above" in i.value for i in at.info)


def test_train_through_the_ui_then_edit_the_code(tiny_models):
    at = open_page(PAGE)
    _train_both(at)
    assert [s.key for s in at.slider if s.key.startswith("z")] == [f"z{j}" for j in
                                                                    range(1, 9)]
    shown = metrics(at)
    assert shown["Pixels"] == "784" and shown["Latent numbers"] == "8"
    assert "Error, autoencoder" in shown and "Error, VAE" in shown

    before = _image_ids(at)
    z1 = widget(at, "z1")
    new = z1.max if z1.value < (z1.min + z1.max) / 2 else z1.min
    z1.set_value(new).run()
    assert not errors(at)
    after = _image_ids(at)
    assert sum(a != b for a, b in zip(before, after)) == 1  # only the edited decoding
    assert any(c.value.startswith("Changed: z₁") for c in at.caption)

    widget(at, "index").set_value(7).run()  # another image: the sliders follow its code
    assert widget(at, "z1").value != new
    assert not any(c.value.startswith("Changed:") for c in at.caption)

    widget(at, "model").set_value("vae").run()  # the VAE's code, on its own ranges
    assert not errors(at)
    z1 = widget(at, "z1")
    assert z1.min >= -10 and z1.max <= 10  # q(z|x) means live near the prior N(0, I)

    widget(at, "z2").set_value(widget(at, "z2").max).run()
    [b for b in at.button if b.label == "Back to the image's code"][0].click().run()
    assert not any(c.value.startswith("Changed:") for c in at.caption)


def test_the_pickers(tiny_models):
    at = open_page(PAGE)
    _train_both(at)
    widget(at, "pick").set_value("class").run()
    widget(at, "cls").set_value(3).run()
    widget(at, "nth").set_value(2).run()
    assert not errors(at)
    assert any("share its class (3)" in c.value for c in at.caption)
    widget(at, "pick").set_value("random").run()
    first = widget(at, "draw").value
    [b for b in at.button if b.label == "Another"][0].click().run()
    assert widget(at, "draw").value == first + 1
    assert not errors(at)


# --- uploads ------------------------------------------------------------------------------------

def _png(im: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _drawn_digit() -> Image.Image:
    x = datasets.load("digits").x_test[120].numpy().reshape(28, 28)
    return Image.fromarray(((1 - x) * 255).astype(np.uint8)).resize((200, 200), Image.BICUBIC)


def _palette_with_alpha() -> bytes:
    rgba = _drawn_digit().convert("RGBA")
    a = np.asarray(rgba).copy()
    a[..., 3] = np.where(a[..., 0] > 200, 0, 255)  # paper transparent, ink opaque
    return _png(Image.fromarray(a, "RGBA").quantize(16))


UPLOADS = {  # name -> (file name, bytes, mime, kind of message, words in it)
    "text renamed .png": ("notes.png", b"just some words, not a picture\n" * 40, "image/png",
                          "error", "not a picture"),
    "16-bit PNG": ("deep.png", _png(Image.fromarray(
        np.asarray(_drawn_digit()).astype(np.uint16) * 257)), "image/png", "info", "16-bit"),
    "palette PNG with alpha": ("pal.png", _palette_with_alpha(), "image/png", "info",
                               "palette"),
    "huge image": ("huge.png", _png(Image.new("L", (6000, 5000), 255)), "image/png", "error",
                   "pixels a side"),
    "CMYK JPEG": ("print.jpg", _png(_drawn_digit().convert("CMYK"), "JPEG", quality=90),
                  "image/jpeg", "info", "CMYK"),
    "too many bytes": ("noise.png", _png(Image.fromarray(np.random.default_rng(0).integers(
        0, 255, (1400, 1400, 3), dtype=np.uint8))), "image/png", "error", "limit"),
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_bad_and_odd_uploads_give_a_message_not_an_exception(name):
    file_name, data, mime, kind, words = UPLOADS[name]
    at = open_page(PAGE, {"pick": "Upload"})
    at.file_uploader(key="upload").set_value((file_name, data, mime)).run()
    assert not errors(at), errors(at)
    messages = [e.value for e in (at.error if kind == "error" else at.info)]
    assert any(words in m for m in messages), (name, messages)
    captions = [el.proto.imgs[0].caption for el in at.get("image")]
    if kind == "info":  # converted: the page shows what the models see
        assert "What the models see: 28 × 28" in captions
    else:
        assert not captions


def test_an_uploaded_digit_is_encoded_like_a_data_set_image(tiny_models, monkeypatch):
    """What reaches the encoders is in the data set's own format: 784 float32 numbers in
    [0, 1], white on black, centred like MNIST, and close to the held-out digit the upload
    was drawn from."""
    fed = []
    encode = views.encode

    def spy(model, kind, x):
        fed.append((kind, x.detach().clone()))
        return encode(model, kind, x)
    monkeypatch.setattr(views, "encode", spy)
    at = open_page(PAGE, {"pick": "Upload"})
    at.file_uploader(key="upload").set_value(("mine.png", _png(_drawn_digit()), "image/png"))
    at.run()
    _train_both(at)
    assert any("inverted" in i.value for i in at.info)  # dark on light -> white on black
    assert any("Classes:" in c.value for c in at.caption)  # neighbours of an unlabelled image
    singles = [(kind, x) for kind, x in fed if x.shape[0] == 1]
    assert {kind for kind, _ in singles} == {"ae", "vae"}  # both models read the upload
    reference = datasets.load("digits").x_test
    original = reference[120]
    for kind, x in singles:
        assert x.shape == (1, 784) and x.dtype == reference.dtype
        assert float(x.min()) >= 0 and float(x.max()) == pytest.approx(1.0, abs=1e-6)
        image = x[0].numpy().reshape(28, 28)
        assert image[:2].max() == 0 and image[:, :2].max() == 0  # a black border, as MNIST
        ys, xs = np.indices(image.shape)
        com = ((ys * image).sum() / image.sum(), (xs * image).sum() / image.sum())
        assert abs(com[0] - 14) < 1 and abs(com[1] - 14) < 1  # centred by mass, as MNIST
        assert np.corrcoef(image.ravel(), original.numpy())[0, 1] > 0.9, kind


def _off_centre_digit() -> bytes:
    x = datasets.load("digits").x_test[120].numpy().reshape(28, 28)
    canvas = np.full((200, 200), 255, np.uint8)
    small = Image.fromarray(((1 - x) * 255).astype(np.uint8)).resize((84, 84), Image.BICUBIC)
    canvas[10:94, 10:94] = np.asarray(small)  # top left: digits centre it, sprites do not
    return _png(Image.fromarray(canvas))


def test_an_upload_is_converted_again_for_another_data_set():
    """Digits centre an upload by mass, sprites keep its position: switching the data set
    shows (and encodes) the other conversion, not the cached one."""
    raw = _off_centre_digit()
    assert views.upload_ident("digits", raw) != views.upload_ident("sprites", raw)
    at = open_page(PAGE, {"pick": "Upload"})
    at.file_uploader(key="upload").set_value(("corner.png", raw, "image/png")).run()

    def seen():
        return next(el.proto.imgs[0].url for el in at.get("image")
                    if el.proto.imgs[0].caption == "What the models see: 28 × 28")
    digits = seen()
    widget(at, "data").set_value("sprites").run()
    assert not errors(at)
    sprites = seen()
    assert sprites != digits
    widget(at, "data").set_value("digits").run()
    assert seen() == digits  # the same picture again for the same conversion


def test_a_long_code_has_a_slider_for_every_dimension(tiny_models):
    at = open_page(PAGE, {"latent": "16"})
    _train_both(at)
    keys = [s.key for s in at.slider if s.key.startswith("z")]
    assert keys == [f"z{j}" for j in range(1, 17)]
    more = [e for e in at.expander if "other 8 dimensions" in e.label]
    assert len(more) == 1 and more[0].label.endswith("z₉ to z₁₆")
    assert [s.key for s in more[0].slider] == [f"z{j}" for j in range(9, 17)]
    before = _image_ids(at)
    z12 = widget(at, "z12")
    z12.set_value(z12.max if z12.value < (z12.min + z12.max) / 2 else z12.min).run()
    assert not errors(at)
    assert sum(a != b for a, b in zip(before, _image_ids(at))) == 1  # the edited decoding
    assert any(c.value.startswith("Changed: z₁₂") for c in at.caption)
