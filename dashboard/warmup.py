"""Warm the server for the pages a visitor has not opened yet.

On a fresh server the first visit of a page pays for what the process has not imported yet:
most of the GAN page's first script run was torch.optim importing torch._dynamo (sympy and
more) when the inversion built its first optimizer (py-spy). The end of the app's first script
run starts one thread that imports every view module and torch._dynamo, so by the time the
visitor moves to another page that is done: the GAN page's first run after the home page's
1.93-1.97 s without, 0.96-1.11 s with (three fresh servers each, script runs timed over
Streamlit's protocol with benchmarks/st_client.py). In a running server the thread then
creates the run manager (panels.manager, one per process: ~0.28 s in a fresh process), which
the first visit of any model page waited for: the GAN page's first run after the home page
0.61-0.65 s without it, 0.28-0.29 s with (two fresh servers each, timed as above). The pages'
other cached computations stay where the pages ask for them. Last, the thread moves
everything alive by then (modules, data sets, the manager) out of the garbage collector's view
(gc.freeze): a full collection walked all of it, a pause of 85-230 ms for every session of the
process about once in 80 slider steps; with the freeze none came in 80 steps (pauses logged
with gc.callbacks, LVM and GAN pages, 40 steps each). LATENT_LAB_WARMUP=0 turns it off.

The thread starts with the server (`lifespan`: `streamlit run dashboard/app.py` serves the app
as Streamlit's ASGI st.App): the first visitor's first page no longer pays for the imports
(torch, pandas, Altair: 2.0 of the home page's 2.2 s first script run, py-spy), which run
while the browser loads Streamlit's JavaScript or before anyone arrives. Before the freeze it
also computes what a first visit of the model pages computed that no setting of a session
changes (`prepare`): the digits (~0.2 s to read), the lecture file's parse (~0.17 s), the emoji
table Streamlit imports at its first st.success (~0.15 s), and the autoencoder page's PCA of
its default data set (0.3-0.6 s).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import threading
from pathlib import Path

_LOG = logging.getLogger(__name__)
_lock = threading.Lock()
_thread: threading.Thread | None = None


def modules() -> list[str]:
    """What the warm-up imports: the dashboard's view modules (dashboard/views_*.py), which the
    pages import, and torch._dynamo, which torch.optim imports lazily when the first optimizer
    is built (GAN inversion)."""
    here = Path(__file__).resolve().parent
    return sorted(f"dashboard.{p.stem}" for p in here.glob("views_*.py")) + ["torch._dynamo"]


def start() -> threading.Thread | None:
    """Start the warm-up thread once per process (later calls return the same thread)."""
    global _thread
    if os.environ.get("LATENT_LAB_WARMUP", "1") == "0":
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm, name="latent-lab-warmup", daemon=True)
            _thread.start()
        return _thread


def _warm() -> None:
    for name in modules():
        try:
            importlib.import_module(name)
        except Exception:  # the page that imports it will show the error to its visitor
            _LOG.exception("warm-up: importing %s failed", name)
    from streamlit import runtime
    if not runtime.exists():  # not a server (AppTest, a script): no one to wait for it
        return
    try:
        from dashboard import panels
        panels.manager()  # Streamlit's cache lock makes a page that asks meanwhile wait for it
    except Exception:  # the page that asks for it will show the error to its visitor
        _LOG.exception("warm-up: creating the run manager failed")
    for step in prepare():
        try:
            step()
        except Exception:  # the page that needs it computes it again, and shows any error
            _LOG.exception("warm-up: %s failed", step.__doc__ or step)
    gc.collect()
    gc.freeze()  # what lives now lives as long as the server: no full collection walks it


def prepare() -> list:
    """What a first visit of the pages computes that no session's settings change, as callables
    (their docstrings name them in the log when one fails)."""
    def digits():
        """reading the digits"""
        from models import datasets
        datasets.load("digits")

    def lecture():
        """parsing the lecture file"""
        from dashboard import lecture as lec
        try:
            lec.load()
        except lec.LectureError:  # the sidebar shows it where it matters
            pass

    def emojis():
        """importing Streamlit's emoji table (its first st.success)"""
        importlib.import_module("streamlit.emojis")

    def pca():
        """the autoencoder page's PCA of its default data set"""
        from dashboard import views_autoencoder
        from models.presets import PAGE_DEFAULTS
        views_autoencoder.pca_error_curve(PAGE_DEFAULTS["autoencoder"][0].dataset)

    return [digits, lecture, emojis, pca]


@contextlib.asynccontextmanager
async def lifespan(_app):
    """The ASGI app's start (dashboard/app.py): warm up before the first visitor arrives."""
    start()
    yield
