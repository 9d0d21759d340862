"""Views for the Latent representation page: pick or upload an image, read its code from an
autoencoder and a VAE, edit the code one number at a time, compare neighbours in latent and
pixel space.

The slider path is kept cheap: models come from the run manager's in-memory results, every
per-image computation is cached on the image and the run key, and the charts are plain
Vega-Lite dicts whose spec stays the same while their data changes (no Altair building or
validation on a slider step). The upload conversion lives in ``models.images``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st
import torch

from models import datasets
from models.images import ImageProblem, Prepared, prepare_upload
from models.presets import PAGE_DEFAULTS
from models.train import AEConfig, VAEConfig

from . import charts, panels, state
from .state import Param

PAGE = "latent-representation"
N_SHOWN = 8  # sliders shown in front; a longer code's other dimensions in an expander
N_NEIGHBOURS = 8
LATENT_OPTIONS = (2, 4, 8, 16, 32)
MODEL_LABELS = {"ae": "autoencoder", "vae": "VAE"}
SOURCES = {"index": "By index", "random": "At random", "class": "By class", "upload": "Upload"}
UPLOAD_TYPES = ["png", "jpg", "jpeg"]
TRACK_KEY = "_lr_code_of"  # (image, model run) the sliders were last set for
AE_COLOR, VAE_COLOR = charts.FAKE, charts.REAL

DEFAULT_AE, DEFAULT_VAE = PAGE_DEFAULTS[PAGE]
DATA = Param("data", "Data set", DEFAULT_AE.dataset, "choice", options=("digits", "sprites"),
             help="The models are trained on this data set; uploads are converted to its "
                  "format.")
LATENT = Param("latent", "Latent dimensions", DEFAULT_AE.latent_dim, "steps",
               options=LATENT_OPTIONS,
               help="How many numbers each model uses for one image (the same for both).")
SOURCE = Param("pick", "Pick an image", "index", "choice", options=tuple(SOURCES),
               labels=SOURCES)
DRAW = Param("draw", "Random pick", 0, "int", lo=0, hi=9999, step=1,
             help="Which random held-out image: another number, another image.")
EDIT = Param("model", "Edit the code of", "ae", "choice", options=("ae", "vae"),
             labels={"ae": "the autoencoder", "vae": "the VAE"})


@dataclass
class Picked:
    """The image the page works on."""

    x: np.ndarray  # (784,) float32 in [0, 1]
    ident: str  # names the image: "digits:12" or "upload:<data set>:<sha1>"
    caption: str
    label: int | None = None  # its class, when it comes from the data set
    prepared: Prepared | None = None  # an upload's conversion


def forget_hidden(keys) -> None:
    """Call at the end of a page, after its widgets. A key in `keys` that this run did not draw,
    but that has widget state from an earlier run of this session, was hidden by the user's own
    choice (another image source, a smaller code, a model not trained yet), not by a bad link:
    the link check leaves it out instead of reporting it as "not a setting of this page".
    (A general fix would belong in state.url_notice; see the helper's report.)"""
    raw = st.session_state.get(state.RAW_KEY, {})
    seen = st.session_state.get(state.SEEN_KEY, {})
    for key in keys:
        if key in raw and key not in seen and key in st.session_state:
            raw.pop(key, None)


HIDDEN_KEYS = ("index", "draw", "cls", "nth", "model",
               *(f"z{j}" for j in range(1, max(LATENT_OPTIONS) + 1)))


# --- models -----------------------------------------------------------------------------------

def model_configs(dataset: str, k: int) -> tuple[AEConfig, VAEConfig]:
    """The page's autoencoder and VAE for a data set and latent size."""
    return (replace(DEFAULT_AE, dataset=dataset, latent_dim=k),
            replace(DEFAULT_VAE, dataset=dataset, latent_dim=k))


def is_ready(config) -> bool:
    h = panels.lookup(config)
    return h is not None and h.status == panels.DONE


def encode(model, kind: str, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes of x (B, 784): the autoencoder's z, or the VAE's mean and std of q(z|x)."""
    with torch.no_grad():
        if kind == "vae":
            q = model.approx_posterior(x)  # q(z|x)
            return q.mean.numpy(), q.stddev.numpy()
        return model.encode(x).numpy(), None


def decode(model, kind: str, z: np.ndarray) -> np.ndarray:
    """Decode codes (B, k) to images (B, 28, 28): x̂ for the autoencoder, E[x|z] for the VAE."""
    with torch.no_grad():
        zt = torch.as_tensor(np.asarray(z, dtype=np.float32))
        x = model.decode_mean(zt) if kind == "vae" else model.decode(zt)
    return x.numpy().reshape(-1, 28, 28)


@st.cache_resource(max_entries=16, show_spinner=False)
def train_codes(key: str, kind: str, dataset: str, _model) -> np.ndarray:
    """Codes of the whole training set (VAE: means): (N, k)."""
    return encode(_model, kind, datasets.load(dataset).x_train)[0]


def _nice_step(span: float) -> float:
    raw = max(span, 1e-6) / 100
    power = 10 ** np.floor(np.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


@st.cache_resource(max_entries=16, show_spinner=False)
def slider_specs(key: str, kind: str, dataset: str, _model) -> list[tuple[float, float, float]]:
    """(lo, hi, step) for every dimension of the code: the training codes' central 99 %
    widened by 30 % on each side, on a round step."""
    codes = train_codes(key, kind, dataset, _model)
    out = []
    for j in range(codes.shape[1]):
        a, b = np.quantile(codes[:, j], [0.005, 0.995])
        span = b - a
        lo, hi = a - 0.3 * span, b + 0.3 * span
        step = _nice_step(hi - lo)
        out.append((round(float(np.floor(lo / step) * step), 10),
                    round(float(np.ceil(hi / step) * step), 10), step))
    return out


# --- picking an image -------------------------------------------------------------------------

def class_names(data: datasets.DataSet) -> dict[int, str]:
    if data.name == "sprites":
        return dict(enumerate(datasets.SPRITE_SHAPES))
    return {int(c): str(int(c)) for c in np.unique(data.labels_test.numpy())}


def describe(data: datasets.DataSet, i: int) -> str:
    lab = int(data.labels_test[i])
    name = class_names(data)[lab]
    return f"held-out image #{i} ({'digit ' if data.name == 'digits' else ''}{name})"


@st.cache_data(max_entries=32, show_spinner=False)
def convert_upload(data: bytes, centre: bool) -> tuple[Prepared | None, str | None]:
    """The upload in the data set's format (centred by mass for digits, kept in place for
    sprites), or the message saying why it cannot be used."""
    try:
        return prepare_upload(data, centre), None
    except ImageProblem as e:
        return None, str(e)


def pick_image(data: datasets.DataSet) -> Picked | None:
    """The picker: by index, at random, by class or an upload. None if there is nothing to
    show yet (no upload, or an upload that cannot be used: its message is shown)."""
    source = state.widget(SOURCE)
    n = len(data.x_test)
    if source == "index":
        i = state.widget(Param("index", "Held-out image", 0, "int", lo=0, hi=n - 1, step=1,
                               help="The models never saw the held-out images in training."))
    elif source == "random":
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        seed = state.widget(DRAW, c1)
        c2.button("Another", on_click=_next_draw, key="draw_another",
                  help="Pick another random held-out image.")
        i = int(np.random.default_rng(seed).integers(n))
    elif source == "class":
        names = class_names(data)
        c1, c2 = st.columns(2)
        cls = state.widget(Param("cls", "Class", next(iter(names)), "choice",
                                 options=tuple(names), labels=names), c1, radio=False)
        members = np.flatnonzero(data.labels_test.numpy() == cls)
        nth = state.widget(Param("nth", "Example", 1, "int", lo=1, hi=len(members), step=1,
                                 help="Which held-out image of this class."), c2)
        i = int(members[nth - 1])
    else:
        return _upload(data)
    return Picked(data.x_test[i].numpy(), f"{data.name}:{i}", describe(data, i),
                  int(data.labels_test[i]))


def upload_ident(dataset: str, raw: bytes) -> str:
    """Names an upload as converted for one data set: digits and sprites convert the same file
    differently (centred by mass, or kept in place), so every cache keyed on the image (its
    picture, its codes, its neighbours) must tell the two apart."""
    return f"upload:{dataset}:{hashlib.sha1(raw).hexdigest()[:12]}"


def _next_draw() -> None:
    st.session_state[DRAW.key] = (int(st.session_state.get(DRAW.key, 0)) + 1) % (DRAW.hi + 1)


def _upload(data: datasets.DataSet) -> Picked | None:
    file = st.file_uploader("A PNG or JPEG picture of a " + (
        "digit" if data.name == "digits" else "shape"), type=UPLOAD_TYPES, key="upload",
        help="Dark on light or light on dark, any size up to 4096 pixels a side. It is "
             "converted to 28 × 28 grey, white on black, like the data set.")
    if file is None:
        st.info("Upload a picture: a digit written on paper and photographed, or drawn in "
                "any paint program. The upload stays in this session; it is not part of the "
                "link.", icon=":material/upload:")
        return None
    raw = file.getvalue()
    prepared, problem = convert_upload(raw, data.name == "digits")
    if problem:
        st.error(f"**{file.name}** cannot be used. {problem}", icon=":material/error:")
        return None
    w, h = prepared.size
    return Picked(prepared.image.reshape(-1), upload_ident(data.name, raw),
                  f"your upload ({prepared.format}, {w} × {h} pixels)", None, prepared)


# --- image helpers ----------------------------------------------------------------------------

def png(images: np.ndarray, upscale: int = 4, ncols: int = 8) -> bytes:
    return charts.png_bytes(charts.image_grid(np.asarray(images).reshape(-1, 28, 28),
                                              ncols=ncols, upscale=upscale))


@st.cache_resource(max_entries=128, show_spinner=False)
def cached_png(tag: str, _images: np.ndarray, upscale: int = 4, ncols: int = 8) -> bytes:
    """PNG bytes cached on a tag that names the content."""
    return png(_images, upscale, ncols)


def show_input(picked: Picked) -> None:
    if picked.prepared is None:
        st.image(cached_png(f"in-{picked.ident}", picked.x, 6), caption=picked.caption,
                 width="content", output_format="PNG")
        return
    c1, c2 = st.columns(2)
    c1.image(picked.prepared.preview, caption="Your picture, in grey", width="content",
             output_format="PNG")
    c2.image(cached_png(f"in-{picked.ident}", picked.x, 6),
             caption="What the models see: 28 × 28", width="content", output_format="PNG")
    if picked.prepared.notes:
        st.info("How your picture was converted: " + " ".join(picked.prepared.notes),
                icon=":material/transform:")


# --- the code as a chart (plain Vega-Lite, see the module doc) ---------------------------------

def code_chart(loc: np.ndarray, scale: np.ndarray | None, color: str, key: str,
               edited: np.ndarray | None = None, h: int = 170) -> None:
    """Bars: the code per dimension (a VAE's mean, with ± one std as a line). With `edited`,
    the bars show the edited code and a black tick the image's own."""
    k = len(loc)
    names = [charts.zname(j) for j in range(k)]
    bars = edited if edited is not None else loc
    df = pd.DataFrame({"dim": names, "value": np.asarray(bars, dtype=float),
                       "own": np.asarray(loc, dtype=float)})
    tip = [{"field": "dim", "type": "nominal", "title": "dimension"},
           {"field": "value", "type": "quantitative", "format": ".3f",
            "title": "edited" if edited is not None else ("mean" if scale is not None
                                                          else "value")}]
    x = {"field": "dim", "type": "nominal", "sort": names, "title": None,
         "axis": {"labelAngle": 0}}
    layers = [{"mark": {"type": "bar", "color": color, "opacity": 0.85},
               "encoding": {"x": x, "y": {"field": "value", "type": "quantitative",
                                          "title": "mean ± std" if scale is not None
                                          else "value"},
                            "tooltip": tip}}]
    if scale is not None:
        df["lo"], df["hi"] = loc - scale, loc + scale
        df["std"] = scale
        layers.append({"mark": {"type": "rule", "color": "#000000",
                                "strokeWidth": 1.5 * charts.scale()},
                       "encoding": {"x": x, "y": {"field": "lo", "type": "quantitative"},
                                    "y2": {"field": "hi"},
                                    "tooltip": tip + [{"field": "std", "type": "quantitative",
                                                       "format": ".3f"}]}})
    if edited is not None:
        layers.append({"mark": {"type": "tick", "color": "#000000", "thickness": 2.5},
                       "encoding": {"x": x, "y": {"field": "own", "type": "quantitative"},
                                    "tooltip": [{"field": "own", "type": "quantitative",
                                                 "format": ".3f", "title": "own code"}]}})
    spec = {"height": charts.height(h), "data": {"name": "code"}, "layer": layers,
            "datasets": {"code": df}, "config": charts.vega_config()}
    charts.vega(spec, "stretch", key)


# --- sections ---------------------------------------------------------------------------------

def explore(data: datasets.DataSet, k: int, models: dict[str, object]) -> None:
    """Everything below the models: the picked image, its codes, the code editor, the
    compression and the neighbours. The editor is a fragment: moving a latent slider reruns
    only the editor, not the page. (Only the editor: in Chromium, URL-bound sliders in a
    fragment nested inside another fragment stopped writing their values into the link once a
    run had finished.)"""
    st.subheader("The image")
    picked = pick_image(data)
    if picked is not None:
        show_input(picked)
    if picked is not None and models:
        st.subheader("Its code, read by each model")
        cols = st.columns(2, gap="large")
        for col, (kind, color) in zip(cols, (("ae", AE_COLOR), ("vae", VAE_COLOR))):
            with col:
                if kind in models:
                    code_panel(f"{MODEL_LABELS[kind].capitalize()}: z for this image"
                               if kind == "ae" else "VAE: q(z|x) for this image",
                               models[kind], kind, picked, color)
                else:
                    st.caption(f"Train the {MODEL_LABELS[kind]} above to see its code.")

        st.subheader("Edit the code")
        st.fragment(_editor)(models, picked)

        st.subheader("Compression")
        errors = {MODEL_LABELS[kind]: read(models[kind], kind, picked).error
                  for kind in models}
        compression(data, k, errors)

        st.subheader("Nearest neighbours")
        st.markdown("The training images closest to this one, measured on raw pixels and on "
                    "codes. Pixel distance is fooled by thickness and position; a good code "
                    "puts images of the same kind together.")
        neighbours(data, picked, models)
    elif picked is not None:
        st.info("Train the models above to see what they make of this image.",
                icon=":material/model_training:")


def _editor(models: dict[str, object], picked: Picked) -> None:
    kind = state.widget(EDIT)
    if kind in models:
        edit_code(models[kind], kind, picked)
    else:
        st.caption(f"Train the {MODEL_LABELS[kind]} above to edit its code.")
    state.bench_mark()


@dataclass
class Reading:
    """One model's reading of one image."""

    loc: np.ndarray  # (k,) the code (VAE: mean of q(z|x))
    scale: np.ndarray | None  # (k,) VAE: std of q(z|x)
    x_hat: np.ndarray  # (28, 28) decoded from loc
    error: float  # squared error of x_hat, summed over pixels
    png: bytes  # x_hat as a picture


@st.cache_resource(max_entries=64, show_spinner=False)
def reading(key: str, kind: str, ident: str, _model, _x: np.ndarray) -> Reading:
    """Cached on the run key and the image, so a slider step recomputes nothing here."""
    loc, scale = encode(_model, kind, torch.as_tensor(_x)[None])
    x_hat = decode(_model, kind, loc)[0]
    err = float(((x_hat.reshape(-1) - _x) ** 2).sum())
    return Reading(loc[0], None if scale is None else scale[0], x_hat, err, png(x_hat, 4))


def read(result, kind: str, picked: Picked) -> Reading:
    return reading(result.key, kind, picked.ident, result.model, picked.x)


def code_panel(title: str, result, kind: str, picked: Picked, color: str) -> None:
    """One model's reading of the image: its code, its reconstruction, its error."""
    r = read(result, kind, picked)
    st.markdown(f"**{title}**")
    code_chart(r.loc, r.scale, color, key=f"code_{kind}")
    c1, c2 = st.columns([1, 2], vertical_alignment="center")
    c1.image(r.png, caption="decoded from its code", width="content", output_format="PNG")
    c2.caption(("The mean of q(z|x) per dimension; the black lines span ± one standard "
                "deviation, the VAE's uncertainty about each number. Decoded from the mean."
                if kind == "vae" else "One number per dimension: the code is a point, not "
                "a distribution.")
               + f" Squared error of the decoding: {r.error:.1f}.")


def slider_params(specs: list[tuple[float, float, float]], code: np.ndarray) -> list[Param]:
    return [Param(f"z{j + 1}", charts.zname(j), float(np.clip(code[j], lo, hi)), "float",
                  lo=lo, hi=hi, step=step, fmt="%.2f",
                  help=f"Code dimension {j + 1}. Starts at this image's own value.")
            for j, (lo, hi, step) in enumerate(specs)]


def sync_sliders(params: list[Param], ident: str, run_key: str) -> None:
    """When the image or the edited model changes, the sliders jump to the new code (on the
    first run a link's own values are kept)."""
    token = (ident, run_key)
    previous = st.session_state.get(TRACK_KEY)
    st.session_state[TRACK_KEY] = token
    if previous is not None and previous != token:
        _reset(params)


def _reset(params: list[Param]) -> None:
    for p in params:
        st.session_state[p.key] = p.default


def edit_code(result, kind: str, picked: Picked) -> None:
    """A slider for every dimension of the code (the first N_SHOWN in front, the others in
    an expander), and the decoding of the edited code."""
    r = read(result, kind, picked)
    code = r.loc
    k = len(code)
    specs = slider_specs(result.key, kind, result.config.dataset, result.model)
    params = slider_params(specs, code)
    sync_sliders(params, picked.ident, result.key)
    front, rest = params[:N_SHOWN], params[N_SHOWN:]
    left, right = st.columns([3, 2], gap="large")
    with left:
        values = _slider_grid(front)
        if rest:
            with st.expander(f"The other {len(rest)} dimensions, {charts.zname(N_SHOWN)} to "
                             f"{charts.zname(k - 1)}"):
                values += _slider_grid(rest, ncols=4)
        st.button("Back to the image's code", on_click=_reset, args=(params,), key="z_reset")
    edited = code.copy()
    edited[:len(values)] = values
    x_new = decode(result.model, kind, edited[None])[0]
    with right:
        c1, c2 = st.columns(2)
        c1.image(png(x_new, 6), caption="decoded from the edited code", width="content",
                 output_format="PNG")
        c2.image(r.png, caption="from the image's own code", width="content", output_format="PNG")
        changed = [f"{charts.zname(j)} {code[j]:.2f} → {edited[j]:.2f}"
                   for j in range(len(values)) if abs(edited[j] - code[j]) > 1e-9]
        st.caption(("Changed: " + ", ".join(changed)) if changed else
                   "Move a slider: the picture on the left is decoded from the code as edited.")
    code_chart(code, None, AE_COLOR if kind == "ae" else VAE_COLOR, key="code_edit",
               edited=edited, h=140)
    st.caption("Bars: the edited code. Black ticks: the image's own code."
               + (" For a VAE a code far outside ± 3 lies where the prior p(z) puts almost "
                  "no mass, and the decoder has rarely been asked about it."
                  if kind == "vae" else ""))


def _slider_grid(params: list[Param], ncols: int = 2) -> list[float]:
    """Sliders in ncols columns, filled column by column; their values in order."""
    if not params:
        return []
    cols = st.columns(ncols)
    per = -(-len(params) // ncols)
    return [state.widget(p, cols[j // per]) for j, p in enumerate(params)]


def compression(data: datasets.DataSet, k: int, errors: dict[str, float]) -> None:
    d = data.dim
    items = [("Pixels", f"{d}", f"{int(np.sqrt(d))} × {int(np.sqrt(d))} grey levels, each "
                                "stored as one byte: " + f"{8 * d:,} bits."),
             ("Latent numbers", f"{k}", f"{k} floating-point numbers of 32 bits: "
                                        f"{32 * k:,} bits."),
             ("Fewer numbers", f"{d / k:.0f} ×", "Pixels per latent number.")]
    items += [(f"Error, {name}", f"{err:.1f}", "Squared error of this image's decoding, "
               "summed over its pixels.") for name, err in errors.items()]
    panels.metric_row(items)


@st.cache_resource(max_entries=64, show_spinner=False)
def pixel_neighbours(dataset: str, ident: str, _x: np.ndarray) -> np.ndarray:
    """Indices of the training images nearest to x in Euclidean pixel distance."""
    xt = datasets.load(dataset).x_train
    d2 = ((xt - torch.as_tensor(_x)) ** 2).sum(1)
    return torch.argsort(d2)[:N_NEIGHBOURS].numpy()


@st.cache_resource(max_entries=64, show_spinner=False)
def latent_neighbours(key: str, kind: str, dataset: str, ident: str, _model, _x: np.ndarray
                      ) -> np.ndarray:
    """Indices of the training images whose codes (VAE: means) are nearest to x's."""
    codes = train_codes(key, kind, dataset, _model)
    z = encode(_model, kind, torch.as_tensor(_x)[None])[0]
    d2 = ((codes - z) ** 2).sum(1)
    return np.argsort(d2)[:N_NEIGHBOURS]


def neighbours(data: datasets.DataSet, picked: Picked, models: dict[str, object]) -> None:
    """Nearest training images in pixel space beside those in each model's latent space."""
    labels = data.labels_train.numpy()
    rows = [("Pixel space", pixel_neighbours(data.name, picked.ident, picked.x))]
    for kind, result in models.items():
        rows.append((f"Latent space, {MODEL_LABELS[kind]}",
                     latent_neighbours(result.key, kind, data.name, picked.ident,
                                       result.model, picked.x)))
    cols = st.columns(len(rows))
    names = class_names(data)
    for col, (title, idx) in zip(cols, rows):
        with col:
            st.markdown(f"**{title}**")
            # named by the images it shows: a model's neighbours change with the model
            st.image(cached_png(f"nb-{data.name}-{','.join(map(str, idx.tolist()))}",
                                data.x_train[idx].numpy(), 3, 4), width="content",
                     output_format="PNG")
            if picked.label is not None:
                same = int((labels[idx] == picked.label).sum())
                st.caption(f"{same} of {N_NEIGHBOURS} share its class "
                           f"({names[picked.label]}).")
            else:
                counts = pd.Series([names[int(c)] for c in labels[idx]]).value_counts()
                st.caption("Classes: " + ", ".join(f"{c} × {n}" for c, n in counts.items()))
