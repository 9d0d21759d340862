"""Lecture mode: a file of named views (a page plus its settings) that the sidebar steps
through in order.

The lecture file is assets/lecture.toml unless LATENT_LAB_LECTURE names another:

    title = "Latent variables in 40 minutes"
    [[view]]
    title = "A hidden cause"
    page = "/"                                   # a page's URL path
    params = { story = "Hidden class", reveal = "true" }
    note = "Which cluster made this point?"      # shown to the lecturer, optional

Which runs a lecture needs is found by opening each view under Streamlit's AppTest and
recording the configurations its page looks up: ``python -m dashboard.lecture FILE`` prints
them as JSON lines, and ``python -m models prewarm --lecture FILE`` trains them.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.nav import existing_pages

LECTURE_ENV = "LATENT_LAB_LECTURE"
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "assets" / "lecture.toml"


@dataclass(frozen=True)
class View:
    title: str
    url_path: str  # "" for the home page
    page: str  # file, relative to dashboard/
    params: dict = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Lecture:
    title: str
    views: tuple[View, ...]
    source: str


class LectureError(ValueError):
    pass


def parse(text: str, source: str) -> Lecture:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LectureError(f"{source} is not valid TOML: {e}") from e
    pages = {p.url_path: p for p in existing_pages()}
    views = []
    for i, v in enumerate(data.get("view", []), 1):
        if not isinstance(v, dict) or "page" not in v:
            raise LectureError(f"{source}: view {i} needs a page")
        path = str(v["page"]).strip("/")
        if path not in pages:
            known = ", ".join("/" + p for p in pages)
            raise LectureError(f"{source}: view {i} names page {v['page']!r}; pages: {known}")
        params = v.get("params", {})
        if not isinstance(params, dict):
            raise LectureError(f"{source}: view {i}: params must be a table")
        views.append(View(str(v.get("title", pages[path].title)), path, pages[path].path,
                          {str(k): _url_value(val) for k, val in params.items()},
                          str(v.get("note", ""))))
    if not views:
        raise LectureError(f"{source} has no [[view]] entries")
    return Lecture(str(data.get("title", "Lecture")), tuple(views), source)


def _url_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def lecture_file() -> Path:
    return Path(os.environ.get(LECTURE_ENV) or DEFAULT_FILE).expanduser()


def load(path: Path | None = None) -> Lecture:
    """The lecture in the file (read on every call, so an edited file shows at the next
    rerun; parsed once per text: the sidebar loads it on every run of every page)."""
    path = path or lecture_file()
    try:
        text = path.read_text()
    except OSError as e:
        raise LectureError(f"cannot read the lecture file {path}: {e.strerror}") from e
    return _parse_once(text, str(path))


@functools.lru_cache(maxsize=8)
def _parse_once(text: str, source: str) -> Lecture:
    return parse(text, source)


def view_configs(view: View) -> list[dict]:
    """The run configurations the view's page looks up, found by running it under AppTest."""
    from streamlit.testing.v1 import AppTest
    app = str(Path(__file__).resolve().parent / "app.py")
    at = AppTest.from_file(app, default_timeout=120)
    if view.url_path:
        at.run()
        at.switch_page(view.page)  # a page switch starts with an empty query string
    at.query_params.update(view.params)
    at.run()
    if at.exception:
        raise LectureError(f"view {view.title!r} fails: {at.exception[0].value}")
    return list(at.session_state["_configs_seen"]) if "_configs_seen" in at.session_state \
        else []


def main(argv: list[str]) -> int:
    """python -m dashboard.lecture FILE: print the configs a lecture needs, one JSON per line."""
    if len(argv) != 1:
        print("usage: python -m dashboard.lecture FILE", file=sys.stderr)
        return 2
    try:
        lecture = load(Path(argv[0]))
        seen = []
        for view in lecture.views:
            for c in view_configs(view):
                if c not in seen:
                    seen.append(c)
                    print(json.dumps({"view": view.title, "config": c}), flush=True)
    except LectureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
