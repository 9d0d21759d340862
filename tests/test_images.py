"""models.images: uploads -> the data sets' 28x28 white-on-black format, and the checks."""

import io

import numpy as np
import pytest
from PIL import Image

from models import datasets
from models.images import (MAX_BYTES, ImageProblem, centre_by_mass, prepare_upload,
                           to_data_format)


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def digit(i: int = 0) -> np.ndarray:
    return datasets.load("digits").x_test[i].numpy().reshape(28, 28)


def paper_scan(x: np.ndarray, scale: int = 10, offset=(100, 10), size=(400, 300)) -> Image.Image:
    """A digit drawn dark on light paper, large and off centre, like a photo or a scan."""
    big = Image.fromarray(((1 - x) * 255).astype(np.uint8)).resize((28 * scale, 28 * scale),
                                                                   Image.BICUBIC)
    canvas = Image.new("L", size, 255)
    canvas.paste(big, offset)
    return canvas


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(img.shape)
    return float((ys * img).sum() / img.sum()), float((xs * img).sum() / img.sum())


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.mark.parametrize("i", [0, 1, 2, 3, 4])
def test_a_scanned_digit_comes_back_as_the_data_set_image(i):
    x = digit(i)
    p = prepare_upload(encode(paper_scan(x)))
    assert p.image.shape == (28, 28) and p.image.dtype == np.float32
    assert 0 <= p.image.min() and p.image.max() <= 1
    assert corr(p.image, x) > 0.93  # the same picture, up to resampling
    assert any("inverted" in n for n in p.notes)
    assert p.format == "PNG" and p.size == (400, 300)


def test_the_data_sets_own_normalisation_is_reproduced():
    """MNIST: bounding box fitted into 20x20, centre of mass at the field's centre (14, 14)."""
    x = datasets.load("digits").x_train.numpy().reshape(-1, 28, 28)[:200]
    coms = np.array([centre_of_mass(a) for a in x])
    assert np.allclose(coms.mean(0), 14.0, atol=0.1)
    rng = np.random.default_rng(0)
    for _ in range(5):  # a blob anywhere, of any size, ends up centred and 20 px at most
        g = np.zeros((90, 60))
        y0, x0 = rng.integers(0, 50), rng.integers(0, 30)
        g[y0:y0 + rng.integers(10, 40), x0:x0 + rng.integers(5, 30)] = 1.0
        out = centre_by_mass(g)
        cy, cx = centre_of_mass(out)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
        ink = out > 0.1
        assert np.ptp(np.flatnonzero(ink.any(1))) + 1 <= 21
        assert np.ptp(np.flatnonzero(ink.any(0))) + 1 <= 21


def test_white_on_black_input_is_not_inverted():
    x = digit(5)
    big = Image.fromarray((x * 255).astype(np.uint8)).resize((140, 140), Image.BICUBIC)
    p = prepare_upload(encode(big))
    assert not any("inverted" in n for n in p.notes)
    assert corr(p.image, x) > 0.93


def test_contrast_is_stretched_from_background_to_brightest_ink():
    g = np.full((50, 50), 0.3)
    g[10:40, 20:30] = 0.6  # grey ink on a grey background
    out, _ = to_data_format(g)
    assert out.max() == pytest.approx(1.0, abs=0.02) and out.min() == 0.0


def test_sprites_keep_their_position():
    g = np.zeros((56, 56))
    g[4:14, 4:14] = 1.0  # top left
    out, _ = to_data_format(g, centre=False)
    cy, cx = centre_of_mass(out)
    assert cy < 8 and cx < 8


@pytest.mark.parametrize("ink_dark", [True, False])
def test_a_drawing_on_a_transparent_background(ink_dark):
    """Strokes on a transparent canvas: the alpha channel carries the drawing, whatever colour
    the strokes are; the result matches the digit."""
    x = digit(7)
    big = np.asarray(Image.fromarray((x * 255).astype(np.uint8)).resize((112, 112),
                                                                         Image.BICUBIC))
    rgba = np.zeros((112, 112, 4), np.uint8)
    rgba[..., :3] = 0 if ink_dark else 255
    rgba[..., 3] = big  # opaque where the digit is
    p = prepare_upload(encode(Image.fromarray(rgba, "RGBA")))
    assert corr(p.image, x) > 0.93
    assert any("Transparent" in n for n in p.notes)


def test_a_palette_png_with_transparency():
    x = digit(8)
    im = paper_scan(x, scale=4, offset=(10, 10), size=(140, 140)).convert("RGB").quantize(8)
    im.info["transparency"] = 0
    data = encode(im, transparency=0)
    p = prepare_upload(data)
    assert p.image.shape == (28, 28) and p.image.max() > 0.5
    assert any("palette" in n for n in p.notes)


def test_a_16_bit_png_gives_the_same_image_as_its_8_bit_version():
    x = digit(9)
    eight = paper_scan(x, scale=4, offset=(10, 10), size=(140, 140))
    sixteen = Image.fromarray(np.asarray(eight).astype(np.uint16) * 257)  # mode I;16
    assert sixteen.mode.startswith("I;16")
    a = prepare_upload(encode(eight))
    b = prepare_upload(encode(sixteen))
    assert np.allclose(a.image, b.image, atol=1e-3)
    assert any("16-bit" in n for n in b.notes)


def test_a_cmyk_jpeg():
    x = digit(10)
    rgb = paper_scan(x, scale=4, offset=(10, 10), size=(140, 140)).convert("RGB")
    p = prepare_upload(encode(rgb.convert("CMYK"), "JPEG", quality=95))
    assert corr(p.image, x) > 0.9
    assert any("CMYK" in n for n in p.notes)
    assert p.format == "JPEG"


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"hello, this is a text file and not a picture at all\n" * 20, "not a picture"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not a picture"),
])
def test_what_is_not_an_image_is_refused_with_words(data, words):
    with pytest.raises(ImageProblem, match=words):
        prepare_upload(data)


def test_other_formats_too_many_bytes_pixels_or_too_few_are_refused():
    with pytest.raises(ImageProblem, match="GIF"):
        prepare_upload(encode(Image.new("L", (40, 40)), "GIF"))
    with pytest.raises(ImageProblem, match="pixels a side"):
        prepare_upload(encode(Image.new("L", (5000, 100))))
    with pytest.raises(ImageProblem, match="limit is 5.0 MB"):
        prepare_upload(b"\x89PNG" + b"\x00" * MAX_BYTES)
    with pytest.raises(ImageProblem, match="at least"):
        prepare_upload(encode(Image.new("L", (4, 40))))
    with pytest.raises(ImageProblem, match="blank"):
        prepare_upload(encode(Image.new("RGB", (64, 64), (200, 30, 30))))


def test_a_truncated_file_is_refused_not_crashed_on():
    data = encode(paper_scan(digit(0)))
    with pytest.raises(ImageProblem):
        prepare_upload(data[: len(data) // 2])


def test_damaged_files_give_image_problems_and_nothing_else():
    """Random damage to valid PNG and JPEG files: every outcome is a result or an
    ImageProblem, never another exception."""
    rng = np.random.default_rng(0)
    good = [encode(paper_scan(digit(1), scale=3, offset=(5, 5), size=(100, 100))),
            encode(paper_scan(digit(2), scale=3, offset=(5, 5), size=(100, 100)).convert("RGB"),
                   "JPEG")]
    outcomes = {"ok": 0, "problem": 0}
    for _ in range(150):
        data = bytearray(good[rng.integers(2)])
        for _ in range(rng.integers(1, 6)):  # flip a few bytes, maybe cut the end
            data[rng.integers(len(data))] = rng.integers(256)
        if rng.random() < 0.3:
            data = data[: rng.integers(8, len(data))]
        try:
            prepare_upload(bytes(data))
            outcomes["ok"] += 1
        except ImageProblem:
            outcomes["problem"] += 1
    assert outcomes["problem"] > 0 and sum(outcomes.values()) == 150
