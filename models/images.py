"""Uploaded pictures -> the data sets' format: 28x28 grey, white on black, values in [0, 1].

``prepare_upload(data)`` checks the file (a PNG or JPEG, not too many bytes or pixels, not
blank), turns any colour mode into grey (palette, alpha, 16-bit, CMYK included), makes it
white on black (a light background is inverted), stretches the contrast and, for digits,
repeats MNIST's normalisation: the digit's bounding box is scaled to fit a 20x20 box and
placed so that its centre of mass sits at the centre of the 28x28 field (LeCun, Cortes &
Burges, "The MNIST database", http://yann.lecun.com/exdb/mnist/). Sprites keep their position
(it is one of their factors), so they are only padded to a square and scaled.

Anything that cannot be used raises ``ImageProblem`` with a message for the user; conversions
that change what the picture means are listed in ``Prepared.notes``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

SIDE = 28  # the data sets' image side
BOX = 20  # MNIST scales each digit's bounding box to fit 20x20
CENTRE = SIDE / 2  # 14: where MNIST puts the centre of mass (pixel-index coordinates)
MAX_BYTES = 5 * 2**20  # 5 MB, as server.maxUploadSize
MAX_SIDE = 4096
MAX_PIXELS = 4096 * 4096
MIN_SIDE = 8
WORK_SIDE = 512  # larger pictures are reduced to this before the fine work
FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG"}  # MPO: a JPEG from some cameras
INK = 0.1  # grey level above which a pixel counts as part of the drawing
MIN_CONTRAST = 0.08  # ink this faint over the background: the picture counts as blank
PREVIEW_SIDE = 160


class ImageProblem(ValueError):
    """An upload that cannot be used; the message is meant for the user."""


@dataclass
class Prepared:
    image: np.ndarray  # (28, 28) float32 in [0, 1], white on black
    preview: Image.Image  # the upload in grey, before inversion (at most PREVIEW_SIDE px)
    notes: list[str] = field(default_factory=list)  # conversions the user should know about
    size: tuple[int, int] = (0, 0)  # (width, height) of the upload
    format: str = ""


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def open_checked(data: bytes) -> Image.Image:
    """Open an upload after checking its size, format and dimensions (the pixels are not
    decoded until the header has passed)."""
    if not data:
        raise ImageProblem("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageProblem(f"The file is {_mb(len(data))}; the limit is {_mb(MAX_BYTES)}. "
                           "A digit needs only a small picture: crop or shrink it first.")
    try:  # reads the header only; the size checks below run before any pixel is decoded
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ImageProblem("The picture has far too many pixels to open safely.") from e
    except Exception as e:  # noqa: BLE001 - UnidentifiedImageError, and whatever a damaged
        # header makes a decoder raise (OSError, SyntaxError, struct.error, EOFError, ...)
        raise ImageProblem("This file is not a picture that can be read. Upload a PNG or "
                           "JPEG image.") from e
    fmt = FORMATS.get(im.format or "")
    if fmt is None:
        raise ImageProblem(f"This is a {im.format or 'an unknown'} image; upload a PNG or "
                           "JPEG instead.")
    w, h = im.size
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise ImageProblem(f"The picture is {w:,} × {h:,} pixels; the limit is {MAX_SIDE:,} "
                           f"pixels a side ({MAX_PIXELS / 1e6:.0f} megapixels). Shrink it first.")
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ImageProblem(f"The picture is only {w} × {h} pixels; it needs at least "
                           f"{MIN_SIDE} pixels a side.")
    return im


def _decode(im: Image.Image) -> Image.Image:
    try:
        im.load()
    except Exception as e:  # noqa: BLE001 - a damaged or truncated file
        raise ImageProblem(f"The picture could not be decoded; the file may be damaged or "
                           f"incomplete ({type(e).__name__}: {e}).") from e
    return im


def to_grey(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Any PIL mode -> (grey (H, W) in [0, 1], alpha (H, W) in [0, 1] or None, notes)."""
    notes: list[str] = []
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max() <= 65535 else float(a.max())
        notes.append("16-bit grey levels were scaled to the 8-bit range of the data set.")
        return np.clip(a / top, 0, 1), None, notes
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        lo, hi = np.nanmin(a), np.nanmax(a)
        notes.append("Floating-point pixel values were rescaled to [0, 1].")
        return np.nan_to_num((a - lo) / (hi - lo + 1e-12)), None, notes
    if mode == "P":
        has_alpha = "transparency" in im.info
        notes.append("A palette image was converted to its colours"
                     + (" and its transparency." if has_alpha else "."))
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "PA":
        notes.append("A palette image was converted to its colours and its transparency.")
        im = im.convert("RGBA")
    elif mode == "CMYK":
        notes.append("A CMYK (print) image was converted to RGB; its grey levels are "
                     "approximate.")
        im = im.convert("RGB")
    elif mode not in ("1", "L", "LA", "RGB", "RGBA"):
        try:
            im = im.convert("RGBA" if "A" in mode else "RGB")
        except (ValueError, OSError) as e:
            raise ImageProblem(f"The colour mode {mode!r} of this picture is not supported.") \
                from e
        notes.append(f"The colour mode {mode} was converted to RGB.")
    alpha = None
    if im.mode in ("LA", "RGBA"):
        alpha = np.asarray(im.getchannel("A"), dtype=np.float64) / 255.0
        im = im.convert("L" if im.mode == "LA" else "RGB")
    grey = np.asarray(im.convert("L"), dtype=np.float64) / 255.0  # ITU-R 601 luma for RGB
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None  # an alpha channel with nothing transparent
    return grey, alpha, notes


def flatten_alpha(grey: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, str]:
    """Composite a transparent picture onto the background its ink stands out against:
    dark strokes onto white, light strokes onto black."""
    opaque = alpha > 0.5
    ink = float(np.mean(grey[opaque])) if opaque.any() else 0.0
    if ink < 0.5:
        return alpha * grey + (1 - alpha), ("Transparent parts were filled with white (the "
                                            "drawing is dark).")
    return alpha * grey, "Transparent parts were filled with black (the drawing is light)."


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """Anti-aliased resize of a float array (Lanczos filter of PIL's 'F' mode)."""
    im = Image.fromarray(a.astype(np.float32), mode="F")
    return np.asarray(im.resize((max(1, w), max(1, h)), Image.LANCZOS), dtype=np.float64)


def _border(a: np.ndarray) -> np.ndarray:
    m = max(1, round(0.05 * min(a.shape)))
    return np.concatenate([a[:m].ravel(), a[-m:].ravel(), a[:, :m].ravel(), a[:, -m:].ravel()])


def white_on_black(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Invert a picture whose background (the median of its border) is light; then stretch
    so that the background is 0 and the brightest ink is 1. Returns (image, inverted)."""
    inverted = bool(np.median(_border(grey)) > 0.5)
    g = 1.0 - grey if inverted else grey
    background = float(np.median(_border(g)))
    ink = g - background
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise ImageProblem("The picture looks blank: nothing stands out from its background.")
    return np.clip(ink / peak, 0, 1), inverted


def centre_by_mass(g: np.ndarray) -> np.ndarray:
    """MNIST's normalisation: crop to the ink, scale the longer side to 20 px (aspect kept),
    paste into 28x28 with the centre of mass at the centre of the field."""
    rows, cols = np.flatnonzero((g > INK).any(1)), np.flatnonzero((g > INK).any(0))
    crop = g[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    f = BOX / max(h, w)
    patch = np.clip(_resize(crop, round(w * f), round(h * f)), 0, 1)
    mass = patch.sum()
    ys, xs = np.indices(patch.shape)
    cy, cx = (ys * patch).sum() / mass, (xs * patch).sum() / mass
    top, left = int(round(CENTRE - cy)), int(round(CENTRE - cx))
    out = np.zeros((SIDE, SIDE))
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(SIDE, top + patch.shape[0]), min(SIDE, left + patch.shape[1])
    out[y0:y1, x0:x1] = patch[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def fit_square(g: np.ndarray) -> np.ndarray:
    """Pad to a square (with background) and scale to 28x28, keeping the position."""
    h, w = g.shape
    side = max(h, w)
    sq = np.zeros((side, side))
    sq[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = g
    return np.clip(_resize(sq, SIDE, SIDE), 0, 1)


def to_data_format(grey: np.ndarray, centre: bool = True) -> tuple[np.ndarray, list[str]]:
    """A grey picture (H, W) in [0, 1] -> (28x28 white on black in [0, 1], notes)."""
    notes = []
    h, w = grey.shape
    if max(h, w) > WORK_SIDE:  # box-filter first: faster, and no aliasing
        f = WORK_SIDE / max(h, w)
        grey = np.asarray(Image.fromarray(grey.astype(np.float32), mode="F").resize(
            (max(1, round(w * f)), max(1, round(h * f))), Image.BOX), dtype=np.float64)
    g, inverted = white_on_black(grey)
    if inverted:
        notes.append("The background is light, so the picture was inverted to white on "
                     "black, like the data set.")
    g[g < INK / 2] = 0.0  # faint background noise (JPEG artefacts, paper texture)
    out = centre_by_mass(g) if centre else fit_square(g)
    return out.astype(np.float32), notes


def prepare_upload(data: bytes, centre: bool = True) -> Prepared:
    """Check an uploaded file and convert it to the data sets' format (see the module doc).
    Raises ImageProblem, and nothing else, for a file that cannot be used."""
    try:
        return _prepare(data, centre)
    except ImageProblem:
        raise
    except Exception as e:  # noqa: BLE001 - a file no check foresaw: a message, not a crash
        raise ImageProblem(f"The picture could not be converted ({type(e).__name__}: {e}).") \
            from e


def _prepare(data: bytes, centre: bool) -> Prepared:
    im = open_checked(data)
    fmt = FORMATS[im.format]
    size = im.size
    notes = []
    if getattr(im, "n_frames", 1) > 1:
        notes.append("The file holds several frames; the first one is used.")
    im = _decode(im)
    try:
        im = ImageOps.exif_transpose(im)  # phone photos: apply the stored rotation
    except Exception:  # noqa: BLE001 - a damaged EXIF block: keep the picture as stored
        pass
    grey, alpha, mode_notes = to_grey(im)
    notes += mode_notes
    if alpha is not None:
        grey, note = flatten_alpha(grey, alpha)
        notes.append(note)
    image, format_notes = to_data_format(grey, centre)
    preview = Image.fromarray((np.clip(grey, 0, 1) * 255).astype(np.uint8))  # as sent, grey
    preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return Prepared(image, preview, notes + format_notes, size, fmt)


__all__ = ["ImageProblem", "Prepared", "prepare_upload", "open_checked", "to_grey",
           "to_data_format", "white_on_black", "centre_by_mass", "fit_square", "MAX_BYTES",
           "MAX_SIDE", "MAX_PIXELS"]
