"""Panels: the run manager of this server process, the live run panel with its replay
timeline, page frames (header, explanations that fold away in presenter mode, notices) and
concept cards. Streamlit glue only; the work happens in ``models``.
"""

from __future__ import annotations

import html
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
    live: bool = False  # the live panel (a polling fragment) was drawn in this run

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
        held = " It will start paused." if h.pausing else ""
        return f"Queued ({where}): it starts when a worker is free.{held}"
    if h.status == "running":
        total = h.total_steps or 1
        where = (f"step {h.step:,} of {total:,} (epoch {h.epoch:.1f}), "
                 f"{100 * h.fraction:.0f} %, {h.seconds:.1f} s")
        if h.paused:
            return f"Paused at {where}"
        if h.stepping_to is not None:
            return f"Stepping to step {h.stepping_to:,}: {where}"
        if h.pausing:
            return f"Pausing: {where}"
        return f"Training: {where}"
    return h.status


def run_panel(config, *, curves: dict[str, str], x: str = "epoch", y_title: str = "nats",
              live_view: Callable[[dict | None, RunHandle], None] | None = None,
              train_label: str = "Train", where=None, name: str = "run",
              timeline: bool = True, chart: bool = True, transport: bool = False,
              step_size: int = 1) -> RunView:
    """Start / cancel / watch / replay one configuration's run.

    curves maps history keys to the labels of the metric chart. live_view(snapshot, handle)
    draws the page's own picture of a run while it trains. Once done, a timeline slider
    (URL key "t", or "<name>_t" for a second panel on the page) picks one of the run's
    snapshots for the page to draw. `name` keeps several panels on one page apart.

    transport=True gives a live lab's controls instead of Train / Cancel: Play (start or
    resume), Pause, Step (train to the next multiple of step_size, then pause) and Reset
    (stop, back to the untrained model). A pause is the run's, so everyone watching the
    same settings sees it; a run another server process trains cannot be paused."""
    where = where or st.container(border=True)
    if transport and _left_behind(config):
        with where:
            h = _untrained_transport(config, name, step_size, others=True)
            if h is None:
                return RunView(None)
    h = lookup(config)
    with where:
        if transport and (h is None or h.status == CANCELLED):
            h = _untrained_transport(config, name, step_size,
                                     cancelled=h is not None)
            if h is None:
                return RunView(None)
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
            _live(h, curves, x, y_title, live_view, name, chart,
                  step_size if transport else None)
            return RunView(h, history=h.history, live=True)
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


def replay_fragment(config, draw: Callable[["RunView"], None], **panel) -> "RunView":
    """run_panel(config, **panel) and, once the run is done, draw(view): what its replay
    timeline drives, in one fragment. Moving the timeline reruns only this part; the page
    below it, which does not depend on the snapshot, stays as it is."""
    def body() -> RunView:
        view = run_panel(config, **panel)
        if view.done:
            draw(view)
        state.bench_mark()  # the end of this fragment's rerun, for the browser benchmark
        return view
    return st.fragment(body)()


def _live(h: RunHandle, curves, x, y_title, live_view, name, show_chart,
          step_size: int | None) -> None:
    def body():
        handle = _handles().get(h.key, h)
        if not handle.active or handle.key in _left():
            st.rerun()  # the whole page redraws with the finished (or reset) run
        if step_size is not None:
            _transport(handle, name, step_size)
        else:
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
        state.bench_mark()

    st.fragment(body, run_every=POLL_SECONDS)()


# --- a live lab's transport: play, pause, step, reset ------------------------------------------

LEFT_KEY = "_runs_left"  # keys of shared runs this session reset while others still watch
TRANSPORT = (("Play", ":material/play_arrow:"), ("Pause", ":material/pause:"),
             ("Step", ":material/skip_next:"), ("Reset", ":material/replay:"))


def _left() -> set[str]:
    return st.session_state.setdefault(LEFT_KEY, set())


def _left_behind(config) -> bool:
    """True while this session has reset a run that others still watch: it stays reset here
    (the run carries on for them) instead of joining it again on the next rerun."""
    from models.runs import run_key
    key = run_key(config)
    left = _left()
    if key not in left:
        return False
    h = manager().peek(config)  # peeking subscribes: let go again at once
    if h is not None and h.active:
        h.cancel()  # if nobody else watches any more, this stops the run
    if h is not None and h.active:
        return True
    left.discard(key)  # it finished, failed or stopped: the page shows it as usual
    return False


def _untrained_transport(config, name: str, step_size: int, cancelled: bool = False,
                         others: bool = False) -> RunHandle | None:
    """The transport before a run: Play and Step start it. Returns the new handle, if any."""
    slot = st.empty()
    box = slot.container()
    cols = box.columns(len(TRANSPORT))
    helps = ("Train these settings in the background and watch them live.", None,
             f"Train {step_size:,} steps (to the first snapshot), then pause.", None)
    clicked = {}
    for col, (label, icon), help_ in zip(cols, TRANSPORT, helps):
        startable = label in ("Play", "Step")
        clicked[label] = col.button(label, icon=icon, key=f"{name}_{label.lower()}0",
                                    type="primary" if label == "Play" else "secondary",
                                    disabled=not startable, help=help_, width="stretch")
    if clicked["Play"] or clicked["Step"]:
        try:
            h = submit(config)
        except ValueError as e:  # ConfigError, PriorMismatch, LimitExceeded
            box.error(str(e))
            return None
        _left().discard(h.key)
        if clicked["Step"] and h.active:
            h.step_forward(step_size)
        slot.empty()  # the live panel takes the buttons' place
        return h
    if others:
        box.caption("You reset this run, but others are watching the same settings, so it "
                    "carries on for them. Play joins it again.")
    else:
        box.caption("This configuration has not been trained yet. Play trains it in the "
                    "background; Step trains to the first snapshot and pauses. Identical "
                    "settings from anyone share one run and come back instantly next time."
                    + (" The last run was reset." if cancelled else ""))
    return None


def _reset(handle: RunHandle) -> None:
    """on_click of Reset: stop watching (the run stops when nobody else watches it)."""
    handle.cancel()
    _handles().pop(handle.key, None)
    _left().add(handle.key)


def _step_to_next(handle: RunHandle, step_size: int) -> None:
    handle.step_forward(step_size - handle.step % step_size)


def _transport(h: RunHandle, name: str, step_size: int) -> None:
    """A running lab's transport and status (inside the live fragment). Buttons act in their
    on_click, so the fragment's redraw right after already shows the new state."""
    held, stepping_to = h.hold_state()
    if h.elsewhere:  # another server process trains it: only leaving is possible here
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.progress(h.fraction, text=_status_line(h))
        c2.button("Reset", icon=":material/replay:", key=f"{name}_reset", on_click=_reset,
                  args=(h,), width="stretch", help="Stop watching this run.")
        st.caption("This run is trained by another server process that shares the cache "
                   "(it started there first), so it cannot be paused or stepped from here."
                   + (" It is paused there." if h.paused else ""))
        return
    can = h.can_pause
    playing = not held and stepping_to is None
    cols = st.columns(len(TRANSPORT))
    specs = {
        "Play": dict(on_click=h.resume, disabled=playing,
                     type="primary" if not playing else "secondary",
                     help="Resume training (for everyone watching these settings)."),
        "Pause": dict(on_click=h.pause, disabled=held or not can,
                      help="Hold the run where it is, for everyone watching these settings."),
        "Step": dict(on_click=_step_to_next, args=(h, step_size), disabled=not can,
                     help=f"Train to the next snapshot (every {step_size:,} steps), then "
                          "pause."),
        "Reset": dict(on_click=_reset, args=(h,),
                      help="Stop this run and go back to the untrained model."),
    }
    for col, (label, icon) in zip(cols, TRANSPORT):
        col.button(label, icon=icon, key=f"{name}_{label.lower()}", width="stretch",
                   **specs[label])
    st.progress(h.fraction, text=_status_line(h))
    if h.paused:
        left = h.pause_left
        st.info(f"**Paused for everyone watching these settings**: one run serves them all, "
                f"so Play resumes it for all of them. A paused run holds a training worker, "
                f"so after {int(left // 60)}:{int(left % 60):02d} more paused it plays on by "
                "itself to the end and is saved.", icon=":material/pause_circle:")
    elif h.pause_spent:
        st.caption("This run has been paused for as long as a run may hold a worker, so it "
                   "plays on to the end (it is saved when done) and can no longer be paused.")


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
        # html, not a caption: the replay fragment redraws it on every step of the timeline
        st.html(text_html(f"Showing the model at step {steps[i]:,} of {steps[-1]:,}.",
                          note=True))
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


# The look of a metric row (metric_row) and of text_html's paragraphs (st.markdown's and
# st.caption's sizes and colours), in rem so that presenter mode's larger root font scales
# it; the app's frame adds it to every page (app.py).
PAGE_CSS = (
    ".ll-metrics{display:flex;flex-wrap:wrap;gap:.5rem 1rem;margin:.25rem 0 .75rem}"
    ".ll-metric{flex:1 1 0;min-width:7.5rem}"
    ".ll-metric-label{font-size:.875rem;opacity:.8;line-height:1.3}"
    ".ll-metric[title] .ll-metric-label::after{content:'?';display:inline-block;"
    "margin-left:.35em;width:1.15em;height:1.15em;border:1px solid currentColor;"
    "border-radius:50%;font-size:.8em;line-height:1.05em;text-align:center;opacity:.7;"
    "cursor:help}"
    ".ll-metric-value{font-size:2.25rem;line-height:1.25;overflow-wrap:anywhere}"
    ".ll-text{margin:0 0 1rem;line-height:1.6}.ll-text:last-child{margin-bottom:0}"
    ".ll-note{margin:0 0 .5rem;font-size:.875rem;line-height:1.5;color:rgba(27,31,36,.6)}"
    # A figure wider than its column (presenter mode on a 1400-pixel projector: the GAN lab
    # by 180 px) is scaled down to fit instead of cut off at the column's edge
    ".vega-embed{max-width:100%}"
    ".vega-embed>canvas,.vega-embed>svg{max-width:100%;height:auto!important}"
    "[data-testid=stHtml] img{max-width:100%;height:auto}"
    # bars on an axis, in HTML (views_lvm.elbo_bars_html): a label column, then the tracks
    ".ll-bars{max-width:36rem;margin:.25rem 0 1.25rem;font-size:.8rem}"
    ".ll-bar-row{display:flex;align-items:center;gap:.75rem;margin:.35rem 0}"
    ".ll-bar-label{flex:0 0 6rem;text-align:right;opacity:.8}"
    ".ll-bar-track{position:relative;flex:1;height:1.5rem}"
    ".ll-bar{position:absolute;top:0;bottom:0}"
    ".ll-bar-axis{position:relative;margin-left:6.75rem;height:1.3rem;"
    "border-top:1px solid rgba(27,31,36,.45)}"
    ".ll-tick{position:absolute;top:.2rem;transform:translateX(-50%);white-space:nowrap;"
    "opacity:.75}"
    ".ll-tick::before{content:'';position:absolute;left:50%;top:-.2rem;height:.25rem;"
    "border-left:1px solid rgba(27,31,36,.45)}"
    ".ll-bar-unit{margin-left:6.75rem;text-align:center;opacity:.75}"
    ".ll-bar-legend{margin:.5rem 0 0 6.75rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem}"
    ".ll-bar-legend i{display:inline-block;width:.75rem;height:.75rem;margin-right:.35rem;"
    "vertical-align:-.05rem}")


def metric_row(items: list[tuple[str, Any, str | None]]) -> None:
    """A row of metrics, (label, value, help) each, as one HTML element: a label above a large
    value, the help as the tooltip of the whole metric (a "?" after the label shows there is
    one). What st.metric in columns shows, at a fraction of the cost: each st.metric with its
    column is two elements and a block that the browser rebuilds on every rerun of its
    fragment (the latent variable models page with its seven metrics: x₀ step p50 163 ->
    150 ms in the browser, measured side by side against st.metric)."""
    st.html(metric_html(items))


def metric_html(items: list[tuple[str, Any, str | None]]) -> str:
    """metric_row's HTML, to place in a larger HTML element."""
    cells = []
    for label, value, help_ in items:
        tip = f" title='{html.escape(help_, quote=True)}'" if help_ else ""
        cells.append(f"<div class='ll-metric'{tip}>"
                     f"<div class='ll-metric-label'>{html.escape(label)}</div>"
                     f"<div class='ll-metric-value'>{html.escape(str(value))}</div></div>")
    return f"<div class='ll-metrics'>{''.join(cells)}</div>"


def text_html(text: str, note: bool = False) -> str:
    """A paragraph of plain text (escaped) for an HTML element: body text, or with note=True
    in the smaller, muted style of st.caption. A fragment that reruns on every slider step
    sends its changing sentences this way, inside one st.html with the numbers they go with:
    the browser rebuilds an st.markdown or st.caption element (its markdown parser and some
    seventy React components) on every rerun, an st.html element at a fraction of that."""
    return f"<p class='{'ll-note' if note else 'll-text'}'>{html.escape(text)}</p>"


__all__ = ["manager", "run_panel", "RunView", "lookup", "submit", "header", "explain", "card",
           "metric_row", "metric_html", "text_html", "DONE"]


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
