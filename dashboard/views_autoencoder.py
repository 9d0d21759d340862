"""Views for the Autoencoder page: PCA baselines, reconstructions, the latent space, the linear
autoencoder against PCA, the sweep over latent sizes and decoded random codes.

Computations on a finished run are cached on its run key, so a slider rerun only redraws.
Streamlit and Altair glue, plus two small pure functions (``pca_errors``, ``principal_angles``)
that the page tests check against direct computations.

References: PCA as the best linear reconstruction (Eckart & Young 1936); a linear autoencoder
trained on squared error spans PCA's subspace (Baldi & Hornik 1989); principal angles between
subspaces (Björck & Golub 1973).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from models import datasets
from models.metrics import PCA, fit_pca
from models.presets import ae_sweep, linear_match
from models.runs import ACTIVE, CANCELLED, DONE, FAILED
from models.train import SNAPSHOT_IMAGES, SNAPSHOT_POINTS, AEConfig, snapshot_indices

from . import charts, panels, state
from .nav import existing_pages
from .state import Param

PCA_MAX = 64  # the largest k the page offers; PCA at k <= 64 is a slice of one fit
PCA_FIT = PCA_MAX + 1  # components fitted once per data set: one beyond the largest k, so the
# page can name the variance of the direction after PCA's last one at every k
SHOWN_IMAGES = SNAPSHOT_IMAGES  # test images reconstructed in every snapshot
RANDOM_IMAGES = 16
RANDOM_POINTS = 500
SWEEP_POLL = 1.0  # seconds between redraws while sweep runs train
SWEEP_REFUSED = "_ae_sweep_refused"  # messages for sweep runs this server would not start
ERROR_TITLE = "squared error per input"
CURVES = {"train_recon": "training error", "test_recon": "held-out error"}
# Streamlit fits a chart's whole view, legend included, into its height: a legend below
# (charts._style's default) squeezes the plot, to nothing for short charts. These charts keep
# their legends on the right, where a wide layout has room.
RIGHT = alt.Legend(orient="right")
EPOCH_AXIS = alt.Axis(tickMinStep=1, format="d")  # whole epochs, not 1.1, 1.2, ...
PAD = alt.AutoSizeParams(type="pad", contains="padding")
LEGEND_W = 130  # width added to a fixed-size chart for its legend on the right

PROJ = Param("proj", "Projection", "pca", "choice", options=("pca", "dims"),
             labels={"pca": "PCA of the codes", "dims": "Two chosen dimensions"},
             help="How to draw codes with more than two numbers on a plane.")
HIDDEN_KEYS = ("t", "colour", "proj", "zx", "zy", "draw")  # drawn only under some settings
DRAW = Param("draw", "Random draw", 0, "int", lo=0, hi=999, step=1,
             help="Seed of the random codes below: another number, another draw.")


# --- data and PCA ---------------------------------------------------------------------------

def data_of(config) -> datasets.DataSet:
    return datasets.load(config.dataset)


@st.cache_resource(max_entries=8, show_spinner=False)
def pca_basis(dataset: str) -> PCA:
    """PCA of the training set with up to PCA_FIT components (by decreasing variance; fewer
    when the data have fewer dimensions)."""
    return fit_pca(datasets.load(dataset).x_train, PCA_FIT)


def pca_at(dataset: str, k: int) -> PCA:
    """PCA with k components: the first k of the full fit (the eigenvectors do not depend on
    how many are kept)."""
    p = pca_basis(dataset)
    return PCA(p.mean, p.components[:k], p.explained_variance[:k])


def pca_errors(x_train: torch.Tensor, x_test: torch.Tensor, k_max: int) -> np.ndarray:
    """Held-out reconstruction error of PCA fitted on x_train for k = 1..k_max: (k_max,).
    With orthonormal components v_j, ||x - x_hat||² = ||x - μ||² - Σ_{j<=k} ((x - μ)·v_j)²,
    so one projection gives every k (components beyond the data's dimension add nothing)."""
    return _pca_errors(fit_pca(x_train, k_max), x_test, k_max)


def _pca_errors(p: PCA, x_test: torch.Tensor, k_max: int) -> np.ndarray:
    """pca_errors with the fitted PCA p (at least k_max components, or all the data has)."""
    xc = (x_test - p.mean).double()
    proj2 = (xc @ p.components.double().T) ** 2  # (N, k_fitted)
    total = (xc ** 2).sum(1, keepdim=True)  # (N, 1)
    err = (total - proj2.cumsum(1)).mean(0).clamp_min(0).numpy()
    return np.concatenate([err, np.full(k_max - len(err), err[-1])]) if len(err) < k_max \
        else err


@st.cache_data(max_entries=8, show_spinner=False)
def pca_error_curve(dataset: str) -> np.ndarray:
    # the page's one PCA fit per data set (pca_basis), not a second one: a first visit
    # computed both, ~0.2 s each for digits
    return _pca_errors(pca_at(dataset, PCA_MAX), datasets.load(dataset).x_test, PCA_MAX)


def pca_error(dataset: str, k: int) -> float:
    return float(pca_error_curve(dataset)[k - 1])


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Principal angles (degrees, ascending) between the column spaces of a (D, k) and
    b (D, m): arccos of the singular values of Qa^T Qb (Björck & Golub 1973)."""
    qa = torch.linalg.qr(a.double()).Q
    qb = torch.linalg.qr(b.double()).Q
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return np.degrees(np.arccos(s.numpy()))[::-1].copy()


# --- small helpers ----------------------------------------------------------------------------

def png(tag: str, images: np.ndarray, ncols: int = 16, upscale: int = 2) -> bytes:
    """An image grid as PNG bytes, cached on a tag that names its content."""
    return _png(tag, ncols, upscale, images)


@st.cache_resource(max_entries=96, show_spinner=False)
def _png(tag: str, ncols: int, upscale: int, _images: np.ndarray) -> bytes:
    return charts.png_bytes(charts.image_grid(_images, ncols=ncols, upscale=upscale))


def strip(label: str, tag: str, images: np.ndarray, cache: bool = True, ncols: int = 16
          ) -> None:
    """One labelled row of small images."""
    c1, c2 = st.columns([1.4, 6], vertical_alignment="center")
    c1.markdown(label)
    data = png(tag, images, ncols) if cache else charts.png_bytes(
        charts.image_grid(images, ncols=ncols, upscale=2))
    c2.image(data, width="content", output_format="PNG")


def shown_indices(data: datasets.DataSet) -> np.ndarray:
    """Held-out images spread over the whole test set (the digits' test set is sorted by
    class, so its first images are all zeros)."""
    return np.linspace(0, len(data.x_test) - 1, SHOWN_IMAGES).round().astype(int)


@st.cache_resource(max_entries=16, show_spinner=False)
def _final_reconstructions(key: str, dataset: str, _model) -> np.ndarray:
    x = datasets.load(dataset).x_test[shown_indices(datasets.load(dataset))]
    with torch.no_grad():
        return _model(x).numpy()


def colour_options(data: datasets.DataSet) -> dict[str, tuple[np.ndarray, bool]]:
    """What the snapshot's test points can be coloured by: name -> (values, continuous)."""
    n = SNAPSHOT_POINTS
    out: dict[str, tuple[np.ndarray, bool]] = {}
    if data.labels_test is not None:
        lab = data.labels_test[:n].numpy()
        if data.name == "sprites":
            values = np.array(datasets.SPRITE_SHAPES)[lab]
        elif data.name == "digits":
            values = lab.astype(str)
        else:
            values = (lab + 1).astype(str)
        out[data.label_name] = (values, False)
    if data.factors_test is not None:
        for j, name in enumerate(data.factor_names):
            if name not in out:
                out[name] = (data.factors_test[:n, j].numpy(), True)
    return out


def _error_rows(history: list[dict], pca: float, k: int) -> pd.DataFrame:
    rows = [{"epoch": h["epoch"], "curve": label, "line": "model", "err": h[key]}
            for h in history for key, label in CURVES.items() if h.get(key) is not None]
    if rows:
        epochs = [r["epoch"] for r in rows]
        for e in (min(epochs), max(epochs)):
            rows.append({"epoch": e, "curve": f"PCA, k = {k} (held-out)", "line": "reference",
                         "err": pca})
    return pd.DataFrame(rows)


def error_chart(history: list[dict], pca: float, k: int, log_y: bool = False
                ) -> alt.Chart | None:
    """Training and held-out reconstruction error against epochs, with PCA's held-out error at
    the same k as a dashed reference line. Epoch 0 (the untrained model, whose error dwarfs
    the rest) is left out once later epochs exist."""
    df = _error_rows(history, pca, k)
    if df.empty:
        return None
    if (df["epoch"] >= 1).any():
        df = df[(df["epoch"] >= 1) | (df["line"] == "reference")]
        df.loc[df["line"] == "reference", "epoch"] = df["epoch"].clip(lower=1)
    labels = list(CURVES.values()) + [f"PCA, k = {k} (held-out)"]
    scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    return alt.Chart(df, height=charts.height(220)).mark_line(
        strokeWidth=2 * charts.scale()).encode(
        x=alt.X("epoch:Q", title="epoch", axis=EPOCH_AXIS),
        y=alt.Y("err:Q", title="error (log scale)" if log_y else ERROR_TITLE, scale=scale),
        color=alt.Color("curve:N", title=None, legend=RIGHT, scale=alt.Scale(
            domain=labels, range=[charts.FAKE, charts.OKABE_ITO[3], charts.REAL])),
        strokeDash=alt.StrokeDash("line:N", legend=None, scale=alt.Scale(
            domain=["model", "reference"], range=[[1, 0], [6, 4]])),
        tooltip=[alt.Tooltip("epoch:Q", format=".0f"), "curve:N",
                 alt.Tooltip("err:Q", title="error", format=".2f")])


def show_error_chart(history: list[dict], pca: float, k: int, title: str,
                     log_y: bool = False, tag: tuple | None = None) -> None:
    """The error chart under a title; with a tag (a finished run's key) its spec is cached,
    as a replay step redraws the same history."""
    if not any(h.get(key) is not None for h in history for key in CURVES):
        return  # nothing to draw yet
    st.markdown(f"**{title}**")
    if tag is not None:
        charts.show_cached((*tag, "error", k, log_y), lambda: error_chart(history, pca, k, log_y))
    else:
        charts.show(error_chart(history, pca, k, log_y))


def live_view(config: AEConfig):
    """The run panel's live picture: reconstructions so far and the error curves."""
    pca = pca_error(config.dataset, config.latent_dim)
    data = data_of(config)

    def draw(snapshot, handle) -> None:
        if snapshot is not None:
            if data.is_image:
                strip("**Originals**", f"snapshot-inputs-{config.dataset}",
                      data.x_test[snapshot_indices(data)].numpy())
                strip(f"**At step {snapshot['step']:,}**", f"live-{id(snapshot)}",
                      snapshot["x_hat"], cache=False)
            else:
                charts.show(points_chart(config, snapshot, live=True))
        show_error_chart(handle.history, pca, config.latent_dim, "Reconstruction error")
    return draw


# --- sections -----------------------------------------------------------------------------

def trained_view(config: AEConfig) -> panels.RunView:
    """The run panel and what its replay timeline drives (the run's numbers, the error curve,
    the reconstructions and the latent space) as one fragment; the sections below it (linear
    AE, sweep, random codes) do not depend on the snapshot."""
    def draw(view: panels.RunView) -> None:
        result = view.result
        final_metrics(config, result.metrics)
        show_error_chart(result.history, pca_error(config.dataset, config.latent_dim),
                         config.latent_dim, "Reconstruction error while training",
                         tag=(result.key,))
        st.subheader("Originals and reconstructions")
        reconstructions(config, result, view.snapshot)
        st.subheader("The data in the latent space")
        latent_space(config, result, view.snapshot)
    return panels.replay_fragment(config, draw, curves=CURVES, live_view=live_view(config),
                                  chart=False)


def final_metrics(config: AEConfig, metrics: dict) -> None:
    k = config.latent_dim
    ae, pca = metrics["test_recon"], metrics.get("pca_test_recon", pca_error(config.dataset, k))
    data = data_of(config)
    gap = 100 * (ae / pca - 1) if pca > 1e-9 else float("nan")
    panels.metric_row([
        ("Autoencoder, held-out error", f"{ae:.2f}",
         "Squared error summed over the input's dimensions, averaged over the held-out set."),
        (f"PCA with k = {k}", f"{pca:.3g}" if pca < 0.01 else f"{pca:.2f}",
         "The best linear reconstruction through k numbers, on the same held-out set."),
        ("Autoencoder vs PCA", "—" if not np.isfinite(gap) else f"{gap:+.1f} %",
         "Negative: the autoencoder reconstructs better than PCA with as many numbers."),
        ("Compression", f"{data.dim} → {k}",
         f"Each input has {data.dim} numbers; the code has {k}."),
    ])
    if not data.is_image and k >= data.dim:
        st.info(f"With {k} latent numbers for {data.dim}-D data nothing needs compressing: "
                "the identity map is a perfect autoencoder (PCA's error is 0). Pick k = 1 to "
                "see a bottleneck.")


def reconstructions(config: AEConfig, result, snapshot: dict) -> None:
    """Originals beside the autoencoder's and PCA's reconstructions (images: a spread of
    held-out images through the final model, plus the replayed snapshot's own images), or
    the data with both reconstructions and, for a 1-D code, the learned curve (points)."""
    data = data_of(config)
    k = config.latent_dim
    if not data.is_image:
        charts.show(points_chart(config, snapshot))
        return
    x = data.x_test[shown_indices(data)]
    p = pca_at(config.dataset, k)
    strip("**Originals**", f"shown-{config.dataset}", x.numpy())
    strip(f"**Autoencoder**, k = {k}", f"final-{result.key}",
          _final_reconstructions(result.key, config.dataset, result.model))
    strip(f"**PCA**, k = {k}", f"pca-{config.dataset}-{k}", p.decode(p.encode(x)).numpy())
    final_step = result.snapshots[-1]["step"] if result.snapshots else None
    if snapshot is not None and snapshot["step"] != final_step:
        st.caption(f"Replay: the snapshot at step {snapshot['step']:,} kept the "
                   f"reconstructions of {len(snapshot['x_hat'])} held-out images.")
        strip("**Originals**", f"snapshot-inputs-{config.dataset}",
              data.x_test[snapshot_indices(data)].numpy())
        strip(f"**At step {snapshot['step']:,}**", f"snap-{result.key}-{snapshot['step']}",
              snapshot["x_hat"])


def square_scatter(df: pd.DataFrame | alt.NamedData, x: str, y: str, color: alt.Color, title: str,
                   h: int = 380, size: float = 18, opacity: float = 0.7,
                   domain: tuple | None = None) -> alt.Chart:
    """Points on equal x and y scales with the legend on the right (see RIGHT)."""
    domain = domain or charts.square_domain(df[x].to_numpy(), df[y].to_numpy())
    side = int(h * min(charts.scale(), 1.2))
    return alt.Chart(df, width=side + LEGEND_W, height=side, title=title).mark_circle(
        size=size * charts.scale(), opacity=opacity, clip=True).encode(
        x=alt.X(f"{x}:Q", scale=alt.Scale(domain=domain[0])),
        y=alt.Y(f"{y}:Q", scale=alt.Scale(domain=domain[1])), color=color)


def category_color(field: str, values, title: str | None = None,
                   colors: list[str] | None = None) -> alt.Color:
    cats = list(dict.fromkeys(values)) if colors else sorted(set(values), key=str)
    rng = colors or (charts.palette(len(cats)) if len(cats) <= len(charts.OKABE_ITO) else None)
    scale = alt.Scale(domain=cats, range=rng) if rng else alt.Scale(domain=cats,
                                                                    scheme="tableau10")
    return alt.Color(f"{field}:N", title=title, legend=RIGHT, scale=scale)


def points_chart(config: AEConfig, snapshot: dict, live: bool = False) -> alt.Chart:
    data = data_of(config)
    k = config.latent_dim
    x = data.x_test[snapshot_indices(data)].numpy()
    frames = [pd.DataFrame({"x₁": x[:, 0], "x₂": x[:, 1], "what": "data"}),
              pd.DataFrame({"x₁": snapshot["x_hat"][:, 0], "x₂": snapshot["x_hat"][:, 1],
                            "what": "autoencoder"})]
    if k < data.dim:
        pca = pca_at(config.dataset, k)
        xp = pca.decode(pca.encode(torch.as_tensor(x))).numpy()
        frames.append(pd.DataFrame({"x₁": xp[:, 0], "x₂": xp[:, 1], "what": f"PCA, k = {k}"}))
    df = pd.concat(frames, ignore_index=True)
    domain = charts.square_domain(x[:, 0], x[:, 1], pad=0.15)
    cats = list(dict.fromkeys(df["what"])) + (["learned curve"] if "curve" in snapshot else [])
    color = category_color("what", cats, colors=[charts.REAL, charts.FAKE, charts.MODEL][
        :len(cats) - ("curve" in snapshot)] + (["#000000"] if "curve" in snapshot else []))
    pts = square_scatter(df, "x₁", "x₂", color, "Data and reconstructions"
                         + (" (live)" if live else ""), h=400, size=14, opacity=0.55,
                         domain=domain)
    layers = []
    if "curve" in snapshot:  # under the points: the reconstructions lie on it
        c = snapshot["curve"]
        cdf = pd.DataFrame({"x₁": c[:, 0], "x₂": c[:, 1], "order": np.arange(len(c)),
                            "what": "learned curve"})
        layers.append(alt.Chart(cdf).mark_line(strokeWidth=2 * charts.scale(), clip=True,
                                               opacity=0.6)
                      .encode(x="x₁:Q", y="x₂:Q", order="order:Q", color=color))
    return alt.layer(*layers, pts)


def latent_space(config: AEConfig, result, snapshot: dict | None) -> None:
    """The held-out points' codes: directly for k <= 2, else through the chosen projection;
    coloured by a label or a true factor. Part of the replay fragment (a nested fragment's
    URL-bound controls stopped writing into the link after a run finished)."""
    if snapshot is None:
        st.caption("This run kept no snapshot of its codes.")
        return
    key, snapshots = result.key, result.snapshots
    data = data_of(config)
    k = config.latent_dim
    options = colour_options(data)
    c1, c2, c3 = st.columns([2, 2, 3])
    colour = None
    if len(options) > 1:
        colour = state.widget(Param("colour", "Colour by", next(iter(options)), "choice",
                                    options=tuple(options)), c1, radio=False)
    elif options:
        colour = next(iter(options))
    proj, i, j = "z", 1, min(2, k)
    if k > 2:
        proj = state.widget(PROJ, c2, radio=False)
        if proj == "dims":
            with c3:
                a1, a2 = st.columns(2)
                i = state.widget(Param("zx", "Horizontal", 1, "int", lo=1, hi=k, step=1), a1)
                j = state.widget(Param("zy", "Vertical", 2, "int", lo=1, hi=k, step=1), a2)
    view = (proj, i, j)
    xy, (xcol, ycol), share = project(np.asarray(snapshot["z"]), view)
    domain = run_domain(key, view, snapshots)
    df = pd.DataFrame({xcol: xy[:, 0]})
    if k > 1:
        df[ycol] = xy[:, 1]
    continuous = False
    if colour is not None:
        values, continuous = options[colour]
        df[colour] = values[:len(df)]
    elif k == 1:
        df["index"] = np.arange(len(df))
    spec = latent_spec(config.dataset, k, colour, view, domain, charts.scale())
    charts.show_spec({**spec, "datasets": {"codes": df}}, key="latent_codes")
    if k == 1:
        note = "A 1-D code: every input is one number, drawn against " + (
            f"its {colour}." if colour else "its position in the test set.")
    elif proj == "dims":
        note = f"Two of the {k} code dimensions; the other {k - 2} are not shown."
    elif proj == "pca":
        note = (f"The plane that keeps the most of this snapshot's codes' spread: "
                f"{100 * share:.0f} % of their variance across {k} dimensions.")
    else:
        note = ""
    if len(snapshots) > 1:
        note += (" " if note else "") + ("The axes hold every snapshot of the run, so the "
                                         "codes move on a fixed frame as you replay it.")
    st.caption(note)


def project(z: np.ndarray, view: tuple[str, int, int]
            ) -> tuple[np.ndarray, tuple[str, str], float]:
    """Codes (N, k) drawn on a line or a plane: (N, 1 or 2), the axis names and, for "pca",
    the share of the codes' variance the plane keeps. "pca" projects onto the codes' first
    two principal directions, each signed so that its largest loading is positive (an SVD
    leaves the sign open: without a rule the picture could flip between snapshots)."""
    proj, i, j = view
    k = z.shape[1]
    if k == 1:
        return z[:, :1], (charts.zname(0), ""), 1.0
    if proj != "pca" or k == 2:
        if proj != "dims":
            i, j = 1, 2
        return z[:, [i - 1, j - 1]], (charts.zname(i - 1), charts.zname(j - 1)), 1.0
    zc = z - z.mean(0)
    _, s, vt = np.linalg.svd(zc, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    share = float((s[:2] ** 2).sum() / max((s ** 2).sum(), 1e-12))
    return zc @ vt[:2].T, ("PC 1 of z", "PC 2 of z"), share


@st.cache_data(max_entries=32, show_spinner=False)
def run_domain(key: str, view: tuple[str, int, int], _snapshots: list[dict]) -> tuple:
    """Axis ranges that hold the codes of every snapshot of a run (run key), as drawn in view:
    one frame for the whole replay."""
    xy = np.concatenate([project(np.asarray(s["z"]), view)[0] for s in _snapshots])
    if xy.shape[1] == 1:
        lo, hi = float(np.nanmin(xy)), float(np.nanmax(xy))
        pad = 0.05 * max(hi - lo, 1e-6)
        return ((lo - pad, hi + pad),)
    return charts.square_domain(xy[:, 0], xy[:, 1])


@st.cache_data(max_entries=64, show_spinner=False)
def latent_spec(dataset: str, k: int, colour: str | None, view: tuple[str, int, int],
                domain: tuple, s: float) -> dict:
    """The latent-space chart as a Vega-Lite dict on the named data set "codes", which each
    draw fills. The spec stays the same while the replay moves, so the browser swaps the data
    in place instead of building the chart again. s: the presenter scale."""
    data = datasets.load(dataset)
    options = colour_options(data)
    values, continuous = options[colour] if colour is not None else (None, False)
    xcol, ycol = project(np.zeros((2, k)), view)[1]
    if k == 1:  # a 1-D code: spread the points along the colour variable (no legend)
        ycol = colour or "index"
        ytype = "Q" if colour is None or continuous else "N"
        n_rows = 0 if ytype == "Q" else len(set(values))
        chart = alt.Chart(alt.NamedData("codes"), height=int((260 if ytype == "Q" else
                                                              90 + 30 * n_rows) * s),
                          title="Held-out inputs by their 1-D code").mark_circle(
            size=20 * s, opacity=0.7).encode(
            x=alt.X(f"{xcol}:Q", scale=alt.Scale(domain=list(domain[0]))),
            y=alt.Y(f"{ycol}:{ytype}", title=ycol),
            color=_strip_color(colour, values, continuous))
    else:
        if colour is None:
            color = alt.value(charts.REAL)
        elif continuous:
            color = alt.Color(f"{colour}:Q", title=colour, legend=RIGHT,
                              scale=alt.Scale(scheme="viridis"))
        else:
            color = category_color(colour, values, title=colour)
        chart = square_scatter(alt.NamedData("codes"), xcol, ycol, color,
                               "Held-out inputs in the latent space", size=20, domain=domain)
    return charts.spec(chart)


def _strip_color(colour: str | None, values, continuous: bool):
    if colour is None:
        return alt.value(charts.REAL)
    if continuous:
        return alt.Color(f"{colour}:Q", legend=None, scale=alt.Scale(scheme="viridis"))
    color = category_color(colour, values)
    color.legend = None
    return color


def linear_vs_pca(config: AEConfig) -> None:
    """Train (or fetch) the linear autoencoder at config's k and set it beside PCA."""
    lin = linear_match(config)
    k = config.latent_dim
    data = data_of(config)
    pca_err = pca_error(config.dataset, k)
    title = "The linear autoencoder approaches PCA"
    view = panels.run_panel(lin, curves=CURVES, name="linear",
                            train_label="Train the linear autoencoder", timeline=False,
                            chart=False, live_view=lambda s, h: show_error_chart(
                                h.history, pca_err, k, title, log_y=True))
    if not view.done:
        return
    m = view.result.metrics
    ae, pca = m["test_recon"], m.get("pca_test_recon", pca_err)
    angles = principal_angles(view.result.model.decoder.weight.detach(),
                              pca_at(config.dataset, k).components.T) if k < data.dim else None
    gap = 100 * (ae / pca - 1) if pca > 1e-6 else None
    panels.metric_row([
        ("Linear autoencoder", f"{ae:.3f}", "Held-out squared error per input."),
        (f"PCA, k = {k}", f"{pca:.3f}", "Held-out squared error per input."),
        ("Difference", f"{gap:+.2f} %" if gap is not None else f"{ae - pca:+.2g}",
         "(linear autoencoder − PCA) / PCA. Training with a finite number of steps leaves a "
         "small gap; it shrinks with more epochs."),
        ("Largest angle between the subspaces",
         f"{angles.max():.1f}°" if angles is not None else "—",
         "The principal angles between the span of the decoder's weights and PCA's top-k "
         "components: 0° means the same subspace. All angles: "
         + (", ".join(f"{a:.1f}°" for a in angles) if angles is not None else "—") + "."),
    ])
    if angles is not None and angles.max() > 10:
        st.caption(angle_note(angles, gap, pca_basis(config.dataset).explained_variance, k))
    show_error_chart(view.result.history, pca, k, title, log_y=True)
    if data.is_image:
        x = data.x_test[shown_indices(data)]
        p = pca_at(config.dataset, k)
        strip(f"**PCA**, k = {k}", f"pca-{config.dataset}-{k}", p.decode(p.encode(x)).numpy())
        strip("**Linear AE**", f"final-{view.result.key}",
              _final_reconstructions(view.result.key, config.dataset, view.result.model))
    st.caption(training_note(lin, k, gap))


def angle_note(angles: np.ndarray, gap: float | None, var, k: int) -> str:
    """Why the errors can agree while the subspaces still differ by a large angle. var holds
    PCA's variances by decreasing size; the one after component k is named when it was
    fitted (at the largest k, or for data with only k dimensions, it may not be)."""
    var = np.asarray(var, dtype=float)
    agree = (f"The errors agree within {abs(gap):.1f} % although" if gap is not None
             else "The errors agree although")
    if k < len(var):
        variances = (f"PCA's component {k} has variance {var[k - 1]:.2f} and the next one "
                     f"{var[k]:.2f}: turning between two directions of nearly equal variance "
                     "barely changes the error, ")
    else:
        variances = (f"PCA's component {k} has variance {var[k - 1]:.2f}: turning a direction "
                     "towards another of nearly equal variance barely changes the error, ")
    return (f"{agree} the subspaces still differ by {angles.max():.1f}° in one direction. "
            + variances + "so gradient descent settles that last direction slowly. Baldi & "
            "Hornik's result is about the optimum; training gets there in error long before "
            "it gets there in angle.")


def training_note(lin: AEConfig, k: int, gap: float | None) -> str:
    """How the linear autoencoder was trained and how close it came, measured at this k."""
    where = (f"At k = {k} it ended {gap:+.2f} % from PCA's held-out error. "
             if gap is not None else "")
    return (f"This linear autoencoder trains for {lin.epochs} epochs with learning rate "
            f"{lin.lr:g}, longer and gentler than the page's defaults. " + where
            + "Nothing but training time separates it from PCA: with fewer epochs or a larger "
            "learning rate the gap grows, most at large k, where more directions must settle.")


# --- the sweep over latent sizes ----------------------------------------------------------------

def sweep_status(config: AEConfig) -> tuple[list, dict[int, float], dict[int, str], list[str]]:
    """The sweep's configs, the held-out error of each finished run, the status of each
    submitted one (queued, running, failed, done) and words for the unfinished ones."""
    configs = ae_sweep(config)
    errors, states, words = {}, {}, []
    for c in configs:
        h = panels.lookup(c)
        if h is None or h.status == CANCELLED:
            continue
        states[c.latent_dim] = h.status
        if h.status == DONE and "test_recon" in h.metrics:
            errors[c.latent_dim] = h.metrics["test_recon"]
        elif h.status == FAILED:
            words.append(f"k = {c.latent_dim} failed: {h.error}")
        elif h.status != DONE:
            words.append(f"k = {c.latent_dim} {h.status}")
    return configs, errors, states, words


def sweep_chart(config: AEConfig, errors: dict[int, float], current: float | None
                ) -> alt.Chart:
    data = data_of(config)
    ks_pca = np.arange(1, (PCA_MAX if data.is_image else data.dim) + 1)
    curve = pca_error_curve(config.dataset)[:len(ks_pca)]
    rows = [{"k": int(k), "error": float(e), "model": "PCA"} for k, e in zip(ks_pca, curve)]
    rows += [{"k": k, "error": e, "model": "autoencoder (sweep)"} for k, e in sorted(
        errors.items())]
    df = pd.DataFrame(rows)
    color = alt.Color("model:N", title=None, legend=RIGHT, scale=alt.Scale(
        domain=["PCA", "autoencoder (sweep)", "this page's run"],
        range=[charts.REAL, charts.FAKE, "#000000"]))
    x = alt.X("k:Q", title="latent dimensions k", scale=alt.Scale(
        type="log", base=2, domain=[1, int(ks_pca[-1])]), axis=alt.Axis(
        values=[int(v) for v in (1, 2, 4, 8, 16, 32, 64) if v <= ks_pca[-1]]))
    y = alt.Y("error:Q", title=f"held-out {ERROR_TITLE}", scale=alt.Scale(zero=True))
    tip = ["model:N", "k:Q", alt.Tooltip("error:Q", format=".2f")]
    base = alt.Chart(df, height=charts.height(260))
    layers = [base.mark_line(strokeWidth=2 * charts.scale()).encode(x=x, y=y, color=color,
                                                                       tooltip=tip),
              base.transform_filter(alt.datum.model != "PCA").mark_point(
                  filled=True, size=60 * charts.scale()).encode(x=x, y=y, color=color,
                                                                tooltip=tip)]
    if current is not None:
        cur = pd.DataFrame([{"k": config.latent_dim, "error": current,
                             "model": "this page's run"}])
        layers.append(alt.Chart(cur).mark_point(shape="diamond", filled=True,
                                                size=150 * charts.scale()).encode(
            x=x, y=y, color=color, tooltip=tip))
    return alt.layer(*layers)


def sweep(config: AEConfig, current: float | None) -> None:
    """Several cached runs at different k, queued in the background and drawn as they end."""
    configs, _, states, _ = sweep_status(config)
    missing = [c for c in configs if c.latent_dim not in states]
    ks = ", ".join(str(c.latent_dim) for c in configs)
    if missing:
        c1, c2 = st.columns([1, 3], vertical_alignment="center")
        if c1.button(f"Train the sweep ({len(missing)} run{'s' * (len(missing) > 1)})",
                     key="sweep_train"):
            refused = []
            for c in missing:
                try:
                    panels.submit(c)
                except ValueError as e:  # beyond this server's limits (models/limits.py)
                    refused.append(f"k = {c.latent_dim}: {e}")
            st.session_state[SWEEP_REFUSED] = refused
            st.rerun()
        c2.caption(f"Trains this page's settings at k = {ks}: {len(missing)} more run"
                   f"{'s' * (len(missing) > 1)} of {config.epochs} epochs, two at a time in "
                   "the background. Finished runs are cached and appear here as they end.")
    for message in st.session_state.pop(SWEEP_REFUSED, []):
        st.warning(message, icon=":material/block:")
    active = any(v in ACTIVE for v in states.values())

    def body():
        _, errs, now, words = sweep_status(config)
        charts.show_cached(("ae-sweep", config.dataset, config.latent_dim,
                            tuple(sorted(errs.items())), current),
                           lambda: sweep_chart(config, errs, current))
        status = f"{len(errs)} of {len(configs)} sweep runs finished (k = {ks})"
        st.caption(status + (": " + "; ".join(words) if words else "."))
        if active and not any(v in ACTIVE for v in now.values()):
            st.rerun()  # the last one finished: redraw the page without polling

    st.fragment(body, run_every=SWEEP_POLL if active else None)()


# --- decoding random codes ----------------------------------------------------------------------

@st.cache_resource(max_entries=8, show_spinner=False)
def train_codes(key: str, dataset: str, _model) -> torch.Tensor:
    """The encoder's codes of the whole training set: (N, k)."""
    with torch.no_grad():
        return _model.encode(datasets.load(dataset).x_train)


def random_codes(codes: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n codes from N(0, I) and n from the Gaussian fitted to the codes (mean, covariance)."""
    gen = torch.Generator().manual_seed(seed)
    k = codes.shape[1]
    z_std = torch.randn(n, k, generator=gen)
    c = codes.double()
    loc = c.mean(0)
    cov = torch.cov(c.T).reshape(k, k) + 1e-6 * torch.eye(k, dtype=torch.float64)
    chol = torch.linalg.cholesky(cov)
    z_fit = loc + torch.randn(n, k, generator=gen, dtype=torch.float64) @ chol.T
    return z_std, z_fit.float()


def random_decodes(config: AEConfig, result) -> None:
    """Decode z ~ N(0, I) and z from a Gaussian fitted to the codes, beside the codes."""
    data = data_of(config)
    codes = train_codes(result.key, config.dataset, result.model)
    n = RANDOM_IMAGES if data.is_image else RANDOM_POINTS
    k = config.latent_dim
    left, right = st.columns([3, 2], gap="large")
    with left:
        seed = state.widget(DRAW)
        z_std, z_fit = random_codes(codes, n, seed)
        with torch.no_grad():
            x_std, x_fit = (result.model.decode(z_std).numpy(),
                            result.model.decode(z_fit).numpy())
        if data.is_image:
            strip("**N(0, I)**", f"rstd-{result.key}-{seed}", x_std, ncols=8)
            strip("**Fitted Gaussian**", f"rfit-{result.key}-{seed}", x_fit, ncols=8)
            strip("**Their own codes**", f"final8-{result.key}",
                  _final_reconstructions(result.key, config.dataset, result.model), ncols=8)
            st.caption("Top: decoded draws from N(0, I). Middle: decoded draws from the "
                       "Gaussian with the codes' mean and covariance. Bottom, for comparison: "
                       "held-out images decoded from their own codes.")
        else:
            x = data.x_test[:RANDOM_POINTS].numpy()
            df = pd.concat([
                pd.DataFrame({"x₁": x[:, 0], "x₂": x[:, 1], "what": "data"}),
                pd.DataFrame({"x₁": x_std[:, 0], "x₂": x_std[:, 1], "what": "decoded N(0, I)"}),
                pd.DataFrame({"x₁": x_fit[:, 0], "x₂": x_fit[:, 1],
                              "what": "decoded fitted Gaussian"})], ignore_index=True)
            whats = ["data", "decoded N(0, I)", "decoded fitted Gaussian"]
            charts.show(square_scatter(df, "x₁", "x₂", category_color(
                "what", whats, colors=[charts.REAL, charts.OKABE_ITO[3], charts.FAKE]),
                "Decoded random codes over the data", h=360, size=14))
    with right:
        charts.show_cached(("ae-codes", result.key, seed, n),
                           lambda: codes_chart(codes.numpy(), z_std.numpy(), z_fit.numpy()))
        spread, centre = codes.std(0), codes.mean(0)
        more = " …" if k > 4 else ""
        st.caption("The codes (grey) against N(0, I) and the fitted Gaussian. Their spread "
                   "(std over the training set): "
                   + ", ".join(f"{charts.zname(j)} {spread[j]:.2g}" for j in range(min(k, 4)))
                   + more + "; their centre: "
                   + ", ".join(f"{centre[j]:.2g}" for j in range(min(k, 4))) + more + ".")


def codes_chart(codes: np.ndarray, z_std: np.ndarray, z_fit: np.ndarray) -> alt.Chart:
    """Training codes in grey under the random codes (first two dimensions); for a 1-D code,
    one row of ticks per source."""
    k = codes.shape[1]
    z1, z2 = charts.zname(0), charts.zname(1)
    sources = ["training codes", "N(0, I)", "fitted Gaussian"]
    # the chart sits in the narrower of two columns: the legend goes below, in one row, so
    # that plot and legend fit the column's width
    below = alt.Legend(orient="bottom", direction="horizontal", title=None)
    color = alt.Color("source:N", title=None, legend=None if k == 1 else below,
                      scale=alt.Scale(domain=sources, range=["#999999", charts.REAL,
                                                             charts.FAKE]))
    title = "Where the random codes fall" + (f" (z₁, z₂ of {k})" if k > 2 else "")
    side = int(300 * min(charts.scale(), 1.2))
    frames = [(codes[:1500], sources[0]), (z_std, sources[1]), (z_fit, sources[2])]
    if k == 1:
        df = pd.concat([pd.DataFrame({z1: z[:, 0], "source": src}) for z, src in frames],
                       ignore_index=True)
        return alt.Chart(df, width=side, height=charts.height(120), title=title).mark_tick(
            opacity=0.5, thickness=1.5).encode(
            x=alt.X(f"{z1}:Q", scale=alt.Scale(zero=False)),
            y=alt.Y("source:N", title=None, sort=sources), color=color)
    df = pd.concat([pd.DataFrame({z1: z[:, 0], z2: z[:, 1], "source": src})
                    for z, src in frames], ignore_index=True)
    domain = charts.square_domain(df[z1].to_numpy(), df[z2].to_numpy())
    x = alt.X(f"{z1}:Q", scale=alt.Scale(domain=domain[0]))
    y = alt.Y(f"{z2}:Q", scale=alt.Scale(domain=domain[1]))
    base = alt.Chart(df, width=side, height=side, title=title)
    grey = base.transform_filter(alt.datum.source == sources[0]).mark_circle(
        size=10 * charts.scale(), opacity=0.35).encode(x=x, y=y, color=color)
    drawn = base.transform_filter(alt.datum.source != sources[0]).mark_circle(
        size=40 * charts.scale(), opacity=0.9).encode(x=x, y=y, color=color)
    # "pad": the plot keeps its square; axes and the legend come around it (Streamlit's
    # default would squeeze the plot to make room for them)
    return alt.layer(grey, drawn).properties(autosize=PAD)


def no_prior_text(config: AEConfig) -> str:
    data = data_of(config)
    end = ("so many decodings are smudges or blends of two digits." if config.dataset ==
           "digits" else "so many decodings are smudges or blends of shapes." if data.is_image
           else "so decoded points land off the data: in the gaps and beyond its ends.")
    return ("A generative model would let us draw a new z and decode it. An autoencoder has no "
            "prior p(z): the decoder was trained only on the codes of real inputs. Draws from "
            "N(0, I) ignore where those codes are and how far they spread. Even a Gaussian "
            "fitted to the codes misses their shape: the codes sit in clumps and thin curved "
            "sheets, and the fitted Gaussian puts much of its mass where no input's code lies "
            "and where the decoder was never trained, " + end)


def vae_link() -> None:
    vae = next((p for p in existing_pages() if p.url_path == "vae"), None)
    if vae is not None:
        st.page_link(vae.path, label="The VAE gives the codes a prior: see the VAE page",
                     icon=":material/arrow_forward:")
