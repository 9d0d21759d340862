"""models.images: uploads -> the data sets' 28x28 white-on-black format, and the checks."""

import io
import struct
import zlib

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
    """A digit in dark palette colours on a transparent background whose palette colour is
    black: read with its transparency, the background becomes paper (white), the dark ink
    stands out and the result is the digit; read without it, the picture would be dark ink
    on black."""
    x = digit(8)
    big = np.asarray(Image.fromarray((x * 255).astype(np.uint8)).resize((112, 112),
                                                                         Image.BICUBIC)) / 255
    index = np.where(big < 0.15, 0, 1 + np.minimum((big * 7).astype(int), 6)).astype(np.uint8)
    im = Image.fromarray(index, "P")
    palette = [0, 0, 0]  # index 0: transparent, its colour black
    for level in range(1, 8):  # more ink, darker grey
        g = int(150 * (1 - level / 7))
        palette += [g, g, g]
    im.putpalette(palette + [0] * (768 - len(palette)))
    p = prepare_upload(encode(im, transparency=0))
    assert corr(p.image, x) > 0.9
    assert p.image.shape == (28, 28) and p.image[0].max() == 0  # the background is black
    assert "A palette image was converted to its colours and its transparency." in p.notes
    assert any("filled with white" in n for n in p.notes)
    opaque = Image.fromarray(index, "P")
    opaque.putpalette(palette + [0] * (768 - len(palette)))
    q = prepare_upload(encode(opaque))  # the same picture without the transparency
    assert corr(q.image, x) < corr(p.image, x) - 0.1


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


def _small_png() -> bytes:
    return encode(paper_scan(digit(1), scale=3, offset=(5, 5), size=(100, 100)))


def _small_jpeg() -> bytes:
    return encode(paper_scan(digit(2), scale=3, offset=(5, 5), size=(100, 100)).convert("RGB"),
                  "JPEG")


def _flip(data: bytes, start: int, stop: int, value: int | None = None) -> bytes:
    d = bytearray(data)
    for k in range(start, stop):
        d[k] = value if value is not None else d[k] ^ 0x55
    return bytes(d)


def _png_with_width(data: bytes, width: int) -> bytes:
    """The PNG with another width in its header, the header's CRC made right again."""
    ihdr = bytearray(data[12:29])  # b"IHDR" + width, height, depth, colour, ...
    ihdr[4:8] = struct.pack(">I", width)
    return data[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + data[33:]


UNREADABLE = "This file is not a picture that can be read"
DAMAGED = "The picture could not be decoded; the file may be damaged or incomplete"
DAMAGE = {  # kind of damage -> (make the damaged bytes, the message's opening)
    "PNG signature overwritten": (lambda: b"\x00" * 8 + _small_png()[8:], UNREADABLE),
    "PNG header CRC wrong": (lambda: _flip(_small_png(), 20, 21), UNREADABLE),
    "PNG cut in half": (lambda: _small_png()[:len(_small_png()) // 2], DAMAGED),
    "PNG pixel data scrambled": (lambda: _flip(_small_png(), _small_png().index(b"IDAT") + 10,
                                               _small_png().index(b"IDAT") + 40), DAMAGED),
    "PNG header claims 100,000 px": (lambda: _png_with_width(_small_png(), 100_000),
                                     "The picture is 100,000 × 100 pixels"),
    "JPEG start marker lost": (lambda: _flip(_small_jpeg(), 0, 2, 0), UNREADABLE),
    "JPEG cut in half": (lambda: _small_jpeg()[:len(_small_jpeg()) // 2], DAMAGED),
    "JPEG scan data scrambled": (lambda: _flip(_small_jpeg(), _small_jpeg().index(b"\xff\xda")
                                               + 20, _small_jpeg().index(b"\xff\xda") + 60,
                                               0xFF), DAMAGED),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_each_kind_of_damage_gets_its_own_message(kind):
    make, opening = DAMAGE[kind]
    with pytest.raises(ImageProblem) as info:
        prepare_upload(make())
    assert str(info.value).startswith(opening), str(info.value)


def test_random_damage_is_caught_by_the_checks_meant_for_it():
    """Random damage to valid PNG and JPEG files: every outcome is a usable image or one of
    the checks' own messages; none falls through to the catch-all ("could not be
    converted"), which is there only for what no check foresaw."""
    rng = np.random.default_rng(0)
    good = [_small_png(), _small_jpeg()]
    known = (UNREADABLE, DAMAGED, "The picture is ", "The picture looks blank")
    outcomes = {"ok": 0, **{k: 0 for k in known}}
    for _ in range(150):
        data = bytearray(good[rng.integers(2)])
        for _ in range(rng.integers(1, 6)):  # flip a few bytes, maybe cut the end
            data[rng.integers(len(data))] = rng.integers(256)
        if rng.random() < 0.3:
            data = data[: rng.integers(8, len(data))]
        try:
            p = prepare_upload(bytes(data))
        except ImageProblem as e:
            opening = next((k for k in known if str(e).startswith(k)), None)
            assert opening is not None, str(e)
            outcomes[opening] += 1
        else:
            assert p.image.shape == (28, 28) and 0 <= p.image.min() and p.image.max() <= 1
            outcomes["ok"] += 1
    assert outcomes["ok"] > 0 and outcomes[UNREADABLE] > 0 and outcomes[DAMAGED] > 0


def test_an_unforeseen_failure_is_still_a_message(monkeypatch):
    from models import images

    def broken(*_):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(images, "to_data_format", broken)
    with pytest.raises(ImageProblem, match="could not be converted .ZeroDivisionError"):
        prepare_upload(_small_png())
