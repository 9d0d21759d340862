"""Views for the VAE and Latent distribution pages: computations on a finished run, cached on
its run key (so a slider rerun only redraws), and the charts that show them. Streamlit and
Altair glue only: the maths lives in models.vae, models.latent and models.train.
"""

from __future__ import annotations

import html
from dataclasses import replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from models import datasets, latent
from models.priors import PRIORS, PriorConfig, make_prior
from models.train import IWAE_K_EVAL, AEConfig, VAEConfig, snapshot_indices
from models.vae import active_units

from . import charts, panels, state
from .state import Param

ACTIVE_THRESHOLD = 0.01  # variance of E_q[z|x] over the data above which a unit is active
IDLE_KL = 0.02  # nats: a dimension whose average KL is below this says practically nothing
GRID_CELLS = 100  # cells per side of the density maps
CLIP_QUANTILE = 0.995  # the brightest 0.5 % of cells saturate the colour scale
POSTERIOR_SAMPLES_IMAGES, POSTERIOR_SAMPLES_POINTS = 16, 300
SPREAD_TOP = 0.5  # colour scale of the per-pixel std of decodings (a pixel is in [0, 1])
COMPARE_SEED = 0
KL_SEED = 0
ELLIPSE_POINTS = 36
MAX_TWO_STD = 12  # more inputs than this: only the 1-std ellipses (fewer marks)
SHOWN_POINTS = 500  # data points drawn under decodings
INPUT_COLORS = charts.OKABE_ITO[:6] + ["#882255", "#999999", "#44AA99", "#332288",
                                       "#AA4499", "#117733"]
GREYS = np.array([[255, 255, 255], [205, 205, 205], [120, 120, 120]], dtype=np.float64)
MINUS = "−"

CURVES = {"train_neg_elbo": f"training {MINUS}ELBO", "test_neg_elbo": f"held-out {MINUS}ELBO"}
IWAE_LABEL = f"IWAE {MINUS}log p(x), K=%d"  # held out, like the ELBO beside it


# --- small helpers ----------------------------------------------------------------------------

FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")  # height = the plot area's
PAD = alt.AutoSizeParams(type="pad", contains="padding")  # width, height = the plot area's


def fit_x(chart):
    """As wide as the container; the height is the plotting area's, so a legend below does
    not squeeze the plot (Streamlit's default, "fit", counts legend and axes in)."""
    return chart.properties(autosize=FIT_X)


def fixed(chart, side: int):
    """A square plotting area of side pixels (axes and legend come on top)."""
    side = int(side * min(charts.scale(), 1.2))
    return chart.properties(width=side, height=side, autosize=PAD)


def data_of(config) -> datasets.DataSet:
    return datasets.load(config.dataset)


def input_label(data: datasets.DataSet, i: int, labels=None) -> str:
    """'#12 · digit 7': a test input's index and, where known, its class."""
    labels = data.labels_test if labels is None else labels
    if labels is None:
        return f"#{i}"
    lab = int(labels[i])
    if data.name == "digits":
        return f"#{i} · digit {lab}"
    if data.name == "sprites":
        return f"#{i} · {datasets.SPRITE_SHAPES[lab]}"
    return f"#{i} · {data.label_name} {lab + 1}"


def png(tag: str, images: np.ndarray, ncols: int = 4, upscale: int = 3) -> bytes:
    """An image grid as PNG bytes, cached on a tag that names its content."""
    return _png(tag, ncols, upscale, images)


@st.cache_resource(max_entries=128, show_spinner=False)
def _png(tag: str, ncols: int, upscale: int, _images: np.ndarray) -> bytes:
    return charts.png_bytes(charts.image_grid(_images, ncols=ncols, upscale=upscale))


def ae_twin(config: VAEConfig) -> AEConfig:
    """The autoencoder trained like the VAE: same data, latent size, width, epochs, learning
    rate, batch size and seed; only the objective differs."""
    return AEConfig(dataset=config.dataset, latent_dim=config.latent_dim, hidden=config.hidden,
                    epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                    seed=config.seed)


def prior_problem(config: VAEConfig) -> str | None:
    from .controls import prior_problem_for_vae
    return prior_problem_for_vae(config.prior, config.latent_dim)


# --- training curves --------------------------------------------------------------------------

# charts drawn side by side keep their width for the plot: legend below, in two columns
HALF_WIDTH_LEGEND = alt.Legend(orient="bottom", columns=2, symbolStrokeWidth=2.5)
EPOCH_AXIS = alt.Axis(tickMinStep=1, format="d")  # whole epochs, not 0.2, 0.4, ...


def _y_domain(values: list[float], rows_first_epoch: list[float]) -> list[float] | None:
    """Leave out epoch 0 (an untrained model's loss dwarfs the rest) unless it is all there is."""
    vals = rows_first_epoch or values
    if not vals:
        return None
    lo, hi = min(vals), max(vals)
    pad = 0.06 * (hi - lo + 1e-6)
    return [lo - pad, hi + pad]


def elbo_chart(history: list[dict], final: dict | None = None) -> alt.Chart | None:
    """-ELBO on training and held-out data, and beside it the importance-weighted estimate of
    -log p(x) (K = IWAE_K_EVAL every few epochs; K = final["iwae_k"] once at the end)."""
    rows = []
    for h in history:
        for key, label in CURVES.items():
            if h.get(key) is not None:
                rows.append({"epoch": h["epoch"], "metric": label, "nats": h[key]})
        if h.get("test_iwae") is not None:
            rows.append({"epoch": h["epoch"], "metric": IWAE_LABEL % IWAE_K_EVAL,
                         "nats": -h["test_iwae"]})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    labels = list(CURVES.values()) + [IWAE_LABEL % IWAE_K_EVAL]
    colors = [charts.REAL, charts.FAKE, charts.MODEL]
    final_df = None
    if final and final.get("test_iwae") is not None:
        k = int(final.get("iwae_k", 64))
        labels.append(IWAE_LABEL % k)
        colors.append("#000000")
        final_df = pd.DataFrame([{"epoch": final.get("epoch", df["epoch"].max()),
                                  "metric": IWAE_LABEL % k, "nats": -final["test_iwae"]}])
    later = df[df["epoch"] >= 1]["nats"].tolist()
    extra = final_df["nats"].tolist() if final_df is not None else []
    domain = _y_domain(df["nats"].tolist() + extra, later + extra if later else [])
    color = alt.Color("metric:N", title=None, legend=HALF_WIDTH_LEGEND,
                      scale=alt.Scale(domain=labels, range=colors))
    y = alt.Y("nats:Q", title="nats per example", scale=alt.Scale(domain=domain, zero=False))
    tip = [alt.Tooltip("epoch:Q", format=".0f"), "metric:N", alt.Tooltip("nats:Q", format=".2f")]
    base = alt.Chart(df, title=f"{MINUS}ELBO and {MINUS}log p(x)", height=charts.height(230))
    lines = base.mark_line(strokeWidth=2 * charts.scale(), clip=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=EPOCH_AXIS), y=y, color=color, tooltip=tip)
    dots = base.transform_filter(alt.datum.metric == IWAE_LABEL % IWAE_K_EVAL).mark_point(
        filled=True, size=30 * charts.scale(), clip=True).encode(x="epoch:Q", y=y, color=color,
                                                                 tooltip=tip)
    layers = [lines, dots]
    if final_df is not None:
        layers.append(alt.Chart(final_df).mark_point(shape="diamond", filled=True,
                                                     size=110 * charts.scale()).encode(
            x="epoch:Q", y=y, color=color, tooltip=tip))
    return fit_x(alt.layer(*layers))


def split_chart(history: list[dict]) -> alt.Chart | None:
    """The two terms of -ELBO, reconstruction and KL, on training (solid) and held-out
    (dashed) data."""
    series = {"train_recon": "reconstruction · training",
              "test_recon": "reconstruction · held-out",
              "train_kl": "KL · training", "test_kl": "KL · held-out"}
    rows = [{"epoch": h["epoch"], "series": label, "nats": h[key]}
            for h in history for key, label in series.items() if h.get(key) is not None]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    domain = _y_domain(df["nats"].tolist(), df[df["epoch"] >= 1]["nats"].tolist())
    labels = list(series.values())
    legend = HALF_WIDTH_LEGEND  # one legend for colour and dash
    return fit_x(alt.Chart(df, title=f"{MINUS}ELBO = reconstruction + KL",
                           height=charts.height(230)).mark_line(
        strokeWidth=2 * charts.scale(), clip=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=EPOCH_AXIS),
        y=alt.Y("nats:Q", title="nats per example", scale=alt.Scale(domain=domain, zero=False)),
        color=alt.Color("series:N", title=None, legend=legend, scale=alt.Scale(
            domain=labels, range=[charts.REAL, charts.REAL, charts.FAKE, charts.FAKE])),
        strokeDash=alt.StrokeDash("series:N", title=None, legend=legend, scale=alt.Scale(
            domain=labels, range=[[1, 0], [5, 3], [1, 0], [5, 3]])),
        tooltip=[alt.Tooltip("epoch:Q", format=".0f"), "series:N",
                 alt.Tooltip("nats:Q", format=".2f")]))


def training_charts(history: list[dict], final: dict | None = None,
                    key: str | None = None) -> None:
    """The two training charts side by side; with a finished run's key, their specs are
    cached on it."""
    c1, c2 = st.columns(2)
    for col, name, build in ((c1, "elbo", lambda: elbo_chart(history, final)),
                             (c2, "split", lambda: split_chart(history))):
        if not history:
            return
        with col:
            if key is not None:
                charts.show_cached((key, name), build)
            elif (chart := build()) is not None:
                charts.show(chart)


AE_CURVES = {"train_recon": "training error", "test_recon": "held-out error"}


def ae_chart(history: list[dict]) -> alt.Chart | None:
    """The autoencoder's reconstruction error while it trained."""
    rows = [{"epoch": h["epoch"], "metric": label, "error": h[k]} for h in history
            for k, label in AE_CURVES.items() if h.get(k) is not None]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    domain = _y_domain(df["error"].tolist(), df[df["epoch"] >= 1]["error"].tolist())
    return fit_x(alt.Chart(df, title="Autoencoder: squared reconstruction error",
                           height=charts.height(150)).mark_line(
        strokeWidth=2 * charts.scale(), clip=True).encode(
        x=alt.X("epoch:Q", axis=EPOCH_AXIS), y=alt.Y("error:Q", title="squared error",
                                    scale=alt.Scale(domain=domain, zero=False)),
        color=alt.Color("metric:N", title=None, scale=alt.Scale(
            domain=list(AE_CURVES.values()), range=[charts.REAL, charts.FAKE]))))


def ae_live_view(snapshot, handle) -> None:
    chart = ae_chart(handle.history)
    if chart is not None:
        charts.show(chart)


def trained_view(config: VAEConfig) -> panels.RunView:
    """The run panel and what its replay timeline drives (the run's numbers, the training
    curves, the reconstructions and samples at the chosen snapshot) as one fragment; the
    sections below it do not depend on the snapshot."""
    def draw(view: panels.RunView) -> None:
        result = view.result
        final_metrics(result.metrics)
        training_charts(result.history, result.metrics, result.key)
        st.subheader("Reconstructions and samples")
        reconstructions_and_samples(config, view.snapshot, result.key)
    return panels.replay_fragment(config, draw, curves=CURVES, live_view=live_view,
                                  chart=False)


def live_view(snapshot, handle) -> None:
    """What the run panel draws while a VAE trains."""
    training_charts(handle.history)


def final_metrics(metrics: dict) -> None:
    """The finished run's held-out figures, in nats per example."""
    k = int(metrics.get("iwae_k", 64))
    items = [
        (f"Held-out {MINUS}ELBO (nats)", f"{metrics['test_neg_elbo']:.2f}",
         "Reconstruction + KL on the held-out data, per example (one sample of z per input). "
         "An upper bound on −log p(x)."),
        ("Reconstruction (nats)", f"{metrics['test_recon']:.2f}",
         "−E_q[log p(x|z)]: how many nats the decoder needs to describe x given a code."),
        ("KL (nats)", f"{metrics['test_kl']:.2f}",
         "KL(q(z|x) ‖ p(z)): what the code costs, measured against the prior."),
    ]
    if metrics.get("test_iwae") is not None:
        items.append((f"{MINUS}log p(x), IWAE K={k} (nats)", f"{-metrics['test_iwae']:.2f}",
                      f"The importance-weighted estimate with K={k} samples per input "
                      "(Burda et al. 2016): a bound tighter than the ELBO, approaching −log p(x) "
                      "as K grows. The gap to the ELBO is what q(z|x) misses of the true "
                      "posterior."))
    panels.metric_row(items)


# --- reconstructions and samples --------------------------------------------------------------

PAD_SPEC = {"type": "pad", "contains": "padding"}


def points_spec(layers: list[tuple[str, np.ndarray, str, float, float]], title: str,
                domain: tuple, side: int = 300) -> dict:
    """2-D points, one group per (label, points (n, 2), colour, size, opacity), on a square
    plotting area over the given domain; points outside it are clipped. A Vega-Lite spec
    written directly: these charts change with the sliders, and Altair's object model and
    validation would cost more than the rest of the rerun."""
    side = int(side * min(charts.scale(), 1.2))
    labels = [label for label, *_ in layers]
    values = []
    for label, pts, *_ in layers:
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        values += [{"x₁": a, "x₂": b, "what": label} for a, b in pts.round(5).tolist()]

    def scale(i, f=lambda v: v):
        return {"domain": labels, "range": [f(layer[i]) for layer in layers]}

    return {
        "config": charts.vega_config(), "title": title, "width": side, "height": side,
        "autosize": PAD_SPEC, "layer": [{
            "data": {"values": values}, "mark": {"type": "circle", "clip": True},
            "encoding": {
                "x": {"field": "x₁", "type": "quantitative",
                      "scale": {"domain": list(domain[0]), "nice": False}},
                "y": {"field": "x₂", "type": "quantitative",
                      "scale": {"domain": list(domain[1]), "nice": False}},
                "color": {"field": "what", "type": "nominal", "title": None, "scale": scale(2)},
                "size": {"field": "what", "type": "nominal", "legend": None,
                         "scale": scale(3, lambda v: v * charts.scale())},
                "opacity": {"field": "what", "type": "nominal", "legend": None,
                            "scale": scale(4)}}}]}


def data_domain(data: datasets.DataSet, pad: float = 0.35) -> tuple:
    x = data.x_test[:SHOWN_POINTS].numpy()
    return charts.square_domain(x[:, 0], x[:, 1], pad=pad)


def outside(points: np.ndarray, domain: tuple) -> int:
    p = np.asarray(points)
    inside = ((p[:, 0] >= domain[0][0]) & (p[:, 0] <= domain[0][1])
              & (p[:, 1] >= domain[1][0]) & (p[:, 1] <= domain[1][1]))
    return int((~inside).sum())


def _outside_note(points: np.ndarray, domain: tuple, what: str) -> None:
    n = outside(points, domain)
    if n:
        st.caption(f"{n} of {len(points)} {what} fall outside the plotted area.")


def reconstructions_and_samples(config: VAEConfig, snapshot: dict, key: str) -> None:
    """Reconstructions of held-out inputs and decodings of prior samples, at the snapshot the
    timeline points at: image grids for images, scatter plots over the data for 2-D points."""
    data = data_of(config)
    step = int(snapshot.get("step", 0))
    x_hat, samples = snapshot["x_hat"], snapshot["samples"]
    if data.is_image:
        n = len(x_hat)
        c1, c2, c3 = st.columns(3)
        c1.markdown("**Held-out inputs**")
        c1.image(png(f"orig-{config.dataset}-{n}", data.x_test[snapshot_indices(data)].numpy()),
                 output_format="PNG")
        c2.markdown("**Their reconstructions**")
        c2.image(png(f"{key}-{step}-x_hat", x_hat), output_format="PNG")
        c2.caption("E[x|z] at the mean code of each input.")
        c3.markdown("**Decoded from the prior**")
        c3.image(png(f"{key}-{step}-samples", samples), output_format="PNG")
        c3.caption("z ~ p(z), then E[x|z]: new data the model generates (the same z at "
                   "every snapshot of the replay).")
        return
    domain = data_domain(data)
    x = data.x_test[snapshot_indices(data)].numpy()
    c1, c2 = st.columns(2)
    with c1:
        charts.show_spec(points_spec([("held-out data", x, charts.REAL, 14, 0.35),
                               ("reconstruction", x_hat, charts.FAKE, 14, 0.8)],
                              "Reconstructions over the data", domain))
        _outside_note(x_hat, domain, "reconstructions")
    with c2:
        charts.show_spec(points_spec([("held-out data", x, charts.REAL, 14, 0.35),
                               ("decoded prior sample", samples, charts.FAKE, 14, 0.8)],
                              "Decoded from the prior", domain))
        _outside_note(samples, domain, "decodings")
    st.caption("Each orange point is E[x|z], the mean of p(x|z): for a reconstruction at the "
               "input's mean code, for a sample at z ~ p(z). The decoder's own noise, with its "
               "learned scale, is left out.")


# --- KL per dimension -------------------------------------------------------------------------

@st.cache_resource(max_entries=32, show_spinner=False)
def kl_report(key: str, dataset: str, _model) -> dict:
    """KL(q(z_j|x) || p(z_j)) per dimension j, averaged over the held-out data (None for the
    mixture prior beyond one dimension: its dimensions do not separate), and the variance
    over the data of each dimension's posterior mean (Burda et al.'s activity). Monte Carlo
    where torch has no closed-form KL, from a generator of its own: reseeding torch's global
    generator would reset it for every session of the server."""
    x = datasets.load(dataset).x_test
    with torch.no_grad():
        q = _model.approx_posterior(x)  # q(z|x)
        kl = latent.kl_per_dim(q.mean, q.stddev, _model.prior_,
                               generator=torch.Generator().manual_seed(KL_SEED))
        var = active_units(_model, x)
    return {"kl": None if kl is None else kl.double().numpy(), "var": var.double().numpy()}


def kl_section(config: VAEConfig, result) -> dict:
    rep = kl_report(result.key, config.dataset, result.model)
    d = config.latent_dim
    active = rep["var"] > ACTIVE_THRESHOLD
    names = [charts.zname(j) for j in range(d)]
    if rep["kl"] is not None:
        value, title = rep["kl"], "KL per latent dimension (nats)"
    else:
        value, title = rep["var"], "Variance of E_q[z|x] over the data, per dimension"

    def build():
        df = pd.DataFrame({"dimension": names, "value": value,
                           "state": np.where(active, "active", "collapsed")})
        bar = {"size": 60 * charts.scale()} if d <= 4 else {}  # not one bar across the page
        return fit_x(alt.Chart(df, title=title, height=charts.height(170))).mark_bar(
            **bar).encode(
            x=alt.X("dimension:N", sort=names, title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title="nats" if rep["kl"] is not None else "variance"),
            color=alt.Color("state:N", title=None, scale=alt.Scale(
                domain=["active", "collapsed"], range=[charts.REAL, "#BBBBBB"])),
            tooltip=["dimension:N", alt.Tooltip("value:Q", format=".4f"), "state:N"])

    charts.show_cached((result.key, "kl"), build)
    n_active = int(active.sum())
    if rep["kl"] is not None:
        idle = int((rep["kl"] < IDLE_KL).sum())
        st.caption(f"{n_active} of {d} dimensions are active (the variance of their mean "
                   f"code over the data exceeds {ACTIVE_THRESHOLD}; Burda et al. 2016)"
                   + (f"; {idle} carry less than {IDLE_KL} nats each" if idle else "")
                   + f". The bars add up to the KL term: {rep['kl'].sum():.2f} nats. A "
                   "dimension with KL ≈ 0 has q(z_j|x) = p(z_j) for every input: it carries "
                   "no information about x. Raise β and watch more of them collapse.")
    else:
        st.caption(mixture_kl_note(d, n_active))
    return rep


def mixture_kl_note(d: int, n_active: int) -> str:
    """Why a mixture prior's KL has no bar per dimension (only called for d >= 2: with one
    dimension the whole KL is z₁'s, and kl_report gives it)."""
    where = ("on a circle in the (z₁, z₂) plane" if d == 2 else
             f"on a circle in the (z₁, z₂) plane of the {d} dimensions")
    return (f"The mixture prior couples the dimensions (its component means sit {where}), so "
            "the KL does not split into one term per dimension. Shown instead: how much each "
            f"dimension's mean code varies across inputs. {n_active} of {d} dimensions are "
            f"active (variance above {ACTIVE_THRESHOLD}; Burda et al. 2016); a collapsed one "
            "gives every input the same code.")


# --- the autoencoder beside the VAE -----------------------------------------------------------

@st.cache_resource(max_entries=16, show_spinner=False)
def random_decodings(vae_key: str, ae_key: str, n: int, _vae, _ae, _ae_config) -> dict:
    """Random codes through both decoders: the VAE's from its prior; the autoencoder's from
    N(0, I) and from a Gaussian fitted to its training codes. Drawn from generators of their
    own (seeding torch's global one would reset it for the whole server)."""
    from .views_autoencoder import random_codes
    gen = torch.Generator().manual_seed(COMPARE_SEED)
    with torch.no_grad():
        z_vae = latent.prior_mixture(_vae.prior_).sample(n, gen).float()  # z ~ p(z)
        vae_x = _vae.decode_mean(z_vae)
        codes = _ae.encode(datasets.load(_ae_config.dataset).x_train)  # (N, k)
        z_std, z_fit = random_codes(codes, n, COMPARE_SEED)
        ae_std, ae_fit = _ae.decode(z_std), _ae.decode(z_fit)
    out = {"vae": vae_x.numpy(), "ae_std": ae_std.numpy(), "ae_fit": ae_fit.numpy()}
    if _vae.image:
        out = {k: v.reshape(n, 28, 28) for k, v in out.items()}
    return out


def comparison(config: VAEConfig, vae_result, ae_result) -> None:
    data = data_of(config)
    n = 16 if data.is_image else SHOWN_POINTS
    dec = random_decodings(vae_result.key, ae_result.key, n, vae_result.model,
                           ae_result.model, ae_result.config)
    prior_name = PRIORS[config.prior.name].label.lower()
    cols = st.columns(3)
    titles = [("VAE: z from its prior", "vae",
               f"z ~ p(z) ({prior_name}), decoded: the KL term made the codes fill the prior, "
               "so random codes decode to data-like outputs."),
              ("Autoencoder: z ~ N(0, I)", "ae_std",
               "The autoencoder was never asked to put its codes anywhere in particular: "
               "random codes land where no training input was encoded."),
              ("Autoencoder: z from a Gaussian fitted to its codes", "ae_fit",
               "The best one can do without a prior: match the codes' mean and covariance. "
               "Their true distribution is not Gaussian, so many draws still fall between "
               "the training codes.")]
    domain = None if data.is_image else data_domain(data)
    for col, (title, k, caption) in zip(cols, titles):
        with col:
            if data.is_image:
                st.markdown(f"**{title}**")
                st.image(png(f"cmp-{vae_result.key}-{ae_result.key}-{k}", dec[k]),
                         output_format="PNG")
            else:
                charts.show_spec(points_spec([("data", data.x_test[:n].numpy(), charts.REAL, 14, 0.35),
                                       ("decoding", dec[k], charts.FAKE, 14, 0.8)],
                                      title, domain, 240))
                _outside_note(dec[k], domain, "decodings")
            st.caption(caption)


# --- latent distribution: encodings and density maps ------------------------------------------

@st.cache_resource(max_entries=16, show_spinner=False)
def encodings(key: str, dataset: str, _model) -> dict[str, np.ndarray]:
    """q(z|x) = N(loc, diag(scale^2)) for every training and held-out input, and the
    dimensions from the most active to the least (the variance of the means over the
    training inputs): computed once here, not on every step of the input slider."""
    data = datasets.load(dataset)
    out = {}
    with torch.no_grad():
        for split, x in (("train", data.x_train), ("test", data.x_test)):
            q = _model.approx_posterior(x)
            out[f"loc_{split}"] = q.mean.numpy()
            out[f"scale_{split}"] = q.stddev.numpy()
    out["order"] = np.argsort(-out["loc_train"].var(0), kind="stable")
    return out


def _field_png(values: np.ndarray, lo: float, hi: float, cmap=charts.VIRIDIS) -> bytes:
    return charts.png_bytes(charts.heatmap_png(values, lo, hi, upscale=2, cmap=cmap))


PRIOR_LEVELS = (0.5, 0.9)  # the prior's regions outlined over q(z) in the comparison grid
PRIOR_LINE_COLOURS = ((255, 255, 255), (255, 120, 200))  # white, pink: legible on viridis


def _field_with_prior_png(q: np.ndarray, top: float, p_mass: torch.Tensor) -> bytes:
    """q(z) as a viridis field with the outlines of the prior's highest-density regions
    holding PRIOR_LEVELS of its mass on the grid drawn over it: one picture for p and q."""
    rgb = charts.colormap(q, 0.0, top)  # row 0 = the lowest z₂
    for mask, colour in zip(latent.mass_regions(p_mass, PRIOR_LEVELS), PRIOR_LINE_COLOURS):
        rgb[latent.region_edges(mask).numpy()] = colour
    img = Image.fromarray(rgb[::-1].copy())  # row 0 = the top of the plot
    return charts.png_bytes(img.resize((img.width * 2, img.height * 2), Image.NEAREST))


@st.cache_resource(max_entries=32, show_spinner=False)
def density_maps(key: str, prior: PriorConfig, latent_dim: int, dataset: str,
                 dims: tuple[int, ...], _model, cells: int = GRID_CELLS) -> dict:
    """p(z) and the aggregate posterior q(z) on a grid over the chosen one or two dimensions
    (marginals beyond), as exact cell masses (models.latent), plus what to read off them."""
    enc = encodings(key, dataset, _model)
    loc = torch.as_tensor(enc["loc_train"])[:, list(dims)]
    scale = torch.as_tensor(enc["scale_train"])[:, list(dims)]
    pm = latent.prior_mixture(make_prior(prior, latent_dim)).marginal(dims)
    qm = latent.posterior_mixture(loc, scale)
    lo, hi = latent.bounds(loc, scale, pm)
    e = latent.grid_edges(lo, hi, cells)
    edges = (e,) * len(dims)
    p_mass, q_mass = pm.cell_mass(*edges), qm.cell_mass(*edges)
    area = float(e[1] - e[0]) ** len(dims)
    p, q = (p_mass / area).numpy(), (q_mass / area).numpy()
    out = {"lo": lo, "hi": hi, "edges": e.numpy(), "p": p, "q": q,
           "p_inside": float(p_mass.sum()), "q_inside": float(q_mass.sum()),
           "holes": latent.hole_mass(p_mass, q_mass), "kl": latent.grid_kl(q_mass, p_mass),
           "avg_kl": latent.average_kl(loc, scale, pm), "n": len(loc)}
    if len(dims) == 2:
        top = float(np.quantile(np.concatenate([p.ravel(), q.ravel()]), CLIP_QUANTILE))
        diff = q - p
        span = float(np.quantile(np.abs(diff), CLIP_QUANTILE)) or 1.0
        out.update(top=top, span=span, png_p=_field_png(p, 0.0, top),
                   png_q=_field_png(q, 0.0, top), png_diff=_field_png(diff, -span, span,
                                                                     charts.DIVERGING),
                   png_q_grey=_field_png(q, 0.0, top, GREYS),
                   png_q_p=_field_with_prior_png(q, top, p_mass))
    return out


def field_chart(png_bytes: bytes, lo: float, hi: float, title: str,
                dims: tuple[int, int]) -> alt.Chart:
    """A PNG field as the background of a chart with real axes (one image mark). Unsized:
    wrap it (or a layer on it) in fixed()."""
    url = charts.data_url(png_bytes)
    df = pd.DataFrame({"x": [lo], "x2": [hi], "y": [lo], "y2": [hi], "url": [url]})
    scale = alt.Scale(domain=[lo, hi], nice=False)
    return alt.Chart(df, title=title).mark_image(aspect=False).encode(
        x=alt.X("x:Q", scale=scale, title=charts.zname(dims[0])), x2="x2",
        y=alt.Y("y:Q", scale=scale, title=charts.zname(dims[1])), y2="y2", url="url:N")


def ellipse_spec(bg_png: bytes, lo: float, hi: float, loc: np.ndarray, scale: np.ndarray,
                 labels: list[str], dims: tuple[int, int], title: str, side: int = 420) -> dict:
    """The 1- and 2-std ellipses of q(z|x) for the chosen inputs (rows of loc, scale: (B, 2);
    the first, the focus, drawn thick) and their means, over a PNG field (q(z) in grey). A
    spec written directly: it changes with every move of the input slider."""
    side = int(side * min(charts.scale(), 1.2))
    s = charts.scale()
    ks = (1.0, 2.0) if len(loc) <= MAX_TWO_STD else (1.0,)
    rows = []
    for k in ks:
        pts = latent.diagonal_ellipses(torch.as_tensor(loc), torch.as_tensor(scale), k,
                                       ELLIPSE_POINTS).numpy().round(5)
        for b, label in enumerate(labels):
            rows += [{"x": x, "y": y, "order": i, "slot": b % len(INPUT_COLORS),
                      "ellipse": f"{k:g} std", "focus": b == 0}
                     for i, (x, y) in enumerate(pts[b].tolist())]
    means = [{"x": float(m[0]), "y": float(m[1]), "input": label,
              "slot": b % len(INPUT_COLORS), "sx": float(sd[0]), "sy": float(sd[1])}
             for b, (m, sd, label) in enumerate(zip(loc, scale, labels))]
    url = charts.data_url(bg_png)
    axis = {"domain": [lo, hi], "nice": False}
    x = {"field": "x", "type": "quantitative", "scale": axis, "title": charts.zname(dims[0])}
    y = {"field": "y", "type": "quantitative", "scale": axis, "title": charts.zname(dims[1])}
    # coloured by the input's place in the strip (the strip is the key), not by its label: the
    # spec then stays the same when the inputs change, and the drawn chart is only updated
    color = {"field": "slot", "type": "nominal", "legend": None,
             "scale": {"domain": list(range(len(INPUT_COLORS))), "range": INPUT_COLORS}}
    name_x, name_y = charts.zname(dims[0]), charts.zname(dims[1])
    return {
        "config": charts.vega_config(s), "title": title, "width": side, "height": side,
        "autosize": PAD_SPEC, "layer": [
            {"data": {"values": [{"x": lo, "x2": hi, "y": lo, "y2": hi, "url": url}]},
             "mark": {"type": "image", "aspect": False},
             "encoding": {"x": x, "x2": {"field": "x2"}, "y": y, "y2": {"field": "y2"},
                          "url": {"field": "url", "type": "nominal"}}},
            {"data": {"values": rows}, "mark": {"type": "line", "clip": True},
             "encoding": {"x": x, "y": y, "color": color,
                          "detail": {"field": "ellipse", "type": "nominal"},
                          "order": {"field": "order", "type": "quantitative"},
                          "strokeDash": {"field": "ellipse", "type": "nominal", "title": None,
                                         "scale": {"domain": ["1 std", "2 std"],
                                                   "range": [[1, 0], [4, 3]]}},
                          "strokeWidth": {"condition": {"test": "datum.focus",
                                                        "value": 3.2 * s}, "value": 1.5 * s}}},
            {"data": {"values": means},
             "mark": {"type": "point", "filled": True, "size": 40 * s, "clip": True},
             "encoding": {"x": x, "y": y, "color": color, "tooltip": [
                 {"field": "input", "type": "nominal"},
                 {"field": "x", "type": "quantitative", "title": f"mean {name_x}",
                  "format": ".3f"},
                 {"field": "y", "type": "quantitative", "title": f"mean {name_y}",
                  "format": ".3f"},
                 {"field": "sx", "type": "quantitative", "title": f"std {name_x}",
                  "format": ".3f"},
                 {"field": "sy", "type": "quantitative", "title": f"std {name_y}",
                  "format": ".3f"}]}}]}


def mean_std_bars(loc: np.ndarray, scale: np.ndarray, labels: list[str]) -> alt.Chart:
    """Per-dimension mean ± 1 std of q(z|x) for the chosen inputs (loc, scale: (B, d))."""
    b, d = loc.shape
    names = [charts.zname(j) for j in range(d)]
    df = pd.DataFrame({"dimension": np.tile(names, b), "input": np.repeat(labels, d),
                       "mean": loc.ravel(), "lo": (loc - scale).ravel(),
                       "hi": (loc + scale).ravel(), "std": scale.ravel()})
    colors = [INPUT_COLORS[i % len(INPUT_COLORS)] for i in range(b)]
    color = alt.Color("input:N", title="input", sort=labels,
                      scale=alt.Scale(domain=labels, range=colors))
    x = alt.X("dimension:N", sort=names, title=None, axis=alt.Axis(labelAngle=0))
    off = alt.XOffset("input:N", sort=labels)
    base = alt.Chart(df, title="q(z|x) per dimension: mean ± 1 std",
                     height=charts.height(200))
    rules = base.mark_rule(strokeWidth=1.5).encode(x=x, xOffset=off, y=alt.Y("lo:Q",
                                                                             title="z"),
                                                   y2="hi:Q", color=color)
    dots = base.mark_point(filled=True, size=22).encode(
        x=x, xOffset=off, y="mean:Q", color=color,
        tooltip=["input:N", "dimension:N", alt.Tooltip("mean:Q", format=".3f"),
                 alt.Tooltip("std:Q", format=".3f")])
    return fit_x(alt.layer(rules, dots))


def intervals_1d(loc: np.ndarray, scale: np.ndarray, labels: list[str]) -> alt.Chart:
    """One latent dimension: each input's q(z|x) as its mean with 1- and 2-std intervals."""
    df = pd.DataFrame({"input": labels, "mean": loc[:, 0], "lo1": loc[:, 0] - scale[:, 0],
                       "hi1": loc[:, 0] + scale[:, 0], "lo2": loc[:, 0] - 2 * scale[:, 0],
                       "hi2": loc[:, 0] + 2 * scale[:, 0], "std": scale[:, 0]})
    colors = [INPUT_COLORS[i % len(INPUT_COLORS)] for i in range(len(labels))]
    color = alt.Color("input:N", sort=labels, scale=alt.Scale(domain=labels, range=colors),
                      legend=None)
    y = alt.Y("input:N", sort=labels, title=None)
    base = alt.Chart(df, title="q(z|x): mean, ±1 std (thick), ±2 std (thin)",
                     height=charts.height(28 * len(labels) + 40))
    return fit_x(alt.layer(
        base.mark_rule(strokeWidth=1.2).encode(x=alt.X("lo2:Q", title="z₁"), x2="hi2:Q",
                                               y=y, color=color),
        base.mark_rule(strokeWidth=5).encode(x="lo1:Q", x2="hi1:Q", y=y, color=color),
        base.mark_point(filled=True, size=50, color="black").encode(
            x="mean:Q", y=y, tooltip=["input:N", alt.Tooltip("mean:Q", format=".3f"),
                                      alt.Tooltip("std:Q", format=".3f")])))


def densities_1d(maps: dict) -> alt.Chart:
    """p(z₁) and q(z₁) as curves (cell averages over a fine grid)."""
    c = (maps["edges"][1:] + maps["edges"][:-1]) / 2
    df = pd.concat([pd.DataFrame({"z₁": c, "density": maps["p"], "what": "prior p(z)"}),
                    pd.DataFrame({"z₁": c, "density": maps["q"],
                                  "what": "aggregate posterior q(z)"})])
    return fit_x(alt.Chart(df, title="Prior and aggregate posterior",
                           height=charts.height(200))).mark_line(
        strokeWidth=2 * charts.scale()).encode(
        x="z₁:Q", y=alt.Y("density:Q", title="density"),
        color=alt.Color("what:N", title=None, scale=alt.Scale(
            domain=["prior p(z)", "aggregate posterior q(z)"],
            range=[charts.MODEL, charts.REAL])))


@st.cache_resource(max_entries=64, show_spinner=False)
def posterior_decodings(key: str, dataset: str, index: int, n: int, _model) -> dict:
    """One held-out input, its q(z|x), n codes drawn from it and their decodings E[x|z]."""
    x = datasets.load(dataset).x_test[index:index + 1]
    with torch.no_grad():
        q = _model.approx_posterior(x)
        loc, scale = q.mean[0], q.stddev[0]
        z = latent.sample_diagonal(loc, scale, n, seed=index)
        out = {"x": x.numpy(), "loc": loc.numpy(), "scale": scale.numpy(), "z": z.numpy(),
               "mean": _model.decode_mean(loc[None]).numpy(),
               "samples": _model.decode_mean(z).numpy()}
    if out["samples"].shape[1] == 28 * 28:  # per-pixel std of the decodings, as a picture
        spread = out["samples"].reshape(n, 28, 28).std(0)
        out["spread_png"] = charts.png_bytes(charts.heatmap_png(spread, 0.0, SPREAD_TOP,
                                                                upscale=5, flip_y=False))
    return out


def _figure(title: str, grow: float, png_bytes: bytes, alt_text: str, below: str = "") -> str:
    """One figure of a flex row: a bold title, the picture at its own width (scaled up in
    presenter mode, never wider than the figure) and the HTML below it. grow is its share of
    the row's width, as st.columns' weights; the row wraps when the figures get too narrow."""
    s = charts.scale()
    width = int.from_bytes(png_bytes[16:20], "big")  # the PNG's IHDR
    return (f"<figure style='margin:0;flex:{grow} 1 0;min-width:{int(120 * grow * s)}px'>"
            f"<div style='font-weight:600;margin-bottom:1rem'>{html.escape(title)}</div>"
            f"<img src='{charts.data_url(png_bytes)}' alt='{html.escape(alt_text)}' "
            f"style='display:block;width:{int(width * s)}px;max-width:100%;height:auto;"
            f"border-radius:.5rem;image-rendering:pixelated'>{below}</figure>")


def posterior_samples_view(config: VAEConfig, result, index: int, label: str) -> None:
    data = data_of(config)
    n = POSTERIOR_SAMPLES_IMAGES if data.is_image else POSTERIOR_SAMPLES_POINTS
    dec = posterior_decodings(result.key, config.dataset, index, n, result.model)
    if data.is_image:  # one HTML element, not columns of titles, images and captions
        # (~13 elements, each rebuilt by the browser on every step of the input slider)
        figures = [
            _figure(f"Input {label}", 1,
                    png(f"in-{result.key}-{index}", np.concatenate([dec["x"], dec["mean"]]), 1),
                    f"the input {label} above E[x|z] at the mean of its q(z|x)",
                    "<figcaption class='ll-note' style='margin-top:1rem'>"
                    "Top: x. Bottom: E[x|z] at the mean of q(z|x).</figcaption>"),
            _figure(f"{n} codes z ~ q(z|x), decoded", 2,
                    png(f"qs-{result.key}-{index}", dec["samples"], ncols=8),
                    f"{n} codes drawn from q(z|x) of input {label}, decoded"),
            _figure("Where the decodings disagree", 1.3, dec["spread_png"],
                    f"the per-pixel standard deviation of the {n} decodings",
                    "<div style='margin-top:1rem'>"
                    + charts.legend_html(0.0, SPREAD_TOP, "pixel std") + "</div>")]
        st.html("<div style='display:flex;flex-wrap:wrap;gap:1rem;margin-bottom:1rem'>"
                + "".join(figures) + "</div>" + panels.text_html(
                    "Every code inside the ellipse is a plausible description of this input, "
                    "so they decode to variations of it: the spread of the decodings is the "
                    "encoder's uncertainty made visible. A broad q(z|x) (large β) gives "
                    "blurrier, more varied decodings; a narrow one, nearly identical ones.",
                    note=True))
        return
    domain = data_domain(data)
    with st.columns([1, 1])[0]:
        charts.show_spec(points_spec([("data", data.x_test[:SHOWN_POINTS].numpy(), "#9AA5B1", 12, 0.4),
                               ("decoded z ~ q(z|x)", dec["samples"], charts.FAKE, 16, 0.7),
                               ("the input x", dec["x"], "#000000", 140, 1.0)],
                              f"{n} codes from q(z|x) of input {label}, decoded", domain))
    _outside_note(dec["samples"], domain, "decodings")
    st.caption("Each orange point decodes one code drawn from q(z|x) of the black input. "
               "Their spread is the encoder's uncertainty carried into data space.")


# --- controls of the latent distribution page -------------------------------------------------

def input_params(data: datasets.DataSet, latent_dim: int, order: list[int]) -> list[Param]:
    """The page's own controls: the focus input, which inputs get ellipses, and (beyond two
    dimensions) the two dimensions to draw; the default pair is the two most active."""
    n_test = len(data.x_test)
    params = [Param("input", "Input (held-out index)", 0, "int", lo=0,
                    hi=min(n_test, 500) - 1, step=1,
                    help="The input whose q(z|x) is drawn thick and whose codes are decoded.")]
    if data.labels_test is not None:
        params.append(Param("show", "Ellipses for", "class", "choice",
                            options=("class", "next"),
                            labels={"class": "one input per class",
                                    "next": "the next ten inputs"}))
    if latent_dim > 2:
        names = {j: charts.zname(j) for j in range(latent_dim)}
        params.append(Param("dx", "Horizontal dimension", order[0], "choice",
                            options=tuple(range(latent_dim)), labels=names))
        params.append(Param("dy", "Vertical dimension", order[1], "choice",
                            options=tuple(range(latent_dim)), labels=names))
    return params


def chosen_inputs(data: datasets.DataSet, focus: int, show: str) -> list[int]:
    """The held-out indices that get ellipses: the focus input first, then one per class
    (the first of each) or the next ones."""
    if show == "class" and data.labels_test is not None:
        labels = data.labels_test.numpy()
        firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
        return [focus] + [i for i in firsts if i != focus]
    n = len(data.x_test)
    return [focus] + [i % n for i in range(focus + 1, focus + 10)]


def inputs_strip(data: datasets.DataSet, indices: list[int], labels: list[str]) -> None:
    """The chosen inputs beside the ellipses, in their colours."""
    if data.is_image:  # one HTML element, not an image and a label per input (~40
        # elements in columns, each re-rendered by the browser on every step of the slider)
        imgs = data.x_test[indices].numpy().reshape(-1, 28, 28)
        s = charts.scale()
        cells = []
        for b, (i, label) in enumerate(zip(indices, labels)):
            url = charts.data_url(png(f"one-{data.name}-{i}", imgs[b:b + 1], 1, 2))
            color = INPUT_COLORS[b % len(INPUT_COLORS)]
            cells.append(
                f"<figure style='margin:0;text-align:center;width:{int(92 * s)}px'>"
                f"<img src='{url}' alt='held-out input {html.escape(label)}' "
                f"style='width:{int(60 * s)}px;image-rendering:pixelated;"
                f"border:3px solid {color};border-radius:4px'>"
                f"<figcaption style='font-size:{0.8 * s:.2f}rem'>"
                f"<span style='color:{color};font-weight:600'>●</span> "
                f"{html.escape(label)}</figcaption></figure>")
        st.html("<div style='display:flex;flex-wrap:wrap;gap:10px 6px'>"
                + "".join(cells) + "</div>")
        return
    pts = data.x_test[indices].numpy()
    layers = [("data", data.x_test[:SHOWN_POINTS].numpy(), "#9AA5B1", 12, 0.4)]
    layers += [(label, pts[b:b + 1], INPUT_COLORS[b % len(INPUT_COLORS)], 120, 1.0)
               for b, label in enumerate(labels)]
    charts.show_spec(points_spec(layers, "The chosen inputs in data space", data_domain(data), 280))


# --- the latent distribution page's sections --------------------------------------------------

def encoder_section(config: VAEConfig, result) -> tuple[int, str, tuple[int, ...]]:
    """Controls for the inputs (and dimensions), the ellipses of their q(z|x) beside the
    inputs themselves, and beyond two dimensions every dimension's mean ± std. Returns the
    focus input, its label and the dimensions drawn."""
    data, d = data_of(config), config.latent_dim
    enc = encodings(result.key, config.dataset, result.model)
    order = [int(j) for j in enc["order"]] + [0, 1]
    params = input_params(data, d, order)
    # one row as a horizontal container: one block, where st.columns sent one per control and
    # one around them, on every step of the input slider
    row = st.container(horizontal=True, gap="medium")
    values = {p.key: state.widget(p, row, radio=False, width="stretch") for p in params}
    focus, show = values["input"], values.get("show", "next")
    dims = (0,) if d == 1 else (values.get("dx", 0), values.get("dy", 1))
    if len(dims) == 2 and dims[0] == dims[1]:
        st.warning("Pick two different dimensions to draw the plane they span.")
        dims = (dims[0], (dims[0] + 1) % d)
    indices = chosen_inputs(data, focus, show)
    labels = [input_label(data, i) for i in indices]
    loc, scale = enc["loc_test"][indices], enc["scale_test"][indices]
    left, right = st.columns([3, 2], gap="large")
    with left:
        if d == 1:
            charts.show_cached((result.key, "intervals", tuple(indices)),
                               lambda: intervals_1d(loc, scale, labels))
        else:
            maps = density_maps(result.key, config.prior, d, config.dataset, dims,
                                result.model)
            dx, dy = dims
            charts.show_spec(ellipse_spec(maps["png_q_grey"], maps["lo"], maps["hi"],
                                   loc[:, [dx, dy]], scale[:, [dx, dy]], labels, dims,
                                   f"q(z|x) in the ({charts.zname(dx)}, {charts.zname(dy)}) "
                                   "plane, over q(z) in grey"))
    with right:
        inputs_strip(data, indices, labels)
    if d == 1:  # html, not a caption: the input slider's fragment redraws it on every step
        note = (f"Each bar is one input's q(z|x) = N(mean, std²): thick over ±1 std (68 % "
                f"of its mass), thin over ±2 std (95 %). The input {labels[0]} comes first.")
    else:
        note = (f"Each ellipse is one input's q(z|x) = N(mean, diag(std²)): solid at 1 std "
                f"(it holds {100 * latent.mass_within(1):.0f} % of q's mass in the plane), "
                f"dashed at 2 std ({100 * latent.mass_within(2):.0f} %). The input "
                f"{labels[0]} is drawn thick."
                + (" Beyond two dimensions the ellipses are the marginals on the two "
                   "dimensions chosen above; the bars below show every dimension."
                   if d > 2 else ""))
    st.html(panels.text_html(note, note=True))
    if d > 2:
        charts.show_cached((result.key, "bars", tuple(indices)),
                           lambda: mean_std_bars(loc, scale, labels))
    return focus, labels[0], dims


def maps_section(config: VAEConfig, result, dims: tuple[int, ...]) -> dict:
    """p(z) beside the aggregate posterior q(z) and their difference, and the figures read
    off them."""
    maps = density_maps(result.key, config.prior, config.latent_dim, config.dataset, dims,
                        result.model)
    if len(dims) == 1:
        charts.show_cached((result.key, dims, "densities"), lambda: densities_1d(maps))
    else:
        for col, name, title in zip(st.columns(3), ("png_p", "png_q", "png_diff"),
                                    ("prior p(z)", "aggregate posterior q(z)", "q(z) − p(z)")):
            with col:
                charts.show_cached((result.key, dims, name), lambda: fixed(
                    field_chart(maps[name], maps["lo"], maps["hi"], title, dims), 200))
        a, b = st.columns([2, 1])
        with a:
            charts.legend_bar(0.0, maps["top"], "density (left and middle; the top 0.5 % of "
                                                "cells saturate)")
        with b:
            charts.legend_bar(-maps["span"], maps["span"], "q − p", charts.DIVERGING)
    info = max(0.0, maps["avg_kl"] - maps["kl"])
    panels.metric_row([
        ("Prior mass in holes", f"{100 * maps['holes']:.1f} %",
         "The prior's mass in the cells where q(z) is below a tenth of p(z): how often a prior "
         "sample lands where no input is encoded."),
        ("KL(q(z) ‖ p(z)) (nats)", f"≥ {maps['kl']:.3f}",
         "How far the aggregate posterior is from the prior, from the cell masses. Coarse-"
         "graining can only lower a KL divergence, so this is a lower bound."),
        ("Average KL(q(z|x) ‖ p(z)) (nats)", f"{maps['avg_kl']:.3f}",
         "The KL term of the ELBO, averaged over the same training inputs. It splits into the "
         "information the codes carry about x and KL(q(z) ‖ p(z)) (Hoffman & Johnson 2016)."),
        ("Information I(x; z) (nats)", f"≤ {info:.3f}",
         "Average KL minus KL(q(z) ‖ p(z)): what the codes say about which input they came "
         f"from (at most log N = {np.log(maps['n']):.2f} nats for N inputs). An upper bound, "
         "as the KL it subtracts is a lower bound."),
    ])
    if config.latent_dim > len(dims):
        names = " and ".join(charts.zname(j) for j in dims)
        st.caption(f"Maps and figures are for the marginals on {names} only.")
    return maps


# --- comparing β and priors -------------------------------------------------------------------

COMPARE_BETAS = (0.2, 1.0, 5.0)
COMPARE_PRIORS = ("gaussian", "mixture")


def variants(config: VAEConfig) -> list[VAEConfig]:
    """The small-multiples grid: each compared prior x each compared β, all else as chosen."""
    out = []
    for name in COMPARE_PRIORS:
        prior = config.prior if config.prior.name == name else PriorConfig(name=name)
        for beta in COMPARE_BETAS:
            out.append(replace(config, prior=prior, beta=beta))
    return out


def variant_maps(config: VAEConfig, dims: tuple[int, ...]) -> tuple[list, int]:
    """(config, handle, maps or None) for every variant, and how many are still training."""
    rows, active = [], 0
    for v in variants(config):
        h = panels.lookup(v)
        maps = None
        if h is not None and h.status == panels.DONE:
            try:
                res = h.result()
            except Exception:  # noqa: BLE001 - a damaged entry is retrained by the manager
                res = None
            if res is not None:
                maps = density_maps(res.key, v.prior, v.latent_dim, v.dataset, dims, res.model)
                maps = dict(maps, neg_elbo=res.metrics.get("test_neg_elbo"), key=res.key)
        elif h is not None and h.active:
            active += 1
        rows.append((v, h, maps))
    return rows, active


def variants_grid(config: VAEConfig, dims: tuple[int, ...]) -> None:
    def body():
        rows, active = variant_maps(config, dims)
        missing = [v for v, h, m in rows if m is None and (h is None or not h.active)]
        if missing:
            c1, c2 = st.columns([1, 3], vertical_alignment="center")
            if c1.button(f"Train {len(missing)} comparison run{'s' * (len(missing) > 1)}",
                         key="variants_train"):
                for v in missing:
                    panels.submit(v)
                st.rerun()
            c2.caption("The same settings with β = " + ", ".join(f"{b:g}" for b in
                                                                COMPARE_BETAS)
                       + " under a Gaussian and a mixture prior. They train in the background "
                         "(about as long as this page's run, each), two at a time.")
        for name in COMPARE_PRIORS:
            cols = st.columns(len(COMPARE_BETAS))
            for col, (v, h, maps) in zip(cols, [r for r in rows if r[0].prior.name == name]):
                with col:
                    title = f"{PRIORS[name].label}, β = {v.beta:g}"
                    if maps is None:
                        st.markdown(f"**{title}**")
                        st.caption(_status(h))
                        continue
                    if len(dims) == 2:
                        charts.show_cached((maps["key"], dims, "variant+p"), lambda: fixed(
                            field_chart(maps["png_q_p"], maps["lo"], maps["hi"], title, dims),
                            190))
                    else:
                        charts.show_cached((maps["key"], dims, "variant"),
                                           lambda: densities_1d(maps).properties(title=title))
                    st.caption(f"prior mass in holes {100 * maps['holes']:.0f} % · "
                               f"KL(q(z) ‖ p(z)) ≥ {maps['kl']:.2f} nats · "
                               f"{MINUS}ELBO {maps['neg_elbo']:.1f}")
        if len(dims) == 2 and any(m is not None for _, _, m in rows):
            st.caption("Colours: each run's aggregate posterior q(z). Lines: its prior p(z), "
                       f"the smallest regions holding {100 * PRIOR_LEVELS[0]:.0f} % (white) and "
                       f"{100 * PRIOR_LEVELS[1]:.0f} % (pink) of the prior's mass. Where a line "
                       "encloses dark cells the prior expects codes that no input produces: "
                       "the holes. Larger β pulls q(z) onto the prior; the mixture prior asks "
                       "for clusters.")
        elif any(m is not None for _, _, m in rows):
            st.caption("Each run's prior p(z) beside its aggregate posterior q(z).")
        if active:
            st.caption(f"{active} comparison run{'s are' if active > 1 else ' is'} training; "
                       "the grid fills in as they finish.")
        return active

    if any(h is not None and h.active for _, h, _ in variant_maps(config, dims)[0]):
        st.fragment(_refresh(body), run_every=1.0)()
    else:
        body()


def _status(h) -> str:
    if h is None or h.status == "cancelled":
        return "not trained"
    if h.status == "queued":
        return "queued"
    if h.active:
        return f"training: {100 * h.fraction:.0f} %"
    if h.status == "failed":
        return f"failed: {h.error}"
    return h.status


def _refresh(body):
    def wrapped():
        if not body():
            st.rerun()  # all finished: redraw the page once, without the timer
    return wrapped


__all__ = ["CURVES", "AE_CURVES", "trained_view", "ae_twin", "prior_problem", "training_charts",
           "live_view", "ae_chart", "ae_live_view", "final_metrics",
           "reconstructions_and_samples", "kl_section", "comparison", "encodings",
           "density_maps", "field_chart", "fixed", "points_spec",
           "ellipse_spec", "mean_std_bars", "intervals_1d", "densities_1d",
           "posterior_samples_view", "input_params", "chosen_inputs", "inputs_strip",
           "variants", "variants_grid", "input_label", "data_of", "encoder_section",
           "maps_section"]
