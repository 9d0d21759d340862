"""Helpers for driving pages with Streamlit's AppTest."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from dashboard import state
from dashboard.nav import existing_pages

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 60


def open_page(path: str, query: dict[str, str] | None = None) -> AppTest:
    """Run the app on one page (path relative to dashboard/, e.g. 'app_pages/home.py')."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params.update(query)
    if not path.endswith("home.py"):
        # Open the page itself, as a link does. switch_page() needs a run of the home page
        # first, which drops the link's settings that are not the home page's and leaves its
        # widget values (e.g. "seed") behind for the next page: so set the page hash that
        # st.Page gives a url_path (what switch_page sets) before the first run.
        at._page_hash = calc_hash(url_path(path))
    at.run()
    return at


def page_paths() -> list[str]:
    return [p.path for p in existing_pages()]


def url_path(page_path: str) -> str:
    return next(p.url_path for p in existing_pages() if p.path == page_path)


def seen_params(at: AppTest) -> dict[str, state.Param]:
    return dict(at.session_state[state.SEEN_KEY])


def widget(at: AppTest, key: str):
    for kind in ("slider", "select_slider", "selectbox", "radio", "toggle", "checkbox",
                 "number_input"):
        for w in getattr(at, kind):
            if w.key == key:
                return w
    raise KeyError(key)


def other_value(p: state.Param, current):
    """A valid value of p different from current."""
    if p.kind == "bool":
        return not current
    if p.kind in ("int", "float"):
        cast = int if p.kind == "int" else float
        return cast(p.lo) if current != cast(p.lo) else cast(p.hi)
    options = [o for o in p.options if o != current]
    return options[-1]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.exception]


def from_cache(at: AppTest) -> int:
    """How many run panels on the page show a run loaded from the cache (the shipped
    pretrained runs are installed into it when the app starts)."""
    return sum("Loaded from the cache" in s.value for s in at.success)


def run_until(at: AppTest, done, timeout: float = 180) -> bool:
    """Rerun the page (as its live panels do) until done(at) holds, failing on any exception
    on the way; False when timeout seconds pass first."""
    end = time.time() + timeout
    while time.time() < end:
        at.run()
        assert not errors(at), errors(at)
        if done(at):
            return True
        time.sleep(0.3)
    return False


def buttons(at: AppTest, label: str, prefix: bool = False) -> list:
    """The buttons labelled label (or, with prefix, whose label starts with it)."""
    return [b for b in at.button if (b.label.startswith(label) if prefix else b.label == label)]


def button(at: AppTest, label: str):
    """The first button labelled label, or None."""
    found = buttons(at, label)
    return found[0] if found else None


@dataclass(frozen=True)
class Metric:
    """One metric of a panels.metric_row, as the page shows it."""

    label: str
    value: str
    help: str | None


METRIC = re.compile(r"<div class='ll-metric'(?: title='([^']*)')?><div class='ll-metric-label'>"
                    r"(.*?)</div><div class='ll-metric-value'>(.*?)</div></div>", re.S)


def metric_list(at: AppTest) -> list[Metric]:
    """Every metric on the page, in order (panels.metric_row draws each row as one HTML
    element)."""
    return [Metric(html.unescape(label), html.unescape(value),
                   html.unescape(tip) if tip else None)
            for el in at.get("html") for tip, label, value in METRIC.findall(el.proto.body)]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in metric_list(at)}


PARAGRAPH = re.compile(r"<p class='ll-(?:text|note)'>(.*?)</p>", re.S)


def paragraphs(at: AppTest) -> list[str]:
    """The paragraphs inside the page's html elements (panels.text_html, which a fragment
    uses for the sentences it redraws)."""
    return [html.unescape(p) for el in at.get("html") for p in PARAGRAPH.findall(el.proto.body)]


def texts(at: AppTest) -> list[str]:
    """The page's prose: its markdown, its captions and paragraphs()."""
    return [m.value for m in at.markdown] + [c.value for c in at.caption] + paragraphs(at)
