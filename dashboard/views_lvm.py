"""Glue for the "Latent variable models" page: its URL-bound controls, the cached q(z|x0) fit,
and its figures. The maths is ``models.lvm``; this module only arranges it.

Dense fields (the joint p(x, z), 2-D densities over z) are small PNGs (``charts.heatmap_png``)
placed inside Vega-Lite charts as one ``image`` mark each, so they share axes with the curves
around them (the marginals sit on the map's edges with aligned scales) at the cost of one mark
instead of thousands (../shared/GUIDE.md, section 2). The charts are Vega-Lite specs written as
dicts, with everything that follows the x₀ and z₀ sliders in named datasets (see "figures").
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st
import torch

from models.lvm import (DECODERS, PRIOR_NAMES, LVMConfig, QFit, View, compute_view, fit_q,
                        make_lvm, x_grid)

from . import charts, panels, state
from .state import Param

# one colour per distribution, the same in every figure (Okabe & Ito)
PRIOR_C, LIK_C, EVID_C, POST_C, Q_C, SAMPLE_C = ("#0072B2", "#009E73", "#CC79A7", "#D55E00",
                                                "#1B1F24", "#E69F00")
MAX_K = 3  # mixture components offered by the page
N_X_IMAGE = {1: 200, 2: 120}  # pixel rows (x bins) of the joint map; 2-D z: sums over 120^2 cells
MAX_POINTS = 400  # points per plotted curve: every cell of the model's grid (thinner would miss
#                  the narrow peaks of a posterior under small sigma)
PX_TOL = 0.3  # a curve's points are dropped where it stays within this many pixels of the line
#             between its neighbours (see _simplify)
RANGE_Q = 1e-3  # plotted z range: from this prior (or posterior) quantile to 1 - RANGE_Q
HEAVY_TAIL_SCALES = 8.0  # Student-t prior: plot at most this many scales either side
SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
HASH = {LVMConfig: repr}  # cache keys: the exact repr of a frozen config; Streamlit's own
#                          hashing of the dataclass took ~2 ms per cached call
PLAIN_RANGE = (1e-4, 1e6)  # densities printed as plain numbers; outside, as m × 10ᵏ from logs

PRIOR_LABELS = {"gaussian": "Gaussian", "laplace": "Laplace", "uniform": "Uniform",
                "mixture": "Mixture", "student_t": "Student-t"}
PRIOR_TEXT = {
    "gaussian": "p(z) = N(m, s²) in each dimension.",
    "laplace": "p(z) = Laplace with location m and standard deviation s in each dimension: a "
               "sharp peak and heavier tails.",
    "uniform": "p(z) = uniform on [m − √3 s, m + √3 s] in each dimension (standard deviation "
               "s): flat inside a box, zero outside.",
    "student_t": "p(z) = Student-t with ν degrees of freedom, location m and scale s in each "
                 "dimension: heavy tails.",
    "mixture": "p(z) = Σₖ πₖ N(μₖ, sₖ² I): a prior with clusters. Weights are normalised to "
               "sum to 1.",
}
FORMULAS = {  # (1-D z, 2-D z)
    "linear": ("f(z) = a z + b", "f(z) = a z₁ + c z₂ + b"),
    "tanh": ("f(z) = a tanh(w z) + b", "f(z) = a tanh(w z₁) + c tanh(w z₂) + b"),
    "sine": ("f(z) = a sin(w z) + b", "f(z) = a sin(w z₁) + c sin(w z₂) + b"),
    "cubic": ("f(z) = a z³ + b", "f(z) = a z₁³ + c z₂³ + b"),
    "fold": ("f(z) = a |z| + b", "f(z) = a |z₁| + c |z₂| + b"),
}
DEFAULT = LVMConfig(prior="mixture", mix_weights=(0.4, 0.6, 0.3), mix_locs=(-1.5, 1.5, 0.0),
                    mix_scales=(0.5, 0.6, 0.4), decoder="linear", a=1.0, b=0.0, c=1.0, w=1.5,
                    sigma=0.5)

DIM = Param("dim", "Latent dimension", 1, "choice", options=(1, 2),
            help="1: z is a number and the joint p(x, z) is a map. 2: z = (z₁, z₂); p(z) and "
                 "p(z|x₀) become maps.")
PRIOR = Param("prior", "Prior p(z)", DEFAULT.prior, "choice", options=PRIOR_NAMES,
              labels=PRIOR_LABELS)
LOC = Param("loc", "Location m", 0.0, "float", lo=-2.0, hi=2.0, step=0.1)
SCALE = Param("scale", "Scale s", 1.0, "float", lo=0.25, hi=2.0, step=0.05,
              help="The standard deviation (Gaussian, Laplace, uniform); torch's scale for "
                   "Student-t.")
DF = Param("df", "Degrees of freedom ν", 3.0, "float", lo=1.0, hi=30.0, step=0.5,
           help="Small ν: heavy tails. Large ν: close to a Gaussian.")
K = Param("comps", "Components K", 2, "choice", options=tuple(range(1, MAX_K + 1)))
WEIGHTS = [Param(f"w{i + 1}", f"π{i + 1}".translate(charts.SUB), DEFAULT.mix_weights[i], "float",
                 lo=0.0, hi=1.0, step=0.05, help="Weight of this component (normalised).")
           for i in range(MAX_K)]
MEANS = [Param(f"m{i + 1}", f"μ{i + 1}".translate(charts.SUB), DEFAULT.mix_locs[i], "float",
               lo=-3.0, hi=3.0, step=0.1, help="Mean of this component (along z₁ in 2-D).")
         for i in range(MAX_K)]
MEANS_2 = [Param(f"m{i + 1}_z2", f"μ{i + 1} along z₂".translate(charts.SUB),
                 (1.0, -1.0, 0.0)[i], "float", lo=-3.0, hi=3.0, step=0.1)
           for i in range(MAX_K)]
SCALES = [Param(f"s{i + 1}", f"s{i + 1}".translate(charts.SUB), DEFAULT.mix_scales[i], "float",
                lo=0.1, hi=2.0, step=0.05, help="Standard deviation of this component.")
          for i in range(MAX_K)]
DECODER = Param("decoder", "Decoder f(z)", DEFAULT.decoder, "choice", options=tuple(DECODERS),
                labels={k: v.label for k, v in DECODERS.items()},
                help="x | z ~ N(f(z), σ²): the decoder f maps z to the mean of x.")
A = Param("a", "a", DEFAULT.a, "float", lo=-3.0, hi=3.0, step=0.1)
B = Param("b", "b", DEFAULT.b, "float", lo=-3.0, hi=3.0, step=0.1)
C = Param("c", "c (weight of z₂)", DEFAULT.c, "float", lo=-3.0, hi=3.0, step=0.1)
FREQ = Param("freq", "w (frequency)", DEFAULT.w, "float", lo=0.2, hi=4.0, step=0.1)
SIGMA = Param("sigma", "Noise σ", DEFAULT.sigma, "float", lo=0.05, hi=2.0, step=0.05,
              help="Standard deviation of x around f(z). Small σ with a steep f needs a finer "
                   "grid than the page uses; a note says when the numbers are approximate.")
X0 = Param("x0", "Observed x₀", 0.5, "float", lo=-15.0, hi=15.0, step=0.05,
           help="The observation whose posterior p(z|x₀) is computed.")
Z0 = Param("z0", "Latent z₀", 1.0, "float", lo=-6.0, hi=6.0, step=0.05,
           help="The latent value whose likelihood slice p(x|z₀) is shown.")
Z0_2 = Param("z0_2", "z₀ along z₂", 0.0, "float", lo=-6.0, hi=6.0, step=0.05)
SAMPLES = Param("samples", "Show samples", False, "bool",
                help="Ancestral samples from the joint: z ~ p(z), then x ~ p(x|z).")
N = Param("count", "Samples", 300, "int", lo=50, hi=1000, step=50)
SEED = Param("seed", "Seed", 0, "int", lo=0, hi=9999, step=1)


# --- controls ---------------------------------------------------------------------------------

def model_controls() -> tuple[LVMConfig | None, str | None]:
    """The model's widgets (draw them in the sidebar): (config, None), or (None, why not)."""
    dim = state.widget(DIM)
    prior = state.widget(PRIOR, radio=False)
    kw = dict(latent_dim=dim, prior=prior)
    if prior == "mixture":
        k = state.widget(K)
        weights, locs, scales = [], [], []
        for i in range(k):
            st.markdown(f"**Component {i + 1}**")
            c1, c2 = st.columns(2)
            weights.append(state.widget(WEIGHTS[i], c1))
            scales.append(state.widget(SCALES[i], c2))
            if dim == 1:
                locs.append(state.widget(MEANS[i]))
            else:
                c1, c2 = st.columns(2)
                locs.append((state.widget(MEANS[i], c1), state.widget(MEANS_2[i], c2)))
        kw.update(mix_weights=weights, mix_locs=locs, mix_scales=scales)
    else:
        c1, c2 = st.columns(2)
        kw.update(prior_loc=state.widget(LOC, c1), prior_scale=state.widget(SCALE, c2))
        if prior == "student_t":
            kw.update(df=state.widget(DF))
    st.caption(PRIOR_TEXT[prior])
    decoder = state.widget(DECODER, radio=False)
    st.caption(f"x | z ~ N(f(z), σ²) with {FORMULAS[decoder][dim - 1]}")
    c1, c2 = st.columns(2)
    kw.update(decoder=decoder, a=state.widget(A, c1), b=state.widget(B, c2))
    if dim == 2 or decoder in ("tanh", "sine"):
        c1, c2 = st.columns(2)
        if dim == 2:
            kw.update(c=state.widget(C, c1))
        if decoder in ("tanh", "sine"):
            kw.update(w=state.widget(FREQ, c2 if dim == 2 else c1))
    kw.update(sigma=state.widget(SIGMA))
    try:
        return LVMConfig(**kw), None
    except ValueError as e:
        return None, str(e)


def point_controls(dim: int) -> tuple[float, tuple[float, ...]]:
    """The x₀ and z₀ sliders, in one row: (x0, z0). A horizontal container, one block where
    st.columns sends one per slider and one around them: the fragment redraws the row on every
    step."""
    row = st.container(horizontal=True, gap="medium")
    x0 = state.widget(X0, row, width="stretch")
    z0 = (state.widget(Z0, row, width="stretch"),)
    if dim == 2:
        z0 += (state.widget(Z0_2, row, width="stretch"),)
    return x0, z0


def main_and_side():
    """Two columns (a figure and its notes); in presenter mode the notes go above the figure,
    which then has the full width."""
    if state.presenter():
        side = st.container()
        return st.container(), side
    return st.columns([3, 2], gap="medium")


def sample_controls(where) -> tuple[bool, int, int]:
    show = state.widget(SAMPLES, where)
    with where.expander("Sample settings"):
        n, seed = state.widget(N), state.widget(SEED)
    return show, n, seed


# --- computation ------------------------------------------------------------------------------

@dataclass
class AtZ0:
    """The factors of Bayes' rule at (x0, z0), as log-densities: for a far x0 the densities
    themselves underflow (p(x0) ~ 1e-1000 is 0.0 in float64), their logs do not."""

    log_likelihood: float  # log p(x0|z0)
    log_prior: float  # log p(z0), -inf outside a bounded prior
    log_evidence: float  # log p(x0)
    log_posterior: float  # log p(z0|x0) = log p(x0|z0) + log p(z0) - log p(x0)


def compute(config: LVMConfig, x0: float, z0) -> View:
    """``models.lvm.compute_view`` at (x0, z0) without its p(x) curve over an x grid, which the
    page takes from ``joint_image`` (computed once per model): in 2-D that curve costs a sum
    over 120² z cells per x value on every x₀ step."""
    return compute_view(config, x0, z0, x=np.array([x0]))


def at_z0(config: LVMConfig, view: View) -> AtZ0:
    model = make_lvm(config)
    z0 = view.z0[None, :]  # (1, d)
    log_lik = float(model.log_likelihood(view.x0, z0)[0])
    log_prior = float(model.log_prior(z0)[0])
    return AtZ0(log_lik, log_prior, view.log_evidence_x0,
                log_lik + log_prior - view.log_evidence_x0)


@st.cache_resource(max_entries=256, show_spinner=False, hash_funcs=HASH)
def fit(config: LVMConfig, x0: float) -> QFit:
    """q(z|x0): ``fit_q`` from every posterior mode, keeping the best ELBO, so the same settings
    give the same q whatever the slider's history (a link reproduces the numbers)."""
    return fit_q(config, x0)


@st.cache_resource(max_entries=32, show_spinner=False, hash_funcs=HASH)
def sample(config: LVMConfig, n: int, seed: int) -> pd.DataFrame:
    z, x = make_lvm(config).sample(n, seed)
    df = pd.DataFrame({"x": x, "z": z[:, 0]})
    if config.latent_dim == 2:
        df["z₂"] = z[:, 1]
    return df


def joint_binned(config: LVMConfig, edges: np.ndarray) -> np.ndarray:
    """The joint p(x, z) (1-D z) or p(x, z1) = integral p(x, z) dz2 (2-D z, midpoint rule over
    the model's z grid, as ``log_evidence``), averaged over each x bin between the edges:
        p(x in bin i, z1) / width = sum_z2 p(z) h2 [Phi((e_i+1 - f(z)) / sigma)
                                                    - Phi((e_i - f(z)) / sigma)] / width.
    A density map sampled at points misses ridges narrower than a pixel (small sigma, steep f);
    bin averages cannot. With Phi(u) = (1 + erf(u / sqrt 2)) / 2 the sum over z2 is taken
    before the difference over edges (one pass over the (edges, z) array, erf in place): in
    2-D that is 121 x 14,400 values. edges (Nx + 1,) -> (Nx, n1), on the z1 cells of the
    model's grid."""
    model = make_lvm(config)
    grid = model.grid
    edges = np.asarray(edges, dtype=float)
    pz = np.exp(model.grid_log_prior).reshape(grid.shape)  # 0 outside a bounded prior
    u = np.subtract.outer(edges, model.grid_decode)  # (Nx + 1, N)
    u *= 1.0 / (config.sigma * math.sqrt(2.0))
    erf = torch.from_numpy(u).erf_().numpy().reshape((len(edges),) + grid.shape)
    if config.latent_dim == 2:
        cdf = np.einsum("eij,ij->ei", erf, pz) * grid.steps[1]  # (Nx + 1, n1)
    else:
        cdf = erf * pz
    return 0.5 * np.diff(cdf, axis=0) / np.diff(edges)[:, None]


def _quantile_range(axis: np.ndarray, p: np.ndarray, q: float = RANGE_Q) -> tuple[float, float]:
    """The central 1 - 2q of a density p on the cells of axis (unnormalised is fine)."""
    cdf = np.cumsum(p) / p.sum()
    lo, hi = np.searchsorted(cdf, [q, 1 - q]).clip(0, len(axis) - 1)
    return float(axis[lo]), float(axis[hi])


def _pad(lo: float, hi: float, frac: float = 0.12) -> tuple[float, float]:
    pad = frac * max(hi - lo, 1e-6)
    return lo - pad, hi + pad


def _marginals(log_map: np.ndarray) -> list[np.ndarray]:
    """Per-axis marginals (unnormalised) of a density given as a log map over the z grid."""
    p = np.exp(log_map - np.max(log_map[np.isfinite(log_map)]))
    if p.ndim == 1:
        return [p]
    return [p.sum(1), p.sum(0)]


@st.cache_resource(max_entries=32, show_spinner=False, hash_funcs=HASH)
def prior_box(config: LVMConfig) -> tuple[tuple[float, float], ...]:
    """Per latent dimension, the plotted z range: the prior's central 99.8 %, padded (at most
    ``HEAVY_TAIL_SCALES`` scales either side for a Student-t prior)."""
    model = make_lvm(config)
    log_pz = model.grid_log_prior.reshape(model.grid.shape)
    box = [_pad(*_quantile_range(a, m)) for a, m in zip(model.grid.axes, _marginals(log_pz))]
    if config.prior == "student_t":  # heavy tails: the central 99.8 % can span 600 scales
        half = HEAVY_TAIL_SCALES * config.prior_scale
        box = [(max(lo, config.prior_loc - half), min(hi, config.prior_loc + half))
               for lo, hi in box]
    return tuple(box)


def posterior_box(config: LVMConfig, view: View) -> tuple[tuple[float, float], ...]:
    """The prior's plotted range, widened to hold the posterior's central 99.8 %."""
    out = []
    for d, (axis, m) in enumerate(zip(view.grid.axes, _marginals(view.log_posterior_x0))):
        lo, hi = _pad(*_quantile_range(axis, m))
        plo, phi = prior_box(config)[d]
        out.append((min(lo, plo), max(hi, phi)))
    return tuple(out)


def _cells(axis: np.ndarray, lo: float, hi: float) -> slice:
    i, j = np.searchsorted(axis, [lo, hi])
    return slice(max(0, i - 1), min(len(axis), j + 1))


def _extent(axis: np.ndarray) -> tuple[float, float]:
    h = axis[1] - axis[0]
    return float(axis[0] - h / 2), float(axis[-1] + h / 2)


def _data_url(density: np.ndarray) -> str:
    """A density map (rows: vertical axis, bottom first) as a PNG data URL, 0 -> max."""
    top = float(np.max(density)) or 1.0
    img = charts.heatmap_png(density, lo=0.0, hi=top, upscale=1)
    return charts.data_url(charts.png_bytes(img, 1))


def _x_range(config: LVMConfig) -> tuple[float, float]:
    """The plotted x range: f(z) +- 3 sigma over the plotted z cells that hold prior mass,
    within the x grid of ``models.lvm`` (the central 99.9 % of p(x), widened by 4 sigma)."""
    model = make_lvm(config)
    grid = model.grid
    box = prior_box(config)
    z = grid.points  # (N, d)
    mass = np.exp(model.grid_log_prior)
    shown = mass > 1e-6 * mass.max()
    for d, (lo, hi) in enumerate(box):
        shown &= (z[:, d] >= lo) & (z[:, d] <= hi)
    f = model.grid_decode[shown]
    x = x_grid(config)
    lo = max(float(f.min()) - 3 * config.sigma, float(x[0]))
    hi = min(float(f.max()) + 3 * config.sigma, float(x[-1]))
    return (lo, hi) if hi > lo else (float(x[0]), float(x[-1]))


@st.cache_resource(max_entries=32, show_spinner=False, hash_funcs=HASH)
def joint_image(config: LVMConfig) -> dict:
    """The joint p(x, z) (1-D z) or p(x, z1) (2-D z) on the plotted range, as a PNG of its
    averages over pixel rows, with its extent, the x bins, and the marginals p(z1) and p(x)
    (p(x) averaged over the same bins, so the right panel matches the map)."""
    model = make_lvm(config)
    axis = model.grid.axes[0]
    cols = _cells(axis, *prior_box(config)[0])
    edges = np.linspace(*_x_range(config), N_X_IMAGE[config.latent_dim] + 1)
    joint = joint_binned(config, edges)  # (Nx, n1)
    log_pz = model.grid_log_prior.reshape(model.grid.shape)
    pz1 = np.exp(log_pz).sum(1) * model.grid.steps[1] if config.latent_dim == 2 \
        else np.exp(log_pz)
    px = joint.sum(1) * model.grid.steps[0]  # all z1 cells, not only the plotted ones
    few = _thin(cols)
    return dict(url=_data_url(joint[:, cols]), z=_extent(axis[cols]),
                x=(float(edges[0]), float(edges[-1])), edges=edges,
                z_axis=axis[few], pz=pz1[few], x_axis=(edges[1:] + edges[:-1]) / 2, px=px)


def likelihood_binned(config: LVMConfig, edges: np.ndarray, z0) -> np.ndarray:
    """p(x|z0) averaged over each x bin: (Nx,)."""
    f0 = float(make_lvm(config).decode(np.reshape(np.asarray(z0, dtype=float), (1, -1)))[0])
    cdf = torch.special.ndtr(torch.from_numpy((edges - f0) / config.sigma)).numpy()
    return np.diff(cdf) / np.diff(edges)


def conditional_binned(config: LVMConfig, edges: np.ndarray, z1: float) -> np.ndarray:
    """The map's column at z1, rescaled to area 1: p(x|z1) averaged over each x bin, (Nx,).
    With 1-D z that is the likelihood p(x|z1). With 2-D z the map is p(x, z1), so its column
    is p(x|z1) = integral p(x|z1, z2) p(z2|z1) dz2, the likelihood averaged over z2 given z1
    (midpoint rule over the z2 cells of the model's grid); where p(z1) = 0 (outside a uniform
    prior's box) it is undefined, and zeros are returned."""
    if config.latent_dim == 1:
        return likelihood_binned(config, edges, (z1,))
    model = make_lvm(config)
    z2 = model.grid.axes[1]
    z = np.stack([np.full(len(z2), float(z1)), z2], axis=-1)  # (n2, 2)
    log_pz = model.log_prior(z)
    if not np.isfinite(log_pz).any():
        return np.zeros(len(edges) - 1)
    w = np.exp(log_pz - log_pz.max())  # p(z2|z1) up to a constant, (n2,)
    w /= w.sum()
    u = (np.asarray(edges, dtype=float)[:, None] - model.decode(z)) / config.sigma
    cdf = torch.special.ndtr(torch.from_numpy(u)).numpy()  # (Nx + 1, n2)
    return np.einsum("ij,j->i", np.diff(cdf, axis=0), w) / np.diff(edges)


# --- figures ----------------------------------------------------------------------------------
# Vega-Lite specs as plain dicts, drawn with st.vega_lite_chart: building the same charts with
# Altair objects and validating them cost 100-300 ms per slider step on this machine. Every
# number that moves with x0 or z0 lives in a named dataset, not in the spec: while a chart's
# spec stays the same, the browser swaps its data in place instead of rebuilding the chart.

@dataclass
class Figure:
    """A Vega-Lite spec and the named datasets it reads."""

    spec: dict
    datasets: dict[str, pa.Table]


class _Data:
    """Collects a figure's datasets; ``use`` returns the spec's reference to one."""

    def __init__(self):
        self.sets: dict[str, pa.Table] = {}

    def use(self, name: str, **cols) -> dict:
        # Arrow tables, which Streamlit sends as they are (pandas frames cost ~1 ms each more)
        self.sets[name] = pa.table({k: np.asarray(v) for k, v in cols.items()})
        return {"name": name}


def _px(n: float) -> int:
    return int(round(n * charts.scale()))


def _thin(sl: slice, n: int = MAX_POINTS) -> slice:
    """Every k-th cell of a range of cells, so that a curve has at most about n points."""
    k = max(1, -(-(sl.stop - sl.start) // n))
    return slice(sl.start, sl.stop, k)


def _simplify(t: np.ndarray, ys: list[np.ndarray], w: float, h: float,
              tol: float = PX_TOL) -> np.ndarray:
    """The indices of the points of curves y(t) (sharing the t axis and a y axis from 0 to
    their largest value, drawn w x h pixels) that drawing needs: the rest lie within tol
    pixels of the straight line between their kept neighbours (Ramer-Douglas-Peucker,
    measured vertically). A smooth density of ~300 cells keeps a few dozen, a sharp peak
    all it needs; the browser's work per slider step is roughly proportional to points."""
    t = np.asarray(t, dtype=np.float64)
    n = len(t)
    if n <= 2 or t[-1] == t[0]:
        return np.arange(n)
    y = np.nan_to_num(np.vstack([np.asarray(v, dtype=np.float64) for v in ys]),
                      nan=0.0, posinf=0.0, neginf=0.0)
    top = float(np.abs(y).max())
    if top == 0.0:
        return np.array([0, n - 1])
    px = (t - t[0]) * (w / (t[-1] - t[0]))
    py = y * (h / top)
    keep = np.zeros(n, dtype=bool)
    keep[[0, -1]] = True
    at = np.arange(n)
    while True:  # every segment between kept points splits at once, one level per pass
        kept = np.flatnonzero(keep)
        seg = np.minimum(np.searchsorted(kept, at, side="right") - 1, len(kept) - 2)
        lo, hi = kept[seg], kept[seg + 1]
        span = px[hi] - px[lo]
        f = np.divide(px - px[lo], span, out=np.zeros(n), where=span > 0)
        err = np.abs(py - (py[:, lo] + (py[:, hi] - py[:, lo]) * f)).max(axis=0)
        err[keep] = -1.0
        worst = np.full(len(kept) - 1, -1.0)  # per segment
        np.maximum.at(worst, seg, err)
        split = np.flatnonzero((err > tol) & (err == worst[seg]))
        if not len(split):
            break
        keep[split[np.r_[True, seg[split][1:] != seg[split][:-1]]]] = True  # first per segment
    return np.flatnonzero(keep)


def _scale() -> dict:
    """A linear scale whose domain follows the data, so that it can move with the sliders
    without changing the spec."""
    return {"nice": False, "zero": False}


def _axis(title: str | None) -> dict:
    return {"title": title, "minExtent": _px(44), "maxExtent": _px(44)}


def _num(field: str, **kw) -> dict:
    return {"field": field, "type": "quantitative", **kw}


def _image_layer(data: dict, title1: str, title2: str, s1: dict, s2: dict) -> dict:
    """A PNG stretched over [a0, a1] x [b0, b1] of the data axes, as one image mark."""
    return {"data": data, "mark": {"type": "image", "aspect": False, "clip": True},
            "encoding": {"x": _num("a0", scale=s1, axis=_axis(title1)), "x2": {"field": "a1"},
                         "y": _num("b0", scale=s2, axis=_axis(title2)), "y2": {"field": "b1"},
                         "url": {"field": "url", "type": "nominal"}}}


def _image_data(d: _Data, name: str, url: str, ext1, ext2) -> dict:
    return d.use(name, url=[url], a0=[ext1[0]], a1=[ext1[1]], b0=[ext2[0]], b1=[ext2[1]])


def _rule(data: dict, channel: str, color: str = "white") -> dict:
    return {"data": data,
            "mark": {"type": "rule", "color": color, "strokeDash": [5, 3], "clip": True,
                     "strokeWidth": 1.6 * charts.scale()},
            "encoding": {channel: _num("v")}}


def _points(data: dict, size: float, opacity: float = 0.8) -> dict:
    return {"data": data,
            "mark": {"type": "circle", "color": SAMPLE_C, "size": size * charts.scale(),
                     "opacity": opacity, "stroke": "white", "strokeWidth": 0.4, "clip": True},
            "encoding": {"x": _num("a"), "y": _num("b")}}


def _curve(data: dict, color: str, w: int, h: int, title: str, vertical: bool = False) -> dict:
    """A density (fields t, p) as a filled curve along z (horizontal) or, vertical=True,
    along x (a panel on the right of a map). Its t scale follows the data, which
    ``_edge_data`` stretches to the map's extent, so it lines up with the map."""
    pos = _num("t", scale=_scale(), axis=None)
    val = _num("p", title=None, stack=None,
               axis={"tickCount": 2, "format": ".2g", "labelOverlap": True,
                     "minExtent": _px(44), "maxExtent": _px(44)})
    enc = {"y": pos, "x": val} if vertical else {"x": pos, "y": val}
    return {"width": w, "height": h, "title": title, "data": data, "encoding": enc,
            "layer": [{"mark": {"type": "area", "color": color, "opacity": 0.3, "clip": True,
                                "orient": "horizontal" if vertical else "vertical"}},
                      {"mark": {"type": "line", "color": color, "clip": True,
                                "strokeWidth": 2 * charts.scale()},
                       "encoding": {"order": _num("t")}}]}  # along t, not sorted by p


def _edge_data(d: _Data, name: str, t: np.ndarray, p: np.ndarray, ext, size: tuple) -> dict:
    """A curve on the cells of a map's axis, cut to the map's extent and carried flat to its
    edges, so that its data-driven scale spans exactly the map's; only the points that a
    panel of size (length along t, height) pixels needs (_simplify)."""
    keep = (t >= ext[0]) & (t <= ext[1])
    t, p = t[keep], p[keep]
    idx = _simplify(t, [p], *size)
    t, p = t[idx], p[idx]
    return d.use(name, t=np.concatenate([[ext[0]], t, [ext[1]]]),
                 p=np.concatenate([p[:1], p, p[-1:]]) if len(p) else np.zeros(2))


def _within(v: np.ndarray, ext) -> np.ndarray:
    """The values inside [ext]: a mark outside would widen a data-driven scale."""
    v = np.asarray(v, dtype=float)
    return v[(v >= ext[0]) & (v <= ext[1])]


def show(fig: Figure, key: str) -> None:
    """Draw a figure in the house style, at the size its spec sets. Every figure has a fixed
    width: in the browser a data update of a chart sized to its container took ~25 % more
    script time (a re-layout to the container on each update)."""
    spec = {**fig.spec, "datasets": fig.datasets, "config": charts.vega_config()}
    charts.vega(spec, "content", key)


def _width(w: float, cap: int) -> int:
    """w pixels (scaled for presenter mode), at most cap: a fixed-width chart must still fit
    its column."""
    return min(_px(w), cap)


def joint_figure(config: LVMConfig, view: View, samples: pd.DataFrame | None) -> Figure:
    """The joint map with p(z) and p(z|x0) on top, p(x) and p(x|z0) on the right; dashed lines
    at x = x0 and z = z0 mark the slices that the conditionals renormalise."""
    j = joint_image(config)
    d = _Data()
    w, h, m = _px(330), _px(270), _px(62)
    two = config.latent_dim == 2
    # no scale domains in the spec (the image's extent sets them), so that it stays the same
    # for every model of this latent dimension and the browser only swaps data
    layers = [_image_layer(_image_data(d, "joint", j["url"], j["z"], j["x"]),
                           "z₁" if two else "z", "x", _scale(), _scale())]
    if samples is not None:
        keep = _in_box(samples["z"].to_numpy(), samples["x"].to_numpy(), j["z"], j["x"])
        layers.append(_points(d.use("samples", a=samples["z"][keep], b=samples["x"][keep]),
                              14))
    layers += [_rule(d.use("x0", v=_within([view.x0], j["x"])), "y"),
               _rule(d.use("z0", v=_within([view.z0[0]], j["z"])), "x")]
    joint = {"width": w, "height": h, "layer": layers,
             "title": "p(x, z₁), z₂ integrated out" if two else "p(x, z)"}
    zc, post = _zslice(view)
    sl = _thin(_cells(zc, *j["z"]))
    top = _curve(_edge_data(d, "prior", j["z_axis"], j["pz"], j["z"], (w, m)), PRIOR_C, w, m,
                 "p(z₁)" if two else "p(z)")
    mid = _curve(_edge_data(d, "posterior", zc[sl], post[sl], j["z"], (w, m)), POST_C, w, m,
                 ("p(z₁|x₀)" if two else "p(z|x₀)") + ", the row at x₀")
    right_x = _curve(_edge_data(d, "evidence", j["x_axis"], j["px"], j["x"], (h, m)), EVID_C,
                     m, h, "p(x)", vertical=True)
    right_l = _curve(_edge_data(d, "likelihood", j["x_axis"],
                                conditional_binned(config, j["edges"], view.z0[0]), j["x"],
                                (h, m)),
                     LIK_C, m, h, "p(x|z₁)" if two else "p(x|z₀)", vertical=True)
    return Figure({"vconcat": [top, mid, {"hconcat": [joint, right_x, right_l],
                                          "spacing": _px(8)}],
                   "spacing": _px(6),
                   "resolve": {"scale": {"x": "independent", "y": "independent"}}}, d.sets)


def _zslice(view: View) -> tuple[np.ndarray, np.ndarray]:
    """p(z1|x0) on the z1 cells (the posterior's marginal along z1 with a 2-D latent)."""
    axis = view.grid.axes[0]
    if view.log_posterior_x0.ndim == 1:
        return axis, np.exp(view.log_posterior_x0)
    return axis, np.exp(view.log_posterior_x0).sum(1) * view.grid.steps[1]


def _curves_figure(z: np.ndarray, curves: dict[str, tuple[np.ndarray, str, list[int]]],
                   fill: np.ndarray, opacity: float, w: int, h: int, z0: float | None = None
                   ) -> Figure:
    """Densities along z in one chart with a legend: curves maps a label to (values, colour,
    dash); fill is drawn as an area below them; z0, if given, as a rule. Rows are wide with
    short keys, folded in the browser."""
    d = _Data()
    idx = _simplify(z, [fill] + [p for p, _, _ in curves.values()], w, h)
    z, fill = z[idx], fill[idx]
    curves = {k: (np.asarray(p)[idx], c, s) for k, (p, c, s) in curves.items()}
    keys = [f"c{i}" for i in range(len(curves))]
    label_expr = ("{" + ", ".join(f"'{k}': '{v}'" for k, v in zip(keys, curves))
                  + "}[datum.label]")
    data = d.use("curves", z=z, fill=fill, **{k: p for k, (p, _, _) in zip(keys,
                                                                        curves.values())})
    lines = {"transform": [{"fold": keys, "as": ["curve", "density"]}],
             "mark": {"type": "line", "clip": True, "strokeWidth": 2.4 * charts.scale()},
             "encoding": {
                 "x": _num("z", scale=_scale(), title="z"),
                 "y": _num("density", title="density"),
                 "color": {"field": "curve", "type": "nominal", "title": None,
                           "scale": {"domain": keys,
                                     "range": [c for _, c, _ in curves.values()]},
                           "legend": {"orient": "top", "columns": 3, "labelExpr": label_expr,
                                      "symbolStrokeWidth": 3}},
                 "strokeDash": {"field": "curve", "type": "nominal", "legend": None,
                                "scale": {"domain": keys,
                                          "range": [s for _, _, s in curves.values()]}}}}
    area = {"mark": {"type": "area", "color": POST_C, "opacity": opacity, "clip": True},
            "encoding": {"x": _num("z"), "y": _num("fill", stack=None)}}
    layers = [area, lines]
    if z0 is not None:  # an empty rule when z0 is off the plotted range (it would widen it)
        inside = [z0] if z[0] <= z0 <= z[-1] else []
        layers.append(_rule(d.use("z0", v=np.array(inside, dtype=float)), "x", color="#555"))
    return Figure({"width": w, "height": h, "data": data, "layer": layers}, d.sets)


def bayes_figure_1d(config: LVMConfig, view: View, q: QFit) -> Figure:
    """Bayes' rule at x0 along z: p(x0|z), p(z), p(x0) (a constant) and p(z|x0) = their
    product over p(x0), with z0 marked, and the fitted q(z|x0) drawn over the exact
    posterior. q has no chart of its own: each chart on the page costs the browser a share of
    every x0 step. With q in a chart beside Vega ELBO bars, x0 step p50 123 ms; with q here
    and the bars in HTML (elbo_bars_html), 116 ms (two servers side by side, 8 x 10 steps
    each); benchmarks/browser_latency.py, 116-130 ms before, 103-104 after."""
    (lo, hi), = posterior_box(config, view)
    axis = view.grid.axes[0]
    sl = _thin(_cells(axis, lo, hi))
    z, post = axis[sl], np.exp(view.log_posterior_x0[sl])
    curves = {"likelihood p(x₀|z)": (np.exp(view.log_likelihood_x0[sl]), LIK_C, [1, 0]),
              "prior p(z)": (np.exp(view.log_prior[sl]), PRIOR_C, [1, 0]),
              "evidence p(x₀)": (np.full(len(z), math.exp(view.log_evidence_x0)), EVID_C,
                                 [6, 4]),
              "posterior p(z|x₀)": (post, POST_C, [1, 0]),
              "approximation q(z|x₀)": (q_density(view, q)[sl], Q_C, [7, 4])}
    return _curves_figure(z, curves, post, 0.18, _width(680, 900), charts.height(260),
                          float(view.z0[0]))


def q_density(view: View, q: QFit) -> np.ndarray:
    """q(z|x0) on the z grid as fit_q uses it: N(loc, diag(scale²)) normalised over the grid
    cells inside the prior's support (so truncated to a uniform prior's box)."""
    z = view.grid.points
    u = (z - q.loc) / q.scale
    log_q = -0.5 * (u * u).sum(-1)
    log_q[~np.isfinite(view.log_prior.ravel())] = -np.inf
    log_q -= log_q.max()
    p = np.exp(log_q)
    return (p / (p.sum() * view.grid.cell)).reshape(view.grid.shape)


def _in_box(a: np.ndarray, b: np.ndarray, e1, e2) -> np.ndarray:
    return (a >= e1[0]) & (a <= e1[1]) & (b >= e2[0]) & (b <= e2[1])


def _map(d: _Data, name: str, log_map: np.ndarray, view: View, box, title: str, w: int,
         extra=()) -> dict:
    """A density over the 2-D z plane (a log map on the grid) as an image, z0 marked. Its
    extent is data, so the plotted box can follow x0 without changing the spec."""
    (z1lo, z1hi), (z2lo, z2hi) = box
    a1, a2 = view.grid.axes
    s1, s2 = _cells(a1, z1lo, z1hi), _cells(a2, z2lo, z2hi)
    sub = log_map[s1, s2]
    finite = np.isfinite(sub)
    p = np.where(finite, np.exp(sub - (sub[finite].max() if finite.any() else 0.0)), 0.0)
    e1, e2 = _extent(a1[s1]), _extent(a2[s2])
    img = _image_layer(_image_data(d, name, _data_url(p.T), e1, e2), "z₁", "z₂", _scale(),
                       _scale())
    z0 = view.z0 if _in_box(view.z0[0], view.z0[1], e1, e2) else np.empty((0, 2))
    z0 = np.reshape(z0, (-1, 2))
    cross = {"data": d.use(name + "_z0", a=z0[:, 0], b=z0[:, 1]),
             "mark": {"type": "point", "shape": "cross", "color": "white", "filled": False,
                      "size": 120 * charts.scale(), "strokeWidth": 2.5, "clip": True},
             "encoding": {"x": _num("a"), "y": _num("b")}}
    return {"width": w, "height": w, "title": title,
            "layer": [img, *[f(d, e1, e2) for f in extra], cross]}


def bayes_figure_2d(config: LVMConfig, view: View, samples: pd.DataFrame | None,
                    q: QFit) -> Figure:
    """p(x0|z), p(z) and p(z|x0) as maps over the z plane, side by side; on the posterior's
    map, the fitted q(z|x0) as its 1 and 2 standard-deviation ellipses and its mean."""
    box = posterior_box(config, view)
    # three in a row must fit the main column (940 px beside the sidebar at a 1,400 px window;
    # 890 px in presenter mode, whose larger axes and titles take ~340 px of the row)
    w = 180 if state.presenter() else 220
    d = _Data()

    def dots(d, e1, e2):  # samples inside the plotted box (outside ones would widen it)
        keep = _in_box(samples["z"], samples["z₂"], e1, e2)
        return _points(d.use("samples", a=samples["z"][keep], b=samples["z₂"][keep]), 10, 0.7)

    def ellipses(d, e1, e2):  # clipped to the map by the mark, but never widening it
        t = np.linspace(0, 2 * np.pi, 73)
        a = np.concatenate([q.loc[0] + k * q.scale[0] * np.cos(t) for k in (1, 2)])
        b = np.concatenate([q.loc[1] + k * q.scale[1] * np.sin(t) for k in (1, 2)])
        a, b = np.clip(a, *e1), np.clip(b, *e2)
        return {"data": d.use("q", a=a, b=b, i=np.tile(np.arange(73), 2),
                              k=np.repeat(["1 sd", "2 sd"], 73)),
                "mark": {"type": "line", "color": "white", "clip": True,
                         "strokeWidth": 2 * charts.scale()},
                "encoding": {"x": _num("a"), "y": _num("b"), "order": _num("i"),
                             "detail": {"field": "k", "type": "nominal"},
                             "strokeDash": {"field": "k", "type": "nominal", "legend": None,
                                            "scale": {"domain": ["1 sd", "2 sd"],
                                                      "range": [[1, 0], [6, 4]]}}}}

    def centre(d, e1, e2):
        loc = q.loc if _in_box(q.loc[0], q.loc[1], e1, e2) else np.empty((0, 2))
        loc = np.reshape(loc, (-1, 2))
        return {"data": d.use("q_loc", a=loc[:, 0], b=loc[:, 1]),
                "mark": {"type": "circle", "color": "white", "size": 50 * charts.scale(),
                         "opacity": 1, "clip": True},
                "encoding": {"x": _num("a"), "y": _num("b")}}

    return Figure({"hconcat": [
        _map(d, "lik", view.log_likelihood_x0, view, box, "likelihood p(x₀|z)", w),
        _map(d, "prior", view.log_prior, view, box, "prior p(z)", w,
             [dots] if samples is not None else []),
        _map(d, "post", view.log_posterior_x0, view, box, "posterior p(z|x₀), q in white", w,
             [ellipses, centre])],
        "spacing": _px(14), "resolve": {"scale": {"x": "independent", "y": "independent"}}},
        d.sets)


ELBO_PARTS = (("log p(x₀)", EVID_C, "The log evidence, exact."),
              ("ELBO", PRIOR_C, "The evidence lower bound of q(z|x₀)."),
              ("gap KL(q‖p(z|x₀))", POST_C, "log p(x₀) − ELBO: how far q is from the exact "
                                            "posterior."))


def nice_ticks(lo: float, hi: float, least: int = 4) -> np.ndarray:
    """Round values from lo to hi, a step of 1, 2 or 5 times a power of 10: the largest such
    step that gives at least `least` of them."""
    span = hi - lo
    if not span > 0 or not math.isfinite(span):
        return np.array([lo])
    e = math.floor(math.log10(span))
    steps = sorted(m * 10.0 ** k for k in (e - 2, e - 1, e) for m in (1, 2, 5))

    def count(step: float) -> int:
        return math.floor(hi / step + 1e-9) - math.ceil(lo / step - 1e-9) + 1

    step = max((s for s in steps if count(s) >= least), default=steps[0])
    first = math.ceil(lo / step - 1e-9)
    return np.arange(first, first + count(step)) * step


def elbo_bars_html(q: QFit) -> str:
    """log p(x0) = ELBO + KL(q || p(z|x0)) as two bars on a nats axis, in HTML (a chart would
    cost the browser more on every x0 step than the whole bar): the ELBO's bar plus the gap
    reaches exactly as far as log p(x0)'s. Bars start at the axis's left end (log densities
    have no natural zero), which lies below the ELBO by at least one nat; each part's exact
    value is its tooltip."""
    lo = math.floor(q.elbo - max(1.0, 1.5 * q.gap))
    hi = q.log_evidence
    span = hi - lo

    def pct(v: float) -> float:
        return 100.0 * (v - lo) / span

    def bar(start: float, end: float, part: int, value: float) -> str:
        name, colour, help_ = ELBO_PARTS[part]
        tip = html.escape(f"{name} = {value:.4f}".replace("-", "−") + f". {help_}")
        return (f"<div class='ll-bar' title='{tip}' style='left:{pct(start):.3f}%;"
                f"width:{pct(end) - pct(start):.3f}%;background:{colour}'></div>")

    rows = [("log p(x₀)", bar(lo, hi, 0, q.log_evidence)),
            ("ELBO + gap", bar(lo, q.elbo, 1, q.elbo) + bar(q.elbo, hi, 2, q.gap))]
    values = nice_ticks(lo, hi)
    digits = max(0, -math.floor(math.log10(values[1] - values[0]) + 1e-9)) \
        if len(values) > 1 else 0
    ticks = "".join(f"<span class='ll-tick' style='left:{pct(t):.3f}%'>"
                    f"{fmt_tick(t, digits)}</span>" for t in values)
    legend = "".join(f"<span><i style='background:{c}'></i>{n}</span>" for n, c, _ in ELBO_PARTS)
    label = html.escape(f"log p(x₀) = {q.log_evidence:.4f} equals ELBO = {q.elbo:.4f} plus the "
                      f"gap {q.gap:.4f}")
    return ("<div class='ll-bars' role='img' aria-label='" + label + "'>"
            + "".join(f"<div class='ll-bar-row'><span class='ll-bar-label'>{name}</span>"
                      f"<div class='ll-bar-track'>{bars}</div></div>" for name, bars in rows)
            + f"<div class='ll-bar-axis'>{ticks}</div><div class='ll-bar-unit'>nats</div>"
            + f"<div class='ll-bar-legend'>{legend}</div></div>")


def fmt_tick(v: float, digits: int) -> str:
    """An axis label with the step's decimals (−3.0, −2.8), a true minus sign."""
    text = f"{v:.{digits}f}"
    return "0" if float(text) == 0 else text.replace("-", "−")


def q_text(q: QFit) -> str:
    """What the fitted q is, and why it falls short of the exact posterior when it does."""
    where = ("drawn dashed in black over the exact posterior in section 2" if len(q.loc) == 1
             else "the white ellipses (1 and 2 standard deviations) and dot on the posterior's "
                  "map in section 2")
    return (f"q(z|x₀), {where}, with mean {vec(q.loc)} and standard deviation {vec(q.scale)}"
            + (" before truncation" if q.truncated else "")
            + ", is the Gaussian with the highest ELBO (ELBO ≤ log p(x₀), always; equal only "
              "when q can match the exact posterior: a linear decoder with a Gaussian prior in "
              "1-D, while in 2-D that posterior correlates z₁ and z₂ and this q, with "
              "independent z₁ and z₂, cannot). "
            + ("Because the uniform prior is zero outside its box, q is a Gaussian truncated "
               "to the box (otherwise KL(q ‖ p(z|x₀)) would be infinite). " if q.truncated
               else "")
            + "With several posterior modes q settles on one: the fit starts at each mode and "
              "keeps the highest ELBO (on a tie, the mode with the larger "
              + ("z" if len(q.loc) == 1 else "z₁") + "), so the same settings always give the "
              "same q, and a link shows the same numbers.")


def bayes_numbers(config: LVMConfig, view: View) -> str:
    """The factors of Bayes' rule at (x0, z0) as a row of numbers, computed from their logs,
    with the sentences that go with them: HTML for one element (panels.text_html). Densities
    while every factor prints plainly (10⁻⁴ to 10⁶); otherwise (a far x₀: p(x₀) can be
    10⁻¹⁹⁶⁹⁶, far below the 10⁻³⁰⁸ a float holds) the row shows the logs themselves, and
    Bayes' rule is a sum. m × 10ᵏ would not fit a metric's column in presenter mode: it is in
    the tooltips."""
    f = at_z0(config, view)
    d = len(view.z0)
    z0 = f"{view.z0[0]:g}" if d == 1 else f"({view.z0[0]:g}, {view.z0[1]:g})"
    logs = (f.log_likelihood, f.log_prior, f.log_evidence, f.log_posterior)
    in_logs = any(not plain(v) for v in logs if v > -math.inf)
    evidence_help = "A constant: the same for every z. It is what makes the posterior integrate to 1."
    if in_logs:
        parts = [panels.text_html(f"At x₀ = {view.x0:g} and z₀ = {z0}, in logarithms the "
                                  "factors add up exactly:")]
        labels = ("log p(x₀|z₀), likelihood", "+ log p(z₀), prior", "− log p(x₀), evidence",
                  "= log p(z₀|x₀), posterior")
        helps = [f"p(x₀|z₀) = {fmt_log_density(logs[0])}", f"p(z₀) = {fmt_log_density(logs[1])}",
                 f"p(x₀) = {fmt_log_density(logs[2])}. {evidence_help}",
                 f"p(z₀|x₀) = {fmt_log_density(logs[3])}"]
        parts.append(panels.metric_html([(label, fmt_log(v), h)
                                         for label, v, h in zip(labels, logs, helps)]))
        tiny = min(v for v in logs if v > -math.inf)
        why = ("smaller than 10⁻³⁰⁸, the smallest number a float holds" if underflows(tiny)
               else "too small to print plainly")
        parts.append(panels.text_html(
            f"Far from the data some of these densities are {why} (here p(x₀) = "
            f"{fmt_log_density(logs[2])}), so they are computed, and shown, as logarithms: "
            "the product of Bayes' rule becomes a sum, and dividing by p(x₀) subtracts "
            "log p(x₀). Each number's help shows the density itself.", note=True))
    else:
        parts = [panels.text_html(f"At x₀ = {view.x0:g} and z₀ = {z0}, the factors multiply "
                                  "out exactly:")]
        labels = ("p(x₀|z₀), likelihood", "× p(z₀), prior", "÷ p(x₀), evidence",
                  "= p(z₀|x₀), posterior")
        names = ("log p(x₀|z₀)", "log p(z₀)", "log p(x₀)", "log p(z₀|x₀)")
        helps = [f"{n} = {fmt_log(v)}" for n, v in zip(names, logs)]
        helps[2] += f". {evidence_help}"
        parts.append(panels.metric_html([(label, fmt_log_density(v), h)
                                         for label, v, h in zip(labels, logs, helps)]))
    if f.log_prior == -math.inf:
        parts.append(panels.text_html("z₀ lies outside the prior's box, where p(z₀) = 0: so is "
                                      "the posterior there, whatever the likelihood says.",
                                      note=True))
    return "".join(parts)


def fmt_log(v: float) -> str:
    """A log-density for print: −∞ where the density is 0, else with thousands separators and
    a true minus sign; 2 decimals, none from 1,000 on (−45,352: it must fit a metric's column
    in presenter mode, and a nat either way is no difference at that size)."""
    if v == -math.inf:
        return "−∞"
    return f"{v:,.{0 if abs(v) >= 1000 else 2}f}".replace("-", "−")


def bayes_note(view: View) -> str | None:
    """With 1-D z, a sentence when the likelihood and evidence are too small to see next to
    the prior and posterior on the Bayes' rule chart (a far x₀)."""
    if view.log_prior.ndim != 1:
        return None  # 2-D: each map has its own colour scale
    lik, prior = np.max(view.log_likelihood_x0), np.max(view.log_prior)
    if lik > prior + math.log(1e-3):
        return None
    return (f"At this x₀ the likelihood p(x₀|z) and the evidence p(x₀) = "
            f"{fmt_log_density(view.log_evidence_x0)} are so small that on this scale they lie "
            "on the axis. Their ratio p(x₀|z) / p(x₀), which turns the prior into the "
            "posterior, is still well defined: it is computed from their logarithms.")


def fmt_log_density(log_p: float) -> str:
    """A density given by its log, for print: plain between 10⁻⁴ and 10⁶, else m × 10ᵏ
    computed from the log (so a density far below float64's 1e-308 still has a value, for the
    tooltips); exactly 0 only where the log is -inf (outside a bounded prior)."""
    if log_p == -math.inf:
        return "0"
    if plain(log_p):
        return f"{math.exp(log_p):.4g}"
    e = log_p / math.log(10)
    k = math.floor(e)
    m = 10 ** (e - k)
    if round(m, 3) >= 10:
        m, k = m / 10, k + 1
    return f"{m:.3f} × 10{str(k).translate(SUP)}"


def plain(log_p: float) -> bool:
    """Whether a density (given by its log) prints as a plain number: 10⁻⁴ to 10⁶."""
    return math.log(PLAIN_RANGE[0]) <= log_p <= math.log(PLAIN_RANGE[1])


def underflows(log_p: float) -> bool:
    """Whether a density is too small for float64 (it would print and plot as 0)."""
    return log_p < math.log(np.finfo(float).tiny)


def vec(v) -> str:
    """A number, or a tuple of numbers for a 2-D latent, to 3 decimals."""
    v = np.atleast_1d(v)
    return f"{v[0]:.3f}" if len(v) == 1 else "(" + ", ".join(f"{x:.3f}" for x in v) + ")"
