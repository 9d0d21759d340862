"""The Latent space page's glue: its URL-bound controls, computations cached on the run key,
and the charts and pictures of each section. The maths lives in ``models.latent_space``.

Heavy work (encoding the data, decoding grids and paths, PNGs) is cached with
``st.cache_data`` keyed on the run key, so moving a slider only decodes what that slider
changes. The latent map keeps to N_POINTS marks, far below the 2,000 at which Streamlit
switches Vega to its canvas renderer (where single points cannot be clicked).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from models import datasets
from models import latent_space as ls
from models.metrics import fit_pca
from models.presets import PAGE_DEFAULTS
from models.runs import RunResult
from models.train import AEConfig, VAEConfig

from . import charts, controls, panels, state
from .state import Param

PAGE = "latent-space"
N_POINTS = 500  # held-out inputs on the latent map (each one a clickable mark)
MANIFOLD_SIDE = 15  # decodings per side of the manifold grid
MANIFOLD_TAIL = 0.05  # the grid spans the prior's 5 % .. 95 % quantiles (or the codes' 1-99 %)
STRIP = 10  # decodings along an interpolation
PATH_T = 101  # points of the log-density curve along a path
TRAVERSAL_STEPS = 11
MAX_TRAVERSAL_ROWS = 16  # "every dimension" grid
COMPARE_POINTS = 500
GRID_LINES = 11  # lines per family in the comparison's latent grid
GRID_TAIL = 0.02  # ... spanning the prior's 2 % .. 98 % quantiles (or the codes' 1-99 %)
LINE_POINTS = 25
IMAGE_DATASETS = ("digits", "sprites")
LATENT_OPTIONS = (2, 3, 4, 5, 6, 8, 10, 16, 20, 32)
BETAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
SPRITE_FACTORS = ("shape", "scale", "rotation", "x", "y")  # columns of factors_*, in order
DIGIT_COLOURS = charts.OKABE_ITO + ["#882255", "#999999"]  # ten distinguishable classes
PATH_COLOURS = {"linear": "#000000", "spherical": "#CC79A7"}
FAMILY_COLOURS = {"z₁ fixed": "#333333", "z₂ fixed": "#D55E00"}
KIND_LABELS = {"ae": "Autoencoder", "vae": "VAE", "gan": "GAN"}

_defaults = PAGE_DEFAULTS[PAGE]
DEFAULT_VAE: VAEConfig = _defaults[0]  # digits, latent 2
COMPARE_DEFAULTS: dict[str, object] = {c.kind: c for c in _defaults if c.dataset == "moons"}

# --- controls (every one bound to the URL) ------------------------------------------------------

DATA = controls.dataset_param(DEFAULT_VAE.dataset, list(IMAGE_DATASETS))
MODEL = Param("model", "Model", "vae", "choice", options=("vae", "ae"),
              labels={"vae": "VAE", "ae": "Autoencoder"},
              help="A VAE has a prior p(z) to sample from and measure paths against; an "
                   "autoencoder only has its codes.")
LATENT = Param("latent", "Latent dimensions", DEFAULT_VAE.latent_dim, "steps",
               options=LATENT_OPTIONS,
               help="The size of z. With 2 the latent space is a plane you can see whole.")
BETA = Param("beta", "β (weight of the KL term)", DEFAULT_VAE.beta, "steps", options=BETAS,
             labels={b: f"{b:g}" for b in BETAS},
             help="β = 1 is the ELBO; a larger β pulls q(z|x) towards the prior and, on "
                  "sprites, tends to give each factor its own dimension (β-VAE).")
EPOCHS = controls.epochs_param(DEFAULT_VAE.epochs)
SEED = controls.seed_param(DEFAULT_VAE.seed)
COLOUR = Param("color", "Colour by", "shape", "choice", options=SPRITE_FACTORS,
               help="Sprites know the true factors that drew them; colour the map by any one.")
AXES = Param("axes", "Map axes", "dims", "choice", options=("dims", "pca"),
             labels={"dims": "two dimensions", "pca": "PCA projection"},
             help="With more than two latent dimensions, show two of them, or the plane of "
                  "largest variance of the codes (PCA).")
POINT = Param("point", "Selected point", 183, "int", lo=0, hi=N_POINTS - 1,
              help="Which held-out input to show. A click on a point of the map sets this.")
END = Param("end", "Interpolation end", 208, "int", lo=0, hi=N_POINTS - 1,
            help="The input the interpolation runs to (it starts at the selected point).")
CLICK = Param("click", "A click on the map sets", "point", "choice", options=("point", "end"),
              labels={"point": "the selected point", "end": "the interpolation end"})
POS = Param("pos", "Interpolation position", 0.5, "float", lo=0.0, hi=1.0, step=0.05,
            fmt="t = %.2f", help="Where along the path to decode: t = 0 is the selected "
                                 "point, t = 1 the end.")
SPAN = Param("span", "Traversal range ±", 3.0, "float", lo=0.5, hi=5.0, step=0.5,
             help="How far the traversed dimension moves each way: in units of the prior "
                  "(VAE) or of that dimension's spread over the data (autoencoder).")
_points = datasets.points_datasets()
CMP_DATA = Param("cmp_data", "2-D data set", "moons", "choice", options=tuple(_points),
                 help="; ".join(f"{k}: {datasets.DATASETS[k].description}" for k in _points))
CMP_LATENT = Param("cmp_latent", "Latent size", 2, "choice", options=(1, 2),
                   help="The same latent size for all three models: 1 asks each for a curve "
                        "through the data, 2 for a sheet.")


def _dim_param(key: str, label: str, default: int, latent: int, help_: str) -> Param:
    return Param(key, label, min(default, latent), "int", lo=1, hi=latent, step=1, help=help_)


def model_controls(where) -> AEConfig | VAEConfig:
    """The sidebar: which model's latent space to explore."""
    data = state.widget(DATA, where)
    kind = state.widget(MODEL, where)
    latent = state.widget(LATENT, where)
    beta = state.widget(BETA, where, disabled=kind != "vae")
    with where.expander("Training", expanded=False):
        epochs = state.widget(EPOCHS)
        seed = state.widget(SEED)
    if kind == "vae":
        return replace(DEFAULT_VAE, dataset=data, latent_dim=latent, beta=beta, epochs=epochs,
                       seed=seed)
    return AEConfig(dataset=data, latent_dim=latent, epochs=epochs, seed=seed)


@dataclass(frozen=True)
class MapView:
    colour: str  # "label" or a sprite factor
    axes: str  # "dims" | "pca"
    zx: int  # 0-based latent dimensions on the map's axes
    zy: int
    point: int
    end: int


# The view controls are drawn even before the model is trained, so that a link keeps them.

def map_controls(config) -> MapView:
    latent = config.latent_dim
    if config.dataset == "sprites" or latent > 2:
        c1, c2, c3 = st.columns(3)
    colour = state.widget(COLOUR, c1, radio=False) if config.dataset == "sprites" else "label"
    axes, zx, zy = "dims", 1, 2
    if latent > 2:
        axes = state.widget(AXES, c2)
        zx = state.widget(_dim_param("zx", "Horizontal axis", 1, latent,
                                     "The latent dimension along the map's x axis."),
                          c3, disabled=axes != "dims")
        zy = state.widget(_dim_param("zy", "Vertical axis", 2, latent,
                                     "The latent dimension along the map's y axis."),
                          c3, disabled=axes != "dims")
    c1, c2, c3 = st.columns([2, 2, 1.6])
    point = state.widget(POINT, c1)
    end = state.widget(END, c2)
    state.widget(CLICK, c3, radio=False)
    return MapView(colour, axes, zx - 1, zy - 1, point, end)


def position_control() -> float:
    return state.widget(POS)


def traversal_controls(config) -> tuple[int, float]:
    c1, c2 = st.columns(2)
    dim = state.widget(_dim_param("dim", "Traversed dimension", 1, config.latent_dim,
                                  "The latent dimension that varies; the others stay at the "
                                  "selected point's code."), c1)
    span = state.widget(SPAN, c2)
    return dim - 1, span


def untrained_note() -> None:
    st.caption("Train the model above (or open its settings from a link) to fill this "
               "section; these settings are kept until then.")


def compare_controls():
    c1, c2 = st.columns([3, 1])
    data = state.widget(CMP_DATA, c1, radio=False)
    latent = state.widget(CMP_LATENT, c2)
    return data, latent


COMPARE = Param("compare", "Show the three models on the same data", False, "bool")  # the
# expander's state, in the link
COMPARE_DEFAULT = "_ls_compare_default"  # whether the link opens it


def comparison_expander():
    """The comparison of the three models in an expander, drawn (and computed) only while it
    is open: six charts and three more models that a first visit did not need (in a fresh
    browser they were ~0.45 s of the page's first load, 2.5 s with them and 2.0-2.2 without).
    Open or closed is in the link; a link that sets the comparison's controls opens it."""
    raw = st.session_state.get(state.RAW_KEY, {})
    st.session_state.setdefault(state.SEEN_KEY, {})[COMPARE.key] = COMPARE
    if raw or COMPARE_DEFAULT not in st.session_state:  # a link (raw: this page's first run)
        st.session_state[COMPARE_DEFAULT] = COMPARE.key not in raw and any(
            p.key in raw for p in (CMP_DATA, CMP_LATENT))
    return st.expander(COMPARE.label, expanded=st.session_state[COMPARE_DEFAULT],
                       key=COMPARE.key, bind="query-params", on_change="rerun",
                       icon=":material/compare:")


def compare_configs(data: str, latent: int) -> list:
    out = []
    for kind in ("ae", "vae", "gan"):
        base = COMPARE_DEFAULTS[kind]
        out.append(replace(base, dataset=data, noise_dim=latent) if kind == "gan"
                   else replace(base, dataset=data, latent_dim=latent))
    return out


# --- cached computations (keyed on the run key) ---------------------------------------------------

def _is_vae(model) -> bool:
    return hasattr(model, "approx_posterior")


def _gaussian_prior(model) -> bool:
    prior = getattr(model, "prior_", None)
    return prior is not None and prior.name == "gaussian"


def _factor_text(dataset: str, labels, factors, i: int) -> str:
    if dataset == "digits":
        return f"digit {int(labels[i])}"
    f = factors[i]
    return (f"{datasets.SPRITE_SHAPES[int(f[0])]}, scale {f[1]:.2f}, rotation "
            f"{math.degrees(f[2]):.0f}°, x {f[3]:.2f}, y {f[4]:.2f}")


@st.cache_data(max_entries=8, show_spinner=False)
def _codes(key: str, _model, dataset: str) -> dict[str, np.ndarray]:
    """The shown held-out inputs, their codes (and q(z|x) scales) and their decodings."""
    data = datasets.load(dataset)
    x = data.x_test[:N_POINTS]
    z = ls.encode(_model, x)
    scale = ls.encode_scale(_model, x)
    out = {"x": x.numpy().reshape(-1, 28, 28), "z": z.numpy(),
           "x_hat": ls.decode(_model, z).numpy().reshape(-1, 28, 28),
           "labels": data.labels_test[:N_POINTS].numpy()}
    if scale is not None:
        out["scale"] = scale.numpy()
    if data.factors_test is not None:
        out["factors"] = data.factors_test[:N_POINTS].numpy()
    return out


@st.cache_data(max_entries=64, show_spinner=False)
def _point(key: str, _model, dataset: str, i: int) -> dict:
    """The selected input: what it is, its picture beside its decoding, and its code."""
    c = _codes(key, _model, dataset)
    pair = np.stack([c["x"][i], c["x_hat"][i]])
    z = c["z"][i]
    more = ", …" if len(z) > 8 else ""
    code = f"Its code: z = ({', '.join(f'{v:.2f}' for v in z[:8])}{more})"
    if "scale" in c:
        code += (f"; q(z|x) has standard deviations "
                 f"({', '.join(f'{v:.2f}' for v in c['scale'][i][:8])}{more})")
    return {"what": _factor_text(dataset, c["labels"], c.get("factors"), i),
            "png": charts.png_bytes(charts.image_grid(pair, ncols=2, upscale=6)),
            "code": code + "."}


@st.cache_data(max_entries=32, show_spinner=False)
def _map_frame(key: str, _model, dataset: str, axes: str, zx: int, zy: int
               ) -> tuple[pd.DataFrame, dict]:
    """The map's points in the chosen plane, and the projection (to place paths on it)."""
    c = _codes(key, _model, dataset)
    z = c["z"]
    if z.shape[1] == 2 or axes == "dims":
        proj = {"kind": "dims", "dims": (zx, zy) if z.shape[1] > 2 else (0, 1)}
        xy = z[:, list(proj["dims"])]
    else:
        pca = fit_pca(torch.as_tensor(z), 2)
        proj = {"kind": "pca", "mean": pca.mean.numpy(), "components": pca.components.numpy(),
                "explained": float(pca.explained_variance.sum() / np.var(z, 0, ddof=1).sum())}
        xy = (z - proj["mean"]) @ proj["components"].T
    df = pd.DataFrame({"i": np.arange(len(z)), "u": xy[:, 0], "v": xy[:, 1]})
    if dataset == "digits":
        df["digit"] = c["labels"].astype(str)
    else:
        f = c["factors"]
        df["shape"] = [datasets.SPRITE_SHAPES[int(s)] for s in f[:, 0]]
        df["scale"], df["rotation"] = f[:, 1], np.degrees(f[:, 2])
        df["x"], df["y"] = f[:, 3], f[:, 4]
    return df, proj


def _project(proj: dict, z: np.ndarray) -> np.ndarray:
    if proj["kind"] == "dims":
        return z[:, list(proj["dims"])]
    return (z - proj["mean"]) @ proj["components"].T


@st.cache_data(max_entries=8, show_spinner=False)
def _manifold(key: str, _model, dataset: str) -> dict:
    """A MANIFOLD_SIDE^2 grid of decodings across a 2-D latent plane, as one PNG."""
    prior_grid = _gaussian_prior(_model)
    if prior_grid:
        axis = ls.prior_axis(_model.prior_, MANIFOLD_SIDE, MANIFOLD_TAIL)
        ax1 = ax2 = axis
    else:
        ax = ls.code_axis(torch.as_tensor(_codes(key, _model, dataset)["z"]), MANIFOLD_SIDE)
        ax1, ax2 = ax[:, 0], ax[:, 1]
    images = ls.decode(_model, ls.grid(ax1, ax2)).numpy().reshape(-1, 28, 28)
    png = charts.png_bytes(charts.image_grid(images, ncols=MANIFOLD_SIDE, upscale=2))
    return {"png": png, "prior": prior_grid, "x": (float(ax1[0]), float(ax1[-1])),
            "y": (float(ax2[0]), float(ax2[-1]))}


@st.cache_data(max_entries=32, show_spinner=False)
def _interpolation(key: str, _model, dataset: str, a: int, b: int) -> dict:
    """Both paths between the codes of inputs a and b: log p(z) and |z| along them, and
    STRIP decodings of each as one PNG (row 1 linear, row 2 spherical)."""
    z = torch.as_tensor(_codes(key, _model, dataset)["z"])
    z0, z1 = z[a], z[b]
    t = torch.linspace(0, 1, PATH_T)
    t_strip = torch.linspace(0, 1, STRIP)
    prior = getattr(_model, "prior_", None)
    rows, strips, paths = [], [], {}
    for method in ls.PATHS:
        zs = ls.path(z0, z1, t, method)
        paths[method] = zs.numpy()
        logp = prior.log_prob(zs).numpy() if prior is not None else np.full(PATH_T, np.nan)
        norm = zs.norm(dim=1).numpy()
        rows += [{"t": float(ti), "path": method, "log p(z)": float(lp), "‖z‖": float(n)}
                 for ti, lp, n in zip(t, logp, norm)]
        strips.append(ls.decode(_model, ls.path(z0, z1, t_strip, method)).numpy())
    images = np.concatenate(strips).reshape(-1, 28, 28)
    return {"df": pd.DataFrame(rows), "paths": paths,
            "png": charts.png_bytes(charts.image_grid(images, ncols=STRIP, upscale=2)),
            "angle": math.degrees(ls.angle(z0, z1)),
            "norms": (float(z0.norm()), float(z1.norm()))}


@st.cache_data(max_entries=64, show_spinner=False)
def _at_position(key: str, _model, dataset: str, a: int, b: int, pos: float) -> dict:
    """Each path's point at t = pos: its decoding (PNG), log p(z) (VAE) and |z|."""
    z = torch.as_tensor(_codes(key, _model, dataset)["z"])
    prior = getattr(_model, "prior_", None)
    out = {}
    for method in ls.PATHS:
        zt = ls.path(z[a], z[b], [pos], method)  # (1, d)
        x = ls.decode(_model, zt).numpy().reshape(-1, 28, 28)
        out[method] = {"png": charts.png_bytes(charts.image_grid(x, ncols=1, upscale=5, pad=0)),
                       "logp": float(prior.log_prob(zt)[0]) if prior is not None else None,
                       "norm": float(zt.norm())}
    return out


def _traversal_values(model, codes: np.ndarray, dim: int, span: float) -> np.ndarray:
    s = np.linspace(-span, span, TRAVERSAL_STEPS)
    if _is_vae(model):
        return s  # the prior's units: N(0, 1) per dimension
    return codes[:, dim].mean() + s * codes[:, dim].std()


@st.cache_data(max_entries=64, show_spinner=False)
def _traversal(key: str, _model, dataset: str, point: int, dims: tuple[int, ...],
               span: float) -> dict:
    """Rows of decodings: for each dimension in dims, the selected point's code with that
    dimension swept across its range."""
    codes = _codes(key, _model, dataset)["z"]
    z = torch.as_tensor(codes[point])
    images, ranges = [], []
    for d in dims:
        values = _traversal_values(_model, codes, d, span)
        images.append(ls.decode(_model, ls.traverse(z, d, values)).numpy())
        ranges.append((float(values[0]), float(values[-1])))
    images = np.concatenate(images).reshape(-1, 28, 28)
    return {"png": charts.png_bytes(charts.image_grid(images, ncols=TRAVERSAL_STEPS,
                                                      upscale=2)),
            "ranges": ranges}


@st.cache_data(max_entries=8, show_spinner=False)
def _factor_mi(key: str, _model) -> dict:
    """Normalised mutual information between every latent dimension and every sprite factor,
    over all 6,000 sprites (a VAE's z sampled from q(z|x))."""
    data = datasets.load("sprites")
    x = torch.cat([data.x_train, data.x_test])
    factors = torch.cat([data.factors_train, data.factors_test]).numpy()
    z = ls.sample_codes(_model, x, seed=0).numpy()
    return ls.latent_factor_mi(z, factors)


@st.cache_data(max_entries=16, show_spinner=False)
def _comparison(key: str, _model, kind: str, dataset: str, latent: int) -> dict:
    """For one model of the side-by-side: the data, its codes (AE, VAE), and a grid (latent 2)
    or a line (latent 1) in latent space with its image in data space."""
    data = datasets.load(dataset)
    x = data.x_test[:COMPARE_POINTS]
    pts = pd.DataFrame({"x₁": x[:, 0].numpy(), "x₂": x[:, 1].numpy()})
    if data.labels_test is not None:
        pts[data.label_name] = data.labels_test[:COMPARE_POINTS].numpy().astype(str)
        colour, continuous = data.label_name, False
    else:
        pts["t"] = data.factors_test[:COMPARE_POINTS, 0].numpy()
        colour, continuous = "t", True
    prior = getattr(_model, "prior_", None)
    if kind != "gan":
        codes = ls.encode(_model, x).numpy()
        if latent == 1:
            rng = np.random.default_rng(0)  # vertical jitter: a 1-D latent has no second axis
            pts["z₁"], pts["z₂"] = codes[:, 0], rng.uniform(-0.35, 0.35, len(codes))
        else:
            pts["z₁"], pts["z₂"] = codes[:, 0], codes[:, 1]
    n_axis = GRID_LINES if latent == 2 else 120
    if _on_prior(_model):
        axis = ls.prior_axis(prior, n_axis, GRID_TAIL)
        axes = [axis] * latent
    else:
        ax = ls.code_axis(ls.encode(_model, data.x_train), n_axis)
        axes = [ax[:, j] for j in range(latent)]
    if latent == 2:
        zg, line, family = ls.grid_lines(axes[0], axes[1], LINE_POINTS)
        fam = np.where(family == 0, "z₁ fixed", "z₂ fixed")
    else:
        zg = axes[0].unsqueeze(1)
        line, fam = np.zeros(len(zg), int), np.full(len(zg), "z₁")
    xg = ls.decode(_model, zg).numpy()
    grid = pd.DataFrame({"z₁": zg[:, 0].numpy(), "z₂": zg[:, 1].numpy() if latent == 2 else 0.0,
                         "x₁": xg[:, 0], "x₂": xg[:, 1], "line": line, "family": fam,
                         "order": np.arange(len(zg))})
    return {"points": pts, "grid": grid, "colour": colour, "continuous": continuous}


def _on_prior(model) -> bool:
    """Whether the comparison's grid can span the model's prior (its marginal has an inverse
    CDF); otherwise it spans the training codes."""
    prior = getattr(model, "prior_", None)
    return prior is not None and ls.prior_axis(prior, 2) is not None


def _grid_span(model) -> str:
    if _on_prior(model):
        return f"the prior's {100 * GRID_TAIL:.0f} % to {100 - 100 * GRID_TAIL:.0f} % quantiles"
    return "the 1 % to 99 % range of the training codes"


# --- charts -----------------------------------------------------------------------------------

BOTTOM = alt.Legend(orient="bottom")  # fixed-size charts in columns: legends below the plot
BOTTOM_5 = alt.Legend(orient="bottom", columns=5)  # ten digits in two rows: narrow enough to
# share the row below the map with the paths' legend
TOP = alt.Legend(orient="top", direction="horizontal")


def _pad(chart):
    """A fixed-size chart whose plot area keeps its size: axes and legends go around it
    (Streamlit's default "fit" would squeeze the plot to make room for them)."""
    return chart.properties(autosize=alt.AutoSizeParams(type="pad", contains="padding"))


def _fit_x(chart):
    """A chart as wide as its column, with its height the plot's (legends below it)."""
    return chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def _colour_encoding(df: pd.DataFrame, colour: str, title: str | None = None,
                     legend: alt.Legend | None = None):
    legend = legend or alt.Legend()
    if colour in ("digit",):
        cats = [str(i) for i in range(10)]
        return alt.Color("digit:N", title="digit", legend=legend,
                         scale=alt.Scale(domain=cats, range=DIGIT_COLOURS))
    if colour == "shape":
        cats = list(datasets.SPRITE_SHAPES)
        return alt.Color("shape:N", title="shape", legend=legend,
                         scale=alt.Scale(domain=cats, range=charts.palette(len(cats))))
    if df[colour].dtype.kind == "f":
        return alt.Color(f"{colour}:Q", title=title or colour, legend=legend,
                         scale=alt.Scale(scheme="viridis"))
    cats = sorted(df[colour].unique(), key=lambda s: (len(s), s))
    return alt.Color(f"{colour}:N", title=title or colour, legend=legend,
                     scale=alt.Scale(domain=cats, range=charts.palette(len(cats))))


def latent_map(df: pd.DataFrame, proj: dict, colour: str, manifold: dict | None,
               h: int = 420):
    """The held-out inputs in latent space, clickable (a point selection on the index), with
    the two paths and the selected point and the interpolation end drawn on top. Those change
    with the point and end controls: they come from the named data sets "paths" and "ends"
    (path_rows, end_rows), so the chart itself stays the same while they move and the browser
    only swaps its data, instead of building the 500-point chart again."""
    if proj["kind"] == "dims":
        xt, yt = charts.zname(proj["dims"][0]), charts.zname(proj["dims"][1])
    else:
        xt, yt = "PC 1 of z", "PC 2 of z"
    xs, ys = df["u"].to_numpy(), df["v"].to_numpy()
    if manifold is not None:
        xs = np.concatenate([xs, manifold["x"]])
        ys = np.concatenate([ys, manifold["y"]])
    domain = charts.square_domain(xs, ys)
    side = int(h * min(charts.scale(), 1.1))
    sx, sy = alt.Scale(domain=domain[0], nice=False), alt.Scale(domain=domain[1], nice=False)
    x = alt.X("u:Q", title=xt, scale=sx)
    y = alt.Y("v:Q", title=yt, scale=sy)
    pick = alt.selection_point(name="pick", fields=["i"], on="click", clear=False)
    tooltip = ["i:Q"] + (["digit:N"] if colour == "digit" else
                         ["shape:N", alt.Tooltip("scale:Q", format=".2f"),
                          alt.Tooltip("rotation:Q", format=".0f"),
                          alt.Tooltip("x:Q", format=".2f"), alt.Tooltip("y:Q", format=".2f")])
    points = alt.Chart(df).mark_circle(size=30 * charts.scale(), opacity=0.75).encode(
        x=x, y=y, color=_colour_encoding(df, colour, legend=BOTTOM_5), tooltip=tooltip
    ).add_params(pick)
    layers = []
    if manifold is not None:
        box = pd.DataFrame({"u": [manifold["x"][0]], "v": [manifold["y"][0]],
                            "u2": [manifold["x"][1]], "v2": [manifold["y"][1]]})
        layers.append(alt.Chart(box).mark_rect(fill=None, stroke="#888888",
                                               strokeDash=[4, 3]).encode(
            x=x, y=y, x2="u2", y2="v2"))
    layers.append(points)
    layers.append(alt.Chart(alt.NamedData(name="paths")).mark_line(strokeWidth=2).encode(
        x=x, y=y, order="k:Q",
        color=alt.Color("path:N", title="path", legend=BOTTOM, scale=alt.Scale(
            domain=list(PATH_COLOURS), range=list(PATH_COLOURS.values()))),
        strokeDash=alt.StrokeDash("path:N", legend=None, scale=alt.Scale(
            domain=list(PATH_COLOURS), range=[[5, 3], [1, 0]]))))
    layers.append(alt.Chart(alt.NamedData(name="ends")).mark_point(
        size=260 * charts.scale(), filled=False, strokeWidth=2.5).encode(
        x=x, y=y, shape=alt.Shape("role:N", title=None, legend=TOP,
                                  scale=alt.Scale(domain=["selected", "end"],
                                                  range=["circle", "square"])),
        stroke=alt.value("#000000")))
    return _pad(alt.layer(*layers).properties(width=side, height=side).resolve_scale(
        color="independent", strokeDash="independent", shape="independent"))


def path_rows(proj: dict, paths: dict[str, np.ndarray]) -> pd.DataFrame:
    """The map's "paths" data: both paths in the map's plane."""
    return pd.DataFrame([{"u": float(p[0]), "v": float(p[1]), "path": m, "k": k}
                         for m, zs in paths.items() for k, p in enumerate(_project(proj, zs))])


def end_rows(df: pd.DataFrame, point: int, end: int) -> pd.DataFrame:
    """The map's "ends" data: the selected point and the interpolation end."""
    return df.iloc[[point, end]][["i", "u", "v"]].assign(role=["selected", "end"])


def path_density_chart(y: str, h: int = 170, reference: float | None = None,
                       ref_label: str = ""):
    """y (log p(z) or ‖z‖) along both paths, from the named data set "path" (the rows of
    _interpolation's frame): the chart stays the same when the ends move, only its data
    changes."""
    base = alt.Chart(alt.NamedData(name="path")).mark_line(strokeWidth=2 * charts.scale()).encode(
        x=alt.X("t:Q", title="position t along the path"),
        y=alt.Y(f"{y}:Q", title=y, scale=alt.Scale(zero=False)),
        color=alt.Color("path:N", title=None, scale=alt.Scale(domain=list(PATH_COLOURS),
                                                              range=list(PATH_COLOURS.values()))),
        tooltip=["path:N", alt.Tooltip("t:Q", format=".2f"), alt.Tooltip(f"{y}:Q",
                                                                          format=".3g")])
    layers = [base]
    if reference is not None:
        ref = pd.DataFrame({y: [reference], "label": [ref_label]})
        layers.append(alt.Chart(ref).mark_rule(color=charts.MODEL, strokeDash=[2, 2]).encode(
            y=f"{y}:Q", tooltip=["label:N"]))
    return _fit_x(alt.layer(*layers).properties(height=charts.height(h)))


def mi_chart(mi: dict, factor_names: tuple[str, ...]):
    norm = mi["normalised"]
    rows = [{"dimension": charts.zname(j), "factor": factor_names[k], "value": float(norm[j, k]),
             "nats": float(mi["mi"][j, k]), "j": j}
            for j in range(norm.shape[0]) for k in range(norm.shape[1])]
    df = pd.DataFrame(rows)
    order = [charts.zname(j) for j in range(norm.shape[0])]
    enc = dict(x=alt.X("factor:N", sort=list(factor_names), title="true factor",
                       axis=alt.Axis(labelAngle=0)),
               y=alt.Y("dimension:N", sort=order, title="latent dimension"))
    cell = 28 * charts.scale()
    rect = alt.Chart(df).mark_rect().encode(
        **enc, color=alt.Color("value:Q", title="I(z_j; factor) / H(factor)", legend=BOTTOM,
                               scale=alt.Scale(scheme="viridis", domain=[0, 1])),
        tooltip=["dimension:N", "factor:N", alt.Tooltip("value:Q", format=".2f"),
                 alt.Tooltip("nats:Q", format=".3f", title="mutual information (nats)")])
    text = alt.Chart(df).mark_text(fontSize=11 * charts.scale()).encode(
        **enc, text=alt.Text("value:Q", format=".2f"),
        color=alt.condition("datum.value > 0.6", alt.value("#000000"), alt.value("#ffffff")))
    return _pad(alt.layer(rect, text).properties(height=int(cell * norm.shape[0]), width=440))


def _compare_chart(c: dict, space: str, kind: str, latent: int, h: int = 250):
    pts, grid = c["points"], c["grid"]
    xc, yc = ("z₁", "z₂") if space == "latent" else ("x₁", "x₂")
    xs = np.concatenate([grid[xc].to_numpy()] + ([pts[xc].to_numpy()] if xc in pts else []))
    ys = np.concatenate([grid[yc].to_numpy()] + ([pts[yc].to_numpy()] if yc in pts else []))
    domain = charts.square_domain(xs, ys)
    side = int(h * min(charts.scale(), 1.2))
    x = alt.X(f"{xc}:Q", scale=alt.Scale(domain=domain[0], nice=False), title=xc)
    y = alt.Y(f"{yc}:Q", scale=alt.Scale(domain=domain[1], nice=False),
              title="jitter" if (space == "latent" and latent == 1) else yc)
    layers = []
    if xc in pts:
        layers.append(alt.Chart(pts).mark_circle(size=14 * charts.scale(), opacity=0.55).encode(
            x=x, y=y, color=_colour_encoding(pts, c["colour"], legend=BOTTOM)))
    if latent == 2:
        lines = alt.Chart(grid).mark_line(strokeWidth=1.1, opacity=0.85).encode(
            x=x, y=y, detail="line:N", order="order:Q",
            color=alt.Color("family:N", title="grid line", legend=BOTTOM,
                            scale=alt.Scale(domain=list(FAMILY_COLOURS),
                                            range=list(FAMILY_COLOURS.values()))))
    else:  # a line through the latent axis, its points coloured by z₁ (a line mark would
        # split into one series per colour value)
        layers.append(alt.Chart(grid).mark_line(strokeWidth=1, color="#333333").encode(
            x=x, y=y, order="order:Q"))
        lines = alt.Chart(grid).mark_circle(size=22 * charts.scale(), opacity=1).encode(
            x=x, y=y, color=alt.Color("z₁:Q", title="z₁ along the line", legend=BOTTOM,
                                      scale=alt.Scale(scheme="magma")))
    layers.append(lines)
    title = "latent space" if space == "latent" else "data space"
    return _pad(alt.layer(*layers, title=title).properties(width=side, height=side)
                .resolve_scale(color="independent"))


# --- chart specs, built once per run key and view (cheap to draw again on every rerun) ------

@st.cache_data(max_entries=64, show_spinner=False)
def _map_spec(key: str, _model, dataset: str, axes: str, zx: int, zy: int, colour: str,
              latent: int, scale: float) -> dict:
    """The latent map without its "paths" and "ends" data (see latent_map)."""
    df, proj = _map_frame(key, _model, dataset, axes, zx, zy)
    manifold = _manifold(key, _model, dataset) if latent == 2 else None
    return charts.spec(latent_map(df, proj, colour, manifold))


@st.cache_data(max_entries=64, show_spinner=False)
def _map_data(key: str, _model, dataset: str, axes: str, zx: int, zy: int, point: int,
              end: int) -> dict[str, pd.DataFrame]:
    """The latent map's data that move with the point and end controls."""
    df, proj = _map_frame(key, _model, dataset, axes, zx, zy)
    paths = _interpolation(key, _model, dataset, point, end)["paths"]
    return {"paths": path_rows(proj, paths), "ends": end_rows(df, point, end)}


@st.cache_data(max_entries=16, show_spinner=False)
def _path_spec(key: str, _model, y: str, scale: float) -> dict:
    """log p(z) or ‖z‖ along the paths, without its "path" data (see path_density_chart)."""
    reference, label = None, ""
    if y == "‖z‖" and _gaussian_prior(_model):
        d = _model.latent_dim
        reference, label = ls.chi_mean(d), f"mean ‖z‖ under N(0, I{d})"
    return charts.spec(path_density_chart(y, reference=reference, ref_label=label))


def with_data(spec: dict, data: dict[str, pd.DataFrame]) -> dict:
    """A cached spec with its named data sets filled in, as a new dict (the cached one is
    left alone). The spec's text is the same from one slider step to the next, so the
    browser keeps the drawn chart and only replaces the data sets that changed."""
    return {**spec, "datasets": {**spec.get("datasets", {}), **data}}


@st.cache_data(max_entries=8, show_spinner=False)
def _mi_spec(key: str, _model, scale: float) -> dict:
    return charts.spec(mi_chart(_factor_mi(key, _model), SPRITE_FACTORS))


@st.cache_data(max_entries=48, show_spinner=False)
def _compare_spec(key: str, _model, kind: str, dataset: str, latent: int, space: str,
                  scale: float) -> dict:
    return charts.spec(_compare_chart(_comparison(key, _model, kind, dataset, latent), space,
                                      kind, latent))


# --- sections -----------------------------------------------------------------------------------

def _png(data: bytes, caption: str | None = None, width: int | None = None):
    st.image(data, caption=caption, width=width or "content", output_format="PNG")


def show_map(config, result: RunResult, view: MapView) -> None:
    model, key, dataset = result.model, result.key, config.dataset
    _, proj = _map_frame(key, model, dataset, view.axes, view.zx, view.zy)
    manifold = _manifold(key, model, dataset) if config.latent_dim == 2 else None
    colour = "digit" if dataset == "digits" else view.colour
    left, right = st.columns([3, 2], gap="medium")
    with left:
        chart_key = _map_key()
        spec = _map_spec(key, model, dataset, view.axes, view.zx, view.zy, colour,
                         config.latent_dim, charts.scale())
        data = _map_data(key, model, dataset, view.axes, view.zx, view.zy, view.point,
                         view.end)
        charts.show_spec(with_data(spec, data), key=chart_key,
                         on_select=functools.partial(_on_pick, chart_key),
                         selection_mode="pick")
        if proj["kind"] == "pca":
            st.caption(f"The plane of the two principal components of the codes: it holds "
                       f"{100 * proj['explained']:.0f} % of their variance.")
        st.caption("Click a point to select it (circle). The square marks the interpolation "
                   "end; the dashed line is the linear path, the solid one the spherical."
                   + (" The dashed box is the area the decoded manifold spans."
                      if manifold else ""))
    with right:
        i = view.point
        point = _point(key, model, dataset, i)
        st.markdown(f"**Input #{i}**: {point['what']}")
        _png(point["png"], "left: the input x · right: the decoding of its code")
        st.caption(point["code"])
        if manifold:
            st.markdown("**The decoded manifold**")
            _png(manifold["png"])
            st.caption(manifold_caption(manifold))


def manifold_caption(manifold: dict) -> str:
    """What the decoded grid spans and how its codes are spaced: evenly in probability over
    the standard Gaussian prior's quantiles (ls.prior_axis), or evenly in value between the
    codes' 1 % and 99 % quantiles (ls.code_axis: an autoencoder, or a VAE whose prior has no
    simple quantiles)."""
    (a, b), (lo, hi) = manifold["x"], manifold["y"]
    if manifold["prior"]:
        spacing = (f"spaced evenly in probability between the prior N(0, 1)'s "
                   f"{100 * MANIFOLD_TAIL:.0f} % and {100 - 100 * MANIFOLD_TAIL:.0f} % "
                   "quantiles in each dimension (so denser near 0, where the prior is)")
    else:
        spacing = ("spaced evenly in value between the 1 % and 99 % quantiles of the codes "
                   "in each dimension")
    return (f"Decodings of a {MANIFOLD_SIDE} × {MANIFOLD_SIDE} grid of codes: z₁ from {a:.2f} "
            f"(left) to {b:.2f} (right), z₂ from {lo:.2f} (bottom) to {hi:.2f} (top), "
            f"{spacing}.")


MAP_GEN = "_latent_map_gen"  # session state: the map's key generation (see _map_key)
MAP_PICKED = "_latent_map_picked"  # (target, index) of the last click, while it stands


def _map_key() -> str:
    """The map's widget key. A click leaves its point selected in the chart, and a second
    click on the same point changes nothing there, so it would send no event. Once the
    control that click set has moved on (by its slider or a link) or the click sets the other
    control now, the map gets a new key: a fresh chart with no selection, where the next
    click on any point counts. Otherwise the key stays, so the browser keeps the drawn chart
    and a step of the point or end slider only swaps the map's paths and ends."""
    gen = st.session_state.get(MAP_GEN, 0)
    picked = st.session_state.get(MAP_PICKED)
    if picked is not None:
        target, i = picked
        if (st.session_state.get(CLICK.key, CLICK.default) != target
                or st.session_state.get(target) != i):
            gen += 1
            st.session_state[MAP_GEN] = gen
            st.session_state[MAP_PICKED] = None
    return f"latent_map_{gen}"


def _on_pick(chart_key: str) -> None:
    """A click on the map: copy the clicked index into the URL-bound control it targets."""
    event = st.session_state.get(chart_key)
    picked = (event or {}).get("selection", {}).get("pick") or []
    if picked and "i" in picked[0]:
        target = "end" if st.session_state.get(CLICK.key) == "end" else "point"
        i = int(picked[0]["i"])
        st.session_state[target] = i
        st.session_state[MAP_PICKED] = (target, i)


def interpolation_section(config, result: RunResult | None, view: MapView) -> None:
    """The strip of decodings and log p(z), ‖z‖ along both paths, which change with the
    ends; beside them the position slider and the decodings at t (a fragment). The slider
    keeps its place (the right column) whether or not the model is trained: in Chromium, a
    URL-bound slider that moved to another container when a run finished stopped writing its
    value into the link."""
    left, right = st.columns([3, 1.3], gap="medium")
    if result is None:
        with right:
            _at_position_part(None, None, config.dataset, view.point, view.end)
        with left:
            untrained_note()
        return
    model, key, dataset = result.model, result.key, config.dataset
    it = _interpolation(key, model, dataset, view.point, view.end)
    with left:
        _png(it["png"], f"{STRIP} evenly spaced decodings from input #{view.point} (left) to "
                        f"#{view.end} (right). Top row: linear; bottom row: spherical.")
        c1, c2 = st.columns(2)
        d = config.latent_dim
        data = {"path": it["df"]}
        with c1:
            if _is_vae(model):
                charts.show_spec(with_data(_path_spec(key, model, "log p(z)", charts.scale()),
                                           data))
            else:
                st.info("An autoencoder has no prior, so there is no p(z) to evaluate along "
                        "the path: nothing says which codes are typical.")
        with c2:
            typical = ls.chi_mean(d) if _gaussian_prior(model) else None
            charts.show_spec(with_data(_path_spec(key, model, "‖z‖", charts.scale()), data))
        n0, n1 = it["norms"]
        st.caption(f"The two codes are {it['angle']:.0f}° apart, with norms {n0:.2f} and "
                   f"{n1:.2f}." + (f" The dotted line is the typical norm of a sample from "
                                   f"the {d}-D prior, {typical:.2f}." if typical else ""))
    with right:
        _at_position_part(key, model, dataset, view.point, view.end)


@st.fragment
def _at_position_part(key: str, model, dataset: str, a: int, b: int) -> None:
    """The position slider and each path decoded at that position (model None: the slider
    alone). A fragment."""
    pos = position_control()
    if model is None:
        return
    at = _at_position(key, model, dataset, a, b, pos)
    st.markdown(f"**Decoded at t = {pos:.2f}**")
    for col, method in zip(st.columns(2), ls.PATHS):
        p = at[method]
        with col:
            _png(p["png"], method)
            st.caption((f"log p(z) = {p['logp']:.2f}  \n" if p["logp"] is not None
                        else "") + f"‖z‖ = {p['norm']:.2f}")
    state.bench_mark()


@st.fragment
def traversal_section(config, result: RunResult | None, point: int) -> None:
    """The traversal's controls and decodings, a fragment."""
    dim, span = traversal_controls(config)
    if result is None:
        untrained_note()
    else:
        show_traversal(config, result, point, dim, span)
    state.bench_mark()


def show_traversal(config, result: RunResult, point: int, dim: int, span: float) -> None:
    model, key, dataset = result.model, result.key, config.dataset
    tr = _traversal(key, model, dataset, point, (dim,), span)
    lo, hi = tr["ranges"][0]
    _png(tr["png"])
    unit = "prior standard deviations" if _is_vae(model) else \
        "standard deviations of this dimension over the data, around its mean"
    st.caption(f"{charts.zname(dim)} from {lo:.2f} to {hi:.2f} ({TRAVERSAL_STEPS} steps, ±{span:g} "
               f"{unit}); every other dimension stays at input #{point}'s code.")
    rows = tuple(range(min(config.latent_dim, MAX_TRAVERSAL_ROWS)))
    with st.expander(f"Every dimension at once ({len(rows)} rows: "
                     f"{charts.zname(0)} at the top)", expanded=False):
        _png(_traversal(key, model, dataset, point, rows, span)["png"])
        if config.latent_dim > MAX_TRAVERSAL_ROWS:
            st.caption(f"The first {MAX_TRAVERSAL_ROWS} of {config.latent_dim} dimensions.")


def show_factors(result: RunResult) -> None:
    mi = _factor_mi(result.key, result.model)
    names = SPRITE_FACTORS
    left, right = st.columns([3, 2], gap="medium")
    with left:
        charts.show_spec(_mi_spec(result.key, result.model, charts.scale()))
    with right:
        best = mi["normalised"].argmax(0)
        lines = [f"- **{n}**: best {charts.zname(int(best[k]))} "
                 f"({mi['normalised'][best[k], k]:.2f}), gap to the next "
                 f"{mi['gap'][k]:.2f}" for k, n in enumerate(names)]
        st.markdown("\n".join(lines))
        panels.metric_row([(
            "Mutual information gap (MIG)", f"{mi['mig']:.2f}",
            "The mean over factors of the gap between the best and second-best dimension, "
            "each as a fraction of the factor's entropy (Chen et al. 2018). 1: each factor has "
            "one dimension of its own; 0: none does.")])


def show_comparison(data: str, latent: int) -> None:
    configs = compare_configs(data, latent)
    cols = st.columns(3, gap="medium")
    for col, cfg in zip(cols, configs):
        with col:
            st.markdown(f"**{KIND_LABELS[cfg.kind]}**")
            view = panels.run_panel(cfg, curves={}, chart=False, timeline=False,
                                    name=f"cmp_{cfg.kind}", where=st.container(border=True))
            if not view.done:
                continue
            key, model = view.result.key, view.result.model
            for space in ("latent", "data"):
                charts.show_spec(_compare_spec(key, model, cfg.kind, data, latent, space,
                                         charts.scale()))
            span = _grid_span(model)
            if cfg.kind == "gan":
                st.caption(f"No encoder: a GAN cannot say where a data point lies in its latent "
                           f"space, so only the {'noise grid' if latent == 2 else 'noise line'} "
                           f"({span}) and the generator's image of it are drawn.")
            else:
                what = "grid" if latent == 2 else "line"
                st.caption(f"Held-out points encoded (top) and the decoded {what} over the data "
                           f"(bottom); the {what} spans {span}.")


@st.fragment
def comparison_section() -> None:
    """The comparison's controls and its three models: a fragment, as nothing else on the
    page depends on them."""
    data, latent = compare_controls()
    show_comparison(data, latent)
    state.bench_mark()
