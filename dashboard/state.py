"""URL state: one declarative table of parameters and two generic loops.

Every control is a ``Param`` (the URL name doubles as the widget key). ``widget(param)`` draws
it bound to the URL (Streamlit >= 1.55, ``bind="query-params"``), so every view is a link and
a reload restores it. Streamlit silently drops a value it cannot use; ``url_notice()`` compares
what the link asked for with what the widgets ended up showing and tells the user, in words,
which settings were reset and why. TensorFlow Playground's ``state.ts`` is the model: a list of
typed properties, with the seed among them, so a link reproduces a run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import streamlit as st

NOTICE_KEY = "_url_notice"
SEEN_KEY = "_url_params_seen"  # params drawn in this run
RAW_KEY = "_url_raw"  # the query string this run started with
CHECKED_KEY = "_url_checked_pages"  # pages whose incoming link was checked in this session
EVER_KEY = "_url_params_ever"  # page -> every param it has drawn in this session
PENDING_KEY = "_pending_params"  # URL-form values to apply when their widgets are drawn
MAX_SHOWN = 40  # characters of a bad value quoted back to the user
GLOBAL_KEYS = ("presenter", "lecture", "view")


@dataclass(frozen=True)
class Param:
    """One control: its URL name, label, default and allowed values."""

    key: str
    label: str
    default: Any
    kind: str = "int"  # "int" | "float" | "choice" | "bool" | "steps" (a slider over options)
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    options: Sequence[Any] = ()
    labels: dict[Any, str] = field(default_factory=dict)  # option -> label (also its URL form)
    help: str | None = None
    fmt: str | None = None  # number format, e.g. "%.4f"

    def __post_init__(self):
        if self.kind in ("choice", "steps") and self.default not in self.options:
            options = sorted({*self.options, self.default}, key=lambda o: (str(type(o)), o))
            object.__setattr__(self, "options", tuple(options))  # a default is always offered

    def label_of(self, option: Any) -> str:
        return self.labels.get(option, str(option))

    def parse(self, raw: str) -> tuple[bool, Any]:
        """What a URL value means: (ok, value)."""
        try:
            if self.kind == "bool":
                low = raw.lower()
                if low in ("true", "1", "yes", "on"):
                    return True, True
                if low in ("false", "0", "no", "off"):
                    return True, False
                return False, None
            if self.kind == "int":
                v = float(raw)
                return (v.is_integer() and self.lo <= v <= self.hi), int(v)
            if self.kind == "float":
                v = float(raw)
                return (math.isfinite(v) and self.lo <= v <= self.hi), v
            for option in self.options:  # choice / steps: the label is the URL form
                if raw == self.label_of(option) or raw == str(option):
                    return True, option
            return False, None
        except (TypeError, ValueError, OverflowError):
            return False, None

    def reason(self, raw: str) -> str:
        if self.kind == "bool":
            return "expects true or false"
        if self.kind in ("int", "float"):
            number = "a whole number" if self.kind == "int" else "a number"
            return f"expects {number} from {_num(self.lo)} to {_num(self.hi)}"
        shown = ", ".join(self.label_of(o) for o in list(self.options)[:8])
        return f"expects one of: {shown}" + (", …" if len(self.options) > 8 else "")


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _clip(text: str) -> str:
    text = str(text)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def begin_run(page: str) -> None:
    """Call once per script run, before any widget: remember the URL as it came in."""
    raw = {}
    checked = st.session_state.setdefault(CHECKED_KEY, set())
    if page not in checked:  # only a link is checked: later URLs are written by the widgets
        checked.add(page)
        for k in st.query_params.keys():
            values = st.query_params.get_all(k)
            raw[k] = values[-1] if values else ""
    st.session_state[RAW_KEY] = raw
    st.session_state[SEEN_KEY] = {}
    notice = st.session_state.get(NOTICE_KEY)
    if notice and notice[0] != page:
        del st.session_state[NOTICE_KEY]


def keep_link(params) -> list[str]:
    """Call for controls a run does not draw (their part of the page is closed, or waits for a
    trained model): a link's values for them are kept for the run that draws them instead of
    being dropped by the link check as "not a setting of this page". Returns the values that
    cannot be used, in words."""
    raw = st.session_state.get(RAW_KEY, {})
    pending = st.session_state.setdefault(PENDING_KEY, {})
    problems = []
    for p in params:
        if p.key not in raw:
            continue
        value = raw.pop(p.key)
        if p.parse(value)[0]:
            pending[p.key] = value
        else:
            problems.append(f"{p.label} = “{value[:40]}” ({p.reason(value)})")
    return problems


def widget(p: Param, where=None, disabled: bool = False, **kwargs) -> Any:
    """Draw the control for p, bound to the URL; returns its value."""
    where = where or st
    st.session_state.setdefault(SEEN_KEY, {})[p.key] = p
    pending = st.session_state.get(PENDING_KEY)
    if pending and p.key in pending:  # set by a lecture view: a bound widget's value can only
        ok, value = p.parse(pending.pop(p.key))  # be changed through session state
        if ok:
            st.session_state[p.key] = value
    as_radio = kwargs.pop("radio", True)
    common = dict(key=p.key, bind="query-params", help=p.help, disabled=disabled, **kwargs)
    if p.kind == "bool":
        return where.toggle(p.label, value=p.default, **common)
    if p.kind in ("int", "float"):
        cast = int if p.kind == "int" else float
        return where.slider(p.label, cast(p.lo), cast(p.hi), cast(p.default),
                            step=cast(p.step) if p.step else None, format=p.fmt, **common)
    if p.kind == "steps":
        return where.select_slider(p.label, options=list(p.options), value=p.default,
                                   format_func=p.label_of, **common)
    options = list(p.options)
    if len(options) <= 4 and as_radio:
        return where.radio(p.label, options, index=options.index(p.default),
                           format_func=p.label_of, horizontal=True, **common)
    return where.selectbox(p.label, options, index=options.index(p.default),
                           format_func=p.label_of, **common)


def _same(p: Param, a: Any, b: Any) -> bool:
    if p.kind == "float" and isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def url_notice(page: str) -> str | None:
    """After the page has drawn its widgets: which link settings were not used, and why.
    Unknown names are also removed from the URL. Returns the message (also kept for the
    page's later reruns)."""
    raw: dict[str, str] = st.session_state.get(RAW_KEY, {})
    seen: dict[str, Param] = st.session_state.get(SEEN_KEY, {})
    ever = st.session_state.setdefault(EVER_KEY, {}).setdefault(page, set())
    ever.update(seen)
    problems = []
    for key, value in raw.items():
        p = seen.get(key)
        if p is None:
            if key in GLOBAL_KEYS or key in ever:  # a control this page hid just now
                continue
            problems.append(f"“{_clip(key)}” is not a setting of this page")
            try:
                del st.query_params[key]
            except Exception:  # noqa: BLE001 - a bound key cannot be removed; nothing lost
                pass
            continue
        ok, parsed = p.parse(value)
        current = st.session_state.get(key, p.default)
        if not ok or not _same(p, parsed, current):
            problems.append(f"{p.label} = “{_clip(value)}” ({p.reason(value)}); "
                            f"using {p.label_of(current) if p.kind in ('choice', 'steps') else _num(current)}")
    if problems:
        message = ("Some settings in this link could not be used, so defaults stand in: "
                   + "; ".join(problems) + ".")
        st.session_state[NOTICE_KEY] = (page, message)
        return message
    notice = st.session_state.get(NOTICE_KEY)
    return notice[1] if notice and notice[0] == page else None


def query_for(params: Sequence[Param], vals: dict[str, Any]) -> dict[str, str]:
    """The URL query that reproduces vals (defaults are left out, as Streamlit does)."""
    out = {}
    for p in params:
        v = vals.get(p.key, p.default)
        if _same(p, v, p.default):
            continue
        if p.kind == "bool":
            out[p.key] = "true" if v else "false"
        elif p.kind in ("choice", "steps"):
            out[p.key] = p.label_of(v)
        else:
            out[p.key] = _num(v)
    return out


def presenter() -> bool:
    return bool(st.session_state.get("presenter", False))



def apply_later(values: dict[str, str]) -> None:
    """Set controls from URL-form values when they are next drawn (on this or another page):
    the params drawn in this run go back to their defaults unless values names them."""
    seen: dict[str, Param] = st.session_state.get(SEEN_KEY, {})
    pending = {k: query_for([p], {k: p.default}).get(k, _url_form(p, p.default))
               for k, p in seen.items() if k not in GLOBAL_KEYS}
    pending.update(values)
    st.session_state[PENDING_KEY] = pending


def _url_form(p: Param, v) -> str:
    if p.kind == "bool":
        return "true" if v else "false"
    if p.kind in ("choice", "steps"):
        return p.label_of(v)
    return _num(v)


def bench_mark() -> None:
    """With LATENT_LAB_BENCH set: a counter element the browser benchmark waits for. The app
    emits one at the end of every script run and a fragment at the end of its own rerun
    (benchmarks/browser_latency.py reads the largest)."""
    if os.environ.get("LATENT_LAB_BENCH"):
        n = st.session_state["_bench_runs"] = st.session_state.get("_bench_runs", 0) + 1
        st.html(f"<span class='bench-run' data-run='{n}'></span>")
