"""Glue for the GAN page: the 2-D lab's presets and display controls, its live and replayed
figures, and the digits GAN's samples, interpolation and inversion. Streamlit only; the maths
lives in models.gan, models.train, models.gan_inversion and models.latent_space.

Figures are Vega-Lite specs written as dicts (no Altair object building on a rerun) whose
numbers all live in named datasets: while a run trains, or while the replay moves, the spec of
each chart stays the same and the browser swaps the data in place. The discriminator's output
is a small PNG drawn as one image mark behind the points (../shared/GUIDE.md, section 2).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyarrow as pa
import streamlit as st
import torch

from models import datasets, presets
from models.gan_inversion import RESTARTS, best_of_samples, invert
from models.latent_space import chi_mean, path
from models.seeding import seeded
from models.train import SNAPSHOT_POINTS, GANConfig

from . import charts, controls, panels, state
from .state import Param

LAB_DATASETS = ["ring8", "grid25", "moons", "spiral", "curve"]
PRESETS = {"covers": presets.GAN_COVERS, "collapse": presets.GAN_COLLAPSE}
PRESET_LABELS = {"covers": "Covers all modes", "collapse": "Mode collapse"}
PRESET_WHY = {
    "covers": "Balanced learning rates that fall linearly to zero let the generator follow "
              "the discriminator without overshooting, then settle sharply on every mode.",
    "collapse": "The discriminator learns about 20 times faster than the generator (five "
                "steps at learning rate 0.01 for each generator step at 0.0005), so it "
                "rejects every place the fakes reach before the generator can spread out, and "
                "the whole generator is pushed onto the one spot D currently rates most real.",
}
# the controls a preset sets (URL key -> config field); the prior's own keys follow
PRESET_KEYS = {"data": "dataset", "noise": "noise_dim", "g_depth": "g_depth",
               "g_hidden": "g_hidden", "d_depth": "d_depth", "d_hidden": "d_hidden",
               "loss": "loss", "g_lr": "g_lr", "d_lr": "d_lr", "d_steps": "d_steps",
               "steps": "steps", "batch": "batch_size", "seed": "seed"}
FIELD_LABELS = {"dataset": "data set", "noise_dim": "noise dimensions", "prior": "noise prior",
                "g_depth": "generator layers", "g_hidden": "generator width",
                "d_depth": "discriminator layers", "d_hidden": "discriminator width",
                "loss": "loss", "g_lr": "generator learning rate",
                "d_lr": "discriminator learning rate", "d_steps": "D steps per G step",
                "steps": "training steps", "batch_size": "batch size", "seed": "seed"}
DIGITS = presets.GAN_DIGITS

PRESET = Param("preset", "Preset", "covers", "choice", options=tuple(PRESETS),
               labels=PRESET_LABELS,
               help="Sets every control below to a configuration that shows one behaviour.")
N_FAKE = Param("shown", "Generated points shown", SNAPSHOT_POINTS, "int", lo=50,
               hi=SNAPSHOT_POINTS, step=50,
               help="How many of the generator's samples to draw (the same noise at every "
                    "snapshot).")
SHOW_D = Param("heat", "Discriminator heatmap", True, "bool",
               help="Colour the plane by the discriminator's output D(x).")
# Playing is a server-side flag flipped by a button, not a toggle: a widget's value comes back
# with every rerun request, so a fragment timer that fired just before a click would carry the
# old "on" and undo the pause; a button's click is never repeated.
PLAYING = "_gan_replay_playing"
REPLAY_SECONDS = 0.6  # one snapshot per this many seconds while the replay plays

# discriminator colours: orange where D says "generated", white at 1/2, blue where "real"
HEAT = np.array([[247, 212, 188], [252, 252, 252], [196, 222, 242]], dtype=np.float64)
D_COLOR, G_COLOR = charts.REAL, charts.FAKE
GRID_COLORS = (charts.FAKE, "#009E73")  # lines along z₁, lines along z₂
LN2 = math.log(2.0)
EQUILIBRIUM = {  # loss -> (D loss, G loss) where D(x) = 1/2 everywhere
    "ns": (2 * LN2, LN2), "minimax": (2 * LN2, -LN2), "lsgan": (0.25, 0.125)}
SIDE = 330  # pixels of a lab panel's longer side


# --- presets and controls ---------------------------------------------------------------------

def _apply_preset() -> None:
    """on_change of the preset: set every control to the chosen preset's value."""
    config = PRESETS[st.session_state[PRESET.key]]
    for key, name in PRESET_KEYS.items():
        st.session_state[key] = getattr(config, name)
    p = config.prior
    st.session_state.update({"prior": p.name, "k": p.components, "spread": p.spread,
                             "df": p.df})


def lab_controls() -> tuple[str, GANConfig]:
    """The preset selector and the GAN controls in the sidebar: (preset, config). The
    controls start from the preset, so a link with only ?preset=collapse shows it."""
    with st.sidebar:
        st.subheader("2-D lab")
        name = state.widget(PRESET, on_change=_apply_preset)
    config = controls.gan_controls(PRESETS[name], st.sidebar, LAB_DATASETS)
    return name, config


def changed_from(preset: GANConfig, config: GANConfig) -> list[str]:
    return [label for f, label in FIELD_LABELS.items()
            if getattr(preset, f) != getattr(config, f)]


def preset_note(name: str, config: GANConfig) -> None:
    changed = changed_from(PRESETS[name], config)
    text = f"**Preset: {PRESET_LABELS[name]}.** {PRESET_WHY[name]}"
    if changed:
        text += (" *You have changed the preset's " + ", ".join(changed) + ", so what you "
                 "see may differ.*")
    st.info(text, icon=":material/lightbulb:")


def display_controls() -> tuple[int, bool]:
    """The lab's display controls in one row: a horizontal container, one block where
    st.columns sends three (the replay redraws this row on every step of its timeline)."""
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    n = state.widget(N_FAKE, row, width="stretch")
    heat = state.widget(SHOW_D, row, width="content")
    return n, heat


# --- figure data ------------------------------------------------------------------------------

def _table(**cols) -> pa.Table:
    """An Arrow table, which Streamlit sends as it is (a DataFrame costs ~1 ms more)."""
    return pa.table({k: np.asarray(v) for k, v in cols.items()})


def _px(n: float) -> int:
    return int(round(n * charts.scale()))


def heat_range(loss: str, heat: np.ndarray) -> tuple[float, float, str]:
    """The colour range of D's output: probabilities for the logistic losses; D's raw output
    for least squares (targets 1 real, 0 fake) and the WGAN critic (unbounded, so the
    snapshot's own range, centred where it is symmetric)."""
    if loss in ("ns", "minimax"):
        return 0.0, 1.0, "D(x): probability that x is real"
    if loss == "lsgan":
        return 0.0, 1.0, "D(x): 1 = real, 0 = generated (least squares targets)"
    lo, hi = float(np.min(heat)), float(np.max(heat))
    mid = float(np.median(heat))
    half = max(hi - mid, mid - lo, 1e-6)
    return mid - half, mid + half, "critic score (higher = more real)"


def heat_png(loss: str, heat: np.ndarray) -> tuple[bytes, float, float, str]:
    lo, hi, label = heat_range(loss, heat)
    img = charts.heatmap_png(heat, lo=lo, hi=hi, upscale=1, cmap=HEAT)  # row 0 = bottom
    return charts.png_bytes(img), lo, hi, label


def plot_box(bounds: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], int, int]:
    """The plotted x and y ranges (the heatmap's extent) and a size in pixels with equal
    units on both axes (within 0.45-1 of square)."""
    (x0, y0), (x1, y1) = np.asarray(bounds, dtype=float)
    ratio = (y1 - y0) / (x1 - x0)
    side = _px(SIDE)
    if ratio <= 1:
        w, h = side, int(side * max(ratio, 0.45))
    else:
        w, h = int(side / min(ratio, 1 / 0.45)), side
    return (x0, x1), (y0, y1), w, h


def grid_lines(grid: np.ndarray, one_d: bool) -> dict[str, np.ndarray]:
    """The generator's image of the noise grid as polylines: for 2-D (or more) noise the
    15 x 15 grid of models.train.noise_grid (index k has z₁ = a[k % 15], z₂ = a[k // 15]),
    one line per row and per column; for 1-D noise (225 points along a line) one curve."""
    g = np.asarray(grid, dtype=np.float32)
    n = len(g)
    side = int(round(math.sqrt(n)))
    if one_d or side * side != n:
        return {"x": g[:, 0], "y": g[:, 1], "line": np.zeros(n, np.int32),
                "order": np.arange(n, dtype=np.int32), "family": np.zeros(n, np.int32)}
    idx = np.arange(n).reshape(side, side)  # [row (z₂), column (z₁)]
    rows, cols = idx, idx.T  # along z₁ (constant z₂), along z₂ (constant z₁)
    order = np.concatenate([rows.ravel(), cols.ravel()])
    line = np.concatenate([np.repeat(np.arange(side), side),
                           side + np.repeat(np.arange(side), side)]).astype(np.int32)
    pos = np.tile(np.arange(side), 2 * side).astype(np.int32)
    family = np.repeat([0, 1], n).astype(np.int32)
    return {"x": g[order, 0], "y": g[order, 1], "line": line, "order": pos, "family": family}


def _real_points(dataset: str) -> np.ndarray:
    return datasets.load(dataset).x_test[:SNAPSHOT_POINTS].numpy()


def lab_datasets(config: GANConfig, snapshot: dict, n_fake: int, heat: bool) -> dict:
    """The named datasets of the lab figure for one snapshot: coordinates only, as each
    layer draws in one colour (see lab_spec), and the grid's two families of lines apart."""
    (x0, x1), (y0, y1), _, _ = plot_box(snapshot["bounds"])
    real = _real_points(config.dataset)
    fake = np.asarray(snapshot["fake"])[:n_fake]
    sets = {"real": _table(x=real[:, 0], y=real[:, 1]),
            "fake": _table(x=fake[:, 0], y=fake[:, 1])}
    if heat:
        png = heat_png(config.loss, np.asarray(snapshot["d_heatmap"]))[0]
        sets["heat"] = _table(url=[charts.data_url(png)], a0=[x0], a1=[x1], b0=[y0], b1=[y1])
    g = grid_lines(snapshot["grid"], config.noise_dim == 1)
    for family in range(1 if config.noise_dim == 1 else 2):
        sel = g["family"] == family
        sets[f"grid{family}"] = _table(x=g["x"][sel], y=g["y"][sel], line=g["line"][sel],
                                       order=g["order"][sel])
    return sets


def outside(points: np.ndarray, bounds) -> int:
    (x0, y0), (x1, y1) = np.asarray(bounds, dtype=float)
    p = np.asarray(points)
    inside = (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
    return int((~inside).sum())


# --- figure specs (constant for a data set and display settings) -------------------------------

def _num(field: str, **kw) -> dict:
    return {"field": field, "type": "quantitative", **kw}


def _xy(xs, ys) -> dict:
    return {"x": _num("x", title="x₁", scale={"domain": list(xs), "nice": False}),
            "y": _num("y", title="x₂", scale={"domain": list(ys), "nice": False})}


def _points_layer(name: str, size: float, opacity: float, color: str,
                  stroke: bool = False) -> dict:
    """Points of one colour. A colour from a field would cost the browser a scale lookup per
    point on every snapshot (Vega evaluates encodings with its interpreter in Streamlit);
    the legend comes from _legend_layer instead."""
    mark = {"type": "circle", "size": size * charts.scale(), "opacity": opacity, "clip": True,
            "color": color}
    if stroke:
        mark.update(stroke="white", strokeWidth=0.6)
    return {"data": {"name": name}, "mark": mark}


def _legend_layer(mark: str, labels: list[str], colors: list[str]) -> dict:
    """A legend for layers drawn in fixed colours: a layer of one row per label, with no
    position (so nothing is drawn), whose colour scale makes the legend. Its rows are in the
    spec itself, which stays the same from snapshot to snapshot."""
    return {"data": {"values": [{"legend": label} for label in labels]},
            "mark": {"type": mark, "clip": True},
            "encoding": {"color": {"field": "legend", "type": "nominal", "title": None,
                                   "scale": {"domain": labels, "range": colors},
                                   "legend": {"orient": "bottom"}}}}


@st.cache_resource(max_entries=64, show_spinner=False)
def lab_spec(bounds_key: tuple, heat: bool, one_d: bool, presenter: float) -> dict:
    """Two panels on the same axes: the samples over D's output, and the generator's image of
    the noise grid over the data."""
    xs, ys, w, h = plot_box(np.array(bounds_key).reshape(2, 2))
    enc = _xy(xs, ys)
    left = [_points_layer("real", 16, 0.45, D_COLOR),
            _points_layer("fake", 16, 0.9, G_COLOR, stroke=True),
            _legend_layer("circle", ["data", "generated"], [D_COLOR, G_COLOR])]
    if heat:
        left.insert(0, {"data": {"name": "heat"},
                        "mark": {"type": "image", "aspect": False, "clip": True},
                        "encoding": {"x": _num("a0", title="x₁",
                                               scale={"domain": list(xs), "nice": False}),
                                     "x2": {"field": "a1"},
                                     "y": _num("b0", title="x₂",
                                               scale={"domain": list(ys), "nice": False}),
                                     "y2": {"field": "b1"},
                                     "url": {"field": "url", "type": "nominal"}}})
    families = ["noise line"] if one_d else ["z₁ varies", "z₂ varies"]
    colors = list(GRID_COLORS[:len(families)])
    lines = [{"data": {"name": f"grid{i}"},
              "mark": {"type": "line", "clip": True, "strokeWidth": 1.4 * charts.scale(),
                       "opacity": 0.9, "color": color},
              "encoding": {"detail": {"field": "line", "type": "nominal"},
                           "order": {"field": "order", "type": "quantitative"}}}
             for i, color in enumerate(colors)]
    right = [_points_layer("real", 14, 0.3, D_COLOR), *lines,
             _legend_layer("line", families, colors)]
    return {"hconcat": [
        {"width": w, "height": h, "title": "Data and samples over D(x)", "encoding": enc,
         "layer": left},
        {"width": w, "height": h, "title": "The generator's image of a noise grid",
         "encoding": enc, "layer": right}],
        "resolve": {"scale": {"color": "independent"}}, "spacing": _px(24)}


def history_datasets(history: list[dict], step: int | None) -> dict:
    """Losses and mode coverage over training, and the current step (a rule)."""
    loss_rows = [(h["step"], label, h[k]) for h in history
                 for k, label in (("d_loss", "D loss"), ("g_loss", "G loss"))
                 if h.get(k) is not None]
    q_rows = []
    for h in history:
        if h.get("modes_total"):
            q_rows.append((h["step"], "modes covered", h["modes_covered"] / h["modes_total"]))
            q_rows.append((h["step"], "high-quality samples", h["hq_fraction"]))

    def rows(r):
        return _table(step=np.array([a for a, _, _ in r], dtype=np.float64),
                      series=np.array([b for _, b, _ in r], dtype=str),
                      value=np.array([c for _, _, c in r], dtype=np.float64))
    return {"loss": rows(loss_rows), "quality": rows(q_rows),
            "current": _table(step=np.array([] if step is None else [step], np.float64))}


def _now_rule() -> dict:
    return {"data": {"name": "current"}, "mark": {"type": "rule", "color": "#888",
                                              "strokeDash": [4, 3]},
            "encoding": {"x": _num("step")}}


@st.cache_resource(max_entries=16, show_spinner=False)
def loss_spec(loss: str, total: int, presenter: float) -> dict:
    eq = EQUILIBRIUM.get(loss)
    series = ["D loss", "G loss"]
    color = {"field": "series", "type": "nominal", "title": None,
             "scale": {"domain": series, "range": [D_COLOR, G_COLOR]},
             "legend": {"orient": "bottom"}}
    layers = [{"data": {"name": "loss"}, "mark": {"type": "line", "clip": True,
                                                  "strokeWidth": 1.8 * charts.scale()},
               "encoding": {"x": _num("step", title="step",
                                      scale={"domain": [0, total], "nice": False}),
                            "y": _num("value", title="loss", scale={"zero": False}),
                            "color": color,
                            "tooltip": [_num("step"), {"field": "series"},
                                        _num("value", format=".3f")]}}]
    if eq is not None:
        layers.append({"data": {"values": [{"series": s, "value": v}
                                           for s, v in zip(series, eq)]},
                       "mark": {"type": "rule", "strokeDash": [2, 3], "opacity": 0.7},
                       "encoding": {"y": _num("value"), "color": color}})
    layers.append(_now_rule())
    return {"width": _px(380), "height": _px(170), "layer": layers,
            "title": "Losses" + (" (dotted: their values when D(x) = ½ everywhere)"
                                 if eq else "")}


@st.cache_resource(max_entries=16, show_spinner=False)
def quality_spec(total: int, modes: int, presenter: float) -> dict:
    series = ["modes covered", "high-quality samples"]
    return {"width": _px(380), "height": _px(170), "title": f"Mode coverage (of {modes} modes)",
            "layer": [{"data": {"name": "quality"},
                       "mark": {"type": "line", "clip": True, "point": {"size": 12},
                                "strokeWidth": 1.8 * charts.scale()},
                       "encoding": {
                           "x": _num("step", title="step",
                                     scale={"domain": [0, total], "nice": False}),
                           "y": _num("value", title=None, axis={"format": ".0%"},
                                     scale={"domain": [0, 1]}),
                           "color": {"field": "series", "type": "nominal", "title": None,
                                     "scale": {"domain": series,
                                               "range": ["#009E73", "#CC79A7"]},
                                     "legend": {"orient": "bottom"}},
                           "tooltip": [_num("step"), {"field": "series"},
                                       _num("value", format=".1%")]}},
                      _now_rule()]}


@st.cache_resource(max_entries=16, show_spinner=False)
def history_spec(loss: str, total: int, modes: int, presenter: float) -> dict:
    """The losses and, where the data set's modes are known, the mode coverage: one chart
    with two panels side by side (stacked in presenter mode, where two would not fit), not
    two charts in columns. The replay redraws it on every step to move its step rule, and
    each chart element the browser rebuilds costs time (without these charts the replay step
    took 16 ms less, side by side; as one chart, with the lab's fixed colours, 145 -> 141)."""
    if not modes:
        return loss_spec(loss, total, presenter)
    both = [loss_spec(loss, total, presenter), quality_spec(total, modes, presenter)]
    return {"vconcat" if presenter > 1 else "hconcat": both, "spacing": _px(36),
            "resolve": {"scale": {"color": "independent", "x": "independent",
                                  "y": "independent"}}}


PAD = {"type": "pad", "contains": "padding"}  # width and height are the plotting area's


def _data_names(spec) -> set[str]:
    """The named datasets a spec reads."""
    if isinstance(spec, dict):
        data = spec.get("data")
        own = {data["name"]} if isinstance(data, dict) and "name" in data else set()
        return own.union(*(_data_names(v) for k, v in spec.items() if k != "data"))
    if isinstance(spec, list):
        return set().union(*(_data_names(v) for v in spec))
    return set()


def _show(spec: dict, sets: dict, key: str) -> None:
    """Draw a spec at its own size, with its data as named datasets. The spec is the same
    for every snapshot, so the browser only swaps the data. Only the datasets the spec reads
    are sent: the browser's in-place update stops at a dataset its view does not know."""
    used = _data_names(spec)
    charts.vega({"autosize": PAD, **spec,
                 "datasets": {k: v for k, v in sets.items() if k in used},
                 "config": charts.vega_config()}, "content", key)


# --- the lab figure: live and replayed -------------------------------------------------------

def _metric_at(history: list[dict], step: int) -> dict:
    for h in reversed(history):
        if h.get("step", 0) <= step:
            return h
    return history[0] if history else {}


def lab_metrics(config: GANConfig, m: dict, step: int) -> str:
    """The lab's numbers at a step: HTML for panels.metric_html's row."""
    items = [("Step", f"{step:,}", f"Of {config.steps:,} training steps.")]
    if m.get("modes_total"):
        items += [("Modes covered", f"{m['modes_covered']} of {m['modes_total']}",
                   "A mode counts as covered when at least one of 2,500 samples lands within "
                   "3 standard deviations of it (VEEGAN / PacGAN)."),
                  ("High-quality samples", f"{100 * m['hq_fraction']:.1f} %",
                   "Samples within 3 standard deviations of their nearest mode; a perfect "
                   "generator scores 98.9 %.")]
    for k, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
        if m.get(k) is not None:
            items.append((label, f"{m[k]:.3f}", "Averaged over the steps since the last "
                                                "evaluation."))
    return panels.metric_html(items)


def draw_lab(config: GANConfig, snapshot: dict, history: list[dict], n_fake: int, heat: bool,
             key: str, sets: dict | None = None, lead: str | None = None) -> None:
    """The lab at one snapshot: metrics (after the sentence lead, if given), the two panels,
    the heat legend and the curves. Text and numbers go out as two html elements (above
    and below the panels), not a caption, a metric row, a legend and a caption: the replay
    redraws all of it on every step of its timeline."""
    step = int(snapshot.get("step", 0))
    st.html((panels.text_html(lead, note=True) if lead else "")
            + lab_metrics(config, _metric_at(history, step), step))
    bounds = tuple(np.asarray(snapshot["bounds"], dtype=float).ravel().round(6))
    one_d = config.noise_dim == 1
    sets = sets or lab_datasets(config, snapshot, n_fake, heat)
    _show(lab_spec(bounds, heat, one_d, charts.scale()), sets, f"{key}_lab")
    legend = ""
    if heat:
        lo, hi, label = heat_range(config.loss, np.asarray(snapshot["d_heatmap"]))
        legend = charts.legend_html(lo, hi, label, HEAT) + "<div style='height:.5rem'></div>"
    off = outside(np.asarray(snapshot["fake"])[:n_fake], snapshot["bounds"])
    grid_note = ("the noise z runs along a line from −2 to 2" if one_d else
                 "a 15 × 15 grid over z₁ and z₂ from −2 to 2"
                 + (f", the other {config.noise_dim - 2} noise dimensions held at 0"
                    if config.noise_dim > 2 else ""))
    st.html(legend + panels.text_html(
        f"Snapshot at step {step:,}. Right: {grid_note}"
        + (" (±1.7 for uniform noise)" if config.prior.name == "uniform" else "")
        + ". Where the grid's lines bunch up the generator puts much probability; where they "
          "stretch, little."
        + (f" {off} of {n_fake} generated points fall outside the plotted area." if off else ""),
        note=True))
    mixture = datasets.MIXTURES.get(config.dataset)
    modes = len(mixture[0]) if mixture else 0
    _show(history_spec(config.loss, config.steps, modes, charts.scale()),
          history_datasets(history, step), f"{key}_history")
    if not modes:
        st.caption("Modes covered and high-quality samples are measured on ring8 and grid25, "
                   "whose modes are known.")


def live_view(config: GANConfig):
    """run_panel's live_view: the display controls and the lab at the newest snapshot,
    several times a second. The controls are drawn here, inside the live fragment, so that
    moving one while the run trains redraws only the lab (drawn outside it, a step reran the
    whole page: 303-312 ms p50 in the browser benchmark's --during-training on the default
    lab, against 218-222 ms here)."""
    def draw(snapshot, handle) -> None:
        n_fake, heat = display_controls()
        if snapshot is None or "bounds" not in snapshot:
            st.caption("Waiting for the first snapshot…")
            return
        draw_lab(config, snapshot, handle.history, n_fake, heat, "gan_live")
    return draw


@st.cache_resource(max_entries=256, show_spinner=False)
def _replay_sets(key: str, i: int, n_fake: int, heat: bool, _config, _snapshot) -> dict:
    return lab_datasets(_config, _snapshot, n_fake, heat)


def _step_replay(delta: int, n: int) -> None:
    """on_click of the step buttons: move one snapshot (or to the start) and pause."""
    t = st.session_state.get("t", n - 1)
    st.session_state["t"] = 0 if delta is None else int(min(max(t + delta, 0), n - 1))
    st.session_state[PLAYING] = False


def _play_replay() -> None:
    """on_click of Play / Pause the replay: playing moves on at once, then on a timer."""
    st.session_state[PLAYING] = not st.session_state.get(PLAYING, False)
    st.session_state["_gan_replay_last"] = 0.0


def replay(config: GANConfig, result) -> None:
    """A finished run on its timeline: the display controls, a slider over the saved
    snapshots, step buttons and an auto-advancing play mode. All of it is one fragment, so
    stepping, playing and the display controls redraw only the figure, not the page."""
    snaps = result.snapshots
    n = len(snaps)
    timeline = Param("t", "Replay training", n - 1, "int", lo=0, hi=max(1, n - 1), step=1,
                     fmt=f"snapshot %d of {n - 1}",
                     help="Scrub through the snapshots saved while this run trained.")
    auto = bool(st.session_state.get(PLAYING, False)) and n > 1

    def body():
        playing = bool(st.session_state.get(PLAYING, False)) and n > 1
        if playing != auto:  # play was switched: the fragment's timer must change too
            st.rerun()
        if playing:
            last = st.session_state.get("_gan_replay_last", 0.0)
            now = time.monotonic()
            if now - last >= 0.8 * REPLAY_SECONDS:
                st.session_state["t"] = (st.session_state.get("t", n - 1) + 1) % n
                st.session_state["_gan_replay_last"] = now
        n_fake, heat = display_controls()
        # one horizontal block: st.columns sent five, rebuilt on every step of the timeline
        row = st.container(horizontal=True, vertical_alignment="center")
        row.button("Start", icon=":material/skip_previous:", key="gan_start",
                   on_click=_step_replay, args=(None, n), width="stretch",
                   help="Back to the untrained model (and pause).")
        row.button("Step back", icon=":material/chevron_left:", key="gan_back",
                   on_click=_step_replay, args=(-1, n), width="stretch",
                   help="One snapshot back (and pause).")
        row.button("Step", icon=":material/chevron_right:", key="gan_forward",
                   on_click=_step_replay, args=(1, n), width="stretch",
                   help="One snapshot forward (and pause).")
        row.button("Pause the replay" if playing else "Play the replay",
                   icon=":material/pause:" if playing else ":material/play_arrow:",
                   key="gan_play", on_click=_play_replay, disabled=n < 2, width="stretch",
                   help="Step through the saved snapshots automatically, looping at the end.")
        i = state.widget(timeline) if n > 1 else 0
        i = min(int(i), n - 1)
        snap = snaps[i]
        steps = [s["step"] for s in snaps]
        draw_lab(config, snap, result.history, n_fake, heat, "gan_replay",
                 _replay_sets(result.key, i, n_fake, heat, config, snap),
                 lead=f"Showing the model at step {steps[i]:,} of {steps[-1]:,}"
                      + (" — playing" if playing else "") + ".")
        state.bench_mark()

    st.fragment(body, run_every=REPLAY_SECONDS if auto else None)()


# --- digits GAN -------------------------------------------------------------------------------

SAMPLE_SEED = Param("sample_seed", "Sample seed", 0, "int", lo=0, hi=999, step=1,
                    help="Another seed draws other noise vectors, hence other samples.")
Z_A = Param("z_a", "Start: noise seed", 1, "int", lo=0, hi=999, step=1)
Z_B = Param("z_b", "End: noise seed", 2, "int", lo=0, hi=999, step=1)
PATH = Param("path", "Path", "linear", "choice", options=("linear", "spherical"),
             help="Linear: (1 − t) z_a + t z_b. Spherical: along the arc between the two "
                  "directions (slerp), which keeps the norm of z typical of the prior.")
POS = Param("pos", "Position along the path", 0.5, "float", lo=0.0, hi=1.0, step=0.05,
            help="t = 0 is the start, t = 1 the end.")
TARGET = Param("target", "Target", "held-out", "choice", options=("held-out", "generated"),
               labels={"held-out": "a held-out digit", "generated": "a generated digit"},
               help="A held-out digit was never seen by the generator; a generated digit is "
                    "G(z) for some z, so an exact answer exists.")
INDEX = Param("digit", "Held-out digit", 0, "int", lo=0, hi=499, step=1,
              help="One of the 500 test digits (50 of each class, in order of class).")
GEN_SEED = Param("gen_seed", "Generated digit: noise seed", 0, "int", lo=0, hi=999, step=1)
WEIGHTS = (0.0, 0.01, 0.1, 1.0)
PRIOR_WEIGHT = Param("lam", "Prior penalty λ", 0.0, "steps", options=WEIGHTS,
                     labels={w: f"{w:g}" for w in WEIGHTS},
                     help="Adds λ · (−log p(z)) to the squared error, pulling z towards where "
                          "the prior is dense.")
PATH_FRAMES = 11
RANDOM_SAMPLES = 1000
N_SAMPLES = 64


@st.cache_resource(max_entries=64, show_spinner=False)
def _png(tag: tuple, ncols: int, upscale: int, _images: np.ndarray) -> bytes:
    return charts.png_bytes(charts.image_grid(_images, ncols=ncols, upscale=upscale))


def png(tag: tuple, images, ncols: int = 8, upscale: int = 3) -> bytes:
    return _png(tag, ncols, upscale, np.asarray(images, dtype=np.float32).reshape(-1, 28, 28))


def _noise(model, n: int, seed: int) -> torch.Tensor:
    with seeded(seed):
        return model.sample_noise(n)


@torch.no_grad()
def _generate(model, z: torch.Tensor) -> np.ndarray:
    model.eval()
    return model.generate(z).numpy()


@st.cache_resource(max_entries=8, show_spinner=False)
def digits_report(key: str, _model) -> dict:
    """What the finished digits GAN makes of 1,000 noise vectors: each sample's distance to
    its nearest held-out digit (against the same for training digits, a real-data baseline),
    and the class of its nearest training digit (which classes the generator covers)."""
    data = datasets.load("digits")
    x = torch.as_tensor(_generate(_model, _noise(_model, RANDOM_SAMPLES, 12345)))
    d_test = torch.cdist(x, data.x_test).min(1).values
    pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(0))
    real = data.x_train[pick[:RANDOM_SAMPLES]]  # the training set is ordered by class
    d_real = torch.cdist(real, data.x_test).min(1).values
    nearest = torch.cdist(x, data.x_train).argmin(1)
    classes = np.bincount(data.labels_train[nearest].numpy(), minlength=10)
    return {"samples": x, "d_fake": float(d_test.median()), "d_real": float(d_real.median()),
            "classes": classes}


def digits_live(snapshot, handle) -> None:
    """run_panel's live_view for the digits GAN: its newest samples and its losses."""
    c1, c2 = st.columns([1, 2], vertical_alignment="center")
    if snapshot is not None and "fake" in snapshot:
        c1.image(charts.png_bytes(charts.image_grid(np.reshape(snapshot["fake"], (-1, 28, 28)),
                                                    ncols=4, upscale=2)),
                 caption=f"G(z) for 16 fixed noise vectors at step {int(snapshot['step']):,}.",
                 output_format="PNG")
    with c2:
        digits_losses(handle.history, "gan_digits_live")


def digits_losses(history: list[dict], key: str) -> None:
    _show(loss_spec(DIGITS.loss, DIGITS.steps, charts.scale()), history_datasets(history, None),
          key)


@st.fragment
def samples_section(result) -> None:
    """A fragment: another sample seed redraws only this section."""
    c1, c2 = st.columns([3, 2], gap="medium")
    with c1:
        seed = state.widget(SAMPLE_SEED)
        z = _noise(result.model, N_SAMPLES, seed)
        st.image(png((result.key, "samples", seed), _generate(result.model, z), upscale=2),
                 caption=f"{N_SAMPLES} samples G(z), z ~ p(z) drawn with seed {seed}.",
                 output_format="PNG")
    rep = digits_report(result.key, result.model)
    with c2:
        panels.metric_row([
            ("Nearest held-out digit, samples", f"{rep['d_fake']:.2f}",
             f"Median over {RANDOM_SAMPLES:,} samples of the Euclidean distance (pixels in "
             "[0, 1]) to the closest of the 500 held-out digits."),
            ("… real training digits", f"{rep['d_real']:.2f}",
             f"The same for {RANDOM_SAMPLES:,} training digits picked at random: about what a "
             "perfect generator would score.")])
        counts = rep["classes"]
        sets = {"classes": _table(digit=[str(i) for i in range(10)], count=counts)}
        spec = {"width": _px(300), "height": _px(140), "data": {"name": "classes"},
                "title": "Class of each sample's nearest training digit",
                "mark": {"type": "bar", "color": charts.FAKE},
                "encoding": {"x": {"field": "digit", "type": "ordinal", "title": None,
                                   "axis": {"labelAngle": 0}},
                             "y": _num("count", title=f"of {RANDOM_SAMPLES:,} samples"),
                             "tooltip": [{"field": "digit"}, _num("count")]}}
        _show(spec, sets, "gan_classes")
        st.caption(f"{int((counts > 0).sum())} of 10 classes appear; a generator that "
                   "collapsed would pile onto one or two.")
    state.bench_mark()


@st.fragment
def interpolation_section(result) -> None:
    """A fragment: the path's controls redraw only this section."""
    model = result.model
    c1, c2, c3 = st.columns(3)
    a, b = state.widget(Z_A, c1), state.widget(Z_B, c2)
    method = state.widget(PATH, c3)
    t = state.widget(POS)
    za, zb = _noise(model, 1, a)[0], _noise(model, 1, b)[0]
    ts = np.linspace(0, 1, PATH_FRAMES)
    frames = _path_frames(result.key, a, b, method, model)
    z_t = path(za, zb, [t], method)
    x_t = _generate(model, z_t)
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.image(png((result.key, "path", a, b, method), frames, ncols=PATH_FRAMES, upscale=2),
             caption=f"G(z) along the {method} path from z_a (left) to z_b (right), "
                     f"t = {', '.join(f'{v:g}' for v in ts[::5])} at the first, middle and "
                     "last image.", output_format="PNG")
    c2.image(charts.png_bytes(charts.image_grid(np.reshape(x_t, (-1, 28, 28)), ncols=1,
                                                           upscale=4)),
             caption=f"t = {t:.2f}, ‖z‖ = {float(z_t.norm()):.2f}", output_format="PNG")
    d = model.noise_dim
    st.caption(f"Noise vectors from p(z) in {d} dimensions have norms near "
               f"{chi_mean(d):.2f}; the linear path's midpoint is shorter "
               f"(here ‖(z_a + z_b)/2‖ = {float(((za + zb) / 2).norm()):.2f}), where the "
               "generator saw few inputs while training.")
    state.bench_mark()


@st.cache_resource(max_entries=32, show_spinner=False)
def _path_frames(key: str, a: int, b: int, method: str, _model) -> np.ndarray:
    za, zb = _noise(_model, 1, a)[0], _noise(_model, 1, b)[0]
    return _generate(_model, path(za, zb, np.linspace(0, 1, PATH_FRAMES), method))


@st.cache_data(max_entries=256, show_spinner=False)
def inversion(key: str, target: str, index: int, weight: float, _model) -> dict:
    """Invert one target (run once per run key, target and weight; ~0.3 s on one core)."""
    data = datasets.load("digits")
    z_true = None
    if target == "generated":
        z_true = _noise(_model, 1, index)
        x = torch.as_tensor(_generate(_model, z_true))[0]
    else:
        x = data.x_test[index]
    start = time.perf_counter()
    inv = invert(_model.generate, _model.prior_, x, prior_weight=weight)
    seconds = time.perf_counter() - start
    samples = digits_report(key, _model)["samples"]
    j, random_err = best_of_samples(samples, x)
    nn_err = ((data.x_train - x) ** 2).sum(1)
    k = int(nn_err.argmin())
    out = {"x": x.numpy(), "x_hat": inv.x_hat, "error": inv.error, "start": inv.start_error,
           "objective": inv.objective, "errors": inv.errors, "z_norm": float(np.linalg.norm(inv.z)),
           "log_prior": inv.log_prior, "random": samples[j].numpy(), "random_err": random_err,
           "nearest": data.x_train[k].numpy(), "nearest_err": float(nn_err[k]),
           "seconds": seconds, "z_dist": None}
    if z_true is not None:
        out["z_dist"] = float(np.linalg.norm(inv.z - z_true[0].numpy()))
        out["z_true_norm"] = float(z_true[0].norm())
    return out


DIGITS_PARAMS = (SAMPLE_SEED, Z_A, Z_B, PATH, POS, TARGET, INDEX, GEN_SEED, PRIOR_WEIGHT)


def keep_link(params=DIGITS_PARAMS) -> list[str]:
    """Call while the digits GAN is untrained, so its controls are not drawn (state.keep_link).
    Returns what cannot be used, in words."""
    return state.keep_link(params)


SECTION = Param("part", "Part", "2-D lab", "choice", options=("2-D lab", "Digits GAN"))
DEFERRED = "_gan_lab_link"  # a link's lab settings, kept while the digits tab is open
DEFAULT_PART = "_gan_default_part"  # the tab a link opens


def sections():
    """The page's two parts as tabs; only the open one is drawn (and computed), so the lab's
    replay does not re-render the digits GAN on every step of its timeline (side by side,
    the digits part cost the replay step ~14 ms p50) and a first visit does not compute its
    samples. The open tab is in the URL; a link to digit settings opens the digits tab."""
    raw = st.session_state.get(state.RAW_KEY, {})
    st.session_state.setdefault(state.SEEN_KEY, {})[SECTION.key] = SECTION
    if raw or DEFAULT_PART not in st.session_state:  # a link (raw: this page's first run)
        digits = SECTION.key not in raw and any(p.key in raw for p in DIGITS_PARAMS)
        st.session_state[DEFAULT_PART] = "Digits GAN" if digits else SECTION.default
    default = st.session_state[DEFAULT_PART]  # the same in every run of the session
    return st.tabs(list(SECTION.options), key=SECTION.key, bind="query-params",
                   default=default, on_change="rerun")


def defer_lab_link() -> None:
    """While the digits tab is open the lab's controls are not drawn: a link's values for them
    stay in the URL (Streamlit keeps a parameter no widget claims) and are checked, not
    reported as unknown, when the lab's tab opens."""
    raw = st.session_state.get(state.RAW_KEY, {})
    skip = {p.key for p in DIGITS_PARAMS} | {SECTION.key, *state.GLOBAL_KEYS}
    later = {k: raw.pop(k) for k in list(raw) if k not in skip}
    if later:
        st.session_state[DEFERRED] = later


def restore_lab_link() -> None:
    """Call before the lab draws its controls: the deferred link values go back into this
    run's link, which the app checks once the page is drawn."""
    later = st.session_state.pop(DEFERRED, None)
    if later:
        st.session_state.setdefault(state.RAW_KEY, {}).update(later)


def snapshot_interval(config: GANConfig) -> int:
    """Steps between the GAN's evaluations, each with a snapshot for the live view
    (models.train._train_gan: every steps // 50); the lab's Step button trains to the next."""
    return max(1, config.steps // 50)


def inversion_controls() -> tuple[str, int, float]:
    c1, c2, c3 = st.columns([1, 2, 1])
    target = state.widget(TARGET, c1)
    data = datasets.load("digits")
    if target == "held-out":
        index = state.widget(INDEX, c2)
        c2.caption(f"Digit #{index}: a {int(data.labels_test[index])}.")
    else:
        index = state.widget(GEN_SEED, c2)
    weight = state.widget(PRIOR_WEIGHT, c3)
    return target, index, weight


@st.cache_resource(max_entries=8, show_spinner=False)
def _typical_log_prior(key: str, _model) -> float:
    """The mean log p(z) of 2,000 noise vectors from the prior: what a typical z scores."""
    return float(_model.prior_.log_prob(_noise(_model, 2000, 7)).mean())


def inversion_section(result, target: str, index: int, weight: float) -> None:
    model = result.model
    r = inversion(result.key, target, index, weight, model)
    d = model.noise_dim
    typical_logp = _typical_log_prior(result.key, model)
    cols = st.columns(4)
    shown = [("Target x", r["x"], "the digit to explain"),
             ("G(z\\*), z optimised", r["x_hat"], f"squared error {r['error']:.1f}"),
             (f"Best of {RANDOM_SAMPLES:,} samples", r["random"],
              f"squared error {r['random_err']:.1f}"),
             ("Nearest training digit", r["nearest"],
              f"squared error {r['nearest_err']:.1f}")]
    for col, (title, img, note) in zip(cols, shown):
        col.markdown(f"**{title}**")
        col.image(charts.png_bytes(charts.image_grid(np.reshape(img, (1, 28, 28)), upscale=5)),
                  caption=note, output_format="PNG")
    c1, c2 = st.columns([3, 2], gap="medium")
    with c1:
        steps = np.arange(len(r["errors"]))
        series = ["squared error ‖G(z) − x‖²"] + (["objective (with λ · −log p(z))"]
                                                 if weight else [])
        values = [r["errors"]] + ([r["objective"]] if weight else [])
        sets = {"trace": _table(step=np.tile(steps, len(values)),
                                series=np.repeat(series, len(steps)),
                                value=np.concatenate(values))}
        spec = {"width": _px(380), "height": _px(170), "data": {"name": "trace"},
                "title": f"Optimising z (the best of {RESTARTS} random starts)",
                "mark": {"type": "line", "strokeWidth": 1.8 * charts.scale()},
                "encoding": {"x": _num("step", title="Adam step on z"),
                             "y": _num("value", title=None, scale={"type": "log"}),
                             "color": {"field": "series", "type": "nominal", "title": None,
                                       "scale": {"domain": series,
                                                 "range": [charts.FAKE, "#555"][:len(series)]},
                                       "legend": {"orient": "bottom"}}}}
        _show(spec, sets, "gan_inversion_trace")
    with c2:
        items = [("Squared error", f"{r['error']:.1f}",
                  f"From {r['start']:.1f} at the best start. Summed over 784 pixels in [0, 1]."),
                 ("‖z*‖", f"{r['z_norm']:.2f}",
                  f"Noise from p(z) has norms near {chi_mean(d):.2f} in {d} dimensions."),
                 ("log p(z*)", f"{r['log_prior']:.1f}",
                  f"Typical for z ~ p(z): {typical_logp:.1f}.")]
        panels.metric_row(items[:2])
        panels.metric_row(items[2:])
        if r["z_dist"] is not None:
            st.caption(f"The target was made by a z with ‖z‖ = {r['z_true_norm']:.2f}; the "
                       f"z found lies {r['z_dist']:.2f} away from it.")
        st.caption(f"Found in {r['seconds']:.2f} s of optimisation on the server.")


@st.fragment
def inversion_panel(result) -> None:
    """The inversion's controls and result as one fragment: another target redraws only this."""
    target, index, weight = inversion_controls()
    inversion_section(result, target, index, weight)
    state.bench_mark()
