"""Panels: the run manager of this server process, the live run panel with its replay
timeline, page frames (header, explanations that fold away in presenter mode, notices) and
concept cards. Streamlit glue only; the work happens in ``models``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import streamlit as st

from models.runs import CANCELLED, DONE, FAILED, CorruptEntry, RunHandle, RunManager, RunResult

from . import charts, state
from .state import Param

POLL_SECONDS = 0.4  # live panel refresh while a run trains (>= 2 redraws a second)
HANDLES_KEY = "_run_handles"


@st.cache_resource(show_spinner=False)
def manager() -> RunManager:
    """One run manager per server process, shared by every session."""
    import torch

    from models.pretrained import install
    torch.set_num_threads(1)  # the server only decodes; workers get the cores
    m = RunManager()
    install(m.cache)  # the shipped runs of every page's defaults: pages open ready
    return m


def _handles() -> dict[str, RunHandle]:
    return st.session_state.setdefault(HANDLES_KEY, {})


def lookup(config) -> RunHandle | None:
    """This session's handle for config, or a handle to a cached or running run. Every config
    a page looks up is recorded, so a lecture can find the runs its views need."""
    from models.runs import run_key
    from models.train import config_to_dict
    seen = st.session_state.setdefault("_configs_seen", [])
    as_dict = config_to_dict(config)
    if as_dict not in seen:
        seen.append(as_dict)
    key = run_key(config)
    handles = _handles()
    h = handles.get(key)
    if h is None or h.status == CANCELLED:
        h = manager().peek(config) or h
        if h is not None:
            handles[key] = h
    return h


def submit(config) -> RunHandle:
    """Start (or join) config's run. A session may start at most the server's
    runs_per_session new trainings (models/limits.py); joining a shared or cached run is free."""
    from models.limits import LimitExceeded
    m = manager()
    started = st.session_state.setdefault("_runs_started", 0)
    new = m.peek(config) is None
    if new and m.limits.runs_per_session and started >= m.limits.runs_per_session:
        raise LimitExceeded(
            f"This session has started {started} trainings, the most this server allows per "
            "visitor, so that everyone gets a turn. Settings that are already trained still "
            "open instantly.")
    h = m.submit(config)
    if new:
        st.session_state["_runs_started"] = started + 1
    _handles()[h.key] = h
    return h


@dataclass
class RunView:
    """What a page gets back from the run panel."""

    handle: RunHandle | None
    result: RunResult | None = None  # set once the run is done
    snapshot: dict | None = None  # the snapshot the timeline points at
    history: list[dict] | None = None

    @property
    def done(self) -> bool:
        return self.result is not None


def _history_chart(history: list[dict], curves: dict[str, str], x: str, y_title: str):
    rows = [{x: h.get(x, 0.0), "metric": label, "value": h[key]}
            for h in history for key, label in curves.items()
            if key in h and h[key] is not None]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    return charts.lines(df, x, "value", color="metric", x_title=x, y_title=y_title, h=200,
                        colors={label: c for label, c in zip(curves.values(),
                                                             charts.palette(len(curves)))})


def _status_line(h: RunHandle) -> str:
    if h.status == "queued":
        pos = h.queue_position
        where = "waiting for another run of the same settings" if h.elsewhere else (
            f"position {pos} in the queue" if pos else "starting")
        return f"Queued ({where}): it starts when a worker is free."
    if h.status == "running":
        total = h.total_steps or 1
        return (f"Training: step {h.step:,} of {total:,} "
                f"(epoch {h.epoch:.1f}), {100 * h.fraction:.0f} %")
    return h.status


def run_panel(config, *, curves: dict[str, str], x: str = "epoch", y_title: str = "nats",
              live_view: Callable[[dict | None, RunHandle], None] | None = None,
              train_label: str = "Train", where=None, name: str = "run",
              timeline: bool = True, chart: bool = True) -> RunView:
    """Start / cancel / watch / replay one configuration's run.

    curves maps history keys to the labels of the metric chart. live_view(snapshot, handle)
    draws the page's own picture of a run while it trains. Once done, a timeline slider
    (URL key "t", or "<name>_t" for a second panel on the page) picks one of the run's
    snapshots for the page to draw. `name` keeps several panels on one page apart."""
    where = where or st.container(border=True)
    h = lookup(config)
    with where:
        if h is None or h.status == CANCELLED:
            slot = st.empty()
            box = slot.container()  # the button, then what it does under it
            if box.button(train_label, type="primary", key=f"{name}_train"):
                try:
                    h = submit(config)
                    slot.empty()  # the live panel takes the button's place
                except ValueError as e:  # ConfigError, PriorMismatch, LimitExceeded
                    box.error(str(e))
                    return RunView(None)
            else:
                box.caption("This configuration has not been trained yet. Training runs in the "
                           "background; identical settings from anyone share one run and "
                           "come back instantly next time."
                           + (" The last run was cancelled." if h is not None else ""))
                return RunView(None)
        if h.notice:
            st.info(h.notice)
        if h.active:
            _live(h, curves, x, y_title, live_view, name, chart)
            return RunView(h, history=h.history)
        if h.status == FAILED:
            st.error(f"The run failed: {h.error}")
            if st.button("Retry", key=f"{name}_retry"):
                _handles()[h.key] = h.retry()
                st.rerun()
            return RunView(h)
        try:
            result = h.result()
        except CorruptEntry as e:
            st.warning(str(e))
            _handles().pop(h.key, None)
            return RunView(None)
        return _finished(h, result, curves, x, y_title,
                         ("t" if name == "run" else f"{name}_t") if timeline else None, chart)


def _live(h: RunHandle, curves, x, y_title, live_view, name, show_chart) -> None:
    def body():
        handle = _handles().get(h.key, h)
        if not handle.active:
            st.rerun()  # the whole page redraws with the finished run
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.progress(handle.fraction, text=_status_line(handle))
        if c2.button("Cancel", key=f"{name}_cancel"):
            handle.cancel()
            _handles().pop(handle.key, None)
            st.rerun()
        if live_view is not None:
            live_view(handle.latest_snapshot, handle)
        chart = _history_chart(handle.history, curves, x, y_title) if show_chart else None
        if chart is not None:
            charts.show(chart)

    st.fragment(body, run_every=POLL_SECONDS)()


def _finished(h: RunHandle, result: RunResult, curves, x, y_title, timeline_key,
              show_chart) -> RunView:
    snaps = result.snapshots
    m = result.metrics
    where = "Loaded from the cache" if h.cached else "Trained just now"
    st.success(f"{where}: {m.get('step', h.step):,} steps, {result.seconds:.1f} s of "
               "training.", icon="✅")
    chart = _history_chart(result.history, curves, x, y_title) if show_chart else None
    if chart is not None:
        charts.show(chart)
    snapshot = snaps[-1] if snaps else None
    if len(snaps) > 1 and timeline_key:
        steps = [s["step"] for s in snaps]
        p = Param(timeline_key, "Replay training", len(snaps) - 1, "int", lo=0,
                  hi=len(snaps) - 1, step=1, fmt=f"snapshot %d of {len(snaps) - 1}",
                  help="Scrub through the snapshots saved while this run trained.")
        i = state.widget(p)
        snapshot = snaps[i]
        st.caption(f"Showing the model at step {steps[i]:,} of {steps[-1]:,}.")
    return RunView(h, result=result, snapshot=snapshot, history=result.history)


# --- page frame -----------------------------------------------------------------------------

def header(title: str, lead: str) -> None:
    st.title(title)
    st.markdown(f"<p style='font-size:{1.15 * charts.scale():.2f}rem;opacity:.85'>{lead}</p>",
                unsafe_allow_html=True)


def explain(markdown: str, title: str = "Explanation") -> None:
    """Longer prose: shown inline, folded away in presenter mode."""
    if state.presenter():
        with st.expander(title, expanded=False):
            st.markdown(markdown)
    else:
        st.markdown(markdown)


def card(page, title: str, text: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{title}**")
        st.caption(text)
        st.page_link(page, label="Open", icon=":material/arrow_forward:")


def metric_row(items: list[tuple[str, Any, str | None]]) -> None:
    """A row of st.metric: (label, value, help)."""
    cols = st.columns(len(items))
    for col, (label, value, help_) in zip(cols, items):
        col.metric(label, value, help=help_)


__all__ = ["manager", "run_panel", "RunView", "lookup", "submit", "header", "explain", "card",
           "metric_row", "DONE"]


# --- lecture mode -----------------------------------------------------------------------------

def lecture_sidebar() -> None:
    """In the sidebar: a lecture toggle and, when on, a stepper through the lecture's views."""
    from . import lecture as lec
    try:
        lecture = lec.load()
    except lec.LectureError as e:
        if st.query_params.get("lecture") == "true":
            st.error(f"Lecture mode is unavailable: {e}")
        return
    on = state.widget(Param("lecture", "Lecture mode", False, "bool",
                            help=f"Step through the views of “{lecture.title}”."))
    if not on:
        st.session_state.pop("_lecture_view", None)
        return
    n = len(lecture.views)
    labels = {i: f"{i}. {v.title}" for i, v in enumerate(lecture.views, 1)}
    k = state.widget(Param("view", "View", 1, "choice", options=tuple(range(1, n + 1)),
                           labels=labels), radio=False)
    c1, c2 = st.columns(2)
    target = k
    if c1.button("◀ Previous", disabled=k <= 1, key="lecture_prev", width="stretch"):
        target = k - 1
    if c2.button("Next ▶", disabled=k >= n, key="lecture_next", width="stretch"):
        target = k + 1
    view = lecture.views[target - 1]
    if view.note:
        st.info(view.note, icon=":material/school:")
    if st.session_state.get("_lecture_view") != target:
        st.session_state["_lecture_view"] = target
        state.apply_later({**view.params, "view": labels[target]})
        st.switch_page(view.page, query_params={})  # the bound widgets rewrite the URL
