"""Chart builders: Altair charts in one palette and one notation, and small PNGs for dense
fields (density maps, image grids), which cost far less than thousands of chart marks
(../shared/GUIDE.md, section 2: a 10,000-rectangle heatmap took ~330 ms per slider step).

Palette: Okabe & Ito (2008), "Color Universal Design", safe for the common colour-vision
deficiencies. Continuous fields use viridis (van der Walt & Smith, matplotlib), here as ten
anchor colours interpolated linearly.
"""

from __future__ import annotations

import copy
import functools
import io

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from . import state

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000"]
REAL, FAKE, MODEL = "#0072B2", "#D55E00", "#009E73"  # data, generated, model curves
VIRIDIS = np.array([[68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142],
                    [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89],
                    [180, 222, 44], [253, 231, 37]], dtype=np.float64)
DIVERGING = np.array([[213, 94, 0], [245, 245, 245], [0, 114, 178]], dtype=np.float64)
SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
MAX_MARKS = 4000  # keep charts under Streamlit's switch to the canvas renderer's range


def zname(i: int) -> str:
    """The name of latent dimension i (0-based): z₁, z₂, …"""
    return f"z{str(i + 1).translate(SUB)}"


def scale() -> float:
    """Presenter mode scales type and charts up for a projector."""
    return 1.45 if state.presenter() else 1.0


def height(h: int) -> int:
    return int(h * scale())


def _style(chart: alt.Chart) -> alt.Chart:
    s = scale()
    return (chart.configure_axis(labelFontSize=12 * s, titleFontSize=13 * s, grid=True,
                                 gridOpacity=0.4)
            .configure_legend(labelFontSize=12 * s, titleFontSize=13 * s, orient="right")
            .configure_title(fontSize=15 * s, anchor="start", fontWeight="normal")
            .configure_view(strokeWidth=0))


def show(chart: alt.Chart, key: str | None = None, **kwargs):
    """Draw a chart in the house style: as wide as its container unless it set a width."""
    fixed = isinstance(getattr(chart, "width", None), int)
    return st.altair_chart(_style(chart), width="content" if fixed else "stretch", key=key,
                           **kwargs)


def palette(n: int) -> list[str]:
    return [OKABE_ITO[i % len(OKABE_ITO)] for i in range(n)]


def lines(df: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "",
          x_title: str | None = None, y_title: str | None = None, h: int = 220,
          log_y: bool = False, colors: dict[str, str] | None = None,
          dashed: str | None = None) -> alt.Chart:
    """Line chart (one line per value of `color`)."""
    enc = {"x": alt.X(x, title=x_title or x),
           "y": alt.Y(y, title=y_title or y, scale=alt.Scale(type="log" if log_y else "linear",
                                                           zero=False)),
           "tooltip": [alt.Tooltip(c, format=".4g") if df[c].dtype.kind == "f" else c
                       for c in [x, y] + ([color] if color else [])]}
    if color:
        domain = list(colors) if colors else list(dict.fromkeys(df[color]))
        rng = list(colors.values()) if colors else palette(len(domain))
        enc["color"] = alt.Color(color, title=None, scale=alt.Scale(domain=domain, range=rng))
    if dashed:
        enc["strokeDash"] = alt.StrokeDash(dashed, title=None)
    return alt.Chart(df, title=title, height=height(h)).mark_line(strokeWidth=2 * scale()) \
        .encode(**enc)


def scatter(df: pd.DataFrame, x: str, y: str, color: str | None = None,
            continuous: bool = False, title: str = "", h: int = 360, size: float = 18,
            opacity: float = 0.7, x_title: str | None = None, y_title: str | None = None,
            domain: tuple | None = None, tooltip: list[str] | None = None,
            color_title: str | None = None, square: bool = False) -> alt.Chart:
    """Points; coloured by a category (Okabe-Ito) or a continuous value (viridis).
    square=True draws both axes to the same scale (a circle stays a circle)."""
    df = df.iloc[:MAX_MARKS]
    if square and domain is None:
        domain = square_domain(df[x].to_numpy(), df[y].to_numpy())
    sx = alt.Scale(domain=domain[0]) if domain else alt.Scale(zero=False)
    sy = alt.Scale(domain=domain[1]) if domain else alt.Scale(zero=False)
    enc = {"x": alt.X(x, title=x_title or x, scale=sx),
           "y": alt.Y(y, title=y_title or y, scale=sy)}
    if color:
        if continuous:
            enc["color"] = alt.Color(color, title=color_title or color,
                                     scale=alt.Scale(scheme="viridis"))
        else:
            cats = sorted(df[color].unique(), key=str)
            enc["color"] = alt.Color(f"{color}:N", title=color_title or color,
                                     scale=alt.Scale(domain=cats, range=palette(len(cats))))
    if tooltip:
        enc["tooltip"] = tooltip
    side = int(h * min(scale(), 1.2))  # fixed-size squares must still fit their column
    size_kw = {"height": side, "width": side} if square else {"height": height(h)}
    return alt.Chart(df, title=title, **size_kw).mark_circle(
        size=size * scale(), opacity=opacity).encode(**enc)


def square_domain(x: np.ndarray, y: np.ndarray, pad: float = 0.08) -> tuple:
    """Equal-length x and y ranges that hold every point (with a margin)."""
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if len(x) == 0:
        return ((-1, 1), (-1, 1))
    cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
    half = max(x.max() - x.min(), y.max() - y.min(), 1e-6) * (0.5 + pad)
    return ((float(cx - half), float(cx + half)), (float(cy - half), float(cy + half)))


def density(x: np.ndarray, p: np.ndarray, title: str = "", x_title: str = "z",
            y_title: str = "density", h: int = 120, color: str = MODEL) -> alt.Chart:
    """A 1-D density as a filled area."""
    df = pd.DataFrame({x_title: x, y_title: p})
    return alt.Chart(df, title=title, height=height(h)).mark_area(
        color=color, opacity=0.35, line={"color": color}).encode(
        x=alt.X(x_title, title=x_title), y=alt.Y(y_title, title=y_title))


# --- PNG helpers for dense fields -------------------------------------------------------------

LUT_SIZE = 1024  # colour-map levels: a step of 1/1023 of the range, below what an eye can tell
_LUTS: dict[bytes, np.ndarray] = {}


def _lut(cmap: np.ndarray) -> np.ndarray:
    """The colour map sampled at LUT_SIZE levels, (LUT_SIZE, 3) uint8, linear between anchors."""
    key = cmap.tobytes()
    if key not in _LUTS:
        t = np.linspace(0, len(cmap) - 1, LUT_SIZE)
        i = np.minimum(t.astype(int), len(cmap) - 2)
        f = (t - i)[:, None]
        _LUTS[key] = (cmap[i] * (1 - f) + cmap[i + 1] * f).astype(np.uint8)
    return _LUTS[key]


def colormap(values: np.ndarray, lo: float | None = None, hi: float | None = None,
             cmap: np.ndarray = VIRIDIS) -> np.ndarray:
    """Map an array to RGB (uint8) through an anchor-colour map (via a lookup table: one
    index per value instead of interpolating every pixel, ~4x faster); non-finite -> white."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    lo = np.min(v[finite]) if lo is None and finite.any() else (lo or 0.0)
    hi = np.max(v[finite]) if hi is None and finite.any() else (hi if hi is not None else 1.0)
    t = np.where(finite, v, lo)
    t -= lo
    t *= (LUT_SIZE - 1) / (hi - lo + 1e-12)
    np.clip(t, 0, LUT_SIZE - 1, out=t)
    rgb = _lut(np.asarray(cmap, dtype=np.float64))[(t + 0.5).astype(np.intp)]
    rgb[~finite] = 255
    return rgb


def heatmap_png(values: np.ndarray, lo=None, hi=None, upscale: int = 4,
                cmap: np.ndarray = VIRIDIS, flip_y: bool = True) -> Image.Image:
    """A (H, W) field as an image; row 0 is the bottom of the plot when flip_y."""
    v = np.asarray(values)
    rgb = colormap(v[::-1] if flip_y else v, lo, hi, cmap)
    img = Image.fromarray(rgb)
    return img.resize((img.width * upscale, img.height * upscale), Image.NEAREST)


def image_grid(images: np.ndarray, ncols: int = 8, upscale: int = 3, pad: int = 1,
               border: float = 0.35) -> Image.Image:
    """Images (n, 28, 28) in [0, 1] (white on black) tiled into one grey picture."""
    imgs = np.clip(np.asarray(images, dtype=np.float32), 0, 1)
    if imgs.ndim == 2:
        imgs = imgs.reshape(-1, 28, 28)
    n, h, w = imgs.shape
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    canvas = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), border, np.float32)
    for k in range(n):
        r, c = divmod(k, ncols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h,
               pad + c * (w + pad):pad + c * (w + pad) + w] = imgs[k]
    img = Image.fromarray((canvas * 255).astype(np.uint8))
    return img.resize((img.width * upscale, img.height * upscale), Image.NEAREST)


def png_bytes(img: Image.Image, compress_level: int = 6) -> bytes:
    """PNG bytes; compress_level 1 encodes a smooth density map ~3x faster than zlib's
    default 6, for a slightly larger file (worth it for a map redrawn on every slider step)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=compress_level)
    return buf.getvalue()


def legend_bar(lo: float, hi: float, label: str, cmap: np.ndarray = VIRIDIS) -> None:
    """A one-line colour legend for a PNG field."""
    stops = ", ".join(f"rgb({int(c[0])},{int(c[1])},{int(c[2])})" for c in cmap)
    st.html(f"<div style='display:flex;align-items:center;gap:8px;font-size:{0.85 * scale()}rem'>"
            f"<span>{lo:.3g}</span><div style='flex:1;height:10px;border-radius:3px;"
            f"background:linear-gradient(to right,{stops})'></div><span>{hi:.3g}</span>"
            f"<span style='opacity:.7'>{label}</span></div>")


def vega_config(s: float | None = None) -> dict:
    """The house style (at presenter scale s, by default the current one) as a Vega-Lite
    ``config`` dict, for specs written as plain dicts and drawn with ``show_spec`` (no Altair
    object building or schema validation, which cost tens of ms per compound chart on a
    slider step)."""
    return copy.deepcopy(_vega_config(scale() if s is None else s))


@functools.lru_cache(maxsize=4)
def _vega_config(s: float) -> dict:
    del s  # the cache key; _style reads the same scale()
    return _style(alt.Chart(pd.DataFrame({"a": [0]})).mark_point()).to_dict()["config"]


def spec(chart) -> dict:
    """A chart in the house style as a Vega-Lite dict whose data sets are already Arrow bytes
    (what Streamlit sends). Cache it (on the run key and view) and draw it with show_spec on
    every rerun: Altair's building and validation and the data's conversion then run once,
    not on every slider step (tens of ms each)."""
    from streamlit import dataframe_util
    out = _style(chart).to_dict()
    out["datasets"] = {name: dataframe_util.convert_anything_to_arrow_bytes(pd.DataFrame(rows))
                       for name, rows in out.get("datasets", {}).items()}
    return out


def show_spec(vl_spec: dict, key: str | None = None, **kwargs):
    """Draw a Vega-Lite dict (from spec() or written by hand), sized as show() sizes a chart."""
    fixed = isinstance(vl_spec.get("width"), int)
    return st.vega_lite_chart(vl_spec, width="content" if fixed else "stretch", key=key,
                              **kwargs)
