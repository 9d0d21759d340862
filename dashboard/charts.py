"""Chart builders: Altair charts in one palette and one notation, and small PNGs for dense
fields (density maps, image grids), which cost far less than thousands of chart marks
(../shared/GUIDE.md, section 2: a 10,000-rectangle heatmap took ~330 ms per slider step).

Palette: Okabe & Ito (2008), "Color Universal Design", safe for the common colour-vision
deficiencies. Continuous fields use viridis (van der Walt & Smith, matplotlib), here as ten
anchor colours interpolated linearly.
"""

from __future__ import annotations

import base64
import copy
import functools
import html
import io
import os
import threading

import altair as alt
import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st
from PIL import Image

from streamlit import dataframe_util

from . import state

# Altair checks a chart against the Vega-Lite JSON schema in to_dict(): ~15 ms a chart (the
# autoencoder page's full run, four charts: 277 -> 217 ms without it), on every slider step
# that redraws one. The app skips that; the tests set this variable (tests/conftest.py), so
# every chart a page test draws is still checked.
VALIDATE = os.environ.get("LATENT_LAB_VALIDATE_CHARTS") == "1"
_ALTAIR_LOCK = threading.Lock()  # Altair's data transformer and theme are process-wide

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000"]
REAL, FAKE, MODEL = "#0072B2", "#D55E00", "#009E73"  # data, generated, model curves
VIRIDIS = np.array([[68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142],
                    [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89],
                    [180, 222, 44], [253, 231, 37]], dtype=np.float64)
DIVERGING = np.array([[213, 94, 0], [245, 245, 245], [0, 114, 178]], dtype=np.float64)
SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
CANVAS_ROWS = 400  # charts with this many data rows or more are drawn on a canvas (see vega)
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


def show(chart: alt.Chart | dict, key: str | None = None, **kwargs):
    """Draw a chart in the house style: as wide as its container unless it set a width. Its
    data sets are named by their place in the chart (see stable_names), so a rerun that
    changes only the data updates the drawn chart in place."""
    if isinstance(chart, dict):  # a Vega-Lite dict (scatter, or written by hand)
        return show_spec(chart, key, **kwargs)
    fixed = isinstance(getattr(chart, "width", None), int)
    return vega(spec(chart), "content" if fixed else "stretch", key, **kwargs)


def vega(vl_spec: dict, width: str, key: str | None = None, **kwargs):
    """Every chart goes through here to st.vega_lite_chart: data sets under stable names (so
    a data change updates the drawn chart in place), and a chart of CANVAS_ROWS data rows or
    more drawn on a canvas. Streamlit's default below 2,000 is SVG, one DOM element per mark:
    a scatter of 800 points took ~30 ms longer per slider step in Chromium than on a canvas,
    while a few curves are cheaper as SVG, where only the changed marks are redrawn. A chart
    that reports clicks (on_select) stays SVG, where each mark is an element to click."""
    spec = stable_names(vl_spec, rename=False)
    if spec.get("datasets"):
        spec["datasets"] = {k: _table(v) for k, v in spec["datasets"].items()}
    rows = sum(_rows(v) for v in (spec.get("datasets") or {}).values())
    if "on_select" not in kwargs and rows >= CANVAS_ROWS:
        meta = dict(spec.get("usermeta") or {})
        options = dict(meta.get("embedOptions") or {})
        options.setdefault("renderer", "canvas")
        spec["usermeta"] = {**meta, "embedOptions": options}
    return st.vega_lite_chart(spec, width=width, key=key, **kwargs)


def _table(data):
    """Rows as a list of dicts (inline values) become an Arrow table: Streamlit would make
    a pandas frame of them first, ~20x slower (2.7 ms for 800 rows, on every slider step)."""
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        try:
            return pa.Table.from_pylist(data)
        except (pa.ArrowException, TypeError, ValueError):  # mixed types in a column
            return data
    return data


def _rows(data) -> int:
    """Rows of a data set as Streamlit takes them (Arrow bytes or table, frame, list)."""
    if isinstance(data, bytes):
        return pa.ipc.open_stream(data).read_all().num_rows
    if isinstance(data, (pa.Table, pd.DataFrame, list)):
        return len(data)
    return 0


def stable_names(vl_spec: dict, rename: bool = True) -> dict:
    """The spec with its data sets named by their place in it ("_d0", "_d1", … in the order
    they are first used; rename=False keeps the names it has), and inline ``data.values``
    moved into named data sets.

    Streamlit's browser side keeps a drawn Vega view and swaps only its data when a rerun
    sends the same spec text with new data; any other change of the text builds a new view
    (compiling the Vega-Lite spec again, ~100-200 ms for a layered chart in Chromium). Altair
    names a data set by a hash of its content, and inline values are part of the text, so
    without this every data change is a spec change."""
    old = vl_spec.get("datasets") or {}
    datasets: dict = {}
    names: dict[str, str] = {}

    def name_for(key) -> str:
        if key not in names:
            names[key] = f"_d{len(names)}"
        return names[key]

    def visit(node):
        if isinstance(node, list):
            return [visit(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for k, v in node.items():
            if k == "datasets" and node is vl_spec:
                continue
            if k == "data" and isinstance(v, dict):
                if "values" in v and "format" not in v:  # inline rows (not GeoJSON & co.)
                    name = name_for(("inline", len(names)))
                    while name in old:
                        name = name_for(("inline", len(names)))
                    datasets[name] = v["values"]
                    out[k] = {**{kk: vv for kk, vv in v.items() if kk != "values"},
                              "name": name}
                    continue
                if v.get("name") in old:
                    name = name_for(v["name"]) if rename else v["name"]
                    datasets[name] = old[v["name"]]
                    out[k] = {**v, "name": name}
                    continue
            out[k] = visit(v) if k != "values" else v
        return out

    spec = visit(vl_spec)
    for key, rows in old.items():  # declared but not referenced by a "data" (e.g. lookups)
        if key not in datasets and (key not in names or not rename):
            datasets[key] = rows
    if datasets:
        spec["datasets"] = datasets
    return spec


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
            color_title: str | None = None, square: bool = False) -> dict:
    """Points, as a Vega-Lite dict for show(); coloured by a category (Okabe-Ito) or a
    continuous value (viridis). square=True draws both axes to the same scale (a circle
    stays a circle): through two invisible corner points rather than a domain in the spec,
    so a change of the data (a noise slider) changes only data sets and the drawn chart is
    updated in place. Written as a dict, not with Altair: building, checking and converting
    the Altair chart was most of the home page's noise step on the server (the fragment's
    run 65 ms before, 21-30 ms after). tests/test_charts.py checks that this is the chart
    Altair gave."""
    df = df.iloc[:MAX_MARKS]
    corners = None
    if square and domain is None:
        (x0, x1), (y0, y1) = square_domain(df[x].to_numpy(), df[y].to_numpy())
        corners = pa.table({x: [x0, x1], y: [y0, y1]})

    def axis_scale(i: int) -> dict:
        return ({"domain": list(domain[i])} if domain
                else {"nice": corners is None, "zero": False})

    def field(name: str, **kw) -> dict:
        kind = ("quantitative" if pd.api.types.is_numeric_dtype(df[name]) else "nominal")
        return {"field": name, **kw, "type": kind}

    enc = {"x": field(x, scale=axis_scale(0), title=x_title or x),
           "y": field(y, scale=axis_scale(1), title=y_title or y)}
    if color:
        if continuous:
            enc["color"] = {"field": color, "scale": {"scheme": "viridis"},
                            "title": color_title or color, "type": "quantitative"}
        else:
            cats = [c.item() if isinstance(c, np.generic) else c  # numpy scalars: JSON's
                    for c in sorted(df[color].unique(), key=str)]
            enc["color"] = {"field": color, "scale": {"domain": cats,
                                                      "range": palette(len(cats))},
                            "title": color_title or color, "type": "nominal"}
    if tooltip:
        enc["tooltip"] = [field(t) for t in tooltip]
    side = int(h * min(scale(), 1.2))  # fixed-size squares must still fit their column
    size_kw = {"height": side, "width": side} if square else {"height": height(h)}
    points = {"data": {"name": "points"},
              "mark": {"type": "circle", "opacity": opacity, "size": size * scale()},
              "encoding": enc}
    data = {"points": pa.Table.from_pandas(df, preserve_index=False)}
    if corners is None:
        out = {**points, **size_kw}
    else:
        data["corners"] = corners
        edge = {"data": {"name": "corners"}, "mark": {"type": "point", "opacity": 0},
                "encoding": {k: {kk: vv for kk, vv in enc[k].items() if kk != "title"}
                             for k in ("x", "y")}}
        out = {"layer": [points, edge], **size_kw}
    return {**out, "title": title, "config": copy.deepcopy(_house_config(scale(), "none")),
            "datasets": data}


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


def data_url(png: bytes) -> str:
    """PNG bytes as a data: URL, for an image mark's url field or an <img> in st.html."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def legend_bar(lo: float, hi: float, label: str, cmap: np.ndarray = VIRIDIS) -> None:
    """A one-line colour legend for a PNG field."""
    st.html(legend_html(lo, hi, label, cmap))


def legend_html(lo: float, hi: float, label: str, cmap: np.ndarray = VIRIDIS) -> str:
    """legend_bar's HTML, to place in a larger HTML element (one element for a figure and
    its legend, not two)."""
    stops = ", ".join(f"rgb({int(c[0])},{int(c[1])},{int(c[2])})" for c in cmap)
    return (f"<div style='display:flex;align-items:center;gap:8px;font-size:{0.85 * scale()}rem'>"
            f"<span>{lo:.3g}</span><div style='flex:1;height:10px;border-radius:3px;"
            f"background:linear-gradient(to right,{stops})'></div><span>{hi:.3g}</span>"
            f"<span style='opacity:.7'>{html.escape(label)}</span></div>")


def vega_config(s: float | None = None) -> dict:
    """The house style (at presenter scale s, by default the current one) as a Vega-Lite
    ``config`` dict, for specs written as plain dicts and drawn with ``show_spec`` (no Altair
    object building or schema validation, which cost tens of ms per compound chart on a
    slider step)."""
    return copy.deepcopy(_house_config(scale() if s is None else s, "default"))


@functools.lru_cache(maxsize=8)
def _house_config(s: float, theme: str) -> dict:
    """The config _style adds, under an Altair theme: "none" for Altair charts, as Streamlit's
    st.altair_chart draws them; "default" (which adds a 300 x 300 default view size) for the
    specs written as dicts, which have always had it."""
    del s  # the cache key; _style reads the same scale()
    with _ALTAIR_LOCK, alt.theme.enable(theme):
        return _style(alt.Chart(pd.DataFrame({"a": [0]})).mark_point()).to_dict()["config"]


def _arrow_data(data, datasets: dict, ids: dict) -> dict:
    """Altair data transformer: a data frame becomes a named data set of Arrow bytes (what
    Streamlit sends), one per frame even when several layers use it."""
    if id(data) not in ids:
        ids[id(data)] = name = f"_a{len(ids)}"
        datasets[name] = dataframe_util.convert_anything_to_arrow_bytes(data)
    return {"name": ids[id(data)]}


alt.data_transformers.register("latent_lab_arrow", _arrow_data)


def spec(chart) -> dict:
    """A chart in the house style as a Vega-Lite dict whose data sets are Arrow bytes under
    names by their place (stable_names). What Streamlit's st.altair_chart does, without the
    schema check (see VALIDATE) and without copying the chart for its configuration: the
    house style is merged into the dict. Cache it (on the run key and view) and draw it with
    show_spec on every rerun when its inputs repeat."""
    datasets: dict = {}
    with _ALTAIR_LOCK, alt.theme.enable("none"), \
            alt.data_transformers.enable("latent_lab_arrow", datasets=datasets, ids={}):
        out = chart.to_dict(validate=VALIDATE)
    out["datasets"] = {**(out.get("datasets") or {}), **datasets}
    config = copy.deepcopy(_house_config(scale(), "none"))
    for key, value in (out.get("config") or {}).items():  # the chart's own, under the house's
        config[key] = ({**value, **config[key]} if isinstance(value, dict)
                       and isinstance(config.get(key), dict) else config.get(key, value))
    out["config"] = config
    return stable_names(out)


@st.cache_resource(max_entries=512, show_spinner=False)
def _cached_spec(tag: tuple, _build) -> dict:
    """The house-styled Vega-Lite spec of _build(), its data already in Arrow form."""
    return spec(_build())


def show_cached(tag: tuple, build, key: str | None = None) -> None:
    """Draw the chart build() makes, like show, with its spec cached on tag (plus the
    presenter scale): a rerun that redraws the same chart (a replay step beside it) does no
    Altair work, which costs milliseconds to tens of them per chart."""
    show_spec(_cached_spec((*tag, scale()), build), key)


def show_spec(vl_spec: dict, key: str | None = None, **kwargs):
    """Draw a Vega-Lite dict (from spec() or written by hand), sized as show() sizes a chart."""
    fixed = isinstance(vl_spec.get("width"), int)
    return vega(vl_spec, "content" if fixed else "stretch", key, **kwargs)
